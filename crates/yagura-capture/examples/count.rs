//! Counts the records of capture files and reports the reading speed.
//!
//! `cargo run --release -p yagura-capture --example count -- [--loops N] [--batch N]
//! [--no-mmap] [--touch] PATH...` (prints packets, bytes, warnings and records/s; `--touch`
//! also reads the first byte of every packet, as a consumer would).

use std::path::PathBuf;
use std::time::Instant;

use yagura_capture::file::{OpenOptions, open_paths_with};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut loops = 1u32;
    let mut batch = 1024usize;
    let mut touch = false;
    let mut opts = OpenOptions::default();
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--loops" => loops = args.next().ok_or("--loops N")?.parse()?,
            "--batch" => batch = args.next().ok_or("--batch N")?.parse()?,
            "--no-mmap" => opts.mmap = false,
            "--touch" => touch = true,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let (mut records, mut sum) = (0u64, 0u64);
    let start = Instant::now();
    for _ in 0..loops {
        let mut src = open_paths_with(&paths, &opts)?;
        while let Some(b) = src.next_batch(batch)? {
            records += b.len() as u64;
            if touch {
                for p in b.iter() {
                    sum += u64::from(p.data.first().copied().unwrap_or(0));
                }
            }
        }
        for w in src.take_warnings() {
            eprintln!("warning: {w}");
        }
        let s = src.stats();
        if loops == 1 {
            println!(
                "packets {} bytes {} input {}/{:?}",
                s.packets, s.bytes, s.input_bytes_read, s.input_bytes_total
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{records} records in {secs:.3} s: {:.1} M records/s (checksum {sum})",
        records as f64 / secs / 1e6
    );
    Ok(())
}
