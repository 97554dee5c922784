//! Interop with certmonger's scep-submit 0.79 (Debian package `certmonger`), run stand-alone:
//! GetCACaps and GetCACert with `message=0/1`, and PKIOperation by GET with standard base64.

use base64::Engine;
use certdrop::scep::{ContentCipher, Digest};

use crate::support::{assert_openssl_verifies, openssl, rsa_key, run, tool, Server, TestClient};

const SCEP_SUBMIT: &str = "/usr/lib/certmonger/scep-submit";

#[test]
fn scep_submit_reads_caps_and_ca_certificate() {
    let Some(submit) = tool(SCEP_SUBMIT, "certmonger") else {
        return;
    };
    let s = Server::start(&["--challenge", "x"]);
    let dir = tempfile::tempdir().unwrap();
    let caps = run(&submit, &["-u", &s.url(), "-c"], dir.path());
    assert_eq!(caps.status.code(), Some(0), "{caps:?}");
    let text = String::from_utf8(caps.stdout).unwrap();
    for cap in ["POSTPKIOperation", "SHA-256", "AES", "SCEPStandard"] {
        assert!(text.lines().any(|l| l == cap), "{cap} missing in {text}");
    }
    let certs = run(&submit, &["-u", &s.url(), "-C"], dir.path());
    assert_eq!(certs.status.code(), Some(0), "{certs:?}");
    let printed = openssl::x509::X509::from_pem(&certs.stdout).unwrap();
    assert_eq!(printed.to_der().unwrap(), s.ca().to_der().unwrap());
    let log = s.log_text();
    assert!(
        log.contains("GET /scep?operation=GetCACert&message=0") || log.contains("\"GET /scep\"")
    );
}

/// Build a PKCSReq with the crate's builder, hand it to scep-submit (which sends it by GET
/// with standard base64), and open the envelope it prints with `openssl cms -decrypt`.
#[test]
fn scep_submit_enrolls_a_request_built_by_the_test() {
    let Some(submit) = tool(SCEP_SUBMIT, "certmonger") else {
        return;
    };
    let s = Server::start(&["--challenge", "x"]);
    let challenge = s.challenge();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca_pem = s.ca_pem_file();

    let mut c = TestClient::new(rsa_key(5), "certmonger-host").challenge(&challenge);
    c.cipher = ContentCipher::Aes256Cbc;
    c.digest = Digest::Sha256;
    let (msg, _) = c.pkcs_req(&s.ca());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&msg);
    std::fs::write(d.join("req.b64"), b64).unwrap();
    std::fs::write(d.join("signer.pem"), c.signer.to_pem().unwrap()).unwrap();
    std::fs::write(d.join("key.pem"), c.key.private_key_to_pem_pkcs8().unwrap()).unwrap();

    let out = run(
        &submit,
        &[
            "-u",
            &s.url(),
            // -r names the signer of replies (an RA, or the CA itself); -N the CA that is
            // trusted for it. Without -N, scep-submit has no trust anchor and fails with
            // "certificate verify error" (the daemon normally supplies it).
            "-r",
            ca_pem.to_str().unwrap(),
            "-N",
            ca_pem.to_str().unwrap(),
            "-p",
            "req.b64",
        ],
        d,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(d.join("envelope.pem"), &out.stdout).unwrap();
    assert!(
        s.log_text().contains("GET /scep"),
        "scep-submit should use GET"
    );

    let dec = openssl(
        &[
            "cms",
            "-decrypt",
            "-inform",
            "PEM",
            "-in",
            "envelope.pem",
            "-inkey",
            "key.pem",
            "-recip",
            "signer.pem",
            "-binary",
            "-out",
            "certs.p7",
        ],
        d,
    );
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    let p7 = openssl(
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "certs.p7",
            "-print_certs",
            "-out",
            "leaf.pem",
        ],
        d,
    );
    assert!(
        p7.status.success(),
        "{}",
        String::from_utf8_lossy(&p7.stderr)
    );
    let leaf = std::fs::read_to_string(d.join("leaf.pem")).unwrap();
    assert_eq!(
        leaf.matches("BEGIN CERTIFICATE").count(),
        1,
        "only the issued certificate"
    );
    assert_openssl_verifies(&ca_pem, &d.join("leaf.pem"));
    let subject = openssl(&["x509", "-in", "leaf.pem", "-noout", "-subject"], d);
    assert!(String::from_utf8_lossy(&subject.stdout).contains("CN = certmonger-host"));
    let leaf_pub = openssl(&["x509", "-in", "leaf.pem", "-noout", "-pubkey"], d);
    let key_pub = openssl(&["pkey", "-in", "key.pem", "-pubout"], d);
    assert_eq!(
        leaf_pub.stdout, key_pub.stdout,
        "the certificate carries the client's key"
    );
}

#[test]
fn scep_submit_reports_a_rejection_for_a_wrong_challenge() {
    let Some(submit) = tool(SCEP_SUBMIT, "certmonger") else {
        return;
    };
    let s = Server::start(&["--challenge", "right"]);
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = s.ca_pem_file();
    let c = TestClient::new(rsa_key(6), "rejected").challenge("wrong");
    let (msg, _) = c.pkcs_req(&s.ca());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&msg);
    std::fs::write(dir.path().join("req.b64"), b64).unwrap();
    let out = run(
        &submit,
        &[
            "-u",
            &s.url(),
            // -r names the signer of replies (an RA, or the CA itself); -N the CA that is
            // trusted for it. Without -N, scep-submit has no trust anchor and fails with
            // "certificate verify error" (the daemon normally supplies it).
            "-r",
            ca_pem.to_str().unwrap(),
            "-N",
            ca_pem.to_str().unwrap(),
            "-p",
            "req.b64",
        ],
        dir.path(),
    );
    // Exit status 2: "the CA rejected the request" (certmonger-scep-submit(8)).
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
