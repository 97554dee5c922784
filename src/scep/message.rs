//! The signed layer of a pkiMessage (RFC 8894 §3.2): decode, verify, and sign.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Tag, Tagged};
use openssl::pkey::{Id, PKey, PKeyRef, Private, Public};
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::attributes::{self, ScepAttributes};
use super::{oid, DecodeError, Digest, FailInfo};

/// A decoded but not yet verified request. Only [`PkiMessage::verify`] turns it into
/// something the CA may act on.
#[derive(Clone, Debug)]
pub struct PkiMessage {
    pub attributes: ScepAttributes,
    /// The digest the signer used; the reply uses the same (RFC 8894 §3.2).
    pub digest: Digest,
    /// The signer's certificate (self-signed for PKCSReq, §2.3), as found in the message.
    pub signer: Certificate,
    /// `eContent`: the DER or BER of the EnvelopedData (§3.2.2).
    pub content: Option<Vec<u8>>,
    econtent_type: ObjectIdentifier,
    signed_attributes: Vec<Attribute>,
    signature_algorithm: ObjectIdentifier,
    signature: Vec<u8>,
}

/// A request whose signature verified against the certificate it carries.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    pub attributes: ScepAttributes,
    pub digest: Digest,
    pub signer: Certificate,
    /// The signer certificate's public key (the reply is encrypted to it).
    pub signer_public_key: PKey<Public>,
    pub content: Option<Vec<u8>>,
}

/// Why a decoded request failed verification; the reply is a signed FAILURE with this failInfo.
#[derive(Debug)]
pub struct Unverified {
    pub request: Box<PkiMessage>,
    pub fail_info: FailInfo,
    pub reason: String,
}

impl PkiMessage {
    /// Decode a pkiMessage. The input may be BER.
    pub fn decode(input: &[u8]) -> Result<PkiMessage, DecodeError> {
        let der_bytes = super::normalize_pkcs7(input)?;
        let ci = ContentInfo::from_der(&der_bytes)?;
        if ci.content_type != oid::SIGNED_DATA {
            return Err(DecodeError::NotSignedData);
        }
        let sd: SignedData = ci.content.decode_as()?;
        let signer_infos = sd.signer_infos.0.into_vec();
        if signer_infos.len() != 1 {
            return Err(DecodeError::SignerCount(signer_infos.len()));
        }
        let Some(si) = signer_infos.into_iter().next() else {
            return Err(DecodeError::SignerCount(0));
        };
        let signed_attributes = si
            .signed_attrs
            .ok_or(DecodeError::NoSignedAttributes)?
            .into_vec();
        let attributes = ScepAttributes::read(&signed_attributes)?;
        let digest = Digest::from_oid(&si.digest_alg.oid)
            .ok_or(DecodeError::UnsupportedDigest(si.digest_alg.oid))?;
        let SignerIdentifier::IssuerAndSerialNumber(isn) = si.sid else {
            return Err(DecodeError::UnsupportedSignerIdentifier);
        };
        let signer = sd
            .certificates
            .map(|set| set.0.into_vec())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| match c {
                CertificateChoices::Certificate(c) => Some(c),
                CertificateChoices::Other(_) => None,
            })
            .find(|c| {
                c.tbs_certificate.issuer == isn.issuer
                    && c.tbs_certificate.serial_number == isn.serial_number
            })
            .ok_or(DecodeError::SignerCertificateMissing)?;
        let content = match sd.encap_content_info.econtent {
            Some(any) if any.tag() == Tag::OctetString => Some(any.value().to_vec()),
            Some(_) => return Err(DecodeError::BadAttribute("eContent")),
            None => None,
        };
        Ok(PkiMessage {
            attributes,
            digest,
            signer,
            content,
            econtent_type: sd.encap_content_info.econtent_type,
            signed_attributes,
            signature_algorithm: si.signature_algorithm.oid,
            signature: si.signature.as_bytes().to_vec(),
        })
    }

    /// Verify the SignerInfo (RFC 5652 §5.6): messageDigest equals the digest of the content,
    /// contentType matches, and the signature over the DER `SET OF` signed attributes verifies
    /// with the signer certificate's public key.
    pub fn verify(self) -> Result<SignedRequest, Unverified> {
        match self.check_signature() {
            Ok(signer_public_key) => Ok(SignedRequest {
                attributes: self.attributes,
                digest: self.digest,
                signer: self.signer,
                signer_public_key,
                content: self.content,
            }),
            Err((fail_info, reason)) => Err(Unverified {
                request: Box::new(self),
                fail_info,
                reason,
            }),
        }
    }

    fn check_signature(&self) -> Result<PKey<Public>, (FailInfo, String)> {
        let bad = |r: &str| (FailInfo::BadMessageCheck, r.to_owned());
        let spki = self
            .signer
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| bad(&format!("signer certificate: {e}")))?;
        let pkey =
            super::public_key_from_spki(&spki).map_err(|_| bad("signer public key unreadable"))?;

        let expected = attributes::octets(
            &self.signed_attributes,
            oid::MESSAGE_DIGEST,
            "messageDigest",
        )
        .map_err(|e| bad(&e.to_string()))?
        .ok_or_else(|| bad("messageDigest attribute missing"))?;
        let content = self.content.as_deref().unwrap_or_default();
        let actual = self
            .digest
            .hash(content)
            .map_err(|_| bad("digest failed"))?;
        if expected != actual {
            return Err(bad("messageDigest does not match the content"));
        }
        if let Some(ct) =
            attributes::single_value(&self.signed_attributes, oid::CONTENT_TYPE, "contentType")
                .map_err(|e| bad(&e.to_string()))?
        {
            let ct: ObjectIdentifier = ct
                .decode_as()
                .map_err(|_| bad("contentType attribute malformed"))?;
            if ct != self.econtent_type {
                return Err(bad("contentType attribute does not match eContentType"));
            }
        }

        if pkey.id() == Id::RSA {
            // Bound the work an unauthenticated request can ask for (a huge exponent makes
            // every verification slow) and refuse keys too weak to carry the reply.
            let rsa = pkey
                .rsa()
                .map_err(|_| bad("signer public key unreadable"))?;
            if !(2048..=8192).contains(&pkey.bits()) || rsa.e().num_bits() > 64 {
                return Err((
                    FailInfo::BadAlg,
                    format!(
                        "signer RSA key of {} bits with a {}-bit exponent is not accepted \
                         (2048-8192 bits, exponent up to 64 bits)",
                        pkey.bits(),
                        rsa.e().num_bits()
                    ),
                ));
            }
        }
        let algorithm_ok = match (pkey.id(), self.signature_algorithm) {
            (Id::RSA, a) => [
                oid::RSA_ENCRYPTION,
                oid::SHA1_WITH_RSA,
                oid::SHA256_WITH_RSA,
                oid::SHA384_WITH_RSA,
                oid::SHA512_WITH_RSA,
            ]
            .contains(&a),
            (Id::EC, a) => a.as_bytes().starts_with(ECDSA_WITH_SHA2_PREFIX.as_bytes()),
            _ => false,
        };
        if !algorithm_ok {
            return Err((
                FailInfo::BadAlg,
                format!(
                    "unsupported signature algorithm {}",
                    self.signature_algorithm
                ),
            ));
        }
        if self.signature_algorithm != oid::RSA_ENCRYPTION
            && pkey.id() == Id::RSA
            && self.signature_algorithm != self.digest.rsa_signature_oid()
        {
            return Err(bad("signature algorithm and digest algorithm disagree"));
        }

        let set = SetOfVec::try_from(self.signed_attributes.clone())
            .map_err(|_| bad("signed attributes not a valid SET"))?;
        let tbs = attributes::signed_attributes_der(&set).map_err(|_| bad("signed attributes"))?;
        let ok = {
            let mut verifier = openssl::sign::Verifier::new(self.digest.message_digest(), &pkey)
                .map_err(|_| bad("verifier setup failed"))?;
            verifier
                .verify_oneshot(&self.signature, &tbs)
                .map_err(|_| bad("signature does not verify"))?
        };
        if !ok {
            return Err(bad("signature does not verify"));
        }
        Ok(pkey)
    }
}

/// ecdsa-with-SHA2 arc (1.2.840.10045.4.3): SHA-224/256/384/512 are its children.
const ECDSA_WITH_SHA2_PREFIX: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3");

/// Everything needed to produce one signed pkiMessage.
pub(crate) struct SignParams<'a> {
    pub content: Option<&'a [u8]>,
    pub attributes: Vec<Attribute>,
    pub digest: Digest,
    pub signer: &'a Certificate,
    pub key: &'a PKeyRef<Private>,
    pub certificates: Vec<Certificate>,
}

/// Build `ContentInfo { SignedData }` with one SignerInfo over `content` (RFC 5652 §5).
/// contentType and messageDigest are added to the given attributes here. The signature is
/// RSA PKCS#1 v1.5 (never PSS: iOS rejects it) and digestAlgorithm holds the plain hash OID.
pub(crate) fn sign(p: SignParams<'_>) -> Result<Vec<u8>, SignError> {
    let content = p.content.unwrap_or_default();
    let digest = p.digest.hash(content)?;
    let mut attrs = p.attributes;
    attrs.push(attributes::oid_attr(oid::CONTENT_TYPE, oid::DATA)?);
    attrs.push(attributes::octets_attr(oid::MESSAGE_DIGEST, &digest)?);
    let attrs = SetOfVec::try_from(attrs)?;
    let tbs = attributes::signed_attributes_der(&attrs)?;

    let mut signer = openssl::sign::Signer::new(p.digest.message_digest(), p.key)?;
    if p.key.id() == Id::RSA {
        signer.set_rsa_padding(openssl::rsa::Padding::PKCS1)?;
    }
    let signature = signer.sign_oneshot_to_vec(&tbs)?;

    let digest_alg = AlgorithmIdentifierOwned {
        oid: p.digest.oid(),
        parameters: None,
    };
    let signature_algorithm = AlgorithmIdentifierOwned {
        oid: oid::RSA_ENCRYPTION,
        parameters: Some(Any::null()),
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: p.signer.tbs_certificate.issuer.clone(),
            serial_number: p.signer.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm,
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    // RFC 8894 §3.2: for FAILURE and PENDING the messageData is absent; we keep eContent as an
    // empty OCTET STRING so every client's parser finds a content to digest.
    let econtent = Some(Any::encode_from(&OctetString::new(content)?)?);
    let certificates = p
        .certificates
        .into_iter()
        .map(CertificateChoices::Certificate)
        .collect::<Vec<_>>();
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::DATA,
            econtent,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    Ok(ContentInfo {
        content_type: oid::SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

/// Build a degenerate certs-only SignedData (RFC 8894 §3.4) holding `certs` in the given
/// order. For a CertRep this is exactly one certificate, the issued one: iOS takes the first
/// certificate as its own, and DER's SET OF sorting would put a shorter CA certificate first.
pub fn certs_only(certs: &[Certificate]) -> Result<Vec<u8>, SignError> {
    let choices = certs
        .iter()
        .cloned()
        .map(CertificateChoices::Certificate)
        .collect::<Vec<_>>();
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(choices)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    Ok(ContentInfo {
        content_type: oid::SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

/// Build a degenerate SignedData holding one CRL and no certificates (RFC 8894 §3.3.5,
/// the GetCRL reply).
pub fn crls_only(crl: x509_cert::crl::CertificateList) -> Result<Vec<u8>, SignError> {
    use cms::revocation::{RevocationInfoChoice, RevocationInfoChoices};
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::DATA,
            econtent: None,
        },
        certificates: None,
        crls: Some(RevocationInfoChoices(SetOfVec::try_from(vec![
            RevocationInfoChoice::Crl(crl),
        ])?)),
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    Ok(ContentInfo {
        content_type: oid::SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

/// Read the certificates out of a certs-only SignedData (used by clients and tests).
pub fn certs_from_certs_only(input: &[u8]) -> Result<Vec<Certificate>, DecodeError> {
    let der_bytes = super::normalize_pkcs7(input)?;
    let ci = ContentInfo::from_der(&der_bytes)?;
    if ci.content_type != oid::SIGNED_DATA {
        return Err(DecodeError::NotSignedData);
    }
    let sd: SignedData = ci.content.decode_as()?;
    Ok(sd
        .certificates
        .map(|s| s.0.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .collect())
}

/// Failure to build a message: always our fault (HTTP 500), never the client's.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("ASN.1 encoding failed: {0}")]
    Asn1(#[from] der::Error),
    #[error("crypto failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("{0}")]
    Unsupported(String),
}

/// Parse DER into RustCrypto's certificate type.
pub fn certificate_from_der(der_bytes: &[u8]) -> Result<Certificate, DecodeError> {
    Ok(Certificate::from_der(der_bytes)?)
}
