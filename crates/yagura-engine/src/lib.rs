//! The packet engine: runs the pipeline over a packet source on N worker threads and builds
//! the analysis report.
//!
//! Its room in the house: threads, sharding, batches, aggregation. It depends on
//! `yagura-capture` (sources), `yagura-net` (per-packet work) and `yagura-dissect`
//! (application layer). With one thread, packets are processed inline; with N > 1, the
//! calling thread reads batches and routes each packet, by a symmetric hash of its address
//! pair, to the worker that owns its flows. Workers share nothing, and every aggregate is
//! merged in an order derived from the input, so the report does not depend on N.

pub mod arp;
pub mod events;
pub mod observables;
pub mod observe;
pub mod operations;
pub mod report;
mod shard;
mod worker;

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use yagura_capture::{CaptureError, PacketBatch, PacketSource};
use yagura_dissect::Registry;
use yagura_net::defrag::DefragLimits;
use yagura_net::flow::FlowLimits;
use yagura_net::reassembly::ReassemblyLimits;

pub use observe::{IdentityObservation, MacIpBinding, RequestTiming};
pub use report::Report;
pub use shard::{Route, route};

use events::EventSpill;
use report::{Drops, Partial};
use shard::Owners;
use worker::Worker;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads (≥ 1).
    pub threads: usize,
    /// Write one JSON line per application PDU to this file.
    pub events: Option<PathBuf>,
    /// Packets per batch read from the source.
    pub batch_size: usize,
    /// Flow-table bounds, for the whole engine (split evenly between workers).
    pub flow_limits: FlowLimits,
    /// Reassembly bounds per worker.
    pub reassembly: ReassemblyLimits,
    /// Defragmentation bounds per worker.
    pub defrag: DefragLimits,
    /// Run the application-protocol dissectors. When false, flows are still labelled by
    /// protocol detection but no PDU is parsed (to measure what the dissectors cost).
    pub dissect: bool,
    /// With `dissect`, parse only these protocols (`None`: all). Link-layer frames are then
    /// only counted. For measurements, such as issue 3's "the five families on" case
    /// ([`Registry::OT_CORE`]).
    pub only_dissectors: Option<&'static [yagura_dissect::ProtocolId]>,
    /// How long an open flow that is not settled yet is left out of snapshots, from its
    /// first packet: a flow still detecting its protocol (a TCP handshake before any data),
    /// or whose server has not answered (its MAC unknown). Reported early, such a flow
    /// would later change connection (its protocol) or asset (the server's MAC), and a
    /// consumer that adds up snapshots by key (the inventory database) would count it under
    /// both. Zero: snapshots are exactly what the final report would be at that moment.
    pub snapshot_hold: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            events: None,
            batch_size: 2048,
            flow_limits: FlowLimits::default(),
            reassembly: ReassemblyLimits::default(),
            defrag: DefragLimits::default(),
            dissect: true,
            only_dissectors: None,
            snapshot_hold: Duration::from_secs(5),
        }
    }
}

/// The dissectors `cfg` asks for.
fn registry_for(cfg: &EngineConfig) -> Registry {
    match (cfg.dissect, cfg.only_dissectors) {
        (false, _) => Registry::detection_only(),
        (true, None) => Registry::new(),
        (true, Some(only)) => Registry::only(only),
    }
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub input_bytes_read: AtomicU64,
    pub input_bytes_total: AtomicU64,
}

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("writing events to {path}: {source}")]
    Events {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a worker thread failed: {0}")]
    Worker(String),
}

/// Batches read ahead of the slowest worker before the others wait for it (bounded memory).
const WINDOW: usize = 16;

/// Batches a worker reads beyond the one it needs when the source is free.
const READ_AHEAD: u64 = 2;

/// A live worker spends at most 1/SNAPSHOT_SHARE of its time on snapshots: one that took
/// `t` is followed by the next no sooner than `SNAPSHOT_SHARE × t` later, however often the
/// consumer asks ([`SnapshotRequests`]; a snapshot copies every aggregate of the run, so it
/// grows with the plant: see docs/store.md, "The running sensor"). A request that comes
/// sooner is served when that time has come.
pub const SNAPSHOT_SHARE: u32 = 20;

/// The earliest a worker whose last snapshot began at `began` and cost `cost` takes the
/// next one: [`SNAPSHOT_SHARE`] × `cost` after `began`.
pub fn next_snapshot(began: Instant, cost: Duration) -> Instant {
    began + cost * SNAPSHOT_SHARE
}

/// The consumer's requests for snapshots of a live run ([`run_live`]). The consumer creates
/// it, shares it with the run through [`OnRequest`], and calls [`SnapshotRequests::request`]
/// whenever it is ready for a report: the run then hands it exactly one. Without a request,
/// no worker snapshots and nothing is merged, however long the run.
#[derive(Debug, Default)]
pub struct SnapshotRequests {
    /// Requests made so far: the generation the workers compare with the last they served.
    /// Read by the workers at every batch boundary without a lock.
    asked: AtomicU64,
    /// Requests answered (or being answered) by the collector; `asked - served` is 0 or 1.
    served: Mutex<u64>,
}

impl SnapshotRequests {
    pub fn new() -> SnapshotRequests {
        SnapshotRequests::default()
    }

    /// Ask for one cumulative report. Each worker snapshots at its next batch boundary (no
    /// sooner than its pacing allows, [`SNAPSHOT_SHARE`]), and the collector merges the
    /// copies and delivers one report. A request made while the previous one is still
    /// waiting for its report is the same request: it yields no second report. Returns
    /// whether this was a new request. Never waits for the workers.
    pub fn request(&self) -> bool {
        let served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        if self.asked.load(Ordering::Acquire) > *served {
            return false;
        }
        self.asked.store(*served + 1, Ordering::Release);
        true
    }

    /// Whether a request is waiting for its report.
    pub fn pending(&self) -> bool {
        let served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        self.asked.load(Ordering::Acquire) > *served
    }

    /// The newest request (0: none yet).
    fn asked(&self) -> u64 {
        self.asked.load(Ordering::Acquire)
    }

    /// The collector has every worker's copy for request `generation`: the next request is
    /// a new one.
    fn served(&self, generation: u64) {
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        *served = (*served).max(generation);
    }
}

/// How a live run hands snapshots over ([`run_live`]): on each of the consumer's
/// `requests`, one cumulative report to `deliver`.
#[derive(Clone, Copy)]
pub struct OnRequest<'a> {
    pub requests: &'a SnapshotRequests,
    /// Called on the run's collector thread (the workers never wait for it).
    pub deliver: &'a (dyn Fn(Report) + Sync),
}

/// Analyse everything `source` delivers and build the report. `stop` ends the run early
/// (the report then covers what was read).
pub fn run(
    source: &mut dyn PacketSource,
    cfg: &EngineConfig,
    progress: &Progress,
    stop: &AtomicBool,
) -> Result<Report, EngineError> {
    let registry = registry_for(cfg);
    let threads = cfg.threads.max(1);
    let mut wcfg = cfg.clone();
    wcfg.flow_limits.max_flows = (cfg.flow_limits.max_flows / threads).max(1);
    let spill = |path: &Option<PathBuf>| -> Result<Option<EventSpill>, EngineError> {
        match path {
            Some(p) => EventSpill::new()
                .map(Some)
                .map_err(|e| EngineError::Events {
                    path: p.clone(),
                    source: e,
                }),
            None => Ok(None),
        }
    };

    let mut warnings = Vec::new();
    let mut results = Vec::with_capacity(threads);
    let read_err;
    if threads == 1 {
        let mut w = Worker::new(&registry, &wcfg, spill(&cfg.events)?, None);
        read_err = read_all(
            source,
            cfg.batch_size,
            progress,
            stop,
            &mut warnings,
            |batch| {
                for i in 0..batch.len() {
                    w.process(&batch.get(i));
                }
            },
        );
        results.push(w.finish());
    } else {
        // Workers take turns reading: whoever needs a batch that is not read yet reads it,
        // and every record gets its route (a symmetric hash of its flow's endpoints picks a
        // bucket, and the bucket a worker). Each worker then walks the batch's records and
        // processes those it owns, at the input's clock at each record. No reader thread,
        // nothing read twice, and any source works (compressed files are decompressed once).
        // Sources that can route each record as they parse it (while its bytes are in
        // cache) do; otherwise the reading worker routes the batch afterwards.
        let routed = source.set_router(shard::route_record);
        let turns = Turns {
            state: Mutex::new(TurnState {
                source: Some((&mut *source, yagura_core::Timestamp::ZERO)),
                base: 0,
                batches: VecDeque::new(),
                next: vec![0; threads],
                done: false,
                err: None,
                warnings: Vec::new(),
                spare: Vec::new(),
            }),
            changed: Condvar::new(),
            batch_size: cfg.batch_size,
            routed,
            progress,
            stop,
        };
        let t = &turns;
        let registry = &registry;
        let wcfg = &wcfg;
        std::thread::scope(|scope| -> Result<(), EngineError> {
            let mut handles = Vec::with_capacity(threads);
            for me in 0..threads {
                let events = spill(&cfg.events)?;
                handles.push(scope.spawn(move || {
                    let owners = Owners::new(me, threads);
                    let mut w = Worker::new(registry, wcfg, events, Some(owners));
                    let mut seq = 0u64;
                    while let Some(b) = t.batch(me, seq) {
                        process_share(&mut w, &b, &owners);
                        // Let go of the batch first, so that the last worker done with
                        // it can recycle its buffers.
                        drop(b);
                        seq += 1;
                        t.done_with(me, seq);
                    }
                    w.finish()
                }));
            }
            for h in handles {
                results.push(
                    h.join()
                        .map_err(|p| EngineError::Worker(panic_message(&p)))?,
                );
            }
            Ok(())
        })?;
        let st = turns
            .state
            .into_inner()
            .map_err(|_| EngineError::Worker("a worker panicked while reading".into()))?;
        warnings.extend(st.warnings);
        read_err = st.err;
    }
    warnings.extend(source.take_warnings());
    if let Some(e) = read_err {
        return Err(e.into());
    }

    let st = source.stats();
    let drops = Drops {
        kernel: st.kernel_drops,
        internal: st.internal_drops,
    };
    finish(
        results,
        cfg,
        source.files(),
        warnings.iter().map(|w| w.to_string()).collect(),
        drops,
    )
}

/// Run a live capture: one worker per source (each source is one socket of a fanout group,
/// so the kernel already keeps each flow on one source). Returns when every source ends,
/// which happens once `stop` is set (the caller shares it with the sources' stop handles).
///
/// Packet indices of live traffic are their capture times in ns: sources count packets
/// independently, and time orders the merged events sensibly.
///
/// With `on_request`, the run also hands over a cumulative report each time the consumer
/// asks for one ([`SnapshotRequests::request`]), and only then: what the final report would
/// be if the run stopped then (open flows reported as connections with their counters so
/// far; no events, warnings or files), except for the recent open flows not settled yet
/// ([`EngineConfig::snapshot_hold`]). Between batches, and on the empty batches of an idle
/// link, each worker looks for a request it has not served; if there is one (and its pacing,
/// [`SNAPSHOT_SHARE`], allows), it copies its aggregates ([`worker::Worker::snapshot`]:
/// nothing of its state changes, so the final report is the same as without snapshots) and
/// leaves them with a collector thread. Once every worker has left its copy, the collector
/// merges them, with the code that merges the final results, and calls `deliver` once (on
/// its own thread: the workers never wait for it). Every call happens before `run_live`
/// returns. A request still unanswered when the run stops gets no report: the final report
/// is the run's return value.
pub fn run_live(
    sources: Vec<Box<dyn PacketSource>>,
    cfg: &EngineConfig,
    progress: &Progress,
    stop: &AtomicBool,
    on_request: Option<OnRequest<'_>>,
) -> Result<Report, EngineError> {
    let registry = registry_for(cfg);
    let n = sources.len().max(1);
    let mut wcfg = cfg.clone();
    wcfg.flow_limits.max_flows = (cfg.flow_limits.max_flows / n).max(1);
    let mut results = Vec::with_capacity(n);
    let mut stats = Vec::with_capacity(n);
    let mut warnings = Vec::new();
    let mut first_err = None;
    let requests = on_request.map(|o| o.requests);
    let hold_ns = u64::try_from(cfg.snapshot_hold.as_nanos()).unwrap_or(u64::MAX);
    let snapshots = Snapshots::new(sources.len());
    std::thread::scope(|scope| -> Result<(), EngineError> {
        if let Some(o) = on_request {
            let snapshots = &snapshots;
            scope.spawn(move || snapshots.collect(o));
        }
        let mut handles = Vec::with_capacity(n);
        for (me, mut source) in sources.into_iter().enumerate() {
            let events = match &cfg.events {
                Some(p) => Some(EventSpill::live().map_err(|e| EngineError::Events {
                    path: p.clone(),
                    source: e,
                })?),
                None => None,
            };
            let registry = &registry;
            let wcfg = &wcfg;
            let snapshots = &snapshots;
            handles.push(scope.spawn(move || {
                // Tells the collector when this worker stops, however it stops.
                let _leaving = snapshots.leaving();
                let mut w = Worker::new(registry, wcfg, events, None);
                let mut warnings = Vec::new();
                let mut err = None;
                // The last request this worker served, and the earliest it may serve the
                // next (its pacing).
                let mut served = 0u64;
                let mut allowed = Instant::now();
                loop {
                    match source.next_batch(wcfg.batch_size) {
                        Ok(Some(mut batch)) => {
                            if batch.is_empty() {
                                // Nothing arrived within the poll timeout: expire idle flows
                                // by the wall clock, as capture time stands still.
                                w.tick(yagura_core::Timestamp(wall_clock_ns()));
                            } else {
                                for i in 0..batch.len() {
                                    let mut p = batch.get(i);
                                    p.index = p.ts.0;
                                    w.process(&p);
                                }
                                report_progress(progress, source.as_ref(), &batch);
                                batch.records.clear();
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            err = Some(e);
                            break;
                        }
                    }
                    warnings.extend(source.take_warnings());
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Some(requests) = requests {
                        let asked = requests.asked();
                        if asked > served {
                            let now = Instant::now();
                            if now >= allowed {
                                let part =
                                    w.snapshot(yagura_core::Timestamp(wall_clock_ns()), hold_ns);
                                let cost = now.elapsed();
                                let st = source.stats();
                                let drops = Drops {
                                    kernel: st.kernel_drops,
                                    internal: st.internal_drops,
                                };
                                snapshots.put(me, asked, part, drops);
                                served = asked;
                                allowed = next_snapshot(now, cost);
                            }
                        }
                    }
                }
                warnings.extend(source.take_warnings());
                (w.finish(), source.stats(), warnings, err)
            }));
        }
        for h in handles {
            let (r, st, w, err) = h
                .join()
                .map_err(|_| EngineError::Worker("a live capture worker panicked".into()))?;
            results.push(r);
            stats.push(st);
            warnings.extend(w);
            if first_err.is_none() {
                first_err = err;
            }
        }
        Ok(())
    })?;
    if let Some(e) = first_err {
        return Err(e.into());
    }
    let drops = Drops {
        kernel: stats.iter().map(|s| s.kernel_drops).sum(),
        internal: stats.iter().map(|s| s.internal_drops).sum(),
    };
    finish(
        results,
        cfg,
        Vec::new(),
        warnings.iter().map(|w| w.to_string()).collect(),
        drops,
    )
}

/// The live workers' snapshots for the current request, waiting for the collector.
struct Snapshots {
    state: Mutex<SnapshotState>,
    changed: Condvar,
}

struct SnapshotState {
    /// Per worker, its copy for the current request (with the request's generation), not
    /// yet taken by the collector. A worker serves a request once, and the next request
    /// comes only after the collector took every copy, so there is never one to replace.
    latest: Vec<Option<(u64, worker::Snapshot, Drops)>>,
    /// A worker has stopped: no round can complete any more.
    ended: bool,
}

/// Marks the end of a worker's loop when dropped (also when the worker panics).
struct Leaving<'a>(&'a Snapshots);

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        st.ended = true;
        self.0.changed.notify_all();
    }
}

impl Snapshots {
    fn new(workers: usize) -> Snapshots {
        Snapshots {
            state: Mutex::new(SnapshotState {
                latest: (0..workers).map(|_| None).collect(),
                ended: workers == 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn leaving(&self) -> Leaving<'_> {
        Leaving(self)
    }

    /// Worker `me`'s copy for request `generation`.
    fn put(&self, me: usize, generation: u64, part: worker::Snapshot, drops: Drops) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.latest[me] = Some((generation, part, drops));
        if st.latest.iter().all(Option::is_some) {
            self.changed.notify_all();
        }
    }

    /// Until a worker stops: wait for every worker's copy, mark the request served, merge
    /// the copies and deliver one report.
    fn collect(&self, on: OnRequest<'_>) {
        loop {
            let parts: Vec<(u64, worker::Snapshot, Drops)> = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                while !st.ended && st.latest.iter().any(Option::is_none) {
                    st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                if st.ended {
                    return;
                }
                st.latest.iter_mut().filter_map(Option::take).collect()
            };
            // Every copy answers the same request (the next one can only be made now).
            let generation = parts.iter().map(|p| p.0).max().unwrap_or(0);
            on.requests.served(generation);
            let mut total = Partial::default();
            let mut drops = Drops::default();
            for (_, p, d) in parts {
                total.merge(p.fold());
                drops.kernel += d.kernel;
                drops.internal += d.internal;
            }
            (on.deliver)(total.into_report(Vec::new(), Vec::new(), drops));
        }
    }
}

/// Read `source` until it ends, fails or `stop` is set, handing each batch to `each` (after
/// recording progress and warnings). Returns the read error, if any.
fn read_all(
    source: &mut dyn PacketSource,
    batch_size: usize,
    progress: &Progress,
    stop: &AtomicBool,
    warnings: &mut Vec<yagura_capture::Warning>,
    mut each: impl FnMut(&PacketBatch),
) -> Option<CaptureError> {
    let mut err = None;
    while !stop.load(Ordering::Relaxed) {
        match source.next_batch(batch_size) {
            Ok(Some(batch)) => {
                report_progress(progress, source, &batch);
                each(&batch);
                source.recycle(batch);
            }
            Ok(None) => break,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
        warnings.extend(source.take_warnings());
    }
    err
}

/// A batch as the workers share it.
struct Shared {
    /// The records, each with its route ([`yagura_capture::RecordMeta::route`]).
    batch: PacketBatch,
    /// The input's clock before the batch: the latest timestamp of every record before it.
    /// Each worker advances it over every record of the batch (whoever owns it), so that all
    /// take expiry decisions against the same time whatever the number of workers.
    start_clock: yagura_core::Timestamp,
    /// The clock after the batch's last record.
    end_clock: yagura_core::Timestamp,
}

/// The input, read in turns by the workers that need the next batch.
struct Turns<'s> {
    state: Mutex<TurnState<'s>>,
    changed: Condvar,
    batch_size: usize,
    /// The source fills [`yagura_capture::RecordMeta::route`].
    routed: bool,
    progress: &'s Progress,
    stop: &'s AtomicBool,
}

struct TurnState<'s> {
    /// The source and the input's clock so far, or `None` while a worker is reading.
    source: Option<(&'s mut dyn PacketSource, yagura_core::Timestamp)>,
    /// Sequence number of `batches[0]`.
    base: u64,
    batches: VecDeque<Arc<Shared>>,
    /// Batches every worker is done with, whose buffers the next read reuses.
    spare: Vec<Shared>,
    /// The next batch each worker needs.
    next: Vec<u64>,
    done: bool,
    err: Option<CaptureError>,
    warnings: Vec<yagura_capture::Warning>,
}

impl Turns<'_> {
    /// Batch `seq` for worker `me`, reading it if nobody has; `None` at the end of the input.
    fn batch(&self, me: usize, seq: u64) -> Option<Arc<Shared>> {
        let _ = me;
        let mut st = self.state.lock().ok()?;
        loop {
            // Read the next batch if the source is free, the window has room, and fewer
            // than READ_AHEAD batches beyond this one are read: reading ahead of need means
            // a worker rarely waits for another's read. The slowest worker's batch is
            // always in the window, so it never waits for room.
            let unread = st.base + st.batches.len() as u64;
            if !st.done
                && unread <= seq + READ_AHEAD
                && st.batches.len() < WINDOW
                && let Some((src, clock)) = st.source.take()
            {
                let spare = st.spare.pop();
                drop(st);
                let (read, src, clock) = self.read(src, clock, spare);
                st = self.state.lock().ok()?;
                st.warnings.extend(src.take_warnings());
                st.source = Some((src, clock));
                match read {
                    Ok(Some(b)) => st.batches.push_back(Arc::new(b)),
                    Ok(None) => st.done = true,
                    Err(e) => {
                        st.err = Some(e);
                        st.done = true;
                    }
                }
                self.changed.notify_all();
                continue;
            }
            if let Some(b) = st.batches.get((seq - st.base) as usize) {
                return Some(Arc::clone(b));
            }
            if st.done {
                return None;
            }
            st = self.changed.wait(st).ok()?;
        }
    }

    /// Read one batch and route its records (outside the lock). `clock` is the input's clock
    /// before the batch; the one after it is returned.
    #[allow(clippy::type_complexity)]
    fn read<'a>(
        &self,
        src: &'a mut dyn PacketSource,
        mut clock: yagura_core::Timestamp,
        spare: Option<Shared>,
    ) -> (
        Result<Option<Shared>, CaptureError>,
        &'a mut dyn PacketSource,
        yagura_core::Timestamp,
    ) {
        if self.stop.load(Ordering::Relaxed) {
            return (Ok(None), src, clock);
        }
        // The buffers of a batch everyone is done with, reused.
        if let Some(s) = spare {
            src.recycle(s.batch);
        }
        let r = src.next_batch(self.batch_size).map(|b| {
            b.map(|mut batch| {
                report_progress(self.progress, src, &batch);
                if !self.routed {
                    route_batch(&mut batch);
                }
                let start_clock = clock;
                clock = batch.records.iter().fold(clock, |c, r| c.max(r.ts));
                Shared {
                    batch,
                    start_clock,
                    end_clock: clock,
                }
            })
        });
        (r, src, clock)
    }

    /// Worker `me` has processed every batch before `next`: drop batches nobody needs.
    fn done_with(&self, me: usize, next: u64) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.next[me] = next;
        let min = st.next.iter().copied().min().unwrap_or(next);
        let mut freed = false;
        while st.base < min
            && let Some(b) = st.batches.pop_front()
        {
            st.base += 1;
            freed = true;
            if let Ok(b) = Arc::try_unwrap(b)
                && st.spare.len() < WINDOW
            {
                st.spare.push(b);
            }
        }
        if freed {
            self.changed.notify_all();
        }
    }
}

/// Route every record of a batch read from a source that does not route as it parses.
fn route_batch(batch: &mut PacketBatch) {
    let PacketBatch {
        backings, records, ..
    } = batch;
    for r in records.iter_mut() {
        let data = &backings[usize::from(r.backing)][r.offset..][..r.caplen as usize];
        r.route = shard::route_record(r.link, data);
    }
}

/// Worker `owners.me`'s share of a batch: the records it owns, in order, and the IP
/// fragments (every worker defragments them), each at the input's clock at that record.
#[inline(never)]
fn process_share(w: &mut Worker<'_>, b: &Shared, owners: &Owners) {
    let batch = &b.batch;
    let mut clock = b.start_clock;
    for (i, r) in batch.records.iter().enumerate() {
        clock = clock.max(r.ts);
        if r.route == shard::FRAGMENT_ROUTE {
            w.observe(clock);
            w.process_fragment(&batch.packet(i, r));
        } else if owners.mine_route(r.route) {
            // Processing observes the packet's own time, which is the clock unless the
            // input goes back in time here.
            if clock != r.ts {
                w.observe(clock);
            }
            w.process(&batch.packet(i, r));
        }
    }
    w.observe(b.end_clock);
}

/// The message of a worker's panic, for the error report.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

type WorkerResult = (Partial, Option<EventSpill>, Option<std::io::Error>);

/// Merge the workers' results, write the events, and build the report.
fn finish(
    results: Vec<WorkerResult>,
    cfg: &EngineConfig,
    files: Vec<String>,
    warnings: Vec<String>,
    drops: Drops,
) -> Result<Report, EngineError> {
    let mut total = Partial::default();
    let mut spills = Vec::new();
    for (p, s, err) in results {
        if let (Some(e), Some(path)) = (err, &cfg.events) {
            return Err(EngineError::Events {
                path: path.clone(),
                source: e,
            });
        }
        total.merge(p);
        spills.extend(s);
    }
    if let Some(path) = &cfg.events {
        let io = |e| EngineError::Events {
            path: path.clone(),
            source: e,
        };
        let f = std::fs::File::create(path).map_err(io)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
        events::merge_spills(spills, &mut out).map_err(io)?;
        out.flush().map_err(io)?;
    }
    Ok(total.into_report(files, warnings, drops))
}

fn report_progress(progress: &Progress, source: &dyn PacketSource, batch: &PacketBatch) {
    let bytes: u64 = batch.records.iter().map(|r| u64::from(r.caplen)).sum();
    progress
        .packets
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    progress.bytes.fetch_add(bytes, Ordering::Relaxed);
    let st = source.stats();
    progress
        .input_bytes_read
        .store(st.input_bytes_read, Ordering::Relaxed);
    if let Some(t) = st.input_bytes_total {
        progress.input_bytes_total.store(t, Ordering::Relaxed);
    }
}
