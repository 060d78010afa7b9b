//! `yagura analyze` and `yagura sensor`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use yagura_engine::{EngineConfig, Progress, Report};

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

pub fn analyze(args: AnalyzeArgs) -> Result<()> {
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
    let mut report = result?;
    add_vendors(&mut report);
    for w in &report.capture.warnings {
        eprintln!("warning: {w}");
    }
    write_json(&report, args.json.as_ref())?;
    if !args.quiet {
        let elapsed = started.elapsed();
        let mut out = std::io::stdout().lock();
        let to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
        if !to_stdout {
            crate::summary::print(&mut out, &report, elapsed)?;
        }
    }
    if stop.load(Ordering::Relaxed) {
        eprintln!("interrupted: the report covers the packets read so far");
    }
    Ok(())
}

/// Names each asset's MAC vendor from the IEEE registries (the engine does not know them).
fn add_vendors(report: &mut Report) {
    for a in &mut report.assets {
        a.vendor = a
            .mac
            .and_then(yagura_model::oui::vendor_name)
            .map(str::to_owned);
    }
}

fn write_json(report: &Report, path: Option<&PathBuf>) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, report)
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
    let sources = open_live(&live)?;
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
    let boxed: Vec<Box<dyn yagura_capture::PacketSource>> = sources
        .into_iter()
        .map(|s| Box::new(s) as Box<dyn yagura_capture::PacketSource>)
        .collect();
    let mut report = yagura_engine::run_live(boxed, &cfg, &progress, &stop)?;
    add_vendors(&mut report);
    for w in &report.capture.warnings {
        eprintln!("warning: {w}");
    }
    write_json(&report, args.json.as_ref())?;
    if !args.quiet {
        crate::summary::print(&mut std::io::stdout().lock(), &report, started.elapsed())?;
    }
    Ok(())
}
