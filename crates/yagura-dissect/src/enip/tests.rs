//! EtherNet/IP encapsulation tests on bytes cut from corpus captures.

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, hex};

// sv__enip_test1.pcap: ListIdentity request and response.
const LI_REQ: &str = "63000000000000000000000000000000c1debed100000000";
const LI_RSP: &str = "63003300000000000000000000000000c1debed10000000001000c002d0001000002af120a0101a4000000000000000001000c003a00040330008e4d52000b313735362d454e42542f4103";
// iti__EthernetIP-CIP / mb2: RegisterSession request and response.
const REG_REQ: &str = "65000400000000000000000000000000000000000000000001000000";
const REG_RSP: &str = "650004000011020a0000000000000000000000000000000001000000";
// iti__CL5000EIP-Firmware_Change_Failure.pcap frames 7 and 9: SendUnitData both ways.
const SUD_REQ: &str = "6f00260000010212000000000f740100489ae00000000000000000008b00020000000000b2001600510220a1240116ff1b000000000001000100c3ae5100";
const SUD_RSP: &str =
    "6f00140000010212000000000f740100489ae00000000000000000008b00020000000000b2000400d1000800";

fn run(d: &mut EnipDissector, b: &[u8], dir: Direction) -> (Parsed, VecSink) {
    let mut s = VecSink::default();
    let p = d.parse(b, dir, &mut s);
    (p, s)
}

#[test]
fn parses_list_identity() {
    let mut d = EnipDissector::new(false);
    let (p, s) = run(&mut d, &hex(LI_REQ), Direction::ToServer);
    assert_eq!(p, Parsed::done(24));
    assert_eq!(s.events[0].function_name, Some("list_identity"));
    assert_eq!(s.events[0].operation, OperationClass::Identify);
    let (p, s) = run(&mut d, &hex(LI_RSP), Direction::ToClient);
    assert_eq!(p, Parsed::done(75));
    assert!(s.events[0].response);
    assert_eq!(s.field(0, "command"), Some(0x63));
}

#[test]
fn parses_session_and_send_rr_data() {
    let mut d = EnipDissector::new(false);
    let (_, s) = run(&mut d, &hex(REG_RSP), Direction::ToClient);
    assert_eq!(s.events[0].function_name, Some("register_session"));
    assert_eq!(s.field(0, "session"), Some(0x0a02_1100));
    let (_, s) = run(&mut d, &hex(SUD_REQ), Direction::ToServer);
    assert_eq!(s.events[0].function_name, Some("send_rr_data"));
    assert_eq!(s.events[0].length, 62);
}

#[test]
fn reports_error_status() {
    // No error response in the corpus: the real SendRRData reply with status 0x65
    // (invalid length) written in.
    let mut b = hex(SUD_RSP);
    b[8] = 0x65;
    let (_, s) = run(&mut EnipDissector::new(false), &b, Direction::ToClient);
    assert_eq!(s.events[0].status, PduStatus::Exception);
    assert_eq!(s.field(0, "enip_status"), Some(0x65));
}

#[test]
fn two_pdus_and_split() {
    let mut b = hex(SUD_REQ);
    b.extend(hex(SUD_REQ));
    let mut d = EnipDissector::new(false);
    let (p, s) = run(&mut d, &b[..80], Direction::ToServer);
    assert_eq!(p, Parsed::incomplete(62, 6));
    assert_eq!(s.events.len(), 1);
    let (p, s) = run(&mut d, &b[62..], Direction::ToServer);
    assert_eq!(p, Parsed::done(62));
    assert_eq!(s.events.len(), 1);
}

#[test]
fn survives_garbage() {
    let mut d = EnipDissector::new(false);
    let (p, s) = run(
        &mut d,
        b"\xde\xad\xbe\xef\x00\x00\x00\x00",
        Direction::ToServer,
    );
    assert_eq!(p.consumed, 8);
    assert_eq!(s.events[0].anomalies, ["bad_header"]);
}

#[test]
fn probes() {
    assert_eq!(probe(&hex(LI_REQ)), Probe::Match);
    assert_eq!(probe_strict(&hex(LI_REQ)), Probe::Match);
    assert_eq!(probe_strict(&hex(REG_REQ)), Probe::Match);
    assert_eq!(probe_strict(&hex(SUD_REQ)), Probe::NoMatch);
    assert_eq!(probe(&hex(SUD_REQ)), Probe::Match);
}
