//! Manual approval with polling (RFC 8894 §3.3.3) on the real binary: PKCSReq -> PENDING ->
//! `certdrop request approve` -> CertPoll -> SUCCESS; the reject and expiry paths; an
//! unknown transaction; a one-time challenge that asks for approval.

use certdrop::scep::builder::{self, OpenedCertRep};
use certdrop::scep::{FailInfo, MessageType, Nonce, PkiStatus};
use der::{Decode, Encode};
use openssl::x509::X509;

use crate::support::{rsa_key, Server, TestClient};

use crate::support::text;

fn post(s: &Server, c: &TestClient, msg: &[u8]) -> OpenedCertRep {
    let r = s.post("/scep?operation=PKIOperation", msg, None);
    assert_eq!(r.status, 200, "{}", r.text());
    builder::open_cert_rep(&r.body, &c.signer, &c.key).unwrap()
}

/// CertPoll's messageData: IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }.
fn cert_poll(s: &Server, c: &TestClient) -> OpenedCertRep {
    let ca = s.ca();
    let ca_cert = x509_cert::Certificate::from_der(&ca.to_der().unwrap()).unwrap();
    let subject: x509_cert::name::Name = c.subject.parse().unwrap();
    let body = [
        ca_cert.tbs_certificate.subject.to_der().unwrap(),
        subject.to_der().unwrap(),
    ]
    .concat();
    let mut data = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
    data.extend(body);
    let nonce = Nonce::random().unwrap();
    let mut p = c.params(&ca, &data, &nonce);
    p.message_type = MessageType::CertPoll;
    post(s, c, &builder::request(&p).unwrap())
}

fn requests(s: &Server) -> serde_json::Value {
    let o = s.cli(&["request", "list", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn pending_request_is_approved_from_the_cli_and_collected_by_polling() {
    let s = Server::start(&["--challenge", "s3cret", "--approval", "manual"]);
    let c = TestClient::new(rsa_key(0), "needs-approval").challenge("s3cret");
    let (msg, _) = c.pkcs_req(&s.ca());
    let o = post(&s, &c, &msg);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Pending));
    assert!(o.certificates.is_empty());
    assert_eq!(o.attributes.transaction_id, c.transaction_id);

    let list = requests(&s);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["state"]["state"], "pending");
    let show = s.cli(&["request", "show", &id]);
    let shown = text(&show);
    assert!(
        shown.contains("CN=needs-approval") && shown.contains("RSA-2048"),
        "{shown}"
    );
    assert!(shown.contains("challenge:      static"), "{shown}");

    // Still pending when polled; nothing issued yet.
    assert_eq!(
        cert_poll(&s, &c).attributes.pki_status,
        Some(PkiStatus::Pending)
    );
    let certs = s.cli(&["cert", "list", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&certs.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let approve = s.cli(&["request", "approve", &id]);
    assert!(approve.status.success(), "{}", text(&approve));
    let o = cert_poll(&s, &c);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    assert_eq!(o.certificates.len(), 1);
    let cert: &X509 = &o.certificates[0];
    assert!(cert.verify(&s.ca().public_key().unwrap()).unwrap());
    assert!(cert.public_key().unwrap().public_eq(&c.key));
    // A repeated PKCSReq with the same transactionID resumes it: the same certificate.
    let again = post(&s, &c, &c.pkcs_req(&s.ca()).0);
    assert_eq!(again.attributes.pki_status, Some(PkiStatus::Success));
    assert_eq!(
        again.certificates[0].to_der().unwrap(),
        cert.to_der().unwrap()
    );
    assert_eq!(requests(&s)[0]["state"]["state"], "approved");
    let twice = s.cli(&["request", "approve", &id]);
    assert_eq!(twice.status.code(), Some(1), "{}", text(&twice));
}

#[test]
fn rejected_and_unknown_requests_get_failures() {
    let s = Server::start(&["--challenge", "s3cret", "--approval", "manual"]);
    let c = TestClient::new(rsa_key(1), "to-be-rejected").challenge("s3cret");
    let (msg, _) = c.pkcs_req(&s.ca());
    assert_eq!(
        post(&s, &c, &msg).attributes.pki_status,
        Some(PkiStatus::Pending)
    );
    let id = requests(&s)[0]["id"].as_str().unwrap().to_owned();
    let reject = s.cli(&[
        "request",
        "reject",
        &id,
        "--reason",
        "not one of our devices",
    ]);
    assert!(reject.status.success(), "{}", text(&reject));
    let o = cert_poll(&s, &c);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Failure));
    assert_eq!(o.attributes.fail_info, Some(FailInfo::BadRequest));
    assert!(o
        .attributes
        .fail_info_text
        .unwrap()
        .contains("not one of our devices"));

    let stranger = TestClient::new(rsa_key(2), "never-asked");
    let o = cert_poll(&s, &stranger);
    assert_eq!(o.attributes.fail_info, Some(FailInfo::BadCertId));
    let audit = s.cli(&["audit", "--json"]);
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["event"]["event"] == "request_rejected"));
}

#[test]
fn pending_requests_expire() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("certdrop.toml"),
        "pending_ttl = \"1s\"\napproval = \"manual\"\n",
    )
    .unwrap();
    let s = Server::start_in(dir, &["--challenge", "s3cret"], &[]);
    let c = TestClient::new(rsa_key(3), "too-slow").challenge("s3cret");
    let (msg, _) = c.pkcs_req(&s.ca());
    assert_eq!(
        post(&s, &c, &msg).attributes.pki_status,
        Some(PkiStatus::Pending)
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let o = cert_poll(&s, &c);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Failure));
    assert!(o.attributes.fail_info_text.unwrap().contains("expired"));
    let id = requests(&s)[0]["id"].as_str().unwrap().to_owned();
    let late = s.cli(&["request", "approve", &id]);
    assert_eq!(late.status.code(), Some(1));
    assert!(text(&late).contains("expired"), "{}", text(&late));
}

#[test]
fn a_one_time_challenge_can_ask_for_approval_and_is_consumed_by_its_request() {
    let s = Server::start(&["--challenge", "s3cret"]);
    let out = s.cli(&["challenge", "create", "--approval", "manual"]);
    let ch = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let c = TestClient::new(rsa_key(4), "approve-me").challenge(&ch);
    let (msg, _) = c.pkcs_req(&s.ca());
    assert_eq!(
        post(&s, &c, &msg).attributes.pki_status,
        Some(PkiStatus::Pending)
    );
    // The challenge opened that request; it cannot open a second one.
    let other = TestClient::new(rsa_key(5), "approve-me-too").challenge(&ch);
    let o = post(&s, &other, &other.pkcs_req(&s.ca()).0);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Failure));
    assert!(o
        .attributes
        .fail_info_text
        .unwrap()
        .contains("already been used"));
    // The static challenge on this auto-approving server still issues at once.
    let auto = TestClient::new(rsa_key(6), "auto").challenge("s3cret");
    let o = post(&s, &auto, &auto.pkcs_req(&s.ca()).0);
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
}
