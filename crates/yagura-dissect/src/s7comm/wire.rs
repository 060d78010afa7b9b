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
    pub fn new_checked(b: &'a [u8]) -> Option<S7Header<'a>> {
        let r = Rosctr(u8_at(b, field::ROSCTR)?);
        (b[field::PROTOCOL_ID] == PROTOCOL_ID && b.len() >= r.header_len()).then_some(S7Header(b))
    }
    /// PDU type.
    pub fn rosctr(&self) -> Rosctr {
        Rosctr(self.0[field::ROSCTR])
    }
    /// PDU reference, echoed in the answer.
    pub fn pdu_ref(&self) -> u16 {
        be16(self.0, field::PDU_REF).unwrap_or(0)
    }
    /// Parameter length field.
    pub fn param_len(&self) -> usize {
        be16(self.0, field::PARAM_LEN).unwrap_or(0) as usize
    }
    /// Data length field.
    pub fn data_len(&self) -> usize {
        be16(self.0, field::DATA_LEN).unwrap_or(0) as usize
    }
    /// Error class and code (Ack, Ack_Data).
    pub fn error(&self) -> Option<(u8, u8)> {
        (self.rosctr().header_len() == 12)
            .then(|| (self.0[field::ERROR_CLASS], self.0[field::ERROR_CODE]))
    }
    /// The length the header announces.
    pub fn announced_len(&self) -> usize {
        self.rosctr().header_len() + self.param_len() + self.data_len()
    }
    /// Parameter bytes (clipped to what is present).
    pub fn param(&self) -> &'a [u8] {
        let s = self.rosctr().header_len();
        let e = (s + self.param_len()).min(self.0.len());
        &self.0[s..e]
    }
    /// Data bytes (clipped to what is present).
    pub fn data(&self) -> &'a [u8] {
        let s = (self.rosctr().header_len() + self.param_len()).min(self.0.len());
        let e = (s + self.data_len()).min(self.0.len());
        &self.0[s..e]
    }
}

/// Userdata parameter field offsets (after the 3-byte parameter head and the length byte).
pub mod userdata {
    /// Type (high nibble: 0 push, 4 request, 8 response) and function group (low nibble).
    pub const TYPE_GROUP: usize = 5;
    /// Subfunction within the group.
    pub const SUBFUNCTION: usize = 6;
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
