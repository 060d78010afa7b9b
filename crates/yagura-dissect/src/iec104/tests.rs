//! IEC 104 tests on bytes cut from corpus captures (zeek-iec104__iec104.pcap).

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, hex};

const STARTDT_ACT: &str = "680407000000";
const STARTDT_CON: &str = "68040b000000";
const S_FRAME: &str = "680401001a00";
// Frame 9: general interrogation (C_IC_NA_1, activation) to common address 10.
const GI: &str = "680e00000000640106000a0000000014";
// Frame 12: three APDUs in one segment (GI confirmation, M_SP_NA_1, M_DP_NA_1).
const THREE: &str = "680e02000200640107000a0000000014681a04000200010414000a0001000000020000000300000004000000681a06000200030414000a0001000000020000000300000004000000";
// Frame 20: single command C_SC_NA_1, activation.
const SC: &str = "680e040042002d0106000a0002000001";

fn run(d: &mut Iec104Dissector, b: &[u8], dir: Direction) -> (Parsed, VecSink) {
    let mut s = VecSink::default();
    let p = d.parse(b, dir, &mut s);
    (p, s)
}

#[test]
fn parses_u_and_s_frames() {
    let mut d = Iec104Dissector::new(false);
    let (_, s) = run(&mut d, &hex(STARTDT_ACT), Direction::ToServer);
    assert_eq!(s.events[0].function_name, Some("startdt_act"));
    assert!(!s.events[0].response);
    let (_, s) = run(&mut d, &hex(STARTDT_CON), Direction::ToClient);
    assert_eq!(s.events[0].function_name, Some("startdt_con"));
    assert!(s.events[0].response);
    let (_, s) = run(&mut d, &hex(S_FRAME), Direction::ToServer);
    assert_eq!(s.events[0].function_name, Some("s_ack"));
    assert_eq!(s.field(0, "rx_seq"), Some(13));
}

#[test]
fn parses_i_frames() {
    let mut d = Iec104Dissector::new(false);
    let (_, s) = run(&mut d, &hex(GI), Direction::ToServer);
    let e = &s.events[0];
    assert_eq!(
        (e.function, e.function_name),
        (Some(100), Some("c_ic_na_1"))
    );
    assert_eq!(e.operation, OperationClass::Read);
    assert_eq!(s.field(0, "cot"), Some(6));
    assert_eq!(s.field(0, "common_address"), Some(10));
    let (_, s) = run(&mut d, &hex(SC), Direction::ToServer);
    assert_eq!(s.events[0].operation, OperationClass::ControlCommand);
    assert_eq!(s.field(0, "type_id"), Some(45));
}

#[test]
fn three_apdus_in_one_call_and_split() {
    let b = hex(THREE);
    let mut d = Iec104Dissector::new(false);
    let (p, s) = run(&mut d, &b[..30], Direction::ToClient);
    assert_eq!(p, Parsed::incomplete(16, 14));
    assert_eq!(s.events.len(), 1);
    let (p, s) = run(&mut d, &b[16..], Direction::ToClient);
    assert_eq!(p, Parsed::done(b.len() - 16));
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.events[0].function_name, Some("m_sp_na_1"));
    assert_eq!(s.field(1, "cot"), Some(20));
}

#[test]
fn reports_negative_confirmation() {
    // Frame 21's activation confirmation of the single command, with the P/N bit set.
    let mut b = hex("680e420006002d0107000a0002000001");
    b[8] |= 0x40;
    let (_, s) = run(&mut Iec104Dissector::new(false), &b, Direction::ToClient);
    assert_eq!(s.events[0].status, PduStatus::Exception);
}

#[test]
fn survives_garbage() {
    let mut d = Iec104Dissector::new(false);
    let (p, s) = run(&mut d, b"\x68\x02\x00\x00garbage", Direction::ToServer);
    assert_eq!(p.consumed, 11);
    assert_eq!(s.events[0].anomalies, ["bad_length"]);
    // An I frame too short for an ASDU is framed but flagged.
    let (_, s) = run(
        &mut Iec104Dissector::new(false),
        &hex("680400000000"),
        Direction::ToServer,
    );
    assert_eq!(s.events[0].anomalies, ["bad_apci"]);
    assert_eq!(probe(&hex(GI)), Probe::Match);
    assert_eq!(probe(&hex("680400000000")), Probe::NoMatch);
}
