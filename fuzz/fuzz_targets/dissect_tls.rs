//! TLS records and handshake messages (hellos, certificates through the X.509 name walker).
//! Input: see `common::fuzz_dissector`; always over TCP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(&[(ProtocolId::TLS, true)], data);
});
