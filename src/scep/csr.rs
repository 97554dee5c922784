//! The PKCS#10 certification request inside a PKCSReq (RFC 8894 §3.3.1, RFC 2986), read into
//! the facts the CA's policy decides on. Parsing uses x509-parser; the self-signature and the
//! key are checked with OpenSSL.

use std::net::IpAddr;

use openssl::pkey::Id;
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
    /// The first CN, for display.
    pub common_name: Option<String>,
    /// Every CN in the subject (a subject may repeat CN; policy must see them all).
    pub common_names: Vec<String>,
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
    /// Parse a PKCS#10 request (RFC 2986).
    ///
    /// The structure is walked here: x509-parser refuses the whole request when
    /// challengePassword is a BMPString or UniversalString (legal DirectoryString choices,
    /// RFC 2985 §5.4.1), and OpenSSL's `d2i_X509_REQ` runs the costly OpenSSL 3.0 key decoder.
    /// OpenSSL parses the subject and checks the self-signature; x509-parser reads the
    /// subjectAltName value.
    pub fn parse(der_bytes: &[u8]) -> Result<CertificationRequest, DecodeError> {
        let parts =
            split_request(der_bytes).ok_or_else(|| DecodeError::Csr("malformed request".into()))?;
        let subject_name = openssl::x509::X509Name::from_der(parts.subject)
            .map_err(|_| DecodeError::Csr("malformed subject".into()))?;
        let subject_is_empty = subject_name.entries().next().is_none();
        let subject = name_to_string(&subject_name);
        let common_names = subject_name
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .map(|e| {
                e.data()
                    .to_string()
                    .map_err(|_| DecodeError::Csr("CN is not text".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let common_name = common_names.first().cloned();

        let mut challenges = parts
            .attributes
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
        for (_, set) in parts
            .attributes
            .iter()
            .filter(|(oid, _)| *oid == OID_EXTENSION_REQUEST)
        {
            if let Some(san) = san_extension(set)? {
                subject_alt_names.extend(parse_san(san)?);
            }
        }

        let pkey = super::public_key_from_spki(parts.spki)
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
        let signature_valid = verify_self_signature(&parts, &pkey);

        Ok(CertificationRequest {
            der: der_bytes.to_vec(),
            subject,
            subject_der: parts.subject.to_vec(),
            public_key: pkey,
            subject_is_empty,
            common_name,
            common_names,
            subject_alt_names,
            challenge_password,
            key,
            public_key_der: parts.spki.to_vec(),
            signature_valid,
        })
    }
}

/// Replace control characters with `\XX` (RFC 4514 §2.4 hex escapes), so a subject can
/// never forge a log line or a row of `cert list`.
fn escape_control(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() {
            for b in c.to_string().bytes() {
                out.push_str(&format!("\\{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The pieces of a request, as slices of its DER.
///
/// ```text
/// CertificationRequest ::= SEQUENCE {
///   certificationRequestInfo SEQUENCE {
///     version INTEGER { v1(0) }, subject Name, subjectPKInfo SubjectPublicKeyInfo,
///     attributes [0] IMPLICIT SET OF Attribute },
///   signatureAlgorithm AlgorithmIdentifier,
///   signature BIT STRING }
/// Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET OF ANY }
/// ```
struct RequestParts<'a> {
    /// The whole certificationRequestInfo TLV: what the signature covers.
    info: &'a [u8],
    subject: &'a [u8],
    spki: &'a [u8],
    /// (OID TLV, values SET TLV) pairs.
    attributes: Vec<(&'a [u8], &'a [u8])>,
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
}

/// (tag, whole TLV, value, rest)
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// The TLV at the start of `input` as one slice, and what follows it.
fn take_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (tag, value, rest) = split_tlv(input)?;
    Some((tag, input.get(..input.len() - rest.len())?, value, rest))
}

fn split_request(csr: &[u8]) -> Option<RequestParts<'_>> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, body, []) = split_tlv(csr)? else {
        return None;
    };
    let (SEQUENCE, info, info_body, rest) = take_tlv(body)? else {
        return None;
    };
    let (SEQUENCE, signature_algorithm, _, rest) = take_tlv(rest)? else {
        return None;
    };
    let (0x03, signature, []) = split_tlv(rest)? else {
        return None;
    };
    let (0x02, [0], rest) = split_tlv(info_body)? else {
        return None;
    };
    let (SEQUENCE, subject, _, rest) = take_tlv(rest)? else {
        return None;
    };
    let (SEQUENCE, spki, _, rest) = take_tlv(rest)? else {
        return None;
    };
    let mut attributes = Vec::new();
    // Attributes are required by RFC 2986 but some clients omit the empty set.
    if let Some((0xa0, mut attrs, _)) = split_tlv(rest) {
        while !attrs.is_empty() {
            let (SEQUENCE, attr, next) = split_tlv(attrs)? else {
                return None;
            };
            let (0x06, oid, _, values) = take_tlv(attr)? else {
                return None;
            };
            attributes.push((oid, values));
            attrs = next;
        }
    }
    Some(RequestParts {
        info,
        subject,
        spki,
        attributes,
        signature_algorithm,
        signature,
    })
}

/// RFC 2986 §3: the requester's proof of possession. RSA PKCS#1 v1.5 and ECDSA with SHA-1
/// or SHA-2; anything else (RSASSA-PSS included) counts as not verified.
fn verify_self_signature(
    parts: &RequestParts<'_>,
    key: &openssl::pkey::PKeyRef<openssl::pkey::Public>,
) -> bool {
    use der::Decode;
    use openssl::hash::MessageDigest;
    let Ok(alg) = x509_cert::spki::AlgorithmIdentifierOwned::from_der(parts.signature_algorithm)
    else {
        return false;
    };
    let md = match alg.oid.to_string().as_str() {
        "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" => MessageDigest::sha1(),
        "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" => MessageDigest::sha256(),
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => MessageDigest::sha384(),
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => MessageDigest::sha512(),
        _ => return false,
    };
    // BIT STRING: the first octet counts unused bits, which must be zero for a signature.
    let Some((0, signature)) = parts.signature.split_first() else {
        return false;
    };
    openssl::sign::Verifier::new(md, key)
        .and_then(|mut v| v.verify_oneshot(signature, parts.info))
        .unwrap_or(false)
}

/// `CN=x, O=y` style text of a name, in the certificate's order.
pub fn name_to_string(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("{key}={}", escape_control(&value))
        })
        .collect::<Vec<_>>()
        .join(", ")
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

#[cfg(test)]
mod parse_tests {
    use super::*;
    use crate::scep::builder::{self, CsrParams, StringKind};

    fn csr(key: &openssl::pkey::PKeyRef<openssl::pkey::Private>) -> Vec<u8> {
        builder::csr(&CsrParams {
            subject: "CN=laptop-0042,O=Example Corp",
            challenge: Some(("abc123", StringKind::Printable)),
            dns_names: &["laptop-0042.example.com"],
            emails: &["it@example.com"],
            key,
        })
        .unwrap()
    }

    #[test]
    fn parses_subject_key_sans_and_challenge() {
        let key = builder::rsa_key(2048).unwrap();
        let der = csr(&key);
        let c = CertificationRequest::parse(&der).unwrap();
        assert_eq!(c.common_name.as_deref(), Some("laptop-0042"));
        // DER order, as openssl prints it: RFC 4514 text lists the last RDN first.
        assert_eq!(c.subject, "O=Example Corp, CN=laptop-0042");
        assert_eq!(c.key, KeyInfo::Rsa { bits: 2048 });
        assert!(c.signature_valid);
        assert_eq!(c.public_key_der, key.public_key_to_der().unwrap());
        assert!(c.public_key.public_eq(&key));
        assert_eq!(
            c.subject_alt_names,
            vec![
                SubjectAltName::Dns("laptop-0042.example.com".into()),
                SubjectAltName::Email("it@example.com".into())
            ]
        );
        assert_eq!(
            c.challenge_password,
            ChallengePassword::Present("abc123".into())
        );
    }

    #[test]
    fn escapes_control_characters_in_the_subject() {
        let key = builder::rsa_key(2048).unwrap();
        let der = builder::csr(&CsrParams {
            subject: "CN=inj\nINFO forged,O=x",
            challenge: None,
            dns_names: &[],
            emails: &[],
            key: &key,
        })
        .unwrap();
        let c = CertificationRequest::parse(&der).unwrap();
        assert_eq!(c.subject, "O=x, CN=inj\\0AINFO forged");
    }

    #[test]
    fn sees_every_common_name() {
        let key = builder::rsa_key(2048).unwrap();
        let der = builder::csr(&CsrParams {
            subject: "CN=evil.example,CN=a.example",
            challenge: None,
            dns_names: &[],
            emails: &[],
            key: &key,
        })
        .unwrap();
        let c = CertificationRequest::parse(&der).unwrap();
        assert_eq!(c.common_names, vec!["a.example", "evil.example"]);
    }

    #[test]
    fn detects_a_bad_self_signature() {
        let key = builder::rsa_key(2048).unwrap();
        let mut der = csr(&key);
        let n = der.len();
        der[n - 5] ^= 0x40;
        let c = CertificationRequest::parse(&der).unwrap();
        assert!(!c.signature_valid);
    }

    #[test]
    fn parses_ec_requests_on_each_nist_curve() {
        use openssl::nid::Nid;
        for (nid, name) in [
            (Nid::X9_62_PRIME256V1, "prime256v1"),
            (Nid::SECP384R1, "secp384r1"),
        ] {
            let group = openssl::ec::EcGroup::from_curve_name(nid).unwrap();
            let key =
                openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap())
                    .unwrap();
            let c = CertificationRequest::parse(&csr(&key)).unwrap();
            assert_eq!(c.key, KeyInfo::Ec { curve: name.into() });
            assert!(c.signature_valid, "{name}");
        }
    }

    #[test]
    fn rejects_truncated_and_trailing_bytes() {
        let key = builder::rsa_key(2048).unwrap();
        let der = csr(&key);
        assert!(CertificationRequest::parse(&der[..der.len() - 1]).is_err());
        let mut long = der.clone();
        long.push(0);
        assert!(CertificationRequest::parse(&long).is_err());
    }
}
