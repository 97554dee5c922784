//! Golden fixtures captured from the real clients (see tests/fixtures/scep/README.md).

use std::path::PathBuf;
use std::sync::Arc;

use certdrop::ca::{Ca, CaCertificate};
use certdrop::scep::builder;
use certdrop::scep::csr::{CertificationRequest, ChallengePassword};
use certdrop::scep::envelope::{self, ContentCipher, KeyTransport};
use certdrop::scep::{get, Digest, MessageType, PkiMessage, PkiStatus};
use certdrop::store::memory::MemoryStore;
use certdrop::store::Store;
use openssl::pkey::PKey;
use openssl::x509::X509;

use crate::support;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scep")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture_ca() -> Ca {
    let cert = X509::from_pem(&fixture("test-ca.pem")).unwrap();
    let key = PKey::private_key_from_pem(&fixture("test-ca.key")).unwrap();
    Ca::new(CaCertificate::from_x509(cert).unwrap(), key).unwrap()
}

const SCEPCLIENT_TRANSACTION_ID: &str = "NiAMyGHAn3yOu5O9mKQN/KK/q/g=";

#[test]
fn decodes_scepclient_pkcsreq_post_fixture() {
    support::load_legacy_provider();
    let body = fixture("scepclient-pkcsreq-post.der");
    let msg = PkiMessage::decode(&body).unwrap();
    assert_eq!(msg.attributes.message_type, MessageType::PkcsReq);
    assert_eq!(
        msg.attributes.transaction_id.as_str(),
        SCEPCLIENT_TRANSACTION_ID
    );
    assert_eq!(msg.digest, Digest::Sha1);
    assert_eq!(
        msg.attributes
            .sender_nonce
            .as_ref()
            .unwrap()
            .as_bytes()
            .len(),
        16
    );
    let signed = msg.verify().unwrap();

    let env = envelope::inspect(signed.content.as_deref().unwrap()).unwrap();
    assert_eq!(env.cipher, ContentCipher::DesCbc);
    assert_eq!(env.key_transport, KeyTransport::RsaPkcs1);
    let ca = fixture_ca();
    let csr = envelope::decrypt(&env.der, ca.key(), &ca.certificate.x509).unwrap();
    assert_eq!(csr, fixture("scepclient-pkcsreq-post.csr.der"));

    let csr = CertificationRequest::parse(&csr).unwrap();
    assert_eq!(
        csr.challenge_password,
        ChallengePassword::Present("fixture-challenge-1".into())
    );
    assert_eq!(csr.common_name.as_deref(), Some("scepclient-fixture"));
    assert!(csr.signature_valid);
    let client_key = PKey::private_key_from_pem(&fixture("scepclient-key.pem")).unwrap();
    assert_eq!(csr.public_key_der, client_key.public_key_to_der().unwrap());
}

#[test]
fn decodes_scepclient_utf8_challenge_fixture() {
    support::load_legacy_provider();
    let msg = PkiMessage::decode(&fixture("scepclient-pkcsreq-post-utf8challenge.der"))
        .unwrap()
        .verify()
        .unwrap();
    let env = envelope::inspect(msg.content.as_deref().unwrap()).unwrap();
    let ca = fixture_ca();
    let csr = envelope::decrypt(&env.der, ca.key(), &ca.certificate.x509).unwrap();
    let csr = CertificationRequest::parse(&csr).unwrap();
    assert_eq!(
        csr.challenge_password,
        ChallengePassword::Present("fixture_challenge@2".into())
    );
}

#[test]
fn decodes_scepclient_get_query_fixture() {
    support::load_legacy_provider();
    let raw = String::from_utf8(fixture("scepclient-pkcsreq-get.query")).unwrap();
    let q = get::parse_query(&raw);
    assert_eq!(q.operation, Some("PKIOperation"));
    let message = q.message.unwrap();
    assert!(message.contains("%3D"), "padding is percent-escaped");
    let body = get::decode_message(message).unwrap();
    let msg = PkiMessage::decode(&body).unwrap().verify().unwrap();
    assert_eq!(
        msg.attributes.transaction_id.as_str(),
        SCEPCLIENT_TRANSACTION_ID
    );
    let env = envelope::inspect(msg.content.as_deref().unwrap()).unwrap();
    let ca = fixture_ca();
    let csr = envelope::decrypt(&env.der, ca.key(), &ca.certificate.x509).unwrap();
    assert_eq!(csr, fixture("scepclient-pkcsreq-get.csr.der"));
}

#[test]
fn certmonger_get_query_decodes_to_the_exact_message() {
    let raw = String::from_utf8(fixture("certmonger-pkioperation-get.query")).unwrap();
    assert!(raw.starts_with("operation=PKIOperation&message="));
    let q = get::parse_query(&raw);
    let message = q.message.unwrap();
    // Standard base64 with + / = percent-escaped.
    assert!(message.contains("%2B") || message.contains("%2F"));
    assert_eq!(
        get::decode_message(message).unwrap(),
        fixture("scepclient-pkcsreq-post.der")
    );
}

#[test]
fn enrolls_the_scepclient_fixture_end_to_end() {
    support::load_legacy_provider();
    let ca = Arc::new(fixture_ca());
    let store = Arc::new(MemoryStore::default());
    let mut config = support::enroll_config(Some("fixture-challenge-1"));
    config.legacy_des = true;
    let e = certdrop::enroll::Enroller::new(ca.clone(), store.clone(), config);
    let reply = e
        .pki_operation(
            &fixture("scepclient-pkcsreq-post.der"),
            "127.0.0.1",
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(reply.status, PkiStatus::Success);

    // Open it as scepclient would: its signer is self-signed with the same key.
    let key = PKey::private_key_from_pem(&fixture("scepclient-key.pem")).unwrap();
    let signer = PkiMessage::decode(&fixture("scepclient-pkcsreq-post.der"))
        .unwrap()
        .signer;
    let signer = X509::from_der(&der::Encode::to_der(&signer).unwrap()).unwrap();
    let o = builder::open_cert_rep(&reply.body, &signer, &key).unwrap();
    assert_eq!(
        o.attributes.transaction_id.as_str(),
        SCEPCLIENT_TRANSACTION_ID
    );
    assert_eq!(o.certificates.len(), 1);
    assert!(o.certificates[0]
        .verify(&ca.certificate.x509.public_key().unwrap())
        .unwrap());
    assert_eq!(store.certs().unwrap().len(), 1);
}

#[test]
fn enrolls_a_ber_variant_of_the_scepclient_fixture() {
    support::load_legacy_provider();
    let der = fixture("scepclient-pkcsreq-post.der");
    let ber = support::der_to_ber(&der);
    assert_ne!(ber, der);
    assert_eq!(&ber[..2], &[0x30, 0x80]);
    let ca = Arc::new(fixture_ca());
    let mut config = support::enroll_config(Some("fixture-challenge-1"));
    config.legacy_des = true;
    let e = certdrop::enroll::Enroller::new(ca, Arc::new(MemoryStore::default()), config);
    let reply = e
        .pki_operation(&ber, "127.0.0.1", time::OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(reply.status, PkiStatus::Success);
}
