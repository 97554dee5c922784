//! Interop with micromdm's scepclient 2.1 (Debian package `scep`): POST, SHA-1, single DES.

use std::path::Path;

use crate::support::{assert_openssl_verifies, openssl, run, tool, Server};

fn genrsa(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("k.pem");
    let out = openssl(
        &[
            "genrsa",
            "-traditional",
            "-out",
            key.to_str().unwrap(),
            "2048",
        ],
        dir,
    );
    assert!(out.status.success());
    key
}

/// Run scepclient in a fresh directory (it reuses csr.pem/self.pem next to the key).
fn enroll(s: &Server, challenge: &str, cn: &str) -> (std::process::Output, tempfile::TempDir) {
    let scepclient = tool("scepclient", "scep").expect("checked by caller");
    let work = tempfile::tempdir().unwrap();
    let key = genrsa(work.path());
    let out = run(
        &scepclient,
        &[
            "-server-url",
            &s.url(),
            "-challenge",
            challenge,
            "-private-key",
            key.to_str().unwrap(),
            "-cn",
            cn,
            "-organization",
            "certdrop interop",
        ],
        work.path(),
    );
    (out, work)
}

#[test]
fn scepclient_enrolls_with_one_time_and_static_challenges() {
    if tool("scepclient", "scep").is_none() {
        return;
    }
    let s = Server::start(&["--legacy-des", "--challenge", "static-Secret-42"]);
    let ca_pem = s.ca_pem_file();
    for (i, challenge) in [s.challenge(), "static-Secret-42".to_owned()]
        .iter()
        .enumerate()
    {
        let cn = format!("scepclient-{i}");
        let (out, work) = enroll(&s, challenge, &cn);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "scepclient failed: {stderr}");
        assert!(stderr.contains("pkiStatus=SUCCESS"), "{stderr}");
        let leaf = work.path().join("client.pem");
        assert_openssl_verifies(&ca_pem, &leaf);

        // The certificate carries the client's key and the requested subject.
        let cert_pub = openssl(
            &["x509", "-in", "client.pem", "-noout", "-pubkey"],
            work.path(),
        );
        let key_pub = openssl(&["rsa", "-in", "k.pem", "-pubout"], work.path());
        assert_eq!(cert_pub.stdout, key_pub.stdout);
        let subject = openssl(
            &["x509", "-in", "client.pem", "-noout", "-subject"],
            work.path(),
        );
        let subject = String::from_utf8_lossy(&subject.stdout);
        assert!(subject.contains(&format!("CN = {cn}")), "{subject}");
        assert!(subject.contains("O = certdrop interop"), "{subject}");
    }
    let list = s.cli(&["cert", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[test]
fn scepclient_gets_a_failure_for_a_wrong_challenge_and_without_legacy_des() {
    if tool("scepclient", "scep").is_none() {
        return;
    }
    let s = Server::start(&["--legacy-des", "--challenge", "right"]);
    let (out, _w) = enroll(&s, "wrong", "nope");
    assert!(!out.status.success());
    assert!(s.log_text().contains("wrong challenge password"));

    // Without legacy_des the same client is refused with badAlg, and told why.
    let strict = Server::start(&["--challenge", "right"]);
    let (out, _w) = enroll(&strict, "right", "des-client");
    assert!(!out.status.success());
    let log = strict.log_text();
    assert!(log.contains("single DES is refused"), "{log}");
    assert!(log.contains("fail_info=badAlg"), "{log}");
    for srv in [&s, &strict] {
        let list = srv.cli(&["cert", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
        assert!(v.as_array().unwrap().is_empty());
    }
}

#[test]
fn scepclient_renews_with_its_certificate_and_no_challenge() {
    let Some(scepclient) = tool("scepclient", "scep") else {
        return;
    };
    let s = Server::start(&["--legacy-des", "--challenge", "first-time-only"]);
    let ca_pem = s.ca_pem_file();
    let (out, work) = enroll(&s, "first-time-only", "renewing-router");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = std::fs::read(work.path().join("client.pem")).unwrap();
    let first = openssl::x509::X509::from_pem(&first).unwrap();

    // Run again in the same directory: scepclient finds client.pem and sends a RenewalReq
    // signed by it. The challenge it passes is wrong on purpose: a renewal ignores it.
    let out = run(
        &scepclient,
        &[
            "-server-url",
            &s.url(),
            "-challenge",
            "not-the-challenge",
            "-private-key",
            work.path().join("k.pem").to_str().unwrap(),
            "-cn",
            "renewing-router",
            "-organization",
            "certdrop interop",
        ],
        work.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "renewal failed: {stderr}\n{}",
        s.log_text()
    );
    assert!(
        stderr.contains("RenewalReq") || s.log_text().contains("renewal of"),
        "{stderr}"
    );
    let second = std::fs::read(work.path().join("client.pem")).unwrap();
    let second = openssl::x509::X509::from_pem(&second).unwrap();
    assert_ne!(
        first.serial_number().to_bn().unwrap(),
        second.serial_number().to_bn().unwrap(),
        "a renewal is a new certificate"
    );
    assert_openssl_verifies(&ca_pem, &work.path().join("client.pem"));
    let list = s.cli(&["cert", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}
