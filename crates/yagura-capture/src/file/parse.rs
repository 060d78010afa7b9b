//! What the format parsers share: the resumable parsing contract and the bounds.
//!
//! A parser walks a byte buffer (a whole memory-mapped file, or one decompressed chunk)
//! from `*pos`, appending a [`RecordMeta`] per packet record, and stops when the batch is
//! full, when the buffer ends inside a record or block, or at corruption. It advances `*pos`
//! only past whole records and blocks, so after [`Stop::NeedMore`] the caller can carry the
//! bytes from `*pos` into the next chunk and call again.

use yagura_core::Timestamp;

use super::format::Container;
use super::pcap::PcapParser;
use super::pcapng::PcapngParser;
use crate::{RecordMeta, Router};

/// The largest captured length accepted: libpcap's and Wireshark's `MAXIMUM_SNAPLEN` for
/// ordinary link types. A larger length field means the header is garbage, not a jumbo frame.
pub(crate) const MAX_RECORD: u32 = 256 * 1024;

/// The largest pcapng block accepted (Wireshark uses the same 16 MiB bound); it caps what a
/// corrupt length field can make us buffer.
pub(crate) const MAX_BLOCK: u32 = 16 * 1024 * 1024;

/// Why a parser stopped without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The batch holds `max` records.
    Full,
    /// The buffer ends inside a record or block: `needed` bytes from `*pos` are wanted.
    NeedMore { needed: usize, what: &'static str },
}

/// Corruption at buffer offset `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad {
    pub at: usize,
    pub reason: String,
}

/// A non-fatal remark at buffer offset `at` (turned into a [`crate::Warning`]).
pub(crate) type Note = (usize, String);

/// One parser per input, chosen by the magic bytes.
pub(crate) enum Parser {
    Pcap(PcapParser),
    Pcapng(PcapngParser),
}

impl Parser {
    pub(crate) fn new(container: Container) -> Parser {
        match container {
            Container::Pcap(flavour) => Parser::Pcap(PcapParser::new(flavour)),
            Container::Pcapng => Parser::Pcapng(PcapngParser::new()),
        }
    }

    /// Appends records from `buf[*pos..]` to `out` until it holds `max`; see the module doc.
    #[inline]
    pub(crate) fn parse(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<RecordMeta>,
        max: usize,
        backing: u16,
        router: Option<Router>,
    ) -> Result<Stop, Bad> {
        debug_assert!(*pos <= buf.len());
        match self {
            Parser::Pcap(p) => p.parse(buf, pos, out, max, backing, router),
            Parser::Pcapng(p) => p.parse(buf, pos, out, max, backing, router),
        }
    }

    /// Remarks gathered since the last call.
    pub(crate) fn take_notes(&mut self) -> Vec<Note> {
        match self {
            Parser::Pcap(_) => Vec::new(),
            Parser::Pcapng(p) => std::mem::take(&mut p.notes),
        }
    }

    /// Whether there are remarks to take (cheap, checked after every parse call).
    #[inline]
    pub(crate) fn has_notes(&self) -> bool {
        match self {
            Parser::Pcap(_) => false,
            Parser::Pcapng(p) => !p.notes.is_empty(),
        }
    }
}

/// Seconds and a fraction to a [`Timestamp`]; cannot overflow for `u32` inputs
/// (`u32::MAX * 1e9 + u32::MAX * 1000 < u64::MAX`).
#[inline(always)]
pub(crate) fn ts_from_parts(secs: u32, frac: u32, frac_to_ns: u64) -> Timestamp {
    Timestamp(u64::from(secs) * 1_000_000_000 + u64::from(frac) * frac_to_ns)
}

/// The `u32` at `b[at..at + 4]` in the file's byte order. Inlined, so callers that know the
/// order at compile time (the pcap record loop is generic over it) pay no branch.
#[inline(always)]
pub(crate) fn rd32(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// How far ahead of the parse position record loops prefetch, in bytes: far enough to
/// cover the memory latency, near enough to stay in L1/L2 (measured: 1 KiB gains less,
/// 16 KiB no more).
pub(crate) const PREFETCH_AHEAD: usize = 4096;

/// Hints the CPU to load the cache line holding `buf[at]`; a no-op off x86_64 and for an
/// offset past the end.
#[inline(always)]
pub(crate) fn prefetch(buf: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < buf.len() {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `at` is in bounds, so the pointer is valid; and a prefetch is only a hint
        // anyway: it never faults (an unmapped page is simply not fetched) and has no
        // architectural effect. It needs SSE, which every x86_64 CPU has.
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(buf.as_ptr().add(at).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (buf, at);
}
