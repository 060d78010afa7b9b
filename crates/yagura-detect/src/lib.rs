//! Yagura's detection: what an alert is, and (to come) the baseline learner and the engines
//! that raise alerts.
//!
//! Its room in the house: pure logic over yagura-core's observations, no I/O, no threads.
//! [`kinds`] is the catalogue of every alert kind (id, engine, severity, English and
//! Japanese titles and remediation advice); [`alert`] is the alert itself and the
//! [`AlertBook`] that folds repeats into one alert with a counter, bounded, and mergeable
//! across workers with a result that does not depend on the merge order. See
//! `docs/detection.md`. It depends on yagura-core and serde only.

pub mod alert;
pub mod kinds;

pub use alert::{
    Alert, AlertBook, Alerts, DEFAULT_MAX_ALERTS, Endpoint, Function, MAX_EVIDENCE, PacketRef,
    Raise, Status,
};
pub use kinds::{AlertKind, Engine, Lang, Severity};
