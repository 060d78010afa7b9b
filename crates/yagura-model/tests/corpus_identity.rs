//! Issue 4 §9: on corpus captures that reveal identity, the inventory names vendor, model,
//! firmware and type exactly. Every expected value was read from tshark's dissection of the
//! same file (the commands are beside each test).
//!
//! The facts come from the dissectors themselves (Modbus FC 43, S7 SZL, CIP Identity,
//! ListIdentity), counted as `yagura analyze` does without `--events`; the events written
//! alongside by the 1-thread run must name the same identity values.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use yagura_core::Attribute;
use yagura_engine::{EngineConfig, Progress, Report};
use yagura_model::inventory::{Asset, DeviceType, Inventory};

use yagura_testkit::corpus;

/// Analyse `rel` on 1 thread writing events and on 2 threads only counting (as `yagura
/// analyze` without `--events`), check the two reports agree, and return the counting
/// run's report with the events.
fn analyze(rel: &str) -> (Report, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let run = |threads: usize, events: Option<PathBuf>| {
        let mut src = yagura_capture::file::open_paths(&[corpus(rel)]).unwrap();
        let cfg = EngineConfig {
            threads,
            events,
            ..EngineConfig::default()
        };
        yagura_engine::run(
            src.as_mut(),
            &cfg,
            &Progress::default(),
            &AtomicBool::new(false),
        )
        .unwrap()
    };
    let a = run(1, Some(events.clone()));
    let b = run(2, None);
    let ev: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap(),
        "{rel}: the report differs between 1 thread with events and 2 threads counting"
    );
    assert_eq!(
        serde_json::to_string(&yagura_model::build(&a)).unwrap(),
        serde_json::to_string(&yagura_model::build(&b)).unwrap()
    );
    (b, ev)
}

/// The identity-named fields of `protocol`'s events (what `emit_identity` turns into
/// facts), as (attribute, value) pairs. Numbers are namespaced by protocol, except that
/// ListIdentity (`enip`) states CIP's numbers (its vendor id is a CIP vendor id).
fn event_identity(events: &[serde_json::Value], protocol: &str) -> Vec<(Attribute, String)> {
    let namespace = if protocol == "enip" { "cip" } else { protocol };
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e["protocol"] == protocol) {
        for (name, v) in e.as_object().unwrap() {
            let Some(attribute) = Attribute::from_field(name) else {
                continue;
            };
            let value = match v {
                serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                serde_json::Value::Number(n) => format!("{namespace}:{n}"),
                _ => continue,
            };
            out.push((attribute, value));
        }
    }
    assert!(!out.is_empty(), "no {protocol} identity in the events");
    out
}

/// Every identity value the events of `protocol` name is also a fact of the report (from
/// the same protocol), reported while counting.
fn facts_match_events(report: &Report, events: &[serde_json::Value], protocol: &str) {
    for (attribute, value) in event_identity(events, protocol) {
        assert!(
            report
                .observations
                .identity
                .iter()
                .any(|o| o.protocol == protocol && o.attribute == attribute && o.value == value),
            "{protocol} {attribute:?} {value:?} is in the events but not among the facts: {:?}",
            report
                .observations
                .identity
                .iter()
                .map(|o| (o.protocol, o.attribute, &o.value))
                .collect::<Vec<_>>()
        );
    }
}

fn asset<'a>(inv: &'a Inventory, id: &str) -> &'a Asset {
    inv.assets.iter().find(|a| a.id == id).unwrap_or_else(|| {
        panic!(
            "no asset {id} in {:?}",
            inv.assets.iter().map(|a| &a.id).collect::<Vec<_>>()
        )
    })
}

/// Sources of the asset's vendor, best first.
fn vendor_sources(a: &Asset) -> Vec<&str> {
    a.attributes
        .iter()
        .filter(|v| v.attribute == "vendor" && Some(&v.value) == a.vendor.as_ref())
        .flat_map(|v| v.sources.iter().map(|s| s.source.as_str()))
        .collect()
}

/// Modbus FC 43 (Read Device Identification) answered by a Modicon M340 behind a router.
///
/// `tshark -r lsw__mod_43.pcap -Y modbus.mei -V`: objects VendorName "Schneider Electric  ",
/// ProductCode "BMX P34 2020", MajorMinorRevision "v2.5", sent by 84.240.225.194 from
/// 38:97:d6:29:6b:07; `-T fields -e ip.src -e eth.src -e ip.ttl`: its packets arrive with
/// TTL 46 (routed), the client's (192.168.166.24, 4c:ed:fb:73:54:6b) with 64.
#[test]
fn modbus_device_identification_names_a_plc_behind_a_router() {
    let (report, _) = analyze("pcap/modbus/lsw__mod_43.pcap");
    let facts: Vec<(&str, &str, &str)> = report
        .observations
        .identity
        .iter()
        .map(|f| (f.protocol, f.attribute.name(), f.value.as_str()))
        .collect();
    assert!(
        facts.contains(&("modbus", "vendor", "Schneider Electric")),
        "{facts:?}"
    );
    let inv = yagura_model::build(&report);
    let plc = asset(&inv, "ip:84.240.225.194");
    assert_eq!(plc.vendor.as_deref(), Some("Schneider Electric"));
    assert_eq!(plc.model.as_deref(), Some("BMX P34 2020"));
    assert_eq!(plc.firmware.as_deref(), Some("v2.5"));
    assert_eq!(plc.device_type, DeviceType::Plc);
    assert_eq!(
        plc.device_type_reasons[0],
        "model BMX P34 2020 is a Modicon M340 CPU"
    );
    assert_eq!(plc.purdue_level, Some(1));
    assert_eq!(plc.mac, None, "behind a router: keyed by address");
    assert_eq!(plc.roles, vec!["modbus_server".to_string()]);
    let router = asset(&inv, "mac:38:97:d6:29:6b:07");
    assert_eq!(router.device_type, DeviceType::Router);
    assert!(router.ips.is_empty());
    let client = asset(&inv, "mac:4c:ed:fb:73:54:6b");
    assert_eq!(
        client.ips,
        vec!["192.168.166.24".parse::<yagura_core::IpAddr>().unwrap()]
    );
    assert_eq!(client.roles, vec!["modbus_client".to_string()]);
    assert_eq!(inv.edges.len(), 1);
    assert_eq!(inv.edges[0].src, "mac:4c:ed:fb:73:54:6b");
    assert_eq!(inv.edges[0].dst, "ip:84.240.225.194");
    assert_eq!(inv.edges[0].operations, vec!["identify".to_string()]);
}

/// S7comm SZL answers of an S7-315 to TIA Portal going online.
///
/// `tshark -r iti__tia_s300_goOnline.pcapng -T fields -e ip.src -e
/// s7comm.szl.xy11.0001.anz -e s7comm.szl.xy11.0001.ausbg -e s7comm.szl.xy11.0001.ausbe
/// -e s7comm.szl.001c.0007.cputypname -e s7comm.szl.001c.0005.serialn`: 134.217.61.211
/// (00:0e:8c:d0:f9:cb, Siemens), order number "6ES7 315-2EH14-0AB0", firmware record
/// ausbg 22019 = 'V' 3, ausbe 519 = 2.7 → V3.2.7, type "CPU 315-2 PN/DP", serial
/// "S C-B1U393142011".
#[test]
fn s7_szl_names_an_s7_315() {
    let (report, events) = analyze("pcap/s7comm/iti__tia_s300_goOnline.pcapng");
    facts_match_events(&report, &events, "s7comm");
    let inv = yagura_model::build(&report);
    let plc = asset(&inv, "mac:00:0e:8c:d0:f9:cb");
    assert_eq!(plc.vendor.as_deref(), Some("Siemens"));
    assert_eq!(plc.order_number.as_deref(), Some("6ES7 315-2EH14-0AB0"));
    assert_eq!(plc.model.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(plc.firmware.as_deref(), Some("V3.2.7"));
    assert_eq!(plc.serial.as_deref(), Some("S C-B1U393142011"));
    assert_eq!(plc.device_type, DeviceType::Plc);
    // Order number 6ES7 (85) and "CPU …" (85), serving S7comm (80), the name PLC_1 (45):
    // 85 + 3 × 3.
    assert_eq!(plc.device_type_confidence, 94);
    assert_eq!(
        plc.device_type_reasons,
        vec![
            "order number 6ES7 315-2EH14-0AB0 is a SIMATIC S7 CPU",
            "model CPU 315-2 PN/DP is a controller CPU",
            "serves S7comm to 1 client",
            "its name PLC_1 says PLC",
        ]
    );
    assert_eq!(plc.purdue_level, Some(1));
    assert!(plc.names.contains(&"PLC_1".to_string()), "{:?}", plc.names);
    // TIA Portal going online reads SZLs, lists blocks and reads the job list: classed
    // read/identify/diagnostic/other, nothing only an engineering station does, so its type
    // is not asserted here (see the synthetic tests for program operations).
    let tia = asset(&inv, "mac:00:0c:29:c1:49:92");
    assert_eq!(tia.roles, vec!["s7comm_client".to_string()]);
    assert_eq!(inv.edges.len(), 1);
    assert_eq!(
        inv.edges[0].operations,
        vec!["read", "identify", "diagnostic", "other"]
    );
}

/// CIP Identity object (Get Attributes All) of a ControlLogix L61 during a program upload,
/// read *through* the EtherNet/IP module: each request is an Unconnected Send routed to
/// backplane port 1, slot 0, so the answer is the identity of the controller in slot 0, not
/// of the module that owns the IP and MAC address. The controller is an asset of its own,
/// reached through the module (`<module id>/1:0`, "backplane slot 0"); the module keeps its
/// own (here: only the MAC registry's) identity.
///
/// `tshark -r iti__CL5000EIP-Software_Upload.pcap -Y cip.id.product_name -T fields -e
/// frame.number -e ip.src -e eth.src -e cip.id.vendor_id -e cip.id.device_type -e
/// cip.id.product_code -e cip.id.major_rev -e cip.id.minor_rev -e cip.id.serial_number -e
/// cip.id.product_name`: frames 12, 22, 36, 148, 213, 268, 673, 691 and 705 (the Get
/// Attributes All answers; 264 is a Get Attribute List over a connection), all from
/// 192.168.10.120 / 00:00:bc:3e:eb:e4: vendor 0x0001, device type 0x000e, product code 54,
/// revision 16.20, serial 0x0051823f, "1756-L61/B LOGIX5561"; `-Y 'cip.class == 0x01'
/// -e cip.port -e cip.linkaddress.byte`: each routed to port 1, link 0. No other corpus
/// capture has a routed Identity read (`-Y 'cip.cm.route_path_size && cip.class == 0x01'`
/// over every capture).
#[test]
fn cip_identity_routed_to_a_backplane_slot_is_the_controllers() {
    const MODULE: &str = "mac:00:00:bc:3e:eb:e4";
    let (report, events) = analyze("pcap/enip/iti__CL5000EIP-Software_Upload.pcap");
    facts_match_events(&report, &events, "cip");
    assert!(
        events
            .iter()
            .any(|e| e["function_name"] == "unconnected_send"
                && e["route_port"] == 1
                && e["route_link"] == 0)
    );
    // Every CIP fact is about the controller behind the module, none about the module.
    let cip: Vec<_> = report
        .observations
        .identity
        .iter()
        .filter(|o| o.protocol == "cip")
        .collect();
    assert_eq!(cip.len(), 6, "{cip:?}");
    for o in &cip {
        assert_eq!(o.route.map(|r| r.to_string()).as_deref(), Some("1:0"));
        assert_eq!(o.ip, Some("192.168.10.120".parse().unwrap()));
        assert_eq!(
            o.mac.map(|m| m.to_string()).as_deref(),
            Some("00:00:bc:3e:eb:e4")
        );
        assert_eq!(o.count, 9, "{o:?}: one per Get Attributes All answer");
    }
    let inv = yagura_model::build(&report);
    let plc = asset(&inv, "mac:00:00:bc:3e:eb:e4/1:0");
    assert_eq!(plc.via.as_deref(), Some(MODULE));
    assert_eq!(plc.route.as_deref(), Some("backplane slot 0"));
    assert!(plc.ips.is_empty());
    assert_eq!(plc.mac, None);
    // Vendor id 1 is Rockwell Automation in the CIP table; no MAC, so no other source.
    assert_eq!(plc.vendor.as_deref(), Some("Rockwell Automation"));
    assert_eq!(vendor_sources(plc), ["cip"]);
    assert_eq!(plc.model.as_deref(), Some("1756-L61/B LOGIX5561"));
    assert_eq!(plc.firmware.as_deref(), Some("16.20"));
    assert_eq!(plc.serial.as_deref(), Some("0x0051823f"));
    let attr = |name: &str| {
        plc.attributes
            .iter()
            .filter(|v| v.attribute == name)
            .map(|v| v.value.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(attr("vendor_id"), ["cip:1"]);
    assert_eq!(attr("capability"), ["cip:14"], "device type 0x000e");
    assert_eq!(attr("product_code"), ["cip:54"]);
    assert_eq!(plc.device_type, DeviceType::Plc);
    // The model (90) and the CIP device type (85): 90 + 3.
    assert_eq!(plc.device_type_confidence, 93);
    assert_eq!(
        plc.device_type_reasons,
        vec![
            "model 1756-L61/B LOGIX5561 is a ControlLogix controller",
            "CIP identity says device type 14 (Programmable Logic Controller)",
        ]
    );
    assert_eq!(plc.purdue_level, Some(1));
    assert_eq!(plc.protocols, ["cip"]);
    assert!(plc.roles.is_empty());
    assert_eq!(plc.packets_sent, 0);

    // The module keeps its own identity: no model or firmware stated, the MAC registry's
    // vendor (00:00:BC is Rockwell's, Allen-Bradley). It relays CIP to the controller: a
    // communication module, which outvotes serving EtherNet/IP.
    let module = asset(&inv, MODULE);
    assert_eq!(module.via, None);
    assert_eq!(module.route, None);
    assert_eq!(
        module.ips,
        vec!["192.168.10.120".parse::<yagura_core::IpAddr>().unwrap()]
    );
    assert_eq!(module.model, None);
    assert_eq!(module.firmware, None);
    assert_eq!(module.vendor.as_deref(), Some("Rockwell Automation"));
    assert_eq!(vendor_sources(module), ["oui"]);
    assert_eq!(module.device_type, DeviceType::Gateway);
    assert_eq!(module.device_type_confidence, 60);
    assert_eq!(
        module.device_type_reasons,
        vec![
            "relays CIP to 1 module behind it (backplane slot 0): a communication module",
            "but also serves EtherNet/IP to 1 client (as a plc)",
        ]
    );
    assert_eq!(module.purdue_level, Some(1));
    // The module is in no edge of the graph: it has no address of its own.
    assert!(inv.edges.iter().all(|e| e.src != plc.id && e.dst != plc.id));
}

/// EtherNet/IP ListIdentity answered by a 1756-ENBT communication module behind a router.
///
/// `tshark -r iti__enip_test.pcap -Y enip.lir.name -T fields -e ip.src -e eth.src -e
/// ip.ttl -e enip.lir.devtype -e enip.lir.revision -e enip.lir.name`: 10.1.1.164,
/// 00:19:07:24:3c:ca, TTL 52 (routed), device type 12, revision 1027 = 4.3,
/// "1756-ENBT/A".
#[test]
fn list_identity_names_a_controllogix_communication_module() {
    let (report, events) = analyze("pcap/enip/iti__enip_test.pcap");
    facts_match_events(&report, &events, "enip");
    let inv = yagura_model::build(&report);
    let m = asset(&inv, "ip:10.1.1.164");
    assert_eq!(m.model.as_deref(), Some("1756-ENBT/A"));
    assert_eq!(m.firmware.as_deref(), Some("4.3"));
    // Behind a router there is no MAC to look up: the vendor comes from ListIdentity's
    // vendor id 1 (`cip:1`, stated over EtherNet/IP) alone.
    assert_eq!(m.vendor.as_deref(), Some("Rockwell Automation"));
    assert_eq!(vendor_sources(m), ["enip"]);
    assert_eq!(m.device_type, DeviceType::Gateway);
    assert!(
        m.device_type_reasons[0]
            .starts_with("model 1756-ENBT/A is a ControlLogix EtherNet/IP communication module")
    );
    assert_eq!(m.purdue_level, Some(1));
    assert_eq!(
        asset(&inv, "mac:00:19:07:24:3c:ca").device_type,
        DeviceType::Router
    );
}

/// Profinet DCP Identify answered by a SCALANCE X208 switch.
///
/// `tshark -r lsw__pn_dcp.pcap -Y pn_dcp.suboption_vendor_id -T fields -e eth.src -e
/// pn_dcp.suboption_vendor_id -e pn_dcp.suboption_device_id -e
/// pn_dcp.suboption_device_nameofstation`: 08:00:06:93:cf:32, vendor 0x002a, device 0x0a01,
/// "X208-BORD".
#[test]
fn dcp_vendor_id_names_a_siemens_switch() {
    let (report, _) = analyze("pcap/profinet/lsw__pn_dcp.pcap");
    let inv = yagura_model::build(&report);
    let sw = asset(&inv, "mac:08:00:06:93:cf:32");
    // Vendor id 0x002A is SIEMENS in the Profinet table (from a Siemens GSDML file); the MAC
    // block 08:00:06 is Siemens' too. The protocol's statement comes first.
    assert_eq!(sw.vendor.as_deref(), Some("Siemens"));
    assert_eq!(vendor_sources(sw), ["pn_dcp", "oui"]);
}
