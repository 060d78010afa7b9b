//! The merge rules, independent of the database: how a run's asset or edge updates the
//! one the store holds. Every backend applies these (docs/store.md, "Merge rules").

use yagura_core::Timestamp;
use yagura_model::inventory::{Asset, DeviceType, Edge};

/// The single-valued fields of a stored asset, as the merge sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssetState {
    pub mac: Option<String>,
    pub mac_local: Option<bool>,
    pub vendor: Option<String>,
    pub device_type: DeviceType,
    pub device_type_confidence: u8,
    pub device_type_reasons: Vec<String>,
    pub model: Option<String>,
    pub order_number: Option<String>,
    pub firmware: Option<String>,
    pub hardware: Option<String>,
    pub serial: Option<String>,
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub purdue_level: Option<u8>,
    pub purdue_reasons: Vec<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// A routed module's carrier (asset id) and route in words.
    pub via: Option<String>,
    pub route: Option<String>,
}

impl AssetState {
    /// The state of an asset seen for the first time.
    pub fn from_asset(a: &Asset) -> AssetState {
        AssetState {
            mac: a.mac.map(|m| m.to_string()),
            mac_local: a.mac_locally_administered,
            vendor: a.vendor.clone(),
            device_type: a.device_type,
            device_type_confidence: a.device_type_confidence.min(100),
            device_type_reasons: a.device_type_reasons.clone(),
            model: a.model.clone(),
            order_number: a.order_number.clone(),
            firmware: a.firmware.clone(),
            hardware: a.hardware.clone(),
            serial: a.serial.clone(),
            hostname: a.hostname.clone(),
            os: a.os.clone(),
            purdue_level: a.purdue_level.filter(|l| *l <= 5),
            purdue_reasons: a.purdue_reasons.clone(),
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            packets_sent: a.packets_sent,
            bytes_sent: a.bytes_sent,
            via: a.via.clone(),
            route: a.route.clone(),
        }
    }
}

/// One attribute's change, for the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub attribute: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
    pub seen_at: Timestamp,
}

/// When `a` first showed `value` for `attribute`: the earliest source of that attribute
/// value, else the asset's first sighting in the run.
fn first_seen_of(a: &Asset, attribute: &str, value: &str) -> Timestamp {
    a.attributes
        .iter()
        .filter(|v| v.attribute == attribute && v.value == value)
        .flat_map(|v| v.sources.iter().map(|s| s.first_seen))
        .min()
        .unwrap_or(a.first_seen)
}

/// Merges a run's view of an asset into the stored state and returns what changed.
///
/// - Times widen, counters add (saturating).
/// - A single-valued identity field takes the run's value when the store has none, or
///   when the run's view is at least as recent as the store's (`last_seen`); an older
///   capture ingested later does not overwrite a newer value (its value is still kept
///   among the attribute values, with its times). A field the run does not know is kept.
/// - The device type is replaced by a known type of higher confidence, or of equal
///   confidence from a view at least as recent; `unknown` never replaces a known type.
/// - The Purdue level follows the most recent view that has one.
pub(crate) fn merge_asset(s: &mut AssetState, a: &Asset) -> Vec<Change> {
    let newer = a.last_seen >= s.last_seen;
    let mut changes = Vec::new();

    let mac = a.mac.map(|m| m.to_string());
    let fields: [(&'static str, &mut Option<String>, &Option<String>); 9] = [
        ("mac", &mut s.mac, &mac),
        ("vendor", &mut s.vendor, &a.vendor),
        ("model", &mut s.model, &a.model),
        ("order_number", &mut s.order_number, &a.order_number),
        ("firmware", &mut s.firmware, &a.firmware),
        ("hardware", &mut s.hardware, &a.hardware),
        ("serial", &mut s.serial, &a.serial),
        ("hostname", &mut s.hostname, &a.hostname),
        ("os", &mut s.os, &a.os),
    ];
    for (attribute, stored, incoming) in fields {
        let Some(v) = incoming else { continue };
        if stored.as_deref() == Some(v.as_str()) || (stored.is_some() && !newer) {
            continue;
        }
        changes.push(Change {
            attribute,
            old: stored.clone(),
            new: Some(v.clone()),
            seen_at: first_seen_of(a, attribute, v),
        });
        *stored = Some(v.clone());
    }
    if a.mac.is_some() && s.mac == mac {
        s.mac_local = a.mac_locally_administered.or(s.mac_local);
    }

    let conf = a.device_type_confidence.min(100);
    let takes_type = a.device_type != DeviceType::Unknown
        && (s.device_type == DeviceType::Unknown
            || conf > s.device_type_confidence
            || (conf == s.device_type_confidence && newer));
    if takes_type {
        if a.device_type != s.device_type {
            changes.push(Change {
                attribute: "device_type",
                old: Some(s.device_type.id().to_string()),
                new: Some(a.device_type.id().to_string()),
                seen_at: a.first_seen,
            });
            s.device_type = a.device_type;
        }
        s.device_type_confidence = conf;
        s.device_type_reasons = a.device_type_reasons.clone();
    }

    if let Some(l) = a.purdue_level.filter(|l| *l <= 5)
        && (s.purdue_level.is_none() || newer)
    {
        if s.purdue_level != Some(l) {
            changes.push(Change {
                attribute: "purdue_level",
                old: s.purdue_level.map(|l| l.to_string()),
                new: Some(l.to_string()),
                seen_at: a.first_seen,
            });
        }
        s.purdue_level = Some(l);
        s.purdue_reasons = a.purdue_reasons.clone();
    }

    // A routed module's carrier and route are part of its id: they never change (a value
    // the run does not know is kept, like any other).
    if a.via.is_some() {
        s.via = a.via.clone();
    }
    if a.route.is_some() {
        s.route = a.route.clone();
    }

    s.first_seen = s.first_seen.min(a.first_seen);
    s.last_seen = s.last_seen.max(a.last_seen);
    s.packets_sent = s.packets_sent.saturating_add(a.packets_sent);
    s.bytes_sent = s.bytes_sent.saturating_add(a.bytes_sent);
    changes
}

/// The mutable part of a stored edge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EdgeState {
    pub operations: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    pub sessions: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub polling_period_s: Option<f64>,
}

impl EdgeState {
    pub fn from_edge(e: &Edge) -> EdgeState {
        let mut operations = e.operations.clone();
        operations.sort();
        operations.dedup();
        EdgeState {
            operations,
            packets: e.packets,
            bytes: e.bytes,
            sessions: e.sessions,
            first_seen: e.first_seen,
            last_seen: e.last_seen,
            polling_period_s: e.polling_period_s.filter(|p| p.is_finite() && *p >= 0.0),
        }
    }
}

/// Merges a run's edge into the stored one: counters add, times widen, operation
/// classes are united, and the polling period is the most recent view's.
pub(crate) fn merge_edge(s: &mut EdgeState, e: &Edge) {
    let newer = e.last_seen >= s.last_seen;
    for op in &e.operations {
        if let Err(i) = s.operations.binary_search(op) {
            s.operations.insert(i, op.clone());
        }
    }
    s.packets = s.packets.saturating_add(e.packets);
    s.bytes = s.bytes.saturating_add(e.bytes);
    s.sessions = s.sessions.saturating_add(e.sessions);
    if let Some(p) = e.polling_period_s.filter(|p| p.is_finite() && *p >= 0.0)
        && (s.polling_period_s.is_none() || newer)
    {
        s.polling_period_s = Some(p);
    }
    s.first_seen = s.first_seen.min(e.first_seen);
    s.last_seen = s.last_seen.max(e.last_seen);
}
