//! Schneider Electric UMAS (Unity Messaging Application Services), carried in Modbus
//! function 90: the engineering protocol of Modicon M340/M580/Premium/Quantum PLCs (Unity
//! Pro / Control Expert).
//!
//! UMAS is not publicly specified. The layout used here is the one documented by public
//! research (the 2017 "The Unity (UMAS) protocol" series, Part I–V; the Redpoint
//! `modicon-info` scanner; Sandia's PEAT M340 module):
//!
//! ```text
//! request:  0x5a | session key (1) | UMAS function (1) | data…
//! response: 0x5a | session key (1) | status (1): 0xfe ok, 0xfd error | data…
//! ```
//!
//! A response does not repeat its function: it is taken from the request with the same
//! transaction id. Each FC 90 PDU is one event with `protocol: "umas"`; a Modbus exception
//! to FC 90 (0xda) is a `umas` event with `status: "exception"` and its `exception_code`.
//!
//! Operation classes: identification reads (0x02 read_id, 0x03 read_project_info, 0x04
//! read_plc_info, 0x06 read_card_info) are `identify`; PLC reservation (0x10 take, 0x11
//! release) is `auth`: it is how an engineering station claims exclusive ownership of the PLC
//! (the reply assigns the session key later requests must carry), the step every
//! programming session goes through before changing anything. Strategy transfer keeps
//! Schneider's words but is classed by direction: UMAS "upload" (0x30–0x32) copies the
//! application from the engineering station *into* the PLC, which is a `program_download`;
//! UMAS "download" (0x33–0x35) copies it *out of* the PLC, a `program_upload`.
//!
//! Event fields: `transaction_id`, `unit_id`, `session` (the session key byte), for
//! responses `response_code` (254 ok, 253 error), `exception_code` (Modbus exception),
//! `block_number` (0x31 and 0x34 requests), `new_session` (reply to 0x10), and the identity
//! facts visible in replies: `product_code` (CPU module reference, e.g. `BMX P34 2000`,
//! reply to 0x02) and `project_name` (reply to 0x03).

use yagura_core::{FieldValue, OperationClass, PduStatus};

use super::pending::{Pending, Request};
use super::wire::MbapFrame;
use super::{header_anomalies, text};
use crate::Anomaly;
use crate::bytes::{le16, u8_at};
use crate::emit::{Fields, Summary, emit, u};

/// Protocol id of UMAS events.
pub const NAME: &str = "umas";

/// Response status: success.
pub const STATUS_OK: u8 = 0xfe;
/// Response status: error.
pub const STATUS_ERROR: u8 = 0xfd;

open_enum! {
    /// UMAS function codes (public research; names as published, snake_case).
    pub struct UmasFunction(u8) {
        INIT_COMM = 0x01 => "init_comm",
        READ_ID = 0x02 => "read_id",
        READ_PROJECT_INFO = 0x03 => "read_project_info",
        READ_PLC_INFO = 0x04 => "read_plc_info",
        READ_CARD_INFO = 0x06 => "read_card_info",
        REPEAT = 0x0a => "repeat",
        TAKE_PLC_RESERVATION = 0x10 => "take_plc_reservation",
        RELEASE_PLC_RESERVATION = 0x11 => "release_plc_reservation",
        KEEP_ALIVE = 0x12 => "keep_alive",
        READ_MEMORY_BLOCK = 0x20 => "read_memory_block",
        READ_VARIABLES = 0x22 => "read_variables",
        WRITE_VARIABLES = 0x23 => "write_variables",
        READ_COILS_REGISTERS = 0x24 => "read_coils_registers",
        WRITE_COILS_REGISTERS = 0x25 => "write_coils_registers",
        READ_DATA_DICTIONARY = 0x26 => "read_data_dictionary",
        INITIALIZE_UPLOAD = 0x30 => "initialize_upload",
        UPLOAD_BLOCK = 0x31 => "upload_block",
        END_STRATEGY_UPLOAD = 0x32 => "end_strategy_upload",
        INITIALIZE_DOWNLOAD = 0x33 => "initialize_download",
        DOWNLOAD_BLOCK = 0x34 => "download_block",
        END_STRATEGY_DOWNLOAD = 0x35 => "end_strategy_download",
        READ_ETH_MASTER_DATA = 0x39 => "read_eth_master_data",
        START_PLC = 0x40 => "start_plc",
        STOP_PLC = 0x41 => "stop_plc",
        MONITOR_PLC = 0x50 => "monitor_plc",
        CHECK_PLC = 0x58 => "check_plc",
        READ_IO_OBJECT = 0x70 => "read_io_object",
        WRITE_IO_OBJECT = 0x71 => "write_io_object",
        GET_STATUS_MODULE = 0x73 => "get_status_module",
    }
}

/// The operation class of a UMAS function (see the module documentation).
pub fn operation(f: UmasFunction) -> OperationClass {
    use OperationClass as O;
    match f.0 {
        0x02 | 0x03 | 0x04 | 0x06 => O::Identify,
        0x10 | 0x11 => O::Auth,
        0x0a | 0x58 | 0x73 => O::Diagnostic,
        0x20 | 0x22 | 0x24 | 0x26 | 0x39 | 0x50 | 0x70 => O::Read,
        0x23 | 0x25 | 0x71 => O::Write,
        0x30..=0x32 => O::ProgramDownload,
        0x33..=0x35 => O::ProgramUpload,
        0x40 => O::Start,
        0x41 => O::Stop,
        _ => O::Other,
    }
}

/// Offset, in a read_id (0x02) reply's data after the status byte, of the length byte of the
/// CPU module reference (Redpoint `modicon-info`: byte 33 of the TCP payload).
const READ_ID_NAME_AT: usize = 22;
/// Offset, in a read_project_info (0x03) reply's data after the status byte, of the
/// NUL-terminated project name (Redpoint `modicon-info`: byte 50 of the TCP payload).
const PROJECT_NAME_AT: usize = 39;
/// Longest project name taken.
const PROJECT_NAME_MAX: usize = 64;

/// Summarise and emit one FC 90 PDU (request, response or Modbus exception).
pub(super) fn pdu(
    f: &MbapFrame<'_>,
    response: bool,
    pending: Option<&mut Pending>,
    sink: &mut dyn crate::PduSink,
) {
    let exception = f.raw_function() & 0x80 != 0;
    let data = f.data();
    let tid = f.transaction_id();
    let mut s = Summary::new(NAME, response, f.bytes().len());
    header_anomalies(f, &mut s.anomalies);
    let mut function = None;
    if exception {
        s.status = PduStatus::Exception;
        if !response {
            s.anomalies.set(Anomaly::UnexpectedStatus);
        }
        match data.len() {
            0 => s.anomalies.set(Anomaly::Truncated),
            1 => {}
            _ => s.anomalies.set(Anomaly::TrailingBytes),
        }
    } else if data.len() < 2 {
        s.anomalies.set(Anomaly::Truncated);
    } else if response {
        match data[1] {
            STATUS_OK => {}
            STATUS_ERROR => s.status = PduStatus::Exception,
            _ => s.anomalies.set(Anomaly::BadValue),
        }
    } else {
        function = Some(data[1]);
    }
    let matched = match pending {
        Some(p) if !response && !exception => {
            if let Some(code) = function {
                p.push(Request {
                    tid,
                    fc: super::FunctionCode::UMAS.0,
                    umas: Some(code),
                    address: None,
                    quantity: None,
                    read_address: None,
                    read_quantity: None,
                });
            }
            None
        }
        Some(p) if response => p.take(tid, super::FunctionCode::UMAS.0),
        _ => None,
    };
    if response {
        function = matched.and_then(|r| r.umas);
    }
    if let Some(code) = function {
        let uf = UmasFunction(code);
        s.function = Some(u32::from(code));
        s.function_name = uf.name();
        s.operation = operation(uf);
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    emit(sink, &s, |fields| {
        fill(fields, f, response, exception, function)
    });
}

/// The event fields of one UMAS PDU.
fn fill(
    fields: &mut Fields,
    f: &MbapFrame<'_>,
    response: bool,
    exception: bool,
    function: Option<u8>,
) {
    let data = f.data();
    fields.push(("transaction_id", u(f.transaction_id())));
    fields.push(("unit_id", u(f.unit_id())));
    if exception {
        if let Some(&c) = data.first() {
            fields.push(("exception_code", u(c)));
        }
        return;
    }
    if let Some(&session) = data.first() {
        fields.push(("session", u(session)));
    }
    let body = data.get(2..).unwrap_or_default();
    if !response {
        // Strategy block transfers: a 2-byte field, then the block number (little-endian).
        if matches!(function, Some(0x31 | 0x34))
            && let Some(b) = le16(body, 2)
        {
            fields.push(("block_number", u(b)));
        }
        return;
    }
    let Some(&status) = data.get(1) else {
        return;
    };
    fields.push(("response_code", u(status)));
    if status != STATUS_OK {
        return;
    }
    match function {
        Some(0x02) => {
            let name = u8_at(body, READ_ID_NAME_AT)
                .and_then(|n| body.get(READ_ID_NAME_AT + 1..READ_ID_NAME_AT + 1 + usize::from(n)));
            if let Some(t) = name.filter(|b| printable(b)).and_then(text) {
                fields.push(("product_code", FieldValue::Str(t)));
            }
        }
        Some(0x03) => {
            let tail = body.get(PROJECT_NAME_AT..).unwrap_or_default();
            let tail = &tail[..tail.len().min(PROJECT_NAME_MAX)];
            // Only a NUL-terminated printable string is taken.
            if let Some(end) = tail.iter().position(|&b| b == 0)
                && printable(&tail[..end])
                && let Some(t) = text(&tail[..end])
            {
                fields.push(("project_name", FieldValue::Str(t)));
            }
        }
        Some(0x10) => {
            if let Some(&k) = body.first() {
                fields.push(("new_session", u(k)));
            }
        }
        _ => {}
    }
}

/// Printable ASCII only: a layout guess that lands on binary data yields no fact.
fn printable(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|c| (0x20..0x7f).contains(c))
}

#[cfg(test)]
mod tests {
    use yagura_core::{Direction, OperationClass, PduStatus};

    use crate::modbus::ModbusDissector;
    use crate::testutil::{VecSink, hex};
    use crate::{Dissector, PduSink};

    fn run(d: &mut ModbusDissector, h: &str, dir: Direction) -> VecSink {
        let mut sink = VecSink::default();
        d.parse(&hex(h), dir, &mut sink);
        sink
    }

    fn str_field(s: &VecSink, name: &str) -> Option<String> {
        s.events[0].fields.iter().find_map(|(n, v)| match v {
            yagura_core::FieldValue::Str(t) if *n == name => Some(t.clone()),
            _ => None,
        })
    }

    /// lsw__mods.pcap frames 226 and 227: an FC 90 request with UMAS function 0 (a function
    /// scan) and the PLC's Modbus exception 1 (illegal function).
    #[test]
    fn scan_and_exception_from_corpus() {
        let mut d = ModbusDissector::new(false);
        let s = run(&mut d, "000000000006015a00000000", Direction::ToServer);
        let e = &s.events[0];
        assert_eq!(e.protocol, "umas");
        assert_eq!(e.function, Some(0));
        assert_eq!(e.function_name, None);
        assert_eq!(e.operation, OperationClass::Other);
        assert_eq!(e.status, PduStatus::Ok);
        assert_eq!(s.field(0, "session"), Some(0));
        let s = run(&mut d, "00000000000301da01", Direction::ToClient);
        let e = &s.events[0];
        assert_eq!(e.protocol, "umas");
        assert!(e.response);
        assert_eq!(e.status, PduStatus::Exception);
        assert_eq!(e.function, Some(0), "function from the matched request");
        assert_eq!(s.field(0, "exception_code"), Some(1));
        assert!(e.anomalies.is_empty());
    }

    /// Requests as the Redpoint `modicon-info` scanner and PEAT send them (no corpus capture
    /// holds a UMAS session): read_id, reservation, stop, start, strategy transfer.
    #[test]
    fn classifies_functions() {
        let cases: &[(&str, u32, &str, OperationClass)] = &[
            (
                "000100000004005a0002",
                0x02,
                "read_id",
                OperationClass::Identify,
            ),
            (
                "000400000005005a000300",
                0x03,
                "read_project_info",
                OperationClass::Identify,
            ),
            (
                "00050000000e005a00108caf0402000450454154",
                0x10,
                "take_plc_reservation",
                OperationClass::Auth,
            ),
            (
                "000600000004005a0141",
                0x41,
                "stop_plc",
                OperationClass::Stop,
            ),
            (
                "000700000004005a0140",
                0x40,
                "start_plc",
                OperationClass::Start,
            ),
            (
                "00080000000c005a01310001050004000102",
                0x31,
                "upload_block",
                OperationClass::ProgramDownload,
            ),
            (
                "000900000008005a01340001fb03",
                0x34,
                "download_block",
                OperationClass::ProgramUpload,
            ),
            (
                "000a00000008005a01330001fb03",
                0x33,
                "initialize_download",
                OperationClass::ProgramUpload,
            ),
        ];
        for (h, code, name, op) in cases {
            let s = run(&mut ModbusDissector::new(false), h, Direction::ToServer);
            let e = &s.events[0];
            assert_eq!(e.protocol, "umas", "{h}");
            assert_eq!(e.function, Some(*code), "{h}");
            assert_eq!(e.function_name, Some(*name), "{h}");
            assert_eq!(e.operation, *op, "{h}");
            assert!(e.anomalies.is_empty(), "{h}: {:?}", e.anomalies);
        }
        let s = run(
            &mut ModbusDissector::new(false),
            "000900000008005a01340001fb03",
            Direction::ToServer,
        );
        assert_eq!(s.field(0, "block_number"), Some(0x03fb));
    }

    /// A read_id reply laid out as `modicon-info` reads it: 22 bytes, then the CPU module
    /// reference with its length byte.
    #[test]
    fn read_id_reply_carries_the_cpu_reference() {
        let mut d = ModbusDissector::new(false);
        run(&mut d, "000100000004005a0002", Direction::ToServer);
        let name = "BMX P34 2000";
        let mut body = String::from("005a00fe");
        body += &"00".repeat(22);
        body += &format!("{:02x}", name.len());
        body += &name.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let len = body.len() / 2;
        let s = run(
            &mut d,
            &format!("00010000{len:04x}{body}"),
            Direction::ToClient,
        );
        let e = &s.events[0];
        assert_eq!(e.function, Some(2));
        assert_eq!(e.operation, OperationClass::Identify);
        assert_eq!(e.status, PduStatus::Ok);
        assert_eq!(s.field(0, "response_code"), Some(0xfe));
        assert_eq!(str_field(&s, "product_code").as_deref(), Some(name));
    }

    #[test]
    fn reservation_reply_and_error_status() {
        let mut d = ModbusDissector::new(false);
        run(
            &mut d,
            "00050000000e005a00108caf0402000450454154",
            Direction::ToServer,
        );
        let s = run(&mut d, "000500000004005afe42", Direction::ToClient);
        // A reply without its session byte: 0x42 in the status position is no status.
        assert_eq!(s.events[0].status, PduStatus::Malformed);
        let s = run(&mut d, "000500000005005a00fe42", Direction::ToClient);
        assert_eq!(s.events[0].function, None, "already answered");
        run(
            &mut d,
            "00060000000e005a00108caf0402000450454154",
            Direction::ToServer,
        );
        let s = run(&mut d, "000600000005005a00fe42", Direction::ToClient);
        assert_eq!(s.events[0].function_name, Some("take_plc_reservation"));
        assert_eq!(s.field(0, "new_session"), Some(0x42));
        run(&mut d, "000700000004005a4241", Direction::ToServer);
        let s = run(&mut d, "000700000004005a42fd", Direction::ToClient);
        let e = &s.events[0];
        assert_eq!(e.function_name, Some("stop_plc"));
        assert_eq!(e.operation, OperationClass::Stop);
        assert_eq!(e.status, PduStatus::Exception);
        assert_eq!(s.field(0, "response_code"), Some(0xfd));
    }

    #[test]
    fn truncated_is_malformed() {
        let s = run(
            &mut ModbusDissector::new(false),
            "000100000003005a00",
            Direction::ToServer,
        );
        assert_eq!(s.events[0].status, PduStatus::Malformed);
        assert_eq!(s.events[0].anomalies, ["truncated"]);
    }

    #[test]
    fn counts_without_events() {
        let mut sink = VecSink::counting();
        let mut d = ModbusDissector::new(false);
        d.parse(&hex("000100000004005a0002"), Direction::ToServer, &mut sink);
        assert!(!sink.wants_events());
        assert_eq!(sink.counted, [("umas", 0)]);
    }
}
