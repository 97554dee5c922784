//! Read the algorithms of an EnvelopedData (BER accepted), before anything is decrypted.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = certdrop::scep::envelope::inspect(data);
});
