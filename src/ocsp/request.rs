//! Decoding an OCSPRequest (RFC 6960 §4.1) and matching its CertIDs to an issuer (§4.1.1).

use const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE;
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use x509_cert::ext::Extension;
use x509_cert::Certificate;
use x509_ocsp::TbsRequest;

use super::{CertId, OcspError, OcspHash, MAX_REQUESTS};

/// A decoded request: what was asked, and the nonce to echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    /// One per `Request` in `requestList`, in order; 1 to [`MAX_REQUESTS`] of them.
    pub cert_ids: Vec<CertId>,
    /// The id-pkix-ocsp-nonce extension's extnValue contents (RFC 6960 §4.4.1, RFC 8954),
    /// kept as is to echo. Clients put a DER OCTET STRING here; we do not look inside.
    pub nonce: Option<Vec<u8>>,
}

/// OCSPRequest with the signature left as an opaque value: we ignore it, so a signature we
/// could not decode must not make the request malformed.
///
/// ```text
/// OCSPRequest ::= SEQUENCE {
///     tbsRequest                  TBSRequest,
///     optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
///
/// TBSRequest ::= SEQUENCE {
///     version             [0]     EXPLICIT Version DEFAULT v1,
///     requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
///     requestList                 SEQUENCE OF Request,
///     requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
///
/// Request ::= SEQUENCE {
///     reqCert                     CertID,
///     singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Sequence)]
struct UncheckedRequest {
    tbs_request: TbsRequest,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    optional_signature: Option<Any>,
}

/// Decode a DER OCSPRequest (RFC 6960 §4.1.1).
///
/// Refuses trailing data, an empty `requestList`, more than [`MAX_REQUESTS`] CertIDs, hash
/// algorithms other than SHA-1 and SHA-2, negative serials, two nonces, and critical
/// extensions other than the nonce. The requestor signature, if any, is not checked.
pub fn parse_request(der_bytes: &[u8]) -> Result<OcspRequest, OcspError> {
    // `from_der` fails on trailing data.
    let request = UncheckedRequest::from_der(der_bytes)?;
    let tbs = request.tbs_request;
    let count = tbs.request_list.len();
    if count == 0 {
        return Err(OcspError::NoRequests);
    }
    if count > MAX_REQUESTS {
        return Err(OcspError::TooManyRequests(count));
    }

    let mut nonce = None;
    for ext in tbs.request_extensions.iter().flatten() {
        if ext.extn_id == ID_PKIX_OCSP_NONCE {
            // RFC 5280 §4.2: an extension appears at most once.
            if nonce.is_some() {
                return Err(OcspError::DuplicateNonce);
            }
            nonce = Some(ext.extn_value.as_bytes().to_vec());
        } else {
            refuse_if_critical(ext)?;
        }
    }

    let mut cert_ids = Vec::with_capacity(count);
    for single in tbs.request_list {
        for ext in single.single_request_extensions.iter().flatten() {
            refuse_if_critical(ext)?;
        }
        cert_ids.push(cert_id(single.req_cert)?);
    }
    Ok(OcspRequest { cert_ids, nonce })
}

/// RFC 6960 §4.4: unrecognised extensions are ignored unless critical.
fn refuse_if_critical(ext: &Extension) -> Result<(), OcspError> {
    if ext.critical {
        return Err(OcspError::UnsupportedCriticalExtension(ext.extn_id));
    }
    Ok(())
}

fn cert_id(id: x509_ocsp::CertId) -> Result<CertId, OcspError> {
    let oid = id.hash_algorithm.oid;
    let hash = OcspHash::from_oid(&oid).ok_or(OcspError::UnsupportedHash(oid))?;
    // RFC 5754 §2: SHA-2 parameters are absent or NULL; SHA-1's are NULL in practice.
    if let Some(parameters) = &id.hash_algorithm.parameters {
        if parameters.tag() != Tag::Null {
            return Err(OcspError::UnsupportedHash(oid));
        }
    }
    // der only accepts DER, so re-encoding gives back the received bytes.
    let raw = id.to_der()?;
    let integer = id.serial_number.as_bytes();
    if integer.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(OcspError::NegativeSerial);
    }
    let start = integer
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(integer.len());
    Ok(CertId {
        hash,
        issuer_name_hash: id.issuer_name_hash.as_bytes().to_vec(),
        issuer_key_hash: id.issuer_key_hash.as_bytes().to_vec(),
        serial: integer.get(start..).unwrap_or_default().to_vec(),
        raw,
    })
}

/// Whether `id` names `ca_certificate` as the issuer (RFC 6960 §4.1.1):
///
/// ```text
/// issuerNameHash is the hash of the issuer's distinguished name (DN). The hash shall be
/// calculated over the DER encoding of the issuer's name field in the certificate being
/// checked.
/// issuerKeyHash is the hash of the issuer's public key. The hash shall be calculated over
/// the value (excluding tag and length) of the subject public key field in the issuer's
/// certificate.
/// ```
///
/// The issuer's name in the checked certificate is the CA's subject. "The value" of the
/// BIT STRING is taken without its unused-bits octet, as every implementation does.
pub fn issuer_matches(id: &CertId, ca_certificate: &Certificate) -> bool {
    let tbs = &ca_certificate.tbs_certificate;
    let Ok(name) = tbs.subject.to_der() else {
        return false;
    };
    let key = tbs.subject_public_key_info.subject_public_key.raw_bytes();
    match (id.hash.hash(&name), id.hash.hash(key)) {
        (Ok(name_hash), Ok(key_hash)) => {
            name_hash == id.issuer_name_hash && key_hash == id.issuer_key_hash
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use der::asn1::OctetString;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::AlgorithmIdentifierOwned;
    use x509_ocsp::Request;

    use super::super::testing::{openssl, openssl_request, pki, text};
    use super::*;

    fn dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        pki().write(dir.path());
        dir
    }

    fn sha1_cert_id(serial: &[u8]) -> x509_ocsp::CertId {
        x509_ocsp::CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: OcspHash::Sha1.oid(),
                parameters: Some(Any::null()),
            },
            issuer_name_hash: OctetString::new(vec![1; 20]).unwrap(),
            issuer_key_hash: OctetString::new(vec![2; 20]).unwrap(),
            serial_number: SerialNumber::new(serial).unwrap(),
        }
    }

    fn request_der(ids: Vec<x509_ocsp::CertId>, extensions: Option<Vec<Extension>>) -> Vec<u8> {
        x509_ocsp::OcspRequest {
            tbs_request: TbsRequest {
                request_list: ids
                    .into_iter()
                    .map(|req_cert| Request {
                        req_cert,
                        single_request_extensions: None,
                    })
                    .collect(),
                request_extensions: extensions,
                ..Default::default()
            },
            optional_signature: None,
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn parses_openssl_sha1_request_without_nonce() {
        let dir = dir();
        let der = openssl_request(dir.path(), &["-no_nonce"]);
        let req = parse_request(&der).unwrap();
        assert_eq!(req.nonce, None);
        assert_eq!(req.cert_ids.len(), 1);
        let id = &req.cert_ids[0];
        assert_eq!(id.hash, OcspHash::Sha1);
        assert_eq!(id.issuer_name_hash.len(), 20);
        assert_eq!(id.issuer_key_hash.len(), 20);
        assert_eq!(id.serial, pki().leaf_serial.as_bytes());
        assert!(der.windows(id.raw_der().len()).any(|w| w == id.raw_der()));
        assert!(issuer_matches(id, &pki().ca_certificate()));
        assert!(!issuer_matches(
            id,
            &pki().other_ca.certificate.certificate.clone()
        ));
    }

    #[test]
    fn parses_openssl_request_with_nonce() {
        let dir = dir();
        let der = openssl_request(dir.path(), &[]);
        let req = parse_request(&der).unwrap();
        let nonce = req.nonce.unwrap();
        // openssl's nonce is a DER OCTET STRING of 16 random octets inside extnValue.
        assert_eq!(nonce.len(), 18, "{nonce:02x?}");
        assert_eq!(&nonce[..2], &[0x04, 0x10]);
        assert!(issuer_matches(&req.cert_ids[0], &pki().ca_certificate()));
    }

    #[test]
    fn parses_openssl_sha256_request() {
        let dir = dir();
        let der = openssl_request(dir.path(), &["-sha256", "-no_nonce"]);
        let req = parse_request(&der).unwrap();
        let id = &req.cert_ids[0];
        assert_eq!(id.hash, OcspHash::Sha256);
        assert_eq!(id.issuer_name_hash.len(), 32);
        assert_eq!(id.serial, pki().leaf_serial.as_bytes());
        assert!(issuer_matches(id, &pki().ca_certificate()));
        assert!(!issuer_matches(
            id,
            &pki().other_ca.certificate.certificate.clone()
        ));
    }

    #[test]
    fn parses_several_serials_as_magnitudes() {
        let dir = dir();
        let args = [
            "ocsp",
            "-issuer",
            "ca.pem",
            "-serial",
            "0x01",
            "-serial",
            "0x80",
            "-serial",
            "0x00ff00",
            "-reqout",
            "req.der",
            "-no_nonce",
        ];
        let out = openssl(dir.path(), &args);
        assert!(out.status.success(), "{}", text(&out));
        let req = parse_request(&std::fs::read(dir.path().join("req.der")).unwrap()).unwrap();
        let serials: Vec<&[u8]> = req.cert_ids.iter().map(|c| c.serial.as_slice()).collect();
        assert_eq!(serials, [&[0x01][..], &[0x80], &[0xff, 0x00]]);
    }

    #[test]
    fn ignores_requestor_signature() {
        let dir = dir();
        let der = openssl_request(
            dir.path(),
            &["-signer", "leaf.pem", "-signkey", "leaf.key", "-no_nonce"],
        );
        let req = parse_request(&der).unwrap();
        assert_eq!(req.cert_ids[0].serial, pki().leaf_serial.as_bytes());

        // A signature we cannot even decode is ignored too: [0] { SEQUENCE {} }.
        let tbs = request_der(vec![sha1_cert_id(&[5])], None);
        let tbs = &tbs[2..]; // short form length: the TBSRequest's own TLV follows.
        let mut body = tbs.to_vec();
        body.extend([0xa0, 0x02, 0x30, 0x00]);
        let mut odd = vec![0x30, u8::try_from(body.len()).unwrap()];
        odd.extend(body);
        assert_eq!(parse_request(&odd).unwrap().cert_ids[0].serial, [5]);
    }

    #[test]
    fn rejects_garbage_truncated_and_trailing_input() {
        assert!(parse_request(b"").is_err());
        assert!(parse_request(b"GET / HTTP/1.1\r\n").is_err());
        assert!(parse_request(&[0x30, 0x80, 0x00, 0x00]).is_err());
        let dir = dir();
        let der = openssl_request(dir.path(), &[]);
        for len in 0..der.len() {
            assert!(parse_request(&der[..len]).is_err(), "prefix of {len} bytes");
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(matches!(parse_request(&trailing), Err(OcspError::Asn1(_))));
    }

    #[test]
    fn rejects_zero_and_too_many_requests() {
        let none = request_der(vec![], None);
        assert!(matches!(parse_request(&none), Err(OcspError::NoRequests)));
        let many = request_der((0..=100).map(|i| sha1_cert_id(&[i + 1])).collect(), None);
        assert!(matches!(
            parse_request(&many),
            Err(OcspError::TooManyRequests(101))
        ));
        let most = request_der((0..100).map(|i| sha1_cert_id(&[i + 1])).collect(), None);
        assert_eq!(parse_request(&most).unwrap().cert_ids.len(), 100);
    }

    #[test]
    fn rejects_unknown_hash_negative_serial_and_critical_extensions() {
        let mut md5 = sha1_cert_id(&[1]);
        md5.hash_algorithm.oid = const_oid::db::rfc5912::ID_MD_5;
        assert!(matches!(
            parse_request(&request_der(vec![md5], None)),
            Err(OcspError::UnsupportedHash(_))
        ));

        let mut negative = sha1_cert_id(&[1]);
        negative.serial_number = SerialNumber::from_der(&[0x02, 0x01, 0x80]).unwrap();
        assert!(matches!(
            parse_request(&request_der(vec![negative], None)),
            Err(OcspError::NegativeSerial)
        ));

        let ext = |oid, critical| Extension {
            extn_id: oid,
            critical,
            extn_value: OctetString::new(vec![0x04, 0x01, 0x07]).unwrap(),
        };
        let other = const_oid::db::rfc6960::ID_PKIX_OCSP_RESPONSE;
        let critical = request_der(vec![sha1_cert_id(&[1])], Some(vec![ext(other, true)]));
        assert!(matches!(
            parse_request(&critical),
            Err(OcspError::UnsupportedCriticalExtension(_))
        ));
        let ignored = request_der(vec![sha1_cert_id(&[1])], Some(vec![ext(other, false)]));
        assert_eq!(parse_request(&ignored).unwrap().nonce, None);
        let two_nonces = request_der(
            vec![sha1_cert_id(&[1])],
            Some(vec![
                ext(ID_PKIX_OCSP_NONCE, false),
                ext(ID_PKIX_OCSP_NONCE, false),
            ]),
        );
        assert!(matches!(
            parse_request(&two_nonces),
            Err(OcspError::DuplicateNonce)
        ));
    }
}
