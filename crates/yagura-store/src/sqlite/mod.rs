//! The embedded SQLite store: one database file (plus its `-wal` and `-shm` while open).
//!
//! WAL journal with `synchronous=NORMAL`: a committed ingest survives the process being
//! killed at any moment (the WAL is in the OS's hands once a transaction commits); on a
//! power cut the last transactions before the last WAL sync may be lost, never half of
//! one. Readers (`yagura assets`) do not block a writer (the sensor) and see the last
//! committed run.

pub(crate) mod detection;
pub(crate) mod ingest;
pub(crate) mod intel;
mod load;
pub(crate) mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use yagura_core::Timestamp;
use yagura_model::inventory::{Asset, Inventory};

use crate::{
    HistoryEntry, IngestOutcome, InventoryStore, Override, OverrideField, Result, RunInfo, RunKind,
    RunRecord, StoreError,
};

/// How long a writer waits for another writer's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An inventory kept in a SQLite database file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it if missing, and brings its schema up to
    /// date.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        Self::open_at(path.as_ref(), schema::LATEST, true)
    }

    /// Opens an existing database (for commands that only read or annotate one): a
    /// missing file is an error rather than a new empty inventory.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<SqliteStore> {
        Self::open_at(path.as_ref(), schema::LATEST, false)
    }

    pub(crate) fn open_at(path: &Path, version: i64, create: bool) -> Result<SqliteStore> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if !path.is_file() {
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
        let mut conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(64);
        // Returns the mode in force: "wal", or "memory" for an in-memory database.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A 32 MiB page cache keeps the indexes of a large inventory (50,000 assets,
        // 500,000 edges: about 100 MiB on disk) mostly in memory during an ingest; after
        // a checkpoint the WAL file is cut back to 64 MiB rather than left at its peak.
        conn.pragma_update(None, "cache_size", -32_768)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        schema::migrate(&mut conn, version)?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        schema::version(&self.conn)
    }

    /// The schema version this build writes.
    pub const LATEST_SCHEMA: i64 = schema::LATEST;

    /// Runs SQLite's own consistency checks (`integrity_check`, `foreign_key_check`) and
    /// checks that every routed module's carrier is stored; returns the problems found,
    /// empty when the file is sound.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut st = self.conn.prepare("PRAGMA integrity_check")?;
        for r in st.query_map([], |r| r.get::<_, String>(0))? {
            let r = r?;
            if r != "ok" {
                problems.push(r);
            }
        }
        let mut st = self.conn.prepare("PRAGMA foreign_key_check")?;
        for r in st.query_map([], |r| {
            Ok(format!(
                "foreign key: {} row {:?} -> {}",
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?
            ))
        })? {
            problems.push(r?);
        }
        // A routed module names its carrier by id (not by a foreign key: the id is what
        // the module's own id is made of); the carrier must be there.
        let mut st = self.conn.prepare(
            "SELECT m.id, m.via FROM assets m
             WHERE m.via IS NOT NULL AND NOT EXISTS (SELECT 1 FROM assets c WHERE c.id = m.via)",
        )?;
        for r in st.query_map([], |r| {
            Ok(format!(
                "routed asset {:?}: its carrier {:?} is not in the store",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })? {
            problems.push(r?);
        }
        Ok(problems)
    }

    /// Direct access for tests and tools in this crate.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn asset_pk(&self, id: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT pk FROM assets WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NoSuchAsset(id.to_string()))
    }
}

/// Timestamps and counters are `u64`; SQLite integers are `i64`. Values past `i64::MAX`
/// (year 2262, or absurd counters) saturate.
pub(crate) fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Back from the database: a negative value (only a damaged file has one) reads as 0.
pub(crate) fn from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn ts(v: i64) -> Timestamp {
    Timestamp(from_sql(v))
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(table: &'static str, column: &'static str, s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|_| StoreError::Corrupt {
        table,
        column,
        value: s.chars().take(200).collect(),
    })
}

impl InventoryStore for SqliteStore {
    fn ingest(&mut self, inventory: &Inventory, run: &RunInfo) -> Result<IngestOutcome> {
        ingest::ingest(&mut self.conn, inventory, run)
    }

    fn load(&self) -> Result<Inventory> {
        Ok(Inventory {
            assets: load::assets(&self.conn, None)?,
            edges: load::edges(&self.conn)?,
        })
    }

    fn asset(&self, id: &str) -> Result<Option<Asset>> {
        match self.asset_pk(id) {
            Ok(pk) => Ok(load::assets(&self.conn, Some(pk))?.pop()),
            Err(StoreError::NoSuchAsset(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        let pk = self.asset_pk(id)?;
        let mut st = self.conn.prepare_cached(
            "SELECT attribute, old_value, new_value, seen_at, run, source
             FROM asset_history WHERE asset = ?1 ORDER BY seen_at, pk",
        )?;
        let rows = st.query_map([pk], |r| {
            Ok(HistoryEntry {
                attribute: r.get(0)?,
                old_value: r.get(1)?,
                new_value: r.get(2)?,
                seen_at: ts(r.get(3)?),
                run_id: r.get(4)?,
                source: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn set_override(
        &mut self,
        id: &str,
        field: OverrideField,
        value: &str,
        set_by: &str,
    ) -> Result<()> {
        let value = field.validate(value)?;
        let pk = self.asset_pk(id)?;
        let now = crate::now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old: Option<String> = tx
            .query_row(
                "SELECT value FROM asset_overrides WHERE asset = ?1 AND field = ?2",
                params![pk, field.id()],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT INTO asset_overrides (asset, field, value, set_by, set_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (asset, field) DO UPDATE SET
               value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at",
            params![pk, field.id(), value, set_by, to_sql(now.0)],
        )?;
        if old.as_deref() != Some(value.as_str()) {
            record_user_change(&tx, pk, field, old, Some(value), set_by, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn clear_overrides(
        &mut self,
        id: &str,
        field: Option<OverrideField>,
        set_by: &str,
    ) -> Result<usize> {
        let pk = self.asset_pk(id)?;
        let now = crate::now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut cleared = 0;
        for f in OverrideField::ALL {
            if field.is_some_and(|x| x != f) {
                continue;
            }
            let old: Option<String> = tx
                .query_row(
                    "DELETE FROM asset_overrides WHERE asset = ?1 AND field = ?2 RETURNING value",
                    params![pk, f.id()],
                    |r| r.get(0),
                )
                .optional()?;
            if old.is_some() {
                record_user_change(&tx, pk, f, old, None, set_by, now)?;
                cleared += 1;
            }
        }
        tx.commit()?;
        Ok(cleared)
    }

    fn overrides(&self, id: &str) -> Result<Vec<Override>> {
        let pk = self.asset_pk(id)?;
        load::overrides(&self.conn, Some(pk)).map(|m| m.into_values().flatten().collect())
    }

    fn runs(&self) -> Result<Vec<RunRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, key, kind, inputs, first_seen, last_seen, packets, bytes, assets, edges,
                    ingests, started_at, updated_at
             FROM runs ORDER BY id",
        )?;
        let mut out = Vec::new();
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let kind: String = r.get(2)?;
            let inputs: String = r.get(3)?;
            out.push(RunRecord {
                id: r.get(0)?,
                key: r.get(1)?,
                kind: RunKind::from_id(&kind).ok_or(StoreError::Corrupt {
                    table: "runs",
                    column: "kind",
                    value: kind.clone(),
                })?,
                inputs: parse_list("runs", "inputs", &inputs)?,
                first_seen: ts(r.get(4)?),
                last_seen: ts(r.get(5)?),
                packets: from_sql(r.get(6)?),
                bytes: from_sql(r.get(7)?),
                assets: from_sql(r.get(8)?),
                edges: from_sql(r.get(9)?),
                ingests: from_sql(r.get(10)?),
                started_at: ts(r.get(11)?),
                updated_at: ts(r.get(12)?),
            });
        }
        Ok(out)
    }
}

fn record_user_change(
    conn: &Connection,
    pk: i64,
    field: OverrideField,
    old: Option<String>,
    new: Option<String>,
    set_by: &str,
    now: Timestamp,
) -> Result<()> {
    conn.execute(
        "INSERT INTO asset_history
           (asset, attribute, old_value, new_value, seen_at, run, source, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?5)",
        params![
            pk,
            format!("override:{}", field.id()),
            old,
            new,
            to_sql(now.0),
            format!("user:{set_by}")
        ],
    )?;
    Ok(())
}
