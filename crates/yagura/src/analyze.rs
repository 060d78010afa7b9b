//! `yagura analyze` and `yagura sensor`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use yagura_engine::report::{CaptureSummary, Connection, Generator, PipelineStats, ProtocolCount};
use yagura_engine::{EngineConfig, Progress, Report};
use yagura_model::fusion::{Built, build_detailed};
use yagura_model::inventory::{Asset, Edge};

#[derive(Args)]
pub struct AnalyzeArgs {
    /// Capture files or directories (searched recursively); several are merged in time order.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Write the report document (JSON, schema yagura.report/1) to FILE ("-" for stdout).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write one JSON object per application PDU to FILE (JSON lines).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Update the inventory database at PATH (SQLite, created if missing) with this run's
    /// assets and communication graph.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// No progress bar and no summary; errors and warnings still go to stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
pub struct SensorArgs {
    /// Network interface to listen on (a mirror/SPAN port). Nothing is ever sent on it.
    #[arg(long, short, value_name = "IF")]
    interface: String,
    /// Capture filter (BPF syntax, as tcpdump), e.g. "not port 22".
    #[arg(long, value_name = "BPF")]
    filter: Option<String>,
    /// Worker threads, each with its own socket in one fanout group (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
    /// Write the report document (JSON) to FILE when the sensor stops.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write one JSON object per application PDU to FILE.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Keep the inventory database at PATH (SQLite, created if missing) up to date while
    /// the sensor runs: every --flush-every seconds, and once more when it stops.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// How often the inventory database is updated, in seconds (decimals allowed). A killed
    /// sensor loses at most about this much of the inventory. On a plant so large that an
    /// update costs more than a twentieth of this, updates are spaced out to keep their
    /// share of the CPU at 5 %.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, requires = "db")]
    flush_every: f64,
    /// Learn what is normal into the database's baseline for this long (e.g. 14d, 12h,
    /// 30m), then detect against it. The period is kept in the database: a restarted
    /// sensor continues it, and once it is over, detects. Without it, the sensor detects
    /// against the baseline the database holds (with none, only the engines that need no
    /// baseline run).
    #[arg(long, value_name = "DURATION", requires = "db", value_parser = crate::baseline::parse_duration)]
    learn_for: Option<Duration>,
    /// Memory for the recent packets an alert keeps as evidence (e.g. 64MiB, 1GiB; 0: keep
    /// no packet bytes). Packets older than what it holds are kept without their bytes.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = crate::evidence::parse_size)]
    evidence_buffer: usize,
    /// No periodic statistics and no summary.
    #[arg(long, short)]
    quiet: bool,
}

/// A flag set by Ctrl-C / SIGTERM.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    // Failing to install the handler (already installed) only loses graceful stop.
    let _ = ctrlc::set_handler(move || s.store(true, Ordering::Relaxed));
    stop
}

pub fn analyze(args: AnalyzeArgs, mode: crate::detection::Mode) -> Result<()> {
    if mode == crate::detection::Mode::Learn {
        anyhow::ensure!(
            args.db.is_some(),
            "yagura learn needs --db PATH: the database that keeps the baseline"
        );
    }
    let started = Instant::now();
    let mut source = yagura_capture::file::open_paths(&args.paths)?;
    let mut cfg = EngineConfig::default();
    if let Some(n) = args.threads {
        anyhow::ensure!(n >= 1, "--threads must be at least 1");
        cfg.threads = n;
    }
    cfg.events = args.events.clone();
    let progress = Arc::new(Progress::default());
    let stop = stop_flag();
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| progress_bar(&progress));
    let result = yagura_engine::run(source.as_mut(), &cfg, &progress, &stop);
    if let Some((bar, handle, done)) = bar {
        done.store(true, Ordering::Relaxed);
        let _ = handle.join();
        bar.finish_and_clear();
    }
    let report = result?;
    let built = build_detailed(&report);
    for w in &report.capture.warnings {
        eprintln!("warning: {w}");
    }
    let (alerts, persisted) = match &args.db {
        Some(db) => {
            let c = &report.capture;
            let (first, last) = (
                c.first_seen.unwrap_or_default(),
                c.last_seen.unwrap_or_default(),
            );
            let run = yagura_store::RunInfo::files(&args.paths, first, last, c.packets, c.bytes)
                .with_context(|| format!("reading the sizes of {:?}", args.paths))?;
            let (alerts, p) =
                crate::detection::run_with_db(db, mode, &report, &built, &run, &args.paths)?;
            (alerts, Some(p))
        }
        None => (crate::detection::detect(&report, &built, None, None), None),
    };
    write_json(&report, &built, &alerts, args.json.as_ref())?;
    if let (Some(db), Some(p), false) = (&args.db, &persisted, args.quiet) {
        report_persisted(db, p);
    }
    if !args.quiet {
        let elapsed = started.elapsed();
        let mut out = std::io::stdout().lock();
        let to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
        if !to_stdout {
            crate::summary::print(&mut out, &report, &built.inventory, &alerts, elapsed)?;
        }
    }
    if stop.load(Ordering::Relaxed) {
        eprintln!("interrupted: the report covers the packets read so far");
    }
    Ok(())
}

/// Say on stderr whether the sensor learns or detects.
fn say_mode(db: &std::path::Path, learning: Option<yagura_store::LearningPeriod>) -> Result<()> {
    let now = yagura_store::now();
    match learning {
        Some(p) if p.is_open(now) => eprintln!(
            "baseline {}: learning since {} until {}, then detecting",
            db.display(),
            p.started.to_rfc3339(),
            p.until.to_rfc3339()
        ),
        Some(p) => eprintln!(
            "baseline {}: the learning period ended at {}; detecting against the baseline",
            db.display(),
            p.until.to_rfc3339()
        ),
        None => {
            let b = yagura_store::SqliteStore::open_existing(db)?.baseline()?;
            if b.assets.is_empty() {
                eprintln!(
                    "baseline {}: empty (no --learn-for): only the engines that need no baseline run",
                    db.display()
                );
            } else {
                eprintln!(
                    "baseline {}: detecting against {} learned assets and {} connections",
                    db.display(),
                    b.assets.len(),
                    b.connections.len()
                );
            }
        }
    }
    Ok(())
}

/// Say on stderr what the run changed in the database.
fn report_persisted(db: &std::path::Path, p: &crate::detection::Persisted) {
    match &p.ingest {
        Some(o) if o.already_ingested => eprintln!(
            "database {}: this capture was ingested before (run {}); nothing changed in its inventory or alerts",
            db.display(),
            o.run_id
        ),
        Some(o) => eprintln!(
            "inventory {}: run {}: {} new and {} updated assets, {} new and {} updated edges, {} changes recorded",
            db.display(),
            o.run_id,
            o.assets_new,
            o.assets_updated,
            o.edges_new,
            o.edges_updated,
            o.changes
        ),
        None => {}
    }
    if let Some(l) = &p.learned {
        eprintln!(
            "baseline {}: learned {} new and {} updated assets, {} new and {} updated connections",
            db.display(),
            l.assets_new,
            l.assets_updated,
            l.connections_new,
            l.connections_updated
        );
    }
    if let Some(r) = &p.recorded {
        eprintln!(
            "alerts {}: {} new, {} folded into open alerts, {} muted",
            db.display(),
            r.new,
            r.folded,
            r.muted
        );
    }
}

/// The report document (`yagura.report/1`) as written: the engine's observation-level
/// report with the inventory's assets in place of its hosts, its connections enriched with
/// their assets, and the communication graph.
#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    generator: &'a Generator,
    capture: &'a CaptureSummary,
    assets: &'a [Asset],
    connections: Vec<ConnectionOut<'a>>,
    edges: &'a [Edge],
    protocols: &'a [ProtocolCount],
    alerts: &'a [yagura_detect::Alert],
    pipeline: &'a PipelineStats,
}

#[derive(Serialize)]
struct ConnectionOut<'a> {
    #[serde(flatten)]
    connection: &'a Connection,
    /// Ids of the client's and the server's assets (null for a broadcast or multicast
    /// address).
    src_asset: Option<&'a str>,
    dst_asset: Option<&'a str>,
}

fn document<'a>(
    report: &'a Report,
    built: &'a Built,
    alerts: &'a yagura_detect::Alerts,
) -> Document<'a> {
    let assets = &built.inventory.assets;
    let id = |i: Option<usize>| i.map(|i| assets[i].id.as_str());
    Document {
        schema: report.schema,
        generator: &report.generator,
        capture: &report.capture,
        assets,
        connections: report
            .connections
            .iter()
            .zip(&built.connection_assets)
            .map(|(c, (s, d))| ConnectionOut {
                connection: c,
                src_asset: id(*s),
                dst_asset: id(*d),
            })
            .collect(),
        edges: &built.inventory.edges,
        protocols: &report.protocols,
        alerts: &alerts.alerts,
        pipeline: &report.pipeline,
    }
}

fn write_json(
    report: &Report,
    built: &Built,
    alerts: &yagura_detect::Alerts,
    path: Option<&PathBuf>,
) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let doc = document(report, built, alerts);
    if path.as_os_str() == "-" {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(());
    }
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, &doc)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(w)?;
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

type Bar = (ProgressBar, std::thread::JoinHandle<()>, Arc<AtomicBool>);

/// A progress bar on stderr, fed from the engine's counters by a small thread.
fn progress_bar(progress: &Arc<Progress>) -> Bar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg} ETA {eta}",
        )
        .expect("valid template"),
    );
    let done = Arc::new(AtomicBool::new(false));
    let (b, p, d) = (bar.clone(), Arc::clone(progress), Arc::clone(&done));
    let handle = std::thread::spawn(move || {
        let start = Instant::now();
        while !d.load(Ordering::Relaxed) {
            let total = p.input_bytes_total.load(Ordering::Relaxed);
            let read = p.input_bytes_read.load(Ordering::Relaxed);
            let pk = p.packets.load(Ordering::Relaxed);
            let by = p.bytes.load(Ordering::Relaxed);
            b.set_length(total.max(1));
            b.set_position(read.min(total));
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            b.set_message(format!(
                "{} packets, {}, {}/s",
                crate::summary::count(pk),
                crate::summary::bytes(by),
                crate::summary::rate(pk as f64 / secs)
            ));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (bar, handle, done)
}

pub fn sensor(args: SensorArgs) -> Result<()> {
    use yagura_capture::live::{LiveConfig, open_live};
    let mut live = LiveConfig::new(&args.interface);
    live.filter = args.filter.clone();
    live.workers = match args.threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let flush_every = Duration::try_from_secs_f64(args.flush_every)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--flush-every must be a positive number of seconds")?;
    let sources = open_live(&live)?;
    // The database is opened before the capture starts (a wrong path fails now, not at
    // the end), and kept up to date while it runs, with the alerts.
    let evidence = (args.db.is_some() && args.evidence_buffer > 0)
        .then(|| crate::evidence::EvidenceBuffer::new(args.evidence_buffer, sources.len()));
    let flusher = match &args.db {
        Some(db) => Some(crate::flush::Flusher::start(
            db,
            yagura_store::RunInfo::sensor(&args.interface, yagura_store::now()),
            flush_every,
            crate::flush::Detection {
                learn_for: args.learn_for,
                evidence: evidence.clone(),
            },
        )?),
        None => None,
    };
    if let (Some(f), Some(db), false) = (&flusher, &args.db, args.quiet) {
        say_mode(db, f.learning())?;
    }
    let stop = sources
        .first()
        .map(|s| s.stop_handle())
        .context("no capture socket was opened")?;
    // Ctrl-C, SIGTERM and --duration all end the capture through the sources' stop flag.
    let s = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || s.store(true, Ordering::Relaxed));
    if let Some(secs) = args.duration {
        let s = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            s.store(true, Ordering::Relaxed);
        });
    }
    let mut cfg = EngineConfig {
        threads: live.workers,
        ..EngineConfig::default()
    };
    cfg.events = args.events.clone();
    let progress = Arc::new(Progress::default());
    if !args.quiet {
        eprintln!(
            "yagura sensor: listening on {} ({} worker{}{}); Ctrl-C to stop",
            args.interface,
            live.workers,
            if live.workers == 1 { "" } else { "s" },
            args.filter
                .as_deref()
                .map(|f| format!(", filter \"{f}\""))
                .unwrap_or_default()
        );
        let (p, s) = (Arc::clone(&progress), Arc::clone(&stop));
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut last = 0u64;
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(10));
                let pk = p.packets.load(Ordering::Relaxed);
                eprintln!(
                    "[{:>6.0}s] {} packets ({}/s), {}",
                    start.elapsed().as_secs_f64(),
                    crate::summary::count(pk),
                    crate::summary::rate((pk - last) as f64 / 10.0),
                    crate::summary::bytes(p.bytes.load(Ordering::Relaxed))
                );
                last = pk;
            }
        });
    }
    let started = Instant::now();
    let mut boxed: Vec<Box<dyn yagura_capture::PacketSource>> = sources
        .into_iter()
        .map(|s| Box::new(s) as Box<dyn yagura_capture::PacketSource>)
        .collect();
    if let Some(e) = &evidence {
        boxed = e.record(boxed);
    }
    let offer = |r: Report| {
        if let Some(f) = &flusher {
            f.offer(r);
        }
    };
    // The flusher asks for a report when it is ready for one; the engine snapshots then.
    let on_request = flusher.as_ref().map(|f| yagura_engine::OnRequest {
        requests: f.requests(),
        deliver: &offer,
    });
    let report = yagura_engine::run_live(boxed, &cfg, &progress, &stop, on_request)?;
    let built = build_detailed(&report);
    for w in &report.capture.warnings {
        eprintln!("warning: {w}");
    }
    // The database first: it is what a stop must not lose.
    let alerts = match (flusher, &args.db) {
        (Some(f), Some(db)) => {
            let o = f.finish(&report, &built)?;
            if !args.quiet {
                eprintln!(
                    "inventory {}: sensor run {}: {} update{} ({} assets and {} edges seen by this run)",
                    db.display(),
                    o.run_id.map_or_else(|| "-".into(), |id| id.to_string()),
                    o.ingests,
                    if o.ingests == 1 { "" } else { "s" },
                    o.assets,
                    o.edges
                );
                eprintln!(
                    "alerts {}: {} new, {} raises folded into open alerts; {} evidence packet(s) of this run's alerts kept without bytes (gone from the --evidence-buffer)",
                    db.display(),
                    o.alerts_new,
                    o.alerts_folded,
                    o.evidence_without_bytes
                );
            }
            o.alerts
        }
        _ => crate::detection::detect(&report, &built, None, None),
    };
    write_json(&report, &built, &alerts, args.json.as_ref())?;
    if !args.quiet {
        crate::summary::print(
            &mut std::io::stdout().lock(),
            &report,
            &built.inventory,
            &alerts,
            started.elapsed(),
        )?;
    }
    Ok(())
}
