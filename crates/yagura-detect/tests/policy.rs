//! The baseline and the policy engine over corpus captures: learning on the first part of
//! a capture and detecting on the rest (issue 5 §5), every policy kind triggered by a
//! baseline that lacks one fact, and its benign neighbour (the full baseline) silent.

use std::ops::Range;
use std::sync::atomic::AtomicBool;

use yagura_capture::{CaptureError, PacketBatch, PacketSource, SourceStats};
use yagura_detect::baseline::{Baseline, BaselineIndex};
use yagura_detect::{Alert, AlertBook, AlertKind, policy};
use yagura_engine::{EngineConfig, Progress, Report};
use yagura_model::fusion::{Built, build_detailed};

/// The packets of `inner` whose input index is in `range` (indexes kept as in the whole
/// input, as the evidence of a sensor that ran on).
struct Part {
    inner: Box<dyn PacketSource>,
    range: Range<u64>,
}

impl PacketSource for Part {
    fn next_batch(&mut self, max: usize) -> Result<Option<PacketBatch>, CaptureError> {
        loop {
            let Some(mut b) = self.inner.next_batch(max)? else {
                return Ok(None);
            };
            let end = b.first_index + b.len() as u64;
            if end <= self.range.start {
                continue;
            }
            if b.first_index >= self.range.end {
                return Ok(None);
            }
            let skip = self.range.start.saturating_sub(b.first_index) as usize;
            let keep = (self.range.end.min(end) - b.first_index) as usize;
            b.records.truncate(keep);
            b.records.drain(..skip);
            b.first_index += skip as u64;
            return Ok(Some(b));
        }
    }

    fn stats(&self) -> SourceStats {
        self.inner.stats()
    }
}

fn run(rel: &str, range: Range<u64>) -> (Report, Built) {
    let path = yagura_testkit::corpus(&format!("pcap/{rel}"));
    let inner = yagura_capture::file::open_paths(std::slice::from_ref(&path)).expect("open");
    let mut src = Part { inner, range };
    let report = yagura_engine::run(
        &mut src,
        &EngineConfig::default(),
        &Progress::default(),
        &AtomicBool::new(false),
    )
    .expect("analyze");
    let built = build_detailed(&report);
    (report, built)
}

fn whole(rel: &str) -> (Report, Built) {
    run(rel, 0..u64::MAX)
}

fn learned(built: &Built) -> Baseline {
    let mut b = Baseline::default();
    b.learn(&built.inventory);
    b
}

fn policy_alerts(b: &Baseline, (report, built): &(Report, Built)) -> Vec<Alert> {
    let mut book = AlertBook::new();
    policy::raise(&mut book, &BaselineIndex::new(b), report, built);
    book.finish().alerts
}

/// `(kind, src, dst, protocol)` of each alert.
fn summary(alerts: &[Alert]) -> Vec<(AlertKind, String, String, Option<String>)> {
    alerts
        .iter()
        .map(|a| {
            let side = |e: &yagura_detect::Endpoint| {
                e.ip.map(|i| i.to_string())
                    .or(e.mac.map(|m| m.to_string()))
                    .unwrap_or_default()
            };
            (a.kind, side(&a.src), side(&a.dst), a.protocol.clone())
        })
        .collect()
}

const MB2: &str = "modbus/iti__mb2.pcap";

#[test]
fn learning_on_two_thirds_of_a_plant_capture_leaves_a_handful_of_explained_alerts() {
    // 13,472 packets; learn on the first 8,981, detect on the rest.
    let (_, first) = run(MB2, 0..8_981);
    let rest = run(MB2, 8_981..u64::MAX);
    let b = learned(&first);
    let alerts = policy_alerts(&b, &rest);
    let k = |s: &str| s.to_owned();
    assert_eq!(
        summary(&alerts),
        vec![
            (AlertKind::NewAsset, k("142.81.0.192"), k(""), None),
            (AlertKind::NewAsset, k("141.81.0.191"), k(""), None),
            (
                AlertKind::NewProtocol,
                k("141.81.0.182"),
                k("141.81.0.10"),
                Some(k("smb"))
            ),
            (AlertKind::NewAsset, k("00:1b:1b:02:e6:0f"), k(""), None),
            (AlertKind::NewAsset, k("141.81.0.122"), k(""), None),
        ]
    );
    for a in &alerts {
        // Explained: who, and which baseline fact it broke.
        assert!(a.description.contains("baseline"), "{a:?}");
        // Every alert's evidence lies in the analysed part.
        assert!(a.evidence.iter().all(|p| p.index >= 8_981), "{a:?}");
    }
    // The new protocol carries its first packet as evidence.
    assert_eq!(alerts[2].evidence.len(), 1);
}

#[test]
fn a_capture_against_its_own_baseline_raises_nothing() {
    for rel in [
        MB2,
        "modbus/zeek__modbusBig.pcap",
        "enip/iti__EthernetIP-CIP.pcap",
        "s7comm/iti__wrapup.pcapng",
        "bacnet/icsnpp-bacnet__bacnet_services.pcap",
        "dnp3/iti__dnp3_test_data_part1.pcap",
    ] {
        let path = yagura_testkit::corpus(&format!("pcap/{rel}"));
        if !path.exists() {
            panic!("corpus capture {rel} missing");
        }
        let run = whole(rel);
        let alerts = policy_alerts(&learned(&run.1), &run);
        assert!(alerts.is_empty(), "{rel}: {:#?}", summary(&alerts));
    }
}

#[test]
fn an_empty_baseline_makes_every_asset_new_and_every_pair_a_new_connection() {
    let run = whole("modbus/zeek__modbusSmall.pcap");
    let alerts = policy_alerts(&Baseline::default(), &run);
    let assets = run.1.inventory.assets.len();
    // One alert per pair and protocol (its ports fold).
    let pairs: std::collections::BTreeSet<(&str, &str, Option<&str>)> = run
        .1
        .inventory
        .edges
        .iter()
        .map(|e| (e.src.as_str(), e.dst.as_str(), e.protocol.as_deref()))
        .collect();
    let count = |k: AlertKind| alerts.iter().filter(|a| a.kind == k).count();
    assert_eq!(count(AlertKind::NewAsset), assets);
    // This capture's server is a public address seen through a router: its connections
    // are new internet connectivity rather than plain new connections.
    assert!(count(AlertKind::UnauthorizedInternetConnectivity) >= 1);
    assert_eq!(
        count(AlertKind::NewConnection) + count(AlertKind::UnauthorizedInternetConnectivity),
        pairs.len()
    );
    assert_eq!(
        count(AlertKind::NewMaster),
        0,
        "no server has learned clients"
    );
}

/// A Modbus capture whose client writes: the baseline without `write` on that connection
/// raises unauthorized_write; with it, nothing.
#[test]
fn a_write_the_baseline_never_saw_is_unauthorized() {
    let rel = "modbus/zeek__modbusSmall.pcap";
    let run = whole(rel);
    let full = learned(&run.1);
    let writers: Vec<_> = full
        .connections
        .iter()
        .filter(|c| c.protocol.as_deref() == Some("modbus"))
        .filter(|c| c.operations.iter().any(|o| o == "write"))
        .map(|c| c.key())
        .collect();
    assert!(!writers.is_empty(), "the capture writes over Modbus");
    let mut b = full.clone();
    for c in &mut b.connections {
        c.operations.retain(|o| o != "write");
    }
    let alerts = policy_alerts(&b, &run);
    assert_eq!(alerts.len(), writers.len(), "{:#?}", summary(&alerts));
    assert!(
        alerts
            .iter()
            .all(|a| a.kind == AlertKind::UnauthorizedWrite)
    );
    assert!(alerts[0].description.contains("only read"));
    assert!(policy_alerts(&full, &run).is_empty());
}

/// A server with a learned Modbus client: another client of it is a new master (not a new
/// connection); the same client is silent.
#[test]
fn a_new_client_of_a_learned_industrial_server_is_a_new_master() {
    let run = whole(MB2);
    let full = learned(&run.1);
    // A Modbus connection; re-attribute it in the baseline to another client, so that the
    // real one is new and the server has one other learned client.
    let c = full
        .connections
        .iter()
        .find(|c| c.protocol.as_deref() == Some("modbus"))
        .expect("a modbus connection")
        .clone();
    let mut b = full.clone();
    for x in &mut b.connections {
        if x.src == c.src && x.dst == c.dst {
            x.src = "mac:02:00:00:00:00:99".into();
        }
    }
    b.normalize();
    let alerts = policy_alerts(&b, &run);
    let masters: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::NewMaster)
        .collect();
    assert_eq!(masters.len(), 1, "{:#?}", summary(&alerts));
    assert_eq!(masters[0].protocol.as_deref(), Some("modbus"));
    assert!(masters[0].description.contains("mac:02:00:00:00:00:99"));
    assert!(
        !alerts
            .iter()
            .any(|a| a.kind == AlertKind::NewConnection && a.protocol.as_deref() == Some("modbus")),
        "a new master is not also a new connection"
    );
    assert!(policy_alerts(&full, &run).is_empty());
}

/// An asset whose learned firmware differs: firmware_changed.
#[test]
fn a_firmware_other_than_the_learned_one_is_a_firmware_change() {
    let rel = "s7comm/icsnpp-s7comm__s7ident.pcap";
    let run = whole(rel);
    let full = learned(&run.1);
    let with_fw = full
        .assets
        .iter()
        .position(|a| a.firmware.is_some())
        .expect("the S7 identity capture reveals a firmware version");
    let mut b = full.clone();
    b.assets[with_fw].firmware = Some("V0.0.1".into());
    let alerts = policy_alerts(&b, &run);
    assert_eq!(
        alerts.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![AlertKind::FirmwareChanged]
    );
    assert!(alerts[0].description.contains("V0.0.1"));
}

#[test]
fn an_address_learned_on_another_mac_is_a_mac_change_not_a_new_asset() {
    let run = whole(MB2);
    let full = learned(&run.1);
    let i = full
        .assets
        .iter()
        .position(|a| a.mac.is_some() && !a.ips.is_empty())
        .expect("an asset with a MAC and an address");
    let mut b = full.clone();
    let a = &mut b.assets[i];
    let ip = a.ips[0];
    a.id = "mac:02:00:00:00:00:01".into();
    a.mac = Some("02:00:00:00:00:01".into());
    b.normalize();
    let alerts = policy_alerts(&b, &run);
    let changes: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::MacChange)
        .collect();
    assert_eq!(changes.len(), 1, "{:#?}", summary(&alerts));
    assert_eq!(changes[0].src.ip, Some(ip));
    assert!(changes[0].description.contains("02:00:00:00:00:01"));
    assert!(
        !alerts
            .iter()
            .any(|a| a.kind == AlertKind::NewAsset && a.src.ip == Some(ip)),
        "{:#?}",
        summary(&alerts)
    );
}

#[test]
fn baseline_file_round_trips_and_rejects_bad_input() {
    let run = whole(MB2);
    let b = learned(&run.1);
    let text = b.to_toml();
    let back = Baseline::from_toml(&text).expect("parse");
    assert_eq!(back, b);
    // Stable: the same baseline gives the same bytes.
    assert_eq!(back.to_toml(), text);
    // Bad input: a clear error, never a panic.
    for bad in [
        "",
        "schema = \"yagura.baseline/9\"",
        "schema = \"yagura.baseline/1\"\n[[asset]]\nid = \"a\"\n[[asset]]\nid = \"a\"\n",
        "schema = \"yagura.baseline/1\"\n[[asset]]\nid = \"a\"\nmac = \"zz\"\n",
        "schema = \"yagura.baseline/1\"\n[[connection]]\nsrc = \"a\"\ndst = \"b\"\ntransport = \"tcp\"\nport = 1\noperations = [\"explode\"]\n",
        "schema = \"yagura.baseline/1\"\n[[asset]]\nid = \"a\"\nips = [\"not an ip\"]\n",
        "schema = \"yagura.baseline/1\"\nsurprise = 1\n",
    ] {
        assert!(Baseline::from_toml(bad).is_err(), "{bad:?} accepted");
    }
}

mod props {
    use proptest::prelude::*;
    use yagura_detect::baseline::Baseline;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Arbitrary text never panics the baseline reader.
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let _ = Baseline::from_toml(&s);
        }

        /// Learning is idempotent and order-independent over the corpus inventory's parts.
        #[test]
        fn learning_twice_changes_nothing(split in 1usize..40) {
            let run = super::whole(super::MB2);
            let inv = &run.1.inventory;
            let split = split.min(inv.assets.len());
            let (a, b) = inv.assets.split_at(split);
            let part = |assets: &[yagura_model::inventory::Asset]| {
                yagura_model::inventory::Inventory { assets: assets.to_vec(), edges: inv.edges.clone() }
            };
            let mut x = Baseline::default();
            x.learn(&part(a));
            x.learn(&part(b));
            let mut y = Baseline::default();
            y.learn(&part(b));
            y.learn(&part(a));
            prop_assert_eq!(&x, &y);
            let before = x.clone();
            let again = x.learn(inv);
            prop_assert_eq!(&x, &before);
            prop_assert_eq!(again, Default::default());
        }
    }
}

/// A cyclic exchange whose period is outside the learned range deviates; inside it, not.
#[test]
fn a_polling_period_outside_the_learned_range_is_a_deviation() {
    let rel = "s7comm/iti__s7comm_varservice_libnodavedemo_bench.pcap";
    let run = whole(rel);
    let full = learned(&run.1);
    let i = full
        .connections
        .iter()
        .position(|c| c.period_min_s.is_some())
        .expect("a cyclic connection");
    let p = full.connections[i].period_min_s.unwrap();
    let mut b = full.clone();
    b.connections[i].period_min_s = Some(p * 3.0);
    b.connections[i].period_max_s = Some(p * 4.0);
    let alerts = policy_alerts(&b, &run);
    assert_eq!(
        alerts.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [AlertKind::PollingDeviation],
        "{:#?}",
        summary(&alerts)
    );
    assert!(
        alerts[0]
            .description
            .contains("the baseline learned a period")
    );
    // Within the tolerance (× 1.5 either way): nothing.
    let mut b = full.clone();
    b.connections[i].period_min_s = Some(p * 1.4);
    b.connections[i].period_max_s = Some(p * 1.4);
    assert!(policy_alerts(&b, &run).is_empty());
}
