//! `yagura analyze` end to end: exit codes, messages, the report document and events.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn yagura(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(args)
        .output()
        .expect("run yagura")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample() -> String {
    repo().join("testdata/pcap/sample").display().to_string()
}

/// A corpus capture, which must exist.
fn corpus(rel: &str) -> PathBuf {
    let p = yagura_testkit::corpus(rel);
    assert!(p.is_file(), "corpus capture missing: {}", p.display());
    p
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn analyzes_the_bundled_sample_and_prints_a_summary() {
    let out = yagura(&["analyze", &sample()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    for want in [
        "packets      786",
        "files        9",
        "link types   ethernet 370, linux_sll 262, null 154",
        "modbus",
        "s7comm",
        "dnp3",
        "iec104",
        "enip",
        "opcua",
    ] {
        assert!(s.contains(want), "summary lacks {want:?}:\n{s}");
    }
}

#[test]
fn json_report_has_the_documented_shape_and_is_thread_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.json"), tmp.path().join("b.json"));
    let ev = tmp.path().join("events.jsonl");
    for (path, threads) in [(&a, "1"), (&b, "4")] {
        let out = yagura(&[
            "analyze",
            &sample(),
            "--quiet",
            "--threads",
            threads,
            "--json",
            path.to_str().unwrap(),
            "--events",
            ev.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "--quiet prints nothing");
    }
    let (ja, jb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(ja == jb, "reports differ between 1 and 4 threads");
    let r: serde_json::Value = serde_json::from_slice(&ja).unwrap();
    assert_eq!(r["schema"], "yagura.report/1");
    assert_eq!(r["generator"]["name"], "yagura");
    assert!(r["generator"]["version"].is_string());
    let c = &r["capture"];
    assert_eq!(c["packets"], 786);
    assert_eq!(c["files"].as_array().unwrap().len(), 9);
    assert_eq!(c["link_types"]["ethernet"], 370);
    assert_eq!(c["first_seen"], "2009-11-18T08:00:20.093410000Z");
    assert!(
        c["undecodable"].is_object()
            && c["last_seen"].is_string()
            && c["bytes"].as_u64().unwrap() > 0
    );
    let assets = r["assets"].as_array().unwrap();
    assert!(!assets.is_empty());
    for a in assets {
        for k in ["ips", "mac", "first_seen", "last_seen"] {
            assert!(a.get(k).is_some(), "asset without {k}: {a}");
        }
    }
    let conns = r["connections"].as_array().unwrap();
    for k in [
        "src",
        "dst",
        "transport",
        "src_port",
        "dst_port",
        "protocol",
        "packets",
        "bytes",
        "first_seen",
        "last_seen",
    ] {
        assert!(
            conns.iter().all(|c| c.get(k).is_some()),
            "connection without {k}"
        );
    }
    // Every Modbus connection of the sample is a TCP session to the server's port 502.
    let modbus: Vec<_> = conns.iter().filter(|c| c["protocol"] == "modbus").collect();
    assert!(
        !modbus.is_empty()
            && modbus
                .iter()
                .all(|c| c["dst_port"] == 502 && c["transport"] == "tcp")
    );
    // The sample's snap7 session uploads the program, stops and restarts the PLC: the
    // operational engine's three alerts, with every field the report promises.
    let alerts = r["alerts"].as_array().unwrap();
    let kinds: Vec<&str> = alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["program_upload", "plc_stop", "plc_restart"]);
    for a in alerts {
        for k in [
            "id", "time", "engine", "kind", "severity", "title", "src", "dst", "protocol",
            "status", "count",
        ] {
            assert!(a.get(k).is_some(), "alert without {k}: {a}");
        }
        assert_eq!(a["src"]["ip"], "134.217.61.131");
        assert_eq!(a["dst"]["ip"], "134.217.61.211");
        assert_eq!(a["protocol"], "s7comm");
        assert_eq!(a["engine"], "operational");
        assert_eq!(a["status"], "new");
    }
    // Events: one JSON object per line, as many as the report's PDU count.
    let events = std::fs::read_to_string(&ev).unwrap();
    let n = events.lines().count() as u64;
    assert_eq!(n, r["pipeline"]["pdus"].as_u64().unwrap());
    assert!(
        events
            .lines()
            .any(|l| l.contains("\"protocol\":\"modbus\""))
    );
}

#[test]
fn unreadable_and_non_capture_files_fail_clearly() {
    let out = yagura(&["analyze", "/nonexistent/plant.pcap"]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(
        e.contains("/nonexistent/plant.pcap") && e.contains("cannot read"),
        "{e}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("notes.pcap");
    std::fs::write(&junk, b"this is not a capture file at all").unwrap();
    let out = yagura(&["analyze", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(e.contains("not a capture file"), "{e}");
}

#[test]
fn corrupt_capture_is_an_error_and_truncated_tail_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(corpus("pcap/modbus/zeek__modbusSmall.pcap")).unwrap();

    // Cut in the middle of the last record: a warning, and the other 165 packets analysed.
    let cut = tmp.path().join("cut.pcap");
    std::fs::write(&cut, &good[..good.len() - 10]).unwrap();
    let j = tmp.path().join("cut.json");
    let out = yagura(&[
        "analyze",
        cut.to_str().unwrap(),
        "--json",
        j.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    assert_eq!(r["capture"]["packets"], 165);
    assert_eq!(r["capture"]["warnings"].as_array().unwrap().len(), 1);

    // An impossible record length in the middle: a clear error, non-zero exit.
    let mut bad = good.clone();
    // First record header starts at 24; its caplen at 24 + 8.
    bad[32..36].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let badp = tmp.path().join("bad.pcap");
    std::fs::write(&badp, &bad).unwrap();
    let out = yagura(&["analyze", badp.to_str().unwrap()]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(e.contains("corrupt") && e.contains("bad.pcap"), "{e}");
}

#[test]
fn compressed_captures_and_directories() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let raw = std::fs::read(corpus("pcap/dnp3/zeek__dnp3.pcap")).unwrap();
    let gz = tmp.path().join("sub/dnp3.pcap.gz");
    std::fs::create_dir_all(gz.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    e.write_all(&raw).unwrap();
    e.finish().unwrap();
    let zst = tmp.path().join("dnp3-copy.bin");
    std::fs::write(&zst, zstd::encode_all(&raw[..], 3).unwrap()).unwrap();
    let j = tmp.path().join("r.json");
    let out = yagura(&[
        "analyze",
        tmp.path().to_str().unwrap(),
        "--json",
        j.to_str().unwrap(),
        "-q",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    assert_eq!(r["capture"]["packets"], 2 * 214);
    assert_eq!(r["capture"]["files"].as_array().unwrap().len(), 2);
}

#[test]
fn assets_carry_the_mac_vendor() {
    let pcap = repo().join("testdata/pcap/sample/icsnpp-s7comm__s7comm_plus.pcap");
    let out = yagura(&["analyze", pcap.to_str().unwrap(), "--json", "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let asset = |ip: &str| {
        r["assets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ips"][0] == ip)
            .unwrap_or_else(|| panic!("no asset {ip}"))
            .clone()
    };
    // AC:64:17 is "Siemens AG" in the IEEE MA-L registry, 00:50:56 "VMware, Inc.".
    let plc = asset("192.168.0.1");
    assert_eq!(plc["mac"], "ac:64:17:46:0d:51");
    assert_eq!(plc["vendor"], "Siemens");
    assert_eq!(plc["mac_locally_administered"], false);
    assert_eq!(asset("192.168.0.33")["vendor"], "VMware");

    // Every asset has `vendor` (null when unknown); `mac_locally_administered` only with a MAC.
    let all = yagura(&["analyze", &sample(), "--quiet", "--json", "-"]);
    let r: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    for a in r["assets"].as_array().unwrap() {
        assert!(a.as_object().unwrap().contains_key("vendor"), "{a}");
        assert_eq!(
            a["mac"].is_null(),
            a.get("mac_locally_administered").is_none(),
            "{a}"
        );
        if a["mac"].is_null() {
            assert!(a["vendor"].is_null(), "{a}");
        }
    }

    let summary = yagura(&["analyze", pcap.to_str().unwrap()]);
    let s = text(&summary.stdout);
    assert!(s.contains("vendors      Siemens 2, VMware 1"), "{s}");
}
