//! Yagura's inventory model: what is known about an asset beyond the packets it sent.
//!
//! For now only the MAC vendor registry ([`oui`]); identity fusion, the device-type classifier
//! and the communication graph come later (issue 4). The crate is pure logic: no I/O at run
//! time, its one data table is embedded at compile time.

pub mod oui;
