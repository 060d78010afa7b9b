//! Helpers shared by the file-reader tests: the corpus location, draining a source while
//! checking its indices, and writers for small pcap/pcapng inputs.

use std::path::{Path, PathBuf};

use yagura_capture::{CaptureError, PacketSource, Warning};
use yagura_core::LinkType;

pub use yagura_testkit::corpus;

/// A committed fixture from `testdata/pcap/capture/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/pcap/capture")
        .join(name)
}

/// One delivered packet, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub ts: u64,
    pub link: LinkType,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// What reading a source to its end gave.
#[derive(Debug)]
pub struct Drained {
    pub recs: Vec<Rec>,
    pub error: Option<CaptureError>,
    pub warnings: Vec<Warning>,
    /// Batches seen, and how many of them spanned more than one backing.
    pub batches: usize,
    pub multi_backing_batches: usize,
}

/// Reads `src` in batches of `max` until the end or an error, checking that batch sizes,
/// `first_index` and `Packet::index` are consistent and that it stops after an error.
pub fn drain(src: &mut dyn PacketSource, max: usize) -> Drained {
    let mut d = Drained {
        recs: Vec::new(),
        error: None,
        warnings: Vec::new(),
        batches: 0,
        multi_backing_batches: 0,
    };
    // Every batch holds at least one record, so a source that keeps answering is stuck.
    let mut calls = 0u64;
    loop {
        calls += 1;
        assert!(calls < 10_000_000, "source never ends");
        match src.next_batch(max) {
            Ok(Some(b)) => {
                assert!(!b.is_empty(), "an empty batch from a file source");
                assert!(b.len() <= max.max(1), "batch of {} for max {max}", b.len());
                assert_eq!(b.first_index, d.recs.len() as u64);
                d.batches += 1;
                d.multi_backing_batches += usize::from(b.backings.len() > 1);
                for p in b.iter() {
                    assert_eq!(p.index, d.recs.len() as u64);
                    d.recs.push(Rec {
                        ts: p.ts.0,
                        link: p.link,
                        orig_len: p.orig_len,
                        data: p.data.to_vec(),
                    });
                }
            }
            Ok(None) => break,
            Err(e) => {
                d.error = Some(e);
                // After an error the source has nothing more (and must not panic).
                assert!(matches!(src.next_batch(max), Ok(None)));
                break;
            }
        }
    }
    d.warnings = src.take_warnings();
    d
}

/// Writes little- or big-endian values.
pub struct W {
    pub be: bool,
    pub v: Vec<u8>,
}

impl W {
    pub fn new(be: bool) -> W {
        W { be, v: Vec::new() }
    }
    pub fn u16(&mut self, x: u16) -> &mut W {
        let b = if self.be {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.v.extend_from_slice(&b);
        self
    }
    pub fn u32(&mut self, x: u32) -> &mut W {
        let b = if self.be {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.v.extend_from_slice(&b);
        self
    }
    pub fn u64(&mut self, x: u64) -> &mut W {
        let b = if self.be {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.v.extend_from_slice(&b);
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut W {
        self.v.extend_from_slice(b);
        self
    }
}

/// A classic pcap file: `magic` is the 32-bit magic value (written in the chosen order).
pub fn pcap(be: bool, magic: u32, link: u32, recs: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let mut w = W::new(be);
    w.u32(magic)
        .u16(2)
        .u16(4)
        .u32(0)
        .u32(0)
        .u32(65535)
        .u32(link);
    for &(secs, frac, data, orig) in recs {
        w.u32(secs)
            .u32(frac)
            .u32(data.len() as u32)
            .u32(orig)
            .bytes(data);
    }
    w.v
}

/// A µs little-endian pcap of owned records (timestamps in ns, truncated to µs).
pub fn pcap_of(recs: &[Rec]) -> Vec<u8> {
    let mut w = W::new(false);
    let link = recs.first().map_or(1, |r| u32::from(r.link.0));
    w.u32(0xa1b2_c3d4)
        .u16(2)
        .u16(4)
        .u32(0)
        .u32(0)
        .u32(262_144)
        .u32(link);
    for r in recs {
        w.u32((r.ts / 1_000_000_000) as u32)
            .u32((r.ts % 1_000_000_000 / 1000) as u32)
            .u32(r.data.len() as u32)
            .u32(r.orig_len)
            .bytes(&r.data);
    }
    w.v
}

/// pcapng writer: blocks in the current section's byte order.
pub struct Ng {
    pub be: bool,
    pub v: Vec<u8>,
}

impl Ng {
    /// A file starting with a section header in the given byte order.
    pub fn new(be: bool) -> Ng {
        let mut ng = Ng { be, v: Vec::new() };
        ng.shb();
        ng
    }

    /// A block with `body` padded to 32 bits.
    pub fn block(&mut self, kind: u32, body: &[u8]) -> &mut Ng {
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        let mut w = W::new(self.be);
        w.u32(kind).u32(len).bytes(body);
        w.v.resize(8 + padded, 0);
        w.u32(len);
        self.v.extend_from_slice(&w.v);
        self
    }

    pub fn shb(&mut self) -> &mut Ng {
        let mut b = W::new(self.be);
        b.u32(0x1a2b_3c4d).u16(1).u16(0).u64(u64::MAX);
        self.block(0x0a0d_0d0a, &b.v)
    }

    /// An interface: link type, snap length, optional `if_tsresol` and `if_tsoffset`.
    pub fn idb(
        &mut self,
        link: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> &mut Ng {
        let mut b = W::new(self.be);
        b.u16(link).u16(0).u32(snaplen);
        // An unrelated option first (if_name "eth0"), as real writers put one.
        b.u16(2).u16(4).bytes(b"eth0");
        if let Some(r) = tsresol {
            b.u16(9).u16(1).bytes(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            b.u16(14).u16(8).u64(o as u64);
        }
        b.u16(0).u16(0);
        self.block(1, &b.v)
    }

    pub fn epb(&mut self, iface: u32, ts: u64, data: &[u8], orig: u32) -> &mut Ng {
        let mut b = W::new(self.be);
        b.u32(iface)
            .u32((ts >> 32) as u32)
            .u32(ts as u32)
            .u32(data.len() as u32)
            .u32(orig)
            .bytes(data);
        b.v.resize(b.v.len().div_ceil(4) * 4, 0);
        // An epb_flags option, so the parser must use caplen rather than the block end.
        b.u16(2).u16(4).u32(1).u16(0).u16(0);
        self.block(6, &b.v)
    }

    pub fn opb(&mut self, iface: u16, ts: u64, data: &[u8], orig: u32) -> &mut Ng {
        let mut b = W::new(self.be);
        b.u16(iface)
            .u16(0)
            .u32((ts >> 32) as u32)
            .u32(ts as u32)
            .u32(data.len() as u32)
            .u32(orig)
            .bytes(data);
        self.block(2, &b.v)
    }

    pub fn spb(&mut self, orig: u32, data: &[u8]) -> &mut Ng {
        let mut b = W::new(self.be);
        b.u32(orig).bytes(data);
        self.block(3, &b.v)
    }
}
