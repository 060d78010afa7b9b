//! pcapng files: a sequence of blocks `type, total length, body, total length`, grouped
//! in sections. Each Section Header Block (SHB) sets the byte order of its section and
//! forgets the interfaces of the previous one; Interface Description Blocks (IDB) define
//! link type, snap length and timestamp unit per interface; packets come in Enhanced (EPB),
//! Simple (SPB) and obsolete (OPB) Packet Blocks. Every other block is skipped.

use yagura_core::{LinkType, Timestamp};

use super::format::{BOM_BE, BOM_LE, SHB_MAGIC};
use super::parse::{Bad, MAX_BLOCK, MAX_RECORD, Note, PREFETCH_AHEAD, Stop, prefetch, rd32};
use crate::batch::route_of;
use crate::{RecordMeta, Router};

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 0x0000_0001;
const OPB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;

/// Blocks skipped without a remark: name resolution (4), interface statistics (5), the
/// experimental IRIG timestamp (7) and AFDX (8) blocks, decryption secrets (0x0A) and the
/// two custom block types. None of them carries a packet.
const QUIETLY_SKIPPED: [u32; 7] = [4, 5, 7, 8, 0x0a, 0x0bad, 0x4000_0bad];

/// Bound on interfaces per section: each IDB costs memory, and a file with more than this
/// is corrupt or hostile rather than a real capture.
const MAX_INTERFACES: usize = 1 << 16;

/// Distinct unknown block types remarked on per file (one note each), so a stream of
/// garbage types cannot grow the note list without bound.
const MAX_UNKNOWN_REMARKS: usize = 16;

/// How to turn an interface's raw 64-bit timestamp into nanoseconds (from `if_tsresol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsScale {
    /// Units of `10^-e` seconds with `e <= 9`: multiply by `10^(9-e)`.
    Mul(u64),
    /// Units of `10^-e` seconds with `9 < e <= 28`: divide by `10^(e-9)`.
    Div(u64),
    /// Units of `2^-b` seconds: `units * 1e9 >> b`.
    Pow2(u32),
    /// Units finer than `10^-28` s: every 64-bit count is below one nanosecond.
    Zero,
}

impl TsScale {
    /// From the `if_tsresol` option byte: high bit clear means a power of 10, set means a
    /// power of 2, of the remaining 7 bits.
    pub(crate) fn from_tsresol(resol: u8) -> TsScale {
        let exp = u32::from(resol & 0x7f);
        if resol & 0x80 != 0 {
            return TsScale::Pow2(exp);
        }
        match exp {
            0..=9 => TsScale::Mul(10u64.pow(9 - exp)),
            10..=28 => TsScale::Div(10u64.pow(exp - 9)),
            _ => TsScale::Zero,
        }
    }

    #[inline]
    fn to_ns(self, units: u64) -> u64 {
        match self {
            TsScale::Mul(m) => units.saturating_mul(m),
            TsScale::Div(d) => units / d,
            TsScale::Pow2(b) => {
                // units < 2^64 and 1e9 < 2^30, so the product fits in u128; b <= 127.
                let ns = (u128::from(units) * 1_000_000_000) >> b;
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
            TsScale::Zero => 0,
        }
    }
}

/// What a packet block needs to know about its interface.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    scale: TsScale,
    /// `if_tsoffset` in nanoseconds (seconds in the file; i128 so the product cannot overflow).
    offset_ns: i128,
}

impl Interface {
    #[inline]
    fn timestamp(&self, high: u32, low: u32) -> Timestamp {
        let ns = self.scale.to_ns((u64::from(high) << 32) | u64::from(low));
        if self.offset_ns == 0 {
            return Timestamp(ns);
        }
        // Saturate: before 1970 clamps to 0, past u64 clamps to the maximum.
        let t = i128::from(ns) + self.offset_ns;
        Timestamp(t.clamp(0, i128::from(u64::MAX)) as u64)
    }
}

/// Parser state for one pcapng file.
pub(crate) struct PcapngParser {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Timestamp of the last EPB/OPB: SPBs carry none and are given this one, so they sort
    /// in place when merged and do not fall back to 1970.
    last_ts: Timestamp,
    unknown_seen: Vec<u32>,
    pub(crate) notes: Vec<Note>,
}

/// A validated block: its type and its bytes (header and trailer included).
struct Block<'a> {
    kind: u32,
    bytes: &'a [u8],
    big_endian: bool,
}

impl Block<'_> {
    #[inline]
    fn u16_at(&self, at: usize) -> u16 {
        let v = [self.bytes[at], self.bytes[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    #[inline]
    fn u32_at(&self, at: usize) -> u32 {
        rd32(self.bytes, at, self.big_endian)
    }
}

impl PcapngParser {
    pub(crate) fn new() -> PcapngParser {
        PcapngParser {
            big_endian: false,
            interfaces: Vec::new(),
            last_ts: Timestamp::ZERO,
            unknown_seen: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn parse(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<RecordMeta>,
        max: usize,
        backing: u16,
        router: Option<Router>,
    ) -> Result<Stop, Bad> {
        let mut prefetched = *pos;
        loop {
            if out.len() >= max {
                return Ok(Stop::Full);
            }
            let at = *pos;
            // As in the pcap loop: blocks form a chain, so fetch ahead of it.
            let ahead = (at + PREFETCH_AHEAD).min(buf.len());
            while prefetched < ahead {
                prefetch(buf, prefetched);
                prefetched += 64;
            }
            let block = match self.next_block(&buf[at..], at)? {
                Ok(block) => block,
                Err(stop) => return Ok(stop),
            };
            let len = block.bytes.len();
            self.handle(&block, at, out, backing, router)?;
            *pos = at + len;
        }
    }

    /// Frames the block at the start of `rest` (found at buffer offset `at`).
    fn next_block<'a>(&self, rest: &'a [u8], at: usize) -> Result<Result<Block<'a>, Stop>, Bad> {
        let bad = |reason: String| Bad { at, reason };
        let Some(head) = rest.first_chunk::<8>() else {
            return Ok(Err(Stop::NeedMore {
                needed: 8,
                what: "pcapng block header",
            }));
        };
        let mut big_endian = self.big_endian;
        if head[..4] == SHB_MAGIC {
            // A new section may switch byte order: the length is read in the order the
            // byte-order magic that follows it announces.
            let Some(bom) = rest.get(8..12) else {
                return Ok(Err(Stop::NeedMore {
                    needed: 12,
                    what: "pcapng section header",
                }));
            };
            big_endian = if bom == BOM_BE {
                true
            } else if bom == BOM_LE {
                false
            } else {
                return Err(bad(format!(
                    "section header with an invalid byte-order magic {bom:02x?}"
                )));
            };
        }
        let kind = rd32(head, 0, big_endian);
        let len = rd32(head, 4, big_endian);
        if len < 12 || !len.is_multiple_of(4) {
            return Err(bad(format!(
                "block type 0x{kind:08x} has total length {len}, not a multiple of 4 and at least 12"
            )));
        }
        if len > MAX_BLOCK {
            return Err(bad(format!(
                "block type 0x{kind:08x} has total length {len}, over the {MAX_BLOCK}-byte maximum"
            )));
        }
        let len = len as usize;
        let Some(bytes) = rest.get(..len) else {
            return Ok(Err(Stop::NeedMore {
                needed: len,
                what: "pcapng block",
            }));
        };
        let trailer = rd32(bytes, len - 4, big_endian);
        if trailer as usize != len {
            return Err(bad(format!(
                "block type 0x{kind:08x}: total length {len} at its start but {trailer} at its end"
            )));
        }
        Ok(Ok(Block {
            kind,
            bytes,
            big_endian,
        }))
    }

    /// Acts on one framed block at buffer offset `at`; the state changes only here, after
    /// the whole block is known to be present.
    fn handle(
        &mut self,
        block: &Block<'_>,
        at: usize,
        out: &mut Vec<RecordMeta>,
        backing: u16,
        router: Option<Router>,
    ) -> Result<(), Bad> {
        let len = block.bytes.len();
        let bad = |reason: String| Bad { at, reason };
        match block.kind {
            SHB => {
                // type, length, byte-order magic, version (2+2), section length (8), trailer.
                if len < 28 {
                    return Err(bad(format!(
                        "section header block of {len} bytes, under 28"
                    )));
                }
                self.big_endian = block.big_endian;
                self.interfaces.clear();
            }
            IDB => {
                // type, length, link type (2), reserved (2), snaplen (4), options, trailer.
                if len < 20 {
                    return Err(bad(format!(
                        "interface description block of {len} bytes, under 20"
                    )));
                }
                if self.interfaces.len() >= MAX_INTERFACES {
                    return Err(bad(format!(
                        "more than {MAX_INTERFACES} interfaces in one section"
                    )));
                }
                let (resol, offset_s) = idb_options(&block.bytes[16..len - 4], block.big_endian);
                self.interfaces.push(Interface {
                    link: LinkType(block.u16_at(8)),
                    snaplen: block.u32_at(12),
                    scale: TsScale::from_tsresol(resol),
                    offset_ns: i128::from(offset_s) * 1_000_000_000,
                });
            }
            EPB | OPB => {
                // type, length, interface (4; OPB: 2 + 2 drop count), timestamp high and low,
                // captured length, original length, data, options, trailer.
                if len < 32 {
                    return Err(bad(format!("packet block of {len} bytes, under 32")));
                }
                let id = if block.kind == EPB {
                    block.u32_at(8)
                } else {
                    u32::from(block.u16_at(8))
                };
                let Some(iface) = self.interfaces.get(id as usize) else {
                    return Err(bad(format!(
                        "packet for interface {id}, but the section defines {} interface(s)",
                        self.interfaces.len()
                    )));
                };
                let caplen = block.u32_at(20);
                if caplen > MAX_RECORD {
                    return Err(bad(format!(
                        "packet captured length {caplen} exceeds the {MAX_RECORD}-byte maximum"
                    )));
                }
                if caplen as usize > len - 32 {
                    return Err(bad(format!(
                        "packet captured length {caplen} exceeds its {len}-byte block"
                    )));
                }
                let ts = iface.timestamp(block.u32_at(12), block.u32_at(16));
                self.last_ts = ts;
                out.push(RecordMeta {
                    ts,
                    offset: at + 28,
                    caplen,
                    orig_len: block.u32_at(24),
                    link: iface.link,
                    backing,
                    route: route_of(router, iface.link, &block.bytes[28..28 + caplen as usize]),
                });
            }
            SPB => {
                // type, length, original length, data, trailer. No captured length: it is
                // the original length cut to the snap length and to the block.
                if len < 16 {
                    return Err(bad(format!("simple packet block of {len} bytes, under 16")));
                }
                let Some(iface) = self.interfaces.first() else {
                    return Err(bad(
                        "simple packet block, but the section defines no interface".to_owned(),
                    ));
                };
                let orig_len = block.u32_at(8);
                let mut caplen = orig_len.min((len - 16) as u32);
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen);
                }
                if caplen > MAX_RECORD {
                    return Err(bad(format!(
                        "simple packet of {caplen} bytes exceeds the {MAX_RECORD}-byte maximum"
                    )));
                }
                out.push(RecordMeta {
                    ts: self.last_ts,
                    offset: at + 12,
                    caplen,
                    orig_len,
                    link: iface.link,
                    backing,
                    route: route_of(router, iface.link, &block.bytes[12..12 + caplen as usize]),
                });
            }
            kind if QUIETLY_SKIPPED.contains(&kind) => {}
            kind => {
                if !self.unknown_seen.contains(&kind)
                    && self.unknown_seen.len() < MAX_UNKNOWN_REMARKS
                {
                    self.unknown_seen.push(kind);
                    self.notes.push((
                        at,
                        format!(
                            "skipped pcapng block type 0x{kind:08x} (not a packet block Yagura reads); later ones are skipped silently"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `if_tsresol` (default 6, µs) and `if_tsoffset` (default 0) from an IDB's options.
/// A malformed option list ends the scan: the rest is ignored, not an error, because the
/// options do not affect framing.
fn idb_options(opts: &[u8], big_endian: bool) -> (u8, i64) {
    const END_OF_OPT: u16 = 0;
    const IF_TSRESOL: u16 = 9;
    const IF_TSOFFSET: u16 = 14;
    let (mut resol, mut offset) = (6u8, 0i64);
    let mut i = 0usize;
    while let Some(h) = opts.get(i..i + 4) {
        let (code, len) = if big_endian {
            (
                u16::from_be_bytes([h[0], h[1]]),
                u16::from_be_bytes([h[2], h[3]]),
            )
        } else {
            (
                u16::from_le_bytes([h[0], h[1]]),
                u16::from_le_bytes([h[2], h[3]]),
            )
        };
        if code == END_OF_OPT {
            break;
        }
        let start = i + 4;
        let Some(value) = opts.get(start..start + usize::from(len)) else {
            break;
        };
        match code {
            IF_TSRESOL if !value.is_empty() => resol = value[0],
            IF_TSOFFSET if value.len() >= 8 => {
                let v: [u8; 8] = value[..8].try_into().unwrap_or_default();
                offset = if big_endian {
                    i64::from_be_bytes(v)
                } else {
                    i64::from_le_bytes(v)
                };
            }
            _ => {}
        }
        // Values are padded to 32 bits.
        i = start + usize::from(len).div_ceil(4) * 4;
    }
    (resol, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_decimal_and_binary_resolutions() {
        assert_eq!(TsScale::from_tsresol(6).to_ns(1_500_000), 1_500_000_000);
        assert_eq!(TsScale::from_tsresol(9).to_ns(42), 42);
        assert_eq!(TsScale::from_tsresol(0).to_ns(3), 3_000_000_000);
        assert_eq!(TsScale::from_tsresol(12).to_ns(5_000), 5);
        // 2^-10 s units: 1024 units = 1 s.
        assert_eq!(TsScale::from_tsresol(0x80 | 10).to_ns(1024), 1_000_000_000);
        assert_eq!(TsScale::from_tsresol(0x80 | 127).to_ns(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0x80).to_ns(u64::MAX), u64::MAX);
        assert_eq!(TsScale::from_tsresol(127).to_ns(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(28).to_ns(u64::MAX), 1);
        assert_eq!(TsScale::from_tsresol(0).to_ns(u64::MAX), u64::MAX);
    }

    #[test]
    fn applies_offsets_saturating() {
        let iface = |offset_s: i64| Interface {
            link: LinkType::ETHERNET,
            snaplen: 0,
            scale: TsScale::Mul(1000),
            offset_ns: i128::from(offset_s) * 1_000_000_000,
        };
        assert_eq!(iface(10).timestamp(0, 1), Timestamp(10_000_001_000));
        assert_eq!(iface(-10).timestamp(0, 1), Timestamp(0));
        assert_eq!(iface(i64::MAX).timestamp(0, 1), Timestamp(u64::MAX));
    }

    #[test]
    fn reads_idb_options_and_stops_at_malformed_ones() {
        // if_tsresol = 9, if_tsoffset = 100, end of options (little-endian).
        let mut opts = vec![9, 0, 1, 0, 9, 0, 0, 0, 14, 0, 8, 0];
        opts.extend_from_slice(&100i64.to_le_bytes());
        opts.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(idb_options(&opts, false), (9, 100));
        // An option claiming more bytes than there are ends the scan.
        assert_eq!(idb_options(&[9, 0, 0xff, 0, 3], false), (6, 0));
        assert_eq!(idb_options(&[0, 9, 0, 1, 0x83, 0, 0, 0], true), (0x83, 0));
    }
}
