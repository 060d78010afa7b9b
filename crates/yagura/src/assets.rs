//! `yagura assets` (the inventory in a store) and `yagura asset set|history|show` (the
//! user's overrides and an asset's changes).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use yagura_model::inventory::Asset;
use yagura_store::{HistoryEntry, InventoryStore, OverrideField, SqliteStore};

use crate::display::{sanitize, short_time};

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum AssetsFormat {
    /// Aligned columns fitted to the terminal.
    #[default]
    Table,
    /// Comma-separated values with a header row; lists joined with ";".
    Csv,
    /// A JSON array of the asset objects (every field, with sources).
    Json,
}

#[derive(Args)]
pub struct AssetsArgs {
    /// The inventory database (SQLite), as written by `yagura analyze --db`.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    #[arg(long, value_enum, default_value_t = AssetsFormat::Table)]
    format: AssetsFormat,
}

#[derive(Args)]
pub struct AssetArgs {
    #[command(subcommand)]
    command: AssetCommand,
}

#[derive(Subcommand)]
enum AssetCommand {
    /// Set the type, name or Purdue level of an asset by hand; analysis never overwrites it.
    Set(SetArgs),
    /// The asset's recorded changes (firmware, model, type… and overrides), oldest first.
    History(HistoryArgs),
    /// Everything known about one asset, as JSON, with its overrides.
    Show(ShowArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Field {
    Type,
    Name,
    Purdue,
}

impl Field {
    fn store(self) -> OverrideField {
        match self {
            Field::Type => OverrideField::DeviceType,
            Field::Name => OverrideField::Name,
            Field::Purdue => OverrideField::PurdueLevel,
        }
    }
}

#[derive(Args)]
struct SetArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Asset id as `yagura assets` shows it (`mac:00:1b:1b:aa:bb:cc`, `ip:10.0.0.5`).
    #[arg(value_name = "ID")]
    id: String,
    /// Device type id: plc, rtu, ied, hmi, engineering_workstation, scada_server,
    /// historian, opc_server, io_module, gateway, switch, router, firewall, server,
    /// workstation, printer, iot, unknown.
    #[arg(long = "type", value_name = "T")]
    device_type: Option<String>,
    /// The asset's name.
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// Purdue level, 0 to 5.
    #[arg(long, value_name = "L")]
    purdue: Option<String>,
    /// Remove this override (repeatable), returning the field to what analysis infers.
    #[arg(long, value_enum, value_name = "FIELD")]
    unset: Vec<Field>,
    /// Remove every override of this asset.
    #[arg(long, conflicts_with_all = ["device_type", "name", "purdue", "unset"])]
    clear: bool,
    /// Who makes the change, for the history (default: $USER).
    #[arg(long, value_name = "WHO")]
    by: Option<String>,
}

#[derive(Args)]
struct HistoryArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    #[arg(value_name = "ID")]
    id: String,
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    format: HistoryFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum HistoryFormat {
    Table,
    Json,
}

#[derive(Args)]
struct ShowArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    #[arg(value_name = "ID")]
    id: String,
}

/// An existing database, for the commands that read or annotate one.
pub(crate) fn open(db: &PathBuf) -> Result<SqliteStore> {
    SqliteStore::open_existing(db).with_context(|| format!("opening {}", db.display()))
}

/// Who acts, for a history: `--by`, else the login name.
pub(crate) fn user(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

pub fn assets(args: AssetsArgs) -> Result<()> {
    let inv = open(&args.db)?.load()?;
    let mut out = std::io::stdout().lock();
    match args.format {
        AssetsFormat::Table => {
            let width = console::Term::stdout()
                .size_checked()
                .map(|(_, w)| w as usize);
            out.write_all(table(&inv.assets, width).as_bytes())?;
        }
        AssetsFormat::Csv => write_csv(&inv.assets, &mut out)?,
        AssetsFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &inv.assets)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

pub fn asset(args: AssetArgs) -> Result<()> {
    match args.command {
        AssetCommand::Set(a) => set(a),
        AssetCommand::History(a) => history(a),
        AssetCommand::Show(a) => show(a),
    }
}

fn set(args: SetArgs) -> Result<()> {
    let mut store = open(&args.db)?;
    let by = user(args.by);
    let sets = [
        (OverrideField::DeviceType, args.device_type),
        (OverrideField::Name, args.name),
        (OverrideField::PurdueLevel, args.purdue),
    ];
    anyhow::ensure!(
        args.clear || !args.unset.is_empty() || sets.iter().any(|(_, v)| v.is_some()),
        "nothing to do: give --type, --name, --purdue, --unset FIELD or --clear"
    );
    if args.clear {
        let n = store.clear_overrides(&args.id, None, &by)?;
        println!("{}: {n} override(s) removed", sanitize(&args.id));
        return Ok(());
    }
    for f in &args.unset {
        store.clear_overrides(&args.id, Some(f.store()), &by)?;
    }
    for (field, value) in sets {
        if let Some(v) = value {
            store.set_override(&args.id, field, &v, &by)?;
        }
    }
    for o in store.overrides(&args.id)? {
        println!(
            "{}: {} = {} (set by {} at {})",
            sanitize(&args.id),
            o.field.id(),
            sanitize(&o.value),
            sanitize(&o.set_by),
            short_time(o.set_at)
        );
    }
    Ok(())
}

fn history(args: HistoryArgs) -> Result<()> {
    let h = open(&args.db)?.history(&args.id)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        HistoryFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &h)?;
            writeln!(out)?;
        }
        HistoryFormat::Table => out.write_all(history_table(&h).as_bytes())?,
    }
    Ok(())
}

fn show(args: ShowArgs) -> Result<()> {
    let store = open(&args.db)?;
    let Some(asset) = store.asset(&args.id)? else {
        anyhow::bail!("no asset with id {:?}", args.id);
    };
    let doc = serde_json::json!({
        "asset": asset,
        "overrides": store.overrides(&args.id)?,
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc)?;
    writeln!(out)?;
    Ok(())
}

fn history_table(h: &[HistoryEntry]) -> String {
    let rows: Vec<Vec<String>> = h
        .iter()
        .map(|c| {
            vec![
                short_time(c.seen_at),
                sanitize(&c.attribute).into_owned(),
                c.old_value
                    .as_deref()
                    .map_or("-".into(), |v| sanitize(v).into_owned()),
                c.new_value
                    .as_deref()
                    .map_or("-".into(), |v| sanitize(v).into_owned()),
                match c.run_id {
                    Some(r) => format!("run {r}"),
                    None => sanitize(&c.source).into_owned(),
                },
            ]
        })
        .collect();
    render(
        &["SEEN AT (UTC)", "ATTRIBUTE", "OLD", "NEW", "SOURCE"],
        &[19, 9, 6, 6, 6],
        &rows,
        None,
    )
}

/// The columns of `yagura assets`, each with the narrowest it may be squeezed to.
const COLUMNS: [(&str, usize); 11] = [
    ("ID", 12),
    ("IP", 7),
    ("MAC", 8),
    ("VIA", 6),
    ("VENDOR", 6),
    ("TYPE", 6),
    ("MODEL", 6),
    ("FIRMWARE", 6),
    ("HOSTNAME", 8),
    ("PURDUE", 6),
    ("LAST SEEN (UTC)", 10),
];

/// The inventory as aligned columns, squeezed to `width` terminal cells when given.
pub fn table(assets: &[Asset], width: Option<usize>) -> String {
    let opt = |v: &Option<String>| {
        v.as_deref()
            .map_or(String::new(), |s| sanitize(s).into_owned())
    };
    // A routed module is shown behind its carrier's address (its id when it has none).
    let first_ip: std::collections::HashMap<&str, String> = assets
        .iter()
        .filter_map(|a| Some((a.id.as_str(), a.ips.first()?.to_string())))
        .collect();
    let via = |a: &Asset| {
        let Some(carrier) = a.via.as_deref() else {
            return String::new();
        };
        let at = first_ip
            .get(carrier)
            .cloned()
            .unwrap_or_else(|| sanitize(carrier).into_owned());
        match a.route.as_deref() {
            Some(r) => format!("{at} {}", sanitize(r)),
            None => at,
        }
    };
    let rows: Vec<Vec<String>> = assets
        .iter()
        .map(|a| {
            let ip = match a.ips.as_slice() {
                [] => String::new(),
                [one] => one.to_string(),
                [first, rest @ ..] => format!("{first} +{}", rest.len()),
            };
            vec![
                sanitize(&a.id).into_owned(),
                ip,
                a.mac.map_or(String::new(), |m| m.to_string()),
                via(a),
                opt(&a.vendor),
                a.device_type.id().to_string(),
                opt(&a.model),
                opt(&a.firmware),
                opt(&a.hostname),
                a.purdue_level.map_or(String::new(), |l| l.to_string()),
                short_time(a.last_seen),
            ]
        })
        .collect();
    let headers: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let mins: Vec<usize> = COLUMNS.iter().map(|c| c.1).collect();
    let mut s = render(&headers, &mins, &rows, width);
    s.push_str(&format!("{} assets\n", assets.len()));
    s
}

/// Aligns `rows` under `headers`, two spaces apart. With a `width`, the widest columns
/// give up cells first (down to their minimum) and cut text ends in "…". Widths are
/// terminal cells, so Japanese text (two cells a character) stays aligned.
fn render(headers: &[&str], mins: &[usize], rows: &[Vec<String>], width: Option<usize>) -> String {
    let cells = console::measure_text_width;
    let mut w: Vec<usize> = headers.iter().map(|h| cells(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(cells(c));
        }
    }
    if let Some(total) = width {
        let gaps = 2 * headers.len().saturating_sub(1);
        // Bounded: each step takes one cell from a column above its minimum.
        while w.iter().sum::<usize>() + gaps > total {
            let Some((i, _)) = w
                .iter()
                .enumerate()
                .filter(|(i, x)| **x > mins[*i])
                .max_by_key(|(_, x)| **x)
            else {
                break;
            };
            w[i] -= 1;
        }
    }
    let mut out = String::new();
    let mut line = |fields: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, f) in fields.enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let f = console::truncate_str(f, w[i], "…");
            l.push_str(&f);
            l.extend(std::iter::repeat_n(' ', w[i].saturating_sub(cells(&f))));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first)
/// gets a leading `'`, the usual guard against CSV injection.
fn csv_cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

use std::borrow::Cow;

const CSV_HEADER: [&str; 25] = [
    "id",
    "ips",
    "mac",
    "vendor",
    "device_type",
    "device_type_confidence",
    "model",
    "order_number",
    "firmware",
    "hardware",
    "serial",
    "hostname",
    "names",
    "os",
    "protocols",
    "roles",
    "purdue_level",
    "user_overrides",
    "first_seen",
    "last_seen",
    "packets_sent",
    "bytes_sent",
    "device_type_reasons",
    "via",
    "route",
];

/// The inventory as CSV (RFC 4180 quoting by the csv crate; formula cells guarded).
pub fn write_csv(assets: &[Asset], out: &mut dyn Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    for a in assets {
        let ips: Vec<String> = a.ips.iter().map(ToString::to_string).collect();
        let rec: [String; 25] = [
            a.id.clone(),
            ips.join(";"),
            a.mac.map_or(String::new(), |m| m.to_string()),
            opt(&a.vendor),
            a.device_type.id().into(),
            a.device_type_confidence.to_string(),
            opt(&a.model),
            opt(&a.order_number),
            opt(&a.firmware),
            opt(&a.hardware),
            opt(&a.serial),
            opt(&a.hostname),
            a.names.join(";"),
            opt(&a.os),
            a.protocols.join(";"),
            a.roles.join(";"),
            a.purdue_level.map_or(String::new(), |l| l.to_string()),
            a.user_overrides.join(";"),
            a.first_seen.to_rfc3339(),
            a.last_seen.to_rfc3339(),
            a.packets_sent.to_string(),
            a.bytes_sent.to_string(),
            a.device_type_reasons.join(";"),
            opt(&a.via),
            opt(&a.route),
        ];
        w.write_record(rec.iter().map(|c| csv_cell(c).into_owned()))?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use yagura_core::{IpAddr, MacAddr, Timestamp};
    use yagura_model::inventory::DeviceType;

    /// Names a hostile network could put in front of an engineer.
    pub(crate) const HOSTILE: [&str; 7] = [
        "\"quoted\", 'single'",
        "line1\nline2\r\n",
        "<b>&amp;</b> ]]> --> <!--",
        "制御盤-第1ライン",
        "=HYPERLINK(\"http://x\")",
        "\u{1b}[2J\u{1b}[31mred",
        "back\\slash \\N \\l",
    ];

    pub(crate) fn hostile_asset(i: usize) -> Asset {
        let h = HOSTILE[i % HOSTILE.len()].to_string();
        Asset {
            id: format!("ip:10.0.0.{i}"),
            via: None,
            route: None,
            ips: vec![IpAddr::from([10, 0, 0, i as u8])],
            mac: Some(MacAddr([0, 0x1b, 0x1b, 0, 0, i as u8])),
            mac_locally_administered: Some(false),
            vendor: Some(h.clone()),
            device_type: DeviceType::Plc,
            device_type_confidence: 90,
            device_type_reasons: vec![h.clone()],
            model: Some(h.clone()),
            order_number: None,
            firmware: Some(h.clone()),
            hardware: None,
            serial: None,
            hostname: Some(h.clone()),
            names: vec![h.clone(), "b;c".into()],
            os: None,
            protocols: vec!["modbus".into()],
            roles: vec![],
            purdue_level: Some(1),
            purdue_reasons: vec![],
            user_overrides: vec![],
            first_seen: Timestamp::from_secs_nanos(1_767_225_600, 0),
            last_seen: Timestamp::from_secs_nanos(1_767_229_200, 0),
            packets_sent: 1,
            bytes_sent: 2,
            attributes: vec![],
        }
    }

    #[test]
    fn table_rows_stay_one_line_each_and_aligned() {
        let assets: Vec<Asset> = (0..HOSTILE.len()).map(hostile_asset).collect();
        let t = table(&assets, None);
        let lines: Vec<&str> = t.lines().collect();
        // Header, one line per asset, the count.
        assert_eq!(lines.len(), assets.len() + 2, "{t}");
        assert!(!t.contains('\u{1b}') && !t.contains('\r'));
        assert!(t.contains("制御盤-第1ライン"));
        assert!(t.contains("line1\\nline2\\r\\n"));
        // The TYPE column starts at the same terminal cell on every row.
        let col = |l: &str| {
            let i = l.find("plc").or_else(|| l.find("TYPE")).unwrap();
            console::measure_text_width(&l[..i])
        };
        let c0 = col(lines[0]);
        for l in &lines[1..=assets.len()] {
            assert_eq!(col(l), c0, "{l}");
        }
    }

    #[test]
    fn table_squeezes_to_the_terminal() {
        let assets: Vec<Asset> = (0..HOSTILE.len()).map(hostile_asset).collect();
        let t = table(&assets, Some(100));
        for l in t.lines() {
            assert!(console::measure_text_width(l) <= 100, "{l}");
        }
        assert!(t.contains('…'));
    }

    #[test]
    fn csv_quotes_and_guards_formulas() {
        let assets: Vec<Asset> = (0..HOSTILE.len()).map(hostile_asset).collect();
        let mut buf = Vec::new();
        write_csv(&assets, &mut buf).unwrap();
        let mut r = csv::Reader::from_reader(buf.as_slice());
        assert_eq!(r.headers().unwrap().len(), CSV_HEADER.len());
        let recs: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert_eq!(recs.len(), assets.len());
        for (rec, i) in recs.iter().zip(0..) {
            let h = HOSTILE[i];
            let want = if h.starts_with('=') {
                format!("'{h}")
            } else {
                h.to_string()
            };
            assert_eq!(&rec[11], want, "hostname round-trips through CSV");
            assert_eq!(&rec[12], format!("{want};b;c"));
        }
    }
}
