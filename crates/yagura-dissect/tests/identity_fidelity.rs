//! Agreement with tshark on every corpus capture holding the identity protocols of issue 4
//! (LLDP, CDP, STP, Profinet DCP, DHCP, DHCPv6): each capture is read with yagura-capture,
//! decoded with yagura-net and dissected here, and for every frame tshark dissects as the
//! protocol the fields and identity facts must equal tshark's values.
//!
//! Needs `tshark` and `../shared/corpus` beside the repository (or `$YAGURA_CORPUS`); with
//! `YAGURA_SKIP_TSHARK=1` and no tshark the tests print SKIPPED and pass.

use std::collections::BTreeMap;
use std::path::Path;

use yagura_capture::PacketSource;
use yagura_core::{Direction, FieldValue, IdentityFact, PduEvent};
use yagura_dissect::dhcp::{DhcpDissector, Dhcpv6Dissector};
use yagura_dissect::link::{LinkProtocol, dissect};
use yagura_dissect::{Dissector, PduCount, PduSink};
use yagura_net::decode::{L3, L4, decode};

use yagura_testkit::{captures_with, tshark_available};

/// tshark's values of `fields` for each frame matching `filter`, by frame number; several
/// occurrences of a field are joined with `,`.
fn tshark(file: &Path, filter: &str, fields: &[&str]) -> BTreeMap<u64, Vec<String>> {
    yagura_testkit::tshark(file, filter, fields, &[])
        .into_iter()
        .map(|r| (r.frame, r.fields.iter().map(|f| f.join(",")).collect()))
        .collect()
}

/// What the dissectors reported for one frame.
#[derive(Default, Debug)]
struct Frame {
    events: Vec<PduEvent>,
    facts: Vec<IdentityFact>,
    counted: Vec<(&'static str, u32)>,
}

struct Sink {
    events: bool,
    frame: Frame,
}

impl PduSink for Sink {
    fn pdu(&mut self, pdu: PduEvent) {
        if !self.events {
            // Counting: only an operational request comes whole (`PduSink::pdu_count`).
            assert!(!pdu.response && pdu.operation.is_operational());
            self.frame
                .counted
                .push((pdu.protocol, pdu.anomalies.len() as u32));
            return;
        }
        self.frame.events.push(pdu);
    }
    fn wants_events(&self) -> bool {
        self.events
    }
    fn pdu_count(&mut self, c: PduCount) {
        assert!(!self.events);
        assert!(c.response || !c.operation.is_operational());
        self.frame.counted.push((c.protocol, c.anomalies));
    }
    fn identity(&mut self, fact: IdentityFact) {
        self.frame.facts.push(fact);
    }
}

/// Dissect one decoded frame with the identity dissectors this test covers.
fn dissect_frame(link: yagura_core::LinkType, data: &[u8], sink: &mut Sink) {
    let Ok(d) = decode(link, data) else {
        return;
    };
    match d.l3 {
        L3::Other(payload) => {
            let llc = d.llc.as_ref();
            if let Some(p) =
                LinkProtocol::classify(d.ethertype, llc.map(|l| l.dsap), llc.and_then(|l| l.snap))
            {
                dissect(p, payload, sink);
            }
        }
        L3::Ip(ip) if ip.frag.is_none() => {
            if let L4::Udp { src_port, dst_port } = ip.l4 {
                let ports = [src_port, dst_port];
                if ports.contains(&67) && ports.contains(&68) {
                    DhcpDissector.parse(ip.payload, Direction::ToServer, sink);
                } else if ports.contains(&546) || ports.contains(&547) {
                    Dhcpv6Dissector.parse(ip.payload, Direction::ToServer, sink);
                }
            }
        }
        L3::Ip(_) | L3::Arp(_) => {}
    }
}

/// Every frame of `file` through the identity dissectors, by frame number (1-based), once
/// with events and once counting; the facts must not depend on whether events are wanted.
fn run(file: &Path) -> BTreeMap<u64, Frame> {
    let mut src = yagura_capture::file::open_file(file).expect("capture opens");
    let mut frames = BTreeMap::new();
    while let Some(batch) = src.next_batch(256).expect("capture reads") {
        for p in batch.iter() {
            let mut full = Sink {
                events: true,
                frame: Frame::default(),
            };
            dissect_frame(p.link, p.data, &mut full);
            let mut count = Sink {
                events: false,
                frame: Frame::default(),
            };
            dissect_frame(p.link, p.data, &mut count);
            assert_eq!(
                full.frame.facts, count.frame.facts,
                "facts differ when counting"
            );
            let from_events: Vec<_> = full
                .frame
                .events
                .iter()
                .map(|e| (e.protocol, e.anomalies.len() as u32))
                .collect();
            assert_eq!(
                from_events, count.frame.counted,
                "counts differ from events"
            );
            if !full.frame.events.is_empty() {
                frames.insert(p.index + 1, full.frame);
            }
        }
    }
    frames
}

/// Field `name` of an event as text (numbers in decimal, booleans as 0/1); "" when absent.
fn field(e: &PduEvent, name: &str) -> String {
    e.fields
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| match v {
            FieldValue::Str(s) => s.clone(),
            FieldValue::U64(x) => x.to_string(),
            FieldValue::I64(x) => x.to_string(),
            FieldValue::Bool(b) => u8::from(*b).to_string(),
        })
        .unwrap_or_default()
}

/// The values of the facts of attribute `attr`, comma-joined.
fn facts(f: &Frame, attr: &str) -> String {
    f.facts
        .iter()
        .filter(|x| x.attribute.name() == attr)
        .map(|x| x.value.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A tshark number in decimal or `0x` hex, as decimal text ("" stays "").
fn num(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let v = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    v.map_or_else(|_| s.to_owned(), |v| v.to_string())
}

/// Compare, for each frame of every capture with `proto`, the events of protocol `ours`
/// with tshark's fields through `check`, which returns (what, ours, tshark's) triples.
/// Returns the number of frames compared.
fn agree(
    proto: &str,
    ours: &str,
    filter: &str,
    fields: &[&str],
    check: impl Fn(&Frame, &PduEvent, &[String]) -> Vec<(&'static str, String, String)>,
) -> usize {
    let mut compared = 0;
    let mut bad = Vec::new();
    for file in captures_with(proto) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mine = run(&file);
        let theirs = tshark(&file, filter, fields);
        for (n, t) in &theirs {
            let Some(f) = mine.get(n) else {
                bad.push(format!("{name} frame {n}: no {ours} event"));
                continue;
            };
            let Some(e) = f.events.iter().find(|e| e.protocol == ours) else {
                bad.push(format!("{name} frame {n}: no {ours} event"));
                continue;
            };
            if !e.anomalies.is_empty() {
                bad.push(format!("{name} frame {n}: anomalies {:?}", e.anomalies));
            }
            for (what, a, b) in check(f, e, t) {
                if a != b {
                    bad.push(format!(
                        "{name} frame {n}: {what}: ours {a:?}, tshark {b:?}"
                    ));
                }
            }
            compared += 1;
        }
        for (n, f) in &mine {
            if f.events.iter().any(|e| e.protocol == ours) && !theirs.contains_key(n) {
                bad.push(format!(
                    "{name} frame {n}: {ours} event tshark does not see"
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
    compared
}

#[test]
fn lldp_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let n = agree(
        "lldp",
        "lldp",
        "lldp",
        &[
            "lldp.tlv.system.name",
            "lldp.tlv.system.desc",
            "lldp.port.id",
            "lldp.port.id.mac",
            "lldp.chassis.id.mac",
            "lldp.time_to_live",
            "lldp.mgn.addr.ip4",
            "lldp.tlv.system_cap",
            "lldp.tlv.enable_system_cap",
            "lldp.ieee.802_1.port_vlan.id",
            "lldp.profinet.cm_mac_add",
        ],
        |f, e, t| {
            let port = if t[3].is_empty() { &t[2] } else { &t[3] };
            let chassis = if t[4].is_empty() {
                String::new()
            } else {
                field(e, "chassis_id")
            };
            vec![
                ("system_name", field(e, "system_name"), t[0].clone()),
                ("hostname fact", facts(f, "hostname"), t[0].clone()),
                (
                    "system_description",
                    field(e, "system_description"),
                    t[1].clone(),
                ),
                ("port_id", field(e, "port_id"), port.clone()),
                ("chassis mac", chassis, t[4].clone()),
                ("ttl", field(e, "ttl"), t[5].clone()),
                (
                    "management_address",
                    field(e, "management_address"),
                    t[6].clone(),
                ),
                (
                    "system_capabilities",
                    field(e, "system_capabilities"),
                    num(&t[7]),
                ),
                (
                    "enabled_capabilities",
                    field(e, "enabled_capabilities"),
                    num(&t[8]),
                ),
                ("port_vlan_id", field(e, "port_vlan_id"), t[9].clone()),
                ("pn_chassis_mac", field(e, "pn_chassis_mac"), t[10].clone()),
            ]
        },
    );
    assert_eq!(n, 494, "LLDP frames compared");
}

#[test]
fn cdp_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let n = agree(
        "cdp",
        "cdp",
        "cdp",
        &[
            "cdp.version",
            "cdp.ttl",
            "cdp.deviceid",
            "cdp.portid",
            "cdp.platform",
            "cdp.native_vlan",
            "cdp.capabilities",
            "cdp.checksum.status",
        ],
        |f, e, t| {
            vec![
                ("version", field(e, "version"), t[0].clone()),
                ("ttl", field(e, "ttl"), t[1].clone()),
                ("device_id", field(e, "device_id"), t[2].clone()),
                ("hostname fact", facts(f, "hostname"), t[2].clone()),
                ("port_id", field(e, "port_id"), t[3].clone()),
                ("platform", field(e, "platform"), t[4].clone()),
                ("native_vlan", field(e, "native_vlan"), t[5].clone()),
                ("capabilities", field(e, "capabilities_bits"), num(&t[6])),
                // tshark: 1 = good checksum; ours has no bad_crc anomaly then (checked above).
                ("checksum", "1".into(), t[7].clone()),
            ]
        },
    );
    assert_eq!(n, 17, "CDP frames compared");
}

#[test]
fn stp_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let n = agree(
        "stp",
        "stp",
        "stp",
        &[
            "stp.version",
            "stp.type",
            "stp.flags",
            "stp.root.prio",
            "stp.root.ext",
            "stp.root.hw",
            "stp.root.cost",
            "stp.bridge.prio",
            "stp.bridge.ext",
            "stp.bridge.hw",
            "stp.port",
        ],
        |f, e, t| {
            let root = t[5] == t[9] && t[3] == t[7] && t[4] == t[8];
            vec![
                ("version", field(e, "version"), t[0].clone()),
                ("type", e.function.unwrap_or(999).to_string(), num(&t[1])),
                ("flags", field(e, "flags"), num(&t[2])),
                ("root_priority", field(e, "root_priority"), t[3].clone()),
                (
                    "root_system_id_ext",
                    field(e, "root_system_id_ext"),
                    t[4].clone(),
                ),
                ("root_mac", field(e, "root_mac"), t[5].clone()),
                ("root_path_cost", field(e, "root_path_cost"), t[6].clone()),
                ("bridge_priority", field(e, "bridge_priority"), t[7].clone()),
                (
                    "bridge_system_id_ext",
                    field(e, "bridge_system_id_ext"),
                    t[8].clone(),
                ),
                ("bridge_mac", field(e, "bridge_mac"), t[9].clone()),
                ("port_id", field(e, "port_id"), num(&t[10])),
                ("capability fact", facts(f, "capability"), "bridge".into()),
                (
                    "root role fact",
                    facts(f, "role"),
                    if root {
                        "stp_root_bridge".into()
                    } else {
                        String::new()
                    },
                ),
            ]
        },
    );
    assert_eq!(n, 754, "STP frames compared");
}

#[test]
fn pn_dcp_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let n = agree(
        "pn_dcp",
        "pn_dcp",
        "pn_dcp",
        &[
            "pn_dcp.service_id",
            "pn_dcp.service_type",
            "pn_dcp.xid",
            "pn_dcp.suboption_device_nameofstation",
            "pn_dcp.suboption_vendor_id",
            "pn_dcp.suboption_device_id",
            "pn_dcp.suboption_ip_ip",
            "pn_dcp.suboption_device_devicevendorvalue",
            "pn_dcp.block_error",
        ],
        |f, e, t| {
            let response = num(&t[1]) != "0";
            let name = if response {
                field(e, "station_name")
            } else {
                field(e, "filter_station_name")
            };
            let mut v = vec![
                (
                    "service",
                    e.function.unwrap_or(999).to_string(),
                    t[0].clone(),
                ),
                (
                    "response",
                    u8::from(e.response).to_string(),
                    u8::from(response).to_string(),
                ),
                ("xid", field(e, "xid"), num(&t[2])),
                ("name of station", name, t[3].clone()),
                ("vendor_id", field(e, "vendor_id"), num(&t[4])),
                ("device_id", field(e, "device_id"), num(&t[5])),
                ("ip_address", field(e, "ip_address"), t[6].clone()),
                ("device_vendor", field(e, "device_vendor"), t[7].clone()),
                ("block_error", field(e, "block_error"), t[8].clone()),
            ];
            if e.function == Some(5) && e.response {
                v.push(("name fact", facts(f, "name"), t[3].clone()));
                v.push(("model fact", facts(f, "model"), t[7].clone()));
                v.push((
                    "vendor id fact",
                    facts(f, "vendor_id"),
                    format!("pn_dcp:{}", num(&t[4])),
                ));
            }
            v
        },
    );
    assert_eq!(n, 60, "DCP frames compared");
}

#[test]
fn dhcp_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let n = agree(
        "dhcp",
        "dhcp",
        "dhcp",
        &[
            "dhcp.option.dhcp",
            "dhcp.hw.mac_addr",
            "dhcp.option.hostname",
            "dhcp.option.vendor_class_id",
            "dhcp.option.request_list_item",
            "dhcp.option.requested_ip_address",
            "dhcp.option.dhcp_server_id",
            "dhcp.ip.your",
            "dhcp.fqdn.name",
            "dhcp.option.ip_address_lease_time",
            "dhcp.ip.relay",
            "dhcp.type",
        ],
        |f, e, t| {
            let mac = t[1].split(',').next().unwrap_or_default().to_owned();
            let yiaddr = if t[7] == "0.0.0.0" {
                String::new()
            } else {
                t[7].clone()
            };
            let yours = format!(
                "{}{}",
                field(e, "offered_address"),
                field(e, "assigned_address")
            );
            let relay = if t[10] == "0.0.0.0" {
                String::new()
            } else {
                t[10].clone()
            };
            let client = t[11] == "1";
            // Facts about the client's MAC: host name, then FQDN, vendor class and OS hints.
            let about_client: Vec<String> = f
                .facts
                .iter()
                .filter(|x| x.subject == yagura_core::Subject::Mac(mac_of(&mac)))
                .filter(|x| x.attribute.name() == "hostname")
                .map(|x| x.value.clone())
                .collect();
            let mut names: Vec<String> = Vec::new();
            if !t[2].is_empty() {
                names.push(t[2].clone());
            }
            if !t[8].is_empty() {
                names.push(t[8].trim_end_matches('.').to_owned());
            }
            let vendor = if client { t[3].clone() } else { String::new() };
            let server_role = if t[6].is_empty() || t[6] == "0.0.0.0" {
                String::new()
            } else {
                "dhcp_server".to_owned()
            };
            vec![
                (
                    "message type",
                    e.function.map(|x| x.to_string()).unwrap_or_default(),
                    t[0].clone(),
                ),
                ("client_mac", field(e, "client_mac"), mac),
                ("hostname", field(e, "hostname"), t[2].clone()),
                ("hostname facts", about_client.join(","), names.join(",")),
                ("vendor_class", field(e, "vendor_class"), t[3].clone()),
                ("capability fact", facts(f, "capability"), vendor),
                (
                    "parameter_request_list",
                    field(e, "parameter_request_list"),
                    t[4].clone(),
                ),
                (
                    "requested_address",
                    field(e, "requested_address"),
                    t[5].clone(),
                ),
                ("server_id", field(e, "server_id"), t[6].clone()),
                ("server role", facts(f, "role"), server_role),
                ("yiaddr", yours, yiaddr),
                ("lease_time", field(e, "lease_time"), t[9].clone()),
                ("relay_address", field(e, "relay_address"), relay),
            ]
        },
    );
    assert_eq!(n, 137, "DHCP frames compared");
}

fn mac_of(s: &str) -> yagura_core::MacAddr {
    let mut m = [0u8; 6];
    for (i, p) in s.split(':').take(6).enumerate() {
        m[i] = u8::from_str_radix(p, 16).unwrap_or(0);
    }
    yagura_core::MacAddr(m)
}

#[test]
fn dhcpv6_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let n = agree(
        "dhcpv6",
        "dhcpv6",
        "dhcpv6",
        &[
            "dhcpv6.msgtype",
            "dhcpv6.duidllt.link_layer_addr",
            "dhcpv6.client_domain",
            "dhcpv6.vendorclass.enterprise",
            "dhcpv6.vendorclass.data",
            "dhcpv6.requested_option_code",
        ],
        |f, e, t| {
            let client = matches!(
                t[0].as_str(),
                "1" | "3" | "4" | "5" | "6" | "8" | "9" | "11"
            );
            let os = if client && t[4].starts_with("MSFT ") {
                "Windows"
            } else {
                ""
            };
            vec![
                (
                    "message type",
                    e.function.map(|x| x.to_string()).unwrap_or_default(),
                    t[0].clone(),
                ),
                ("client_duid_mac", field(e, "client_duid_mac"), t[1].clone()),
                ("fqdn", field(e, "fqdn"), t[2].clone()),
                (
                    "hostname fact",
                    facts(f, "hostname"),
                    if client {
                        t[2].trim_end_matches('.').to_owned()
                    } else {
                        String::new()
                    },
                ),
                (
                    "vendor_enterprise",
                    field(e, "vendor_enterprise"),
                    t[3].clone(),
                ),
                ("vendor_class", field(e, "vendor_class"), t[4].clone()),
                ("os fact", facts(f, "os"), os.to_owned()),
                (
                    "requested_options",
                    field(e, "requested_options"),
                    t[5].clone(),
                ),
            ]
        },
    );
    assert_eq!(n, 67, "DHCPv6 frames compared");
}
