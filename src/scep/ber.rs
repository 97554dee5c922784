//! A schema-free BER to DER pass (X.690 §8 to §10): indefinite lengths become definite,
//! lengths become minimal, and constructed (chunked) universal OCTET STRINGs become primitive.
//!
//! OpenSSL's parsers accept BER and re-encode as DER, but keep the original bytes of some
//! values (an X509_NAME caches its encoding), so a BER issuer name inside a SignerInfo would
//! survive OpenSSL's round trip and trip `der`. This pass runs first; OpenSSL's schema-aware
//! round trip then fixes what needs the schema (implicitly tagged constructed strings, as
//! scepclient sends for encryptedContent).

use super::DecodeError;

/// Deeper nesting than any CMS message needs; bounds the recursion on hostile input.
const MAX_DEPTH: usize = 64;

/// Most elements a SET (universal, or a context-specific constructed value such as
/// `certificates [0] IMPLICIT SET OF`) may hold. `der` sorts every SET OF it decodes with an
/// insertion sort, so an unbounded SET is quadratic CPU for whoever sends it: 8,000
/// reverse-ordered digestAlgorithms cost 5 s. A SCEP message holds a handful per SET.
pub const MAX_SET_ELEMENTS: usize = 64;

fn err(what: &'static str) -> DecodeError {
    DecodeError::NotCms(format!("BER: {what}"))
}

/// Convert one BER value (and nothing after it) to DER.
pub fn to_der(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(input.len());
    let rest = convert(input, &mut out, 0)?;
    if !rest.is_empty() {
        return Err(err("trailing data"));
    }
    Ok(out)
}

/// Convert the TLV at the start of `input`, append it to `out`, return what follows it.
fn convert<'a>(input: &'a [u8], out: &mut Vec<u8>, depth: usize) -> Result<&'a [u8], DecodeError> {
    if depth > MAX_DEPTH {
        return Err(err("nested too deeply"));
    }
    let (tag_bytes, rest) = split_tag(input)?;
    let constructed = tag_bytes.first().is_some_and(|t| t & 0x20 != 0);
    let (&first, mut rest) = rest.split_first().ok_or_else(|| err("missing length"))?;
    let mut body = Vec::new();
    if first == 0x80 {
        if !constructed {
            return Err(err("indefinite length on a primitive value"));
        }
        let mut count = 0;
        loop {
            if rest.starts_with(&[0, 0]) {
                rest = rest.get(2..).ok_or_else(|| err("truncated"))?;
                break;
            }
            if rest.is_empty() {
                return Err(err("missing end-of-contents"));
            }
            count += 1;
            check_set_size(tag_bytes, count)?;
            rest = convert(rest, &mut body, depth + 1)?;
        }
    } else {
        let (len, after) = read_length(first, rest)?;
        let value = after
            .get(..len)
            .ok_or_else(|| err("value longer than the input"))?;
        rest = after.get(len..).ok_or_else(|| err("truncated"))?;
        if constructed {
            let mut inner = value;
            let mut count = 0;
            while !inner.is_empty() {
                count += 1;
                check_set_size(tag_bytes, count)?;
                inner = convert(inner, &mut body, depth + 1)?;
            }
        } else {
            body.extend_from_slice(value);
        }
    }
    // X.690 §10.2: DER encodes an OCTET STRING primitively.
    if tag_bytes == [0x24] {
        let mut joined = Vec::with_capacity(body.len());
        let mut chunks = body.as_slice();
        while !chunks.is_empty() {
            let (tag, value, next) = split_der(chunks)?;
            if tag != 0x04 {
                return Err(err("OCTET STRING chunk is not an OCTET STRING"));
            }
            joined.extend_from_slice(value);
            chunks = next;
        }
        out.push(0x04);
        push_length(out, joined.len());
        out.extend_from_slice(&joined);
    } else {
        out.extend_from_slice(tag_bytes);
        push_length(out, body.len());
        out.extend_from_slice(&body);
    }
    Ok(rest)
}

fn check_set_size(tag_bytes: &[u8], count: usize) -> Result<(), DecodeError> {
    let is_set = match tag_bytes {
        [0x31] => true,
        [t] => t & 0xe0 == 0xa0,
        _ => false,
    };
    if is_set && count > MAX_SET_ELEMENTS {
        return Err(err("too many elements in a SET"));
    }
    Ok(())
}

fn split_tag(input: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let first = *input.first().ok_or_else(|| err("empty"))?;
    let mut n = 1;
    if first & 0x1f == 0x1f {
        // High tag number form: continuation bytes have the top bit set.
        loop {
            let b = *input.get(n).ok_or_else(|| err("truncated tag"))?;
            n += 1;
            if b & 0x80 == 0 {
                break;
            }
            if n > 5 {
                return Err(err("tag number too large"));
            }
        }
    }
    Ok((
        input.get(..n).ok_or_else(|| err("truncated tag"))?,
        input.get(n..).unwrap_or_default(),
    ))
}

fn read_length(first: u8, rest: &[u8]) -> Result<(usize, &[u8]), DecodeError> {
    if first < 0x80 {
        return Ok((usize::from(first), rest));
    }
    let n = usize::from(first & 0x7f);
    if n > 4 {
        return Err(err("length too large"));
    }
    let bytes = rest.get(..n).ok_or_else(|| err("truncated length"))?;
    let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
    Ok((len, rest.get(n..).unwrap_or_default()))
}

/// Split an already-DER single-byte-tag TLV (our own output).
fn split_der(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DecodeError> {
    let (&tag, rest) = input.split_first().ok_or_else(|| err("empty"))?;
    let (&first, rest) = rest.split_first().ok_or_else(|| err("missing length"))?;
    let (len, rest) = read_length(first, rest)?;
    let value = rest.get(..len).ok_or_else(|| err("truncated"))?;
    Ok((tag, value, rest.get(len..).unwrap_or_default()))
}

fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Fits in the short form: the cast keeps the value.
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_indefinite_lengths_and_chunked_octet_strings() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed: "ab" "c"), INTEGER 5 }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x02,
            0x01, 0x05, 0x00, 0x00,
        ];
        let der = [0x30, 0x08, 0x04, 0x03, b'a', b'b', b'c', 0x02, 0x01, 0x05];
        assert_eq!(to_der(&ber).unwrap(), der);
        // DER passes through unchanged.
        assert_eq!(to_der(&der).unwrap(), der);
    }

    #[test]
    fn makes_long_form_lengths_minimal() {
        assert_eq!(
            to_der(&[0x04, 0x81, 0x01, 0x07]).unwrap(),
            [0x04, 0x01, 0x07]
        );
        let long = [vec![0x04, 0x82, 0x00, 0x80], vec![0u8; 128]].concat();
        assert_eq!(to_der(&long).unwrap()[..3], [0x04, 0x81, 0x80]);
    }

    #[test]
    fn bounds_the_number_of_set_elements() {
        let set = |n: usize, tag: u8| {
            let body: Vec<u8> = (0..n).flat_map(|i| [0x02, 0x01, (n - i) as u8]).collect();
            [
                vec![tag, 0x82, (body.len() >> 8) as u8, body.len() as u8],
                body,
            ]
            .concat()
        };
        assert!(to_der(&set(MAX_SET_ELEMENTS, 0x31)).is_ok());
        assert!(to_der(&set(MAX_SET_ELEMENTS + 1, 0x31)).is_err());
        assert!(to_der(&set(MAX_SET_ELEMENTS + 1, 0xa0)).is_err());
        // SEQUENCEs are not sorted by anyone: no limit.
        assert!(to_der(&set(200, 0x30)).is_ok());
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x80, 0x02, 0x01, 0x05],
            &[0x04, 0x80, 0x00, 0x00],
            &[0x04, 0x05, 0x01],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x02, 0x01, 0x05, 0x00],
        ] {
            assert!(to_der(bad).is_err(), "{bad:02x?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x30, 0x80], 100).flatten().collect();
        assert!(to_der(&deep).is_err());
    }

    mod prop {
        use proptest::prelude::*;

        use super::super::to_der;

        #[derive(Debug, Clone)]
        enum Node {
            Octets(Vec<u8>),
            Int(u8),
            Seq(Vec<Node>),
        }

        fn node() -> impl Strategy<Value = Node> {
            let leaf = prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300).prop_map(Node::Octets),
                (0u8..0x80).prop_map(Node::Int),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                proptest::collection::vec(inner, 0..6).prop_map(Node::Seq)
            })
        }

        fn len(out: &mut Vec<u8>, n: usize) {
            if n < 0x80 {
                out.push(n as u8);
            } else if n < 0x100 {
                out.extend([0x81, n as u8]);
            } else {
                out.extend([0x82, (n >> 8) as u8, n as u8]);
            }
        }

        fn der(n: &Node) -> Vec<u8> {
            let mut out = Vec::new();
            match n {
                Node::Octets(v) => {
                    out.push(0x04);
                    len(&mut out, v.len());
                    out.extend(v);
                }
                Node::Int(i) => out.extend([0x02, 0x01, *i]),
                Node::Seq(children) => {
                    let body: Vec<u8> = children.iter().flat_map(der).collect();
                    out.push(0x30);
                    len(&mut out, body.len());
                    out.extend(body);
                }
            }
            out
        }

        /// Indefinite lengths everywhere and OCTET STRINGs cut into 7-byte chunks.
        fn ber(n: &Node) -> Vec<u8> {
            let mut out = Vec::new();
            match n {
                Node::Octets(v) if v.len() > 7 => {
                    out.extend([0x24, 0x80]);
                    for c in v.chunks(7) {
                        out.extend([0x04, c.len() as u8]);
                        out.extend(c);
                    }
                    out.extend([0, 0]);
                }
                Node::Seq(children) => {
                    out.extend([0x30, 0x80]);
                    for c in children {
                        out.extend(ber(c));
                    }
                    out.extend([0, 0]);
                }
                other => out.extend(der(other)),
            }
            out
        }

        proptest! {
            #[test]
            fn ber_of_any_tree_normalises_to_its_der(tree in node()) {
                let d = der(&tree);
                prop_assert_eq!(to_der(&ber(&tree)).unwrap(), d.clone());
                prop_assert_eq!(to_der(&d).unwrap(), d);
            }

            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = to_der(&bytes);
            }
        }
    }
}
