//! Library-level enrollment: the whole PKIOperation path on `Enroller` with an in-memory
//! store, every reply opened and checked as a client would.

use certdrop::admin::{self, AdminRequest, AdminResponse};
use certdrop::ca::challenge::Constraints;
use certdrop::enroll::Error;
use certdrop::scep::builder::{self, OpenedCertRep};
use certdrop::scep::envelope;
use certdrop::scep::{
    ContentCipher, DecodeError, Digest, FailInfo, KeyTransport, MessageType, Nonce, PkiMessage,
    PkiStatus,
};
use certdrop::store::{AuditEvent, Store};
use openssl::nid::Nid;
use openssl::x509::X509;
use time::OffsetDateTime;

use crate::support::{self, der_to_ber, enroll_config, enroller, rsa_key, TestClient};

const STATIC: &str = "static-secret-1";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_x509() -> X509 {
    support::test_ca().certificate.x509.clone()
}

/// Send one request and open the reply as the client.
fn exchange(e: &certdrop::enroll::Enroller, c: &TestClient) -> (OpenedCertRep, Nonce, Vec<u8>) {
    let (msg, nonce) = c.pkcs_req(&ca_x509());
    let reply = e.pki_operation(&msg, "192.0.2.10", now()).unwrap();
    let opened = builder::open_cert_rep(&reply.body, &c.signer, &c.key).unwrap();
    (opened, nonce, reply.body)
}

fn assert_failure(o: &OpenedCertRep, want: FailInfo, text_contains: &str) {
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Failure));
    assert_eq!(o.attributes.fail_info, Some(want));
    let text = o.attributes.fail_info_text.clone().unwrap_or_default();
    assert!(
        text.contains(text_contains),
        "failInfoText {text:?} lacks {text_contains:?}"
    );
    assert!(o.certificates.is_empty());
}

fn cn_of(x: &X509) -> String {
    x.subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .unwrap()
        .data()
        .to_string()
        .unwrap()
}

#[test]
fn issues_certificate_for_aes256_sha256_request() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let c = TestClient::new(rsa_key(0), "device-1").challenge(STATIC);
    let (o, nonce, _) = exchange(&e, &c);

    assert_eq!(o.attributes.message_type, MessageType::CertRep);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    assert_eq!(o.attributes.transaction_id, c.transaction_id);
    assert_eq!(o.attributes.recipient_nonce.as_ref(), Some(&nonce));
    let sender_nonce = o.attributes.sender_nonce.clone().unwrap();
    assert_eq!(sender_nonce.as_bytes().len(), 16);
    assert_ne!(sender_nonce, nonce);
    assert_eq!(o.attributes.fail_info, None);
    assert_eq!(o.digest, Digest::Sha256);

    // RFC 8894 §3.4: only the issued certificate, and it is ours.
    assert_eq!(o.certificates.len(), 1);
    let cert = &o.certificates[0];
    let ca = ca_x509();
    assert!(cert.verify(&ca.public_key().unwrap()).unwrap());
    assert_eq!(cn_of(cert), "device-1");
    assert!(cert.public_key().unwrap().public_eq(&c.key));
    assert_eq!(
        cert.issuer_name().to_der().unwrap(),
        ca.subject_name().to_der().unwrap()
    );
    let text = String::from_utf8(cert.to_text().unwrap()).unwrap();
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    // Serial: positive, 16 bytes of which the first is 0x01..=0x7f.
    let serial = cert.serial_number().to_bn().unwrap().to_vec();
    assert_eq!(serial.len(), 16);

    let records = store.certs().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].der, cert.to_der().unwrap());
    assert_eq!(records[0].challenge, "static");
    assert_eq!(records[0].requester, "192.0.2.10");
    assert_eq!(
        records[0].transaction_id.as_deref(),
        Some(c.transaction_id.as_str())
    );
}

#[test]
fn replies_with_the_cipher_key_transport_and_digest_of_the_request() {
    let (e, _) = enroller(enroll_config(Some(STATIC)));
    let cases = [
        (
            ContentCipher::Aes128Cbc,
            KeyTransport::pkcs1(),
            Digest::Sha1,
        ),
        (
            ContentCipher::Aes192Cbc,
            KeyTransport::pkcs1(),
            Digest::Sha512,
        ),
        (
            ContentCipher::DesEde3Cbc,
            KeyTransport::pkcs1(),
            Digest::Sha256,
        ),
        (
            ContentCipher::Aes256Cbc,
            KeyTransport::oaep(Digest::Sha256).unwrap(),
            Digest::Sha256,
        ),
        (
            ContentCipher::Aes128Cbc,
            KeyTransport::oaep(Digest::Sha1).unwrap(),
            Digest::Sha1,
        ),
    ];
    for (i, (cipher, kt, digest)) in cases.into_iter().enumerate() {
        let mut c = TestClient::new(rsa_key(i), &format!("mix-{i}")).challenge(STATIC);
        c.cipher = cipher;
        c.key_transport = kt.clone();
        c.digest = digest;
        let (o, _, body) = exchange(&e, &c);
        assert_eq!(
            o.attributes.pki_status,
            Some(PkiStatus::Success),
            "case {i}"
        );
        assert_eq!(o.digest, digest, "case {i}");
        assert_eq!(cn_of(&o.certificates[0]), format!("mix-{i}"));
        let msg = PkiMessage::decode(&body).unwrap();
        let env = envelope::inspect(msg.content.as_deref().unwrap()).unwrap();
        assert_eq!(env.cipher, cipher, "case {i}");
        assert_eq!(env.key_transport, kt, "case {i}");
    }
}

#[test]
fn accepts_ber_with_indefinite_lengths_and_chunked_octet_strings() {
    let (e, _) = enroller(enroll_config(Some(STATIC)));
    let c = TestClient::new(rsa_key(1), "ber-device").challenge(STATIC);
    let (msg, nonce) = c.pkcs_req(&ca_x509());
    let ber = der_to_ber(&msg);
    assert_ne!(ber, msg);
    assert_eq!(ber[1], 0x80, "outer SEQUENCE must use the indefinite form");
    let reply = e.pki_operation(&ber, "t", now()).unwrap();
    let o = builder::open_cert_rep(&reply.body, &c.signer, &c.key).unwrap();
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    assert_eq!(o.attributes.recipient_nonce, Some(nonce));
    assert_eq!(cn_of(&o.certificates[0]), "ber-device");
}

#[test]
fn refuses_wrong_missing_and_malformed_challenges_with_bad_request() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let wrong = TestClient::new(rsa_key(2), "wrong").challenge("not-the-secret");
    assert_failure(
        &exchange(&e, &wrong).0,
        FailInfo::BadRequest,
        "wrong challenge",
    );
    let missing = TestClient::new(rsa_key(3), "missing");
    assert_failure(&exchange(&e, &missing).0, FailInfo::BadRequest, "missing");
    assert!(store.certs().unwrap().is_empty());
    let refusals = store
        .audit()
        .unwrap()
        .into_iter()
        .filter(|a| matches!(a.event, AuditEvent::Refused { .. }))
        .count();
    assert_eq!(refusals, 2);
}

#[test]
fn reads_challenge_in_utf8_and_bmp_strings() {
    let (e, _) = enroller(enroll_config(Some("p@ss_wörd")));
    for (i, kind) in [builder::StringKind::Utf8, builder::StringKind::Bmp]
        .into_iter()
        .enumerate()
    {
        let mut c = TestClient::new(rsa_key(4 + i), &format!("str-{i}"));
        c.challenge = Some(("p@ss_wörd".into(), kind));
        let (o, _, _) = exchange(&e, &c);
        assert_eq!(
            o.attributes.pki_status,
            Some(PkiStatus::Success),
            "{kind:?}"
        );
    }
}

fn create_challenge(
    store: &dyn Store,
    constraints: Constraints,
    ttl_secs: u64,
    at: OffsetDateTime,
) -> String {
    let r = admin::execute(
        &AdminRequest::ChallengeCreate {
            ttl_secs,
            count: 1,
            constraints,
            actor: "cli:test".into(),
        },
        &admin::AdminContext {
            data_dir: std::path::Path::new("."),
            ca: &support::test_ca().certificate,
            store,
            revocation: None,
            issuer: None,
            public_url: "http://127.0.0.1:8080",
        },
        at,
    );
    let AdminResponse::Challenges { challenges } = r else {
        panic!("{r:?}")
    };
    challenges[0].challenge.clone()
}

#[test]
fn one_time_challenge_is_burned_on_success_only() {
    let (e, store) = enroller(enroll_config(None));
    let ch = create_challenge(store.as_ref(), Constraints::default(), 3600, now());
    assert!(ch.chars().all(|c| c.is_ascii_alphanumeric()) && ch.len() == 32);

    // A refused request (weak CSR key) does not burn it.
    let mut weak = TestClient::new(rsa_key(5), "weak").challenge(&ch);
    weak.csr_key = Some(builder::rsa_key(1024).unwrap());
    assert_failure(&exchange(&e, &weak).0, FailInfo::BadRequest, "not allowed");

    let first = TestClient::new(rsa_key(6), "first").challenge(&ch);
    let (o, _, _) = exchange(&e, &first);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    let record = store.challenge(&ch[..8]).unwrap().unwrap();
    assert!(record.used.is_some());
    // Stored as a hash only.
    assert!(!format!("{record:?}").contains(&ch[8..]));

    let second = TestClient::new(rsa_key(7), "second").challenge(&ch);
    assert_failure(
        &exchange(&e, &second).0,
        FailInfo::BadRequest,
        "already been used",
    );
    assert_eq!(store.certs().unwrap().len(), 1);
}

#[test]
fn expired_one_time_challenge_is_refused() {
    let (e, store) = enroller(enroll_config(None));
    let two_hours_ago = now() - time::Duration::hours(2);
    let ch = create_challenge(store.as_ref(), Constraints::default(), 3600, two_hours_ago);
    let c = TestClient::new(rsa_key(0), "late").challenge(&ch);
    assert_failure(&exchange(&e, &c).0, FailInfo::BadRequest, "expired");
}

#[test]
fn one_time_challenge_with_wrong_secret_is_refused() {
    let (e, store) = enroller(enroll_config(None));
    let ch = create_challenge(store.as_ref(), Constraints::default(), 3600, now());
    let tampered = format!("{}{}", &ch[..8], "A".repeat(24));
    let c = TestClient::new(rsa_key(1), "guess").challenge(&tampered);
    assert_failure(&exchange(&e, &c).0, FailInfo::BadRequest, "wrong challenge");
}

#[test]
fn constrained_challenge_only_buys_its_own_names() {
    let (e, store) = enroller(enroll_config(None));
    let constraints = Constraints {
        common_name: Some("laptop-0042".into()),
        dns_names: vec!["laptop-0042.corp.example.com".into()],
        emails: vec![],
        manual_approval: false,
    };
    let ch = create_challenge(store.as_ref(), constraints, 3600, now());

    let other_cn = TestClient::new(rsa_key(2), "ceo-laptop").challenge(&ch);
    assert_failure(
        &exchange(&e, &other_cn).0,
        FailInfo::BadRequest,
        "not allowed",
    );
    let mut other_san = TestClient::new(rsa_key(3), "laptop-0042").challenge(&ch);
    other_san.dns_names = vec!["mail.corp.example.com".into()];
    assert_failure(
        &exchange(&e, &other_san).0,
        FailInfo::BadRequest,
        "not allowed",
    );

    let mut ok = TestClient::new(rsa_key(4), "laptop-0042").challenge(&ch);
    ok.dns_names = vec!["laptop-0042.corp.example.com".into()];
    let (o, _, _) = exchange(&e, &ok);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    let text = String::from_utf8(o.certificates[0].to_text().unwrap()).unwrap();
    assert!(text.contains("DNS:laptop-0042.corp.example.com"), "{text}");
}

#[test]
fn requires_no_challenge_only_when_configured() {
    let mut config = enroll_config(None);
    config.challenge.required = false;
    let (e, store) = enroller(config);
    let c = TestClient::new(rsa_key(5), "open-door");
    let (o, _, _) = exchange(&e, &c);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    assert_eq!(store.certs().unwrap()[0].challenge, "none");
}

#[test]
fn refuses_single_des_unless_legacy_des() {
    support::load_legacy_provider();
    let mut c = TestClient::new(rsa_key(6), "old-router").challenge(STATIC);
    c.cipher = ContentCipher::DesCbc;
    c.digest = Digest::Sha1;

    let (strict, store) = enroller(enroll_config(Some(STATIC)));
    assert_failure(&exchange(&strict, &c).0, FailInfo::BadAlg, "single DES");
    assert!(store.certs().unwrap().is_empty());

    let mut config = enroll_config(Some(STATIC));
    config.legacy_des = true;
    let (legacy, _) = enroller(config);
    let (o, _, body) = exchange(&legacy, &c);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    let env = envelope::inspect(
        PkiMessage::decode(&body)
            .unwrap()
            .content
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(env.cipher, ContentCipher::DesCbc);
}

#[test]
fn retransmission_returns_the_same_certificate() {
    let (e, store) = enroller(enroll_config(None));
    let ch = create_challenge(store.as_ref(), Constraints::default(), 3600, now());
    let c = TestClient::new(rsa_key(7), "retry").challenge(&ch);
    let csr = c.csr();
    let send = || {
        let nonce = Nonce::random().unwrap();
        let msg = builder::request(&c.params(&ca_x509(), &csr, &nonce)).unwrap();
        let reply = e.pki_operation(&msg, "t", now()).unwrap();
        builder::open_cert_rep(&reply.body, &c.signer, &c.key).unwrap()
    };
    let a = send();
    // The one-time challenge is burned by now, yet the retransmission succeeds.
    let b = send();
    assert_eq!(b.attributes.pki_status, Some(PkiStatus::Success));
    assert_eq!(
        a.certificates[0].to_der().unwrap(),
        b.certificates[0].to_der().unwrap()
    );
    assert_eq!(store.certs().unwrap().len(), 1);
    assert!(store
        .audit()
        .unwrap()
        .iter()
        .any(|r| matches!(r.event, AuditEvent::Reissued { .. })));
}

#[test]
fn same_transaction_id_with_another_key_is_refused() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let first = TestClient::new(rsa_key(0), "tx-owner").challenge(STATIC);
    assert_eq!(
        exchange(&e, &first).0.attributes.pki_status,
        Some(PkiStatus::Success)
    );
    let mut thief = TestClient::new(rsa_key(1), "tx-thief").challenge(STATIC);
    thief.transaction_id = first.transaction_id.clone();
    assert_failure(
        &exchange(&e, &thief).0,
        FailInfo::BadRequest,
        "different key",
    );
    assert_eq!(store.certs().unwrap().len(), 1);
}

#[test]
fn same_key_with_a_new_csr_is_a_new_transaction() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let mut c = TestClient::new(rsa_key(2), "renamed-1").challenge(STATIC);
    let a = exchange(&e, &c).0;
    c.subject = "CN=renamed-2".into();
    let b = exchange(&e, &c).0;
    assert_eq!(b.attributes.pki_status, Some(PkiStatus::Success));
    assert_ne!(
        a.certificates[0].serial_number().to_bn().unwrap(),
        b.certificates[0].serial_number().to_bn().unwrap()
    );
    assert_eq!(store.certs().unwrap().len(), 2);
}

#[test]
fn refuses_non_rsa_signer_with_bad_alg() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let ec = openssl::ec::EcKey::generate(
        &openssl::ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap(),
    )
    .unwrap();
    let key = openssl::pkey::PKey::from_ec_key(ec).unwrap();
    let c = TestClient::new(key, "ec-device").challenge(STATIC);
    let (msg, _) = c.pkcs_req(&ca_x509());
    let reply = e.pki_operation(&msg, "t", now()).unwrap();
    assert_eq!(reply.status, PkiStatus::Failure);
    assert_eq!(reply.fail_info, Some(FailInfo::BadAlg));
    assert!(store.certs().unwrap().is_empty());
}

#[test]
fn issues_ec_p256_csr_with_digital_signature_only() {
    let (e, _) = enroller(enroll_config(Some(STATIC)));
    let ec = openssl::ec::EcKey::generate(
        &openssl::ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap(),
    )
    .unwrap();
    let mut c = TestClient::new(rsa_key(3), "ec-csr").challenge(STATIC);
    c.csr_key = Some(openssl::pkey::PKey::from_ec_key(ec).unwrap());
    let (o, _, _) = exchange(&e, &c);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    let text = String::from_utf8(o.certificates[0].to_text().unwrap()).unwrap();
    // RFC 8813 §3: no keyEncipherment for an EC key.
    assert!(text.contains("Digital Signature\n"), "{text}");
    assert!(!text.contains("Key Encipherment"), "{text}");
}

#[test]
fn tampered_signature_gets_bad_message_check() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let c = TestClient::new(rsa_key(4), "tampered").challenge(STATIC);
    let (mut msg, _) = c.pkcs_req(&ca_x509());
    // The RSA signature is the last 256 bytes of the message (no unsigned attributes).
    let n = msg.len();
    msg[n - 10] ^= 0x01;
    let reply = e.pki_operation(&msg, "t", now()).unwrap();
    assert_eq!(reply.status, PkiStatus::Failure);
    assert_eq!(reply.fail_info, Some(FailInfo::BadMessageCheck));
    let o = builder::open_cert_rep(&reply.body, &c.signer, &c.key).unwrap();
    assert_eq!(o.attributes.transaction_id, c.transaction_id);
    assert!(store.certs().unwrap().is_empty());
}

#[test]
fn garbage_and_truncated_messages_are_decode_errors() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let c = TestClient::new(rsa_key(5), "trunc").challenge(STATIC);
    let (msg, _) = c.pkcs_req(&ca_x509());
    for bad in [
        b"garbage".to_vec(),
        Vec::new(),
        msg[..msg.len() / 2].to_vec(),
        vec![0x30, 0x80],
        vec![0x30; 4096],
    ] {
        match e.pki_operation(&bad, "t", now()) {
            Err(Error::Decode(_)) => {}
            other => panic!("expected a decode error, got {other:?}"),
        }
    }
    assert!(store.certs().unwrap().is_empty());
}

#[test]
fn bad_key_unwrap_and_garbage_content_fail_identically() {
    // No padding oracle: an envelope whose key the CA cannot unwrap and one that unwraps to a
    // key decrypting to garbage must produce the same error text.
    let (e, _) = enroller(enroll_config(Some(STATIC)));
    let c = TestClient::new(rsa_key(6), "oracle").challenge(STATIC);
    let ca = ca_x509();
    let ca_cert = x509_cert_of(&ca);
    let nonce = Nonce::random().unwrap();

    let garbage_content = envelope::encrypt(
        b"this is not a CSR",
        &ca_cert,
        &ca.public_key().unwrap(),
        ContentCipher::Aes256Cbc,
        &KeyTransport::pkcs1(),
    )
    .unwrap();
    let other_key = rsa_key(7);
    let other_pub =
        openssl::pkey::PKey::public_key_from_der(&other_key.public_key_to_der().unwrap()).unwrap();
    let bad_unwrap = envelope::encrypt(
        &c.csr(),
        &ca_cert,
        &other_pub,
        ContentCipher::Aes256Cbc,
        &KeyTransport::pkcs1(),
    )
    .unwrap();

    let csr = c.csr();
    let p = c.params(&ca, &csr, &nonce);
    let mut texts = Vec::new();
    for env in [garbage_content, bad_unwrap] {
        let msg = builder::signed_request(&p, &env).unwrap();
        match e.pki_operation(&msg, "t", now()) {
            Err(Error::Decode(d)) => {
                assert!(matches!(d, DecodeError::Decrypt), "{d:?}");
                texts.push(d.to_string());
            }
            other => panic!("expected a decrypt error, got {other:?}"),
        }
    }
    assert_eq!(texts[0], texts[1]);
}

fn x509_cert_of(x: &X509) -> x509_cert::Certificate {
    use der::Decode;
    x509_cert::Certificate::from_der(&x.to_der().unwrap()).unwrap()
}

#[test]
fn unsupported_message_types_get_bad_request() {
    let (e, _) = enroller(enroll_config(Some(STATIC)));
    let c = TestClient::new(rsa_key(0), "poller").challenge(STATIC);
    let csr = c.csr();
    let ca = ca_x509();
    for t in [
        MessageType::UpdateReq,
        MessageType::Unknown(99),
        MessageType::CertRep,
    ] {
        let nonce = Nonce::random().unwrap();
        let mut p = c.params(&ca, &csr, &nonce);
        p.message_type = t;
        let msg = builder::request(&p).unwrap();
        let reply = e.pki_operation(&msg, "t", now()).unwrap();
        assert_eq!(reply.fail_info, Some(FailInfo::BadRequest), "{t}");
    }
}

#[test]
fn huge_sets_are_refused_before_any_sorting() {
    // 8,000 reverse-ordered digestAlgorithms: `der` would insertion-sort them (quadratic).
    let (e, _) = enroller(enroll_config(Some(STATIC)));
    let mut algs = Vec::new();
    for i in (0..8000u32).rev() {
        let oid = [
            0x06,
            0x04,
            0x2a,
            0x03,
            (i >> 7) as u8 | 0x80,
            (i & 0x7f) as u8,
        ];
        algs.extend([0x30, oid.len() as u8]);
        algs.extend(oid);
    }
    let tlv = |tag: u8, body: &[u8]| {
        let mut v = vec![tag, 0x83];
        v.extend(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend(body);
        v
    };
    let sd = tlv(0x30, &[vec![0x02, 0x01, 0x01], tlv(0x31, &algs)].concat());
    let ci = tlv(
        0x30,
        &[
            vec![
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
            ],
            tlv(0xa0, &sd),
        ]
        .concat(),
    );
    match e.pki_operation(&ci, "t", now()) {
        Err(Error::Decode(d)) => assert!(d.to_string().contains("too many elements"), "{d}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn every_common_name_must_be_allowed_by_a_constrained_challenge() {
    let (e, store) = enroller(enroll_config(None));
    let constraints = Constraints {
        common_name: Some("a.example".into()),
        dns_names: vec![],
        emails: vec![],
        manual_approval: false,
    };
    let ch = create_challenge(store.as_ref(), constraints, 3600, now());
    let mut c = TestClient::new(rsa_key(1), "unused").challenge(&ch);
    c.subject = "CN=evil.example,CN=a.example".into();
    assert_failure(&exchange(&e, &c).0, FailInfo::BadRequest, "evil.example");
    assert!(store.certs().unwrap().is_empty());
}

#[test]
fn refuses_rsa_keys_with_a_small_public_exponent() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let e3 = openssl::rsa::Rsa::generate_with_e(2048, &openssl::bn::BigNum::from_u32(3).unwrap())
        .unwrap();
    let mut c = TestClient::new(rsa_key(2), "e3").challenge(STATIC);
    c.csr_key = Some(openssl::pkey::PKey::from_rsa(e3).unwrap());
    assert_failure(&exchange(&e, &c).0, FailInfo::BadRequest, "exponent");
    assert!(store.certs().unwrap().is_empty());
}

#[test]
fn refuses_weak_signer_keys_with_bad_alg() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let weak = builder::rsa_key(1024).unwrap();
    let mut c = TestClient::new(weak, "weak-signer").challenge(STATIC);
    c.csr_key = Some(rsa_key(3));
    let (msg, _) = c.pkcs_req(&ca_x509());
    let reply = e.pki_operation(&msg, "t", now()).unwrap();
    assert_eq!(reply.fail_info, Some(FailInfo::BadAlg));
    assert!(store.certs().unwrap().is_empty());
}

#[test]
fn concurrent_copies_of_one_request_issue_one_certificate() {
    let (e, store) = enroller(enroll_config(Some(STATIC)));
    let e = std::sync::Arc::new(e);
    let c = TestClient::new(rsa_key(4), "storm").challenge(STATIC);
    let (msg, _) = c.pkcs_req(&ca_x509());
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let (e, msg) = (e.clone(), msg.clone());
            std::thread::spawn(move || e.pki_operation(&msg, "t", now()).unwrap())
        })
        .collect();
    let replies: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(replies.iter().all(|r| r.status == PkiStatus::Success));
    let serials: std::collections::BTreeSet<_> =
        replies.iter().map(|r| r.serial.clone().unwrap()).collect();
    assert_eq!(serials.len(), 1, "one transaction, one certificate");
    assert_eq!(store.certs().unwrap().len(), 1);
}
