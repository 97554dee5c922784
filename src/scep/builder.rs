//! The client side of SCEP: build PKCSReq messages and certification requests, and read
//! CertReps. The server never calls this; the tests, the load test and the fuzz seeds do, so
//! a request can be made with any algorithm mix a real client might send.

use std::str::FromStr;

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, Ia5String, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use openssl::pkey::{Id, PKey, PKeyRef, Private};
use openssl::x509::X509;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;

use super::attributes::{octets_attr, printable_attr};
use super::envelope::{self, ContentCipher, KeyTransport};
use super::message::{self, SignError, SignParams};
use super::{oid, Digest, MessageType, Nonce, TransactionId};

/// How the challengePassword is encoded in a CSR (RFC 2985 DirectoryString choices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringKind {
    Printable,
    Utf8,
    Bmp,
}

/// A PKCS#10 request to build.
pub struct CsrParams<'a> {
    /// RFC 4514 string, e.g. `CN=laptop-0042,O=Example Corp`.
    pub subject: &'a str,
    pub challenge: Option<(&'a str, StringKind)>,
    pub dns_names: &'a [&'a str],
    pub emails: &'a [&'a str],
    pub key: &'a PKeyRef<Private>,
}

/// Build a DER PKCS#10 request signed with SHA-256 (RSA PKCS#1 v1.5 or ECDSA).
pub fn csr(p: &CsrParams<'_>) -> Result<Vec<u8>, SignError> {
    let subject = Name::from_str(p.subject)
        .map_err(|e| SignError::Unsupported(format!("subject {:?}: {e}", p.subject)))?;
    let public_key = SubjectPublicKeyInfoOwned::from_der(&p.key.public_key_to_der()?)?;
    let mut attrs = Vec::new();
    if let Some((challenge, kind)) = p.challenge {
        let value = match kind {
            StringKind::Printable => {
                Any::encode_from(&der::asn1::PrintableStringRef::new(challenge)?)?
            }
            StringKind::Utf8 => Any::encode_from(&der::asn1::Utf8StringRef::new(challenge)?)?,
            StringKind::Bmp => Any::encode_from(&der::asn1::BmpString::from_utf8(challenge)?)?,
        };
        attrs.push(Attribute {
            oid: oid::CHALLENGE_PASSWORD,
            values: SetOfVec::try_from(vec![value])?,
        });
    }
    if !p.dns_names.is_empty() || !p.emails.is_empty() {
        let mut names = Vec::new();
        for d in p.dns_names {
            names.push(GeneralName::DnsName(Ia5String::new(d)?));
        }
        for e in p.emails {
            names.push(GeneralName::Rfc822Name(Ia5String::new(e)?));
        }
        let ext = Extension {
            extn_id: const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME,
            critical: false,
            extn_value: OctetString::new(SubjectAltName(names).to_der()?)?,
        };
        attrs.push(Attribute {
            oid: oid::EXTENSION_REQUEST,
            values: SetOfVec::try_from(vec![Any::encode_from(&vec![ext])?])?,
        });
    }
    let info = CertReqInfo {
        version: Version::V1,
        subject,
        public_key,
        attributes: SetOfVec::try_from(attrs)?,
    };
    let tbs = info.to_der()?;
    let (algorithm, signature) = sign_sha256(p.key, &tbs)?;
    Ok(CertReq {
        info,
        algorithm,
        signature: BitString::from_bytes(&signature)?,
    }
    .to_der()?)
}

fn sign_sha256(
    key: &PKeyRef<Private>,
    tbs: &[u8],
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), SignError> {
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key)?;
    let (oid, parameters) = match key.id() {
        Id::RSA => (oid::SHA256_WITH_RSA, Some(Any::null())),
        Id::EC => (ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"), None),
        other => return Err(SignError::Unsupported(format!("key type {other:?}"))),
    };
    let sig = signer.sign_oneshot_to_vec(tbs)?;
    Ok((AlgorithmIdentifierOwned { oid, parameters }, sig))
}

/// A self-signed signer certificate as clients make for a first PKCSReq (RFC 8894 §2.3).
pub fn self_signed(key: &PKeyRef<Private>, common_name: &str) -> Result<X509, SignError> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    let mut name = openssl::x509::X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(1)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    b.sign(key, openssl::hash::MessageDigest::sha256())?;
    Ok(b.build())
}

/// Everything that goes into one request pkiMessage.
pub struct RequestParams<'a> {
    pub message_type: MessageType,
    pub transaction_id: &'a TransactionId,
    pub sender_nonce: &'a Nonce,
    /// The messageData: a CSR for PKCSReq (§3.3.1).
    pub message_data: &'a [u8],
    /// The CA certificate to encrypt to.
    pub recipient: &'a X509,
    pub cipher: ContentCipher,
    pub key_transport: KeyTransport,
    pub digest: Digest,
    pub signer: &'a X509,
    pub signer_key: &'a PKeyRef<Private>,
}

/// Build a request pkiMessage (RFC 8894 §3.3.1).
pub fn request(p: &RequestParams<'_>) -> Result<Vec<u8>, SignError> {
    let recipient = Certificate::from_der(&p.recipient.to_der()?)?;
    let recipient_key = p.recipient.public_key()?;
    let envelope = envelope::encrypt(
        p.message_data,
        &recipient,
        &recipient_key,
        p.cipher,
        &p.key_transport,
    )?;
    signed_request(p, &envelope)
}

/// Sign a request around a given envelope (tests use it to send broken envelopes).
pub fn signed_request(p: &RequestParams<'_>, envelope: &[u8]) -> Result<Vec<u8>, SignError> {
    let signer = Certificate::from_der(&p.signer.to_der()?)?;
    let attributes = vec![
        printable_attr(oid::TRANSACTION_ID, p.transaction_id.as_str())?,
        printable_attr(oid::MESSAGE_TYPE, &p.message_type.number().to_string())?,
        octets_attr(oid::SENDER_NONCE, p.sender_nonce.as_bytes())?,
    ];
    message::sign(SignParams {
        content: Some(envelope),
        attributes,
        digest: p.digest,
        signer: &signer,
        key: p.signer_key,
        certificates: vec![signer.clone()],
    })
}

/// A transactionID as RFC 8894 §3.2.1.1 suggests: the hex SHA-256 of the public key.
pub fn transaction_id_for(key: &PKeyRef<Private>) -> Result<TransactionId, SignError> {
    let spki = key.public_key_to_der()?;
    let h = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), &spki)?;
    TransactionId::new(hex::encode_upper(h)).map_err(|e| SignError::Unsupported(e.to_string()))
}

/// Generate an RSA key (for tests and the load test).
pub fn rsa_key(bits: u32) -> Result<PKey<Private>, SignError> {
    Ok(PKey::from_rsa(openssl::rsa::Rsa::generate(bits)?)?)
}

/// A CertRep as a client sees it after verifying and opening it.
#[derive(Debug)]
pub struct OpenedCertRep {
    pub attributes: super::attributes::ScepAttributes,
    pub digest: Digest,
    /// The certificates of the inner certs-only SignedData, in order (SUCCESS only).
    pub certificates: Vec<X509>,
    /// The certificates in the outer SignedData (the CA's).
    pub signer: Certificate,
}

/// Verify a CertRep's signature and, on SUCCESS, decrypt its envelope with the requester's
/// signer certificate and key.
pub fn open_cert_rep(
    reply: &[u8],
    signer: &X509,
    signer_key: &PKeyRef<Private>,
) -> Result<OpenedCertRep, super::DecodeError> {
    use super::DecodeError;
    let msg = super::PkiMessage::decode(reply)?;
    let verified = msg
        .verify()
        .map_err(|u| DecodeError::Crypto(format!("CertRep signature: {}", u.reason)))?;
    let mut certificates = Vec::new();
    if verified.attributes.pki_status == Some(super::PkiStatus::Success) {
        let content = verified.content.as_deref().ok_or(DecodeError::NoContent)?;
        let env = envelope::inspect(content).map_err(|e| DecodeError::Crypto(e.to_string()))?;
        let inner = envelope::decrypt(&env.der, signer_key, signer)?;
        for c in message::certs_from_certs_only(&inner)? {
            certificates.push(X509::from_der(&c.to_der()?)?);
        }
    }
    Ok(OpenedCertRep {
        attributes: verified.attributes,
        digest: verified.digest,
        certificates,
        signer: verified.signer,
    })
}
