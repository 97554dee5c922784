//! The certificate authority: its key and certificate, and the one place where issuing policy
//! lives. It never sees HTTP and never reads the clock: callers pass `now`.

pub mod challenge;
pub mod crl;
pub mod keyfile;
pub mod policy;
pub mod serial;

use std::str::FromStr;

use der::{Decode, Encode};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509};
use time::OffsetDateTime;

pub use policy::{IssuePolicy, PolicyError};
pub use serial::Serial;

/// Errors creating or loading the CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("crypto failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("ASN.1 failure: {0}")]
    Asn1(#[from] der::Error),
    #[error("invalid CA subject {0:?}: {1}")]
    Subject(String, String),
    #[error("{0}")]
    Invalid(String),
}

/// How to make a new CA.
#[derive(Clone, Debug)]
pub struct CaParams {
    /// RFC 4514 text, e.g. `CN=certdrop CA,O=Example Corp`.
    pub subject: String,
    pub key_bits: u32,
    pub validity_days: u32,
}

/// The CA's public half: what GetCACert, `ca show` and relying parties need.
#[derive(Clone)]
pub struct CaCertificate {
    pub x509: X509,
    pub der: Vec<u8>,
    pub certificate: x509_cert::Certificate,
}

impl CaCertificate {
    pub fn from_x509(x509: X509) -> Result<CaCertificate, CaError> {
        let der = x509.to_der()?;
        let certificate = x509_cert::Certificate::from_der(&der)?;
        Ok(CaCertificate {
            x509,
            der,
            certificate,
        })
    }

    /// SHA-256 over the DER certificate, as `openssl x509 -fingerprint -sha256` prints it.
    pub fn sha256_fingerprint(&self) -> String {
        colon_hex(&openssl::sha::sha256(&self.der))
    }

    pub fn subject(&self) -> String {
        name_to_string(self.x509.subject_name())
    }

    /// notBefore as seconds since the Unix epoch.
    pub fn not_before(&self) -> Result<i64, CaError> {
        Ok(asn1_time_to_unix(self.x509.not_before())?)
    }

    /// notAfter as seconds since the Unix epoch.
    pub fn not_after(&self) -> Result<i64, CaError> {
        Ok(asn1_time_to_unix(self.x509.not_after())?)
    }

    pub fn to_pem(&self) -> Result<String, CaError> {
        Ok(String::from_utf8_lossy(&self.x509.to_pem()?).into_owned())
    }
}

/// The CA: certificate and private key.
pub struct Ca {
    pub certificate: CaCertificate,
    key: PKey<Private>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("subject", &self.certificate.subject())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Ca {
    pub fn new(certificate: CaCertificate, key: PKey<Private>) -> Result<Ca, CaError> {
        if !certificate.x509.public_key()?.public_eq(&key) {
            return Err(CaError::Invalid(
                "the CA key does not match the CA certificate".into(),
            ));
        }
        Ok(Ca { certificate, key })
    }

    pub fn key(&self) -> &PKey<Private> {
        &self.key
    }

    /// Make a new self-signed CA: RSA key, basicConstraints CA, and keyCertSign, cRLSign,
    /// digitalSignature and keyEncipherment (clients encrypt their requests to this
    /// certificate and Apple checks for keyEncipherment: "-67731 key usage incorrect").
    pub fn create(params: &CaParams, now: OffsetDateTime) -> Result<Ca, CaError> {
        if ![2048, 3072, 4096].contains(&params.key_bits) {
            return Err(CaError::Invalid(format!(
                "CA key size {} is not one of 2048, 3072, 4096",
                params.key_bits
            )));
        }
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(params.key_bits)?)?;
        let name = parse_name(&params.subject)?;
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let serial = Serial::random()?.to_bignum()?.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let not_before = Asn1Time::from_unix(now.unix_timestamp() - policy::BACKDATE_SECS)?;
        let not_after =
            Asn1Time::from_unix(now.unix_timestamp() + i64::from(params.validity_days) * 86_400)?;
        b.set_not_before(&not_before)?;
        b.set_not_after(&not_after)?;
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .digital_signature()
                .key_encipherment()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
        b.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(None, None))?;
        b.append_extension(aki)?;
        b.sign(&key, MessageDigest::sha256())?;
        Ca::new(CaCertificate::from_x509(b.build())?, key)
    }
}

/// Parse RFC 4514 text (`CN=x,O=y`, with `\,` escapes) into an OpenSSL name.
pub fn parse_name(s: &str) -> Result<X509Name, CaError> {
    let name = x509_cert::name::Name::from_str(s)
        .map_err(|e| CaError::Subject(s.to_owned(), e.to_string()))?;
    if name.0.is_empty() {
        return Err(CaError::Subject(s.to_owned(), "empty".into()));
    }
    Ok(X509Name::from_der(&name.to_der()?)?)
}

pub use crate::scep::csr::name_to_string;

pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Seconds since the Unix epoch of an ASN.1 time.
pub fn asn1_time_to_unix(
    t: &openssl::asn1::Asn1TimeRef,
) -> Result<i64, openssl::error::ErrorStack> {
    let epoch = Asn1Time::from_unix(0)?;
    let d = epoch.diff(t)?;
    Ok(i64::from(d.days) * 86_400 + i64::from(d.secs))
}
