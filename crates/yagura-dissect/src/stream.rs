//! The framing loop shared by the length-prefixed dissectors: whole PDUs out of a TCP byte
//! stream (or one UDP datagram), resynchronisation after garbage and gaps.
//!
//! Resync rule: when a header does not frame, the bytes up to the end of the current input
//! become one `malformed` PDU and the direction enters resync; in resync (also after a gap)
//! each new input is probed at its start and skipped silently until the probe matches. ICS
//! stacks send one PDU per segment, so the start of a later segment is where sync returns.

use yagura_core::Direction;

use crate::emit::{Summary, emit};
use crate::{Anomaly, Parsed, PduSink, Probe};

/// What one framing step found at the front of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A whole PDU of this many bytes (> 0) was reported.
    Used(usize),
    /// The PDU is incomplete: at least this many more bytes are needed (0 = unknown).
    Need(usize),
    /// The bytes do not start a PDU: skip them.
    Bad(Anomaly),
}

/// One protocol's framing, driven by [`Stream::run`].
pub(crate) trait Framing {
    /// Protocol name for `malformed` PDUs made of skipped bytes.
    const PROTOCOL: &'static str;
    /// Does `data` start with this protocol's header?
    fn probe(data: &[u8]) -> Probe;
    /// Frame the PDU at the front of `data` (never empty) and emit its event.
    fn step(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step;
}

/// Per-flow stream state: transport and per-direction resync flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    resync: [bool; 2],
    udp: bool,
}

impl Stream {
    /// A stream over TCP (`udp` false) or UDP datagrams.
    pub fn new(udp: bool) -> Stream {
        Stream {
            resync: [false; 2],
            udp,
        }
    }

    /// Bytes were lost in `dir`: re-probe before framing again.
    pub fn gap(&mut self, dir: Direction) {
        self.resync[dir.index()] = true;
    }

    /// Frame as many PDUs as `data` holds. Always inlined: each dissector's `parse` is only
    /// this call, and a framing that inlines its `step` then runs the loop without a call per
    /// PDU (the `Step` coming back through memory).
    #[inline(always)]
    pub fn run<F: Framing>(
        &mut self,
        f: &mut F,
        data: &[u8],
        dir: Direction,
        sink: &mut dyn PduSink,
    ) -> Parsed {
        let resync = &mut self.resync[dir.index()];
        if *resync && !self.udp {
            match F::probe(data) {
                Probe::Match => *resync = false,
                // Too short to judge: wait for more, as it may be the header we look for.
                Probe::NeedMore => return Parsed::incomplete(0, 0),
                Probe::NoMatch => return Parsed::done(data.len()),
            }
        }
        let mut off = 0;
        while off < data.len() {
            match f.step(&data[off..], dir, sink) {
                Step::Used(n) => off += n.max(1),
                Step::Need(n) if !self.udp => return Parsed::incomplete(off, n),
                Step::Need(_) => {
                    bad::<F>(data.len() - off, Anomaly::Truncated, dir, sink);
                    return Parsed::done(data.len());
                }
                Step::Bad(why) => {
                    bad::<F>(data.len() - off, why, dir, sink);
                    *resync = !self.udp;
                    return Parsed::done(data.len());
                }
            }
        }
        Parsed::done(off.min(data.len()))
    }
}

/// Report `len` skipped bytes as one malformed PDU.
fn bad<F: Framing>(len: usize, why: Anomaly, dir: Direction, sink: &mut dyn PduSink) {
    let s = Summary::malformed(F::PROTOCOL, dir == Direction::ToClient, len, why);
    emit(sink, &s, |_| {});
}
