//! HTTP/1.x message heads over TCP (Content-Length and chunked bodies) and SSDP over UDP.
//! Input: see `common::fuzz_dissector` (SSDP always as datagrams).
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(&[(ProtocolId::HTTP, true), (ProtocolId::SSDP, false)], data);
});
