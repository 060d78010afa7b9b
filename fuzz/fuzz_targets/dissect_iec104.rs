//! IEC 60870-5-104 APCI framing (I, S, U formats) and the ASDU header.
//! Input: see `common::fuzz_dissector`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(&[(ProtocolId::IEC104, true)], data);
});
