//! Yagura's developer tasks. `cargo xtask oui --from DIR_OR_FILE… [--out PATH]` regenerates
//! the embedded MAC vendor table of `yagura-model` from IEEE registry CSV files;
//! `cargo xtask vendor-ids` its protocol vendor id table ([`vendor_ids`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use yagura_model::oui::{FORMAT_HEADER, Registry, normalise};

pub mod vendor_ids;

/// The registry files looked for in a directory given to `--from` (each plain or `.zst`).
pub const REGISTRY_FILES: [&str; 4] = ["oui.csv", "mam.csv", "oui36.csv", "iab.csv"];

/// zstd level of the generated file (fixed: the output must be reproducible).
const ZSTD_LEVEL: i32 = 19;

/// The committed table, relative to the workspace root.
pub const DEFAULT_OUT: &str = "crates/yagura-model/data/oui.tsv.zst";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Expands `--from` arguments: a directory gives the registry files it holds, a file itself.
pub fn input_files(from: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in from {
        if p.is_dir() {
            let before = files.len();
            for name in REGISTRY_FILES {
                for cand in [p.join(name), p.join(format!("{name}.zst"))] {
                    if cand.is_file() {
                        files.push(cand);
                        break;
                    }
                }
            }
            ensure!(
                files.len() > before,
                "{}: none of {} (or .zst) found",
                p.display(),
                REGISTRY_FILES.join(", ")
            );
        } else {
            ensure!(p.is_file(), "{}: no such file or directory", p.display());
            files.push(p.clone());
        }
    }
    ensure!(!files.is_empty(), "no input files");
    Ok(files)
}

/// A generator input's bytes (decompressed when it ends in `.zst`).
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "zst") {
        zstd::decode_all(raw.as_slice())
            .with_context(|| format!("decompressing {}", path.display()))
    } else {
        Ok(raw)
    }
}

/// An input's file name as recorded in a table header (without `.zst`).
pub(crate) fn input_name(path: &Path) -> String {
    let n = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    n.strip_suffix(".zst").map(str::to_owned).unwrap_or(n)
}

/// Generates the table (zstd-compressed text) from IEEE registry CSV files. Deterministic:
/// the same inputs (by file name and content, in any order) give the same bytes.
pub fn generate(files: &[PathBuf]) -> Result<Vec<u8>> {
    let mut inputs: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| Ok((input_name(p), read_input(p)?)))
        .collect::<Result<_>>()?;
    inputs.sort();
    let mut header = String::new();
    // (bits, prefix) -> (registry, name)
    let mut blocks: BTreeMap<(u8, u64), (Registry, Vec<String>)> = BTreeMap::new();
    for (name, data) in &inputs {
        let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(body);
        let mut rows = 0usize;
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.with_context(|| format!("{name}: CSV"))?;
            let at = || format!("{name}: record {}", i + 1);
            let (Some(reg), Some(assignment), Some(org)) = (rec.get(0), rec.get(1), rec.get(2))
            else {
                bail!("{}: fewer than 3 fields", at());
            };
            let registry = Registry::from_name(reg.trim())
                .with_context(|| format!("{}: unknown registry {reg:?}", at()))?;
            let bits = registry.prefix_bits();
            let a = assignment.trim();
            ensure!(
                a.len() * 4 == bits as usize && a.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: bad {reg} assignment {a:?}",
                at()
            );
            let prefix = u64::from_str_radix(a, 16)?;
            let org: String = org
                .trim()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            ensure!(!org.is_empty(), "{}: empty organisation name", at());
            let entry = blocks
                .entry((bits, prefix))
                .or_insert_with(|| (registry, Vec::new()));
            ensure!(
                entry.0 == registry,
                "{}: {a} registered in both {} and {reg}",
                at(),
                entry.0.as_str()
            );
            // A few old MA-L blocks are listed more than once with different owners (080030:
            // three); all of them are kept, in sorted order.
            if let Err(pos) = entry.1.binary_search(&org) {
                entry.1.insert(pos, org);
            }
            rows += 1;
        }
        let sha = Sha256::digest(data);
        let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(header, "# input {name} rows={rows} sha256={hex}")?;
    }
    // Organisation name (several joined by " / ") -> (display name, number).
    let mut names: BTreeMap<String, (String, usize)> = blocks
        .values()
        .map(|(_, orgs)| {
            let display: Vec<String> = orgs.iter().map(|o| normalise(o)).collect();
            (orgs.join(" / "), (display.join(" / "), 0))
        })
        .collect();
    let mut out = String::new();
    writeln!(out, "{FORMAT_HEADER}")?;
    out.push_str(
        "# MAC address blocks of the IEEE registries (MA-L, MA-M, MA-S, IAB), generated by\n\
         # `cargo xtask oui`; do not edit. Lines: N<TAB>registry name<TAB>display name (empty:\n\
         # same), numbered from 0 in order; then <L|M|S|I><TAB>hex prefix<TAB>name number.\n",
    );
    out.push_str(&header);
    let mut count = [0usize; 4];
    for (r, _) in blocks.values() {
        count[*r as usize] += 1;
    }
    writeln!(
        out,
        "# names={} MA-L={} MA-M={} MA-S={} IAB={}",
        names.len(),
        count[0],
        count[1],
        count[2],
        count[3]
    )?;
    for (i, (org, (display, idx))) in names.iter_mut().enumerate() {
        *idx = i;
        let d = if display == org { "" } else { display.as_str() };
        writeln!(out, "N\t{org}\t{d}")?;
    }
    for ((bits, prefix), (r, orgs)) in &blocks {
        let width = *bits as usize / 4;
        let n = names[&orgs.join(" / ")].1;
        writeln!(out, "{}\t{prefix:0width$X}\t{n}", r.tag())?;
    }
    Ok(zstd::encode_all(out.as_bytes(), ZSTD_LEVEL)?)
}
