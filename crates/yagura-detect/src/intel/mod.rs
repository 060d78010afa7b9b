//! Threat intelligence: indicators of known-bad addresses, domain names and hashes, and the
//! engine that raises `intel_match` when the traffic shows one.
//!
//! What is matched (see `docs/detection.md`):
//!
//! - **addresses and networks**: both ends of every connection, and the addresses of
//!   assets seen without one (ARP, discovery frames); a CIDR indicator matches every address
//!   inside it;
//! - **domain names**: DNS query names, HTTP `Host` headers and TLS server names
//!   ([`yagura_engine::observables`]); an indicator matches the name and every name below it
//!   (`evil.example` matches `a.evil.example`, not `notevil.example`);
//! - **hashes**: SHA-1 and SHA-256 fingerprints of TLS certificates (the leaf a server or a
//!   client presents in the clear, TLS 1.2 and older). Yagura extracts no files, so file
//!   hashes (and MD5 indicators) have nothing to match.
//!
//! Matching costs a hash lookup per address, per prefix length present among the network
//! indicators, and per label of a name: never a scan of the indicators.
//!
//! [`import`] reads indicator files, [`pattern`] the STIX patterns in them.

pub mod import;
pub mod pattern;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use yagura_core::{IpAddr, MacAddr, ObservableKind, Timestamp};
use yagura_engine::Report;
use yagura_engine::observables::Observable;
use yagura_model::fusion::Built;
use yagura_model::inventory::Asset;

use crate::alert::{AlertBook, Endpoint, Function, MAX_EVIDENCE, PacketRef, Raise};
use crate::kinds::AlertKind;

/// What an indicator names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    /// An IPv4 or IPv6 address, or a network in CIDR notation.
    Ip,
    /// A domain name, and every name below it.
    Domain,
    Md5,
    Sha1,
    Sha256,
}

impl IndicatorKind {
    pub const ALL: [IndicatorKind; 5] = [
        IndicatorKind::Ip,
        IndicatorKind::Domain,
        IndicatorKind::Md5,
        IndicatorKind::Sha1,
        IndicatorKind::Sha256,
    ];

    /// The id of the database and the command line.
    pub const fn id(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
        }
    }

    pub fn from_id(id: &str) -> Option<IndicatorKind> {
        IndicatorKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// In words, for descriptions.
    fn words(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "address",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Md5 => "MD5 hash",
            IndicatorKind::Sha1 => "SHA-1 hash",
            IndicatorKind::Sha256 => "SHA-256 hash",
        }
    }
}

/// One indicator as imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    pub kind: IndicatorKind,
    /// Normalised ([`normalise`]): an address, or a network with its host bits zero; a
    /// lowercase domain name without a trailing dot; a lowercase hex digest.
    pub value: String,
    /// The file or feed it came from (the import's `--source`, else the file's name).
    pub source: String,
    /// STIX `name` and `description`, when the indicator came from a bundle.
    pub name: Option<String>,
    pub description: Option<String>,
    pub stix_id: Option<String>,
    pub valid_from: Option<Timestamp>,
    /// After this, the indicator no longer applies.
    pub valid_until: Option<Timestamp>,
}

/// `value` as an indicator of `kind` stores it, or `None` when it is not one.
pub fn normalise(kind: IndicatorKind, value: &str) -> Option<String> {
    let v = value.trim();
    match kind {
        IndicatorKind::Ip => {
            let (net, bits) = parse_net(v)?;
            let max = if net.is_ipv4() { 32 } else { 128 };
            Some(if bits == max {
                net.to_string()
            } else {
                format!("{net}/{bits}")
            })
        }
        IndicatorKind::Domain => {
            let d = v.strip_suffix('.').unwrap_or(v).to_ascii_lowercase();
            let labels_ok = d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
            (labels_ok && d.len() <= 253 && d.parse::<IpAddr>().is_err()).then_some(d)
        }
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            let len = match kind {
                IndicatorKind::Md5 => 32,
                IndicatorKind::Sha1 => 40,
                _ => 64,
            };
            (v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| v.to_ascii_lowercase())
        }
    }
}

/// An address or a CIDR network: the network (host bits cleared) and its prefix length.
fn parse_net(v: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match v.split_once('/') {
        Some((a, b)) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) && b.len() <= 3 => {
            (a, Some(b.parse::<u8>().ok()?))
        }
        Some(_) => return None,
        None => (v, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then(|| (mask(ip, bits), bits))
}

/// `ip` with all but its first `bits` bits cleared.
fn mask(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// An RFC 3339 time (`2024-05-01T12:00:00Z`, fractions and `+09:00` offsets allowed), as
/// STIX writes them; `None` for anything else or a time before 1970.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0')))
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if c == b'+' { o } else { -o }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (yy, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let ns = u64::try_from(secs).ok()?.checked_mul(1_000_000_000)?;
    Some(Timestamp(ns.checked_add(u64::try_from(nanos).ok()?)?))
}

/// The indicators of one (kind, value): the same value may come from several sources.
#[derive(Debug)]
struct Group<'a> {
    kind: IndicatorKind,
    value: &'a str,
    of: Vec<&'a Indicator>,
}

/// Indicators ready for matching: hash maps by value, networks by prefix length.
#[derive(Debug, Default)]
pub struct IntelIndex<'a> {
    groups: Vec<Group<'a>>,
    /// Networks (an address is a /32 or /128) by prefix length, the longest first.
    nets: Vec<(u8, bool, HashMap<IpAddr, usize>)>,
    domains: HashMap<&'a str, usize>,
    hashes: HashMap<&'a str, usize>,
}

impl<'a> IntelIndex<'a> {
    /// Index `indicators` (invalid values, which the store never holds, are left out).
    pub fn new(indicators: &'a [Indicator]) -> IntelIndex<'a> {
        let mut ix = IntelIndex::default();
        let mut by_value: HashMap<(IndicatorKind, &str), usize> = HashMap::new();
        for i in indicators {
            let g = *by_value
                .entry((i.kind, i.value.as_str()))
                .or_insert_with(|| {
                    ix.groups.push(Group {
                        kind: i.kind,
                        value: &i.value,
                        of: Vec::new(),
                    });
                    ix.groups.len() - 1
                });
            ix.groups[g].of.push(i);
            if ix.groups[g].of.len() > 1 {
                continue;
            }
            match i.kind {
                IndicatorKind::Ip => {
                    let Some((net, bits)) = parse_net(&i.value) else {
                        continue;
                    };
                    let v4 = net.is_ipv4();
                    let at = match ix.nets.iter().position(|(b, f, _)| (*b, *f) == (bits, v4)) {
                        Some(at) => at,
                        None => {
                            ix.nets.push((bits, v4, HashMap::new()));
                            ix.nets.len() - 1
                        }
                    };
                    ix.nets[at].2.insert(net, g);
                }
                IndicatorKind::Domain => {
                    ix.domains.insert(&i.value, g);
                }
                _ => {
                    ix.hashes.insert(&i.value, g);
                }
            }
        }
        ix.nets.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ix
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups whose address or network holds `ip`, most specific first.
    fn ip(&self, ip: IpAddr) -> impl Iterator<Item = usize> + '_ {
        self.nets
            .iter()
            .filter(move |(_, v4, _)| *v4 == ip.is_ipv4())
            .filter_map(move |(bits, _, m)| m.get(&mask(ip, *bits)).copied())
    }

    /// The groups naming `name` or a domain above it, the most specific first.
    fn name(&self, name: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut rest = name;
        loop {
            if let Some(g) = self.domains.get(rest) {
                out.push(*g);
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return out,
            }
        }
    }
}

/// A stable 32-bit code for an indicator's kind and value (FNV-1a): the `function` of its
/// alerts, which keeps alerts about different indicators on one pair of hosts apart.
fn code(kind: IndicatorKind, value: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in kind.id().bytes().chain([b':']).chain(value.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Raise an `intel_match` for every connection, asset and observable the indicators of
/// `ix` match.
pub fn raise(book: &mut AlertBook, ix: &IntelIndex<'_>, report: &Report, built: &Built) {
    if ix.is_empty() {
        return;
    }
    let assets = &built.inventory.assets;
    let by_ip: HashMap<IpAddr, &Asset> = assets
        .iter()
        .rev()
        .flat_map(|a| a.ips.iter().map(move |ip| (*ip, a)))
        .collect();
    let who = |ip: IpAddr| {
        by_ip
            .get(&ip)
            .map_or(ip.to_string(), |a| crate::policy::who_as(a, ip.to_string()))
    };
    // The connections of each (indicator, client, server), folded first so that the
    // description sums them: one alert per behaviour, not one per session.
    // A side whose MAC one flow did not see (a server that never answered) takes the MAC
    // its address had elsewhere, when it had exactly one: otherwise one behaviour would
    // split into an alert with the MAC and one without (as in the operational engine).
    let mut macs: HashMap<IpAddr, Option<MacAddr>> = HashMap::new();
    let known = report
        .connections
        .iter()
        .flat_map(|c| [(c.src, c.src_mac), (c.dst, c.dst_mac)])
        .chain(
            report
                .observations
                .observables
                .iter()
                .flat_map(|o| [(o.client.ip, o.client.mac), (o.server.ip, o.server.mac)]),
        );
    for (ip, mac) in known {
        if let Some(m) = mac {
            macs.entry(ip)
                .and_modify(|k| {
                    if *k != Some(m) {
                        *k = None;
                    }
                })
                .or_insert(Some(m));
        }
    }
    let mac_of =
        |ip: IpAddr, mac: Option<MacAddr>| mac.or_else(|| macs.get(&ip).copied().flatten());
    let mut pairs: BTreeMap<(usize, Endpoint, Endpoint), Pair> = BTreeMap::new();
    let mut matched_ips = HashSet::new();
    for c in &report.connections {
        for (server_side, ip) in [(false, c.src), (true, c.dst)] {
            // A host talking to itself is one match, not two.
            if server_side && c.dst == c.src {
                continue;
            }
            for g in ix.ip(ip) {
                matched_ips.insert(ip);
                let src = Endpoint {
                    ip: Some(c.src),
                    mac: mac_of(c.src, c.src_mac),
                    port: None,
                };
                let dst = Endpoint {
                    ip: Some(c.dst),
                    mac: mac_of(c.dst, c.dst_mac),
                    port: None,
                };
                let p = pairs.entry((g, src, dst)).or_insert_with(|| Pair {
                    first: c,
                    last_seen: c.last_seen,
                    sessions: 0,
                    services: BTreeSet::new(),
                    evidence: Vec::new(),
                    server_side,
                });
                if (c.first_seen, c.first_packet) < (p.first.first_seen, p.first.first_packet) {
                    p.first = c;
                }
                p.last_seen = p.last_seen.max(c.last_seen);
                p.sessions = p.sessions.saturating_add(c.sessions.max(1));
                p.services.insert(match c.protocol {
                    Some(proto) => format!("{proto} ({} {})", c.transport.name(), c.dst_port),
                    None => format!("{} {}", c.transport.name(), c.dst_port),
                });
                p.evidence.push(PacketRef {
                    index: c.first_packet,
                    time: c.first_seen,
                });
                if p.evidence.len() > 8 * MAX_EVIDENCE {
                    p.evidence.sort_unstable();
                    p.evidence.truncate(MAX_EVIDENCE);
                }
            }
        }
    }
    for ((g, mut src, mut dst), p) in pairs {
        let group = &ix.groups[g];
        let c = p.first;
        let ip = if p.server_side { c.dst } else { c.src };
        src.port = Some(c.src_port);
        dst.port = Some(c.dst_port);
        let services: Vec<String> = p.services.into_iter().collect();
        let description = format!(
            "{} talked to {} over {}; the {}'s address {ip} matches {}. {}",
            who(c.src),
            who(c.dst),
            services.join(", "),
            if p.server_side { "server" } else { "client" },
            indicator_text(group),
            times(p.sessions, "session", c.first_seen, p.last_seen),
        );
        book.raise_repeated(
            Raise {
                kind: AlertKind::IntelMatch,
                time: c.first_seen,
                src,
                dst,
                protocol: None,
                function: Some(function(group)),
                description,
                evidence: p.evidence,
            },
            p.sessions,
            p.last_seen,
        );
    }
    // Addresses of assets that had no connection (ARP, discovery): no packet to show, but
    // the device is on the network.
    for a in assets {
        for ip in a.ips.iter().filter(|ip| !matched_ips.contains(*ip)) {
            for g in ix.ip(*ip) {
                let group = &ix.groups[g];
                book.raise(Raise {
                    kind: AlertKind::IntelMatch,
                    time: a.first_seen,
                    src: Endpoint {
                        ip: Some(*ip),
                        mac: a.mac,
                        port: None,
                    },
                    dst: Endpoint::default(),
                    protocol: None,
                    function: Some(function(group)),
                    description: format!(
                        "{} is on the network (seen without a connection, from {} to {}); its \
                         address matches {}.",
                        crate::policy::who_as(a, ip.to_string()),
                        a.first_seen.to_rfc3339_micros(),
                        a.last_seen.to_rfc3339_micros(),
                        indicator_text(group),
                    ),
                    evidence: Vec::new(),
                });
            }
        }
    }
    // The names (or certificates) of each (indicator, kind, client, server), folded first
    // so that the description lists them with their total: `google.com` and
    // `mail.google.com` asked of one resolver are one alert about the `google.com`
    // indicator.
    let mut seen: BTreeMap<(usize, ObservableKind, Endpoint, Endpoint), Sighting> = BTreeMap::new();
    for o in &report.observations.observables {
        let groups = if o.kind.is_name() {
            ix.name(&o.value)
        } else {
            ix.hashes
                .get(o.value.as_str())
                .copied()
                .into_iter()
                .collect()
        };
        for g in groups {
            let src = Endpoint {
                ip: Some(o.client.ip),
                mac: mac_of(o.client.ip, o.client.mac),
                port: None,
            };
            let dst = Endpoint {
                ip: Some(o.server.ip),
                mac: mac_of(o.server.ip, o.server.mac),
                port: None,
            };
            let e = seen
                .entry((g, o.kind, src, dst))
                .or_insert_with(|| Sighting {
                    first: o,
                    last_seen: o.last_seen,
                    count: 0,
                    values: BTreeSet::new(),
                    evidence: Vec::new(),
                });
            if (o.first_seen, o.packets.first()) < (e.first.first_seen, e.first.packets.first()) {
                e.first = o;
            }
            e.last_seen = e.last_seen.max(o.last_seen);
            e.count = e.count.saturating_add(o.count);
            e.values.insert(o.value.as_str());
            e.evidence.extend(o.packets.iter().map(|p| PacketRef {
                index: p.index,
                time: p.time,
            }));
            e.evidence.sort_unstable();
            e.evidence.dedup();
            e.evidence.truncate(MAX_EVIDENCE);
        }
    }
    for ((g, _, mut src, mut dst), e) in seen {
        let group = &ix.groups[g];
        src.port = Some(e.first.client.port);
        dst.port = Some(e.first.server.port);
        book.raise_repeated(
            Raise {
                kind: AlertKind::IntelMatch,
                time: e.first.first_seen,
                src,
                dst,
                protocol: Some(e.first.protocol.to_owned()),
                function: Some(function(group)),
                description: describe_sighting(&e, group, &who),
                evidence: e.evidence,
            },
            e.count,
            e.last_seen,
        );
    }
}

/// The connections of one indicator between one client and one server.
struct Pair<'r> {
    /// The earliest.
    first: &'r yagura_engine::report::Connection,
    last_seen: Timestamp,
    sessions: u64,
    /// `protocol (transport port)` of each.
    services: BTreeSet<String>,
    /// Each one's first packet (the alert book keeps the earliest).
    evidence: Vec<PacketRef>,
    /// The server's address matched (else the client's).
    server_side: bool,
}

fn function(g: &Group<'_>) -> Function {
    Function {
        code: code(g.kind, g.value),
        name: format!("{} {}", g.kind.id(), g.value),
    }
}

/// The names or certificates of one indicator between one client and one server.
struct Sighting<'r> {
    /// The earliest.
    first: &'r Observable,
    last_seen: Timestamp,
    count: u64,
    /// The names (or fingerprints) seen.
    values: BTreeSet<&'r str>,
    evidence: Vec<PacketRef>,
}

/// How many names a description lists.
const NAMES_SHOWN: usize = 5;

fn describe_sighting(e: &Sighting<'_>, g: &Group<'_>, who: &dyn Fn(IpAddr) -> String) -> String {
    let o = e.first;
    let (client, server) = (who(o.client.ip), who(o.server.ip));
    let mut values: Vec<&str> = e.values.iter().copied().take(NAMES_SHOWN).collect();
    let more = e.values.len().saturating_sub(NAMES_SHOWN);
    let more_text = format!("{more} more names");
    if more > 0 {
        values.push(&more_text);
    }
    let values = values.join(", ");
    let seen = match o.kind {
        ObservableKind::DnsQuery => {
            format!("{client} asked the DNS server {server} for {values}")
        }
        ObservableKind::HttpHost => {
            format!("{client} sent {server} HTTP requests for the host {values}")
        }
        ObservableKind::TlsSni => {
            format!("{client} opened TLS to {server} for the server name {values}")
        }
        ObservableKind::TlsCertSha1 | ObservableKind::TlsCertSha256 => format!(
            "A TLS certificate between {client} and {server} (port {}) has the {} fingerprint {values}",
            o.server.port,
            if o.kind == ObservableKind::TlsCertSha1 {
                "SHA-1"
            } else {
                "SHA-256"
            },
        ),
    };
    let verb = if e.values.len() > 1 {
        "match"
    } else {
        "matches"
    };
    format!(
        "{seen}, which {verb} {}. {}",
        indicator_text(g),
        times(e.count, "time", o.first_seen, e.last_seen)
    )
}

/// The indicator in words: kind, value, and each source with its STIX name and
/// description (the first three sources).
fn indicator_text(g: &Group<'_>) -> String {
    let mut s = format!("the {} indicator {}", g.kind.words(), g.value);
    let sources: Vec<String> =
        g.of.iter()
            .take(3)
            .map(|i| {
                let mut t = format!("from {}", i.source);
                if let Some(n) = &i.name {
                    t.push_str(&format!(" (\"{n}\""));
                    if let Some(d) = &i.description {
                        t.push_str(&format!(": {d}"));
                    }
                    t.push(')');
                } else if let Some(d) = &i.description {
                    t.push_str(&format!(" ({d})"));
                }
                if let Some(id) = &i.stix_id {
                    t.push_str(&format!(" [{id}]"));
                }
                t
            })
            .collect();
    s.push(' ');
    s.push_str(&sources.join(", "));
    if g.of.len() > 3 {
        s.push_str(&format!(" and {} more sources", g.of.len() - 3));
    }
    s
}

fn times(count: u64, what: &str, first: Timestamp, last: Timestamp) -> String {
    let (first, last) = (first.to_rfc3339_micros(), last.to_rfc3339_micros());
    match (count, what) {
        (0 | 1, _) => format!("Seen once, at {first}."),
        (_, "time") => format!("Seen {count} times, from {first} to {last}."),
        _ => format!("Seen in {count} {what}s, from {first} to {last}."),
    }
}

#[cfg(test)]
mod tests;
