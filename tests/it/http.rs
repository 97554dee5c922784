//! The HTTP surface of the real binary: GetCACaps, GetCACert, PKIOperation over GET and POST,
//! and what bad input gets.

use base64::Engine;
use certdrop::scep::builder;
use certdrop::scep::PkiStatus;

use crate::support::{rsa_key, Server, TestClient};

#[test]
fn serves_caps_and_ca_cert_for_any_message_label() {
    let s = Server::start(&["--challenge", "s3cret"]);
    let caps = s.get("/scep?operation=GetCACaps");
    assert_eq!(caps.status, 200);
    assert_eq!(caps.header("content-type"), Some("text/plain"));
    let lines: Vec<String> = caps.text().lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "POSTPKIOperation",
            "Renewal",
            "SHA-1",
            "SHA-256",
            "SHA-512",
            "AES",
            "DES3",
            "SCEPStandard"
        ]
    );

    let reference = s.get("/scep?operation=GetCACert").body;
    let ca = openssl::x509::X509::from_der(&reference).unwrap();
    let text = String::from_utf8(ca.to_text().unwrap()).unwrap();
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(
        text.contains("Digital Signature, Key Encipherment, Certificate Sign, CRL Sign"),
        "{text}"
    );
    for path in ["/scep", "/scep/pkiclient.exe", "/cgi-bin/pkiclient.exe"] {
        for query in [
            "operation=GetCACert",
            "operation=GetCACert&message=",
            "operation=GetCACert&message=0",
            "operation=GetCACert&message=1",
            "operation=GetCACert&message=My%20CA%2Fdevices",
            "message=anything+goes&operation=GetCACert",
        ] {
            let r = s.get(&format!("{path}?{query}"));
            assert_eq!(r.status, 200, "{path}?{query}");
            assert_eq!(r.header("content-type"), Some("application/x-x509-ca-cert"));
            assert_eq!(r.body, reference, "{path}?{query}");
        }
    }
}

#[test]
fn pki_operation_over_post_and_get_in_every_encoding() {
    let s = Server::start(&["--challenge", "s3cret"]);
    let ca = s.ca();
    let std = base64::engine::general_purpose::STANDARD;
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for (i, how) in [
        "post-none",
        "post-octet",
        "get-std-raw",
        "get-std-escaped",
        "get-urlsafe",
        "get-wrapped",
    ]
    .into_iter()
    .enumerate()
    {
        let c = TestClient::new(rsa_key(i), &format!("http-{how}")).challenge("s3cret");
        let (msg, _) = c.pkcs_req(&ca);
        let r = match how {
            "post-none" => s.post("/scep?operation=PKIOperation", &msg, None),
            "post-octet" => s.post(
                "/cgi-bin/pkiclient.exe?operation=PKIOperation",
                &msg,
                Some("application/octet-stream"),
            ),
            // '+' and '/' left raw: '+' must not become a space.
            "get-std-raw" => s.get(&format!(
                "/scep?operation=PKIOperation&message={}",
                std.encode(&msg)
            )),
            "get-std-escaped" => s.get(&format!(
                "/scep?operation=PKIOperation&message={}",
                std.encode(&msg)
                    .replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            )),
            "get-urlsafe" => s.get(&format!(
                "/scep?message={}&operation=PKIOperation",
                url_safe.encode(&msg)
            )),
            "get-wrapped" => {
                let b64 = std.encode(&msg);
                let wrapped: Vec<String> = b64
                    .as_bytes()
                    .chunks(64)
                    .map(|c| String::from_utf8(c.to_vec()).unwrap())
                    .collect();
                s.get(&format!(
                    "/scep?operation=PKIOperation&message={}",
                    wrapped.join("%0A").replace('+', "%2B")
                ))
            }
            _ => unreachable!(),
        };
        assert_eq!(r.status, 200, "{how}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/x-pki-message"),
            "{how}"
        );
        let o = builder::open_cert_rep(&r.body, &c.signer, &c.key).unwrap();
        assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success), "{how}");
    }
    let list = s.cli(&["cert", "list", "--json"]);
    let certs: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(certs.as_array().unwrap().len(), 6);
}

#[test]
fn refusals_are_signed_failures_with_pki_message_type() {
    let mut s = Server::start(&["--challenge", "s3cret"]);
    let c = TestClient::new(rsa_key(0), "intruder").challenge("guess");
    let (msg, _) = c.pkcs_req(&s.ca());
    let r = s.post("/scep?operation=PKIOperation", &msg, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-pki-message"));
    let o = builder::open_cert_rep(&r.body, &c.signer, &c.key).unwrap();
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Failure));
    assert!(s.log_text().contains("wrong challenge password"));
    assert!(
        !s.log_text().contains("guess"),
        "the log must not contain the challenge"
    );
    assert!(s.is_running());
}

#[test]
fn bad_input_gets_clear_http_errors_and_the_server_keeps_running() {
    let mut s = Server::start(&["--challenge", "s3cret"]);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/scep?operation=PKIOperation",
            b"garbage".to_vec(),
            400,
            "not a CMS",
        ),
        ("POST", "/scep?operation=PKIOperation", Vec::new(), 400, ""),
        (
            "POST",
            "/scep?operation=PKIOperation",
            vec![0x30, 0x80, 0x30, 0x80],
            400,
            "",
        ),
        (
            "POST",
            "/scep?operation=GetCACert",
            b"x".to_vec(),
            400,
            "not allowed over POST",
        ),
        (
            "GET",
            "/scep?operation=Bogus",
            Vec::new(),
            400,
            "unknown operation",
        ),
        ("GET", "/scep", Vec::new(), 400, "missing operation"),
        (
            "GET",
            "/scep?operation=PKIOperation",
            Vec::new(),
            400,
            "missing message",
        ),
        (
            "GET",
            "/scep?operation=PKIOperation&message=%%%",
            Vec::new(),
            400,
            "percent",
        ),
        (
            "GET",
            "/scep?operation=PKIOperation&message=!!!!",
            Vec::new(),
            400,
            "base64",
        ),
        (
            "GET",
            "/scep?operation=PKIOperation&message=AAAA",
            Vec::new(),
            400,
            "",
        ),
    ];
    for (method, target, body, status, text) in cases {
        let r = if method == "POST" {
            s.post(target, &body, None)
        } else {
            s.get(target)
        };
        assert_eq!(r.status, status, "{method} {target}: {}", r.text());
        assert!(r.text().contains(text), "{method} {target}: {}", r.text());
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    }
    // Oversized body: the 1 MiB limit.
    let big = vec![0x30u8; 1024 * 1024 + 1];
    let r = s.post("/scep?operation=PKIOperation", &big, None);
    assert_eq!(r.status, 413);
    assert!(s.is_running());
    assert_eq!(s.get("/healthz").status, 200);
    assert_eq!(
        crate::support::http(s.port, "HEAD", "/healthz", None, None).status,
        200
    );
    // Our own query limit answers before actix's request-head limit.
    let long = format!(
        "/scep?operation=PKIOperation&message={}",
        "A".repeat(40 * 1024)
    );
    assert_eq!(s.get(&long).status, 413);
    let list = s.cli(&["cert", "list", "--json"]);
    let certs: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(certs.as_array().unwrap().len(), 0);
}
