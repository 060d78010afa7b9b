//! Helpers every crate's tests share: where the shared capture corpus is, what its
//! `MANIFEST.tsv` says of each capture, and tshark, the reference the fidelity tests
//! compare Yagura with. Test-only (a dev-dependency); it depends on no Yagura crate, so
//! any crate's tests can use it.

pub mod frames;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The shared corpus: `$YAGURA_CORPUS`, or `../shared/corpus` beside the repository (where
/// CI puts it). Panics with what to do when it is not there.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("YAGURA_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        PathBuf::from,
    );
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "capture corpus not found at {}: put it beside the repository (../shared/corpus) or set YAGURA_CORPUS",
        dir.display()
    );
    dir
}

/// A file of the corpus, by its path relative to the corpus directory.
pub fn corpus(rel: &str) -> PathBuf {
    corpus_dir().join(rel)
}

/// One row of `MANIFEST.tsv`: its columns by name.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    columns: Vec<(String, String)>,
}

impl ManifestRow {
    /// The value of column `name`; panics if the manifest has no such column.
    pub fn get(&self, name: &str) -> &str {
        self.columns
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("MANIFEST.tsv has no column {name:?}"))
    }

    /// The capture's path relative to the corpus directory.
    pub fn path(&self) -> &str {
        self.get("path")
    }

    /// The packet count (`capinfos -c`).
    pub fn packets(&self) -> u64 {
        self.get("packets")
            .parse()
            .unwrap_or_else(|e| panic!("{}: bad packet count: {e}", self.path()))
    }

    /// Does the `protocols` column (tshark's `frame.protocols` union, e.g.
    /// `eth:ip:tcp:mbtcp:modbus`) name `proto` as one of its `:`-separated names?
    pub fn has_protocol(&self, proto: &str) -> bool {
        self.get("protocols").split(':').any(|p| p == proto)
    }
}

/// Every row of the corpus's `MANIFEST.tsv`, in order.
pub fn manifest() -> Vec<ManifestRow> {
    let text = std::fs::read_to_string(corpus_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("MANIFEST.tsv header")
        .split('\t')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| ManifestRow {
            columns: header
                .iter()
                .cloned()
                .zip(l.split('\t').map(str::to_string))
                .collect(),
        })
        .collect()
}

/// The corpus captures whose manifest `protocols` column names `proto`.
pub fn captures_with(proto: &str) -> Vec<PathBuf> {
    let dir = corpus_dir();
    manifest()
        .iter()
        .filter(|r| r.has_protocol(proto))
        .map(|r| dir.join(r.path()))
        .collect()
}

/// Is tshark there? When not: panics, unless `YAGURA_SKIP_TSHARK` is set (then prints
/// SKIPPED and returns false). `.ci/run` installs it.
pub fn tshark_available() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var_os("YAGURA_SKIP_TSHARK").is_some() {
            eprintln!("SKIPPED: tshark is not installed (YAGURA_SKIP_TSHARK set)");
            return false;
        }
        panic!("tshark is not installed: `apt-get install tshark`, or set YAGURA_SKIP_TSHARK=1");
    }
    true
}

/// One frame of tshark's output: its number and, per requested field, every occurrence.
#[derive(Debug, Clone)]
pub struct TsharkRow {
    pub frame: u64,
    pub fields: Vec<Vec<String>>,
}

impl TsharkRow {
    /// Occurrences of field `i`.
    pub fn get(&self, i: usize) -> &[String] {
        &self.fields[i]
    }
}

/// Run `tshark -r file <extra> -Y filter -T fields -e frame.number -e <fields>…` and
/// return one row per displayed frame, every occurrence of each field kept apart. `extra`
/// adds options (`-n`, `-o` preferences, `-d` decode-as rules). Values come as tshark
/// prints them. Panics if tshark fails.
pub fn tshark(file: &Path, filter: &str, fields: &[&str], extra: &[&str]) -> Vec<TsharkRow> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(extra);
    cmd.args(["-Y", filter, "-T", "fields"]);
    cmd.args([
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=\u{1}",
    ]);
    cmd.args(["-e", "frame.number"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("running tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let frame = cols.next()?.parse().ok()?;
            let fields = (0..fields.len())
                .map(|_| {
                    cols.next()
                        .filter(|c| !c.is_empty())
                        .map(|c| c.split('\u{1}').map(str::to_string).collect())
                        .unwrap_or_default()
                })
                .collect();
            Some(TsharkRow { frame, fields })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lists_existing_captures_with_counts() {
        let rows = manifest();
        assert!(rows.len() > 100, "{} rows", rows.len());
        for r in &rows {
            assert!(corpus(r.path()).is_file(), "{} missing", r.path());
            assert!(r.packets() > 0, "{}", r.path());
        }
        let modbus = captures_with("modbus");
        assert!(!modbus.is_empty());
        assert!(modbus.len() < rows.len());
    }
}
