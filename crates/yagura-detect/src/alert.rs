//! Alerts and the alert book that folds their repeats.
//!
//! Engines raise [`Raise`]s; an [`AlertBook`] (one per worker) folds the repeats of one
//! behaviour into one [`Alert`] with a counter, so an attack that repeats for an hour is one
//! line, not a flood. Per-worker books are merged, and [`AlertBook::finish`] numbers the
//! alerts; the result does not depend on how the raises were shared out or merged.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use yagura_core::{IpAddr, MacAddr, Timestamp};

use crate::kinds::{AlertKind, Engine, Lang, Severity};

/// How many evidence packets an alert keeps: its first ones.
pub const MAX_EVIDENCE: usize = 8;

/// How many distinct alerts a book holds by default.
pub const DEFAULT_MAX_ALERTS: usize = 10_000;

/// One side of an alert: what is known of the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    pub ip: Option<IpAddr>,
    pub mac: Option<MacAddr>,
    pub port: Option<u16>,
}

/// The protocol function an alert is about (e.g. Modbus 16 "write_multiple_registers").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Function {
    pub code: u32,
    pub name: String,
}

/// A reference to one packet of the input: its capture index (0-based, over the whole
/// input) and time. The packets themselves are kept elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PacketRef {
    pub index: u64,
    pub time: Timestamp,
}

/// Where an alert stands in its handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Raised and not yet looked at.
    #[default]
    New,
    /// Someone has seen it.
    Acknowledged,
    /// The behaviour was added to the baseline; it no longer alerts.
    Learned,
    /// This kind is suppressed for this pair of assets.
    Muted,
    /// Investigated and closed; it alerts again if the behaviour recurs.
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Acknowledged,
        Status::Learned,
        Status::Muted,
        Status::Closed,
    ];

    /// The snake_case id used in reports, the database and the command line.
    pub const fn id(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::Learned => "learned",
            Status::Muted => "muted",
            Status::Closed => "closed",
        }
    }

    pub fn from_id(id: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.id() == id)
    }

    /// Still open: further occurrences fold into it.
    pub const fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Acknowledged)
    }
}

/// One evidence packet, kept with its alert: the bytes as captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidencePacket {
    /// Index in the input it came from.
    pub index: u64,
    pub time: Timestamp,
    /// The pcap `LINKTYPE_*` of the bytes.
    pub link: u16,
    /// Length on the wire (`data` may be shorter: the capture's snap length).
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// What an engine reports when it sees a behaviour worth an alert; the book turns raises
/// into alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raise {
    pub kind: AlertKind,
    /// When the behaviour was seen.
    pub time: Timestamp,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub protocol: Option<String>,
    pub function: Option<Function>,
    /// What happened and which fact or baseline it broke, in English.
    pub description: String,
    /// The packets that show it.
    pub evidence: Vec<PacketRef>,
}

/// An alert: one behaviour, however often it was seen. Serialised with every field and
/// `time`, when it was raised (its first occurrence, as `first_seen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// 1, 2, … in order of first occurrence (assigned by [`AlertBook::finish`]).
    pub id: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// How many times the behaviour was raised.
    pub count: u64,
    pub engine: Engine,
    pub kind: AlertKind,
    pub severity: Severity,
    /// The English title.
    pub title: String,
    pub title_ja: String,
    /// The description of the earliest occurrence (see `docs/detection.md`).
    pub description: String,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub protocol: Option<String>,
    pub function: Option<Function>,
    pub status: Status,
    /// The first [`MAX_EVIDENCE`] packets (by capture index) of all occurrences.
    pub evidence: Vec<PacketRef>,
}

impl Serialize for Alert {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            id: u64,
            time: Timestamp,
            first_seen: Timestamp,
            last_seen: Timestamp,
            count: u64,
            engine: Engine,
            kind: AlertKind,
            severity: Severity,
            title: &'a str,
            title_ja: &'a str,
            description: &'a str,
            src: &'a Endpoint,
            dst: &'a Endpoint,
            protocol: Option<&'a str>,
            function: Option<&'a Function>,
            status: Status,
            evidence: &'a [PacketRef],
        }
        View {
            id: self.id,
            time: self.first_seen,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            count: self.count,
            engine: self.engine,
            kind: self.kind,
            severity: self.severity,
            title: &self.title,
            title_ja: &self.title_ja,
            description: &self.description,
            src: &self.src,
            dst: &self.dst,
            protocol: self.protocol.as_deref(),
            function: self.function.as_ref(),
            status: self.status,
            evidence: &self.evidence,
        }
        .serialize(s)
    }
}

/// What makes two raises the same alert. Ports are left out, so that a client's changing
/// source port does not split one behaviour into many alerts; so is the function for the
/// operational kinds, whose one behaviour (a program download) takes several functions
/// (request download, download block, download ended, the PI service that starts it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FoldKey {
    kind: AlertKind,
    src_ip: Option<IpAddr>,
    src_mac: Option<MacAddr>,
    dst_ip: Option<IpAddr>,
    dst_mac: Option<MacAddr>,
    protocol: Option<String>,
    function: Option<u32>,
}

impl FoldKey {
    fn of(a: &Alert) -> FoldKey {
        FoldKey {
            kind: a.kind,
            src_ip: a.src.ip,
            src_mac: a.src.mac,
            dst_ip: a.dst.ip,
            dst_mac: a.dst.mac,
            protocol: a.protocol.clone(),
            function: if a.kind.engine() == Engine::Operational {
                None
            } else {
                a.function.as_ref().map(|f| f.code)
            },
        }
    }
}

impl Alert {
    /// A new alert for one raise (id 0 until the book numbers it).
    fn from_raise(r: Raise) -> Alert {
        let mut evidence = r.evidence;
        evidence.sort_unstable();
        evidence.dedup();
        evidence.truncate(MAX_EVIDENCE);
        Alert {
            id: 0,
            first_seen: r.time,
            last_seen: r.time,
            count: 1,
            engine: r.kind.engine(),
            kind: r.kind,
            severity: r.kind.severity(),
            title: r.kind.title(Lang::En).to_owned(),
            title_ja: r.kind.title(Lang::Ja).to_owned(),
            description: r.description,
            src: r.src,
            dst: r.dst,
            protocol: r.protocol,
            function: r.function,
            status: Status::New,
            evidence,
        }
    }

    /// Orders the occurrences an alert may describe: the earliest, then (for equal times)
    /// by the details, so that the choice never depends on arrival or merge order.
    fn occurrence_order(&self, other: &Alert) -> Ordering {
        fn details(a: &Alert) -> impl Ord + '_ {
            (
                a.first_seen,
                a.description.as_str(),
                a.src.port,
                a.dst.port,
                a.function.as_ref().map(|f| f.name.as_str()),
                a.status as u8,
            )
        }
        details(self).cmp(&details(other))
    }

    /// Folds `other` (the same behaviour) into `self`.
    fn absorb(&mut self, other: Alert) {
        if other.occurrence_order(self) == Ordering::Less {
            self.description = other.description;
            self.src.port = other.src.port;
            self.dst.port = other.dst.port;
            self.function = other.function;
            self.status = other.status;
        }
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        self.count = self.count.saturating_add(other.count);
        self.evidence.extend(other.evidence);
        self.evidence.sort_unstable();
        self.evidence.dedup();
        self.evidence.truncate(MAX_EVIDENCE);
    }
}

/// The alerts of a run, numbered, with what did not fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alerts {
    /// Ordered by id (first occurrence).
    pub alerts: Vec<Alert>,
    /// Raises not kept because the book was full (new behaviours and their repeats).
    pub overflow: u64,
}

/// Collects raised alerts, folding repeats, within a bound on distinct alerts.
#[derive(Debug, Clone)]
pub struct AlertBook {
    max_alerts: usize,
    alerts: HashMap<FoldKey, Alert>,
    next_id: u64,
    overflow: u64,
}

impl Default for AlertBook {
    fn default() -> Self {
        AlertBook::new()
    }
}

impl AlertBook {
    /// A book holding at most [`DEFAULT_MAX_ALERTS`] distinct alerts.
    pub fn new() -> AlertBook {
        AlertBook::with_max_alerts(DEFAULT_MAX_ALERTS)
    }

    /// A book holding at most `max_alerts` distinct alerts.
    pub fn with_max_alerts(max_alerts: usize) -> AlertBook {
        AlertBook {
            max_alerts,
            alerts: HashMap::new(),
            next_id: 1,
            overflow: 0,
        }
    }

    /// Records a raise: a repeat folds into its alert; a new behaviour becomes a new alert,
    /// or is counted in [`overflow`](AlertBook::overflow) when the book is full.
    pub fn raise(&mut self, raise: Raise) {
        self.insert(Alert::from_raise(raise));
    }

    /// Records a behaviour an engine already folded: `count` occurrences (at least one),
    /// the first at `raise.time`, the last at `last_seen`; the same as that many raises
    /// with those times.
    pub fn raise_repeated(&mut self, raise: Raise, count: u64, last_seen: Timestamp) {
        let mut a = Alert::from_raise(raise);
        a.count = count.max(1);
        a.last_seen = a.last_seen.max(last_seen);
        self.insert(a);
    }

    fn insert(&mut self, alert: Alert) {
        let full = self.alerts.len() >= self.max_alerts;
        match self.alerts.entry(FoldKey::of(&alert)) {
            Entry::Occupied(mut e) => e.get_mut().absorb(alert),
            Entry::Vacant(_) if full => self.overflow = self.overflow.saturating_add(alert.count),
            Entry::Vacant(e) => {
                let alert = e.insert(alert);
                // Provisional: finish() renumbers by first occurrence.
                alert.id = self.next_id;
                self.next_id += 1;
            }
        }
    }

    /// Folds another book (e.g. another worker's) into this one.
    ///
    /// The union is kept whole, even beyond the bound (so at most the sum of the books'
    /// bounds): trimming here would make the result depend on the merge order. `finish`
    /// applies the bound.
    pub fn merge(&mut self, other: AlertBook) {
        self.overflow = self.overflow.saturating_add(other.overflow);
        self.alerts.reserve(other.alerts.len());
        for (key, alert) in other.alerts {
            match self.alerts.entry(key) {
                Entry::Occupied(mut e) => e.get_mut().absorb(alert),
                Entry::Vacant(e) => {
                    e.insert(alert).id = self.next_id;
                    self.next_id += 1;
                }
            }
        }
    }

    /// Distinct alerts held.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Raises not kept because the book was full.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// The alerts in order of first occurrence (then by kind, endpoints, protocol and
    /// function), numbered from 1, at most the bound: beyond it, the latest are dropped
    /// and counted in `overflow`.
    pub fn finish(self) -> Alerts {
        let mut keyed: Vec<(FoldKey, Alert)> = self.alerts.into_iter().collect();
        keyed.sort_unstable_by(|(ka, a), (kb, b)| {
            a.first_seen.cmp(&b.first_seen).then_with(|| ka.cmp(kb))
        });
        let mut overflow = self.overflow;
        if keyed.len() > self.max_alerts {
            for (_, dropped) in keyed.drain(self.max_alerts..) {
                overflow = overflow.saturating_add(dropped.count);
            }
        }
        let alerts = keyed
            .into_iter()
            .zip(1..)
            .map(|((_, mut alert), id)| {
                alert.id = id;
                alert
            })
            .collect();
        Alerts { alerts, overflow }
    }
}
