//! The whole pipeline: a capture through `yagura_engine::run` (one thread), decode →
//! defragment → flows → reassembly → detection → dissectors → report, with small limits so
//! eviction and caps are reached. It must end with a report or an error, and the report must
//! serialise.
//!
//! Input: `[mode, …]`. `mode` bit 0 clear: the rest is a capture file as is. Set: the rest is
//! `[link (2), records…]` wrapped into a classic pcap file, which reaches the engine far more
//! often than fuzzed file headers do:
//! - `link`: if the first byte's high bit is clear, one of the decodable link types (first
//!   byte mod 10), else the two bytes (BE, high bit cleared) as any link type;
//! - each record `[dt, len, frame (len)…]`: the clock advances by `dt & 0x3f` × 100 ms, and
//!   bit 6 of `dt` marks the frame as cut by the snap length (orig_len = len + 100).
//!
//! `mode` bit 1: default limits instead of small ones, and a second run on two threads must
//! give the same report (the engine promises reports independent of the thread count, except
//! for which flows a full table evicts); bits 2–3 both set: write the events file too;
//! bits 4–7: batch size − 1.
#![no_main]

use std::sync::atomic::AtomicBool;

use libfuzzer_sys::fuzz_target;
use yagura_capture::file::{FileSource, OpenOptions};
use yagura_engine::{EngineConfig, Progress};
use yagura_net::defrag::DefragLimits;
use yagura_net::flow::FlowLimits;
use yagura_net::reassembly::ReassemblyLimits;

mod common;

/// A classic little-endian µs pcap file from the wrapped input.
fn wrap(rest: &[u8]) -> Vec<u8> {
    let [l0, l1, recs @ ..] = rest else {
        return Vec::new();
    };
    let mut recs = recs;
    let link = if l0 & 0x80 == 0 {
        common::DECODABLE[usize::from(*l0) % common::DECODABLE.len()].0
    } else {
        u16::from_be_bytes([l0 & 0x7f, *l1])
    };
    let mut out = Vec::with_capacity(24 + rest.len() * 2);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&u32::from(link).to_le_bytes());
    let mut t_us: u64 = 1_600_000_000_000_000;
    while let [dt, len, tail @ ..] = recs {
        let n = usize::from(*len).min(tail.len());
        let (frame, next) = tail.split_at(n);
        recs = next;
        t_us += u64::from(dt & 0x3f) * 100_000;
        let orig = if dt & 0x40 != 0 { n + 100 } else { n };
        out.extend_from_slice(&((t_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&(orig as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// The report as JSON and the flows evicted, or the error message.
fn run(source: &mut FileSource, cfg: &EngineConfig) -> Result<(Vec<u8>, u64), String> {
    let stop = AtomicBool::new(false);
    match yagura_engine::run(source, cfg, &Progress::default(), &stop) {
        Ok(report) => {
            let json = serde_json::to_vec(&report).expect("the report serialises");
            Ok((json, report.pipeline.flows_evicted))
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
            Err(msg)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        wrap(rest)
    };
    let Ok(mut source) = FileSource::from_bytes("fuzz", file.clone(), &OpenOptions::default())
    else {
        return;
    };
    let mut cfg = EngineConfig {
        threads: 1,
        batch_size: 1 + usize::from(mode >> 4),
        ..Default::default()
    };
    if mode & 2 == 0 {
        cfg.flow_limits = FlowLimits {
            max_flows: 4,
            ..FlowLimits::default()
        };
        cfg.reassembly = ReassemblyLimits {
            max_ooo_segments: 4,
            max_ooo_bytes: 1024,
            global_bytes: 2048,
            max_window: 1 << 16,
        };
        cfg.defrag = DefragLimits {
            max_datagrams: 4,
            max_bytes: 4096,
            timeout_ns: 2_000_000_000,
            max_fragments: 8,
        };
    }
    let events = std::env::temp_dir().join(format!("yagura-fuzz-{}.jsonl", std::process::id()));
    if mode & 0x0c == 0x0c {
        cfg.events = Some(events.clone());
    }
    let one = run(&mut source, &cfg);
    if cfg.events.is_some() {
        let _ = std::fs::remove_file(&events);
    }
    if mode & 2 != 0 && cfg.events.is_none() {
        let mut again = FileSource::from_bytes("fuzz", file, &OpenOptions::default())
            .expect("opened the first time");
        let two = run(&mut again, &EngineConfig { threads: 2, ..cfg });
        match (&one, &two) {
            (Ok((j1, evicted)), Ok((j2, _))) if *evicted == 0 => {
                if j1 != j2 {
                    panic!(
                        "reports differ with 2 threads:\n{}\n{}",
                        String::from_utf8_lossy(j1),
                        String::from_utf8_lossy(j2)
                    );
                }
            }
            (Ok(_), Ok(_)) => {}
            (Err(a), Err(b)) => assert_eq!(a, b),
            _ => panic!("one thread: {one:?}, two threads: {two:?}"),
        }
    }
});
