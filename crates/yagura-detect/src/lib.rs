//! Yagura's detection: what an alert is, and (to come) the baseline learner and the engines
//! that raise alerts.
//!
//! Its room in the house: pure logic over yagura-core's observations, no I/O, no threads.
//! [`kinds`] is the catalogue of every alert kind (id, engine, severity, English and
//! Japanese titles and remediation advice). It depends on yagura-core and serde only.

pub mod kinds;

pub use kinds::{AlertKind, Engine, Lang, Severity};
