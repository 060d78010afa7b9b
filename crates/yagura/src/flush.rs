//! The sensor's inventory flusher: keeps the database up to date while the sensor runs.
//!
//! Snapshots are made on demand: the flusher thread asks the engine for a cumulative report of
//! the run ([`yagura_engine::SnapshotRequests`], shared through [`Flusher::requests`]) when it
//! is ready for one: `--flush-every` after the start, then when its rest after a flush ends,
//! never more often than `--flush-every`. Only then do the capture workers copy their
//! aggregates and the engine's collector merge them, and the collector hands the one report
//! to [`Flusher::offer`] (never from a capture worker). The flusher thread owns the database;
//! it builds the inventory of each report and ingests what it adds to the previous ingest
//! ([`yagura_store::counters_since`]), all under the sensor run's key. At the end,
//! [`Flusher::finish`] ingests the final report the same way, so that the run's counters in
//! the database add up to the final report's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use yagura_engine::report::CaptureSummary;
use yagura_engine::{Report, SnapshotRequests};
use yagura_model::fusion::build_detailed;
use yagura_model::inventory::Inventory;
use yagura_store::{InventoryStore, RunInfo, SqliteStore, StoreError, counters_since};

/// The flusher thread spends at most 1/FLUSH_SHARE of the wall-clock time flushing (building
/// the inventory and ingesting it): after a flush that took `t`, it rests `(FLUSH_SHARE - 1)
/// × t` before it asks for the next report. As the workers snapshot and the collector merges
/// only when it asks (and the workers no more than [`yagura_engine::SNAPSHOT_SHARE`] allows),
/// keeping the database up to date takes a bounded share of the machine however large the
/// plant; a large plant's database is then updated less often than `--flush-every` asks.
pub const FLUSH_SHARE: u32 = 20;

/// Hands the running sensor's reports to the thread that writes the database.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: JoinHandle<Ingester>,
}

struct Shared {
    slot: Mutex<Slot>,
    changed: Condvar,
    /// The flusher's requests for reports, answered by the engine's collector.
    requests: SnapshotRequests,
}

#[derive(Default)]
struct Slot {
    /// The report not yet taken (one per request; a newer one would replace it).
    latest: Option<Report>,
    /// The sensor stopped: the thread hands the database back.
    closed: bool,
}

/// What the last ingest of the run left in the database.
pub struct Outcome {
    pub run_id: Option<i64>,
    /// Ingests of this run (periodic ones and the final one).
    pub ingests: u64,
    /// Assets and edges of the run's whole inventory.
    pub assets: usize,
    pub edges: usize,
}

impl Flusher {
    /// Opens (or creates) the database at `db` and starts the thread that keeps it up to
    /// date for the sensor run `run`, asking for a report every `every` (or less often, when
    /// flushes are dear). Share [`Flusher::requests`] with the engine, and hand it the
    /// reports through [`Flusher::offer`].
    pub fn start(db: &Path, run: RunInfo, every: Duration) -> Result<Flusher> {
        let mut ingester = Ingester::open(db, run)?;
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
            requests: SnapshotRequests::new(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("yagura-flush".into())
            .spawn(move || {
                let mut due = Instant::now() + every;
                loop {
                    // Rest until the next report is wanted (or the sensor stops), then ask
                    // the engine for it.
                    s.rest(due.saturating_duration_since(Instant::now()));
                    let asked = Instant::now();
                    s.requests.request();
                    let Some(report) = s.take() else { break };
                    let began = Instant::now();
                    let built = build_detailed(&report);
                    ingester.periodic(built.inventory, &report.capture);
                    // However large the plant, flushing takes at most 1/FLUSH_SHARE of the
                    // time: rest FLUSH_SHARE - 1 times what this flush took, and ask no
                    // sooner than `every` after the last request.
                    let rest = began.elapsed() * (FLUSH_SHARE - 1);
                    due = (asked + every).max(Instant::now() + rest);
                }
                ingester
            })
            .context("starting the inventory flusher")?;
        Ok(Flusher { shared, thread })
    }

    /// The flusher's requests for reports: the engine's side of the on-demand snapshots
    /// ([`yagura_engine::OnRequest`]).
    pub fn requests(&self) -> &SnapshotRequests {
        &self.shared.requests
    }

    /// The cumulative report of the run so far that answers a request. Never waits for the
    /// database: it replaces a report the flusher has not taken yet, if any.
    pub fn offer(&self, report: Report) {
        let mut slot = self.shared.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.latest = Some(report);
        self.shared.changed.notify_one();
    }

    /// The sensor stopped: wait for the ingest under way, if any, then ingest what the
    /// final inventory adds to the last ingest (a report the flusher had not taken yet is
    /// superseded by the final one).
    pub fn finish(self, inventory: &Inventory, capture: &CaptureSummary) -> Result<Outcome> {
        {
            let mut slot = self.shared.slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.closed = true;
            slot.latest = None;
            self.shared.changed.notify_one();
        }
        let mut ingester = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the inventory flusher panicked"))?;
        // The last ingest: nothing is compared with this inventory afterwards.
        ingester.flush(inventory, capture, true).with_context(|| {
            format!("updating the inventory database {}", ingester.db.display())
        })?;
        Ok(Outcome {
            run_id: ingester.run_id,
            ingests: ingester.ingests,
            assets: inventory.assets.len(),
            edges: inventory.edges.len(),
        })
    }
}

impl Shared {
    /// Wait `d`, or less if the sensor stops meanwhile.
    fn rest(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        while !slot.closed {
            let now = Instant::now();
            if now >= until {
                return;
            }
            slot = self
                .changed
                .wait_timeout(slot, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The next report to ingest; `None` once the sensor stopped.
    fn take(&self) -> Option<Report> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if slot.closed {
                return None;
            }
            if let Some(r) = slot.latest.take() {
                return Some(r);
            }
            slot = self.changed.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The database and what this run has put in it so far.
struct Ingester {
    store: SqliteStore,
    db: PathBuf,
    /// The run's key and inputs; its counters are set for each ingest.
    run: RunInfo,
    /// The cumulative inventory of the last successful ingest, and the capture's packet and
    /// byte counts then.
    previous: Inventory,
    packets: u64,
    bytes: u64,
    ingests: u64,
    run_id: Option<i64>,
    /// Errors already printed (each is printed once, not at every flush).
    reported: HashSet<String>,
}

impl Ingester {
    /// Opens (or creates) the database at `db` for the sensor run `run`.
    fn open(db: &Path, run: RunInfo) -> Result<Ingester> {
        let store = SqliteStore::open(db)
            .with_context(|| format!("opening the inventory database {}", db.display()))?;
        Ok(Ingester {
            store,
            db: db.to_path_buf(),
            run,
            previous: Inventory::default(),
            packets: 0,
            bytes: 0,
            ingests: 0,
            run_id: None,
            reported: HashSet::new(),
        })
    }

    /// A periodic flush of `current`, the run's cumulative inventory: once ingested, it
    /// becomes the one the next flush is compared with (moved there, not copied: on a large
    /// plant an inventory is hundreds of megabytes). An error is printed; the capture goes on.
    fn periodic(&mut self, current: Inventory, capture: &CaptureSummary) {
        match self.flush(&current, capture, false) {
            Ok(true) => self.previous = current,
            Ok(false) => {}
            Err(e) => self.report_error(&e),
        }
    }

    /// Ingest what `current` (the run's cumulative inventory, with its capture's counters)
    /// adds to the last successful ingest. Returns whether it ingested; the caller then
    /// makes `current` the new [`Ingester::previous`] (unless it was the last ingest). After a
    /// failure nothing is remembered, so the next ingest carries the missed counters too.
    /// Skipped when nothing changed, except for the last ingest of a run never ingested (an
    /// idle run is recorded as before).
    fn flush(
        &mut self,
        current: &Inventory,
        capture: &CaptureSummary,
        last: bool,
    ) -> Result<bool, StoreError> {
        let packets = capture.packets.saturating_sub(self.packets);
        let bytes = capture.bytes.saturating_sub(self.bytes);
        // Only the assets and edges that changed (the others are in the database already).
        let delta = counters_since(&self.previous, current);
        let unchanged = packets == 0 && delta.assets.is_empty() && delta.edges.is_empty();
        if unchanged && (self.ingests > 0 || !last) {
            return Ok(false);
        }
        // The store adds a sensor run's packets and bytes at each ingest, and widens its
        // first and last seen: the former go as the counts since the last ingest, the latter
        // as the run's so far.
        let mut run = self.run.clone();
        run.packets = packets;
        run.bytes = bytes;
        run.first_seen = capture.first_seen.unwrap_or(run.first_seen);
        run.last_seen = capture.last_seen.unwrap_or(run.last_seen);
        let o = self.store.ingest(&delta, &run)?;
        if !self.reported.is_empty() {
            eprintln!(
                "inventory {}: updated again after the errors above",
                self.db.display()
            );
            self.reported.clear();
        }
        self.packets = capture.packets;
        self.bytes = capture.bytes;
        self.ingests += 1;
        self.run_id = Some(o.run_id);
        Ok(true)
    }

    /// Print an error of a periodic ingest, once per distinct message: the capture goes on,
    /// and the next ingest retries with everything since the last one that succeeded.
    fn report_error(&mut self, e: &StoreError) {
        let msg = e.to_string();
        if self.reported.insert(msg.clone()) {
            eprintln!(
                "warning: updating the inventory database {}: {msg} (the sensor keeps capturing and retries at the next flush)",
                self.db.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use yagura_capture::{CaptureError, PacketBatch, PacketSource, SourceStats};
    use yagura_engine::{EngineConfig, Progress};

    use super::*;

    #[test]
    fn resting_ends_when_the_sensor_stops() {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
            requests: SnapshotRequests::new(),
        });
        let s = Arc::clone(&shared);
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut slot = s.slot.lock().unwrap();
            slot.closed = true;
            s.changed.notify_one();
        });
        let began = Instant::now();
        shared.rest(Duration::from_secs(60));
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "{:?}",
            began.elapsed()
        );
        closer.join().unwrap();
        // Offered reports do not end the rest early, and a short rest ends on time.
        let began = Instant::now();
        shared.rest(Duration::from_millis(20));
        assert!(began.elapsed() < Duration::from_secs(5));
    }

    /// A capture file delivered slowly, a few packets at a time, as a live source does.
    struct Slow {
        inner: Box<dyn PacketSource>,
        pause: Duration,
        per_batch: usize,
    }

    impl PacketSource for Slow {
        fn next_batch(&mut self, max: usize) -> Result<Option<PacketBatch>, CaptureError> {
            std::thread::sleep(self.pause);
            let mut b = self.inner.next_batch(max.min(self.per_batch))?;
            // Stamped with the time they "arrive", as a live capture stamps them.
            if let Some(b) = &mut b {
                let now = yagura_store::now().0;
                for (i, r) in b.records.iter_mut().enumerate() {
                    r.ts = yagura_core::Timestamp(now + i as u64);
                }
            }
            Ok(b)
        }

        fn stats(&self) -> SourceStats {
            self.inner.stats()
        }
    }

    fn corpus() -> PathBuf {
        std::env::var_os("YAGURA_CORPUS").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
            PathBuf::from,
        )
    }

    /// Sensor-like: the capture through `run_live` with the flusher asking for a report
    /// every `every`, flushed into `db`, then the final report. Packets are stamped with their arrival time, so
    /// the whole capture arrives within the engine's 5-s hold: flows not settled wait for
    /// the final ingest (how long they wait is the engine's business, tested there in
    /// capture time); this checks the arithmetic of the flushes.
    fn sensor(file: &Path, db: &Path, every: Duration, per_batch: usize) -> Report {
        let src: Box<dyn PacketSource> = Box::new(Slow {
            inner: yagura_capture::file::open_paths(&[file.to_path_buf()]).unwrap(),
            pause: Duration::from_millis(1),
            per_batch,
        });
        let cfg = EngineConfig {
            threads: 1,
            ..EngineConfig::default()
        };
        let f = Flusher::start(db, RunInfo::sensor("test0", yagura_store::now()), every).unwrap();
        let offer = |r: Report| f.offer(r);
        let report = yagura_engine::run_live(
            vec![src],
            &cfg,
            &Progress::default(),
            &AtomicBool::new(false),
            Some(yagura_engine::OnRequest {
                requests: f.requests(),
                deliver: &offer,
            }),
        )
        .unwrap();
        let built = build_detailed(&report);
        f.finish(&built.inventory, &report.capture).unwrap();
        report
    }

    type Counts = (
        std::collections::BTreeMap<String, (u64, u64)>,
        std::collections::BTreeMap<(String, String, String, u16, String), (u64, u64, u64)>,
        (u64, u64),
    );

    fn counts(db: &Path) -> Counts {
        let s = SqliteStore::open_existing(db).unwrap();
        assert!(s.check().unwrap().is_empty());
        let inv = s.load().unwrap();
        let runs = s.runs().unwrap();
        (
            inv.assets
                .iter()
                .map(|a| (a.id.clone(), (a.packets_sent, a.bytes_sent)))
                .collect(),
            inv.edges
                .iter()
                .map(|e| (yagura_store::edge_key(e), (e.packets, e.bytes, e.sessions)))
                .collect(),
            (runs[0].packets, runs[0].bytes),
        )
    }

    /// Ingest the final report of a run in one go, as `yagura analyze --db` does.
    fn single(report: &Report, db: &Path) {
        let built = build_detailed(report);
        let mut s = SqliteStore::open(db).unwrap();
        let mut run = RunInfo::sensor("test1", yagura_store::now());
        run.packets = report.capture.packets;
        run.bytes = report.capture.bytes;
        s.ingest(&built.inventory, &run).unwrap();
    }

    /// A periodic flush keeps the inventory it ingested (moved, not copied) as the one the
    /// next flush is compared with: the same inventory again ingests nothing, and the run's
    /// counters in the database are those of one ingest.
    #[test]
    fn a_periodic_flush_keeps_what_it_ingested() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("periodic.db");
        let mut src =
            yagura_capture::file::open_paths(
                &[corpus().join("pcap/modbus/zeek__modbusSmall.pcap")],
            )
            .unwrap();
        let cfg = EngineConfig {
            threads: 1,
            ..EngineConfig::default()
        };
        let report = yagura_engine::run(
            &mut *src,
            &cfg,
            &Progress::default(),
            &AtomicBool::new(false),
        )
        .unwrap();
        let inventory = build_detailed(&report).inventory;
        assert!(!inventory.edges.is_empty());
        let mut ingester =
            Ingester::open(&db, RunInfo::sensor("test2", yagura_store::now())).unwrap();
        ingester.periodic(inventory.clone(), &report.capture);
        assert_eq!(ingester.ingests, 1);
        assert_eq!(ingester.previous, inventory);
        ingester.periodic(inventory.clone(), &report.capture);
        assert_eq!(ingester.ingests, 1, "nothing changed, nothing ingested");
        drop(ingester);
        let single = dir.path().join("single.db");
        self::single(&report, &single);
        let (flushed, once) = (counts(&db), counts(&single));
        assert_eq!(flushed.0, once.0, "assets");
        assert_eq!(flushed.1, once.1, "edges");
        assert_eq!(flushed.2, once.2, "run counters");
    }

    /// What the database holds after a run ingested many times while it went on is what
    /// one ingest of its final report gives: the same assets and edges with the same
    /// counters, and the same packets and bytes for the run.
    #[test]
    fn flushes_add_up_to_one_ingest_of_the_final_report() {
        let dir = tempfile::tempdir().unwrap();
        for (k, rel) in [
            "pcap/modbus/zeek__modbusSmall.pcap",
            "pcap/enip/iti__CL5000EIP-Remote_Mode_Change_Attempt.pcap",
            "pcap/s7comm/iti__s7comm_reading_plc_status.pcap",
            "pcap/modbus/iti__mb2.pcap",
            "pcap/profinet/icsnpp-profinet-io-cm__profinet_io_cm_control.pcapng",
        ]
        .into_iter()
        .enumerate()
        {
            let (a, b) = (
                dir.path().join(format!("flushed{k}.db")),
                dir.path().join(format!("single{k}.db")),
            );
            let report = sensor(&corpus().join(rel), &a, Duration::from_millis(2), 8);
            single(&report, &b);
            let (flushed, once) = (counts(&a), counts(&b));
            assert_eq!(flushed.2, once.2, "{rel}: run counters");
            assert_eq!(flushed.0, once.0, "{rel}: assets");
            assert_eq!(flushed.1, once.1, "{rel}: edges");
            // At least one periodic flush and the final one (how many periodic ones fit
            // depends on what each costs: the flusher rests FLUSH_SHARE - 1 times that).
            let ingests = SqliteStore::open_existing(&a).unwrap().runs().unwrap()[0].ingests;
            assert!(ingests >= 2, "{rel}: {ingests} ingests");
        }
    }
}
