//! Decoding of PKIOperation over GET (RFC 8894 §4.1): `?operation=PKIOperation&message=...`.
//!
//! Clients disagree on the encoding of `message` (Cisco, macOS, Android, sscep, scepclient and
//! certmonger all differ), so we take the raw query and:
//! - percent-decode per RFC 3986 §2.1, where `+` stays `+` (it is a base64 digit, not a space);
//! - drop whitespace and line breaks (some clients wrap base64 at 64 columns);
//! - accept the standard and the URL-safe base64 alphabets, with or without `=` padding.

use base64::alphabet;
use base64::engine::general_purpose::GeneralPurposeConfig;
use base64::engine::{DecodePaddingMode, GeneralPurpose};
use base64::Engine;

use super::DecodeError;

/// The raw query split into the two parameters SCEP defines. Values stay percent-encoded:
/// `message` is decoded by [`decode_message`], `operation` by [`percent_decode_text`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query<'a> {
    pub operation: Option<&'a str>,
    pub message: Option<&'a str>,
}

/// Split a raw query string. Unknown parameters are ignored; the first occurrence wins.
pub fn parse_query(raw: &str) -> Query<'_> {
    let mut q = Query::default();
    for pair in raw.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "operation" if q.operation.is_none() => q.operation = Some(value),
            "message" if q.message.is_none() => q.message = Some(value),
            _ => {}
        }
    }
    q
}

/// RFC 3986 percent-decoding; `+` is left alone.
pub fn percent_decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or(DecodeError::GetMessage("truncated percent escape"))?;
            // Both must be hex digits: from_str_radix alone would accept "+A".
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(DecodeError::GetMessage("bad percent escape"));
            }
            let hex = std::str::from_utf8(hex)
                .map_err(|_| DecodeError::GetMessage("bad percent escape"))?;
            let v = u8::from_str_radix(hex, 16)
                .map_err(|_| DecodeError::GetMessage("bad percent escape"))?;
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-decode a parameter that should be text (`operation`).
pub fn percent_decode_text(s: &str) -> Result<String, DecodeError> {
    String::from_utf8(percent_decode(s)?).map_err(|_| DecodeError::GetMessage("not UTF-8"))
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decode the `message` parameter of a GET PKIOperation into the pkiMessage bytes.
pub fn decode_message(raw: &str) -> Result<Vec<u8>, DecodeError> {
    let decoded = percent_decode(raw)?;
    let cleaned: Vec<u8> = decoded
        .into_iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .collect();
    // Padding is optional on input: strip it so the engine sees one canonical form.
    let end = cleaned
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |p| p + 1);
    let body = cleaned
        .get(..end)
        .ok_or(DecodeError::GetMessage("empty message"))?;
    if body.is_empty() {
        return Err(DecodeError::GetMessage("empty message"));
    }
    LENIENT
        .decode(body)
        .map_err(|_| DecodeError::GetMessage("message is not base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_query_in_either_order() {
        assert_eq!(
            parse_query("message=abc&operation=PKIOperation"),
            Query {
                operation: Some("PKIOperation"),
                message: Some("abc")
            }
        );
        assert_eq!(parse_query("operation=GetCACert").message, None);
        assert_eq!(
            parse_query("operation=GetCACert&message=").message,
            Some("")
        );
    }

    #[test]
    fn keeps_plus_as_base64_digit() {
        // "+/8=" is [0xfb, 0xff]; a form decoder would turn '+' into a space.
        assert_eq!(decode_message("+/8=").ok(), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_message("%2B%2F8%3D").ok(), Some(vec![0xfb, 0xff]));
    }

    #[test]
    fn accepts_url_safe_unpadded_and_wrapped_base64() {
        assert_eq!(decode_message("-_8").ok(), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_message("AQID%0D%0ABA").ok(), Some(vec![1, 2, 3, 4]));
        assert_eq!(decode_message("AQIDBA==").ok(), Some(vec![1, 2, 3, 4]));
    }

    #[test]
    fn rejects_bad_escapes_and_non_base64() {
        assert!(decode_message("%4").is_err());
        assert!(decode_message("%zz").is_err());
        assert!(percent_decode("%+A").is_err());
        assert!(decode_message("!!!!").is_err());
        assert!(decode_message("").is_err());
        assert!(decode_message("====").is_err());
    }

    mod prop {
        use base64::Engine;
        use proptest::prelude::*;

        use super::super::decode_message;

        fn escape(s: &str) -> String {
            s.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        }

        proptest! {
            #[test]
            fn decodes_every_encoding_clients_use(data in proptest::collection::vec(any::<u8>(), 1..1500)) {
                let std = base64::engine::general_purpose::STANDARD.encode(&data);
                let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&data);
                let wrapped = std.as_bytes().chunks(64)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>().join("\r\n");
                for form in [std.clone(), escape(&std), url, escape(&wrapped).replace("\r\n", "%0D%0A"),
                             std.trim_end_matches('=').to_owned()] {
                    prop_assert_eq!(decode_message(&form).ok(), Some(data.clone()), "{}", form);
                }
            }

            #[test]
            fn never_panics_on_arbitrary_queries(q in ".{0,300}") {
                let parsed = super::super::parse_query(&q);
                if let Some(m) = parsed.message {
                    let _ = decode_message(m);
                }
            }
        }
    }
}
