//! Text from the wire for identity facts and event fields: bounded, printable, trimmed; and
//! a shorthand to report a fact.

use yagura_core::{Attribute, IdentityFact, Subject};

use crate::PduSink;

/// Longest text value kept from a packet (longer values are cut at a character boundary).
pub(crate) const MAX_TEXT: usize = 256;

/// `b` as text: ASCII/UTF-8 with control characters replaced by spaces, trimmed, cut to
/// [`MAX_TEXT`] bytes; `None` when nothing printable is left.
pub(crate) fn printable(b: &[u8]) -> Option<String> {
    // Printable ASCII (header values, names, versions: the usual case) is kept as it is, one
    // character a byte: only the first MAX_TEXT bytes can show, and trimming can remove only
    // blanks. Agrees with `printable_general` (tested).
    let head = &b[..b.len().min(MAX_TEXT)];
    if head.iter().all(|c| (0x20..0x7f).contains(c)) {
        let t = head.trim_ascii();
        return (!t.is_empty()).then(|| String::from_utf8_lossy(t).into_owned());
    }
    printable_general(b)
}

/// [`printable`] for any bytes.
fn printable_general(b: &[u8]) -> Option<String> {
    let b = &b[..b.len().min(MAX_TEXT * 4)];
    let s = String::from_utf8_lossy(b);
    let mut out = String::with_capacity(s.len().min(MAX_TEXT));
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_TEXT {
            break;
        }
        out.push(c);
    }
    let t = out.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// UTF-16LE bytes as text (NTLMSSP, SMB Unicode strings), with [`printable`]'s rules; an odd
/// last byte is ignored, unpaired surrogates become U+FFFD.
pub(crate) fn utf16le(b: &[u8]) -> Option<String> {
    let units = b
        .chunks_exact(2)
        .take(MAX_TEXT)
        .map(|p| u16::from_le_bytes([p[0], p[1]]));
    let s: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    printable(s.as_bytes())
}

/// Report one fact of `protocol`.
#[inline]
pub(crate) fn fact(
    sink: &mut dyn PduSink,
    protocol: &'static str,
    subject: Subject,
    attribute: Attribute,
    value: impl Into<String>,
) {
    let value = value.into();
    if value.is_empty() {
        return;
    }
    sink.identity(IdentityFact {
        protocol,
        subject,
        attribute,
        value,
    });
}

/// `b` as lowercase hex digits, a `sep` between bytes when given, at most `max` bytes (no
/// allocation per byte: identifiers are formatted per message on the counting path).
pub(crate) fn hex(b: &[u8], sep: Option<char>, max: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let n = b.len().min(max);
    let mut s = Vec::with_capacity(n * 3);
    let sep = sep.filter(char::is_ascii).map(|c| c as u8);
    for (i, &x) in b[..n].iter().enumerate() {
        if let (Some(c), true) = (sep, i > 0) {
            s.push(c);
        }
        s.extend_from_slice(&[DIGITS[usize::from(x >> 4)], DIGITS[usize::from(x & 0x0f)]]);
    }
    // Only ASCII was written.
    String::from_utf8(s).unwrap_or_default()
}

/// Longest domain name in text form (RFC 1035 2.3.4, without the trailing dot).
const MAX_DOMAIN: usize = 253;

/// `raw` as a domain name threat intelligence can match: printable ASCII without blanks,
/// lowercase, without a trailing dot, at most 253 characters, not an address literal.
/// `None` for anything else (a name with other bytes is not matched rather than mangled).
pub(crate) fn domain(raw: &[u8]) -> Option<String> {
    let raw = raw.strip_suffix(b".").unwrap_or(raw);
    if raw.is_empty() || raw.len() > MAX_DOMAIN || !raw.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    let s = String::from_utf8_lossy(raw).to_ascii_lowercase();
    s.parse::<std::net::IpAddr>().is_err().then_some(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn domains_are_normalised_and_literals_refused() {
        use super::domain;
        assert_eq!(
            domain(b"WWW.Example.COM.").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(domain(b"10.0.0.1"), None);
        assert_eq!(domain(b"::1"), None);
        assert_eq!(domain(b""), None);
        assert_eq!(domain(b"."), None);
        assert_eq!(domain(b"a b.example"), None);
        assert_eq!(domain(&[b'a'; 254]), None);
        assert_eq!(domain("é.example".as_bytes()), None);
    }

    #[test]
    fn hex_agrees_with_format() {
        let b: Vec<u8> = (0..=255).collect();
        let plain: String = b.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(super::hex(&b, None, usize::MAX), plain);
        let sep: Vec<String> = b[..6].iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(super::hex(&b, Some(':'), 6), sep.join(":"));
        assert_eq!(super::hex(&[], Some(':'), 6), "");
    }

    use super::*;

    /// Mostly printable ASCII, with blanks, controls and non-ASCII bytes mixed in.
    fn texty() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                8 => 0x20u8..0x7f,
                1 => Just(b' '),
                1 => Just(0u8),
                1 => any::<u8>(),
            ],
            0..300,
        )
    }

    proptest::proptest! {
        #[test]
        fn printable_ascii_shortcut_agrees(b in texty()) {
            proptest::prop_assert_eq!(printable(&b), printable_general(&b));
        }
    }

    #[test]
    fn ascii_shortcut_agrees_at_the_cut() {
        for b in [
            vec![b'x'; MAX_TEXT + 10],
            [vec![b'x'; MAX_TEXT], vec![0xff; 4]].concat(),
            [vec![b' '; MAX_TEXT], b"abc".to_vec()].concat(),
            [vec![b'a'; MAX_TEXT - 1], vec![0xc3, 0xa9]].concat(),
        ] {
            assert_eq!(printable(&b), printable_general(&b));
        }
    }

    #[test]
    fn cleans_and_bounds() {
        assert_eq!(printable(b"  abc\0\r\n").as_deref(), Some("abc"));
        assert_eq!(printable(b"\0\0"), None);
        assert_eq!(printable(&[b'x'; 1000]).map(|s| s.len()), Some(MAX_TEXT));
        assert_eq!(utf16le(&[b'P', 0, b'C', 0, 0xff]).as_deref(), Some("PC"));
    }
}
