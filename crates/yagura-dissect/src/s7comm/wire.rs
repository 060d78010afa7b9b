//! S7comm (protocol id 0x32) header, function codes and userdata parameter.

use crate::bytes::{be16, u8_at};

/// S7comm header field offsets.
mod field {
    pub const PROTOCOL_ID: usize = 0;
    pub const ROSCTR: usize = 1;
    pub const PDU_REF: usize = 4;
    pub const PARAM_LEN: usize = 6;
    pub const DATA_LEN: usize = 8;
    /// Only in Ack and Ack_Data headers.
    pub const ERROR_CLASS: usize = 10;
    pub const ERROR_CODE: usize = 11;
}

/// The S7comm protocol id byte.
pub const PROTOCOL_ID: u8 = 0x32;

open_enum! {
    /// ROSCTR: the S7comm PDU type.
    pub struct Rosctr(u8) {
        JOB = 1 => "job",
        ACK = 2 => "ack",
        ACK_DATA = 3 => "ack_data",
        USERDATA = 7 => "userdata",
    }
}

impl Rosctr {
    /// Header length for this PDU type (Ack and Ack_Data carry an error class and code).
    pub const fn header_len(self) -> usize {
        match self.0 {
            2 | 3 => 12,
            _ => 10,
        }
    }
}

open_enum! {
    /// Job / Ack_Data function codes (first parameter byte).
    pub struct Function(u8) {
        CPU_SERVICES = 0x00 => "cpu_services",
        READ_VAR = 0x04 => "read_var",
        WRITE_VAR = 0x05 => "write_var",
        REQUEST_DOWNLOAD = 0x1a => "request_download",
        DOWNLOAD_BLOCK = 0x1b => "download_block",
        DOWNLOAD_ENDED = 0x1c => "download_ended",
        START_UPLOAD = 0x1d => "start_upload",
        UPLOAD = 0x1e => "upload",
        END_UPLOAD = 0x1f => "end_upload",
        PI_SERVICE = 0x28 => "pi_service",
        PLC_STOP = 0x29 => "plc_stop",
        SETUP_COMMUNICATION = 0xf0 => "setup_communication",
    }
}

/// A checked view of one S7comm PDU: `new_checked` guarantees the header for its ROSCTR is
/// present; parameter and data are clipped to the bytes present.
#[derive(Debug, Clone, Copy)]
pub struct S7Header<'a>(&'a [u8]);

impl<'a> S7Header<'a> {
    /// A view if `b` starts with 0x32 and holds the header its ROSCTR requires.
    #[inline]
    pub fn new_checked(b: &'a [u8]) -> Option<S7Header<'a>> {
        let r = Rosctr(u8_at(b, field::ROSCTR)?);
        (b[field::PROTOCOL_ID] == PROTOCOL_ID && b.len() >= r.header_len()).then_some(S7Header(b))
    }
    /// PDU type.
    #[inline]
    pub fn rosctr(&self) -> Rosctr {
        Rosctr(self.0[field::ROSCTR])
    }
    /// PDU reference, echoed in the answer.
    #[inline]
    pub fn pdu_ref(&self) -> u16 {
        be16(self.0, field::PDU_REF).unwrap_or(0)
    }
    /// Parameter length field.
    #[inline]
    pub fn param_len(&self) -> usize {
        be16(self.0, field::PARAM_LEN).unwrap_or(0) as usize
    }
    /// Data length field.
    #[inline]
    pub fn data_len(&self) -> usize {
        be16(self.0, field::DATA_LEN).unwrap_or(0) as usize
    }
    /// Error class and code (Ack, Ack_Data).
    #[inline]
    pub fn error(&self) -> Option<(u8, u8)> {
        // `new_checked` saw the 12-byte header; read without a bounds check that could
        // panic, so that a caller not using the error does not read it either.
        match (
            self.rosctr().header_len(),
            self.0.get(field::ERROR_CLASS..=field::ERROR_CODE),
        ) {
            (12, Some(&[c, e])) => Some((c, e)),
            _ => None,
        }
    }
    /// The length the header announces.
    #[inline]
    pub fn announced_len(&self) -> usize {
        self.rosctr().header_len() + self.param_len() + self.data_len()
    }
    /// Parameter bytes (clipped to what is present).
    #[inline]
    pub fn param(&self) -> &'a [u8] {
        let s = self.rosctr().header_len();
        let e = (s + self.param_len()).min(self.0.len());
        &self.0[s..e]
    }
    /// Data bytes (clipped to what is present).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        let s = (self.rosctr().header_len() + self.param_len()).min(self.0.len());
        let e = (s + self.data_len()).min(self.0.len());
        &self.0[s..e]
    }
}

/// Userdata parameter field offsets (after the 3-byte parameter head and the length byte).
pub mod userdata {
    /// Parameter length after the 4-byte head: 4 (requests, pushes) or 8 (responses and
    /// follow-up requests, which add data unit reference, last-unit flag and error code).
    pub const LENGTH: usize = 3;
    /// Method: 0x11 request/push, 0x12 response or follow-up request.
    pub const METHOD: usize = 4;
    /// Type (high nibble: 0 push, 4 request, 8 response) and function group (low nibble).
    pub const TYPE_GROUP: usize = 5;
    /// Subfunction within the group.
    pub const SUBFUNCTION: usize = 6;
    /// Sequence number (assigned by the answering side, echoed by follow-up requests).
    pub const SEQUENCE: usize = 7;
    /// Only in 12-byte parameters: non-zero while more data units follow.
    pub const LAST_DATA_UNIT: usize = 9;
    /// Only in 12-byte (response) parameters.
    pub const ERROR_CODE: usize = 10;
    /// The parameter head of requests and responses (a mode-transition push has 01 00 10;
    /// the head is not validated, as in Wireshark).
    pub const HEAD: [u8; 3] = [0x00, 0x01, 0x12];
}

/// Name of a userdata function (group, subfunction), where known.
pub fn userdata_name(group: u8, sub: u8) -> Option<&'static str> {
    Some(match (group, sub) {
        (0, _) => "mode_transition",
        (1, _) => "programmer_command",
        (2, 1) => "cyclic_read",
        (2, 4) => "cyclic_unsubscribe",
        (2, 5) => "cyclic_change_driven",
        (3, 1) => "list_blocks",
        (3, 2) => "list_blocks_of_type",
        (3, 3) => "get_block_info",
        (4, 1) => "read_szl",
        (4, 2) => "message_service",
        (4, 3) => "diagnostic_message",
        (4, 5..=0x16) => "alarm",
        (5, 1) => "plc_password",
        (5, 2) => "clean_session",
        (6, _) => "programmable_block_communication",
        (7, 1) => "read_clock",
        (7, 2) => "set_clock",
        (7, 3) => "read_clock_following",
        (7, 4) => "set_clock",
        (0xf, _) => "nc_programming",
        _ => return None,
    })
}

/// S7 memory areas of an S7ANY item address.
pub fn area_name(area: u8) -> Option<&'static str> {
    Some(match area {
        0x03 => "SI",
        0x05 => "SF",
        0x06 => "AI",
        0x07 => "AQ",
        0x80 => "P",
        0x81 => "I",
        0x82 => "Q",
        0x83 => "M",
        0x84 => "DB",
        0x85 => "DI",
        0x86 => "L",
        0x87 => "V",
        0x1c => "C",
        0x1d => "T",
        0x1e => "IEC_C",
        0x1f => "IEC_T",
        _ => return None,
    })
}

/// Area codes whose address is a number (counters, timers), not a bit offset.
pub const fn area_is_numbered(area: u8) -> bool {
    matches!(area, 0x1c..=0x1f)
}

/// Area codes that carry a DB number.
pub const fn area_has_db(area: u8) -> bool {
    matches!(area, 0x84 | 0x85)
}

/// Syntax id of the usual S7 "ANY" item address.
pub const SYNTAX_S7ANY: u8 = 0x10;
/// Transport size BIT of an item request.
pub const TS_BIT: u8 = 0x01;

/// The first item of a Read/Write Var request parameter: the parameter has function, item
/// count, then items `12 LL syntax …` of `2 + LL` bytes; the S7ANY syntax (LL = 10) is
/// transport size, length, DB number, area and a 24-bit address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Item {
    /// Syntax id (0x10 = S7ANY).
    pub syntax: u8,
    /// Transport size (1 = bit, 2 = byte, …).
    pub transport_size: u8,
    /// DB number.
    pub db: u16,
    /// Memory area code.
    pub area: u8,
    /// The raw 24-bit address: bit offset (byte * 8 + bit), or the number for C/T areas.
    pub address: u32,
}

impl Item {
    /// Parse an item at the front of `b`; `None` when it is not a well-formed S7ANY item
    /// (other syntaxes are reported by their syntax id only). Inlined for the reason given at
    /// `JobInfo::parse`.
    #[inline(always)]
    pub fn parse(b: &[u8]) -> Option<(Item, usize)> {
        let size = Item::size(b)?;
        Some((Item::read(b, size), size))
    }

    /// The size of a well-formed item at the front of `b` (see [`Item::parse`]). The walk
    /// over a Job's items needs only this: the fields are read from the first item alone.
    #[inline(always)]
    pub fn size(b: &[u8]) -> Option<usize> {
        let &[0x12, len, _, ..] = b else {
            return None;
        };
        let size = 2 + len as usize;
        (b.len() >= size).then_some(size)
    }

    /// The fields of the item at the front of `b`, of `size` bytes (as [`Item::size`] says).
    #[inline(always)]
    pub fn read(b: &[u8], size: usize) -> Item {
        let mut it = Item {
            syntax: u8_at(b, 2).unwrap_or_default(),
            ..Item::default()
        };
        // An S7ANY address is 10 bytes after the length (LL >= 10).
        if it.syntax == SYNTAX_S7ANY
            && size >= 12
            && let Some(&[_, _, _, ts, _, _, d0, d1, area, a0, a1, a2]) = b.get(..12)
        {
            it.transport_size = ts;
            it.db = u16::from_be_bytes([d0, d1]);
            it.area = area;
            it.address = u32::from_be_bytes([0, a0, a1, a2]);
        }
        it
    }
}

/// A block named in a block function or PI service: two ASCII digits of type, five of
/// number, and (in file names) the file system letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockId {
    /// Type code, two ASCII characters (`08` OB, `0A` DB, …).
    pub kind: [u8; 2],
    /// Block number.
    pub number: u32,
}

impl BlockId {
    /// Parse `TTNNNNN` at the front of `b` (type code, five decimal digits).
    pub fn parse(b: &[u8]) -> Option<BlockId> {
        let t = b.get(..7)?;
        let mut number = 0u32;
        for &c in &t[2..7] {
            if !c.is_ascii_digit() {
                return None;
            }
            number = number * 10 + u32::from(c - b'0');
        }
        Some(BlockId {
            kind: [t[0], t[1]],
            number,
        })
    }
    /// Block type name (`OB`, `DB`, …), or the raw two characters.
    pub fn type_name(&self) -> String {
        match &self.kind {
            b"08" => "OB".into(),
            b"0A" => "DB".into(),
            b"0B" => "SDB".into(),
            b"0C" => "FC".into(),
            b"0D" => "SFC".into(),
            b"0E" => "FB".into(),
            b"0F" => "SFB".into(),
            k => String::from_utf8_lossy(k).into_owned(),
        }
    }
}

/// Byte length of a data item's value: its length field counts bits for the bit/byte/int
/// transport sizes (3, 4, 5), bytes otherwise.
pub const fn item_value_len(transport_size: u8, len: u16) -> usize {
    match transport_size {
        3..=5 => (len as usize).div_ceil(8),
        _ => len as usize,
    }
}
