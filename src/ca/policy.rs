//! Issuing policy: what a request must be to get a certificate, and what the certificate
//! looks like. Everything here is a pure function of the request, the CA and `now`.

use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509};
use time::OffsetDateTime;

use super::{Ca, Serial};
use crate::scep::csr::{CertificationRequest, KeyInfo, SubjectAltName};

/// Certificates start this long before `now`, to absorb client clock skew.
pub const BACKDATE_SECS: i64 = 300;

/// Why a request is refused by policy (a signed FAILURE badRequest).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("the CSR's self-signature does not verify")]
    BadCsrSignature,
    #[error("key {0} is not allowed: RSA 2048-8192 bits or EC P-256/P-384 only")]
    Key(String),
    #[error("the CSR has neither a subject nor a subjectAltName")]
    EmptySubject,
    #[error("the CA certificate has expired")]
    CaExpired,
    #[error("RSA public exponent must be odd and between 65537 and 2^256 - 1")]
    RsaExponent,
}

/// The configurable part of issuing.
#[derive(Clone, Debug)]
pub struct IssuePolicy {
    pub validity: Duration,
    /// Put into cRLDistributionPoints (RFC 5280 §4.2.1.13) when set.
    pub crl_url: Option<String>,
    /// Put into authorityInfoAccess as id-ad-ocsp (RFC 5280 §4.2.2.1) when set.
    pub ocsp_url: Option<String>,
}

impl Default for IssuePolicy {
    fn default() -> Self {
        IssuePolicy {
            validity: Duration::from_secs(365 * 86_400),
            crl_url: None,
            ocsp_url: None,
        }
    }
}

/// Encode a GeneralName URI.
fn uri(s: &str) -> Result<x509_cert::ext::pkix::name::GeneralName, IssueError> {
    Ok(
        x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(
            der::asn1::Ia5String::new(s).map_err(|e| IssueError::Encoding(e.to_string()))?,
        ),
    )
}

/// An extension from its DER value (the openssl crate has no builder for these two).
fn der_extension(
    oid: &str,
    value: &impl der::Encode,
) -> Result<openssl::x509::X509Extension, IssueError> {
    let der_bytes = value
        .to_der()
        .map_err(|e| IssueError::Encoding(e.to_string()))?;
    let oid = openssl::asn1::Asn1Object::from_str(oid)?;
    let octets = openssl::asn1::Asn1OctetString::new_from_bytes(&der_bytes)?;
    Ok(openssl::x509::X509Extension::new_from_der(
        &oid, false, &octets,
    )?)
}

fn crl_distribution_points(url: &str) -> Result<openssl::x509::X509Extension, IssueError> {
    use x509_cert::ext::pkix::crl::dp::DistributionPoint;
    use x509_cert::ext::pkix::name::DistributionPointName;
    let dp = x509_cert::ext::pkix::CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
        reasons: None,
        crl_issuer: None,
    }]);
    der_extension("2.5.29.31", &dp)
}

fn authority_info_access(ocsp_url: &str) -> Result<openssl::x509::X509Extension, IssueError> {
    use x509_cert::ext::pkix::AccessDescription;
    let aia = x509_cert::ext::pkix::AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1"),
        access_location: uri(ocsp_url)?,
    }]);
    der_extension("1.3.6.1.5.5.7.1.1", &aia)
}

/// Check a request before anything is issued.
pub fn check(csr: &CertificationRequest) -> Result<(), PolicyError> {
    if !csr.signature_valid {
        return Err(PolicyError::BadCsrSignature);
    }
    match &csr.key {
        KeyInfo::Rsa { bits } if (2048..=8192).contains(bits) => {}
        KeyInfo::Ec { curve } if curve == "prime256v1" || curve == "secp384r1" => {}
        other => return Err(PolicyError::Key(other.to_string())),
    }
    if let KeyInfo::Rsa { .. } = csr.key {
        // An exponent of 1 (or any even one) makes signatures forgeable by anyone; CA/Browser
        // Forum BR §6.1.6 asks for an odd e with 2^16 < e < 2^256.
        let e = csr
            .public_key
            .rsa()
            .map_err(|_| PolicyError::Key("unreadable RSA key".into()))?
            .e()
            .to_owned()
            .map_err(|_| PolicyError::Key("unreadable RSA key".into()))?;
        if !e.is_bit_set(0) || e.num_bits() < 17 || e.num_bits() > 256 {
            return Err(PolicyError::RsaExponent);
        }
    }
    if csr.subject_is_empty && csr.subject_alt_names.is_empty() {
        return Err(PolicyError::EmptySubject);
    }
    Ok(())
}

/// Errors while building the certificate: our fault, not the requester's.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("crypto failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("encoding an extension: {0}")]
    Encoding(String),
}

impl Ca {
    /// Issue the certificate that signs configuration profiles: digitalSignature only, no
    /// EKU, two years (never past the CA).
    pub fn issue_profile_signer(
        &self,
        key: &openssl::pkey::PKeyRef<openssl::pkey::Private>,
        now: OffsetDateTime,
    ) -> Result<X509, IssueError> {
        let ca = &self.certificate.x509;
        let end = (now.unix_timestamp() + 2 * 365 * 86_400)
            .min(super::asn1_time_to_unix(ca.not_after())?);
        let mut name = openssl::x509::X509NameBuilder::new()?;
        name.append_entry_by_text("CN", "certdrop profile signing")?;
        let name = name.build();
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let sn = Serial::random()?.to_bignum()?.to_asn1_integer()?;
        b.set_serial_number(&sn)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(ca.subject_name())?;
        b.set_pubkey(key)?;
        let not_before = Asn1Time::from_unix(now.unix_timestamp() - BACKDATE_SECS)?;
        let not_after = Asn1Time::from_unix(end)?;
        b.set_not_before(&not_before)?;
        b.set_not_after(&not_after)?;
        b.append_extension(BasicConstraints::new().critical().build()?)?;
        b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(ca), None))?;
        b.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(ca), None))?;
        b.append_extension(aki)?;
        b.sign(self.key(), MessageDigest::sha256())?;
        Ok(b.build())
    }

    /// Issue an end-entity certificate for `csr` (already [`check`]ed) with `serial`.
    ///
    /// Subject and SANs (DNS, IP, email, URI) are copied; keyUsage is digitalSignature plus
    /// keyEncipherment for RSA and digitalSignature alone for EC (RFC 8813 §3); EKU
    /// clientAuth; SKI and AKI present; validity never past the CA's own notAfter.
    pub fn issue(
        &self,
        csr: &CertificationRequest,
        serial: &Serial,
        policy: &IssuePolicy,
        now: OffsetDateTime,
    ) -> Result<X509, IssueError> {
        check(csr)?;
        let subject = X509Name::from_der(&csr.subject_der)?;
        let ca = &self.certificate.x509;

        let start = now.unix_timestamp() - BACKDATE_SECS;
        let wanted_end = now
            .unix_timestamp()
            .saturating_add(i64::try_from(policy.validity.as_secs()).unwrap_or(i64::MAX));
        let end = wanted_end.min(super::asn1_time_to_unix(ca.not_after())?);
        if end <= now.unix_timestamp() {
            return Err(PolicyError::CaExpired.into());
        }
        let not_before = Asn1Time::from_unix(start)?;
        let not_after = Asn1Time::from_unix(end)?;

        let mut b = X509::builder()?;
        b.set_version(2)?;
        let sn = serial.to_bignum()?.to_asn1_integer()?;
        b.set_serial_number(&sn)?;
        b.set_subject_name(&subject)?;
        b.set_issuer_name(ca.subject_name())?;
        b.set_pubkey(&csr.public_key)?;
        b.set_not_before(&not_before)?;
        b.set_not_after(&not_after)?;
        b.append_extension(BasicConstraints::new().critical().build()?)?;
        let mut ku = KeyUsage::new();
        ku.critical().digital_signature();
        if matches!(csr.key, KeyInfo::Rsa { .. }) {
            ku.key_encipherment();
        }
        b.append_extension(ku.build()?)?;
        b.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
        let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(ca), None))?;
        b.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(ca), None))?;
        b.append_extension(aki)?;
        if !csr.subject_alt_names.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for n in &csr.subject_alt_names {
                match n {
                    SubjectAltName::Dns(d) => san.dns(d),
                    SubjectAltName::Email(e) => san.email(e),
                    SubjectAltName::Uri(u) => san.uri(u),
                    SubjectAltName::Ip(ip) => san.ip(&ip.to_string()),
                };
            }
            // RFC 5280 §4.2.1.6: critical when the subject is empty.
            if csr.subject_is_empty {
                san.critical();
            }
            let ext = san.build(&b.x509v3_context(Some(ca), None))?;
            b.append_extension(ext)?;
        }
        if let Some(url) = &policy.crl_url {
            b.append_extension(crl_distribution_points(url)?)?;
        }
        if let Some(url) = &policy.ocsp_url {
            b.append_extension(authority_info_access(url)?)?;
        }
        b.sign(self.key(), MessageDigest::sha256())?;
        Ok(b.build())
    }
}
