//! ISO-on-TCP: TPKT, COTP, S7comm and S7comm-plus (one dissector, three flow labels).
//! Input: see `common::fuzz_dissector`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(
        &[
            (ProtocolId::S7COMM, true),
            (ProtocolId::S7COMM_PLUS, true),
            (ProtocolId::COTP, true),
        ],
        data,
    );
});
