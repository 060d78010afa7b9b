//! The packet engine: runs the pipeline over a packet source on N worker threads and builds
//! the analysis report.
//!
//! Its room in the house: threads, sharding, batches, aggregation. It depends on
//! `yagura-capture` (sources), `yagura-net` (per-packet work) and `yagura-dissect`
//! (application layer). With one thread, packets are processed inline; with N > 1, the
//! calling thread reads batches and routes each packet, by a symmetric hash of its address
//! pair, to the worker that owns its flows. Workers share nothing, and every aggregate is
//! merged in an order derived from the input, so the report does not depend on N.

pub mod events;
pub mod report;
mod shard;
mod worker;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use yagura_capture::{CaptureError, PacketBatch, PacketSource};
use yagura_dissect::Registry;
use yagura_net::defrag::DefragLimits;
use yagura_net::flow::FlowLimits;
use yagura_net::reassembly::ReassemblyLimits;

pub use report::Report;
pub use shard::shard_of;

use events::EventSpill;
use report::{Drops, Partial};
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
        }
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

/// Shard buckets: packets are routed by `shard_of(..) % BUCKETS`, and buckets to workers.
const BUCKETS: usize = 64;

/// Work of reading and routing one packet relative to processing it (measured on the
/// benchmark capture: about 25 ns against 100 ns).
const READ_SHARE: f64 = 0.25;

/// Which worker owns each shard bucket, for `n >= 2` workers where worker 0 also reads.
/// Worker 0 gets the fraction f0 of the buckets that balances it with the others:
/// `READ + f0 = (1 - f0) / (n - 1)`, i.e. `f0 = (1 - READ (n - 1)) / n` (none for large n);
/// the rest go round-robin to workers 1..n. Results do not depend on this split (flows of
/// one address pair always meet on one worker), only the balance does.
fn bucket_owners(n: usize) -> [u16; BUCKETS] {
    let f0 = ((1.0 - READ_SHARE * (n - 1) as f64) / n as f64).max(0.0);
    let n0 = ((BUCKETS as f64 * f0).round() as usize).min(BUCKETS);
    let mut owners = [0u16; BUCKETS];
    for (b, o) in owners.iter_mut().enumerate().skip(n0) {
        *o = (1 + (b - n0) % (n - 1)) as u16;
    }
    owners
}

/// Batches queued per worker before the reader waits (back-pressure, bounded memory).
const QUEUE_DEPTH: usize = 8;

/// Analyse everything `source` delivers and build the report. `stop` ends the run early
/// (the report then covers what was read).
pub fn run(
    source: &mut dyn PacketSource,
    cfg: &EngineConfig,
    progress: &Progress,
    stop: &AtomicBool,
) -> Result<Report, EngineError> {
    let registry = Registry::new();
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
    let mut read_err = None;
    if threads == 1 {
        let mut w = Worker::new(&registry, &wcfg, spill(&cfg.events)?);
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
    } else if let Some(forks) = (1..threads)
        .map(|_| source.fork())
        .collect::<Option<Vec<_>>>()
    {
        // Parallel readers: every worker walks the whole (memory-mapped) input itself and
        // processes the packets of its own buckets. Reading is cheap next to processing, so
        // repeating it beats handing packets between cores; no queues, nothing shared.
        let owners: [u16; BUCKETS] = std::array::from_fn(|b| (b % threads) as u16);
        let owners = &owners;
        let registry = &registry;
        let wcfg = &wcfg;
        std::thread::scope(|scope| -> Result<(), EngineError> {
            let mut handles = Vec::with_capacity(threads - 1);
            for (k, mut fork) in forks.into_iter().enumerate() {
                let me = (k + 1) as u16;
                let events = spill(&cfg.events)?;
                handles.push(scope.spawn(move || {
                    let mut w = Worker::new(registry, wcfg, events);
                    // Read errors and warnings are the same for every reader: worker 0
                    // reports them.
                    while let Ok(Some(batch)) = fork.next_batch(wcfg.batch_size) {
                        process_own(&mut w, &batch, owners, me);
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    w.finish()
                }));
            }
            let mut own = Worker::new(registry, wcfg, spill(&cfg.events)?);
            read_err = read_all(
                source,
                cfg.batch_size,
                progress,
                stop,
                &mut warnings,
                |batch| process_own(&mut own, &batch, owners, 0),
            );
            results.push(own.finish());
            for h in handles {
                results.push(
                    h.join()
                        .map_err(|p| EngineError::Worker(panic_message(&p)))?,
                );
            }
            Ok(())
        })?;
    } else {
        std::thread::scope(|scope| -> Result<(), EngineError> {
            // The calling thread is worker 0 *and* the reader: it reads each batch, routes
            // every packet by its shard bucket, hands the other workers their lists, then
            // processes its own share while they work. Its share is smaller, sized so that
            // reading plus its share takes as long as another worker's share (see
            // `bucket_owners`).
            let owners = bucket_owners(threads);
            let mut senders = Vec::with_capacity(threads - 1);
            let mut handles = Vec::with_capacity(threads - 1);
            for _ in 1..threads {
                let (tx, rx) =
                    crossbeam_channel::bounded::<(Arc<PacketBatch>, Vec<u32>)>(QUEUE_DEPTH);
                senders.push(tx);
                let registry = &registry;
                let wcfg = &wcfg;
                let events = spill(&cfg.events)?;
                handles.push(scope.spawn(move || {
                    let mut w = Worker::new(registry, wcfg, events);
                    for (batch, idx) in rx {
                        process_list(&mut w, &batch, &idx);
                    }
                    w.finish()
                }));
            }
            let mut own = Worker::new(&registry, &wcfg, spill(&cfg.events)?);
            let mut lists: Vec<Vec<u32>> = vec![Vec::new(); threads];
            read_err = read_all(
                source,
                cfg.batch_size,
                progress,
                stop,
                &mut warnings,
                |batch| {
                    for i in 0..batch.len() {
                        let p = batch.get(i);
                        let w = owners[(shard_of(p.link, p.data) % BUCKETS as u64) as usize];
                        lists[w as usize].push(i as u32);
                    }
                    let batch = Arc::new(batch);
                    for (w, tx) in senders.iter().enumerate() {
                        // Sent even when empty: every worker's clock advances over every packet.
                        let list = std::mem::replace(
                            &mut lists[w + 1],
                            Vec::with_capacity(cfg.batch_size),
                        );
                        // A send fails only if the worker died; its join reports why.
                        let _ = tx.send((Arc::clone(&batch), list));
                    }
                    process_list(&mut own, &batch, &lists[0]);
                    lists[0].clear();
                },
            );
            results.push(own.finish());
            drop(senders);
            for h in handles {
                results.push(
                    h.join()
                        .map_err(|p| EngineError::Worker(panic_message(&p)))?,
                );
            }
            Ok(())
        })?;
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
pub fn run_live(
    sources: Vec<Box<dyn PacketSource>>,
    cfg: &EngineConfig,
    progress: &Progress,
    stop: &AtomicBool,
) -> Result<Report, EngineError> {
    let registry = Registry::new();
    let n = sources.len().max(1);
    let mut wcfg = cfg.clone();
    wcfg.flow_limits.max_flows = (cfg.flow_limits.max_flows / n).max(1);
    let mut results = Vec::with_capacity(n);
    let mut stats = Vec::with_capacity(n);
    let mut warnings = Vec::new();
    let mut first_err = None;
    std::thread::scope(|scope| -> Result<(), EngineError> {
        let mut handles = Vec::with_capacity(n);
        for mut source in sources {
            let events = match &cfg.events {
                Some(p) => Some(EventSpill::new().map_err(|e| EngineError::Events {
                    path: p.clone(),
                    source: e,
                })?),
                None => None,
            };
            let registry = &registry;
            let wcfg = &wcfg;
            handles.push(scope.spawn(move || {
                let mut w = Worker::new(registry, wcfg, events);
                let mut warnings = Vec::new();
                let mut err = None;
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

/// Process the packets of `batch` whose bucket `owners` gives to worker `me`.
/// Read `source` until it ends, fails or `stop` is set, handing each batch to `each` (after
/// recording progress and warnings). Returns the read error, if any.
fn read_all(
    source: &mut dyn PacketSource,
    batch_size: usize,
    progress: &Progress,
    stop: &AtomicBool,
    warnings: &mut Vec<yagura_capture::Warning>,
    mut each: impl FnMut(PacketBatch),
) -> Option<CaptureError> {
    let mut err = None;
    while !stop.load(Ordering::Relaxed) {
        match source.next_batch(batch_size) {
            Ok(Some(batch)) => {
                report_progress(progress, source, &batch);
                each(batch);
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

/// Every packet advances the worker's clock; only its own are processed.
fn process_own(w: &mut Worker<'_>, batch: &PacketBatch, owners: &[u16; BUCKETS], me: u16) {
    for i in 0..batch.len() {
        let p = batch.get(i);
        if owners[(shard_of(p.link, p.data) % BUCKETS as u64) as usize] == me {
            w.process(&p);
        } else {
            w.observe(p.ts);
        }
    }
}

/// Process the packets `idx` (ascending) of `batch`, advancing the clock over every record
/// of the batch up to each of them, including the ones other workers own.
fn process_list(w: &mut Worker<'_>, batch: &PacketBatch, idx: &[u32]) {
    let mut next = 0;
    for &i in idx {
        let i = i as usize;
        for r in &batch.records[next..i] {
            w.observe(r.ts);
        }
        next = i + 1;
        w.process(&batch.get(i));
    }
    for r in &batch.records[next..] {
        w.observe(r.ts);
    }
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
