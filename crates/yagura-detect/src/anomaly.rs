//! The anomaly engine: behaviours that are suspicious whatever the baseline says.
//!
//! - `port_scan`: one host probing many TCP ports of one host (vertical), or one port on
//!   many hosts (horizontal), with connections that never carried data;
//! - `plc_scan`: one host asking many devices who they are over industrial protocols
//!   (Modbus read device identification, CIP ListIdentity, S7 SZL reads, BACnet Who-Is…);
//! - `arp_scan`: one host asking the segment, by broadcast ARP, for many addresses that
//!   do not answer, within a minute (a sweep for hosts);
//! - `arp_spoofing`: one MAC claiming, in ARP, several addresses that other MACs use;
//! - `ip_conflict`: two MACs using one address on the local segment at the same time;
//! - `asset_silent`: a cyclic exchange (a poller and its device) that stopped while the
//!   capture went on.
//!
//! It works on a run's report and inventory, after the pipeline. The thresholds are the
//! constants below; docs/detection.md explains them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use yagura_core::{Attribute, IpAddr, MacAddr, OperationClass, Timestamp};
use yagura_dissect::ProtocolId;
use yagura_engine::Report;
use yagura_engine::arp::{ArpTarget, MAX_ARP_TARGETS_PER_SENDER};
use yagura_engine::report::Connection;
use yagura_model::fusion::Built;

use crate::alert::{AlertBook, Endpoint, MAX_EVIDENCE, PacketRef, Raise};
use crate::kinds::AlertKind;
use crate::policy::who;

/// Distinct unanswered ports of one host that make a vertical port scan.
pub const PORT_SCAN_PORTS: usize = 20;
/// Distinct hosts probed on one port that make a horizontal scan.
pub const PORT_SCAN_HOSTS: usize = 20;
/// Distinct devices asked for their identity that make an identity sweep.
pub const PLC_SCAN_TARGETS: usize = 5;
/// Distinct addresses that never answered, asked for by one host by broadcast ARP within
/// [`ARP_SCAN_WINDOW_S`], that make an ARP sweep.
pub const ARP_SCAN_TARGETS: usize = 16;
/// The window of an ARP sweep (seconds).
pub const ARP_SCAN_WINDOW_S: u64 = 60;
/// A cyclic exchange is silent after this many of its periods without a packet…
pub const SILENT_PERIODS: f64 = 10.0;
/// …and at least this long (seconds).
pub const SILENT_MIN_S: f64 = 60.0;

/// Raise the anomaly engine's alerts of one run into `book`.
pub fn raise(book: &mut AlertBook, report: &Report, built: &Built) {
    port_scans(book, report);
    plc_scans(book, report);
    arp_scans(book, report);
    arp(book, report);
    silent(book, report, built);
}

/// The first packets of `conns` (by input index), as evidence.
fn evidence<'a>(conns: impl Iterator<Item = &'a Connection>) -> Vec<PacketRef> {
    let mut v: Vec<PacketRef> = conns
        .map(|c| PacketRef {
            index: c.first_packet,
            time: c.first_seen,
        })
        .collect();
    v.sort_unstable();
    v.truncate(MAX_EVIDENCE);
    v
}

/// When the first of `conns` began and the last ended.
fn span<'a>(conns: impl Iterator<Item = &'a Connection> + Clone) -> (Timestamp, Timestamp) {
    (
        conns
            .clone()
            .map(|c| c.first_seen)
            .min()
            .unwrap_or_default(),
        conns.map(|c| c.last_seen).max().unwrap_or_default(),
    )
}

fn ip_end(ip: IpAddr, mac: Option<MacAddr>) -> Endpoint {
    Endpoint {
        ip: Some(ip),
        mac,
        port: None,
    }
}

/// The /24 (IPv4) or /64 (IPv6) network of an address.
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & 0xffff_ff00).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & !((1u128 << 64) - 1)).into()),
    }
}

/// A TCP connection that never carried data: a probe (a SYN and perhaps a reset).
fn is_probe(c: &Connection) -> bool {
    c.transport.name() == "tcp"
        && c.pdus == 0
        && c.packets_to_server <= 3
        && (c.packets_to_client == 0 || matches!(c.tcp_state, Some("reset" | "rejected")))
        && c.packets_to_client <= 2
}

fn port_scans(book: &mut AlertBook, report: &Report) {
    // Per scanner: its probes by target host and by port.
    let mut by_src: BTreeMap<IpAddr, Vec<&Connection>> = BTreeMap::new();
    for c in report.connections.iter().filter(|c| is_probe(c)) {
        by_src.entry(c.src).or_default().push(c);
    }
    for (src, probes) in by_src {
        let mut per_host: BTreeMap<IpAddr, BTreeSet<u16>> = BTreeMap::new();
        // A sweep covers a network: its targets are counted per /24 (IPv4) or /64
        // (IPv6), so that a workstation failing to reach web servers all over the
        // internet (an offline plant) is not a sweep.
        let mut per_port: BTreeMap<(u16, IpAddr), BTreeSet<IpAddr>> = BTreeMap::new();
        for c in &probes {
            per_host.entry(c.dst).or_default().insert(c.dst_port);
            per_port
                .entry((c.dst_port, network(c.dst)))
                .or_default()
                .insert(c.dst);
        }
        let src_mac = probes.iter().find_map(|c| c.src_mac);
        for (dst, ports) in per_host.iter().filter(|(_, p)| p.len() >= PORT_SCAN_PORTS) {
            let conns: Vec<&&Connection> = probes.iter().filter(|c| c.dst == *dst).collect();
            let resets = conns.iter().filter(|c| c.packets_to_client > 0).count();
            let (first, last) = span(conns.iter().map(|c| **c));
            book.raise_repeated(
                Raise {
                    kind: AlertKind::PortScan,
                    time: first,
                    src: ip_end(src, src_mac),
                    dst: ip_end(*dst, conns.iter().find_map(|c| c.dst_mac)),
                    protocol: None,
                    function: None,
                    description: format!(
                        "{src} probed {} TCP ports of {dst} ({}–{}) without exchanging data \
                         ({resets} answered with a reset): a port scan.",
                        ports.len(),
                        ports.first().unwrap_or(&0),
                        ports.last().unwrap_or(&0),
                    ),
                    evidence: evidence(conns.iter().map(|c| **c)),
                },
                conns.len() as u64,
                last,
            );
        }
        for ((port, net), hosts) in per_port.iter().filter(|(_, h)| h.len() >= PORT_SCAN_HOSTS) {
            let conns: Vec<&&Connection> = probes
                .iter()
                .filter(|c| c.dst_port == *port && network(c.dst) == *net)
                .collect();
            let (first, last) = span(conns.iter().map(|c| **c));
            book.raise_repeated(
                Raise {
                    kind: AlertKind::PortScan,
                    time: first,
                    src: ip_end(src, src_mac),
                    dst: Endpoint {
                        ip: None,
                        mac: None,
                        port: Some(*port),
                    },
                    protocol: None,
                    function: None,
                    description: format!(
                        "{src} probed TCP port {port} on {} hosts of {net}/{} ({}…) without \
                         exchanging data: a sweep for that service.",
                        hosts.len(),
                        if net.is_ipv4() { 24 } else { 64 },
                        hosts
                            .iter()
                            .take(5)
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    evidence: evidence(conns.iter().map(|c| **c)),
                },
                conns.len() as u64,
                last,
            );
        }
    }
}

fn plc_scans(book: &mut AlertBook, report: &Report) {
    let mut by_src: BTreeMap<IpAddr, Vec<&Connection>> = BTreeMap::new();
    for c in &report.connections {
        let industrial = c
            .protocol
            .and_then(ProtocolId::from_name)
            .is_some_and(ProtocolId::is_industrial);
        if industrial && c.operations.contains(OperationClass::Identify) {
            by_src.entry(c.src).or_default().push(c);
        }
    }
    for (src, conns) in by_src {
        let targets: BTreeSet<IpAddr> = conns.iter().map(|c| c.dst).collect();
        if targets.len() < PLC_SCAN_TARGETS {
            continue;
        }
        let protocols: BTreeSet<&str> = conns.iter().filter_map(|c| c.protocol).collect();
        let (first, last) = span(conns.iter().copied());
        book.raise_repeated(
            Raise {
                kind: AlertKind::PlcScan,
                time: first,
                src: ip_end(src, conns.iter().find_map(|c| c.src_mac)),
                dst: Endpoint::default(),
                protocol: (protocols.len() == 1)
                    .then(|| protocols.first().map(|p| (*p).to_owned()))
                    .flatten(),
                function: None,
                description: format!(
                    "{src} asked {} devices for their identity over {} ({}…): a sweep for \
                     controllers, as reconnaissance tools do.",
                    targets.len(),
                    protocols.iter().copied().collect::<Vec<_>>().join(", "),
                    targets
                        .iter()
                        .take(5)
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                evidence: evidence(conns.iter().copied()),
            },
            conns.len() as u64,
            last,
        );
    }
}

/// The most targets of `targets` (sorted by first request) that did not answer and were
/// first asked for within one window, and the window's first and last target.
fn densest_unanswered(targets: &[&ArpTarget]) -> (usize, usize, usize) {
    let window = ARP_SCAN_WINDOW_S * 1_000_000_000;
    let (mut best, mut from, mut to) = (0, 0, 0);
    let mut i = 0;
    for j in 0..targets.len() {
        while targets[j].first_seen.since(targets[i].first_seen) > window {
            i += 1;
        }
        if j + 1 - i > best {
            (best, from, to) = (j + 1 - i, i, j);
        }
    }
    (best, from, to)
}

fn arp_scans(book: &mut AlertBook, report: &Report) {
    // A DHCP server may check by ARP that an address is free before offering it: many at
    // once when a plant's devices start together.
    let dhcp_servers: BTreeSet<IpAddr> = report
        .observations
        .identity
        .iter()
        .filter(|f| f.attribute == Attribute::Role && f.value == "dhcp_server")
        .filter_map(|f| f.ip)
        .collect();
    for r in &report.observations.arp_requests {
        if dhcp_servers.contains(&r.ip) {
            continue;
        }
        let mut silent: Vec<&ArpTarget> = r.targets.iter().filter(|t| !t.answered).collect();
        if silent.len() < ARP_SCAN_TARGETS {
            continue;
        }
        silent.sort_by_key(|t| (t.first_seen, t.first_packet));
        let (n, from, to) = densest_unanswered(&silent);
        if n < ARP_SCAN_TARGETS {
            continue;
        }
        let sweep = &silent[from..=to];
        let (first, last) = (sweep[0].first_seen, sweep[n - 1].first_seen);
        let (low, high) = (
            sweep.iter().map(|t| t.ip).min().unwrap_or(r.ip),
            sweep.iter().map(|t| t.ip).max().unwrap_or(r.ip),
        );
        let mut evidence: Vec<PacketRef> = sweep
            .iter()
            .map(|t| PacketRef {
                index: t.first_packet,
                time: t.first_seen,
            })
            .collect();
        evidence.sort_unstable();
        evidence.truncate(MAX_EVIDENCE);
        let answered = r.targets.iter().filter(|t| t.answered).count();
        book.raise_repeated(
            Raise {
                kind: AlertKind::ArpScan,
                time: first,
                src: ip_end(r.ip, Some(r.mac)),
                dst: Endpoint::default(),
                protocol: Some("arp".into()),
                function: None,
                description: format!(
                    "{} ({}) asked by broadcast ARP for {n} addresses that did not answer \
                     within {:.0} s ({low} to {high}); in all it asked for {}{} addresses \
                     ({answered} answered) in {} requests: a sweep for hosts.",
                    r.ip,
                    r.mac,
                    last.since(first) as f64 / 1e9,
                    if r.targets.len() >= MAX_ARP_TARGETS_PER_SENDER {
                        "at least "
                    } else {
                        ""
                    },
                    r.targets.len(),
                    r.requests,
                ),
                evidence,
            },
            n as u64,
            last,
        );
    }
}

fn arp(book: &mut AlertBook, report: &Report) {
    use yagura_engine::observe::MacIpBinding;
    let bindings = &report.observations.bindings;
    // Who uses each address on the local segment.
    let mut users: HashMap<IpAddr, Vec<&MacIpBinding>> = HashMap::new();
    for b in bindings {
        let local = b.flows_local > 0 || b.arp_requests + b.arp_replies + b.arp_gratuitous > 0;
        // Loopback addresses in a capture are a host talking to itself (with made-up
        // MACs in some traces), never a conflict on the wire.
        if local
            && !b.mac.is_group()
            && !b.mac.is_zero()
            && !b.ip.is_unspecified()
            && !b.ip.is_loopback()
        {
            users.entry(b.ip).or_default().push(b);
        }
    }
    let overlap = |a: &MacIpBinding, b: &MacIpBinding| {
        a.first_seen <= b.last_seen && b.first_seen <= a.last_seen
    };
    // A MAC answering ARP for addresses other MACs use at the same time.
    let mut claims: BTreeMap<MacAddr, Vec<(&MacIpBinding, &MacIpBinding)>> = BTreeMap::new();
    for list in users.values() {
        for b in list.iter().filter(|b| b.arp_replies + b.arp_gratuitous > 0) {
            if let Some(owner) = list
                .iter()
                .find(|o| o.mac != b.mac && o.flows_local > 0 && overlap(o, b))
            {
                claims.entry(b.mac).or_default().push((b, owner));
            }
        }
    }
    let mut spoofed: BTreeSet<IpAddr> = BTreeSet::new();
    for (mac, list) in &claims {
        if list.len() < 2 {
            continue;
        }
        spoofed.extend(list.iter().map(|(b, _)| b.ip));
        let first = list
            .iter()
            .map(|(b, _)| b.first_seen)
            .min()
            .unwrap_or_default();
        let last = list
            .iter()
            .map(|(b, _)| b.last_seen)
            .max()
            .unwrap_or_default();
        let replies: u64 = list
            .iter()
            .map(|(b, _)| b.arp_replies + b.arp_gratuitous)
            .sum();
        book.raise_repeated(
            Raise {
                kind: AlertKind::ArpSpoofing,
                time: first,
                src: Endpoint {
                    ip: None,
                    mac: Some(*mac),
                    port: None,
                },
                dst: Endpoint::default(),
                protocol: Some("arp".into()),
                function: None,
                description: format!(
                    "{mac} claimed in ARP the addresses of other devices: {}. A host \
                     answering for others' addresses can put itself in the middle of their \
                     traffic (or it is a router doing proxy ARP).",
                    list.iter()
                        .map(|(b, o)| format!("{} (used by {})", b.ip, o.mac))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                evidence: Vec::new(),
            },
            replies.max(1),
            last,
        );
    }
    let mut ips: Vec<&IpAddr> = users.keys().collect();
    ips.sort();
    for ip in ips {
        if spoofed.contains(ip) {
            continue;
        }
        let mut list = users[ip].clone();
        list.sort_by_key(|b| (b.first_seen, b.mac));
        let Some((earlier, later)) = list.iter().enumerate().find_map(|(i, a)| {
            list[i + 1..]
                .iter()
                .find(|b| overlap(a, b))
                .map(|b| (*a, *b))
        }) else {
            continue;
        };
        book.raise(Raise {
            kind: AlertKind::IpConflict,
            time: later.first_seen,
            src: ip_end(*ip, Some(later.mac)),
            dst: ip_end(*ip, Some(earlier.mac)),
            protocol: None,
            function: None,
            description: format!(
                "{ip} is used by two devices at once: {} (since {}) and {} (since {}). \
                 Traffic for the address reaches one of them at random.",
                earlier.mac,
                earlier.first_seen.to_rfc3339(),
                later.mac,
                later.first_seen.to_rfc3339()
            ),
            evidence: Vec::new(),
        });
    }
}

fn silent(book: &mut AlertBook, report: &Report, built: &Built) {
    let Some(end) = report.capture.last_seen else {
        return;
    };
    let assets = &built.inventory.assets;
    let by_id: HashMap<&str, &yagura_model::inventory::Asset> =
        assets.iter().map(|a| (a.id.as_str(), a)).collect();
    for e in &built.inventory.edges {
        let Some(p) = e.polling_period_s else {
            continue;
        };
        let gap = end.since(e.last_seen) as f64 / 1e9;
        if gap < (SILENT_PERIODS * p).max(SILENT_MIN_S) {
            continue;
        }
        let (Some(src), Some(dst)) = (by_id.get(e.src.as_str()), by_id.get(e.dst.as_str())) else {
            continue;
        };
        let end_of = |a: &yagura_model::inventory::Asset| Endpoint {
            ip: a.ips.first().copied(),
            mac: a.mac,
            port: None,
        };
        book.raise(Raise {
            kind: AlertKind::AssetSilent,
            time: e.last_seen,
            src: end_of(src),
            dst: end_of(dst),
            protocol: e.protocol.clone(),
            function: None,
            description: format!(
                "{} polled {} every {p:.3} s over {} until {}; then nothing for {gap:.0} s \
                 while the capture went on: the device or its poller stopped.",
                who(src),
                who(dst),
                e.protocol.as_deref().unwrap_or(&e.transport),
                e.last_seen.to_rfc3339()
            ),
            evidence: Vec::new(),
        });
    }
}
