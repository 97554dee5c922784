//! Enrollment links on the real binary: `certdrop link create`, the install page, the
//! profile download (one use each), and what expired, used-up and unknown links get.

use crate::support::{openssl, Server};

const PUBLIC: &str = "--public-url=http://127.0.0.1:{port}";

use crate::support::text;

/// `certdrop link create ...` → the path part of the printed URL.
fn create(s: &Server, args: &[&str]) -> String {
    let mut a = vec!["link", "create"];
    a.extend_from_slice(args);
    let o = s.cli(&a);
    assert!(o.status.success(), "{}", text(&o));
    let url = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let prefix = format!("http://127.0.0.1:{}", s.port);
    assert!(url.starts_with(&format!("{prefix}/enroll/")), "{url}");
    url.trim_start_matches(&prefix).to_owned()
}

#[test]
fn a_link_shows_the_page_and_gives_one_signed_profile() {
    let s = Server::start(&["--challenge", "x", PUBLIC]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = create(
        &s,
        &[
            "--subject",
            "CN=laptop-0042,O=Example Corp",
            "--ttl",
            "1h",
            "--wifi",
            "Corp-WiFi",
        ],
    );

    // The page, twice: viewing does not use the link.
    for _ in 0..2 {
        let page = s.get(&path);
        assert_eq!(page.status, 200);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let html = page.text();
        let fp = text(&openssl(
            &["x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha256"],
            &s.data_dir(),
        ));
        let fp = fp.trim().split('=').nth(1).unwrap().to_owned();
        assert!(html.contains(&fp), "fingerprint on the page");
        let token = path.trim_start_matches("/enroll/");
        let href = format!("href=\"{token}/profile.mobileconfig\"");
        assert!(html.contains(&href), "{html}");
        assert!(html.contains("<svg"), "QR code for desktop browsers");
        assert!(html.contains("laptop-0042"));
    }

    let r = s.get(&format!("{path}/profile.mobileconfig"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/x-apple-aspen-config")
    );
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"laptop-0042.mobileconfig\"")
    );
    let profile = d.join("p.mobileconfig");
    std::fs::write(&profile, &r.body).unwrap();
    let ca_pem = s.ca_pem_file();
    let v = openssl(
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
            d.join("p.plist").to_str().unwrap(),
        ],
        d,
    );
    assert!(v.status.success(), "{}", text(&v));
    let plist = std::fs::read_to_string(d.join("p.plist")).unwrap();
    assert!(plist.contains("com.apple.security.scep") && plist.contains("<key>Challenge</key>"));
    // The Wi-Fi payload asked for at link creation uses the enrolled identity.
    assert!(plist.contains("com.apple.wifi.managed") && plist.contains("Corp-WiFi"));

    // Used up: the download and the page both say so, with 410.
    let again = s.get(&format!("{path}/profile.mobileconfig"));
    assert_eq!(again.status, 410);
    assert!(again
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(again.text().contains("has been used"));
    assert_eq!(s.get(&path).status, 410);

    let audit = s.cli(&["audit", "--json"]);
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let events: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"]["event"].clone())
        .collect();
    assert!(events.contains(&"link_created".into()) && events.contains(&"link_used".into()));
}

#[test]
fn unknown_expired_and_hostile_links_are_handled() {
    let s = Server::start(&["--challenge", "x", PUBLIC]);
    let unknown = s.get("/enroll/AAAAAAAABBBBBBBBCCCCCCCCDDDDDDDDEEEEEEEE");
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains("Unknown enrollment link"));
    assert_eq!(s.get("/enroll/short").status, 404);
    assert_eq!(
        s.get("/enroll/%3Cscript%3E/profile.mobileconfig").status,
        404
    );
    // A right id with a wrong secret is unknown too.
    let path = create(&s, &["--subject", "CN=real"]);
    let forged = format!("{}{}", &path[..path.len() - 4], "ZZZZ");
    assert_eq!(s.get(&forged).status, 404);

    let path = create(&s, &["--ttl", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let expired = s.get(&path);
    assert_eq!(expired.status, 410);
    assert!(expired.text().contains("expired"));
    assert_eq!(s.get(&format!("{path}/profile.mobileconfig")).status, 410);

    // Every value on the page is HTML-escaped.
    let path = create(&s, &["--subject", "CN=<script>alert(1)</script>"]);
    let html = s.get(&path).text();
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");

    let bad = s.cli(&["link", "create", "--uses", "0"]);
    assert_eq!(bad.status.code(), Some(1));
}

/// A real browser renders the install page: headless Chromium (Debian `chromium`). The
/// screenshot is kept in target/tmp/install-page.png as a test artifact.
#[test]
fn install_page_renders_in_headless_chromium() {
    let Some(chromium) = crate::support::tool("chromium", "chromium") else {
        return;
    };
    let s = Server::start(&["--challenge", "x", PUBLIC]);
    let path = create(&s, &["--subject", "CN=laptop-0042,O=Example Corp"]);
    let url = format!("http://127.0.0.1:{}{path}", s.port);
    let profile_dir = tempfile::tempdir().unwrap();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let user_data = format!("--user-data-dir={}", profile_dir.path().display());
    let mut dump: Vec<&str> = flags.to_vec();
    dump.extend([user_data.as_str(), "--dump-dom", url.as_str()]);
    let o = crate::support::run(&chromium, &dump, profile_dir.path());
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(dom.contains("id=\"download\""), "rendered page: {dom}");
    let token = path.trim_start_matches("/enroll/");
    assert!(
        dom.contains(&format!("{token}/profile.mobileconfig")),
        "{dom}"
    );
    let fp = text(&openssl(
        &["x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha256"],
        &s.data_dir(),
    ));
    assert!(
        dom.contains(fp.trim().split('=').nth(1).unwrap()),
        "fingerprint in {dom}"
    );

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("install-page.png");
    let _ = std::fs::remove_file(&shot);
    let screenshot = format!("--screenshot={}", shot.display());
    let mut take: Vec<&str> = flags.to_vec();
    take.extend([
        user_data.as_str(),
        "--window-size=430,1400",
        screenshot.as_str(),
        url.as_str(),
    ]);
    let o = crate::support::run(&chromium, &take, profile_dir.path());
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {}", text(&o)));
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(png.len() > 10_000, "a real page, not a blank image");
}

#[test]
fn a_pkcs12_link_hands_out_a_server_made_identity() {
    let s = Server::start(&["--challenge", "x", PUBLIC]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = create(&s, &["--subject", "CN=tablet-1,O=Example Corp", "--pkcs12"]);
    let r = s.get(&format!("{path}/profile.mobileconfig"));
    assert_eq!(r.status, 200, "{}", r.text());
    let profile = d.join("p.mobileconfig");
    std::fs::write(&profile, &r.body).unwrap();
    let ca_pem = s.ca_pem_file();
    let plist = d.join("p.plist");
    let v = openssl(
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
            plist.to_str().unwrap(),
        ],
        d,
    );
    assert!(v.status.success(), "{}", text(&v));
    // Take the PKCS#12 and its password out of the profile with Python's plistlib.
    let script = r#"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], 'rb'))
item = [x for x in p['PayloadContent'] if x['PayloadType'] == 'com.apple.security.pkcs12'][0]
open(sys.argv[2], 'wb').write(item['PayloadContent'])
print(item['Password'])
"#;
    let p12 = d.join("id.p12");
    let o = std::process::Command::new("python3")
        .args(["-c", script, plist.to_str().unwrap(), p12.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let password = String::from_utf8(o.stdout).unwrap().trim().to_owned();
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
    assert!(info.status.success(), "{}", text(&info));
    assert!(
        text(&info).contains("pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{}",
        text(&info)
    );
    let list = s.cli(&["cert", "list", "--json", "--subject", "tablet-1"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(s.get(&format!("{path}/profile.mobileconfig")).status, 410);
}
