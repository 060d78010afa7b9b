//! DNP3 tests on bytes cut from corpus captures.

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, hex};

// iti__select_operate_and_responses.pcap: SELECT (CROB) and its response.
const SELECT: &str = "05641ac40a0001008a1cc0c0030c012801000000030164000000fd6b6400000000005b";
const SELECT_RSP: &str =
    "05641c4401000a007636c6c08100000c01280100000003016400c39600006400000000005b";
// zeek__dnp3_read.pcap: a class 0123 READ and its 135-byte (7-block) response.
const READ: &str = "056414c4020003004503c7c8013c02063c03063c04063c010642ac";
const READ_RSP: &str = "05647444030002006854f4c88100000102000008810181010101d3740101010a02000006000000000000011e6ca40100000e01ef030000010300000001ed2178030000012bd1ffff01ed03000001e62e41c9000001170d0200000000000001b50c02c650000000000000018a0d020000000000000693000000000000000000000000000000ffff";
// zeek__dnp3_link_only.pcap: request link status and the link status answer.
const LINK_REQ: &str = "05640549640001007e5f";
const LINK_RSP: &str = "0564058b01006400a097";

fn run(d: &mut Dnp3Dissector, b: &[u8], dir: Direction) -> (Parsed, VecSink) {
    let mut s = VecSink::default();
    let p = d.parse(b, dir, &mut s);
    (p, s)
}

#[test]
fn parses_select_and_response() {
    let mut d = Dnp3Dissector::new(false);
    let (p, s) = run(&mut d, &hex(SELECT), Direction::ToServer);
    assert_eq!(p, Parsed::done(35));
    let e = &s.events[0];
    assert_eq!((e.function, e.function_name), (Some(3), Some("select")));
    assert_eq!(e.operation, OperationClass::ControlCommand);
    assert!(!e.response);
    assert!(e.anomalies.is_empty());
    assert_eq!(s.field(0, "link_dst"), Some(10));
    assert_eq!(s.field(0, "link_src"), Some(1));
    let (_, s) = run(&mut d, &hex(SELECT_RSP), Direction::ToClient);
    assert_eq!(s.events[0].function_name, Some("response"));
    assert!(s.events[0].response);
    assert_eq!(s.events[0].status, PduStatus::Ok);
}

#[test]
fn parses_multi_block_response() {
    let (p, s) = run(
        &mut Dnp3Dissector::new(false),
        &hex(READ_RSP),
        Direction::ToClient,
    );
    assert_eq!(p, Parsed::done(135));
    assert!(
        s.events[0].anomalies.is_empty(),
        "{:?}",
        s.events[0].anomalies
    );
    assert_eq!(s.events[0].function, Some(129));
}

#[test]
fn parses_link_only_frames() {
    let mut d = Dnp3Dissector::new(false);
    let (_, s) = run(&mut d, &hex(LINK_REQ), Direction::ToServer);
    assert_eq!(s.events[0].function, None);
    assert_eq!(s.events[0].function_name, Some("link_request_link_status"));
    let (_, s) = run(&mut d, &hex(LINK_RSP), Direction::ToClient);
    assert_eq!(s.events[0].function_name, Some("link_status"));
    assert!(s.events[0].response);
}

#[test]
fn flags_bad_crc_and_keeps_framing() {
    let mut b = hex(READ_RSP);
    b[40] ^= 0xff; // inside the third data block
    b.extend(hex(READ));
    let (p, s) = run(&mut Dnp3Dissector::new(false), &b, Direction::ToClient);
    assert_eq!(p, Parsed::done(b.len()));
    assert_eq!(s.events[0].anomalies, ["bad_crc"]);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    assert!(s.events[1].anomalies.is_empty());
}

#[test]
fn reports_iin_errors() {
    // The SELECT response with IIN2 "parameter error" set (and its block CRC recomputed).
    let mut b = hex(SELECT_RSP);
    b[14] = 0x04;
    let c = crc::crc(&b[10..26]).to_le_bytes();
    b[26..28].copy_from_slice(&c);
    let (_, s) = run(&mut Dnp3Dissector::new(false), &b, Direction::ToClient);
    assert_eq!(s.events[0].status, PduStatus::Exception);
    assert_eq!(s.field(0, "iin"), Some(0x0004));
}

#[test]
fn split_and_two_in_one() {
    let mut b = hex(READ);
    b.extend(hex(SELECT));
    let mut d = Dnp3Dissector::new(false);
    let (p, s) = run(&mut d, &b[..40], Direction::ToServer);
    assert_eq!(p, Parsed::incomplete(27, 22));
    assert_eq!(s.events.len(), 1);
    let (p, s) = run(&mut d, &b, Direction::ToServer);
    assert_eq!(p, Parsed::done(62));
    assert_eq!(s.events.len(), 2);
}

#[test]
fn survives_garbage() {
    let mut d = Dnp3Dissector::new(false);
    let (p, s) = run(&mut d, b"\x05\x64\x01\x00zzzzzzzzzz", Direction::ToServer);
    assert_eq!(p.consumed, 14);
    assert_eq!(s.events[0].anomalies, ["bad_length"]);
    assert_eq!(probe(&hex(READ)), Probe::Match);
    assert_eq!(
        probe(b"\x05\x64\x14\xc4\x02\x00\x03\x00\x00\x00"),
        Probe::NoMatch
    );
}
