//! Threat-intelligence indicators in the SQLite store (schema version 5).
//!
//! An import replaces the indicators of each source it names, in one transaction: an
//! indicator the file still holds is kept (and updated when its name, description or
//! validity changed), one it no longer holds is removed (a feed that dropped or revoked
//! it), a new one is added. Importing the same file again changes nothing.

use std::collections::HashMap;

use rusqlite::{TransactionBehavior, params};
use serde::Serialize;
use yagura_core::Timestamp;
use yagura_detect::intel::{Indicator, IndicatorKind};

use super::{SqliteStore, to_sql, ts};
use crate::{Result, StoreError};

/// What importing one source did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntelImportOutcome {
    pub source: String,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Indicators the source had and no longer has.
    pub removed: u64,
}

/// An indicator as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredIndicator {
    #[serde(flatten)]
    pub indicator: Indicator,
    pub imported_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The fields an update compares.
type Details = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn details(i: &Indicator) -> Details {
    (
        i.name.clone(),
        i.description.clone(),
        i.stix_id.clone(),
        i.valid_from.map(|t| to_sql(t.0)),
        i.valid_until.map(|t| to_sql(t.0)),
    )
}

impl SqliteStore {
    /// Replace the indicators of each `(source, indicators)` with those given, all in one
    /// transaction (a failure leaves the database as it was). Every indicator's `source`
    /// must be its batch's.
    pub fn import_indicators(
        &mut self,
        batches: &[(String, Vec<Indicator>)],
        now: Timestamp,
    ) -> Result<Vec<IntelImportOutcome>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(batches.len());
        for (source, indicators) in batches {
            let mut outcome = IntelImportOutcome {
                source: source.clone(),
                ..IntelImportOutcome::default()
            };
            let mut old: HashMap<(String, String), Details> = HashMap::new();
            {
                let mut st = tx.prepare(
                    "SELECT kind, value, name, description, stix_id, valid_from, valid_until
                     FROM intel_indicators WHERE source = ?1",
                )?;
                let rows = st.query_map([source], |r| {
                    Ok((
                        (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                        (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
                    ))
                })?;
                for r in rows {
                    let (k, v) = r?;
                    old.insert(k, v);
                }
            }
            let mut insert = tx.prepare(
                "INSERT INTO intel_indicators (source, kind, value, name, description, stix_id,
                     valid_from, valid_until, imported_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            )?;
            let mut update = tx.prepare(
                "UPDATE intel_indicators SET name = ?4, description = ?5, stix_id = ?6,
                     valid_from = ?7, valid_until = ?8, updated_at = ?9
                 WHERE source = ?1 AND kind = ?2 AND value = ?3",
            )?;
            for i in indicators {
                if &i.source != source {
                    return Err(StoreError::Invalid {
                        field: "indicator source",
                        reason: format!("{:?} in the batch of {source:?}", i.source),
                    });
                }
                let d = details(i);
                let key = (i.kind.id().to_owned(), i.value.clone());
                let stmt = match old.remove(&key) {
                    None => {
                        outcome.new += 1;
                        &mut insert
                    }
                    Some(was) if was == d => {
                        outcome.unchanged += 1;
                        continue;
                    }
                    Some(_) => {
                        outcome.updated += 1;
                        &mut update
                    }
                };
                stmt.execute(params![
                    source,
                    key.0,
                    key.1,
                    d.0,
                    d.1,
                    d.2,
                    d.3,
                    d.4,
                    to_sql(now.0)
                ])?;
            }
            let mut delete = tx.prepare(
                "DELETE FROM intel_indicators WHERE source = ?1 AND kind = ?2 AND value = ?3",
            )?;
            for (kind, value) in old.into_keys() {
                outcome.removed += delete.execute(params![source, kind, value])? as u64;
            }
            out.push(outcome);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Every stored indicator, by source, kind and value.
    pub fn indicators(&self) -> Result<Vec<StoredIndicator>> {
        let mut st = self.conn.prepare(
            "SELECT source, kind, value, name, description, stix_id, valid_from, valid_until,
                 imported_at, updated_at
             FROM intel_indicators ORDER BY source, kind, value",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                StoredIndicator {
                    indicator: Indicator {
                        kind: IndicatorKind::Ip,
                        value: r.get(2)?,
                        source: r.get(0)?,
                        name: r.get(3)?,
                        description: r.get(4)?,
                        stix_id: r.get(5)?,
                        valid_from: r.get::<_, Option<i64>>(6)?.map(ts),
                        valid_until: r.get::<_, Option<i64>>(7)?.map(ts),
                    },
                    imported_at: ts(r.get(8)?),
                    updated_at: ts(r.get(9)?),
                },
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (kind, mut s) = r?;
            s.indicator.kind =
                IndicatorKind::from_id(&kind).ok_or_else(|| StoreError::Corrupt {
                    table: "intel_indicators",
                    column: "kind",
                    value: kind.clone(),
                })?;
            out.push(s);
        }
        Ok(out)
    }

    /// The indicators that apply at `now` (no `valid_until`, or a later one), for matching.
    pub fn active_indicators(&self, now: Timestamp) -> Result<Vec<Indicator>> {
        Ok(self
            .indicators()?
            .into_iter()
            .map(|s| s.indicator)
            .filter(|i| i.valid_until.is_none_or(|t| t > now))
            .collect())
    }

    /// Remove every indicator of `source`; how many there were.
    pub fn remove_indicators(&mut self, source: &str) -> Result<u64> {
        Ok(self
            .conn
            .execute("DELETE FROM intel_indicators WHERE source = ?1", [source])? as u64)
    }
}
