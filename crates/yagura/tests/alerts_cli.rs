//! Learning, detection and the alert lifecycle end to end through the command line:
//! `yagura learn`, `yagura analyze --db`, `yagura alerts list|show|ack|learn|mute|close|
//! evidence` and `yagura baseline export|import|reopen|close`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn yagura(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(args)
        .output()
        .expect("run yagura")
}

fn ok(args: &[&str]) -> String {
    let out = yagura(args);
    assert!(
        out.status.success(),
        "yagura {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(args)).expect("json output")
}

fn corpus(rel: &str) -> PathBuf {
    let p = yagura_testkit::corpus(rel);
    assert!(p.is_file(), "corpus capture missing: {}", p.display());
    p
}

/// Another run of the stop capture: the same traffic with one more small capture of
/// unrelated Modbus traffic (`n` picks which), since the same capture again is recognised
/// and not counted twice.
fn stop_run(n: usize) -> Vec<String> {
    let mut v = vec![corpus(STOP).display().to_string()];
    if n > 0 {
        let extra = ["lsw__mod_6.pcap", "lsw__mod_15.pcap", "lsw__mod_43.pcap"][n - 1];
        v.push(
            corpus(&format!("pcap/modbus/{extra}"))
                .display()
                .to_string(),
        );
    }
    v
}

fn analyze_db(paths: &[String], db: &str) -> Output {
    let mut args = vec!["analyze"];
    args.extend(paths.iter().map(String::as_str));
    args.extend(["--db", db]);
    let out = yagura(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const STOP: &str = "pcap/s7comm/iti__snap7_s300_stop.pcapng";

fn alerts(db: &str) -> Vec<serde_json::Value> {
    json(&["alerts", "list", "--db", db, "--format", "json"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn an_alert_lives_through_ack_fold_learn_and_its_evidence_is_the_packet() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("y.db").display().to_string();
    analyze_db(&stop_run(0), &db);
    let list = alerts(&db);
    assert_eq!(list.len(), 1, "{list:#?}");
    let a = &list[0];
    assert_eq!(a["kind"], "plc_stop");
    assert_eq!(a["status"], "new");
    assert_eq!(a["count"], 1);
    let id = a["id"].as_u64().unwrap().to_string();

    // The evidence is a pcap holding exactly the stop request's packet.
    let pcap = dir.path().join("e.pcap");
    ok(&[
        "alerts",
        "evidence",
        &id,
        "--db",
        &db,
        "-o",
        pcap.to_str().unwrap(),
    ]);
    let mut src = yagura_capture::file::open_paths(std::slice::from_ref(&pcap))
        .expect("the evidence is a capture");
    let batch = src.next_batch(16).unwrap().expect("one packet");
    assert_eq!(batch.len(), 1);
    let want = a["evidence"][0]["index"].as_u64().unwrap();
    let mut orig = yagura_capture::file::open_paths(&[corpus(STOP)]).unwrap();
    let ob = orig.next_batch(1024).unwrap().unwrap();
    assert_eq!(batch.get(0).data, ob.get(want as usize).data);
    assert_eq!(batch.get(0).ts, ob.get(want as usize).ts);

    // The same capture again is not counted twice.
    analyze_db(&stop_run(0), &db);
    assert_eq!(alerts(&db)[0]["count"], 1);

    // Acknowledged, the alert still folds the next occurrence (another run).
    ok(&[
        "alerts",
        "ack",
        &id,
        "--db",
        &db,
        "--by",
        "tanaka",
        "--note",
        "maintenance",
    ]);
    analyze_db(&stop_run(1), &db);
    let list = alerts(&db);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["status"], "acknowledged");
    assert_eq!(list[0]["count"], 2);

    // Learned: the stop joins the baseline; the behaviour no longer alerts.
    ok(&["alerts", "learn", &id, "--db", &db, "--by", "tanaka"]);
    let exported = ok(&["baseline", "export", "--db", &db]);
    assert!(exported.contains("\"stop\""), "{exported}");
    analyze_db(&stop_run(2), &db);
    let list = alerts(&db);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["status"], "learned");
    assert_eq!(list[0]["count"], 2);

    // The history says who did what, in order.
    let show = json(&["alerts", "show", &id, "--db", &db, "--format", "json"]);
    let h: Vec<(String, String)> = show["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["actor"].as_str().unwrap().to_owned(),
                c["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        h,
        [
            s("yagura", "new"),
            s("tanaka", "acknowledged"),
            s("tanaka", "learned")
        ]
    );
    assert!(show["remediation_ja"].as_str().unwrap().chars().count() > 10);
    // The text forms work in both languages.
    assert!(ok(&["alerts", "show", &id, "--db", &db, "--lang", "ja"]).contains("学習済み"));
    assert!(ok(&["alerts", "list", "--db", &db, "--lang", "ja"]).contains("PLC"));
}

#[test]
fn a_muted_kind_and_pair_is_not_recorded_again_and_a_closed_alert_reopens_as_new() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("y.db").display().to_string();
    analyze_db(&stop_run(0), &db);
    let id = alerts(&db)[0]["id"].as_u64().unwrap().to_string();
    ok(&["alerts", "close", &id, "--db", &db]);
    analyze_db(&stop_run(1), &db);
    let list = alerts(&db);
    assert_eq!(list.len(), 2, "a closed alert does not fold: {list:#?}");
    let second = list
        .iter()
        .find(|a| a["status"] == "new")
        .expect("a new alert")["id"]
        .as_u64()
        .unwrap()
        .to_string();
    ok(&["alerts", "mute", &second, "--db", &db]);
    let out = analyze_db(&stop_run(2), &db);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 new, 0 folded into open alerts, 1 muted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = alerts(&db);
    assert_eq!(list.len(), 2);
    assert!(list.iter().any(|a| a["status"] == "muted"));
    // Unknown ids and statuses are clear errors.
    let out = yagura(&["alerts", "ack", "999", "--db", &db]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no alert with id 999"));
    let out = yagura(&["alerts", "list", "--db", &db, "--status", "bogus"]);
    assert!(!out.status.success());
}

#[test]
fn learn_then_detect_raises_policy_alerts_and_reopened_learning_absorbs_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("y.db").display().to_string();
    // Learn one Modbus plant; then traffic of another plant is all new.
    ok(&[
        "learn",
        corpus("pcap/modbus/zeek__modbusSmall.pcap")
            .to_str()
            .unwrap(),
        "--db",
        &db,
        "--quiet",
    ]);
    assert!(
        alerts(&db).is_empty(),
        "learning the benign capture alerts nothing"
    );
    let shown = ok(&["baseline", "show", "--db", &db]);
    assert!(shown.contains(" assets, "), "{shown}");
    // The same traffic against its own baseline: no alert in the report.
    let small = corpus("pcap/modbus/zeek__modbusSmall.pcap")
        .display()
        .to_string();
    let r = json(&["analyze", &small, "--db", &db, "--json", "-", "--quiet"]);
    assert_eq!(r["alerts"], serde_json::json!([]));

    // Reopened learning for a subnet: its new assets are learned, not alerted.
    let other = "pcap/dnp3/zeek__dnp3_read.pcap";
    let r = json(&[
        "analyze",
        corpus(other).to_str().unwrap(),
        "--json",
        "-",
        "--quiet",
    ]);
    let ip = r["assets"][0]["ips"][0].as_str().unwrap().to_owned();
    ok(&[
        "baseline",
        "reopen",
        &format!("{ip}/32"),
        "--db",
        &db,
        "--for",
        "1d",
    ]);
    assert!(ok(&["baseline", "show", "--db", &db]).contains("learning open for"));
    ok(&[
        "analyze",
        corpus(other).to_str().unwrap(),
        "--db",
        &db,
        "--quiet",
    ]);
    let list = alerts(&db);
    assert!(
        list.iter()
            .all(|a| a["src"]["ip"] != ip.as_str() || a["kind"] != "new_asset"),
        "{list:#?}"
    );
    assert!(
        list.iter().any(|a| a["kind"] == "new_asset"),
        "the other end of the DNP3 traffic is outside the scope: {list:#?}"
    );
    ok(&["baseline", "close", &format!("{ip}/32"), "--db", &db]);
    assert!(
        !yagura(&["baseline", "close", &format!("{ip}/32"), "--db", &db])
            .status
            .success()
    );

    // Export, import into a fresh database, export again: the same file.
    let file = dir.path().join("baseline.toml");
    ok(&[
        "baseline",
        "export",
        "--db",
        &db,
        "-o",
        file.to_str().unwrap(),
    ]);
    let db2 = dir.path().join("z.db").display().to_string();
    ok(&["baseline", "import", file.to_str().unwrap(), "--db", &db2]);
    assert_eq!(
        ok(&["baseline", "export", "--db", &db2]),
        std::fs::read_to_string(&file).unwrap()
    );
    // A damaged file is refused with a clear message, and changes nothing.
    std::fs::write(
        &file,
        "schema = \"yagura.baseline/1\"\n[[asset]]\nmac = 1\n",
    )
    .unwrap();
    let out = yagura(&["baseline", "import", file.to_str().unwrap(), "--db", &db2]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid baseline"));
    // `learn` without a database is refused.
    let out = yagura(&["learn", corpus(other).to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--db"));
}
