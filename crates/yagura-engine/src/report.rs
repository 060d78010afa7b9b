//! The analysis report (`yagura.report/1`) and its aggregation across workers.
//!
//! Every collection is ordered by a key derived from the input alone (times, addresses,
//! packet indices), never by thread or hash order, so the report is byte-identical whatever
//! the number of worker threads.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use serde::Serialize;
use yagura_core::{IpAddr, MacAddr, OperationSet, Timestamp, Transport, to_ip};

use crate::observe::{Bindings, Facts, IdentityObservation, MacIpBinding, RequestTiming};

/// Schema id of the report document.
pub const SCHEMA: &str = "yagura.report/1";

#[derive(Debug, Clone, Serialize)]
pub struct Generator {
    pub name: &'static str,
    pub version: &'static str,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub generator: Generator,
    pub capture: CaptureSummary,
    pub assets: Vec<Asset>,
    pub connections: Vec<Connection>,
    /// Application protocols by packets and bytes (sum over their connections).
    pub protocols: Vec<ProtocolCount>,
    /// Internal counters of the pipeline (flow table, reassembly, defragmentation).
    pub pipeline: PipelineStats,
    /// What the inventory is built from besides hosts and connections.
    pub observations: Observations,
}

/// Observations for the inventory (`yagura-model` fuses them into assets).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observations {
    /// Identity facts per host, sorted by address, MAC, attribute, value and protocol.
    pub identity: Vec<IdentityObservation>,
    /// MAC↔IP bindings (frames and ARP), sorted by MAC and address.
    pub bindings: Vec<MacIpBinding>,
    /// Operational requests (stop, start, restart, program download or upload, firmware
    /// update, configuration change), folded per sender, receiver, protocol and function,
    /// in order of first occurrence.
    pub operations: Vec<crate::operations::OperationObservation>,
    /// Names clients asked for (DNS queries, HTTP hosts, TLS server names) and TLS
    /// certificate fingerprints, folded per kind, value, client and server, in order of
    /// first occurrence: what threat intelligence matches besides addresses.
    pub observables: Vec<crate::observables::Observable>,
    /// Hosts that broadcast ARP requests for other addresses, with the addresses asked
    /// for (the first [`MAX_ARP_TARGETS_PER_SENDER`](crate::arp::MAX_ARP_TARGETS_PER_SENDER)
    /// per host), sorted by MAC and address.
    pub arp_requests: Vec<crate::arp::ArpRequester>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureSummary {
    pub files: Vec<String>,
    /// Every record of the input (equals `capinfos -c`).
    pub packets: u64,
    /// Captured bytes of all records.
    pub bytes: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub duration_s: f64,
    /// Records per link type name.
    pub link_types: BTreeMap<String, u64>,
    /// Records that could not be decoded, per reason (an unsupported link type counts under
    /// its name).
    pub undecodable: BTreeMap<String, u64>,
    /// Frames per layer-3 kind (`ipv4`, `ipv6`, `arp`, `lldp`, `ethertype_0x8892`, `llc`, …).
    pub l3: BTreeMap<String, u64>,
    /// Non-fatal problems met while reading (e.g. a truncated last record).
    pub warnings: Vec<String>,
    /// Packets the kernel or Yagura dropped (live capture).
    pub drops: Drops,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Drops {
    pub kernel: u64,
    pub internal: u64,
}

/// A host seen in the traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Asset {
    pub ips: Vec<IpAddr>,
    pub mac: Option<MacAddr>,
    /// The MAC's vendor (IEEE registry, normalised name). The engine leaves it `None`; the
    /// command line fills it from `yagura-model` (which depends on the engine, not the
    /// reverse). Serialised as `null` when unknown.
    pub vendor: Option<String>,
    /// Whether the MAC is locally administered (likely randomised or virtual); absent when
    /// no MAC is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_locally_administered: Option<bool>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub packets_sent: u64,
    pub bytes_sent: u64,
}

/// A conversation: all flows with the same client, server, transport, ports and VLAN.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    pub src_port: u16,
    pub dst_port: u16,
    pub vlan: Option<u16>,
    pub protocol: Option<&'static str>,
    pub packets: u64,
    pub bytes: u64,
    pub packets_to_server: u64,
    pub packets_to_client: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Index in the input of the connection's first packet (the evidence of a new
    /// connection).
    #[serde(skip)]
    pub first_packet: u64,
    /// Flows (sessions) folded into this connection.
    pub sessions: u64,
    /// TCP state of the last session (`established`, `closed`, `reset`, …).
    pub tcp_state: Option<&'static str>,
    /// Application PDUs parsed, and those with anomalies.
    pub pdus: u64,
    pub pdu_anomalies: u64,
    /// Operation classes of the requests seen (`read`, `write`, `program_download`, …), in
    /// a fixed order.
    pub operations: OperationSet,
    /// The period of the client's requests in seconds, when they are cyclic.
    pub polling_period_s: Option<f64>,
    /// Timing of the request packets (for the inventory, which combines connections).
    #[serde(skip)]
    pub timing: RequestTiming,
    /// Source MACs of the client's and the server's first frames, when seen.
    #[serde(skip)]
    pub src_mac: Option<MacAddr>,
    #[serde(skip)]
    pub dst_mac: Option<MacAddr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtocolCount {
    pub protocol: &'static str,
    pub packets: u64,
    pub bytes: u64,
    pub connections: u64,
}

/// Counters of the pipeline's internals, summed over workers.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PipelineStats {
    pub flows_created: u64,
    pub flows_evicted: u64,
    pub flows_reused: u64,
    pub tcp_retransmissions: u64,
    pub tcp_overlaps: u64,
    pub tcp_overlap_conflicts: u64,
    pub tcp_out_of_order: u64,
    pub tcp_gaps: u64,
    pub tcp_gap_bytes: u64,
    pub tcp_midstream: u64,
    pub tcp_cap_drops: u64,
    pub tcp_resyncs: u64,
    pub fragments: u64,
    pub fragments_reassembled: u64,
    pub fragments_timed_out: u64,
    pub fragments_evicted: u64,
    pub fragment_overlap_conflicts: u64,
    pub fragments_oversize: u64,
    pub app_buffer_overflows: u64,
    pub pdus: u64,
    pub pdu_anomalies: u64,
    /// PDUs of link-layer protocols (LLDP, CDP, STP, Profinet DCP).
    pub link_pdus: u64,
    /// Identity facts beyond the per-host cap, not kept.
    pub identity_facts_dropped: u64,
    /// MAC↔IP bindings beyond the per-MAC cap, not kept.
    pub bindings_dropped: u64,
    /// Operational requests not kept: the per-worker table of distinct ones was full.
    pub operations_dropped: u64,
    /// Names and fingerprints not kept: the per-worker table of distinct ones was full.
    pub observables_dropped: u64,
    /// ARP requests for targets not kept: the per-worker table of (sender, target) pairs
    /// was full.
    pub arp_targets_dropped: u64,
}

impl PipelineStats {
    pub fn add(&mut self, o: &PipelineStats) {
        macro_rules! sum { ($($f:ident),*) => { $( self.$f += o.$f; )* } }
        sum!(
            flows_created,
            flows_evicted,
            flows_reused,
            tcp_retransmissions,
            tcp_overlaps,
            tcp_overlap_conflicts,
            tcp_out_of_order,
            tcp_gaps,
            tcp_gap_bytes,
            tcp_midstream,
            tcp_cap_drops,
            tcp_resyncs,
            fragments,
            fragments_reassembled,
            fragments_timed_out,
            fragments_evicted,
            fragment_overlap_conflicts,
            fragments_oversize,
            app_buffer_overflows,
            pdus,
            pdu_anomalies,
            link_pdus,
            identity_facts_dropped,
            bindings_dropped,
            operations_dropped,
            observables_dropped,
            arp_targets_dropped
        );
    }
}

/// What a host looks like while being aggregated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostAgg {
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The MAC first seen as this IP's source, with the index of that packet (the earliest
    /// index wins when workers are merged).
    pub mac: Option<(u64, MacAddr)>,
    pub packets_sent: u64,
    pub bytes_sent: u64,
}

impl HostAgg {
    pub fn new(ts: Timestamp) -> HostAgg {
        HostAgg {
            first_seen: ts,
            last_seen: ts,
            mac: None,
            packets_sent: 0,
            bytes_sent: 0,
        }
    }

    #[inline]
    pub fn touch(&mut self, ts: Timestamp) {
        if ts < self.first_seen {
            self.first_seen = ts;
        }
        if ts > self.last_seen {
            self.last_seen = ts;
        }
    }

    pub fn merge(&mut self, o: &HostAgg) {
        self.touch(o.first_seen);
        self.touch(o.last_seen);
        self.packets_sent += o.packets_sent;
        self.bytes_sent += o.bytes_sent;
        self.mac = match (self.mac, o.mac) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
    }
}

/// Key of a connection: client, server, transport, ports, VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnKey {
    pub client: [u8; 16],
    pub server: [u8; 16],
    pub transport: Transport,
    pub client_port: u16,
    pub server_port: u16,
    pub vlan: u16,
}

#[derive(Debug, Clone)]
pub(crate) struct ConnAgg {
    pub protocol: Option<&'static str>,
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Id (first packet index) of the first session, for a stable order.
    pub first_id: u64,
    pub sessions: u64,
    pub tcp_state: Option<&'static str>,
    pub pdus: u64,
    pub pdu_anomalies: u64,
    pub operations: OperationSet,
    pub timing: RequestTiming,
    /// Client and server MACs of the first session that had them.
    pub macs: [MacAddr; 2],
}

/// Everything one worker aggregated; merged into the report at the end.
#[derive(Default)]
pub(crate) struct Partial {
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub link_types: BTreeMap<String, u64>,
    pub undecodable: BTreeMap<String, u64>,
    pub l3: BTreeMap<String, u64>,
    pub hosts_ip: HashMap<[u8; 16], HostAgg>,
    pub hosts_mac: HashMap<MacAddr, HostAgg>,
    pub conns: HashMap<ConnKey, ConnAgg>,
    pub facts: Facts,
    pub bindings: Bindings,
    pub operations: crate::operations::Operations,
    pub observables: crate::observables::Observables,
    pub arp: crate::arp::ArpRequests,
    pub pipeline: PipelineStats,
}

impl Partial {
    pub fn merge(&mut self, o: Partial) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.first_seen = min_opt(self.first_seen, o.first_seen);
        self.last_seen = max_opt(self.last_seen, o.last_seen);
        for (k, v) in o.link_types {
            *self.link_types.entry(k).or_default() += v;
        }
        for (k, v) in o.undecodable {
            *self.undecodable.entry(k).or_default() += v;
        }
        for (k, v) in o.l3 {
            *self.l3.entry(k).or_default() += v;
        }
        for (k, v) in o.hosts_ip {
            self.hosts_ip
                .entry(k)
                .and_modify(|h| h.merge(&v))
                .or_insert(v);
        }
        for (k, v) in o.hosts_mac {
            self.hosts_mac
                .entry(k)
                .and_modify(|h| h.merge(&v))
                .or_insert(v);
        }
        // A connection key belongs to one worker (flows are sharded by address pair).
        self.conns.extend(o.conns);
        self.facts.merge(o.facts);
        self.bindings.merge(o.bindings);
        self.operations.merge(o.operations);
        self.observables.merge(o.observables);
        self.arp.merge(o.arp);
        self.pipeline.add(&o.pipeline);
    }

    /// Build the report document.
    pub fn into_report(self, files: Vec<String>, warnings: Vec<String>, drops: Drops) -> Report {
        let duration_s = match (self.first_seen, self.last_seen) {
            (Some(a), Some(b)) => b.since(a) as f64 / 1e9,
            _ => 0.0,
        };
        // Hosts: one asset per IP; MACs that never carried an IP (pure L2 devices) are
        // assets of their own.
        let macs_with_ip: hashbrown::HashSet<MacAddr> = self
            .hosts_ip
            .values()
            .filter_map(|h| h.mac.map(|m| m.1))
            .collect();
        let mut assets: Vec<Asset> = self
            .hosts_ip
            .iter()
            .map(|(ip, h)| Asset {
                ips: vec![to_ip(ip)],
                mac: h.mac.map(|m| m.1),
                vendor: None,
                mac_locally_administered: h.mac.map(|m| m.1.is_local()),
                first_seen: h.first_seen,
                last_seen: h.last_seen,
                packets_sent: h.packets_sent,
                bytes_sent: h.bytes_sent,
            })
            .collect();
        assets.extend(
            self.hosts_mac
                .iter()
                .filter(|(m, _)| !macs_with_ip.contains(*m))
                .map(|(m, h)| Asset {
                    ips: Vec::new(),
                    mac: Some(*m),
                    vendor: None,
                    mac_locally_administered: Some(m.is_local()),
                    first_seen: h.first_seen,
                    last_seen: h.last_seen,
                    packets_sent: h.packets_sent,
                    bytes_sent: h.bytes_sent,
                }),
        );
        assets.sort_by(|a, b| (a.ips.first(), a.mac).cmp(&(b.ips.first(), b.mac)));

        let mut conns: Vec<(ConnKey, ConnAgg)> = self.conns.into_iter().collect();
        conns.sort_by(|a, b| {
            (a.1.first_seen, a.1.first_id, a.0).cmp(&(b.1.first_seen, b.1.first_id, b.0))
        });
        let mut protocols: BTreeMap<&'static str, ProtocolCount> = BTreeMap::new();
        let connections: Vec<Connection> = conns
            .into_iter()
            .map(|(k, c)| {
                if let Some(p) = c.protocol {
                    let e = protocols.entry(p).or_insert(ProtocolCount {
                        protocol: p,
                        packets: 0,
                        bytes: 0,
                        connections: 0,
                    });
                    e.packets += c.packets[0] + c.packets[1];
                    e.bytes += c.bytes[0] + c.bytes[1];
                    e.connections += 1;
                }
                Connection {
                    src: to_ip(&k.client),
                    dst: to_ip(&k.server),
                    transport: k.transport,
                    src_port: k.client_port,
                    dst_port: k.server_port,
                    vlan: (k.vlan != 0).then_some(k.vlan),
                    protocol: c.protocol,
                    packets: c.packets[0] + c.packets[1],
                    bytes: c.bytes[0] + c.bytes[1],
                    packets_to_server: c.packets[0],
                    packets_to_client: c.packets[1],
                    bytes_to_server: c.bytes[0],
                    bytes_to_client: c.bytes[1],
                    first_seen: c.first_seen,
                    last_seen: c.last_seen,
                    first_packet: c.first_id,
                    sessions: c.sessions,
                    tcp_state: c.tcp_state,
                    pdus: c.pdus,
                    pdu_anomalies: c.pdu_anomalies,
                    operations: c.operations,
                    polling_period_s: c.timing.period_s(),
                    timing: c.timing,
                    src_mac: unicast(c.macs[0]),
                    dst_mac: unicast(c.macs[1]),
                }
            })
            .collect();
        let mut protocols: Vec<ProtocolCount> = protocols.into_values().collect();
        protocols.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.protocol.cmp(b.protocol)));
        let (identity, facts_dropped) = self.facts.into_report();
        let (bindings, bindings_dropped) = self.bindings.into_report();
        let (operations, operations_dropped) = self.operations.into_report();
        let (arp_requests, arp_targets_dropped) = self.arp.into_report();
        let mut pipeline = self.pipeline;
        pipeline.identity_facts_dropped = facts_dropped;
        pipeline.bindings_dropped = bindings_dropped;
        pipeline.operations_dropped = operations_dropped;
        let (observables, observables_dropped) = self.observables.into_report();
        pipeline.observables_dropped = observables_dropped;
        pipeline.arp_targets_dropped = arp_targets_dropped;

        Report {
            schema: SCHEMA,
            generator: Generator {
                name: "yagura",
                version: env!("CARGO_PKG_VERSION"),
            },
            capture: CaptureSummary {
                files,
                packets: self.packets,
                bytes: self.bytes,
                first_seen: self.first_seen,
                last_seen: self.last_seen,
                duration_s,
                link_types: self.link_types,
                undecodable: self.undecodable,
                l3: self.l3,
                warnings,
                drops,
            },
            assets,
            connections,
            protocols,
            pipeline,
            observations: Observations {
                identity,
                bindings,
                operations,
                observables,
                arp_requests,
            },
        }
    }
}

fn unicast(m: MacAddr) -> Option<MacAddr> {
    (!m.is_zero() && !m.is_group()).then_some(m)
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}
