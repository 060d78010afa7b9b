//! `yagura assets`, `yagura map` and `yagura asset` end to end, on a store filled with a
//! synthetic inventory (the corpus-derived inventory is tested where it is built).

use std::path::Path;
use std::process::{Command, Output};

use yagura_core::Timestamp;
use yagura_store::{InventoryStore, RunInfo, RunKind, SqliteStore, synthetic};

fn yagura(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(args)
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .expect("run yagura")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(key: &str) -> RunInfo {
    RunInfo {
        key: key.into(),
        kind: RunKind::Files,
        inputs: vec![format!("{key}.pcap")],
        first_seen: Timestamp(0),
        last_seen: Timestamp(0),
        packets: 0,
        bytes: 0,
    }
}

/// A store with 12 assets, 30 edges, one firmware change (every tenth asset) and a
/// hostile hostname on the first asset.
fn store(dir: &Path) -> (String, String) {
    let path = dir.join("inv.db");
    let mut s = SqliteStore::open(&path).unwrap();
    let mut g0 = synthetic::inventory(12, 30, 0);
    g0.assets[0].hostname = Some("\"evil\"\n<b>&制御盤".into());
    s.ingest(&g0, &run("g0")).unwrap();
    let mut g1 = synthetic::inventory(12, 30, 1);
    g1.assets[0].hostname = g0.assets[0].hostname.clone();
    s.ingest(&g1, &run("g1")).unwrap();
    (path.display().to_string(), g0.assets[0].id.clone())
}

#[test]
fn assets_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = store(dir.path());

    let out = yagura(&["assets", "--db", &db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("ID  "), "{t}");
    for col in [
        "IP", "MAC", "VENDOR", "TYPE", "MODEL", "FIRMWARE", "HOSTNAME", "PURDUE",
    ] {
        assert!(lines[0].contains(col), "{col}");
    }
    assert_eq!(lines.len(), 12 + 2);
    assert_eq!(lines[13], "12 assets");
    // The hostile name stays on its row, spelled out.
    assert!(lines[1].contains("\"evil\"\\n<b>&制御盤"), "{}", lines[1]);
    assert!(
        lines[1].contains("V4.1.0"),
        "later firmware shown: {}",
        lines[1]
    );

    let out = yagura(&["assets", "--db", &db, "--format", "csv"]);
    assert!(out.status.success());
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(&r.headers().unwrap()[0], "id");
    let recs: Vec<_> = r.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 12);
    assert_eq!(&recs[0][11], "\"evil\"\n<b>&制御盤");

    let out = yagura(&["assets", "--db", &db, "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 12);
    assert_eq!(v[0]["hostname"], "\"evil\"\n<b>&制御盤");
    assert_eq!(v[0]["packets_sent"], 2000);
}

#[test]
fn map_in_every_format_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = store(dir.path());
    for (fmt, check) in [
        ("dot", "digraph yagura {"),
        ("graphml", "<graphml xmlns="),
        ("json", "\"nodes\""),
    ] {
        let file = dir.path().join(format!("map.{fmt}"));
        let f = file.display().to_string();
        let out = yagura(&["map", "--db", &db, "--format", fmt, "--output", &f]);
        assert!(out.status.success(), "{fmt}: {}", text(&out.stderr));
        let body = std::fs::read_to_string(&file).unwrap();
        assert!(body.contains(check), "{fmt}");
        match fmt {
            "dot" => assert_eq!(body.matches(" -> ").count(), 30),
            "graphml" => assert_eq!(body.matches("<edge ").count(), 30),
            _ => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["edges"].as_array().unwrap().len(), 30);
                assert_eq!(v["edges"][0]["packets"].as_u64().unwrap() % 2, 0);
            }
        }
    }
    let out = yagura(&["map", "--db", &db, "--format", "dot"]);
    assert!(text(&out.stdout).starts_with("digraph yagura {"));
}

#[test]
fn asset_overrides_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let (db, id) = store(dir.path());

    let out = yagura(&["asset", "history", "--db", &db, &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let h = text(&out.stdout);
    assert!(
        h.contains("firmware") && h.contains("V4.0.0") && h.contains("V4.1.0"),
        "{h}"
    );

    let out = yagura(&[
        "asset", "set", "--db", &db, &id, "--type", "rtu", "--name", "Pump 3", "--purdue", "2",
        "--by", "alice",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("device_type = rtu (set by alice"));

    let out = yagura(&["assets", "--db", &db, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["device_type"], "rtu");
    assert_eq!(v[0]["hostname"], "Pump 3");
    assert_eq!(v[0]["purdue_level"], 2);

    let out = yagura(&["asset", "set", "--db", &db, &id, "--unset", "name"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = yagura(&["asset", "show", "--db", &db, &id]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["asset"]["hostname"], "\"evil\"\n<b>&制御盤");
    assert_eq!(v["overrides"].as_array().unwrap().len(), 2);

    let out = yagura(&["asset", "history", "--db", &db, &id, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sources: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources.iter().filter(|s| **s == "user:alice").count(), 3);
    assert_eq!(sources.iter().filter(|s| **s == "user:unknown").count(), 1);

    let out = yagura(&["asset", "set", "--db", &db, &id, "--clear"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("2 override(s) removed"));
}

#[test]
fn clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db").display().to_string();
    let out = yagura(&["assets", "--db", &missing]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no database at"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !Path::new(&missing).exists(),
        "a read command must not create a database"
    );

    let (db, id) = store(dir.path());
    let out = yagura(&["asset", "set", "--db", &db, &id, "--type", "toaster"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not one of plc, rtu"),
        "{}",
        text(&out.stderr)
    );
    let out = yagura(&["asset", "set", "--db", &db, "ip:192.0.2.1", "--name", "x"]);
    assert!(text(&out.stderr).contains("no asset with id \"ip:192.0.2.1\""));
    let out = yagura(&["asset", "set", "--db", &db, &id]);
    assert!(text(&out.stderr).contains("nothing to do"));
}

/// `yagura analyze --db` fills the store from a real capture: the S7 PLC of the bundled
/// sample (its SZL answers name it; checked against tshark in yagura-model's corpus tests)
/// is there with its identity, and analysing the same capture again changes nothing.
#[test]
fn analyze_fills_the_store_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plant.db").display().to_string();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/pcap/sample")
        .display()
        .to_string();
    let first = yagura(&["analyze", &sample, "--db", &db]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stderr).contains("new and 0 updated assets"),
        "{}",
        text(&first.stderr)
    );
    let again = yagura(&["analyze", &sample, "--db", &db]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("ingested before"),
        "{}",
        text(&again.stderr)
    );
    let out = yagura(&["assets", "--db", &db, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let assets: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plc = assets
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["order_number"] == "6ES7 315-2EH14-0AB0")
        .expect("the S7-300 CPU of the sample");
    assert_eq!(plc["device_type"], "plc");
    assert_eq!(plc["firmware"], "V3.2.7");
    assert_eq!(plc["model"], "CPU 315-2 PN/DP");
    // The same inventory as the report's.
    let report = yagura(&["analyze", "-q", &sample, "--json", "-"]);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(
        assets.as_array().unwrap().len(),
        report["assets"].as_array().unwrap().len()
    );
}

/// A corpus capture, which must exist, as a command-line argument.
fn corpus(rel: &str) -> String {
    let p = yagura_testkit::corpus(rel);
    assert!(p.is_file(), "corpus capture missing: {}", p.display());
    p.display().to_string()
}

/// The controller behind a ControlLogix EtherNet/IP module is an asset of its own, from
/// the report to the store and every output: the program upload of the corpus reads the
/// Identity object through the 1756-ENBT at 192.168.10.120 (00:00:bc:3e:eb:e4), routed to
/// backplane slot 0, where a 1756-L61 answers (values checked against tshark in
/// yagura-model's corpus tests).
#[test]
fn a_controller_behind_a_communication_module_reaches_every_output() {
    const MODULE: &str = "mac:00:00:bc:3e:eb:e4";
    const PLC: &str = "mac:00:00:bc:3e:eb:e4/1:0";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plant.db").display().to_string();
    let pcap = corpus("pcap/enip/iti__CL5000EIP-Software_Upload.pcap");

    let report = yagura(&["analyze", "-q", &pcap, "--json", "-", "--db", &db]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let find = |list: &serde_json::Value, id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
            .clone()
    };
    let plc = find(&report["assets"], PLC);
    assert_eq!(plc["via"], MODULE);
    assert_eq!(plc["route"], "backplane slot 0");
    assert_eq!(plc["model"], "1756-L61/B LOGIX5561");
    assert_eq!(plc["device_type"], "plc");
    assert_eq!(plc["ips"], serde_json::json!([]));
    assert_eq!(plc["mac"], serde_json::Value::Null);
    let module = find(&report["assets"], MODULE);
    assert_eq!(module["via"], serde_json::Value::Null);
    assert_eq!(module["route"], serde_json::Value::Null);

    // The store holds the same module, with its carrier.
    let out = yagura(&["assets", "--db", &db, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The same asset (the store lists attribute values by name, the report by attribute).
    let by_value = |a: &serde_json::Value| {
        let mut a = a.clone();
        let mut attrs = a["attributes"].as_array().unwrap().clone();
        attrs.sort_by_key(|v| (v["attribute"].to_string(), v["value"].to_string()));
        a["attributes"] = serde_json::Value::Array(attrs);
        a
    };
    assert_eq!(by_value(&find(&stored, PLC)), by_value(&plc));
    assert_eq!(find(&stored, MODULE)["ips"], module["ips"]);

    let out = yagura(&["assets", "--db", &db]);
    let t = text(&out.stdout);
    let header = t.lines().next().unwrap();
    assert!(header.contains("VIA"), "{t}");
    let row = t.lines().find(|l| l.starts_with(PLC)).expect("module row");
    assert!(row.contains("192.168.10.120 backplane slot 0"), "{row}");
    assert!(row.contains("1756-L61/B LOGIX5561"), "{row}");

    let out = yagura(&["assets", "--db", &db, "--format", "csv"]);
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let rec = r
        .records()
        .map(Result::unwrap)
        .find(|rec| &rec[0] == PLC)
        .expect("module in the CSV");
    assert_eq!(&rec[col("via")], MODULE);
    assert_eq!(&rec[col("route")], "backplane slot 0");

    // The map links the carrier to the module.
    let out = yagura(&["map", "--db", &db, "--format", "json"]);
    let map: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let links: Vec<&serde_json::Value> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "route")
        .collect();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["src"], MODULE);
    assert_eq!(links[0]["dst"], PLC);
    assert_eq!(links[0]["route"], "backplane slot 0");
    assert!(
        map["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] != "route")
            .all(|e| e["kind"] == "traffic" && e["transport"].is_string())
    );
    assert_eq!(find(&map["nodes"], PLC)["label"], "1756-L61/B LOGIX5561");
    let out = yagura(&["map", "--db", &db, "--format", "dot"]);
    let dot = text(&out.stdout);
    assert_eq!(
        dot.matches("[label=\"backplane slot 0\", style=dashed]")
            .count(),
        1,
        "{dot}"
    );
    assert!(dot.contains("1756-L61/B LOGIX5561\\nbackplane slot 0\\nplc (L1)"));
    let out = yagura(&["map", "--db", &db, "--format", "graphml"]);
    let g = text(&out.stdout);
    assert_eq!(g.matches("<data key=\"e_kind\">route</data>").count(), 1);
    assert!(g.contains(&format!("<data key=\"n_via\">{MODULE}</data>")));
}
