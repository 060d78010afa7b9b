//! Classic pcap (libpcap) files: a 24-byte file header, then records with a 16-byte header
//! (24 bytes in the "modified" flavour) followed by `caplen` bytes of packet data.
//!
//! The record loop is hand-written rather than built on `pcap-parser`: it is a handful of
//! loads per record, monomorphised per byte order, with no allocation.

use yagura_core::LinkType;

use super::format::PcapFlavour;
use super::parse::{Bad, MAX_RECORD, PREFETCH_AHEAD, Stop, prefetch, rd32, ts_from_parts};
use crate::batch::route_of;
use crate::{RecordMeta, Router};

/// Length of the pcap file header.
pub(crate) const FILE_HEADER_LEN: usize = 24;

/// Parser state for one classic pcap file.
pub(crate) struct PcapParser {
    big_endian: bool,
    /// Nanoseconds per unit of the fractional timestamp field (1000 for µs, 1 for ns).
    frac_to_ns: u64,
    /// Record header length: 16, or 24 for the modified flavour (which appends ifindex,
    /// protocol, packet type and padding).
    record_header: usize,
    link: LinkType,
    header_read: bool,
}

impl PcapParser {
    pub(crate) fn new(flavour: PcapFlavour) -> PcapParser {
        PcapParser {
            big_endian: flavour.big_endian,
            frac_to_ns: if flavour.nanos { 1 } else { 1000 },
            record_header: if flavour.modified { 24 } else { 16 },
            link: LinkType::ETHERNET,
            header_read: false,
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
        if !self.header_read {
            let Some(h) = buf[*pos..].first_chunk::<FILE_HEADER_LEN>() else {
                return Ok(Stop::NeedMore {
                    needed: FILE_HEADER_LEN,
                    what: "pcap file header",
                });
            };
            let field = [h[20], h[21], h[22], h[23]];
            let link = if self.big_endian {
                u32::from_be_bytes(field)
            } else {
                u32::from_le_bytes(field)
            };
            // The upper bits carry FCS-length information (bits 26-28) and reserved bits;
            // the link type proper is the low 16 bits.
            self.link = LinkType((link & 0xffff) as u16);
            self.header_read = true;
            *pos += FILE_HEADER_LEN;
        }
        if self.big_endian {
            self.records::<true>(buf, pos, out, max, backing, router)
        } else {
            self.records::<false>(buf, pos, out, max, backing, router)
        }
    }

    /// The hot loop.
    #[inline(always)]
    fn records<const BE: bool>(
        &self,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<RecordMeta>,
        max: usize,
        backing: u16,
        router: Option<Router>,
    ) -> Result<Stop, Bad> {
        let header_len = self.record_header;
        let mut p = *pos;
        let mut prefetched = p;
        let result = loop {
            if out.len() >= max {
                break Ok(Stop::Full);
            }
            // Records form a chain (each header says where the next one is), so without
            // help every header is a dependent cache miss; asking for the bytes ahead turns
            // that into a sequential stream (about 1.5x faster on a cold 400 MB file).
            let ahead = (p + PREFETCH_AHEAD).min(buf.len());
            while prefetched < ahead {
                prefetch(buf, prefetched);
                prefetched += 64;
            }
            let rest = &buf[p..];
            let Some(h) = rest.first_chunk::<16>() else {
                break Ok(Stop::NeedMore {
                    needed: header_len,
                    what: "record header",
                });
            };
            let caplen = rd32(h, 8, BE);
            if caplen > MAX_RECORD {
                break Err(Bad {
                    at: p,
                    reason: format!(
                        "record captured length {caplen} exceeds the {MAX_RECORD}-byte maximum"
                    ),
                });
            }
            let total = header_len + caplen as usize;
            if rest.len() < total {
                break Ok(Stop::NeedMore {
                    needed: total,
                    what: "record",
                });
            }
            out.push(RecordMeta {
                ts: ts_from_parts(rd32(h, 0, BE), rd32(h, 4, BE), self.frac_to_ns),
                offset: p + header_len,
                caplen,
                orig_len: rd32(h, 12, BE),
                link: self.link,
                backing,
                route: route_of(router, self.link, &rest[header_len..total]),
            });
            p += total;
        };
        *pos = p;
        result
    }
}
