//! Renewal (RFC 8894 §3.3.1.2), GetCert (§3.3.4) and GetCRL (§3.3.5) on `Enroller`.

use std::sync::Arc;

use certdrop::ca::crl::RevocationReason;
use certdrop::enroll::Enroller;
use certdrop::revocation::{self, Revocation};
use certdrop::scep::builder::{self, OpenedCertRep};
use certdrop::scep::{FailInfo, MessageType, Nonce, PkiStatus};
use certdrop::store::memory::MemoryStore;
use certdrop::store::Store;
use der::Encode;
use openssl::x509::X509;
use time::OffsetDateTime;

use crate::support::{self, enroll_config, rsa_key, TestClient};

const STATIC: &str = "static-secret-1";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_x509() -> X509 {
    support::test_ca().certificate.x509.clone()
}

struct Setup {
    e: Enroller,
    store: Arc<MemoryStore>,
    revocation: Arc<Revocation>,
}

fn setup(config: certdrop::enroll::EnrollConfig) -> Setup {
    let store = Arc::new(MemoryStore::default());
    let revocation = Arc::new(Revocation::new(
        support::test_ca(),
        store.clone(),
        std::time::Duration::from_secs(86_400),
    ));
    revocation.publish(now()).unwrap();
    let e = Enroller::new(support::test_ca(), store.clone(), config)
        .with_revocation(revocation.clone());
    Setup {
        e,
        store,
        revocation,
    }
}

/// Enroll with a challenge; return the client whose signer is now the issued certificate.
fn enrolled(s: &Setup, key: usize, cn: &str) -> TestClient {
    let c = TestClient::new(rsa_key(key), cn).challenge(STATIC);
    let (msg, _) = c.pkcs_req(&ca_x509());
    let reply = s.e.pki_operation(&msg, "t", now()).unwrap();
    let o = builder::open_cert_rep(&reply.body, &c.signer, &c.key).unwrap();
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    let mut renewing = TestClient::new(rsa_key(key), cn);
    renewing.signer = o.certificates[0].clone();
    renewing
}

fn send(s: &Setup, c: &TestClient, t: MessageType, data: &[u8]) -> OpenedCertRep {
    let nonce = Nonce::random().unwrap();
    let ca = ca_x509();
    let mut p = c.params(&ca, data, &nonce);
    p.message_type = t;
    let msg = builder::request(&p).unwrap();
    let reply = s.e.pki_operation(&msg, "t", now()).unwrap();
    builder::open_cert_rep(&reply.body, &c.signer, &c.key).unwrap()
}

fn serial_of(x: &X509) -> Vec<u8> {
    x.serial_number().to_bn().unwrap().to_vec()
}

#[test]
fn renewal_req_signed_by_our_certificate_needs_no_challenge() {
    let s = setup(enroll_config(Some(STATIC)));
    let mut c = enrolled(&s, 0, "renew-me");
    let old_serial = serial_of(&c.signer);
    // A new key for the new certificate, and no challenge at all.
    c.csr_key = Some(rsa_key(1));
    c.transaction_id = builder::transaction_id_for(&rsa_key(1)).unwrap();
    let o = send(&s, &c, MessageType::RenewalReq, &c.csr());
    assert_eq!(
        o.attributes.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        o.attributes
    );
    let new = &o.certificates[0];
    assert_ne!(serial_of(new), old_serial, "a renewal issues a new serial");
    assert!(new.public_key().unwrap().public_eq(&rsa_key(1)));
    assert!(new.verify(&ca_x509().public_key().unwrap()).unwrap());
    assert_eq!(s.store.certs().unwrap().len(), 2);
    // A PKCSReq signed by our certificate is a renewal too (Cisco, sscep, jscep).
    c.transaction_id = builder::transaction_id_for(&rsa_key(2)).unwrap();
    c.csr_key = Some(rsa_key(2));
    let o = send(&s, &c, MessageType::PkcsReq, &c.csr());
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    let records = s.store.certs().unwrap();
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .any(|r| r.challenge.starts_with("renewal of ")));
}

fn assert_failure(o: &OpenedCertRep, want: FailInfo, text: &str) {
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Failure));
    assert_eq!(
        o.attributes.fail_info,
        Some(want),
        "{:?}",
        o.attributes.fail_info_text
    );
    let got = o.attributes.fail_info_text.clone().unwrap_or_default();
    assert!(got.contains(text), "{got:?} lacks {text:?}");
}

#[test]
fn renewal_refuses_self_signed_foreign_revoked_and_changed_subjects() {
    let s = setup(enroll_config(Some(STATIC)));
    // Self-signed signer on a RenewalReq.
    let c = TestClient::new(rsa_key(3), "self-signed").challenge(STATIC);
    assert_failure(
        &send(&s, &c, MessageType::RenewalReq, &c.csr()),
        FailInfo::BadRequest,
        "self-signed",
    );

    // A certificate from another CA.
    let other = certdrop::ca::Ca::create(
        &certdrop::ca::CaParams {
            subject: "CN=someone else's CA".into(),
            key_bits: 2048,
            validity_days: 10,
        },
        now(),
    )
    .unwrap();
    let csr = certdrop::scep::csr::CertificationRequest::parse(&c.csr()).unwrap();
    let foreign = other
        .issue(
            &csr,
            &certdrop::ca::Serial::random().unwrap(),
            &Default::default(),
            now(),
        )
        .unwrap();
    let mut f = TestClient::new(rsa_key(3), "self-signed");
    f.signer = foreign;
    assert_failure(
        &send(&s, &f, MessageType::RenewalReq, &f.csr()),
        FailInfo::BadRequest,
        "another CA",
    );

    // Revoked signer.
    let mut r = enrolled(&s, 4, "revoked-device");
    let serial = certdrop::ca::Serial::from_bytes(&serial_of(&r.signer)).unwrap();
    revocation::revoke(
        s.store.as_ref(),
        &serial,
        RevocationReason::KeyCompromise,
        None,
        "cli:t",
        now(),
    )
    .unwrap();
    r.transaction_id = builder::transaction_id_for(&rsa_key(5)).unwrap();
    assert_failure(
        &send(&s, &r, MessageType::RenewalReq, &r.csr()),
        FailInfo::BadCertId,
        "revoked",
    );

    // Another subject.
    let mut m = enrolled(&s, 6, "my-name");
    m.subject = "CN=someone-else,O=certdrop tests".into();
    m.transaction_id = builder::transaction_id_for(&rsa_key(7)).unwrap();
    assert_failure(
        &send(&s, &m, MessageType::RenewalReq, &m.csr()),
        FailInfo::BadRequest,
        "subject",
    );
}

#[test]
fn renewal_refuses_expired_signers_and_honours_the_window() {
    // Certificates valid for 2 seconds expire before the renewal arrives.
    let mut config = enroll_config(Some(STATIC));
    config.issue.validity = std::time::Duration::from_secs(2);
    let s = setup(config);
    let mut c = enrolled(&s, 0, "short-lived");
    c.transaction_id = builder::transaction_id_for(&rsa_key(1)).unwrap();
    let nonce = Nonce::random().unwrap();
    let ca = ca_x509();
    let csr = c.csr();
    let mut p = c.params(&ca, &csr, &nonce);
    p.message_type = MessageType::RenewalReq;
    let msg = builder::request(&p).unwrap();
    let later = now() + time::Duration::seconds(10);
    let reply = s.e.pki_operation(&msg, "t", later).unwrap();
    let o = builder::open_cert_rep(&reply.body, &c.signer, &c.key).unwrap();
    assert_failure(&o, FailInfo::BadCertId, "expired");

    // renewal_window = 30d with a fresh one-year certificate: too early.
    let mut config = enroll_config(Some(STATIC));
    config.renewal_window = Some(std::time::Duration::from_secs(30 * 86_400));
    let s = setup(config);
    let mut c = enrolled(&s, 2, "too-early");
    c.transaction_id = builder::transaction_id_for(&rsa_key(3)).unwrap();
    assert_failure(
        &send(&s, &c, MessageType::RenewalReq, &c.csr()),
        FailInfo::BadRequest,
        "renewal opens",
    );
}

fn issuer_and_serial(issuer: &X509, serial: &[u8]) -> Vec<u8> {
    use der::Decode;
    let ca = x509_cert::Certificate::from_der(&issuer.to_der().unwrap()).unwrap();
    cms::cert::IssuerAndSerialNumber {
        issuer: ca.tbs_certificate.subject,
        serial_number: x509_cert::serial_number::SerialNumber::new(serial).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn get_cert_finds_by_issuer_and_serial() {
    let s = setup(enroll_config(Some(STATIC)));
    let c = enrolled(&s, 0, "findable");
    let serial = serial_of(&c.signer);
    let asker = TestClient::new(rsa_key(1), "asker");
    let o = send(
        &s,
        &asker,
        MessageType::GetCert,
        &issuer_and_serial(&ca_x509(), &serial),
    );
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    assert_eq!(o.certificates.len(), 1);
    assert_eq!(
        o.certificates[0].to_der().unwrap(),
        c.signer.to_der().unwrap()
    );

    let unknown = send(
        &s,
        &asker,
        MessageType::GetCert,
        &issuer_and_serial(&ca_x509(), &[0x42; 16]),
    );
    assert_failure(&unknown, FailInfo::BadCertId, "no certificate");
    let foreign_issuer = builder::self_signed(&rsa_key(2), "not our CA").unwrap();
    let o = send(
        &s,
        &asker,
        MessageType::GetCert,
        &issuer_and_serial(&foreign_issuer, &serial),
    );
    assert_failure(&o, FailInfo::BadCertId, "not this CA");
}

#[test]
fn get_crl_returns_the_current_crl_enveloped() {
    let s = setup(enroll_config(Some(STATIC)));
    let c = enrolled(&s, 3, "crl-asker");
    let serial = serial_of(&c.signer);
    let revoked = enrolled(&s, 4, "revoked-one");
    let rserial = certdrop::ca::Serial::from_bytes(&serial_of(&revoked.signer)).unwrap();
    revocation::revoke(
        s.store.as_ref(),
        &rserial,
        RevocationReason::Superseded,
        None,
        "t",
        now(),
    )
    .unwrap();
    s.revocation.publish(now()).unwrap();

    let nonce = Nonce::random().unwrap();
    let ca = ca_x509();
    let data = issuer_and_serial(&ca, &serial);
    let mut p = c.params(&ca, &data, &nonce);
    p.message_type = MessageType::GetCrl;
    let msg = builder::request(&p).unwrap();
    let reply = s.e.pki_operation(&msg, "t", now()).unwrap();
    assert_eq!(reply.status, PkiStatus::Success);
    // Open the envelope by hand: a CRL, not a certificate.
    let m = certdrop::scep::PkiMessage::decode(&reply.body)
        .unwrap()
        .verify()
        .unwrap();
    let env = certdrop::scep::envelope::inspect(m.content.as_deref().unwrap()).unwrap();
    let inner = certdrop::scep::envelope::decrypt(&env.der, &c.key, &c.signer).unwrap();
    let p7 = openssl::pkcs7::Pkcs7::from_der(&inner).unwrap();
    let crl_der = {
        use der::Decode;
        let ci = cms::content_info::ContentInfo::from_der(&inner).unwrap();
        let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
        let crls = sd.crls.unwrap().0.into_vec();
        assert_eq!(crls.len(), 1);
        match &crls[0] {
            cms::revocation::RevocationInfoChoice::Crl(c) => c.to_der().unwrap(),
            other => panic!("{other:?}"),
        }
    };
    drop(p7);
    let crl = openssl::x509::X509Crl::from_der(&crl_der).unwrap();
    assert!(
        crl.verify(&ca.public_key().unwrap()).unwrap(),
        "the CRL verifies against the CA"
    );
    assert_eq!(crl.get_revoked().map(|r| r.len()), Some(1));
    assert_eq!(
        crl_der,
        s.revocation.current().unwrap().der.as_ref().clone()
    );
}
