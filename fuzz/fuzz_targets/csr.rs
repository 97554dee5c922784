//! A PKCS#10 CertificationRequest, as found inside a decrypted envelope.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = certdrop::scep::csr::CertificationRequest::parse(data);
});
