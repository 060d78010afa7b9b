//! ISO-on-TCP (TPKT + COTP, port 102) with S7comm (0x32) and S7comm-plus (0x72) on top.
//!
//! One dissector serves flows labelled `s7comm`, `s7comm_plus` and `cotp`: it frames TPKTs,
//! reassembles COTP DT segments up to EOT, and dispatches each complete TSDU on its first
//! byte. COTP connection management TPDUs (CR, CC, DR, …) and unrecognised DT payloads are
//! reported as `cotp` PDUs.

pub mod cotp;
pub mod plus;
pub mod wire;

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::bytes::be16;
use crate::emit::{Summary, emit, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomalies, Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};
use cotp::{Tpdu, TpduCode, TpduError};
pub use wire::{Function, Rosctr, S7Header};

/// Bound on a reassembled COTP TSDU. S7comm negotiates PDUs of at most 960 bytes; S7comm-plus
/// fragments its messages itself; 64 KiB leaves room for odd stacks without letting one flow
/// hold much memory.
pub const MAX_TSDU: usize = 64 * 1024;

/// Does `data` start with TPKT + COTP?
pub fn probe(data: &[u8]) -> Probe {
    cotp::probe(data)
}

/// Per-flow ISO-on-TCP state.
#[derive(Debug)]
pub struct IsoDissector {
    id: ProtocolId,
    stream: Stream,
    framing: IsoFraming,
}

/// Per-direction reassembly state.
#[derive(Debug, Default)]
struct IsoFraming {
    /// COTP DT segments before EOT (allocated only when a TSDU is actually segmented).
    reasm: [Vec<u8>; 2],
    /// The TSDU being reassembled overflowed [`MAX_TSDU`]: drop until EOT.
    overflow: [bool; 2],
    /// Inside a fragmented S7comm-plus message.
    plus_cont: [bool; 2],
}

impl IsoDissector {
    /// A dissector for one flow labelled `id` (`s7comm`, `s7comm_plus` or `cotp`); `udp`
    /// when each call is a whole datagram (ISO-on-TCP is TCP-only, but a mislabelled UDP flow
    /// must still consume every datagram).
    pub fn new(id: ProtocolId, udp: bool) -> IsoDissector {
        IsoDissector {
            id,
            stream: Stream::new(udp),
            framing: IsoFraming::default(),
        }
    }
}

impl Dissector for IsoDissector {
    fn protocol(&self) -> ProtocolId {
        self.id
    }
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        self.stream.run(&mut self.framing, data, dir, sink)
    }
    fn on_gap(&mut self, dir: Direction, _len: u32) {
        self.stream.gap(dir);
        let i = dir.index();
        self.framing.reasm[i].clear();
        self.framing.overflow[i] = false;
        self.framing.plus_cont[i] = false;
    }
}

impl Framing for IsoFraming {
    const PROTOCOL: &'static str = "cotp";

    fn probe(data: &[u8]) -> Probe {
        cotp::probe(data)
    }

    fn step(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step {
        let t = match Tpdu::parse(data) {
            Ok(t) => t,
            Err(TpduError::Incomplete(n)) => return Step::Need(n),
            Err(TpduError::Bad(a)) => return Step::Bad(a),
        };
        if t.code == TpduCode::DT {
            self.data(&t, dir, sink);
        } else {
            cotp_pdu(&t, dir, sink);
        }
        Step::Used(t.len)
    }
}

impl IsoFraming {
    /// A DT TPDU: reassemble up to EOT, then dispatch the TSDU.
    fn data(&mut self, t: &Tpdu<'_>, dir: Direction, sink: &mut dyn PduSink) {
        let i = dir.index();
        if !t.eot {
            if self.overflow[i] {
                return;
            }
            if self.reasm[i].len() + t.user_data.len() > MAX_TSDU {
                self.overflow[i] = true;
                self.reasm[i] = Vec::new();
                return;
            }
            self.reasm[i].extend_from_slice(t.user_data);
            return;
        }
        if std::mem::take(&mut self.overflow[i]) {
            let s = Summary::malformed(
                "cotp",
                dir == Direction::ToClient,
                t.len,
                Anomaly::ReassemblyOverflow,
            );
            emit(sink, &s, |_| {});
            return;
        }
        if self.reasm[i].is_empty() {
            self.tsdu(t.user_data, t, dir, sink);
        } else {
            let mut buf = std::mem::take(&mut self.reasm[i]);
            buf.extend_from_slice(t.user_data);
            self.tsdu(&buf, t, dir, sink);
            buf.clear();
            // Keep the (bounded) buffer for the next segmented TSDU of this flow.
            self.reasm[i] = buf;
        }
    }

    /// A complete TSDU: dispatch on its first byte.
    fn tsdu(&mut self, p: &[u8], t: &Tpdu<'_>, dir: Direction, sink: &mut dyn PduSink) {
        match p.first() {
            None => {}
            Some(&wire::PROTOCOL_ID) => s7_pdu(p, t.anomalies, dir, sink),
            Some(0x72) => plus::pdu(p, dir, &mut self.plus_cont[dir.index()], sink),
            Some(_) => cotp_pdu(t, dir, sink),
        }
    }
}

/// A COTP TPDU reported on its own (connection management, or data we do not decode).
fn cotp_pdu(t: &Tpdu<'_>, dir: Direction, sink: &mut dyn PduSink) {
    let response = match t.code {
        TpduCode::CC | TpduCode::DC | TpduCode::AK | TpduCode::EA => true,
        TpduCode::CR | TpduCode::DR | TpduCode::DT | TpduCode::ED => false,
        _ => dir == Direction::ToClient,
    };
    let mut s = Summary::new("cotp", response, t.len);
    s.function = Some(u32::from(t.code.0));
    s.function_name = t.code.name();
    s.anomalies = t.anomalies;
    if t.code == TpduCode::ER || t.code == TpduCode::RJ {
        s.status = PduStatus::Exception;
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    emit(sink, &s, |_| {});
}

/// Operation class of a Job/Ack_Data function; `pi` is the PI service name when visible.
pub fn operation(f: Function, pi: Option<&[u8]>) -> OperationClass {
    use OperationClass as O;
    match f {
        Function::READ_VAR => O::Read,
        Function::WRITE_VAR => O::Write,
        Function::REQUEST_DOWNLOAD | Function::DOWNLOAD_BLOCK | Function::DOWNLOAD_ENDED => {
            O::ProgramDownload
        }
        Function::START_UPLOAD | Function::UPLOAD | Function::END_UPLOAD => O::ProgramUpload,
        Function::PLC_STOP => O::Stop,
        Function::PI_SERVICE => match pi {
            // _INSE activates downloaded blocks, _DELE deletes blocks: program changes.
            Some(b"_INSE") | Some(b"_DELE") => O::ProgramDownload,
            // Compress memory, copy RAM to ROM, NC services.
            Some(n)
                if n.starts_with(b"_GARB") || n.starts_with(b"_MODU") || n.starts_with(b"_N_") =>
            {
                O::Other
            }
            // P_PROGRAM (hot/cold start) and PI services whose name is not visible.
            _ => O::Start,
        },
        _ => O::Other,
    }
}

/// Operation class of a userdata function.
pub fn userdata_operation(group: u8, sub: u8, szl_id: Option<u16>) -> OperationClass {
    use OperationClass as O;
    match (group, sub) {
        (2, _) | (3, _) | (7, 1) | (7, 3) => O::Read,
        (7, 2) | (7, 4) => O::ConfigChange,
        // SZL partial lists 0x11 (module id), 0x12 (CPU characteristics), 0x1C (component
        // id) identify the device; the rest (CPU mode, diagnostic buffer, LEDs…) is status.
        (4, 1) => match szl_id.map(|i| i & 0xff) {
            Some(0x11 | 0x12 | 0x1c) => O::Identify,
            _ => O::Diagnostic,
        },
        (4, 3) => O::Diagnostic,
        (5, _) => O::Auth,
        _ => O::Other,
    }
}

/// The PI service name of a Job request's parameter: after the function, 7 unknown bytes, a
/// parameter block (u16 length + bytes), then a length-prefixed name.
fn pi_name(param: &[u8]) -> Option<&[u8]> {
    let pbl = be16(param, 8)? as usize;
    let at = 10 + pbl;
    let n = *param.get(at)? as usize;
    param.get(at + 1..at + 1 + n)
}

/// Summarise and emit one S7comm PDU (`p` starts with 0x32).
fn s7_pdu(p: &[u8], cotp_anomalies: Anomalies, dir: Direction, sink: &mut dyn PduSink) {
    let Some(h) = S7Header::new_checked(p) else {
        let s = Summary::malformed(
            "s7comm",
            dir == Direction::ToClient,
            p.len(),
            Anomaly::Truncated,
        );
        emit(sink, &s, |_| {});
        return;
    };
    let rosctr = h.rosctr();
    let mut s = Summary::new("s7comm", matches!(rosctr.0, 2 | 3), p.len());
    s.anomalies = cotp_anomalies;
    if rosctr.name().is_none() {
        s.anomalies.set(Anomaly::UnknownFunction);
        s.response = dir == Direction::ToClient;
    }
    let announced = h.announced_len();
    if announced > p.len() {
        s.anomalies.set(Anomaly::Truncated);
    } else if announced < p.len() {
        s.anomalies.set(Anomaly::TrailingBytes);
    }
    let param = h.param();
    let mut group = None;
    let mut szl_id = None;
    match rosctr {
        Rosctr::JOB | Rosctr::ACK_DATA => {
            if let Some(&fc) = param.first() {
                let f = Function(fc);
                s.function = Some(u32::from(fc));
                s.function_name = f.name();
                let pi = (rosctr == Rosctr::JOB).then(|| pi_name(param)).flatten();
                s.operation = operation(f, pi);
            }
        }
        Rosctr::USERDATA => {
            if param.len() >= 8 {
                let tg = param[wire::userdata::TYPE_GROUP];
                let (kind, g) = (tg >> 4, tg & 0x0f);
                let sub = param[wire::userdata::SUBFUNCTION];
                group = Some(g);
                s.response = match kind {
                    0x8 | 0xb => true,
                    0x4 | 0x7 => false,
                    _ => dir == Direction::ToClient,
                };
                // Read SZL requests carry the SZL id at data[4..6], after return code,
                // transport size and length.
                if (g, sub) == (4, 1) {
                    szl_id = be16(h.data(), 4);
                }
                s.function = Some(u32::from(g) << 8 | u32::from(sub));
                s.function_name = wire::userdata_name(g, sub);
                s.operation = userdata_operation(g, sub, szl_id);
                // 12-byte (response) parameters end with an error code.
                if be16(param, wire::userdata::ERROR_CODE).is_some_and(|e| e != 0) {
                    s.status = PduStatus::Exception;
                }
            } else {
                s.anomalies.set(Anomaly::BadHeader);
            }
        }
        _ => {}
    }
    let error = h.error();
    if error.is_some_and(|(c, _)| c != 0) {
        s.status = PduStatus::Exception;
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    emit(sink, &s, |fields| {
        fields.push(("rosctr", u(rosctr.0)));
        fields.push(("pdu_ref", u(h.pdu_ref())));
        if let Some((c, e)) = error {
            fields.push(("error_class", u(c)));
            fields.push(("error_code", u(e)));
        }
        if let Some(g) = group {
            fields.push(("userdata_group", u(g)));
        }
        if let Some(z) = szl_id {
            fields.push(("szl_id", u(z)));
        }
    });
}

#[cfg(test)]
mod tests;
