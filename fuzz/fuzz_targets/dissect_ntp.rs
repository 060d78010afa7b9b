//! NTP (modes, control mode 6, private mode 7).
//! Input: see `common::fuzz_dissector`; always as datagrams: the engine runs this dissector
//! over UDP only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(&[(ProtocolId::NTP, false)], data);
});
