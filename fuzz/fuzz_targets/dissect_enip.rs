//! EtherNet/IP encapsulation over TCP and UDP 44818.
//! Input: see `common::fuzz_dissector`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(&[(ProtocolId::ENIP, true)], data);
});
