//! Throughput of the pipeline stages on the benchmark capture.
//!
//! Build the capture first (see docs/performance.md):
//!     ../shared/bench/make-bench-pcap.sh /tmp/yagura-bench.pcap
//!     YAGURA_BENCH_PCAP=/tmp/yagura-bench.pcap cargo bench -p yagura-engine
//! Without it, a corpus capture stands in (numbers then are only indicative).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use yagura_engine::{EngineConfig, Progress};

fn capture() -> PathBuf {
    if let Ok(p) = std::env::var("YAGURA_BENCH_PCAP") {
        return PathBuf::from(p);
    }
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/pcap/modbus/iti__mb2.pcap");
    eprintln!("YAGURA_BENCH_PCAP not set; using {}", corpus.display());
    corpus
}

fn count_packets(path: &PathBuf) -> u64 {
    let mut src =
        yagura_capture::file::open_paths(std::slice::from_ref(path)).expect("open capture");
    let mut n = 0;
    while let Some(b) = src.next_batch(4096).expect("read") {
        n += b.len() as u64;
    }
    n
}

fn bench(c: &mut Criterion) {
    let path = capture();
    let packets = count_packets(&path);
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.throughput(Throughput::Elements(packets));

    // The floor: iterate the records and touch each packet's first byte.
    g.bench_function("bare_loop", |b| {
        b.iter(|| {
            let mut src =
                yagura_capture::file::open_paths(std::slice::from_ref(&path)).expect("open");
            let mut acc = 0u64;
            while let Some(batch) = src.next_batch(2048).expect("read") {
                for p in batch.iter() {
                    acc = acc.wrapping_add(u64::from(p.data.first().copied().unwrap_or(0)));
                }
            }
            acc
        })
    });

    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut src =
                yagura_capture::file::open_paths(std::slice::from_ref(&path)).expect("open");
            let mut ok = 0u64;
            while let Some(batch) = src.next_batch(2048).expect("read") {
                for p in batch.iter() {
                    ok += u64::from(yagura_net::decode::decode(p.link, p.data).is_ok());
                }
            }
            ok
        })
    });

    // The whole pipeline; (`_no_dissectors`) the same up to protocol detection, which
    // shows what the application-protocol dissectors cost; (`_ot_core`) with only the five
    // industrial families of issue 3 dissected (Registry::OT_CORE).
    let only = yagura_dissect::Registry::OT_CORE;
    for (threads, dissect, only_dissectors) in [
        (1, true, None),
        (2, true, None),
        (1, false, None),
        (1, true, Some(only)),
    ] {
        let name = match (dissect, only_dissectors) {
            (true, None) => format!("analyze_{threads}_thread"),
            (true, Some(_)) => format!("analyze_{threads}_thread_ot_core"),
            (false, _) => format!("analyze_{threads}_thread_no_dissectors"),
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut src =
                    yagura_capture::file::open_paths(std::slice::from_ref(&path)).expect("open");
                let cfg = EngineConfig {
                    threads,
                    dissect,
                    only_dissectors,
                    ..EngineConfig::default()
                };
                let r = yagura_engine::run(
                    src.as_mut(),
                    &cfg,
                    &Progress::default(),
                    &AtomicBool::new(false),
                )
                .expect("analyze");
                r.capture.packets
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
