//! A raw GET query string: split it, then percent- and base64-decode `message`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Some(message) = certdrop::scep::get::parse_query(&raw).message {
        let _ = certdrop::scep::get::decode_message(message);
    }
});
