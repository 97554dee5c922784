//! Certificate serial numbers (RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B Forum
//! asks for at least 64 bits from a CSPRNG).

use std::fmt;

/// A serial number: 16 bytes, first byte in 0x01..=0x7f so the INTEGER is positive and always
/// encodes in exactly 16 octets. That leaves 127 bits minus a sliver of entropy.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    pub const LEN: usize = 16;

    pub fn random() -> Result<Serial, openssl::error::ErrorStack> {
        let mut b = vec![0u8; Self::LEN];
        loop {
            openssl::rand::rand_bytes(&mut b)?;
            if let Some(first) = b.first_mut() {
                *first &= 0x7f;
                if *first != 0 {
                    return Ok(Serial(b));
                }
            }
        }
    }

    /// The big-endian magnitude bytes (no sign octet, no leading zeros).
    pub fn from_bytes(bytes: &[u8]) -> Option<Serial> {
        let start = bytes.iter().position(|&b| b != 0)?;
        let trimmed = bytes.get(start..)?;
        if trimmed.len() > 20 {
            return None;
        }
        Some(Serial(trimmed.to_vec()))
    }

    /// Parse hex as `openssl x509 -serial` prints it: any case, optional colons, optional
    /// `0x` prefix; or decimal with a lower-case `0d` prefix. `0D` (as openssl prints a
    /// serial whose first byte is 0x0D) is always hex; a lower-case hex serial starting with
    /// `0d` must be written in upper case, with colons or with `0x`.
    pub fn parse(s: &str) -> Option<Serial> {
        let s = s.trim();
        // `openssl x509 -noout -serial` prints `serial=0123...`: take that line as it is.
        let s = s.strip_prefix("serial=").unwrap_or(s);
        if let Some(dec) = s
            .strip_prefix("0d")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        {
            let bn = openssl::bn::BigNum::from_dec_str(dec).ok()?;
            return Serial::from_bytes(&bn.to_vec());
        }
        let s = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        let hex_digits: String = s.chars().filter(|&c| c != ':').collect();
        if hex_digits.is_empty() {
            return None;
        }
        let padded = if hex_digits.len() % 2 == 1 {
            format!("0{hex_digits}")
        } else {
            hex_digits
        };
        Serial::from_bytes(&hex::decode(padded).ok()?)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_bignum(&self) -> Result<openssl::bn::BigNum, openssl::error::ErrorStack> {
        openssl::bn::BigNum::from_slice(&self.0)
    }

    /// Upper-case hex, as `openssl x509 -serial` prints it.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Serialised as upper-case hex, as `openssl x509 -serial` prints it.
impl serde::Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Serial, D::Error> {
        let s = String::deserialize(d)?;
        Serial::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid serial"))
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_sixteen_bytes() {
        for _ in 0..100 {
            let s = Serial::random().unwrap();
            assert_eq!(s.as_bytes().len(), 16);
            assert!(s.as_bytes()[0] >= 1 && s.as_bytes()[0] <= 0x7f);
        }
    }

    #[test]
    fn parses_openssl_hex_colons_and_decimal() {
        let want = Serial::from_bytes(&[0x01, 0xab]).unwrap();
        assert_eq!(Serial::parse("01AB"), Some(want.clone()));
        assert_eq!(Serial::parse("01:ab"), Some(want.clone()));
        assert_eq!(Serial::parse("1ab"), Some(want.clone()));
        assert_eq!(Serial::parse("0x01AB"), Some(want.clone()));
        assert_eq!(Serial::parse("serial=01AB\n"), Some(want.clone()));
        assert_eq!(Serial::parse("0d427"), Some(want));
        assert_eq!(Serial::parse("0D"), Serial::from_bytes(&[0x0d]));
        assert_eq!(Serial::parse("0D12"), Serial::from_bytes(&[0x0d, 0x12]));
        // Colons or hex letters make it hex even in lower case.
        assert_eq!(Serial::parse("0d:12"), Serial::from_bytes(&[0x0d, 0x12]));
        assert_eq!(Serial::parse("0dab"), Serial::from_bytes(&[0x0d, 0xab]));
        assert_eq!(Serial::parse("zz"), None);
        assert_eq!(Serial::parse(""), None);
        assert_eq!(Serial::parse("00"), None);
    }

    mod prop {
        use proptest::prelude::*;

        use super::super::Serial;

        proptest! {
            #[test]
            fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 1..20)) {
                if let Some(s) = Serial::from_bytes(&bytes) {
                    prop_assert_eq!(Serial::parse(&s.to_hex()), Some(s.clone()));
                    let lower = s.to_hex().to_lowercase();
                    let all_digits = lower.bytes().skip(2).all(|b| b.is_ascii_digit());
                    if !(lower.starts_with("0d") && all_digits) {
                        prop_assert_eq!(Serial::parse(&lower), Some(s.clone()));
                    }
                    let dec = format!("0d{}", s.to_bignum().unwrap().to_dec_str().unwrap());
                    prop_assert_eq!(Serial::parse(&dec), Some(s));
                }
            }

            /// sled orders keys by bytes; random serials are all 16 bytes, so byte order is
            /// numeric order and `cert list` comes out sorted.
            #[test]
            fn random_serial_byte_order_is_numeric_order(_seed in any::<u8>()) {
                let a = Serial::random().unwrap();
                let b = Serial::random().unwrap();
                let by_bytes = a.as_bytes().cmp(b.as_bytes());
                let by_value = a.to_bignum().unwrap().ucmp(&b.to_bignum().unwrap());
                prop_assert_eq!(by_bytes, by_value);
            }
        }
    }
}
