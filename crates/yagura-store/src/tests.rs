//! The store's tests, on synthetic inventories built here (the corpus-derived inventory
//! is the model's business; these check persistence and the merge rules).

use std::path::Path;

use proptest::prelude::*;
use yagura_core::{IpAddr, MacAddr, Timestamp};
use yagura_model::inventory::{Asset, AttributeValue, DeviceType, Edge, Inventory, Source};

use crate::sqlite::schema;
use crate::*;

const S: u64 = 1_000_000_000;
const T0: u64 = 1_767_225_600 * S;

fn t(secs: u64) -> Timestamp {
    Timestamp(T0 + secs * S)
}

fn asset(id: &str, first: u64, last: u64) -> Asset {
    crate::sqlite::ingest::bare_asset(id, t(first), t(last))
}

fn attr(
    attribute: &str,
    value: &str,
    confidence: u8,
    source: &str,
    first: u64,
    last: u64,
) -> AttributeValue {
    AttributeValue {
        attribute: attribute.into(),
        value: value.into(),
        confidence,
        sources: vec![Source {
            source: source.into(),
            first_seen: t(first),
            last_seen: t(last),
        }],
    }
}

fn edge(src: &str, dst: &str, packets: u64, ops: &[&str], first: u64, last: u64) -> Edge {
    Edge {
        src: src.into(),
        dst: dst.into(),
        transport: "tcp".into(),
        dst_port: 502,
        protocol: Some("modbus".into()),
        operations: ops.iter().map(|s| s.to_string()).collect(),
        packets,
        bytes: packets * 64,
        sessions: 1,
        first_seen: t(first),
        last_seen: t(last),
        polling_period_s: None,
    }
}

fn run(key: &str, first: u64, last: u64) -> RunInfo {
    RunInfo {
        key: key.into(),
        kind: RunKind::Files,
        inputs: vec![format!("{key}.pcap")],
        first_seen: t(first),
        last_seen: t(last),
        packets: 100,
        bytes: 6400,
    }
}

const PLC: &str = "mac:00:1b:1b:aa:bb:cc";
const HMI: &str = "mac:00:0c:29:11:22:33";

/// A PLC with firmware `fw` seen from `first` to `last`, polled by an HMI.
fn plant(fw: &str, first: u64, last: u64) -> Inventory {
    let mut plc = asset(PLC, first, last);
    plc.ips = vec![IpAddr::from([192, 168, 0, 10])];
    plc.vendor = Some("Siemens".into());
    plc.device_type = DeviceType::Plc;
    plc.device_type_confidence = 90;
    plc.device_type_reasons = vec!["serves modbus".into()];
    plc.model = Some("CPU 1214C".into());
    plc.firmware = Some(fw.into());
    plc.hostname = Some("plc-1".into());
    plc.names = vec!["PLC_1".into()];
    plc.protocols = vec!["modbus".into()];
    plc.roles = vec!["modbus_server".into()];
    plc.purdue_level = Some(1);
    plc.purdue_reasons = vec!["controller".into()];
    plc.packets_sent = 40;
    plc.bytes_sent = 4000;
    plc.attributes = vec![
        attr("firmware", fw, 90, "modbus", first + 5, last),
        attr("vendor", "Siemens", 30, "oui", first, last),
    ];
    let mut hmi = asset(HMI, first, last);
    hmi.ips = vec![IpAddr::from([192, 168, 0, 20])];
    hmi.device_type = DeviceType::Hmi;
    hmi.device_type_confidence = 60;
    hmi.protocols = vec!["modbus".into()];
    hmi.roles = vec!["modbus_client".into()];
    hmi.packets_sent = 60;
    hmi.bytes_sent = 2400;
    let mut e = edge(HMI, PLC, 100, &["read"], first, last);
    e.polling_period_s = Some(1.0);
    Inventory {
        assets: vec![hmi, plc],
        edges: vec![e],
    }
}

fn store(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir.join("inventory.db")).expect("open store")
}

#[test]
fn opens_with_wal_normal_sync_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let c = s.conn();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
    let fk: i64 = c
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), sync, fk), ("wal", 1, 1));
    assert_eq!(s.schema_version().unwrap(), SqliteStore::LATEST_SCHEMA);
    assert!(s.check().unwrap().is_empty());
}

#[test]
fn migrates_a_version_1_database_keeping_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let old = SqliteStore::open_at(&path, 1, true).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        // What a version-1 yagura wrote: a run, an asset, an IP.
        old.conn()
            .execute_batch(&format!(
                "INSERT INTO runs VALUES (1, 'files:old', 'files', '[\"old.pcap\"]', {a}, {b},
                    10, 640, 1, 0, 1, {a}, {a});
                 INSERT INTO assets (pk, id, mac, mac_local, vendor, device_type,
                    device_type_confidence, device_type_reasons, firmware, purdue_reasons,
                    first_seen, last_seen, packets_sent, bytes_sent, first_run, last_run)
                 VALUES (1, '{PLC}', '00:1b:1b:aa:bb:cc', 0, 'Siemens', 'plc', 90,
                    '[\"serves modbus\"]', 'V1.0', '[]', {a}, {b}, 10, 640, 1, 1);
                 INSERT INTO asset_ips VALUES (1, '192.168.0.10', {a}, {b});",
                a = T0,
                b = T0 + 60 * S
            ))
            .unwrap();
        let tables: i64 = old
            .conn()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'asset_history'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::LATEST);
    let a = s.asset(PLC).unwrap().expect("asset kept");
    assert_eq!(a.firmware.as_deref(), Some("V1.0"));
    assert_eq!(a.ips, vec![IpAddr::from([192, 168, 0, 10])]);
    // The new tables work on the migrated file.
    s.ingest(&plant("V2.0", 3600, 7200), &run("new", 3600, 7200))
        .unwrap();
    let h = s.history(PLC).unwrap();
    assert!(h.iter().any(|c| c.attribute == "firmware"
        && c.old_value.as_deref() == Some("V1.0")
        && c.new_value.as_deref() == Some("V2.0")));
    s.set_override(PLC, OverrideField::Name, "Line 1", "tester")
        .unwrap();
    assert!(s.check().unwrap().is_empty());
    drop(s);
    // Opening again applies nothing.
    assert_eq!(
        SqliteStore::open(&path).unwrap().schema_version().unwrap(),
        schema::LATEST
    );
}

/// The controller behind a ControlLogix EtherNet/IP module, as the model builds it from
/// the corpus's program upload (yagura-model's corpus tests check the values against
/// tshark): an asset with no address or MAC, reached through its carrier.
const CARRIER: &str = "mac:00:00:bc:3e:eb:e4";
const MODULE: &str = "mac:00:00:bc:3e:eb:e4/1:0";

fn routed_plant(first: u64, last: u64) -> Inventory {
    let mut carrier = asset(CARRIER, first, last);
    carrier.ips = vec![IpAddr::from([192, 168, 10, 120])];
    carrier.device_type = DeviceType::Gateway;
    carrier.device_type_confidence = 60;
    let mut m = asset(MODULE, first, last);
    m.mac = None;
    m.mac_locally_administered = None;
    m.via = Some(CARRIER.into());
    m.route = Some("backplane slot 0".into());
    m.vendor = Some("Rockwell Automation".into());
    m.model = Some("1756-L61/B LOGIX5561".into());
    m.firmware = Some("16.20".into());
    m.serial = Some("0x0051823f".into());
    m.device_type = DeviceType::Plc;
    m.device_type_confidence = 93;
    m.purdue_level = Some(1);
    m.protocols = vec!["cip".into()];
    m.attributes = vec![
        attr("firmware", "16.20", 90, "cip", first, last),
        attr("model", "1756-L61/B LOGIX5561", 90, "cip", first, last),
    ];
    Inventory {
        assets: vec![carrier, m],
        edges: vec![],
    }
}

#[test]
fn routed_modules_round_trip_with_their_carrier() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let inv = routed_plant(0, 600);
    let out = s.ingest(&inv, &run("a", 0, 600)).unwrap();
    assert_eq!((out.assets_new, out.stub_assets), (2, 0));
    assert_eq!(s.load().unwrap(), inv);
    assert!(s.check().unwrap().is_empty());
    // A later run (a sensor's tick) that carries the module alone, with a firmware change:
    // the same asset, its carrier kept, the change recorded.
    let mut later = routed_plant(1000, 1600);
    later.assets.remove(0);
    later.assets[0].firmware = Some("16.21".into());
    let out = s.ingest(&later, &run("b", 1000, 1600)).unwrap();
    assert_eq!((out.assets_new, out.assets_updated), (0, 1));
    let m = s.asset(MODULE).unwrap().unwrap();
    assert_eq!(m.via.as_deref(), Some(CARRIER));
    assert_eq!(m.route.as_deref(), Some("backplane slot 0"));
    assert_eq!(m.firmware.as_deref(), Some("16.21"));
    assert!(
        s.history(MODULE)
            .unwrap()
            .iter()
            .any(|c| c.attribute == "firmware" && c.old_value.as_deref() == Some("16.20"))
    );
    assert_eq!(s.load().unwrap().assets.len(), 2);
    assert!(s.check().unwrap().is_empty());
}

#[test]
fn a_routed_modules_unknown_carrier_gets_a_bare_asset() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let mut inv = routed_plant(0, 600);
    inv.assets.remove(0);
    let out = s.ingest(&inv, &run("a", 0, 600)).unwrap();
    assert_eq!((out.assets_new, out.stub_assets), (1, 1));
    let carrier = s.asset(CARRIER).unwrap().expect("stub carrier");
    assert_eq!(carrier.mac, Some(MacAddr([0, 0, 0xbc, 0x3e, 0xeb, 0xe4])));
    assert_eq!((carrier.first_seen, carrier.last_seen), (t(0), t(600)));
    assert!(s.check().unwrap().is_empty());
    // A carrier that went missing (a hand-edited file) is reported.
    s.conn()
        .execute("DELETE FROM assets WHERE id = ?1", [CARRIER])
        .unwrap();
    assert_eq!(
        s.check().unwrap(),
        [format!(
            "routed asset {MODULE:?}: its carrier {CARRIER:?} is not in the store"
        )]
    );
}

#[test]
fn migrates_a_version_2_database_to_routed_modules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    {
        let old = SqliteStore::open_at(&path, 2, true).unwrap();
        assert_eq!(old.schema_version().unwrap(), 2);
        // What a version-2 yagura wrote: the carrier alone, with an override.
        old.conn()
            .execute_batch(&format!(
                "INSERT INTO runs VALUES (1, 'files:old', 'files', '[\"old.pcap\"]', {a}, {b},
                    10, 640, 1, 0, 1, {a}, {a});
                 INSERT INTO assets (pk, id, mac, mac_local, vendor, device_type,
                    device_type_confidence, device_type_reasons, purdue_reasons,
                    first_seen, last_seen, packets_sent, bytes_sent, first_run, last_run)
                 VALUES (1, '{CARRIER}', '00:00:bc:3e:eb:e4', 0, 'Rockwell Automation', 'plc',
                    55, '[]', '[]', {a}, {b}, 10, 640, 1, 1);
                 INSERT INTO asset_overrides VALUES (1, 'name', 'ENBT slot 1', 'tester', {a});",
                a = T0,
                b = T0 + 60 * S
            ))
            .unwrap();
        assert!(
            old.conn().prepare("SELECT via FROM assets").is_err(),
            "no via column before version 3"
        );
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SqliteStore::LATEST_SCHEMA);
    let carrier = s.asset(CARRIER).unwrap().expect("asset kept");
    assert_eq!((carrier.via, carrier.route), (None, None));
    assert_eq!(carrier.hostname.as_deref(), Some("ENBT slot 1"));
    s.ingest(&routed_plant(3600, 7200), &run("new", 3600, 7200))
        .unwrap();
    let m = s.asset(MODULE).unwrap().expect("module stored");
    assert_eq!(m.via.as_deref(), Some(CARRIER));
    assert_eq!(m.model.as_deref(), Some("1756-L61/B LOGIX5561"));
    assert!(s.check().unwrap().is_empty());
}

#[test]
fn refuses_a_database_from_a_newer_yagura() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(SqliteStore::open(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    match SqliteStore::open(&path) {
        Err(StoreError::TooNew {
            found: 99,
            supported,
        }) => {
            assert_eq!(supported, schema::LATEST)
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn open_existing_does_not_create() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    assert!(matches!(
        SqliteStore::open_existing(&path),
        Err(StoreError::NotFound(_))
    ));
    assert!(!path.exists());
}

#[test]
fn first_ingest_reads_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let inv = plant("V1.0", 0, 600);
    let out = s.ingest(&inv, &run("a", 0, 600)).unwrap();
    assert_eq!((out.assets_new, out.edges_new, out.changes), (2, 1, 0));
    assert_eq!(s.load().unwrap(), inv);
    assert!(s.history(PLC).unwrap().is_empty());
}

#[test]
fn merges_a_later_run_and_keeps_the_firmware_change_in_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let r1 = s
        .ingest(&plant("V4.4.0", 0, 600), &run("a", 0, 600))
        .unwrap();

    let mut later = plant("V4.5.1", 86_400, 90_000);
    let plc = &mut later.assets[1];
    plc.ips.push(IpAddr::from([192, 168, 1, 10]));
    plc.protocols.push("s7comm".into());
    plc.names = vec!["PLC_1_NEW".into()];
    plc.hostname = None; // not seen this time: kept
    let e = &mut later.edges[0];
    e.operations = vec!["write".into(), "read".into()];
    e.polling_period_s = Some(2.0);
    e.packets = 50;
    e.bytes = 50 * 64;
    later.edges.push(edge(PLC, HMI, 7, &[], 86_400, 86_500));
    let r2 = s.ingest(&later, &run("b", 86_400, 90_000)).unwrap();
    assert_eq!(
        (r2.assets_updated, r2.edges_updated, r2.edges_new),
        (2, 1, 1)
    );

    let inv = s.load().unwrap();
    let plc = inv.assets.iter().find(|a| a.id == PLC).unwrap();
    assert_eq!(plc.firmware.as_deref(), Some("V4.5.1"));
    assert_eq!(plc.hostname.as_deref(), Some("plc-1"));
    assert_eq!(
        plc.ips,
        vec![
            IpAddr::from([192, 168, 0, 10]),
            IpAddr::from([192, 168, 1, 10])
        ]
    );
    assert_eq!(plc.names, vec!["PLC_1", "PLC_1_NEW"]);
    assert_eq!(plc.protocols, vec!["modbus", "s7comm"]);
    assert_eq!((plc.first_seen, plc.last_seen), (t(0), t(90_000)));
    assert_eq!((plc.packets_sent, plc.bytes_sent), (80, 8000));
    // Both firmware values stay as evidence, each with its own times.
    let fw: Vec<(&str, Timestamp)> = plc
        .attributes
        .iter()
        .filter(|v| v.attribute == "firmware")
        .map(|v| (v.value.as_str(), v.sources[0].first_seen))
        .collect();
    assert_eq!(fw, vec![("V4.4.0", t(5)), ("V4.5.1", t(86_405))]);
    // The OUI vendor's source widened across both runs.
    let vendor = plc
        .attributes
        .iter()
        .find(|v| v.attribute == "vendor")
        .unwrap();
    assert_eq!(
        (vendor.sources[0].first_seen, vendor.sources[0].last_seen),
        (t(0), t(90_000))
    );

    let h = s.history(PLC).unwrap();
    assert_eq!(
        h,
        vec![HistoryEntry {
            attribute: "firmware".into(),
            old_value: Some("V4.4.0".into()),
            new_value: Some("V4.5.1".into()),
            seen_at: t(86_405),
            run_id: Some(r2.run_id),
            source: "run".into(),
        }]
    );
    assert_ne!(r1.run_id, r2.run_id);

    let e = inv.edges.iter().find(|e| e.src == HMI).unwrap();
    assert_eq!(e.operations, vec!["read", "write"]);
    assert_eq!((e.packets, e.bytes, e.sessions), (150, 150 * 64, 2));
    assert_eq!((e.first_seen, e.last_seen), (t(0), t(90_000)));
    assert_eq!(e.polling_period_s, Some(2.0));
    assert_eq!(inv.edges.len(), 2);
    assert!(s.check().unwrap().is_empty());
}

#[test]
fn an_older_capture_ingested_later_does_not_overwrite_newer_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.ingest(&plant("V2.0", 86_400, 90_000), &run("new", 86_400, 90_000))
        .unwrap();
    let out = s
        .ingest(&plant("V1.0", 0, 600), &run("old", 0, 600))
        .unwrap();
    assert_eq!(out.changes, 0);
    let plc = s.asset(PLC).unwrap().unwrap();
    assert_eq!(plc.firmware.as_deref(), Some("V2.0"));
    assert_eq!((plc.first_seen, plc.last_seen), (t(0), t(90_000)));
    assert!(plc.attributes.iter().any(|v| v.value == "V1.0"));
    assert!(s.history(PLC).unwrap().is_empty());
}

#[test]
fn device_type_follows_confidence_and_unknown_never_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.ingest(&plant("V1", 0, 600), &run("a", 0, 600)).unwrap();
    let mut weaker = plant("V1", 1000, 1600);
    weaker.assets[1].device_type = DeviceType::Rtu;
    weaker.assets[1].device_type_confidence = 50;
    weaker.assets[0].device_type = DeviceType::Unknown;
    weaker.assets[0].device_type_confidence = 0;
    s.ingest(&weaker, &run("b", 1000, 1600)).unwrap();
    assert_eq!(s.asset(PLC).unwrap().unwrap().device_type, DeviceType::Plc);
    assert_eq!(s.asset(HMI).unwrap().unwrap().device_type, DeviceType::Hmi);

    let mut stronger = plant("V1", 2000, 2600);
    stronger.assets[0].device_type = DeviceType::ScadaServer;
    stronger.assets[0].device_type_confidence = 80;
    stronger.assets[0].device_type_reasons = vec!["polls 12 controllers".into()];
    let r = s.ingest(&stronger, &run("c", 2000, 2600)).unwrap();
    let hmi = s.asset(HMI).unwrap().unwrap();
    assert_eq!(hmi.device_type, DeviceType::ScadaServer);
    assert_eq!(hmi.device_type_confidence, 80);
    assert_eq!(hmi.device_type_reasons, vec!["polls 12 controllers"]);
    let h = s.history(HMI).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (
            h[0].attribute.as_str(),
            h[0].old_value.as_deref(),
            h[0].new_value.as_deref()
        ),
        ("device_type", Some("hmi"), Some("scada_server"))
    );
    assert_eq!(h[0].run_id, Some(r.run_id));
}

#[test]
fn the_same_capture_twice_is_not_counted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let inv = plant("V1", 0, 600);
    let first = s.ingest(&inv, &run("same", 0, 600)).unwrap();
    let again = s.ingest(&inv, &run("same", 0, 600)).unwrap();
    assert!(!first.already_ingested);
    assert!(again.already_ingested);
    assert_eq!(again.run_id, first.run_id);
    assert_eq!(s.load().unwrap(), inv);
    assert_eq!(s.runs().unwrap().len(), 1);
}

#[test]
fn run_keys_come_from_capture_content_not_paths() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.pcap");
    let b = dir.path().join("copy-of-a.pcap");
    std::fs::write(&a, [0u8; 100]).unwrap();
    std::fs::write(&b, [0u8; 100]).unwrap();
    let ra = RunInfo::files(&[&a], t(0), t(9), 5, 500).unwrap();
    let rb = RunInfo::files(&[&b], t(0), t(9), 5, 500).unwrap();
    let rc = RunInfo::files(&[&a], t(0), t(10), 5, 500).unwrap();
    assert_eq!(ra.key, rb.key);
    assert_ne!(ra.key, rc.key);
    assert_eq!(ra.inputs, vec![a.display().to_string()]);
    let rd = RunInfo::files(&[dir.path()], t(0), t(9), 5, 500).unwrap();
    assert!(rd.key.ends_with("sizes=200"), "{}", rd.key);
}

#[test]
fn a_sensor_adds_its_intervals_under_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let mut info = RunInfo::sensor("eth1", t(0));
    let mut previous = Inventory::default();
    for k in 1..=3u64 {
        // The sensor's model is cumulative: each second the counters have grown.
        let mut cumulative = plant("V1", 0, k * 10);
        cumulative.edges[0].packets = 100 * k;
        cumulative.assets[1].packets_sent = 40 * k;
        info.last_seen = t(k * 10);
        info.packets = 100;
        s.ingest(&counters_since(&previous, &cumulative), &info)
            .unwrap();
        previous = cumulative;
    }
    let inv = s.load().unwrap();
    assert_eq!(inv.edges[0].packets, 300);
    assert_eq!(inv.assets[1].packets_sent, 120);
    let runs = s.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].ingests, runs[0].packets), (3, 300));
    assert_eq!(runs[0].kind, RunKind::Sensor);
    assert_eq!(runs[0].last_seen, t(30));
}

#[test]
fn overrides_survive_reingest_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.ingest(&plant("V1", 0, 600), &run("a", 0, 600)).unwrap();
    s.set_override(PLC, OverrideField::DeviceType, "rtu", "alice")
        .unwrap();
    s.set_override(PLC, OverrideField::Name, "  Pump station 3  ", "alice")
        .unwrap();
    s.set_override(PLC, OverrideField::PurdueLevel, "2", "alice")
        .unwrap();
    let mut next = plant("V1", 1000, 1600);
    next.assets[1].device_type_confidence = 99;
    next.assets[1].purdue_level = Some(0);
    next.assets[1].hostname = Some("plc-renamed".into());
    s.ingest(&next, &run("b", 1000, 1600)).unwrap();

    let plc = s.asset(PLC).unwrap().unwrap();
    assert_eq!(plc.device_type, DeviceType::Rtu);
    assert_eq!(plc.device_type_confidence, 100);
    assert!(plc.device_type_reasons[0].starts_with("set by alice at "));
    assert_eq!(plc.hostname.as_deref(), Some("Pump station 3"));
    assert!(plc.names.contains(&"plc-renamed".to_string()));
    assert_eq!(plc.purdue_level, Some(2));
    assert_eq!(
        plc.user_overrides,
        vec!["device_type", "name", "purdue_level"]
    );
    assert!(plc.attributes.iter().any(|v| v.attribute == "name"
        && v.value == "Pump station 3"
        && v.confidence == 100
        && v.sources[0].source == "user"));

    let h = s.history(PLC).unwrap();
    let user: Vec<_> = h.iter().filter(|c| c.source == "user:alice").collect();
    assert_eq!(user.len(), 3);
    assert!(user.iter().all(|c| c.run_id.is_none()));
    // The observed change is still recorded beneath the override.
    assert!(h.iter().any(|c| c.attribute == "purdue_level"
        && c.new_value.as_deref() == Some("0")
        && c.source == "run"));

    assert_eq!(s.overrides(PLC).unwrap().len(), 3);
    assert_eq!(
        s.clear_overrides(PLC, Some(OverrideField::Name), "bob")
            .unwrap(),
        1
    );
    assert_eq!(s.clear_overrides(PLC, None, "bob").unwrap(), 2);
    let plc = s.asset(PLC).unwrap().unwrap();
    assert_eq!(plc.device_type, DeviceType::Plc);
    assert_eq!(plc.hostname.as_deref(), Some("plc-renamed"));
    assert_eq!(plc.purdue_level, Some(0));
    assert!(plc.user_overrides.is_empty());
    let cleared = s.history(PLC).unwrap();
    assert_eq!(
        cleared
            .iter()
            .filter(|c| c.source == "user:bob" && c.new_value.is_none())
            .count(),
        3
    );
}

#[test]
fn rejects_bad_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.ingest(&plant("V1", 0, 600), &run("a", 0, 600)).unwrap();
    for (f, v) in [
        (OverrideField::DeviceType, "toaster"),
        (OverrideField::PurdueLevel, "6"),
        (OverrideField::PurdueLevel, "-1"),
        (OverrideField::Name, "   "),
        (OverrideField::Name, "a\nb"),
    ] {
        assert!(
            matches!(
                s.set_override(PLC, f, v, "x"),
                Err(StoreError::Invalid { .. })
            ),
            "{f:?} {v:?}"
        );
    }
    assert!(matches!(
        s.set_override("ip:10.9.9.9", OverrideField::Name, "x", "x"),
        Err(StoreError::NoSuchAsset(_))
    ));
    assert!(s.overrides(PLC).unwrap().is_empty());
}

#[test]
fn edges_to_assets_not_in_the_run_get_bare_assets() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let inv = Inventory {
        assets: vec![asset(HMI, 0, 10)],
        edges: vec![
            edge(HMI, "ip:203.0.113.7", 3, &["read"], 0, 10),
            edge(HMI, "mac:02:00:00:00:00:01", 1, &[], 0, 10),
        ],
    };
    let out = s.ingest(&inv, &run("a", 0, 10)).unwrap();
    assert_eq!(out.stub_assets, 2);
    let got = s.load().unwrap();
    let ip = got
        .assets
        .iter()
        .find(|a| a.id == "ip:203.0.113.7")
        .unwrap();
    assert_eq!(ip.ips, vec![IpAddr::from([203, 0, 113, 7])]);
    let mac = got
        .assets
        .iter()
        .find(|a| a.id.starts_with("mac:02"))
        .unwrap();
    assert_eq!(mac.mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
    assert_eq!(mac.mac_locally_administered, Some(true));
    assert_eq!(got.edges.len(), 2);
    // A later run that knows the asset fills it in.
    let mut known = asset("ip:203.0.113.7", 20, 30);
    known.hostname = Some("historian".into());
    s.ingest(
        &Inventory {
            assets: vec![known],
            edges: vec![],
        },
        &run("b", 20, 30),
    )
    .unwrap();
    let h = s.asset("ip:203.0.113.7").unwrap().unwrap();
    assert_eq!(h.hostname.as_deref(), Some("historian"));
    assert_eq!((h.first_seen, h.last_seen), (t(0), t(30)));
}

#[test]
fn hostile_text_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let hostile = [
        "\"quoted\" 'single' `tick`",
        "line1\nline2\r\n\ttab",
        "<script>&amp;</script>",
        "制御盤-第1ライン",
        "nul\0byte",
        "'); DROP TABLE assets; --",
        "\u{1b}[31mred\u{1b}[0m",
    ];
    let mut a = asset(PLC, 0, 10);
    a.hostname = Some(hostile[0].into());
    a.model = Some(hostile[2].into());
    a.names = hostile.iter().map(|s| s.to_string()).collect();
    a.names.sort();
    a.attributes = hostile
        .iter()
        .map(|h| attr("description", h, 50, h, 0, 10))
        .collect();
    a.attributes
        .sort_by(|x, y| (&x.attribute, &x.value).cmp(&(&y.attribute, &y.value)));
    let mut e = edge(PLC, HMI, 1, &[hostile[5], hostile[3]], 0, 10);
    e.operations.sort();
    e.protocol = Some(hostile[1].into());
    e.transport = hostile[4].into();
    let inv = Inventory {
        assets: vec![asset(HMI, 0, 10), a],
        edges: vec![e],
    };
    s.ingest(&inv, &run(hostile[5], 0, 10)).unwrap();
    assert_eq!(s.load().unwrap(), inv);
    assert_eq!(s.runs().unwrap()[0].key, hostile[5]);
}

#[test]
fn counters_since_subtracts_matching_counters() {
    let before = plant("V1", 0, 10);
    let mut now = plant("V1", 0, 20);
    now.edges[0].packets = 130;
    now.assets[0].packets_sent = 10; // fewer than before: saturates
    let d = counters_since(&before, &now);
    assert_eq!(d.edges[0].packets, 30);
    assert_eq!(d.assets[0].packets_sent, 0);
    assert_eq!(d.assets[1].packets_sent, 0);
    assert_eq!(d.assets[1].last_seen, t(20));
}

#[test]
fn counters_since_leaves_out_what_did_not_change() {
    let before = plant("V1", 0, 10);
    let mut now = before.clone();
    assert_eq!(counters_since(&before, &now), Inventory::default());
    // The PLC answered once more; the HMI and the edge are as they were.
    now.assets[1].packets_sent += 1;
    now.assets[1].last_seen = t(11);
    let d = counters_since(&before, &now);
    assert!(d.edges.is_empty());
    assert_eq!(d.assets.len(), 1);
    assert_eq!(
        (d.assets[0].id.as_str(), d.assets[0].packets_sent),
        (PLC, 1)
    );
    // A new asset goes in whole.
    let mut new = asset("mac:00:00:00:00:00:99", 5, 6);
    new.packets_sent = 3;
    now.assets.push(new);
    let d = counters_since(&before, &now);
    assert_eq!(d.assets.len(), 2);
    assert_eq!(d.assets[1].packets_sent, 3);
}

#[test]
fn synthetic_inventories_round_trip_and_update() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let g0 = synthetic::inventory(300, 2000, 0);
    assert_eq!(g0.edges.len(), 2000);
    s.ingest(&g0, &run("g0", 0, 3600)).unwrap();
    assert_eq!(s.load().unwrap(), g0);
    let out = s
        .ingest(&synthetic::inventory(300, 2000, 1), &run("g1", 3600, 7200))
        .unwrap();
    assert_eq!((out.assets_updated, out.edges_updated), (300, 2000));
    // Every tenth asset changed firmware.
    assert_eq!(out.changes, 30);
    let inv = s.load().unwrap();
    assert_eq!(inv.edges[0].packets, g0.edges[0].packets * 2);
}

// --- property tests -------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.-]{1,12}",
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
        Just("制御盤".to_string()),
    ]
}

fn arb_asset() -> impl Strategy<Value = Asset> {
    (
        any::<[u8; 6]>(),
        proptest::collection::btree_set(any::<[u8; 4]>(), 0..3),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::collection::btree_set(text(), 0..3),
        0..DeviceType::ALL.len(),
        proptest::option::of(0u8..=5),
        (0u64..1_000_000, 0u64..1_000_000),
        proptest::collection::btree_map((text(), text()), (0u8..=100, text()), 0..4),
    )
        .prop_map(|(mac, ips, vendor, fw, names, ty, purdue, (p, b), attrs)| {
            let mac = MacAddr(mac);
            let mut a = asset(&format!("mac:{mac}"), 10, 20);
            a.mac = Some(mac);
            a.mac_locally_administered = Some(mac.is_local());
            a.ips = ips.into_iter().map(IpAddr::from).collect();
            a.vendor = vendor;
            a.firmware = fw;
            a.names = names.into_iter().collect();
            a.device_type = DeviceType::ALL[ty];
            a.device_type_confidence = 70;
            a.purdue_level = purdue;
            a.packets_sent = p;
            a.bytes_sent = b;
            a.attributes = attrs
                .into_iter()
                .map(|((k, v), (c, src))| attr(&k, &v, c, &src, 10, 20))
                .collect();
            a
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Any inventory ingested into an empty store reads back exactly; ingested again as
    /// a new run, its counters double and nothing else changes.
    #[test]
    fn any_inventory_round_trips(
        assets in proptest::collection::btree_map(any::<u8>(), arb_asset(), 1..6),
        slot in proptest::option::of(any::<u8>()),
    ) {
        let mut assets: Vec<Asset> = assets.into_values().collect();
        assets.sort_by(|x, y| x.id.cmp(&y.id));
        assets.dedup_by(|x, y| x.id == y.id);
        // A module behind the first asset, sometimes.
        if let Some(slot) = slot {
            let mut m = asset(&format!("{}/1:{slot}", assets[0].id), 10, 20);
            m.mac = None;
            m.mac_locally_administered = None;
            m.via = Some(assets[0].id.clone());
            m.route = Some(format!("backplane slot {slot}"));
            m.model = Some("1756-L61/B LOGIX5561".into());
            assets.push(m);
            assets.sort_by(|x, y| x.id.cmp(&y.id));
        }
        let edges = if assets.len() > 1 {
            vec![edge(&assets[0].id, &assets[1].id, 5, &["read"], 10, 20)]
        } else {
            vec![]
        };
        let inv = Inventory { assets, edges };
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.ingest(&inv, &run("one", 10, 20)).unwrap();
        prop_assert_eq!(&s.load().unwrap(), &inv);
        let out = s.ingest(&inv, &run("two", 10, 20)).unwrap();
        prop_assert_eq!(out.changes, 0);
        let twice = s.load().unwrap();
        for (a, b) in twice.assets.iter().zip(&inv.assets) {
            prop_assert_eq!(a.packets_sent, b.packets_sent * 2);
            prop_assert_eq!(&a.attributes, &b.attributes);
        }
        prop_assert!(s.check().unwrap().is_empty());
    }
}

// --- durability -----------------------------------------------------------------------

const KILL_CHILD_ENV: &str = "YAGURA_STORE_KILL_TEST_DB";
const KILL_ASSETS: usize = 400;
const KILL_EDGES: usize = 4000;

/// In the child: ingest the same synthetic inventory as new runs, forever (until killed).
fn kill_child(path: &str) -> ! {
    let mut s = SqliteStore::open(path).expect("child opens the store");
    let inv = synthetic::inventory(KILL_ASSETS, KILL_EDGES, 0);
    let pid = std::process::id();
    for k in 0u64.. {
        s.ingest(&inv, &run(&format!("child-{pid}-{k}"), 0, 3600))
            .expect("child ingests");
    }
    unreachable!()
}

#[test]
fn a_killed_writer_leaves_a_consistent_database() {
    if let Ok(path) = std::env::var(KILL_CHILD_ENV) {
        kill_child(&path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.db");
    drop(SqliteStore::open(&path).unwrap());
    let exe = std::env::current_exe().unwrap();
    let runs = |p: &Path| -> usize {
        let s = SqliteStore::open(p).unwrap();
        s.runs().unwrap().len()
    };
    let mut seen = 0;
    for round in 0..4u64 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "tests::a_killed_writer_leaves_a_consistent_database",
                "--test-threads=1",
            ])
            .env(KILL_CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Let it commit a run or two, then kill it at an arbitrary point (varying the
        // delay so the kill lands in different phases of an ingest).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while runs(&path) < seen + 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "child made no progress"
            );
            assert!(child.try_wait().unwrap().is_none(), "child exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(7 + 13 * round));
        child.kill().unwrap(); // SIGKILL: no destructor, no rollback, no checkpoint
        child.wait().unwrap();

        // Restarts cleanly: opens, passes SQLite's checks, and holds exactly the
        // committed runs — every counter is a whole multiple of one run's.
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.check().unwrap(), Vec::<String>::new());
        let n = s.runs().unwrap().len() as u64;
        assert!(n as usize >= seen + 2);
        seen = n as usize;
        let inv = s.load().unwrap();
        let one = synthetic::inventory(KILL_ASSETS, KILL_EDGES, 0);
        assert_eq!(inv.assets.len(), KILL_ASSETS);
        assert_eq!(inv.edges.len(), KILL_EDGES);
        for (got, base) in inv.assets.iter().zip(&one.assets) {
            assert_eq!(got.packets_sent, base.packets_sent * n, "{}", got.id);
        }
        for (got, base) in inv.edges.iter().zip(&one.edges) {
            assert_eq!(got.sessions, base.sessions * n);
            assert_eq!(got.packets, base.packets * n);
        }
    }
}

/// Version 4: a version-3 database with an inventory gains the baseline and the alerts;
/// a run's alerts fold into the open alert of the same behaviour, mutes suppress, a closed
/// alert does not fold, and every change is in the history.
#[test]
fn migrates_a_version_3_database_and_keeps_alerts_baseline_and_history() {
    use std::collections::HashMap;
    use yagura_detect::{Alert, AlertKind, Endpoint, EvidencePacket, Lang, PacketRef, Status};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    {
        let mut old = SqliteStore::open_at(&path, 3, true).unwrap();
        old.ingest(&plant("V1.0", 0, 3600), &run("old", 0, 3600))
            .unwrap();
        assert!(old.conn().prepare("SELECT 1 FROM alerts").is_err());
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SqliteStore::LATEST_SCHEMA);
    assert!(s.baseline().unwrap().is_empty());
    let learned = s
        .update_baseline(|b| b.learn(&plant("V1.0", 0, 3600)))
        .unwrap();
    assert!(learned.assets_new >= 2);
    assert_eq!(
        s.baseline().unwrap().assets.len() as u64,
        learned.assets_new
    );

    let hmi: IpAddr = "10.0.0.10".parse().unwrap();
    let plc: IpAddr = "10.0.0.1".parse().unwrap();
    let alert = |count: u64, at: u64, index: u64| Alert {
        id: 1,
        first_seen: Timestamp(T0 + at * S),
        last_seen: Timestamp(T0 + at * S),
        count,
        engine: AlertKind::PlcStop.engine(),
        kind: AlertKind::PlcStop,
        severity: AlertKind::PlcStop.severity(),
        title: AlertKind::PlcStop.title(Lang::En).into(),
        title_ja: AlertKind::PlcStop.title(Lang::Ja).into(),
        description: "stop".into(),
        src: Endpoint {
            ip: Some(hmi),
            mac: None,
            port: Some(50000),
        },
        dst: Endpoint {
            ip: Some(plc),
            mac: None,
            port: Some(102),
        },
        protocol: Some("s7comm".into()),
        function: None,
        status: Status::New,
        evidence: vec![PacketRef {
            index,
            time: Timestamp(T0 + at * S),
        }],
    };
    let packets: HashMap<u64, EvidencePacket> = [7u64, 9]
        .into_iter()
        .map(|i| {
            (
                i,
                EvidencePacket {
                    index: i,
                    time: Timestamp(T0 + i * S),
                    link: 1,
                    orig_len: 60,
                    data: vec![i as u8; 60],
                },
            )
        })
        .collect();
    let now = Timestamp(T0 + 10_000 * S);
    let r = s
        .record_alerts(&[alert(2, 7, 7)], &packets, None, now)
        .unwrap();
    assert_eq!((r.new, r.folded, r.muted), (1, 0, 0));
    let id = r.ids[0].unwrap();
    s.set_alert_status(id, Status::Acknowledged, "sato", Some("known"), now)
        .unwrap();
    let r = s
        .record_alerts(&[alert(3, 9, 9)], &packets, None, now)
        .unwrap();
    assert_eq!((r.new, r.folded), (0, 1));
    let a = s.alert(id).unwrap().unwrap().alert;
    assert_eq!(a.count, 5);
    assert_eq!(a.status, Status::Acknowledged);
    assert_eq!(
        (a.first_seen, a.last_seen),
        (Timestamp(T0 + 7 * S), Timestamp(T0 + 9 * S))
    );
    let ev = s.alert_evidence(id).unwrap();
    assert_eq!(ev.iter().map(|p| p.index).collect::<Vec<_>>(), [7, 9]);
    assert_eq!(ev[1].data, vec![9u8; 60]);

    // Closed: the next occurrence is a new alert; muted: none.
    s.set_alert_status(id, Status::Closed, "sato", None, now)
        .unwrap();
    let r = s
        .record_alerts(&[alert(1, 11, 9)], &packets, None, now)
        .unwrap();
    assert_eq!(r.new, 1);
    let second = r.ids[0].unwrap();
    assert_ne!(second, id);
    assert_eq!(s.mute_alert(second, "sato", None, now).unwrap(), [second]);
    let r = s
        .record_alerts(&[alert(1, 12, 9)], &packets, None, now)
        .unwrap();
    assert_eq!((r.new, r.folded, r.muted), (0, 0, 1));
    assert_eq!(r.ids, [None]);

    let h: Vec<(String, Option<Status>, Status)> = s
        .alert_history(id)
        .unwrap()
        .into_iter()
        .map(|c| (c.actor, c.from, c.to))
        .collect();
    assert_eq!(
        h,
        [
            ("yagura".into(), None, Status::New),
            ("sato".into(), Some(Status::New), Status::Acknowledged),
            ("sato".into(), Some(Status::Acknowledged), Status::Closed),
        ]
    );
    let listed = s
        .alerts(&AlertFilter {
            status: Some(Status::Muted),
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].alert.id, second);
    assert!(s.check().unwrap().is_empty());
    assert!(matches!(
        s.set_alert_status(999, Status::Closed, "x", None, now),
        Err(StoreError::NoSuchAlert(999))
    ));
}

/// A run is one transaction: when its evidence cannot be read, neither its inventory, nor
/// what it would teach the baseline, nor its alerts are kept, and the run can be done again.
#[test]
fn a_run_that_fails_half_way_leaves_nothing_and_can_be_done_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(dir.path().join("y.db")).unwrap();
    let inv = plant("V1.0", 0, 3600);
    let alert = yagura_detect::Alert {
        id: 1,
        first_seen: Timestamp(T0),
        last_seen: Timestamp(T0),
        count: 1,
        engine: yagura_detect::AlertKind::PlcStop.engine(),
        kind: yagura_detect::AlertKind::PlcStop,
        severity: yagura_detect::AlertKind::PlcStop.severity(),
        title: "t".into(),
        title_ja: "t".into(),
        description: "d".into(),
        src: yagura_detect::Endpoint::default(),
        dst: yagura_detect::Endpoint::default(),
        protocol: None,
        function: None,
        status: yagura_detect::Status::New,
        evidence: Vec::new(),
    };
    let learn = |b: &mut yagura_detect::baseline::Baseline| Some(b.learn(&inv));
    let failed = s.ingest_run(
        &inv,
        &run("r", 0, 3600),
        learn,
        std::slice::from_ref(&alert),
        || Err("input gone".to_owned()),
        Timestamp(T0),
    );
    assert!(matches!(
        failed,
        Err(StoreError::Invalid {
            field: "evidence",
            ..
        })
    ));
    assert!(s.load().unwrap().assets.is_empty());
    assert!(s.baseline().unwrap().is_empty());
    assert!(s.alerts(&AlertFilter::default()).unwrap().is_empty());
    let (o, learned, recorded) = s
        .ingest_run(
            &inv,
            &run("r", 0, 3600),
            learn,
            std::slice::from_ref(&alert),
            || Ok(Default::default()),
            Timestamp(T0),
        )
        .unwrap();
    assert!(!o.already_ingested);
    assert!(learned.unwrap().assets_new >= 2);
    assert_eq!(recorded.unwrap().new, 1);
    // Again: the run is known; the baseline learns nothing new, no alert is recorded.
    let (o, learned, recorded) = s
        .ingest_run(
            &inv,
            &run("r", 0, 3600),
            learn,
            std::slice::from_ref(&alert),
            || Ok(Default::default()),
            Timestamp(T0),
        )
        .unwrap();
    assert!(o.already_ingested);
    assert_eq!(learned.unwrap(), Default::default());
    assert!(recorded.is_none());
    assert_eq!(s.alerts(&AlertFilter::default()).unwrap().len(), 1);
}

fn indicator(
    kind: &str,
    value: &str,
    source: &str,
    name: Option<&str>,
) -> yagura_detect::intel::Indicator {
    yagura_detect::intel::Indicator {
        kind: yagura_detect::intel::IndicatorKind::from_id(kind).unwrap(),
        value: value.into(),
        source: source.into(),
        name: name.map(Into::into),
        description: None,
        stix_id: None,
        valid_from: None,
        valid_until: None,
    }
}

#[test]
fn importing_indicators_again_changes_nothing_and_a_source_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let feed = |v: Vec<yagura_detect::intel::Indicator>| vec![("feed.txt".to_owned(), v)];
    let first = vec![
        indicator("ip", "198.51.100.7", "feed.txt", None),
        indicator("domain", "evil.example", "feed.txt", Some("C2")),
        indicator("sha256", &"ab".repeat(32), "feed.txt", None),
    ];
    let o = s.import_indicators(&feed(first.clone()), t(10)).unwrap();
    assert_eq!(
        (o[0].new, o[0].updated, o[0].unchanged, o[0].removed),
        (3, 0, 0, 0)
    );
    let o = s.import_indicators(&feed(first.clone()), t(20)).unwrap();
    assert_eq!(
        (o[0].new, o[0].updated, o[0].unchanged, o[0].removed),
        (0, 0, 3, 0)
    );
    assert_eq!(s.indicators().unwrap().len(), 3);
    // Another source holding the same value is a row of its own.
    s.import_indicators(
        &[(
            "other".to_owned(),
            vec![indicator("ip", "198.51.100.7", "other", None)],
        )],
        t(25),
    )
    .unwrap();
    // The feed renames one, drops one, adds one.
    let second = vec![
        indicator("ip", "198.51.100.7", "feed.txt", None),
        indicator("domain", "evil.example", "feed.txt", Some("C2 server")),
        indicator("ip", "203.0.113.0/24", "feed.txt", None),
    ];
    let o = s.import_indicators(&feed(second.clone()), t(30)).unwrap();
    assert_eq!(
        (o[0].new, o[0].updated, o[0].unchanged, o[0].removed),
        (1, 1, 1, 1)
    );
    let stored = s.indicators().unwrap();
    let of_feed: Vec<_> = stored
        .iter()
        .filter(|i| i.indicator.source == "feed.txt")
        .collect();
    assert_eq!(of_feed.len(), 3);
    let renamed = of_feed
        .iter()
        .find(|i| i.indicator.value == "evil.example")
        .unwrap();
    assert_eq!(renamed.indicator.name.as_deref(), Some("C2 server"));
    assert_eq!((renamed.imported_at, renamed.updated_at), (t(10), t(30)));
    assert_eq!(stored.len(), 4);
    // A batch whose indicators name another source changes nothing.
    let bad = vec![(
        "feed.txt".to_owned(),
        vec![indicator("ip", "192.0.2.1", "x", None)],
    )];
    assert!(s.import_indicators(&bad, t(40)).is_err());
    assert_eq!(s.indicators().unwrap().len(), 4);
    assert_eq!(s.remove_indicators("feed.txt").unwrap(), 3);
    assert_eq!(s.remove_indicators("feed.txt").unwrap(), 0);
    assert_eq!(s.indicators().unwrap().len(), 1);
}

#[test]
fn expired_indicators_are_not_active() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let mut old = indicator("domain", "old.example", "f", None);
    old.valid_until = Some(t(100));
    let mut later = indicator("domain", "later.example", "f", None);
    later.valid_until = Some(t(300));
    let always = indicator("domain", "always.example", "f", None);
    s.import_indicators(&[("f".to_owned(), vec![old, later, always])], t(1))
        .unwrap();
    let active = |now| -> Vec<String> {
        s.active_indicators(t(now))
            .unwrap()
            .into_iter()
            .map(|i| i.value)
            .collect()
    };
    assert_eq!(active(50).len(), 3);
    assert_eq!(active(200), ["always.example", "later.example"]);
    assert_eq!(active(300), ["always.example"]);
}

#[test]
fn migrates_a_version_4_database_to_intel_keeping_its_alerts_and_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    {
        let mut old = SqliteStore::open_at(&path, 4, true).unwrap();
        old.ingest(&plant("V1.0", 0, 3600), &run("old", 0, 3600))
            .unwrap();
        old.update_baseline(|b| b.learn(&plant("V1.0", 0, 3600)))
            .unwrap();
        assert!(
            old.conn()
                .prepare("SELECT 1 FROM intel_indicators")
                .is_err()
        );
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SqliteStore::LATEST_SCHEMA);
    assert!(!s.baseline().unwrap().is_empty());
    assert_eq!(
        s.load().unwrap().assets.len(),
        plant("V1.0", 0, 3600).assets.len()
    );
    assert!(s.indicators().unwrap().is_empty());
    s.import_indicators(
        &[(
            "f".to_owned(),
            vec![indicator("md5", &"0".repeat(32), "f", None)],
        )],
        t(1),
    )
    .unwrap();
    assert_eq!(s.indicators().unwrap().len(), 1);
    assert!(s.check().unwrap().is_empty());
}

/// Version 6: the sensor's learning period is begun once and then kept: a second begin
/// (a restarted sensor, whatever length it asks for) gets the first period back.
#[test]
fn a_learning_period_is_begun_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    {
        // A version-4 database gains the table.
        let old = SqliteStore::open_at(&path, 4, true).unwrap();
        assert!(old.conn().prepare("SELECT 1 FROM learning_period").is_err());
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.learning_period().unwrap(), None);
    let day = std::time::Duration::from_secs(86_400);
    let (p, begun) = s
        .begin_learning_period(Timestamp(T0), 14 * day, "sensor")
        .unwrap();
    assert!(begun);
    assert_eq!(p.started, Timestamp(T0));
    assert_eq!(p.until, Timestamp(T0 + 14 * 86_400 * S));
    assert!(p.is_open(Timestamp(T0 + 13 * 86_400 * S)));
    assert!(!p.is_open(p.until));
    drop(s);
    let mut s = SqliteStore::open(&path).unwrap();
    let (again, begun) = s
        .begin_learning_period(Timestamp(T0 + 3 * 86_400 * S), day, "sensor")
        .unwrap();
    assert!(!begun);
    assert_eq!(again, p);
    assert_eq!(s.learning_period().unwrap(), Some(p));
    // A length beyond the clock's range ends at its end instead of wrapping.
    let far = dir.path().join("far.db");
    let mut f = SqliteStore::open(&far).unwrap();
    let (p, _) = f
        .begin_learning_period(Timestamp(T0), std::time::Duration::MAX, "sensor")
        .unwrap();
    assert!(p.is_open(Timestamp(T0 + 100 * 365 * 86_400 * S)));
}

/// A sensor records the increase of an alert since its last flush: a fold of 0 more moves
/// `last_seen` and adds nothing; a new alert counts at least one. Evidence kept without
/// bytes is listed as such.
#[test]
fn a_repeat_with_nothing_more_adds_nothing_and_evidence_without_bytes_is_listed() {
    use std::collections::HashMap;
    use yagura_detect::{AlertKind, Endpoint, EvidencePacket, PacketRef, Status};
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(dir.path().join("y.db")).unwrap();
    let kind = AlertKind::PlcStop;
    let mut a = yagura_detect::Alert {
        id: 1,
        first_seen: Timestamp(T0),
        last_seen: Timestamp(T0),
        count: 3,
        engine: kind.engine(),
        kind,
        severity: kind.severity(),
        title: "t".into(),
        title_ja: "t".into(),
        description: "d".into(),
        src: Endpoint {
            ip: Some("10.0.0.1".parse().unwrap()),
            mac: None,
            port: None,
        },
        dst: Endpoint::default(),
        protocol: Some("s7comm".into()),
        function: None,
        status: Status::New,
        evidence: vec![
            PacketRef {
                index: 10,
                time: Timestamp(T0),
            },
            PacketRef {
                index: 11,
                time: Timestamp(T0 + 1),
            },
        ],
    };
    let kept = HashMap::from([(
        10,
        EvidencePacket {
            index: 10,
            time: Timestamp(T0),
            link: 1,
            orig_len: 60,
            data: vec![0xab; 60],
        },
    )]);
    let now = Timestamp(T0);
    let r = s.record_alerts(&[a.clone()], &kept, None, now).unwrap();
    let id = r.ids[0].unwrap();
    assert_eq!(s.alert(id).unwrap().unwrap().alert.evidence.len(), 2);
    assert_eq!(s.alert_evidence(id).unwrap().len(), 1);
    assert_eq!(s.alert_evidence_without_bytes(id).unwrap(), vec![11]);
    a.count = 0;
    a.last_seen = Timestamp(T0 + 5 * S);
    let r = s.record_alerts(&[a.clone()], &kept, None, now).unwrap();
    assert_eq!((r.new, r.folded), (0, 1));
    let stored = s.alert(id).unwrap().unwrap().alert;
    assert_eq!(stored.count, 3);
    assert_eq!(stored.last_seen, Timestamp(T0 + 5 * S));
    s.set_alert_status(id, Status::Closed, "op", None, now)
        .unwrap();
    let r = s.record_alerts(&[a], &kept, None, now).unwrap();
    assert_eq!(r.new, 1);
    assert_eq!(s.alert(r.ids[0].unwrap()).unwrap().unwrap().alert.count, 1);
}
