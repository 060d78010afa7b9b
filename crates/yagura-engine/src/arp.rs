//! ARP requests per sender, for the anomaly engine's `arp_scan`: which addresses each host
//! asked the segment for, when, and whether they answered.
//!
//! Only broadcast requests count (a frame to a group address, or with no destination MAC in
//! the capture's link type): a sweep has to broadcast, since it does not know the MACs it
//! looks for, while a host refreshing an entry of its cache asks the known MAC directly
//! (RFC 1122, 2.3.2.1). Gratuitous ARP (sender = target: an announcement) and probes
//! (sender 0.0.0.0: a host checking an address before taking it, RFC 5227) ask nobody else
//! and are left out.
//!
//! ARP frames are routed by their sender and target addresses (symmetrically), so every
//! request of one sender for one target, and the target's replies, go to one worker. Each
//! worker keeps, per sender, the first [`MAX_ARP_TARGETS_PER_SENDER`] targets it sees; the
//! merge keeps the first of those by capture index. A target among the first of the whole
//! input is among the first of its worker, so the result does not depend on the number of
//! workers. Beyond the per-worker total [`MAX_ARP_TARGETS`], new targets are counted in
//! [`PipelineStats::arp_targets_dropped`](crate::report::PipelineStats::arp_targets_dropped)
//! (which ones a worker keeps then can differ, as for the other caps).

// std's map, as in `operations`: this code is off the per-packet path of IP traffic, and
// another instantiation of hashbrown's table code there changed how it was inlined.
use std::collections::HashMap;

use serde::Serialize;
use yagura_core::{IpAddr, MacAddr, Timestamp};
use yagura_net::decode::Arp;

/// Distinct targets kept per sender: far above what makes a sweep (the anomaly engine's
/// threshold), so that a sweep after a host's ordinary requests is still seen whole enough.
pub const MAX_ARP_TARGETS_PER_SENDER: usize = 1024;
/// (sender, target) pairs a worker keeps in all (about 64 bytes each).
pub const MAX_ARP_TARGETS: usize = 65_536;

/// A host that broadcast ARP requests for other addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArpRequester {
    pub mac: MacAddr,
    pub ip: IpAddr,
    /// Its broadcast requests for other addresses, those for targets not kept included.
    pub requests: u64,
    /// The addresses it asked for, by first request (capture index), at most
    /// [`MAX_ARP_TARGETS_PER_SENDER`]: the first ones.
    pub targets: Vec<ArpTarget>,
}

/// One address a sender asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArpTarget {
    pub ip: IpAddr,
    /// The first request for it: capture index (0-based over the input) and time.
    pub first_packet: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub requests: u64,
    /// A reply from the address to the sender was seen (a capture that does not see
    /// unicast frames to the sender sees no reply).
    pub answered: bool,
}

#[derive(Debug, Clone, Default)]
struct Sender {
    requests: u64,
    targets: HashMap<[u8; 4], ArpTarget>,
}

/// One worker's ARP requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArpRequests {
    senders: HashMap<(MacAddr, [u8; 4]), Sender>,
    /// Targets kept, over all senders.
    kept: usize,
    /// New targets not kept: the worker's total was reached.
    pub dropped: u64,
}

impl ArpRequests {
    /// An ARP message (IPv4 over Ethernet) at capture index `index`; `broadcast`: sent to a
    /// group address or to no known MAC.
    pub fn message(&mut self, a: &Arp, broadcast: bool, index: u64, ts: Timestamp) {
        if a.sender_ip == [0; 4] || a.sender_ip == a.target_ip {
            return;
        }
        match a.op {
            1 if broadcast && !a.sender_mac.is_group() && !a.sender_mac.is_zero() => {
                self.request(a.sender_mac, a.sender_ip, a.target_ip, index, ts)
            }
            // A reply to a sender we track: its target answered.
            2 => {
                if let Some(t) = self
                    .senders
                    .get_mut(&(a.target_mac, a.target_ip))
                    .and_then(|s| s.targets.get_mut(&a.sender_ip))
                {
                    t.answered = true;
                }
            }
            _ => {}
        }
    }

    fn request(&mut self, mac: MacAddr, ip: [u8; 4], target: [u8; 4], index: u64, ts: Timestamp) {
        let full = self.kept >= MAX_ARP_TARGETS;
        if full && !self.senders.contains_key(&(mac, ip)) {
            self.dropped += 1;
            return;
        }
        let s = self.senders.entry((mac, ip)).or_default();
        s.requests += 1;
        if let Some(t) = s.targets.get_mut(&target) {
            t.last_seen = t.last_seen.max(ts);
            t.requests += 1;
        } else if full {
            self.dropped += 1;
        } else if s.targets.len() < MAX_ARP_TARGETS_PER_SENDER {
            s.targets.insert(
                target,
                ArpTarget {
                    ip: IpAddr::V4(target.into()),
                    first_packet: index,
                    first_seen: ts,
                    last_seen: ts,
                    requests: 1,
                    answered: false,
                },
            );
            self.kept += 1;
        }
    }

    /// Fold another worker's requests in (targets are never shared between workers: see
    /// the module's doc).
    pub fn merge(&mut self, o: ArpRequests) {
        self.dropped += o.dropped;
        for (k, s) in o.senders {
            let mine = self.senders.entry(k).or_default();
            mine.requests += s.requests;
            for (ip, t) in s.targets {
                mine.targets
                    .entry(ip)
                    .and_modify(|m| {
                        // Not met with the sharding above; exact if it were.
                        m.requests += t.requests;
                        m.last_seen = m.last_seen.max(t.last_seen);
                        m.answered |= t.answered;
                        if t.first_packet < m.first_packet {
                            m.first_packet = t.first_packet;
                            m.first_seen = t.first_seen;
                        }
                    })
                    .or_insert(t);
            }
        }
    }

    /// The requesters sorted by MAC and address, each with its first
    /// [`MAX_ARP_TARGETS_PER_SENDER`] targets by capture index; and the targets not kept
    /// for the workers' total.
    pub fn into_report(self) -> (Vec<ArpRequester>, u64) {
        let mut out: Vec<ArpRequester> = self
            .senders
            .into_iter()
            .map(|((mac, ip), s)| {
                let mut targets: Vec<ArpTarget> = s.targets.into_values().collect();
                targets.sort_unstable_by_key(|t| t.first_packet);
                targets.truncate(MAX_ARP_TARGETS_PER_SENDER);
                ArpRequester {
                    mac,
                    ip: IpAddr::V4(ip.into()),
                    requests: s.requests,
                    targets,
                }
            })
            .collect();
        out.sort_unstable_by_key(|r| (r.mac, r.ip));
        (out, self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const ME: [u8; 4] = [10, 0, 0, 1];

    fn msg(op: u16, mac: MacAddr, ip: [u8; 4], target_mac: MacAddr, target: [u8; 4]) -> Arp {
        Arp {
            op,
            sender_mac: mac,
            sender_ip: ip,
            target_mac,
            target_ip: target,
        }
    }

    fn req(target: [u8; 4]) -> Arp {
        msg(1, M, ME, MacAddr([0; 6]), target)
    }

    fn ask(a: &mut ArpRequests, target: u32, index: u64) {
        let t = (0x0a00_0000 + target).to_be_bytes();
        a.message(&req(t), true, index, Timestamp(index));
    }

    #[test]
    fn counts_broadcast_requests_for_others_and_marks_replies() {
        let mut a = ArpRequests::default();
        ask(&mut a, 2, 0);
        ask(&mut a, 2, 1);
        ask(&mut a, 3, 2);
        // Left out: unicast (a cache refresh), gratuitous, a probe from 0.0.0.0.
        a.message(&req([10, 0, 0, 4]), false, 3, Timestamp(3));
        a.message(&req(ME), true, 4, Timestamp(4));
        let probe = msg(1, M, [0; 4], MacAddr([0; 6]), [10, 0, 0, 5]);
        a.message(&probe, true, 5, Timestamp(5));
        // 10.0.0.3 answers; 10.0.0.9 answers someone else.
        let peer = MacAddr([2, 0, 0, 0, 0, 3]);
        a.message(&msg(2, peer, [10, 0, 0, 3], M, ME), false, 6, Timestamp(6));
        let other = msg(
            2,
            peer,
            [10, 0, 0, 2],
            MacAddr([2, 0, 0, 0, 0, 9]),
            [10, 0, 0, 9],
        );
        a.message(&other, false, 7, Timestamp(7));
        let (r, dropped) = a.into_report();
        assert_eq!(dropped, 0);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].mac, r[0].requests), (M, 3));
        let t: Vec<(String, u64, u64, bool)> = r[0]
            .targets
            .iter()
            .map(|t| (t.ip.to_string(), t.first_packet, t.requests, t.answered))
            .collect();
        assert_eq!(
            t,
            [
                ("10.0.0.2".into(), 0, 2, false),
                ("10.0.0.3".into(), 2, 1, true)
            ]
        );
    }

    #[test]
    fn keeps_the_first_targets_whatever_the_split_between_workers() {
        // One worker sees every request; two workers see them split by target.
        let n = MAX_ARP_TARGETS_PER_SENDER as u32 + 100;
        let mut one = ArpRequests::default();
        let (mut w0, mut w1) = (ArpRequests::default(), ArpRequests::default());
        for i in 0..n {
            // Targets asked in a scrambled order.
            let target = (i * 7919) % 5000;
            ask(&mut one, target, u64::from(i));
            let w = if target % 3 == 0 { &mut w0 } else { &mut w1 };
            ask(w, target, u64::from(i));
        }
        w0.merge(w1);
        let (a, _) = one.into_report();
        let (b, _) = w0.into_report();
        assert_eq!(a, b);
        assert_eq!(a[0].targets.len(), MAX_ARP_TARGETS_PER_SENDER);
        assert_eq!(a[0].requests, u64::from(n));
        assert!(
            a[0].targets
                .windows(2)
                .all(|w| w[0].first_packet < w[1].first_packet)
        );
    }

    #[test]
    fn the_worker_total_is_bounded_and_counted() {
        let mut a = ArpRequests::default();
        let senders = MAX_ARP_TARGETS / MAX_ARP_TARGETS_PER_SENDER + 2;
        for s in 0..senders {
            let mac = MacAddr([2, 0, 0, 0, (s >> 8) as u8, s as u8]);
            for t in 0..MAX_ARP_TARGETS_PER_SENDER as u32 {
                let ip = (0x0b00_0000 + t).to_be_bytes();
                a.message(&msg(1, mac, ME, MacAddr([0; 6]), ip), true, 0, Timestamp(0));
            }
        }
        assert_eq!(a.kept, MAX_ARP_TARGETS);
        let (r, dropped) = a.into_report();
        let kept: usize = r.iter().map(|r| r.targets.len()).sum();
        assert_eq!(kept, MAX_ARP_TARGETS);
        assert_eq!(
            dropped as usize,
            senders * MAX_ARP_TARGETS_PER_SENDER - MAX_ARP_TARGETS
        );
    }

    use proptest::prelude::*;

    proptest! {
        /// Any ARP traffic, shared out between workers by the sender and target addresses
        /// as the router does, gives the report one worker gives; and it stays within its
        /// caps.
        #[test]
        fn the_report_does_not_depend_on_the_split(
            msgs in prop::collection::vec(
                (1u16..=3, 0u8..4, 0u8..6, any::<bool>(), 0u16..300),
                0..400,
            ),
            workers in 2usize..5,
        ) {
            let mut one = ArpRequests::default();
            let mut split: Vec<ArpRequests> = vec![ArpRequests::default(); workers];
            for (i, &(op, who, peer, broadcast, target)) in msgs.iter().enumerate() {
                let host = |n: u8| (MacAddr([2, 0, 0, 0, 0, n]), [10, 0, 0, n]);
                let (mac, ip) = host(who);
                // Requests for many addresses; replies from a few hosts to the others.
                let (tmac, tip) = if op == 1 {
                    (MacAddr([0; 6]), [10, 0, (target >> 8) as u8, target as u8])
                } else {
                    host(peer)
                };
                let a = msg(op, mac, ip, tmac, tip);
                let ts = Timestamp(i as u64 * 1000);
                one.message(&a, broadcast, i as u64, ts);
                let h = yagura_core::shard_hash(
                    &yagura_core::v4_mapped(ip),
                    &yagura_core::v4_mapped(tip),
                );
                split[(h % workers as u64) as usize].message(&a, broadcast, i as u64, ts);
            }
            let mut merged = ArpRequests::default();
            for w in split {
                merged.merge(w);
            }
            let (a, da) = one.into_report();
            let (b, db) = merged.into_report();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(da, db);
            for r in &a {
                prop_assert!(r.targets.len() <= MAX_ARP_TARGETS_PER_SENDER);
                let kept: u64 = r.targets.iter().map(|t| t.requests).sum();
                prop_assert!(kept <= r.requests);
            }
        }
    }
}
