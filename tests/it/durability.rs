//! Nothing is lost when the process is killed mid-request: every certificate a client
//! received is in the store after a SIGKILL and a restart, and the store opens cleanly.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use certdrop::scep::builder;
use certdrop::scep::PkiStatus;

use crate::support::{http, rsa_key, Server, TestClient};

#[test]
fn every_certificate_a_client_received_survives_sigkill() {
    let s = Server::start(&["--challenge", "s3cret"]);
    let ca = s.ca();
    let port = s.port;
    let received = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..4 {
        // Pre-build the requests so the kill lands while the server is busy issuing.
        let msgs: Vec<_> = (0..8)
            .map(|i| {
                let c = TestClient::new(rsa_key(t * 8 + i), &format!("kill-{t}-{i}"))
                    .challenge("s3cret");
                let (m, _) = c.pkcs_req(&ca);
                (c, m)
            })
            .collect();
        let received = received.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            for (c, m) in msgs {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = std::panic::catch_unwind(|| {
                    http(port, "POST", "/scep?operation=PKIOperation", Some(&m), None)
                });
                let Ok(r) = r else { break };
                if r.status != 200 {
                    continue;
                }
                if let Ok(o) = builder::open_cert_rep(&r.body, &c.signer, &c.key) {
                    if o.attributes.pki_status == Some(PkiStatus::Success) {
                        let serial = o.certificates[0].serial_number().to_bn().unwrap();
                        received
                            .lock()
                            .unwrap()
                            .insert(serial.to_hex_str().unwrap().to_string());
                    }
                }
            }
        }));
    }
    // Kill once a few certificates have gone out, with requests still in flight.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while received.lock().unwrap().len() < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let dir = s.stop();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    let received = received.lock().unwrap().clone();
    assert!(
        received.len() >= 6,
        "only {} certificates before the kill",
        received.len()
    );

    let s = Server::start_in(dir, &["--challenge", "s3cret"], &[]);
    let list = s.cli(&["cert", "list", "--json"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let stored: BTreeSet<String> = serde_json::from_slice::<serde_json::Value>(&list.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<_> = received.difference(&stored).collect();
    assert!(missing.is_empty(), "received but not stored: {missing:?}");
    // The restarted server still issues.
    let c = TestClient::new(rsa_key(40), "after-restart").challenge("s3cret");
    let (m, _) = c.pkcs_req(&s.ca());
    let r = s.post("/scep?operation=PKIOperation", &m, None);
    let o = builder::open_cert_rep(&r.body, &c.signer, &c.key).unwrap();
    assert_eq!(o.attributes.pki_status, Some(PkiStatus::Success));
}
