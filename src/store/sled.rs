//! The default store: sled, in `<data_dir>/store`.
//!
//! Trees and keys:
//! - `certs`: serial bytes -> versioned CertRecord JSON
//! - `certs_by_transaction`: transactionID -> serial bytes (the newest issuance)
//! - `certs_by_subject`: subject text, 0x00, serial bytes -> empty (subject text holds no NUL)
//! - `challenges`: challenge id -> versioned ChallengeRecord JSON
//! - `audit`: big-endian u64 from `generate_id` (monotonic across restarts) -> AuditRecord
//!
//! sled flushes on its own only every 500 ms, so every write that a reply depends on is
//! followed by an explicit flush before the call returns.

use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, Transactional, Tree};

use super::{
    decode_audit, decode_cert, decode_challenge, encode_audit, encode_cert, encode_challenge,
    AuditRecord, CertRecord, ChallengeRecord, ChallengeUse, Issuance, Store, StoreError,
};
use crate::ca::Serial;

pub const TREE_CERTS: &str = "certs";
pub const TREE_CERTS_BY_TRANSACTION: &str = "certs_by_transaction";
pub const TREE_CERTS_BY_SUBJECT: &str = "certs_by_subject";
pub const TREE_CHALLENGES: &str = "challenges";
pub const TREE_AUDIT: &str = "audit";
/// The store's directory under the data directory.
pub const STORE_DIR: &str = "store";

pub struct SledStore {
    db: Db,
    certs: Tree,
    by_transaction: Tree,
    by_subject: Tree,
    challenges: Tree,
    audit: Tree,
}

impl SledStore {
    /// Open (or create) the store in `dir`. Fails if another process has it open.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            // sled reports its lock file as an Io error of kind Other with this text.
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StoreError::Backend(format!(
                    "{} is in use by another certdrop process (a running `certdrop serve`?)",
                    dir.display()
                ))
            }
            other => StoreError::Backend(format!("{}: {other}", dir.display())),
        })?;
        Ok(SledStore {
            certs: db.open_tree(TREE_CERTS)?,
            by_transaction: db.open_tree(TREE_CERTS_BY_TRANSACTION)?,
            by_subject: db.open_tree(TREE_CERTS_BY_SUBJECT)?,
            challenges: db.open_tree(TREE_CHALLENGES)?,
            audit: db.open_tree(TREE_AUDIT)?,
            db,
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

fn subject_key(subject: &str, serial: &Serial) -> Vec<u8> {
    let mut k = subject.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(serial.as_bytes());
    k
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

impl Store for SledStore {
    fn record_issuance(&self, issuance: &Issuance) -> Result<(), StoreError> {
        let cert = &issuance.cert;
        let cert_bytes = encode_cert(cert)?;
        let audit_key = self.db.generate_id()?.to_be_bytes();
        let audit_bytes = encode_audit(&issuance.audit)?;
        let subject_key = subject_key(&cert.subject, &cert.serial);
        let result = (
            &self.certs,
            &self.by_transaction,
            &self.by_subject,
            &self.challenges,
            &self.audit,
        )
            .transaction(|(certs, by_tx, by_subject, challenges, audit)| {
                let serial_key = cert.serial.as_bytes();
                if certs.get(serial_key)?.is_some() {
                    return Err(abort(StoreError::SerialTaken(cert.serial.clone())));
                }
                if let Some(tx) = &cert.transaction_id {
                    let current = by_tx.get(tx.as_bytes())?;
                    let expected = issuance.transaction_was.as_ref().map(Serial::as_bytes);
                    if current.as_deref() != expected {
                        return Err(abort(StoreError::TransactionChanged(tx.clone())));
                    }
                }
                if let Some(id) = &issuance.burn_challenge {
                    let raw = challenges
                        .get(id.as_bytes())?
                        .ok_or_else(|| abort(StoreError::ChallengeMissing(id.clone())))?;
                    let mut ch = decode_challenge(&raw).map_err(abort)?;
                    if ch.used.is_some() {
                        return Err(abort(StoreError::ChallengeUsed(id.clone())));
                    }
                    ch.used = Some(ChallengeUse {
                        at: cert.issued_at,
                        serial: cert.serial.clone(),
                    });
                    challenges.insert(id.as_bytes(), encode_challenge(&ch).map_err(abort)?)?;
                }
                certs.insert(serial_key, cert_bytes.as_slice())?;
                if let Some(tx) = &cert.transaction_id {
                    by_tx.insert(tx.as_bytes(), serial_key)?;
                }
                by_subject.insert(subject_key.as_slice(), &[])?;
                audit.insert(&audit_key, audit_bytes.as_slice())?;
                Ok(())
            });
        match result {
            Ok(()) => self.flush(),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    fn cert(&self, serial: &Serial) -> Result<Option<CertRecord>, StoreError> {
        self.certs
            .get(serial.as_bytes())?
            .map(|b| decode_cert(&b))
            .transpose()
    }

    fn certs(&self) -> Result<Vec<CertRecord>, StoreError> {
        // Serials are all 16 bytes, so byte order is numeric order.
        self.certs
            .iter()
            .map(|r| {
                let (_, v) = r?;
                decode_cert(&v)
            })
            .collect()
    }

    fn cert_by_transaction(&self, transaction_id: &str) -> Result<Option<CertRecord>, StoreError> {
        match self.by_transaction.get(transaction_id.as_bytes())? {
            Some(serial) => self.certs.get(serial)?.map(|b| decode_cert(&b)).transpose(),
            None => Ok(None),
        }
    }

    fn certs_by_subject(&self, subject: &str) -> Result<Vec<CertRecord>, StoreError> {
        let mut prefix = subject.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for entry in self.by_subject.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let serial = key.get(prefix.len()..).unwrap_or_default();
            if let Some(raw) = self.certs.get(serial)? {
                out.push(decode_cert(&raw)?);
            }
        }
        Ok(out)
    }

    fn insert_challenge(
        &self,
        challenge: &ChallengeRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let audit_key = self.db.generate_id()?.to_be_bytes();
        let ch = encode_challenge(challenge)?;
        let a = encode_audit(audit)?;
        (&self.challenges, &self.audit)
            .transaction(|(challenges, audit)| {
                challenges.insert(challenge.id.as_bytes(), ch.as_slice())?;
                audit.insert(&audit_key, a.as_slice())?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => e.into(),
            })?;
        self.flush()
    }

    fn challenge(&self, id: &str) -> Result<Option<ChallengeRecord>, StoreError> {
        self.challenges
            .get(id.as_bytes())?
            .map(|b| decode_challenge(&b))
            .transpose()
    }

    fn append_audit(&self, audit: &AuditRecord) -> Result<(), StoreError> {
        let key = self.db.generate_id()?.to_be_bytes();
        self.audit.insert(key, encode_audit(audit)?)?;
        self.flush()
    }

    fn audit(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.audit
            .iter()
            .map(|r| {
                let (_, v) = r?;
                decode_audit(&v)
            })
            .collect()
    }
}
