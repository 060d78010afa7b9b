//! The DNP3 application layer of one reassembled fragment: its header (control, function,
//! IIN) and a walk over its object headers that never allocates.

use std::fmt::Write as _;

use crate::Anomaly;
use crate::bytes::be16;

use super::wire::{self, ObjSize, Range};

/// The application header of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppHeader {
    /// Application control octet (FIR, FIN, CON, UNS, SEQ).
    pub control: u8,
    /// Function code.
    pub function: u8,
    /// Internal indications (IIN1 << 8 | IIN2) of a response.
    pub iin: Option<u16>,
    /// Offset of the first object header.
    pub objects: usize,
}

/// Is `fc` a response function (response, unsolicited response, authentication response)?
#[inline]
pub fn is_response(fc: u8) -> bool {
    fc >= 0x81
}

/// Parse the application header at the front of `frag`. `None` when the control and
/// function octets are missing; a response whose IIN is cut has `iin: None`.
pub fn header(frag: &[u8]) -> Option<AppHeader> {
    let (&control, rest) = frag.split_first()?;
    let &function = rest.first()?;
    let (iin, objects) = if is_response(function) {
        (be16(frag, 2), 4)
    } else {
        (None, 2)
    };
    Some(AppHeader {
        control,
        function,
        iin,
        objects: objects.min(frag.len()),
    })
}

/// The range of one object header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRange {
    /// Start and stop index (or virtual address), inclusive.
    StartStop(u32, u32),
    /// All objects of the type (qualifier 0x06).
    All,
    /// A count of objects.
    Count(u32),
    /// A reserved qualifier: the range cannot be read.
    Reserved,
}

/// One object header: group, variation, qualifier and range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjHeader {
    /// Object group.
    pub group: u8,
    /// Object variation.
    pub variation: u8,
    /// Qualifier octet (prefix code, range specifier code).
    pub qualifier: u8,
    /// The decoded range field.
    pub range: HeaderRange,
}

impl ObjHeader {
    /// Objects the header covers.
    pub fn count(&self) -> u64 {
        match self.range {
            HeaderRange::StartStop(a, b) => u64::from(b) - u64::from(a) + 1,
            HeaderRange::All | HeaderRange::Reserved => 0,
            HeaderRange::Count(n) => u64::from(n),
        }
    }

    /// Compact text: `g30v1 q0x01 0-9`, `g12v1 q0x28 n=1`, `g60v1 q0x06`.
    pub fn describe(&self, out: &mut String) {
        let _ = write!(
            out,
            "g{}v{} q0x{:02x}",
            self.group, self.variation, self.qualifier
        );
        let _ = match self.range {
            HeaderRange::StartStop(a, b) => write!(out, " {a}-{b}"),
            HeaderRange::All => Ok(()),
            HeaderRange::Count(n) => write!(out, " n={n}"),
            HeaderRange::Reserved => write!(out, " reserved"),
        };
    }
}

/// How a walk over the object headers ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// Every octet was accounted for.
    Done,
    /// An object whose size this dissector does not know: the rest was not walked.
    Unknown,
    /// The objects contradict their headers.
    Bad(Anomaly),
}

/// A little-endian unsigned integer of `n` (1, 2 or 4) octets at `*off`, advancing it.
fn uint(b: &[u8], off: &mut usize, n: u8) -> Option<u32> {
    let end = off.checked_add(usize::from(n))?;
    let s = b.get(*off..end)?;
    *off = end;
    // The widths qualifiers use (1, 2, 4) as whole loads rather than a loop over octets.
    Some(match *s {
        [a] => u32::from(a),
        [a, b] => u32::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
        _ => s.iter().rev().fold(0u32, |a, &x| (a << 8) | u32::from(x)),
    })
}

/// Skip `n` octets at `*off`; false when fewer remain.
fn skip(b: &[u8], off: &mut usize, n: u64) -> bool {
    match usize::try_from(n).ok().and_then(|n| off.checked_add(n)) {
        Some(end) if end <= b.len() => {
            *off = end;
            true
        }
        _ => false,
    }
}

/// Walk the object headers of `objs` (the fragment after its application header) of a
/// fragment with function `fc`, calling `each` per header, and `attribute` per device
/// attribute object (group 0: its header, data type code and value octets). Returns the
/// number of headers and how the walk ended. Bounded: every step consumes at least one
/// octet. Inlined into its callers (the fragment calls it once per fragment).
#[inline(always)]
pub fn walk(
    objs: &[u8],
    fc: u8,
    mut each: impl FnMut(&ObjHeader),
    mut attribute: impl FnMut(&ObjHeader, u8, &[u8]),
) -> (u32, WalkEnd) {
    use WalkEnd::{Bad, Done, Unknown};
    let mut off = 0;
    let mut n = 0u32;
    let truncated = |n| (n, Bad(Anomaly::Truncated));
    let bad = |n| (n, Bad(Anomaly::BadObjectHeader));
    while off < objs.len() {
        let Some(&[group, variation, qualifier]) = objs.get(off..off + 3) else {
            return truncated(n);
        };
        off += 3;
        let prefix = wire::prefix(qualifier).filter(|_| qualifier & 0x80 == 0);
        let reserved = ObjHeader {
            group,
            variation,
            qualifier,
            range: HeaderRange::Reserved,
        };
        let Some((plen, is_size)) = prefix else {
            each(&reserved);
            return bad(n + 1);
        };
        let range = match wire::range(qualifier) {
            Range::StartStop(w) => {
                let (Some(a), Some(b)) = (uint(objs, &mut off, w), uint(objs, &mut off, w)) else {
                    return truncated(n);
                };
                if b < a {
                    return bad(n);
                }
                HeaderRange::StartStop(a, b)
            }
            Range::All => HeaderRange::All,
            Range::Count(w) => match uint(objs, &mut off, w) {
                Some(c) => HeaderRange::Count(c),
                None => return truncated(n),
            },
            Range::Reserved => {
                each(&reserved);
                return bad(n + 1);
            }
        };
        let h = ObjHeader {
            group,
            variation,
            qualifier,
            range,
        };
        n += 1;
        each(&h);
        let count = h.count();
        if is_size {
            // Free-format objects, each preceded by its size (also in requests: a read of
            // file data names the file by a sized object).
            for _ in 0..count {
                let Some(size) = uint(objs, &mut off, plen) else {
                    return truncated(n);
                };
                if !skip(objs, &mut off, u64::from(size)) {
                    return truncated(n);
                }
            }
            continue;
        }
        if count == 0 || !wire::has_data(fc, group) {
            continue;
        }
        let p = u64::from(plen);
        let need = match wire::obj_size(group, variation) {
            ObjSize::Nothing => count * p,
            ObjSize::Fixed(sz) => count * (p + u64::from(sz)),
            ObjSize::Bits(bits) if p == 0 => (count * u64::from(bits)).div_ceil(8),
            ObjSize::Attribute => {
                // Each: the prefix, a data type code, a length and the value.
                for _ in 0..count {
                    if !skip(objs, &mut off, p) {
                        return truncated(n);
                    }
                    let (Some(&dtype), Some(&len)) = (objs.get(off), objs.get(off + 1)) else {
                        return truncated(n);
                    };
                    let Some(value) = objs.get(off + 2..off + 2 + usize::from(len)) else {
                        return truncated(n);
                    };
                    attribute(&h, dtype, value);
                    off += 2 + usize::from(len);
                }
                continue;
            }
            ObjSize::Bits(_) | ObjSize::Unknown => return (n, Unknown),
        };
        if !skip(objs, &mut off, need) {
            return truncated(n);
        }
    }
    (n, Done)
}
