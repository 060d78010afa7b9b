//! SMB1/SMB2 over NetBIOS session or direct TCP, with NTLMSSP in session setups.
//! Input: see `common::fuzz_dissector`; always over TCP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(&[(ProtocolId::SMB, true)], data);
});
