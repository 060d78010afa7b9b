//! The running sensor at scale (issue 4 §10): how much keeping the database up to date slows
//! packet processing when the sensor's state holds 50,000 assets and 500,000 edges, and what
//! the state costs in memory.
//!
//!     cargo run --release -p yagura --example sensor_scale
//!
//! A synthetic plant's traffic is generated in memory: `HOSTS` hosts (10.x.y.z, each with
//! its own MAC), each polling `PEERS` others over Modbus/TCP (port 502), one TCP connection
//! per pair, so `HOSTS × PEERS` conversations (edges). Frames are real Ethernet/IPv4/TCP
//! frames with checksums: a handshake, then Modbus read-holding-registers requests and
//! responses with consistent sequence numbers. They go through `yagura_engine::run_live`
//! from in-memory sources, one per worker (a worker owns its conversations, as a fanout
//! socket's flows), stamped with the wall clock as a live capture stamps them.
//!
//! Each run first sends every conversation once (handshake and one poll: the state then
//! holds every asset and edge), then polls every conversation again and again, as fast as
//! the workers go, for a fixed wall time; the steady phase is what is measured. A run is
//! either without database (no snapshots, as `yagura sensor` without `--db`), or as
//! `yagura sensor --db PATH --flush-every 1`: the sensor's own `Flusher`
//! (crates/yagura/src/flush.rs, compiled in here) asking for a snapshot every second (or less
//! often, as its flushes cost) and ingesting into SQLite in a temporary directory. Both kinds run with 1 and 2 workers, interleaved and repeated; the
//! table gives medians. Then three runs without database at different sizes give the
//! resident memory per asset and per edge.
//!
//! Each run is a child process of this program (its peak memory is its own). Settings, from
//! the environment:
//!
//! - `YAGURA_SCALE_HOSTS` (50000), `YAGURA_SCALE_PEERS` (10): the plant;
//! - `YAGURA_SCALE_SECONDS` (60): the steady phase of each run;
//! - `YAGURA_SCALE_REPEATS` (3), `YAGURA_SCALE_WORKERS` ("1,2");
//! - `YAGURA_SCALE_FLUSH_EVERY` (1): seconds, as `--flush-every`;
//! - `YAGURA_SCALE_MAX_FLOWS`: the engine's flow table (default: the engine's default or
//!   twice the conversations, whichever is larger, so that every connection stays open);
//! - `YAGURA_SCALE_MEMORY` (1): 0 skips the memory runs;
//! - `YAGURA_SCALE_PCAP=FILE`: only write a small plant's traffic (by default 20 hosts × 3
//!   peers; the build-up and two more polls of each conversation) to FILE, to check it.

#[path = "../src/flush.rs"]
#[allow(dead_code)]
mod flush;
// What the flusher runs at each flush (the detection engines) and its evidence buffer.
#[path = "../src/detection.rs"]
#[allow(dead_code)]
mod detection;
#[path = "../src/evidence.rs"]
#[allow(dead_code)]
mod evidence;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use yagura_capture::{Backing, CaptureError, PacketBatch, PacketSource, RecordMeta, SourceStats};
use yagura_core::{LinkType, Timestamp};
use yagura_engine::{EngineConfig, Progress, Report};
use yagura_model::fusion::build_detailed;
use yagura_store::{InventoryStore, RunInfo, SqliteStore};

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// The synthetic plant and its frames.

#[derive(Clone, Copy)]
struct Plant {
    hosts: usize,
    peers: usize,
}

impl Plant {
    fn conversations(&self) -> usize {
        self.hosts * self.peers
    }

    /// Conversation `c`: client `c / peers` polls its `c % peers`-th server. The servers of
    /// one client are spread over the plant and distinct (`hosts > peers`).
    fn endpoints(&self, c: usize) -> (usize, usize, usize) {
        let client = c / self.peers;
        let k = c % self.peers;
        let stride = (self.hosts / self.peers).max(1);
        (client, (client + 1 + k * stride) % self.hosts, k)
    }
}

fn mac(h: usize) -> [u8; 6] {
    // A Siemens OUI: the vendor lookup runs as for real devices.
    [0x00, 0x1b, 0x1b, (h >> 16) as u8, (h >> 8) as u8, h as u8]
}

fn ip(h: usize) -> [u8; 4] {
    let net = h / 250;
    [10, (net >> 8) as u8, net as u8, (h % 250 + 1) as u8]
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

const REQUEST_LEN: u32 = 12;
const RESPONSE_LEN: u32 = 13;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

/// Append the frame of conversation `c`, `round` (0: the first, with the handshake), `step`
/// (round 0: SYN, SYN-ACK, ACK, request, response; later rounds: request, response).
fn frame(out: &mut Vec<u8>, plant: &Plant, c: usize, round: u32, step: u8) {
    let (client, server, k) = plant.endpoints(c);
    let isn_c = mix(c as u64) as u32;
    let isn_s = mix(c as u64 ^ 0x5555_5555) as u32;
    let seq_c = |r: u32| {
        isn_c
            .wrapping_add(1)
            .wrapping_add(REQUEST_LEN.wrapping_mul(r))
    };
    let seq_s = |r: u32| {
        isn_s
            .wrapping_add(1)
            .wrapping_add(RESPONSE_LEN.wrapping_mul(r))
    };
    let what = if round == 0 { step } else { step + 3 };
    // (from client, seq, ack, flags)
    let (up, seq, ack, flags) = match what {
        0 => (true, isn_c, 0, SYN),
        1 => (false, isn_s, isn_c.wrapping_add(1), SYN | ACK),
        2 => (true, isn_c.wrapping_add(1), isn_s.wrapping_add(1), ACK),
        3 => (true, seq_c(round), seq_s(round), PSH_ACK),
        _ => (false, seq_s(round), seq_c(round + 1), PSH_ACK),
    };
    let tid = (round as u16).to_be_bytes();
    let mut payload = [0u8; 13];
    let payload: &[u8] = match what {
        3 => {
            let addr = (k as u16 * 16).to_be_bytes();
            payload[..12]
                .copy_from_slice(&[tid[0], tid[1], 0, 0, 0, 6, 1, 3, addr[0], addr[1], 0, 2]);
            &payload[..12]
        }
        4 => {
            let v = round.to_be_bytes();
            payload.copy_from_slice(&[tid[0], tid[1], 0, 0, 0, 7, 1, 3, 4, v[0], v[1], v[2], v[3]]);
            &payload[..]
        }
        _ => &[],
    };
    let (src, dst) = if up {
        (client, server)
    } else {
        (server, client)
    };
    let cport = (49152 + (c % 16000) as u16).to_be_bytes();
    let (sport, dport) = if up {
        (cport, 502u16.to_be_bytes())
    } else {
        (502u16.to_be_bytes(), cport)
    };
    let start = out.len();
    out.extend_from_slice(&mac(dst));
    out.extend_from_slice(&mac(src));
    out.extend_from_slice(&[0x08, 0x00]);
    let ip_at = out.len();
    let total = (20 + 20 + payload.len()) as u16;
    let id = (round as u16).wrapping_add(what as u16);
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
    out.extend_from_slice(&ip(src));
    out.extend_from_slice(&ip(dst));
    let ck = fold(sum16(&out[ip_at..ip_at + 20], 0)).to_be_bytes();
    out[ip_at + 10..ip_at + 12].copy_from_slice(&ck);
    let tcp_at = out.len();
    out.extend_from_slice(&sport);
    out.extend_from_slice(&dport);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ack.to_be_bytes());
    out.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    out.extend_from_slice(payload);
    let tcp_len = (out.len() - tcp_at) as u32;
    let pseudo = sum16(&out[ip_at + 12..ip_at + 20], 6 + tcp_len);
    let ck = fold(sum16(&out[tcp_at..], pseudo)).to_be_bytes();
    out[tcp_at + 16..tcp_at + 18].copy_from_slice(&ck);
    debug_assert!(out.len() - start >= 54);
}

// ---------------------------------------------------------------------------------------
// The in-memory capture source.

/// What a source tells the monitor.
#[derive(Default)]
struct SourceShared {
    /// Packets delivered so far.
    packets: AtomicU64,
    /// Every conversation of the source has been sent once.
    steady: AtomicBool,
    /// The worker thread reading it (Linux thread id), for its CPU time.
    tid: AtomicU64,
    /// The longest time the worker took between two batches in the steady phase (ns):
    /// one batch's processing, or a snapshot. A live capture's ring buffer must hold
    /// what arrives meanwhile.
    longest_gap: AtomicU64,
}

/// One worker's share of the plant's traffic, generated as it is read.
struct Synthetic {
    plant: Plant,
    /// This source's conversations are `me + n × j` for `j < count`.
    me: usize,
    n: usize,
    count: usize,
    /// Visits the conversations in a scattered order: `j = pos × step mod count`.
    step: usize,
    pos: usize,
    round: u32,
    packet: u8,
    shared: Arc<SourceShared>,
    /// When the last batch was handed over.
    handed: Option<Instant>,
}

impl Synthetic {
    fn new(plant: Plant, me: usize, n: usize, shared: Arc<SourceShared>) -> Synthetic {
        let total = plant.conversations();
        let count = total / n + usize::from(me < total % n);
        let gcd = |mut a: usize, mut b: usize| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let mut step = 7919;
        while count > 1 && gcd(step, count) != 1 {
            step += 2;
        }
        Synthetic {
            plant,
            me,
            n,
            count,
            step,
            pos: 0,
            round: 0,
            packet: 0,
            shared,
            handed: None,
        }
    }
}

impl PacketSource for Synthetic {
    fn next_batch(&mut self, max: usize) -> Result<Option<PacketBatch>, CaptureError> {
        if self.shared.tid.load(Ordering::Relaxed) == 0 {
            self.shared.tid.store(thread_id(), Ordering::Relaxed);
        }
        if let Some(t) = self.handed
            && self.round > 0
        {
            let gap = t.elapsed().as_nanos() as u64;
            self.shared.longest_gap.fetch_max(gap, Ordering::Relaxed);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut data = Vec::with_capacity(max * 68);
        let mut records = Vec::with_capacity(max);
        for i in 0..max {
            let j = self.pos * self.step % self.count;
            let c = self.me + self.n * j;
            let offset = data.len();
            frame(&mut data, &self.plant, c, self.round, self.packet);
            let len = (data.len() - offset) as u32;
            records.push(RecordMeta {
                ts: Timestamp(now + i as u64),
                offset,
                caplen: len,
                orig_len: len,
                link: LinkType::ETHERNET,
                backing: 0,
                route: 0,
            });
            self.packet += 1;
            if self.packet == if self.round == 0 { 5 } else { 2 } {
                self.packet = 0;
                self.pos += 1;
                if self.pos == self.count {
                    self.pos = 0;
                    self.round += 1;
                    self.shared.steady.store(true, Ordering::Relaxed);
                }
            }
        }
        self.shared
            .packets
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.handed = Some(Instant::now());
        Ok(Some(PacketBatch {
            backings: vec![Arc::new(Backing::Heap(data))],
            records,
            first_index: 0,
        }))
    }

    fn stats(&self) -> SourceStats {
        SourceStats::default()
    }
}

// ---------------------------------------------------------------------------------------
// Measurements from /proc (Linux).

/// The calling thread's id.
fn thread_id() -> u64 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds in a /proc stat line.
fn stat_cpu(stat: &str) -> f64 {
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 100.0
}

fn process_cpu() -> f64 {
    stat_cpu(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

fn thread_cpu(tid: u64) -> f64 {
    if tid == 0 {
        return 0.0;
    }
    stat_cpu(&std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default())
}

/// The thread named `name`, if any.
fn thread_named(name: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for e in dir.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            return e
                .file_name()
                .to_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
    }
    0
}

/// A field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let v = l.strip_prefix(field)?.strip_prefix(':')?;
            v.split_whitespace().next()?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn ingests(db: &std::path::Path) -> u64 {
    SqliteStore::open_existing(db)
        .ok()
        .and_then(|s| s.runs().ok())
        .and_then(|r| r.first().map(|r| r.ingests))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// One run (a child process).

fn run_one() -> anyhow::Result<()> {
    let plant = Plant {
        hosts: env_num("YAGURA_SCALE_HOSTS", 50_000.0) as usize,
        peers: env_num("YAGURA_SCALE_PEERS", 10.0) as usize,
    };
    anyhow::ensure!(plant.hosts > plant.peers, "hosts must outnumber peers");
    let workers = (env_num("YAGURA_SCALE_WORKERS", 1.0) as usize).max(1);
    let seconds = env_num("YAGURA_SCALE_SECONDS", 60.0);
    let with_db = env_num("YAGURA_SCALE_DB", 0.0) != 0.0;
    let flush_every = Duration::from_secs_f64(env_num("YAGURA_SCALE_FLUSH_EVERY", 1.0));
    let rss_base = status_bytes("VmRSS");

    let shared: Vec<Arc<SourceShared>> = (0..workers).map(|_| Arc::default()).collect();
    let sources: Vec<Box<dyn PacketSource>> = shared
        .iter()
        .enumerate()
        .map(|(me, s)| Box::new(Synthetic::new(plant, me, workers, Arc::clone(s))) as _)
        .collect();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("scale.db");
    let flusher = if with_db {
        Some(flush::Flusher::start(
            &db,
            RunInfo::sensor("scale0", yagura_store::now()),
            flush_every,
            // As `yagura sensor --db` without --learn-for on a new database: the engines
            // that need no baseline (no evidence buffer: alerts keep their evidence without
            // bytes).
            flush::Detection {
                learn_for: None,
                evidence: None,
            },
        )?)
    } else {
        None
    };
    let mut cfg = EngineConfig {
        threads: workers,
        ..EngineConfig::default()
    };
    let default_flows = cfg.flow_limits.max_flows;
    cfg.flow_limits.max_flows = env_num(
        "YAGURA_SCALE_MAX_FLOWS",
        default_flows.max(2 * plant.conversations()) as f64,
    ) as usize;

    let rounds = AtomicU64::new(0);
    let collector = AtomicU64::new(0);
    let offer = |r: Report| {
        if collector.load(Ordering::Relaxed) == 0 {
            collector.store(thread_id(), Ordering::Relaxed);
        }
        rounds.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = &flusher {
            f.offer(r);
        }
    };
    let on_request = flusher.as_ref().map(|f| yagura_engine::OnRequest {
        requests: f.requests(),
        deliver: &offer,
    });
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut m = BTreeMap::<&str, f64>::new();

    let report = std::thread::scope(|scope| {
        let monitor = scope.spawn(|| {
            let packets = || -> u64 {
                shared
                    .iter()
                    .map(|s| s.packets.load(Ordering::Relaxed))
                    .sum()
            };
            while !shared.iter().all(|s| s.steady.load(Ordering::Relaxed)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let cpu = |collector: u64| {
                let w: f64 = shared
                    .iter()
                    .map(|s| thread_cpu(s.tid.load(Ordering::Relaxed)))
                    .sum();
                (
                    process_cpu(),
                    w,
                    thread_cpu(collector),
                    thread_cpu(thread_named("yagura-flush")),
                )
            };
            let build_up = started.elapsed().as_secs_f64();
            let t0 = Instant::now();
            let p0 = packets();
            let r0 = rounds.load(Ordering::Relaxed);
            let i0 = if with_db { ingests(&db) } else { 0 };
            let c0 = cpu(collector.load(Ordering::Relaxed));
            let rss0 = status_bytes("VmRSS");
            // Packets per second, second by second.
            let mut per_second = Vec::new();
            let mut last = p0;
            while t0.elapsed().as_secs_f64() < seconds {
                std::thread::sleep(Duration::from_secs(1));
                let p = packets();
                per_second.push((p - last) as f64);
                last = p;
            }
            let elapsed = t0.elapsed().as_secs_f64();
            let p1 = packets();
            let c1 = cpu(collector.load(Ordering::Relaxed));
            let r1 = rounds.load(Ordering::Relaxed);
            let i1 = if with_db { ingests(&db) } else { 0 };
            let rss1 = status_bytes("VmRSS");
            stop.store(true, Ordering::Relaxed);
            per_second.sort_by(f64::total_cmp);
            let mut m = BTreeMap::new();
            m.insert("build_up_s", build_up);
            m.insert("window_s", elapsed);
            m.insert("rate", (p1 - p0) as f64 / elapsed);
            m.insert("rate_min_1s", per_second.first().copied().unwrap_or(0.0));
            m.insert("snapshots", (r1 - r0) as f64);
            m.insert("flushes", i1.saturating_sub(i0) as f64);
            m.insert("cpu_process", c1.0 - c0.0);
            m.insert("cpu_workers", c1.1 - c0.1);
            m.insert("cpu_collector", c1.2 - c0.2);
            m.insert("cpu_flusher", c1.3 - c0.3);
            m.insert("rss_start", rss0 as f64);
            m.insert("rss_end", rss1 as f64);
            m.insert(
                "longest_gap_s",
                shared
                    .iter()
                    .map(|s| s.longest_gap.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0) as f64
                    / 1e9,
            );
            m
        });
        let report =
            yagura_engine::run_live(sources, &cfg, &Progress::default(), &stop, on_request);
        let window = monitor.join().expect("monitor");
        (report, window)
    });
    let (report, window) = report;
    let report = report?;
    m.extend(window);
    m.insert("rss_base", rss_base as f64);
    m.insert("hosts", plant.hosts as f64);
    m.insert("edges", plant.conversations() as f64);
    m.insert("workers", workers as f64);
    m.insert("db", f64::from(u8::from(with_db)));
    m.insert("max_flows", cfg.flow_limits.max_flows as f64);
    m.insert("packets_total", report.capture.packets as f64);
    if let Some(f) = flusher {
        let t = Instant::now();
        let built = build_detailed(&report);
        let o = f.finish(&report, &built)?;
        m.insert("final_flush_s", t.elapsed().as_secs_f64());
        m.insert("ingests_total", o.ingests as f64);
        m.insert("inventory_assets", o.assets as f64);
        m.insert("inventory_edges", o.edges as f64);
        let size = |suffix: &str| {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p).map_or(0, |m| m.len())
        };
        m.insert("db_bytes", (size("") + size("-wal")) as f64);
    }
    m.insert("cpu_total", process_cpu());
    m.insert("wall_total", started.elapsed().as_secs_f64());
    m.insert("rss_peak", status_bytes("VmHWM") as f64);
    let line: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The driver: runs the children and prints the tables.

type Result1 = BTreeMap<String, f64>;

fn child(vars: &[(&str, String)]) -> anyhow::Result<Result1> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.env("YAGURA_SCALE_CHILD", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "a run failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(line
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn mib(b: f64) -> String {
    format!("{:.0} MiB", b / (1024.0 * 1024.0))
}

/// Write the build-up and two steady rounds of a plant to a pcap file, to check the frames
/// with `yagura analyze` or Wireshark.
fn write_pcap(path: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let plant = Plant {
        hosts: env_num("YAGURA_SCALE_HOSTS", 20.0) as usize,
        peers: env_num("YAGURA_SCALE_PEERS", 3.0) as usize,
    };
    anyhow::ensure!(plant.hosts > plant.peers, "hosts must outnumber peers");
    let mut src = Synthetic::new(plant, 0, 1, Arc::default());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    // Microsecond pcap, Ethernet.
    out.write_all(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    let mut left = plant.conversations() * (5 + 2 + 2);
    while left > 0 {
        let b = src.next_batch(left.min(1024))?.expect("endless");
        left -= b.len();
        for i in 0..b.len() {
            let p = b.get(i);
            out.write_all(&((p.ts.0 / 1_000_000_000) as u32).to_le_bytes())?;
            out.write_all(&((p.ts.0 / 1000 % 1_000_000) as u32).to_le_bytes())?;
            out.write_all(&(p.data.len() as u32).to_le_bytes())?;
            out.write_all(&(p.data.len() as u32).to_le_bytes())?;
            out.write_all(p.data)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("YAGURA_SCALE_CHILD").is_some() {
        return run_one();
    }
    if let Ok(path) = std::env::var("YAGURA_SCALE_PCAP") {
        return write_pcap(&path);
    }
    let get = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let hosts = get("YAGURA_SCALE_HOSTS", "50000");
    let peers = get("YAGURA_SCALE_PEERS", "10");
    let seconds = get("YAGURA_SCALE_SECONDS", "60");
    let repeats = env_num("YAGURA_SCALE_REPEATS", 3.0) as usize;
    let workers: Vec<String> = get("YAGURA_SCALE_WORKERS", "1,2")
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let mut common = vec![
        ("YAGURA_SCALE_HOSTS", hosts.clone()),
        ("YAGURA_SCALE_PEERS", peers.clone()),
        ("YAGURA_SCALE_SECONDS", seconds.clone()),
        (
            "YAGURA_SCALE_FLUSH_EVERY",
            get("YAGURA_SCALE_FLUSH_EVERY", "1"),
        ),
    ];
    if let Ok(f) = std::env::var("YAGURA_SCALE_MAX_FLOWS") {
        common.push(("YAGURA_SCALE_MAX_FLOWS", f));
    }
    eprintln!(
        "sensor_scale: {hosts} hosts × {peers} peers, {seconds} s steady phase, {repeats} repeats, workers {workers:?}"
    );
    // (workers, db) → results, in run order.
    let mut results: BTreeMap<(String, u8), Vec<Result1>> = BTreeMap::new();
    for rep in 0..repeats {
        for w in &workers {
            // Alternate which kind goes first, so that neither always follows the other.
            let order: [u8; 2] = if rep % 2 == 0 { [0, 1] } else { [1, 0] };
            for db in order {
                let mut vars = common.clone();
                vars.push(("YAGURA_SCALE_WORKERS", w.clone()));
                vars.push(("YAGURA_SCALE_DB", db.to_string()));
                let r = child(&vars)?;
                eprintln!(
                    "  run {}: {w} worker(s), {}: {:.0} packets/s steady, {} flushes, load {}",
                    rep + 1,
                    if db == 1 { "database" } else { "no database" },
                    r["rate"],
                    r.get("flushes").copied().unwrap_or(0.0),
                    std::fs::read_to_string("/proc/loadavg")
                        .unwrap_or_default()
                        .split_whitespace()
                        .next()
                        .unwrap_or("?")
                );
                results.entry((w.clone(), db)).or_default().push(r);
            }
        }
    }

    println!();
    println!(
        "Steady phase, medians of {repeats} runs ({hosts} hosts, {peers} peers each: {} edges)",
        hosts.parse::<usize>().unwrap_or(0) * peers.parse::<usize>().unwrap_or(0)
    );
    println!(
        "| workers | database | packets/s | slowdown (packets/s) | process CPU ns/packet | slowdown (CPU/packet) | worst 1 s (packets) | longest worker pause (s) | snapshots | flushes | CPU s: workers | collector | flusher | process | peak RSS | database |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for w in &workers {
        let off = &results[&(w.clone(), 0)];
        let on = &results[&(w.clone(), 1)];
        // Runs of a repeat are adjacent: compare them pairwise. The wall-clock rate counts
        // what the other processes of a shared machine take; the CPU time of this process
        // per packet does not (on a sensor whose cores are all busy, it sets the rate).
        let cpp = |r: &Result1| r["cpu_process"] / (r["rate"] * r["window_s"]);
        let pairs = |f: &dyn Fn(&Result1, &Result1) -> f64| -> Vec<f64> {
            off.iter().zip(on).map(|(a, b)| f(a, b)).collect()
        };
        let by_rate = pairs(&|a, b| 1.0 - b["rate"] / a["rate"]);
        let by_cpu = pairs(&|a, b| 1.0 - cpp(a) / cpp(b));
        let show = |v: &[f64]| {
            format!(
                "{:.1} % ({})",
                100.0 * median(v.to_vec()),
                v.iter()
                    .map(|s| format!("{:.1}", 100.0 * s))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        for (db, rs) in [(0u8, off), (1, on)] {
            let med = |k: &str| median(rs.iter().filter_map(|r| r.get(k).copied()).collect());
            let (slow_rate, slow_cpu) = if db == 1 {
                (show(&by_rate), show(&by_cpu))
            } else {
                ("-".into(), "-".into())
            };
            println!(
                "| {w} | {} | {:.0} | {slow_rate} | {:.0} | {slow_cpu} | {:.0} | {:.2} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
                if db == 1 { "yes" } else { "no" },
                med("rate"),
                1e9 * median(rs.iter().map(cpp).collect()),
                med("rate_min_1s"),
                med("longest_gap_s"),
                med("snapshots"),
                med("flushes"),
                med("cpu_workers"),
                med("cpu_collector"),
                med("cpu_flusher"),
                med("cpu_process"),
                mib(med("rss_peak")),
                if db == 1 {
                    mib(med("db_bytes"))
                } else {
                    "-".into()
                },
            );
        }
    }
    let all: Vec<&Result1> = results.values().flatten().collect();
    let m = |k: &str| median(all.iter().filter_map(|r| r.get(k).copied()).collect());
    let on: Vec<&Result1> = results
        .iter()
        .filter(|((_, db), _)| *db == 1)
        .flat_map(|(_, v)| v)
        .collect();
    let mon = |k: &str| median(on.iter().filter_map(|r| r.get(k).copied()).collect());
    println!();
    println!(
        "build-up (every conversation once): {:.1} s; final build and ingest at stop: {:.1} s; ingests per run: {:.0}",
        m("build_up_s"),
        mon("final_flush_s"),
        mon("ingests_total")
    );

    if env_num("YAGURA_SCALE_MEMORY", 1.0) != 0.0 {
        // Resident memory of the state: RSS ≈ base + a × hosts + e × edges, from three
        // sizes without database (no flush copies), one worker, after the build-up.
        let h: f64 = hosts.parse().unwrap_or(50_000.0);
        let p: f64 = peers.parse().unwrap_or(10.0);
        let sizes = [(h, p), (h, p / 2.0), (h / 2.0, p * 2.0)];
        let mut rss = Vec::new();
        for (hh, pp) in sizes {
            let mut vars = common.clone();
            vars.retain(|(k, _)| {
                !k.starts_with("YAGURA_SCALE_HOSTS") && *k != "YAGURA_SCALE_PEERS"
            });
            vars.retain(|(k, _)| *k != "YAGURA_SCALE_SECONDS");
            vars.push(("YAGURA_SCALE_HOSTS", format!("{}", hh as usize)));
            vars.push(("YAGURA_SCALE_PEERS", format!("{}", pp as usize)));
            vars.push(("YAGURA_SCALE_SECONDS", "5".into()));
            vars.push(("YAGURA_SCALE_WORKERS", "1".into()));
            vars.push(("YAGURA_SCALE_DB", "0".into()));
            let r = child(&vars)?;
            rss.push((r["hosts"], r["edges"], r["rss_end"], r["rss_base"]));
        }
        let per_edge = (rss[0].2 - rss[1].2) / (rss[0].1 - rss[1].1);
        let per_asset =
            (rss[0].2 - rss[2].2 - per_edge * (rss[0].1 - rss[2].1)) / (rss[0].0 - rss[2].0);
        println!();
        println!(
            "Resident memory of the running sensor's state (1 worker, no database, after the build-up):"
        );
        println!("| hosts | edges | RSS | RSS before any traffic |");
        println!("|---|---|---|---|");
        for (hh, e, r, b) in &rss {
            println!("| {hh} | {e} | {} | {} |", mib(*r), mib(*b));
        }
        println!(
            "per edge (open TCP connection, its flow and its aggregate): {per_edge:.0} bytes; per asset: {per_asset:.0} bytes"
        );
    }
    Ok(())
}
