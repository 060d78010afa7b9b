//! Run the engine once over a capture on one thread, for instruction-level profiling
//! (callgrind counts instructions exactly, so runs compare without the VM's drift):
//!
//!     cargo build --release -p yagura-engine --example profile_run
//!     valgrind --tool=callgrind target/release/examples/profile_run CAPTURE [all|ot-core|none]
//!
//! `all` (default) dissects everything, `ot-core` only the five families of issue 3,
//! `none` stops at protocol detection. Prints the packet count. `YAGURA_NO_MMAP=1` reads the
//! file in chunks instead of mapping it (`YAGURA_CHUNK_KIB` their size), to compare the two
//! readers (`perf stat -r 5 -e task-clock …`). `YAGURA_THREADS=N` runs N workers,
//! `YAGURA_BATCH=N` reads N records per batch.

use std::sync::atomic::AtomicBool;

use yagura_dissect::Registry;
use yagura_engine::{EngineConfig, Progress};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: profile_run CAPTURE [all|ot-core|none]")?,
    );
    let (dissect, only_dissectors) = match args.next().as_deref() {
        None | Some("all") => (true, None),
        Some("ot-core") => (true, Some(Registry::OT_CORE)),
        Some("none") => (false, None),
        Some(other) => return Err(format!("unknown mode {other:?}").into()),
    };
    let cfg = EngineConfig {
        // YAGURA_THREADS=N: N workers (default 1).
        threads: std::env::var("YAGURA_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        dissect,
        only_dissectors,
        // YAGURA_BATCH=N: records per batch (default: the engine's).
        batch_size: std::env::var("YAGURA_BATCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(EngineConfig::default().batch_size),
        ..EngineConfig::default()
    };
    // YAGURA_NO_MMAP=1: stream the file in chunks instead of mapping it.
    let opts = yagura_capture::file::OpenOptions {
        mmap: std::env::var_os("YAGURA_NO_MMAP").is_none(),
        chunk_size: std::env::var("YAGURA_CHUNK_KIB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(yagura_capture::file::DEFAULT_CHUNK_SIZE, |k| k * 1024),
    };
    let mut src = yagura_capture::file::open_paths_with(std::slice::from_ref(&path), &opts)?;
    let report = yagura_engine::run(
        src.as_mut(),
        &cfg,
        &Progress::default(),
        &AtomicBool::new(false),
    )?;
    println!("{}", report.capture.packets);
    Ok(())
}
