//! DNP3 wire constants: application control and IIN bits, object qualifiers and the sizes of
//! the object groups (IEEE 1815-2012, 4.2.2 and Annex A).

/// Application control octet: first fragment of a message.
pub const AC_FIR: u8 = 0x80;
/// Application control octet: final fragment of a message.
pub const AC_FIN: u8 = 0x40;
/// Application control octet: confirmation requested.
pub const AC_CON: u8 = 0x20;
/// Application control octet: unsolicited response (or its confirmation).
pub const AC_UNS: u8 = 0x10;
/// Application control octet: sequence number.
pub const AC_SEQ: u8 = 0x0f;

/// IIN flag names, indexed by bit of the 16-bit value IIN1 << 8 | IIN2 (bit 15 = IIN1.7).
/// IIN2.6 and IIN2.7 are reserved.
const IIN_NAMES: [&str; 16] = [
    "no_func_code_support", // IIN2.0
    "object_unknown",       // IIN2.1
    "parameter_error",      // IIN2.2
    "event_buffer_overflow",
    "already_executing",
    "config_corrupt",
    "reserved_2",
    "reserved_1",
    "all_stations", // IIN1.0 (broadcast received)
    "class_1_events",
    "class_2_events",
    "class_3_events",
    "need_time",
    "local_control",
    "device_trouble",
    "device_restart", // IIN1.7
];

/// The names of the IIN bits set in `iin` (IIN1 << 8 | IIN2), comma-separated, IIN1 first.
pub fn iin_flags(iin: u16) -> String {
    let mut s = String::new();
    for bit in (8..16).chain(0..8) {
        if iin & (1 << bit) != 0 {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(IIN_NAMES[bit]);
        }
    }
    s
}

/// The size of the objects of one group and variation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjSize {
    /// This many octets per object.
    Fixed(u8),
    /// Packed: this many bits per object, the whole range rounded up to octets.
    Bits(u8),
    /// No object data, even in responses (class objects, "any variation" requests).
    Nothing,
    /// Device attributes (group 0): each object is a data-type octet, a length octet and
    /// that many octets.
    Attribute,
    /// Not known to this table: the rest of the fragment cannot be walked.
    Unknown,
}

/// The object size of group `g`, variation `v` when the object carries data. Variation 0
/// ("any variation") never does. Inlined into the object walk (a call per object header;
/// `#[inline]` alone left it a call).
#[inline(always)]
pub fn obj_size(g: u8, v: u8) -> ObjSize {
    use ObjSize::{Attribute, Bits, Fixed, Nothing, Unknown};
    if v == 0 {
        return Nothing;
    }
    // Octet sizes of the event/frozen variations: flag + 32-bit, flag + 16-bit,
    // flag + 32-bit + time, flag + 16-bit + time, flag + float, flag + double,
    // flag + float + time, flag + double + time.
    const ANALOG_EVENT: [u8; 8] = [5, 3, 11, 9, 5, 9, 11, 15];
    let pick = |t: &[u8]| t.get(usize::from(v) - 1).map_or(Unknown, |&n| Fixed(n));
    match g {
        0 => Attribute,
        1 => match v {
            1 => Bits(1),
            2 => Fixed(1),
            _ => Unknown,
        },
        2 | 4 => pick(&[1, 7, 3]),
        3 => match v {
            1 => Bits(2),
            2 => Fixed(1),
            _ => Unknown,
        },
        10 => match v {
            1 => Bits(1),
            2 => Fixed(1),
            _ => Unknown,
        },
        11 | 13 => pick(&[1, 7]),
        12 => match v {
            1 | 2 => Fixed(11),
            3 => Bits(1),
            _ => Unknown,
        },
        20 => pick(&[5, 3, 5, 3, 4, 2, 4, 2]),
        21 => pick(&[5, 3, 5, 3, 11, 9, 11, 9, 4, 2, 4, 2]),
        22 | 23 => pick(&[5, 3, 5, 3, 11, 9, 11, 9]),
        30 => pick(&[5, 3, 4, 2, 5, 9]),
        31 => pick(&[5, 3, 11, 9, 4, 2, 5, 9]),
        32 | 33 | 42 | 43 => pick(&ANALOG_EVENT),
        34 => pick(&[2, 4, 4]),
        40 => pick(&[5, 3, 5, 9]),
        41 => pick(&[5, 3, 5, 9]),
        50 => pick(&[6, 10, 6, 11]),
        51 => pick(&[6, 6]),
        52 => pick(&[2, 2]),
        60 => Nothing,
        80 => match v {
            1 => Bits(1),
            _ => Unknown,
        },
        101 => pick(&[2, 4, 8]),
        102 => pick(&[1]),
        // Octet strings and virtual terminal data: the variation is the length.
        110..=113 => Fixed(v),
        121 => pick(&[7]),
        122 => pick(&[7, 13]),
        _ => Unknown,
    }
}

/// Does an object header of group `g` carry object data in a fragment of function `fc`?
/// Requests that only name points (read, freeze, class assignment, unsolicited control)
/// carry headers alone, except the time object of freeze-at-time.
pub fn has_data(fc: u8, g: u8) -> bool {
    match fc {
        1 | 7..=10 | 20..=22 => false,
        11 | 12 => g == 50,
        _ => true,
    }
}

/// Qualifier range specifier: how the range field is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Start and stop indices (or virtual addresses), each `n` octets.
    StartStop(u8),
    /// No range field: all objects.
    All,
    /// A count of `n` octets.
    Count(u8),
    /// Reserved code.
    Reserved,
}

/// The range specifier code (low nibble of the qualifier).
pub fn range(q: u8) -> Range {
    match q & 0x0f {
        0 | 3 => Range::StartStop(1),
        1 | 4 => Range::StartStop(2),
        2 | 5 => Range::StartStop(4),
        6 => Range::All,
        7 | 0x0b => Range::Count(1),
        8 => Range::Count(2),
        9 => Range::Count(4),
        _ => Range::Reserved,
    }
}

/// The prefix code (bits 4..6 of the qualifier): `(octets, is_size)`; `None` if reserved.
/// Codes 1..3 prefix each object with its index, 4..6 with its size.
pub fn prefix(q: u8) -> Option<(u8, bool)> {
    match (q >> 4) & 0x07 {
        0 => Some((0, false)),
        1 => Some((1, false)),
        2 => Some((2, false)),
        3 => Some((4, false)),
        4 => Some((1, true)),
        5 => Some((2, true)),
        6 => Some((4, true)),
        _ => None,
    }
}
