//! The pkcsPKIEnvelope (RFC 8894 §3.2.2): CMS EnvelopedData with one key-transport recipient.
//!
//! ```text
//! EnvelopedData ::= SEQUENCE {
//!   version CMSVersion,                     -- 0: issuerAndSerialNumber, no attributes
//!   recipientInfos SET OF RecipientInfo,    -- one KeyTransRecipientInfo (RSA)
//!   encryptedContentInfo EncryptedContentInfo }
//! ```
//!
//! Decryption is OpenSSL's own CMS_decrypt with the recipient certificate given: on an RSA
//! unwrap failure it carries on with a random key (the Bleichenbacher/MMA defence), so a bad
//! key unwrap and a good unwrap yielding garbage fail the same way, later, with the same error.
//! Encryption is built here from primitives so that the reply can mirror the request's content
//! cipher and its key transport (PKCS#1 v1.5 or OAEP with the request's parameters).

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use openssl::pkey::{Id, PKeyRef, Private, Public};
use openssl::rsa::Padding;
use openssl::symm::Cipher;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::message::SignError;
use super::{oid, DecodeError, Digest};

/// Content-encryption algorithms we understand (RFC 8894 §3.5.2 capabilities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentCipher {
    /// Single DES: deprecated by RFC 8894, accepted only with `legacy_des`.
    DesCbc,
    DesEde3Cbc,
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
}

impl ContentCipher {
    pub fn from_oid(o: &const_oid::ObjectIdentifier) -> Option<ContentCipher> {
        match *o {
            oid::DES_CBC => Some(ContentCipher::DesCbc),
            oid::DES_EDE3_CBC => Some(ContentCipher::DesEde3Cbc),
            oid::AES128_CBC => Some(ContentCipher::Aes128Cbc),
            oid::AES192_CBC => Some(ContentCipher::Aes192Cbc),
            oid::AES256_CBC => Some(ContentCipher::Aes256Cbc),
            _ => None,
        }
    }

    pub fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            ContentCipher::DesCbc => oid::DES_CBC,
            ContentCipher::DesEde3Cbc => oid::DES_EDE3_CBC,
            ContentCipher::Aes128Cbc => oid::AES128_CBC,
            ContentCipher::Aes192Cbc => oid::AES192_CBC,
            ContentCipher::Aes256Cbc => oid::AES256_CBC,
        }
    }

    pub fn cipher(self) -> Cipher {
        match self {
            ContentCipher::DesCbc => Cipher::des_cbc(),
            ContentCipher::DesEde3Cbc => Cipher::des_ede3_cbc(),
            ContentCipher::Aes128Cbc => Cipher::aes_128_cbc(),
            ContentCipher::Aes192Cbc => Cipher::aes_192_cbc(),
            ContentCipher::Aes256Cbc => Cipher::aes_256_cbc(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ContentCipher::DesCbc => "DES-CBC",
            ContentCipher::DesEde3Cbc => "DES-EDE3-CBC",
            ContentCipher::Aes128Cbc => "AES-128-CBC",
            ContentCipher::Aes192Cbc => "AES-192-CBC",
            ContentCipher::Aes256Cbc => "AES-256-CBC",
        }
    }
}

/// RSA key transport as the requester used it; the reply uses the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyTransport {
    /// rsaEncryption: RSAES-PKCS1-v1_5 (parameters NULL or, as scepclient sends, absent).
    RsaPkcs1,
    /// id-RSAES-OAEP (RFC 8017 §A.2.1) with its hash and MGF1 hash; `algorithm` is the
    /// request's AlgorithmIdentifier, copied into the reply as is.
    RsaOaep {
        hash: Digest,
        mgf1_hash: Digest,
        algorithm: AlgorithmIdentifierOwned,
    },
}

impl KeyTransport {
    /// The default for messages we originate: PKCS#1 v1.5, which every client opens.
    pub fn pkcs1() -> KeyTransport {
        KeyTransport::RsaPkcs1
    }

    /// OAEP with the given hash for both the label hash and MGF1.
    pub fn oaep(hash: Digest) -> Result<KeyTransport, der::Error> {
        // RFC 4055 §4.1: the parameters are always present; all-default is an empty
        // SEQUENCE (OpenSSL refuses absent parameters).
        let params = if hash == Digest::Sha1 {
            Some(Any::encode_from(&RsaesOaepParams {
                hash_func: None,
                mask_gen_func: None,
                p_source_func: None,
            })?)
        } else {
            let h = AlgorithmIdentifierOwned {
                oid: hash.oid(),
                parameters: None,
            };
            Some(Any::encode_from(&RsaesOaepParams {
                hash_func: Some(h.clone()),
                mask_gen_func: Some(AlgorithmIdentifierOwned {
                    oid: oid::MGF1,
                    parameters: Some(Any::encode_from(&h)?),
                }),
                p_source_func: None,
            })?)
        };
        Ok(KeyTransport::RsaOaep {
            hash,
            mgf1_hash: hash,
            algorithm: AlgorithmIdentifierOwned {
                oid: oid::RSAES_OAEP,
                parameters: params,
            },
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            KeyTransport::RsaPkcs1 => "RSA PKCS#1 v1.5",
            KeyTransport::RsaOaep { .. } => "RSA OAEP",
        }
    }
}

/// ```text
/// RSAES-OAEP-params ::= SEQUENCE {
///   hashAlgorithm      [0] HashAlgorithm     DEFAULT sha1,
///   maskGenAlgorithm   [1] MaskGenAlgorithm  DEFAULT mgf1SHA1,
///   pSourceAlgorithm   [2] PSourceAlgorithm  DEFAULT pSpecifiedEmpty }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct RsaesOaepParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash_func: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen_func: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    p_source_func: Option<AlgorithmIdentifierOwned>,
}

/// What the envelope says about itself, read before anything is decrypted.
#[derive(Clone, Debug)]
pub struct EnvelopeInfo {
    pub cipher: ContentCipher,
    pub key_transport: KeyTransport,
    /// The envelope normalised to DER.
    pub der: Vec<u8>,
}

/// Why an envelope cannot be used: malformed (HTTP 400) or well formed with an algorithm we do
/// not support (signed FAILURE badAlg).
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
}

impl From<der::Error> for EnvelopeError {
    fn from(e: der::Error) -> Self {
        EnvelopeError::Decode(DecodeError::Asn1(e))
    }
}

/// Read the algorithms of an EnvelopedData (BER accepted).
pub fn inspect(input: &[u8]) -> Result<EnvelopeInfo, EnvelopeError> {
    let der_bytes = super::normalize_cms(input)?;
    let ci = ContentInfo::from_der(&der_bytes)?;
    if ci.content_type != oid::ENVELOPED_DATA {
        return Err(DecodeError::NotEnvelopedData.into());
    }
    let ed: EnvelopedData = ci.content.decode_as()?;
    let recipients = ed.recip_infos.0.into_vec();
    if recipients.len() != 1 {
        return Err(DecodeError::RecipientCount(recipients.len()).into());
    }
    let Some(RecipientInfo::Ktri(ktri)) = recipients.into_iter().next() else {
        return Err(EnvelopeError::Unsupported(
            "recipient is not RSA key transport".into(),
        ));
    };
    let alg = &ed.encrypted_content.content_enc_alg;
    let cipher = ContentCipher::from_oid(&alg.oid)
        .ok_or_else(|| EnvelopeError::Unsupported(format!("content cipher {}", alg.oid)))?;
    let key_transport = key_transport_from(&ktri.key_enc_alg)?;
    Ok(EnvelopeInfo {
        cipher,
        key_transport,
        der: der_bytes,
    })
}

fn key_transport_from(alg: &AlgorithmIdentifierOwned) -> Result<KeyTransport, EnvelopeError> {
    match alg.oid {
        oid::RSA_ENCRYPTION => Ok(KeyTransport::RsaPkcs1),
        oid::RSAES_OAEP => {
            let params = match &alg.parameters {
                Some(p) => p.decode_as::<RsaesOaepParams>()?,
                None => RsaesOaepParams {
                    hash_func: None,
                    mask_gen_func: None,
                    p_source_func: None,
                },
            };
            let digest_of = |a: &Option<AlgorithmIdentifierOwned>| match a {
                None => Ok(Digest::Sha1),
                Some(a) => Digest::from_oid(&a.oid)
                    .ok_or_else(|| EnvelopeError::Unsupported(format!("OAEP hash {}", a.oid))),
            };
            let hash = digest_of(&params.hash_func)?;
            let mgf1_hash = match &params.mask_gen_func {
                None => Digest::Sha1,
                Some(m) if m.oid == oid::MGF1 => {
                    let inner = m
                        .parameters
                        .as_ref()
                        .map(|p| p.decode_as::<AlgorithmIdentifierOwned>())
                        .transpose()?;
                    digest_of(&inner)?
                }
                Some(m) => return Err(EnvelopeError::Unsupported(format!("OAEP mask {}", m.oid))),
            };
            if params.p_source_func.is_some() {
                // A non-empty label is legal but no SCEP client uses one; refuse rather than
                // mis-decrypt.
                return Err(EnvelopeError::Unsupported("OAEP label".into()));
            }
            Ok(KeyTransport::RsaOaep {
                hash,
                mgf1_hash,
                algorithm: alg.clone(),
            })
        }
        other => Err(EnvelopeError::Unsupported(format!("key transport {other}"))),
    }
}

/// Decrypt a normalised envelope with the CA key. Every failure is the same
/// [`DecodeError::Decrypt`], whatever OpenSSL said, so no padding oracle is exposed.
pub fn decrypt(
    envelope_der: &[u8],
    key: &PKeyRef<Private>,
    cert: &openssl::x509::X509,
) -> Result<Vec<u8>, DecodeError> {
    let cms =
        openssl::cms::CmsContentInfo::from_der(envelope_der).map_err(|_| DecodeError::Decrypt)?;
    cms.decrypt(key, cert).map_err(|_| DecodeError::Decrypt)
}

/// Encrypt `content` to `recipient` (RFC 8894 §3.2.2), with a fresh content key and IV.
pub fn encrypt(
    content: &[u8],
    recipient: &Certificate,
    recipient_key: &PKeyRef<Public>,
    cipher: ContentCipher,
    key_transport: &KeyTransport,
) -> Result<Vec<u8>, SignError> {
    if recipient_key.id() != Id::RSA {
        return Err(SignError::Unsupported(
            "the recipient key is not RSA; SCEP replies need RSA key transport".into(),
        ));
    }
    let c = cipher.cipher();
    let mut cek = vec![0u8; c.key_len()];
    openssl::rand::rand_bytes(&mut cek)?;
    let mut iv = vec![0u8; c.iv_len().unwrap_or(16)];
    openssl::rand::rand_bytes(&mut iv)?;
    let encrypted_content = openssl::symm::encrypt(c, &cek, Some(&iv), content)?;

    let mut enc = openssl::encrypt::Encrypter::new(recipient_key)?;
    let key_enc_alg = match key_transport {
        KeyTransport::RsaPkcs1 => {
            enc.set_rsa_padding(Padding::PKCS1)?;
            AlgorithmIdentifierOwned {
                oid: oid::RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            }
        }
        KeyTransport::RsaOaep {
            hash,
            mgf1_hash,
            algorithm,
        } => {
            enc.set_rsa_padding(Padding::PKCS1_OAEP)?;
            enc.set_rsa_oaep_md(hash.message_digest())?;
            enc.set_rsa_mgf1_md(mgf1_hash.message_digest())?;
            algorithm.clone()
        }
    };
    let mut enc_key = vec![0u8; enc.encrypt_len(&cek)?];
    let n = enc.encrypt(&cek, &mut enc_key)?;
    enc_key.truncate(n);

    let ktri = KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: recipient.tbs_certificate.issuer.clone(),
            serial_number: recipient.tbs_certificate.serial_number.clone(),
        }),
        key_enc_alg,
        enc_key: OctetString::new(enc_key)?,
    };
    let ed = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(SetOfVec::try_from(vec![RecipientInfo::Ktri(ktri)])?),
        encrypted_content: EncryptedContentInfo {
            content_type: oid::DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(Any::encode_from(&OctetString::new(iv)?)?),
            },
            encrypted_content: Some(OctetString::new(encrypted_content)?),
        },
        unprotected_attrs: None,
    };
    Ok(ContentInfo {
        content_type: oid::ENVELOPED_DATA,
        content: Any::encode_from(&ed)?,
    }
    .to_der()?)
}
