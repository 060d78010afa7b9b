//! ISO-on-TCP (TPKT + COTP, port 102) with S7comm (0x32) and S7comm-plus (0x72) on top.
//!
//! One dissector serves flows labelled `s7comm`, `s7comm_plus` and `cotp`: it frames TPKTs,
//! reassembles COTP DT segments up to EOT, and dispatches each complete TSDU on its first
//! byte. COTP connection management TPDUs (CR, CC, DR, …) and unrecognised DT payloads are
//! reported as `cotp` PDUs.

pub mod cotp;
pub mod plus;
pub mod s7;
pub mod szl;
pub mod wire;

use yagura_core::{Direction, PduStatus};

use crate::emit::{Summary, emit};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomalies, Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};
use cotp::{Tpdu, TpduCode, TpduError};
pub use s7::{operation, userdata_operation};
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
    /// S7comm request/response matching.
    s7: s7::S7State,
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
    // Nearly every input is one TPKT (ot-core: IsoDissector::parse 59.7 M -> 58.3 M).
    const FIRST_APART: bool = true;

    fn probe(data: &[u8]) -> Probe {
        cotp::probe(data)
    }

    // Inlined into the framing loop: one call frame per TPKT instead of two, and the step's
    // result stays in registers. Always: with `FIRST_APART` it has two callers (the first
    // TPKT of an input, and the loop over the others).
    #[inline(always)]
    fn step(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step {
        // Fast path: nearly every TPKT is a plain DT TPDU (see `cotp::plain_dt`), a segment,
        // or a whole S7comm (or S7comm-plus) TSDU while nothing is being reassembled. It
        // takes the same decisions as the general path below (`data`), on the same helpers.
        if let Some((n, eot)) = cotp::plain_dt(data) {
            let i = dir.index();
            let user_data = &data[cotp::DT_HEADER..n];
            if !eot {
                self.segment(i, user_data);
                return Step::Used(n);
            }
            if !self.overflow[i]
                && self.reasm[i].is_empty()
                && self.tsdu(user_data, Anomalies::NONE, dir, sink)
            {
                return Step::Used(n);
            }
        }
        self.step_general(data, dir, sink)
    }
}

impl IsoFraming {
    /// Any TPKT: frame it, read its COTP header, and dispatch it.
    #[inline(never)]
    fn step_general(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step {
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

    /// A DT TPDU: reassemble up to EOT, then dispatch the TSDU.
    fn data(&mut self, t: &Tpdu<'_>, dir: Direction, sink: &mut dyn PduSink) {
        let i = dir.index();
        if !t.eot {
            self.segment(i, t.user_data);
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
        let handled = if self.reasm[i].is_empty() {
            self.tsdu(t.user_data, t.anomalies, dir, sink)
        } else {
            let mut buf = std::mem::take(&mut self.reasm[i]);
            buf.extend_from_slice(t.user_data);
            let handled = self.tsdu(&buf, t.anomalies, dir, sink);
            buf.clear();
            // Keep the (bounded) buffer for the next segmented TSDU of this flow.
            self.reasm[i] = buf;
            handled
        };
        if !handled {
            cotp_pdu(t, dir, sink);
        }
    }

    /// A DT segment before EOT (direction index `i`): kept for reassembly, unless the TSDU
    /// overflowed [`MAX_TSDU`] (then dropped until EOT).
    #[inline(always)]
    fn segment(&mut self, i: usize, user_data: &[u8]) {
        if self.overflow[i] {
            return;
        }
        if self.reasm[i].len() + user_data.len() > MAX_TSDU {
            self.overflow[i] = true;
            self.reasm[i] = Vec::new();
            return;
        }
        self.reasm[i].extend_from_slice(user_data);
    }

    /// A complete TSDU (`anomalies`: its DT TPDU's): dispatch on its first byte. False when
    /// it is neither S7comm nor S7comm-plus, for the caller to report the TPDU as `cotp`
    /// (an empty TSDU is not reported).
    #[inline(always)]
    fn tsdu(
        &mut self,
        p: &[u8],
        anomalies: Anomalies,
        dir: Direction,
        sink: &mut dyn PduSink,
    ) -> bool {
        match p.first() {
            None => true,
            Some(&wire::PROTOCOL_ID) => {
                s7::pdu(p, anomalies, dir, &mut self.s7, sink);
                true
            }
            Some(0x72) => {
                plus::pdu(p, dir, &mut self.plus_cont[dir.index()], sink);
                true
            }
            Some(_) => false,
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

#[cfg(test)]
mod tests;
