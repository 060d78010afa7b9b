//! What the inventory needs beyond connections and hosts: identity facts per host, the
//! MAC↔IP bindings seen in frames and ARP, and the timing of each connection's requests.
//!
//! All of it is rare next to packets (a fact per identification answer, a binding per flow
//! side, a timing sample per request packet of a dissected flow), bounded, and kept per
//! worker under keys derived from the input, then merged and sorted like every other
//! aggregate, so the report stays the same whatever the number of workers.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use hashbrown::{Equivalent, HashMap};
use serde::Serialize;
use yagura_core::{
    Attribute, IdentityFact, IpAddr, MacAddr, Route, Subject, Timestamp, to_ip, v4_mapped,
};

/// Distinct facts kept per host (per (address, MAC) pair); more are counted in
/// `pipeline.identity_facts_dropped`.
pub const MAX_FACTS_PER_HOST: usize = 64;
/// Characters kept of a fact's value.
pub const MAX_FACT_CHARS: usize = 256;
/// Distinct IP addresses kept per MAC; more are counted in `pipeline.bindings_dropped`.
pub const MAX_IPS_PER_MAC: usize = 1024;

/// The host a fact is about: its address, its MAC, or both (a frame's sender on the local
/// segment — or behind a router, whose MAC it then is; the model tells them apart); or,
/// with a `route`, the module reached through that host along the route (a controller in
/// a backplane slot behind an EtherNet/IP module), which has facts of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HostRef {
    pub ip: Option<[u8; 16]>,
    pub mac: Option<MacAddr>,
    pub route: Option<Route>,
}

impl HostRef {
    /// `None` when neither an address nor a unicast MAC is known.
    pub fn new(ip: Option<[u8; 16]>, mac: Option<MacAddr>) -> Option<HostRef> {
        let mac = mac.filter(|m| !m.is_zero() && !m.is_group());
        (ip.is_some() || mac.is_some()).then_some(HostRef {
            ip,
            mac,
            route: None,
        })
    }

    /// This host, or the module behind it when `subject` is a routed one.
    pub fn routed(self, subject: Subject) -> HostRef {
        match subject {
            Subject::Routed { route, .. } => HostRef {
                route: Some(route),
                ..self
            },
            _ => self,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FactKey {
    pub host: HostRef,
    pub attribute: Attribute,
    pub value: String,
    pub protocol: &'static str,
}

// Hashed by hand, and so is a fact's key: the derived hashes fed the hasher each part on
// its own (option tags, array lengths, the 16 address bytes, the 6 MAC bytes, the 41 bytes
// of a route, the protocol's text), some 190 instructions a fact. Here the address is one
// word, the MAC and the tags another, and a route (rare) is hashed only when there is one.
// Hashing a part of what equality compares keeps equal keys' hashes equal.
impl Hash for HostRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ip = self.ip.map_or(0, u128::from_le_bytes);
        let mac = self.mac.map_or(0, |MacAddr([a, b, c, d, e, f])| {
            u64::from_le_bytes([a, b, c, d, e, f, 0, 0])
        });
        let tags = u64::from(self.ip.is_some()) << 48
            | u64::from(self.mac.is_some()) << 49
            | u64::from(self.route.is_some()) << 50;
        state.write_u128(ip);
        state.write_u64(mac | tags);
        if let Some(route) = &self.route {
            route.hash(state);
        }
    }
}

/// The hash of a fact's key, the same for a [`FactKey`] and its borrowed [`FactRef`]: the
/// host, then the attribute and the protocol's length as one word, then the value (the
/// protocol's text is left to equality: facts differing only by protocols of the same
/// length are rare).
fn hash_fact<H: Hasher>(
    state: &mut H,
    host: &HostRef,
    attribute: Attribute,
    value: &str,
    protocol: &str,
) {
    host.hash(state);
    state.write_u64(attribute as u64 | (protocol.len() as u64) << 8);
    state.write(value.as_bytes());
}

impl Hash for FactKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_fact(
            state,
            &self.host,
            self.attribute,
            &self.value,
            self.protocol,
        );
    }
}

/// A [`FactKey`] with a borrowed value, to look a fact up without building its key.
struct FactRef<'a> {
    host: HostRef,
    attribute: Attribute,
    value: &'a str,
    protocol: &'static str,
}

impl Hash for FactRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_fact(state, &self.host, self.attribute, self.value, self.protocol);
    }
}

impl Equivalent<FactKey> for FactRef<'_> {
    fn equivalent(&self, k: &FactKey) -> bool {
        self.host == k.host
            && self.attribute == k.attribute
            && self.value == k.value
            && same_text(self.protocol, k.protocol)
    }
}

/// `a == b` for protocol names, which are mostly the very same literal: equal pointers
/// and lengths settle it without comparing the bytes.
#[inline]
fn same_text(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// When a fact was seen: first and last (time, packet index), and how often.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FactAgg {
    pub first: (Timestamp, u64),
    pub last: (Timestamp, u64),
    pub count: u64,
}

impl FactAgg {
    fn merge(&mut self, o: &FactAgg) {
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.count += o.count;
    }
}

/// Identity facts of one worker.
#[derive(Default, Clone)]
pub(crate) struct Facts {
    pub map: HashMap<FactKey, FactAgg>,
    per_host: HashMap<HostRef, u32>,
    pub dropped: u64,
}

impl Facts {
    /// Record `fact` about `host`, seen in packet `index` at `ts`.
    pub fn add(&mut self, host: HostRef, fact: IdentityFact, ts: Timestamp, index: u64) {
        self.add_value(
            host,
            fact.protocol,
            fact.attribute,
            Cow::Owned(fact.value),
            ts,
            index,
        );
    }

    /// Record a borrowed `fact` (one a dissector remembered): its value is copied only when
    /// the fact is new.
    pub fn add_ref(&mut self, host: HostRef, fact: &IdentityFact, ts: Timestamp, index: u64) {
        self.add_value(
            host,
            fact.protocol,
            fact.attribute,
            Cow::Borrowed(&fact.value),
            ts,
            index,
        );
    }

    fn add_value(
        &mut self,
        host: HostRef,
        protocol: &'static str,
        attribute: Attribute,
        value: Cow<'_, str>,
        ts: Timestamp,
        index: u64,
    ) {
        let mut end = value.len().min(MAX_FACT_CHARS);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        let kept = &value[..end];
        // `trim().is_empty()`, stopping at the first visible character.
        if kept.chars().all(char::is_whitespace) {
            return;
        }
        let probe = FactRef {
            host,
            attribute,
            value: kept,
            protocol,
        };
        if let Some(a) = self.map.get_mut(&probe) {
            a.last = a.last.max((ts, index));
            a.count += 1;
            return;
        }
        let n = self.per_host.entry(host).or_default();
        if *n as usize >= MAX_FACTS_PER_HOST {
            self.dropped += 1;
            return;
        }
        *n += 1;
        let value = match value {
            Cow::Owned(mut v) => {
                v.truncate(end);
                v
            }
            Cow::Borrowed(v) => v[..end].to_owned(),
        };
        self.map.insert(
            FactKey {
                host,
                attribute,
                value,
                protocol,
            },
            FactAgg {
                first: (ts, index),
                last: (ts, index),
                count: 1,
            },
        );
    }

    pub fn merge(&mut self, o: Facts) {
        self.dropped += o.dropped;
        for (k, v) in o.map {
            self.map.entry(k).and_modify(|a| a.merge(&v)).or_insert(v);
        }
    }

    /// The facts, sorted, at most [`MAX_FACTS_PER_HOST`] per host (the earliest seen), and
    /// the number left out (here and by the workers).
    pub fn into_report(self) -> (Vec<IdentityObservation>, u64) {
        let mut all: Vec<(FactKey, FactAgg)> = self.map.into_iter().collect();
        all.sort_by(|a, b| {
            (a.0.host, a.1.first, a.0.attribute, &a.0.value, a.0.protocol).cmp(&(
                b.0.host,
                b.1.first,
                b.0.attribute,
                &b.0.value,
                b.0.protocol,
            ))
        });
        let mut dropped = self.dropped;
        let mut out = Vec::with_capacity(all.len());
        let mut host = None;
        let mut n = 0;
        for (k, a) in all {
            if host != Some(k.host) {
                host = Some(k.host);
                n = 0;
            }
            n += 1;
            if n > MAX_FACTS_PER_HOST {
                dropped += 1;
                continue;
            }
            out.push(IdentityObservation {
                ip: k.host.ip.map(|ip| to_ip(&ip)),
                mac: k.host.mac,
                route: k.host.route,
                protocol: k.protocol,
                attribute: k.attribute,
                value: k.value,
                first_seen: a.first.0,
                last_seen: a.last.0,
                count: a.count,
            });
        }
        out.sort_by(|a, b| {
            (a.ip, a.mac, a.route, a.attribute, &a.value, a.protocol).cmp(&(
                b.ip,
                b.mac,
                b.route,
                b.attribute,
                &b.value,
                b.protocol,
            ))
        });
        (out, dropped)
    }
}

/// One identity fact about one host, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityObservation {
    /// The host's address, when the fact came with one (a PDU over IP, or an address named in
    /// the PDU).
    pub ip: Option<IpAddr>,
    /// The MAC the fact came from (the frame's source or destination), or the MAC named in
    /// the PDU. For a host behind a router this is the router's MAC.
    pub mac: Option<MacAddr>,
    /// When the fact is about a module reached *through* that host (a CIP Identity read
    /// routed by an Unconnected Send): the route from the host to the module, as
    /// `port:link` hops (`1:0` is backplane slot 0). `None` for a fact about the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// Protocol that revealed it.
    pub protocol: &'static str,
    pub attribute: Attribute,
    pub value: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// PDUs that carried it.
    pub count: u64,
}

/// How one MAC and one IP address were seen together.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BindAgg {
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub flows: u64,
    pub flows_local: u64,
    pub flows_routed: u64,
    pub arp_requests: u64,
    pub arp_replies: u64,
    pub arp_gratuitous: u64,
}

/// Initial TTLs (IPv4) and hop limits (IPv6) of common stacks: a packet that arrives with one
/// of them was sent on the capture's segment; one that arrives with less crossed a router.
pub const INITIAL_TTLS: [u8; 6] = [30, 32, 60, 64, 128, 255];

/// What a flow's first TTL says: `Some(true)` routed, `Some(false)` local, `None` no telling
/// (very small values, which local multicast protocols use on purpose).
pub fn ttl_routed(ttl: u8) -> Option<bool> {
    if ttl <= 4 {
        return None;
    }
    Some(!INITIAL_TTLS.contains(&ttl))
}

impl BindAgg {
    fn new(ts: Timestamp) -> BindAgg {
        BindAgg {
            first_seen: ts,
            last_seen: ts,
            ..Default::default()
        }
    }

    fn touch(&mut self, ts: Timestamp) {
        self.first_seen = self.first_seen.min(ts);
        self.last_seen = self.last_seen.max(ts);
    }

    fn merge(&mut self, o: &BindAgg) {
        self.touch(o.first_seen);
        self.touch(o.last_seen);
        self.flows += o.flows;
        self.flows_local += o.flows_local;
        self.flows_routed += o.flows_routed;
        self.arp_requests += o.arp_requests;
        self.arp_replies += o.arp_replies;
        self.arp_gratuitous += o.arp_gratuitous;
    }
}

/// MAC↔IP bindings of one worker.
#[derive(Default, Clone)]
pub(crate) struct Bindings {
    pub map: HashMap<(MacAddr, [u8; 16]), BindAgg>,
    per_mac: HashMap<MacAddr, u32>,
    pub dropped: u64,
}

impl Bindings {
    fn entry(&mut self, mac: MacAddr, ip: [u8; 16], ts: Timestamp) -> Option<&mut BindAgg> {
        if mac.is_zero() || mac.is_group() {
            return None;
        }
        if !self.map.contains_key(&(mac, ip)) {
            let n = self.per_mac.entry(mac).or_default();
            if *n as usize >= MAX_IPS_PER_MAC {
                self.dropped += 1;
                return None;
            }
            *n += 1;
        }
        let b = self
            .map
            .entry((mac, ip))
            .or_insert_with(|| BindAgg::new(ts));
        b.touch(ts);
        Some(b)
    }

    /// A flow's side with address `ip` sent frames from `mac` between `first` and `last`,
    /// the first with TTL `ttl` (`None`: not to be judged, e.g. sent to a group).
    pub fn flow(
        &mut self,
        mac: MacAddr,
        ip: [u8; 16],
        first: Timestamp,
        last: Timestamp,
        ttl: Option<u8>,
    ) {
        if let Some(b) = self.entry(mac, ip, first) {
            b.touch(last);
            b.flows += 1;
            match ttl.and_then(ttl_routed) {
                Some(true) => b.flows_routed += 1,
                Some(false) => b.flows_local += 1,
                None => {}
            }
        }
    }

    /// An ARP message: its sender says `sender_ip` is at `sender_mac`.
    pub fn arp(
        &mut self,
        op: u16,
        sender_mac: MacAddr,
        sender_ip: [u8; 4],
        target_ip: [u8; 4],
        ts: Timestamp,
    ) {
        if sender_ip == [0; 4] {
            return;
        }
        if let Some(b) = self.entry(sender_mac, v4_mapped(sender_ip), ts) {
            match op {
                1 => b.arp_requests += 1,
                2 => b.arp_replies += 1,
                _ => {}
            }
            if sender_ip == target_ip {
                b.arp_gratuitous += 1;
            }
        }
    }

    pub fn merge(&mut self, o: Bindings) {
        self.dropped += o.dropped;
        for (k, v) in o.map {
            self.map.entry(k).and_modify(|b| b.merge(&v)).or_insert(v);
        }
    }

    /// The bindings sorted by MAC then address, at most [`MAX_IPS_PER_MAC`] per MAC (the
    /// earliest seen), and the number left out.
    pub fn into_report(self) -> (Vec<MacIpBinding>, u64) {
        let mut all: Vec<((MacAddr, [u8; 16]), BindAgg)> = self.map.into_iter().collect();
        all.sort_by_key(|a| (a.0.0, a.1.first_seen, a.0.1));
        let mut dropped = self.dropped;
        let mut out = Vec::with_capacity(all.len());
        let mut mac = None;
        let mut n = 0;
        for ((m, ip), b) in all {
            if mac != Some(m) {
                mac = Some(m);
                n = 0;
            }
            n += 1;
            if n > MAX_IPS_PER_MAC {
                dropped += 1;
                continue;
            }
            out.push(MacIpBinding {
                mac: m,
                ip: to_ip(&ip),
                first_seen: b.first_seen,
                last_seen: b.last_seen,
                flows: b.flows,
                flows_local: b.flows_local,
                flows_routed: b.flows_routed,
                arp_requests: b.arp_requests,
                arp_replies: b.arp_replies,
                arp_gratuitous: b.arp_gratuitous,
            });
        }
        out.sort_by_key(|a| (a.mac, a.ip));
        (out, dropped)
    }
}

/// A MAC seen with an IP address: as the source MAC of the address's packets (for a host
/// behind a router, the router's MAC), or in ARP as the address's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MacIpBinding {
    pub mac: MacAddr,
    pub ip: IpAddr,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Flows in which the address sent frames from this MAC.
    pub flows: u64,
    /// Of those, the flows whose first packet from the address arrived with a common
    /// initial TTL (sent on this segment), and with less (it crossed a router, whose MAC
    /// this then is). Flows to a group address and TTLs up to 4 are not judged.
    pub flows_local: u64,
    pub flows_routed: u64,
    /// ARP requests and replies whose sender was this address at this MAC.
    pub arp_requests: u64,
    pub arp_replies: u64,
    /// Gratuitous ARP (sender address = target address): an announcement or a conflict
    /// check.
    pub arp_gratuitous: u64,
}

/// Timing of a connection's requests: the packets from client to server that carried at
/// least one request PDU. Integer sums, so merging is exact and order-independent enough to
/// keep the report deterministic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTiming {
    /// Request packets.
    pub requests: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    last_index: u64,
    /// Intervals between successive request packets: how many, their sum and the sum of
    /// their squares (ns, ns²).
    pub intervals: u64,
    pub sum_ns: u64,
    pub sum_sq_ns: u128,
}

/// Intervals needed before a series is judged cyclic.
pub const MIN_CYCLIC_INTERVALS: u64 = 3;
/// Largest coefficient of variation (standard deviation / mean) of a cyclic series.
pub const MAX_CYCLIC_CV: f64 = 0.25;

impl RequestTiming {
    /// A request in packet `index` at `ts` (several requests in one packet count once).
    #[inline]
    pub fn add(&mut self, ts: Timestamp, index: u64) {
        if self.requests == 0 {
            self.first = ts;
        } else if index == self.last_index {
            return;
        } else {
            self.interval(ts.since(self.last));
        }
        self.requests += 1;
        self.last = ts;
        self.last_index = index;
    }

    #[inline]
    fn interval(&mut self, d: u64) {
        self.intervals += 1;
        self.sum_ns = self.sum_ns.saturating_add(d);
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(u128::from(d) * u128::from(d));
    }

    /// Append a later series (the next session of the same connection): its intervals, and
    /// the gap from this series' last request to its first.
    pub fn append(&mut self, o: &RequestTiming) {
        if o.requests == 0 {
            return;
        }
        if self.requests == 0 {
            *self = *o;
            return;
        }
        self.interval(o.first.since(self.last));
        self.intervals += o.intervals;
        self.sum_ns = self.sum_ns.saturating_add(o.sum_ns);
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(o.sum_sq_ns);
        self.requests += o.requests;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.last_index = o.last_index;
    }

    /// Pool another independent series (another connection): intervals only, no gap.
    pub fn pool(&mut self, o: &RequestTiming) {
        self.intervals += o.intervals;
        self.sum_ns = self.sum_ns.saturating_add(o.sum_ns);
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(o.sum_sq_ns);
        if o.requests > 0 {
            if self.requests == 0 {
                self.first = o.first;
                self.last = o.last;
            } else {
                self.first = self.first.min(o.first);
                self.last = self.last.max(o.last);
            }
        }
        self.requests += o.requests;
    }

    /// Add one interval (seconds are not used: ns) from outside, e.g. between the starts of
    /// successive connections.
    pub fn add_interval(&mut self, ns: u64) {
        self.interval(ns);
    }

    /// Mean and standard deviation of the intervals in seconds, when there is at least one.
    pub fn stats(&self) -> Option<(f64, f64)> {
        if self.intervals == 0 {
            return None;
        }
        let n = self.intervals as f64;
        let mean = self.sum_ns as f64 / n;
        let var = (self.sum_sq_ns as f64 / n - mean * mean).max(0.0);
        Some((mean / 1e9, var.sqrt() / 1e9))
    }

    /// The polling period in seconds (rounded to the microsecond) when the requests are
    /// cyclic: at least [`MIN_CYCLIC_INTERVALS`] intervals whose spread is at most
    /// [`MAX_CYCLIC_CV`] of their mean.
    pub fn period_s(&self) -> Option<f64> {
        if self.intervals < MIN_CYCLIC_INTERVALS {
            return None;
        }
        let (mean, sd) = self.stats()?;
        (mean > 0.0 && sd <= MAX_CYCLIC_CV * mean).then(|| (mean * 1e6).round() / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp(ms * 1_000_000)
    }

    #[test]
    fn cyclic_requests_give_a_period() {
        let mut r = RequestTiming::default();
        for (i, ms) in [0, 1000, 2001, 2999, 4000, 5002].into_iter().enumerate() {
            r.add(t(ms), i as u64);
        }
        assert_eq!(r.requests, 6);
        assert_eq!(r.intervals, 5);
        assert_eq!(r.period_s(), Some(1.0004));
    }

    #[test]
    fn bursty_or_short_series_have_no_period() {
        let mut r = RequestTiming::default();
        for (i, ms) in [0, 10, 1000, 1010, 5000].into_iter().enumerate() {
            r.add(t(ms), i as u64);
        }
        assert_eq!(r.period_s(), None);
        let mut s = RequestTiming::default();
        s.add(t(0), 0);
        s.add(t(100), 1);
        s.add(t(200), 2);
        assert_eq!(s.period_s(), None, "two intervals are too few");
    }

    #[test]
    fn requests_of_one_packet_count_once_and_sessions_append_with_their_gap() {
        let mut a = RequestTiming::default();
        a.add(t(0), 7);
        a.add(t(0), 7);
        a.add(t(500), 8);
        assert_eq!((a.requests, a.intervals), (2, 1));
        let mut b = RequestTiming::default();
        b.add(t(1000), 20);
        b.add(t(1500), 21);
        a.append(&b);
        assert_eq!((a.requests, a.intervals), (4, 3));
        assert_eq!(a.period_s(), Some(0.5));
    }

    #[test]
    fn facts_are_capped_per_host_and_deduplicated() {
        let mut f = Facts::default();
        let h = HostRef::new(Some([0; 16]), None).unwrap();
        for i in 0..(MAX_FACTS_PER_HOST + 5) {
            for _ in 0..2 {
                f.add(
                    h,
                    IdentityFact {
                        protocol: "modbus",
                        subject: yagura_core::Subject::Sender,
                        attribute: Attribute::Name,
                        value: format!("n{i}"),
                    },
                    t(i as u64),
                    i as u64,
                );
            }
        }
        assert_eq!(f.map.len(), MAX_FACTS_PER_HOST);
        assert_eq!(f.dropped, 10);
        let (list, dropped) = f.into_report();
        assert_eq!(list.len(), MAX_FACTS_PER_HOST);
        assert_eq!(dropped, 10);
        assert!(list.iter().all(|o| o.count == 2));
        // Group MACs are no hosts.
        assert_eq!(HostRef::new(None, Some(MacAddr::BROADCAST)), None);
    }
}
