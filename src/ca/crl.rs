//! Certificate revocation lists: the DER `CertificateList` (RFC 5280 §5) the CA signs over a
//! list of revoked serials, and the CRLReason codes (RFC 5280 §5.3.1) we let callers use.
//!
//! Pure: no I/O, no clock. The caller passes the entries, the cRLNumber and both times, and
//! keeps the cRLNumber monotonic (RFC 5280 §5.2.3). Only full, direct CRLs are built: no delta
//! CRLs, no indirect CRLs, no issuingDistributionPoint; so `removeFromCRL`, `cACompromise` and
//! `aACompromise` are not offered as reasons. Signing is sha256WithRSAEncryption only.
//!
//! ```text
//! CertificateList  ::=  SEQUENCE  {
//!      tbsCertList          TBSCertList,
//!      signatureAlgorithm   AlgorithmIdentifier,
//!      signatureValue       BIT STRING  }
//!
//! TBSCertList  ::=  SEQUENCE  {
//!      version                 Version OPTIONAL,   -- if present, MUST be v2
//!      signature               AlgorithmIdentifier,
//!      issuer                  Name,
//!      thisUpdate              Time,
//!      nextUpdate              Time OPTIONAL,
//!      revokedCertificates     SEQUENCE OF SEQUENCE  {
//!           userCertificate         CertificateSerialNumber,
//!           revocationDate          Time,
//!           crlEntryExtensions      Extensions OPTIONAL  }  OPTIONAL,
//!      crlExtensions           [0]  EXPLICIT Extensions OPTIONAL  }
//! ```
//!
//! See <https://datatracker.ietf.org/doc/html/rfc5280#section-5>.

use std::fmt;
use std::str::FromStr;

use const_oid::db::rfc5280::{ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CRL_NUMBER, ID_CE_CRL_REASONS};
use const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
use der::asn1::{BitString, GeneralizedTime, OctetString, Uint, UtcTime};
use der::{DateTime, Encode};
use openssl::hash::MessageDigest;
use openssl::pkey::Id;
use openssl::sign::Signer;
use time::{OffsetDateTime, UtcOffset};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::CrlNumber;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlReason};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;
use x509_cert::Version;

use super::{Ca, Serial};

/// Errors building a CRL, or parsing a reason name.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    #[error(
        "unknown revocation reason {0:?}: expected one of unspecified, keyCompromise, \
         affiliationChanged, superseded, cessationOfOperation, certificateHold, \
         privilegeWithdrawn"
    )]
    UnknownReason(String),
    #[error("the CA key is {0:?}; CRLs are signed with sha256WithRSAEncryption and need RSA")]
    UnsupportedKey(Id),
    #[error("the CA certificate has no subjectKeyIdentifier to name in authorityKeyIdentifier")]
    NoSubjectKeyIdentifier,
    #[error("the CA certificate's subject is empty or does not re-encode byte for byte")]
    Issuer,
    #[error("time {0} cannot be a CRL time (1970 to 9999 UTC)")]
    TimeOutOfRange(OffsetDateTime),
    #[error("revocation time {0} (Unix seconds) cannot be a CRL time (1970 to 9999 UTC)")]
    RevokedAtOutOfRange(i64),
    #[error("nextUpdate {next_update} is before thisUpdate {this_update}")]
    NextUpdateBeforeThisUpdate {
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    },
    #[error("crypto failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("ASN.1 failure: {0}")]
    Asn1(#[from] der::Error),
}

/// Why a certificate was revoked: the CRLReason values (RFC 5280 §5.3.1) that make sense on a
/// full CRL from a CA that issues end-entity certificates only.
///
/// ```text
/// CRLReason ::= ENUMERATED {
///      unspecified             (0),
///      keyCompromise           (1),
///      cACompromise            (2),
///      affiliationChanged      (3),
///      superseded              (4),
///      cessationOfOperation    (5),
///      certificateHold         (6),
///           -- value 7 is not used
///      removeFromCRL           (8),
///      privilegeWithdrawn      (9),
///      aACompromise           (10) }
/// ```
///
/// Text and serde forms are the ASN.1 names (`keyCompromise`); parsing ignores case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 7] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The CRLReason ENUMERATED value (RFC 5280 §5.3.1).
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
        }
    }

    /// The reason with this CRLReason value, if it is one we offer.
    pub fn from_code(code: u8) -> Option<RevocationReason> {
        RevocationReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The ASN.1 name, e.g. `keyCompromise`.
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    fn to_x509(self) -> CrlReason {
        match self {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::CertificateHold => CrlReason::CertificateHold,
            RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RevocationReason {
    type Err = CrlError;

    fn from_str(s: &str) -> Result<RevocationReason, CrlError> {
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CrlError::UnknownReason(s.to_owned()))
    }
}

impl serde::Serialize for RevocationReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for RevocationReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RevocationReason, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One revoked certificate as the CRL lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: Serial,
    /// revocationDate, in seconds since the Unix epoch.
    pub revoked_at: i64,
    pub reason: RevocationReason,
}

impl Ca {
    /// Build and sign a full CRL listing `entries` in the order given, as DER.
    ///
    /// v2, sha256WithRSAEncryption, issuer = the CA certificate's subject, crlExtensions
    /// authorityKeyIdentifier (the CA's subjectKeyIdentifier) and cRLNumber `crl_number`; each
    /// entry carries a reasonCode unless its reason is `unspecified`. The caller keeps
    /// `crl_number` increasing from one CRL to the next (RFC 5280 §5.2.3).
    pub fn crl(
        &self,
        entries: &[RevokedEntry],
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, CrlError> {
        let key_id = self.key().id();
        if key_id != Id::RSA {
            return Err(CrlError::UnsupportedKey(key_id));
        }
        if next_update < this_update {
            return Err(CrlError::NextUpdateBeforeThisUpdate {
                this_update,
                next_update,
            });
        }

        // RFC 4055 §5: sha256WithRSAEncryption parameters MUST be NULL.
        let algorithm = AlgorithmIdentifierOwned {
            oid: SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(der::asn1::Null.into()),
        };

        // RFC 5280 §5.1.2.3: the issuer MUST be a non-empty DN. It is the CA certificate's
        // subject, and path validation compares names, so it must be the same bytes (§6.3.3).
        let issuer = self.certificate.certificate.tbs_certificate.subject.clone();
        if issuer.0.is_empty()
            || issuer.to_der()? != self.certificate.x509.subject_name().to_der()?
        {
            return Err(CrlError::Issuer);
        }

        // RFC 5280 §5.2.1: conforming CRL issuers MUST include authorityKeyIdentifier, using
        // the key identifier method; §4.2.1.1: it MUST NOT be critical.
        let ski = self
            .certificate
            .x509
            .subject_key_id()
            .ok_or(CrlError::NoSubjectKeyIdentifier)?;
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(ski.as_slice())?),
            ..Default::default()
        };
        // RFC 5280 §5.2.3: cRLNumber MUST be in every CRL and MUST be non-critical; a u64 is
        // well inside the 20 octets it allows.
        let number = CrlNumber(Uint::new(&crl_number.to_be_bytes())?);
        let crl_extensions = vec![
            extension(ID_CE_AUTHORITY_KEY_IDENTIFIER, &aki)?,
            extension(ID_CE_CRL_NUMBER, &number)?,
        ];

        let mut revoked = Vec::with_capacity(entries.len());
        for e in entries {
            revoked.push(RevokedCert {
                serial_number: SerialNumber::new(e.serial.as_bytes())?,
                // RFC 5280 §5.1.2.6: revocationDate is encoded as in §5.1.2.4.
                revocation_date: unix_to_time(e.revoked_at)?,
                // RFC 5280 §5.3.1: reasonCode is non-critical, and SHOULD be absent rather than
                // `unspecified`.
                crl_entry_extensions: match e.reason {
                    RevocationReason::Unspecified => None,
                    r => Some(vec![extension(ID_CE_CRL_REASONS, &r.to_x509())?]),
                },
            });
        }

        let tbs_cert_list = TbsCertList {
            // RFC 5280 §5.1.2.1: with extensions, version MUST be present and MUST be v2.
            version: Version::V2,
            // RFC 5280 §5.1.2.2: MUST be the same algorithm as signatureAlgorithm.
            signature: algorithm.clone(),
            issuer,
            this_update: to_time(this_update)?,
            // RFC 5280 §5.1.2.5: conforming CRL issuers MUST include nextUpdate.
            next_update: Some(to_time(next_update)?),
            // RFC 5280 §5.1.2.6: with no revoked certificates the list MUST be absent. It is a
            // SEQUENCE OF: entries stay in the caller's order and nothing is sorted.
            revoked_certificates: if revoked.is_empty() {
                None
            } else {
                Some(revoked)
            },
            crl_extensions: Some(crl_extensions),
        };

        let tbs = tbs_cert_list.to_der()?;
        // RFC 5280 §5.1.1.3: the signature is over the DER-encoded tbsCertList.
        let mut signer = Signer::new(MessageDigest::sha256(), self.key())?;
        let signature = signer.sign_oneshot_to_vec(&tbs)?;
        let list = CertificateList {
            tbs_cert_list,
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&signature)?,
        };
        Ok(list.to_der()?)
    }
}

/// A non-critical extension holding the DER of `value`.
fn extension(
    extn_id: const_oid::ObjectIdentifier,
    value: &impl Encode,
) -> Result<Extension, der::Error> {
    Ok(Extension {
        extn_id,
        critical: false,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn unix_to_time(secs: i64) -> Result<Time, CrlError> {
    let t = OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| CrlError::RevokedAtOutOfRange(secs))?;
    to_time(t).map_err(|_| CrlError::RevokedAtOutOfRange(secs))
}

/// RFC 5280 §5.1.2.4/§5.1.2.5: times through 2049 MUST be UTCTime and from 2050 MUST be
/// GeneralizedTime; in UTC, whole seconds (§4.1.2.5.1, §4.1.2.5.2: no fractions).
fn to_time(t: OffsetDateTime) -> Result<Time, CrlError> {
    let utc = t.to_offset(UtcOffset::UTC);
    let year = u16::try_from(utc.year()).map_err(|_| CrlError::TimeOutOfRange(t))?;
    let date_time = DateTime::new(
        year,
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
    )
    .map_err(|_| CrlError::TimeOutOfRange(t))?;
    if year <= UtcTime::MAX_YEAR {
        Ok(UtcTime::from_date_time(date_time)?.into())
    } else {
        Ok(GeneralizedTime::from_date_time(date_time).into())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;
    use std::sync::OnceLock;

    use der::Decode;
    use openssl::x509::{ReasonCode, X509Crl};
    use time::macros::datetime;
    use x509_parser::prelude::FromDer;
    use x509_parser::revocation_list::CertificateRevocationList;

    use super::*;
    use crate::ca::CaParams;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00:00 UTC);

    /// One RSA-2048 CA for all tests: key generation is the slow part.
    fn ca() -> &'static Ca {
        static CA: OnceLock<Ca> = OnceLock::new();
        CA.get_or_init(|| {
            let params = CaParams {
                subject: "CN=crl test CA".into(),
                key_bits: 2048,
                validity_days: 30,
            };
            Ca::create(&params, NOW).unwrap()
        })
    }

    fn three_entries() -> Vec<RevokedEntry> {
        let at = NOW.unix_timestamp() - 3600;
        [
            RevocationReason::KeyCompromise,
            RevocationReason::CertificateHold,
            RevocationReason::Unspecified,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, reason)| RevokedEntry {
            serial: Serial::random().unwrap(),
            revoked_at: at + i as i64,
            reason,
        })
        .collect()
    }

    fn build(entries: &[RevokedEntry], crl_number: u64) -> Vec<u8> {
        ca().crl(entries, crl_number, NOW, NOW + time::Duration::days(7))
            .unwrap()
    }

    /// Run `openssl crl` on the DER CRL: `-text`, or `-verify` against the CA certificate.
    /// Returns whether it succeeded, and stdout then stderr.
    fn openssl_crl(dir: &Path, der: &[u8], verify: bool) -> (bool, String) {
        let crl = dir.join("crl.der");
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&crl, der).unwrap();
        std::fs::write(&ca_pem, ca().certificate.to_pem().unwrap()).unwrap();
        let mut command = Command::new("openssl");
        command
            .args(["crl", "-inform", "DER", "-noout", "-in"])
            .arg(&crl);
        if verify {
            command.arg("-CAfile").arg(&ca_pem).arg("-verify");
        } else {
            command.arg("-text");
        }
        let out = command.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    #[test]
    fn openssl_reads_and_verifies_crl_with_three_entries() {
        let entries = three_entries();
        let der = build(&entries, 7);
        let dir = tempfile::tempdir().unwrap();

        let (ok, text) = openssl_crl(dir.path(), &der, false);
        assert!(ok, "{text}");
        assert!(text.contains("Version 2 (0x1)"), "{text}");
        assert!(
            text.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{text}"
        );
        assert!(text.contains("Issuer: CN = crl test CA"), "{text}");
        let number = text.split("X509v3 CRL Number:").nth(1).unwrap();
        assert_eq!(number.split_whitespace().next(), Some("7"), "{text}");
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(text.contains("Certificate Hold"), "{text}");
        let ski = ca().certificate.x509.subject_key_id().unwrap().as_slice();
        let aki = text
            .split("X509v3 Authority Key Identifier:")
            .nth(1)
            .unwrap();
        let aki = aki.split_whitespace().next().unwrap();
        assert_eq!(
            aki.trim_start_matches("keyid:"),
            crate::ca::colon_hex(ski),
            "{text}"
        );

        // One block per revoked certificate, in the order given; only the first two carry a
        // reason, and the `unspecified` one has no reason line at all.
        let blocks: Vec<&str> = text.split("Serial Number: ").skip(1).collect();
        assert_eq!(blocks.len(), 3, "{text}");
        for (block, entry) in blocks.iter().zip(&entries) {
            assert!(block.starts_with(&entry.serial.to_hex()), "{block}");
        }
        assert!(blocks[0].contains("Key Compromise"));
        assert!(blocks[1].contains("Certificate Hold"));
        assert!(!blocks[2].contains("Reason"), "{}", blocks[2]);
        assert!(!text.contains("Unspecified"), "{text}");
        assert_eq!(text.matches("CRL Reason Code").count(), 2, "{text}");

        let (ok, text) = openssl_crl(dir.path(), &der, true);
        assert!(ok && text.contains("verify OK"), "{text}");

        let crl = X509Crl::from_der(&der).unwrap();
        let revoked = crl.get_revoked().unwrap();
        assert_eq!(revoked.len(), 3);
        let reasons: Vec<Option<i32>> = revoked
            .iter()
            .map(|r| {
                r.extension::<ReasonCode>().unwrap().map(|(critical, e)| {
                    assert!(!critical);
                    e.get_i64().unwrap() as i32
                })
            })
            .collect();
        assert_eq!(reasons, [Some(1), Some(6), None]);
        let public_key = ca().certificate.x509.public_key().unwrap();
        assert!(crl.verify(&public_key).unwrap());
    }

    #[test]
    fn empty_crl_omits_revoked_certificates_and_verifies() {
        let der = build(&[], 1);
        let list = CertificateList::from_der(&der).unwrap();
        assert_eq!(list.tbs_cert_list.revoked_certificates, None);

        let dir = tempfile::tempdir().unwrap();
        let (ok, text) = openssl_crl(dir.path(), &der, false);
        assert!(ok && text.contains("No Revoked Certificates."), "{text}");
        let (ok, text) = openssl_crl(dir.path(), &der, true);
        assert!(ok && text.contains("verify OK"), "{text}");

        let crl = X509Crl::from_der(&der).unwrap();
        assert!(crl.get_revoked().is_none());
        let public_key = ca().certificate.x509.public_key().unwrap();
        assert!(crl.verify(&public_key).unwrap());
    }

    #[test]
    fn issuer_and_extensions_follow_rfc5280() {
        let der = build(&three_entries(), u64::MAX);
        let list = CertificateList::from_der(&der).unwrap();
        let tbs = &list.tbs_cert_list;
        assert_eq!(tbs.version, Version::V2);
        assert_eq!(tbs.signature, list.signature_algorithm);
        assert_eq!(tbs.signature.oid, SHA_256_WITH_RSA_ENCRYPTION);
        assert_eq!(tbs.signature.parameters, Some(der::asn1::Null.into()));
        assert_eq!(
            tbs.issuer.to_der().unwrap(),
            ca().certificate.x509.subject_name().to_der().unwrap()
        );
        let extensions = tbs.crl_extensions.as_ref().unwrap();
        assert!(extensions.iter().all(|e| !e.critical));
        let number = extensions
            .iter()
            .find(|e| e.extn_id == ID_CE_CRL_NUMBER)
            .unwrap();
        let number = CrlNumber::from_der(number.extn_value.as_bytes()).unwrap();
        assert_eq!(number.0.as_bytes(), u64::MAX.to_be_bytes());
        for entry in tbs.revoked_certificates.as_ref().unwrap() {
            for e in entry.crl_entry_extensions.iter().flatten() {
                assert_eq!(e.extn_id, ID_CE_CRL_REASONS);
                assert!(!e.critical);
            }
        }
    }

    #[test]
    fn x509_parser_reads_serials_reasons_and_number() {
        let entries = three_entries();
        let der = build(&entries, 7);
        let (rest, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert!(rest.is_empty());
        assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("7".into()));
        let parsed: Vec<_> = crl.iter_revoked_certificates().collect();
        assert_eq!(parsed.len(), 3);
        for (p, e) in parsed.iter().zip(&entries) {
            assert_eq!(p.raw_serial(), e.serial.as_bytes());
            assert_eq!(p.revocation_date.timestamp(), e.revoked_at);
            let code = p.reason_code().map(|(_, r)| r.0);
            let want = (e.reason != RevocationReason::Unspecified).then_some(e.reason.code());
            assert_eq!(code, want);
        }
    }

    #[test]
    fn encodes_utc_time_through_2049_and_generalized_time_from_2050() {
        let last_utc = datetime!(2049-12-31 23:59:59 UTC);
        let first_generalized = datetime!(2050-01-01 00:00:00 UTC);
        assert!(matches!(to_time(last_utc).unwrap(), Time::UtcTime(_)));
        assert!(matches!(
            to_time(first_generalized).unwrap(),
            Time::GeneralTime(_)
        ));

        let entries = [RevokedEntry {
            serial: Serial::random().unwrap(),
            revoked_at: first_generalized.unix_timestamp(),
            reason: RevocationReason::Superseded,
        }];
        let der = ca().crl(&entries, 2, last_utc, first_generalized).unwrap();
        let tbs = CertificateList::from_der(&der).unwrap().tbs_cert_list;
        assert!(matches!(tbs.this_update, Time::UtcTime(_)));
        assert!(matches!(tbs.next_update, Some(Time::GeneralTime(_))));
        let revoked = tbs.revoked_certificates.unwrap();
        assert!(matches!(revoked[0].revocation_date, Time::GeneralTime(_)));
        assert_eq!(
            tbs.this_update.to_unix_duration().as_secs(),
            last_utc.unix_timestamp() as u64
        );
    }

    #[test]
    fn times_are_utc_whole_seconds() {
        let t = datetime!(2030-03-04 05:06:07.89 +02:00);
        let encoded = to_time(t).unwrap();
        assert_eq!(
            encoded.to_unix_duration().as_secs(),
            t.unix_timestamp() as u64
        );
        assert_eq!(encoded.to_der().unwrap()[2..], *b"300304030607Z");
    }

    #[test]
    fn rejects_times_a_crl_cannot_hold() {
        let before_epoch = datetime!(1969-12-31 23:59:59 UTC);
        assert!(matches!(
            to_time(before_epoch),
            Err(CrlError::TimeOutOfRange(_))
        ));
        let entries = [RevokedEntry {
            serial: Serial::random().unwrap(),
            revoked_at: -1,
            reason: RevocationReason::KeyCompromise,
        }];
        let err = ca()
            .crl(&entries, 1, NOW, NOW + time::Duration::days(1))
            .unwrap_err();
        assert!(matches!(err, CrlError::RevokedAtOutOfRange(-1)), "{err}");
    }

    #[test]
    fn rejects_next_update_before_this_update() {
        let err = ca()
            .crl(&[], 1, NOW, NOW - time::Duration::seconds(1))
            .unwrap_err();
        assert!(
            matches!(err, CrlError::NextUpdateBeforeThisUpdate { .. }),
            "{err}"
        );
    }

    #[test]
    fn reason_codes_match_rfc5280() {
        let codes: Vec<u8> = RevocationReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes, [0, 1, 3, 4, 5, 6, 9]);
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
            assert_eq!(r.to_x509() as u32, u32::from(r.code()));
        }
        for unused in [2, 7, 8, 10, 255] {
            assert_eq!(RevocationReason::from_code(unused), None);
        }
    }

    #[test]
    fn reason_names_round_trip() {
        let names = [
            "unspecified",
            "keyCompromise",
            "affiliationChanged",
            "superseded",
            "cessationOfOperation",
            "certificateHold",
            "privilegeWithdrawn",
        ];
        for (r, name) in RevocationReason::ALL.into_iter().zip(names) {
            assert_eq!(r.to_string(), name);
            assert_eq!(name.parse::<RevocationReason>().unwrap(), r);
            assert_eq!(name.to_uppercase().parse::<RevocationReason>().unwrap(), r);
            assert_eq!(name.to_lowercase().parse::<RevocationReason>().unwrap(), r);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<RevocationReason>(&json).unwrap(), r);
        }
    }

    #[test]
    fn rejects_unknown_reason_names() {
        for bad in [
            "",
            "key_compromise",
            "cACompromise",
            "removeFromCRL",
            "keyCompromise ",
        ] {
            assert!(
                matches!(
                    bad.parse::<RevocationReason>(),
                    Err(CrlError::UnknownReason(_))
                ),
                "{bad:?}"
            );
        }
        assert!(serde_json::from_str::<RevocationReason>("\"aACompromise\"").is_err());
        assert!(serde_json::from_str::<RevocationReason>("1").is_err());
    }
}
