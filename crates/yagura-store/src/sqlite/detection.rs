//! The baseline and the alerts in the SQLite store (schema versions 4 and 5).
//!
//! The baseline is small (one row per learned asset and connection) and is replaced whole
//! in one transaction when it changes. Alerts fold: an occurrence of a behaviour that has an
//! open alert (new or acknowledged) adds to its count; otherwise it is a new alert. Every
//! status change is kept in `alert_history` with who made it and when.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use yagura_core::{IpAddr, Timestamp};
use yagura_detect::baseline::{Baseline, BaselineAsset, BaselineConnection, LearnCount};
use yagura_detect::{
    Alert, AlertKind, Endpoint, EvidencePacket, Function, Lang, MAX_EVIDENCE, PacketRef, Status,
};

use super::{SqliteStore, from_sql, to_sql, ts};
use crate::{Result, StoreError};

/// The live sensor's learning period (`yagura sensor --learn-for`), wall-clock times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LearningPeriod {
    pub started: Timestamp,
    pub until: Timestamp,
}

impl LearningPeriod {
    /// Is the sensor still learning at `now`?
    pub fn is_open(&self, now: Timestamp) -> bool {
        now < self.until
    }
}

/// What recording a run's alerts did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordOutcome {
    /// Alerts created.
    pub new: u64,
    /// Occurrences folded into an open alert.
    pub folded: u64,
    /// Occurrences suppressed by a mute.
    pub muted: u64,
    /// The database id of each recorded alert, in the order given (`None`: muted).
    pub ids: Vec<Option<u64>>,
}

/// An alert as stored, with what only the store knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAlert {
    /// `alert.id` is the database id.
    #[serde(flatten)]
    pub alert: Alert,
    /// The run that raised it first and last.
    pub first_run: Option<i64>,
    pub last_run: Option<i64>,
    /// When the status last changed (by anyone).
    pub status_changed_at: Timestamp,
}

/// One change of an alert's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub at: Timestamp,
    /// `yagura` for the system, or the user's name.
    pub actor: String,
    pub from: Option<Status>,
    pub to: Status,
    pub note: Option<String>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<Status>,
    pub kind: Option<AlertKind>,
    /// Alerts about this address (as source or destination).
    pub ip: Option<IpAddr>,
    /// At most this many, newest first (0: all).
    pub limit: usize,
}

/// The key under which repeats fold (the same as the alert book's): a raise with this key
/// folds into the open alert that holds it.
pub fn fold_key(a: &Alert) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        a.kind.id(),
        opt(a.src.ip),
        opt(a.src.mac),
        opt(a.dst.ip),
        opt(a.dst.mac),
        a.protocol.as_deref().unwrap_or(""),
        a.function
            .as_ref()
            .map(|f| f.code.to_string())
            .unwrap_or_default()
    )
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The side of a mute: an address, else a MAC, else nothing.
fn side(e: &Endpoint) -> String {
    match (e.ip, e.mac) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => String::new(),
    }
}

impl SqliteStore {
    /// The learned baseline (empty when nothing was learned).
    pub fn baseline(&self) -> Result<Baseline> {
        load_baseline(&self.conn)
    }

    /// Replace the baseline with `b`, in one transaction.
    pub fn set_baseline(&mut self, b: &Baseline) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        save_baseline(&tx, b)?;
        tx.commit()?;
        Ok(())
    }

    /// Change the baseline with `f` and store the result, in one transaction (so that two
    /// processes learning at once do not lose each other's facts).
    pub fn update_baseline<T>(&mut self, f: impl FnOnce(&mut Baseline) -> T) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut b = load_baseline(&tx)?;
        let out = f(&mut b);
        save_baseline(&tx, &b)?;
        tx.commit()?;
        Ok(out)
    }

    /// Record a run's alerts: fold each into the open alert of the same behaviour, or
    /// create it; skip those muted. `evidence` holds the packets the alerts refer to (by
    /// input index); an alert keeps its first [`MAX_EVIDENCE`] packets.
    pub fn record_alerts(
        &mut self,
        alerts: &[Alert],
        evidence: &HashMap<u64, EvidencePacket>,
        run: Option<i64>,
        now: Timestamp,
    ) -> Result<RecordOutcome> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = record_in(&tx, alerts, evidence, run, now)?;
        tx.commit()?;
        Ok(out)
    }

    /// A whole run in one transaction, so that a killed process leaves all of it or none:
    /// merge its inventory (as [`crate::InventoryStore::ingest`]), change the baseline with
    /// `learn` (`None`: no change), and, unless the run was ingested before, record its
    /// alerts (as [`SqliteStore::record_alerts`]) with the evidence packets `evidence`
    /// gives (called after the merge, so that the caller can read them meanwhile; an
    /// error there undoes the whole run).
    pub fn ingest_run(
        &mut self,
        inventory: &yagura_model::inventory::Inventory,
        run: &crate::RunInfo,
        learn: impl FnOnce(&mut Baseline) -> Option<LearnCount>,
        alerts: &[Alert],
        evidence: impl FnOnce() -> std::result::Result<HashMap<u64, EvidencePacket>, String>,
        now: Timestamp,
    ) -> Result<(
        crate::IngestOutcome,
        Option<LearnCount>,
        Option<RecordOutcome>,
    )> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = super::ingest::ingest_in(&tx, inventory, run)?;
        let mut b = load_baseline(&tx)?;
        let learned = learn(&mut b);
        if learned.is_some() {
            save_baseline(&tx, &b)?;
        }
        let recorded = if outcome.already_ingested {
            None
        } else {
            let packets = evidence().map_err(|reason| StoreError::Invalid {
                field: "evidence",
                reason,
            })?;
            Some(record_in(&tx, alerts, &packets, Some(outcome.run_id), now)?)
        };
        tx.commit()?;
        Ok((outcome, learned, recorded))
    }

    /// Alerts matching `filter`, newest first.
    pub fn alerts(&self, filter: &AlertFilter) -> Result<Vec<StoredAlert>> {
        let mut sql = String::from(&*SELECT_ALERT);
        sql.push_str(" WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        if let Some(s) = filter.status {
            args.push(s.id().to_owned());
            sql.push_str(&format!(" AND status = ?{}", args.len()));
        }
        if let Some(k) = filter.kind {
            args.push(k.id().to_owned());
            sql.push_str(&format!(" AND kind = ?{}", args.len()));
        }
        if let Some(ip) = filter.ip {
            args.push(ip.to_string());
            sql.push_str(&format!(
                " AND (src_ip = ?{0} OR dst_ip = ?{0})",
                args.len()
            ));
        }
        sql.push_str(" ORDER BY last_seen DESC, id DESC");
        if filter.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", filter.limit));
        }
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args.iter()), read_alert)?;
        let mut out = Vec::new();
        for r in rows {
            let mut a = r??;
            a.alert.evidence = evidence_refs(&self.conn, a.alert.id)?;
            out.push(a);
        }
        Ok(out)
    }

    /// One alert, with its evidence references.
    pub fn alert(&self, id: u64) -> Result<Option<StoredAlert>> {
        let sql = format!("{} WHERE id = ?1", &*SELECT_ALERT);
        let a = self
            .conn
            .query_row(&sql, [to_sql(id)], read_alert)
            .optional()?
            .transpose()?;
        match a {
            Some(mut a) => {
                a.alert.evidence = evidence_refs(&self.conn, a.alert.id)?;
                Ok(Some(a))
            }
            None => Ok(None),
        }
    }

    /// The status changes of an alert, oldest first.
    pub fn alert_history(&self, id: u64) -> Result<Vec<StatusChange>> {
        let mut st = self.conn.prepare_cached(
            "SELECT at, actor, old_status, new_status, note FROM alert_history
             WHERE alert = ?1 ORDER BY at, pk",
        )?;
        let rows = st.query_map([to_sql(id)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (at, actor, from, to, note) = r?;
            out.push(StatusChange {
                at: ts(at),
                actor,
                from: from.as_deref().map(status).transpose()?,
                to: status(&to)?,
                note,
            });
        }
        Ok(out)
    }

    /// The evidence packets of an alert, in capture order.
    pub fn alert_evidence(&self, id: u64) -> Result<Vec<EvidencePacket>> {
        let mut st = self.conn.prepare_cached(
            "SELECT packet_index, ts, link, orig_len, data FROM alert_evidence
             WHERE alert = ?1 AND data IS NOT NULL ORDER BY packet_index",
        )?;
        let rows = st.query_map([to_sql(id)], |r| {
            Ok(EvidencePacket {
                index: from_sql(r.get(0)?),
                time: ts(r.get(1)?),
                link: r.get(2)?,
                orig_len: r.get(3)?,
                data: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Set an alert's status (acknowledge, learn, close…) as `actor`; records the change.
    /// Returns the previous status.
    pub fn set_alert_status(
        &mut self,
        id: u64,
        to: Status,
        actor: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Status> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let from = set_status(&tx, id, to, actor, note, now)?;
        tx.commit()?;
        Ok(from)
    }

    /// Mute the kind of alert `id` for its pair of assets: its open alerts of that kind
    /// between the two become `muted`, and later occurrences are not recorded. Returns the
    /// ids of the alerts muted.
    pub fn mute_alert(
        &mut self,
        id: u64,
        actor: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<u64>> {
        let a = self
            .alert(id)?
            .ok_or_else(|| StoreError::NoSuchAlert(id))?
            .alert;
        let (src, dst) = (side(&a.src), side(&a.dst));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO alert_mutes (kind, src, dst, set_by, set_at, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![a.kind.id(), src, dst, actor, to_sql(now.0), note],
        )?;
        let mut ids = vec![id];
        {
            let mut st = tx.prepare(
                "SELECT id FROM alerts WHERE kind = ?1 AND status IN ('new', 'acknowledged')
                 AND COALESCE(src_ip, src_mac, '') = ?2 AND COALESCE(dst_ip, dst_mac, '') = ?3",
            )?;
            for r in st.query_map(params![a.kind.id(), src, dst], |r| r.get::<_, i64>(0))? {
                let other = from_sql(r?);
                if other != id {
                    ids.push(other);
                }
            }
        }
        for i in &ids {
            set_status(&tx, *i, Status::Muted, actor, note, now)?;
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Learning reopened (see [`SqliteStore::reopen_learning`]) and still open at `now`:
    /// `(scope, until)`.
    pub fn learning_scopes(&self, now: Timestamp) -> Result<Vec<(String, Option<Timestamp>)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT scope, until FROM learning_scopes WHERE until IS NULL OR until > ?1
             ORDER BY scope",
        )?;
        let rows = st.query_map([to_sql(now.0)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?.map(ts)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Reopen learning for `scope` (an asset id, an address or a subnet in CIDR notation)
    /// until `until` (forever when `None`, until closed).
    pub fn reopen_learning(
        &mut self,
        scope: &str,
        until: Option<Timestamp>,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO learning_scopes (scope, until, set_by, set_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![scope, until.map(|t| to_sql(t.0)), actor, to_sql(now.0)],
        )?;
        Ok(())
    }

    /// The learning period of the live sensor, if one was ever begun.
    pub fn learning_period(&self) -> Result<Option<LearningPeriod>> {
        Ok(self
            .conn
            .query_row(
                "SELECT started, until FROM learning_period WHERE id = 1",
                [],
                |r| {
                    Ok(LearningPeriod {
                        started: ts(r.get(0)?),
                        until: ts(r.get(1)?),
                    })
                },
            )
            .optional()?)
    }

    /// Begin the live sensor's learning period, from `now` for `length`, unless one was
    /// begun before: then that one is kept (a restarted sensor continues its period, and
    /// one already over means detection). Returns the period in force and whether it was
    /// begun now. Two sensors starting at once get the same period.
    pub fn begin_learning_period(
        &mut self,
        now: Timestamp,
        length: std::time::Duration,
        actor: &str,
    ) -> Result<(LearningPeriod, bool)> {
        let until = Timestamp(
            now.0
                .saturating_add(u64::try_from(length.as_nanos()).unwrap_or(u64::MAX)),
        );
        let begun = self.conn.execute(
            "INSERT OR IGNORE INTO learning_period (id, started, until, set_by)
             VALUES (1, ?1, ?2, ?3)",
            params![to_sql(now.0), to_sql(until.0), actor],
        )? > 0;
        let p = self.learning_period()?.ok_or_else(|| StoreError::Corrupt {
            table: "learning_period",
            column: "id",
            value: "missing after insert".into(),
        })?;
        Ok((p, begun))
    }

    /// The capture indices of an alert's evidence packets kept without their bytes (a live
    /// sensor's packets already gone from its buffer), in capture order.
    pub fn alert_evidence_without_bytes(&self, id: u64) -> Result<Vec<u64>> {
        let mut st = self.conn.prepare_cached(
            "SELECT packet_index FROM alert_evidence WHERE alert = ?1 AND data IS NULL
             ORDER BY packet_index",
        )?;
        let rows = st.query_map([to_sql(id)], |r| r.get::<_, i64>(0))?;
        rows.map(|r| Ok(from_sql(r?))).collect()
    }

    /// Close learning for `scope`; returns whether it was open.
    pub fn close_learning(&mut self, scope: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM learning_scopes WHERE scope = ?1", [scope])?
            > 0)
    }
}

/// [`SqliteStore::record_alerts`] inside a transaction the caller commits.
fn record_in(
    tx: &Transaction<'_>,
    alerts: &[Alert],
    evidence: &HashMap<u64, EvidencePacket>,
    run: Option<i64>,
    now: Timestamp,
) -> Result<RecordOutcome> {
    let mut out = RecordOutcome::default();
    for a in alerts {
        if is_muted(tx, a)? {
            out.muted += 1;
            out.ids.push(None);
            continue;
        }
        let key = fold_key(a);
        let open: Option<i64> = tx
            .query_row(
                "SELECT id FROM alerts WHERE fold_key = ?1 AND status IN ('new', 'acknowledged')
                 ORDER BY id DESC LIMIT 1",
                [&key],
                |r| r.get(0),
            )
            .optional()?;
        let id = match open {
            Some(id) => {
                tx.execute(
                    "UPDATE alerts SET count = count + ?2,
                         first_seen = MIN(first_seen, ?3), last_seen = MAX(last_seen, ?4),
                         last_run = COALESCE(?5, last_run)
                     WHERE id = ?1",
                    params![
                        id,
                        to_sql(a.count),
                        to_sql(a.first_seen.0),
                        to_sql(a.last_seen.0),
                        run
                    ],
                )?;
                out.folded += 1;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO alerts (fold_key, kind, engine, severity, title, title_ja,
                         description, src_ip, src_mac, src_port, dst_ip, dst_mac, dst_port,
                         protocol, function_code, function_name, first_seen, last_seen,
                         count, status, status_changed_at, first_run, last_run)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                             ?15, ?16, ?17, ?18, MAX(?19, 1), 'new', ?20, ?21, ?21)",
                    params![
                        key,
                        a.kind.id(),
                        a.engine.id(),
                        a.severity.id(),
                        a.title,
                        a.title_ja,
                        a.description,
                        a.src.ip.map(|i| i.to_string()),
                        a.src.mac.map(|m| m.to_string()),
                        a.src.port,
                        a.dst.ip.map(|i| i.to_string()),
                        a.dst.mac.map(|m| m.to_string()),
                        a.dst.port,
                        a.protocol,
                        a.function.as_ref().map(|f| f.code),
                        a.function.as_ref().map(|f| f.name.clone()),
                        to_sql(a.first_seen.0),
                        to_sql(a.last_seen.0),
                        to_sql(a.count),
                        to_sql(now.0),
                        run,
                    ],
                )?;
                let id = tx.last_insert_rowid();
                history(
                    tx,
                    id,
                    now,
                    "yagura",
                    None,
                    Status::New,
                    run.map(|r| format!("raised by run {r}")),
                )?;
                out.new += 1;
                id
            }
        };
        add_evidence(tx, id, &a.evidence, evidence)?;
        out.ids.push(Some(from_sql(id)));
    }
    Ok(out)
}

fn status(s: &str) -> Result<Status> {
    Status::from_id(s).ok_or_else(|| StoreError::Corrupt {
        table: "alerts",
        column: "status",
        value: s.to_owned(),
    })
}

fn set_status(
    tx: &Transaction<'_>,
    id: u64,
    to: Status,
    actor: &str,
    note: Option<&str>,
    now: Timestamp,
) -> Result<Status> {
    let from: String = tx
        .query_row(
            "SELECT status FROM alerts WHERE id = ?1",
            [to_sql(id)],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::NoSuchAlert(id))?;
    let from = status(&from)?;
    tx.execute(
        "UPDATE alerts SET status = ?2, status_changed_at = ?3 WHERE id = ?1",
        params![to_sql(id), to.id(), to_sql(now.0)],
    )?;
    history(
        tx,
        to_sql(id),
        now,
        actor,
        Some(from),
        to,
        note.map(str::to_owned),
    )?;
    Ok(from)
}

fn history(
    tx: &Connection,
    alert: i64,
    at: Timestamp,
    actor: &str,
    from: Option<Status>,
    to: Status,
    note: Option<String>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO alert_history (alert, at, actor, old_status, new_status, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            alert,
            to_sql(at.0),
            actor,
            from.map(Status::id),
            to.id(),
            note
        ],
    )?;
    Ok(())
}

fn is_muted(tx: &Connection, a: &Alert) -> Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM alert_mutes WHERE kind = ?1 AND src = ?2 AND dst = ?3",
            params![a.kind.id(), side(&a.src), side(&a.dst)],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn add_evidence(
    tx: &Connection,
    alert: i64,
    refs: &[PacketRef],
    packets: &HashMap<u64, EvidencePacket>,
) -> Result<()> {
    let held: i64 = tx.query_row(
        "SELECT COUNT(*) FROM alert_evidence WHERE alert = ?1",
        [alert],
        |r| r.get(0),
    )?;
    let room = MAX_EVIDENCE.saturating_sub(from_sql(held) as usize);
    for r in refs.iter().take(room) {
        let p = packets.get(&r.index);
        tx.execute(
            "INSERT OR IGNORE INTO alert_evidence (alert, packet_index, ts, link, orig_len, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                alert,
                to_sql(r.index),
                to_sql(r.time.0),
                p.map(|p| p.link),
                p.map(|p| p.orig_len),
                p.map(|p| p.data.as_slice()),
            ],
        )?;
    }
    Ok(())
}

fn evidence_refs(conn: &Connection, id: u64) -> Result<Vec<PacketRef>> {
    let mut st = conn.prepare_cached(
        "SELECT packet_index, ts FROM alert_evidence WHERE alert = ?1 ORDER BY packet_index",
    )?;
    let rows = st.query_map([to_sql(id)], |r| {
        Ok(PacketRef {
            index: from_sql(r.get(0)?),
            time: ts(r.get(1)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

static SELECT_ALERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    "SELECT id, kind, description, src_ip, src_mac, src_port, dst_ip, dst_mac, dst_port,
            protocol, function_code, function_name, first_seen, last_seen, count, status,
            status_changed_at, first_run, last_run
     FROM alerts"
        .to_owned()
});

fn read_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredAlert>> {
    let kind_id: String = r.get(1)?;
    let status_id: String = r.get(15)?;
    let ip = |s: Option<String>| s.and_then(|s| s.parse::<IpAddr>().ok());
    let mac = |s: Option<String>| s.as_deref().and_then(yagura_core::MacAddr::parse);
    let src = Endpoint {
        ip: ip(r.get(3)?),
        mac: mac(r.get(4)?),
        port: r.get(5)?,
    };
    let dst = Endpoint {
        ip: ip(r.get(6)?),
        mac: mac(r.get(7)?),
        port: r.get(8)?,
    };
    let function = match (
        r.get::<_, Option<u32>>(10)?,
        r.get::<_, Option<String>>(11)?,
    ) {
        (Some(code), name) => Some(Function {
            code,
            name: name.unwrap_or_default(),
        }),
        _ => None,
    };
    let (first_seen, last_seen, count): (i64, i64, i64) = (r.get(12)?, r.get(13)?, r.get(14)?);
    let (changed, first_run, last_run): (i64, Option<i64>, Option<i64>) =
        (r.get(16)?, r.get(17)?, r.get(18)?);
    let id: i64 = r.get(0)?;
    let description: String = r.get(2)?;
    let protocol: Option<String> = r.get(9)?;
    Ok((|| {
        let kind = AlertKind::from_id(&kind_id).ok_or_else(|| StoreError::Corrupt {
            table: "alerts",
            column: "kind",
            value: kind_id.clone(),
        })?;
        Ok(StoredAlert {
            alert: Alert {
                id: from_sql(id),
                first_seen: ts(first_seen),
                last_seen: ts(last_seen),
                count: from_sql(count),
                engine: kind.engine(),
                kind,
                severity: kind.severity(),
                title: kind.title(Lang::En).to_owned(),
                title_ja: kind.title(Lang::Ja).to_owned(),
                description,
                src,
                dst,
                protocol,
                function,
                status: status(&status_id)?,
                evidence: Vec::new(),
            },
            first_run,
            last_run,
            status_changed_at: ts(changed),
        })
    })())
}

fn load_baseline(conn: &Connection) -> Result<Baseline> {
    let mut b = Baseline::default();
    let mut st = conn.prepare_cached(
        "SELECT id, ips, mac, device_type, vendor, model, firmware, serves, speaks
         FROM baseline_assets ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
        ))
    })?;
    for row in rows {
        let (id, ips, mac, device_type, vendor, model, firmware, serves, speaks) = row?;
        let ips: Vec<String> = super::parse_list("baseline_assets", "ips", &ips)?;
        let ips = ips
            .iter()
            .map(|s| {
                s.parse::<IpAddr>().map_err(|_| StoreError::Corrupt {
                    table: "baseline_assets",
                    column: "ips",
                    value: s.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        b.assets.push(BaselineAsset {
            id,
            ips,
            mac,
            device_type,
            vendor,
            model,
            firmware,
            serves: super::parse_list("baseline_assets", "serves", &serves)?,
            speaks: super::parse_list("baseline_assets", "speaks", &speaks)?,
        });
    }
    let mut st = conn.prepare_cached(
        "SELECT src, dst, transport, port, protocol, operations, period_min_s, period_max_s
         FROM baseline_connections",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, u16>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<f64>>(6)?,
            r.get::<_, Option<f64>>(7)?,
        ))
    })?;
    for row in rows {
        let (src, dst, transport, port, protocol, ops, min, max) = row?;
        b.connections.push(BaselineConnection {
            src,
            dst,
            transport,
            port,
            protocol: (!protocol.is_empty()).then_some(protocol),
            operations: super::parse_list("baseline_connections", "operations", &ops)?,
            period_min_s: min,
            period_max_s: max,
        });
    }
    b.normalize();
    Ok(b)
}

fn save_baseline(tx: &Transaction<'_>, b: &Baseline) -> Result<()> {
    tx.execute("DELETE FROM baseline_assets", [])?;
    tx.execute("DELETE FROM baseline_connections", [])?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO baseline_assets (id, ips, mac, device_type, vendor, model, firmware,
                 serves, speaks) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for a in &b.assets {
            let ips: Vec<String> = a.ips.iter().map(ToString::to_string).collect();
            st.execute(params![
                a.id,
                super::json_list(&ips),
                a.mac,
                a.device_type,
                a.vendor,
                a.model,
                a.firmware,
                super::json_list(&a.serves),
                super::json_list(&a.speaks),
            ])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO baseline_connections (src, dst, transport, port, protocol, operations,
                 period_min_s, period_max_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for c in &b.connections {
            st.execute(params![
                c.src,
                c.dst,
                c.transport,
                c.port,
                c.protocol.as_deref().unwrap_or(""),
                super::json_list(&c.operations),
                c.period_min_s,
                c.period_max_s,
            ])?;
        }
    }
    Ok(())
}
