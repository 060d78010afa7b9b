//! Identity fusion: from a run's observations (the engine's [`Report`]) to the inventory —
//! one asset per physical device, its attributes with their sources, its type and Purdue
//! level, and the communication graph between assets.
//!
//! The rules are documented in docs/inventory.md; in short:
//! - a MAC is one device, with every address it used (several subnets: multi-homed; a new
//!   address over time: a DHCP change), unless it carries addresses from many subnets: then
//!   it is a router, keeps only the addresses it announced in ARP, and every other address
//!   seen behind it is a device of its own, keyed by address;
//! - a module reached through a device along a CIP route (the controller in a backplane
//!   slot behind an EtherNet/IP communication module) is an asset of its own, with no
//!   address or MAC, keyed by its carrier's id and the route (`<carrier id>/<route>`);
//! - an attribute's value is the one from the most confident source (OT protocol > LLDP,
//!   CDP, SNMP > DHCP, NBNS, mDNS, SMB, HTTP > MAC registry), then the most recently and most
//!   often seen; every value keeps its sources and times.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashMap;
use yagura_core::{Attribute, IpAddr, MacAddr, OperationSet, Route, Timestamp, Transport};
use yagura_engine::report::Connection;
use yagura_engine::{IdentityObservation, Report, RequestTiming};

use crate::classify::{self, Evidence};
use crate::inventory::{Asset, AttributeValue, Edge, Inventory, Source};

/// Subnets (IPv4 /24, IPv6 /64, link-local excluded) from which a MAC must carry addresses to
/// be a router.
pub const ROUTER_MIN_SUBNETS: usize = 3;
/// With only two subnets, addresses a MAC must carry to be a router.
pub const ROUTER_MIN_IPS_TWO_SUBNETS: usize = 8;
/// Connections an edge needs, each with few requests, before the starts of its connections
/// are taken as the polls (a client that opens a connection per poll).
const MIN_CONNECTIONS_AS_POLLS: usize = 4;

/// Confidence of a source, 0–100: OT-protocol identity 90, LLDP/CDP/SNMP 70, STP 60,
/// DHCP/NBNS/mDNS/SMB/HTTP and other IT protocols 50, the MAC registry 30, anything else 40.
pub fn source_confidence(source: &str) -> u8 {
    match source {
        "user" => 100,
        "modbus" | "umas" | "s7comm" | "s7comm_plus" | "cotp" | "enip" | "cip" | "pccc"
        | "dnp3" | "iec104" | "bacnet" | "opcua" | "mms" | "goose" | "pn_dcp" | "pn_io"
        | "fins" | "slmp" | "srtp" | "ads" | "hart_ip" | "c37118" | "fox" | "proconos" | "bsap"
        | "genisys" | "c1222" | "codesys" => 90,
        "lldp" | "cdp" | "snmp" => 70,
        "stp" => 60,
        "dhcp" | "dhcpv6" | "nbns" | "nbdgm" | "mdns" | "llmnr" | "smb" | "http" | "ssdp"
        | "tls" | "dns" | "ntp" | "ldap" | "kerberos" | "netbios_ssn" | "arp" => 50,
        "oui" => 30,
        _ => 40,
    }
}

/// Build the inventory of a run. Deterministic: the same report gives the same inventory.
pub fn build(report: &Report) -> Inventory {
    build_detailed(report).inventory
}

/// The inventory, and for each of the report's connections the indices (into
/// `inventory.assets`) of its client's and server's assets (`None` for a broadcast or
/// multicast address, which is no asset).
pub struct Built {
    pub inventory: Inventory,
    pub connection_assets: Vec<(Option<usize>, Option<usize>)>,
}

/// An asset while it is being built.
#[derive(Default)]
struct Draft {
    id: String,
    mac: Option<MacAddr>,
    router: bool,
    ips: BTreeSet<IpAddr>,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    packets_sent: u64,
    bytes_sent: u64,
    facts: Vec<usize>,
    protocols: BTreeSet<&'static str>,
    /// (protocol, server side) from connections.
    conn_roles: BTreeSet<(&'static str, bool)>,
    roles: BTreeSet<String>,
    ev: Evidence,
    /// A module reached through another asset: that asset (its carrier) and the route.
    routed: Option<(usize, Route)>,
}

impl Draft {
    fn touch(&mut self, first: Timestamp, last: Timestamp) {
        self.first_seen = Some(self.first_seen.map_or(first, |f| f.min(first)));
        self.last_seen = Some(self.last_seen.map_or(last, |l| l.max(last)));
    }
}

/// Subnet key of an address for router detection: IPv4 /24, IPv6 /64; `None` for
/// link-local addresses.
fn subnet(ip: IpAddr) -> Option<(bool, u64)> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (!v4.is_link_local())
                .then_some((false, u64::from(u32::from(v4) >> 8) | u64::from(o[0]) << 32))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let link_local = s[0] & 0xffc0 == 0xfe80;
            let p = u64::from(s[0]) << 48
                | u64::from(s[1]) << 32
                | u64::from(s[2]) << 16
                | u64::from(s[3]);
            (!link_local).then_some((true, p))
        }
    }
}

/// Is a MAC carrying these addresses a router? Returns the reason when it is.
fn router_reason(ips: &BTreeSet<IpAddr>, says_router: bool) -> Option<String> {
    for v6 in [false, true] {
        let fam: Vec<IpAddr> = ips.iter().copied().filter(|i| i.is_ipv6() == v6).collect();
        let subnets: BTreeSet<(bool, u64)> = fam.iter().filter_map(|i| subnet(*i)).collect();
        let (n, s) = (fam.len(), subnets.len());
        let size = if v6 { "/64" } else { "/24" };
        if s >= ROUTER_MIN_SUBNETS || (s >= 2 && n >= ROUTER_MIN_IPS_TWO_SUBNETS) {
            return Some(format!(
                "its MAC carries {n} addresses from {s} {size} subnets (a router)"
            ));
        }
        if s >= 2 && says_router {
            return Some(format!(
                "announces the router capability and its MAC carries addresses from {s} {size} subnets"
            ));
        }
    }
    None
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            // Global unicast (2000::/3), not the documentation prefix 2001:db8::/32.
            let s = v6.segments();
            s[0] & 0xe000 == 0x2000 && !(s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// How connection endpoints and facts find their asset.
struct Index {
    /// Non-router MAC → asset.
    by_mac: HashMap<MacAddr, usize>,
    /// Router MACs → asset.
    routers: HashMap<MacAddr, usize>,
    /// Address → assets holding it (a MAC asset, a router's own address, or an
    /// address-keyed asset).
    by_ip: HashMap<IpAddr, Vec<usize>>,
}

impl Index {
    /// The asset of a host seen with address `ip` (if any) and MAC `mac` (if any).
    fn resolve(&self, ip: Option<IpAddr>, mac: Option<MacAddr>) -> Option<usize> {
        if let Some(m) = mac
            && let Some(&a) = self.by_mac.get(&m)
        {
            return Some(a);
        }
        if let Some(ip) = ip
            && let Some(list) = self.by_ip.get(&ip)
        {
            // Several holders: the one whose MAC this is (a router's own address), else
            // the first.
            if let Some(m) = mac
                && let Some(&r) = self.routers.get(&m)
                && list.contains(&r)
            {
                return Some(r);
            }
            return list.first().copied();
        }
        if ip.is_none()
            && let Some(m) = mac
        {
            return self.routers.get(&m).copied();
        }
        None
    }
}

pub fn build_detailed(report: &Report) -> Built {
    let obs = &report.observations;
    let facts = &obs.identity;

    // MACs and the addresses they carried (frames and ARP), and which the MAC announced in
    // ARP (its own).
    let mut mac_ips: BTreeMap<MacAddr, BTreeSet<IpAddr>> = BTreeMap::new();
    let mut mac_own: BTreeMap<MacAddr, BTreeSet<IpAddr>> = BTreeMap::new();
    // Addresses whose packets mostly crossed a router before reaching this MAC's segment.
    let mut mac_routed: BTreeMap<MacAddr, BTreeSet<IpAddr>> = BTreeMap::new();
    for b in &obs.bindings {
        mac_ips.entry(b.mac).or_default().insert(b.ip);
        let arp = b.arp_requests + b.arp_replies > 0;
        if b.flows_routed > b.flows_local && !arp {
            mac_routed.entry(b.mac).or_default().insert(b.ip);
        } else if arp || (b.flows_local > 0 && b.flows_routed == 0) {
            mac_own.entry(b.mac).or_default().insert(b.ip);
        }
    }
    for a in &report.assets {
        if let Some(m) = a.mac {
            let e = mac_ips.entry(m).or_default();
            e.extend(a.ips.iter().copied());
        }
    }
    for f in facts {
        if let Some(m) = f.mac
            && !m.is_group()
            && !m.is_zero()
        {
            mac_ips.entry(m).or_default();
        }
    }
    let says_router: BTreeSet<MacAddr> = facts
        .iter()
        .filter(|f| {
            f.attribute == Attribute::Capability
                && f.ip.is_none()
                && f.route.is_none()
                && f.value.to_ascii_lowercase().contains("router")
        })
        .filter_map(|f| f.mac)
        .collect();

    let mut drafts: Vec<Draft> = Vec::new();
    let mut ix = Index {
        by_mac: HashMap::new(),
        routers: HashMap::new(),
        by_ip: HashMap::new(),
    };
    for (mac, ips) in &mac_ips {
        let i = drafts.len();
        let mut d = Draft {
            id: format!("mac:{mac}"),
            mac: Some(*mac),
            ..Default::default()
        };
        let routed = mac_routed.get(mac);
        let why = router_reason(ips, says_router.contains(mac)).or_else(|| {
            routed.map(|r| {
                format!(
                    "packets from {} behind its MAC arrive with a TTL below their sender's initial value (they crossed this router)",
                    if r.len() == 1 { "1 address".to_string() } else { format!("{} addresses", r.len()) }
                )
            })
        });
        match why {
            Some(why) => {
                d.router = true;
                d.ev.router = Some(why);
                // Its own addresses: announced in ARP, or sending with an initial TTL.
                let own = mac_own.get(mac).cloned().unwrap_or_default();
                d.ips = own;
                ix.routers.insert(*mac, i);
            }
            None => {
                d.ips = ips.clone();
                ix.by_mac.insert(*mac, i);
            }
        }
        for ip in &d.ips {
            ix.by_ip.entry(*ip).or_default().push(i);
        }
        drafts.push(d);
    }
    // Addresses nobody's MAC holds: behind a router, or seen without any MAC.
    for a in &report.assets {
        for ip in &a.ips {
            if !ix.by_ip.contains_key(ip) {
                let i = drafts.len();
                drafts.push(Draft {
                    id: format!("ip:{ip}"),
                    ips: BTreeSet::from([*ip]),
                    ..Default::default()
                });
                ix.by_ip.insert(*ip, vec![i]);
            }
        }
    }

    // Traffic counters and times of the engine's hosts.
    for a in &report.assets {
        let target = match a.ips.first() {
            Some(ip) => ix.resolve(Some(*ip), a.mac.filter(|m| ix.by_mac.contains_key(m))),
            None => a.mac.and_then(|m| ix.resolve(None, Some(m))),
        };
        if let Some(t) = target {
            let d = &mut drafts[t];
            d.touch(a.first_seen, a.last_seen);
            d.packets_sent += a.packets_sent;
            d.bytes_sent += a.bytes_sent;
        }
    }
    for b in &obs.bindings {
        if let Some(t) = ix.resolve(Some(b.ip), Some(b.mac)) {
            drafts[t].touch(b.first_seen, b.last_seen);
        }
    }

    // Facts. One about a module reached through an asset along a route makes that module
    // an asset of its own (once per carrier and route).
    let mut modules: BTreeMap<(usize, Route), usize> = BTreeMap::new();
    for (k, f) in facts.iter().enumerate() {
        if let Some(carrier) = ix.resolve(f.ip, f.mac) {
            let t = match f.route {
                None => carrier,
                Some(route) => *modules.entry((carrier, route)).or_insert_with(|| {
                    let id = format!("{}/{route}", drafts[carrier].id);
                    drafts.push(Draft {
                        id,
                        routed: Some((carrier, route)),
                        ..Default::default()
                    });
                    drafts.len() - 1
                }),
            };
            let d = &mut drafts[t];
            d.facts.push(k);
            d.protocols.insert(f.protocol);
            d.touch(f.first_seen, f.last_seen);
            if f.attribute == Attribute::Role {
                d.roles.insert(f.value.clone());
            }
        }
    }

    // Connections: roles, evidence, and the graph.
    let mut connection_assets = Vec::with_capacity(report.connections.len());
    let mut edges: HashMap<EdgeKey, EdgeDraft> = HashMap::new();
    for c in &report.connections {
        let src = ix.resolve(Some(c.src), c.src_mac);
        let dst = ix.resolve(Some(c.dst), c.dst_mac);
        connection_assets.push((src, dst));
        let answered = c.packets_to_client > 0;
        if let Some(p) = c.protocol {
            if let Some(s) = src {
                drafts[s].conn_roles.insert((p, false));
            }
            if let Some(d) = dst {
                drafts[d].conn_roles.insert((p, true));
            }
        }
        if let (Some(s), Some(d)) = (src, dst) {
            if s != d {
                let cyclic = c.polling_period_s.is_some();
                drafts[s]
                    .ev
                    .uses(c.protocol, d, c.operations, cyclic, c.dst_port);
                drafts[d]
                    .ev
                    .serves(c.protocol, s, c.transport, c.dst_port, answered);
            }
            let key = EdgeKey {
                src: s,
                dst: d,
                transport: c.transport,
                dst_port: c.dst_port,
                protocol: c.protocol,
            };
            edges.entry(key).or_default().add(c);
        }
    }

    // A carrier relays CIP to the modules behind it (evidence for its type).
    for &(carrier, route) in modules.keys() {
        drafts[carrier].ev.modules.push(route.describe());
    }

    // Attributes, type and level of each asset.
    let carrier_ids: Vec<Option<String>> = drafts
        .iter()
        .map(|d| d.routed.map(|(c, _)| drafts[c].id.clone()))
        .collect();
    let mut assets: Vec<Asset> = drafts
        .iter_mut()
        .zip(carrier_ids)
        .map(|(d, via)| {
            let mut a = finish_asset(d, facts);
            a.via = via;
            a.route = d.routed.map(|(_, r)| r.describe());
            a
        })
        .collect();
    let levels = classify::purdue(&assets, &drafts.iter().map(|d| &d.ev).collect::<Vec<_>>());
    for (a, (level, reasons)) in assets.iter_mut().zip(levels) {
        a.purdue_level = level;
        a.purdue_reasons = reasons;
    }

    // Sort assets by id; remap the connection indices.
    let mut order: Vec<usize> = (0..assets.len()).collect();
    order.sort_by(|&a, &b| assets[a].id.cmp(&assets[b].id));
    let mut new_index = vec![0; assets.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    // Edges in the order of their assets' ids, then transport, port and protocol.
    let mut edges: Vec<(EdgeKey, EdgeDraft)> = edges.into_iter().collect();
    edges.sort_unstable_by(|(a, _), (b, _)| {
        (new_index[a.src], new_index[a.dst])
            .cmp(&(new_index[b.src], new_index[b.dst]))
            .then_with(|| a.transport.name().cmp(&b.transport.name()))
            .then(a.dst_port.cmp(&b.dst_port))
            .then(a.protocol.cmp(&b.protocol))
    });
    let edges: Vec<Edge> = edges
        .into_iter()
        .map(|(k, e)| e.finish(&k, &assets))
        .collect();
    let mut slots: Vec<Option<Asset>> = assets.into_iter().map(Some).collect();
    let assets: Vec<Asset> = order.iter().filter_map(|&old| slots[old].take()).collect();
    let connection_assets = connection_assets
        .into_iter()
        .map(|(s, d)| (s.map(|i| new_index[i]), d.map(|i| new_index[i])))
        .collect();
    Built {
        inventory: Inventory { assets, edges },
        connection_assets,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EdgeKey {
    src: usize,
    dst: usize,
    transport: Transport,
    dst_port: u16,
    protocol: Option<&'static str>,
}

#[derive(Default)]
struct EdgeDraft {
    packets: u64,
    bytes: u64,
    sessions: u64,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    operations: OperationSet,
    /// The connections' request timings pooled.
    timing: RequestTiming,
    /// Start of each connection, and the requests it had.
    starts: Vec<(Timestamp, u64)>,
}

impl EdgeDraft {
    fn add(&mut self, c: &Connection) {
        self.packets += c.packets;
        self.bytes += c.bytes;
        self.sessions += c.sessions;
        self.first_seen = Some(
            self.first_seen
                .map_or(c.first_seen, |f| f.min(c.first_seen)),
        );
        self.last_seen = Some(self.last_seen.map_or(c.last_seen, |l| l.max(c.last_seen)));
        self.operations = self.operations.union(c.operations);
        self.timing.pool(&c.timing);
        self.starts.push((c.first_seen, c.timing.requests));
    }

    /// The polling period: from the requests within connections, or — when the client
    /// opens a connection per poll (many connections, each with a few requests) — from the
    /// starts of the connections.
    fn period(&mut self) -> Option<f64> {
        let n = self.starts.len();
        let requests: u64 = self.starts.iter().map(|s| s.1).sum();
        if n >= MIN_CONNECTIONS_AS_POLLS && requests <= 3 * n as u64 {
            self.starts.sort();
            let mut t = RequestTiming::default();
            for w in self.starts.windows(2) {
                t.add_interval(w[1].0.since(w[0].0));
            }
            return t.period_s();
        }
        self.timing.period_s()
    }

    fn finish(mut self, k: &EdgeKey, assets: &[Asset]) -> Edge {
        let polling_period_s = self.period();
        Edge {
            src: assets[k.src].id.clone(),
            dst: assets[k.dst].id.clone(),
            transport: k.transport.name().into_owned(),
            dst_port: k.dst_port,
            protocol: k.protocol.map(str::to_owned),
            operations: self
                .operations
                .iter()
                .map(|o| o.name().to_owned())
                .collect(),
            packets: self.packets,
            bytes: self.bytes,
            sessions: self.sessions,
            first_seen: self.first_seen.unwrap_or_default(),
            last_seen: self.last_seen.unwrap_or_default(),
            polling_period_s,
        }
    }
}

/// One value of one attribute while sources are gathered.
struct ValueDraft {
    value: String,
    confidence: u8,
    last_seen: Timestamp,
    count: u64,
    sources: BTreeMap<String, (Timestamp, Timestamp)>,
}

/// The attribute values of an asset, each with its sources, the best first per attribute.
fn attribute_values(
    d: &Draft,
    facts: &[IdentityObservation],
    oui: Option<&str>,
) -> Vec<(Attribute, ValueDraft)> {
    let mut by: BTreeMap<(Attribute, String), ValueDraft> = BTreeMap::new();
    let mut add = |attr: Attribute,
                   value: &str,
                   source: &str,
                   first: Timestamp,
                   last: Timestamp,
                   count: u64| {
        let key = (attr, value.trim().to_lowercase());
        let conf = source_confidence(source);
        let v = by.entry(key).or_insert_with(|| ValueDraft {
            value: value.trim().to_string(),
            confidence: conf,
            last_seen: last,
            count: 0,
            sources: BTreeMap::new(),
        });
        if conf > v.confidence {
            // The most confident source's spelling.
            v.value = value.trim().to_string();
            v.confidence = conf;
        }
        v.last_seen = v.last_seen.max(last);
        v.count += count;
        let s = v.sources.entry(source.to_string()).or_insert((first, last));
        s.0 = s.0.min(first);
        s.1 = s.1.max(last);
    };
    for &k in &d.facts {
        let f = &facts[k];
        add(
            f.attribute,
            &f.value,
            f.protocol,
            f.first_seen,
            f.last_seen,
            f.count,
        );
        // A protocol's numeric vendor id (`bacnet:7`) names the vendor, as confidently as
        // the protocol that stated it, when the embedded tables know the id.
        if f.attribute == Attribute::VendorId
            && let Some(v) = crate::vendor_ids::from_fact(&f.value)
        {
            add(
                Attribute::Vendor,
                v.name,
                f.protocol,
                f.first_seen,
                f.last_seen,
                f.count,
            );
        }
    }
    if let (Some(v), Some(first), Some(last)) = (oui, d.first_seen, d.last_seen) {
        add(Attribute::Vendor, v, "oui", first, last, 1);
    }
    let mut out: Vec<(Attribute, ValueDraft)> = by.into_iter().map(|((a, _), v)| (a, v)).collect();
    // Best first within each attribute: confidence, then most recent, then most seen.
    out.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.1.confidence.cmp(&a.1.confidence))
            .then(b.1.last_seen.cmp(&a.1.last_seen))
            .then(b.1.count.cmp(&a.1.count))
            .then(a.1.value.cmp(&b.1.value))
    });
    out
}

/// `<protocol>:<number>`, as dissectors report numeric ids.
fn is_numeric_code(v: &str) -> bool {
    v.split_once(':')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn finish_asset(d: &mut Draft, facts: &[IdentityObservation]) -> Asset {
    // The MAC registry's vendor only for the device that owns the MAC (an address-keyed
    // asset behind a router has none).
    let oui = d.mac.and_then(crate::oui::vendor_name);
    let values = attribute_values(d, facts, oui);
    let best = |attr: Attribute| {
        values
            .iter()
            .find(|(a, _)| *a == attr)
            .map(|(_, v)| v.value.clone())
    };
    let hostname = best(Attribute::Hostname);
    let mut names: Vec<String> = Vec::new();
    for (a, v) in &values {
        let named = matches!(a, Attribute::Name | Attribute::Hostname);
        let same_as_hostname = hostname
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&v.value));
        if named && !same_as_hostname && !names.iter().any(|n| n.eq_ignore_ascii_case(&v.value)) {
            names.push(v.value.clone());
        }
    }
    names.sort();
    for (a, v) in &values {
        d.ev.fact(*a, &v.value, v.confidence);
    }
    d.ev.public = d.ips.iter().any(|ip| is_public(*ip));
    let typed = classify::device_type(&d.ev);
    let attributes = values
        .into_iter()
        .map(|(a, v)| AttributeValue {
            attribute: a.name().to_string(),
            value: v.value,
            confidence: v.confidence,
            sources: {
                let mut s: Vec<Source> = v
                    .sources
                    .into_iter()
                    .map(|(source, (first_seen, last_seen))| Source {
                        source,
                        first_seen,
                        last_seen,
                    })
                    .collect();
                s.sort_by(|a, b| {
                    source_confidence(&b.source)
                        .cmp(&source_confidence(&a.source))
                        .then(a.source.cmp(&b.source))
                });
                s
            },
        })
        .collect::<Vec<_>>();
    let field = |name: &str| {
        attributes
            .iter()
            .find(|v| v.attribute == name)
            .map(|v| v.value.clone())
    };
    // A product code in words (Modbus answers "BMX P34 2020") names the model when nothing
    // else does; numeric codes (`enip:54`) do not.
    let model = field("model").or_else(|| {
        attributes
            .iter()
            .find(|v| v.attribute == "product_code" && !is_numeric_code(&v.value))
            .map(|v| v.value.clone())
    });
    Asset {
        id: std::mem::take(&mut d.id),
        via: None,
        route: None,
        ips: d.ips.iter().copied().collect(),
        mac: d.mac,
        mac_locally_administered: d.mac.map(|m| m.is_local()),
        vendor: field("vendor"),
        device_type: typed.device_type,
        device_type_confidence: typed.confidence,
        device_type_reasons: typed.reasons,
        model,
        order_number: field("order_number"),
        firmware: field("firmware"),
        hardware: field("hardware"),
        serial: field("serial"),
        hostname,
        names,
        os: field("os"),
        protocols: {
            let mut p = std::mem::take(&mut d.protocols);
            p.extend(d.conn_roles.iter().map(|r| r.0));
            p.into_iter().map(str::to_owned).collect()
        },
        roles: {
            let mut roles = std::mem::take(&mut d.roles);
            for (p, server) in &d.conn_roles {
                roles.insert(format!("{p}_{}", if *server { "server" } else { "client" }));
            }
            roles.into_iter().collect()
        },
        purdue_level: None,
        purdue_reasons: Vec::new(),
        user_overrides: Vec::new(),
        first_seen: d.first_seen.unwrap_or_default(),
        last_seen: d.last_seen.unwrap_or_default(),
        packets_sent: d.packets_sent,
        bytes_sent: d.bytes_sent,
        attributes,
    }
}
