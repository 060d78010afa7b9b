//! The baseline: what is normal for this plant, learned from its traffic.
//!
//! It is the inventory's picture, reduced to what an allow-list needs and kept only while
//! learning: per asset its addresses, MAC, identity (model, firmware) and the protocols it
//! serves and speaks; per pair of assets every service (transport, server port, protocol)
//! the client used, the operation classes of its requests (client to server) and the range
//! of its polling period. The policy engine ([`crate::policy`]) alerts on what departs from
//! it.
//!
//! It exports to, and imports from, a TOML file in a fixed order (assets by id, connections
//! by key, lists sorted), so that a plant can review its allow-list like code and a change
//! shows as a small diff. See `docs/detection.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use yagura_core::IpAddr;
use yagura_model::inventory::{Asset, Edge, Inventory};

use crate::alert::{Alert, Endpoint};
use crate::kinds::AlertKind;

/// The schema of the exported file.
pub const SCHEMA: &str = "yagura.baseline/1";

/// Server ports from here up are dynamic (IANA's ephemeral range): a connection to one of
/// them without a recognised protocol is learned as "any dynamic port", so that RPC and FTP
/// data connections do not each become a new connection.
pub const DYNAMIC_PORTS: u16 = 49152;

/// The whole baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub schema: String,
    /// Sorted by id.
    #[serde(default, rename = "asset")]
    pub assets: Vec<BaselineAsset>,
    /// Sorted by [`BaselineConnection::key`].
    #[serde(default, rename = "connection")]
    pub connections: Vec<BaselineConnection>,
}

impl Default for Baseline {
    fn default() -> Baseline {
        Baseline {
            schema: SCHEMA.to_owned(),
            assets: Vec::new(),
            connections: Vec::new(),
        }
    }
}

/// One asset of the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineAsset {
    /// The inventory's asset id (`mac:…`, `ip:…`, or a module's `<carrier>/<route>`).
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The device type when it was learned (for the reader; not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Application protocols it serves (as the server of a connection), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serves: Vec<String>,
    /// Application protocols it speaks as a client, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speaks: Vec<String>,
}

/// One allowed service between two assets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConnection {
    /// The client's asset id.
    pub src: String,
    /// The server's asset id.
    pub dst: String,
    /// `tcp`, `udp`, … (the inventory's transport names).
    pub transport: String,
    /// The server port; 0 for any dynamic port (see [`port_key`]) and port-less
    /// transports.
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Operation classes of the client's requests (`read`, `write`, `program_download`, …),
    /// sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
    /// The shortest and longest polling period learned, in seconds, when cyclic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_min_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_max_s: Option<f64>,
}

/// What identifies a connection of the baseline.
pub type ConnKey = (String, String, String, u16, Option<String>);

impl BaselineConnection {
    pub fn key(&self) -> ConnKey {
        (
            self.src.clone(),
            self.dst.clone(),
            self.transport.clone(),
            self.port,
            self.protocol.clone(),
        )
    }
}

/// The port a service is learned and compared under: 0 (any) for a connection to a dynamic
/// port without a recognised protocol, and for DCE/RPC anywhere but its endpoint mapper
/// (port 135), which hands out the ports of the services behind it (DCOM, OPC DA) afresh
/// every time they start.
pub fn port_key(protocol: Option<&str>, port: u16) -> u16 {
    match protocol {
        None if port >= DYNAMIC_PORTS => 0,
        Some("dcerpc") if port != 135 => 0,
        _ => port,
    }
}

/// The baseline key of a service from `src` to `dst` (asset ids).
pub fn conn_key(
    src: &str,
    dst: &str,
    transport: &str,
    port: u16,
    protocol: Option<&str>,
) -> ConnKey {
    (
        src.to_owned(),
        dst.to_owned(),
        transport.to_owned(),
        port_key(protocol, port),
        protocol.map(str::to_owned),
    )
}

/// The baseline key of an inventory edge.
pub fn edge_key(edge: &Edge) -> ConnKey {
    conn_key(
        &edge.src,
        &edge.dst,
        &edge.transport,
        edge.dst_port,
        edge.protocol.as_deref(),
    )
}

/// An error in a baseline file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("not a baseline file: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("unsupported baseline schema {0:?} (this version reads {SCHEMA:?})")]
    Schema(String),
    #[error("asset {0:?} is listed twice")]
    DuplicateAsset(String),
    #[error("connection {0} -> {1} {2}/{3} is listed twice")]
    DuplicateConnection(String, String, String, u16),
    #[error("invalid MAC address {0:?} for asset {1:?}")]
    Mac(String, String),
    #[error("unknown operation class {0:?} in connection {1} -> {2}")]
    Operation(String, String, String),
}

impl Baseline {
    /// Nothing learned yet.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty() && self.connections.is_empty()
    }

    /// The baseline as a TOML document, in its fixed order.
    pub fn to_toml(&self) -> String {
        let mut b = self.clone();
        b.normalize();
        let body = toml::to_string_pretty(&b).expect("a baseline always serializes");
        format!(
            "# Yagura baseline: the assets and connections learned as normal.\n\
             # Review it like code; `yagura baseline import FILE --db DB` loads it back.\n\
             # A connection's `port = 0` means any port: a dynamic one (49152-65535) without\n\
             # a recognised protocol, or DCE/RPC's services behind its endpoint mapper.\n\n{body}"
        )
    }

    /// Read a baseline file, checking its schema and that no asset or connection is listed
    /// twice.
    pub fn from_toml(text: &str) -> Result<Baseline, BaselineError> {
        let mut b: Baseline = toml::from_str(text)?;
        if b.schema != SCHEMA {
            return Err(BaselineError::Schema(b.schema));
        }
        let mut ids = BTreeSet::new();
        for a in &b.assets {
            if !ids.insert(a.id.as_str()) {
                return Err(BaselineError::DuplicateAsset(a.id.clone()));
            }
            if let Some(m) = &a.mac
                && yagura_core::MacAddr::parse(m).is_none()
            {
                return Err(BaselineError::Mac(m.clone(), a.id.clone()));
            }
        }
        let mut keys = BTreeSet::new();
        for c in &b.connections {
            if !keys.insert(c.key()) {
                return Err(BaselineError::DuplicateConnection(
                    c.src.clone(),
                    c.dst.clone(),
                    c.transport.clone(),
                    c.port,
                ));
            }
            for o in &c.operations {
                if operation_class(o).is_none() {
                    return Err(BaselineError::Operation(
                        o.clone(),
                        c.src.clone(),
                        c.dst.clone(),
                    ));
                }
            }
        }
        b.normalize();
        Ok(b)
    }

    /// Sort everything into the fixed order (and lists inside entries).
    pub fn normalize(&mut self) {
        self.schema = SCHEMA.to_owned();
        for a in &mut self.assets {
            a.ips.sort();
            a.ips.dedup();
            a.serves.sort();
            a.serves.dedup();
            a.speaks.sort();
            a.speaks.dedup();
        }
        self.assets.sort_by(|a, b| a.id.cmp(&b.id));
        for c in &mut self.connections {
            c.operations.sort();
            c.operations.dedup();
        }
        self.connections.sort_by_key(BaselineConnection::key);
    }

    /// Learn everything of `inventory`: see [`Baseline::learn_where`].
    pub fn learn(&mut self, inventory: &Inventory) -> LearnCount {
        self.learn_where(inventory, |_| true)
    }

    /// Add to the baseline the assets of `inventory` that `scope` accepts, and the edges
    /// with at least one end it accepts (learning reopened for a subnet learns who talks to
    /// it and whom it talks to). Identity changes are learned too: a learned asset takes the
    /// newest model and firmware. Returns what was added.
    pub fn learn_where(
        &mut self,
        inventory: &Inventory,
        scope: impl Fn(&Asset) -> bool,
    ) -> LearnCount {
        let mut count = LearnCount::default();
        let mut assets: BTreeMap<String, BaselineAsset> = std::mem::take(&mut self.assets)
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let by_id: HashMap<&str, &Asset> = inventory
            .assets
            .iter()
            .map(|a| (a.id.as_str(), a))
            .collect();
        let in_scope = |id: &str| by_id.get(id).is_some_and(|a| scope(a));
        for a in inventory.assets.iter().filter(|a| scope(a)) {
            match assets.get_mut(&a.id) {
                Some(b) => {
                    let before = b.clone();
                    b.ips.extend(a.ips.iter().copied());
                    b.ips.sort();
                    b.ips.dedup();
                    if a.mac.is_some() {
                        b.mac = a.mac.map(|m| m.to_string());
                    }
                    b.device_type = Some(a.device_type.id().to_owned());
                    update(&mut b.vendor, &a.vendor);
                    update(&mut b.model, &a.model);
                    update(&mut b.firmware, &a.firmware);
                    if *b != before {
                        count.assets_updated += 1;
                    }
                }
                None => {
                    assets.insert(a.id.clone(), asset_of(a));
                    count.assets_new += 1;
                }
            }
        }
        let mut conns: BTreeMap<ConnKey, BaselineConnection> =
            std::mem::take(&mut self.connections)
                .into_iter()
                .map(|c| (c.key(), c))
                .collect();
        for e in &inventory.edges {
            if !(in_scope(&e.src) || in_scope(&e.dst)) {
                continue;
            }
            let key = edge_key(e);
            let ops = e.operations.iter().cloned();
            match conns.get_mut(&key) {
                Some(c) => {
                    let before = c.clone();
                    c.operations.extend(ops);
                    c.operations.sort();
                    c.operations.dedup();
                    if let Some(p) = e.polling_period_s {
                        c.period_min_s = Some(c.period_min_s.map_or(p, |m| m.min(p)));
                        c.period_max_s = Some(c.period_max_s.map_or(p, |m| m.max(p)));
                    }
                    if *c != before {
                        count.connections_updated += 1;
                    }
                }
                None => {
                    let mut operations: Vec<String> = ops.collect();
                    operations.sort();
                    conns.insert(
                        key,
                        BaselineConnection {
                            src: e.src.clone(),
                            dst: e.dst.clone(),
                            transport: e.transport.clone(),
                            port: port_key(e.protocol.as_deref(), e.dst_port),
                            protocol: e.protocol.clone(),
                            operations,
                            period_min_s: e.polling_period_s,
                            period_max_s: e.polling_period_s,
                        },
                    );
                    count.connections_new += 1;
                }
            }
            // The protocols an asset serves and speaks, for the reader and for new_master.
            if let Some(p) = &e.protocol {
                if let Some(d) = assets.get_mut(&e.dst) {
                    push_sorted(&mut d.serves, p);
                }
                if let Some(s) = assets.get_mut(&e.src) {
                    push_sorted(&mut s.speaks, p);
                }
            }
        }
        self.assets = assets.into_values().collect();
        self.connections = conns.into_values().collect();
        self.normalize();
        count
    }

    /// Add one operation class to a connection (learning an alert about it); the
    /// connection is created if missing. Returns whether anything changed.
    pub fn allow_operation(&mut self, key: &ConnKey, operation: &str) -> bool {
        let changed = match self.connections.iter_mut().find(|c| c.key() == *key) {
            Some(c) if c.operations.iter().any(|o| o == operation) => false,
            Some(c) => {
                c.operations.push(operation.to_owned());
                true
            }
            None => {
                self.connections.push(BaselineConnection {
                    src: key.0.clone(),
                    dst: key.1.clone(),
                    transport: key.2.clone(),
                    port: key.3,
                    protocol: key.4.clone(),
                    operations: vec![operation.to_owned()],
                    period_min_s: None,
                    period_max_s: None,
                });
                true
            }
        };
        self.normalize();
        changed
    }
}

impl Baseline {
    /// Add the behaviour of `alert` to the baseline, so that it no longer alerts: the new
    /// asset, the new connection or protocol, the write or the operation between its two
    /// assets, the new firmware, the asset's new MAC. `inventory` (the stored one) gives
    /// the facts behind the alert. Returns what was learned, in words, or why the alert's
    /// kind has nothing to learn.
    pub fn learn_alert(&mut self, alert: &Alert, inventory: &Inventory) -> Result<String, String> {
        let asset = |e: &Endpoint| -> Option<&Asset> {
            let by_ip = e.ip.and_then(|ip| {
                inventory
                    .assets
                    .iter()
                    .find(|a| a.ips.contains(&ip) && (e.mac.is_none() || a.mac == e.mac))
                    .or_else(|| inventory.assets.iter().find(|a| a.ips.contains(&ip)))
            });
            by_ip.or_else(|| {
                let mac = e.mac?;
                inventory.assets.iter().find(|a| a.mac == Some(mac))
            })
        };
        let missing = |e: &Endpoint| {
            format!(
                "{} is not in the inventory of this database; analyse the capture with --db first",
                e.ip.map(|i| i.to_string())
                    .or(e.mac.map(|m| m.to_string()))
                    .unwrap_or_else(|| "the alert's host".into())
            )
        };
        let pair = || -> Result<(&Asset, &Asset), String> {
            let s = asset(&alert.src).ok_or_else(|| missing(&alert.src))?;
            let d = asset(&alert.dst).ok_or_else(|| missing(&alert.dst))?;
            Ok((s, d))
        };
        let edges_of = |s: &Asset, d: &Asset| -> Vec<&Edge> {
            inventory
                .edges
                .iter()
                .filter(|e| e.src == s.id && e.dst == d.id)
                .collect()
        };
        match alert.kind {
            AlertKind::NewAsset | AlertKind::MacChange | AlertKind::FirmwareChanged => {
                let a = asset(&alert.src).ok_or_else(|| missing(&alert.src))?;
                if alert.kind == AlertKind::MacChange {
                    // The address now belongs to this asset only.
                    for other in self.assets.iter_mut().filter(|o| o.id != a.id) {
                        other.ips.retain(|ip| !a.ips.contains(ip));
                    }
                }
                let one = Inventory {
                    assets: vec![a.clone()],
                    edges: Vec::new(),
                };
                self.learn(&one);
                Ok(format!("asset {} ({})", a.id, alert.kind.id()))
            }
            AlertKind::NewConnection | AlertKind::NewProtocol | AlertKind::NewMaster => {
                let (s, d) = pair()?;
                let edges: Vec<Edge> = edges_of(s, d)
                    .into_iter()
                    .filter(|e| alert.protocol.is_none() || e.protocol == alert.protocol)
                    .cloned()
                    .collect();
                if edges.is_empty() {
                    return Err(format!(
                        "no connection from {} to {} in the inventory",
                        s.id, d.id
                    ));
                }
                let n = edges.len();
                self.learn_where(
                    &Inventory {
                        assets: Vec::new(),
                        edges,
                    },
                    |_| true,
                );
                Ok(format!("{n} connection(s) from {} to {}", s.id, d.id))
            }
            AlertKind::UnauthorizedWrite
            | AlertKind::PlcStop
            | AlertKind::PlcStart
            | AlertKind::PlcRestart
            | AlertKind::ProgramDownload
            | AlertKind::ProgramUpload
            | AlertKind::FirmwareUpdate
            | AlertKind::ConfigChange
            | AlertKind::ModeChange => {
                let (s, d) = pair()?;
                let edges: Vec<&Edge> = edges_of(s, d)
                    .into_iter()
                    .filter(|e| {
                        alert.dst.port.is_none_or(|p| e.dst_port == p)
                            && (alert.protocol.is_none()
                                || alert.kind != AlertKind::UnauthorizedWrite
                                || e.protocol == alert.protocol)
                    })
                    .collect();
                if edges.is_empty() {
                    return Err(format!(
                        "no connection from {} to {} in the inventory",
                        s.id, d.id
                    ));
                }
                // An operational kind learns the operation classes its connections carried
                // that raise it (a stop alert learns `stop`, …).
                let classes: Vec<&str> = match alert.kind {
                    AlertKind::UnauthorizedWrite => vec!["write"],
                    k => yagura_core::OperationClass::ALL
                        .into_iter()
                        .filter(|c| AlertKind::for_operation(*c) == Some(k))
                        .map(|c| c.name())
                        .collect(),
                };
                for e in &edges {
                    for c in &classes {
                        self.allow_operation(&edge_key(e), c);
                    }
                }
                Ok(format!("{} from {} to {}", classes.join(", "), s.id, d.id))
            }
            k => Err(format!(
                "a {} alert has no baseline fact to learn; acknowledge or mute it",
                k.id()
            )),
        }
    }
}

/// What one learning step added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LearnCount {
    pub assets_new: u64,
    pub assets_updated: u64,
    pub connections_new: u64,
    pub connections_updated: u64,
}

fn update(field: &mut Option<String>, value: &Option<String>) {
    if value.is_some() {
        field.clone_from(value);
    }
}

fn push_sorted(list: &mut Vec<String>, value: &str) {
    if let Err(i) = list.binary_search_by(|v| v.as_str().cmp(value)) {
        list.insert(i, value.to_owned());
    }
}

fn asset_of(a: &Asset) -> BaselineAsset {
    BaselineAsset {
        id: a.id.clone(),
        ips: a.ips.clone(),
        mac: a.mac.map(|m| m.to_string()),
        device_type: Some(a.device_type.id().to_owned()),
        vendor: a.vendor.clone(),
        model: a.model.clone(),
        firmware: a.firmware.clone(),
        serves: Vec::new(),
        speaks: Vec::new(),
    }
}

/// The operation class named `name` (`write`, `program_download`, …).
pub fn operation_class(name: &str) -> Option<yagura_core::OperationClass> {
    yagura_core::OperationClass::ALL
        .into_iter()
        .find(|c| c.name() == name)
}

/// Lookups over a baseline, for the engines.
pub struct BaselineIndex<'a> {
    pub baseline: &'a Baseline,
    assets: HashMap<&'a str, &'a BaselineAsset>,
    /// Which learned asset held each address.
    by_ip: HashMap<IpAddr, &'a BaselineAsset>,
    conns: HashMap<ConnKey, &'a BaselineConnection>,
    /// Pairs (client, server) with any learned connection, and their services.
    pairs: HashMap<&'a str, HashMap<&'a str, Vec<&'a BaselineConnection>>>,
    /// For each server and protocol, its learned clients.
    masters: HashMap<&'a str, HashMap<&'a str, BTreeSet<&'a str>>>,
}

impl<'a> BaselineIndex<'a> {
    pub fn new(baseline: &'a Baseline) -> BaselineIndex<'a> {
        let mut ix = BaselineIndex {
            baseline,
            assets: HashMap::new(),
            by_ip: HashMap::new(),
            conns: HashMap::new(),
            pairs: HashMap::new(),
            masters: HashMap::new(),
        };
        for a in &baseline.assets {
            ix.assets.insert(a.id.as_str(), a);
            for ip in &a.ips {
                ix.by_ip.entry(*ip).or_insert(a);
            }
        }
        for c in &baseline.connections {
            ix.conns.insert(c.key(), c);
            ix.pairs
                .entry(c.src.as_str())
                .or_default()
                .entry(c.dst.as_str())
                .or_default()
                .push(c);
            if let Some(p) = &c.protocol {
                ix.masters
                    .entry(c.dst.as_str())
                    .or_default()
                    .entry(p.as_str())
                    .or_default()
                    .insert(c.src.as_str());
            }
        }
        ix
    }

    pub fn asset(&self, id: &str) -> Option<&'a BaselineAsset> {
        self.assets.get(id).copied()
    }

    pub fn asset_by_ip(&self, ip: IpAddr) -> Option<&'a BaselineAsset> {
        self.by_ip.get(&ip).copied()
    }

    pub fn connection(&self, key: &ConnKey) -> Option<&'a BaselineConnection> {
        self.conns.get(key).copied()
    }

    /// The learned services from `src` to `dst`.
    pub fn pair(&self, src: &str, dst: &str) -> &[&'a BaselineConnection] {
        self.pairs
            .get(src)
            .and_then(|m| m.get(dst))
            .map_or(&[], Vec::as_slice)
    }

    /// The learned clients of `protocol` on `server`.
    pub fn masters(&self, server: &str, protocol: &str) -> Option<&BTreeSet<&'a str>> {
        self.masters.get(server).and_then(|m| m.get(protocol))
    }
}
