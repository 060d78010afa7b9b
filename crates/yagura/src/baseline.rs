//! `yagura baseline export|import|show|reopen|close`: the learned baseline as a file a
//! plant reviews like code, and where learning is reopened.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use yagura_core::Timestamp;
use yagura_detect::baseline::Baseline;
use yagura_store::SqliteStore;

use crate::assets::open;
use crate::display::sanitize;

#[derive(Args)]
pub struct BaselineArgs {
    #[command(subcommand)]
    command: BaselineCommand,
}

#[derive(Subcommand)]
enum BaselineCommand {
    /// Write the baseline as TOML (sorted, one entry per asset and connection).
    Export(ExportArgs),
    /// Replace the baseline with a file written by export (and perhaps edited).
    Import(ImportArgs),
    /// How much the baseline holds, and where learning is open.
    Show(DbArgs),
    /// Reopen learning for an asset id, an address or a subnet (CIDR): while open, what
    /// it does is learned instead of alerted.
    Reopen(ReopenArgs),
    /// Close learning reopened for a scope.
    Close(CloseArgs),
}

#[derive(Args)]
struct DbArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
}

#[derive(Args)]
struct ExportArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct ImportArgs {
    /// The baseline file (TOML, schema yagura.baseline/1).
    file: PathBuf,
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
}

#[derive(Args)]
struct ReopenArgs {
    /// An asset id (`mac:…`, `ip:…`), an address, or a subnet such as 10.0.2.0/24.
    scope: String,
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// For how long (e.g. 14d, 12h, 30m); default: until closed.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    #[arg(long)]
    by: Option<String>,
}

#[derive(Args)]
struct CloseArgs {
    scope: String,
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
}

/// `14d`, `12h`, `30m`, `90s` (or a bare number of seconds).
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 14d, 12h, 30m, 90s)"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("invalid duration unit in {s:?} (s, m, h, d or w)")),
    };
    n.checked_mul(mult)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

pub fn baseline(args: BaselineArgs) -> Result<()> {
    match args.command {
        BaselineCommand::Export(a) => {
            let text = open(&a.db)?.baseline()?.to_toml();
            match &a.output {
                Some(p) => {
                    std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?
                }
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
        }
        BaselineCommand::Import(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading {}", a.file.display()))?;
            let b = Baseline::from_toml(&text)
                .with_context(|| format!("{} is not a valid baseline", a.file.display()))?;
            let mut store =
                SqliteStore::open(&a.db).with_context(|| format!("opening {}", a.db.display()))?;
            store.set_baseline(&b)?;
            println!(
                "baseline {}: {} assets and {} connections imported",
                a.db.display(),
                b.assets.len(),
                b.connections.len()
            );
        }
        BaselineCommand::Show(a) => {
            let store = open(&a.db)?;
            let b = store.baseline()?;
            println!(
                "baseline {}: {} assets, {} connections{}",
                a.db.display(),
                b.assets.len(),
                b.connections.len(),
                if b.is_empty() {
                    " (nothing learned: run `yagura learn CAPTURE --db DB`)"
                } else {
                    ""
                }
            );
            for (scope, until) in store.learning_scopes(yagura_store::now())? {
                match until {
                    Some(t) => println!(
                        "learning open for {} until {}",
                        sanitize(&scope),
                        t.to_rfc3339()
                    ),
                    None => println!("learning open for {} until closed", sanitize(&scope)),
                }
            }
        }
        BaselineCommand::Reopen(a) => {
            let valid = crate::detection::parse_scope(&a.scope).is_some()
                || a.scope.starts_with("mac:")
                || a.scope.starts_with("ip:");
            anyhow::ensure!(
                valid,
                "{:?} is not an asset id, an address or a subnet (e.g. 10.0.2.0/24)",
                a.scope
            );
            let mut store = open(&a.db)?;
            let now = yagura_store::now();
            let until = a.duration.map(|d| {
                Timestamp(
                    now.0
                        .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                )
            });
            store.reopen_learning(&a.scope, until, &crate::assets::user(a.by), now)?;
            match until {
                Some(t) => println!("learning reopened for {} until {}", a.scope, t.to_rfc3339()),
                None => println!("learning reopened for {} until closed", a.scope),
            }
        }
        BaselineCommand::Close(a) => {
            let mut store = open(&a.db)?;
            if store.close_learning(&a.scope)? {
                println!("learning closed for {}", a.scope);
            } else {
                anyhow::bail!("learning was not open for {:?}", a.scope);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("14d").unwrap().as_secs(), 14 * 86_400);
        assert_eq!(parse_duration("12h").unwrap().as_secs(), 43_200);
        assert_eq!(parse_duration("30m").unwrap().as_secs(), 1_800);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 14 * 86_400);
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
