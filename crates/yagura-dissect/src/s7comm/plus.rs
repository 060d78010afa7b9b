//! S7comm-plus (protocol id 0x72): the frame header, integrity part, opcode and function.

use yagura_core::{Direction, OperationClass};

use crate::bytes::{be16, u8_at};
use crate::emit::{Summary, emit, u};
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

/// Operation class of a function. Stop/start and program download travel inside
/// SetVariable/Invoke/sequences and need the object model (a later session); until then they
/// are `write`/`other`.
pub fn operation(f: Function) -> OperationClass {
    use OperationClass as O;
    match f {
        Function::EXPLORE
        | Function::GET_VARIABLE
        | Function::GET_LINK
        | Function::GET_MULTI_VARIABLES
        | Function::GET_VAR_SUBSTREAMED
        | Function::GET_VARIABLES_ADDRESS => O::Read,
        Function::SET_VARIABLE | Function::SET_MULTI_VARIABLES | Function::SET_VAR_SUBSTREAMED => {
            O::Write
        }
        _ => O::Other,
    }
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
    match opcode {
        Some(Opcode::REQUEST) => s.response = false,
        Some(Opcode::RESPONSE | Opcode::RESPONSE2) => s.response = true,
        Some(o) if o.name().is_none() => s.anomalies.set(Anomaly::UnknownFunction),
        _ => {}
    }
    if let Some(f) = function {
        s.function = Some(u32::from(f.0));
        s.function_name = f.name();
        s.operation = operation(f);
    } else if opcode == Some(Opcode::NOTIFICATION) {
        s.function_name = Some("notification");
    }
    if !s.anomalies.is_empty() {
        s.status = yagura_core::PduStatus::Malformed;
    }
    emit(sink, &s, |fields| {
        fields.push(("version", u(version)));
        if let Some(o) = opcode {
            fields.push(("opcode", u(o.0)));
        }
        if let Some(q) = seq {
            fields.push(("seq", u(q)));
        }
    });
}
