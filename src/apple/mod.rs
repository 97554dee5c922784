//! Apple configuration profiles (`.mobileconfig`): typed payloads, XML plist output, and
//! CMS signing.
//!
//! This module is pure: no file or network I/O, no clock (callers pass dates in), and it
//! imports nothing from the rest of the crate. UUIDs come from OpenSSL's random generator.
//!
//! ```text
//!   profile.rs  Profile { PayloadType "Configuration", PayloadContent: [Payload] }
//!               Payload = root/pkcs1/pem certificate | pkcs12 | scep | wifi | vpn (IKEv2)
//!               -> Profile::to_xml_plist() -> the exact bytes to sign or to serve unsigned
//!   sign.rs     sign_profile: ContentInfo { SignedData (RFC 5652 §5), eContent = id-data
//!               [0] EXPLICIT OCTET STRING { plist bytes }, SHA-256, signer chain in
//!               `certificates` }; verify_profile checks the signature and reports the chain
//! ```
//!
//! Key names and value types follow Apple's YAML schemas (`apple/device-management`, copied
//! under `tests/fixtures/apple/`, where the tests check every key we emit against them).
//!
//! It refuses to: emit a profile whose payload UUIDs or identifiers repeat, whose certificate
//! references point nowhere, or whose SCEP `Keysize` is below 2048 (Apple's default is 1024);
//! and it never decides trust for a signed profile (verification reports the embedded chain).
//! Encrypted profiles (`EncryptedPayloadContent`) and the OTA "Profile Service" payload are
//! not built here yet.

pub mod profile;
pub mod schema;
#[cfg(test)]
mod schema_tests;
pub mod sign;

pub use profile::{
    ca_fingerprint_sha1, uuid_v4, CertificateFormat, CertificatePayload, EapClientConfiguration,
    Ikev2, Payload, Pkcs12Payload, Profile, ScepContent, ScepPayload, ScepSubject, SubjectAltName,
    VpnPayload, WifiEncryption, WifiPayload,
};
pub use sign::{sign_profile, verify_profile};

/// Errors building, serialising, signing or verifying a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The profile breaks a rule Apple's installer enforces (or one we enforce for safety).
    #[error("invalid profile: {0}")]
    Invalid(String),
    #[error("cannot write the property list: {0}")]
    Plist(#[from] plist::Error),
    /// The input to [`verify_profile`] is not a DER ContentInfo with attached SignedData.
    #[error("not a signed profile: {0}")]
    Malformed(String),
    /// The CMS structure decodes but a signature (or the content digest) does not verify.
    #[error("the profile signature does not verify: {0}")]
    BadSignature(openssl::error::ErrorStack),
    #[error("crypto failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}
