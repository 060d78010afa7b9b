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

fn db_size(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            std::fs::metadata(p).ok()
        })
        .map(|m| m.len())
        .sum()
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
    let t = Instant::now();
    s.ingest(&g0, &run("g0".into())).expect("ingest");
    let new = t.elapsed();
    let rss_ingest = rss_bytes().saturating_sub(rss0);
    let size = db_size(&path);
    let t = Instant::now();
    s.ingest(&g1, &run("g1".into())).expect("update");
    let update = t.elapsed();
    let tk = tick(&g1);
    let t = Instant::now();
    s.ingest(&tk, &run("tick".into())).expect("tick");
    let tick_time = t.elapsed();
    let rss1 = rss_bytes();
    let t = Instant::now();
    let loaded = s.load().expect("load");
    let load = t.elapsed();
    let rss_load = rss_bytes().saturating_sub(rss1);
    assert_eq!(loaded.assets.len(), n_assets);
    let per = |b: u64| b as f64 / (n_assets as f64 + n_edges as f64);
    eprintln!(
        "store figures: {n_assets} assets, {n_edges} edges\n\
         \x20 ingest new     {:>8.2} s ({:.0} rows/s)\n\
         \x20 ingest update  {:>8.2} s\n\
         \x20 sensor tick    {:>8.3} s ({} assets, {} edges)\n\
         \x20 load           {:>8.2} s\n\
         \x20 database       {:>8.1} MiB ({:.0} B per asset+edge)\n\
         \x20 RSS growth during first ingest {:.1} MiB; load {:.1} MiB ({:.0} B per asset+edge)",
        new.as_secs_f64(),
        (n_assets + n_edges) as f64 / new.as_secs_f64(),
        update.as_secs_f64(),
        tick_time.as_secs_f64(),
        tk.assets.len(),
        tk.edges.len(),
        load.as_secs_f64(),
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
