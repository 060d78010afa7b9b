//! Yagura's inventory model: what is known about an asset beyond the packets it sent.
//!
//! The MAC vendor registry ([`oui`]), protocol vendor ids ([`vendor_ids`]), the inventory's
//! data types ([`inventory`]: assets, device types, the communication graph) and how a run's
//! observations become one ([`fusion::build`], [`classify`]). The crate is pure logic: no I/O
//! at run time, its data tables are embedded at compile time.

pub mod classify;
pub mod fusion;
pub mod inventory;
pub mod oui;
pub mod vendor_ids;

pub use fusion::build;
