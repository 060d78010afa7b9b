//! S7comm-plus (protocol id 0x72): the frame header, integrity part, opcode and function.

use yagura_core::{Direction, OperationClass};

use yagura_core::FieldValue;

use crate::bytes::{be16, be32, u8_at};
use crate::emit::{Fields, Summary, emit, emit_identity, emit_to, u};
use crate::{Anomaly, PduSink};

/// S7comm-plus header field offsets.
mod field {
    pub const VERSION: usize = 1;
    /// Bytes after the 4-byte header, excluding the 4-byte trailer.
    pub const DATA_LEN: usize = 2;
    pub const DATA: usize = 4;
}

/// Header and trailer length.
pub const HEADER_LEN: usize = 4;
/// Protocol version 3 puts a 1-byte digest length and a digest (SHA-256, 32 bytes) in front
/// of the data.
pub const VERSION_INTEGRITY: u8 = 3;
/// "Version" 0xFE marks system events (e.g. the CPU ending a session), not opcode messages.
pub const VERSION_SYSTEM_EVENT: u8 = 0xfe;

open_enum! {
    /// Opcodes (first data byte).
    pub struct Opcode(u8) {
        REQUEST = 0x31 => "request",
        RESPONSE = 0x32 => "response",
        NOTIFICATION = 0x33 => "notification",
        RESPONSE2 = 0x02 => "response2",
    }
}

open_enum! {
    /// Function codes of requests and responses.
    pub struct Function(u16) {
        ERROR = 0x04b1 => "error",
        EXPLORE = 0x04bb => "explore",
        CREATE_OBJECT = 0x04ca => "create_object",
        DELETE_OBJECT = 0x04d4 => "delete_object",
        SET_VARIABLE = 0x04f2 => "set_variable",
        GET_VARIABLE = 0x04fc => "get_variable",
        ADD_LINK = 0x0506 => "add_link",
        REMOVE_LINK = 0x051a => "remove_link",
        GET_LINK = 0x0524 => "get_link",
        SET_MULTI_VARIABLES = 0x0542 => "set_multi_variables",
        GET_MULTI_VARIABLES = 0x054c => "get_multi_variables",
        BEGIN_SEQUENCE = 0x0556 => "begin_sequence",
        END_SEQUENCE = 0x0560 => "end_sequence",
        INVOKE = 0x056b => "invoke",
        SET_VAR_SUBSTREAMED = 0x057c => "set_var_substreamed",
        GET_VAR_SUBSTREAMED = 0x0586 => "get_var_substreamed",
        GET_VARIABLES_ADDRESS = 0x0590 => "get_variables_address",
        ABORT = 0x059a => "abort",
    }
}

/// Object id of the CPU execution unit (`NativeObjects.theCPUexecUnit_Rid`).
pub const CPU_EXEC_UNIT: u32 = 0x34;
/// Its attribute `CPUexecUnit.operatingStateREQ`: writing 1 requests STOP, 3 RUN.
pub const OPERATING_STATE_REQ: u64 = 2167;
/// Object ids from here on are created per session (the session, its subscriptions):
/// setting their attributes is protocol housekeeping, not a write to the PLC.
pub const SESSION_OBJECTS: u32 = 0x7000_0000;

/// Operation class of a function. `target` is what a SetVariable request addresses (object
/// id, attribute, value) when visible.
pub fn operation(f: Function, target: Option<SetTarget>) -> OperationClass {
    use OperationClass as O;
    match f {
        Function::EXPLORE
        | Function::GET_VARIABLE
        | Function::GET_LINK
        | Function::GET_MULTI_VARIABLES
        | Function::GET_VAR_SUBSTREAMED
        | Function::GET_VARIABLES_ADDRESS => O::Read,
        Function::SET_VARIABLE => match target {
            Some(t) if t.object == CPU_EXEC_UNIT && t.attribute == Some(OPERATING_STATE_REQ) => {
                match t.value {
                    Some(1) => O::Stop,
                    Some(3) => O::Start,
                    _ => O::ControlCommand,
                }
            }
            Some(t) if t.object >= SESSION_OBJECTS => O::Other,
            _ => O::Write,
        },
        Function::SET_MULTI_VARIABLES | Function::SET_VAR_SUBSTREAMED => O::Write,
        _ => O::Other,
    }
}

/// The object, attribute and (small integer) value a SetVariable request sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetTarget {
    /// Object id (u32).
    pub object: u32,
    /// First attribute id (VLQ), when readable.
    pub attribute: Option<u64>,
    /// The value when it is a one-byte integer.
    pub value: Option<u8>,
}

/// An unsigned variable-length quantity (7 bits per byte, high bit = more) at `at`: value
/// and next offset. At most 9 bytes.
pub fn vlq(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let c = *b.get(at + i)?;
        if i == 8 {
            return Some((v << 8 | u64::from(c), at + 9));
        }
        v = v << 7 | u64::from(c & 0x7f);
        if c & 0x80 == 0 {
            return Some((v, at + i + 1));
        }
    }
    None
}

/// A SetVariable request body: object id, item count, attribute, then the value (flags,
/// datatype, VLQ-encoded value).
fn set_target(body: &[u8]) -> Option<SetTarget> {
    let object = be32(body, 0)?;
    let parsed = vlq(body, 4).and_then(|(_, at)| vlq(body, at));
    let (attribute, value) = match parsed {
        Some((a, at)) => {
            let v = body.get(at + 2).copied().filter(|v| *v < 0x40);
            (Some(a), v)
        }
        None => (None, None),
    };
    Some(SetTarget {
        object,
        attribute,
        value,
    })
}

/// `n;ORDER NUMBER;Vx.y` strings (the server session version of CreateObject answers): the
/// order number and firmware version of the first one in `b`.
pub fn version_string(b: &[u8]) -> Option<(String, String)> {
    for run in b.split(|c| !(0x20..0x7f).contains(c)) {
        if run.len() < 8 {
            continue;
        }
        let mut parts = run.split(|&c| c == b';');
        let (Some(n), Some(order), Some(fw)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let order = String::from_utf8_lossy(order).trim().to_string();
        let fw = String::from_utf8_lossy(fw).trim().to_string();
        let n_ok = n.last().is_some_and(u8::is_ascii_digit);
        let order_ok = order.len() >= 6 && order.starts_with(|c: char| c.is_ascii_digit());
        let fw_ok = fw.starts_with('V') && fw[1..].starts_with(|c: char| c.is_ascii_digit());
        if n_ok && order_ok && fw_ok {
            return Some((order, fw));
        }
    }
    None
}

/// Emit the S7comm-plus PDU in one COTP payload (starting with 0x72). `cont` is the
/// direction's "inside a fragmented message" state: a message larger than a TPDU is sent as
/// several payloads each with a header, and only the last carries the trailer; only the first
/// yields an event.
pub(crate) fn pdu(p: &[u8], dir: Direction, cont: &mut bool, sink: &mut dyn PduSink) {
    let continuation = *cont;
    let version = u8_at(p, field::VERSION);
    let dlen = be16(p, field::DATA_LEN).map(usize::from);
    let mut s = Summary::new("s7comm_plus", dir == Direction::ToClient, p.len());
    let (Some(version), Some(dlen)) = (version, dlen) else {
        s.anomalies.set(Anomaly::Truncated);
        s.status = yagura_core::PduStatus::Malformed;
        *cont = false;
        emit(sink, &s, |_| {});
        return;
    };
    let end = HEADER_LEN + dlen;
    let has_trailer = p.len() >= end + HEADER_LEN && p[end] == 0x72;
    let system_event = version == VERSION_SYSTEM_EVENT;
    if p.len() < end {
        s.anomalies.set(Anomaly::Truncated);
    } else if p.len() != end && !(has_trailer && p.len() == end + HEADER_LEN) {
        s.anomalies.set(Anomaly::TrailingBytes);
    }
    // Without a trailer, more fragments of this message follow (system events have none).
    *cont = p.len() == end && !system_event;
    if continuation {
        return;
    }
    let mut data = &p[field::DATA.min(p.len())..end.min(p.len())];
    if version == VERSION_INTEGRITY {
        let dl = data.first().map_or(0, |&l| l as usize);
        data = data.get(1 + dl..).unwrap_or(&[]);
    }
    let opcode = if system_event {
        s.function_name = Some("system_event");
        None
    } else {
        data.first().map(|&o| Opcode(o))
    };
    let function = match opcode {
        Some(Opcode::REQUEST | Opcode::RESPONSE | Opcode::RESPONSE2) => be16(data, 3).map(Function),
        _ => None,
    };
    let seq = function.and_then(|_| be16(data, 7));
    // Requests: sequence, then session id (u32) and transport flags before the body.
    let request = opcode == Some(Opcode::REQUEST);
    let session = if request { be32(data, 9) } else { None };
    let target = match function {
        Some(Function::SET_VARIABLE) if request => data.get(14..).and_then(set_target),
        _ => None,
    };
    match opcode {
        Some(Opcode::REQUEST) => s.response = false,
        Some(Opcode::RESPONSE | Opcode::RESPONSE2) => s.response = true,
        Some(o) if o.name().is_none() => s.anomalies.set(Anomaly::UnknownFunction),
        _ => {}
    }
    if let Some(f) = function {
        s.function = Some(u32::from(f.0));
        s.function_name = f.name();
        s.operation = operation(f, target);
    } else if opcode == Some(Opcode::NOTIFICATION) {
        s.function_name = Some("notification");
    }
    if !s.anomalies.is_empty() {
        s.status = yagura_core::PduStatus::Malformed;
    }
    // The CPU's version string (order number, firmware) in a CreateObject answer: the
    // only S7comm-plus PDU that identifies the CPU, decoded in count mode too.
    let events = sink.wants_events();
    // The version string names the sender (an answer) and is a field of the event: not
    // looked for in a request only counted.
    let ident = if function == Some(Function::CREATE_OBJECT) && (events || s.response) {
        version_string(data)
    } else {
        None
    };
    // An answer with a version string identifies the sender, events wanted or not.
    let identifies = ident.is_some() && s.response;
    if !(events || identifies) {
        // Only counted: return before the event's closure is put together.
        emit_to(sink, false, &s, |_| {});
        return;
    }
    let fill = |fields: &mut Fields| {
        fields.push(("version", u(version)));
        if let Some(o) = opcode {
            fields.push(("opcode", u(o.0)));
        }
        if let Some(q) = seq {
            fields.push(("sequence", u(q)));
        }
        if let Some(id) = session {
            fields.push(("session_id", u(id)));
        }
        if let Some(t) = target {
            fields.push(("object_id", u(t.object)));
            if let Some(a) = t.attribute {
                fields.push(("attribute_id", u(a)));
            }
            if t.object == CPU_EXEC_UNIT
                && t.attribute == Some(OPERATING_STATE_REQ)
                && let Some(v) = t.value
            {
                fields.push(("requested_state", u(v)));
            }
        }
        if let Some((order, fw)) = ident {
            fields.push(("order_number", FieldValue::Str(order)));
            fields.push(("firmware_version", FieldValue::Str(fw)));
        }
    };
    if identifies {
        emit_identity(sink, events, &s, fill);
    } else {
        emit_to(sink, events, &s, fill);
    }
}
