//! Signed profiles: attached CMS SignedData (RFC 5652 §5) over the exact XML plist bytes.
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!   version, digestAlgorithms SET { sha256 },
//!   encapContentInfo { eContentType id-data, eContent [0] EXPLICIT OCTET STRING { plist } },
//!   certificates [0] IMPLICIT SET { signer, chain... },
//!   signerInfos SET { one SignerInfo: issuerAndSerialNumber, sha256, signed attributes } }
//! ```
//!
//! The output is DER with definite lengths, as in Apple's own signed profiles. Verification
//! checks signatures and the content digest only: it does not decide trust, read the clock, or
//! check validity dates. It returns the embedded chain for the caller to judge.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use const_oid::db::rfc5912::ID_SHA_256;
use der::asn1::OctetString;
use der::{Decode, Encode};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::{PKeyRef, Private};
use openssl::stack::Stack;
use openssl::x509::X509;

use super::ProfileError;

/// Sign `plist_bytes` as attached DER CMS SignedData with SHA-256, embedding `signer_cert`
/// and `chain` (intermediates, optionally the root; the signer is not repeated).
pub fn sign_profile(
    plist_bytes: &[u8],
    signer_cert: &X509,
    signer_key: &PKeyRef<Private>,
    chain: &[X509],
) -> Result<Vec<u8>, ProfileError> {
    // OpenSSL 3.0 refuses a certificate already in the set, so drop repeats (and the signer).
    let mut seen = vec![signer_cert.to_der()?];
    let mut certs = Stack::new()?;
    for c in chain {
        let der = c.to_der()?;
        if !seen.contains(&der) {
            seen.push(der);
            certs.push(c.clone())?;
        }
    }
    // BINARY: sign the bytes as given. Without it OpenSSL converts the content to S/MIME
    // canonical text (CRLF line endings) before signing, and the plist would change.
    let signed = CmsContentInfo::sign(
        Some(signer_cert),
        Some(signer_key),
        Some(&certs),
        Some(plist_bytes),
        CMSOptions::BINARY,
    )?;
    let der = signed.to_der()?;
    // CMS_sign uses the key type's default digest; make sure it was SHA-256 (Apple signs its
    // own profiles with SHA-256) rather than assume it.
    let signed_data = decode_signed_data(&der)?;
    for si in signed_data.signer_infos.0.iter() {
        if si.digest_alg.oid != ID_SHA_256 {
            return Err(ProfileError::Invalid(format!(
                "OpenSSL signed with digest {}, not SHA-256",
                si.digest_alg.oid
            )));
        }
    }
    Ok(der)
}

/// Verify a signed profile. Returns the signed plist bytes and the embedded certificates,
/// the signer's first and the rest in their embedded order.
///
/// Only the signature and content digest are checked: the chain is neither built nor trusted
/// and no validity dates are read. Trust is the caller's decision.
pub fn verify_profile(der: &[u8]) -> Result<(Vec<u8>, Vec<X509>), ProfileError> {
    let signed_data = decode_signed_data(der)?;
    let econtent = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("the signature is detached: no plist inside"))?
        .decode_as::<OctetString>()
        .map_err(|e| malformed(format!("eContent: {e}")))?;
    let [signer_info] = signed_data.signer_infos.0.as_slice() else {
        return Err(malformed(format!(
            "expected one SignerInfo, found {}",
            signed_data.signer_infos.0.len()
        )));
    };

    let mut embedded = Vec::new();
    if let Some(set) = &signed_data.certificates {
        for choice in set.0.iter() {
            if let CertificateChoices::Certificate(c) = choice {
                let x509 = X509::from_der(&c.to_der().map_err(|e| malformed(e.to_string()))?)
                    .map_err(|e| malformed(format!("embedded certificate: {e}")))?;
                embedded.push((c, x509));
            }
        }
    }
    let signer_index = embedded
        .iter()
        .position(|(c, x509)| match &signer_info.sid {
            SignerIdentifier::IssuerAndSerialNumber(isn) => {
                c.tbs_certificate.issuer == isn.issuer
                    && c.tbs_certificate.serial_number == isn.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => x509
                .subject_key_id()
                .is_some_and(|k| k.as_slice() == ski.0.as_bytes()),
        })
        .ok_or_else(|| malformed("the signer's certificate is not embedded"))?;

    let mut cms = CmsContentInfo::from_der(der).map_err(|e| malformed(e.to_string()))?;
    let mut content = Vec::new();
    // NO_SIGNER_CERT_VERIFY: check the signature and messageDigest, not the chain.
    cms.verify(
        None,
        None,
        None,
        Some(&mut content),
        CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
    )
    .map_err(ProfileError::BadSignature)?;
    if content != econtent.as_bytes() {
        return Err(malformed(
            "OpenSSL returned different content than eContent",
        ));
    }

    let mut chain: Vec<X509> = embedded.into_iter().map(|(_, x509)| x509).collect();
    let signer = chain.remove(signer_index);
    chain.insert(0, signer);
    Ok((content, chain))
}

fn malformed(why: impl Into<String>) -> ProfileError {
    ProfileError::Malformed(why.into())
}

/// ContentInfo -> SignedData, refusing anything but signed id-data.
fn decode_signed_data(der: &[u8]) -> Result<SignedData, ProfileError> {
    let ci = ContentInfo::from_der(der).map_err(|e| malformed(format!("ContentInfo: {e}")))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not signedData",
            ci.content_type
        )));
    }
    let sd = ci
        .content
        .decode_as::<SignedData>()
        .map_err(|e| malformed(format!("SignedData: {e}")))?;
    if sd.encap_content_info.econtent_type != ID_DATA {
        return Err(malformed(format!(
            "eContentType {} is not id-data",
            sd.encap_content_info.econtent_type
        )));
    }
    Ok(sd)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::X509Builder;

    use super::*;
    use crate::apple::profile::tests::{full_profile, test_ca, SETTINGS};

    fn plist_bytes() -> Vec<u8> {
        full_profile(&SETTINGS).to_xml_plist().unwrap()
    }

    /// A leaf signer issued by the test CA, as a deployment would use (not the CA key itself).
    fn leaf_signer() -> (X509, PKey<Private>) {
        let ca = test_ca();
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "profile signer").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&BigNum::from_u32(4242).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(ca.certificate.x509.subject_name())
            .unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(ca.certificate.x509.not_before()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(7).unwrap())
            .unwrap();
        b.sign(ca.key(), MessageDigest::sha256()).unwrap();
        (b.build(), key)
    }

    /// `openssl cms -verify` against the test CA; returns (success, stderr, out.plist bytes).
    fn openssl_verify(der: &[u8]) -> (bool, String, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.der"), der).unwrap();
        std::fs::write(
            dir.path().join("ca.pem"),
            test_ca().certificate.x509.to_pem().unwrap(),
        )
        .unwrap();
        let out = Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-in",
                "p.der",
                "-CAfile",
                "ca.pem",
                "-out",
                "out.plist",
            ])
            .output()
            .unwrap();
        let plist = std::fs::read(dir.path().join("out.plist")).unwrap_or_default();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            plist,
        )
    }

    /// Flip one byte inside the signed plist (inside `<dict>`), leaving the DER well formed.
    fn tamper(der: &[u8]) -> Vec<u8> {
        let mut bad = der.to_vec();
        let at = bad.windows(6).position(|w| w == b"<dict>").unwrap() + 1;
        bad[at] = b'e';
        bad
    }

    #[test]
    fn signs_and_verifies_the_exact_plist_bytes() {
        let ca = test_ca();
        let plist = plist_bytes();
        let der = sign_profile(&plist, &ca.certificate.x509, ca.key(), &[]).unwrap();
        let (content, chain) = verify_profile(&der).unwrap();
        assert_eq!(content, plist);
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].to_der().unwrap(), ca.certificate.der);
    }

    #[test]
    fn signed_profile_is_attached_der_signed_data_with_sha256() {
        let ca = test_ca();
        let plist = plist_bytes();
        let der = sign_profile(&plist, &ca.certificate.x509, ca.key(), &[]).unwrap();
        // DER round trip: re-encoding the decoded ContentInfo gives the same bytes.
        let ci = ContentInfo::from_der(&der).unwrap();
        assert_eq!(ci.to_der().unwrap(), der);
        assert_eq!(ci.content_type, ID_SIGNED_DATA);
        let sd = ci.content.decode_as::<SignedData>().unwrap();
        assert_eq!(sd.encap_content_info.econtent_type, ID_DATA);
        let econtent = sd
            .encap_content_info
            .econtent
            .unwrap()
            .decode_as::<OctetString>()
            .unwrap();
        assert_eq!(econtent.as_bytes(), &plist[..]);
        let algs: Vec<_> = sd.digest_algorithms.iter().map(|a| a.oid).collect();
        assert_eq!(algs, [ID_SHA_256]);
        assert_eq!(sd.signer_infos.0.len(), 1);
        assert_eq!(sd.signer_infos.0.get(0).unwrap().digest_alg.oid, ID_SHA_256);
        assert!(matches!(
            sd.signer_infos.0.get(0).unwrap().sid,
            SignerIdentifier::IssuerAndSerialNumber(_)
        ));
    }

    #[test]
    fn openssl_cli_verifies_the_signed_profile() {
        let ca = test_ca();
        let plist = plist_bytes();
        let der = sign_profile(&plist, &ca.certificate.x509, ca.key(), &[]).unwrap();
        let (ok, stderr, out) = openssl_verify(&der);
        assert!(ok, "openssl cms -verify failed: {stderr}");
        assert!(stderr.contains("Verification successful"), "{stderr}");
        assert_eq!(out, plist);
    }

    #[test]
    fn leaf_signer_embeds_its_chain_without_repeats() {
        let ca = test_ca();
        let (leaf, key) = leaf_signer();
        let plist = plist_bytes();
        // The signer and a repeated CA in `chain` are embedded once each.
        let chain = [
            leaf.clone(),
            ca.certificate.x509.clone(),
            ca.certificate.x509.clone(),
        ];
        let der = sign_profile(&plist, &leaf, &key, &chain).unwrap();
        let (content, embedded) = verify_profile(&der).unwrap();
        assert_eq!(content, plist);
        let ders: Vec<Vec<u8>> = embedded.iter().map(|c| c.to_der().unwrap()).collect();
        assert_eq!(ders, [leaf.to_der().unwrap(), ca.certificate.der.clone()]);
        let (ok, stderr, out) = openssl_verify(&der);
        assert!(ok, "openssl cms -verify failed: {stderr}");
        assert_eq!(out, plist);

        // With no chain given, only the signer is embedded; verification still reports it.
        let der = sign_profile(&plist, &leaf, &key, &[]).unwrap();
        assert_eq!(verify_profile(&der).unwrap().1.len(), 1);
    }

    #[test]
    fn rejects_a_tampered_byte() {
        let ca = test_ca();
        let der = sign_profile(&plist_bytes(), &ca.certificate.x509, ca.key(), &[]).unwrap();
        let bad = tamper(&der);
        assert!(matches!(
            verify_profile(&bad),
            Err(ProfileError::BadSignature(_))
        ));
        let (ok, stderr, _) = openssl_verify(&bad);
        assert!(!ok);
        assert!(!stderr.contains("Verification successful"), "{stderr}");
    }

    #[test]
    fn rejects_input_that_is_not_signed_data() {
        assert!(matches!(
            verify_profile(b"<?xml version=\"1.0\"?>"),
            Err(ProfileError::Malformed(_))
        ));
        assert!(matches!(
            verify_profile(&plist_bytes()),
            Err(ProfileError::Malformed(_))
        ));
    }
}
