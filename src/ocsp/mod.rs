//! OCSP (RFC 6960) codec: request bytes in, typed values out; typed answers in, signed
//! response bytes out.
//!
//! This module never does I/O, never reads the clock (callers pass every time) and knows
//! nothing of HTTP, storage or revocation policy: the caller looks each [`CertId`] up and
//! decides its [`CertStatus`]. It does not check requestor signatures (RFC 6960 §4.1.2 makes
//! them optional and we authorise nobody by them). Wire types come from RustCrypto's
//! `x509-ocsp`; signing uses OpenSSL, RSA PKCS#1 v1.5 with SHA-256.
//!
//! Messages (RFC 6960 §4.1.1 and §4.2.1):
//!
//! ```text
//! OCSPRequest ::= SEQUENCE {
//!    tbsRequest              TBSRequest,
//!    optionalSignature   [0] EXPLICIT Signature OPTIONAL }
//!
//! OCSPResponse ::= SEQUENCE {
//!    responseStatus          OCSPResponseStatus,
//!    responseBytes       [0] EXPLICIT ResponseBytes OPTIONAL }
//! ```
//!
//! Sections: §4.1 requests ([`parse_request`]), §4.1.1 CertID ([`issuer_matches`]), §4.2
//! responses ([`build_response`]), §2.3 and §4.2.1 error statuses ([`error_response`]),
//! §4.4.1 and RFC 8954 the nonce.

mod request;
mod response;

pub use request::{issuer_matches, parse_request, OcspRequest};
pub use response::{build_response, error_response};

use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512};
use const_oid::ObjectIdentifier;

/// The most CertIDs we answer in one request. RFC 6960 sets no limit; each one costs a
/// lookup, so a request asking for more is refused as malformed.
pub const MAX_REQUESTS: usize = 100;

/// Errors decoding a request or building a response.
///
/// [`OcspError::response_status`] is the one place that maps them to what the client sees.
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    #[error("malformed ASN.1: {0}")]
    Asn1(#[from] der::Error),
    #[error("the request lists no certificates")]
    NoRequests,
    #[error("the request lists {0} certificates; at most {MAX_REQUESTS} are answered")]
    TooManyRequests(usize),
    #[error("unsupported CertID hash algorithm {0}")]
    UnsupportedHash(ObjectIdentifier),
    #[error("the CertID serial number is negative")]
    NegativeSerial,
    #[error("the request carries more than one nonce extension")]
    DuplicateNonce,
    #[error("unsupported critical extension {0}")]
    UnsupportedCriticalExtension(ObjectIdentifier),
    #[error("no answers to put in the response")]
    NoAnswers,
    #[error("time {0} (Unix seconds) cannot be a GeneralizedTime")]
    TimeOutOfRange(i64),
    #[error("nextUpdate is before thisUpdate")]
    NextUpdateBeforeThisUpdate,
    #[error("{0} is not a CRLReason code")]
    InvalidReason(u8),
    #[error("the responder key is not RSA")]
    UnsupportedKey,
    #[error("the signing key does not match the responder certificate")]
    KeyMismatch,
    #[error("crypto failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

impl OcspError {
    /// The status to answer with: the client's fault is malformedRequest, ours internalError.
    pub fn response_status(&self) -> ResponseStatus {
        match self {
            OcspError::Asn1(_)
            | OcspError::NoRequests
            | OcspError::TooManyRequests(_)
            | OcspError::UnsupportedHash(_)
            | OcspError::NegativeSerial
            | OcspError::DuplicateNonce
            | OcspError::UnsupportedCriticalExtension(_) => ResponseStatus::MalformedRequest,
            OcspError::NoAnswers
            | OcspError::TimeOutOfRange(_)
            | OcspError::NextUpdateBeforeThisUpdate
            | OcspError::InvalidReason(_)
            | OcspError::UnsupportedKey
            | OcspError::KeyMismatch
            | OcspError::Crypto(_) => ResponseStatus::InternalError,
        }
    }
}

/// The unsuccessful response statuses we send (RFC 6960 §4.2.1, meanings in §2.3).
///
/// ```text
/// OCSPResponseStatus ::= ENUMERATED {
///     successful            (0),  -- Response has valid confirmations
///     malformedRequest      (1),  -- Illegal confirmation request
///     internalError         (2),  -- Internal error in issuer
///     tryLater              (3),  -- Try again later
///                                 -- (4) is not used
///     sigRequired           (5),  -- Must sign the request
///     unauthorized          (6)   -- Request unauthorized
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseStatus {
    MalformedRequest,
    InternalError,
    TryLater,
    /// RFC 6960 §2.3: also the answer for a CertID whose issuer we are not.
    Unauthorized,
}

impl ResponseStatus {
    /// The ENUMERATED value.
    pub fn code(self) -> u8 {
        match self {
            ResponseStatus::MalformedRequest => 1,
            ResponseStatus::InternalError => 2,
            ResponseStatus::TryLater => 3,
            ResponseStatus::Unauthorized => 6,
        }
    }
}

/// The hash algorithm of a CertID (RFC 6960 §4.1.1 `hashAlgorithm`). SHA-1 is what most
/// clients send (RFC 5019 §2.1.1 requires it); the SHA-2 family is accepted too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl OcspHash {
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<OcspHash> {
        match *oid {
            ID_SHA_1 => Some(OcspHash::Sha1),
            ID_SHA_256 => Some(OcspHash::Sha256),
            ID_SHA_384 => Some(OcspHash::Sha384),
            ID_SHA_512 => Some(OcspHash::Sha512),
            _ => None,
        }
    }

    pub fn oid(self) -> ObjectIdentifier {
        match self {
            OcspHash::Sha1 => ID_SHA_1,
            OcspHash::Sha256 => ID_SHA_256,
            OcspHash::Sha384 => ID_SHA_384,
            OcspHash::Sha512 => ID_SHA_512,
        }
    }

    pub fn message_digest(self) -> openssl::hash::MessageDigest {
        use openssl::hash::MessageDigest;
        match self {
            OcspHash::Sha1 => MessageDigest::sha1(),
            OcspHash::Sha256 => MessageDigest::sha256(),
            OcspHash::Sha384 => MessageDigest::sha384(),
            OcspHash::Sha512 => MessageDigest::sha512(),
        }
    }

    pub fn hash(self, data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        Ok(openssl::hash::hash(self.message_digest(), data)?.to_vec())
    }
}

/// One certificate asked about (RFC 6960 §4.1.1), decoded, with its DER kept to echo back.
///
/// ```text
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
///
/// Only [`parse_request`] makes one, so `raw` is always a CertID the client sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    pub hash: OcspHash,
    pub issuer_name_hash: Vec<u8>,
    pub issuer_key_hash: Vec<u8>,
    /// The serial's big-endian magnitude without leading zero octets (empty for serial 0).
    pub serial: Vec<u8>,
    raw: Vec<u8>,
}

impl CertId {
    /// The CertID's DER exactly as received; the SingleResponse repeats it (RFC 6960 §4.2.1).
    pub fn raw_der(&self) -> &[u8] {
        &self.raw
    }
}

/// The answer for one CertID (RFC 6960 §4.2.1).
///
/// ```text
/// CertStatus ::= CHOICE {
///     good        [0]     IMPLICIT NULL,
///     revoked     [1]     IMPLICIT RevokedInfo,
///     unknown     [2]     IMPLICIT UnknownInfo }
///
/// RevokedInfo ::= SEQUENCE {
///     revocationTime              GeneralizedTime,
///     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked {
        /// Unix seconds.
        revoked_at: i64,
        /// The CRLReason code (RFC 5280 §5.3.1): 0..=10 except 7.
        reason: Option<u8>,
    },
    Unknown,
}

#[cfg(test)]
pub(crate) mod testing {
    //! A CA and a leaf it issued, shared by the tests, and a runner for the openssl CLI.

    use std::path::Path;
    use std::process::{Command, Output, Stdio};
    use std::sync::OnceLock;

    use der::Decode;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::X509;

    use crate::ca::{Ca, CaParams, IssuePolicy, Serial};
    use crate::scep::builder::{self, CsrParams};
    use crate::scep::csr::CertificationRequest;

    pub struct Pki {
        pub ca: Ca,
        pub other_ca: Ca,
        pub leaf: X509,
        pub leaf_key: PKey<Private>,
        pub leaf_serial: Serial,
    }

    impl Pki {
        pub fn ca_certificate(&self) -> x509_cert::Certificate {
            self.ca.certificate.certificate.clone()
        }

        /// Write ca.pem, leaf.pem and leaf.key into `dir`.
        pub fn write(&self, dir: &Path) {
            std::fs::write(dir.join("ca.pem"), self.ca.certificate.to_pem().unwrap()).unwrap();
            std::fs::write(dir.join("leaf.pem"), self.leaf.to_pem().unwrap()).unwrap();
            let key = self.leaf_key.private_key_to_pem_pkcs8().unwrap();
            std::fs::write(dir.join("leaf.key"), key).unwrap();
        }
    }

    pub fn pki() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(|| {
            let now = time::OffsetDateTime::now_utc();
            let params = |subject: &str| CaParams {
                subject: subject.into(),
                key_bits: 2048,
                validity_days: 30,
            };
            let ca = Ca::create(&params("CN=ocsp test CA"), now).unwrap();
            let other_ca = Ca::create(&params("CN=ocsp other CA"), now).unwrap();
            let leaf_key = builder::rsa_key(2048).unwrap();
            let csr = builder::csr(&CsrParams {
                subject: "CN=ocsp leaf",
                challenge: None,
                dns_names: &[],
                emails: &[],
                key: &leaf_key,
            })
            .unwrap();
            let csr = CertificationRequest::parse(&csr).unwrap();
            let leaf_serial = Serial::random().unwrap();
            let leaf = ca
                .issue(&csr, &leaf_serial, &IssuePolicy::default(), now)
                .unwrap();
            Pki {
                ca,
                other_ca,
                leaf,
                leaf_key,
                leaf_serial,
            }
        })
    }

    pub fn openssl(dir: &Path, args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// stdout and stderr together, for assertions and failure messages.
    pub fn text(out: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// `openssl ocsp -reqout req.der` with extra flags, parsed back into DER bytes.
    pub fn openssl_request(dir: &Path, extra: &[&str]) -> Vec<u8> {
        // openssl wants a digest flag such as -sha256 before -cert.
        let mut args = vec!["ocsp", "-issuer", "ca.pem"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-cert", "leaf.pem", "-reqout", "req.der"]);
        let out = openssl(dir, &args);
        assert!(out.status.success(), "{}", text(&out));
        let der = std::fs::read(dir.join("req.der")).unwrap();
        // openssl wrote DER: our parser relies on that.
        x509_ocsp::OcspRequest::from_der(&der).unwrap();
        der
    }
}
