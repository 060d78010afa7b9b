//! `yagura intel import|list|remove`: the threat-intelligence indicators a database matches
//! the traffic against (plain lists and STIX 2.1 bundles; see docs/detection.md).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use yagura_detect::Lang;
use yagura_detect::intel::import::{self, MAX_FILE_BYTES, MAX_INDICATORS, Parsed};
use yagura_detect::intel::{Indicator, IndicatorKind};
use yagura_store::SqliteStore;

use crate::alerts::LangArg;
use crate::assets::open;
use crate::display::{sanitize, short_time};

#[derive(Args)]
pub struct IntelArgs {
    #[command(subcommand)]
    command: IntelCommand,
}

#[derive(Subcommand)]
enum IntelCommand {
    /// Import indicator files (plain lists, one indicator per line, or STIX 2.1 bundles);
    /// each replaces what its source held before.
    Import(ImportArgs),
    /// The stored indicators.
    List(ListArgs),
    /// Remove every indicator of a source.
    Remove(RemoveArgs),
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Args)]
struct ImportArgs {
    /// Indicator files: plain lists (addresses, CIDR networks, domain names, URLs, MD5,
    /// SHA-1 or SHA-256 digests, one a line) or STIX 2.1 bundles (JSON).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// The source the indicators are kept under (default: each file's name). An import
    /// replaces everything its sources held before.
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
    #[arg(long, value_enum, default_value_t = LangArg::En)]
    lang: LangArg,
}

#[derive(Args)]
struct ListArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Only the indicators of this source.
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[arg(long, value_enum, default_value_t = LangArg::En)]
    lang: LangArg,
}

#[derive(Args)]
struct RemoveArgs {
    #[arg(long, value_name = "NAME", required = true)]
    source: String,
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
}

pub fn intel(args: IntelArgs) -> Result<()> {
    match args.command {
        IntelCommand::Import(a) => import_files(a),
        IntelCommand::List(a) => list(a),
        IntelCommand::Remove(a) => {
            let mut store = open(&a.db)?;
            let n = store.remove_indicators(&a.source)?;
            if n == 0 {
                bail!(
                    "no indicators of source {:?} in {}",
                    a.source,
                    a.db.display()
                );
            }
            println!("{n} indicators of {} removed", sanitize(&a.source));
            Ok(())
        }
    }
}

/// The source name of a file: its name without the directories.
fn source_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn read(path: &Path) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        bail!(
            "{} is {size} bytes, more than the {MAX_FILE_BYTES} an import reads: split the feed",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// One source's indicators, and the (kind, value) pairs it already holds.
type Batch = (Vec<Indicator>, HashSet<(IndicatorKind, String)>);

fn import_files(a: ImportArgs) -> Result<()> {
    let lang = a.lang.lang();
    let now = yagura_store::now();
    let mut batches: BTreeMap<String, Batch> = BTreeMap::new();
    let mut total = 0usize;
    let mut out = std::io::stdout().lock();
    for path in &a.files {
        let source = a.source.clone().unwrap_or_else(|| source_of(path));
        let data = read(path)?;
        let parsed = import::parse(&data, &source, now)
            .with_context(|| format!("{} cannot be imported", path.display()))?;
        report_file(&mut out, lang, path, &parsed)?;
        let (list, seen) = batches.entry(source).or_default();
        for i in parsed.indicators {
            if seen.insert((i.kind, i.value.clone())) {
                list.push(i);
                total += 1;
            }
        }
        if total > MAX_INDICATORS {
            bail!("more than {MAX_INDICATORS} indicators in one import: split the feed");
        }
    }
    let mut store =
        SqliteStore::open(&a.db).with_context(|| format!("opening {}", a.db.display()))?;
    let batches: Vec<(String, Vec<Indicator>)> =
        batches.into_iter().map(|(s, (l, _))| (s, l)).collect();
    let outcomes = store
        .import_indicators(&batches, now)
        .with_context(|| format!("updating {}", a.db.display()))?;
    for o in outcomes {
        let s = sanitize(&o.source);
        match lang {
            Lang::En => writeln!(
                out,
                "{s}: {} new, {} updated, {} unchanged, {} removed",
                o.new, o.updated, o.unchanged, o.removed
            )?,
            Lang::Ja => writeln!(
                out,
                "{s}: 新規 {} 件、更新 {} 件、変更なし {} 件、削除 {} 件",
                o.new, o.updated, o.unchanged, o.removed
            )?,
        }
    }
    Ok(())
}

/// What reading one file gave: counts, then the first refusals with their place.
fn report_file(out: &mut dyn Write, lang: Lang, path: &Path, p: &Parsed) -> Result<()> {
    let name = path.display().to_string();
    let name = sanitize(&name);
    let rejected = p.rejected_count();
    match lang {
        Lang::En => writeln!(
            out,
            "{name}: {} indicators read, {rejected} rejected, {} revoked and {} expired skipped, {} duplicates",
            p.indicators.len(),
            p.revoked,
            p.expired,
            p.duplicates
        )?,
        Lang::Ja => writeln!(
            out,
            "{name}: 指標 {} 件を読込、不正 {rejected} 件、失効 {} 件と期限切れ {} 件をスキップ、重複 {} 件",
            p.indicators.len(),
            p.revoked,
            p.expired,
            p.duplicates
        )?,
    }
    const SHOWN: usize = 20;
    for r in p.rejected.iter().take(SHOWN) {
        let label = match lang {
            Lang::En => "rejected",
            Lang::Ja => "不正",
        };
        writeln!(
            out,
            "  {label}: {} {:?}: {}",
            sanitize(&r.at),
            sanitize(&r.value),
            sanitize(&r.reason)
        )?;
    }
    if rejected > SHOWN as u64 {
        match lang {
            Lang::En => writeln!(out, "  … and {} more rejected", rejected - SHOWN as u64)?,
            Lang::Ja => writeln!(out, "  … ほか不正 {} 件", rejected - SHOWN as u64)?,
        }
    }
    Ok(())
}

fn list(a: ListArgs) -> Result<()> {
    let store = open(&a.db)?;
    let all: Vec<_> = store
        .indicators()?
        .into_iter()
        .filter(|i| a.source.as_deref().is_none_or(|s| i.indicator.source == s))
        .collect();
    let mut out = std::io::stdout().lock();
    if let Format::Json = a.format {
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
        return Ok(());
    }
    let lang = a.lang.lang();
    let header = match lang {
        Lang::En => ["SOURCE", "TYPE", "VALUE", "VALID UNTIL (UTC)", "NAME"],
        Lang::Ja => ["出典", "種別", "値", "有効期限 (UTC)", "名前"],
    };
    let rows: Vec<[String; 5]> = all
        .iter()
        .map(|s| {
            let i = &s.indicator;
            [
                i.source.clone(),
                i.kind.id().to_owned(),
                i.value.clone(),
                i.valid_until.map_or_else(|| "-".into(), short_time),
                i.name.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    crate::display::write_table(&mut out, header, &rows)?;
    if rows.is_empty() {
        match lang {
            Lang::En => writeln!(
                out,
                "(no indicators: import some with `yagura intel import FILE --db DB`)"
            )?,
            Lang::Ja => writeln!(
                out,
                "(指標はありません: `yagura intel import FILE --db DB` で取り込んでください)"
            )?,
        }
    }
    Ok(())
}
