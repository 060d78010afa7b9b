//! Yagura's detection: what an alert is, and the engines that raise alerts (the operational
//! engine so far; the baseline learner and the other engines to come).
//!
//! Its room in the house: pure logic over the engine's observations and the model's
//! inventory, no I/O, no threads.
//! [`kinds`] is the catalogue of every alert kind (id, engine, severity, English and
//! Japanese titles and remediation advice); [`alert`] is the alert itself and the
//! [`AlertBook`] that folds repeats into one alert with a counter, bounded, and mergeable
//! across workers with a result that does not depend on the merge order. See
//! `docs/detection.md`. [`operational`] raises an alert for every operational request (PLC
//! stop, program download, …); [`intel`] matches the traffic against imported threat
//! intelligence.

pub mod alert;
pub mod anomaly;
pub mod baseline;
pub mod intel;
pub mod kinds;
pub mod operational;
pub mod policy;

pub use alert::{
    Alert, AlertBook, Alerts, DEFAULT_MAX_ALERTS, Endpoint, EvidencePacket, Function, MAX_EVIDENCE,
    PacketRef, Raise, Status,
};
pub use kinds::{AlertKind, Engine, Lang, Severity};
