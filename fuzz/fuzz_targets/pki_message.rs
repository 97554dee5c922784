//! Decode (BER accepted) and verify a pkiMessage: the first thing a POST body meets.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = certdrop::scep::PkiMessage::decode(data) {
        let _ = m.verify();
    }
});
