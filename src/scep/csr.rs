//! The PKCS#10 certification request inside a PKCSReq (RFC 8894 §3.3.1, RFC 2986), read into
//! the facts the CA's policy decides on. Parsing uses x509-parser; the self-signature and the
//! key are checked with OpenSSL.

use std::net::IpAddr;

use openssl::pkey::Id;
use openssl::x509::X509Req;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::DecodeError;

/// A subjectAltName entry we copy into certificates.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SubjectAltName {
    Dns(String),
    Email(String),
    Ip(IpAddr),
    Uri(String),
}

impl std::fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectAltName::Dns(s) => write!(f, "DNS:{s}"),
            SubjectAltName::Email(s) => write!(f, "email:{s}"),
            SubjectAltName::Ip(ip) => write!(f, "IP:{ip}"),
            SubjectAltName::Uri(s) => write!(f, "URI:{s}"),
        }
    }
}

/// The public key in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyInfo {
    Rsa { bits: u32 },
    Ec { curve: String },
    Other(String),
}

impl std::fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyInfo::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyInfo::Ec { curve } => write!(f, "EC {curve}"),
            KeyInfo::Other(s) => write!(f, "{s}"),
        }
    }
}

/// The challengePassword attribute (RFC 2985 §5.4.1) as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChallengePassword {
    Absent,
    Present(String),
    /// Present but not usable: empty, multi-valued, or not a DirectoryString.
    Malformed(&'static str),
}

/// A parsed certification request.
#[derive(Clone, Debug)]
pub struct CertificationRequest {
    pub der: Vec<u8>,
    /// The subject in RFC 4514-like text, for display and indexing.
    pub subject: String,
    /// The subject Name as DER, copied into the certificate as is.
    pub subject_der: Vec<u8>,
    /// The public key as OpenSSL parsed it (parsed once: key decoding is costly in
    /// OpenSSL 3.0, so the CA reuses this rather than parsing the request again).
    pub public_key: openssl::pkey::PKey<openssl::pkey::Public>,
    pub subject_is_empty: bool,
    pub common_name: Option<String>,
    pub subject_alt_names: Vec<SubjectAltName>,
    pub challenge_password: ChallengePassword,
    pub key: KeyInfo,
    /// DER SubjectPublicKeyInfo as found in the request, for matching retransmissions.
    pub public_key_der: Vec<u8>,
    /// Whether the request's self-signature verifies (RFC 2986 §3 proof of possession).
    pub signature_valid: bool,
}

/// DER of the OIDs we look for among the request's attributes and extensions.
const OID_CHALLENGE_PASSWORD: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07,
];
const OID_EXTENSION_REQUEST: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e,
];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];

impl CertificationRequest {
    /// Parse a PKCS#10 request. OpenSSL checks the structure and reads the subject and key;
    /// the attributes are walked here rather than by x509-parser, because x509-parser refuses
    /// the whole request when challengePassword is a BMPString or UniversalString (legal
    /// DirectoryString choices, RFC 2985 §5.4.1). x509-parser reads the subjectAltName value.
    pub fn parse(der_bytes: &[u8]) -> Result<CertificationRequest, DecodeError> {
        let x = X509Req::from_der(der_bytes).map_err(|e| DecodeError::Csr(e.to_string()))?;
        let subject_name = x.subject_name();
        let subject_is_empty = subject_name.entries().next().is_none();
        let subject = name_to_string(subject_name);
        let common_name = subject_name
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok());

        let subject_der = subject_name.to_der()?;
        let (public_key_der, attributes) = spki_and_attributes(der_bytes)
            .ok_or_else(|| DecodeError::Csr("malformed attributes".into()))?;
        let mut challenges = attributes
            .iter()
            .filter(|(oid, _)| *oid == OID_CHALLENGE_PASSWORD);
        let challenge_password = match (challenges.next(), challenges.next()) {
            (None, _) => ChallengePassword::Absent,
            (Some((_, set)), None) => read_challenge(set),
            (Some(_), Some(_)) => {
                ChallengePassword::Malformed("challengePassword attribute repeated")
            }
        };
        let mut subject_alt_names = Vec::new();
        for (_, set) in attributes
            .iter()
            .filter(|(oid, _)| *oid == OID_EXTENSION_REQUEST)
        {
            if let Some(san) = san_extension(set)? {
                subject_alt_names.extend(parse_san(san)?);
            }
        }

        let pkey = x
            .public_key()
            .map_err(|_| DecodeError::Csr("unreadable public key".into()))?;
        let key = match pkey.id() {
            Id::RSA => KeyInfo::Rsa { bits: pkey.bits() },
            Id::EC => {
                let curve = pkey
                    .ec_key()
                    .ok()
                    .and_then(|k| k.group().curve_name())
                    .and_then(|nid| nid.short_name().ok())
                    .unwrap_or("unknown curve")
                    .to_owned();
                KeyInfo::Ec { curve }
            }
            other => KeyInfo::Other(format!("{other:?}")),
        };
        let signature_valid = x.verify(&pkey).unwrap_or(false);

        Ok(CertificationRequest {
            der: der_bytes.to_vec(),
            subject,
            subject_der,
            public_key: pkey,
            subject_is_empty,
            common_name,
            subject_alt_names,
            challenge_password,
            key,
            public_key_der: public_key_der.to_vec(),
            signature_valid,
        })
    }
}

/// `CN=x, O=y` style text of a name, in the certificate's order.
pub fn name_to_string(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The request's SubjectPublicKeyInfo TLV, and its attributes as (OID DER, SET OF value DER)
/// pairs.
///
/// ```text
/// CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
/// CertificationRequestInfo ::= SEQUENCE {
///   version INTEGER, subject Name, subjectPKInfo SubjectPublicKeyInfo,
///   attributes [0] IMPLICIT SET OF Attribute }
/// Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET OF ANY }
/// ```
#[allow(clippy::type_complexity)]
fn spki_and_attributes(csr: &[u8]) -> Option<(&[u8], Vec<(&[u8], &[u8])>)> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, csr_body, _) = split_tlv(csr)? else {
        return None;
    };
    let (SEQUENCE, info, _) = split_tlv(csr_body)? else {
        return None;
    };
    let (_version, _, rest) = split_tlv(info)?;
    let (_subject, _, rest) = split_tlv(rest)?;
    let (_spki, _, after_spki) = split_tlv(rest)?;
    let spki = rest.get(..rest.len() - after_spki.len())?;
    let rest = after_spki;
    let mut out = Vec::new();
    let Some((0xa0, mut attrs, _)) = split_tlv(rest) else {
        // Attributes are required by RFC 2986 but some clients omit the empty set.
        return Some((spki, out));
    };
    while !attrs.is_empty() {
        let (SEQUENCE, attr, rest) = split_tlv(attrs)? else {
            return None;
        };
        let (0x06, _, values) = split_tlv(attr)? else {
            return None;
        };
        let oid_len = attr.len() - values.len();
        out.push((attr.get(..oid_len)?, values));
        attrs = rest;
    }
    Some((spki, out))
}

/// Find the subjectAltName extension value in an extensionRequest's `SET { Extensions }`.
fn san_extension(set: &[u8]) -> Result<Option<&[u8]>, DecodeError> {
    let bad = || DecodeError::Csr("malformed extensionRequest".into());
    let (0x31, values, _) = split_tlv(set).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x30, mut exts, _) = split_tlv(values).ok_or_else(bad)? else {
        return Err(bad());
    };
    while !exts.is_empty() {
        let (0x30, ext, rest) = split_tlv(exts).ok_or_else(bad)? else {
            return Err(bad());
        };
        let (_, _, after_oid) = split_tlv(ext).ok_or_else(bad)?;
        let oid = ext.get(..ext.len() - after_oid.len()).ok_or_else(bad)?;
        if oid == OID_SUBJECT_ALT_NAME {
            let (tag, value, rest2) = split_tlv(after_oid).ok_or_else(bad)?;
            // Skip the optional `critical BOOLEAN`.
            let value = if tag == 0x01 {
                let (_, v, _) = split_tlv(rest2).ok_or_else(bad)?;
                v
            } else {
                value
            };
            return Ok(Some(value));
        }
        exts = rest;
    }
    Ok(None)
}

fn parse_san(value: &[u8]) -> Result<Vec<SubjectAltName>, DecodeError> {
    let (_, san) = x509_parser::extensions::SubjectAlternativeName::from_der(value)
        .map_err(|e| DecodeError::Csr(format!("subjectAltName: {e}")))?;
    san.general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(s) => Ok(SubjectAltName::Dns((*s).to_owned())),
            GeneralName::RFC822Name(s) => Ok(SubjectAltName::Email((*s).to_owned())),
            GeneralName::URI(s) => Ok(SubjectAltName::Uri((*s).to_owned())),
            GeneralName::IPAddress(b) => Ok(SubjectAltName::Ip(ip_from(b)?)),
            other => Err(DecodeError::Csr(format!(
                "unsupported subjectAltName {other:?}"
            ))),
        })
        .collect()
}

fn ip_from(b: &[u8]) -> Result<IpAddr, DecodeError> {
    match b.len() {
        4 => {
            let a: [u8; 4] = b
                .try_into()
                .map_err(|_| DecodeError::Csr("bad IP".into()))?;
            Ok(IpAddr::from(a))
        }
        16 => {
            let a: [u8; 16] = b
                .try_into()
                .map_err(|_| DecodeError::Csr("bad IP".into()))?;
            Ok(IpAddr::from(a))
        }
        _ => Err(DecodeError::Csr(
            "subjectAltName IP address of bad length".into(),
        )),
    }
}

/// Split one DER TLV off the front of `input`: (tag byte, value, rest). Only single-byte tags
/// and definite lengths, which is all a DirectoryString uses.
fn split_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

/// Decode the attribute's `SET OF DirectoryString`. RFC 2985 §5.4.1: SINGLE VALUE;
/// DirectoryString is PrintableString, UTF8String, BMPString, TeletexString or UniversalString.
/// Read by hand because `der` has no UniversalString tag.
fn read_challenge(set_der: &[u8]) -> ChallengePassword {
    const SET: u8 = 0x31;
    const UTF8: u8 = 0x0c;
    const PRINTABLE: u8 = 0x13;
    const TELETEX: u8 = 0x14;
    const IA5: u8 = 0x16;
    const UNIVERSAL: u8 = 0x1c;
    const BMP: u8 = 0x1e;
    let Some((SET, values, [])) = split_tlv(set_der) else {
        return ChallengePassword::Malformed("challengePassword is not a SET");
    };
    let Some((tag, value, rest)) = split_tlv(values) else {
        return ChallengePassword::Malformed("challengePassword has no value");
    };
    if !rest.is_empty() {
        return ChallengePassword::Malformed("challengePassword must have exactly one value");
    }
    let text = match tag {
        UTF8 | PRINTABLE | IA5 => match std::str::from_utf8(value) {
            Ok(s) => s.to_owned(),
            Err(_) => return ChallengePassword::Malformed("challengePassword is not text"),
        },
        // T.61 in name only: clients put ASCII or Latin-1 in it.
        TELETEX => value.iter().map(|&b| char::from(b)).collect(),
        BMP => {
            if value.len() % 2 != 0 {
                return ChallengePassword::Malformed("odd-length BMPString");
            }
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            match String::from_utf16(&units) {
                Ok(s) => s,
                Err(_) => return ChallengePassword::Malformed("invalid BMPString"),
            }
        }
        UNIVERSAL => {
            if value.len() % 4 != 0 {
                return ChallengePassword::Malformed("bad UniversalString");
            }
            let mut s = String::new();
            for c in value.chunks_exact(4) {
                match char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])) {
                    Some(ch) => s.push(ch),
                    None => return ChallengePassword::Malformed("bad UniversalString"),
                }
            }
            s
        }
        _ => return ChallengePassword::Malformed("challengePassword is not a DirectoryString"),
    };
    if text.is_empty() {
        return ChallengePassword::Malformed("challengePassword is empty");
    }
    ChallengePassword::Present(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_challenge_in_every_directory_string_type() {
        let cases: [(&[u8], &str); 5] = [
            (b"\x31\x05\x13\x03abc", "abc"),
            (b"\x31\x05\x0c\x03abc", "abc"),
            (b"\x31\x05\x14\x03abc", "abc"),
            (b"\x31\x08\x1e\x06\x00a\x00b\x00c", "abc"),
            (
                b"\x31\x0e\x1c\x0c\x00\x00\x00a\x00\x00\x00b\x00\x00\x00c",
                "abc",
            ),
        ];
        for (der, want) in cases {
            assert_eq!(
                read_challenge(der),
                ChallengePassword::Present(want.into()),
                "{der:02x?}"
            );
        }
    }

    #[test]
    fn refuses_empty_multi_valued_and_non_string_challenges() {
        assert!(matches!(
            read_challenge(b"\x31\x02\x13\x00"),
            ChallengePassword::Malformed(_)
        ));
        assert!(matches!(
            read_challenge(b"\x31\x0a\x13\x03abc\x13\x03abd"),
            ChallengePassword::Malformed(_)
        ));
        assert!(matches!(
            read_challenge(b"\x31\x03\x02\x01\x05"),
            ChallengePassword::Malformed(_)
        ));
        assert!(matches!(
            read_challenge(b"\x31\x05\x13\x09abc"),
            ChallengePassword::Malformed(_)
        ));
        assert!(matches!(
            read_challenge(b""),
            ChallengePassword::Malformed(_)
        ));
    }
}
