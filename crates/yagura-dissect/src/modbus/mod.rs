//! Modbus/TCP (and Modbus over UDP with the same MBAP header): framing, function codes,
//! exceptions and operation classes.

pub mod wire;

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::emit::{Summary, emit, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};
pub use wire::{ExceptionCode, FunctionCode, MbapFrame};
use wire::{MAX_LENGTH, MBAP_LEN, MIN_LENGTH, SPEC_MAX_LENGTH};

const NAME: &str = "modbus";

/// Does `data` start with an MBAP header (protocol id 0, a length within the spec)? Only
/// used on Modbus ports: function codes are not checked, so that scans with invalid codes
/// (0, or exceptions with stray bytes, both in the corpus) are still labelled and flagged.
pub fn probe(data: &[u8]) -> Probe {
    if data.len() >= 4 && data[2..4] != [0, 0] {
        return Probe::NoMatch;
    }
    let Some(len) = crate::bytes::be16(data, 4) else {
        return Probe::NeedMore;
    };
    if !(MIN_LENGTH..=SPEC_MAX_LENGTH).contains(&len) {
        return Probe::NoMatch;
    }
    if data.len() < MBAP_LEN + 1 {
        return Probe::NeedMore;
    }
    Probe::Match
}

#[inline]
fn length_ok(len: u16) -> bool {
    (MIN_LENGTH..=MAX_LENGTH).contains(&len)
}

/// The operation class of a function (exception bit cleared); `mei` is FC 43's MEI type.
pub fn operation(fc: FunctionCode, mei: Option<u8>) -> OperationClass {
    use OperationClass as O;
    match fc.0 {
        1..=4 | 24 => O::Read,
        // File records are register groups in device memory: a read or write of data.
        20 => O::Read,
        5 | 6 | 15 | 16 | 21 | 22 | 23 => O::Write,
        7 | 8 | 11 | 12 => O::Diagnostic,
        17 => O::Identify,
        43 if mei == Some(wire::MEI_READ_DEVICE_ID) => O::Identify,
        // 90 is Schneider UMAS, classified by its own dissector later.
        _ => O::Other,
    }
}

/// Per-flow Modbus state: only stream sync (Modbus/TCP is stateless per PDU).
#[derive(Debug, Clone)]
pub struct ModbusDissector {
    stream: Stream,
    framing: ModbusFraming,
}

#[derive(Debug, Clone, Copy)]
struct ModbusFraming;

impl ModbusDissector {
    /// A dissector for one flow; `udp` when each call is a whole datagram.
    pub fn new(udp: bool) -> ModbusDissector {
        ModbusDissector {
            stream: Stream::new(udp),
            framing: ModbusFraming,
        }
    }
}

impl Dissector for ModbusDissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::MODBUS
    }
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        self.stream.run(&mut self.framing, data, dir, sink)
    }
    fn on_gap(&mut self, dir: Direction, _len: u32) {
        self.stream.gap(dir);
    }
}

impl Framing for ModbusFraming {
    const PROTOCOL: &'static str = NAME;

    fn probe(data: &[u8]) -> Probe {
        probe(data)
    }

    fn step(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step {
        let Some(n) = MbapFrame::frame_len(data) else {
            return Step::Need(MBAP_LEN + 1 - data.len());
        };
        let len = (n - 6) as u16;
        if !length_ok(len) {
            return Step::Bad(Anomaly::BadLength);
        }
        let Some(f) = MbapFrame::new_checked(data) else {
            return Step::Need(n - data.len());
        };
        pdu(&f, dir, sink);
        Step::Used(n)
    }
}

/// Summarise and emit one framed PDU.
fn pdu(f: &MbapFrame<'_>, dir: Direction, sink: &mut dyn PduSink) {
    let raw = f.raw_function();
    let exception = raw & 0x80 != 0;
    let fc = FunctionCode(raw & 0x7f);
    let data = f.data();
    let mei = (fc == FunctionCode::ENCAPSULATED_INTERFACE_TRANSPORT)
        .then(|| data.first().copied())
        .flatten();
    let mut s = Summary::new(NAME, dir == Direction::ToClient, f.bytes().len());
    s.function = Some(u32::from(fc.0));
    s.function_name = match mei {
        Some(wire::MEI_READ_DEVICE_ID) => Some("read_device_identification"),
        _ => fc.name(),
    };
    s.operation = operation(fc, mei);
    if f.protocol_id() != 0 {
        s.anomalies.set(Anomaly::BadProtocolId);
    }
    if f.length() > SPEC_MAX_LENGTH {
        s.anomalies.set(Anomaly::BadLength);
    }
    if fc.0 == 0 {
        s.anomalies.set(Anomaly::UnknownFunction);
    }
    let mut exception_code = None;
    if exception {
        s.status = PduStatus::Exception;
        exception_code = data.first().copied();
        if dir == Direction::ToServer {
            // Only servers send exceptions.
            s.anomalies.set(Anomaly::UnexpectedStatus);
        }
        if data.len() != 1 {
            s.anomalies.set(Anomaly::BadLength);
        }
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    emit(sink, &s, |fields| {
        fields.push(("transaction_id", u(f.transaction_id())));
        fields.push(("unit_id", u(f.unit_id())));
        if let Some(m) = mei {
            fields.push(("mei_type", u(m)));
        }
        if let Some(c) = exception_code {
            fields.push(("exception_code", u(c)));
        }
    });
}

#[cfg(test)]
mod tests;
