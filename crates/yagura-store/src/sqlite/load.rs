//! Reading the inventory back, with the user's overrides applied.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use rusqlite::Connection;
use yagura_core::IpAddr;
use yagura_model::inventory::{Asset, AttributeValue, DeviceType, Edge, Source};

use super::ingest::{STATE_COLUMNS, read_state};
use super::{from_sql, parse_list, ts};
use crate::{Override, OverrideField, Result, StoreError};

/// Every asset (`only` none) or the one with this pk, sorted by id.
pub(super) fn assets(conn: &Connection, only: Option<i64>) -> Result<Vec<Asset>> {
    let mut out: Vec<Asset> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    {
        let mut st = conn.prepare_cached(&format!(
            "SELECT pk, id, {STATE_COLUMNS} FROM assets WHERE ?1 IS NULL OR pk = ?1"
        ))?;
        let mut rows = st.query([only])?;
        while let Some(r) = rows.next()? {
            let pk: i64 = r.get(0)?;
            let id: String = r.get(1)?;
            let s = read_state(r, 2)?;
            let mac = match &s.mac {
                Some(m) => {
                    Some(
                        yagura_core::MacAddr::parse(m).ok_or_else(|| StoreError::Corrupt {
                            table: "assets",
                            column: "mac",
                            value: m.clone(),
                        })?,
                    )
                }
                None => None,
            };
            index.insert(pk, out.len());
            out.push(Asset {
                id,
                via: s.via,
                route: s.route,
                ips: Vec::new(),
                mac,
                mac_locally_administered: s.mac_local,
                vendor: s.vendor,
                device_type: s.device_type,
                device_type_confidence: s.device_type_confidence,
                device_type_reasons: s.device_type_reasons,
                model: s.model,
                order_number: s.order_number,
                firmware: s.firmware,
                hardware: s.hardware,
                serial: s.serial,
                hostname: s.hostname,
                names: Vec::new(),
                os: s.os,
                protocols: Vec::new(),
                roles: Vec::new(),
                purdue_level: s.purdue_level,
                purdue_reasons: s.purdue_reasons,
                user_overrides: Vec::new(),
                first_seen: s.first_seen,
                last_seen: s.last_seen,
                packets_sent: s.packets_sent,
                bytes_sent: s.bytes_sent,
                attributes: Vec::new(),
            });
        }
    }

    for table in ["asset_ips", "asset_names", "asset_protocols", "asset_roles"] {
        let mut st = conn.prepare_cached(&format!(
            "SELECT asset, value FROM {table} WHERE ?1 IS NULL OR asset = ?1"
        ))?;
        let mut rows = st.query([only])?;
        while let Some(r) = rows.next()? {
            let Some(&i) = index.get(&r.get::<_, i64>(0)?) else {
                continue;
            };
            let v: String = r.get(1)?;
            let a = &mut out[i];
            match table {
                "asset_ips" => {
                    a.ips
                        .push(IpAddr::from_str(&v).map_err(|_| StoreError::Corrupt {
                            table: "asset_ips",
                            column: "value",
                            value: v.chars().take(200).collect(),
                        })?)
                }
                "asset_names" => a.names.push(v),
                "asset_protocols" => a.protocols.push(v),
                _ => a.roles.push(v),
            }
        }
    }

    // Attribute values, then their sources.
    let mut attr_index: HashMap<i64, (usize, usize)> = HashMap::new();
    {
        let mut st = conn.prepare_cached(
            "SELECT pk, asset, attribute, value, confidence FROM attributes
             WHERE ?1 IS NULL OR asset = ?1",
        )?;
        let mut rows = st.query([only])?;
        while let Some(r) = rows.next()? {
            let Some(&i) = index.get(&r.get::<_, i64>(1)?) else {
                continue;
            };
            let a = &mut out[i];
            attr_index.insert(r.get(0)?, (i, a.attributes.len()));
            a.attributes.push(AttributeValue {
                attribute: r.get(2)?,
                value: r.get(3)?,
                confidence: u8::try_from(r.get::<_, i64>(4)?.clamp(0, 100)).unwrap_or(0),
                sources: Vec::new(),
            });
        }
    }
    {
        let mut st = conn.prepare_cached(
            "SELECT s.attribute, s.source, s.first_seen, s.last_seen
             FROM attribute_sources s JOIN attributes a ON a.pk = s.attribute
             WHERE ?1 IS NULL OR a.asset = ?1",
        )?;
        let mut rows = st.query([only])?;
        while let Some(r) = rows.next()? {
            let Some(&(i, j)) = attr_index.get(&r.get::<_, i64>(0)?) else {
                continue;
            };
            out[i].attributes[j].sources.push(Source {
                source: r.get(1)?,
                first_seen: ts(r.get(2)?),
                last_seen: ts(r.get(3)?),
            });
        }
    }

    let overrides = overrides(conn, only)?;
    for (pk, list) in overrides {
        if let Some(&i) = index.get(&pk) {
            apply_overrides(&mut out[i], &list);
        }
    }

    for a in &mut out {
        a.ips.sort();
        a.names.sort();
        a.protocols.sort();
        a.roles.sort();
        for v in &mut a.attributes {
            v.sources.sort_by(|x, y| x.source.cmp(&y.source));
        }
        a.attributes
            .sort_by(|x, y| (&x.attribute, &x.value).cmp(&(&y.attribute, &y.value)));
    }
    out.sort_by(|x, y| x.id.cmp(&y.id));
    Ok(out)
}

/// The user's overrides by asset pk, each asset's sorted by field.
pub(super) fn overrides(
    conn: &Connection,
    only: Option<i64>,
) -> Result<BTreeMap<i64, Vec<Override>>> {
    let mut st = conn.prepare_cached(
        "SELECT asset, field, value, set_by, set_at FROM asset_overrides
         WHERE ?1 IS NULL OR asset = ?1 ORDER BY asset, field",
    )?;
    let mut rows = st.query([only])?;
    let mut out: BTreeMap<i64, Vec<Override>> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let field: String = r.get(1)?;
        let field = OverrideField::from_id(&field).ok_or(StoreError::Corrupt {
            table: "asset_overrides",
            column: "field",
            value: field.clone(),
        })?;
        out.entry(r.get(0)?).or_default().push(Override {
            field,
            value: r.get(2)?,
            set_by: r.get(3)?,
            set_at: ts(r.get(4)?),
        });
    }
    Ok(out)
}

/// The user's word is final: a type, name or level set by hand replaces the inferred one
/// (which stays in the attribute values and the history).
fn apply_overrides(a: &mut Asset, list: &[Override]) {
    for o in list {
        let reason = format!("set by {} at {}", o.set_by, o.set_at.to_rfc3339_micros());
        match o.field {
            OverrideField::DeviceType => {
                let Some(t) = DeviceType::from_id(&o.value) else {
                    continue;
                };
                a.device_type = t;
                a.device_type_confidence = 100;
                a.device_type_reasons.insert(0, reason);
            }
            OverrideField::PurdueLevel => {
                let Some(l) = o.value.parse::<u8>().ok().filter(|l| *l <= 5) else {
                    continue;
                };
                a.purdue_level = Some(l);
                a.purdue_reasons.insert(0, reason);
            }
            OverrideField::Name => {
                if let Some(h) = a.hostname.take()
                    && h != o.value
                    && !a.names.contains(&h)
                {
                    a.names.push(h);
                }
                a.hostname = Some(o.value.clone());
            }
        }
        a.user_overrides.push(o.field.id().to_string());
        a.attributes.push(AttributeValue {
            attribute: o.field.id().to_string(),
            value: o.value.clone(),
            confidence: 100,
            sources: vec![Source {
                source: "user".into(),
                first_seen: o.set_at,
                last_seen: o.set_at,
            }],
        });
    }
}

/// Every edge, sorted by (src, dst, transport, dst_port, protocol).
pub(super) fn edges(conn: &Connection) -> Result<Vec<Edge>> {
    let mut st = conn.prepare_cached(
        "SELECT s.id, d.id, e.transport, e.dst_port, e.protocol, e.operations, e.packets,
                e.bytes, e.sessions, e.first_seen, e.last_seen, e.polling_period_s
         FROM edges e JOIN assets s ON s.pk = e.src JOIN assets d ON d.pk = e.dst",
    )?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let protocol: String = r.get(4)?;
        let ops: String = r.get(5)?;
        out.push(Edge {
            src: r.get(0)?,
            dst: r.get(1)?,
            transport: r.get(2)?,
            dst_port: u16::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            protocol: (!protocol.is_empty()).then_some(protocol),
            operations: parse_list("edges", "operations", &ops)?,
            packets: from_sql(r.get(6)?),
            bytes: from_sql(r.get(7)?),
            sessions: from_sql(r.get(8)?),
            first_seen: ts(r.get(9)?),
            last_seen: ts(r.get(10)?),
            polling_period_s: r.get(11)?,
        });
    }
    out.sort_by(|x, y| {
        (&x.src, &x.dst, &x.transport, x.dst_port, &x.protocol).cmp(&(
            &y.src,
            &y.dst,
            &y.transport,
            y.dst_port,
            &y.protocol,
        ))
    });
    Ok(out)
}
