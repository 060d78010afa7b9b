//! CDP v1/v2 (header, checksum, TLVs) through `yagura_dissect::link::dissect`.
//! Input: the frame's payload after the Ethernet, VLAN and LLC/SNAP headers, as the engine
//! hands it over. Checks, besides no panic: at most one PDU per frame, and building events
//! and only counting report the same PDUs and the same identity facts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::link::LinkProtocol;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_link(LinkProtocol::Cdp, data);
});
