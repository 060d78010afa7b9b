//! LLDP (IEEE 802.1AB-2016): a sequence of TLVs (7-bit type, 9-bit length) that starts with
//! the chassis id, port id and time-to-live and ends with an End TLV; organisationally
//! specific TLVs (type 127) carry a 3-byte OUI and a subtype.

use yagura_core::{Attribute, FieldValue, PduStatus};

use super::{Out, hex_text, ip_text, mac_text, printable, siemens_identity};
use crate::Anomaly;
use crate::bytes::{be16, u8_at};
use crate::emit::Summary;

const END: u8 = 0;
const CHASSIS_ID: u8 = 1;
const PORT_ID: u8 = 2;
const TTL: u8 = 3;
const PORT_DESCRIPTION: u8 = 4;
const SYSTEM_NAME: u8 = 5;
const SYSTEM_DESCRIPTION: u8 = 6;
const SYSTEM_CAPABILITIES: u8 = 7;
const MANAGEMENT_ADDRESS: u8 = 8;
const ORG_SPECIFIC: u8 = 127;

const OUI_8021: [u8; 3] = [0x00, 0x80, 0xc2];
const OUI_8023: [u8; 3] = [0x00, 0x12, 0x0f];
const OUI_PROFINET: [u8; 3] = [0x00, 0x0e, 0xcf];

/// Longest text kept from a TLV (a TLV holds at most 511 bytes).
const MAX_TEXT: usize = 255;
/// Most management addresses or VLAN names kept from one frame.
const MAX_LIST: usize = 8;

/// System capability bits (802.1AB table 8-4), as capability ids.
const CAPABILITIES: [&str; 11] = [
    "other",
    "repeater",
    "bridge",
    "wlan_access_point",
    "router",
    "telephone",
    "docsis_cable_device",
    "station",
    "c_vlan_component",
    "s_vlan_component",
    "two_port_mac_relay",
];

/// The capability ids of the bits set in `bits`, comma-separated.
pub(crate) fn capability_names(bits: u16) -> String {
    CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// An address family number (IANA) and address bytes as text: IPv4, IPv6 or an 802 MAC.
fn address(family: u8, a: &[u8]) -> Option<String> {
    match (family, a.len()) {
        (1, 4) | (2, 16) => ip_text(a),
        (6, 6) => mac_text(a),
        _ => None,
    }
}

/// A chassis or port id as text: MAC and network-address subtypes decoded, others printable.
fn id_text(subtype: u8, v: &[u8], mac_subtype: u8, addr_subtype: u8) -> String {
    if subtype == mac_subtype && v.len() == 6 {
        return mac_text(v).unwrap_or_default();
    }
    if subtype == addr_subtype
        && let Some((&family, a)) = v.split_first()
        && let Some(t) = address(family, a)
    {
        return t;
    }
    let text = v
        .iter()
        .rposition(|&b| b != 0)
        .map_or(&v[..0], |e| &v[..=e]);
    if std::str::from_utf8(text).is_ok_and(|t| !t.chars().any(char::is_control)) {
        printable(v, MAX_TEXT)
    } else {
        hex_text(v, MAX_TEXT / 3)
    }
}

/// Parse one LLDPDU.
pub(super) fn parse(p: &[u8], out: &mut Out) -> Summary {
    let mut s = Summary::new("lldp", false, p.len());
    s.function_name = Some("announce");
    let mut i = 0;
    let mut n = 0usize;
    let mut ended = false;
    let mut addresses: Vec<String> = Vec::new();
    let mut vlan_names: Vec<String> = Vec::new();
    let mut port_id: Option<String> = None;
    let mut chassis: Option<(u8, String)> = None;
    let mut profinet = false;
    while let Some(h) = be16(p, i) {
        let t = (h >> 9) as u8;
        let len = usize::from(h & 0x1ff);
        let Some(v) = p.get(i + 2..i + 2 + len) else {
            s.anomalies.set(Anomaly::Truncated);
            i = p.len();
            break;
        };
        i += 2 + len;
        // The first three TLVs must be chassis id, port id and TTL, in that order.
        let expected = [CHASSIS_ID, PORT_ID, TTL];
        if n < 3 && t != expected[n] {
            s.anomalies.set(Anomaly::BadHeader);
        }
        n += 1;
        match t {
            END => {
                ended = true;
                break;
            }
            CHASSIS_ID | PORT_ID => {
                let Some((&sub, id)) = v.split_first().filter(|_| len >= 2) else {
                    s.anomalies.set(Anomaly::BadLength);
                    continue;
                };
                // Chassis id: 4 = MAC, 5 = network address; port id: 3 = MAC, 4 = address.
                if t == CHASSIS_ID {
                    let text = id_text(sub, id, 4, 5);
                    out.num("chassis_id_subtype", sub);
                    out.text("chassis_id", text.clone());
                    chassis = Some((sub, text));
                } else {
                    let text = id_text(sub, id, 3, 4);
                    out.num("port_id_subtype", sub);
                    out.text("port_id", text.clone());
                    out.fact(Attribute::Port, text.clone());
                    port_id = Some(text);
                }
            }
            TTL => match be16(v, 0) {
                Some(ttl) if len == 2 => out.num("ttl", ttl),
                _ => s.anomalies.set(Anomaly::BadLength),
            },
            PORT_DESCRIPTION => out.text("port_description", printable(v, MAX_TEXT)),
            SYSTEM_NAME => {
                let name = printable(v, MAX_TEXT);
                out.fact(Attribute::Hostname, name.clone());
                out.text("system_name", name);
            }
            SYSTEM_DESCRIPTION => {
                let desc = printable(v, MAX_TEXT);
                out.fact(Attribute::Description, desc.clone());
                siemens_identity(&desc, out);
                out.text("system_description", desc);
            }
            SYSTEM_CAPABILITIES => match (be16(v, 0), be16(v, 2)) {
                (Some(system), Some(enabled)) if len == 4 => {
                    out.num("system_capabilities", system);
                    out.num("enabled_capabilities", enabled);
                    let names = capability_names(system);
                    for name in names.split(',') {
                        out.fact(Attribute::Capability, name);
                    }
                    out.text("capabilities", names);
                }
                _ => s.anomalies.set(Anomaly::BadLength),
            },
            MANAGEMENT_ADDRESS => {
                // Address string length (subtype + address), subtype, address, interface
                // numbering subtype, interface number, OID length, OID.
                let alen = usize::from(u8_at(v, 0).unwrap_or(0));
                match (alen, v.get(1..1 + alen)) {
                    (2..=32, Some(a)) if v.len() >= 1 + alen + 6 => {
                        if let Some(text) = address(a[0], &a[1..]) {
                            let unspecified = a[1..].iter().all(|&b| b == 0);
                            if !unspecified {
                                out.fact(Attribute::ManagementAddress, text.clone());
                            }
                            if addresses.len() < MAX_LIST {
                                addresses.push(text);
                            }
                        }
                    }
                    _ => s.anomalies.set(Anomaly::BadLength),
                }
            }
            ORG_SPECIFIC => {
                if len < 4 {
                    s.anomalies.set(Anomaly::BadLength);
                    continue;
                }
                let (oui, sub, body) = ([v[0], v[1], v[2]], v[3], &v[4..]);
                org_specific(oui, sub, body, out, &mut vlan_names, &mut s);
                profinet |= oui == OUI_PROFINET;
            }
            // Reserved types 9–126 are skipped.
            _ => {}
        }
    }
    if !ended {
        s.anomalies.set(Anomaly::Truncated);
    }
    if n < 3 {
        s.anomalies.set(Anomaly::BadHeader);
    }
    // Profinet devices (IEC 61158-6-10) give their NameOfStation either as the port id's
    // suffix, `port-xyz.<NameOfStation>` (chassis id: the system identification), or, in
    // the older form, as a locally assigned chassis id beside a port id `port-xyz`.
    if profinet && let Some(id) = &port_id {
        let station = match id.split_once('.') {
            Some((port, station)) if port.starts_with("port-") => Some(station.to_owned()),
            None if id.starts_with("port-") && chassis.as_ref().is_some_and(|c| c.0 == 7) => {
                chassis.map(|c| c.1)
            }
            _ => None,
        };
        if let Some(station) = station {
            out.fact(Attribute::Name, station.clone());
            out.text("station_name", station);
        }
    }
    if !addresses.is_empty() {
        out.text("management_address", addresses.join(","));
    }
    if !vlan_names.is_empty() {
        out.text("vlan_names", vlan_names.join(","));
    }
    out.num("tlv_count", u64::try_from(n).unwrap_or(u64::MAX));
    s.length = u32::try_from(i).unwrap_or(u32::MAX);
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    s
}

/// The organisationally specific TLVs worth keeping: IEEE 802.1 port VLAN and VLAN names,
/// IEEE 802.3 MAC/PHY status and frame size, Profinet port status and chassis MAC.
fn org_specific(
    oui: [u8; 3],
    sub: u8,
    v: &[u8],
    out: &mut Out,
    vlan_names: &mut Vec<String>,
    s: &mut Summary,
) {
    let mut bad = false;
    match (oui, sub) {
        (OUI_8021, 1) => match be16(v, 0) {
            Some(vid) if v.len() == 2 => {
                out.num("port_vlan_id", vid);
                if vid != 0 {
                    out.fact(Attribute::Vlan, vid.to_string());
                }
            }
            _ => bad = true,
        },
        (OUI_8021, 3) => {
            let nlen = usize::from(u8_at(v, 2).unwrap_or(0));
            match (be16(v, 0), v.get(3..3 + nlen)) {
                (Some(vid), Some(name)) => {
                    if vlan_names.len() < MAX_LIST {
                        vlan_names.push(format!("{vid}:{}", printable(name, 32)));
                    }
                }
                _ => bad = true,
            }
        }
        (OUI_8023, 1) => match (u8_at(v, 0), be16(v, 3)) {
            (Some(autoneg), Some(mau)) if v.len() == 5 => {
                out.num("autoneg_status", autoneg);
                out.num("mau_type", mau);
            }
            _ => bad = true,
        },
        (OUI_8023, 4) => match be16(v, 0) {
            Some(m) if v.len() == 2 => out.num("max_frame_size", m),
            _ => bad = true,
        },
        (OUI_PROFINET, 2) => match (be16(v, 0), be16(v, 2)) {
            (Some(rt2), Some(rt3)) if v.len() == 4 => {
                out.num("pn_rtclass2_port_status", rt2);
                out.num("pn_rtclass3_port_status", rt3);
            }
            _ => bad = true,
        },
        (OUI_PROFINET, 5) => match mac_text(v) {
            Some(m) if v.len() == 6 => out.field("pn_chassis_mac", FieldValue::Str(m)),
            _ => bad = true,
        },
        (OUI_PROFINET, 1) if v.len() != 20 => bad = true,
        _ => {}
    }
    if bad {
        s.anomalies.set(Anomaly::BadLength);
    }
}
