//! PCCC (Allen-Bradley DF1 application layer) carried by the CIP Execute PCCC service
//! (0x4b on the PCCC object, class 0x67): requestor id, then CMD, STS, TNS and, for the
//! command groups 0x06, 0x07 and 0x0f, a function code (DF1 protocol and command set
//! reference, chapters 7-10).
//!
//! One `pccc` event per request and per response (the response's command and function are
//! those of its request: it has no function code of its own).

use yagura_core::{OperationClass, PduStatus};

use crate::bytes::{le16, le32, u8_at};
use crate::emit::{Summary, emit, u};
use crate::{Anomaly, PduSink};

/// The reply bit of a command byte.
pub const REPLY: u8 = 0x40;
/// STS value announcing an extended status byte after TNS.
pub const STS_EXTENDED: u8 = 0xf0;

/// Does a command carry a function code byte after TNS?
pub fn has_function(cmd: u8) -> bool {
    matches!(cmd & 0x0f, 0x06 | 0x07 | 0x0f)
}

/// A PCCC command's (and function's) snake_case name.
pub fn name(cmd: u8, fnc: Option<u8>) -> Option<&'static str> {
    let n = match (cmd & 0x0f, fnc) {
        (0x00, _) => "protected_write",
        (0x01, _) => "unprotected_read",
        (0x02, _) => "protected_bit_write",
        (0x05, _) => "unprotected_bit_write",
        (0x08, _) => "unprotected_write",
        (0x06, Some(f)) => match f {
            0x00 => "echo",
            0x01 => "diagnostic_read",
            0x02 => "set_variables",
            0x03 => "diagnostic_status",
            0x04 => "set_timeout",
            0x05 => "set_naks",
            0x06 => "set_enqs",
            0x07 => "diagnostic_counters_reset",
            _ => return None,
        },
        (0x0f, Some(f)) => match f {
            0x00 => "word_range_write",
            0x01 => "word_range_read",
            0x02 => "bit_write",
            0x11 => "get_edit_resource",
            0x12 => "return_edit_resource",
            0x26 => "read_modify_write",
            0x3a => "set_cpu_mode",
            0x50 => "download_all_request",
            0x52 => "download_completed",
            0x53 => "upload_all_request",
            0x55 => "upload_completed",
            0x57 => "initialize_memory",
            0x67 => "typed_write",
            0x68 => "typed_read",
            0x80 => "change_mode",
            0xa1 => "protected_typed_logical_read_2",
            0xa2 => "protected_typed_logical_read_3",
            0xa9 => "protected_typed_logical_write_2",
            0xaa => "protected_typed_logical_write_3",
            0xab => "protected_typed_logical_masked_write",
            _ => return None,
        },
        _ => return None,
    };
    Some(n)
}

/// SLC/MicroLogix change-mode values (function 0x80): program and run.
pub const MODE_PROGRAM: u8 = 0x01;
/// Run mode.
pub const MODE_RUN: u8 = 0x06;

/// A command's operation class; `mode` is the change-mode byte where there is one.
pub fn operation(cmd: u8, fnc: Option<u8>, mode: Option<u8>) -> OperationClass {
    use OperationClass as O;
    match name(cmd, fnc) {
        Some(
            "unprotected_read"
            | "word_range_read"
            | "typed_read"
            | "protected_typed_logical_read_2"
            | "protected_typed_logical_read_3",
        ) => O::Read,
        Some(
            "protected_write"
            | "protected_bit_write"
            | "unprotected_bit_write"
            | "unprotected_write"
            | "word_range_write"
            | "bit_write"
            | "read_modify_write"
            | "typed_write"
            | "protected_typed_logical_write_2"
            | "protected_typed_logical_write_3"
            | "protected_typed_logical_masked_write",
        ) => O::Write,
        // To program mode the logic stops, to run it starts; the other modes (the test
        // modes, which scan the logic with outputs disabled) are mode changes.
        Some("change_mode") => match mode {
            Some(MODE_PROGRAM) => O::Stop,
            Some(MODE_RUN) => O::Start,
            _ => O::ModeChange,
        },
        // PLC-5's set CPU mode: its mode byte's values are not told apart here.
        Some("set_cpu_mode") => O::ModeChange,
        Some("set_variables" | "set_timeout" | "set_naks" | "set_enqs") => O::ConfigChange,
        Some("download_all_request" | "download_completed" | "initialize_memory") => {
            O::ProgramDownload
        }
        Some("upload_all_request" | "upload_completed") => O::ProgramUpload,
        Some("diagnostic_status") => O::Identify,
        Some("echo" | "diagnostic_read" | "diagnostic_counters_reset") => O::Diagnostic,
        _ => O::Other,
    }
}

/// A logical address of the typed logical read/write functions: file number, file type,
/// element (and sub-element for the 3-field forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// Bytes to read or write.
    pub size: u8,
    /// File number.
    pub file: u16,
    /// File type (0x89 integer, 0x8a float, 0x85 timer…).
    pub file_type: u8,
    /// Element number.
    pub element: u16,
    /// Sub-element number (3-field forms).
    pub sub_element: Option<u16>,
}

/// One address field: a byte, or 0xff and a 16-bit value.
fn addr_field(d: &[u8], at: &mut usize) -> Option<u16> {
    let b = u8_at(d, *at)?;
    if b == 0xff {
        let v = le16(d, *at + 1)?;
        *at += 3;
        Some(v)
    } else {
        *at += 1;
        Some(u16::from(b))
    }
}

impl Address {
    fn parse(d: &[u8], three: bool) -> Option<Address> {
        let size = u8_at(d, 0)?;
        let mut at = 1;
        let file = addr_field(d, &mut at)?;
        let file_type = u8_at(d, at)?;
        at += 1;
        let element = addr_field(d, &mut at)?;
        let sub_element = if three {
            Some(addr_field(d, &mut at)?)
        } else {
            None
        };
        Some(Address {
            size,
            file,
            file_type,
            element,
            sub_element,
        })
    }
}

/// One PCCC request or reply, as found in Execute PCCC data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pccc {
    /// Command (without the reply bit).
    pub cmd: u8,
    /// Function code (request's, for replies).
    pub fnc: Option<u8>,
    /// Status (0 = success; [`STS_EXTENDED`] = see `ext_status`).
    pub sts: u8,
    /// Extended status.
    pub ext_status: Option<u8>,
    /// Transaction number.
    pub tns: u16,
    /// Requestor id: CIP vendor id and serial number.
    pub requestor: Option<(u16, u32)>,
    /// Change-mode / set-CPU-mode value.
    pub mode: Option<u8>,
    /// Address of a typed logical read/write.
    pub address: Option<Address>,
    /// PCCC bytes (requestor id onwards).
    pub len: usize,
    /// Reply bit set in a request, or the command part is cut short.
    pub bad: Option<Anomaly>,
}

impl Pccc {
    /// The requestor id (length byte, vendor id, serial, optional bytes) and where the
    /// command starts.
    fn requestor(d: &[u8]) -> Option<((u16, u32), usize)> {
        let n = u8_at(d, 0)? as usize;
        if n < 7 || n > d.len() {
            return None;
        }
        Some(((le16(d, 1)?, le32(d, 3)?), n))
    }

    /// Parse Execute PCCC request data.
    pub fn request(d: &[u8]) -> Option<Pccc> {
        let (requestor, at) = Pccc::requestor(d)?;
        let cmd = u8_at(d, at)?;
        let mut p = Pccc {
            cmd: cmd & !REPLY,
            fnc: None,
            sts: u8_at(d, at + 1).unwrap_or(0),
            ext_status: None,
            tns: le16(d, at + 2).unwrap_or(0),
            requestor: Some(requestor),
            mode: None,
            address: None,
            len: d.len(),
            bad: None,
        };
        if cmd & REPLY != 0 {
            p.bad = Some(Anomaly::UnknownFunction);
        }
        if d.len() < at + 4 {
            p.bad = Some(Anomaly::Truncated);
            return Some(p);
        }
        if has_function(cmd) {
            p.fnc = u8_at(d, at + 4);
            if p.fnc.is_none() {
                p.bad = Some(Anomaly::Truncated);
            }
        }
        let body = d.get(at + 5..).unwrap_or(&[]);
        match (cmd & 0x0f, p.fnc) {
            (0x0f, Some(0x80 | 0x3a)) => p.mode = u8_at(body, 0),
            (0x0f, Some(0xa1 | 0xa9)) => p.address = Address::parse(body, false),
            (0x0f, Some(0xa2 | 0xaa | 0xab)) => p.address = Address::parse(body, true),
            _ => {}
        }
        Some(p)
    }

    /// Parse Execute PCCC reply data, for a request of command `cmd` and function `fnc`.
    pub fn response(d: &[u8], cmd: u8, fnc: u8) -> Option<Pccc> {
        let (requestor, at) = Pccc::requestor(d)?;
        let c = u8_at(d, at)?;
        let sts = u8_at(d, at + 1).unwrap_or(0);
        let mut p = Pccc {
            cmd: c & !REPLY,
            fnc: has_function(cmd).then_some(fnc),
            sts,
            ext_status: None,
            tns: le16(d, at + 2).unwrap_or(0),
            requestor: Some(requestor),
            mode: None,
            address: None,
            len: d.len(),
            bad: None,
        };
        if c & REPLY == 0 || c & !REPLY != cmd & !REPLY {
            p.bad = Some(Anomaly::UnknownFunction);
        }
        if d.len() < at + 4 {
            p.bad = Some(Anomaly::Truncated);
        }
        if sts == STS_EXTENDED {
            p.ext_status = u8_at(d, at + 4);
        }
        Some(p)
    }

    /// Operation class.
    pub fn operation(&self) -> OperationClass {
        operation(self.cmd, self.fnc, self.mode)
    }

    /// Emit the `pccc` event.
    pub fn emit(&self, response: bool, sink: &mut dyn PduSink) {
        let mut s = Summary::new("pccc", response, self.len);
        s.function = Some(match self.fnc {
            Some(f) => u32::from(self.cmd) << 8 | u32::from(f),
            None => u32::from(self.cmd),
        });
        s.function_name = name(self.cmd, self.fnc);
        s.operation = self.operation();
        if response && self.sts != 0 {
            s.status = PduStatus::Exception;
        }
        if let Some(a) = self.bad {
            s.anomalies.set(a);
            s.status = PduStatus::Malformed;
        }
        emit(sink, &s, |f| {
            f.push(("pccc_command", u(self.cmd)));
            if let Some(fnc) = self.fnc {
                f.push(("pccc_function", u(fnc)));
            }
            f.push(("tns", u(self.tns)));
            if response {
                f.push(("pccc_status", u(self.sts)));
            }
            if let Some(e) = self.ext_status {
                f.push(("pccc_ext_status", u(e)));
            }
            if let Some((vendor, serial)) = self.requestor {
                f.push(("requestor_vendor_id", u(vendor)));
                f.push(("requestor_serial", super::cip::serial_hex(serial)));
            }
            if let Some(m) = self.mode {
                f.push(("mode", u(m)));
            }
            if let Some(a) = self.address {
                f.push(("file_number", u(a.file)));
                f.push(("file_type", u(a.file_type)));
                f.push(("element", u(a.element)));
                if let Some(s) = a.sub_element {
                    f.push(("sub_element", u(s)));
                }
                f.push(("byte_size", u(a.size)));
            }
        });
    }
}
