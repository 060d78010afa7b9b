//! Bounded IP fragment reassembly (IPv4 and IPv6).
//!
//! Fragments are held per datagram until the datagram is complete, it times out, or memory
//! limits push it out. Overlaps keep the first copy of a byte (the policy of most stacks'
//! ancestors, BSD "first"); an overlap whose bytes differ is counted, since it is the
//! signature of evasion attempts. Every limit is hard: a hostile stream of fragments cannot
//! grow memory past [`DefragLimits::max_bytes`].

use hashbrown::HashMap;
use yagura_core::Timestamp;

/// Identifies one datagram being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub id: u32,
    pub proto: u8,
    pub vlan: u16,
}

/// Bounds of the defragmenter.
#[derive(Debug, Clone, Copy)]
pub struct DefragLimits {
    /// Datagrams in reassembly at once.
    pub max_datagrams: usize,
    /// Buffered fragment bytes in all datagrams together.
    pub max_bytes: usize,
    /// A datagram not completed within this time (ns of capture time) is dropped.
    pub timeout_ns: u64,
    /// Fragments accepted for one datagram (a teardrop-style flood of tiny fragments stops here).
    pub max_fragments: u16,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_datagrams: 1024,
            max_bytes: 4 << 20,
            timeout_ns: 30_000_000_000,
            max_fragments: 128,
        }
    }
}

/// Counters of the defragmenter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragStats {
    pub fragments: u64,
    pub reassembled: u64,
    /// Datagrams dropped incomplete (timeout, memory cap, too many fragments, too long).
    pub timed_out: u64,
    pub evicted: u64,
    pub too_many_fragments: u64,
    /// Fragments that would make the datagram exceed 65535 bytes.
    pub oversize: u64,
    /// Overlapping fragments whose bytes disagree with what was already received.
    pub overlap_conflicts: u64,
}

struct Datagram {
    first_seen: Timestamp,
    /// Data by offset; `have` lists the received byte ranges, sorted and merged.
    data: Vec<u8>,
    have: Vec<(u32, u32)>,
    /// Total length, known once the last fragment (MF clear) arrived.
    total: Option<u32>,
    fragments: u16,
}

/// What pushing one fragment produced.
#[derive(Debug, PartialEq, Eq)]
pub enum DefragOutcome {
    /// Held; the datagram is not complete yet.
    Held,
    /// The datagram is complete: its transport payload (the IP payload, headers stripped).
    Complete(Vec<u8>),
    /// The fragment was refused (see the stats for why).
    Dropped,
}

/// Largest IP payload a datagram can have.
const MAX_DATAGRAM: u32 = 65_535;

/// A per-worker defragmenter.
pub struct Defragmenter {
    limits: DefragLimits,
    pending: HashMap<FragKey, Datagram>,
    bytes: usize,
    stats: DefragStats,
}

impl Defragmenter {
    pub fn new(limits: DefragLimits) -> Defragmenter {
        Defragmenter {
            limits,
            pending: HashMap::new(),
            bytes: 0,
            stats: DefragStats::default(),
        }
    }

    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Datagrams currently held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Buffered bytes currently held.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Add a fragment whose data starts at byte `offset` of the datagram's payload.
    pub fn push(
        &mut self,
        now: Timestamp,
        key: FragKey,
        offset: u32,
        more: bool,
        data: &[u8],
    ) -> DefragOutcome {
        self.stats.fragments += 1;
        let end = offset.saturating_add(data.len() as u32);
        if end > MAX_DATAGRAM {
            self.stats.oversize += 1;
            self.drop_datagram(&key);
            return DefragOutcome::Dropped;
        }
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= self.limits.max_datagrams {
                self.evict_oldest();
            }
            self.pending.insert(
                key,
                Datagram {
                    first_seen: now,
                    data: Vec::new(),
                    have: Vec::new(),
                    total: None,
                    fragments: 0,
                },
            );
        }
        // Make room before growing the buffer, evicting other datagrams first.
        let grow = {
            let d = &self.pending[&key];
            (end as usize).saturating_sub(d.data.len())
        };
        while self.bytes + grow > self.limits.max_bytes && self.pending.len() > 1 {
            if !self.evict_oldest_except(&key) {
                break;
            }
        }
        if self.bytes + grow > self.limits.max_bytes {
            self.stats.evicted += 1;
            self.drop_datagram(&key);
            return DefragOutcome::Dropped;
        }
        let d = self.pending.get_mut(&key).expect("inserted above");
        d.fragments += 1;
        if d.fragments > self.limits.max_fragments {
            self.stats.too_many_fragments += 1;
            self.drop_datagram(&key);
            return DefragOutcome::Dropped;
        }
        if !more {
            match d.total {
                // Two different "last" fragments: keep the first, note the conflict.
                Some(t) if t != end => self.stats.overlap_conflicts += 1,
                Some(_) => {}
                None => d.total = Some(end),
            }
        }
        if d.data.len() < end as usize {
            self.bytes += end as usize - d.data.len();
            d.data.resize(end as usize, 0);
        }
        // Copy only the bytes not yet held; compare the ones already held.
        let mut conflict = false;
        let mut pos = offset;
        for &(s, e) in &d.have {
            if e <= pos || s >= end {
                continue;
            }
            if s > pos {
                let (a, b) = (pos as usize, s as usize);
                d.data[a..b].copy_from_slice(&data[a - offset as usize..b - offset as usize]);
            }
            let (a, b) = (s.max(pos) as usize, e.min(end) as usize);
            if d.data[a..b] != data[a - offset as usize..b - offset as usize] {
                conflict = true;
            }
            pos = pos.max(e);
        }
        if pos < end {
            let (a, b) = (pos as usize, end as usize);
            d.data[a..b].copy_from_slice(&data[a - offset as usize..b - offset as usize]);
        }
        if conflict {
            self.stats.overlap_conflicts += 1;
        }
        insert_range(&mut d.have, (offset, end));
        let complete = matches!(d.total, Some(t) if d.have.first() == Some(&(0, t)));
        if complete {
            let mut d = self.pending.remove(&key).expect("present");
            self.bytes -= d.data.len();
            let total = d.total.unwrap_or(0) as usize;
            d.data.truncate(total);
            self.stats.reassembled += 1;
            return DefragOutcome::Complete(d.data);
        }
        DefragOutcome::Held
    }

    /// Drop datagrams older than the timeout at capture time `now`.
    pub fn expire(&mut self, now: Timestamp) {
        let timeout = self.limits.timeout_ns;
        let mut freed = 0;
        let mut dropped = 0;
        self.pending.retain(|_, d| {
            let keep = now.since(d.first_seen) <= timeout;
            if !keep {
                freed += d.data.len();
                dropped += 1;
            }
            keep
        });
        self.bytes -= freed;
        self.stats.timed_out += dropped;
    }

    fn drop_datagram(&mut self, key: &FragKey) {
        if let Some(d) = self.pending.remove(key) {
            self.bytes -= d.data.len();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(k) = self.oldest(None) {
            self.stats.evicted += 1;
            self.drop_datagram(&k);
        }
    }

    fn evict_oldest_except(&mut self, keep: &FragKey) -> bool {
        match self.oldest(Some(keep)) {
            Some(k) => {
                self.stats.evicted += 1;
                self.drop_datagram(&k);
                true
            }
            None => false,
        }
    }

    /// The oldest pending datagram. A linear scan: eviction only happens under pressure and
    /// the table is bounded by `max_datagrams`.
    fn oldest(&self, except: Option<&FragKey>) -> Option<FragKey> {
        self.pending
            .iter()
            .filter(|(k, _)| Some(*k) != except)
            .min_by_key(|(_, d)| d.first_seen)
            .map(|(k, _)| *k)
    }
}

/// Insert `r` into the sorted, merged range list `v`.
fn insert_range(v: &mut Vec<(u32, u32)>, r: (u32, u32)) {
    if r.0 >= r.1 {
        return;
    }
    let mut merged = r;
    v.retain(|&(s, e)| {
        if e < merged.0 || s > merged.1 {
            true
        } else {
            merged = (merged.0.min(s), merged.1.max(e));
            false
        }
    });
    let at = v.partition_point(|&(s, _)| s < merged.0);
    v.insert(at, merged);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(id: u32) -> FragKey {
        FragKey {
            src: [1; 16],
            dst: [2; 16],
            id,
            proto: 17,
            vlan: 0,
        }
    }

    #[test]
    fn reassembles_in_and_out_of_order() {
        let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let mut d = Defragmenter::new(DefragLimits::default());
            let parts = [(0u32, 1480usize), (1480, 2960), (2960, 3000)];
            let mut out = None;
            for &i in &order {
                let (s, e) = parts[i];
                let more = i != 2;
                match d.push(Timestamp(1), key(7), s, more, &payload[s as usize..e]) {
                    DefragOutcome::Complete(v) => out = Some(v),
                    DefragOutcome::Held => {}
                    DefragOutcome::Dropped => panic!("dropped"),
                }
            }
            assert_eq!(out.as_deref(), Some(&payload[..]));
            assert_eq!(d.pending(), 0);
            assert_eq!(d.buffered_bytes(), 0);
        }
    }

    #[test]
    fn overlap_keeps_first_and_counts_conflict() {
        let mut d = Defragmenter::new(DefragLimits::default());
        assert_eq!(
            d.push(Timestamp(1), key(1), 0, true, &[1; 16]),
            DefragOutcome::Held
        );
        // Overlaps bytes 8..16 with different content, then completes.
        let r = d.push(Timestamp(1), key(1), 8, false, &[9; 16]);
        let mut want = vec![1u8; 16];
        want.extend_from_slice(&[9; 8]);
        assert_eq!(r, DefragOutcome::Complete(want));
        assert_eq!(d.stats().overlap_conflicts, 1);
    }

    #[test]
    fn times_out_and_caps_memory() {
        let limits = DefragLimits {
            max_datagrams: 4,
            max_bytes: 10_000,
            timeout_ns: 1_000,
            max_fragments: 8,
        };
        let mut d = Defragmenter::new(limits);
        for id in 0..10 {
            d.push(Timestamp(0), key(id), 0, true, &[0; 1000]);
        }
        assert_eq!(d.pending(), 4);
        assert_eq!(d.stats().evicted, 6);
        d.expire(Timestamp(5_000));
        assert_eq!(d.pending(), 0);
        assert_eq!(d.buffered_bytes(), 0);
        assert_eq!(d.stats().timed_out, 4);
        // Oversize datagram.
        assert_eq!(
            d.push(Timestamp(0), key(99), 65_000, true, &[0; 1000]),
            DefragOutcome::Dropped
        );
    }

    proptest! {
        #[test]
        fn never_exceeds_bounds(frags in proptest::collection::vec((0u32..4, 0u32..70_000, any::<bool>(), 0usize..3000), 0..200)) {
            let limits = DefragLimits { max_datagrams: 3, max_bytes: 20_000, timeout_ns: 10, max_fragments: 16 };
            let mut d = Defragmenter::new(limits);
            let buf = vec![0xabu8; 3000];
            for (i, (id, off, more, len)) in frags.into_iter().enumerate() {
                let _ = d.push(Timestamp(i as u64), key(id), off, more, &buf[..len]);
                prop_assert!(d.pending() <= 3);
                prop_assert!(d.buffered_bytes() <= 20_000);
                if i % 17 == 0 { d.expire(Timestamp(i as u64)); }
            }
        }
    }
}
