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
    Udp { src_port: u16, dst_port: u16 },
    Icmp { kind: u8, code: u8 },
    Icmpv6 { kind: u8, code: u8 },
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
    /// Set when this packet is a fragment (then `payload` is the fragment's data and `l4` is
    /// only decoded for the first fragment).
    pub frag: Option<Frag>,
    pub l4: L4,
    /// The transport payload (or, for fragments, the fragment data), trimmed of Ethernet padding.
    pub payload: &'a [u8],
    /// Bytes the IP header says exist beyond what was captured (snap length), 0 normally.
    pub truncated: u32,
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

/// Decode one captured frame of link type `link`.
#[inline]
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
#[inline]
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
        let et = if oui == [0, 0, 0] { pid } else { ethertype::LLC };
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

#[inline]
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

#[inline]
fn decode_ipv4(p: &[u8]) -> Result<IpInfo<'_>, DecodeError> {
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
    let truncated = (total - end) as u32;
    let frag_field = be16(p, 6);
    let offset = u32::from(frag_field & 0x1fff) * 8;
    let more = frag_field & 0x2000 != 0;
    let proto = p[9];
    let src = v4_mapped([p[12], p[13], p[14], p[15]]);
    let dst = v4_mapped([p[16], p[17], p[18], p[19]]);
    let body = &p[ihl..end];
    let frag = (offset != 0 || more).then_some(Frag {
        id: u32::from(be16(p, 4)),
        offset,
        more,
    });
    let mut ip = IpInfo {
        src,
        dst,
        v6: false,
        proto,
        ttl: p[8],
        frag,
        l4: L4::None,
        payload: body,
        truncated,
    };
    if offset == 0 {
        decode_l4(&mut ip, frag.is_some())?;
    }
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
    if frag.is_none_or(|f| f.offset == 0) {
        decode_l4(&mut ip, frag.is_some())?;
    }
    Ok(ip)
}

/// Decode the transport header at the front of `ip.payload` and move `payload` past it.
/// For a first fragment (`partial`), a header cut by the fragment boundary leaves `l4` as
/// `None` instead of failing: the defragmenter decodes the whole datagram later.
#[inline]
pub fn decode_l4(ip: &mut IpInfo<'_>, partial: bool) -> Result<(), DecodeError> {
    let p = ip.payload;
    // When the capture cut the packet short, a short header is snap-length truncation.
    let lenient = partial;
    match ip.proto {
        6 => {
            if p.len() < 20 {
                return if lenient { Ok(()) } else { Err(DecodeError::TcpTruncated) };
            }
            let doff = ((p[12] >> 4) as usize) * 4;
            if doff < 20 {
                return Err(DecodeError::TcpBadDataOffset);
            }
            if p.len() < doff {
                return if lenient { Ok(()) } else { Err(DecodeError::TcpTruncated) };
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
                return if lenient { Ok(()) } else { Err(DecodeError::UdpTruncated) };
            }
            let ulen = be16(p, 4) as usize;
            let avail = p.len() + ip.truncated as usize;
            // Length 0 is legal only for IPv6 jumbograms; otherwise it must cover the header
            // and fit in the IP payload.
            let end = if ulen == 0 && ip.v6 {
                p.len()
            } else if ulen < 8 || (ulen > avail && !partial) {
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
                return if lenient { Ok(()) } else { Err(DecodeError::IcmpTruncated) };
            }
            ip.l4 = if ip.proto == 1 {
                L4::Icmp { kind: p[0], code: p[1] }
            } else {
                L4::Icmpv6 { kind: p[0], code: p[1] }
            };
            ip.payload = &p[4..];
        }
        _ => {}
    }
    Ok(())
}
