//! The fidelity harness shared by `tests/fidelity_<protocol>.rs`: Yagura's events for a
//! capture of the corpus next to tshark's dissection of the same file, compared PDU by PDU
//! within each frame.
//!
//! How a protocol test uses it:
//! 1. pick the corpus captures ([`captures_with`] on MANIFEST.tsv's `protocols` column);
//! 2. per capture, turn Yagura's events ([`yagura_events`]) and tshark's fields
//!    ([`tshark`]) into one *key* string per PDU, grouped by frame number (the frame that
//!    completes a reassembled PDU, in both tools), e.g. `"fc=3 tid=7 unit=1"`;
//! 3. feed both to an [`Agreement`] and assert it reaches the bar; every
//!    disagreement is printed with its capture and frame, and each one must be explained in
//!    docs/fidelity.md (or listed in the test as a documented exception).
//!
//! tshark must be installed (`.ci/run` installs it); without it the tests fail, unless
//! `YAGURA_SKIP_TSHARK=1` is set, in which case they print SKIPPED and pass.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

pub use serde_json::{Map, Value};

// Each `tests/fidelity_*.rs` binary uses some of these.
#[allow(unused_imports)]
pub use yagura_testkit::{TsharkRow as Row, captures_with, tshark_available};

/// The shared corpus (`../shared/corpus` beside the repository, or `$YAGURA_CORPUS`).
pub fn corpus() -> PathBuf {
    yagura_testkit::corpus_dir()
}

/// One event line of Yagura's `--events` output.
pub type Event = Map<String, Value>;

/// Run Yagura's engine over `capture` (one thread) and return its events, in order. Each
/// carries `packet`, the 1-based frame number of the packet that completed the PDU.
pub fn yagura_events(capture: &Path) -> Vec<Event> {
    let out = tempfile::NamedTempFile::new().expect("temporary file");
    let mut src = yagura_capture::file::open_paths(&[capture.to_path_buf()]).expect("open");
    let cfg = yagura_engine::EngineConfig {
        threads: 1,
        events: Some(out.path().to_path_buf()),
        ..Default::default()
    };
    yagura_engine::run(
        src.as_mut(),
        &cfg,
        &yagura_engine::Progress::default(),
        &AtomicBool::new(false),
    )
    .expect("analyze");
    std::fs::read_to_string(out.path())
        .expect("events file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line is JSON"))
        .collect()
}

/// A field of an event as a string (`""` when absent or null): numbers in decimal, strings
/// as they are.
pub fn field(e: &Event, name: &str) -> String {
    match e.get(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Run `tshark -n -r capture -Y filter -T fields -e frame.number -e <fields>…` (all
/// occurrences, `extra` options added, e.g. `["-o", "s7comm.reassemble:TRUE"]` or
/// `["-d", "tcp.port==20001,dnp3"]`) and return one row per displayed frame. Numbers come
/// as tshark prints them (decimal; hex only where the field is a hex-typed one).
pub fn tshark(capture: &Path, filter: &str, fields: &[&str], extra: &[&str]) -> Vec<Row> {
    let mut opts = vec!["-n"];
    opts.extend_from_slice(extra);
    yagura_testkit::tshark(capture, filter, fields, &opts)
}

/// Yagura's events of one protocol, grouped by frame, each turned into a key by `key`.
pub fn keys_by_frame(
    events: &[Event],
    protocol: &str,
    key: impl Fn(&Event) -> String,
) -> BTreeMap<u64, Vec<String>> {
    let mut m: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for e in events.iter().filter(|e| field(e, "protocol") == protocol) {
        let frame = e
            .get("packet")
            .and_then(Value::as_u64)
            .expect("events carry `packet`");
        m.entry(frame).or_default().push(key(e));
    }
    m
}

/// One PDU on which the tools differ.
#[derive(Debug, Clone)]
pub struct Disagreement {
    pub capture: String,
    pub frame: u64,
    /// Keys only Yagura has in this frame.
    pub ours: Vec<String>,
    /// Keys only tshark has in this frame.
    pub theirs: Vec<String>,
}

/// Agreement between Yagura and a peer over many frames: per PDU, a key both tools give in
/// the same frame agrees; a key only one of them gives is a disagreement.
#[derive(Debug, Default)]
pub struct Agreement {
    pub protocol: String,
    /// PDUs compared: per frame, the larger of the two key counts.
    pub compared: u64,
    /// PDUs whose keys agree (per frame, the size of the multiset intersection).
    pub agreed: u64,
    pub disagreements: Vec<Disagreement>,
}

impl Agreement {
    pub fn new(protocol: &str) -> Agreement {
        Agreement {
            protocol: protocol.to_string(),
            ..Default::default()
        }
    }

    /// Compare one capture: `ours` and `theirs` are keys per frame.
    pub fn compare(
        &mut self,
        capture: &Path,
        ours: &BTreeMap<u64, Vec<String>>,
        theirs: &BTreeMap<u64, Vec<String>>,
    ) {
        let name = capture
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let frames: std::collections::BTreeSet<u64> =
            ours.keys().chain(theirs.keys()).copied().collect();
        for f in frames {
            let mut a = ours.get(&f).cloned().unwrap_or_default();
            let mut b = theirs.get(&f).cloned().unwrap_or_default();
            a.sort();
            b.sort();
            self.compared += a.len().max(b.len()) as u64;
            // Multiset intersection of two sorted lists.
            let (mut i, mut j) = (0, 0);
            let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
            while i < a.len() || j < b.len() {
                match (a.get(i), b.get(j)) {
                    (Some(x), Some(y)) if x == y => {
                        self.agreed += 1;
                        i += 1;
                        j += 1;
                    }
                    (Some(x), Some(y)) if x < y => {
                        only_a.push(x.clone());
                        i += 1;
                    }
                    (Some(_), Some(y)) => {
                        only_b.push(y.clone());
                        j += 1;
                    }
                    (Some(x), None) => {
                        only_a.push(x.clone());
                        i += 1;
                    }
                    (None, Some(y)) => {
                        only_b.push(y.clone());
                        j += 1;
                    }
                    (None, None) => unreachable!(),
                }
            }
            if !only_a.is_empty() || !only_b.is_empty() {
                self.disagreements.push(Disagreement {
                    capture: name.clone(),
                    frame: f,
                    ours: only_a,
                    theirs: only_b,
                });
            }
        }
    }

    /// Share of compared PDUs that agree (1.0 when nothing was compared).
    pub fn ratio(&self) -> f64 {
        if self.compared == 0 {
            1.0
        } else {
            self.agreed as f64 / self.compared as f64
        }
    }

    /// A readable summary with every disagreement (at most `max` of them).
    pub fn summary(&self, max: usize) -> String {
        let mut s = format!(
            "{}: {}/{} PDUs agree ({:.4} %), {} frames differ\n",
            self.protocol,
            self.agreed,
            self.compared,
            self.ratio() * 100.0,
            self.disagreements.len()
        );
        for d in self.disagreements.iter().take(max) {
            s += &format!(
                "  {} frame {}: yagura {:?} / tshark {:?}\n",
                d.capture, d.frame, d.ours, d.theirs
            );
        }
        if self.disagreements.len() > max {
            s += &format!("  … {} more\n", self.disagreements.len() - max);
        }
        s
    }

    /// Print the summary and fail unless at least `min` of the PDUs agree and at least
    /// `min_pdus` were compared (so that a harness comparing nothing cannot pass).
    pub fn assert_at_least(&self, min: f64, min_pdus: u64) {
        eprintln!("{}", self.summary(200));
        assert!(
            self.compared >= min_pdus,
            "{}: only {} PDUs compared, expected at least {min_pdus}",
            self.protocol,
            self.compared
        );
        assert!(
            self.ratio() >= min,
            "{}: agreement {:.4} % is below {:.2} %\n{}",
            self.protocol,
            self.ratio() * 100.0,
            min * 100.0,
            self.summary(50)
        );
    }
}

/// Split a tshark row whose fields each have one occurrence per PDU into one key per PDU:
/// `key` gets the i-th occurrence of every field (`""` where a field has fewer).
pub fn zip_occurrences(row: &Row, key: impl Fn(&[&str]) -> String) -> Vec<String> {
    let n = row.fields.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            let vals: Vec<&str> = row
                .fields
                .iter()
                .map(|f| f.get(i).map_or("", String::as_str))
                .collect();
            key(&vals)
        })
        .collect()
}

/// A number as tshark prints it (`12`, `0x0000000c`), or `None`.
pub fn num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Golden snapshot: Yagura's events of `protocols` for `capture`, one JSON line each, must
/// equal `tests/golden/<name>.jsonl`. Review a snapshot against tshark before committing
/// it; `YAGURA_BLESS=1` rewrites it from the current output (then `git diff` shows what
/// changed).
pub fn golden(capture: &Path, protocols: &[&str], name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.jsonl"));
    let mut got = String::new();
    for e in yagura_events(capture)
        .iter()
        .filter(|e| protocols.contains(&field(e, "protocol").as_str()))
    {
        got += &serde_json::to_string(e).expect("event serialises");
        got.push('\n');
    }
    assert!(
        !got.is_empty(),
        "no {protocols:?} events in {}",
        capture.display()
    );
    if std::env::var_os("YAGURA_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("golden dir");
        std::fs::write(&path, &got).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with YAGURA_BLESS=1)", path.display()));
    if got != want {
        let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
        let first = g
            .iter()
            .zip(&w)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(w.len()));
        panic!(
            "{} differs from the snapshot ({} lines now, {} in the snapshot); first difference at line {}:\n  now:      {}\n  snapshot: {}",
            path.display(),
            g.len(),
            w.len(),
            first + 1,
            g.get(first).unwrap_or(&"<none>"),
            w.get(first).unwrap_or(&"<none>")
        );
    }
}
