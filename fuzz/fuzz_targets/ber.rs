//! The schema-free BER to DER pass that runs before every other parser.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = certdrop::scep::ber::to_der(data);
});
