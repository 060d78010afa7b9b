//! Names and resource records (RFC 1035 3.1, 4.1.3, 4.1.4), and NetBIOS names (RFC 1002
//! 4.1). Every walk is bounded: compression pointers only point backwards and are followed
//! at most [`MAX_JUMPS`] times, a name has at most [`MAX_LABELS`] labels and 255 octets, and
//! a message yields at most [`MAX_RECORDS`] records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::be16;

/// Compression pointers followed per name.
pub const MAX_JUMPS: usize = 16;
/// Labels per name.
pub const MAX_LABELS: usize = 128;
/// Records walked per message (answer, authority and additional sections together).
pub const MAX_RECORDS: usize = 256;
/// Longest name in text form (RFC 1035 2.3.4).
const MAX_NAME: usize = 255;

/// IPv4 address record.
pub const A: u16 = 1;
/// Domain name pointer.
pub const PTR: u16 = 12;
/// Text strings.
pub const TXT: u16 = 16;
/// IPv6 address record.
pub const AAAA: u16 = 28;
/// NetBIOS general name service resource record (RFC 1002 4.2.1.3).
pub const NB: u16 = 0x20;
/// NetBIOS node status resource record (RFC 1002 4.2.18).
pub const NBSTAT: u16 = 0x21;

/// The name at `at` of message `m`: its labels in wire form (without compression), and the
/// offset just past the name where it starts (not where a pointer led).
pub fn name(m: &[u8], at: usize) -> Option<(Vec<u8>, usize)> {
    let mut out: Vec<u8> = Vec::new();
    let end = walk(m, at, |label| {
        if !out.is_empty() {
            out.push(b'.');
        }
        out.extend_from_slice(label);
    })?;
    Some((out, end))
}

/// The offset just past the name at `at` (where it starts, not where a pointer led), with
/// the same checks as [`name`] but without building it.
pub fn skip_name(m: &[u8], at: usize) -> Option<usize> {
    walk(m, at, |_| {})
}

/// Walk the name at `at`, handing each label to `label` in order; the offset just past the
/// name where it starts. `None` when a label or pointer is out of bounds, a pointer does not
/// point backwards, there are too many jumps, or the text form (labels and dots) would
/// exceed [`MAX_NAME`].
fn walk(m: &[u8], mut at: usize, mut label: impl FnMut(&[u8])) -> Option<usize> {
    let mut end = None;
    let mut jumps = 0;
    let mut len = 0usize;
    for _ in 0..MAX_LABELS + MAX_JUMPS {
        let l = *m.get(at)?;
        match l {
            0 => return Some(end.unwrap_or(at + 1)),
            1..=63 => {
                let bytes = m.get(at + 1..at + 1 + l as usize)?;
                len += usize::from(l) + usize::from(len > 0);
                if len > MAX_NAME {
                    return None;
                }
                label(bytes);
                at += 1 + l as usize;
            }
            0xc0..=0xff => {
                let ptr = (be16(m, at)? & 0x3fff) as usize;
                jumps += 1;
                // Only backwards: a pointer to itself or further on could loop.
                if jumps > MAX_JUMPS || ptr >= at {
                    return None;
                }
                end.get_or_insert(at + 2);
                at = ptr;
            }
            _ => return None,
        }
    }
    None
}

/// A name in wire form as text: printable ASCII kept, other octets as `?`.
pub fn text(name: &[u8]) -> String {
    let b: Vec<u8> = name
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b } else { b'?' })
        .collect();
    // Only ASCII is left.
    String::from_utf8(b).unwrap_or_default()
}

/// One resource record: owner name, type, and its data's range in the message.
#[derive(Debug, Clone)]
pub struct Record {
    pub name: Vec<u8>,
    pub rtype: u16,
    pub data: (usize, usize),
}

/// Offset past the question section (`qd` questions from the header end).
pub fn skip_questions(m: &[u8], qd: u16) -> Option<usize> {
    let mut at = super::HEADER_LEN;
    for _ in 0..qd.min(MAX_RECORDS as u16) {
        let e = skip_name(m, at)?;
        at = e.checked_add(4).filter(|&e| e <= m.len())?;
    }
    Some(at)
}

/// Up to `count` records from `at` (stops at the first that does not parse).
pub fn records(m: &[u8], mut at: usize, count: usize) -> Vec<Record> {
    let mut out = Vec::new();
    for _ in 0..count.min(MAX_RECORDS) {
        let Some((owner, e)) = name(m, at) else { break };
        let (Some(rtype), Some(rdlen)) = (be16(m, e), be16(m, e + 8)) else {
            break;
        };
        let start = e + 10;
        let end = start + rdlen as usize;
        if end > m.len() {
            break;
        }
        out.push(Record {
            name: owner,
            rtype,
            data: (start, end),
        });
        at = end;
    }
    out
}

/// The address a reverse-lookup name stands for (`4.3.2.1.in-addr.arpa`, 32 nibbles then
/// `ip6.arpa`).
pub fn reverse_addr(name: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    let s = s.strip_suffix('.').unwrap_or(&s);
    if let Some(v4) = s.strip_suffix(".in-addr.arpa") {
        let parts: Vec<&str> = v4.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        let mut o = [0u8; 4];
        for (i, p) in parts.iter().rev().enumerate() {
            o[i] = p.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(o)));
    }
    let v6 = s.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = v6.split('.').collect();
    if nibbles.len() != 32 {
        return None;
    }
    let mut o = [0u8; 16];
    for (i, n) in nibbles.iter().rev().enumerate() {
        let v = u8::from_str_radix(n, 16).ok().filter(|_| n.len() == 1)?;
        o[i / 2] |= if i % 2 == 0 { v << 4 } else { v };
    }
    Some(IpAddr::V6(Ipv6Addr::from(o)))
}

/// The address in an A or AAAA record's data.
pub fn addr(rtype: u16, data: &[u8]) -> Option<IpAddr> {
    match (rtype, data.len()) {
        (A, 4) => Some(IpAddr::V4(Ipv4Addr::new(
            data[0], data[1], data[2], data[3],
        ))),
        (AAAA, 16) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(data);
            Some(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => None,
    }
}

/// A NetBIOS name: the 15-character name (trailing spaces removed) and its suffix type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbName {
    pub name: String,
    pub suffix: u8,
}

impl NbName {
    /// The usual `NAME<xx>` form.
    pub fn display(&self) -> String {
        format!("{}<{:02x}>", self.name, self.suffix)
    }
}

/// Decode a first-level encoded NetBIOS name (the first label of a wire name: 32 letters
/// `A`..`P`, two per octet). The scope (further labels) is ignored.
pub fn nb_name(wire: &[u8]) -> Option<NbName> {
    let enc = wire.split(|&b| b == b'.').next()?;
    if enc.len() != 32 {
        return None;
    }
    let mut raw = [0u8; 16];
    for (i, p) in enc.chunks_exact(2).enumerate() {
        let (h, l) = (p[0].wrapping_sub(b'A'), p[1].wrapping_sub(b'A'));
        if h > 15 || l > 15 {
            return None;
        }
        raw[i] = h << 4 | l;
    }
    Some(nb_raw(&raw))
}

/// A 16-octet NetBIOS name as in node status answers (15 characters and the suffix).
pub fn nb_raw(raw: &[u8; 16]) -> NbName {
    let name: String = raw[..15]
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    NbName {
        name: name.trim_end().to_string(),
        suffix: raw[15],
    }
}
