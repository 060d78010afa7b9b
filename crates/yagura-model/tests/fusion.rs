//! Fusion, device types, Purdue levels and the graph on synthetic observations: what the
//! engine would report for identity sources other parts add (LLDP, DHCP, NBNS, SNMP…), and
//! the cases the corpus does not cover (routers, multi-homed hosts, DHCP changes,
//! conflicting sources).

use proptest::prelude::*;
use yagura_core::{Attribute, IpAddr, MacAddr, OperationClass, OperationSet, Timestamp, Transport};
use yagura_engine::report::{Asset as Host, Connection, Observations, Report};
use yagura_engine::{IdentityObservation, MacIpBinding, RequestTiming};
use yagura_model::build;
use yagura_model::inventory::{Asset, DeviceType, Inventory};

fn t(s: u64) -> Timestamp {
    Timestamp(s * 1_000_000_000)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mac(s: &str) -> MacAddr {
    let b: Vec<u8> = s
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect();
    MacAddr(b.try_into().unwrap())
}

/// A report under construction.
struct R(Report);

impl R {
    fn new() -> R {
        let doc = r#"{"schema":"yagura.report/1"}"#;
        let _ = doc;
        R(Report {
            schema: yagura_engine::report::SCHEMA,
            generator: yagura_engine::report::Generator {
                name: "yagura",
                version: "test",
            },
            capture: Default::default(),
            assets: Vec::new(),
            connections: Vec::new(),
            protocols: Vec::new(),
            pipeline: Default::default(),
            observations: Observations::default(),
        })
    }

    /// A host as the engine lists it (one per address, its earliest source MAC).
    fn host(mut self, a: &str, m: Option<&str>) -> R {
        self.0.assets.push(Host {
            ips: vec![ip(a)],
            mac: m.map(mac),
            vendor: None,
            mac_locally_administered: None,
            first_seen: t(0),
            last_seen: t(100),
            packets_sent: 10,
            bytes_sent: 1000,
        });
        self
    }

    /// `a` seen behind `m` in `flows` flows (first TTL judged local or routed) and in ARP.
    #[allow(clippy::too_many_arguments)]
    fn bind(
        mut self,
        m: &str,
        a: &str,
        local: u64,
        routed: u64,
        arp: u64,
        from: u64,
        to: u64,
    ) -> R {
        self.0.observations.bindings.push(MacIpBinding {
            mac: mac(m),
            ip: ip(a),
            first_seen: t(from),
            last_seen: t(to),
            flows: local + routed,
            flows_local: local,
            flows_routed: routed,
            arp_requests: arp,
            arp_replies: 0,
            arp_gratuitous: 0,
        });
        if !self.0.assets.iter().any(|h| h.ips.first() == Some(&ip(a))) {
            self = self.host(a, Some(m));
        }
        self
    }

    fn fact(
        mut self,
        a: Option<&str>,
        m: Option<&str>,
        protocol: &'static str,
        attribute: Attribute,
        value: &str,
        last: u64,
    ) -> R {
        self.0.observations.identity.push(IdentityObservation {
            ip: a.map(ip),
            mac: m.map(mac),
            route: None,
            protocol,
            attribute,
            value: value.into(),
            first_seen: t(1),
            last_seen: t(last),
            count: 1,
        });
        self
    }

    /// A fact about the module reached through the host (`a`, `m`) along `route`
    /// (`(port, link)` hops).
    #[allow(clippy::too_many_arguments)]
    fn routed_fact(
        mut self,
        a: &str,
        m: &str,
        route: &[(u16, &[u8])],
        attribute: Attribute,
        value: &str,
        last: u64,
    ) -> R {
        let mut r = yagura_core::Route::new();
        for (port, link) in route {
            assert!(r.push(*port, link));
        }
        self = self.fact(Some(a), Some(m), "cip", attribute, value, last);
        self.0
            .observations
            .identity
            .last_mut()
            .expect("just pushed")
            .route = Some(r);
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn conn(
        mut self,
        src: &str,
        dst: &str,
        sport: u16,
        dport: u16,
        protocol: Option<&'static str>,
        ops: &[OperationClass],
        start: u64,
        timing: RequestTiming,
    ) -> R {
        let mut operations = OperationSet::default();
        for o in ops {
            operations.insert(*o);
        }
        let src_mac = self.mac_of(src);
        let dst_mac = self.mac_of(dst);
        self.0.connections.push(Connection {
            src: ip(src),
            dst: ip(dst),
            transport: Transport::TCP,
            src_port: sport,
            dst_port: dport,
            vlan: None,
            protocol,
            packets: 10,
            bytes: 1000,
            packets_to_server: 5,
            packets_to_client: 5,
            bytes_to_server: 500,
            bytes_to_client: 500,
            first_seen: t(start),
            last_seen: t(start + 1),
            first_packet: start,
            sessions: 1,
            tcp_state: Some("closed"),
            pdus: 4,
            pdu_anomalies: 0,
            operations,
            polling_period_s: timing.period_s(),
            timing,
            src_mac,
            dst_mac,
        });
        self
    }

    fn mac_of(&self, a: &str) -> Option<MacAddr> {
        self.0
            .assets
            .iter()
            .find(|h| h.ips.first() == Some(&ip(a)))
            .and_then(|h| h.mac)
    }

    fn build(&self) -> Inventory {
        build(&self.0)
    }
}

fn asset<'a>(inv: &'a Inventory, id: &str) -> &'a Asset {
    inv.assets.iter().find(|a| a.id == id).unwrap_or_else(|| {
        panic!(
            "no asset {id}: {:?}",
            inv.assets.iter().map(|a| &a.id).collect::<Vec<_>>()
        )
    })
}

/// Requests every `period` seconds, `n` of them, from `start`.
fn cyclic(start: u64, period_ms: u64, n: u64) -> RequestTiming {
    let mut r = RequestTiming::default();
    for i in 0..n {
        r.add(
            Timestamp(start * 1_000_000_000 + i * period_ms * 1_000_000),
            i,
        );
    }
    r
}

const R1: &str = "00:1d:a1:00:00:01";
const PLC_MAC: &str = "ac:64:17:00:00:01"; // Siemens MA-L
const HMI_MAC: &str = "00:0c:29:00:00:02"; // VMware MA-L

#[test]
fn a_mac_carrying_many_subnets_is_a_router_and_the_addresses_behind_it_are_assets() {
    let inv = R::new()
        .bind(R1, "10.0.1.1", 3, 0, 2, 0, 10)
        .bind(R1, "10.0.2.7", 0, 0, 0, 0, 10)
        .bind(R1, "10.0.3.9", 0, 0, 0, 0, 10)
        .bind(R1, "10.0.4.2", 0, 0, 0, 0, 10)
        .build();
    let r = asset(&inv, "mac:00:1d:a1:00:00:01");
    assert_eq!(r.device_type, DeviceType::Router);
    assert_eq!(
        r.ips,
        vec![ip("10.0.1.1")],
        "only the address it announced in ARP"
    );
    assert!(
        r.device_type_reasons[0].contains("4 addresses from 4 /24 subnets"),
        "{:?}",
        r.device_type_reasons
    );
    for a in ["10.0.2.7", "10.0.3.9", "10.0.4.2"] {
        let behind = asset(&inv, &format!("ip:{a}"));
        assert_eq!(behind.mac, None);
        assert_eq!(behind.vendor, None, "the router's MAC vendor is not theirs");
    }
    assert_eq!(inv.assets.len(), 4);
}

#[test]
fn a_routed_ttl_makes_the_mac_a_router_even_for_one_address() {
    let inv = R::new()
        .bind(R1, "84.240.225.194", 0, 2, 0, 0, 10)
        .fact(
            Some("84.240.225.194"),
            Some(R1),
            "modbus",
            Attribute::Vendor,
            "Schneider Electric",
            5,
        )
        .build();
    let r = asset(&inv, "mac:00:1d:a1:00:00:01");
    assert_eq!(r.device_type, DeviceType::Router);
    assert!(r.ips.is_empty());
    let plc = asset(&inv, "ip:84.240.225.194");
    assert_eq!(plc.vendor.as_deref(), Some("Schneider Electric"));
    assert_eq!(plc.mac, None);
}

#[test]
fn multi_homed_and_readdressed_hosts_stay_one_asset() {
    let inv = R::new()
        // Two interfaces' addresses on two subnets: multi-homed.
        .bind(PLC_MAC, "192.168.1.10", 4, 0, 1, 0, 100)
        .bind(PLC_MAC, "10.0.0.10", 2, 0, 1, 0, 100)
        // A DHCP client that got a new address.
        .bind(HMI_MAC, "10.0.0.5", 3, 0, 1, 0, 50)
        .bind(HMI_MAC, "10.0.0.9", 3, 0, 1, 60, 100)
        .build();
    assert_eq!(inv.assets.len(), 2);
    let plc = asset(&inv, "mac:ac:64:17:00:00:01");
    assert_eq!(plc.ips, vec![ip("10.0.0.10"), ip("192.168.1.10")]);
    assert_ne!(plc.device_type, DeviceType::Router);
    let hmi = asset(&inv, "mac:00:0c:29:00:00:02");
    assert_eq!(hmi.ips, vec![ip("10.0.0.5"), ip("10.0.0.9")]);
    assert_eq!(hmi.first_seen, t(0));
}

#[test]
fn conflicting_sources_are_resolved_by_confidence_then_recency() {
    let inv = R::new()
        .bind(PLC_MAC, "10.0.0.10", 1, 0, 1, 0, 100)
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "dhcp",
            Attribute::Hostname,
            "plc-old",
            10,
        )
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "dhcp",
            Attribute::Hostname,
            "plc-new",
            20,
        )
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "nbns",
            Attribute::Hostname,
            "PLC-NEW",
            30,
        )
        .fact(
            None,
            Some(PLC_MAC),
            "lldp",
            Attribute::Hostname,
            "plc1.site",
            5,
        )
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "s7comm",
            Attribute::Model,
            "CPU 315-2 PN/DP",
            5,
        )
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "snmp",
            Attribute::Model,
            "SIMATIC S7-300",
            50,
        )
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "http",
            Attribute::Firmware,
            "V1.0",
            50,
        )
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "s7comm",
            Attribute::Firmware,
            "V3.2.7",
            5,
        )
        .build();
    let a = asset(&inv, "mac:ac:64:17:00:00:01");
    // LLDP (70) over DHCP and NBNS (50), though older.
    assert_eq!(a.hostname.as_deref(), Some("plc1.site"));
    // The other names, once each whatever their case.
    assert_eq!(a.names, vec!["plc-new".to_string(), "plc-old".to_string()]);
    // OT protocol (90) over SNMP (70) and HTTP (50).
    assert_eq!(a.model.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(a.firmware.as_deref(), Some("V3.2.7"));
    // No stated vendor: the MAC registry's, with its source.
    assert_eq!(a.vendor.as_deref(), Some("Siemens"));
    let v = a
        .attributes
        .iter()
        .find(|v| v.attribute == "vendor")
        .unwrap();
    assert_eq!((v.confidence, v.sources[0].source.as_str()), (30, "oui"));
    // Every value keeps its sources: "plc-new" from DHCP and NBNS, best first.
    let new = a
        .attributes
        .iter()
        .find(|v| v.attribute == "hostname" && v.value.eq_ignore_ascii_case("plc-new"))
        .unwrap();
    let srcs: Vec<&str> = new.sources.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(srcs, vec!["dhcp", "nbns"]);
    assert_eq!(new.sources[1].last_seen, t(30));
}

// BACnet states vendor 7 in an I-Am; the embedded ASHRAE list names it ("Siemens Schweiz
// AG", normalised like the MAC registry's names), with BACnet's confidence.
#[test]
fn a_protocol_vendor_id_names_the_vendor() {
    let inv = R::new()
        .bind(PLC_MAC, "10.0.0.10", 1, 0, 1, 0, 100)
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "bacnet",
            Attribute::VendorId,
            "bacnet:7",
            5,
        )
        .build();
    let a = asset(&inv, "mac:ac:64:17:00:00:01");
    assert_eq!(a.vendor.as_deref(), Some("Siemens"));
    let v = a
        .attributes
        .iter()
        .find(|v| v.attribute == "vendor")
        .unwrap();
    assert_eq!(v.confidence, 90);
    let sources: Vec<&str> = v.sources.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(sources, ["bacnet", "oui"]);
}

#[test]
fn an_ot_protocols_stated_vendor_wins_over_the_mac_registry() {
    let inv = R::new()
        .bind(PLC_MAC, "10.0.0.10", 1, 0, 1, 0, 100)
        .fact(
            Some("10.0.0.10"),
            Some(PLC_MAC),
            "modbus",
            Attribute::Vendor,
            "Schneider Electric",
            5,
        )
        .build();
    let a = asset(&inv, "mac:ac:64:17:00:00:01");
    assert_eq!(a.vendor.as_deref(), Some("Schneider Electric"));
    let vendors: Vec<(&str, u8)> = a
        .attributes
        .iter()
        .filter(|v| v.attribute == "vendor")
        .map(|v| (v.value.as_str(), v.confidence))
        .collect();
    assert_eq!(vendors, vec![("Schneider Electric", 90), ("Siemens", 30)]);
}

#[test]
fn device_types_purdue_levels_and_the_graph() {
    use OperationClass::*;
    let mut r = R::new()
        .bind(PLC_MAC, "10.0.0.10", 1, 0, 1, 0, 100)
        .bind(HMI_MAC, "10.0.0.20", 1, 0, 1, 0, 100)
        .bind("00:00:bc:00:00:03", "10.0.0.30", 1, 0, 1, 0, 100) // EWS
        .bind("00:00:bc:00:00:04", "10.0.0.40", 1, 0, 1, 0, 100) // office PC
        .bind("00:00:bc:00:00:05", "10.0.0.50", 1, 0, 1, 0, 100) // printer
        .bind("00:00:bc:00:00:06", "10.0.0.60", 1, 0, 1, 0, 100) // drive
        .fact(
            Some("10.0.0.60"),
            None,
            "cip",
            Attribute::Capability,
            "cip:2",
            5,
        )
        .fact(
            None,
            Some("00:00:bc:00:00:07"),
            "lldp",
            Attribute::Capability,
            "bridge",
            5,
        )
        .fact(
            Some("10.0.0.40"),
            None,
            "smb",
            Attribute::Os,
            "Windows 10 Pro",
            5,
        )
        // The HMI polls the PLC every 500 ms on one connection.
        .conn(
            "10.0.0.20",
            "10.0.0.10",
            40000,
            102,
            Some("s7comm"),
            &[Read, Write],
            0,
            cyclic(0, 500, 20),
        )
        // The EWS downloads a program.
        .conn(
            "10.0.0.30",
            "10.0.0.10",
            40001,
            102,
            Some("s7comm"),
            &[Read, ProgramDownload, Stop],
            5,
            RequestTiming::default(),
        )
        // The office PC prints and opens the HMI's web page.
        .conn(
            "10.0.0.40",
            "10.0.0.50",
            40002,
            9100,
            None,
            &[],
            6,
            RequestTiming::default(),
        )
        .conn(
            "10.0.0.40",
            "10.0.0.20",
            40003,
            80,
            Some("http"),
            &[Read],
            7,
            RequestTiming::default(),
        );
    // The EWS also polls the PLC over a new connection per poll: one edge, every 2 s.
    for i in 0..6 {
        let mut one = RequestTiming::default();
        one.add(t(10 + 2 * i), i);
        r = r.conn(
            "10.0.0.30",
            "10.0.0.10",
            41000 + i as u16,
            102,
            Some("s7comm"),
            &[Read],
            10 + 2 * i,
            one,
        );
    }
    let inv = r.build();
    let ty = |id: &str| {
        let a = asset(&inv, id);
        (a.device_type, a.purdue_level)
    };
    assert_eq!(ty("mac:ac:64:17:00:00:01"), (DeviceType::Plc, Some(1)));
    assert_eq!(ty("mac:00:0c:29:00:00:02"), (DeviceType::Hmi, Some(2)));
    assert_eq!(
        ty("mac:00:00:bc:00:00:03"),
        (DeviceType::EngineeringWorkstation, Some(2))
    );
    assert_eq!(
        ty("mac:00:00:bc:00:00:04"),
        (DeviceType::Workstation, Some(3)),
        "talks to the HMI"
    );
    assert_eq!(ty("mac:00:00:bc:00:00:05"), (DeviceType::Printer, Some(4)));
    assert_eq!(ty("mac:00:00:bc:00:00:06"), (DeviceType::IoModule, Some(0)));
    assert_eq!(ty("mac:00:00:bc:00:00:07"), (DeviceType::Switch, None));
    let ews = asset(&inv, "mac:00:00:bc:00:00:03");
    assert_eq!(
        ews.device_type_reasons[0],
        "performs program download (s7comm) on 1 device"
    );
    assert!(ews.device_type_confidence >= 85);
    let hmi = asset(&inv, "mac:00:0c:29:00:00:02");
    assert_eq!(
        hmi.device_type_reasons[0],
        "polls 1 controller cyclically (s7comm)"
    );
    assert_eq!(
        hmi.roles,
        vec!["http_server".to_string(), "s7comm_client".to_string()]
    );

    let edge = |src: &str, port: u16| {
        inv.edges
            .iter()
            .find(|e| e.src.ends_with(src) && e.dst_port == port)
            .unwrap()
    };
    let poll = edge(":02", 102);
    assert_eq!(poll.polling_period_s, Some(0.5));
    assert_eq!(poll.operations, vec!["read", "write"]);
    // The EWS's connections: one edge to port 102, 7 sessions, the per-poll connections
    // every 2 s.
    let ews_edge = edge(":03", 102);
    assert_eq!(ews_edge.sessions, 7);
    assert_eq!(
        ews_edge.operations,
        vec!["read", "program_download", "stop"]
    );
    assert_eq!(
        ews_edge.polling_period_s, None,
        "the download session breaks the cycle"
    );
    assert_eq!(inv.edges.len(), 4);
}

#[test]
fn an_unknown_public_address_is_level_5_and_a_lone_unknown_has_no_level() {
    let inv = R::new()
        .host("8.8.8.8", None)
        .host("10.1.1.1", None)
        .build();
    let p = asset(&inv, "ip:8.8.8.8");
    assert_eq!(
        (p.device_type, p.purdue_level),
        (DeviceType::Unknown, Some(5))
    );
    let l = asset(&inv, "ip:10.1.1.1");
    assert_eq!(
        (l.device_type, l.purdue_level, l.device_type_confidence),
        (DeviceType::Unknown, None, 0)
    );
    assert!(l.device_type_reasons.is_empty());
}

#[test]
fn connection_per_poll_clients_get_a_period_from_connection_starts() {
    let mut r = R::new().bind(PLC_MAC, "10.0.0.10", 1, 0, 1, 0, 100).bind(
        HMI_MAC,
        "10.0.0.20",
        1,
        0,
        1,
        0,
        100,
    );
    for i in 0..8u64 {
        let mut one = RequestTiming::default();
        one.add(t(10 + 5 * i), i);
        r = r.conn(
            "10.0.0.20",
            "10.0.0.10",
            50000 + i as u16,
            502,
            Some("modbus"),
            &[OperationClass::Read],
            10 + 5 * i,
            one,
        );
    }
    let inv = r.build();
    assert_eq!(inv.edges.len(), 1);
    assert_eq!(inv.edges[0].sessions, 8);
    assert_eq!(inv.edges[0].polling_period_s, Some(5.0));
}

/// Modules behind a communication module are assets of their own, one per route, keyed by
/// the carrier's id: behind a local module (`mac:`) and behind one seen through a router
/// (`ip:`); the carrier keeps its own identity.
#[test]
fn routed_modules_are_assets_behind_their_carrier() {
    let enbt = "00:00:bc:3e:eb:e4";
    let mut r = R::new()
        .host("192.168.10.120", Some(enbt))
        .host("192.168.10.105", Some("00:1d:09:99:b2:2c"))
        .bind(enbt, "192.168.10.120", 1, 0, 1, 0, 10)
        .bind("00:1d:09:99:b2:2c", "192.168.10.105", 1, 0, 1, 0, 10)
        .conn(
            "192.168.10.105",
            "192.168.10.120",
            2927,
            44818,
            Some("enip"),
            &[OperationClass::Identify],
            0,
            RequestTiming::default(),
        )
        // The module's own ListIdentity answer.
        .fact(
            Some("192.168.10.120"),
            Some(enbt),
            "enip",
            Attribute::Model,
            "1756-ENBT/A",
            5,
        );
    for (slot, model) in [(0u8, "1756-L61/B LOGIX5561"), (2, "1756-IB16/A")] {
        r = r
            .routed_fact(
                "192.168.10.120",
                enbt,
                &[(1, &[slot])],
                Attribute::Model,
                model,
                7,
            )
            .routed_fact(
                "192.168.10.120",
                enbt,
                &[(1, &[slot])],
                Attribute::VendorId,
                "cip:1",
                7,
            );
    }
    // A module behind a communication module that is itself behind a router: keyed by
    // the carrier's address.
    let gw = "38:97:d6:29:6b:07";
    for (i, a) in ["10.1.1.164", "10.2.1.1", "10.3.1.1"].iter().enumerate() {
        r = r.host(a, Some(gw)).bind(gw, a, 0, 1, 0, 0, 10 + i as u64);
    }
    r = r.routed_fact(
        "10.1.1.164",
        gw,
        &[(1, &[1]), (2, b"10.9.9.9")],
        Attribute::Model,
        "1769-L33ER/A LOGIX5333ER",
        9,
    );
    let inv = r.build();
    let carrier = asset(&inv, &format!("mac:{enbt}"));
    assert_eq!(carrier.model.as_deref(), Some("1756-ENBT/A"));
    assert_eq!(carrier.device_type, DeviceType::Gateway);
    // Its model (65) and relaying to modules (60): 65 + 3.
    assert_eq!(carrier.device_type_confidence, 68);
    assert!(
        carrier.device_type_reasons[1]
            .starts_with("relays CIP to 2 modules behind it (backplane slot 0; backplane slot 2)"),
        "{:?}",
        carrier.device_type_reasons
    );
    let plc = asset(&inv, &format!("mac:{enbt}/1:0"));
    assert_eq!(plc.via.as_deref(), Some(carrier.id.as_str()));
    assert_eq!(plc.route.as_deref(), Some("backplane slot 0"));
    assert_eq!(plc.model.as_deref(), Some("1756-L61/B LOGIX5561"));
    assert_eq!(plc.vendor.as_deref(), Some("Rockwell Automation"));
    assert_eq!(plc.device_type, DeviceType::Plc);
    assert_eq!(plc.purdue_level, Some(1));
    assert!(plc.ips.is_empty() && plc.mac.is_none());
    let io = asset(&inv, &format!("mac:{enbt}/1:2"));
    assert_eq!(io.route.as_deref(), Some("backplane slot 2"));
    assert_eq!(io.model.as_deref(), Some("1756-IB16/A"));
    let far = asset(&inv, "ip:10.1.1.164/1:1/2:10.9.9.9");
    assert_eq!(far.via.as_deref(), Some("ip:10.1.1.164"));
    assert_eq!(
        far.route.as_deref(),
        Some("backplane slot 1, port 2 address 10.9.9.9")
    );
    assert_eq!(far.device_type, DeviceType::Plc);
    // Modules are in no edge (they have no address); every id is unique and sorted.
    assert!(
        inv.edges
            .iter()
            .all(|e| !e.src.contains('/') && !e.dst.contains('/'))
    );
    let ids: Vec<&str> = inv.assets.iter().map(|a| a.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted);
}

proptest! {
    /// Arbitrary observations: no panic, unique ids, edges between existing assets, and
    /// the same inventory twice.
    #[test]
    fn arbitrary_observations_build_a_consistent_inventory(
        binds in proptest::collection::vec((0u8..6, 0u8..4, 0u8..40, 0u64..3, 0u64..3, 0u64..2), 0..40),
        facts in proptest::collection::vec((0u8..6, 0u8..40, 0usize..5, any::<bool>()), 0..20),
        routed in proptest::collection::vec((0u8..6, 0u8..40, 0u8..3), 0..6),
        conns in proptest::collection::vec((0u8..40, 0u8..40, prop_oneof![Just(102u16), Just(502), Just(9100)], 0u64..50), 0..30),
    ) {
        let mut r = R::new();
        for (m, net, host, local, routed, arp) in binds {
            r = r.bind(&format!("02:00:00:00:00:{m:02x}"), &format!("10.0.{net}.{host}"), local, routed, arp, 0, 10);
        }
        const ATTRS: [Attribute; 5] = [Attribute::Vendor, Attribute::Model, Attribute::Capability, Attribute::Hostname, Attribute::Role];
        for (m, host, a, with_ip) in facts {
            let ip_s = format!("10.0.0.{host}");
            let mac_s = format!("02:00:00:00:00:{m:02x}");
            r = r.fact(with_ip.then_some(ip_s.as_str()), Some(mac_s.as_str()), "lldp", ATTRS[a], "router bridge x", 3);
        }
        for (m, host, slot) in routed {
            let ip_s = format!("10.0.0.{host}");
            let mac_s = format!("02:00:00:00:00:{m:02x}");
            r = r.routed_fact(&ip_s, &mac_s, &[(1, &[slot])], Attribute::Model, "1756-L61/B", 3);
        }
        for (a, b, port, start) in conns {
            let (sa, sb) = (format!("10.0.0.{a}"), format!("10.0.1.{b}"));
            if !r.0.assets.iter().any(|h| h.ips[0] == ip(&sa)) { r = r.host(&sa, None); }
            if !r.0.assets.iter().any(|h| h.ips[0] == ip(&sb)) { r = r.host(&sb, None); }
            r = r.conn(&sa, &sb, 40000, port, Some("modbus"), &[OperationClass::Read], start, cyclic(start, 1000, 4));
        }
        let inv = r.build();
        let ids: std::collections::BTreeSet<&str> = inv.assets.iter().map(|a| a.id.as_str()).collect();
        prop_assert_eq!(ids.len(), inv.assets.len());
        for e in &inv.edges {
            prop_assert!(ids.contains(e.src.as_str()) && ids.contains(e.dst.as_str()));
        }
        // A module's carrier is an asset; its id is the carrier's and the route.
        for a in &inv.assets {
            if let Some(via) = &a.via {
                prop_assert!(ids.contains(via.as_str()));
                let prefix = format!("{via}/1:");
                prop_assert!(a.id.starts_with(&prefix));
            }
        }
        prop_assert_eq!(&inv, &r.build());
    }
}
