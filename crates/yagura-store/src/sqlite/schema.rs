//! The SQLite schema as an ordered list of migrations. `PRAGMA user_version` holds how
//! many have been applied; opening a database applies the missing ones in order, in one
//! transaction. A migration, once released, is never edited: a change is a new one.

use rusqlite::{Connection, TransactionBehavior};

use crate::{Result, StoreError};

/// Version 1: the inventory (runs, assets and their multi-valued fields, attribute values
/// with their sources, edges). Timestamps are integer nanoseconds since the epoch (UTC);
/// lists inside a row are JSON arrays.
const V1: &str = "
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    inputs      TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    packets     INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    assets      INTEGER NOT NULL,
    edges       INTEGER NOT NULL,
    ingests     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE assets (
    pk                      INTEGER PRIMARY KEY,
    id                      TEXT NOT NULL UNIQUE,
    mac                     TEXT,
    mac_local               INTEGER,
    vendor                  TEXT,
    device_type             TEXT NOT NULL,
    device_type_confidence  INTEGER NOT NULL,
    device_type_reasons     TEXT NOT NULL,
    model                   TEXT,
    order_number            TEXT,
    firmware                TEXT,
    hardware                TEXT,
    serial                  TEXT,
    hostname                TEXT,
    os                      TEXT,
    purdue_level            INTEGER,
    purdue_reasons          TEXT NOT NULL,
    first_seen              INTEGER NOT NULL,
    last_seen               INTEGER NOT NULL,
    packets_sent            INTEGER NOT NULL,
    bytes_sent              INTEGER NOT NULL,
    first_run               INTEGER REFERENCES runs(id),
    last_run                INTEGER REFERENCES runs(id)
);
CREATE INDEX assets_mac ON assets(mac);
CREATE TABLE asset_ips (
    asset       INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    value       TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (asset, value)
) WITHOUT ROWID;
CREATE INDEX asset_ips_value ON asset_ips(value);
CREATE TABLE asset_names (
    asset       INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    value       TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (asset, value)
) WITHOUT ROWID;
CREATE TABLE asset_protocols (
    asset       INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    value       TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (asset, value)
) WITHOUT ROWID;
CREATE TABLE asset_roles (
    asset       INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    value       TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (asset, value)
) WITHOUT ROWID;
CREATE TABLE attributes (
    pk          INTEGER PRIMARY KEY,
    asset       INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    attribute   TEXT NOT NULL,
    value       TEXT NOT NULL,
    confidence  INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    UNIQUE (asset, attribute, value)
);
CREATE TABLE attribute_sources (
    attribute   INTEGER NOT NULL REFERENCES attributes(pk) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (attribute, source)
) WITHOUT ROWID;
CREATE TABLE edges (
    pk                INTEGER PRIMARY KEY,
    src               INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    dst               INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    transport         TEXT NOT NULL,
    dst_port          INTEGER NOT NULL,
    protocol          TEXT NOT NULL,
    operations        TEXT NOT NULL,
    packets           INTEGER NOT NULL,
    bytes             INTEGER NOT NULL,
    sessions          INTEGER NOT NULL,
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    polling_period_s  REAL,
    first_run         INTEGER REFERENCES runs(id),
    last_run          INTEGER REFERENCES runs(id),
    UNIQUE (src, dst, transport, dst_port, protocol)
);
CREATE INDEX edges_dst ON edges(dst);
";

/// Version 2: the history of changed attributes and the user's overrides.
const V2: &str = "
CREATE TABLE asset_history (
    pk           INTEGER PRIMARY KEY,
    asset        INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    attribute    TEXT NOT NULL,
    old_value    TEXT,
    new_value    TEXT,
    seen_at      INTEGER NOT NULL,
    run          INTEGER REFERENCES runs(id),
    source       TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX asset_history_asset ON asset_history(asset, seen_at);
CREATE TABLE asset_overrides (
    asset   INTEGER NOT NULL REFERENCES assets(pk) ON DELETE CASCADE,
    field   TEXT NOT NULL CHECK (field IN ('device_type', 'name', 'purdue_level')),
    value   TEXT NOT NULL,
    set_by  TEXT NOT NULL,
    set_at  INTEGER NOT NULL,
    PRIMARY KEY (asset, field)
) WITHOUT ROWID;
";

/// Version 3: modules reached through another asset along a CIP route (a controller in a
/// backplane slot behind an EtherNet/IP module). `via` is the carrier's asset id, `route`
/// the route in words; both null for every other asset. The module's own id already holds
/// the carrier's id and the route (`<carrier id>/<route>`), so it stays the key.
const V3: &str = "
ALTER TABLE assets ADD COLUMN via TEXT;
ALTER TABLE assets ADD COLUMN route TEXT;
CREATE INDEX assets_via ON assets(via) WHERE via IS NOT NULL;
";

/// Version 4: detection. The learned baseline (assets and connections, lists as JSON
/// arrays; a connection's protocol is '' when none was recognised), the scopes where
/// learning was reopened, and the alerts with their evidence packets, status history and
/// mutes. `fold_key` is what repeats of one behaviour share (kind, both sides, protocol,
/// function); at most one open alert (new or acknowledged) holds a key.
const V4: &str = "
CREATE TABLE baseline_assets (
    id           TEXT PRIMARY KEY,
    ips          TEXT NOT NULL,
    mac          TEXT,
    device_type  TEXT,
    vendor       TEXT,
    model        TEXT,
    firmware     TEXT,
    serves       TEXT NOT NULL,
    speaks       TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE baseline_connections (
    src           TEXT NOT NULL,
    dst           TEXT NOT NULL,
    transport     TEXT NOT NULL,
    port          INTEGER NOT NULL,
    protocol      TEXT NOT NULL,
    operations    TEXT NOT NULL,
    period_min_s  REAL,
    period_max_s  REAL,
    PRIMARY KEY (src, dst, transport, port, protocol)
) WITHOUT ROWID;
CREATE TABLE learning_scopes (
    scope   TEXT PRIMARY KEY,
    until   INTEGER,
    set_by  TEXT NOT NULL,
    set_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE alerts (
    id                 INTEGER PRIMARY KEY,
    fold_key           TEXT NOT NULL,
    kind               TEXT NOT NULL,
    engine             TEXT NOT NULL,
    severity           TEXT NOT NULL,
    title              TEXT NOT NULL,
    title_ja           TEXT NOT NULL,
    description        TEXT NOT NULL,
    src_ip             TEXT,
    src_mac            TEXT,
    src_port           INTEGER,
    dst_ip             TEXT,
    dst_mac            TEXT,
    dst_port           INTEGER,
    protocol           TEXT,
    function_code      INTEGER,
    function_name      TEXT,
    first_seen         INTEGER NOT NULL,
    last_seen          INTEGER NOT NULL,
    count              INTEGER NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('new', 'acknowledged', 'learned', 'muted', 'closed')),
    status_changed_at  INTEGER NOT NULL,
    first_run          INTEGER REFERENCES runs(id),
    last_run           INTEGER REFERENCES runs(id)
);
CREATE UNIQUE INDEX alerts_open ON alerts(fold_key) WHERE status IN ('new', 'acknowledged');
CREATE INDEX alerts_last_seen ON alerts(last_seen);
CREATE TABLE alert_evidence (
    alert         INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    packet_index  INTEGER NOT NULL,
    ts            INTEGER NOT NULL,
    link          INTEGER,
    orig_len      INTEGER,
    data          BLOB,
    PRIMARY KEY (alert, packet_index)
) WITHOUT ROWID;
CREATE TABLE alert_history (
    pk          INTEGER PRIMARY KEY,
    alert       INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    old_status  TEXT,
    new_status  TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX alert_history_alert ON alert_history(alert, at);
CREATE TABLE alert_mutes (
    kind    TEXT NOT NULL,
    src     TEXT NOT NULL,
    dst     TEXT NOT NULL,
    set_by  TEXT NOT NULL,
    set_at  INTEGER NOT NULL,
    note    TEXT,
    PRIMARY KEY (kind, src, dst)
) WITHOUT ROWID;
";

/// Version 5: threat intelligence. One row per indicator and source (the file or feed it
/// was imported from): `kind` is `ip` (an address or a CIDR network), `domain`, `md5`,
/// `sha1` or `sha256`, and `value` is normalised (networks with their host bits zero,
/// lowercase names without a trailing dot, lowercase hex). An import replaces its sources'
/// indicators whole. `imported_at` is when the row first came, `updated_at` when it last
/// changed; `valid_from` and `valid_until` come from STIX.
const V5: &str = "
CREATE TABLE intel_indicators (
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('ip', 'domain', 'md5', 'sha1', 'sha256')),
    value        TEXT NOT NULL,
    name         TEXT,
    description  TEXT,
    stix_id      TEXT,
    valid_from   INTEGER,
    valid_until  INTEGER,
    imported_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (source, kind, value)
) WITHOUT ROWID;
CREATE INDEX intel_indicators_value ON intel_indicators(kind, value);
";

/// Version 6: the live sensor's learning period (`yagura sensor --learn-for`): one row,
/// so that a restarted sensor continues the period it began instead of starting over.
const V6: &str = "
CREATE TABLE learning_period (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    started  INTEGER NOT NULL,
    until    INTEGER NOT NULL,
    set_by   TEXT NOT NULL
);
";

/// Every migration, in order: applying the first `n` gives schema version `n`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// The database's schema version.
pub(crate) fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema to version `target` (≤ [`LATEST`]) in one transaction; refuses a
/// database newer than this build.
pub(crate) fn migrate(conn: &mut Connection, target: i64) -> Result<()> {
    // Up to date (the usual case): no write lock, so a reader opening the database does
    // not wait for a writer's ingest.
    let found = version(conn)?;
    if found > LATEST {
        return Err(StoreError::TooNew {
            found,
            supported: LATEST,
        });
    }
    if found >= target {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found > LATEST {
        return Err(StoreError::TooNew {
            found,
            supported: LATEST,
        });
    }
    if found >= target {
        return Ok(());
    }
    for m in &MIGRATIONS[found.max(0) as usize..target as usize] {
        tx.execute_batch(m)?;
    }
    tx.pragma_update(None, "user_version", target)?;
    tx.commit()?;
    Ok(())
}
