//! Values the traffic shows that threat intelligence can match besides addresses: the names
//! clients asked for (DNS queries, HTTP `Host` headers, TLS server names) and the
//! fingerprints of TLS certificates ([`ObservableKind`]), with who showed them to whom,
//! when, how often and in which packets.
//!
//! Each worker folds them as they come (one entry per kind, value, client and server), so a
//! host resolving the same name every minute is one entry with a count; the entries are
//! bounded, and what does not fit is counted. Dissectors hand them over only when a PDU
//! carries one, so counting other traffic pays nothing.

// std's map, as `operations` (see there why).
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::Serialize;
use yagura_core::{IpAddr, MacAddr, ObservableKind, Timestamp};

use crate::operations::{OperationEndpoint, OperationPacket};

/// Packets kept per entry as evidence: the first ones (lowest capture index).
pub const MAX_OBSERVABLE_PACKETS: usize = 8;
/// Distinct entries a worker keeps; beyond, new ones are counted in
/// [`PipelineStats::observables_dropped`](crate::report::PipelineStats::observables_dropped).
pub const MAX_OBSERVABLES: usize = 4096;

/// A name or fingerprint seen between a client and a server, folded over its repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observable {
    pub kind: ObservableKind,
    /// The name (lowercase, no trailing dot) or the fingerprint (lowercase hex).
    pub value: String,
    /// The application protocol that carried it (`dns`, `http`, `tls`).
    pub protocol: &'static str,
    /// The connection's client (ports: those of the first occurrence), whichever side sent
    /// it (a server's certificate is shown to its client).
    pub client: OperationEndpoint,
    /// The connection's server.
    pub server: OperationEndpoint,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Times seen (every PDU that carried it).
    pub count: u64,
    /// The first packets that carried it, at most [`MAX_OBSERVABLE_PACKETS`].
    pub packets: Vec<OperationPacket>,
}

/// What makes two sightings one entry (ports left out, as for operations).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    kind: ObservableKind,
    value: String,
    client: (IpAddr, Option<MacAddr>),
    server: (IpAddr, Option<MacAddr>),
}

impl Key {
    fn of(o: &Observable) -> Key {
        Key {
            kind: o.kind,
            value: o.value.clone(),
            client: (o.client.ip, o.client.mac),
            server: (o.server.ip, o.server.mac),
        }
    }
}

impl Observable {
    /// Folds `o` (the same key) into `self`: the ports and protocol of the earlier
    /// occurrence.
    fn absorb(&mut self, o: Observable) {
        if (o.first_seen, o.packets.first()) < (self.first_seen, self.packets.first()) {
            self.client.port = o.client.port;
            self.server.port = o.server.port;
            self.protocol = o.protocol;
        }
        self.first_seen = self.first_seen.min(o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
        self.count = self.count.saturating_add(o.count);
        self.packets.extend(o.packets);
        self.packets.sort_unstable();
        self.packets.dedup();
        self.packets.truncate(MAX_OBSERVABLE_PACKETS);
    }
}

/// A worker's observables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observables {
    entries: HashMap<Key, Observable, foldhash::fast::FixedState>,
    /// Sightings not kept because the table was full.
    dropped: u64,
}

impl Observables {
    /// Record `o` (its `packets` empty, `count` 1: `packet` is where it was seen).
    pub fn record(&mut self, mut o: Observable, packet: OperationPacket) {
        let full = self.entries.len() >= MAX_OBSERVABLES;
        match self.entries.entry(Key::of(&o)) {
            Entry::Occupied(mut e) => {
                o.packets = vec![packet];
                e.get_mut().absorb(o);
            }
            Entry::Vacant(_) if full => self.dropped = self.dropped.saturating_add(o.count),
            Entry::Vacant(e) => {
                o.packets = vec![packet];
                e.insert(o);
            }
        }
    }

    /// Folds another worker's observables into these (the union, whatever the order).
    pub fn merge(&mut self, o: Observables) {
        self.dropped = self.dropped.saturating_add(o.dropped);
        for (k, v) in o.entries {
            match self.entries.entry(k) {
                Entry::Occupied(mut e) => e.get_mut().absorb(v),
                Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
    }

    /// The entries in order of first occurrence (then by key), and the sightings dropped.
    pub fn into_report(self) -> (Vec<Observable>, u64) {
        let mut v: Vec<(Key, Observable)> = self.entries.into_iter().collect();
        v.sort_unstable_by(|(ka, a), (kb, b)| {
            (a.first_seen, a.packets.first(), ka).cmp(&(b.first_seen, b.packets.first(), kb))
        });
        (v.into_iter().map(|(_, o)| o).collect(), self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(ts: u64, name: &str, client: [u8; 4]) -> Observable {
        let end = |ip: [u8; 4], port| OperationEndpoint {
            ip: IpAddr::from(ip),
            port,
            mac: None,
        };
        Observable {
            kind: ObservableKind::DnsQuery,
            value: name.to_owned(),
            protocol: "dns",
            client: end(client, 40000 + (ts % 100) as u16),
            server: end([10, 0, 0, 53], 53),
            first_seen: Timestamp(ts),
            last_seen: Timestamp(ts),
            count: 1,
            packets: Vec::new(),
        }
    }

    fn rec(t: &mut Observables, o: Observable, index: u64) {
        let time = o.first_seen;
        t.record(o, OperationPacket { index, time });
    }

    #[test]
    fn repeats_fold_and_keep_the_first_packets() {
        let mut t = Observables::default();
        for i in (0..20u64).rev() {
            rec(&mut t, seen(1000 + i, "a.example", [10, 0, 0, 5]), i);
        }
        rec(&mut t, seen(500, "b.example", [10, 0, 0, 5]), 99);
        let (v, dropped) = t.into_report();
        assert_eq!(dropped, 0);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].value, "b.example", "in order of first occurrence");
        let a = &v[1];
        assert_eq!(a.count, 20);
        assert_eq!(a.client.port, 40000, "the ports of the first occurrence");
        let idx: Vec<u64> = a.packets.iter().map(|p| p.index).collect();
        assert_eq!(idx, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn the_table_is_bounded_and_counts_what_it_drops() {
        let mut t = Observables::default();
        for i in 0..(MAX_OBSERVABLES as u64 + 10) {
            rec(&mut t, seen(i, &format!("h{i}.example"), [10, 0, 0, 5]), i);
        }
        rec(&mut t, seen(0, "h0.example", [10, 0, 0, 5]), 0);
        let (v, dropped) = t.into_report();
        assert_eq!(v.len(), MAX_OBSERVABLES);
        assert_eq!(dropped, 10);
        assert_eq!(v[0].count, 2);
    }

    #[test]
    fn merging_in_either_order_gives_the_same_report() {
        let all: Vec<_> = (0..60u64)
            .map(|i| {
                seen(
                    i * 7 % 23,
                    ["a.example", "b.example"][(i % 2) as usize],
                    [10, 0, 0, (i % 3) as u8],
                )
            })
            .collect();
        let (mut a, mut b, mut c) = (
            Observables::default(),
            Observables::default(),
            Observables::default(),
        );
        for (i, o) in all.iter().enumerate() {
            rec(&mut c, o.clone(), i as u64);
            let half = if i % 2 == 0 { &mut a } else { &mut b };
            rec(half, o.clone(), i as u64);
        }
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(b);
        ba.merge(a);
        assert_eq!(ab.into_report(), ba.clone().into_report());
        assert_eq!(ba.into_report(), c.into_report());
    }
}
