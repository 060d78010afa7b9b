//! DHCP (BOOTP and its options) and DHCPv6.
//! Input: see `common::fuzz_dissector`; always as datagrams: the engine runs this dissector
//! over UDP only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::ProtocolId;

mod common;

fuzz_target!(|data: &[u8]| {
    common::fuzz_dissector(
        &[(ProtocolId::DHCP, false), (ProtocolId::DHCPV6, false)],
        data,
    );
});
