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
    /// Frame the first PDU of an input apart from the loop over the others ([`Stream::run`]),
    /// which then runs out of line. For a protocol whose inputs nearly always hold one whole
    /// PDU, and whose `step` is always inlined: the one-PDU case then needs few registers
    /// and no loop state across the step (fewer saved registers and spills per input). The
    /// step is then inlined twice (here and in the loop), which can push its own callees
    /// out of line: each framing measures before opting in.
    const FIRST_APART: bool = false;
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
        if !F::FIRST_APART {
            return self.run_from(f, data, 0, dir, sink);
        }
        // See `Framing::FIRST_APART`: the first PDU here, the loop over the rest (rare) out
        // of line.
        if data.is_empty() {
            return Parsed::done(0);
        }
        match self.step(f, data, 0, dir, sink) {
            Ok(off) if off >= data.len() => Parsed::done(data.len()),
            Ok(off) => self.run_rest(f, data, off, dir, sink),
            Err(p) => p,
        }
    }

    /// [`Stream::run_from`], out of line.
    #[inline(never)]
    fn run_rest<F: Framing>(
        &mut self,
        f: &mut F,
        data: &[u8],
        off: usize,
        dir: Direction,
        sink: &mut dyn PduSink,
    ) -> Parsed {
        self.run_from(f, data, off, dir, sink)
    }

    /// The framing loop: frame the PDUs of `data` from `off` on.
    #[inline(always)]
    fn run_from<F: Framing>(
        &mut self,
        f: &mut F,
        data: &[u8],
        mut off: usize,
        dir: Direction,
        sink: &mut dyn PduSink,
    ) -> Parsed {
        while off < data.len() {
            match self.step(f, data, off, dir, sink) {
                Ok(next) => off = next,
                Err(p) => return p,
            }
        }
        Parsed::done(off.min(data.len()))
    }

    /// One framing step at `off` (< `data.len()`): the offset after the PDU framed there, or
    /// what `parse` returns when framing stops (an incomplete PDU, or skipped bytes).
    #[inline(always)]
    fn step<F: Framing>(
        &mut self,
        f: &mut F,
        data: &[u8],
        off: usize,
        dir: Direction,
        sink: &mut dyn PduSink,
    ) -> Result<usize, Parsed> {
        match f.step(&data[off..], dir, sink) {
            Step::Used(n) => Ok(off + n.max(1)),
            Step::Need(n) if !self.udp => Err(Parsed::incomplete(off, n)),
            Step::Need(_) => {
                bad::<F>(data.len() - off, Anomaly::Truncated, dir, sink);
                Err(Parsed::done(data.len()))
            }
            Step::Bad(why) => {
                bad::<F>(data.len() - off, why, dir, sink);
                self.resync[dir.index()] = !self.udp;
                Err(Parsed::done(data.len()))
            }
        }
    }
}

/// Report `len` skipped bytes as one malformed PDU.
fn bad<F: Framing>(len: usize, why: Anomaly, dir: Direction, sink: &mut dyn PduSink) {
    let s = Summary::malformed(F::PROTOCOL, dir == Direction::ToClient, len, why);
    emit(sink, &s, |_| {});
}
