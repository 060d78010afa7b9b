//! Yagura's inventory model: what is known about an asset beyond the packets it sent.
//!
//! The MAC vendor registry ([`oui`]) and the inventory's data types ([`inventory`]: assets,
//! device types, the communication graph). The crate is pure logic: no I/O at run time, its
//! data tables are embedded at compile time.

pub mod classify;
pub mod fusion;
pub mod inventory;
pub mod oui;

pub use fusion::build;
