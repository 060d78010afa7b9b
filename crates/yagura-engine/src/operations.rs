//! Operational requests (stop, start, restart, program download or upload, firmware update,
//! configuration change: [`OperationClass::is_operational`]) as the report lists them, for the
//! operational alerts: who asked which device for what, when, how often, and in which
//! packets.
//!
//! Each worker folds them as they come (one entry per sender, receiver, protocol, function
//! and class), so a controller stopped a thousand times is one entry with a count; the
//! entries are bounded, and what does not fit is counted.

// std's map, not the hashbrown crate's that the flow table uses: another instantiation of
// the crate's shared table code changed how the compiler inlined it into the per-packet
// path (17 M instructions more per million bench packets, with or without dissectors).
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::Serialize;
use yagura_core::{IpAddr, MacAddr, OperationClass, Timestamp, Transport};

/// Packets kept per entry as evidence: the first ones (lowest capture index).
pub const MAX_OPERATION_PACKETS: usize = 8;
/// Distinct entries a worker keeps; beyond, new ones are counted in
/// [`PipelineStats::operations_dropped`](crate::report::PipelineStats::operations_dropped).
pub const MAX_OPERATIONS: usize = 4096;

/// One side of an operational request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OperationEndpoint {
    pub ip: IpAddr,
    pub port: u16,
    /// The MAC of the first frame seen from this side of the connection (for a host behind
    /// a router, the router's); `None` before any.
    pub mac: Option<MacAddr>,
}

/// A packet that carried an operational request: its capture index (0-based over the whole
/// input) and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OperationPacket {
    pub index: u64,
    pub time: Timestamp,
}

/// An operational request, folded over its repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationObservation {
    pub operation: OperationClass,
    pub protocol: &'static str,
    /// The protocol's function or service code, and its name.
    pub function: Option<u32>,
    pub function_name: Option<&'static str>,
    /// Who asked: the connection's client (ports: those of the first occurrence), whichever
    /// side sent the PDU (an S7 controller sends "download block" requests to the station
    /// downloading into it).
    pub src: OperationEndpoint,
    /// Whom it was asked of: the connection's server.
    pub dst: OperationEndpoint,
    pub transport: Transport,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Requests seen (every PDU, several in one packet included).
    pub count: u64,
    /// The first packets that carried it, at most [`MAX_OPERATION_PACKETS`].
    pub packets: Vec<OperationPacket>,
}

/// What makes two requests one entry (ports left out: a client's new source port is the
/// same behaviour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    operation: OperationClass,
    protocol: &'static str,
    function: Option<u32>,
    src: (IpAddr, Option<MacAddr>),
    dst: (IpAddr, Option<MacAddr>),
    transport: Transport,
}

impl Key {
    fn of(o: &OperationObservation) -> Key {
        Key {
            operation: o.operation,
            protocol: o.protocol,
            function: o.function,
            src: (o.src.ip, o.src.mac),
            dst: (o.dst.ip, o.dst.mac),
            transport: o.transport,
        }
    }
}

impl OperationObservation {
    /// Folds `o` (the same key) into `self`: the ports and name of the earlier occurrence.
    fn absorb(&mut self, o: OperationObservation) {
        let earlier = (o.first_seen, o.packets.first()) < (self.first_seen, self.packets.first());
        if earlier {
            self.src.port = o.src.port;
            self.dst.port = o.dst.port;
            self.function_name = o.function_name;
        }
        self.first_seen = self.first_seen.min(o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
        self.count = self.count.saturating_add(o.count);
        self.packets.extend(o.packets);
        self.packets.sort_unstable();
        self.packets.dedup();
        self.packets.truncate(MAX_OPERATION_PACKETS);
    }
}

/// A worker's operational requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Operations {
    entries: HashMap<Key, OperationObservation, foldhash::fast::FixedState>,
    /// Requests not kept because the table was full.
    dropped: u64,
}

impl Operations {
    /// Record `o` (its `packets` empty: `packet` is where it was seen; `first_seen` and
    /// `last_seen` that packet's time). A repeat of a known request costs a lookup and a
    /// few additions: no allocation.
    pub fn record(&mut self, mut o: OperationObservation, packet: OperationPacket) {
        let full = self.entries.len() >= MAX_OPERATIONS;
        match self.entries.entry(Key::of(&o)) {
            Entry::Occupied(mut e) => {
                let e = e.get_mut();
                if (o.first_seen, Some(&packet)) < (e.first_seen, e.packets.first()) {
                    e.src.port = o.src.port;
                    e.dst.port = o.dst.port;
                    e.function_name = o.function_name;
                }
                e.first_seen = e.first_seen.min(o.first_seen);
                e.last_seen = e.last_seen.max(o.last_seen);
                e.count = e.count.saturating_add(o.count);
                // Keep the first packets by capture index (input order makes this an
                // append until the list is full).
                if let Err(at) = e.packets.binary_search(&packet)
                    && at < MAX_OPERATION_PACKETS
                {
                    e.packets.truncate(MAX_OPERATION_PACKETS - 1);
                    e.packets.insert(at, packet);
                }
            }
            Entry::Vacant(_) if full => self.dropped = self.dropped.saturating_add(o.count),
            Entry::Vacant(e) => {
                o.packets = vec![packet];
                e.insert(o);
            }
        }
    }

    /// Folds another worker's requests into these (the union: whatever the order of the
    /// merges, the same entries).
    pub fn merge(&mut self, o: Operations) {
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

    /// The entries in order of first occurrence (then by key), and the requests dropped.
    pub fn into_report(self) -> (Vec<OperationObservation>, u64) {
        let mut v: Vec<(Key, OperationObservation)> = self.entries.into_iter().collect();
        v.sort_unstable_by(|(ka, a), (kb, b)| {
            (a.first_seen, a.packets.first(), ka).cmp(&(b.first_seen, b.packets.first(), kb))
        });
        (v.into_iter().map(|(_, o)| o).collect(), self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(ts: u64, src_port: u16, dst: [u8; 4]) -> OperationObservation {
        let ip = |a: [u8; 4]| IpAddr::from(a);
        OperationObservation {
            operation: OperationClass::Stop,
            protocol: "s7comm",
            function: Some(0x29),
            function_name: Some("plc_stop"),
            src: OperationEndpoint {
                ip: ip([10, 0, 0, 5]),
                port: src_port,
                mac: None,
            },
            dst: OperationEndpoint {
                ip: ip(dst),
                port: 102,
                mac: None,
            },
            transport: Transport::TCP,
            first_seen: Timestamp(ts),
            last_seen: Timestamp(ts),
            count: 1,
            packets: Vec::new(),
        }
    }

    fn at(ts: u64, index: u64) -> OperationPacket {
        OperationPacket {
            index,
            time: Timestamp(ts),
        }
    }

    /// `o` recorded in `ops` at its own time and `index`.
    fn rec(ops: &mut Operations, o: OperationObservation, index: u64) {
        let t = o.first_seen.0;
        ops.record(o, at(t, index));
    }

    #[test]
    fn repeats_fold_and_keep_the_first_packets() {
        let mut ops = Operations::default();
        for i in (0..20u64).rev() {
            rec(&mut ops, op(1000 + i, 40000 + i as u16, [10, 0, 0, 9]), i);
        }
        rec(&mut ops, op(5000, 1, [10, 0, 0, 10]), 99);
        let (v, dropped) = ops.into_report();
        assert_eq!(dropped, 0);
        assert_eq!(v.len(), 2);
        let a = &v[0];
        assert_eq!(a.count, 20);
        assert_eq!(
            (a.first_seen, a.last_seen),
            (Timestamp(1000), Timestamp(1019))
        );
        assert_eq!(a.src.port, 40000, "the ports of the first occurrence");
        let idx: Vec<u64> = a.packets.iter().map(|p| p.index).collect();
        assert_eq!(idx, (0..8).collect::<Vec<_>>());
        assert_eq!(v[1].dst.ip, IpAddr::from([10, 0, 0, 10]));
    }

    #[test]
    fn the_table_is_bounded_and_counts_what_it_drops() {
        let mut ops = Operations::default();
        for i in 0..(MAX_OPERATIONS as u32 + 10) {
            let b = i.to_be_bytes();
            rec(
                &mut ops,
                op(u64::from(i), 1, [11, b[1], b[2], b[3]]),
                u64::from(i),
            );
        }
        // A repeat of a kept entry still folds.
        rec(&mut ops, op(0, 1, [11, 0, 0, 0]), 0);
        let (v, dropped) = ops.into_report();
        assert_eq!(v.len(), MAX_OPERATIONS);
        assert_eq!(dropped, 10);
        assert_eq!(v[0].count, 2);
    }

    #[test]
    fn merging_in_either_order_gives_the_same_report() {
        let all: Vec<_> = (0..50u64)
            .map(|i| op(i * 7 % 23, i as u16, [10, 0, 0, (i % 3) as u8]))
            .collect();
        let (mut a, mut b, mut c) = (
            Operations::default(),
            Operations::default(),
            Operations::default(),
        );
        for (i, o) in all.iter().enumerate() {
            rec(&mut c, o.clone(), i as u64);
            if i % 2 == 0 {
                rec(&mut a, o.clone(), i as u64)
            } else {
                rec(&mut b, o.clone(), i as u64)
            }
        }
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(b);
        ba.merge(a);
        assert_eq!(ab.into_report(), ba.clone().into_report());
        assert_eq!(ba.into_report(), c.into_report());
    }
}
