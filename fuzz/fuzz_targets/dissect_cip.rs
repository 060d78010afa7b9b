//! CIP and PCCC inside EtherNet/IP: the input (first byte: flags, rest: a CIP message) is
//! wrapped in a SendRRData (unconnected) or SendUnitData (connected, with a sequence count)
//! PDU, sent as a request and then as a response on the same flow, so that the CIP parser
//! (paths, Multiple Service Packet, Unconnected Send, Forward Open, Identity replies, Execute
//! PCCC) and its request table are reached without having to find the framing first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_core::Direction;
use yagura_dissect::Dissector;
use yagura_dissect::enip::EnipDissector;

mod common;

/// An encapsulation PDU carrying `msg` in a CPF data item.
fn wrap(msg: &[u8], connected: bool) -> Vec<u8> {
    let mut cpf = vec![0, 0, 0, 0, 0, 0, 2, 0];
    if connected {
        cpf.extend([0xa1, 0, 4, 0, 1, 2, 3, 4, 0xb1, 0]);
        cpf.extend(((msg.len() + 2) as u16).to_le_bytes());
        cpf.extend([7, 0]);
    } else {
        cpf.extend([0, 0, 0, 0, 0xb2, 0]);
        cpf.extend((msg.len() as u16).to_le_bytes());
    }
    cpf.extend(msg);
    let mut b = vec![if connected { 0x70 } else { 0x6f }, 0];
    b.extend((cpf.len() as u16).to_le_bytes());
    b.extend([0; 20]);
    b.extend(cpf);
    b
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, msg)) = data.split_first() else {
        return;
    };
    if msg.len() > 60_000 {
        return;
    }
    let connected = flags & 1 != 0;
    let mut d = EnipDissector::new(flags & 2 != 0);
    let mut sink = common::Sink::new(flags & 4 != 0);
    let req = wrap(msg, connected);
    d.parse(&req, Direction::ToServer, &mut sink);
    // The same bytes as a reply (response bit set on the service).
    let mut rsp_msg = msg.to_vec();
    if let Some(s) = rsp_msg.first_mut() {
        *s |= 0x80;
    }
    d.parse(&wrap(&rsp_msg, connected), Direction::ToClient, &mut sink);
    // Bounded output: per PDU one `enip` event and at most len / 2 + 4 CIP/PCCC events.
    assert!(sink.trace.len() <= msg.len() + 12);
});
