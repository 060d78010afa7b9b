//! Detection in `yagura analyze` and `yagura learn`: run the engines over a run's report
//! and inventory, against the stored baseline; learn; keep the alerts and their evidence
//! packets in the database.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use anyhow::{Context, Result};
use yagura_core::IpAddr;
use yagura_detect::baseline::{Baseline, BaselineIndex, LearnCount};
use yagura_detect::intel::IntelIndex;
use yagura_detect::{AlertBook, Alerts, EvidencePacket};
use yagura_engine::Report;
use yagura_model::fusion::Built;
use yagura_model::inventory::{Asset, Inventory};
use yagura_store::SqliteStore;

/// What a run does with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `yagura analyze`: detect against the baseline (and learn only where learning was
    /// reopened).
    Detect,
    /// `yagura learn`: add everything to the baseline.
    Learn,
}

/// The alerts of a run: every engine's raises, folded and numbered. The policy engine
/// runs only with a baseline that was learned (or imported): one that holds assets. An
/// operation learned from one alert alone does not make every device new. Threat
/// intelligence runs when the database holds indicators.
pub fn detect(
    report: &Report,
    built: &Built,
    baseline: Option<&Baseline>,
    intel: Option<&IntelIndex<'_>>,
) -> Alerts {
    let mut book = AlertBook::new();
    let index = baseline.map(BaselineIndex::new);
    yagura_detect::operational::raise(
        &mut book,
        &report.observations.operations,
        &built.inventory.assets,
        index.as_ref(),
    );
    yagura_detect::anomaly::raise(&mut book, report, built);
    if let Some(ix) = index.as_ref().filter(|ix| !ix.baseline.assets.is_empty()) {
        yagura_detect::policy::raise(&mut book, ix, report, built);
    }
    if let Some(ix) = intel {
        yagura_detect::intel::raise(&mut book, ix, report, built);
    }
    book.finish()
}

/// What persisting a run did, for the summary.
#[derive(Debug, Default)]
pub struct Persisted {
    pub ingest: Option<yagura_store::IngestOutcome>,
    pub learned: Option<LearnCount>,
    pub recorded: Option<yagura_store::RecordOutcome>,
}

/// What a run decided against the stored baseline before its transaction: its alerts, and
/// what it will teach the baseline. `yagura analyze|learn --db` and every flush of the
/// live sensor go through here.
pub struct Decided {
    pub alerts: Alerts,
    mode: Mode,
    /// Learning reopened for these scopes (asset ids, addresses, subnets).
    scopes: Vec<String>,
    /// The reopened scopes teach the baseline something.
    scoped: bool,
}

/// Run the engines over a run's report and inventory against the baseline of `store`
/// (`mode`: detect, or learn). Where learning was reopened, what the assets in the scope
/// do is learned first, so that it does not alert.
pub fn decide(
    store: &SqliteStore,
    mode: Mode,
    report: &Report,
    built: &Built,
    now: yagura_core::Timestamp,
) -> Result<Decided> {
    let mut baseline = store.baseline()?;
    let scopes: Vec<String> = store
        .learning_scopes(now)?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let mut scoped = false;
    if mode == Mode::Detect && !scopes.is_empty() && !baseline.is_empty() {
        scoped = baseline.learn_where(&built.inventory, |a| scopes.iter().any(|s| in_scope(s, a)))
            != LearnCount::default();
    }
    // Threat intelligence needs no baseline: it runs while learning too.
    let indicators = store.active_indicators(now)?;
    let intel = IntelIndex::new(&indicators);
    let intel = (!intel.is_empty()).then_some(&intel);
    let started = std::time::Instant::now();
    let alerts = match mode {
        Mode::Detect => detect(report, built, Some(&baseline), intel),
        // While learning, only the engines that need no baseline alert.
        Mode::Learn => detect(report, built, None, intel),
    };
    tracing::debug!(
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        alerts = alerts.alerts.len(),
        "detection engines"
    );
    Ok(Decided {
        alerts,
        mode,
        scopes,
        scoped,
    })
}

impl Decided {
    /// What the run teaches `baseline` (inside the run's transaction; `None`: nothing):
    /// all of `inventory` while learning, the reopened scopes while detecting.
    pub fn learn(&self, inventory: &Inventory, baseline: &mut Baseline) -> Option<LearnCount> {
        match self.mode {
            Mode::Learn => Some(baseline.learn(inventory)),
            Mode::Detect if self.scoped => Some(
                baseline.learn_where(inventory, |a| self.scopes.iter().any(|s| in_scope(s, a))),
            ),
            Mode::Detect => None,
        }
    }
}

/// Detect (and learn) against the database at `db`, merge the run's inventory into it and
/// record the alerts with their evidence. The alerts' ids become the database's and muted
/// ones are dropped, so that the report shows what the database holds.
pub fn run_with_db(
    db: &PathBuf,
    mode: Mode,
    report: &Report,
    built: &Built,
    run: &yagura_store::RunInfo,
    paths: &[PathBuf],
) -> Result<(Alerts, Persisted)> {
    let mut store = SqliteStore::open(db)
        .with_context(|| format!("opening the inventory database {}", db.display()))?;
    let now = yagura_store::now();
    let mut persisted = Persisted::default();
    let decided = decide(&store, mode, report, built, now)?;
    let alerts = &decided.alerts;
    // One transaction for the run: its inventory, what it teaches the baseline and its
    // alerts (a process killed half-way leaves none of it, and the run is done again).
    // The evidence packets are read again from the input on another thread meanwhile.
    let inv = &built.inventory;
    let (outcome, learned, recorded) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let started = std::time::Instant::now();
            let p = evidence(paths, alerts);
            tracing::debug!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                "evidence read"
            );
            p
        });
        let packets = move || match reader.join() {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(_) => Err("reading the evidence packets failed".to_owned()),
        };
        store.ingest_run(
            inv,
            run,
            |b| decided.learn(inv, b),
            &alerts.alerts,
            packets,
            now,
        )
    })
    .with_context(|| format!("updating the database {}", db.display()))?;
    persisted.ingest = Some(outcome);
    persisted.learned = learned;
    let alerts = decided.alerts;
    let Some(recorded) = recorded else {
        // The same capture again: its alerts are in the database already.
        return Ok((alerts, persisted));
    };
    let ids: Vec<Option<u64>> = recorded.ids.clone();
    persisted.recorded = Some(recorded);
    Ok((as_stored(&store, alerts, &ids)?, persisted))
}

/// `alerts` with the database's ids (`ids`, in the same order; `None`: muted, left out)
/// and statuses.
pub fn as_stored(store: &SqliteStore, alerts: Alerts, ids: &[Option<u64>]) -> Result<Alerts> {
    let mut kept = Vec::with_capacity(alerts.alerts.len());
    for (mut a, id) in alerts.alerts.into_iter().zip(ids) {
        if let Some(id) = id {
            if let Some(s) = store.alert(*id)? {
                a.status = s.alert.status;
            }
            a.id = *id;
            kept.push(a);
        }
    }
    Ok(Alerts {
        alerts: kept,
        overflow: alerts.overflow,
    })
}

/// The evidence packets of `alerts`, read again from the input: one pass over the records
/// up to the last packet wanted.
pub fn evidence(paths: &[PathBuf], alerts: &Alerts) -> Result<HashMap<u64, EvidencePacket>> {
    let wanted: BTreeSet<u64> = alerts
        .alerts
        .iter()
        .flat_map(|a| a.evidence.iter().map(|p| p.index))
        .collect();
    let mut out = HashMap::with_capacity(wanted.len());
    let Some(&last) = wanted.last() else {
        return Ok(out);
    };
    let mut source = yagura_capture::file::open_paths(paths)?;
    while let Some(batch) = source.next_batch(4096)? {
        let end = batch.first_index + batch.len() as u64;
        for &i in wanted.range(batch.first_index..end) {
            let p = batch.get((i - batch.first_index) as usize);
            out.insert(
                i,
                EvidencePacket {
                    index: i,
                    time: p.ts,
                    link: p.link.0,
                    orig_len: p.orig_len,
                    data: p.data.to_vec(),
                },
            );
        }
        if end > last {
            break;
        }
    }
    Ok(out)
}

/// Is `asset` inside a learning scope: its id, one of its addresses, or a subnet in CIDR
/// notation holding one of them?
pub fn in_scope(scope: &str, asset: &Asset) -> bool {
    if scope == asset.id {
        return true;
    }
    match parse_scope(scope) {
        Some((net, bits)) => asset.ips.iter().any(|ip| contains(net, bits, *ip)),
        None => false,
    }
}

/// An address or a CIDR subnet: the network and its prefix length.
pub fn parse_scope(scope: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match scope.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (scope, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_scopes_contain_their_addresses_only() {
        let (n, b) = parse_scope("10.1.2.0/24").unwrap();
        assert!(contains(n, b, "10.1.2.200".parse().unwrap()));
        assert!(!contains(n, b, "10.1.3.1".parse().unwrap()));
        let (n, b) = parse_scope("10.1.2.3").unwrap();
        assert_eq!(b, 32);
        assert!(contains(n, b, "10.1.2.3".parse().unwrap()));
        assert!(!contains(n, b, "10.1.2.4".parse().unwrap()));
        let (n, b) = parse_scope("0.0.0.0/0").unwrap();
        assert!(contains(n, b, "192.168.0.1".parse().unwrap()));
        assert!(!contains(n, b, "fe80::1".parse().unwrap()));
        let (n, b) = parse_scope("fd00::/8").unwrap();
        assert!(contains(n, b, "fd12::1".parse().unwrap()));
        assert!(parse_scope("10.0.0.0/33").is_none());
        assert!(parse_scope("mac:00:11:22:33:44:55").is_none());
        assert!(parse_scope("10.0.0.0/x").is_none());
    }
}
