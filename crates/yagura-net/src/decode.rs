//! L2–L4 decoding: zero-copy views over one captured frame.
//!
//! One pass, no allocation: the frame is walked from the link header down to the transport
//! payload, and every field leaves as a plain value or a borrowed slice. A frame that cannot
//! be decoded yields a [`DecodeError`] naming the reason (counted, never fatal); a frame cut
//! short by the capture's snap length is *not* an error — its payload is what was captured and
//! [`IpInfo::truncated`] says bytes are missing.
//!
//! Hand-written rather than etherparse: we need per-reason counters, 802.3 LLC/SNAP, QinQ
//! and lax handling of capture truncation in one pass within a budget of a few nanoseconds.

use yagura_core::{LinkType, MacAddr, v4_mapped};

/// Why a frame could not be decoded. `name()` is the stable key counted in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecodeError {
    /// The link type is not one Yagura decodes (counted under the link type's name).
    UnsupportedLinkType(LinkType),
    EthernetTruncated,
    VlanTruncated,
    /// More stacked VLAN tags than [`MAX_VLAN_TAGS`].
    VlanTooDeep,
    LlcTruncated,
    SllTruncated,
    NullTruncated,
    /// BSD null/loopback family that is neither IPv4 nor IPv6.
    NullUnknownFamily,
    /// Raw-IP link type whose first nibble is neither 4 nor 6.
    RawBadVersion,
    ArpTruncated,
    Ipv4Truncated,
    Ipv4BadVersion,
    Ipv4BadHeaderLength,
    Ipv4BadTotalLength,
    Ipv6Truncated,
    Ipv6BadVersion,
    Ipv6ExtTruncated,
    /// More IPv6 extension headers than [`MAX_IPV6_EXT`].
    Ipv6ExtTooMany,
    TcpTruncated,
    TcpBadDataOffset,
    UdpTruncated,
    UdpBadLength,
    IcmpTruncated,
}

impl DecodeError {
    /// Stable snake_case reason (`ipv4_truncated`; an unsupported link type gives its name).
    pub fn name(&self) -> std::borrow::Cow<'static, str> {
        use DecodeError::*;
        std::borrow::Cow::Borrowed(match self {
            UnsupportedLinkType(l) => return l.name(),
            EthernetTruncated => "ethernet_truncated",
            VlanTruncated => "vlan_truncated",
            VlanTooDeep => "vlan_too_deep",
            LlcTruncated => "llc_truncated",
            SllTruncated => "sll_truncated",
            NullTruncated => "null_truncated",
            NullUnknownFamily => "null_unknown_family",
            RawBadVersion => "raw_bad_ip_version",
            ArpTruncated => "arp_truncated",
            Ipv4Truncated => "ipv4_truncated",
            Ipv4BadVersion => "ipv4_bad_version",
            Ipv4BadHeaderLength => "ipv4_bad_header_length",
            Ipv4BadTotalLength => "ipv4_bad_total_length",
            Ipv6Truncated => "ipv6_truncated",
            Ipv6BadVersion => "ipv6_bad_version",
            Ipv6ExtTruncated => "ipv6_ext_header_truncated",
            Ipv6ExtTooMany => "ipv6_ext_header_too_many",
            TcpTruncated => "tcp_truncated",
            TcpBadDataOffset => "tcp_bad_data_offset",
            UdpTruncated => "udp_truncated",
            UdpBadLength => "udp_bad_length",
            IcmpTruncated => "icmp_truncated",
        })
    }
}

/// Stacked 802.1Q/802.1ad tags accepted before a frame is called malformed.
pub const MAX_VLAN_TAGS: usize = 4;
/// IPv6 extension headers walked before a packet is called malformed.
pub const MAX_IPV6_EXT: usize = 8;

pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const QINQ_OLD: u16 = 0x9100;
    pub const IPV6: u16 = 0x86dd;
    pub const PROFINET: u16 = 0x8892;
    pub const LLDP: u16 = 0x88cc;
    pub const GOOSE: u16 = 0x88b8;
    pub const SV: u16 = 0x88ba;
    /// Pseudo-ethertype for an IEEE 802.3 frame carrying LLC (no SNAP ethertype).
    pub const LLC: u16 = 0x0000;
}

/// An IEEE 802.2 LLC header (802.3 length frames), with SNAP when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Llc {
    pub dsap: u8,
    pub ssap: u8,
    pub control: u8,
    /// SNAP organisation code and protocol id (`dsap == ssap == 0xAA`).
    pub snap: Option<([u8; 3], u16)>,
}

/// An IPv4-over-Ethernet ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: MacAddr,
    pub sender_ip: [u8; 4],
    pub target_mac: MacAddr,
    pub target_ip: [u8; 4],
}

/// Fragment fields of an IP packet that is a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frag {
    /// Identification (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// Offset of this fragment's data in bytes.
    pub offset: u32,
    pub more: bool,
}

/// The TCP header fields the flow table and reassembly need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The transport layer of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    Tcp(Tcp),
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    Icmp {
        kind: u8,
        code: u8,
    },
    Icmpv6 {
        kind: u8,
        code: u8,
    },
    /// A non-first fragment or a protocol without a header we decode.
    None,
}

/// The IP layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo<'a> {
    /// Addresses in 16-byte form (IPv4 mapped).
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub v6: bool,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub proto: u8,
    pub ttl: u8,
    /// Set when this packet is a fragment: then `payload` is the fragment's data and `l4` is
    /// `None` (the transport is decoded once the datagram is reassembled).
    pub frag: Option<Frag>,
    pub l4: L4,
    /// The transport payload (or, for fragments, the fragment data), trimmed of Ethernet padding.
    pub payload: &'a [u8],
    /// Bytes the IP header says exist beyond what was captured (snap length), 0 normally.
    pub truncated: u32,
}

impl IpInfo<'_> {
    /// A placeholder to decode into.
    pub const EMPTY: IpInfo<'static> = IpInfo {
        src: [0; 16],
        dst: [0; 16],
        v6: false,
        proto: 0,
        ttl: 0,
        frag: None,
        l4: L4::None,
        payload: &[],
        truncated: 0,
    };
}

/// The layer 3 content of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3<'a> {
    Ip(IpInfo<'a>),
    Arp(Arp),
    /// Any other ethertype (LLDP, Profinet, GOOSE, STP over LLC…): the bytes after the L2 header.
    Other(&'a [u8]),
}

/// A decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Source and destination MAC (zero when the link type has none, e.g. raw IP).
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// Outer VLAN id (0 when untagged) and number of tags.
    pub vlan: u16,
    pub vlan_tags: u8,
    /// The ethertype of the payload (after VLAN tags and SNAP); [`ethertype::LLC`] for
    /// plain 802.2 LLC.
    pub ethertype: u16,
    pub llc: Option<Llc>,
    pub l3: L3<'a>,
}

impl Decoded<'_> {
    /// A placeholder to decode into ([`decode_into`]).
    pub const EMPTY: Decoded<'static> = Decoded {
        src_mac: MacAddr([0; 6]),
        dst_mac: MacAddr([0; 6]),
        vlan: 0,
        vlan_tags: 0,
        ethertype: 0,
        llc: None,
        l3: L3::Other(&[]),
    };
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn mac(b: &[u8], at: usize) -> MacAddr {
    MacAddr([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]])
}

/// [`decode`] into `d`, writing each field in place: the common frame (Ethernet, at most one
/// VLAN tag, IPv4) is never built elsewhere and moved whole, which made the CPU stall on
/// store forwarding (narrow stores read back by the wide loads of the move). Other frames
/// go through [`decode`]. `d` holds the frame when `Ok`; its content is unspecified after
/// an error.
#[inline(always)]
pub fn decode_into<'a>(
    link: LinkType,
    data: &'a [u8],
    d: &mut Decoded<'a>,
) -> Result<(), DecodeError> {
    if link == LinkType::ETHERNET
        && let Some(h) = data.first_chunk::<18>()
    {
        let mut et = be16(h, 12);
        let mut off = 14;
        d.vlan = 0;
        d.vlan_tags = 0;
        if et == ethertype::VLAN {
            d.vlan = be16(h, 14) & 0x0fff;
            d.vlan_tags = 1;
            et = be16(h, 16);
            off = 18;
        }
        if et == ethertype::IPV4 {
            d.dst_mac = mac(h, 0);
            d.src_mac = mac(h, 6);
            d.ethertype = et;
            d.llc = None;
            d.l3 = L3::Ip(IpInfo::EMPTY);
            let L3::Ip(ip) = &mut d.l3 else {
                unreachable!("just set")
            };
            return decode_ipv4_into(&data[off..], ip);
        }
    }
    *d = decode(link, data)?;
    Ok(())
}

/// Decode one captured frame of link type `link`.
#[inline(always)]
pub fn decode(link: LinkType, data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    match link {
        LinkType::ETHERNET => decode_ethernet(data),
        LinkType::LINUX_SLL => decode_sll(data),
        LinkType::LINUX_SLL2 => decode_sll2(data),
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => decode_raw(data),
        LinkType::IPV4 => no_l2(ethertype::IPV4, data),
        LinkType::IPV6 => no_l2(ethertype::IPV6, data),
        LinkType::NULL | LinkType::LOOP => decode_null(data),
        other => Err(DecodeError::UnsupportedLinkType(other)),
    }
}

fn no_l2(et: u16, payload: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    Ok(Decoded {
        src_mac: MacAddr::default(),
        dst_mac: MacAddr::default(),
        vlan: 0,
        vlan_tags: 0,
        ethertype: et,
        llc: None,
        l3: decode_l3(et, payload)?,
    })
}

fn decode_raw(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    match data.first().map(|b| b >> 4) {
        Some(4) => no_l2(ethertype::IPV4, data),
        Some(6) => no_l2(ethertype::IPV6, data),
        _ => Err(DecodeError::RawBadVersion),
    }
}

/// BSD null/loopback: a 4-byte address family, in the writer's byte order for `NULL` and in
/// network order for `LOOP`. Families: 2 = IPv4; 24, 28, 30 = IPv6 on the various BSDs,
/// 10 on Linux.
fn decode_null(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let h = data.get(..4).ok_or(DecodeError::NullTruncated)?;
    let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let family = if le > 0xffff { le.swap_bytes() } else { le };
    let et = match family {
        2 => ethertype::IPV4,
        10 | 24 | 28 | 30 => ethertype::IPV6,
        _ => return Err(DecodeError::NullUnknownFamily),
    };
    no_l2(et, &data[4..])
}

/// Linux cooked capture v1: 16-byte header, protocol at 14.
fn decode_sll(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if data.len() < 16 {
        return Err(DecodeError::SllTruncated);
    }
    let hatype = be16(data, 2);
    let halen = be16(data, 4);
    let src_mac = if hatype == 1 && halen == 6 {
        mac(data, 6)
    } else {
        MacAddr::default()
    };
    sll_common(src_mac, be16(data, 14), &data[16..])
}

/// Linux cooked capture v2: 20-byte header, protocol first.
fn decode_sll2(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if data.len() < 20 {
        return Err(DecodeError::SllTruncated);
    }
    let hatype = be16(data, 8);
    let halen = data[11];
    let src_mac = if hatype == 1 && halen == 6 {
        mac(data, 12)
    } else {
        MacAddr::default()
    };
    sll_common(src_mac, be16(data, 0), &data[20..])
}

fn sll_common(src_mac: MacAddr, proto: u16, payload: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let mut d = Decoded {
        src_mac,
        dst_mac: MacAddr::default(),
        vlan: 0,
        vlan_tags: 0,
        ethertype: proto,
        llc: None,
        l3: L3::Other(payload),
    };
    match proto {
        // 0x0004: the payload is 802.2 LLC; 0x0001: Novell 802.3 (no LLC).
        0x0004 => {
            let (llc, et, rest) = decode_llc(payload)?;
            d.llc = Some(llc);
            d.ethertype = et;
            d.l3 = decode_l3(et, rest)?;
        }
        p if p > 0x05ff => d.l3 = decode_l3(p, payload)?,
        _ => {}
    }
    Ok(d)
}

/// Ethernet II or IEEE 802.3, with any number (up to [`MAX_VLAN_TAGS`]) of 802.1Q/ad tags.
#[inline(always)]
fn decode_ethernet(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if data.len() < 14 {
        return Err(DecodeError::EthernetTruncated);
    }
    let dst_mac = mac(data, 0);
    let src_mac = mac(data, 6);
    let mut et = be16(data, 12);
    let mut off = 14;
    let mut vlan = 0u16;
    let mut tags = 0u8;
    while matches!(et, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD) {
        if tags as usize == MAX_VLAN_TAGS {
            return Err(DecodeError::VlanTooDeep);
        }
        let tag = data.get(off..off + 4).ok_or(DecodeError::VlanTruncated)?;
        if tags == 0 {
            vlan = u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff;
        }
        et = u16::from_be_bytes([tag[2], tag[3]]);
        tags += 1;
        off += 4;
    }
    let mut payload = &data[off..];
    let mut llc = None;
    if et <= 1500 {
        // IEEE 802.3: `et` is the payload length; trim trailing padding/FCS to it.
        payload = &payload[..payload.len().min(et as usize)];
        let (l, inner, rest) = decode_llc(payload)?;
        llc = Some(l);
        et = inner;
        payload = rest;
    }
    Ok(Decoded {
        src_mac,
        dst_mac,
        vlan,
        vlan_tags: tags,
        ethertype: et,
        llc,
        l3: decode_l3(et, payload)?,
    })
}

/// 802.2 LLC, and SNAP when DSAP = SSAP = 0xAA. Returns the header, the ethertype of what
/// follows (the SNAP protocol id when the OUI is 0 — RFC 1042 encapsulation — else
/// [`ethertype::LLC`]) and the rest.
fn decode_llc(p: &[u8]) -> Result<(Llc, u16, &[u8]), DecodeError> {
    let h = p.get(..3).ok_or(DecodeError::LlcTruncated)?;
    let (dsap, ssap, control) = (h[0], h[1], h[2]);
    // U-format control fields are one byte; I/S formats two.
    let ctl_len = if control & 0x03 == 0x03 { 1 } else { 2 };
    let hdr = 2 + ctl_len;
    if p.len() < hdr {
        return Err(DecodeError::LlcTruncated);
    }
    if dsap == 0xaa && ssap == 0xaa {
        let s = p.get(hdr..hdr + 5).ok_or(DecodeError::LlcTruncated)?;
        let oui = [s[0], s[1], s[2]];
        let pid = u16::from_be_bytes([s[3], s[4]]);
        let et = if oui == [0, 0, 0] {
            pid
        } else {
            ethertype::LLC
        };
        let llc = Llc {
            dsap,
            ssap,
            control,
            snap: Some((oui, pid)),
        };
        return Ok((llc, et, &p[hdr + 5..]));
    }
    let llc = Llc {
        dsap,
        ssap,
        control,
        snap: None,
    };
    Ok((llc, ethertype::LLC, &p[hdr..]))
}

#[inline(always)]
fn decode_l3(et: u16, p: &[u8]) -> Result<L3<'_>, DecodeError> {
    match et {
        ethertype::IPV4 => decode_ipv4(p).map(L3::Ip),
        ethertype::IPV6 => decode_ipv6(p).map(L3::Ip),
        ethertype::ARP => decode_arp(p),
        _ => Ok(L3::Other(p)),
    }
}

fn decode_arp(p: &[u8]) -> Result<L3<'_>, DecodeError> {
    if p.len() < 8 {
        return Err(DecodeError::ArpTruncated);
    }
    let (htype, ptype, hlen, plen) = (be16(p, 0), be16(p, 2), p[4], p[5]);
    if htype != 1 || ptype != ethertype::IPV4 || hlen != 6 || plen != 4 {
        // ARP for other hardware/protocols: keep it as an opaque L2 payload.
        return Ok(L3::Other(p));
    }
    if p.len() < 28 {
        return Err(DecodeError::ArpTruncated);
    }
    Ok(L3::Arp(Arp {
        op: be16(p, 6),
        sender_mac: mac(p, 8),
        sender_ip: [p[14], p[15], p[16], p[17]],
        target_mac: mac(p, 18),
        target_ip: [p[24], p[25], p[26], p[27]],
    }))
}

/// Decode an IPv4 header and its transport into `ip`, field by field (see [`decode_into`]).
#[inline(always)]
fn decode_ipv4_into<'a>(p: &'a [u8], ip: &mut IpInfo<'a>) -> Result<(), DecodeError> {
    if p.len() < 20 {
        return Err(DecodeError::Ipv4Truncated);
    }
    if p[0] >> 4 != 4 {
        return Err(DecodeError::Ipv4BadVersion);
    }
    let ihl = ((p[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        return Err(DecodeError::Ipv4BadHeaderLength);
    }
    if p.len() < ihl {
        return Err(DecodeError::Ipv4Truncated);
    }
    let total = be16(p, 2) as usize;
    // A total length of 0 is what TCP segmentation offload leaves in locally captured
    // packets: trust the captured length then.
    let total = if total == 0 { p.len() } else { total };
    if total < ihl {
        return Err(DecodeError::Ipv4BadTotalLength);
    }
    // Ethernet padding: captured bytes beyond `total` are not part of the packet. Bytes
    // missing below `total` were cut by the capture's snap length.
    let end = total.min(p.len());
    let frag_field = be16(p, 6);
    let offset = u32::from(frag_field & 0x1fff) * 8;
    let more = frag_field & 0x2000 != 0;
    ip.src = v4_mapped([p[12], p[13], p[14], p[15]]);
    ip.dst = v4_mapped([p[16], p[17], p[18], p[19]]);
    ip.v6 = false;
    ip.proto = p[9];
    ip.ttl = p[8];
    ip.truncated = (total - end) as u32;
    ip.payload = &p[ihl..end];
    ip.l4 = L4::None;
    // A fragment's transport header is decoded after reassembly, from the whole datagram.
    if offset != 0 || more {
        ip.frag = Some(Frag {
            id: u32::from(be16(p, 4)),
            offset,
            more,
        });
        return Ok(());
    }
    ip.frag = None;
    decode_l4(ip)
}

#[inline(always)]
fn decode_ipv4(p: &[u8]) -> Result<IpInfo<'_>, DecodeError> {
    let mut ip = IpInfo::EMPTY;
    decode_ipv4_into(p, &mut ip)?;
    Ok(ip)
}

fn decode_ipv6(p: &[u8]) -> Result<IpInfo<'_>, DecodeError> {
    if p.len() < 40 {
        return Err(DecodeError::Ipv6Truncated);
    }
    if p[0] >> 4 != 6 {
        return Err(DecodeError::Ipv6BadVersion);
    }
    let plen = be16(p, 4) as usize;
    // Payload length 0 with a hop-by-hop header means a jumbogram; treat as "what we have".
    let total = if plen == 0 { p.len() } else { 40 + plen };
    let end = total.min(p.len());
    let truncated = (total - end) as u32;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&p[8..24]);
    dst.copy_from_slice(&p[24..40]);
    let mut next = p[6];
    let mut off = 40;
    let mut frag = None;
    let mut n = 0;
    loop {
        match next {
            // hop-by-hop, routing, destination options, mobility, HIP, shim6
            0 | 43 | 60 | 135 | 139 | 140 => {
                let h = p.get(off..off + 2).filter(|_| off + 2 <= end);
                let h = h.ok_or(DecodeError::Ipv6ExtTruncated)?;
                next = h[0];
                off += (h[1] as usize + 1) * 8;
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                let h = p.get(off..off + 2).filter(|_| off + 2 <= end);
                let h = h.ok_or(DecodeError::Ipv6ExtTruncated)?;
                next = h[0];
                off += (h[1] as usize + 2) * 4;
            }
            44 => {
                let h = p.get(off..off + 8).filter(|_| off + 8 <= end);
                let h = h.ok_or(DecodeError::Ipv6ExtTruncated)?;
                next = h[0];
                let fo = u16::from_be_bytes([h[2], h[3]]);
                let f = Frag {
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    offset: u32::from(fo >> 3) * 8,
                    more: fo & 1 != 0,
                };
                frag = Some(f);
                off += 8;
                if f.offset != 0 {
                    // A non-first fragment: what follows is data, not headers.
                    break;
                }
            }
            _ => break,
        }
        n += 1;
        if n > MAX_IPV6_EXT {
            return Err(DecodeError::Ipv6ExtTooMany);
        }
        if off > end {
            return Err(DecodeError::Ipv6ExtTruncated);
        }
    }
    if off > end {
        return Err(DecodeError::Ipv6ExtTruncated);
    }
    // An atomic fragment (offset 0, no more fragments) is not really fragmented (RFC 6946).
    if let Some(f) = frag
        && f.offset == 0
        && !f.more
    {
        frag = None;
    }
    let mut ip = IpInfo {
        src,
        dst,
        v6: true,
        proto: next,
        ttl: p[7],
        frag,
        l4: L4::None,
        payload: &p[off..end],
        truncated,
    };
    if frag.is_none() {
        decode_l4(&mut ip)?;
    }
    Ok(ip)
}

/// Decode the transport header at the front of `ip.payload` and move `payload` past it
/// (for a reassembled datagram, the engine calls it on the whole payload).
#[inline(always)]
pub fn decode_l4(ip: &mut IpInfo<'_>) -> Result<(), DecodeError> {
    let p = ip.payload;
    match ip.proto {
        6 => {
            if p.len() < 20 {
                return Err(DecodeError::TcpTruncated);
            }
            let doff = ((p[12] >> 4) as usize) * 4;
            if doff < 20 {
                return Err(DecodeError::TcpBadDataOffset);
            }
            if p.len() < doff {
                return Err(DecodeError::TcpTruncated);
            }
            ip.l4 = L4::Tcp(Tcp {
                src_port: be16(p, 0),
                dst_port: be16(p, 2),
                seq: be32(p, 4),
                ack: be32(p, 8),
                flags: p[13],
                window: be16(p, 14),
            });
            ip.payload = &p[doff..];
        }
        17 => {
            if p.len() < 8 {
                return Err(DecodeError::UdpTruncated);
            }
            let ulen = be16(p, 4) as usize;
            let avail = p.len() + ip.truncated as usize;
            // Length 0 is legal only for IPv6 jumbograms; otherwise it must cover the header
            // and fit in the IP payload.
            let end = if ulen == 0 && ip.v6 {
                p.len()
            } else if ulen < 8 || ulen > avail {
                return Err(DecodeError::UdpBadLength);
            } else {
                ulen.min(p.len())
            };
            ip.l4 = L4::Udp {
                src_port: be16(p, 0),
                dst_port: be16(p, 2),
            };
            ip.payload = &p[8..end];
        }
        1 | 58 => {
            if p.len() < 4 {
                return Err(DecodeError::IcmpTruncated);
            }
            ip.l4 = if ip.proto == 1 {
                L4::Icmp {
                    kind: p[0],
                    code: p[1],
                }
            } else {
                L4::Icmpv6 {
                    kind: p[0],
                    code: p[1],
                }
            };
            ip.payload = &p[4..];
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes hex (whitespace ignored) into bytes.
    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// zeek/zeek Traces/modbus/modbusSmall.pcap, frame 4: Modbus read coils request over
    /// Ethernet/IPv4/TCP with timestamps options.
    const MODBUS: &str = "0000000000000000000000000800450000426daa400040061e8976bd608476bd6084d8b801f6acefa5f4ad4a34c380180156fe3600000101080a0156c85b0156c85b000100000008010f000000030100";

    fn ip<'a>(d: &Decoded<'a>) -> IpInfo<'a> {
        match d.l3 {
            L3::Ip(ip) => ip,
            other => panic!("not IP: {other:?}"),
        }
    }

    #[test]
    fn parses_ethernet_ipv4_tcp() {
        let f = hex(MODBUS);
        let d = decode(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(d.ethertype, ethertype::IPV4);
        assert_eq!(d.vlan_tags, 0);
        let ip = ip(&d);
        assert_eq!(yagura_core::to_ip(&ip.src).to_string(), "118.189.96.132");
        assert_eq!(ip.proto, 6);
        let L4::Tcp(t) = ip.l4 else { panic!("not TCP") };
        assert_eq!((t.src_port, t.dst_port), (55480, 502));
        assert_eq!(t.flags, tcp_flags::ACK | tcp_flags::PSH);
        // MBAP (7 bytes) + function 1 + address + quantity = 14 bytes of payload.
        assert_eq!(ip.payload, &hex("000100000008010f000000030100")[..]);
        assert_eq!(ip.truncated, 0);
    }

    #[test]
    fn trims_ethernet_padding_and_reports_snaplen_cut() {
        let mut f = hex(MODBUS);
        f.extend_from_slice(&[0; 10]); // padding/FCS after the IP packet
        let d = decode(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(ip(&d).payload.len(), 14);
        // Cut the last 4 payload bytes off, as a snap length would.
        let f = hex(MODBUS);
        let d = decode(LinkType::ETHERNET, &f[..f.len() - 4]).unwrap();
        assert_eq!(ip(&d).payload.len(), 10);
        assert_eq!(ip(&d).truncated, 4);
    }

    /// cisagov/icsnpp-enip set_attribute_single_service_cip.pcapng: 802.1Q VLAN 90.
    #[test]
    fn parses_vlan_and_qinq() {
        let f = hex(
            "cc5a53ace903005056ba1bfe8100005a08004500005c08bc400040069ada0a645a330a64280b93d4af12565085d479d5ff985018fa22645d000070001c00f4ffcab4000000005f7079636f6d6d5f00000000000000000a000200a1000400ba629adab10008000d00100220012400",
        );
        let d = decode(LinkType::ETHERNET, &f).unwrap();
        assert_eq!((d.vlan, d.vlan_tags), (90, 1));
        assert!(matches!(
            ip(&d).l4,
            L4::Tcp(Tcp {
                dst_port: 44818,
                ..
            })
        ));
        // The same frame with an 802.1ad outer tag (VLAN 7) in front: QinQ.
        let mut q = f[..12].to_vec();
        q.extend_from_slice(&[0x88, 0xa8, 0x00, 0x07]);
        q.extend_from_slice(&f[12..]);
        let d = decode(LinkType::ETHERNET, &q).unwrap();
        assert_eq!((d.vlan, d.vlan_tags), (7, 2));
        assert_eq!(ip(&d).payload.len(), 0x5c - 40);
        // Too many tags is malformed, not a loop.
        let mut deep = f[..12].to_vec();
        for _ in 0..5 {
            deep.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
        }
        deep.extend_from_slice(&f[16..]);
        assert_eq!(
            decode(LinkType::ETHERNET, &deep),
            Err(DecodeError::VlanTooDeep)
        );
    }

    /// zeek/zeek Traces/cdp-v1.pcap: IEEE 802.3 + LLC/SNAP (Cisco OUI, PID 0x2000).
    #[test]
    fn parses_llc_snap() {
        let f = hex(
            "01000ccccccc00e01ed5d515011eaaaa0300000c200001b4dff000010006523100020011000000010101cc0004c0a80a010003000d45746865726e657430",
        );
        let d = decode(LinkType::ETHERNET, &f).unwrap();
        let llc = d.llc.unwrap();
        assert_eq!((llc.dsap, llc.ssap, llc.control), (0xaa, 0xaa, 0x03));
        assert_eq!(llc.snap, Some(([0x00, 0x00, 0x0c], 0x2000)));
        assert_eq!(d.ethertype, ethertype::LLC);
        let L3::Other(p) = d.l3 else { panic!() };
        assert_eq!(p[0], 0x01); // CDP version 1
    }

    /// zeek/zeek Traces/arp-who-has.pcap.
    #[test]
    fn parses_arp() {
        let f = hex(
            "ffffffffffff7831c1c63fc2080600010800060400017831c1c63fc20a0000020000000000000a000001",
        );
        let d = decode(LinkType::ETHERNET, &f).unwrap();
        let L3::Arp(a) = d.l3 else { panic!() };
        assert_eq!(a.op, 1);
        assert_eq!(a.sender_ip, [10, 0, 0, 2]);
        assert_eq!(a.target_ip, [10, 0, 0, 1]);
        assert_eq!(a.sender_mac.to_string(), "78:31:c1:c6:3f:c2");
        assert_eq!(
            decode(LinkType::ETHERNET, &f[..30]),
            Err(DecodeError::ArpTruncated)
        );
    }

    /// cisagov/icsnpp-s7comm s7comm_plus.pcap: Linux cooked capture v1.
    #[test]
    fn parses_linux_sll() {
        let f = hex(
            "000300010006ac6417460d51c0a80800450000999f434000400619c7c0a80001c0a800030066c0025229b93237ad2ee05018200067c400000300007102f08072",
        );
        let d = decode(LinkType::LINUX_SLL, &f).unwrap();
        assert_eq!(d.src_mac.to_string(), "ac:64:17:46:0d:51");
        let ip = ip(&d);
        assert!(matches!(ip.l4, L4::Tcp(Tcp { src_port: 102, .. })));
        assert_eq!(&ip.payload[..4], &[0x03, 0x00, 0x00, 0x71]); // TPKT
        // The same packet as SLL2 (20-byte header, protocol first).
        let mut v2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0x00, 0x01, 0x03, 6];
        v2.extend_from_slice(&f[6..14]);
        v2.extend_from_slice(&f[16..]);
        let d2 = decode(LinkType::LINUX_SLL2, &v2).unwrap();
        assert_eq!(d2.src_mac, d.src_mac);
        let ip2 = super::tests::ip(&d2);
        assert_eq!(ip.payload, ip2.payload);
        assert_eq!(
            decode(LinkType::LINUX_SLL, &f[..10]),
            Err(DecodeError::SllTruncated)
        );
    }

    /// cisagov/icsnpp-opcua-binary open62541 trace: BSD loopback, family 30 (IPv6, macOS).
    #[test]
    fn parses_null_ipv6() {
        let f = hex(
            "1e00000060016408005806400000000000000000000000000000000100000000000000000000000000000001dc0112e81b2a3ae630531cc4801831c7006000000101080a54ef08bb54ef08bb48454c463800000000000000ffff0000ffff00000000000000000000180000006f70632e7463703a2f2f6c6f63616c686f73743a34383430",
        );
        let d = decode(LinkType::NULL, &f).unwrap();
        let ip = ip(&d);
        assert!(ip.v6);
        assert!(matches!(ip.l4, L4::Tcp(Tcp { dst_port: 4840, .. })));
        assert_eq!(&ip.payload[..4], b"HELF");
    }

    /// cisagov/icsnpp-omron-fins omron_fins_tcp_commands_responses.pcap: raw IPv4.
    #[test]
    fn parses_raw_ipv4() {
        let f = hex(
            "45000047000100004006f95cc0a80002c0a8000113882580000003e9000007d150182000ad66000046494e530000001700000002000000008000020000000000007a0401000001",
        );
        let d = decode(LinkType::RAW, &f).unwrap();
        assert!(d.src_mac.is_zero());
        assert_eq!(&ip(&d).payload[..4], b"FINS");
        assert_eq!(
            decode(LinkType::RAW, &[0x55, 0, 0]),
            Err(DecodeError::RawBadVersion)
        );
    }

    /// liushiwen555 cip_1.pcap: DHCPv6 solicit over IPv6/UDP.
    #[test]
    fn parses_ipv6_udp() {
        let f = hex(
            "3333000100020019d1ed9ac186dd6000000000731101fe80000000000000942b61c9c98662abff020000000000000000000000010002022202230073d3e20163c83c0008000200000001000e000100010e537dc00019d1ed9ac10003000c0d0019d100000000000000000027001d00097461726b6c61623133056b6c6173730364636303747475026565000010000e0000013700084d53465420352e30000600080018001700110027",
        );
        // The capture holds the whole frame; here only its first 160 bytes: a snaplen cut.
        let d = decode(LinkType::ETHERNET, &f).unwrap();
        let ip = ip(&d);
        assert!(ip.v6 && d.dst_mac.is_group());
        assert!(matches!(
            ip.l4,
            L4::Udp {
                src_port: 546,
                dst_port: 547
            }
        ));
        assert_eq!(ip.payload.len() + ip.truncated as usize, 0x73 - 8);
    }

    #[test]
    fn ipv6_extension_headers_and_fragments() {
        // IPv6 + hop-by-hop (8 bytes) + fragment header (first fragment, more) + UDP.
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        p.extend_from_slice(&[0xfe; 16]);
        p.extend_from_slice(&[0xfd; 16]);
        let body = [
            44, 0, 0, 0, 0, 0, 0, 0, // hop-by-hop → fragment
            17, 0, 0x00, 0x01, 0, 0, 0, 9, // fragment → UDP, offset 0, M=1, id 9
            0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0, 0, // UDP header, length 12
            1, 2, 3, 4,
        ];
        p[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
        p[6] = 0; // next header: hop-by-hop
        p.extend_from_slice(&body);
        let d = no_l2(ethertype::IPV6, &p).unwrap();
        let ip = ip(&d);
        assert_eq!(
            ip.frag,
            Some(Frag {
                id: 9,
                offset: 0,
                more: true
            })
        );
        // The fragment's data starts with the UDP header, decoded after reassembly.
        assert_eq!(ip.l4, L4::None);
        assert_eq!(&ip.payload[..4], &[0x04, 0xd2, 0x00, 0x35]);
        let mut whole = ip;
        whole.frag = None;
        decode_l4(&mut whole).unwrap();
        assert!(matches!(
            whole.l4,
            L4::Udp {
                src_port: 1234,
                dst_port: 53
            }
        ));
        // Non-first fragment: no transport decode.
        let mut q = p.clone();
        q[40 + 8 + 2..40 + 8 + 4].copy_from_slice(&[0x00, 0x18]); // offset 3*8 = 24, M=0
        let d = no_l2(ethertype::IPV6, &q).unwrap();
        let ip2 = super::tests::ip(&d);
        assert_eq!(ip2.frag.map(|f| (f.offset, f.more)), Some((24, false)));
        assert_eq!(ip2.l4, L4::None);
    }

    #[test]
    fn ipv4_errors_are_named() {
        let f = hex(MODBUS);
        let ipb = &f[14..];
        assert_eq!(
            no_l2(ethertype::IPV4, &ipb[..19]).unwrap_err(),
            DecodeError::Ipv4Truncated
        );
        let mut bad = ipb.to_vec();
        bad[0] = 0x44; // IHL 4 words
        assert_eq!(
            no_l2(ethertype::IPV4, &bad).unwrap_err(),
            DecodeError::Ipv4BadHeaderLength
        );
        let mut bad = ipb.to_vec();
        bad[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(
            no_l2(ethertype::IPV4, &bad).unwrap_err(),
            DecodeError::Ipv4BadTotalLength
        );
        let mut bad = ipb.to_vec();
        bad[32] = 0x20; // TCP data offset 2 words
        assert_eq!(
            no_l2(ethertype::IPV4, &bad).unwrap_err(),
            DecodeError::TcpBadDataOffset
        );
        assert_eq!(
            decode(LinkType::ARCNET_LINUX, &f).unwrap_err().name(),
            "arcnet_linux"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(link in prop_oneof![Just(1u16), Just(0), Just(101), Just(113), Just(276), Just(108), Just(228), Just(229), any::<u16>()],
                                       data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(LinkType(link), &data);
        }

        /// Decoding in place gives what `decode` gives, for real frames mutated anywhere
        /// (VLAN tags, header lengths, fragments, truncation) and for arbitrary bytes.
        #[test]
        fn decode_into_agrees_with_decode(at in 0usize..80, val in any::<u8>(), cut in 0usize..80,
                                          tag in any::<bool>(), noise in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut f = hex(MODBUS);
            if tag {
                f.splice(12..12, [0x81, 0x00, 0x20, 0x05]);
            }
            let at = at % f.len();
            f[at] = val;
            f.truncate(f.len() - cut.min(f.len()));
            for frame in [&f, &noise] {
                let mut d = Decoded::EMPTY;
                let into = decode_into(LinkType::ETHERNET, frame, &mut d).map(|()| d);
                prop_assert_eq!(into, decode(LinkType::ETHERNET, frame));
            }
        }

        #[test]
        fn mutated_real_frames_never_panic(at in 0usize..80, val in any::<u8>(), cut in 0usize..80) {
            let mut f = hex(MODBUS);
            let at = at % f.len();
            f[at] = val;
            f.truncate(f.len() - cut.min(f.len()));
            if let Ok(d) = decode(LinkType::ETHERNET, &f)
                && let L3::Ip(ip) = d.l3 {
                prop_assert!(ip.payload.len() <= f.len());
            }
        }
    }
}
