//! Modbus/TCP and Modbus over UDP (MBAP framing, function decoding).
//! Input: see `common::fuzz_dissector`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(&[(ProtocolId::MODBUS, true)], data);
});
