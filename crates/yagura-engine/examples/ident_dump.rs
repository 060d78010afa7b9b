// Temporary (untracked): dump the report JSON for output comparisons.
use std::sync::atomic::AtomicBool;
use yagura_engine::{EngineConfig, Progress};
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().unwrap());
    let threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(1);
    let cfg = EngineConfig {
        threads,
        ..EngineConfig::default()
    };
    let mut src = yagura_capture::file::open_paths_with(
        std::slice::from_ref(&path),
        &yagura_capture::file::OpenOptions::default(),
    )?;
    let mut report = yagura_engine::run(
        src.as_mut(),
        &cfg,
        &Progress::default(),
        &AtomicBool::new(false),
    )?;
    let _ = &mut report;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
