//! Walking a TPACKET_V3 block after it has been copied out of the ring: safe code over a
//! plain byte buffer, so a surprising header can only end the walk, never read out of bounds.

use std::mem::{offset_of, size_of};

use yagura_core::{LinkType, Timestamp};

use super::sys::{BLOCK_FIRST_PKT, BLOCK_HDR_LEN, BLOCK_NUM_PKTS};
use crate::RecordMeta;

type Hdr = libc::tpacket3_hdr;
const NEXT: usize = offset_of!(Hdr, tp_next_offset);
const SEC: usize = offset_of!(Hdr, tp_sec);
const NSEC: usize = offset_of!(Hdr, tp_nsec);
const SNAPLEN: usize = offset_of!(Hdr, tp_snaplen);
const LEN: usize = offset_of!(Hdr, tp_len);
const STATUS: usize = offset_of!(Hdr, tp_status);
const MAC: usize = offset_of!(Hdr, tp_mac);
const VLAN_TCI: usize = offset_of!(Hdr, hv1) + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci);
const VLAN_TPID: usize =
    offset_of!(Hdr, hv1) + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tpid);
/// The `sockaddr_ll` follows the packet header, aligned to TPACKET_ALIGNMENT.
const SLL: usize = size_of::<Hdr>().next_multiple_of(libc::TPACKET_ALIGNMENT);
const PKTTYPE: usize = SLL + offset_of!(libc::sockaddr_ll, sll_pkttype);
/// Header plus `sockaddr_ll`: the frame (at `tp_mac`) starts at or after this.
const HDR_AND_SLL: usize = SLL + size_of::<libc::sockaddr_ll>();

/// Length of an 802.1Q tag.
const VLAN_TAG_LEN: usize = 4;
/// Destination and source MAC addresses: the tag goes right after them.
const MACS_LEN: usize = 12;
const ETHERTYPE_VLAN: u16 = 0x8100;

/// What one block held.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct BlockSummary {
    /// Records appended.
    pub records: usize,
    /// Packets the host itself sent, skipped (see `PACKET_IGNORE_OUTGOING` in `live.rs`).
    pub outgoing: usize,
    /// Set when a header pointed outside the block; the rest of the block was skipped.
    pub malformed: bool,
}

fn rd_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn rd_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Appends a record for every packet of the block in `buf` to `out` (with `backing` 0),
/// putting back VLAN tags the kernel stripped (`buf` may be edited or grow for that).
pub(super) fn parse_block(
    buf: &mut Vec<u8>,
    link: LinkType,
    out: &mut Vec<RecordMeta>,
) -> BlockSummary {
    let mut sum = BlockSummary::default();
    let (Some(num), Some(first)) = (rd_u32(buf, BLOCK_NUM_PKTS), rd_u32(buf, BLOCK_FIRST_PKT))
    else {
        sum.malformed = true;
        return sum;
    };
    // The walk stays inside the bytes the kernel filled; VLAN repairs may append after them.
    let end = buf.len();
    let mut off = first as usize;
    for i in 0..num {
        if off < BLOCK_HDR_LEN || off + HDR_AND_SLL > end {
            sum.malformed = true;
            break;
        }
        let field = |at| rd_u32(buf, off + at).unwrap_or_default();
        let (next, sec, nsec) = (field(NEXT) as usize, field(SEC), field(NSEC));
        let (snaplen, len, status) = (field(SNAPLEN) as usize, field(LEN), field(STATUS));
        let mac = rd_u16(buf, off + MAC).unwrap_or_default() as usize;
        let start = off + mac;
        if mac < HDR_AND_SLL || start + snaplen > end {
            sum.malformed = true;
            break;
        }

        if buf[off + PKTTYPE] == libc::PACKET_OUTGOING {
            sum.outgoing += 1;
        } else {
            let mut rec = RecordMeta {
                ts: Timestamp::from_secs_nanos(u64::from(sec), nsec),
                offset: start,
                caplen: snaplen as u32,
                orig_len: len,
                link,
                backing: 0,
                route: 0,
            };
            let tagged = status & libc::TP_STATUS_VLAN_VALID != 0;
            if tagged && link == LinkType::ETHERNET && snaplen >= MACS_LEN {
                let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                    rd_u16(buf, off + VLAN_TPID).unwrap_or(ETHERTYPE_VLAN)
                } else {
                    ETHERTYPE_VLAN
                };
                let tci = rd_u32(buf, off + VLAN_TCI).unwrap_or_default() as u16;
                let mut tag = [0u8; VLAN_TAG_LEN];
                tag[..2].copy_from_slice(&tpid.to_be_bytes());
                tag[2..].copy_from_slice(&tci.to_be_bytes());
                rec.offset = reinsert_vlan(buf, off, start, snaplen, tag);
                rec.caplen += VLAN_TAG_LEN as u32;
                rec.orig_len = rec.orig_len.saturating_add(VLAN_TAG_LEN as u32);
            }
            out.push(rec);
            sum.records += 1;
        }

        if i + 1 < num {
            if next == 0 {
                sum.malformed = true;
                break;
            }
            off += next;
        }
    }
    sum
}

/// Puts a stripped 802.1Q tag back after the MAC addresses of the frame at `start`; returns
/// the frame's new offset. The kernel leaves a gap between the `sockaddr_ll` and the frame,
/// so normally the MACs just move 4 bytes down; otherwise the frame is rebuilt at the end.
fn reinsert_vlan(
    buf: &mut Vec<u8>,
    hdr: usize,
    start: usize,
    snaplen: usize,
    tag: [u8; 4],
) -> usize {
    if start - hdr >= HDR_AND_SLL + VLAN_TAG_LEN {
        let new = start - VLAN_TAG_LEN;
        buf.copy_within(start..start + MACS_LEN, new);
        buf[new + MACS_LEN..start + MACS_LEN].copy_from_slice(&tag);
        new
    } else {
        let new = buf.len();
        buf.extend_from_within(start..start + MACS_LEN);
        buf.extend_from_slice(&tag);
        buf.extend_from_within(start + MACS_LEN..start + snaplen);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One fake packet for `fake_block`.
    struct Fake<'a> {
        frame: &'a [u8],
        mac: u16,
        pkttype: u8,
        vlan: Option<(u16, u16)>,
    }

    fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn put_u16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    }

    /// A block laid out the way the kernel does it.
    fn fake_block(pkts: &[Fake]) -> Vec<u8> {
        let mut b = vec![0u8; 8192];
        put_u32(&mut b, BLOCK_NUM_PKTS, pkts.len() as u32);
        put_u32(&mut b, BLOCK_FIRST_PKT, BLOCK_HDR_LEN as u32);
        let mut off = BLOCK_HDR_LEN;
        for (i, p) in pkts.iter().enumerate() {
            let total = (p.mac as usize + p.frame.len()).next_multiple_of(16);
            let next = if i + 1 == pkts.len() { 0 } else { total as u32 };
            put_u32(&mut b, off + NEXT, next);
            put_u32(&mut b, off + SEC, 1_700_000_000 + i as u32);
            put_u32(&mut b, off + NSEC, 123);
            put_u32(&mut b, off + SNAPLEN, p.frame.len() as u32);
            put_u32(&mut b, off + LEN, p.frame.len() as u32 + 100);
            let mut status = libc::TP_STATUS_USER;
            if let Some((tpid, tci)) = p.vlan {
                status |= libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
                put_u32(&mut b, off + VLAN_TCI, u32::from(tci));
                put_u16(&mut b, off + VLAN_TPID, tpid);
            }
            put_u32(&mut b, off + STATUS, status);
            put_u16(&mut b, off + MAC, p.mac);
            b[off + PKTTYPE] = p.pkttype;
            let start = off + p.mac as usize;
            b[start..start + p.frame.len()].copy_from_slice(p.frame);
            off += total;
        }
        b.truncate(off);
        b
    }

    fn frame(tag: u8) -> Vec<u8> {
        let mut f = vec![tag; 6];
        f.extend_from_slice(&[0xbb; 6]);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[tag; 46]);
        f
    }

    fn data<'a>(buf: &'a [u8], r: &RecordMeta) -> &'a [u8] {
        &buf[r.offset..r.offset + r.caplen as usize]
    }

    #[test]
    fn parses_plain_packets() {
        let (a, b) = (frame(1), frame(2));
        let mut buf = fake_block(&[
            Fake {
                frame: &a,
                mac: 82,
                pkttype: libc::PACKET_HOST,
                vlan: None,
            },
            Fake {
                frame: &b,
                mac: 82,
                pkttype: libc::PACKET_OTHERHOST,
                vlan: None,
            },
        ]);
        let mut out = Vec::new();
        let sum = parse_block(&mut buf, LinkType::ETHERNET, &mut out);
        assert_eq!(
            sum,
            BlockSummary {
                records: 2,
                outgoing: 0,
                malformed: false
            }
        );
        assert_eq!(data(&buf, &out[0]), &a[..]);
        assert_eq!(data(&buf, &out[1]), &b[..]);
        assert_eq!(out[1].orig_len, b.len() as u32 + 100);
        assert_eq!(out[1].ts, Timestamp::from_secs_nanos(1_700_000_001, 123));
    }

    #[test]
    fn skips_outgoing_packets() {
        let (a, b) = (frame(1), frame(2));
        let mut buf = fake_block(&[
            Fake {
                frame: &a,
                mac: 82,
                pkttype: libc::PACKET_OUTGOING,
                vlan: None,
            },
            Fake {
                frame: &b,
                mac: 82,
                pkttype: libc::PACKET_HOST,
                vlan: None,
            },
        ]);
        let mut out = Vec::new();
        let sum = parse_block(&mut buf, LinkType::ETHERNET, &mut out);
        assert_eq!(
            sum,
            BlockSummary {
                records: 1,
                outgoing: 1,
                malformed: false
            }
        );
        assert_eq!(data(&buf, &out[0]), &b[..]);
    }

    #[test]
    fn reinserts_stripped_vlan_tags() {
        let (a, b) = (frame(1), frame(2));
        // The usual gap before the frame (moved in place), and none at all (rebuilt at the end).
        let mut buf = fake_block(&[
            Fake {
                frame: &a,
                mac: 82,
                pkttype: libc::PACKET_HOST,
                vlan: Some((0x8100, 0x2064)),
            },
            Fake {
                frame: &b,
                mac: HDR_AND_SLL as u16,
                pkttype: libc::PACKET_HOST,
                vlan: Some((0x88a8, 7)),
            },
        ]);
        let mut out = Vec::new();
        let sum = parse_block(&mut buf, LinkType::ETHERNET, &mut out);
        assert_eq!(sum.records, 2);
        for (r, f, tag) in [
            (&out[0], &a, [0x81, 0x00, 0x20, 0x64]),
            (&out[1], &b, [0x88, 0xa8, 0, 7]),
        ] {
            let mut want = f[..12].to_vec();
            want.extend_from_slice(&tag);
            want.extend_from_slice(&f[12..]);
            assert_eq!(data(&buf, r), &want[..]);
            assert_eq!(r.orig_len, f.len() as u32 + 104);
        }
    }

    #[test]
    fn survives_headers_pointing_outside_the_block() {
        let a = frame(1);
        let mut buf = fake_block(&[
            Fake {
                frame: &a,
                mac: 82,
                pkttype: libc::PACKET_HOST,
                vlan: None,
            },
            Fake {
                frame: &a,
                mac: 82,
                pkttype: libc::PACKET_HOST,
                vlan: None,
            },
        ]);
        let second = BLOCK_HDR_LEN + (82 + a.len()).next_multiple_of(16);
        put_u32(&mut buf, second + SNAPLEN, 1 << 20);
        let mut out = Vec::new();
        let sum = parse_block(&mut buf, LinkType::ETHERNET, &mut out);
        assert_eq!(
            sum,
            BlockSummary {
                records: 1,
                outgoing: 0,
                malformed: true
            }
        );

        put_u32(&mut buf, BLOCK_NUM_PKTS, 5);
        put_u32(&mut buf, second + SNAPLEN, a.len() as u32);
        out.clear();
        assert!(parse_block(&mut buf, LinkType::ETHERNET, &mut out).malformed);
        assert_eq!(out.len(), 2);

        let mut tiny = vec![0u8; 4];
        assert!(parse_block(&mut tiny, LinkType::ETHERNET, &mut out).malformed);
    }
}
