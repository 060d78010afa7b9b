//! The whole pipeline over the real captures of the shared corpus:
//! - every capture is analysed without error and `capture.packets` equals MANIFEST.tsv
//!   (`capinfos -c`), whatever the number of threads, with byte-identical reports;
//! - the corpus as one merged input gives the same report on 1 and 3 threads, events too;
//! - connections agree with Zeek's conn.log where the corpus has one (see docs/fidelity.md
//!   for the known, documented differences).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use yagura_engine::{EngineConfig, Progress, Report};

use yagura_testkit::corpus_dir;

/// `(path, packets)` of every manifest row.
fn manifest() -> Vec<(String, u64)> {
    yagura_testkit::manifest()
        .iter()
        .map(|r| (r.path().to_string(), r.packets()))
        .collect()
}

fn analyze(paths: &[PathBuf], threads: usize, events: Option<PathBuf>) -> Report {
    let mut src = yagura_capture::file::open_paths(paths).expect("open");
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
    .expect("analyze")
}

#[test]
fn every_capture_analyses_with_manifest_packet_count_on_any_thread_count() {
    let dir = corpus_dir();
    for (rel, packets) in manifest() {
        let path = dir.join(&rel);
        let one = analyze(std::slice::from_ref(&path), 1, None);
        assert_eq!(one.capture.packets, packets, "{rel}: packets");
        let linked: u64 = one.capture.link_types.values().sum();
        assert_eq!(linked, packets, "{rel}: every record has a link type");
        let two = analyze(std::slice::from_ref(&path), 2, None);
        assert_eq!(
            serde_json::to_string(&one).unwrap(),
            serde_json::to_string(&two).unwrap(),
            "{rel}: the report differs between 1 and 2 threads"
        );
        if rel.contains("arcnet") {
            // Not decodable: counted under the link type's name, not an error.
            let (name, n) = one
                .capture
                .undecodable
                .iter()
                .next()
                .expect("arcnet undecodable");
            assert!(name.starts_with("arcnet"), "{rel}: {name}");
            assert_eq!(*n, packets);
        }
    }
}

#[test]
fn whole_corpus_merged_is_thread_count_independent_events_included() {
    let dir = corpus_dir().join("pcap");
    let total: u64 = manifest().iter().map(|(_, n)| n).sum();
    let tmp = tempfile::tempdir().unwrap();
    let (e1, e3) = (tmp.path().join("e1.jsonl"), tmp.path().join("e3.jsonl"));
    let one = analyze(std::slice::from_ref(&dir), 1, Some(e1.clone()));
    let three = analyze(std::slice::from_ref(&dir), 3, Some(e3.clone()));
    let quiet = analyze(std::slice::from_ref(&dir), 2, None);
    assert_eq!(one.capture.packets, total);
    assert_eq!(
        serde_json::to_value(&one).unwrap(),
        serde_json::to_value(&three).unwrap()
    );
    // Without events, dissectors only count PDUs: the report must not change.
    assert_eq!(
        serde_json::to_value(&one).unwrap(),
        serde_json::to_value(&quiet).unwrap(),
        "the report depends on whether events are written"
    );
    // Connections carry their requests' operation classes.
    let ops: std::collections::BTreeSet<String> = one
        .connections
        .iter()
        .flat_map(|c| {
            serde_json::to_value(c.operations)
                .unwrap()
                .as_array()
                .unwrap()
                .clone()
        })
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for op in [
        "read",
        "write",
        "program_download",
        "stop",
        "control_command",
        "identify",
    ] {
        assert!(
            ops.contains(op),
            "no connection with `{op}` in the corpus: {ops:?}"
        );
    }
    let (a, b) = (std::fs::read(&e1).unwrap(), std::fs::read(&e3).unwrap());
    assert!(a == b, "events differ between 1 and 3 threads");
    let lines = a.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
    assert_eq!(lines, one.pipeline.pdus, "one event line per PDU");
    assert!(lines > 10_000, "the corpus has many OT PDUs, got {lines}");
    // Events are in input order.
    let mut last = String::new();
    for l in a
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .take(2000)
    {
        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
        for k in [
            "ts",
            "src",
            "src_port",
            "dst",
            "dst_port",
            "transport",
            "protocol",
            "direction",
            "operation",
            "status",
        ] {
            assert!(v.get(k).is_some(), "event without {k}: {v}");
        }
        let ts = v["ts"].as_str().unwrap().to_string();
        assert!(
            ts.len() == "2026-01-01T00:00:00.000000Z".len(),
            "µs RFC 3339: {ts}"
        );
        let _ = std::mem::replace(&mut last, ts);
    }
}

/// (orig_h, orig_p, resp_h, resp_p, proto) → packets (when the log has them), from a Zeek
/// conn.log: a full log with its `#fields` header, or the headerless `zeek-cut` output some
/// ICSNPP tests keep (orig_h, orig_p, resp_h, resp_p, proto, service).
type Tuples = BTreeMap<(String, u16, String, u16, String), Option<u64>>;

fn zeek_conns(log: &Path) -> Option<Tuples> {
    let text = std::fs::read_to_string(log).ok()?;
    let fields: Vec<&str> = match text.lines().find(|l| l.starts_with("#fields")) {
        Some(h) => h.split('\t').skip(1).collect(),
        None => vec!["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"],
    };
    let col = |n: &str| fields.iter().position(|f| *f == n);
    let (oh, op, rh, rp, pr) = (
        col("id.orig_h")?,
        col("id.orig_p")?,
        col("id.resp_h")?,
        col("id.resp_p")?,
        col("proto")?,
    );
    let pkts = col("orig_pkts").zip(col("resp_pkts"));
    let mut out = Tuples::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() < fields.len() || f[pr] == "icmp" {
            continue;
        }
        let n =
            pkts.map(|(a, b)| f[a].parse::<u64>().unwrap_or(0) + f[b].parse::<u64>().unwrap_or(0));
        let e = out
            .entry((
                f[oh].into(),
                f[op].parse().ok()?,
                f[rh].into(),
                f[rp].parse().ok()?,
                f[pr].into(),
            ))
            .or_insert(Some(0));
        *e = e.zip(n).map(|(a, b)| a + b);
    }
    Some(out)
}

#[test]
fn connections_agree_with_zeek_conn_logs() {
    let dir = corpus_dir();
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let (mut tuples, mut same_dir, mut same_pkts, mut logs) = (0, 0, 0, 0);
    let mut report = String::new();
    for line in expected.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if !f[0].ends_with("/conn.log") {
            continue;
        }
        let Some(zeek) = zeek_conns(&dir.join(f[0])) else {
            continue;
        };
        if zeek.is_empty() {
            continue;
        }
        logs += 1;
        let r = analyze(&[dir.join(f[1])], 1, None);
        let mut ours: BTreeMap<(String, u16, String, u16, String), u64> = BTreeMap::new();
        for c in &r.connections {
            // Zeek names only TCP, UDP and ICMP; the rest is "unknown_transport".
            let t = match c.transport.name().as_ref() {
                t @ ("tcp" | "udp" | "icmp") => t.to_string(),
                _ => "unknown_transport".to_string(),
            };
            *ours
                .entry((
                    c.src.to_string(),
                    c.src_port,
                    c.dst.to_string(),
                    c.dst_port,
                    t,
                ))
                .or_default() += c.packets;
        }
        for (k, n) in &zeek {
            tuples += 1;
            let rev = (k.2.clone(), k.3, k.0.clone(), k.1, k.4.clone());
            match (ours.get(k), ours.get(&rev)) {
                (Some(m), _) => {
                    same_dir += 1;
                    if n.is_none_or(|n| *m == n) {
                        same_pkts += 1;
                    } else {
                        report += &format!("{}: {k:?} zeek {n:?} packets, yagura {m}\n", f[1]);
                    }
                }
                (None, Some(m)) => {
                    if n.is_none_or(|n| *m == n) {
                        same_pkts += 1;
                    }
                    report += &format!("{}: {k:?} oriented the other way\n", f[1]);
                }
                (None, None) => report += &format!("{}: {k:?} missing\n", f[1]),
            }
        }
    }
    eprintln!(
        "{logs} conn.logs, {tuples} connections: {same_dir} same orientation, {same_pkts} same packet count\n{report}"
    );
    assert!(logs >= 25, "conn.logs read: {logs}");
    // Every Zeek connection exists in ours (in one orientation or the other)...
    assert!(!report.contains("missing"), "{report}");
    // ...and nearly all agree on orientation and packets; the rest is documented.
    assert!(
        same_dir * 100 >= tuples * 95,
        "orientation agreement {same_dir}/{tuples}\n{report}"
    );
    assert!(
        same_pkts * 100 >= tuples * 95,
        "packet agreement {same_pkts}/{tuples}\n{report}"
    );
}

/// Writes the Ethernet packets of `files`, in file order and with their own timestamps (so
/// time jumps back and forth by years between files), as one classic pcap.
fn concatenate_ethernet(files: &[PathBuf], out: &Path) {
    let mut bytes = Vec::new();
    for v in [
        0xa1b2c3d4u32.to_le_bytes(),
        [2, 0, 4, 0],
        [0; 4],
        [0; 4],
        65535u32.to_le_bytes(),
        1u32.to_le_bytes(),
    ] {
        bytes.extend_from_slice(&v);
    }
    for f in files {
        let mut src = yagura_capture::file::open_paths(std::slice::from_ref(f)).unwrap();
        while let Some(b) = src.next_batch(1024).unwrap() {
            for p in b
                .iter()
                .filter(|p| p.link == yagura_core::LinkType::ETHERNET)
            {
                bytes.extend_from_slice(&(p.ts.secs() as u32).to_le_bytes());
                bytes.extend_from_slice(&(p.ts.subsec_nanos() / 1000).to_le_bytes());
                bytes.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
                bytes.extend_from_slice(&p.orig_len.to_le_bytes());
                bytes.extend_from_slice(p.data);
            }
        }
    }
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn time_going_backwards_does_not_make_results_depend_on_threads() {
    let dir = corpus_dir().join("pcap");
    let files: Vec<PathBuf> = [
        "modbus/zeek__modbusSmall.pcap",
        "dnp3/icsnpp-dnp3__dnp3_example.pcap",
        "s7comm/iti__tia_s300_goOnline.pcapng",
        "modbus/icsnpp-modbus__modbus_example.pcap",
        "enip/icsnpp-enip__enip_cip_example.pcap",
        "it-infra/zeek__dhcp.pcap",
        "modbus/zeek__modbusSmall.pcap",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("jumbled.pcap");
    concatenate_ethernet(&files, &cat);
    let reports: Vec<String> = [1, 2, 3]
        .iter()
        .map(|&t| serde_json::to_string(&analyze(std::slice::from_ref(&cat), t, None)).unwrap())
        .collect();
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
    // The same file read through the streaming path (the reader/worker split) agrees too.
    let gz = tmp.path().join("jumbled.pcap.zst");
    std::fs::write(&gz, zstd_compress(&std::fs::read(&cat).unwrap())).unwrap();
    let streamed = analyze(std::slice::from_ref(&gz), 3, None);
    let mut a: serde_json::Value = serde_json::from_str(&reports[0]).unwrap();
    let mut b = serde_json::to_value(&streamed).unwrap();
    a["capture"]["files"] = serde_json::Value::Null;
    b["capture"]["files"] = serde_json::Value::Null;
    assert_eq!(a, b);
}

fn zstd_compress(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 1).unwrap()
}
