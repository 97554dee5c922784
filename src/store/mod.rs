//! Storage: a trait with record types, a sled implementation (the default) and an in-memory
//! one for tests. The store keeps what it is given and decides nothing: every rule about
//! issuing, challenges or retransmissions lives in `ca` and `enroll`.
//!
//! Records are written as versioned JSON (`{"v":1,...}`) so the format can evolve without a
//! flag day; [`StoredCert`] and friends are the disk forms, the `*Record` types the domain
//! forms.

pub mod memory;
pub mod sled;

use serde::{Deserialize, Serialize};

use crate::ca::challenge::Constraints;
use crate::ca::crl::RevocationReason;
use crate::ca::Serial;

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("serial {0} is already in use")]
    SerialTaken(Serial),
    #[error("challenge {0} has already been used")]
    ChallengeUsed(String),
    #[error("challenge {0} does not exist")]
    ChallengeMissing(String),
    #[error("transaction {0} was used concurrently")]
    TransactionChanged(String),
    #[error("no certificate with serial {0}")]
    CertMissing(Serial),
    #[error("the status of certificate {0} changed meanwhile")]
    StatusChanged(Serial),
    #[error("no link {0}")]
    LinkMissing(String),
    #[error("link {0} has no uses left")]
    LinkUsedUp(String),
    #[error("no pending request {0}")]
    PendingMissing(String),
    #[error("request {0} is no longer pending")]
    NotPending(String),
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl From<::sled::Error> for StoreError {
    fn from(e: ::sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// A certificate's revocation state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CertStatus {
    Valid,
    /// RFC 5280 §5.3.1; `certificateHold` can be released, every other reason is final.
    Revoked {
        at: i64,
        reason: RevocationReason,
        /// The admin's own words, for the audit trail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
}

/// An issued certificate and what we know about how it was requested.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    pub serial: Serial,
    #[serde(with = "b64")]
    pub der: Vec<u8>,
    pub subject: String,
    pub subject_alt_names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub issued_at: i64,
    pub status: CertStatus,
    pub transaction_id: Option<String>,
    /// SHA-256 (hex) of the requester's signer certificate.
    pub signer_sha256: Option<String>,
    /// SHA-256 (hex) of the SubjectPublicKeyInfo and of the CSR, for matching retransmissions.
    pub public_key_sha256: String,
    pub csr_sha256: String,
    /// `static`, `none`, or the id of the one-time challenge used.
    pub challenge: String,
    pub requester: String,
}

/// A revoked certificate as the CRL lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedRecord {
    pub serial: Serial,
    pub at: i64,
    pub reason: RevocationReason,
    pub not_after: i64,
}

impl RevokedRecord {
    /// The index entry for `cert`, if it is revoked.
    pub fn of(cert: &CertRecord) -> Option<RevokedRecord> {
        match cert.status {
            CertStatus::Revoked { at, reason, .. } => Some(RevokedRecord {
                serial: cert.serial.clone(),
                at,
                reason,
                not_after: cert.not_after,
            }),
            CertStatus::Valid => None,
        }
    }
}

/// A request waiting for an administrator (RFC 8894 §3.3.3, manual approval).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecord {
    pub id: String,
    pub transaction_id: String,
    #[serde(with = "b64")]
    pub csr: Vec<u8>,
    pub subject: String,
    pub subject_alt_names: Vec<String>,
    /// e.g. `RSA-2048`, `EC prime256v1`.
    pub key: String,
    pub public_key_sha256: String,
    pub requester: String,
    /// `static`, `none`, or the id of the one-time challenge it used (and burned).
    pub challenge: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: PendingState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PendingState {
    Pending,
    Approved {
        serial: Serial,
        at: i64,
        actor: String,
    },
    Rejected {
        reason: String,
        at: i64,
        actor: String,
    },
}

/// An enrollment link: `/enroll/<id><secret>`; only the SHA-256 of the secret is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub id: String,
    #[serde(with = "hex_array")]
    pub secret_sha256: [u8; 32],
    pub created_at: i64,
    pub expires_at: i64,
    pub uses_total: u32,
    pub uses_left: u32,
    /// The subject the profile enrolls, e.g. `CN=laptop-0042,O=Example Corp`.
    pub subject: String,
    /// A Wi-Fi SSID whose EAP-TLS payload uses the enrolled identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wifi_ssid: Option<String>,
    /// An IKEv2 gateway (address, remote identifier) using the enrolled identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn: Option<(String, String)>,
    /// Hand out a server-made PKCS#12 identity (password in the profile) instead of SCEP.
    #[serde(default)]
    pub pkcs12: bool,
}

/// A one-time challenge. The secret is never stored, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    pub id: String,
    #[serde(with = "hex_array")]
    pub secret_sha256: [u8; 32],
    pub created_at: i64,
    pub expires_at: i64,
    pub constraints: Constraints,
    pub used: Option<ChallengeUse>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeUse {
    pub at: i64,
    /// The certificate it bought, or (with manual approval) the request it opened.
    #[serde(default)]
    pub serial: Option<Serial>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

/// One append-only audit entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: i64,
    /// `cli:<user>` or the client's address.
    pub actor: String,
    pub event: AuditEvent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    Issued {
        serial: Serial,
        subject: String,
        transaction_id: Option<String>,
        challenge: String,
    },
    /// A retransmitted request answered with the certificate issued before.
    Reissued {
        serial: Serial,
        transaction_id: String,
    },
    Refused {
        reason: String,
        fail_info: String,
        transaction_id: Option<String>,
        subject: Option<String>,
    },
    ChallengeCreated {
        id: String,
        expires_at: i64,
        constraints: Constraints,
    },
    Revoked {
        serial: Serial,
        subject: String,
        reason: RevocationReason,
        comment: Option<String>,
    },
    LinkCreated {
        id: String,
        subject: String,
        uses: u32,
        expires_at: i64,
    },
    /// A profile was downloaded through a link.
    LinkUsed {
        id: String,
        challenge: String,
    },
    /// A request left pending for manual approval.
    PendingCreated {
        id: String,
        subject: String,
        transaction_id: String,
    },
    RequestRejected {
        id: String,
        reason: String,
    },
    /// A certificateHold released (RFC 5280 §5.3.1 removeFromCRL).
    Unheld {
        serial: Serial,
        subject: String,
    },
}

/// An issuance to record atomically: the certificate, its indexes, the burning of a one-time
/// challenge and the audit entry, all or nothing, durable before the call returns.
#[derive(Clone, Debug)]
pub struct Issuance {
    pub cert: CertRecord,
    pub burn_challenge: Option<String>,
    /// What the transactionID index must still point to (compare-and-swap), so two
    /// concurrent copies of one request cannot both issue.
    pub transaction_was: Option<Serial>,
    /// A pending request this issuance approves (it must still be pending).
    pub resolves_pending: Option<String>,
    pub audit: AuditRecord,
}

/// The storage interface. Implementations must make [`Store::record_issuance`] atomic and
/// durable, and must refuse a serial that is already present.
pub trait Store: Send + Sync {
    fn record_issuance(&self, issuance: &Issuance) -> Result<(), StoreError>;
    fn cert(&self, serial: &Serial) -> Result<Option<CertRecord>, StoreError>;
    /// All certificates, in serial order.
    fn certs(&self) -> Result<Vec<CertRecord>, StoreError>;
    /// The newest certificate issued for a transactionID.
    fn cert_by_transaction(&self, transaction_id: &str) -> Result<Option<CertRecord>, StoreError>;
    /// Every certificate issued with exactly this subject, in serial order.
    fn certs_by_subject(&self, subject: &str) -> Result<Vec<CertRecord>, StoreError>;
    fn insert_challenge(
        &self,
        challenge: &ChallengeRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
    fn challenge(&self, id: &str) -> Result<Option<ChallengeRecord>, StoreError>;
    fn append_audit(&self, audit: &AuditRecord) -> Result<(), StoreError>;
    /// The audit log, oldest first.
    fn audit(&self) -> Result<Vec<AuditRecord>, StoreError>;
    /// Replace a certificate's status if it is still `expected` (compare-and-swap), with its
    /// audit record, atomically and durably.
    fn update_status(
        &self,
        serial: &Serial,
        expected: &CertStatus,
        new: &CertStatus,
        audit: &AuditRecord,
    ) -> Result<CertRecord, StoreError>;
    /// Every revoked certificate, in serial order, without the certificates themselves (what
    /// a CRL needs; kept in its own index so a CRL of 100,000 entries is cheap to make).
    fn revoked(&self) -> Result<Vec<RevokedRecord>, StoreError>;
    /// The next CRL number (RFC 5280 §5.2.3): strictly increasing, durable before returned.
    fn next_crl_number(&self) -> Result<u64, StoreError>;
    /// Record a pending request (burning its one-time challenge), atomically. Refused with
    /// `TransactionChanged` if its transactionID already has one.
    fn insert_pending(
        &self,
        pending: &PendingRecord,
        burn_challenge: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
    fn pending(&self, id: &str) -> Result<Option<PendingRecord>, StoreError>;
    fn pending_by_transaction(&self, tx: &str) -> Result<Option<PendingRecord>, StoreError>;
    /// Every pending request (of any state), oldest first.
    fn pendings(&self) -> Result<Vec<PendingRecord>, StoreError>;
    /// Move a pending request out of `Pending` (to Rejected), compare-and-swap.
    fn resolve_pending(
        &self,
        id: &str,
        state: &PendingState,
        audit: &AuditRecord,
    ) -> Result<PendingRecord, StoreError>;
    fn insert_link(&self, link: &LinkRecord, audit: &AuditRecord) -> Result<(), StoreError>;
    fn link(&self, id: &str) -> Result<Option<LinkRecord>, StoreError>;
    /// Take one use of a link (compare-and-swap on the count), with its audit record.
    fn use_link(&self, id: &str, audit: &AuditRecord) -> Result<LinkRecord, StoreError>;
    /// Write a consistent copy of everything to `out`; returns the number of records.
    fn backup(&self, _out: &mut dyn std::io::Write) -> Result<u64, StoreError> {
        Err(StoreError::Backend("this store cannot be backed up".into()))
    }
}

/// Versioned disk forms.
#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum StoredCert {
    #[serde(rename = "1")]
    V1(CertRecord),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum StoredChallenge {
    #[serde(rename = "1")]
    V1(ChallengeRecord),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum StoredAudit {
    #[serde(rename = "1")]
    V1(AuditRecord),
}

pub(crate) fn encode_cert(c: &CertRecord) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(&StoredCert::V1(c.clone()))?)
}

pub(crate) fn decode_cert(b: &[u8]) -> Result<CertRecord, StoreError> {
    let StoredCert::V1(c) = serde_json::from_slice(b)?;
    Ok(c)
}

pub(crate) fn encode_challenge(c: &ChallengeRecord) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(&StoredChallenge::V1(c.clone()))?)
}

pub(crate) fn decode_challenge(b: &[u8]) -> Result<ChallengeRecord, StoreError> {
    let StoredChallenge::V1(c) = serde_json::from_slice(b)?;
    Ok(c)
}

pub(crate) fn encode_audit(a: &AuditRecord) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(&StoredAudit::V1(a.clone()))?)
}

pub(crate) fn decode_audit(b: &[u8]) -> Result<AuditRecord, StoreError> {
    let StoredAudit::V1(a) = serde_json::from_slice(b)?;
    Ok(a)
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(s).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_cert(serial_byte: u8, tx: &str) -> CertRecord {
        CertRecord {
            serial: Serial::from_bytes(&[serial_byte; 16]).unwrap(),
            der: vec![0x30, 0x00],
            subject: "CN=device".into(),
            subject_alt_names: vec!["DNS:device.example.com".into()],
            not_before: 1,
            not_after: 2,
            issued_at: 1,
            status: CertStatus::Valid,
            transaction_id: Some(tx.into()),
            signer_sha256: None,
            public_key_sha256: "aa".into(),
            csr_sha256: "bb".into(),
            challenge: "static".into(),
            requester: "127.0.0.1".into(),
        }
    }

    #[test]
    fn cert_records_are_versioned_json() {
        let c = sample_cert(1, "tx");
        let bytes = encode_cert(&c).unwrap();
        assert!(
            bytes.starts_with(br#"{"v":"1","#),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(decode_cert(&bytes).unwrap(), c);
        assert!(decode_cert(br#"{"v":"9"}"#).is_err());
    }

    /// The contract every Store must keep; run against each implementation.
    pub(crate) fn store_contract(store: &dyn Store) {
        let audit = AuditRecord {
            at: 5,
            actor: "test".into(),
            event: AuditEvent::ChallengeCreated {
                id: "ABCDEFGH".into(),
                expires_at: 10,
                constraints: Constraints::default(),
            },
        };
        let ch = ChallengeRecord {
            id: "ABCDEFGH".into(),
            secret_sha256: [7; 32],
            created_at: 5,
            expires_at: 10,
            constraints: Constraints::default(),
            used: None,
        };
        store.insert_challenge(&ch, &audit).unwrap();
        assert_eq!(store.challenge("ABCDEFGH").unwrap(), Some(ch.clone()));
        assert_eq!(store.challenge("NOPE").unwrap(), None);

        let c1 = sample_cert(1, "tx-1");
        let issue = Issuance {
            cert: c1.clone(),
            burn_challenge: Some("ABCDEFGH".into()),
            transaction_was: None,
            resolves_pending: None,
            audit: audit.clone(),
        };
        store.record_issuance(&issue).unwrap();
        assert_eq!(store.cert(&c1.serial).unwrap(), Some(c1.clone()));
        assert_eq!(store.cert_by_transaction("tx-1").unwrap(), Some(c1.clone()));
        let used = store.challenge("ABCDEFGH").unwrap().unwrap().used.unwrap();
        assert_eq!(used.serial, Some(c1.serial.clone()));

        // The same serial again is refused, and nothing of it is written.
        let mut dup = sample_cert(1, "tx-dup");
        dup.subject = "CN=other".into();
        let err = store
            .record_issuance(&Issuance {
                cert: dup,
                burn_challenge: None,
                transaction_was: None,
                resolves_pending: None,
                audit: audit.clone(),
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::SerialTaken(_)), "{err}");
        assert_eq!(store.cert_by_transaction("tx-dup").unwrap(), None);

        // A burned challenge cannot be burned twice; the certificate is not written.
        let c2 = sample_cert(2, "tx-2");
        let err = store
            .record_issuance(&Issuance {
                cert: c2.clone(),
                burn_challenge: Some("ABCDEFGH".into()),
                transaction_was: None,
                resolves_pending: None,
                audit: audit.clone(),
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::ChallengeUsed(_)), "{err}");
        assert_eq!(store.cert(&c2.serial).unwrap(), None);

        // tx-1 points at c1: a writer that expected it unused loses the race.
        let c3 = sample_cert(3, "tx-1");
        let err = store
            .record_issuance(&Issuance {
                cert: c3.clone(),
                burn_challenge: None,
                transaction_was: None,
                resolves_pending: None,
                audit: audit.clone(),
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::TransactionChanged(_)), "{err}");
        store
            .record_issuance(&Issuance {
                cert: c3.clone(),
                burn_challenge: None,
                transaction_was: Some(c1.serial.clone()),
                resolves_pending: None,
                audit: audit.clone(),
            })
            .unwrap();
        assert_eq!(store.cert_by_transaction("tx-1").unwrap(), Some(c3.clone()));
        let serials: Vec<_> = store
            .certs()
            .unwrap()
            .into_iter()
            .map(|c| c.serial)
            .collect();
        assert_eq!(serials, vec![c1.serial.clone(), c3.serial.clone()]);
        let same_subject: Vec<_> = store
            .certs_by_subject("CN=device")
            .unwrap()
            .into_iter()
            .map(|c| c.serial)
            .collect();
        assert_eq!(same_subject, vec![c1.serial.clone(), c3.serial.clone()]);
        assert!(store.certs_by_subject("CN=dev").unwrap().is_empty());
        // insert_challenge, two issuances: three audit entries, in order.
        assert_eq!(store.audit().unwrap().len(), 3);

        let held = CertStatus::Revoked {
            at: 9,
            reason: RevocationReason::CertificateHold,
            comment: None,
        };
        let r = store
            .update_status(&c1.serial, &CertStatus::Valid, &held, &audit)
            .unwrap();
        assert_eq!(r.status, held);
        assert_eq!(store.cert(&c1.serial).unwrap().unwrap().status, held);
        let revoked = store.revoked().unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].serial, c1.serial);
        assert_eq!(revoked[0].reason, RevocationReason::CertificateHold);
        let err = store
            .update_status(&c1.serial, &CertStatus::Valid, &held, &audit)
            .unwrap_err();
        assert!(matches!(err, StoreError::StatusChanged(_)), "{err}");
        let missing = Serial::from_bytes(&[9; 16]).unwrap();
        let err = store
            .update_status(&missing, &CertStatus::Valid, &held, &audit)
            .unwrap_err();
        assert!(matches!(err, StoreError::CertMissing(_)), "{err}");
        store
            .update_status(&c1.serial, &held, &CertStatus::Valid, &audit)
            .unwrap();
        assert_eq!(store.audit().unwrap().len(), 5);
        assert!(
            store.revoked().unwrap().is_empty(),
            "released holds leave the index"
        );

        let a = store.next_crl_number().unwrap();
        let b = store.next_crl_number().unwrap();
        assert!(b > a && a >= 1);

        // Pending requests: one per transactionID, CAS out of Pending, approval in the
        // issuance transaction.
        let pending = PendingRecord {
            id: "REQ1".into(),
            transaction_id: "tx-p".into(),
            csr: vec![0x30, 0x00],
            subject: "CN=pending".into(),
            subject_alt_names: vec![],
            key: "RSA-2048".into(),
            public_key_sha256: "aa".into(),
            requester: "t".into(),
            challenge: "static".into(),
            created_at: 1,
            expires_at: 100,
            state: PendingState::Pending,
        };
        store.insert_pending(&pending, None, &audit).unwrap();
        let dup = PendingRecord {
            id: "REQ2".into(),
            ..pending.clone()
        };
        assert!(matches!(
            store.insert_pending(&dup, None, &audit),
            Err(StoreError::TransactionChanged(_))
        ));
        assert_eq!(
            store.pending_by_transaction("tx-p").unwrap(),
            Some(pending.clone())
        );
        let c4 = sample_cert(4, "tx-p");
        store
            .record_issuance(&Issuance {
                cert: c4.clone(),
                burn_challenge: None,
                transaction_was: None,
                resolves_pending: Some("REQ1".into()),
                audit: audit.clone(),
            })
            .unwrap();
        assert!(matches!(
            store.pending("REQ1").unwrap().unwrap().state,
            PendingState::Approved { ref serial, .. } if *serial == c4.serial
        ));
        let rejected = PendingState::Rejected {
            reason: "no".into(),
            at: 2,
            actor: "t".into(),
        };
        assert!(matches!(
            store.resolve_pending("REQ1", &rejected, &audit),
            Err(StoreError::NotPending(_))
        ));
        assert_eq!(store.pendings().unwrap().len(), 1);
    }

    #[test]
    fn memory_store_keeps_the_contract() {
        store_contract(&memory::MemoryStore::default());
    }

    #[test]
    fn sled_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let s = sled::SledStore::open(dir.path()).unwrap();
        store_contract(&s);
        let last_crl = s.next_crl_number().unwrap();
        drop(s);
        // Everything is still there after reopening, and CRL numbers keep growing.
        let s = sled::SledStore::open(dir.path()).unwrap();
        assert_eq!(s.certs().unwrap().len(), 3);
        assert_eq!(s.pendings().unwrap().len(), 1);
        assert_eq!(s.audit().unwrap().len(), 7);
        assert!(s.next_crl_number().unwrap() > last_crl);
    }

    #[test]
    fn sled_backup_restores_every_tree() {
        let dir = tempfile::tempdir().unwrap();
        let s = sled::SledStore::open(dir.path()).unwrap();
        store_contract(&s);
        let crl = s.next_crl_number().unwrap();
        let mut backup = Vec::new();
        s.export_to(&mut backup).unwrap();
        let target = tempfile::tempdir().unwrap();
        let restored = sled::SledStore::restore(&target.path().join("store"), &backup[..]).unwrap();
        assert_eq!(restored.certs().unwrap(), s.certs().unwrap());
        assert_eq!(restored.audit().unwrap(), s.audit().unwrap());
        assert_eq!(
            restored.challenge("ABCDEFGH").unwrap(),
            s.challenge("ABCDEFGH").unwrap()
        );
        assert!(restored.next_crl_number().unwrap() > crl);
        assert!(sled::SledStore::restore(&target.path().join("store"), &backup[..]).is_err());
        assert!(sled::SledStore::restore(&target.path().join("x"), &b"junk"[..]).is_err());
    }
}
