//! Modbus/TCP (and Modbus over UDP with the same MBAP header): framing, every public
//! function's addresses, quantities, byte counts and sub-functions, FC 43/14 device
//! identification, exceptions, operation classes, and request/response matching by
//! transaction id. Function 90 carries Schneider's UMAS, decoded in [`umas`].
//!
//! Event fields (in this order, each only where the PDU has it): `transaction_id`,
//! `unit_id`, `exception_code`, `mei_type`, `read_device_id`, `object_id`, `sub_function`,
//! `sub_function_name`, `address`, `quantity`, `read_address`, `read_quantity`,
//! `byte_count`, `value_count`, `value`, `and_mask`, `or_mask`, `groups`, `file_number`,
//! `record_number`, `record_length`, `conformity_level`, `more_follows`, `next_object_id`,
//! `number_of_objects`, `object_ids`, and the identity facts of FC 43/14 (`vendor`,
//! `product_code`, `firmware_version`, `vendor_url`, `product_name`, `model_name`,
//! `application_name`). A response whose PDU does not repeat the address and quantity (reads,
//! FC 23, FC 24, exceptions) carries its request's, matched by transaction id and function
//! (docs/events.md).

mod detail;
mod pending;
pub mod umas;
pub mod wire;

use yagura_core::{Direction, FieldValue, OperationClass, PduStatus};

use crate::emit::{Fields, Summary, emit_identity, emit_to, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomalies, Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};
use detail::Detail;
use pending::{Pending, Request};
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

/// The operation class of a function (exception bit cleared); `mei` is FC 43's MEI type,
/// `sub_function` FC 8's.
///
/// FC 8 is `diagnostic` except sub-function 1 (Restart Communications Option: the server
/// restarts its serial port and leaves listen-only mode), `restart`, and 4 (Force Listen Only
/// Mode: the server keeps running but stops answering until restarted), `mode_change` —
/// both change the device's state.
pub fn operation(fc: FunctionCode, mei: Option<u8>, sub_function: Option<u16>) -> OperationClass {
    use OperationClass as O;
    match fc.0 {
        1..=4 | 24 => O::Read,
        // File records are register groups in device memory: a read or write of data.
        20 => O::Read,
        5 | 6 | 15 | 16 | 21 | 22 | 23 => O::Write,
        8 => match sub_function {
            Some(1) => O::Restart,
            Some(4) => O::ModeChange,
            _ => O::Diagnostic,
        },
        7 | 11 | 12 => O::Diagnostic,
        17 => O::Identify,
        43 if mei == Some(wire::MEI_READ_DEVICE_ID) => O::Identify,
        // 90 is Schneider UMAS, classified by its own module.
        _ => O::Other,
    }
}

/// Per-flow Modbus state: stream sync and the outstanding requests (allocated on the first
/// request, only when events are wanted).
#[derive(Debug, Clone)]
pub struct ModbusDissector {
    stream: Stream,
    framing: ModbusFraming,
}

#[derive(Debug, Clone, Default)]
struct ModbusFraming {
    pending: Option<Box<Pending>>,
}

impl ModbusDissector {
    /// A dissector for one flow; `udp` when each call is a whole datagram.
    pub fn new(udp: bool) -> ModbusDissector {
        ModbusDissector {
            stream: Stream::new(udp),
            framing: ModbusFraming::default(),
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

    #[inline(always)]
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
        // Asked once per PDU: the counting path below never builds event fields.
        let events = sink.wants_events();
        let response = dir == Direction::ToClient;
        if f.raw_function() & 0x7f == FunctionCode::UMAS.0 {
            // Matching only serves event fields: without events there is no table to keep.
            let pending = events.then(|| &mut **self.pending.get_or_insert_with(Box::default));
            umas::pdu(&f, response, pending, sink);
        } else if events {
            let pending = self.pending.get_or_insert_with(Box::default);
            pdu(&f, response, Some(pending), true, sink);
        } else {
            count(&f, response, sink);
        }
        Step::Used(n)
    }
}

/// Add the violations of the MBAP header to `a` (shared with UMAS).
pub(crate) fn header_anomalies(f: &MbapFrame<'_>, a: &mut Anomalies) {
    if f.protocol_id() != 0 {
        a.set(Anomaly::BadProtocolId);
    }
    if f.length() > SPEC_MAX_LENGTH {
        a.set(Anomaly::BadLength);
    }
}

/// The code, exception bit and decoded data of one framed (non-UMAS) PDU, and its summary
/// without the function's name (each caller sets it when it needs it): what [`count`] and
/// [`pdu`] share. Always inlined, so that in [`count`] the compiler drops
/// what only events use (addresses, quantities, the function name) and keeps the anomalies,
/// the MEI type and the diagnostics sub-function that the operation class needs.
#[inline(always)]
fn summarise(f: &MbapFrame<'_>, response: bool) -> (Summary, u8, bool, Detail) {
    let raw = f.raw_function();
    let exception = raw & 0x80 != 0;
    let fc = raw & 0x7f;
    let d = detail::decode(fc, exception, response, f.data());
    let mut s = Summary::new(NAME, response, f.bytes().len());
    s.function = Some(u32::from(fc));
    s.operation = operation(FunctionCode(fc), d.mei, d.sub_function);
    s.anomalies = d.anomalies;
    header_anomalies(f, &mut s.anomalies);
    if !wire::is_assigned(fc) {
        s.anomalies.set(Anomaly::UnknownFunction);
    }
    if exception {
        s.status = PduStatus::Exception;
        if !response {
            // Only servers send exceptions.
            s.anomalies.set(Anomaly::UnexpectedStatus);
        }
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    (s, fc, exception, d)
}

/// Count one framed PDU when no event is wanted: no request table (matching only serves
/// event fields) and no fields, except for an FC 43/14 answer, whose identity facts are
/// reported either way: it goes through [`pdu`].
#[inline(always)]
fn count(f: &MbapFrame<'_>, response: bool, sink: &mut dyn PduSink) {
    let (mut s, fc, exception, d) = summarise(f, response);
    if is_device_id_answer(fc, response, exception, &d) {
        pdu(f, response, None, false, sink);
    } else {
        // The name is for the event, which an operational request (a restart) always has.
        if !response && s.operation.is_operational() {
            s.function_name = detail::function_name(fc, d.mei);
        }
        emit_to(sink, false, &s, |_| {});
    }
}

/// An FC 43/14 answer (Read Device Identification): it names the server's vendor, product
/// and revision.
#[inline(always)]
fn is_device_id_answer(fc: u8, response: bool, exception: bool, d: &Detail) -> bool {
    response && !exception && fc == 43 && d.mei == Some(wire::MEI_READ_DEVICE_ID)
}

/// Summarise and emit one framed PDU with its fields; `pending` (when events are wanted)
/// matches responses to requests. Kept out of line: [`count`] inlines its own copy of
/// [`summarise`], and only this one builds the whole [`Detail`].
#[inline(never)]
fn pdu(
    f: &MbapFrame<'_>,
    response: bool,
    pending: Option<&mut Pending>,
    events: bool,
    sink: &mut dyn PduSink,
) {
    let (mut s, fc, exception, d) = summarise(f, response);
    s.function_name = detail::function_name(fc, d.mei);
    let tid = f.transaction_id();
    let matched = match pending {
        Some(p) if !response && !exception => {
            p.push(Request {
                tid,
                fc,
                umas: None,
                address: d.address,
                quantity: d.quantity,
                read_address: d.read_address,
                read_quantity: d.read_quantity,
            });
            None
        }
        Some(p) if response => p.take(tid, fc),
        _ => None,
    };
    let fill = |fields: &mut Fields| fill(fields, f, fc, response, exception, &d, matched);
    if is_device_id_answer(fc, response, exception, &d) {
        emit_identity(sink, events, &s, fill);
    } else {
        emit_to(sink, events, &s, fill);
    }
}

/// The event fields of one Modbus PDU (only runs when events are wanted).
fn fill(
    fields: &mut Fields,
    f: &MbapFrame<'_>,
    fc: u8,
    response: bool,
    exception: bool,
    d: &Detail,
    matched: Option<Request>,
) {
    let data = f.data();
    let mut d = *d;
    // A response that does not repeat them carries its request's address and quantity.
    if let Some(r) = matched
        && d.address.is_none()
        && d.read_address.is_none()
    {
        d.address = r.address;
        d.quantity = r.quantity;
        d.read_address = r.read_address;
        d.read_quantity = r.read_quantity;
    }
    let opt = |fields: &mut Fields, name: &'static str, v: Option<u16>| {
        if let Some(v) = v {
            fields.push((name, u(v)));
        }
    };
    fields.push(("transaction_id", u(f.transaction_id())));
    fields.push(("unit_id", u(f.unit_id())));
    if let Some(c) = d.exception_code {
        fields.push(("exception_code", u(c)));
    }
    if let Some(m) = d.mei {
        fields.push(("mei_type", u(m)));
    }
    let device_id = !exception && fc == 43 && d.mei == Some(wire::MEI_READ_DEVICE_ID);
    if device_id && !response {
        opt(fields, "read_device_id", data.get(1).map(|&b| u16::from(b)));
        opt(fields, "object_id", data.get(2).map(|&b| u16::from(b)));
    }
    if let Some(sf) = d.sub_function {
        fields.push(("sub_function", u(sf)));
        if let Some(n) = wire::DiagnosticCode(sf).name() {
            fields.push(("sub_function_name", FieldValue::Str(n.to_string())));
        }
    }
    opt(fields, "address", d.address);
    opt(fields, "quantity", d.quantity);
    opt(fields, "read_address", d.read_address);
    opt(fields, "read_quantity", d.read_quantity);
    opt(fields, "byte_count", d.byte_count);
    opt(fields, "value_count", d.value_count);
    opt(fields, "value", d.value);
    opt(fields, "and_mask", d.and_mask);
    opt(fields, "or_mask", d.or_mask);
    opt(fields, "groups", d.groups);
    if !exception {
        // The first record group of a file record read or write.
        let first = match (fc, response) {
            (20, false) => detail::read_file_groups(data).next(),
            (21, _) => detail::FileGroups(data.get(1..).unwrap_or_default())
                .next()
                .flatten(),
            _ => None,
        };
        if let Some(g) = first {
            fields.push(("file_number", u(g.file_number)));
            fields.push(("record_number", u(g.record_number)));
            fields.push(("record_length", u(g.record_length)));
        }
    }
    if device_id && response {
        device_identification(fields, data);
    }
}

/// FC 43/14 response: header fields, the object ids, and the identity facts.
fn device_identification(fields: &mut Fields, data: &[u8]) {
    let Some(h) = detail::device_id_header(data) else {
        return;
    };
    fields.push(("read_device_id", u(h.read_device_id)));
    fields.push(("conformity_level", u(h.conformity_level)));
    fields.push(("more_follows", u(h.more_follows)));
    fields.push(("next_object_id", u(h.next_object_id)));
    fields.push(("number_of_objects", u(h.number_of_objects)));
    let mut ids = String::new();
    let mut facts: Vec<(&'static str, FieldValue)> = Vec::new();
    let mut rest = data.get(6..).unwrap_or_default();
    for _ in 0..h.number_of_objects {
        let Some((id, value, r)) = detail::device_object(rest) else {
            break;
        };
        rest = r;
        if !ids.is_empty() {
            ids.push(',');
        }
        ids += &id.to_string();
        if let Some(name) = wire::device_id_field(id)
            && let Some(text) = text(value)
            && !facts.iter().any(|(n, _)| *n == name)
        {
            facts.push((name, FieldValue::Str(text)));
        }
    }
    fields.push(("object_ids", FieldValue::Str(ids)));
    fields.extend(facts);
}

/// An identity string as the device sent it, without padding (spaces, NULs); `None` if
/// nothing is left.
pub(crate) fn text(b: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(b);
    let t = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests;
