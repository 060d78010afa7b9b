//! `build` at scale (issue 4 §10): a synthetic report of 50,000 hosts and 500,000
//! connections (about 500,000 edges), with identity facts on one host in ten and 1,000 hosts
//! behind a router.
//!
//! `cargo bench -p yagura-model --bench build` prints the time per build and, once, the
//! memory the inventory holds per asset and per edge (resident-set growth, Linux).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use yagura_core::{Attribute, IpAddr, MacAddr, OperationClass, OperationSet, Timestamp, Transport};
use yagura_engine::report::{Asset as Host, Connection, Observations, Report};
use yagura_engine::{IdentityObservation, MacIpBinding, RequestTiming};

const HOSTS: u32 = 50_000;
const ROUTED: u32 = 1_000;
const CONNECTIONS: u32 = 500_000;

fn t(s: u64) -> Timestamp {
    Timestamp(s * 1_000_000_000)
}

fn addr(i: u32) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 | i))
}

fn mac(i: u32) -> MacAddr {
    let b = i.to_be_bytes();
    MacAddr([0x00, 0x1b, 0x1b, b[1], b[2], b[3]])
}

const ROUTER: MacAddr = MacAddr([0x00, 0x1d, 0xa1, 0, 0, 1]);

/// The synthetic report: hosts 0..HOSTS-ROUTED local, the rest behind one router MAC.
pub fn synthetic(connections: u32) -> Report {
    let mut assets = Vec::with_capacity(HOSTS as usize);
    let mut bindings = Vec::with_capacity(HOSTS as usize);
    let mut identity = Vec::new();
    for i in 0..HOSTS {
        let local = i < HOSTS - ROUTED;
        let m = if local { mac(i) } else { ROUTER };
        assets.push(Host {
            ips: vec![addr(i)],
            mac: Some(m),
            vendor: None,
            mac_locally_administered: Some(false),
            first_seen: t(0),
            last_seen: t(3600),
            packets_sent: 1000,
            bytes_sent: 100_000,
        });
        bindings.push(MacIpBinding {
            mac: m,
            ip: addr(i),
            first_seen: t(0),
            last_seen: t(3600),
            flows: 10,
            flows_local: if local { 10 } else { 0 },
            flows_routed: if local { 0 } else { 10 },
            arp_requests: u64::from(local),
            arp_replies: 0,
            arp_gratuitous: 0,
        });
        if i % 10 == 0 {
            for (attribute, value) in [
                (Attribute::Model, format!("CPU 31{}-2 PN/DP", i % 7)),
                (Attribute::Firmware, format!("V3.{}.{}", i % 4, i % 9)),
            ] {
                identity.push(IdentityObservation {
                    ip: Some(addr(i)),
                    mac: Some(m),
                    route: None,
                    protocol: "s7comm",
                    attribute,
                    value,
                    first_seen: t(10),
                    last_seen: t(20),
                    count: 2,
                });
            }
        }
    }
    bindings.sort_by_key(|a| (a.mac, a.ip));
    const PROTOS: [(&str, u16); 5] = [
        ("modbus", 502),
        ("s7comm", 102),
        ("enip", 44818),
        ("dnp3", 20000),
        ("http", 80),
    ];
    let mut conns = Vec::with_capacity(connections as usize);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for k in 0..connections {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let src = (x % u64::from(HOSTS)) as u32;
        let dst = ((x >> 20) % u64::from(HOSTS)) as u32;
        let (p, port) = PROTOS[(k % 5) as usize];
        let mut ops = OperationSet::default();
        ops.insert(OperationClass::Read);
        let mut timing = RequestTiming::default();
        for r in 0..4 {
            timing.add(Timestamp(u64::from(k) * 1_000_000 + r * 500_000_000), r);
        }
        let src_mac = (src < HOSTS - ROUTED).then(|| mac(src)).or(Some(ROUTER));
        let dst_mac = (dst < HOSTS - ROUTED).then(|| mac(dst)).or(Some(ROUTER));
        conns.push(Connection {
            src: addr(src),
            dst: addr(dst),
            transport: Transport::TCP,
            src_port: 40000 + (k % 20000) as u16,
            dst_port: port,
            vlan: None,
            protocol: Some(p),
            packets: 20,
            bytes: 2000,
            packets_to_server: 10,
            packets_to_client: 10,
            bytes_to_server: 1000,
            bytes_to_client: 1000,
            first_seen: t(u64::from(k % 3600)),
            last_seen: t(u64::from(k % 3600) + 2),
            first_packet: u64::from(k),
            sessions: 1,
            tcp_state: Some("closed"),
            pdus: 8,
            pdu_anomalies: 0,
            operations: ops,
            polling_period_s: timing.period_s(),
            timing,
            src_mac,
            dst_mac,
        });
    }
    Report {
        schema: yagura_engine::report::SCHEMA,
        generator: yagura_engine::report::Generator {
            name: "yagura",
            version: "bench",
        },
        capture: Default::default(),
        assets,
        connections: conns,
        protocols: Vec::new(),
        pipeline: Default::default(),
        observations: Observations {
            identity,
            bindings,
            operations: Vec::new(),
            observables: Vec::new(),
            arp_requests: Vec::new(),
        },
    }
}

/// Resident set size in bytes (Linux), 0 elsewhere.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// CPU time of this thread in seconds (Linux), 0 elsewhere: the machine may be shared.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn memory() {
    let hosts_only = synthetic(0);
    let before = rss();
    let inv = yagura_model::build(&hosts_only);
    let assets_bytes = rss().saturating_sub(before);
    let n_assets = inv.assets.len();
    drop(inv);
    drop(hosts_only);
    let full = synthetic(CONNECTIONS);
    let before = rss();
    let t0 = std::time::Instant::now();
    let c0 = cpu_s();
    let inv = yagura_model::build(&full);
    let took = t0.elapsed();
    let cpu = cpu_s() - c0;
    let all = rss().saturating_sub(before);
    eprintln!(
        "build: {} assets, {} edges from {} connections in {:.2} s ({:.2} s CPU); inventory ≈ {} B per asset, ≈ {} B per edge (RSS growth)",
        inv.assets.len(),
        inv.edges.len(),
        full.connections.len(),
        took.as_secs_f64(),
        cpu,
        assets_bytes / n_assets.max(1) as u64,
        all.saturating_sub(assets_bytes) / inv.edges.len().max(1) as u64,
    );
}

fn bench(c: &mut Criterion) {
    memory();
    let report = synthetic(CONNECTIONS);
    let mut g = c.benchmark_group("inventory");
    g.sample_size(10);
    g.bench_function("build_50k_hosts_500k_connections", |b| {
        b.iter(|| black_box(yagura_model::build(black_box(&report))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
