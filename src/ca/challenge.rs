//! Challenge passwords (RFC 8894 §2.3, §3.3.1): generation, hashing and constraints.
//!
//! A one-time challenge is `ID` + `SECRET`: 8 + 24 characters from [A-Za-z0-9] (Windows and
//! other clients refuse non-PrintableString characters). The ID is the lookup key; only the
//! SHA-256 of the secret is stored and it is compared in constant time. 24 characters of a
//! 62-letter alphabet carry 142 bits, so a fast hash is enough.

use crate::scep::csr::{CertificationRequest, SubjectAltName};

pub const ID_LEN: usize = 8;
pub const SECRET_LEN: usize = 24;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Random text from the alphabet, by rejection sampling (no modulo bias).
pub fn random_text(len: usize) -> Result<String, openssl::error::ErrorStack> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        openssl::rand::rand_bytes(&mut buf)?;
        for &b in &buf {
            // 248 = 4 * 62: values at or above it would bias the first letters.
            if b < 248 {
                if let Some(&c) = ALPHABET.get(usize::from(b) % ALPHABET.len()) {
                    out.push(char::from(c));
                }
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// A freshly generated one-time challenge. `text` is shown once and never stored.
pub struct NewChallenge {
    pub id: String,
    pub text: String,
    pub secret_hash: [u8; 32],
}

pub fn generate() -> Result<NewChallenge, openssl::error::ErrorStack> {
    let id = random_text(ID_LEN)?;
    let secret = random_text(SECRET_LEN)?;
    let secret_hash = hash_secret(&secret);
    Ok(NewChallenge {
        text: format!("{id}{secret}"),
        id,
        secret_hash,
    })
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    openssl::sha::sha256(secret.as_bytes())
}

/// Split a presented challenge into (id, secret) if it has the one-time shape.
pub fn split(presented: &str) -> Option<(&str, &str)> {
    if presented.len() != ID_LEN + SECRET_LEN || !presented.is_ascii() {
        return None;
    }
    Some(presented.split_at(ID_LEN))
}

/// Constant-time equality of two digests.
pub fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    openssl::memcmp::eq(a, b)
}

/// Names a one-time challenge may be used for, fixed when it is created.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Constraints {
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
    pub emails: Vec<String>,
    /// Requests using this challenge wait for an administrator (RFC 8894 §3.3.3).
    #[serde(default)]
    pub manual_approval: bool,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        self.common_name.is_none() && self.dns_names.is_empty() && self.emails.is_empty()
    }

    /// Check a request against the constraints, so a leaked challenge cannot buy a certificate
    /// for another name. They constrain names (CN and SANs), not O or OU. With any constraint set: the CN must be the given one (or, with no
    /// `--cn`, one of the allowed DNS names or emails); DNS and email SANs must be in the
    /// allowed lists; IP and URI SANs are refused.
    pub fn check(&self, csr: &CertificationRequest) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        // Every CN counts: a subject may repeat CN, and TLS name checks may use any of them.
        for cn in &csr.common_names {
            let allowed = match &self.common_name {
                Some(want) => want == cn,
                None => self.dns_names.contains(cn) || self.emails.contains(cn),
            };
            if !allowed {
                return Err(format!("CN {cn:?} is not allowed by this challenge"));
            }
        }
        if csr.common_names.is_empty() && self.common_name.is_some() {
            return Err("the request has no CN but this challenge requires one".into());
        }
        for san in &csr.subject_alt_names {
            let ok = match san {
                SubjectAltName::Dns(d) => self.dns_names.iter().any(|a| a.eq_ignore_ascii_case(d)),
                SubjectAltName::Email(e) => self.emails.contains(e),
                SubjectAltName::Ip(_) | SubjectAltName::Uri(_) => false,
            };
            if !ok {
                return Err(format!(
                    "subjectAltName {san} is not allowed by this challenge"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_challenges_are_alphanumeric_and_split_back() {
        let c = generate().unwrap();
        assert_eq!(c.text.len(), ID_LEN + SECRET_LEN);
        assert!(c.text.chars().all(|ch| ch.is_ascii_alphanumeric()));
        let (id, secret) = split(&c.text).unwrap();
        assert_eq!(id, c.id);
        assert!(digest_eq(&hash_secret(secret), &c.secret_hash));
        assert!(!digest_eq(&hash_secret("x"), &c.secret_hash));
    }

    #[test]
    fn random_text_uses_the_whole_alphabet() {
        let t = random_text(4000).unwrap();
        for &c in ALPHABET {
            assert!(t.contains(char::from(c)), "missing {}", char::from(c));
        }
    }
}
