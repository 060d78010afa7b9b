//! Cisco Discovery Protocol, versions 1 and 2: a 4-byte header (version, TTL, checksum) and
//! TLVs of a 16-bit type and a 16-bit length that counts the 4-byte TLV header.

use yagura_core::{Attribute, PduStatus};

use super::{Out, ip_text, printable};
use crate::Anomaly;
use crate::bytes::{be16, be32, u8_at};
use crate::emit::Summary;

const DEVICE_ID: u16 = 0x0001;
const ADDRESSES: u16 = 0x0002;
const PORT_ID: u16 = 0x0003;
const CAPABILITIES: u16 = 0x0004;
const SOFTWARE_VERSION: u16 = 0x0005;
const PLATFORM: u16 = 0x0006;
const VTP_DOMAIN: u16 = 0x0009;
const NATIVE_VLAN: u16 = 0x000a;
const DUPLEX: u16 = 0x000b;
const SYSTEM_NAME: u16 = 0x0014;
const MANAGEMENT_ADDRESSES: u16 = 0x0016;

const MAX_TEXT: usize = 255;
/// Most addresses read from one address TLV.
const MAX_ADDRESSES: usize = 8;

/// Capability bits, as capability ids (the names LLDP uses where both have one).
const CAPABILITY_NAMES: [&str; 11] = [
    "router",
    "bridge",
    "source_route_bridge",
    "switch",
    "host",
    "igmp",
    "repeater",
    "telephone",
    "remotely_managed",
    "camera",
    "two_port_mac_relay",
];

/// The Internet checksum over the PDU, as Cisco computes it: an odd last byte is added as a
/// sign-extended value (so 0xFF counts as -1); the RFC 1071 padding (the byte as the high
/// half of a word) is accepted too. A one's-complement sum is right when it is ≡ 0 modulo
/// 0xFFFF.
fn checksum_ok(p: &[u8]) -> bool {
    let mut sum: i64 = 0;
    let mut chunks = p.chunks_exact(2);
    for c in &mut chunks {
        sum += i64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    let ok = |s: i64| s != 0 && s.rem_euclid(0xffff) == 0;
    match chunks.remainder() {
        [] => ok(sum),
        [last] => ok(sum + (i64::from(*last) << 8)) || ok(sum + i64::from(*last as i8)),
        _ => false,
    }
}

/// The addresses of an address TLV: a 32-bit count, then per address a protocol type (1 =
/// NLPID, 2 = 802.2), protocol length, protocol, 16-bit address length and address.
fn addresses(v: &[u8], out_list: &mut Vec<String>) -> bool {
    let Some(count) = be32(v, 0) else {
        return false;
    };
    let mut i = 4;
    for _ in 0..count.min(MAX_ADDRESSES as u32) {
        let (Some(_ptype), Some(plen)) = (u8_at(v, i), u8_at(v, i + 1)) else {
            return false;
        };
        let plen = usize::from(plen);
        let Some(proto) = v.get(i + 2..i + 2 + plen) else {
            return false;
        };
        let Some(alen) = be16(v, i + 2 + plen) else {
            return false;
        };
        let start = i + 4 + plen;
        let Some(a) = v.get(start..start + usize::from(alen)) else {
            return false;
        };
        i = start + usize::from(alen);
        // NLPID 0xCC is IPv4; 802.2 SNAP with ethertype 0x86DD is IPv6.
        let ip = proto == [0xcc] || proto.ends_with(&[0x86, 0xdd]);
        if ip && let Some(t) = ip_text(a) {
            out_list.push(t);
        }
    }
    true
}

/// The software version as one line (its lines joined by spaces).
fn one_line(v: &[u8]) -> String {
    let text = printable(
        &v.iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
            .collect::<Vec<_>>(),
        1024,
    );
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The IOS version in a software version string: `…IOS… Version 12.2(25)SEG4, RELEASE…`.
pub(crate) fn ios_version(sw: &str) -> Option<&str> {
    if !sw.contains("IOS") {
        return None;
    }
    let at = sw.find(", Version ")? + ", Version ".len();
    let v = sw[at..].split([',', ' ']).next()?;
    (!v.is_empty()).then_some(v)
}

/// Parse one CDP PDU (after the SNAP header).
pub(super) fn parse(p: &[u8], out: &mut Out) -> Summary {
    let mut s = Summary::new("cdp", false, p.len());
    s.function_name = Some("announce");
    let (Some(version), Some(ttl)) = (u8_at(p, 0), u8_at(p, 1)) else {
        s.anomalies.set(Anomaly::Truncated);
        s.status = PduStatus::Malformed;
        return s;
    };
    s.function = Some(u32::from(version));
    out.num("version", version);
    out.num("ttl", ttl);
    if !matches!(version, 1 | 2) {
        s.anomalies.set(Anomaly::BadVersion);
    }
    if p.len() < 4 {
        s.anomalies.set(Anomaly::Truncated);
    } else if !checksum_ok(p) {
        s.anomalies.set(Anomaly::BadCrc);
    }
    let mut i = 4;
    let mut n = 0u64;
    let mut mgmt: Vec<String> = Vec::new();
    while let (Some(t), Some(len)) = (be16(p, i), be16(p, i + 2)) {
        let len = usize::from(len);
        if len < 4 {
            s.anomalies.set(Anomaly::BadLength);
            break;
        }
        let Some(v) = p.get(i + 4..i + len) else {
            s.anomalies.set(Anomaly::Truncated);
            break;
        };
        i += len;
        n += 1;
        match t {
            DEVICE_ID => {
                let id = printable(v, MAX_TEXT);
                out.fact(Attribute::Hostname, id.clone());
                out.text("device_id", id);
            }
            ADDRESSES | MANAGEMENT_ADDRESSES => {
                let mut list = Vec::new();
                if !addresses(v, &mut list) {
                    s.anomalies.set(Anomaly::BadLength);
                }
                for a in list {
                    out.fact(Attribute::ManagementAddress, a.clone());
                    if !mgmt.contains(&a) && mgmt.len() < MAX_ADDRESSES {
                        mgmt.push(a);
                    }
                }
            }
            PORT_ID => {
                let port = printable(v, MAX_TEXT);
                out.fact(Attribute::Port, port.clone());
                out.text("port_id", port);
            }
            CAPABILITIES => match be32(v, 0) {
                Some(bits) if v.len() == 4 => {
                    out.num("capabilities_bits", bits);
                    let names: Vec<&str> = CAPABILITY_NAMES
                        .iter()
                        .enumerate()
                        .filter(|(b, _)| bits & (1 << b) != 0)
                        .map(|(_, n)| *n)
                        .collect();
                    for name in &names {
                        out.fact(Attribute::Capability, *name);
                    }
                    out.text("capabilities", names.join(","));
                }
                _ => s.anomalies.set(Anomaly::BadLength),
            },
            SOFTWARE_VERSION => {
                let sw = one_line(v);
                out.fact(Attribute::Description, sw.clone());
                if let Some(fw) = ios_version(&sw) {
                    out.fact(Attribute::Firmware, fw);
                    out.text("ios_version", fw);
                }
                out.text("software_version", sw);
            }
            PLATFORM => {
                let platform = printable(v, MAX_TEXT);
                out.fact(Attribute::Platform, platform.clone());
                if let Some(model) = platform
                    .strip_prefix("cisco ")
                    .or_else(|| platform.strip_prefix("Cisco "))
                {
                    out.fact(Attribute::Vendor, "Cisco");
                    out.fact(Attribute::Model, model);
                }
                out.text("platform", platform);
            }
            VTP_DOMAIN => out.text("vtp_domain", printable(v, MAX_TEXT)),
            NATIVE_VLAN => match be16(v, 0) {
                Some(vlan) if v.len() == 2 => {
                    out.num("native_vlan", vlan);
                    out.fact(Attribute::Vlan, vlan.to_string());
                }
                _ => s.anomalies.set(Anomaly::BadLength),
            },
            DUPLEX => match u8_at(v, 0) {
                Some(d) if v.len() == 1 => out.text("duplex", if d == 0 { "half" } else { "full" }),
                _ => s.anomalies.set(Anomaly::BadLength),
            },
            SYSTEM_NAME => {
                let name = printable(v, MAX_TEXT);
                out.fact(Attribute::Name, name.clone());
                out.text("system_name", name);
            }
            _ => {}
        }
    }
    if i < p.len() && s.anomalies.is_empty() {
        s.anomalies.set(Anomaly::TrailingBytes);
    }
    if !mgmt.is_empty() {
        out.text("management_address", mgmt.join(","));
    }
    out.num("tlv_count", n);
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    s
}
