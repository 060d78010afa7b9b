//! Merging a run's inventory into the database: one immediate transaction per ingest, so
//! a run is either wholly in the store or not at all, and the thousands of row writes
//! share one commit (one WAL append) instead of one each.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use yagura_core::Timestamp;
use yagura_model::inventory::{Asset, DeviceType, Edge, Inventory};

use super::{from_sql, json_list, parse_list, to_sql, ts};
use crate::merge::{AssetState, Change, EdgeState, merge_asset, merge_edge};
use crate::{IngestOutcome, Result, RunInfo, RunKind};

/// The columns of `assets` that [`AssetState`] holds, in the order [`read_state`] reads.
pub(super) const STATE_COLUMNS: &str = "mac, mac_local, vendor, device_type, \
    device_type_confidence, device_type_reasons, model, order_number, firmware, hardware, \
    serial, hostname, os, purdue_level, purdue_reasons, first_seen, last_seen, packets_sent, \
    bytes_sent, via, route";

/// Reads an [`AssetState`] from `row`, starting at column `at`.
pub(super) fn read_state(row: &Row<'_>, at: usize) -> Result<AssetState> {
    let device_type: String = row.get(at + 3)?;
    let type_reasons: String = row.get(at + 5)?;
    let purdue_reasons: String = row.get(at + 14)?;
    let purdue: Option<i64> = row.get(at + 13)?;
    Ok(AssetState {
        mac: row.get(at)?,
        mac_local: row.get(at + 1)?,
        vendor: row.get(at + 2)?,
        // A type this build does not know (written by a newer one) reads as unknown.
        device_type: DeviceType::from_id(&device_type).unwrap_or(DeviceType::Unknown),
        device_type_confidence: u8::try_from(row.get::<_, i64>(at + 4)?.clamp(0, 100)).unwrap_or(0),
        device_type_reasons: parse_list("assets", "device_type_reasons", &type_reasons)?,
        model: row.get(at + 6)?,
        order_number: row.get(at + 7)?,
        firmware: row.get(at + 8)?,
        hardware: row.get(at + 9)?,
        serial: row.get(at + 10)?,
        hostname: row.get(at + 11)?,
        os: row.get(at + 12)?,
        purdue_level: purdue
            .and_then(|l| u8::try_from(l).ok())
            .filter(|l| *l <= 5),
        purdue_reasons: parse_list("assets", "purdue_reasons", &purdue_reasons)?,
        first_seen: ts(row.get(at + 15)?),
        last_seen: ts(row.get(at + 16)?),
        packets_sent: from_sql(row.get(at + 17)?),
        bytes_sent: from_sql(row.get(at + 18)?),
        via: row.get(at + 19)?,
        route: row.get(at + 20)?,
    })
}

/// The multi-valued fields, each in its own table `(asset, value, first_seen, last_seen)`.
const CHILD_TABLES: [&str; 4] = ["asset_ips", "asset_names", "asset_protocols", "asset_roles"];

pub(super) fn ingest(
    conn: &mut Connection,
    inventory: &Inventory,
    run: &RunInfo,
) -> Result<IngestOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = ingest_in(&tx, inventory, run)?;
    tx.commit()?;
    Ok(out)
}

/// [`ingest`] inside a transaction the caller commits (with more in it: a run's alerts).
pub(super) fn ingest_in(
    tx: &Transaction<'_>,
    inventory: &Inventory,
    run: &RunInfo,
) -> Result<IngestOutcome> {
    let now = to_sql(crate::now().0);
    let mut out = IngestOutcome {
        run_id: 0,
        already_ingested: false,
        assets_new: 0,
        assets_updated: 0,
        edges_new: 0,
        edges_updated: 0,
        changes: 0,
        stub_assets: 0,
    };

    let existing: Option<(i64, String, i64, i64)> = tx
        .query_row(
            "SELECT id, kind, packets, bytes FROM runs WHERE key = ?1",
            [&run.key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    out.run_id = match existing {
        Some((id, kind, _, _)) if kind != RunKind::Sensor.id() => {
            // The same capture again: counting it twice would double every counter.
            out.run_id = id;
            out.already_ingested = true;
            return Ok(out);
        }
        Some((id, _, packets, bytes)) => {
            // A sensor's next interval: its counters add up.
            tx.execute(
                "UPDATE runs SET first_seen = min(first_seen, ?2), last_seen = max(last_seen, ?3),
                   packets = ?4, bytes = ?5, assets = ?6, edges = ?7, ingests = ingests + 1,
                   updated_at = ?8
                 WHERE id = ?1",
                params![
                    id,
                    to_sql(run.first_seen.0),
                    to_sql(run.last_seen.0),
                    to_sql(from_sql(packets).saturating_add(run.packets)),
                    to_sql(from_sql(bytes).saturating_add(run.bytes)),
                    to_sql(inventory.assets.len() as u64),
                    to_sql(inventory.edges.len() as u64),
                    now
                ],
            )?;
            id
        }
        None => {
            tx.execute(
                "INSERT INTO runs (key, kind, inputs, first_seen, last_seen, packets, bytes,
                                   assets, edges, ingests, started_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?10)",
                params![
                    run.key,
                    run.kind.id(),
                    json_list(&run.inputs),
                    to_sql(run.first_seen.0),
                    to_sql(run.last_seen.0),
                    to_sql(run.packets),
                    to_sql(run.bytes),
                    to_sql(inventory.assets.len() as u64),
                    to_sql(inventory.edges.len() as u64),
                    now
                ],
            )?;
            tx.last_insert_rowid()
        }
    };

    let mut pks: HashMap<&str, i64> = HashMap::with_capacity(inventory.assets.len());
    for a in &inventory.assets {
        let pk = upsert_asset(tx, a, out.run_id, now, &mut out)?;
        pks.insert(a.id.as_str(), pk);
    }
    // A routed module's carrier is an asset too (a sensor's later ingest may carry the
    // module without its unchanged carrier, which an earlier one stored).
    for a in &inventory.assets {
        if let Some(via) = &a.via {
            ensure_asset(
                tx,
                &mut pks,
                via,
                a.first_seen,
                a.last_seen,
                out.run_id,
                &mut out,
            )?;
        }
    }
    for e in &inventory.edges {
        let src = ensure_asset(
            tx,
            &mut pks,
            &e.src,
            e.first_seen,
            e.last_seen,
            out.run_id,
            &mut out,
        )?;
        let dst = ensure_asset(
            tx,
            &mut pks,
            &e.dst,
            e.first_seen,
            e.last_seen,
            out.run_id,
            &mut out,
        )?;
        upsert_edge(tx, src, dst, e, out.run_id, &mut out)?;
    }
    Ok(out)
}

fn upsert_asset(
    tx: &Transaction<'_>,
    a: &Asset,
    run: i64,
    now: i64,
    out: &mut IngestOutcome,
) -> Result<i64> {
    let stored = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT pk, {STATE_COLUMNS} FROM assets WHERE id = ?1"
        ))?;
        let mut rows = st.query([&a.id])?;
        match rows.next()? {
            Some(r) => Some((r.get::<_, i64>(0)?, read_state(r, 1)?)),
            None => None,
        }
    };
    let pk = match stored {
        Some((pk, mut state)) => {
            let changes = merge_asset(&mut state, a);
            write_state(tx, Some(pk), &a.id, &state, run)?;
            for c in &changes {
                record_change(tx, pk, c, run, now)?;
            }
            out.changes += changes.len() as u64;
            out.assets_updated += 1;
            pk
        }
        None => {
            out.assets_new += 1;
            write_state(tx, None, &a.id, &AssetState::from_asset(a), run)?
        }
    };

    let ips: Vec<String> = a.ips.iter().map(ToString::to_string).collect();
    let lists: [&[String]; 4] = [&ips, &a.names, &a.protocols, &a.roles];
    for (table, values) in CHILD_TABLES.iter().zip(lists) {
        let mut st = tx.prepare_cached(&format!(
            "INSERT INTO {table} (asset, value, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (asset, value) DO UPDATE SET
               first_seen = min(first_seen, excluded.first_seen),
               last_seen = max(last_seen, excluded.last_seen)"
        ))?;
        for v in values {
            st.execute(params![
                pk,
                v,
                to_sql(a.first_seen.0),
                to_sql(a.last_seen.0)
            ])?;
        }
    }

    for v in &a.attributes {
        let first = v.sources.iter().map(|s| s.first_seen).min();
        let last = v.sources.iter().map(|s| s.last_seen).max();
        let attr_pk: i64 = tx
            .prepare_cached(
                "INSERT INTO attributes (asset, attribute, value, confidence, first_seen, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (asset, attribute, value) DO UPDATE SET
                   confidence = max(confidence, excluded.confidence),
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen)
                 RETURNING pk",
            )?
            .query_row(
                params![
                    pk,
                    v.attribute,
                    v.value,
                    v.confidence.min(100),
                    to_sql(first.unwrap_or(a.first_seen).0),
                    to_sql(last.unwrap_or(a.last_seen).0)
                ],
                |r| r.get(0),
            )?;
        let mut st = tx.prepare_cached(
            "INSERT INTO attribute_sources (attribute, source, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (attribute, source) DO UPDATE SET
               first_seen = min(first_seen, excluded.first_seen),
               last_seen = max(last_seen, excluded.last_seen)",
        )?;
        for s in &v.sources {
            st.execute(params![
                attr_pk,
                s.source,
                to_sql(s.first_seen.0),
                to_sql(s.last_seen.0)
            ])?;
        }
    }
    Ok(pk)
}

/// Inserts (`pk` none) or updates an asset's row; returns its pk.
fn write_state(
    tx: &Transaction<'_>,
    pk: Option<i64>,
    id: &str,
    s: &AssetState,
    run: i64,
) -> Result<i64> {
    let values = params![
        s.mac,
        s.mac_local,
        s.vendor,
        s.device_type.id(),
        s.device_type_confidence,
        json_list(&s.device_type_reasons),
        s.model,
        s.order_number,
        s.firmware,
        s.hardware,
        s.serial,
        s.hostname,
        s.os,
        s.purdue_level,
        json_list(&s.purdue_reasons),
        to_sql(s.first_seen.0),
        to_sql(s.last_seen.0),
        to_sql(s.packets_sent),
        to_sql(s.bytes_sent),
        s.via,
        s.route,
        run,
        id,
    ];
    match pk {
        Some(pk) => {
            tx.prepare_cached(
                "UPDATE assets SET mac = ?1, mac_local = ?2, vendor = ?3, device_type = ?4,
                   device_type_confidence = ?5, device_type_reasons = ?6, model = ?7,
                   order_number = ?8, firmware = ?9, hardware = ?10, serial = ?11,
                   hostname = ?12, os = ?13, purdue_level = ?14, purdue_reasons = ?15,
                   first_seen = ?16, last_seen = ?17, packets_sent = ?18, bytes_sent = ?19,
                   via = ?20, route = ?21, last_run = ?22
                 WHERE id = ?23",
            )?
            .execute(values)?;
            Ok(pk)
        }
        None => {
            tx.prepare_cached(&format!(
                "INSERT INTO assets ({STATE_COLUMNS}, first_run, last_run, id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18, ?19, ?20, ?21, ?22, ?22, ?23)"
            ))?
            .execute(values)?;
            Ok(tx.last_insert_rowid())
        }
    }
}

fn record_change(tx: &Transaction<'_>, pk: i64, c: &Change, run: i64, now: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO asset_history
           (asset, attribute, old_value, new_value, seen_at, run, source, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'run', ?7)",
    )?
    .execute(params![
        pk,
        c.attribute,
        c.old,
        c.new,
        to_sql(c.seen_at.0),
        run,
        now
    ])?;
    Ok(())
}

/// The pk of an asset an edge or a routed module refers to: from this run's assets, else
/// the store, else a bare asset made from the id (`mac:…` gives the MAC, `ip:…` the
/// address), seen from `first_seen` to `last_seen`, so that the reference is kept.
fn ensure_asset<'a>(
    tx: &Transaction<'_>,
    pks: &mut HashMap<&'a str, i64>,
    id: &'a str,
    first_seen: Timestamp,
    last_seen: Timestamp,
    run: i64,
    out: &mut IngestOutcome,
) -> Result<i64> {
    if let Some(&pk) = pks.get(id) {
        return Ok(pk);
    }
    let found: Option<i64> = tx
        .prepare_cached("SELECT pk FROM assets WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let pk = match found {
        Some(pk) => pk,
        None => {
            let mut state = AssetState::from_asset(&bare_asset(id, first_seen, last_seen));
            state.device_type_reasons.clear();
            let pk = write_state(tx, None, id, &state, run)?;
            if let Some(ip) = id.strip_prefix("ip:") {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO asset_ips (asset, value, first_seen, last_seen)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    pk,
                    ip,
                    to_sql(first_seen.0),
                    to_sql(last_seen.0)
                ])?;
            }
            out.stub_assets += 1;
            pk
        }
    };
    pks.insert(id, pk);
    Ok(pk)
}

/// An asset known only by its id (an edge's endpoint the inventory does not hold).
pub(crate) fn bare_asset(id: &str, first_seen: Timestamp, last_seen: Timestamp) -> Asset {
    let mac = id
        .strip_prefix("mac:")
        .and_then(yagura_core::MacAddr::parse);
    Asset {
        id: id.to_string(),
        via: None,
        route: None,
        ips: Vec::new(),
        mac,
        mac_locally_administered: mac.map(|m| m.is_local()),
        vendor: None,
        device_type: DeviceType::Unknown,
        device_type_confidence: 0,
        device_type_reasons: Vec::new(),
        model: None,
        order_number: None,
        firmware: None,
        hardware: None,
        serial: None,
        hostname: None,
        names: Vec::new(),
        os: None,
        protocols: Vec::new(),
        roles: Vec::new(),
        purdue_level: None,
        purdue_reasons: Vec::new(),
        user_overrides: Vec::new(),
        first_seen,
        last_seen,
        packets_sent: 0,
        bytes_sent: 0,
        attributes: Vec::new(),
    }
}

fn upsert_edge(
    tx: &Transaction<'_>,
    src: i64,
    dst: i64,
    e: &Edge,
    run: i64,
    out: &mut IngestOutcome,
) -> Result<()> {
    let protocol = e.protocol.as_deref().unwrap_or("");
    let stored = {
        let mut st = tx.prepare_cached(
            "SELECT pk, operations, packets, bytes, sessions, first_seen, last_seen,
                    polling_period_s
             FROM edges
             WHERE src = ?1 AND dst = ?2 AND transport = ?3 AND dst_port = ?4 AND protocol = ?5",
        )?;
        let mut rows = st.query(params![src, dst, e.transport, e.dst_port, protocol])?;
        match rows.next()? {
            Some(r) => {
                let ops: String = r.get(1)?;
                Some((
                    r.get::<_, i64>(0)?,
                    EdgeState {
                        operations: parse_list("edges", "operations", &ops)?,
                        packets: from_sql(r.get(2)?),
                        bytes: from_sql(r.get(3)?),
                        sessions: from_sql(r.get(4)?),
                        first_seen: ts(r.get(5)?),
                        last_seen: ts(r.get(6)?),
                        polling_period_s: r.get(7)?,
                    },
                ))
            }
            None => None,
        }
    };
    match stored {
        Some((pk, mut s)) => {
            merge_edge(&mut s, e);
            tx.prepare_cached(
                "UPDATE edges SET operations = ?2, packets = ?3, bytes = ?4, sessions = ?5,
                   first_seen = ?6, last_seen = ?7, polling_period_s = ?8, last_run = ?9
                 WHERE pk = ?1",
            )?
            .execute(params![
                pk,
                json_list(&s.operations),
                to_sql(s.packets),
                to_sql(s.bytes),
                to_sql(s.sessions),
                to_sql(s.first_seen.0),
                to_sql(s.last_seen.0),
                s.polling_period_s,
                run
            ])?;
            out.edges_updated += 1;
        }
        None => {
            let s = EdgeState::from_edge(e);
            tx.prepare_cached(
                "INSERT INTO edges (src, dst, transport, dst_port, protocol, operations, packets,
                   bytes, sessions, first_seen, last_seen, polling_period_s, first_run, last_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
            )?
            .execute(params![
                src,
                dst,
                e.transport,
                e.dst_port,
                protocol,
                json_list(&s.operations),
                to_sql(s.packets),
                to_sql(s.bytes),
                to_sql(s.sessions),
                to_sql(s.first_seen.0),
                to_sql(s.last_seen.0),
                s.polling_period_s,
                run
            ])?;
            out.edges_new += 1;
        }
    }
    Ok(())
}
