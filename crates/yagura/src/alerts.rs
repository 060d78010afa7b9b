//! `yagura alerts list|show|ack|learn|mute|close|evidence`: the alerts kept in a database,
//! and what an analyst does with them.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use yagura_detect::{AlertKind, EvidencePacket, Lang, Status};
use yagura_store::{AlertFilter, InventoryStore, SqliteStore, StoredAlert};

use crate::assets::{open, user};
use crate::display::{sanitize, short_time};

#[derive(Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    command: AlertsCommand,
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum LangArg {
    #[default]
    En,
    Ja,
}

impl LangArg {
    pub(crate) fn lang(self) -> Lang {
        match self {
            LangArg::En => Lang::En,
            LangArg::Ja => Lang::Ja,
        }
    }
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// The alerts, newest first.
    List(ListArgs),
    /// One alert in full: what happened, the baseline it broke, advice, evidence, history.
    Show(ShowArgs),
    /// Acknowledge alerts: someone has seen them.
    Ack(ActArgs),
    /// Learn alerts: add their behaviour to the baseline (it no longer alerts) and close them.
    Learn(ActArgs),
    /// Mute the alert's kind for its pair of assets: later occurrences are not recorded.
    Mute(ActArgs),
    /// Close alerts (investigated); the behaviour alerts again if it recurs.
    Close(ActArgs),
    /// Write the alert's evidence packets as a pcap file (to stdout, or --output FILE).
    Evidence(EvidenceArgs),
}

#[derive(Args)]
struct ListArgs {
    /// The database written by `yagura analyze --db`.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Only alerts with this status (new, acknowledged, learned, muted, closed).
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// Only alerts of this kind (e.g. plc_stop, new_connection).
    #[arg(long, value_parser = parse_kind)]
    kind: Option<AlertKind>,
    /// Only alerts with this address as source or destination.
    #[arg(long, value_name = "IP")]
    ip: Option<std::net::IpAddr>,
    /// At most this many.
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Language of titles.
    #[arg(long, value_enum, default_value_t = LangArg::En)]
    lang: LangArg,
}

#[derive(Args)]
struct ShowArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    id: u64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[arg(long, value_enum, default_value_t = LangArg::En)]
    lang: LangArg,
}

#[derive(Args)]
struct ActArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Alert ids.
    #[arg(required = true)]
    ids: Vec<u64>,
    /// Who does it (default: the login name).
    #[arg(long)]
    by: Option<String>,
    /// Why, for the history.
    #[arg(long)]
    note: Option<String>,
}

#[derive(Args)]
struct EvidenceArgs {
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    id: u64,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_status(s: &str) -> std::result::Result<Status, String> {
    Status::from_id(s).ok_or_else(|| {
        let all: Vec<&str> = Status::ALL.iter().map(|s| s.id()).collect();
        format!("unknown status {s:?} (one of {})", all.join(", "))
    })
}

fn parse_kind(s: &str) -> std::result::Result<AlertKind, String> {
    AlertKind::from_id(s).ok_or_else(|| format!("unknown alert kind {s:?} (see docs/detection.md)"))
}

pub fn alerts(args: AlertsArgs) -> Result<()> {
    match args.command {
        AlertsCommand::List(a) => list(a),
        AlertsCommand::Show(a) => show(a),
        AlertsCommand::Ack(a) => act(a, Status::Acknowledged),
        AlertsCommand::Learn(a) => learn(a),
        AlertsCommand::Mute(a) => mute(a),
        AlertsCommand::Close(a) => act(a, Status::Closed),
        AlertsCommand::Evidence(a) => evidence(a),
    }
}

/// A status as the user reads it.
fn status_label(s: Status, lang: Lang) -> &'static str {
    match (lang, s) {
        (Lang::En, s) => s.id(),
        (Lang::Ja, Status::New) => "新規",
        (Lang::Ja, Status::Acknowledged) => "確認済み",
        (Lang::Ja, Status::Learned) => "学習済み",
        (Lang::Ja, Status::Muted) => "ミュート",
        (Lang::Ja, Status::Closed) => "クローズ",
    }
}

fn side(e: &yagura_detect::Endpoint) -> String {
    match (e.ip, e.mac) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => "-".into(),
    }
}

fn list(args: ListArgs) -> Result<()> {
    let store = open(&args.db)?;
    let alerts = store.alerts(&AlertFilter {
        status: args.status,
        kind: args.kind,
        ip: args.ip,
        limit: args.limit,
    })?;
    let mut out = std::io::stdout().lock();
    if let Format::Json = args.format {
        serde_json::to_writer_pretty(&mut out, &alerts)?;
        writeln!(out)?;
        return Ok(());
    }
    let lang = args.lang.lang();
    let header = match lang {
        Lang::En => [
            "ID",
            "LAST SEEN (UTC)",
            "SEVERITY",
            "STATUS",
            "COUNT",
            "SOURCE",
            "DESTINATION",
            "PROTOCOL",
            "TITLE",
        ],
        Lang::Ja => [
            "ID",
            "最終検知 (UTC)",
            "重大度",
            "状態",
            "回数",
            "送信元",
            "宛先",
            "プロトコル",
            "タイトル",
        ],
    };
    let rows: Vec<[String; 9]> = alerts
        .iter()
        .map(|s| {
            let a = &s.alert;
            [
                a.id.to_string(),
                short_time(a.last_seen),
                a.severity.label(lang).to_owned(),
                status_label(a.status, lang).to_owned(),
                a.count.to_string(),
                side(&a.src),
                side(&a.dst),
                a.protocol.clone().unwrap_or_else(|| "-".into()),
                a.kind.title(lang).to_owned(),
            ]
        })
        .collect();
    crate::display::write_table(&mut out, header, &rows)?;
    if rows.is_empty() {
        writeln!(out, "(no alerts)")?;
    }
    Ok(())
}

fn get(store: &SqliteStore, id: u64) -> Result<StoredAlert> {
    store
        .alert(id)?
        .with_context(|| format!("no alert with id {id}"))
}

fn show(args: ShowArgs) -> Result<()> {
    let store = open(&args.db)?;
    let s = get(&store, args.id)?;
    let history = store.alert_history(args.id)?;
    // Evidence packets a live sensor no longer held when it recorded the alert.
    let without_bytes = store.alert_evidence_without_bytes(args.id)?;
    let mut out = std::io::stdout().lock();
    if let Format::Json = args.format {
        #[derive(serde::Serialize)]
        struct Full<'a> {
            #[serde(flatten)]
            alert: &'a StoredAlert,
            remediation: &'static str,
            remediation_ja: &'static str,
            history: &'a [yagura_store::StatusChange],
            evidence_without_bytes: &'a [u64],
        }
        serde_json::to_writer_pretty(
            &mut out,
            &Full {
                alert: &s,
                remediation: s.alert.kind.remediation(Lang::En),
                remediation_ja: s.alert.kind.remediation(Lang::Ja),
                history: &history,
                evidence_without_bytes: &without_bytes,
            },
        )?;
        writeln!(out)?;
        return Ok(());
    }
    let lang = args.lang.lang();
    let a = &s.alert;
    let ja = lang == Lang::Ja;
    let l = |en: &'static str, jp: &'static str| if ja { jp } else { en };
    writeln!(
        out,
        "{} #{}: {}",
        l("Alert", "アラート"),
        a.id,
        a.kind.title(lang)
    )?;
    writeln!(
        out,
        "  {}: {} ({})",
        l("kind", "種別"),
        a.kind.id(),
        a.engine.id()
    )?;
    writeln!(
        out,
        "  {}: {}",
        l("severity", "重大度"),
        a.severity.label(lang)
    )?;
    writeln!(
        out,
        "  {}: {}",
        l("status", "状態"),
        status_label(a.status, lang)
    )?;
    writeln!(
        out,
        "  {}: {} .. {} ({} {})",
        l("seen", "検知"),
        a.first_seen.to_rfc3339(),
        a.last_seen.to_rfc3339(),
        a.count,
        l("times", "回")
    )?;
    let ep = |e: &yagura_detect::Endpoint| {
        let mut s = side(e);
        if let (Some(_), Some(m)) = (e.ip, e.mac) {
            s.push_str(&format!(" ({m})"));
        }
        if let Some(p) = e.port {
            s.push_str(&format!(" port {p}"));
        }
        s
    };
    writeln!(out, "  {}: {}", l("source", "送信元"), ep(&a.src))?;
    writeln!(out, "  {}: {}", l("destination", "宛先"), ep(&a.dst))?;
    if let Some(p) = &a.protocol {
        writeln!(out, "  {}: {}", l("protocol", "プロトコル"), sanitize(p))?;
    }
    if let Some(f) = &a.function {
        writeln!(
            out,
            "  {}: {} ({})",
            l("function", "機能"),
            sanitize(&f.name),
            f.code
        )?;
    }
    writeln!(out, "  {}:", l("what happened", "説明"))?;
    writeln!(out, "    {}", sanitize(&a.description))?;
    writeln!(out, "  {}:", l("what to do", "対処"))?;
    writeln!(out, "    {}", a.kind.remediation(lang))?;
    writeln!(
        out,
        "  {}: {} {}",
        l("evidence", "証跡"),
        a.evidence.len(),
        l(
            "packet(s); `yagura alerts evidence ID --db DB > x.pcap`",
            "パケット (`yagura alerts evidence ID --db DB > x.pcap` で取得)"
        )
    )?;
    for p in &a.evidence {
        let gone = if without_bytes.contains(&p.index) {
            l(
                " (bytes not kept: gone from the sensor's evidence buffer)",
                " (パケット内容なし: センサーの証跡バッファから消去済み)",
            )
        } else {
            ""
        };
        writeln!(out, "    #{} {}{gone}", p.index, p.time.to_rfc3339())?;
    }
    writeln!(out, "  {}:", l("history", "履歴"))?;
    for h in &history {
        writeln!(
            out,
            "    {} {} {} -> {}{}",
            h.at.to_rfc3339(),
            sanitize(&h.actor),
            h.from.map_or("-", Status::id),
            h.to.id(),
            h.note
                .as_deref()
                .map(|n| format!(": {}", sanitize(n)))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

fn act(args: ActArgs, to: Status) -> Result<()> {
    let mut store = open(&args.db)?;
    let by = user(args.by);
    for id in &args.ids {
        let from =
            store.set_alert_status(*id, to, &by, args.note.as_deref(), yagura_store::now())?;
        println!("alert {id}: {} -> {}", from.id(), to.id());
    }
    Ok(())
}

fn learn(args: ActArgs) -> Result<()> {
    let mut store = open(&args.db)?;
    let by = user(args.by);
    let inventory = store.load()?;
    for id in &args.ids {
        let alert = get(&store, *id)?.alert;
        let learned = store
            .update_baseline(|b| b.learn_alert(&alert, &inventory))?
            .map_err(|why| anyhow::anyhow!("alert {id}: {why}"))?;
        let note = match &args.note {
            Some(n) => format!("learned {learned}: {n}"),
            None => format!("learned {learned}"),
        };
        let from =
            store.set_alert_status(*id, Status::Learned, &by, Some(&note), yagura_store::now())?;
        println!(
            "alert {id}: {} -> learned ({})",
            from.id(),
            sanitize(&learned)
        );
    }
    Ok(())
}

fn mute(args: ActArgs) -> Result<()> {
    let mut store = open(&args.db)?;
    let by = user(args.by);
    for id in &args.ids {
        let muted = store.mute_alert(*id, &by, args.note.as_deref(), yagura_store::now())?;
        let list: Vec<String> = muted.iter().map(u64::to_string).collect();
        println!(
            "alert {id}: muted this kind for this pair (alerts {})",
            list.join(", ")
        );
    }
    Ok(())
}

fn evidence(args: EvidenceArgs) -> Result<()> {
    let store = open(&args.db)?;
    get(&store, args.id)?;
    let packets = store.alert_evidence(args.id)?;
    let without_bytes = store.alert_evidence_without_bytes(args.id)?.len();
    if packets.is_empty() && without_bytes > 0 {
        bail!(
            "alert {} keeps no evidence packet bytes: its {without_bytes} packet(s) were gone from the sensor's evidence buffer (--evidence-buffer) when it was recorded",
            args.id
        );
    }
    if packets.is_empty() {
        bail!("alert {} keeps no evidence packets", args.id);
    }
    if without_bytes > 0 {
        eprintln!(
            "warning: {without_bytes} evidence packet(s) of alert {} left out: gone from the sensor's evidence buffer (--evidence-buffer) when it was recorded",
            args.id
        );
    }
    match &args.output {
        Some(path) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            );
            let skipped = write_pcap(&mut f, &packets)?;
            f.flush()?;
            report_skipped(skipped);
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!(
                    "the evidence is a pcap file: redirect it (`> alert.pcap`) or give --output FILE"
                );
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            let skipped = write_pcap(&mut out, &packets)?;
            out.flush()?;
            report_skipped(skipped);
        }
    }
    Ok(())
}

fn report_skipped(skipped: usize) {
    if skipped > 0 {
        eprintln!(
            "warning: {skipped} evidence packet(s) of another link type than the first left out (a pcap file has one link type)"
        );
    }
}

/// Write `packets` as a classic pcap file (nanosecond resolution) with the first packet's
/// link type; returns how many packets of another link type were left out.
pub fn write_pcap(w: &mut impl Write, packets: &[EvidencePacket]) -> std::io::Result<usize> {
    let link = packets.first().map_or(1, |p| p.link);
    let snaplen = packets
        .iter()
        .map(|p| p.data.len() as u32)
        .max()
        .unwrap_or(0)
        .max(65_535);
    w.write_all(&0xa1b2_3c4d_u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?;
    w.write_all(&snaplen.to_le_bytes())?;
    w.write_all(&u32::from(link).to_le_bytes())?;
    let mut skipped = 0;
    for p in packets {
        if p.link != link {
            skipped += 1;
            continue;
        }
        let secs = u32::try_from(p.time.secs()).unwrap_or(u32::MAX);
        w.write_all(&secs.to_le_bytes())?;
        w.write_all(&p.time.subsec_nanos().to_le_bytes())?;
        w.write_all(&(p.data.len() as u32).to_le_bytes())?;
        w.write_all(&p.orig_len.max(p.data.len() as u32).to_le_bytes())?;
        w.write_all(&p.data)?;
    }
    Ok(skipped)
}
