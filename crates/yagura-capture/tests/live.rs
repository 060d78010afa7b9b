//! Live capture end to end: a veth pair whose far end sits in a network namespace we create,
//! a corpus capture replayed into that end with tcpreplay, and the sensor on the near end.
//! Needs root, iproute2 and tcpreplay; without them the tests say SKIPPED and pass.
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use yagura_capture::live::{LiveConfig, open_live};
use yagura_capture::{PacketSource, SourceStats};
use yagura_core::LinkType;

const CORPUS_FILE: &str = "shared/corpus/pcap/modbus/zeek__modbusSmall.pcap";
const DEADLINE: Duration = Duration::from_secs(10);
/// Wait this long after the expected count arrived, to catch packets that should not come.
const SETTLE: Duration = Duration::from_millis(400);

static PAIR_SEQ: AtomicU32 = AtomicU32::new(0);

/// Why these tests cannot run here, if they cannot.
#[allow(unsafe_code)]
fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for (tool, arg) in [("ip", "-V"), ("tcpreplay", "-V")] {
        if Command::new(tool).arg(arg).output().is_err() {
            return Some(format!("`{tool}` not found"));
        }
    }
    None
}

fn skip(why: &str) {
    eprintln!("SKIPPED: live capture test needs root and iproute2+tcpreplay ({why})");
}

/// The corpus capture, looked for in `shared/` beside the repository (or `$YAGURA_SHARED`).
fn corpus_file() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("YAGURA_SHARED") {
        let p = Path::new(&dir).join(CORPUS_FILE.trim_start_matches("shared/"));
        return p.is_file().then_some(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join(CORPUS_FILE))
        .find(|p| p.is_file())
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A veth pair with its far end in a fresh namespace; both are deleted on drop.
struct VethPair {
    ns: String,
    host: String,
    peer: String,
}

impl VethPair {
    fn create() -> Result<VethPair, String> {
        let pid = std::process::id() % 100_000;
        let n = PAIR_SEQ.fetch_add(1, Ordering::Relaxed);
        let pair = VethPair {
            ns: format!("ygr-test-{pid}-{n}"),
            host: format!("ygh{pid}x{n}"),
            peer: format!("ygp{pid}x{n}"),
        };
        // `pair` exists from here on, so whatever is created below is removed on failure.
        run("ip", &["netns", "add", &pair.ns])?;
        run(
            "ip",
            &[
                "link", "add", &pair.host, "type", "veth", "peer", "name", &pair.peer,
            ],
        )?;
        run("ip", &["link", "set", &pair.peer, "netns", &pair.ns])?;
        // No IPv6 (router solicitations, MLD) and no ARP on either end: the only traffic is
        // what tcpreplay sends, and the host end has no reason to transmit anything.
        let host_v6 = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", pair.host);
        if Path::new(&host_v6).exists() {
            std::fs::write(&host_v6, "1").map_err(|e| format!("{host_v6}: {e}"))?;
        }
        let peer_v6 = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", pair.peer);
        let script = format!("[ ! -e {peer_v6} ] || echo 1 > {peer_v6}");
        run("ip", &["netns", "exec", &pair.ns, "sh", "-c", &script])?;
        run("ip", &["link", "set", &pair.host, "arp", "off", "up"])?;
        run(
            "ip",
            &[
                "netns", "exec", &pair.ns, "ip", "link", "set", &pair.peer, "arp", "off", "up",
            ],
        )?;
        let operstate = format!("/sys/class/net/{}/operstate", pair.host);
        let t0 = Instant::now();
        while std::fs::read_to_string(&operstate)
            .map(|s| s.trim() != "up")
            .unwrap_or(true)
        {
            if t0.elapsed() > Duration::from_secs(5) {
                return Err(format!("{} did not come up", pair.host));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(pair)
    }

    fn tx_packets(&self) -> u64 {
        let p = format!("/sys/class/net/{}/statistics/tx_packets", self.host);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Replays `file` into the namespace end, as fast as possible.
    fn replay(&self, file: &Path) {
        let file = file.to_str().unwrap();
        let args = [
            "netns",
            "exec",
            &self.ns,
            "tcpreplay",
            "-q",
            "--topspeed",
            "-i",
            &self.peer,
            file,
        ];
        run("ip", &args).unwrap();
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting the namespace destroys the peer and with it the host end; delete the host
        // end explicitly too in case the peer never got moved.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// The packets of a little-endian or big-endian, µs or ns pcap file: (bytes, orig_len).
fn read_pcap(path: &Path) -> Vec<(Vec<u8>, u32)> {
    let data = std::fs::read(path).unwrap();
    let magic: [u8; 4] = data[..4].try_into().unwrap();
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a pcap file", path.display()),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = data[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), 1, "expected an Ethernet capture");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let (incl, orig) = (u32_at(off + 8) as usize, u32_at(off + 12));
        out.push((data[off + 16..off + 16 + incl].to_vec(), orig));
        off += 16 + incl;
    }
    out
}

/// A packet as the sensor saw it.
struct Seen {
    worker: usize,
    data: Vec<u8>,
    orig_len: u32,
    link: LinkType,
}

/// What one capture run produced.
struct Run {
    seen: Vec<Seen>,
    stats: Vec<SourceStats>,
    tx_before: u64,
    tx_after: u64,
}

/// Opens the sensor on a fresh veth pair, replays `file` into it and collects what arrives
/// until `expected` packets came (plus a settling time) or the deadline passed. An error means
/// the test network could not be set up.
fn capture(
    file: &Path,
    expected: usize,
    tune: impl FnOnce(&mut LiveConfig),
) -> Result<Run, String> {
    let pair = VethPair::create()?;
    let mut cfg = LiveConfig {
        workers: 2,
        // A small ring keeps the test light; the code paths are the same.
        block_size: 1 << 20,
        block_count: 8,
        poll_timeout_ms: 50,
        ..LiveConfig::new(&pair.host)
    };
    tune(&mut cfg);

    let tx_before = pair.tx_packets();
    let sources = open_live(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sources.len(), cfg.workers);
    let stop = sources[0].stop_handle();
    let count = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = sources
        .into_iter()
        .map(|mut src| {
            let count = Arc::clone(&count);
            thread::spawn(move || {
                let worker = src.worker();
                let mut seen = Vec::new();
                while let Some(batch) = src.next_batch(64).unwrap() {
                    assert!(batch.len() <= 64);
                    assert_eq!(
                        batch.first_index,
                        seen.len() as u64,
                        "first_index counts this source's packets"
                    );
                    for p in batch.iter() {
                        seen.push(Seen {
                            worker,
                            data: p.data.to_vec(),
                            orig_len: p.orig_len,
                            link: p.link,
                        });
                    }
                    count.fetch_add(batch.len(), Ordering::Relaxed);
                }
                (seen, src.stats())
            })
        })
        .collect();

    pair.replay(file);
    let t0 = Instant::now();
    while count.load(Ordering::Relaxed) < expected && t0.elapsed() < DEADLINE {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(SETTLE);
    stop.store(true, Ordering::Relaxed);

    let mut seen = Vec::new();
    let mut stats = Vec::new();
    for r in readers {
        let (s, st) = r.join().expect("reader thread panicked");
        seen.extend(s);
        stats.push(st);
    }
    let tx_after = pair.tx_packets();
    Ok(Run {
        seen,
        stats,
        tx_before,
        tx_after,
    })
}

/// A direction-free key of a TCP/UDP-over-IPv4 packet's flow.
fn flow_key(frame: &[u8]) -> Option<[u8; 13]> {
    if frame.len() < 14 + 20 + 4 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let proto = ip[9];
    if proto != 6 && proto != 17 {
        return None;
    }
    let l4 = &ip[usize::from(ip[0] & 0x0f) * 4..];
    let a: [u8; 6] = [&ip[12..16], &l4[0..2]].concat().try_into().ok()?;
    let b: [u8; 6] = [&ip[16..20], &l4[2..4]].concat().try_into().ok()?;
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut key = [0u8; 13];
    key[..6].copy_from_slice(&lo);
    key[6..12].copy_from_slice(&hi);
    key[12] = proto;
    Some(key)
}

/// Whether a frame is TCP to or from port 502 (IPv4 first fragment, or IPv6 with no
/// extension header): what `tcp port 502` selects in this corpus.
fn is_modbus_tcp(frame: &[u8]) -> bool {
    let port502 = |l4: &[u8]| l4.len() >= 4 && (l4[0..2] == [1, 246] || l4[2..4] == [1, 246]);
    match frame.get(12..14) {
        Some([0x08, 0x00]) if frame.len() >= 34 => {
            let ip = &frame[14..];
            let first_fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff == 0;
            ip[9] == 6 && first_fragment && port502(&ip[usize::from(ip[0] & 0x0f) * 4..])
        }
        Some([0x86, 0xdd]) if frame.len() >= 54 => frame[20] == 6 && port502(&frame[54..]),
        _ => false,
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn check_common(run: &Run) {
    assert_eq!(
        run.tx_after,
        run.tx_before,
        "the sensor's interface transmitted {} packet(s)",
        run.tx_after - run.tx_before
    );
    for st in &run.stats {
        assert_eq!(st.kernel_drops, 0);
        assert_eq!(st.internal_drops, 0);
    }
    let delivered: u64 = run.stats.iter().map(|s| s.packets).sum();
    assert_eq!(delivered, run.seen.len() as u64);
    assert!(run.seen.iter().all(|s| s.link == LinkType::ETHERNET));
    // Both directions of every flow went to one worker.
    let mut owner = HashMap::new();
    for s in &run.seen {
        if let Some(key) = flow_key(&s.data) {
            let w = *owner.entry(key).or_insert(s.worker);
            assert_eq!(w, s.worker, "a flow was split across workers");
        }
    }
}

#[test]
fn captures_exactly_the_replayed_packets() {
    if let Some(why) = skip_reason() {
        return skip(&why);
    }
    let Some(file) = corpus_file() else {
        return skip(&format!("{CORPUS_FILE} not found"));
    };
    let want = read_pcap(&file);
    assert_eq!(want.len(), 166);
    let run = match capture(&file, want.len(), |_| {}) {
        Ok(run) => run,
        Err(e) => return skip(&e),
    };
    check_common(&run);

    assert_eq!(run.seen.len(), want.len(), "packet count");
    let got = sorted(
        run.seen
            .iter()
            .map(|s| (s.data.clone(), s.orig_len))
            .collect(),
    );
    assert!(
        got == sorted(want),
        "the captured packets differ from the file's"
    );
    let per_worker: Vec<usize> = (0..2)
        .map(|w| run.seen.iter().filter(|s| s.worker == w).count())
        .collect();
    eprintln!("packets per worker: {per_worker:?}");
}

#[test]
fn applies_the_filter_and_snaplen() {
    if let Some(why) = skip_reason() {
        return skip(&why);
    }
    let Some(file) = corpus_file() else {
        return skip(&format!("{CORPUS_FILE} not found"));
    };
    const SNAPLEN: usize = 64;
    let all = read_pcap(&file);
    let want: Vec<_> = all
        .iter()
        .filter(|(d, _)| is_modbus_tcp(d))
        .map(|(d, orig)| (d[..d.len().min(SNAPLEN)].to_vec(), *orig))
        .collect();
    assert!(
        !want.is_empty() && want.len() < all.len(),
        "the corpus should have both kinds"
    );
    let run = match capture(&file, want.len(), |cfg| {
        cfg.filter = Some("tcp port 502".into());
        cfg.snaplen = SNAPLEN as u32;
    }) {
        Ok(run) => run,
        Err(e) => return skip(&e),
    };
    check_common(&run);

    assert_eq!(run.seen.len(), want.len(), "packet count");
    assert!(run.seen.iter().all(|s| s.data.len() <= SNAPLEN));
    let got = sorted(
        run.seen
            .iter()
            .map(|s| (s.data.clone(), s.orig_len))
            .collect(),
    );
    assert!(
        got == sorted(want),
        "the captured packets differ from the file's matching ones"
    );
}

#[test]
fn survives_the_link_going_down_and_reports_its_removal() {
    if let Some(why) = skip_reason() {
        return skip(&why);
    }
    let Some(file) = corpus_file() else {
        return skip(&format!("{CORPUS_FILE} not found"));
    };
    let want = read_pcap(&file).len();
    let pair = match VethPair::create() {
        Ok(pair) => pair,
        Err(e) => return skip(&e),
    };
    let cfg = LiveConfig {
        block_size: 1 << 20,
        block_count: 4,
        poll_timeout_ms: 20,
        ..LiveConfig::new(&pair.host)
    };
    let mut src = open_live(&cfg).unwrap().pop().unwrap();

    run("ip", &["link", "set", &pair.host, "down"]).unwrap();
    for _ in 0..3 {
        assert!(src.next_batch(256).unwrap().unwrap().is_empty());
    }
    let warnings = src.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("went down"));

    run("ip", &["link", "set", &pair.host, "up"]).unwrap();
    let operstate = format!("/sys/class/net/{}/operstate", pair.host);
    let t0 = Instant::now();
    while std::fs::read_to_string(&operstate).unwrap().trim() != "up" && t0.elapsed() < DEADLINE {
        thread::sleep(Duration::from_millis(20));
    }
    pair.replay(&file);
    let mut got = 0;
    let t0 = Instant::now();
    while got < want && t0.elapsed() < DEADLINE {
        got += src.next_batch(256).unwrap().unwrap().len();
    }
    assert_eq!(got, want, "capture resumed after the link came back");

    run("ip", &["link", "del", &pair.host]).unwrap();
    let t0 = Instant::now();
    let err = loop {
        match src.next_batch(256) {
            Err(e) => break e.to_string(),
            Ok(b) => assert!(b.is_some_and(|b| b.is_empty())),
        }
        assert!(
            t0.elapsed() < DEADLINE,
            "no error after the interface was deleted"
        );
    };
    assert!(err.contains("removed"), "{err}");
    drop(pair);
}
