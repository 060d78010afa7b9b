//! Protocol detection (`Registry::detect`): every port table and probe, over any ports and
//! payload; a detected protocol's dissector then parses the payload.
//!
//! Input: `[transport, src_port (2, BE), dst_port (2, BE), payload…]`; `transport` selects
//! TCP, UDP or (rarely) another IP protocol number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_core::{Direction, Transport};
use yagura_dissect::{Detect, ProtocolId};

mod common;

fuzz_target!(|data: &[u8]| {
    let [t, s0, s1, d0, d1, payload @ ..] = data else {
        return;
    };
    let transport = match t % 8 {
        0..=3 => Transport::TCP,
        4..=6 => Transport::UDP,
        _ => Transport(*t),
    };
    let (sport, dport) = (
        u16::from_be_bytes([*s0, *s1]),
        u16::from_be_bytes([*d0, *d1]),
    );
    let reg = common::registry();
    let _ = reg.is_service_port(transport, sport);
    match reg.detect(transport, sport, dport, payload) {
        Detect::Found(id) => {
            assert_ne!(id, ProtocolId::UNKNOWN);
            assert_eq!(ProtocolId::from_name(id.name()), Some(id));
            let udp = transport != Transport::TCP;
            let d = reg
                .dissector(id, transport)
                .unwrap_or_else(|| panic!("{} detected but has no dissector", id.name()));
            assert_eq!(d.protocol(), id);
            let mut f = common::Feeder::new(d, udp, t & 0x80 == 0);
            f.data(Direction::ToServer, payload);
            f.data(Direction::ToClient, payload);
        }
        Detect::NeedMore | Detect::Unknown => {}
    }
});
