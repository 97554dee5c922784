//! Building OCSPResponses (RFC 6960 §4.2): signed basic responses and bare error statuses.

use std::time::Duration;

use const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
use const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE;
use der::asn1::{BitString, GeneralizedTime, OctetString};
use der::{Any, Decode, Encode};
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKeyRef, Private};
use time::OffsetDateTime;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, OcspGeneralizedTime, OcspResponse, ResponderId, ResponseData, RevokedInfo,
    SingleResponse, Version,
};

use super::{CertId, CertStatus, OcspError, ResponseStatus};

/// Build a successful, signed response (RFC 6960 §4.2.1):
///
/// ```text
/// OCSPResponse ::= SEQUENCE {
///    responseStatus         OCSPResponseStatus,            -- successful
///    responseBytes      [0] EXPLICIT ResponseBytes OPTIONAL }
///
/// ResponseBytes ::= SEQUENCE {
///     responseType   OBJECT IDENTIFIER,                    -- id-pkix-ocsp-basic
///     response       OCTET STRING }                        -- DER of BasicOCSPResponse
///
/// BasicOCSPResponse ::= SEQUENCE {
///    tbsResponseData      ResponseData,
///    signatureAlgorithm   AlgorithmIdentifier,             -- sha256WithRSAEncryption
///    signature            BIT STRING,
///    certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }  -- the responder
///
/// ResponseData ::= SEQUENCE {
///    version              [0] EXPLICIT Version DEFAULT v1,
///    responderID              ResponderID,                 -- byKey
///    producedAt               GeneralizedTime,
///    responses                SEQUENCE OF SingleResponse,
///    responseExtensions   [1] EXPLICIT Extensions OPTIONAL }  -- the nonce, if asked
///
/// SingleResponse ::= SEQUENCE {
///    certID                       CertID,                  -- as received
///    certStatus                   CertStatus,
///    thisUpdate                   GeneralizedTime,
///    nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
///    singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
/// ```
///
/// `responder` signs with `key` (RSA, PKCS#1 v1.5, SHA-256); it is either the CA itself or a
/// certificate the CA issued with id-kp-OCSPSigning (RFC 6960 §4.2.2.2), the caller's choice.
/// Times are whole seconds (RFC 5280 §4.1.2.5.2: no fractional seconds).
pub fn build_response(
    answers: &[(CertId, CertStatus)],
    nonce: Option<&[u8]>,
    produced_at: OffsetDateTime,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    responder: &Certificate,
    key: &PKeyRef<Private>,
) -> Result<Vec<u8>, OcspError> {
    if answers.is_empty() {
        return Err(OcspError::NoAnswers);
    }
    if next_update < this_update {
        return Err(OcspError::NextUpdateBeforeThisUpdate);
    }
    let responder_key = responder
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    if key.id() != Id::RSA {
        return Err(OcspError::UnsupportedKey);
    }
    // The BIT STRING of an RSA subjectPublicKey holds the PKCS#1 RSAPublicKey.
    if key.rsa()?.public_key_to_der_pkcs1()? != responder_key {
        return Err(OcspError::KeyMismatch);
    }

    let this_update = generalized_time(this_update.unix_timestamp())?;
    let next_update = generalized_time(next_update.unix_timestamp())?;
    let responses = answers
        .iter()
        .map(|(id, status)| single_response(id, status, this_update, next_update))
        .collect::<Result<Vec<_>, _>>()?;
    // RFC 8954 §2.1 / RFC 6960 §4.4.1: the nonce comes back exactly as it was sent.
    let response_extensions = nonce
        .map(|n| -> Result<_, OcspError> {
            Ok(vec![Extension {
                extn_id: ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(n)?,
            }])
        })
        .transpose()?;
    let tbs_response_data = ResponseData {
        version: Version::V1,
        // RFC 6960 §4.2.1: KeyHash ::= OCTET STRING -- SHA-1 hash of responder's public key
        // (excluding the tag and length fields).
        responder_id: ResponderId::ByKey(OctetString::new(openssl::sha::sha1(responder_key))?),
        produced_at: generalized_time(produced_at.unix_timestamp())?,
        responses,
        response_extensions,
    };

    let tbs = tbs_response_data.to_der()?;
    let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key)?;
    signer.set_rsa_padding(openssl::rsa::Padding::PKCS1)?;
    let signature = signer.sign_oneshot_to_vec(&tbs)?;

    let basic = BasicOcspResponse {
        tbs_response_data,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: BitString::from_bytes(&signature)?,
        // RFC 6960 §4.2.2.2: the client needs the responder's certificate to verify.
        certs: Some(vec![responder.clone()]),
    };
    Ok(OcspResponse::successful(basic)?.to_der()?)
}

fn single_response(
    id: &CertId,
    status: &CertStatus,
    this_update: OcspGeneralizedTime,
    next_update: OcspGeneralizedTime,
) -> Result<SingleResponse, OcspError> {
    // der accepts only DER, so decoding and encoding again reproduces `raw` byte for byte:
    // RFC 6960 §4.2.1 has the client match certID against what it sent.
    let cert_id = x509_ocsp::CertId::from_der(id.raw_der())?;
    let cert_status = match *status {
        CertStatus::Good => x509_ocsp::CertStatus::good(),
        CertStatus::Unknown => x509_ocsp::CertStatus::unknown(),
        CertStatus::Revoked { revoked_at, reason } => {
            let revocation_reason = reason
                .map(|r| CrlReason::try_from(u32::from(r)).map_err(|_| OcspError::InvalidReason(r)))
                .transpose()?;
            x509_ocsp::CertStatus::revoked(RevokedInfo {
                revocation_time: generalized_time(revoked_at)?,
                revocation_reason,
            })
        }
    };
    Ok(SingleResponse {
        cert_id,
        cert_status,
        this_update,
        next_update: Some(next_update),
        single_extensions: None,
    })
}

/// Unix seconds as a GeneralizedTime `YYYYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5.2).
fn generalized_time(unix: i64) -> Result<OcspGeneralizedTime, OcspError> {
    let secs = u64::try_from(unix).map_err(|_| OcspError::TimeOutOfRange(unix))?;
    let time = GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|_| OcspError::TimeOutOfRange(unix))?;
    Ok(OcspGeneralizedTime(time))
}

/// An unsuccessful response: `OCSPResponse { responseStatus }` with no responseBytes
/// (RFC 6960 §4.2.1: "If the value of responseStatus is one of the error conditions,
/// the responseBytes field is not set"). Never signed, so it cannot fail.
pub fn error_response(status: ResponseStatus) -> Vec<u8> {
    // SEQUENCE (3 octets) { ENUMERATED (1 octet) code }
    vec![0x30, 0x03, 0x0a, 0x01, status.code()]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use der::Tag;
    use x509_ocsp::OcspResponseStatus;

    use super::super::testing::{openssl, openssl_request, pki, text};
    use super::super::{parse_request, OcspRequest};
    use super::*;

    fn dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        pki().write(dir.path());
        dir
    }

    /// Answer `req` signed by the test CA, with times around the real clock (openssl checks
    /// thisUpdate and nextUpdate against it), and write resp.der.
    fn respond(dir: &Path, req: &OcspRequest, status: CertStatus, nonce: Option<&[u8]>) -> Vec<u8> {
        let now = OffsetDateTime::now_utc();
        let answers: Vec<_> = req.cert_ids.iter().map(|id| (id.clone(), status)).collect();
        let der = build_response(
            &answers,
            nonce,
            now,
            now - time::Duration::hours(1),
            now + time::Duration::days(1),
            &pki().ca_certificate(),
            pki().ca.key(),
        )
        .unwrap();
        std::fs::write(dir.join("resp.der"), &der).unwrap();
        der
    }

    /// `openssl ocsp -respin resp.der ... -CAfile ca.pem -resp_text` plus `extra`.
    fn openssl_check(dir: &Path, extra: &[&str]) -> (bool, String) {
        let mut args = vec![
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "ca.pem",
            "-CAfile",
            "ca.pem",
            "-resp_text",
        ];
        args.extend_from_slice(extra);
        let out = openssl(dir, &args);
        (out.status.success(), text(&out))
    }

    fn assert_verifies(ok: bool, out: &str) {
        assert!(ok, "{out}");
        assert!(out.contains("Response verify OK"), "{out}");
    }

    #[test]
    fn openssl_verifies_good_response() {
        let dir = dir();
        let req = parse_request(&openssl_request(dir.path(), &["-no_nonce"])).unwrap();
        respond(dir.path(), &req, CertStatus::Good, None);
        let (ok, out) = openssl_check(dir.path(), &["-cert", "leaf.pem"]);
        assert_verifies(ok, &out);
        assert!(out.contains("leaf.pem: good"), "{out}");
    }

    #[test]
    fn openssl_reports_revoked_with_key_compromise() {
        let dir = dir();
        let req = parse_request(&openssl_request(dir.path(), &["-no_nonce"])).unwrap();
        let revoked_at = OffsetDateTime::now_utc().unix_timestamp() - 600;
        let status = CertStatus::Revoked {
            revoked_at,
            reason: Some(1),
        };
        respond(dir.path(), &req, status, None);
        let (ok, out) = openssl_check(dir.path(), &["-cert", "leaf.pem"]);
        assert_verifies(ok, &out);
        assert!(out.contains("leaf.pem: revoked"), "{out}");
        assert!(out.contains("Reason: keyCompromise"), "{out}");
        assert!(out.contains("Revocation Time:"), "{out}");
    }

    #[test]
    fn openssl_reports_unknown() {
        let dir = dir();
        let req = parse_request(&openssl_request(dir.path(), &["-no_nonce"])).unwrap();
        respond(dir.path(), &req, CertStatus::Unknown, None);
        let (ok, out) = openssl_check(dir.path(), &["-cert", "leaf.pem"]);
        assert_verifies(ok, &out);
        assert!(out.contains("leaf.pem: unknown"), "{out}");
    }

    #[test]
    fn openssl_matches_sha256_cert_id() {
        let dir = dir();
        let req = parse_request(&openssl_request(dir.path(), &["-sha256", "-no_nonce"])).unwrap();
        respond(dir.path(), &req, CertStatus::Good, None);
        let (ok, out) = openssl_check(dir.path(), &["-sha256", "-cert", "leaf.pem"]);
        assert_verifies(ok, &out);
        assert!(out.contains("leaf.pem: good"), "{out}");
        assert!(out.contains("Hash Algorithm: sha256"), "{out}");
    }

    #[test]
    fn openssl_accepts_echoed_nonce_and_refuses_another() {
        let dir = dir();
        let req = parse_request(&openssl_request(dir.path(), &[])).unwrap();
        let nonce = req.nonce.clone().unwrap();
        respond(dir.path(), &req, CertStatus::Good, Some(&nonce));
        let (ok, out) = openssl_check(dir.path(), &["-reqin", "req.der"]);
        assert_verifies(ok, &out);
        assert!(!out.contains("no nonce"), "{out}");
        assert!(out.contains("Cert Status: good"), "{out}");

        let mut other = nonce.clone();
        if let Some(last) = other.last_mut() {
            *last ^= 1;
        }
        respond(dir.path(), &req, CertStatus::Good, Some(&other));
        let (ok, out) = openssl_check(dir.path(), &["-reqin", "req.der"]);
        assert!(!ok, "{out}");
        assert!(out.contains("Nonce Verify error"), "{out}");

        respond(dir.path(), &req, CertStatus::Good, None);
        let (_, out) = openssl_check(dir.path(), &["-reqin", "req.der"]);
        assert!(out.contains("WARNING: no nonce in response"), "{out}");
    }

    #[test]
    fn builds_the_fields_rfc_6960_asks_for() {
        let dir = dir();
        let req = parse_request(&openssl_request(dir.path(), &[])).unwrap();
        let nonce = req.nonce.clone().unwrap();
        let der = respond(dir.path(), &req, CertStatus::Good, Some(&nonce));

        let response = OcspResponse::from_der(&der).unwrap();
        assert_eq!(response.response_status, OcspResponseStatus::Successful);
        let bytes = response.response_bytes.unwrap();
        assert_eq!(
            bytes.response_type,
            const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC
        );
        let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
        let data = &basic.tbs_response_data;
        let ca = pki().ca_certificate();
        let ca_key = ca
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        assert_eq!(
            data.responder_id,
            ResponderId::ByKey(OctetString::new(openssl::sha::sha1(ca_key)).unwrap())
        );
        assert_eq!(data.responses.len(), 1);
        assert_eq!(
            data.responses[0].cert_id.to_der().unwrap(),
            req.cert_ids[0].raw_der()
        );
        let extensions = data.response_extensions.as_ref().unwrap();
        assert_eq!(extensions.len(), 1);
        assert_eq!(extensions[0].extn_id, ID_PKIX_OCSP_NONCE);
        assert_eq!(extensions[0].extn_value.as_bytes(), nonce);
        assert_eq!(basic.certs, Some(vec![ca]));
        assert_eq!(basic.signature_algorithm.oid, SHA_256_WITH_RSA_ENCRYPTION);

        // Every GeneralizedTime is YYYYMMDDHHMMSSZ: tag 0x18, 15 octets, no fraction.
        let tbs = data.to_der().unwrap();
        let times = [
            data.produced_at.0.to_der().unwrap(),
            data.responses[0].this_update.0.to_der().unwrap(),
            data.responses[0].next_update.unwrap().0.to_der().unwrap(),
        ];
        for t in times {
            assert_eq!(t[0], u8::from(Tag::GeneralizedTime));
            assert_eq!(t[1], 15);
            assert_eq!(t[16], b'Z');
            assert!(tbs.windows(t.len()).any(|w| w == t));
        }

        let public = pki().ca.certificate.x509.public_key().unwrap();
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &public).unwrap();
        let signature = basic.signature.as_bytes().unwrap();
        assert!(verifier.verify_oneshot(signature, &tbs).unwrap());
    }

    #[test]
    fn refuses_wrong_key_bad_reason_and_reversed_times() {
        let dir = dir();
        let req = parse_request(&openssl_request(dir.path(), &["-no_nonce"])).unwrap();
        let now = OffsetDateTime::now_utc();
        let build = |status: CertStatus, next: OffsetDateTime, key: &PKeyRef<Private>| {
            let answers = [(req.cert_ids[0].clone(), status)];
            build_response(&answers, None, now, now, next, &pki().ca_certificate(), key)
        };
        let later = now + time::Duration::hours(1);
        assert!(matches!(
            build(CertStatus::Good, later, pki().other_ca.key()),
            Err(OcspError::KeyMismatch)
        ));
        let unused = CertStatus::Revoked {
            revoked_at: now.unix_timestamp(),
            reason: Some(7),
        };
        assert!(matches!(
            build(unused, later, pki().ca.key()),
            Err(OcspError::InvalidReason(7))
        ));
        let before_epoch = CertStatus::Revoked {
            revoked_at: -1,
            reason: None,
        };
        assert!(matches!(
            build(before_epoch, later, pki().ca.key()),
            Err(OcspError::TimeOutOfRange(-1))
        ));
        let earlier = now - time::Duration::hours(1);
        assert!(matches!(
            build(CertStatus::Good, earlier, pki().ca.key()),
            Err(OcspError::NextUpdateBeforeThisUpdate)
        ));
        let none = build_response(
            &[],
            None,
            now,
            now,
            later,
            &pki().ca_certificate(),
            pki().ca.key(),
        );
        assert!(matches!(none, Err(OcspError::NoAnswers)));
    }

    #[test]
    fn error_responses_decode_and_openssl_prints_unauthorized() {
        let cases = [
            (
                ResponseStatus::MalformedRequest,
                OcspResponseStatus::MalformedRequest,
            ),
            (
                ResponseStatus::InternalError,
                OcspResponseStatus::InternalError,
            ),
            (ResponseStatus::TryLater, OcspResponseStatus::TryLater),
            (
                ResponseStatus::Unauthorized,
                OcspResponseStatus::Unauthorized,
            ),
        ];
        for (ours, theirs) in cases {
            let response = OcspResponse::from_der(&error_response(ours)).unwrap();
            assert_eq!(response.response_status, theirs);
            assert_eq!(response.response_bytes, None);
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("err.der");
        std::fs::write(&path, error_response(ResponseStatus::Unauthorized)).unwrap();
        let out = openssl(dir.path(), &["ocsp", "-respin", "err.der", "-resp_text"]);
        let out = text(&out);
        assert!(out.contains("unauthorized"), "{out}");
    }
}
