//! Revocation end to end on the real binary: a certificate enrolled by a real client is
//! revoked from the CLI while the server runs, then seen as revoked by `openssl verify
//! -crl_check` with the CRL from /crl and by `openssl ocsp` against /ocsp. Also: CRL numbers,
//! hold and release, the audit log, and backup/restore while enrollments run.

use std::path::{Path, PathBuf};

use certdrop::scep::builder;
use certdrop::scep::PkiStatus;

use crate::support::{openssl, rsa_key, run, tool, Server, TestClient};

const PUBLIC: &str = "--public-url=http://127.0.0.1:{port}";

use crate::support::text;

/// Enroll through the server with the crate's client; write the leaf as PEM.
fn enroll(s: &Server, key_index: usize, cn: &str, dir: &Path) -> PathBuf {
    let c = TestClient::new(rsa_key(key_index), cn).challenge("s3cret");
    let (m, _) = c.pkcs_req(&s.ca());
    let r = s.post("/scep?operation=PKIOperation", &m, None);
    let o = builder::open_cert_rep(&r.body, &c.signer, &c.key).unwrap();
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
    let path = dir.join(format!("{cn}.pem"));
    std::fs::write(&path, o.certificates[0].to_pem().unwrap()).unwrap();
    path
}

/// Enroll with micromdm's scepclient when it is installed (always on CI).
fn enroll_with_scepclient(s: &Server, cn: &str, dir: &Path) -> Option<PathBuf> {
    let scepclient = tool("scepclient", "scep")?;
    let work = dir.join(cn);
    std::fs::create_dir_all(&work).unwrap();
    let key = work.join("k.pem");
    assert!(openssl(
        &[
            "genrsa",
            "-traditional",
            "-out",
            key.to_str().unwrap(),
            "2048"
        ],
        &work
    )
    .status
    .success());
    let challenge = s.challenge();
    let out = run(
        &scepclient,
        &[
            "-server-url",
            &s.url(),
            "-challenge",
            &challenge,
            "-private-key",
            "k.pem",
            "-cn",
            cn,
        ],
        &work,
    );
    assert!(out.status.success(), "{}", text(&out));
    Some(work.join("client.pem"))
}

fn serial_of(leaf: &Path) -> String {
    let o = openssl(
        &["x509", "-in", leaf.to_str().unwrap(), "-noout", "-serial"],
        Path::new("."),
    );
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// Fetch /crl, check its headers, write it as PEM; return (path, CRL number).
fn fetch_crl(s: &Server, dir: &Path, name: &str) -> (PathBuf, u64) {
    let r = s.get("/crl");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/pkix-crl"));
    assert!(r.header("cache-control").unwrap().contains("max-age"));
    assert!(r.header("expires").is_some() && r.header("last-modified").is_some());
    assert_eq!(s.get("/ca.crl").body, r.body, "/ca.crl serves the same CRL");
    let der = dir.join(format!("{name}.der"));
    std::fs::write(&der, &r.body).unwrap();
    let pem = dir.join(format!("{name}.pem"));
    let o = openssl(
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            der.to_str().unwrap(),
            "-out",
            pem.to_str().unwrap(),
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let n = openssl(
        &["crl", "-in", pem.to_str().unwrap(), "-noout", "-crlnumber"],
        dir,
    );
    let n = String::from_utf8(n.stdout).unwrap();
    let hex = n
        .trim()
        .trim_start_matches("crlNumber=0x")
        .trim_start_matches("crlNumber=");
    (pem, u64::from_str_radix(hex, 16).unwrap())
}

fn ocsp(s: &Server, issuer: &Path, leaf: &Path, ca: &Path) -> std::process::Output {
    openssl(
        &[
            "ocsp",
            "-issuer",
            issuer.to_str().unwrap(),
            "-cert",
            leaf.to_str().unwrap(),
            "-url",
            &format!("http://127.0.0.1:{}/ocsp", s.port),
            "-CAfile",
            ca.to_str().unwrap(),
        ],
        Path::new("."),
    )
}

#[test]
fn revoked_certificate_is_seen_by_crl_check_and_ocsp() {
    let s = Server::start(&["--challenge", "s3cret", "--legacy-des", PUBLIC]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = s.ca_pem_file();

    let lost = enroll_with_scepclient(&s, "lost-phone", d)
        .unwrap_or_else(|| enroll(&s, 0, "lost-phone", d));
    let kept = enroll(&s, 1, "kept-laptop", d);
    let text_of_lost = text(&openssl(
        &["x509", "-in", lost.to_str().unwrap(), "-noout", "-text"],
        d,
    ));
    assert!(
        text_of_lost.contains(&format!("URI:http://127.0.0.1:{}/crl", s.port)),
        "{text_of_lost}"
    );
    assert!(
        text_of_lost.contains(&format!("OCSP - URI:http://127.0.0.1:{}/ocsp", s.port)),
        "{text_of_lost}"
    );

    let (_, n_before) = fetch_crl(&s, d, "crl-0");
    // Revoke with the serial exactly as openssl prints it, while the server runs.
    let serial = serial_of(&lost);
    let out = s.cli(&[
        "cert",
        "revoke",
        &serial,
        "--reason",
        "keyCompromise",
        "--comment",
        "lost in a taxi",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let (crl, n_after) = fetch_crl(&s, d, "crl-1");
    assert!(n_after > n_before, "CRL number {n_after} after {n_before}");
    let crl_text = text(&openssl(
        &["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"],
        d,
    ));
    assert!(crl_text.contains("Key Compromise"), "{crl_text}");

    let verify = |leaf: &Path| {
        openssl(
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                ca.to_str().unwrap(),
                "-CRLfile",
                crl.to_str().unwrap(),
                leaf.to_str().unwrap(),
            ],
            d,
        )
    };
    let v = verify(&lost);
    assert!(!v.status.success());
    assert!(text(&v).contains("certificate revoked"), "{}", text(&v));
    let v = verify(&kept);
    assert!(v.status.success(), "{}", text(&v));

    // OCSP: revoked with its reason, verified; the other one good.
    let o = ocsp(&s, &ca, &lost, &ca);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("Response verify OK"), "{t}");
    assert!(t.contains(&format!("{}: revoked", lost.display())), "{t}");
    assert!(t.contains("Reason: keyCompromise"), "{t}");
    let o = ocsp(&s, &ca, &kept, &ca);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("Response verify OK"),
        "{t}"
    );
    assert!(t.contains(&format!("{}: good", kept.display())), "{t}");

    // A certificate from another CA: unauthorized.
    let foreign_ca = d.join("foreign-ca.pem");
    let foreign_key = d.join("foreign-ca.key");
    assert!(openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=foreign CA",
            "-keyout",
            foreign_key.to_str().unwrap(),
            "-out",
            foreign_ca.to_str().unwrap(),
            "-days",
            "1",
        ],
        d,
    )
    .status
    .success());
    let o = ocsp(&s, &foreign_ca, &foreign_ca, &foreign_ca);
    assert!(text(&o).contains("unauthorized"), "{}", text(&o));

    // Undecodable requests: malformedRequest (OCSPResponse { responseStatus 1 }).
    let r = s.post(
        "/ocsp",
        b"not an OCSP request",
        Some("application/ocsp-request"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
    assert_eq!(r.body, [0x30, 0x03, 0x0a, 0x01, 0x01]);
    assert_eq!(s.get("/ocsp/AAAA").body, [0x30, 0x03, 0x0a, 0x01, 0x01]);

    // Revoking again, or an unknown serial: exit status 1 with a reason.
    let again = s.cli(&["cert", "revoke", &serial, "--reason", "superseded"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).contains("already revoked"), "{}", text(&again));
    let unknown = s.cli(&["cert", "revoke", "0d12345", "--reason", "superseded"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown).contains("no certificate"),
        "{}",
        text(&unknown)
    );
    let bad_reason = s.cli(&["cert", "revoke", &serial, "--reason", "lost"]);
    assert_eq!(bad_reason.status.code(), Some(1));

    // The audit log has the revocation with the admin's words.
    let audit = s.cli(&["audit", "--json", "--since", "1h"]);
    let records: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let revoked = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["event"]["event"] == "revoked")
        .expect("a revoked record");
    assert_eq!(revoked["event"]["reason"], "keyCompromise");
    assert_eq!(revoked["event"]["comment"], "lost in a taxi");
    assert!(revoked["actor"].as_str().unwrap().starts_with("cli:"));

    // cert list filters.
    let listed = |args: &[&str]| -> usize {
        let mut a = vec!["cert", "list", "--json"];
        a.extend_from_slice(args);
        let o = s.cli(&a);
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(listed(&["--status", "revoked"]), 1);
    assert_eq!(listed(&["--status", "valid"]), 1);
    assert_eq!(listed(&["--subject", "KEPT-laptop"]), 1);
    assert_eq!(listed(&["--expiring", "400d"]), 2);
    assert_eq!(listed(&["--expiring", "30d"]), 0);
}

#[test]
fn crl_numbers_grow_across_restarts_and_holds_can_be_released() {
    let s = Server::start(&["--challenge", "s3cret"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let held = enroll(&s, 2, "on-hold", d);
    let serial = serial_of(&held);
    let (_, n0) = fetch_crl(&s, d, "a");

    assert!(s
        .cli(&["cert", "revoke", &serial, "--reason", "certificateHold"])
        .status
        .success());
    let (crl, n1) = fetch_crl(&s, d, "b");
    let listed = text(&openssl(
        &["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"],
        d,
    ));
    let hex = serial.trim_start_matches("serial=");
    assert!(
        listed.contains(hex) && listed.contains("Certificate Hold"),
        "{listed}"
    );

    assert!(s.cli(&["cert", "unhold", &serial]).status.success());
    let (crl, n2) = fetch_crl(&s, d, "c");
    let listed = text(&openssl(
        &["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"],
        d,
    ));
    assert!(
        !listed.contains(hex),
        "released: not on the CRL any more\n{listed}"
    );
    let not_held = s.cli(&["cert", "unhold", &serial]);
    assert_eq!(not_held.status.code(), Some(1));

    // Offline: revoke with the server stopped; the next start publishes it.
    let data = s.data_dir();
    let tmp = s.stop();
    let out = crate::support::cli(
        &data,
        &["cert", "revoke", &serial, "--reason", "superseded"],
    );
    assert!(out.status.success(), "{}", text(&out));
    // crl generate works offline too: it signs with the key in the data directory.
    let offline_crl = d.join("offline.der");
    let out = crate::support::cli(
        &data,
        &["crl", "generate", "--out", offline_crl.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let listed = text(&openssl(
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            offline_crl.to_str().unwrap(),
            "-noout",
            "-text",
        ],
        d,
    ));
    assert!(
        listed.contains(hex) && listed.contains("Superseded"),
        "{listed}"
    );
    let s = Server::start_in(tmp, &["--challenge", "s3cret"], &[]);
    let (crl, n3) = fetch_crl(&s, d, "d");
    assert!(n0 < n1 && n1 < n2 && n2 < n3, "{n0} {n1} {n2} {n3}");
    let listed = text(&openssl(
        &["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"],
        d,
    ));
    assert!(
        listed.contains(hex) && listed.contains("Superseded"),
        "{listed}"
    );

    // crl generate through the running server, in PEM.
    let out_file = d.join("exported.pem");
    let out = s.cli(&[
        "crl",
        "generate",
        "--out",
        out_file.to_str().unwrap(),
        "--pem",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let ca = s.ca_pem_file();
    let v = openssl(
        &[
            "crl",
            "-in",
            out_file.to_str().unwrap(),
            "-CAfile",
            ca.to_str().unwrap(),
            "-noout",
        ],
        d,
    );
    assert!(text(&v).contains("verify OK"), "{}", text(&v));
}

#[test]
fn backup_while_enrolling_restores_the_same_ca_certificates_and_revocations() {
    let s = Server::start(&["--challenge", "s3cret"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let revoked = enroll(&s, 3, "revoked-before-backup", d);
    let serial = serial_of(&revoked);
    assert!(s
        .cli(&["cert", "revoke", &serial, "--reason", "affiliationChanged"])
        .status
        .success());
    let (_, n_before) = fetch_crl(&s, d, "before");

    // Enrollments keep running while the backup is taken.
    let ca = s.ca();
    let port = s.port;
    let enrolling = std::thread::spawn(move || {
        for i in 0..12 {
            let c = TestClient::new(rsa_key(i), &format!("during-{i}")).challenge("s3cret");
            let (m, _) = c.pkcs_req(&ca);
            let r =
                crate::support::http(port, "POST", "/scep?operation=PKIOperation", Some(&m), None);
            assert_eq!(r.status, 200);
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    let backup = d.join("certdrop.backup");
    let out = s.cli(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    enrolling.join().unwrap();
    let in_backup = |stdout: &[u8]| -> Vec<String> {
        serde_json::from_slice::<serde_json::Value>(stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["serial"].as_str().unwrap().to_owned())
            .collect()
    };
    let all_now = in_backup(&s.cli(&["cert", "list", "--json"]).stdout);
    let original_ca = s.get("/scep?operation=GetCACert").body;
    drop(s);

    // Restore refuses a non-empty directory, then works on an empty one.
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("junk"), b"x").unwrap();
    let refused = crate::support::cli(&data, &["restore", backup.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    std::fs::remove_file(data.join("junk")).unwrap();
    let out = crate::support::cli(&data, &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let s = Server::start_in(target, &["--challenge", "s3cret"], &[]);
    assert_eq!(
        s.get("/scep?operation=GetCACert").body,
        original_ca,
        "same CA"
    );
    let restored = in_backup(&s.cli(&["cert", "list", "--json"]).stdout);
    assert!(!restored.is_empty() && restored.len() <= all_now.len());
    assert!(restored.iter().all(|r| all_now.contains(r)));
    let list = s.cli(&["cert", "list", "--json", "--status", "revoked"]);
    assert_eq!(in_backup(&list.stdout).len(), 1, "the revocation came back");
    let (_, n_after) = fetch_crl(&s, d, "after");
    assert!(
        n_after > n_before,
        "CRL number continues: {n_after} after {n_before}"
    );
    // And the restored CA still issues.
    enroll(&s, 5, "after-restore", d);
}
