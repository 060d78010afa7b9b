//! The DNS family (DNS, mDNS, LLMNR, NetBIOS name service), over UDP and TCP (length-prefixed).
//! Input: see `common::fuzz_dissector`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(
        &[
            (ProtocolId::DNS, true),
            (ProtocolId::MDNS, true),
            (ProtocolId::LLMNR, true),
            (ProtocolId::NBNS, true),
        ],
        data,
    );
});
