//! Spot-check against tshark over the shared corpus: detection labels, PDU counts and
//! function codes per protocol. Needs `tshark` and `../shared/corpus` beside the workspace,
//! so it is ignored by default:
//!
//! ```text
//! cargo test -p yagura-dissect --test corpus_spotcheck -- --ignored --nocapture
//! ```
//!
//! TCP payloads come from tshark in capture order with retransmissions and out-of-order
//! segments dropped, a rough stand-in for the engine's reassembly; the figures are a
//! spot-check, not the fidelity harness of issue 3.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use yagura_core::{Direction, PduEvent, Transport};
use yagura_dissect::{Detect, Dissector, PduSink, ProtocolId, Registry};

struct Sink(Vec<PduEvent>);

impl PduSink for Sink {
    fn pdu(&mut self, pdu: PduEvent) {
        self.0.push(pdu);
    }
    fn wants_events(&self) -> bool {
        true
    }
    fn pdu_count(&mut self, _: yagura_dissect::PduCount) {}
}

/// Per-flow state of the spot-check's mini engine.
struct Flow {
    transport: Transport,
    /// (client port, server port) once known.
    client: Option<(u16, u16)>,
    tries: u32,
    label: Option<ProtocolId>,
    dissector: Option<Box<dyn Dissector>>,
    bufs: [Vec<u8>; 2],
}

fn corpus() -> PathBuf {
    yagura_testkit::corpus_dir()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

/// Run the registry and dissectors over one capture.
fn dissect(file: &Path, labels: &mut BTreeMap<String, usize>) -> Vec<PduEvent> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", "(tcp && (tcp.len > 0 || (tcp.flags.syn == 1 && tcp.flags.ack == 0)) && !tcp.analysis.retransmission && !tcp.analysis.out_of_order && !tcp.analysis.spurious_retransmission) || (udp && !icmp)"])
        .args(["-T", "fields", "-E", "separator=\t"])
        .args(["-e", "tcp.stream", "-e", "udp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport"])
        .args(["-e", "udp.srcport", "-e", "udp.dstport", "-e", "tcp.payload", "-e", "udp.payload"])
        .args(["-e", "tcp.flags.syn", "-e", "tcp.flags.ack"])
        .output()
        .expect("tshark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let r = Registry::new();
    let mut flows: HashMap<(bool, String), Flow> = HashMap::new();
    let mut sink = Sink(Vec::new());
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 10 {
            continue;
        }
        let tcp = !f[0].is_empty();
        let (stream, sp, dp, payload) = if tcp {
            (f[0], f[2], f[3], f[6])
        } else {
            (f[1], f[4], f[5], f[7])
        };
        let (Ok(sp), Ok(dp)) = (sp.parse::<u16>(), dp.parse::<u16>()) else {
            continue;
        };
        let transport = if tcp { Transport::TCP } else { Transport::UDP };
        let flow = flows
            .entry((tcp, stream.to_owned()))
            .or_insert_with(|| Flow {
                transport,
                client: None,
                tries: 0,
                label: None,
                dissector: None,
                bufs: [Vec::new(), Vec::new()],
            });
        let syn_only = f[8] == "1" && f[9] == "0";
        if flow.client.is_none() {
            flow.client = Some(
                if syn_only || r.is_service_port(transport, dp) || !r.is_service_port(transport, sp)
                {
                    (sp, dp)
                } else {
                    (dp, sp)
                },
            );
        }
        let data = hex(payload);
        if data.is_empty() {
            continue;
        }
        let dir = if flow.client == Some((sp, dp)) {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        if flow.label.is_none() && flow.tries < 6 {
            flow.tries += 1;
            match r.detect(transport, sp, dp, &data) {
                Detect::Found(id) => {
                    flow.label = Some(id);
                    flow.dissector = r.dissector(id, transport);
                    *labels
                        .entry(format!("{}/{}", transport.name(), id.name()))
                        .or_default() += 1;
                }
                Detect::NeedMore => continue,
                Detect::Unknown => {
                    flow.tries = u32::MAX;
                    let server = flow.client.map_or(dp, |c| c.1);
                    *labels
                        .entry(format!("{}/unknown:{server}", transport.name()))
                        .or_default() += 1;
                    continue;
                }
            }
        }
        let Some(d) = flow.dissector.as_mut() else {
            continue;
        };
        if flow.transport == Transport::UDP {
            d.parse(&data, dir, &mut sink);
            continue;
        }
        let buf = &mut flow.bufs[dir.index()];
        buf.extend_from_slice(&data);
        let p = d.parse(buf, dir, &mut sink);
        assert!(p.consumed <= buf.len());
        buf.drain(..p.consumed);
        if buf.len() > 1 << 20 {
            buf.clear();
            d.on_gap(dir, 0);
        }
    }
    sink.0
}

/// tshark's multiset of one field over a display filter.
fn tshark_values(file: &Path, filter: &str, field: &str) -> BTreeMap<String, usize> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-e", field])
        .output()
        .expect("tshark runs");
    let mut m = BTreeMap::new();
    for v in String::from_utf8_lossy(&out.stdout)
        .lines()
        .flat_map(|l| l.split(','))
    {
        if !v.is_empty() {
            let n = v.strip_prefix("0x").map_or_else(
                || v.parse::<u64>().ok(),
                |h| u64::from_str_radix(h, 16).ok(),
            );
            *m.entry(n.map_or(v.to_owned(), |n| n.to_string()))
                .or_default() += 1;
        }
    }
    m
}

fn ours(
    events: &[PduEvent],
    protocol: &str,
    keep: impl Fn(&PduEvent) -> bool,
) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events.iter().filter(|e| e.protocol == protocol && keep(e)) {
        *m.entry(e.function.map_or("-".to_owned(), |f| f.to_string()))
            .or_default() += 1;
    }
    m
}

fn total(m: &BTreeMap<String, usize>) -> usize {
    m.values().sum()
}

/// Multiset agreement: shared count over the larger total.
fn agreement(a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>) -> (usize, usize) {
    let shared = a
        .iter()
        .map(|(k, n)| (*n).min(*b.get(k).unwrap_or(&0)))
        .sum();
    (shared, total(a).max(total(b)))
}

#[test]
#[ignore = "needs tshark and the shared corpus"]
fn spotcheck_corpus() {
    let root = corpus();
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).expect("corpus manifest");
    // (our protocol, tshark filter, tshark function field, which of our events to compare)
    type Keep = fn(&PduEvent) -> bool;
    let checks: &[(&str, &str, &str, Keep)] = &[
        ("modbus", "modbus", "modbus.func_code", |_| true),
        (
            "s7comm",
            "s7comm.header.rosctr == 1 || s7comm.header.rosctr == 3",
            "s7comm.param.func",
            |e| {
                e.function.is_some_and(|f| f < 0x100)
                    && !e.fields.iter().any(|(n, _)| *n == "userdata_group")
            },
        ),
        ("enip", "enip", "enip.command", |_| true),
        // Application fragments (one event per reassembled fragment, as tshark's al.func).
        ("dnp3", "dnp3.al.func", "dnp3.al.func", |e| {
            e.function.is_some()
        }),
        ("iec104", "iec60870_104", "iec60870_104.type", |_| true),
        ("bacnet", "bvlc", "bvlc.function", |_| true),
    ];
    let mut labels = BTreeMap::new();
    let mut sums: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut anomalies: BTreeMap<String, usize> = BTreeMap::new();
    let only = std::env::var("SPOTCHECK_FILTER").unwrap_or_default();
    let verbose = std::env::var_os("SPOTCHECK_VERBOSE").is_some();
    for line in manifest.lines().skip(1) {
        let path = line.split('\t').next().unwrap_or_default();
        if !path.contains(&only) {
            continue;
        }
        let file = root.join(path);
        let events = dissect(&file, &mut labels);
        for e in &events {
            if verbose && !e.anomalies.is_empty() {
                println!(
                    "{path}: {} {:?} {:?} len {} {:?}",
                    e.protocol, e.function_name, e.anomalies, e.length, e.fields
                );
            }
            for a in &e.anomalies {
                *anomalies
                    .entry(format!("{}/{}", e.protocol, a))
                    .or_default() += 1;
            }
        }
        for (proto, filter, field, keep) in checks {
            let mut ts = tshark_values(&file, filter, field);
            let mut us = ours(&events, proto, keep);
            if matches!(*proto, "iec104" | "bacnet") {
                // Compare PDU counts only: tshark's field here marks one per PDU.
                ts = BTreeMap::from([("pdus".to_owned(), total(&ts))]);
                us = BTreeMap::from([("pdus".to_owned(), total(&us))]);
            }
            if total(&ts) == 0 && total(&us) == 0 {
                continue;
            }
            let (shared, of) = agreement(&ts, &us);
            let s = sums.entry(proto).or_default();
            s.0 += shared;
            s.1 += of;
            if shared != of {
                println!("{proto:7} {path}: tshark {ts:?} ours {us:?}");
            }
        }
    }
    println!("\nflow labels: {labels:?}\nanomalies: {anomalies:?}");
    for (p, (shared, of)) in &sums {
        println!(
            "{p:7} agreement {shared}/{of} = {:.2}%",
            100.0 * *shared as f64 / (*of).max(1) as f64
        );
    }
}
