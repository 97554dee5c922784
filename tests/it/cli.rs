//! First start, the CA files, and the admin CLI online (admin socket) and offline.

use std::os::unix::fs::PermissionsExt;

use crate::support::{cli, openssl, rsa_key, Server, TestClient};

#[test]
fn first_start_creates_a_ca_with_a_0600_key_and_prints_its_fingerprint() {
    let s = Server::start(&["--challenge", "s3cret"]);
    let key = s.data_dir().join("ca.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let sock = s.data_dir().join("admin.sock");
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = openssl(
        &["x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha256"],
        &s.data_dir(),
    );
    let fp = String::from_utf8(out.stdout).unwrap();
    let fp = fp.trim().split('=').nth(1).unwrap().to_owned();
    let log = s.log_text();
    assert!(
        log.contains(&format!("certdrop CA SHA-256 fingerprint: {fp}")),
        "{log}"
    );
    assert!(log.contains(&format!("SCEP URL: http://127.0.0.1:{}/scep", s.port)));
    let show = s.cli(&["ca", "show"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains(&fp));
    // The key file is an unencrypted PKCS#8 RSA-2048 key matching the certificate.
    let check = openssl(&["pkey", "-in", "ca.key", "-noout", "-text"], &s.data_dir());
    assert!(String::from_utf8_lossy(&check.stdout).contains("2048 bit"));
}

#[test]
fn passphrase_encrypts_the_ca_key_and_is_required_to_start() {
    let env = [("CERTDROP_CA_KEY_PASSPHRASE", "correct horse battery")];
    let s = Server::start_with_env(&["--challenge", "x"], &env);
    let fp = s.cli(&["ca", "show"]).stdout;
    let pem = std::fs::read_to_string(s.data_dir().join("ca.key")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    let dir = s.stop();

    // Without the passphrase the server refuses to start, with a clear message.
    let out = std::process::Command::new(crate::support::BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:1"])
        .env_remove("CERTDROP_CA_KEY_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is encrypted"), "{err}");

    // With it, the same CA comes back.
    let s = Server::start_in(dir, &["--challenge", "x"], &env);
    assert_eq!(s.cli(&["ca", "show"]).stdout, fp);
}

#[test]
fn admin_commands_work_through_the_socket_and_offline() {
    let s = Server::start(&["--challenge", "s3cret"]);
    let c = TestClient::new(rsa_key(3), "cli-device").challenge("s3cret");
    let (msg, _) = c.pkcs_req(&s.ca());
    assert_eq!(
        s.post("/scep?operation=PKIOperation", &msg, None).status,
        200
    );

    // Online: the store is locked by the server, so this must go through the socket.
    let list = s.cli(&["cert", "list"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(text.contains("CN=cli-device"), "{text}");
    let serial = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    let pem = s.cli(&["cert", "show", &serial, "--pem"]);
    let cert = openssl::x509::X509::from_pem(&pem.stdout).unwrap();
    assert!(cert.public_key().unwrap().public_eq(&c.key));
    // openssl prints the serial in upper-case hex; lower case with colons is accepted too.
    let colon = serial
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8(p.to_vec()).unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join(":");
    let der = s.cli(&["cert", "show", &colon, "--der"]);
    assert_eq!(der.stdout, cert.to_der().unwrap());
    // The line `openssl x509 -noout -serial` prints is accepted as it is.
    let printed = openssl::bn::BigNum::from_slice(&cert.serial_number().to_bn().unwrap().to_vec())
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string();
    let as_openssl = s.cli(&["cert", "show", &format!("serial={printed}"), "--der"]);
    assert_eq!(as_openssl.stdout, cert.to_der().unwrap());
    let missing = s.cli(&["cert", "show", "01"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no certificate"));

    let many = s.cli(&[
        "challenge",
        "create",
        "--count",
        "3",
        "--ttl",
        "10m",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&many.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);

    // Offline: stop the server and the same commands open the store directly.
    let dir = s.stop();
    let data = dir.path().join("data");
    let offline = cli(&data, &["cert", "list", "--json"]);
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(v[0]["serial"], serde_json::Value::String(serial));
    let ch = cli(&data, &["challenge", "create"]);
    assert!(ch.status.success());
    assert_eq!(String::from_utf8(ch.stdout).unwrap().trim().len(), 32);
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused_clearly() {
    let s = Server::start(&["--challenge", "x", "--legacy-des"]);
    let out = std::process::Command::new(crate::support::BIN)
        .arg("--data-dir")
        .arg(s.data_dir())
        .args(["serve", "--listen", "127.0.0.1:1", "--legacy-des"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another certdrop process"), "{err}");
    assert!(
        !err.contains("legacy_des is on"),
        "nothing else happens first: {err}"
    );
    // The first server is unharmed.
    assert_eq!(s.get("/healthz").status, 200);
}

#[test]
fn bad_arguments_and_config_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("certdrop.toml");
    std::fs::write(&cfg, "listne = \"127.0.0.1:1\"\n").unwrap();
    let out = std::process::Command::new(crate::support::BIN)
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `listne`"));

    let out = cli(
        &dir.path().join("data"),
        &["challenge", "create", "--ttl", "forever"],
    );
    assert_ne!(out.status.code(), Some(0));
    let out = cli(&dir.path().join("data"), &["cert", "show", "not-hex"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a serial"));
    let out = std::process::Command::new(crate::support::BIN)
        .args(["serve", "--ca-key-bits", "1024"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ca_key_bits"));
}
