//! Apple configuration profiles: the signed root profile served at /ca.mobileconfig, and
//! `certdrop profile build` / `inspect`. Checked with openssl cms, Python's plistlib and
//! plistutil; the SCEP payload's URL and challenge enroll the real scepclient exactly once.

use std::path::Path;

use crate::support::{openssl, run, tool, Server};

use crate::support::text;

/// `openssl cms -verify` against the CA; returns the plist bytes it yields.
fn verify(profile: &Path, ca_pem: &Path, dir: &Path) -> Vec<u8> {
    let out = dir.join("verified.plist");
    let o = openssl(
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            profile.to_str().unwrap(),
            "-CAfile",
            ca_pem.to_str().unwrap(),
            "-out",
            out.to_str().unwrap(),
        ],
        dir,
    );
    assert!(
        o.status.success() && text(&o).contains("Verification successful"),
        "{}",
        text(&o)
    );
    std::fs::read(out).unwrap()
}

/// Python's plistlib, the independent parser: the payloads as JSON.
fn plistlib(plist: &Path) -> serde_json::Value {
    let script = r#"
import hashlib, json, plistlib, sys
p = plistlib.load(open(sys.argv[1], 'rb'))
def conv(v):
    if isinstance(v, bytes): return {'bytes': len(v), 'sha256': hashlib.sha256(v).hexdigest()}
    if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}
    if isinstance(v, list): return [conv(x) for x in v]
    return v
print(json.dumps(conv(p)))
"#;
    let o = std::process::Command::new("python3")
        .args(["-c", script, plist.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn plistutil_accepts(plist: &Path, dir: &Path) {
    if let Some(plistutil) = tool("plistutil", "libplist-utils") {
        let out = dir.join("converted.bin");
        let o = run(
            &plistutil,
            &["-i", plist.to_str().unwrap(), "-o", out.to_str().unwrap()],
            dir,
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(std::fs::read(out).unwrap().starts_with(b"bplist00"));
    }
}

#[test]
fn serves_a_signed_root_profile_and_the_ca_in_der_and_pem() {
    let s = Server::start(&["--challenge", "x"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca_pem = s.ca_pem_file();
    let r = s.get("/ca.mobileconfig");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/x-apple-aspen-config")
    );
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"certdrop-ca.mobileconfig\"")
    );
    let profile = d.join("ca.mobileconfig");
    std::fs::write(&profile, &r.body).unwrap();
    let plist = verify(&profile, &ca_pem, d);
    let plist_path = d.join("root.plist");
    std::fs::write(&plist_path, &plist).unwrap();
    let v = plistlib(&plist_path);
    assert_eq!(v["PayloadType"], "Configuration");
    assert_eq!(v["PayloadVersion"], 1);
    assert_eq!(v["PayloadIdentifier"], "local.certdrop.127-0-0-1.root");
    let root = &v["PayloadContent"][0];
    assert_eq!(root["PayloadType"], "com.apple.security.root");
    let ca_der = s.get("/scep?operation=GetCACert").body;
    assert_eq!(
        root["PayloadContent"]["sha256"],
        hex::encode(openssl::sha::sha256(&ca_der))
    );
    plistutil_accepts(&plist_path, d);

    assert_eq!(s.get("/ca.crt").body, ca_der);
    let pem = s.get("/ca.pem");
    assert_eq!(pem.header("content-type"), Some("application/x-pem-file"));
    assert_eq!(
        openssl::x509::X509::from_pem(&pem.body)
            .unwrap()
            .to_der()
            .unwrap(),
        ca_der
    );
}

#[test]
fn built_scep_profile_enrolls_scepclient_once_with_its_own_url_and_challenge() {
    let s = Server::start(&["--legacy-des", "--challenge", "not-in-the-profile"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca_pem = s.ca_pem_file();
    let profile = d.join("iphone.mobileconfig");
    let o = s.cli(&[
        "profile",
        "build",
        "--kind",
        "scep",
        "--subject",
        "CN=iphone-7,O=Example Corp",
        "--out",
        profile.to_str().unwrap(),
        "--public-url",
        &format!("http://127.0.0.1:{}", s.port),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    let plist = verify(&profile, &ca_pem, d);
    let plist_path = d.join("scep.plist");
    std::fs::write(&plist_path, &plist).unwrap();
    plistutil_accepts(&plist_path, d);
    let v = plistlib(&plist_path);
    let scep = v["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.security.scep")
        .expect("a SCEP payload")["PayloadContent"]
        .clone();
    assert_eq!(scep["Keysize"], 2048);
    assert_eq!(scep["Key Type"], "RSA");
    assert_eq!(scep["CAFingerprint"]["bytes"], 20);
    assert_eq!(
        scep["Subject"],
        serde_json::json!([[["O", "Example Corp"]], [["CN", "iphone-7"]]])
    );
    let url = scep["URL"].as_str().unwrap().to_owned();
    let challenge = scep["Challenge"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("http://127.0.0.1:{}/scep", s.port));
    assert_eq!(challenge.len(), 32, "a fresh one-time challenge");

    let inspect = s.cli(&["profile", "inspect", profile.to_str().unwrap()]);
    let shown = text(&inspect);
    assert!(inspect.status.success(), "{shown}");
    assert!(shown.contains("signature:      valid"), "{shown}");
    assert!(
        shown.contains("com.apple.security.scep") && shown.contains("com.apple.security.root"),
        "{shown}"
    );
    assert!(shown.contains("certdrop profile signing"), "{shown}");
    assert!(
        shown.contains("schema:         conforms to Apple's schemas"),
        "{shown}"
    );

    // Enroll with exactly the URL and challenge from the profile: works once.
    let Some(scepclient) = tool("scepclient", "scep") else {
        return;
    };
    let enroll = |name: &str| {
        let work = d.join(name);
        std::fs::create_dir_all(&work).unwrap();
        assert!(
            openssl(&["genrsa", "-traditional", "-out", "k.pem", "2048"], &work)
                .status
                .success()
        );
        run(
            &scepclient,
            &[
                "-server-url",
                &url,
                "-challenge",
                &challenge,
                "-private-key",
                "k.pem",
                "-cn",
                "iphone-7",
            ],
            &work,
        )
    };
    let first = enroll("first");
    assert!(first.status.success(), "{}", text(&first));
    let second = enroll("second");
    assert!(!second.status.success(), "the challenge works once");
    assert!(s.log_text().contains("already been used"));
}

#[test]
fn unsigned_profiles_are_plain_xml_and_inspect_says_so() {
    let s = Server::start(&["--challenge", "x"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("root.mobileconfig");
    let o = s.cli(&[
        "profile",
        "build",
        "--kind",
        "root",
        "--unsigned",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read(&out).unwrap().starts_with(b"<?xml"));
    let inspect = s.cli(&["profile", "inspect", out.to_str().unwrap()]);
    assert!(
        text(&inspect).contains("none (unsigned profile)"),
        "{}",
        text(&inspect)
    );
    // A misspelled key is reported as a schema problem.
    let broken = dir.path().join("broken.mobileconfig");
    let xml = std::fs::read_to_string(&out).unwrap().replace(
        "<key>PayloadDisplayName</key>",
        "<key>PayloadDisplayNom</key>",
    );
    std::fs::write(&broken, xml).unwrap();
    let inspect = s.cli(&["profile", "inspect", broken.to_str().unwrap()]);
    assert!(
        text(&inspect).contains("schema problem:"),
        "{}",
        text(&inspect)
    );
    assert!(
        text(&inspect).contains("PayloadDisplayNom"),
        "{}",
        text(&inspect)
    );
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"\x30\x03\x02\x01\x01").unwrap();
    let bad = s.cli(&["profile", "inspect", garbage.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn wifi_and_vpn_payloads_use_the_scep_identity_and_trust_the_root() {
    let s = Server::start(&["--challenge", "x"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("net.mobileconfig");
    let o = s.cli(&[
        "profile",
        "build",
        "--kind",
        "scep",
        "--subject",
        "CN=laptop-9,O=Example Corp",
        "--wifi",
        "Corp-WiFi",
        "--wifi-server-name",
        "radius.example.com",
        "--vpn-server",
        "vpn.example.com",
        "--vpn-remote-id",
        "vpn.example.com",
        "--unsigned",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    plistutil_accepts(&out, d);
    let v = plistlib(&out);
    let payloads = v["PayloadContent"].as_array().unwrap();
    let find = |t: &str| {
        payloads
            .iter()
            .find(|p| p["PayloadType"] == t)
            .unwrap_or_else(|| panic!("no {t} in {v}"))
            .clone()
    };
    let root = find("com.apple.security.root");
    let scep = find("com.apple.security.scep");
    let wifi = find("com.apple.wifi.managed");
    let vpn = find("com.apple.vpn.managed");
    assert_eq!(wifi["SSID_STR"], "Corp-WiFi");
    assert_eq!(wifi["PayloadCertificateUUID"], scep["PayloadUUID"]);
    assert_eq!(
        wifi["EAPClientConfiguration"]["AcceptEAPTypes"],
        serde_json::json!([13])
    );
    assert_eq!(
        wifi["EAPClientConfiguration"]["TLSTrustedServerNames"],
        serde_json::json!(["radius.example.com"])
    );
    assert_eq!(
        wifi["EAPClientConfiguration"]["PayloadCertificateAnchorUUID"],
        serde_json::json!([root["PayloadUUID"].clone()])
    );
    assert_eq!(vpn["VPNType"], "IKEv2");
    assert_eq!(vpn["IKEv2"]["RemoteAddress"], "vpn.example.com");
    assert_eq!(vpn["IKEv2"]["RemoteIdentifier"], "vpn.example.com");
    assert_eq!(vpn["IKEv2"]["LocalIdentifier"], "laptop-9");
    assert_eq!(vpn["IKEv2"]["AuthenticationMethod"], "Certificate");
    assert_eq!(vpn["IKEv2"]["PayloadCertificateUUID"], scep["PayloadUUID"]);
}

#[test]
fn pkcs12_route_packs_a_server_made_identity_that_ios_can_import() {
    let s = Server::start(&["--challenge", "x"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("printer.mobileconfig");
    let p12 = d.join("printer.p12");
    let o = s.cli(&[
        "profile",
        "build",
        "--kind",
        "pkcs12",
        "--subject",
        "CN=printer-3,O=Example Corp",
        "--p12",
        p12.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    let password = stderr
        .lines()
        .find_map(|l| l.strip_prefix("PKCS#12 password (shown once): "))
        .expect("the password is shown once")
        .trim()
        .to_owned();
    assert_eq!(password.len(), 20);

    // PBE-SHA1-3DES with a SHA-1 MAC, which every iOS version imports.
    let pass = format!("pass:{password}");
    let info = openssl(
        &[
            "pkcs12",
            "-info",
            "-in",
            p12.to_str().unwrap(),
            "-passin",
            &pass,
            "-noout",
        ],
        d,
    );
    let info_text = text(&info);
    assert!(info.status.success(), "{info_text}");
    assert!(
        info_text.contains("pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{info_text}"
    );
    assert!(info_text.contains("MAC: sha1"), "{info_text}");
    let leaf = d.join("leaf.pem");
    let o = openssl(
        &[
            "pkcs12",
            "-in",
            p12.to_str().unwrap(),
            "-passin",
            &pass,
            "-nokeys",
            "-clcerts",
            "-out",
            leaf.to_str().unwrap(),
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    crate::support::assert_openssl_verifies(&s.ca_pem_file(), &leaf);

    let plist = verify(&out, &s.ca_pem_file(), d);
    let plist_path = d.join("p12.plist");
    std::fs::write(&plist_path, &plist).unwrap();
    let v = plistlib(&plist_path);
    let identity = v["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.security.pkcs12")
        .expect("a PKCS#12 payload")
        .clone();
    assert_eq!(
        identity["PayloadContent"]["sha256"],
        hex::encode(openssl::sha::sha256(&std::fs::read(&p12).unwrap()))
    );
    assert!(
        identity.get("Password").is_none(),
        "iOS asks for the password"
    );

    // The certificate is on record; the key is not stored anywhere.
    let list = s.cli(&["cert", "list", "--json", "--subject", "printer-3"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn an_admin_provided_signer_signs_profiles_and_build_works_offline() {
    // A stand-in for a publicly trusted identity: another CA and a signing certificate.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = |o: std::process::Output| assert!(o.status.success(), "{}", text(&o));
    ok(openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=Public Root",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-days",
            "2",
        ],
        d,
    ));
    ok(openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=profiles.example.com",
            "-keyout",
            "signer.key",
            "-out",
            "signer.csr",
        ],
        d,
    ));
    ok(openssl(
        &[
            "x509",
            "-req",
            "-in",
            "signer.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-out",
            "signer.pem",
            "-days",
            "2",
        ],
        d,
    ));
    let server_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        server_dir.path().join("certdrop.toml"),
        format!(
            "profile_signing_cert = \"{}\"\nprofile_signing_key = \"{}\"\n",
            d.join("signer.pem").display(),
            d.join("signer.key").display()
        ),
    )
    .unwrap();
    let config = server_dir.path().join("certdrop.toml");
    let s = Server::start_in(server_dir, &["--challenge", "x"], &[]);
    let r = s.get("/ca.mobileconfig");
    let profile = d.join("ca.mobileconfig");
    std::fs::write(&profile, &r.body).unwrap();
    // Verifies against the provided root, not certdrop's.
    verify(&profile, &d.join("root.pem"), d);

    // Offline: build and inspect with the server stopped.
    let data = s.data_dir();
    let _keep = s.stop();
    let out = d.join("offline.mobileconfig");
    let o = crate::support::cli(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "profile",
            "build",
            "--kind",
            "scep",
            "--subject",
            "CN=offline-1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let inspect = crate::support::cli(&data, &["profile", "inspect", out.to_str().unwrap()]);
    let shown = text(&inspect);
    assert!(inspect.status.success(), "{shown}");
    assert!(shown.contains("CN=profiles.example.com"), "{shown}");
    // identity issue is the PKCS#12 route under its own name.
    let id_out = d.join("identity.mobileconfig");
    let o = crate::support::cli(
        &data,
        &[
            "identity",
            "issue",
            "--subject",
            "CN=kiosk-1",
            "--out",
            id_out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("PKCS#12 password (shown once)"));
}
