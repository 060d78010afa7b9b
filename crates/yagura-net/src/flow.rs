//! A per-worker flow table: bidirectional flows with idle timeouts and a hard cap.
//!
//! Flows live in a slab indexed by a hash map from their symmetric [`FlowKey`]. Expiry is
//! incremental: every lookup also inspects one slab slot (a round-robin cursor), so idle flows
//! are reclaimed at a constant cost per packet instead of periodic full scans. Whether a flow
//! has expired is decided only from its own packets' times (a packet that arrives after the
//! idle timeout starts a new flow), so results do not depend on when the sweep passes.
//! When the table is full, the least recently seen of a few slots sampled at the cursor is
//! evicted (and counted).

use hashbrown::HashMap;
use yagura_core::{Direction, FlowKey, MacAddr, Timestamp, Transport};

use crate::decode::tcp_flags;
use crate::reassembly::TcpStream;

/// Bounds and timeouts of a flow table (timeouts in ns of capture time).
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// Flows held at once; the hard memory cap.
    pub max_flows: usize,
    pub tcp_timeout_ns: u64,
    /// For a TCP flow whose both sides sent FIN, or that saw a RST.
    pub tcp_closed_timeout_ns: u64,
    pub udp_timeout_ns: u64,
    pub other_timeout_ns: u64,
}

impl Default for FlowLimits {
    fn default() -> Self {
        const S: u64 = 1_000_000_000;
        FlowLimits {
            max_flows: 1 << 18,
            tcp_timeout_ns: 600 * S,
            tcp_closed_timeout_ns: 30 * S,
            udp_timeout_ns: 120 * S,
            other_timeout_ns: 120 * S,
        }
    }
}

/// Why a flow left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// No packet within its idle timeout.
    Idle,
    /// Evicted to make room (the table was full).
    Evicted,
    /// A new connection reused its addresses and ports (SYN after close).
    Reused,
    /// End of the input.
    End,
}

/// Counters of a flow table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub created: u64,
    pub expired: u64,
    pub evicted: u64,
    pub reused: u64,
    /// Most flows held at once.
    pub peak: u64,
}

/// One bidirectional flow. `A` is the application-layer state the engine keeps per flow.
#[derive(Debug)]
pub struct Flow<A> {
    pub key: FlowKey,
    /// Index of the flow's first packet in the input: a unique, deterministic id.
    pub id: u64,
    /// Is the key's `lo` endpoint the client?
    pub lo_is_client: bool,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Packets and captured bytes per [`Direction`] (index with `Direction::index`).
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// MAC addresses of client and server as first seen.
    pub macs: [MacAddr; 2],
    /// TCP flags seen per direction (OR of all).
    pub tcp_flags: [u8; 2],
    /// TCP streams per direction (unused for other transports).
    pub tcp: [TcpStream; 2],
    pub app: A,
}

impl<A> Flow<A> {
    /// Direction of a packet whose source is the key's `lo` side (`from_lo`) or not.
    #[inline]
    pub fn direction(&self, from_lo: bool) -> Direction {
        if from_lo == self.lo_is_client {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    /// Client address/port and server address/port.
    pub fn endpoints(&self) -> (([u8; 16], u16), ([u8; 16], u16)) {
        self.key.oriented(self.lo_is_client)
    }

    /// Has the TCP connection been closed (FIN both ways, or RST)?
    #[inline]
    pub fn tcp_closed(&self) -> bool {
        let f = self.tcp_flags;
        (f[0] | f[1]) & tcp_flags::RST != 0 || (f[0] & f[1]) & tcp_flags::FIN != 0
    }

    /// A Zeek-like summary of the TCP state (`established`, `closed`, `reset`, `rejected`,
    /// `attempt`, `midstream`); `None` for other transports.
    pub fn tcp_state(&self) -> Option<&'static str> {
        if self.key.transport != Transport::TCP {
            return None;
        }
        let (c, s) = (self.tcp_flags[0], self.tcp_flags[1]);
        let syn = c & tcp_flags::SYN != 0;
        let synack = s & tcp_flags::SYN != 0;
        Some(if syn && !synack && s & tcp_flags::RST != 0 {
            "rejected"
        } else if syn && !synack && self.packets[1] == 0 {
            "attempt"
        } else if (c | s) & tcp_flags::RST != 0 {
            "reset"
        } else if c & s & tcp_flags::FIN != 0 {
            "closed"
        } else if syn && synack {
            "established"
        } else {
            "midstream"
        })
    }

    fn timeout(&self, limits: &FlowLimits) -> u64 {
        match self.key.transport {
            Transport::TCP if self.tcp_closed() => limits.tcp_closed_timeout_ns,
            Transport::TCP => limits.tcp_timeout_ns,
            Transport::UDP => limits.udp_timeout_ns,
            _ => limits.other_timeout_ns,
        }
    }
}

/// `check_at` of a free slot: later than any clock, so the sweep passes it by.
const NEVER: Timestamp = Timestamp(u64::MAX);

/// How many slots an eviction samples to find the least recently seen flow.
const EVICT_SAMPLE: usize = 8;

/// A flow table owned by one worker.
pub struct FlowTable<A> {
    limits: FlowLimits,
    index: HashMap<FlowKey, u32, foldhash::fast::FixedState>,
    slab: Vec<Option<Flow<A>>>,
    /// Per slot, a time before which its flow cannot expire (`NEVER` for a free slot): the
    /// sweep reads this compact array and only looks at a flow (three cache lines away)
    /// once it may have expired. Reading the slab itself cost about one cache miss per
    /// packet. A packet sets it to its time plus the shortest timeout (it may change the
    /// flow's TCP state, hence its timeout); a sweep that finds the flow alive sets it to
    /// the flow's true deadline.
    check_at: Vec<Timestamp>,
    /// The shortest of the idle timeouts: a flow seen more recently cannot have expired.
    min_timeout: u64,
    free: Vec<u32>,
    cursor: usize,
    stats: FlowStats,
}

/// Result of [`FlowTable::lookup`].
pub struct Lookup<'t, A> {
    pub flow: &'t mut Flow<A>,
    /// Was the flow created by this packet?
    pub new: bool,
    /// Slot of the flow, stable while it lives (for [`FlowTable::get_mut`]).
    pub slot: u32,
}

impl<A> FlowTable<A> {
    pub fn new(limits: FlowLimits) -> FlowTable<A> {
        FlowTable {
            limits,
            // A fixed seed keeps runs reproducible; keys are spread by foldhash and flows
            // between one host pair cannot collide by construction, so the DoS exposure is
            // bounded by `max_flows` anyway.
            index: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x7961_6775_7261)),
            slab: Vec::new(),
            check_at: Vec::new(),
            min_timeout: limits
                .tcp_timeout_ns
                .min(limits.tcp_closed_timeout_ns)
                .min(limits.udp_timeout_ns)
                .min(limits.other_timeout_ns),
            free: Vec::new(),
            cursor: 0,
            stats: FlowStats::default(),
        }
    }

    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn limits(&self) -> &FlowLimits {
        &self.limits
    }

    /// The earliest a flow last seen at `ts` can expire.
    #[inline]
    fn bound(&self, ts: Timestamp) -> Timestamp {
        Timestamp(ts.0.saturating_add(self.min_timeout))
    }

    /// The live flows, in slot order (to look at them without removing any).
    pub fn iter(&self) -> impl Iterator<Item = &Flow<A>> {
        self.slab.iter().flatten()
    }

    /// The flow in `slot`, if any.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Flow<A>> {
        self.slab.get_mut(slot as usize).and_then(|s| s.as_mut())
    }

    /// [`FlowTable::lookup_at`] for a packet whose time is the clock (`ts == now`).
    #[inline]
    pub fn lookup(
        &mut self,
        key: &FlowKey,
        now: Timestamp,
        syn_only: bool,
        create: impl FnOnce() -> (bool, A),
        id: u64,
        closed: &mut impl FnMut(Flow<A>, CloseReason),
    ) -> Lookup<'_, A> {
        self.lookup_at(key, now, now, syn_only, create, id, closed)
    }

    /// Find the flow of `key` for a packet of time `ts`, creating it with `create` when it
    /// does not exist or has expired. Expiry is judged against the clock `now` (the latest
    /// time of the input so far, which a packet out of time order can be behind), so that
    /// whether a flow expired does not depend on which worker saw which packets. `syn_only`
    /// marks a TCP packet with SYN and no ACK: on a closed flow it starts a new connection.
    /// Flows leaving the table go to `closed`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn lookup_at(
        &mut self,
        key: &FlowKey,
        now: Timestamp,
        ts: Timestamp,
        syn_only: bool,
        create: impl FnOnce() -> (bool, A),
        id: u64,
        closed: &mut impl FnMut(Flow<A>, CloseReason),
    ) -> Lookup<'_, A> {
        self.sweep_one(now, closed);
        if let Some(&slot) = self.index.get(key) {
            let f = self.slab[slot as usize]
                .as_ref()
                .expect("indexed slot is live");
            let idle = now.since(f.last_seen) > f.timeout(&self.limits);
            let reused = syn_only && f.tcp_closed();
            if !idle && !reused {
                self.check_at[slot as usize] = self.bound(ts);
                let flow = self.slab[slot as usize].as_mut().expect("live");
                return Lookup {
                    flow,
                    new: false,
                    slot,
                };
            }
            // Idle first: an idle flow may as well have been swept already (depending on
            // when the sweep passed), and must count the same either way.
            let reason = if idle {
                self.stats.expired += 1;
                CloseReason::Idle
            } else {
                self.stats.reused += 1;
                CloseReason::Reused
            };
            let old = self.remove(slot);
            closed(old, reason);
        }
        if self.index.len() >= self.limits.max_flows.max(1) {
            self.evict(closed);
        }
        let (lo_is_client, app) = create();
        let flow = Flow {
            key: *key,
            id,
            lo_is_client,
            first_seen: ts,
            last_seen: ts,
            packets: [0; 2],
            bytes: [0; 2],
            macs: [MacAddr::default(); 2],
            tcp_flags: [0; 2],
            tcp: Default::default(),
            app,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(flow);
                self.check_at[s as usize] = self.bound(ts);
                s
            }
            None => {
                self.slab.push(Some(flow));
                self.check_at.push(self.bound(ts));
                (self.slab.len() - 1) as u32
            }
        };
        self.index.insert(*key, slot);
        self.stats.created += 1;
        self.stats.peak = self.stats.peak.max(self.index.len() as u64);
        Lookup {
            flow: self.slab[slot as usize].as_mut().expect("just stored"),
            new: true,
            slot,
        }
    }

    fn remove(&mut self, slot: u32) -> Flow<A> {
        let f = self.slab[slot as usize].take().expect("live slot");
        self.check_at[slot as usize] = NEVER;
        self.index.remove(&f.key);
        self.free.push(slot);
        f
    }

    /// Inspect the slot under the cursor and reclaim it if idle.
    #[inline]
    fn sweep_one(&mut self, now: Timestamp, closed: &mut impl FnMut(Flow<A>, CloseReason)) {
        if self.slab.is_empty() {
            return;
        }
        // Not `%`: an integer division per packet costs more than the rest of the sweep.
        self.cursor += 1;
        if self.cursor >= self.slab.len() {
            self.cursor = 0;
        }
        // Expired means `now > last_seen + timeout`; `check_at` is at most that.
        if now <= self.check_at[self.cursor] {
            return;
        }
        let expired = match &self.slab[self.cursor] {
            Some(f) => {
                let timeout = f.timeout(&self.limits);
                let expired = now.since(f.last_seen) > timeout;
                if !expired {
                    self.check_at[self.cursor] = Timestamp(f.last_seen.0.saturating_add(timeout));
                }
                expired
            }
            None => false,
        };
        if expired {
            self.stats.expired += 1;
            let f = self.remove(self.cursor as u32);
            closed(f, CloseReason::Idle);
        }
    }

    /// Evict the least recently seen of a few live slots at the cursor.
    fn evict(&mut self, closed: &mut impl FnMut(Flow<A>, CloseReason)) {
        let n = self.slab.len();
        let mut best: Option<(Timestamp, usize)> = None;
        let mut seen = 0;
        for i in 0..n {
            let at = (self.cursor + i) % n;
            if let Some(f) = &self.slab[at] {
                if best.is_none_or(|(t, _)| f.last_seen < t) {
                    best = Some((f.last_seen, at));
                }
                seen += 1;
                if seen == EVICT_SAMPLE {
                    break;
                }
            }
        }
        if let Some((_, at)) = best {
            self.stats.evicted += 1;
            self.cursor = at;
            let f = self.remove(at as u32);
            closed(f, CloseReason::Evicted);
        }
    }

    /// Reclaim every flow idle at `now` (for a live sensor with no traffic).
    pub fn expire_all(&mut self, now: Timestamp, closed: &mut impl FnMut(Flow<A>, CloseReason)) {
        for slot in 0..self.slab.len() {
            let expired = match &self.slab[slot] {
                Some(f) => now.since(f.last_seen) > f.timeout(&self.limits),
                None => false,
            };
            if expired {
                self.stats.expired += 1;
                let f = self.remove(slot as u32);
                closed(f, CloseReason::Idle);
            }
        }
    }

    /// Remove every flow (end of input), in slab order.
    pub fn drain(&mut self, closed: &mut impl FnMut(Flow<A>, CloseReason)) {
        for slot in 0..self.slab.len() {
            if self.slab[slot].is_some() {
                let f = self.remove(slot as u32);
                closed(f, CloseReason::End);
            }
        }
        self.slab.clear();
        self.check_at.clear();
        self.free.clear();
        self.cursor = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yagura_core::v4_mapped;

    const S: u64 = 1_000_000_000;

    fn key(port: u16, t: Transport) -> FlowKey {
        FlowKey::new(
            v4_mapped([10, 0, 0, 1]),
            port,
            v4_mapped([10, 0, 0, 2]),
            502,
            t,
            0,
        )
        .0
    }

    #[test]
    fn finds_creates_and_expires() {
        let mut t: FlowTable<u32> = FlowTable::new(FlowLimits::default());
        let mut closed = Vec::new();
        let mut cb = |f: Flow<u32>, r| closed.push((f.id, r));
        let k = key(40000, Transport::TCP);
        assert!(
            t.lookup(&k, Timestamp(0), false, || (true, 1), 0, &mut cb)
                .new
        );
        let l = t.lookup(&k, Timestamp(S), false, || (true, 2), 1, &mut cb);
        assert!(!l.new);
        l.flow.last_seen = Timestamp(S);
        // Past the TCP idle timeout: a new flow, and the old one closes as idle.
        let l = t.lookup(&k, Timestamp(S + 601 * S), false, || (true, 3), 2, &mut cb);
        assert!(l.new);
        assert_eq!(l.flow.app, 3);
        assert_eq!(closed, vec![(0, CloseReason::Idle)]);
    }

    #[test]
    fn cap_evicts_least_recent() {
        let limits = FlowLimits {
            max_flows: 4,
            ..Default::default()
        };
        let mut t: FlowTable<()> = FlowTable::new(limits);
        let mut closed = Vec::new();
        let mut cb = |f: Flow<()>, r| closed.push((f.id, r));
        for i in 0..10u16 {
            let l = t.lookup(
                &key(i, Transport::UDP),
                Timestamp(u64::from(i)),
                false,
                || (true, ()),
                u64::from(i),
                &mut cb,
            );
            l.flow.last_seen = Timestamp(u64::from(i));
            assert!(t.len() <= 4);
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.stats().evicted, 6);
        assert!(closed.iter().all(|(_, r)| *r == CloseReason::Evicted));
        // The survivors are the most recent ones.
        let mut rest = Vec::new();
        t.drain(&mut |f, _| rest.push(f.id));
        rest.sort();
        assert_eq!(rest, vec![6, 7, 8, 9]);
    }

    #[test]
    fn syn_after_close_starts_new_flow() {
        let mut t: FlowTable<()> = FlowTable::new(FlowLimits::default());
        let mut n = 0;
        let mut cb = |_: Flow<()>, r| {
            assert_eq!(r, CloseReason::Reused);
            n += 1
        };
        let k = key(1234, Transport::TCP);
        let l = t.lookup(&k, Timestamp(0), true, || (true, ()), 0, &mut cb);
        l.flow.tcp_flags = [tcp_flags::SYN | tcp_flags::RST, 0];
        assert!(
            t.lookup(&k, Timestamp(1), true, || (true, ()), 1, &mut cb)
                .new
        );
        assert_eq!(n, 1);
    }

    /// Found by the `pipeline` fuzz target (reports compared on one and two threads): a SYN
    /// on a closed flow that had also gone idle counted as a reuse when the sweep had not
    /// reached the flow yet, and as an expiry when it had, so `flows_reused` depended on
    /// where the sweep cursor was (which differs between thread counts).
    #[test]
    fn syn_on_closed_idle_flow_counts_the_same_swept_or_not() {
        let stats = |sweep: bool| {
            let mut t: FlowTable<()> = FlowTable::new(FlowLimits::default());
            let mut cb = |_: Flow<()>, _| {};
            let k = key(1234, Transport::TCP);
            let l = t.lookup(&k, Timestamp(0), true, || (true, ()), 0, &mut cb);
            l.flow.tcp_flags = [tcp_flags::SYN | tcp_flags::RST, 0];
            // Other flows, so that the sweep is elsewhere when the SYN comes.
            for i in 0..32u16 {
                let other = key(10_000 + i, Transport::UDP);
                t.lookup(&other, Timestamp(0), false, || (true, ()), 1, &mut cb);
            }
            if sweep {
                // Their packets, past the closed-flow timeout, sweep the closed flow away.
                let other = key(10_000, Transport::UDP);
                for _ in 0..64 {
                    t.lookup(&other, Timestamp(31 * S), false, || (true, ()), 1, &mut cb);
                }
                assert_eq!(t.len(), 32);
            } else {
                assert_eq!(t.len(), 33);
            }
            let l = t.lookup(&k, Timestamp(32 * S), true, || (true, ()), 9, &mut cb);
            assert!(l.new);
            let s = t.stats();
            (s.reused, s.expired)
        };
        assert_eq!(stats(true), (0, 1));
        assert_eq!(stats(false), (0, 1));
    }

    #[test]
    fn sweep_reclaims_idle_flows() {
        let mut t: FlowTable<()> = FlowTable::new(FlowLimits::default());
        let mut n = 0;
        let mut cb = |_: Flow<()>, _| n += 1;
        for i in 0..100u16 {
            t.lookup(
                &key(i, Transport::UDP),
                Timestamp(0),
                false,
                || (true, ()),
                0,
                &mut cb,
            );
        }
        // Much later, traffic on another flow sweeps the idle ones away.
        for i in 0..200u64 {
            t.lookup(
                &key(9999, Transport::UDP),
                Timestamp(1000 * S + i),
                false,
                || (true, ()),
                0,
                &mut cb,
            );
        }
        assert_eq!(t.len(), 1);
        assert_eq!(n, 100);
    }

    // The sweep looks at a flow only once it is idle beyond the shortest timeout, then
    // judges it by its own: an open TCP flow idle 60 s stays, one whose both sides sent FIN
    // (30 s timeout) goes.
    #[test]
    fn sweep_judges_each_flow_by_its_own_timeout() {
        let mut t: FlowTable<()> = FlowTable::new(FlowLimits::default());
        let mut closed = Vec::new();
        let mut cb = |f: Flow<()>, r| closed.push((f.key, r));
        let open = key(1, Transport::TCP);
        let fin = key(2, Transport::TCP);
        for k in [open, fin] {
            t.lookup(&k, Timestamp(0), false, || (true, ()), 0, &mut cb);
        }
        let l = t.lookup(&fin, Timestamp(0), false, || (true, ()), 0, &mut cb);
        l.flow.tcp_flags = [tcp_flags::FIN; 2];
        for i in 0..10u64 {
            t.lookup(
                &key(9, Transport::UDP),
                Timestamp(60 * S + i),
                false,
                || (true, ()),
                0,
                &mut cb,
            );
        }
        assert_eq!(closed, vec![(fin, CloseReason::Idle)]);
        assert_eq!(t.len(), 2);
    }
}
