//! The SCEP signed attributes (RFC 8894 §3.2.1) as typed values.
//!
//! ```text
//! transactionID  PrintableString     §3.2.1.1
//! messageType    PrintableString     §3.2.1.2 (decimal number)
//! pkiStatus      PrintableString     §3.2.1.3
//! failInfo       PrintableString     §3.2.1.4
//! failInfoText   UTF8String          §3.2.1.4.1
//! senderNonce    OCTET STRING (16)   §3.2.1.5
//! recipientNonce OCTET STRING (16)   §3.2.1.5
//! ```

use std::fmt;

use der::asn1::{OctetString, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::{Any, Decode, Encode, Tag, Tagged};
use x509_cert::attr::Attribute;

use super::{oid, DecodeError};

/// RFC 8894 §3.2.1.2 messageType. Unknown values keep their raw number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    CertRep,
    RenewalReq,
    UpdateReq,
    PkcsReq,
    CertPoll,
    GetCert,
    GetCrl,
    Unknown(u32),
}

impl MessageType {
    pub fn from_number(n: u32) -> MessageType {
        match n {
            3 => MessageType::CertRep,
            17 => MessageType::RenewalReq,
            18 => MessageType::UpdateReq,
            19 => MessageType::PkcsReq,
            20 => MessageType::CertPoll,
            21 => MessageType::GetCert,
            22 => MessageType::GetCrl,
            other => MessageType::Unknown(other),
        }
    }

    pub fn number(self) -> u32 {
        match self {
            MessageType::CertRep => 3,
            MessageType::RenewalReq => 17,
            MessageType::UpdateReq => 18,
            MessageType::PkcsReq => 19,
            MessageType::CertPoll => 20,
            MessageType::GetCert => 21,
            MessageType::GetCrl => 22,
            MessageType::Unknown(n) => n,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageType::CertRep => f.write_str("CertRep(3)"),
            MessageType::RenewalReq => f.write_str("RenewalReq(17)"),
            MessageType::UpdateReq => f.write_str("UpdateReq(18)"),
            MessageType::PkcsReq => f.write_str("PKCSReq(19)"),
            MessageType::CertPoll => f.write_str("CertPoll(20)"),
            MessageType::GetCert => f.write_str("GetCert(21)"),
            MessageType::GetCrl => f.write_str("GetCRL(22)"),
            MessageType::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

/// RFC 8894 §3.2.1.3 pkiStatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PkiStatus {
    Success,
    Failure,
    Pending,
}

impl PkiStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PkiStatus::Success => "0",
            PkiStatus::Failure => "2",
            PkiStatus::Pending => "3",
        }
    }

    pub fn parse(s: &str) -> Option<PkiStatus> {
        match s {
            "0" => Some(PkiStatus::Success),
            "2" => Some(PkiStatus::Failure),
            "3" => Some(PkiStatus::Pending),
            _ => None,
        }
    }
}

/// RFC 8894 §3.2.1.4 failInfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FailInfo {
    /// Unrecognized or unsupported algorithm.
    BadAlg,
    /// Integrity check (meaning signature verification of the CMS message) failed.
    BadMessageCheck,
    /// Transaction not permitted or supported.
    BadRequest,
    /// The signingTime attribute from the CMS authenticatedAttributes was not sufficiently close
    /// to the system time.
    BadTime,
    /// No certificate could be identified matching the provided criteria.
    BadCertId,
}

impl FailInfo {
    pub fn as_str(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "0",
            FailInfo::BadMessageCheck => "1",
            FailInfo::BadRequest => "2",
            FailInfo::BadTime => "3",
            FailInfo::BadCertId => "4",
        }
    }

    pub fn parse(s: &str) -> Option<FailInfo> {
        match s {
            "0" => Some(FailInfo::BadAlg),
            "1" => Some(FailInfo::BadMessageCheck),
            "2" => Some(FailInfo::BadRequest),
            "3" => Some(FailInfo::BadTime),
            "4" => Some(FailInfo::BadCertId),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        }
    }
}

impl fmt::Display for FailInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RFC 8894 §3.2.1.1 transactionID: a PrintableString the client chooses. We keep it as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionId(String);

/// Upper bound on a transactionID we accept; real clients send 40-64 characters.
const MAX_TRANSACTION_ID_LEN: usize = 256;

impl TransactionId {
    pub fn new(s: impl Into<String>) -> Result<TransactionId, DecodeError> {
        let s = s.into();
        if s.is_empty() || s.len() > MAX_TRANSACTION_ID_LEN {
            return Err(DecodeError::BadAttribute("transactionID"));
        }
        // PrintableString alphabet (X.680 §41.4); this also keeps it safe in logs and keys.
        if PrintableStringRef::new(&s).is_err() {
            return Err(DecodeError::BadAttribute("transactionID"));
        }
        Ok(TransactionId(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 8894 §3.2.1.5 senderNonce / recipientNonce: 16 random bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nonce(Vec<u8>);

impl Nonce {
    pub const LEN: usize = 16;

    /// A fresh random nonce.
    pub fn random() -> Result<Nonce, openssl::error::ErrorStack> {
        let mut buf = vec![0u8; Self::LEN];
        openssl::rand::rand_bytes(&mut buf)?;
        Ok(Nonce(buf))
    }

    /// A nonce as received. RFC 8894 says 16 bytes, but we echo whatever length a client
    /// used (up to 64 bytes) since the client compares our recipientNonce with its own bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Nonce, DecodeError> {
        if bytes.is_empty() || bytes.len() > 64 {
            return Err(DecodeError::BadAttribute("senderNonce"));
        }
        Ok(Nonce(bytes.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Find the single value of the attribute `oid`. RFC 8894 §3.2.1: each attribute has exactly
/// one value; a repeated attribute or a multi-valued one is malformed.
pub(crate) fn single_value<'a>(
    attrs: &'a [Attribute],
    oid: const_oid::ObjectIdentifier,
    name: &'static str,
) -> Result<Option<&'a Any>, DecodeError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || attr.values.len() != 1 {
        return Err(DecodeError::BadAttribute(name));
    }
    Ok(attr.values.get(0))
}

pub(crate) fn printable(
    attrs: &[Attribute],
    oid: const_oid::ObjectIdentifier,
    name: &'static str,
) -> Result<Option<String>, DecodeError> {
    let Some(value) = single_value(attrs, oid, name)? else {
        return Ok(None);
    };
    // Some clients use other string types here; accept any printable-alphabet string type.
    match value.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String => {
            let s =
                std::str::from_utf8(value.value()).map_err(|_| DecodeError::BadAttribute(name))?;
            Ok(Some(s.to_owned()))
        }
        _ => Err(DecodeError::BadAttribute(name)),
    }
}

pub(crate) fn octets(
    attrs: &[Attribute],
    oid: const_oid::ObjectIdentifier,
    name: &'static str,
) -> Result<Option<Vec<u8>>, DecodeError> {
    let Some(value) = single_value(attrs, oid, name)? else {
        return Ok(None);
    };
    if value.tag() != Tag::OctetString {
        return Err(DecodeError::BadAttribute(name));
    }
    Ok(Some(value.value().to_vec()))
}

fn attribute(oid: const_oid::ObjectIdentifier, value: Any) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

pub(crate) fn printable_attr(
    oid: const_oid::ObjectIdentifier,
    s: &str,
) -> Result<Attribute, der::Error> {
    attribute(oid, Any::encode_from(&PrintableStringRef::new(s)?)?)
}

pub(crate) fn utf8_attr(
    oid: const_oid::ObjectIdentifier,
    s: &str,
) -> Result<Attribute, der::Error> {
    attribute(oid, Any::encode_from(&Utf8StringRef::new(s)?)?)
}

pub(crate) fn octets_attr(
    oid: const_oid::ObjectIdentifier,
    bytes: &[u8],
) -> Result<Attribute, der::Error> {
    attribute(oid, Any::encode_from(&OctetString::new(bytes)?)?)
}

pub(crate) fn oid_attr(
    oid: const_oid::ObjectIdentifier,
    value: const_oid::ObjectIdentifier,
) -> Result<Attribute, der::Error> {
    attribute(oid, Any::encode_from(&value)?)
}

/// The SCEP attributes common to every pkiMessage, as read from a SignerInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScepAttributes {
    pub message_type: MessageType,
    pub transaction_id: TransactionId,
    pub sender_nonce: Option<Nonce>,
    pub recipient_nonce: Option<Nonce>,
    pub pki_status: Option<PkiStatus>,
    pub fail_info: Option<FailInfo>,
    pub fail_info_text: Option<String>,
}

impl ScepAttributes {
    /// Read the SCEP attributes; unknown attributes (signingTime, smimeCapabilities, ...) are
    /// ignored as RFC 5652 allows.
    pub fn read(attrs: &[Attribute]) -> Result<ScepAttributes, DecodeError> {
        let message_type = printable(attrs, oid::MESSAGE_TYPE, "messageType")?
            .ok_or(DecodeError::MissingAttribute("messageType"))?;
        let message_type = message_type
            .trim()
            .parse::<u32>()
            .map(MessageType::from_number)
            .map_err(|_| DecodeError::BadAttribute("messageType"))?;
        let transaction_id = printable(attrs, oid::TRANSACTION_ID, "transactionID")?
            .ok_or(DecodeError::MissingAttribute("transactionID"))?;
        let transaction_id = TransactionId::new(transaction_id)?;
        let sender_nonce = octets(attrs, oid::SENDER_NONCE, "senderNonce")?
            .map(|b| Nonce::from_bytes(&b))
            .transpose()?;
        let recipient_nonce = octets(attrs, oid::RECIPIENT_NONCE, "recipientNonce")?
            .map(|b| Nonce::from_bytes(&b))
            .transpose()?;
        let pki_status = printable(attrs, oid::PKI_STATUS, "pkiStatus")?
            .map(|s| PkiStatus::parse(&s).ok_or(DecodeError::BadAttribute("pkiStatus")))
            .transpose()?;
        let fail_info = printable(attrs, oid::FAIL_INFO, "failInfo")?
            .map(|s| FailInfo::parse(&s).ok_or(DecodeError::BadAttribute("failInfo")))
            .transpose()?;
        let fail_info_text = match single_value(attrs, oid::FAIL_INFO_TEXT, "failInfoText")? {
            Some(v) => Some(
                String::from_utf8(v.value().to_vec())
                    .map_err(|_| DecodeError::BadAttribute("failInfoText"))?,
            ),
            None => None,
        };
        Ok(ScepAttributes {
            message_type,
            transaction_id,
            sender_nonce,
            recipient_nonce,
            pki_status,
            fail_info,
            fail_info_text,
        })
    }
}

/// Encode a set of attributes as the DER `SET OF Attribute` that a signature covers
/// (RFC 5652 §5.4: the signature is over the DER encoding with the EXPLICIT SET OF tag).
pub(crate) fn signed_attributes_der(attrs: &SetOfVec<Attribute>) -> Result<Vec<u8>, der::Error> {
    attrs.to_der()
}

/// Decode a `SET OF Attribute` from DER (used in tests and by the fuzz targets).
pub fn decode_attribute_set(der_bytes: &[u8]) -> Result<Vec<Attribute>, DecodeError> {
    let set = SetOfVec::<Attribute>::from_der(der_bytes)?;
    Ok(set.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_message_types() {
        for n in [3, 17, 18, 19, 20, 21, 22, 99] {
            assert_eq!(MessageType::from_number(n).number(), n);
        }
        assert_eq!(MessageType::from_number(99), MessageType::Unknown(99));
    }

    #[test]
    fn round_trips_fail_info_and_status() {
        for f in [
            FailInfo::BadAlg,
            FailInfo::BadMessageCheck,
            FailInfo::BadRequest,
            FailInfo::BadTime,
            FailInfo::BadCertId,
        ] {
            assert_eq!(FailInfo::parse(f.as_str()), Some(f));
        }
        assert_eq!(FailInfo::BadRequest.as_str(), "2");
        assert_eq!(PkiStatus::Pending.as_str(), "3");
        assert_eq!(PkiStatus::parse("1"), None);
    }

    #[test]
    fn rejects_transaction_id_outside_printable_string() {
        assert!(TransactionId::new("abc_def").is_err());
        assert!(TransactionId::new("").is_err());
        assert!(TransactionId::new("x".repeat(257)).is_err());
        assert_eq!(
            TransactionId::new("ABC 123=").map(|t| t.0).ok(),
            Some("ABC 123=".to_owned())
        );
    }
}
