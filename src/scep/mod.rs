//! SCEP (RFC 8894) message codec: bytes in, typed values out, and back.
//!
//! This module never does I/O and knows nothing of storage, policy or HTTP. It verifies
//! request signatures, opens and builds `EnvelopedData` with the `openssl` crate, and reads
//! and writes the SCEP signed attributes with RustCrypto's `cms`/`der` types.
//!
//! Layers of a pkiMessage (RFC 8894 §3):
//!
//! ```text
//! ContentInfo { signedData (§3.2)
//!   SignedData {
//!     encapContentInfo: id-data OCTET STRING { EnvelopedData (§3.2.2) { messageData } }
//!     certificates:     the signer's certificate
//!     signerInfos:      one, with the SCEP signed attributes (§3.2.1)
//! } }
//! ```
//!
//! Input is BER in the wild (Apple, jscep, EJBCA send indefinite lengths and chunked OCTET
//! STRINGs); `der` refuses BER, so every layer is first normalised to DER through OpenSSL.

pub mod attributes;
pub mod ber;
pub mod builder;
pub mod certrep;
pub mod csr;
pub mod envelope;
pub mod get;
pub mod message;

pub use attributes::{FailInfo, MessageType, Nonce, PkiStatus, TransactionId};
pub use certrep::{CertRep, CertRepBody};
pub use csr::CertificationRequest;
pub use envelope::{ContentCipher, KeyTransport};
pub use message::{PkiMessage, SignedRequest, Unverified};

use const_oid::ObjectIdentifier;

/// Errors from decoding a SCEP message. Each one means "cannot decode": HTTP 400.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a CMS/PKCS#7 message: {0}")]
    NotCms(String),
    #[error("malformed ASN.1: {0}")]
    Asn1(#[from] der::Error),
    #[error("the message is not SignedData")]
    NotSignedData,
    #[error("the SignedData must carry exactly one SignerInfo, found {0}")]
    SignerCount(usize),
    #[error("the SignerInfo has no signed attributes")]
    NoSignedAttributes,
    #[error("signed attribute {0} is missing")]
    MissingAttribute(&'static str),
    #[error("signed attribute {0} is malformed")]
    BadAttribute(&'static str),
    #[error("the signer's certificate is not in the message")]
    SignerCertificateMissing,
    #[error("the signer identifier is not issuerAndSerialNumber")]
    UnsupportedSignerIdentifier,
    #[error("unsupported digest algorithm {0}")]
    UnsupportedDigest(ObjectIdentifier),
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignature(ObjectIdentifier),
    #[error("the message has no content")]
    NoContent,
    #[error("not EnvelopedData")]
    NotEnvelopedData,
    #[error("the envelope must have exactly one recipient, found {0}")]
    RecipientCount(usize),
    #[error("the envelope's recipient is not key transport")]
    NotKeyTransport,
    #[error("cannot decrypt or parse the enveloped request")]
    Decrypt,
    #[error("malformed certification request: {0}")]
    Csr(String),
    #[error("malformed query: {0}")]
    GetMessage(&'static str),
    #[error("crypto library failure: {0}")]
    Crypto(String),
}

impl From<openssl::error::ErrorStack> for DecodeError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        DecodeError::Crypto(e.to_string())
    }
}

/// Object identifiers used by SCEP that are not in `const_oid::db`.
pub mod oid {
    use const_oid::ObjectIdentifier;

    /// RFC 8894 §3.2.1: id-VeriSign OBJECT_IDENTIFIER ::= {2 16 US(840) 1 VeriSign(113733)}
    /// id-pki ::= {id-VeriSign pki(1)}; id-attributes ::= {id-pki attributes(9)}
    pub const MESSAGE_TYPE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.2");
    pub const PKI_STATUS: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.3");
    pub const FAIL_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.4");
    pub const SENDER_NONCE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.5");
    pub const RECIPIENT_NONCE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.6");
    pub const TRANSACTION_ID: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.7");
    /// RFC 8894 §3.2.1.4.1: id-scep-failInfoText ::= {id-scep 1}, id-scep ::= {id-pkix 24}
    pub const FAIL_INFO_TEXT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.24.1");

    pub const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
    pub const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    pub const ENVELOPED_DATA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
    pub const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
    pub const CHALLENGE_PASSWORD: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");
    pub const EXTENSION_REQUEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

    pub const RSA_ENCRYPTION: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSAES_OAEP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.7");
    pub const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
    pub const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
    pub const SHA1_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
    pub const SHA256_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

    pub const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    pub const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

    pub const DES_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.7");
    pub const DES_EDE3_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");
    pub const AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
    pub const AES192_CBC: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
    pub const AES256_CBC: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
}

/// The digest a request was signed with; the CertRep is signed with the same one
/// (RFC 8894 §3.2: the responder uses the requester's algorithms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Digest> {
        match *oid {
            oid::SHA1 => Some(Digest::Sha1),
            oid::SHA256 => Some(Digest::Sha256),
            oid::SHA384 => Some(Digest::Sha384),
            oid::SHA512 => Some(Digest::Sha512),
            _ => None,
        }
    }

    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Digest::Sha1 => oid::SHA1,
            Digest::Sha256 => oid::SHA256,
            Digest::Sha384 => oid::SHA384,
            Digest::Sha512 => oid::SHA512,
        }
    }

    pub fn message_digest(self) -> openssl::hash::MessageDigest {
        use openssl::hash::MessageDigest;
        match self {
            Digest::Sha1 => MessageDigest::sha1(),
            Digest::Sha256 => MessageDigest::sha256(),
            Digest::Sha384 => MessageDigest::sha384(),
            Digest::Sha512 => MessageDigest::sha512(),
        }
    }

    /// The `sha*WithRSAEncryption` OID matching this digest, for checking a SignerInfo.
    fn rsa_signature_oid(self) -> ObjectIdentifier {
        match self {
            Digest::Sha1 => oid::SHA1_WITH_RSA,
            Digest::Sha256 => oid::SHA256_WITH_RSA,
            Digest::Sha384 => oid::SHA384_WITH_RSA,
            Digest::Sha512 => oid::SHA512_WITH_RSA,
        }
    }

    pub fn hash(self, data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        Ok(openssl::hash::hash(self.message_digest(), data)?.to_vec())
    }
}

/// Normalise possibly-BER CMS to DER: the schema-free [`ber`] pass, then a round trip through
/// OpenSSL's parser, which knows which implicitly tagged values are strings.
pub fn normalize_cms(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let input = ber::to_der(input)?;
    let cms = openssl::cms::CmsContentInfo::from_der(&input)
        .map_err(|e| DecodeError::NotCms(first_openssl_reason(&e)))?;
    Ok(cms.to_der()?)
}

/// Normalise a SignedData (possibly BER) to DER. The [`ber`] pass is enough here: every
/// string in a SignedData is universally tagged (eContent is `[0] EXPLICIT OCTET STRING`),
/// so no schema is needed, and skipping OpenSSL's round trip saves parsing the embedded
/// certificates' keys (costly in OpenSSL 3.0).
pub fn normalize_pkcs7(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    ber::to_der(input)
}

/// A short, stable reason from an OpenSSL error stack, safe to show to a client.
pub(crate) fn first_openssl_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|e| e.reason().map(str::to_owned))
        .unwrap_or_else(|| "unparseable".to_owned())
}

/// Build an OpenSSL public key from a SubjectPublicKeyInfo.
///
/// RSA and the NIST EC curves are built from their components through OpenSSL's key-type
/// APIs rather than `d2i_PUBKEY`: in OpenSSL 3.0 every generic key parse sets up a decoder
/// context that walks all providers' names, and the load-test profile showed that costing
/// more than the RSA arithmetic. Other key types take the generic path.
pub fn public_key_from_spki(
    spki_der: &[u8],
) -> Result<openssl::pkey::PKey<openssl::pkey::Public>, DecodeError> {
    use der::Decode;
    use openssl::pkey::PKey;
    const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(spki_der)?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(DecodeError::BadAttribute("subjectPublicKey"))?;
    match spki.algorithm.oid {
        oid::RSA_ENCRYPTION => {
            let rsa = openssl::rsa::Rsa::public_key_from_der_pkcs1(bits)?;
            Ok(PKey::from_rsa(rsa)?)
        }
        ID_EC_PUBLIC_KEY => {
            let curve: ObjectIdentifier = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or(DecodeError::BadAttribute("EC parameters"))?
                .decode_as()?;
            let nid = match curve.to_string().as_str() {
                "1.2.840.10045.3.1.7" => openssl::nid::Nid::X9_62_PRIME256V1,
                "1.3.132.0.34" => openssl::nid::Nid::SECP384R1,
                "1.3.132.0.35" => openssl::nid::Nid::SECP521R1,
                _ => return Ok(PKey::public_key_from_der(spki_der)?),
            };
            let group = openssl::ec::EcGroup::from_curve_name(nid)?;
            let mut ctx = openssl::bn::BigNumContext::new()?;
            let point = openssl::ec::EcPoint::from_bytes(&group, bits, &mut ctx)?;
            let key = openssl::ec::EcKey::from_public_key(&group, &point)?;
            Ok(PKey::from_ec_key(key)?)
        }
        _ => Ok(PKey::public_key_from_der(spki_der)?),
    }
}
