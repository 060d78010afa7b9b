//! DNP3 (IEEE 1815) over TCP/UDP 20000: link-layer frames with their CRCs, the transport
//! header, and the application function code of first segments.
//!
//! One event per link frame. Transport reassembly and object headers come later; the
//! application header always sits in the first 16-byte data block of a FIR segment, so it is
//! read without reassembly.

pub mod crc;

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::bytes::le16;
use crate::emit::{Summary, emit, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// Link header field offsets.
mod field {
    /// Octets after itself up to the end of user data, CRCs excluded: CTRL + DST + SRC
    /// (5) + user data.
    pub const LEN: usize = 2;
    pub const CTRL: usize = 3;
    pub const DST: usize = 4;
    pub const SRC: usize = 6;
}

/// The two start octets.
pub const START: [u8; 2] = [0x05, 0x64];
/// Link header length, CRC included.
pub const HEADER_LEN: usize = 10;
/// User data is sent in blocks of 16 octets, each followed by a CRC.
pub const BLOCK: usize = 16;
/// LEN counts CTRL, DST and SRC before the user data.
pub const LEN_OVERHEAD: u8 = 5;

/// Link control bits.
const CTRL_PRM: u8 = 0x40;
const CTRL_FUNC: u8 = 0x0f;
/// Transport header bits.
const TH_FIR: u8 = 0x40;
/// IIN2 bits reporting a rejected request: function not supported, object unknown,
/// parameter error.
const IIN2_ERRORS: u8 = 0x07;

/// Whole frame length for a LEN field value (≥ 5).
#[inline]
pub fn frame_len(len: u8) -> usize {
    let user = (len - LEN_OVERHEAD) as usize;
    HEADER_LEN + user + 2 * user.div_ceil(BLOCK)
}

open_enum! {
    /// Application-layer function codes (IEEE 1815-2012, 4.2.2.5).
    pub struct AppFunction(u8) {
        CONFIRM = 0 => "confirm",
        READ = 1 => "read",
        WRITE = 2 => "write",
        SELECT = 3 => "select",
        OPERATE = 4 => "operate",
        DIRECT_OPERATE = 5 => "direct_operate",
        DIRECT_OPERATE_NR = 6 => "direct_operate_nr",
        IMMED_FREEZE = 7 => "immed_freeze",
        IMMED_FREEZE_NR = 8 => "immed_freeze_nr",
        FREEZE_CLEAR = 9 => "freeze_clear",
        FREEZE_CLEAR_NR = 10 => "freeze_clear_nr",
        FREEZE_AT_TIME = 11 => "freeze_at_time",
        FREEZE_AT_TIME_NR = 12 => "freeze_at_time_nr",
        COLD_RESTART = 13 => "cold_restart",
        WARM_RESTART = 14 => "warm_restart",
        INITIALIZE_DATA = 15 => "initialize_data",
        INITIALIZE_APPL = 16 => "initialize_appl",
        START_APPL = 17 => "start_appl",
        STOP_APPL = 18 => "stop_appl",
        SAVE_CONFIG = 19 => "save_config",
        ENABLE_UNSOLICITED = 20 => "enable_unsolicited",
        DISABLE_UNSOLICITED = 21 => "disable_unsolicited",
        ASSIGN_CLASS = 22 => "assign_class",
        DELAY_MEASURE = 23 => "delay_measure",
        RECORD_CURRENT_TIME = 24 => "record_current_time",
        OPEN_FILE = 25 => "open_file",
        CLOSE_FILE = 26 => "close_file",
        DELETE_FILE = 27 => "delete_file",
        GET_FILE_INFO = 28 => "get_file_info",
        AUTHENTICATE_FILE = 29 => "authenticate_file",
        ABORT_FILE = 30 => "abort_file",
        ACTIVATE_CONFIG = 31 => "activate_config",
        AUTHENTICATE_REQ = 32 => "authenticate_req",
        AUTH_REQ_NO_ACK = 33 => "auth_req_no_ack",
        RESPONSE = 129 => "response",
        UNSOLICITED_RESPONSE = 130 => "unsolicited_response",
        AUTHENTICATE_RESP = 131 => "authenticate_resp",
    }
}

/// Operation class of an application function.
pub fn operation(f: AppFunction) -> OperationClass {
    use OperationClass as O;
    match f.0 {
        1 => O::Read,
        2 => O::Write,
        // Select/operate and freezes act on outputs and counters.
        3..=12 => O::ControlCommand,
        13 | 14 => O::Restart,
        16 | 17 => O::Start,
        18 => O::Stop,
        // Reset data to defaults, save/activate configuration, unsolicited and class
        // settings, and setting the outstation clock change its configuration.
        15 | 19..=22 | 24 | 31 => O::ConfigChange,
        23 => O::Diagnostic,
        25..=30 => O::FileTransfer,
        32 | 33 | 131 => O::Auth,
        // Unsolicited responses report data; solicited ones inherit their request's class
        // once requests and responses are matched (later).
        130 => O::Read,
        _ => O::Other,
    }
}

/// Name of a link-layer function: primary (`prm`) or secondary.
pub fn link_function_name(prm: bool, func: u8) -> Option<&'static str> {
    Some(match (prm, func) {
        (true, 0) => "link_reset_link_states",
        (true, 2) => "link_test_link_states",
        (true, 3) => "link_confirmed_user_data",
        (true, 4) => "link_unconfirmed_user_data",
        (true, 9) => "link_request_link_status",
        (false, 0) => "link_ack",
        (false, 1) => "link_nack",
        (false, 11) => "link_status",
        (false, 15) => "link_not_supported",
        _ => return None,
    })
}

/// Does `data` start with a DNP3 link header whose CRC checks? (Strong enough to be used
/// port-independently: two start octets and a 16-bit CRC.)
pub fn probe(data: &[u8]) -> Probe {
    let n = data.len().min(2);
    if data[..n] != START[..n] {
        return Probe::NoMatch;
    }
    if data.len() < HEADER_LEN {
        return Probe::NeedMore;
    }
    let ok = data[field::LEN] >= LEN_OVERHEAD && crc::check(&data[..HEADER_LEN]);
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// Per-flow DNP3 state.
#[derive(Debug, Clone)]
pub struct Dnp3Dissector {
    stream: Stream,
    framing: Dnp3Framing,
}

#[derive(Debug, Clone, Copy)]
struct Dnp3Framing;

impl Dnp3Dissector {
    /// A dissector for one flow; `udp` when each call is a whole datagram.
    pub fn new(udp: bool) -> Dnp3Dissector {
        Dnp3Dissector {
            stream: Stream::new(udp),
            framing: Dnp3Framing,
        }
    }
}

impl Dissector for Dnp3Dissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::DNP3
    }
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        self.stream.run(&mut self.framing, data, dir, sink)
    }
    fn on_gap(&mut self, dir: Direction, _len: u32) {
        self.stream.gap(dir);
    }
}

impl Framing for Dnp3Framing {
    const PROTOCOL: &'static str = "dnp3";

    fn probe(data: &[u8]) -> Probe {
        probe(data)
    }

    fn step(&mut self, data: &[u8], _dir: Direction, sink: &mut dyn PduSink) -> Step {
        let n = data.len().min(2);
        if data[..n] != START[..n] {
            return Step::Bad(Anomaly::BadHeader);
        }
        if data.len() < HEADER_LEN {
            return Step::Need(HEADER_LEN - data.len());
        }
        let len = data[field::LEN];
        if len < LEN_OVERHEAD {
            return Step::Bad(Anomaly::BadLength);
        }
        let total = frame_len(len);
        if data.len() < total {
            return Step::Need(total - data.len());
        }
        frame(&data[..total], sink);
        Step::Used(total)
    }
}

/// Summarise and emit one whole link frame.
fn frame(f: &[u8], sink: &mut dyn PduSink) {
    let ctrl = f[field::CTRL];
    let prm = ctrl & CTRL_PRM != 0;
    let lfunc = ctrl & CTRL_FUNC;
    let dst = le16(f, field::DST).unwrap_or(0);
    let src = le16(f, field::SRC).unwrap_or(0);
    let mut s = Summary::new("dnp3", !prm, f.len());
    // A header with a bad CRC is still framed by its LEN (the next frame's start octets
    // confirm or refute it); every block is checked.
    if !crc::check(&f[..HEADER_LEN]) || !f[HEADER_LEN..].chunks(BLOCK + 2).all(crc::check) {
        s.anomalies.set(Anomaly::BadCrc);
    }
    // The first data block, without its CRC: transport header + application header.
    let user_len = (f[field::LEN] - LEN_OVERHEAD) as usize;
    let first = &f[HEADER_LEN..HEADER_LEN + user_len.min(BLOCK)];
    let mut iin = None;
    let user_data = prm && matches!(lfunc, 3 | 4) && !first.is_empty();
    if user_data {
        let th = first[0];
        if th & TH_FIR != 0 {
            if let Some(&fc) = first.get(2) {
                let af = AppFunction(fc);
                s.function = Some(u32::from(fc));
                s.function_name = af.name();
                s.operation = operation(af);
                s.response = fc >= 0x81;
                if af.name().is_none() {
                    s.anomalies.set(Anomaly::UnknownFunction);
                }
                if s.response {
                    iin = le16(first, 3).map(u16::swap_bytes);
                    if iin.is_none() {
                        s.anomalies.set(Anomaly::Truncated);
                    }
                }
            } else {
                s.anomalies.set(Anomaly::Truncated);
            }
        } else {
            s.function_name = Some("transport_continuation");
        }
    } else {
        s.function_name = link_function_name(prm, lfunc);
        s.operation = match (prm, lfunc) {
            (true, 2 | 9) => OperationClass::Diagnostic,
            _ => OperationClass::Other,
        };
        if s.function_name.is_none() {
            s.anomalies.set(Anomaly::UnknownFunction);
        }
    }
    // IIN is IIN1 (high byte here) then IIN2.
    if iin.is_some_and(|i| (i as u8) & IIN2_ERRORS != 0) {
        s.status = PduStatus::Exception;
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    emit(sink, &s, |fields| {
        fields.push(("link_src", u(src)));
        fields.push(("link_dst", u(dst)));
        fields.push(("link_function", u(lfunc)));
        if let Some(i) = iin {
            fields.push(("iin", u(i)));
        }
    });
}

#[cfg(test)]
mod tests;
