//! Store scale (issue 4 §10): ingest a synthetic plant of 50,000 assets and 500,000 edges
//! into a new database, ingest it again as an update (a later capture: every counter
//! adds, every tenth firmware changes), ingest a sensor-like tick touching 1 % of it,
//! and load it back. Prints the database size and the memory per asset and edge.
//!
//!     cargo bench -p yagura-store --bench ingest
//!     YAGURA_STORE_BENCH_ASSETS=5000 YAGURA_STORE_BENCH_EDGES=50000 cargo bench ...

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use yagura_core::Timestamp;
use yagura_model::inventory::Inventory;
use yagura_store::{InventoryStore, RunInfo, RunKind, SqliteStore, synthetic};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(key: String) -> RunInfo {
    RunInfo {
        key,
        kind: RunKind::Files,
        inputs: vec![],
        first_seen: Timestamp(0),
        last_seen: Timestamp(0),
        packets: 0,
        bytes: 0,
    }
}

/// Resident set size, from /proc (Linux); 0 elsewhere.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The size of the database file and of its WAL.
/// CPU time (user + system) of this process so far, from /proc (Linux), in seconds: on a
/// shared machine wall-clock time also counts the other processes.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

fn db_size(path: &Path) -> (u64, u64) {
    let size = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::fs::metadata(p).map_or(0, |m| m.len())
    };
    (size(""), size("-wal"))
}

/// A sensor tick: the counters of 1 % of the assets and edges moved.
fn tick(inv: &Inventory) -> Inventory {
    Inventory {
        assets: inv.assets.iter().step_by(100).cloned().collect(),
        edges: inv.edges.iter().step_by(100).cloned().collect(),
    }
}

fn bench(c: &mut Criterion) {
    let n_assets = env("YAGURA_STORE_BENCH_ASSETS", 50_000);
    let n_edges = env("YAGURA_STORE_BENCH_EDGES", 500_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let g0 = synthetic::inventory(n_assets, n_edges, 0);
    let g1 = synthetic::inventory(n_assets, n_edges, 1);

    // One measured pass for the figures docs/store.md quotes.
    let path = dir.path().join("figures.db");
    let mut s = SqliteStore::open(&path).expect("open");
    let rss0 = rss_bytes();
    let (t, c0) = (Instant::now(), cpu_s());
    s.ingest(&g0, &run("g0".into())).expect("ingest");
    let (new, new_cpu) = (t.elapsed(), cpu_s() - c0);
    let rss_ingest = rss_bytes().saturating_sub(rss0);
    let (t, c0) = (Instant::now(), cpu_s());
    s.ingest(&g1, &run("g1".into())).expect("update");
    let (update, update_cpu) = (t.elapsed(), cpu_s() - c0);
    let tk = tick(&g1);
    // A few ticks, as a sensor would do them one after the other.
    let (t, c0) = (Instant::now(), cpu_s());
    for k in 0..5 {
        s.ingest(&tk, &run(format!("tick{k}"))).expect("tick");
    }
    let (tick_time, tick_cpu) = (t.elapsed() / 5, (cpu_s() - c0) / 5.0);
    drop(s);
    // Closing checkpoints the WAL into the file: the size at rest.
    let (size, _) = db_size(&path);
    let s = SqliteStore::open(&path).expect("reopen");
    let rss1 = rss_bytes();
    let (t, c0) = (Instant::now(), cpu_s());
    let loaded = s.load().expect("load");
    let (load, load_cpu) = (t.elapsed(), cpu_s() - c0);
    let rss_load = rss_bytes().saturating_sub(rss1);
    assert_eq!(loaded.assets.len(), n_assets);
    let per = |b: u64| b as f64 / (n_assets as f64 + n_edges as f64);
    eprintln!(
        "store figures: {n_assets} assets, {n_edges} edges\n\
         \x20 (wall clock / CPU time)\n\
         \x20 ingest new     {:>8.2} s / {:.2} s\n\
         \x20 ingest update  {:>8.2} s / {:.2} s\n\
         \x20 sensor tick    {:>8.3} s / {:.3} s ({} assets, {} edges)\n\
         \x20 load           {:>8.2} s / {:.2} s\n\
         \x20 database       {:>8.1} MiB at rest after both ingests ({:.0} B per asset+edge)\n\
         \x20 RSS growth during first ingest {:.1} MiB; load {:.1} MiB ({:.0} B per asset+edge)",
        new.as_secs_f64(),
        new_cpu,
        update.as_secs_f64(),
        update_cpu,
        tick_time.as_secs_f64(),
        tick_cpu,
        tk.assets.len(),
        tk.edges.len(),
        load.as_secs_f64(),
        load_cpu,
        size as f64 / 1048576.0,
        per(size),
        rss_ingest as f64 / 1048576.0,
        rss_load as f64 / 1048576.0,
        per(rss_load),
    );
    drop(loaded);
    drop(s);

    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(1));
    g.bench_function("ingest_new", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let p = dir.path().join(format!("new-{i}.db"));
                let mut s = SqliteStore::open(&p).expect("open");
                let t = Instant::now();
                s.ingest(&g0, &run("g0".into())).expect("ingest");
                total += t.elapsed();
                drop(s);
                let _ = std::fs::remove_file(&p);
            }
            total
        })
    });
    let mut s = SqliteStore::open(dir.path().join("update.db")).expect("open");
    s.ingest(&g0, &run("base".into())).expect("ingest");
    let mut k = 0u64;
    g.bench_function("ingest_update", |b| {
        b.iter(|| {
            k += 1;
            s.ingest(&g1, &run(format!("u{k}"))).expect("update")
        })
    });
    g.bench_function("sensor_tick_1pct", |b| {
        b.iter(|| {
            k += 1;
            s.ingest(&tk, &run(format!("t{k}"))).expect("tick")
        })
    });
    g.bench_function("load", |b| b.iter(|| s.load().expect("load")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
