//! Yagura's persistence: the inventory (assets and the communication graph) kept across
//! runs, so that analysing more captures, or the running sensor, updates one inventory.
//!
//! [`InventoryStore`] is the interface; [`SqliteStore`] the embedded default (one file,
//! WAL, versioned migrations). A central PostgreSQL backend can implement the same trait.
//! The store does not fuse observations: it merges the [`Inventory`] that
//! `yagura-model` built for a run into what it holds (see docs/store.md for the rules),
//! keeps a timestamped history of changed attributes and the user's overrides.
//!
//! Room in the house: after the model, before reports and the web console. Depends on
//! `yagura-core`, `yagura-model` and the database driver only.

mod merge;
mod sqlite;
pub mod synthetic;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Serialize;
use yagura_core::Timestamp;
use yagura_model::inventory::{DeviceType, Inventory};

pub use sqlite::SqliteStore;
pub use sqlite::detection::{
    AlertFilter, LearningPeriod, RecordOutcome, StatusChange, StoredAlert, fold_key,
};
pub use sqlite::intel::{IntelImportOutcome, StoredIndicator};

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database itself failed (I/O, corruption, locked for too long).
    #[error("database: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database was written by a newer Yagura whose schema this one does not know.
    #[error(
        "database schema version {found} is newer than this yagura supports ({supported}); use a newer yagura"
    )]
    TooNew { found: i64, supported: i64 },
    /// No database at this path (commands that read one do not create it).
    #[error("no database at {0} (create one with `yagura analyze --db PATH`)")]
    NotFound(PathBuf),
    /// No asset with this id.
    #[error("no asset with id {0:?}")]
    NoSuchAsset(String),
    /// No alert with this id.
    #[error("no alert with id {0}")]
    NoSuchAlert(u64),
    /// A value the store refuses (an unknown device type, a Purdue level above 5…).
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// Content in the database that does not decode (a damaged or hand-edited file).
    #[error("corrupt value in {table}.{column}: {value:?}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        value: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where a run's inventory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `yagura analyze`: a finished set of capture files. Ingested once: the same run
    /// key again is skipped.
    Files,
    /// `yagura sensor`: a live capture that ingests repeatedly under one key, each time
    /// the counters *since the previous ingest* (see [`counters_since`]).
    Sensor,
}

impl RunKind {
    pub const fn id(self) -> &'static str {
        match self {
            RunKind::Files => "files",
            RunKind::Sensor => "sensor",
        }
    }

    pub fn from_id(id: &str) -> Option<RunKind> {
        match id {
            "files" => Some(RunKind::Files),
            "sensor" => Some(RunKind::Sensor),
            _ => None,
        }
    }
}

/// What is being ingested: the identity of a run and what it covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// Identifies the run across ingests (see [`RunInfo::files`], [`RunInfo::sensor`]).
    pub key: String,
    pub kind: RunKind,
    /// Capture files, or the interface.
    pub inputs: Vec<String>,
    /// Capture time of the first and last packet.
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub packets: u64,
    pub bytes: u64,
}

impl RunInfo {
    /// A run over capture files. The key is made of what identifies the capture's
    /// content — file sizes, first and last packet time, packet and byte counts — not of
    /// the paths, so a capture copied or renamed is still recognised as already ingested.
    pub fn files<P: AsRef<Path>>(
        paths: &[P],
        first_seen: Timestamp,
        last_seen: Timestamp,
        packets: u64,
        bytes: u64,
    ) -> std::io::Result<RunInfo> {
        let mut sizes = Vec::with_capacity(paths.len());
        for p in paths {
            sizes.push(total_size(p.as_ref())?);
        }
        sizes.sort_unstable();
        let sizes: Vec<String> = sizes.iter().map(u64::to_string).collect();
        Ok(RunInfo {
            key: format!(
                "files:first={}:last={}:packets={packets}:bytes={bytes}:sizes={}",
                first_seen.0,
                last_seen.0,
                sizes.join(",")
            ),
            kind: RunKind::Files,
            inputs: paths
                .iter()
                .map(|p| p.as_ref().display().to_string())
                .collect(),
            first_seen,
            last_seen,
            packets,
            bytes,
        })
    }

    /// A live sensor run on `interface`, started at `started` (wall clock).
    pub fn sensor(interface: &str, started: Timestamp) -> RunInfo {
        RunInfo {
            key: format!("sensor:{interface}:{}", started.0),
            kind: RunKind::Sensor,
            inputs: vec![interface.to_string()],
            first_seen: started,
            last_seen: started,
            packets: 0,
            bytes: 0,
        }
    }
}

/// Size of a file, or of every file under a directory (bounded depth: capture trees are
/// shallow, and a symlink loop must not hang the key computation).
fn total_size(p: &Path) -> std::io::Result<u64> {
    fn walk(p: &Path, depth: u32) -> std::io::Result<u64> {
        let md = std::fs::metadata(p)?;
        if !md.is_dir() {
            return Ok(md.len());
        }
        if depth == 0 {
            return Ok(0);
        }
        let mut total = 0u64;
        for e in std::fs::read_dir(p)? {
            total = total.saturating_add(walk(&e?.path(), depth - 1)?);
        }
        Ok(total)
    }
    walk(p, 16)
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// The run's id in the store.
    pub run_id: i64,
    /// The run had been ingested before (a [`RunKind::Files`] run with the same key) and
    /// nothing was changed.
    pub already_ingested: bool,
    pub assets_new: u64,
    pub assets_updated: u64,
    pub edges_new: u64,
    pub edges_updated: u64,
    /// Attribute changes recorded in the history.
    pub changes: u64,
    /// Edge endpoints that were not among the inventory's assets nor in the store, added
    /// as bare assets so that the edge is kept.
    pub stub_assets: u64,
}

/// A run the store has ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub key: String,
    pub kind: RunKind,
    pub inputs: Vec<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub packets: u64,
    pub bytes: u64,
    /// Assets and edges in the (last) ingested inventory: for a sensor, those its last
    /// ingest changed (see [`counters_since`]).
    pub assets: u64,
    pub edges: u64,
    /// How many times it was ingested (more than one only for a sensor).
    pub ingests: u64,
    /// Wall clock of the first and the last ingest.
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One change of one attribute of an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// `firmware`, `model`, `device_type`, …; `override:<field>` for a user's change.
    pub attribute: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// When the new value was first seen (capture time; wall clock for a user's change).
    pub seen_at: Timestamp,
    /// The run that brought it, none for a user's change.
    pub run_id: Option<i64>,
    /// `run` or `user:<who>`.
    pub source: String,
}

/// What a user can set by hand; ingestion never overwrites it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideField {
    DeviceType,
    Name,
    PurdueLevel,
}

impl OverrideField {
    pub const ALL: [OverrideField; 3] = [
        OverrideField::DeviceType,
        OverrideField::Name,
        OverrideField::PurdueLevel,
    ];

    pub const fn id(self) -> &'static str {
        match self {
            OverrideField::DeviceType => "device_type",
            OverrideField::Name => "name",
            OverrideField::PurdueLevel => "purdue_level",
        }
    }

    pub fn from_id(id: &str) -> Option<OverrideField> {
        OverrideField::ALL.into_iter().find(|f| f.id() == id)
    }

    /// Checks a value for this field; returns it normalised.
    pub fn validate(self, value: &str) -> Result<String> {
        let invalid = |reason: String| StoreError::Invalid {
            field: self.id(),
            reason,
        };
        match self {
            OverrideField::DeviceType => DeviceType::from_id(value)
                .map(|t| t.id().to_string())
                .ok_or_else(|| {
                    let ids: Vec<&str> = DeviceType::ALL.iter().map(|t| t.id()).collect();
                    invalid(format!("{value:?} is not one of {}", ids.join(", ")))
                }),
            OverrideField::PurdueLevel => match value.parse::<u8>() {
                Ok(l) if l <= 5 => Ok(l.to_string()),
                _ => Err(invalid(format!("{value:?} is not a level from 0 to 5"))),
            },
            OverrideField::Name => {
                let v = value.trim();
                if v.is_empty() {
                    Err(invalid("empty".into()))
                } else if v.chars().count() > MAX_NAME_CHARS {
                    Err(invalid(format!("longer than {MAX_NAME_CHARS} characters")))
                } else if v.chars().any(char::is_control) {
                    Err(invalid("contains control characters".into()))
                } else {
                    Ok(v.to_string())
                }
            }
        }
    }
}

/// The longest name a user may give an asset.
pub const MAX_NAME_CHARS: usize = 256;

/// A user's override of one field of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    pub field: OverrideField,
    pub value: String,
    pub set_by: String,
    /// Wall clock.
    pub set_at: Timestamp,
}

/// A place that keeps the inventory across runs.
///
/// Implementations merge each run into what they hold by the rules of docs/store.md,
/// atomically (a run is either wholly in or not at all), and apply the user's overrides
/// when reading back.
pub trait InventoryStore {
    /// Merges a run's inventory.
    fn ingest(&mut self, inventory: &Inventory, run: &RunInfo) -> Result<IngestOutcome>;
    /// The whole inventory, overrides applied; assets sorted by id, edges by key.
    fn load(&self) -> Result<Inventory>;
    /// One asset, overrides applied.
    fn asset(&self, id: &str) -> Result<Option<yagura_model::inventory::Asset>>;
    /// The asset's changes, oldest first.
    fn history(&self, id: &str) -> Result<Vec<HistoryEntry>>;
    /// Sets (or replaces) a user override; `value` is checked by [`OverrideField::validate`].
    fn set_override(
        &mut self,
        id: &str,
        field: OverrideField,
        value: &str,
        set_by: &str,
    ) -> Result<()>;
    /// Removes the user's overrides of `field` (all fields when `None`); returns how many.
    fn clear_overrides(
        &mut self,
        id: &str,
        field: Option<OverrideField>,
        set_by: &str,
    ) -> Result<usize>;
    /// The asset's overrides.
    fn overrides(&self, id: &str) -> Result<Vec<Override>>;
    /// The runs ingested, oldest first.
    fn runs(&self) -> Result<Vec<RunRecord>>;
}

/// The counters of `current` that were not yet in `previous`: what a sensor ingests each
/// time when its model keeps a cumulative inventory. Packets, bytes and sessions of every
/// asset and edge are reduced by the same asset's or edge's counters in `previous`
/// (saturating at zero); everything else is `current`'s. Assets and edges identical in
/// both are left out: there is nothing to add, and an ingest then costs what changed, not
/// what the run has seen. (Their rows exist: `previous` was ingested.)
pub fn counters_since(previous: &Inventory, current: &Inventory) -> Inventory {
    use std::collections::HashMap;
    use yagura_model::inventory::{Asset, Edge};
    let assets: HashMap<&str, &Asset> =
        previous.assets.iter().map(|a| (a.id.as_str(), a)).collect();
    let edges: HashMap<_, &Edge> = previous.edges.iter().map(|e| (edge_key(e), e)).collect();
    let mut out = Inventory::default();
    for a in &current.assets {
        let before = assets.get(a.id.as_str());
        if before.is_some_and(|b| *b == a) {
            continue;
        }
        let mut a = a.clone();
        if let Some(b) = before {
            a.packets_sent = a.packets_sent.saturating_sub(b.packets_sent);
            a.bytes_sent = a.bytes_sent.saturating_sub(b.bytes_sent);
        }
        out.assets.push(a);
    }
    for e in &current.edges {
        let before = edges.get(&edge_key(e));
        if before.is_some_and(|b| *b == e) {
            continue;
        }
        let mut e = e.clone();
        if let Some(b) = before {
            e.packets = e.packets.saturating_sub(b.packets);
            e.bytes = e.bytes.saturating_sub(b.bytes);
            e.sessions = e.sessions.saturating_sub(b.sessions);
        }
        out.edges.push(e);
    }
    out
}

/// An edge's identity: (src, dst, transport, server port, protocol).
pub fn edge_key(e: &yagura_model::inventory::Edge) -> (String, String, String, u16, String) {
    (
        e.src.clone(),
        e.dst.clone(),
        e.transport.clone(),
        e.dst_port,
        e.protocol.clone().unwrap_or_default(),
    )
}

/// Wall-clock now as a [`Timestamp`].
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
}
