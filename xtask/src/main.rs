use std::path::PathBuf;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask oui --from DIR_OR_FILE [--from …] [--out PATH]\n\
  Regenerates the embedded MAC vendor table from IEEE registry CSV files (oui.csv, mam.csv,\n\
  oui36.csv, iab.csv, plain or .zst; e.g. --from /usr/share/ieee-data).\n\
  --out defaults to crates/yagura-model/data/oui.tsv.zst.\n\
\n\
usage: cargo xtask vendor-ids [--bacnet FILE] [--cip FILE] [--profinet FILE] [--out PATH]\n\
  Regenerates the embedded protocol vendor id table. --bacnet: bacnet-rs's src/vendor.rs\n\
  (default crates/yagura-model/data/bacnet_vendors.rs.zst); --cip, --profinet: id<TAB>name\n\
  lines, ids decimal or 0x hex (defaults crates/yagura-model/data/cip_vendors.tsv and\n\
  profinet_vendors.tsv, checked against the *.sources.tsv beside them when present).\n\
  --out defaults to crates/yagura-model/data/vendor_ids.tsv.zst.";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("oui") => {}
        Some("vendor-ids") => return vendor_ids(args),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(other) => bail!("unknown task {other:?}\n{USAGE}"),
    }
    let mut from = Vec::new();
    let mut out = xtask::workspace_root().join(xtask::DEFAULT_OUT);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--from" => from.push(PathBuf::from(args.next().context("--from needs a path")?)),
            "--out" => out = PathBuf::from(args.next().context("--out needs a path")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            // Paths after `--from DIR` (a shell glob) are inputs too.
            p if !p.starts_with('-') && !from.is_empty() => from.push(PathBuf::from(p)),
            other => bail!("unexpected argument {other:?}\n{USAGE}"),
        }
    }
    if from.is_empty() {
        bail!("--from is required\n{USAGE}");
    }
    let files = xtask::input_files(&from)?;
    let data = xtask::generate(&files)?;
    std::fs::write(&out, &data).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "wrote {} ({} bytes) from {}",
        out.display(),
        data.len(),
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn vendor_ids(mut args: impl Iterator<Item = String>) -> Result<()> {
    use xtask::vendor_ids::{DEFAULT_OUT, Input, check_sources, generate};
    use yagura_model::vendor_ids::Registry;
    let mut inputs = Input::defaults();
    let mut out = xtask::workspace_root().join(DEFAULT_OUT);
    while let Some(a) = args.next() {
        let registry = match a.as_str() {
            "--bacnet" => Registry::Bacnet,
            "--cip" => Registry::Cip,
            "--profinet" => Registry::Profinet,
            "--out" => {
                out = PathBuf::from(args.next().context("--out needs a path")?);
                continue;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unexpected argument {other:?}\n{USAGE}"),
        };
        let path = PathBuf::from(args.next().with_context(|| format!("{a} needs a path"))?);
        inputs.retain(|i| i.registry != registry);
        inputs.push(Input { registry, path });
    }
    for i in &inputs {
        if i.registry != Registry::Bacnet && i.sources_path().is_file() {
            let n = check_sources(i)?;
            eprintln!("{}: {n} sources checked", i.sources_path().display());
        }
    }
    let data = generate(&inputs)?;
    std::fs::write(&out, &data).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {} ({} bytes)", out.display(), data.len());
    Ok(())
}
