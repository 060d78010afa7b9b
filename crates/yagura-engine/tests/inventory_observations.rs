//! What the engine observes for the inventory, checked against tshark on corpus captures:
//! ARP bindings, the TTL evidence of routing, request timing (polling periods), and identity
//! facts; the same on 1 and 3 threads.

mod fidelity;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use fidelity::{corpus, tshark, tshark_available};
use yagura_engine::{EngineConfig, Progress, Report};

/// A fact as (address, MAC, protocol, attribute, value).
type Fact<'a> = (Option<String>, Option<String>, &'a str, &'a str, &'a str);

fn analyze(path: &Path, threads: usize) -> Report {
    let mut src = yagura_capture::file::open_paths(&[path.to_path_buf()]).expect("open");
    let cfg = EngineConfig {
        threads,
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

fn same_on_three_threads(path: &Path, one: &Report) {
    let three = analyze(path, 3);
    assert_eq!(
        serde_json::to_string(&one.observations).unwrap(),
        serde_json::to_string(&three.observations).unwrap(),
        "{}: observations differ between 1 and 3 threads",
        path.display()
    );
}

/// ARP senders per (MAC, address): requests, replies and gratuitous messages, as tshark
/// counts them (`arp.src.hw_mac`, `arp.src.proto_ipv4`, `arp.opcode`, `arp.dst.proto_ipv4`).
#[test]
fn arp_bindings_agree_with_tshark() {
    if !tshark_available() {
        return;
    }
    let mut checked = 0;
    for rel in [
        "pcap/s7comm/iti__s7comm_reading_plc_status.pcap",
        "pcap/s7comm/iti__wrapup.pcapng",
        "pcap/modbus/iti__mb2.pcap",
    ] {
        let path = corpus().join(rel);
        let mut want: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
        for row in tshark(
            &path,
            "arp && arp.hw.type == 1 && arp.proto.type == 0x0800",
            &[
                "arp.src.hw_mac",
                "arp.src.proto_ipv4",
                "arp.opcode",
                "arp.dst.proto_ipv4",
            ],
            &[],
        ) {
            let (mac, ip, op, dst) = (
                &row.get(0)[0],
                &row.get(1)[0],
                &row.get(2)[0],
                &row.get(3)[0],
            );
            if ip == "0.0.0.0" || mac == "00:00:00:00:00:00" {
                continue;
            }
            let e = want.entry((mac.clone(), ip.clone())).or_default();
            match op.as_str() {
                "1" => e[0] += 1,
                "2" => e[1] += 1,
                _ => {}
            }
            if ip == dst {
                e[2] += 1;
            }
        }
        assert!(!want.is_empty(), "{rel}: no ARP");
        let r = analyze(&path, 1);
        let got: BTreeMap<(String, String), [u64; 3]> = r
            .observations
            .bindings
            .iter()
            .filter(|b| b.arp_requests + b.arp_replies > 0)
            .map(|b| {
                (
                    (b.mac.to_string(), b.ip.to_string()),
                    [b.arp_requests, b.arp_replies, b.arp_gratuitous],
                )
            })
            .collect();
        assert_eq!(got, want, "{rel}");
        checked += want.len();
        same_on_three_threads(&path, &r);
    }
    assert!(checked >= 3, "{checked} ARP bindings checked");
}

/// `tshark -r lsw__mod_43.pcap -T fields -e ip.src -e eth.src -e ip.ttl -e tcp.srcport`:
/// two connections (client ports 41116, 41240); the Modbus server 84.240.225.194 arrives
/// from 38:97:d6:29:6b:07 with TTL 46 (routed), the client 192.168.166.24 from
/// 4c:ed:fb:73:54:6b with TTL 64 (local); the server's FC 43 answer
/// names VendorName "Schneider Electric", ProductCode "BMX P34 2020", revision "v2.5".
#[test]
fn ttl_evidence_and_modbus_identity_facts() {
    let path = corpus().join("pcap/modbus/lsw__mod_43.pcap");
    let r = analyze(&path, 1);
    let b: Vec<(String, String, u64, u64)> = r
        .observations
        .bindings
        .iter()
        .map(|b| {
            (
                b.mac.to_string(),
                b.ip.to_string(),
                b.flows_local,
                b.flows_routed,
            )
        })
        .collect();
    assert_eq!(
        b,
        vec![
            ("38:97:d6:29:6b:07".into(), "84.240.225.194".into(), 0, 2),
            ("4c:ed:fb:73:54:6b".into(), "192.168.166.24".into(), 2, 0),
        ]
    );
    let facts: Vec<Fact> = r
        .observations
        .identity
        .iter()
        .map(|f| {
            (
                f.ip.map(|i| i.to_string()),
                f.mac.map(|m| m.to_string()),
                f.protocol,
                f.attribute.name(),
                f.value.as_str(),
            )
        })
        .collect();
    let server = (
        Some("84.240.225.194".to_string()),
        Some("38:97:d6:29:6b:07".to_string()),
    );
    for (attr, value) in [
        ("vendor", "Schneider Electric"),
        ("product_code", "BMX P34 2020"),
        ("firmware", "v2.5"),
    ] {
        let want = (server.0.clone(), server.1.clone(), "modbus", attr, value);
        assert!(facts.contains(&want), "{want:?} not in {facts:?}");
    }
    same_on_three_threads(&path, &r);
}

/// Three HMIs poll one Modbus server every second (a fourth client does not); tshark's
/// request times (`modbus && tcp.dstport ==
/// 502`, not retransmitted) give each client's mean interval, which must be the connection's
/// polling period (to the microsecond it is rounded to).
#[test]
fn polling_periods_agree_with_tshark_request_times() {
    if !tshark_available() {
        return;
    }
    let path = corpus().join("pcap/modbus/iti__modbus_test.pcap");
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for row in tshark(
        &path,
        "modbus && tcp.dstport == 502 && !tcp.analysis.retransmission",
        &["ip.src", "frame.time_epoch"],
        &[],
    ) {
        times
            .entry(row.get(0)[0].clone())
            .or_default()
            .push(row.get(1)[0].parse().unwrap());
    }
    let r = analyze(&path, 1);
    let mut checked = 0;
    for (client, t) in &times {
        let conns: Vec<_> = r
            .connections
            .iter()
            .filter(|c| c.src.to_string() == *client && c.dst_port == 502)
            .collect();
        assert_eq!(conns.len(), 1, "{client}");
        let c = conns[0];
        let intervals: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = intervals.iter().sum::<f64>() / intervals.len() as f64;
        let sd = (intervals.iter().map(|d| (d - mean).powi(2)).sum::<f64>()
            / intervals.len() as f64)
            .sqrt();
        assert_eq!(
            c.timing.requests,
            t.len() as u64,
            "{client}: request packets"
        );
        if intervals.len() >= 3 && sd <= 0.25 * mean {
            let p = c.polling_period_s.expect("cyclic");
            assert!((p - mean).abs() < 2e-6, "{client}: {p} vs tshark {mean}");
            checked += 1;
        } else {
            assert_eq!(c.polling_period_s, None, "{client}: not cyclic for tshark");
        }
    }
    assert_eq!(checked, 3, "three clients poll cyclically");
    same_on_three_threads(&path, &r);
}
