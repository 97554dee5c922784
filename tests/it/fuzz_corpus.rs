//! Replays the cargo-fuzz corpus (`fuzz/corpus/<target>/`) through the same library calls as
//! the fuzz targets, so a plain `cargo test` on stable catches regressions: every input must
//! return (Ok or Err) without panicking, and the known-good captures in the corpus must still
//! decode. Crash inputs found by fuzzing are saved there as `crash-*` and replayed too.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use certdrop::scep::csr::CertificationRequest;
use certdrop::scep::envelope::{self, ContentCipher, KeyTransport};
use certdrop::scep::{ber, get, Digest, MessageType, PkiMessage};

/// Every file of one target's corpus, by name (hidden files skipped, as libFuzzer does).
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .filter(|(name, _)| !name.starts_with('.'))
        .map(|(name, p)| (name, std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// One corpus file by name; the known-good captures must stay in the corpus.
fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, data)| data.as_slice())
        .unwrap_or_else(|| panic!("{name} is missing from the corpus"))
}

/// Run `call` on every input and fail naming each one that panicked.
fn replay(files: &[(String, Vec<u8>)], call: impl Fn(&[u8])) {
    let panicked: Vec<&str> = files
        .iter()
        .filter(|(_, data)| catch_unwind(AssertUnwindSafe(|| call(data))).is_err())
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(panicked.is_empty(), "panicked on: {panicked:?}");
}

/// The `pki_message` target.
fn pki_message(data: &[u8]) {
    if let Ok(m) = PkiMessage::decode(data) {
        let _ = m.verify();
    }
}

/// The `get_message` target.
fn get_message(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    if let Some(message) = get::parse_query(&raw).message {
        let _ = get::decode_message(message);
    }
}

#[test]
fn replays_pki_message_corpus_without_panics() {
    let files = corpus("pki_message");
    replay(&files, pki_message);

    for name in [
        "scepclient-pkcsreq-post.der",
        "scepclient-pkcsreq-post.ber",
        "scepclient-pkcsreq-post-utf8challenge.der",
    ] {
        let msg = PkiMessage::decode(file(&files, name))
            .unwrap_or_else(|e| panic!("{name} no longer decodes: {e}"));
        assert_eq!(msg.attributes.message_type, MessageType::PkcsReq, "{name}");
        assert_eq!(msg.digest, Digest::Sha1, "{name}");
        assert!(msg.verify().is_ok(), "{name} no longer verifies");
    }
}

#[test]
fn replays_get_message_corpus_without_panics() {
    let files = corpus("get_message");
    replay(&files, get_message);

    // certmonger's query carries exactly the scepclient POST body (fixtures README).
    let post = file(&corpus("pki_message"), "scepclient-pkcsreq-post.der").to_vec();
    for name in [
        "certmonger-pkioperation-get.query",
        "scepclient-pkcsreq-get.query",
    ] {
        let raw = String::from_utf8(file(&files, name).to_vec()).unwrap();
        let message = get::parse_query(&raw)
            .message
            .expect("no message parameter");
        let body = get::decode_message(message)
            .unwrap_or_else(|e| panic!("{name} no longer decodes: {e}"));
        let msg = PkiMessage::decode(&body).unwrap();
        assert_eq!(msg.attributes.message_type, MessageType::PkcsReq, "{name}");
        if name.starts_with("certmonger") {
            assert_eq!(body, post);
        }
    }
}

#[test]
fn replays_ber_corpus_without_panics() {
    let files = corpus("ber");
    replay(&files, |data| {
        let _ = ber::to_der(data);
    });

    // DER passes through unchanged, and the BER-ified capture comes back to the same DER.
    let der = file(&files, "scepclient-pkcsreq-post.der");
    assert_eq!(ber::to_der(der).unwrap(), der);
    assert_eq!(
        ber::to_der(file(&files, "scepclient-pkcsreq-post.ber")).unwrap(),
        der
    );
    assert_eq!(
        ber::to_der(file(&files, "indefinite-nested.ber")).unwrap(),
        [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x05]
    );
}

#[test]
fn replays_csr_corpus_without_panics() {
    let files = corpus("csr");
    replay(&files, |data| {
        let _ = CertificationRequest::parse(data);
    });

    for name in [
        "scepclient-pkcsreq-post.csr.der",
        "scepclient-utf8challenge.csr.der",
        "openssl-ec-p256-sans.csr.der",
    ] {
        let csr = CertificationRequest::parse(file(&files, name))
            .unwrap_or_else(|e| panic!("{name} no longer parses: {e}"));
        assert!(csr.signature_valid, "{name}");
    }
    let csr = CertificationRequest::parse(file(&files, "scepclient-pkcsreq-post.csr.der")).unwrap();
    assert_eq!(csr.common_name.as_deref(), Some("scepclient-fixture"));
}

#[test]
fn replays_envelope_corpus_without_panics() {
    let files = corpus("envelope");
    replay(&files, |data| {
        let _ = envelope::inspect(data);
    });

    let info = envelope::inspect(file(&files, "scepclient-des-pkcs1.der")).unwrap();
    assert_eq!(info.cipher, ContentCipher::DesCbc);
    assert_eq!(info.key_transport, KeyTransport::RsaPkcs1);
    let info = envelope::inspect(file(&files, "openssl-aes256-pkcs1.ber")).unwrap();
    assert_eq!(info.cipher, ContentCipher::Aes256Cbc);
    let info = envelope::inspect(file(&files, "openssl-aes128-oaep-sha256.der")).unwrap();
    assert_eq!(info.cipher, ContentCipher::Aes128Cbc);
    assert!(matches!(
        info.key_transport,
        KeyTransport::RsaOaep {
            hash: Digest::Sha256,
            mgf1_hash: Digest::Sha256,
            ..
        }
    ));
}
