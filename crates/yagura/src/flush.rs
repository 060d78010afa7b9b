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
//!
//! Each flush also runs the detection engines over the report, as `yagura analyze|learn
//! --db` does at its end, and in the same transaction as the inventory: while the sensor's
//! learning period (`--learn-for`, kept in the database) is open, it learns the report
//! into the baseline; afterwards it detects against it. The report is cumulative, so an
//! alert raised at one flush is raised again at the next: only what it adds since the last
//! flush is recorded (see [`Ingester::since_last`]). Evidence packets come from the
//! sensor's [`EvidenceBuffer`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use yagura_core::Timestamp;
use yagura_detect::baseline::LearnCount;
use yagura_detect::{Alert, Alerts};
use yagura_engine::{Report, SnapshotRequests};
use yagura_model::fusion::{Built, build_detailed};
use yagura_model::inventory::Inventory;
use yagura_store::{LearningPeriod, RunInfo, SqliteStore, counters_since, fold_key};

use crate::detection::{self, Mode};
use crate::evidence::EvidenceBuffer;

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
    learning: Option<LearningPeriod>,
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
    /// The run's alerts as the database holds them (its ids and statuses; muted ones left
    /// out).
    pub alerts: Alerts,
    /// Over the run: alerts created, and raises folded into open ones.
    pub alerts_new: u64,
    pub alerts_folded: u64,
    /// Evidence packets of the run's alerts kept without their bytes (gone from the
    /// buffer, or ambiguous).
    pub evidence_without_bytes: u64,
}

/// How the sensor detects: its learning period and evidence buffer.
pub struct Detection {
    /// Begin a learning period of this length, unless the database holds one already.
    pub learn_for: Option<Duration>,
    /// Where the evidence packets come from (`None`: kept without bytes).
    pub evidence: Option<EvidenceBuffer>,
}

impl Flusher {
    /// Opens (or creates) the database at `db` and starts the thread that keeps it up to
    /// date for the sensor run `run`, asking for a report every `every` (or less often, when
    /// flushes are dear). Share [`Flusher::requests`] with the engine, and hand it the
    /// reports through [`Flusher::offer`].
    pub fn start(
        db: &Path,
        run: RunInfo,
        every: Duration,
        detection: Detection,
    ) -> Result<Flusher> {
        let mut ingester = Ingester::open(db, run, detection)?;
        let learning = ingester.learning;
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
            requests: SnapshotRequests::new(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("yagura-flush".into())
            .spawn(move || {
                // The last report of the learning period is asked for just before its
                // end, so that it learns the traffic up to there.
                let learn_end = learning.and_then(|p| {
                    let left = p.until.0.checked_sub(yagura_store::now().0)?;
                    Some(Instant::now() + Duration::from_nanos(left.saturating_sub(1_000_000)))
                });
                let mut due = Instant::now() + every;
                loop {
                    if let Some(end) = learn_end.filter(|&e| e > Instant::now()) {
                        due = due.min(end);
                    }
                    // Rest until the next report is wanted (or the sensor stops), then ask
                    // the engine for it.
                    s.rest(due.saturating_duration_since(Instant::now()));
                    let asked = Instant::now();
                    let asked_at = yagura_store::now();
                    s.requests.request();
                    let Some(report) = s.take() else { break };
                    let began = Instant::now();
                    let built = build_detailed(&report);
                    ingester.periodic(built, &report, asked_at);
                    // However large the plant, flushing takes at most 1/FLUSH_SHARE of the
                    // time: rest FLUSH_SHARE - 1 times what this flush took, and ask no
                    // sooner than `every` after the last request.
                    let rest = began.elapsed() * (FLUSH_SHARE - 1);
                    due = (asked + every).max(Instant::now() + rest);
                }
                ingester
            })
            .context("starting the inventory flusher")?;
        Ok(Flusher {
            shared,
            thread,
            learning,
        })
    }

    /// The sensor's learning period, as the database holds it (`None`: never begun).
    pub fn learning(&self) -> Option<LearningPeriod> {
        self.learning
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
    /// final report adds to the last ingest, with its alerts (a report the flusher had not
    /// taken yet is superseded by the final one).
    pub fn finish(self, report: &Report, built: &Built) -> Result<Outcome> {
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
        let alerts = ingester
            .flush(built, report, yagura_store::now(), true)
            .with_context(|| {
                format!("updating the inventory database {}", ingester.db.display())
            })?;
        let ids: Vec<Option<u64>> = alerts
            .alerts
            .iter()
            .map(|a| ingester.seen.get(&fold_key(a)).and_then(|s| s.id))
            .collect();
        let alerts = detection::as_stored(&ingester.store, alerts, &ids)?;
        let mut evidence_without_bytes = 0;
        for a in &alerts.alerts {
            evidence_without_bytes +=
                ingester.store.alert_evidence_without_bytes(a.id)?.len() as u64;
        }
        Ok(Outcome {
            run_id: ingester.run_id,
            ingests: ingester.ingests,
            assets: built.inventory.assets.len(),
            edges: built.inventory.edges.len(),
            alerts,
            alerts_new: ingester.alerts_new,
            alerts_folded: ingester.alerts_folded,
            evidence_without_bytes,
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
    /// The learning period (from the database), and the mode of the last flush.
    learning: Option<LearningPeriod>,
    mode: Option<Mode>,
    evidence: Option<EvidenceBuffer>,
    /// Per alert (fold key), what this run had recorded of it by the last successful
    /// flush.
    seen: HashMap<String, Seen>,
    alerts_new: u64,
    alerts_folded: u64,
}

/// An alert of the cumulative report as the last successful flush recorded it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    count: u64,
    last_seen: Timestamp,
    /// Its database id (`None`: muted).
    id: Option<u64>,
}

impl Ingester {
    /// Opens (or creates) the database at `db` for the sensor run `run`; begins the
    /// learning period unless the database holds one.
    fn open(db: &Path, run: RunInfo, detection: Detection) -> Result<Ingester> {
        let mut store = SqliteStore::open(db)
            .with_context(|| format!("opening the inventory database {}", db.display()))?;
        let learning = match detection.learn_for {
            Some(d) => Some(
                store
                    .begin_learning_period(yagura_store::now(), d, "yagura")
                    .with_context(|| format!("beginning the learning period in {}", db.display()))?
                    .0,
            ),
            None => store.learning_period()?,
        };
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
            learning,
            mode: None,
            evidence: detection.evidence,
            seen: HashMap::new(),
            alerts_new: 0,
            alerts_folded: 0,
        })
    }

    /// A periodic flush of `current`, the run's cumulative inventory (of `report`): once
    /// ingested, it becomes the one the next flush is compared with (moved there, not
    /// copied: on a large plant an inventory is hundreds of megabytes). An error is printed;
    /// the capture goes on.
    /// `asked` is when the report was asked for: what it holds is learned if the learning
    /// period was open then.
    fn periodic(&mut self, current: Built, report: &Report, asked: Timestamp) {
        match self.flush(&current, report, asked, false) {
            // Ingested, or skipped as nothing changed: either way what it holds is in the
            // database.
            Ok(_) => self.previous = current.inventory,
            Err(e) => self.report_error(&e),
        }
    }

    /// Learning or detecting for a report asked for at `now`; says so when the learning
    /// period ends.
    fn mode(&mut self, now: Timestamp) -> Mode {
        let mode = match self.learning {
            Some(p) if p.is_open(now) => Mode::Learn,
            _ => Mode::Detect,
        };
        if self.mode == Some(Mode::Learn) && mode == Mode::Detect {
            eprintln!(
                "baseline {}: the learning period ended at {}; the sensor now detects against the baseline",
                self.db.display(),
                self.learning.map_or(now, |p| p.until).to_rfc3339()
            );
        }
        self.mode = Some(mode);
        mode
    }

    /// Ingest what `current` (the run's cumulative inventory, built from `report`) adds
    /// to the last successful ingest, with what it teaches the baseline and the alerts it
    /// adds, in one transaction. Returns the report's alerts (cumulative). After a failure
    /// nothing is remembered, so the next ingest carries the missed counters and alerts
    /// too. Skipped when nothing changed, except for the last ingest of a run never
    /// ingested (an idle run is recorded as before).
    fn flush(
        &mut self,
        current: &Built,
        report: &Report,
        asked: Timestamp,
        last: bool,
    ) -> Result<Alerts> {
        let capture = &report.capture;
        let now = yagura_store::now();
        let mode = self.mode(asked);
        let decided = detection::decide(&self.store, mode, report, current, now)?;
        let (changed, seen) = self.since_last(&decided.alerts.alerts);
        let packets = capture.packets.saturating_sub(self.packets);
        let bytes = capture.bytes.saturating_sub(self.bytes);
        // Only the assets and edges that changed (the others are in the database already).
        let delta = counters_since(&self.previous, &current.inventory);
        let unchanged =
            packets == 0 && delta.assets.is_empty() && delta.edges.is_empty() && changed.is_empty();
        if unchanged && (self.ingests > 0 || !last) {
            return Ok(decided.alerts);
        }
        // The store adds a sensor run's packets and bytes at each ingest, and widens its
        // first and last seen: the former go as the counts since the last ingest, the latter
        // as the run's so far.
        let mut run = self.run.clone();
        run.packets = packets;
        run.bytes = bytes;
        run.first_seen = capture.first_seen.unwrap_or(run.first_seen);
        run.last_seen = capture.last_seen.unwrap_or(run.last_seen);
        let wanted: BTreeSet<u64> = changed
            .iter()
            .flat_map(|a| a.evidence.iter().map(|p| p.index))
            .collect();
        let found = match &self.evidence {
            Some(b) => b.find(&wanted),
            None => crate::evidence::Found {
                gone: wanted.len(),
                ..Default::default()
            },
        };
        if found.gone + found.ambiguous > 0 {
            tracing::debug!(
                gone = found.gone,
                ambiguous = found.ambiguous,
                "evidence packets not in the buffer"
            );
        }
        let (o, _, recorded) = self.store.ingest_run(
            &delta,
            &run,
            // The baseline is written again only when the report taught it something: a
            // cumulative report mostly repeats what the last flush learned.
            |b| {
                decided
                    .learn(&current.inventory, b)
                    .filter(|c| *c != LearnCount::default())
            },
            &changed,
            || Ok(found.packets),
            now,
        )?;
        if !self.reported.is_empty() {
            eprintln!(
                "inventory {}: updated again after the errors above",
                self.db.display()
            );
            self.reported.clear();
        }
        // A sensor run is never "already ingested": its alerts were recorded.
        if let Some(r) = recorded {
            for ((key, mut s), id) in seen.into_iter().zip(r.ids) {
                s.id = id;
                self.seen.insert(key, s);
            }
            self.alerts_new += r.new;
            self.alerts_folded += r.folded;
        }
        self.packets = capture.packets;
        self.bytes = capture.bytes;
        self.ingests += 1;
        self.run_id = Some(o.run_id);
        Ok(decided.alerts)
    }

    /// What the report's (cumulative) `alerts` add to what the run recorded by its last
    /// flush: the alerts seen more often or later since, each with the count it adds
    /// (the fold adds it to the open alert; an alert closed meanwhile starts again with it)
    /// and, for one recorded before, first seen no earlier than its last time then. An
    /// alert with nothing new is left out: the same old traffic neither counts twice nor
    /// reopens an alert the analyst closed. Also returns, in the same order, what to
    /// remember of each once recorded.
    fn since_last(&self, alerts: &[Alert]) -> (Vec<Alert>, Vec<(String, Seen)>) {
        let mut changed = Vec::new();
        let mut seen = Vec::new();
        for a in alerts {
            let key = fold_key(a);
            let before = self.seen.get(&key);
            let mut add = a.clone();
            if let Some(b) = before {
                if a.count <= b.count && a.last_seen <= b.last_seen {
                    continue;
                }
                add.count = a.count.saturating_sub(b.count);
                add.first_seen = a.first_seen.max(b.last_seen);
            }
            seen.push((
                key,
                Seen {
                    count: before.map_or(a.count, |b| b.count.max(a.count)),
                    last_seen: before.map_or(a.last_seen, |b| b.last_seen.max(a.last_seen)),
                    id: before.and_then(|b| b.id),
                },
            ));
            changed.push(add);
        }
        (changed, seen)
    }

    /// Print an error of a periodic ingest, once per distinct message: the capture goes on,
    /// and the next ingest retries with everything since the last one that succeeded.
    fn report_error(&mut self, e: &anyhow::Error) {
        let msg = format!("{e:#}");
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
    use yagura_store::InventoryStore;

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
        let f = Flusher::start(
            db,
            RunInfo::sensor("test0", yagura_store::now()),
            every,
            Detection {
                learn_for: None,
                evidence: None,
            },
        )
        .unwrap();
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
        f.finish(&report, &built).unwrap();
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
        let built = build_detailed(&report);
        let inventory = built.inventory.clone();
        assert!(!inventory.edges.is_empty());
        let mut ingester = Ingester::open(
            &db,
            RunInfo::sensor("test2", yagura_store::now()),
            Detection {
                learn_for: None,
                evidence: None,
            },
        )
        .unwrap();
        ingester.periodic(built, &report, yagura_store::now());
        assert_eq!(ingester.ingests, 1);
        assert_eq!(ingester.previous, inventory);
        ingester.periodic(build_detailed(&report), &report, yagura_store::now());
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

    fn report_of(rel: &str) -> Report {
        let mut src = yagura_capture::file::open_paths(&[corpus().join(rel)]).unwrap();
        let cfg = EngineConfig {
            threads: 1,
            ..EngineConfig::default()
        };
        yagura_engine::run(
            &mut *src,
            &cfg,
            &Progress::default(),
            &AtomicBool::new(false),
        )
        .unwrap()
    }

    fn ingester(db: &Path, learn_for: Option<Duration>) -> Ingester {
        Ingester::open(
            db,
            RunInfo::sensor("test3", yagura_store::now()),
            Detection {
                learn_for,
                evidence: None,
            },
        )
        .unwrap()
    }

    fn stored(db: &Path) -> Vec<yagura_store::StoredAlert> {
        SqliteStore::open_existing(db)
            .unwrap()
            .alerts(&yagura_store::AlertFilter::default())
            .unwrap()
    }

    /// The sensor's reports are cumulative: an alert raised at one flush is raised again
    /// at the next with the same count. It is counted once; an alert the analyst closed
    /// is not raised again by the same old traffic; more of the behaviour afterwards
    /// raises a new alert counting what it adds.
    #[test]
    fn cumulative_reports_count_an_alert_once_and_a_closed_one_stays_closed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut report = report_of("pcap/s7comm/iti__snap7_s300_stop.pcapng");
        let mut ing = ingester(&db, None);
        for _ in 0..3 {
            ing.periodic(build_detailed(&report), &report, yagura_store::now());
        }
        let alerts = stored(&db);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let stop = &alerts[0].alert;
        assert_eq!(stop.kind, yagura_detect::AlertKind::PlcStop);
        let count = report.observations.operations[0].count;
        assert_eq!(stop.count, count, "counted once over three flushes");
        // Evidence without a buffer: referenced, no bytes.
        let s = SqliteStore::open_existing(&db).unwrap();
        assert!(!stop.evidence.is_empty());
        assert_eq!(
            s.alert_evidence_without_bytes(stop.id).unwrap().len(),
            stop.evidence.len()
        );
        drop(s);
        let mut s = SqliteStore::open(&db).unwrap();
        s.set_alert_status(
            stop.id,
            yagura_detect::Status::Closed,
            "op",
            None,
            yagura_store::now(),
        )
        .unwrap();
        drop(s);
        // More packets of other traffic: a flush, but the stop is old news.
        report.capture.packets += 10;
        ing.periodic(build_detailed(&report), &report, yagura_store::now());
        let alerts = stored(&db);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].alert.status, yagura_detect::Status::Closed);
        // The same PLC stopped twice more, later: a new alert of 2.
        let op = &mut report.observations.operations[0];
        op.count += 2;
        op.last_seen = Timestamp(op.last_seen.0 + 60_000_000_000);
        report.capture.packets += 2;
        let last = op.last_seen;
        ing.periodic(build_detailed(&report), &report, yagura_store::now());
        ing.periodic(build_detailed(&report), &report, yagura_store::now());
        let alerts = stored(&db);
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        let again = &alerts[0].alert;
        assert_eq!(again.status, yagura_detect::Status::New);
        assert_eq!((again.count, again.last_seen), (2, last));
        assert!(again.first_seen >= stop.last_seen);
        assert_eq!(ing.alerts_new, 2);
        // The final flush keeps the database's ids for the report.
        let built = build_detailed(&report);
        let out = ing
            .flush(&built, &report, yagura_store::now(), true)
            .unwrap();
        assert_eq!(out.alerts.len(), 1);
        assert_eq!(ing.seen[&fold_key(&out.alerts[0])].id, Some(again.id));
    }

    /// While the learning period is open, a flush learns its report into the baseline and
    /// only the engines that need none alert; once over, the same traffic raises nothing
    /// and a device new to the baseline raises `new_asset`. A second sensor on the same
    /// database continues the period instead of beginning one.
    #[test]
    fn learning_then_detecting_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("l.db");
        let normal = report_of("pcap/s7comm/iti__s7comm_reading_plc_status.pcap");
        let mut ing = ingester(&db, Some(Duration::from_millis(600)));
        let period = ing.learning.unwrap();
        ing.periodic(build_detailed(&normal), &normal, yagura_store::now());
        assert_eq!(ing.mode, Some(Mode::Learn));
        let learned = SqliteStore::open_existing(&db).unwrap().baseline().unwrap();
        assert!(!learned.assets.is_empty() && !learned.connections.is_empty());
        assert!(stored(&db).is_empty());
        let other = ingester(&db, Some(Duration::from_secs(3600)));
        assert_eq!(other.learning, Some(period), "the period is continued");
        drop(other);
        std::thread::sleep(Duration::from_millis(700));
        let mut more = normal.clone();
        more.capture.packets += 1;
        ing.periodic(build_detailed(&more), &more, yagura_store::now());
        assert_eq!(ing.mode, Some(Mode::Detect));
        assert!(
            stored(&db).is_empty(),
            "learned traffic raised {:?}",
            stored(&db)
        );
        assert_eq!(
            SqliteStore::open_existing(&db).unwrap().baseline().unwrap(),
            learned,
            "detecting learns nothing"
        );
        let new = report_of("pcap/modbus/zeek__modbusSmall.pcap");
        ing.periodic(build_detailed(&new), &new, yagura_store::now());
        let kinds: Vec<_> = stored(&db).iter().map(|a| a.alert.kind).collect();
        assert!(
            kinds.contains(&yagura_detect::AlertKind::NewAsset),
            "{kinds:?}"
        );
    }

    /// Learning reopened for a scope (`yagura baseline reopen`) applies to the sensor as
    /// to analyze: what the assets in it do is learned, not alerted.
    #[test]
    fn a_reopened_scope_is_learned_not_alerted() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let normal = report_of("pcap/s7comm/iti__s7comm_reading_plc_status.pcap");
        let new = report_of("pcap/modbus/zeek__modbusSmall.pcap");
        let new_built = build_detailed(&new);
        {
            let mut s = SqliteStore::open(&db).unwrap();
            s.update_baseline(|b| b.learn(&build_detailed(&normal).inventory))
                .unwrap();
            for a in &new_built.inventory.assets {
                for ip in &a.ips {
                    s.reopen_learning(&ip.to_string(), None, "op", yagura_store::now())
                        .unwrap();
                }
            }
        }
        let mut ing = ingester(&db, None);
        ing.periodic(new_built, &new, yagura_store::now());
        assert_eq!(ing.mode, Some(Mode::Detect));
        let raised: Vec<_> = stored(&db)
            .into_iter()
            .filter(|a| a.alert.engine == yagura_detect::Engine::Policy)
            .collect();
        assert!(raised.is_empty(), "{raised:?}");
        let b = SqliteStore::open_existing(&db).unwrap().baseline().unwrap();
        for a in &build_detailed(&new).inventory.assets {
            if !a.ips.is_empty() {
                assert!(
                    b.assets.iter().any(|l| l.id == a.id),
                    "{} not learned",
                    a.id
                );
            }
        }
    }
}
