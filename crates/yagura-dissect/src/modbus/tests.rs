//! Modbus tests on bytes cut from corpus captures (`tshark -T fields -e tcp.payload`).

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, hex};

fn run(d: &mut ModbusDissector, bytes: &[u8], dir: Direction) -> (Parsed, VecSink) {
    let mut sink = VecSink::default();
    let p = d.parse(bytes, dir, &mut sink);
    (p, sink)
}

// iti__modbus_test.pcap frames 7 and 9: read input registers 0..14 on unit 1, and its answer.
const REQ_FC4: &str = "41a00000000601040000000e";
const RSP_FC4: &str = "41a00000001f01041c000053f5000000000000000000003318000000000000000000005925";
// iti__modbus_test.pcap frame 69: two write-single-register requests in one segment.
const TWO_FC6: &str = "01f80000000607060004000001f8000000060706000536c1";
// An exception response (FC 23 | 0x80, gateway target failed) from the corpus fuzz captures.
const EXC: &str = "000b0000000301970a";
// lsw__mod_43.pcap: read device identification request and response.
const REQ_FC43: &str = "000000000005012b0e0100";
const RSP_FC43: &str = "000000000032012b0e018100000300145363686e656964657220456c6563747269632020010c424d58205033342032303230020476322e35";

#[test]
fn parses_request_and_response() {
    let mut d = ModbusDissector::new(false);
    let (p, s) = run(&mut d, &hex(REQ_FC4), Direction::ToServer);
    assert_eq!(p, Parsed::done(12));
    let e = &s.events[0];
    assert_eq!(e.protocol, "modbus");
    assert_eq!(e.function, Some(4));
    assert_eq!(e.function_name, Some("read_input_registers"));
    assert_eq!(e.operation, OperationClass::Read);
    assert!(!e.response);
    assert_eq!(e.status, PduStatus::Ok);
    assert_eq!(e.length, 12);
    assert_eq!(s.field(0, "transaction_id"), Some(0x41a0));
    assert_eq!(s.field(0, "unit_id"), Some(1));

    let (p, s) = run(&mut d, &hex(RSP_FC4), Direction::ToClient);
    assert_eq!(p, Parsed::done(37));
    assert!(s.events[0].response);
    assert_eq!(s.events[0].function, Some(4));
}

#[test]
fn parses_exception() {
    let mut d = ModbusDissector::new(false);
    let (_, s) = run(&mut d, &hex(EXC), Direction::ToClient);
    let e = &s.events[0];
    assert_eq!(e.status, PduStatus::Exception);
    assert_eq!(e.function, Some(23));
    assert_eq!(e.operation, OperationClass::Write);
    assert_eq!(s.field(0, "exception_code"), Some(10));
    assert!(e.anomalies.is_empty());
}

#[test]
fn parses_read_device_identification() {
    let mut d = ModbusDissector::new(false);
    let (_, s) = run(&mut d, &hex(REQ_FC43), Direction::ToServer);
    assert_eq!(
        s.events[0].function_name,
        Some("read_device_identification")
    );
    assert_eq!(s.events[0].operation, OperationClass::Identify);
    assert_eq!(s.field(0, "mei_type"), Some(14));
    let (p, s) = run(&mut d, &hex(RSP_FC43), Direction::ToClient);
    assert_eq!(p.consumed, 56);
    assert_eq!(s.events[0].operation, OperationClass::Identify);
}

#[test]
fn parses_two_pdus_in_one_call() {
    let mut d = ModbusDissector::new(false);
    let (p, s) = run(&mut d, &hex(TWO_FC6), Direction::ToServer);
    assert_eq!(p, Parsed::done(24));
    assert_eq!(s.events.len(), 2);
    assert!(
        s.events
            .iter()
            .all(|e| e.operation == OperationClass::Write)
    );
}

#[test]
fn waits_for_a_split_pdu() {
    let mut d = ModbusDissector::new(false);
    let b = hex(RSP_FC4);
    let (p, s) = run(&mut d, &b[..5], Direction::ToClient);
    assert_eq!(p.consumed, 0);
    assert!(p.needed > 0);
    assert!(s.events.is_empty());
    let (p, s) = run(&mut d, &b[..20], Direction::ToClient);
    assert_eq!(p, Parsed::incomplete(0, 17));
    assert!(s.events.is_empty());
    let (p, s) = run(&mut d, &b, Direction::ToClient);
    assert_eq!(p, Parsed::done(37));
    assert_eq!(s.events.len(), 1);
}

#[test]
fn survives_garbage_then_resyncs() {
    let mut d = ModbusDissector::new(false);
    // An S7 setup-communication TPDU sent to port 502: length field 0x02f0 is impossible.
    let garbage = hex("0300001902f08032010000000000080000f0000001000101e0");
    let (p, s) = run(&mut d, &garbage, Direction::ToServer);
    assert_eq!(p, Parsed::done(garbage.len()));
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    assert_eq!(s.events[0].anomalies, ["bad_length"]);
    // In resync, a non-Modbus start is skipped silently, a Modbus start is parsed.
    let (p, s) = run(&mut d, &garbage, Direction::ToServer);
    assert_eq!(p.consumed, garbage.len());
    assert!(s.events.is_empty());
    let (_, s) = run(&mut d, &hex(REQ_FC4), Direction::ToServer);
    assert_eq!(s.events.len(), 1);
}

#[test]
fn resyncs_after_gap() {
    let mut d = ModbusDissector::new(false);
    d.on_gap(Direction::ToClient, 100);
    let b = hex(RSP_FC4);
    // The tail of a PDU after the gap is skipped, the next whole one parsed.
    let (p, s) = run(&mut d, &b[9..], Direction::ToClient);
    assert_eq!(p.consumed, b.len() - 9);
    assert!(s.events.is_empty());
    let (_, s) = run(&mut d, &b, Direction::ToClient);
    assert_eq!(s.events.len(), 1);
}

#[test]
fn flags_nonzero_protocol_id() {
    let mut b = hex(REQ_FC4);
    b[3] = 1;
    let (_, s) = run(&mut ModbusDissector::new(false), &b, Direction::ToServer);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    assert_eq!(s.events[0].anomalies, ["bad_protocol_id"]);
}

#[test]
fn counts_without_events() {
    let mut d = ModbusDissector::new(false);
    let mut sink = VecSink::counting();
    d.parse(&hex(TWO_FC6), Direction::ToServer, &mut sink);
    assert_eq!(sink.counted, [("modbus", 0), ("modbus", 0)]);
}

#[test]
fn udp_truncated_is_malformed() {
    let b = hex(RSP_FC4);
    let (p, s) = run(
        &mut ModbusDissector::new(true),
        &b[..20],
        Direction::ToClient,
    );
    assert_eq!(p, Parsed::done(20));
    assert_eq!(s.events[0].anomalies, ["truncated"]);
}

#[test]
fn probes() {
    assert_eq!(probe(&hex(REQ_FC4)), Probe::Match);
    assert_eq!(probe(&hex(EXC)), Probe::Match);
    assert_eq!(probe(&hex(REQ_FC4)[..3]), Probe::NeedMore);
    assert_eq!(probe(b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
}
