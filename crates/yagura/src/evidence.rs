//! The live sensor's evidence buffer: the recent packets of each capture worker, so that an
//! alert raised at a flush can keep its triggering packets with their bytes, as `yagura
//! analyze` does by reading its input again (a live interface cannot be read again).
//!
//! Each worker copies its packets into its own [`PacketRing`] (one lock per batch, never
//! shared with another worker); the flusher looks packets up there at a flush, under the
//! same lock, with a binary search. The rings together hold at most the size given
//! (`--evidence-buffer`), bytes and bookkeeping included: the oldest packets go first. A
//! packet already gone when its alert is recorded is kept without its bytes.
//!
//! A live packet's capture index is its capture time in nanoseconds (`run_live`), the same
//! on every worker. Two packets of one nanosecond cannot be told apart by index: such an
//! index is kept without bytes rather than with another packet's.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use yagura_capture::{CaptureError, PacketBatch, PacketSource, Router, SourceStats, Warning};
use yagura_core::Timestamp;
use yagura_detect::EvidencePacket;

/// The smallest packet the split of a ring's budget between bytes and bookkeeping plans
/// for (a minimal Ethernet frame): with packets this small, both run out together.
const PLANNED_MIN_PACKET: usize = 64;

/// One packet in a ring: where its bytes are, and what a pcap record needs.
#[derive(Debug, Clone, Copy)]
struct Entry {
    index: u64,
    ts: Timestamp,
    off: usize,
    len: u32,
    orig_len: u32,
    link: u16,
    /// Pushed with a lower index than the packet before it (the clock stepped back).
    stepped_back: bool,
}

/// The recent packets of one worker, in a fixed budget of bytes: a circular byte buffer
/// and, in the same order, the packets' entries. Pages of the buffer are touched only as
/// packets fill them, so an idle sensor does not hold the whole budget.
pub struct PacketRing {
    data: Vec<u8>,
    entries: VecDeque<Entry>,
    max_entries: usize,
    /// Where the next packet's bytes go.
    head: usize,
    /// Entries present with `stepped_back` set: while there is one, indices are not in
    /// order and a lookup scans instead of searching.
    out_of_order: usize,
    /// Packets not kept at all (larger than the buffer, or empty).
    not_kept: u64,
}

impl PacketRing {
    /// A ring of at most `budget` bytes (its packets' bytes and their entries).
    pub fn new(budget: usize) -> PacketRing {
        let meta = std::mem::size_of::<Entry>();
        let max_entries = budget / (meta + PLANNED_MIN_PACKET);
        PacketRing {
            data: vec![0; budget - max_entries * meta],
            entries: VecDeque::with_capacity(max_entries),
            max_entries,
            head: 0,
            out_of_order: 0,
            not_kept: 0,
        }
    }

    /// Keep a copy of a packet, evicting the oldest ones to make room.
    pub fn push(&mut self, index: u64, ts: Timestamp, link: u16, orig_len: u32, data: &[u8]) {
        let len = data.len();
        if len == 0 || len > self.data.len() || self.max_entries == 0 {
            self.not_kept += 1;
            return;
        }
        if self.entries.len() == self.max_entries {
            self.pop();
        }
        let mut start = self.head;
        if start + len > self.data.len() {
            // The tail from `head` on is given up for this lap: what the previous lap left
            // there (the oldest entries) goes.
            while self.entries.front().is_some_and(|e| e.off >= self.head) {
                self.pop();
            }
            start = 0;
        }
        // What is left of the previous lap lies after `start`, in order: drop what the new
        // packet overwrites.
        while self
            .entries
            .front()
            .is_some_and(|e| e.off >= start && e.off < start + len)
        {
            self.pop();
        }
        self.data[start..start + len].copy_from_slice(data);
        let stepped_back = self.entries.back().is_some_and(|b| index < b.index);
        self.out_of_order += usize::from(stepped_back);
        self.entries.push_back(Entry {
            index,
            ts,
            off: start,
            len: len as u32,
            orig_len,
            link,
            stepped_back,
        });
        self.head = start + len;
    }

    fn pop(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.out_of_order -= usize::from(e.stepped_back);
        }
    }

    /// Every packet held with capture index `index`, appended to `out`.
    pub fn find(&self, index: u64, out: &mut Vec<EvidencePacket>) {
        let packet = |e: &Entry| EvidencePacket {
            index: e.index,
            time: e.ts,
            link: e.link,
            orig_len: e.orig_len,
            data: self.data[e.off..e.off + e.len as usize].to_vec(),
        };
        if self.out_of_order == 0 {
            let from = self.entries.partition_point(|e| e.index < index);
            out.extend(
                self.entries
                    .range(from..)
                    .take_while(|e| e.index == index)
                    .map(packet),
            );
        } else {
            out.extend(self.entries.iter().filter(|e| e.index == index).map(packet));
        }
    }

    /// Packets held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Packets never kept (empty, or larger than the whole buffer).
    #[cfg(test)]
    pub fn not_kept(&self) -> u64 {
        self.not_kept
    }
}

/// The rings of every capture worker of a sensor.
#[derive(Clone)]
pub struct EvidenceBuffer {
    rings: Vec<Arc<Mutex<PacketRing>>>,
}

/// What a lookup found.
#[derive(Debug, Default)]
pub struct Found {
    pub packets: HashMap<u64, EvidencePacket>,
    /// Indices no longer held (or never: the buffer is off).
    pub gone: usize,
    /// Indices held by more than one packet (one nanosecond, two packets): kept without
    /// bytes.
    pub ambiguous: usize,
}

impl EvidenceBuffer {
    /// `workers` rings sharing `budget` bytes.
    pub fn new(budget: usize, workers: usize) -> EvidenceBuffer {
        let workers = workers.max(1);
        EvidenceBuffer {
            rings: (0..workers)
                .map(|_| Arc::new(Mutex::new(PacketRing::new(budget / workers))))
                .collect(),
        }
    }

    /// Wrap the capture sources (one per worker, as many as rings) so that each copies its
    /// packets into its ring as it delivers them.
    pub fn record(&self, sources: Vec<Box<dyn PacketSource>>) -> Vec<Box<dyn PacketSource>> {
        sources
            .into_iter()
            .zip(self.rings.iter().cycle())
            .map(|(inner, ring)| {
                Box::new(Recorded {
                    inner,
                    ring: Arc::clone(ring),
                }) as Box<dyn PacketSource>
            })
            .collect()
    }

    /// The packets with these capture indices that the rings still hold.
    pub fn find(&self, wanted: &BTreeSet<u64>) -> Found {
        let mut found = Found::default();
        let mut matches = Vec::new();
        for &i in wanted {
            matches.clear();
            for r in &self.rings {
                r.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .find(i, &mut matches);
            }
            match matches.len() {
                0 => found.gone += 1,
                1 => {
                    found.packets.insert(i, matches.swap_remove(0));
                }
                _ => found.ambiguous += 1,
            }
        }
        found
    }
}

/// A capture source that copies what it delivers into a ring.
struct Recorded {
    inner: Box<dyn PacketSource>,
    ring: Arc<Mutex<PacketRing>>,
}

impl PacketSource for Recorded {
    fn next_batch(&mut self, max: usize) -> Result<Option<PacketBatch>, CaptureError> {
        let batch = self.inner.next_batch(max)?;
        if let Some(b) = &batch
            && !b.is_empty()
        {
            let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
            for p in b.iter() {
                // The index `run_live` gives a live packet: its time.
                ring.push(p.ts.0, p.ts, p.link.0, p.orig_len, p.data);
            }
        }
        Ok(batch)
    }

    fn set_router(&mut self, router: Router) -> bool {
        self.inner.set_router(router)
    }

    fn recycle(&mut self, batch: PacketBatch) {
        self.inner.recycle(batch);
    }

    fn stats(&self) -> SourceStats {
        self.inner.stats()
    }

    fn take_warnings(&mut self) -> Vec<Warning> {
        self.inner.take_warnings()
    }

    fn files(&self) -> Vec<String> {
        self.inner.files()
    }
}

/// `64MiB`, `512KiB`, `1GiB`, `100MB`, `4096` (bytes): the size of the evidence buffer.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (e.g. 64MiB, 512KiB, 1GiB)"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => {
            return Err(format!(
                "invalid size unit in {s:?} (B, KiB, MiB, GiB, kB, MB, GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn held(r: &PacketRing, i: u64) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        r.find(i, &mut v);
        v.into_iter().map(|p| p.data).collect()
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("64 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn the_oldest_packets_go_first_and_the_rest_read_back() {
        let mut r = PacketRing::new(4096);
        for i in 0..100u64 {
            r.push(i, Timestamp(i), 1, 200, &[i as u8; 100]);
        }
        // The budget holds some tens of 100-byte packets: the last ones.
        assert!(r.len() > 10 && r.len() < 40, "{}", r.len());
        assert!(held(&r, 0).is_empty());
        assert_eq!(held(&r, 99), vec![vec![99u8; 100]]);
        let oldest = 100 - r.len() as u64;
        assert_eq!(held(&r, oldest), vec![vec![oldest as u8; 100]]);
        assert!(held(&r, oldest - 1).is_empty());
    }

    #[test]
    fn a_packet_larger_than_the_buffer_or_a_zero_buffer_keeps_nothing() {
        let mut r = PacketRing::new(256);
        r.push(1, Timestamp(1), 1, 1000, &[1; 1000]);
        assert_eq!((r.len(), r.not_kept()), (0, 1));
        let mut z = PacketRing::new(0);
        z.push(1, Timestamp(1), 1, 60, &[1; 60]);
        assert_eq!((z.len(), z.not_kept()), (0, 1));
    }

    #[test]
    fn indices_out_of_order_are_still_found() {
        let mut r = PacketRing::new(1 << 16);
        for i in [5u64, 6, 3, 9, 1] {
            r.push(i, Timestamp(i), 1, 4, &[i as u8; 4]);
        }
        for i in [5u64, 6, 3, 9, 1] {
            assert_eq!(held(&r, i), vec![vec![i as u8; 4]], "{i}");
        }
        assert!(held(&r, 4).is_empty());
    }

    #[test]
    fn one_index_on_two_workers_is_ambiguous_and_kept_without_bytes() {
        let b = EvidenceBuffer::new(1 << 20, 2);
        b.rings[0]
            .lock()
            .unwrap()
            .push(7, Timestamp(7), 1, 4, &[1; 4]);
        b.rings[1]
            .lock()
            .unwrap()
            .push(7, Timestamp(7), 1, 4, &[2; 4]);
        b.rings[1]
            .lock()
            .unwrap()
            .push(8, Timestamp(8), 1, 4, &[3; 4]);
        let f = b.find(&BTreeSet::from([7, 8, 9]));
        assert_eq!((f.ambiguous, f.gone), (1, 1));
        assert_eq!(f.packets.len(), 1);
        assert_eq!(f.packets[&8].data, vec![3; 4]);
    }

    proptest! {
        /// Whatever the packets' sizes and indices: the ring stays within its budget, holds
        /// exactly the most recent packets that fit (a suffix of what was pushed), and gives
        /// each back byte for byte.
        #[test]
        fn the_ring_holds_a_suffix_of_the_packets_within_its_budget(
            budget in 0usize..20_000,
            packets in prop::collection::vec((0u64..50, 0usize..3000), 0..300),
        ) {
            let mut r = PacketRing::new(budget);
            let mut pushed = Vec::new();
            for (k, (i, len)) in packets.iter().enumerate() {
                let data: Vec<u8> = (0..*len).map(|b| (b + k) as u8).collect();
                r.push(*i, Timestamp(k as u64), 1, *len as u32, &data);
                pushed.push((*i, k, data));
            }
            let meta = std::mem::size_of::<Entry>();
            let bytes: usize = r.entries.iter().map(|e| e.len as usize).sum();
            prop_assert!(r.data.len() + r.entries.capacity() * meta <= budget.max(1) + meta);
            prop_assert!(bytes <= r.data.len());
            // The entries are the last `len()` packets that were kept, in order.
            let kept: Vec<_> = pushed
                .iter()
                .filter(|(_, _, d)| !d.is_empty() && d.len() <= r.data.len() && r.max_entries > 0)
                .collect();
            let suffix = &kept[kept.len() - r.len()..];
            for (e, (i, k, d)) in r.entries.iter().zip(suffix) {
                prop_assert_eq!(e.index, *i);
                prop_assert_eq!(e.ts, Timestamp(*k as u64));
                prop_assert_eq!(&r.data[e.off..e.off + e.len as usize], d.as_slice());
            }
            // No two held packets share bytes.
            let mut spans: Vec<_> = r.entries.iter().map(|e| (e.off, e.off + e.len as usize)).collect();
            spans.sort();
            prop_assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
            // Lookups find exactly the held packets of an index, sorted or not.
            for i in 0..50u64 {
                let mut want: Vec<Vec<u8>> = suffix.iter().filter(|(j, _, _)| *j == i).map(|(_, _, d)| d.clone()).collect();
                let mut got = held(&r, i);
                want.sort();
                got.sort();
                prop_assert_eq!(got, want);
            }
        }
    }
}
