//! ISO-on-TCP / S7comm / S7comm-plus tests on bytes cut from corpus captures.

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, hex};

fn run(d: &mut IsoDissector, b: &[u8], dir: Direction) -> (Parsed, VecSink) {
    let mut s = VecSink::default();
    let p = d.parse(b, dir, &mut s);
    (p, s)
}

fn s7() -> IsoDissector {
    IsoDissector::new(ProtocolId::S7COMM, false)
}

// icsnpp-s7comm__snap7.pcap frames 1 and 2: setup communication job and its ack_data.
const SETUP_JOB: &str = "0300001902f08032010000000000080000f0000001000101e0";
const SETUP_ACK: &str = "0300001b02f080320300000000000800000000f0000001000100f0";
// iti__snap7_s300_stop.pcapng: PLC stop job and its ack_data.
const STOP_JOB: &str = "0300002102f0803201000000020010000029000000000009505f50524f4752414d";
const STOP_ACK: &str = "0300001402f08032030000000200010000000029";
// An ack_data with error class 0xd2 (function 0x28 PI service) from the corpus.
const ERR_ACK: &str = "0300001502f080320300007a0000020000d2a92802";
// snap7.pcap frame 3: userdata read SZL 0x0011 (module identification).
const SZL_REQ: &str = "0300002102f080320700000100000800080001120411440100ff09000400110000";
// iti__step7_s300_readDiagData.pcapng frames 3+4: an empty EOT=0 DT, then the userdata.
const EMPTY_DT: &str = "0300000702f000";
const SZL_0131: &str = "0300002102f080320700006306000800080001120411440100ff09000401310002";
// lsw__s71500-normal.pcapng frames 36, 43: COTP CR, and an S7comm-plus response.
const CR: &str = "030000231ee00000001500c1020600c20f53494d415449432d524f4f542d4553c0010a";
const PLUS_RSP: &str = "0300002002f08072020011320000054200000002340000000000000072020000";
// Frame 45's first 64 bytes: a V3 (integrity-protected) SetVariable request, header only.
const PLUS_V3_HEAD: &str = "7203005620";

#[test]
fn parses_job_and_ack_data() {
    let mut d = s7();
    let (p, s) = run(&mut d, &hex(SETUP_JOB), Direction::ToServer);
    assert_eq!(p, Parsed::done(25));
    let e = &s.events[0];
    assert_eq!(
        (e.protocol, e.function, e.function_name),
        ("s7comm", Some(0xf0), Some("setup_communication"))
    );
    assert!(!e.response);
    assert_eq!(e.operation, OperationClass::Other);
    assert_eq!(s.field(0, "rosctr"), Some(1));
    let (_, s) = run(&mut d, &hex(SETUP_ACK), Direction::ToClient);
    assert!(s.events[0].response);
    assert_eq!(s.events[0].status, PduStatus::Ok);
    assert_eq!(s.field(0, "error_class"), Some(0));
}

#[test]
fn classifies_plc_stop() {
    let mut d = s7();
    let (_, s) = run(&mut d, &hex(STOP_JOB), Direction::ToServer);
    assert_eq!(s.events[0].function_name, Some("plc_stop"));
    assert_eq!(s.events[0].operation, OperationClass::Stop);
    assert!(s.events[0].anomalies.is_empty());
    let (_, s) = run(&mut d, &hex(STOP_ACK), Direction::ToClient);
    assert_eq!(s.events[0].operation, OperationClass::Stop);
    assert!(s.events[0].response);
}

#[test]
fn reports_error_class() {
    let (_, s) = run(&mut s7(), &hex(ERR_ACK), Direction::ToClient);
    let e = &s.events[0];
    assert_eq!(e.status, PduStatus::Exception);
    assert_eq!(e.function_name, Some("pi_service"));
    assert_eq!(s.field(0, "error_class"), Some(0xd2));
    assert_eq!(s.field(0, "error_code"), Some(0xa9));
}

#[test]
fn parses_userdata_szl() {
    let (_, s) = run(&mut s7(), &hex(SZL_REQ), Direction::ToServer);
    let e = &s.events[0];
    assert_eq!(e.function_name, Some("read_szl"));
    assert_eq!(e.function, Some(0x0401));
    assert_eq!(e.operation, OperationClass::Identify);
    assert!(!e.response);
    assert_eq!(s.field(0, "szl_id"), Some(0x0011));
    assert_eq!(s.field(0, "function_group"), Some(4));
}

#[test]
fn two_tpdus_and_empty_segment_in_one_call() {
    let mut b = hex(EMPTY_DT);
    b.extend(hex(SZL_0131));
    let (p, s) = run(&mut s7(), &b, Direction::ToServer);
    assert_eq!(p, Parsed::done(b.len()));
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.field(0, "szl_id"), Some(0x0131));
    assert_eq!(s.events[0].operation, OperationClass::Diagnostic);
}

#[test]
fn reassembles_cotp_segments() {
    // The SZL request split at its S7 header into two DT TPDUs, the first without EOT.
    let whole = hex(SZL_REQ);
    let payload = &whole[7..];
    let mut first = vec![3, 0, 0, 0, 2, 0xf0, 0x00];
    first.extend_from_slice(&payload[..10]);
    let l = first.len() as u16;
    first[2..4].copy_from_slice(&l.to_be_bytes());
    let mut second = vec![3, 0, 0, 0, 2, 0xf0, 0x80];
    second.extend_from_slice(&payload[10..]);
    let l = second.len() as u16;
    second[2..4].copy_from_slice(&l.to_be_bytes());
    let mut d = s7();
    let (p, s) = run(&mut d, &first, Direction::ToServer);
    assert_eq!(p, Parsed::done(first.len()));
    assert!(s.events.is_empty());
    let (_, s) = run(&mut d, &second, Direction::ToServer);
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].length as usize, payload.len());
    assert_eq!(s.events[0].function_name, Some("read_szl"));
}

#[test]
fn waits_for_a_split_tpkt() {
    let b = hex(STOP_JOB);
    let mut d = s7();
    let (p, s) = run(&mut d, &b[..3], Direction::ToServer);
    assert_eq!(p, Parsed::incomplete(0, 1));
    assert!(s.events.is_empty());
    let (p, _) = run(&mut d, &b[..20], Direction::ToServer);
    assert_eq!(p, Parsed::incomplete(0, 13));
    let (p, s) = run(&mut d, &b, Direction::ToServer);
    assert_eq!(p, Parsed::done(b.len()));
    assert_eq!(s.events.len(), 1);
}

#[test]
fn reports_cotp_connection_request() {
    let (_, s) = run(&mut s7(), &hex(CR), Direction::ToServer);
    let e = &s.events[0];
    assert_eq!(
        (e.protocol, e.function, e.function_name),
        ("cotp", Some(0xe0), Some("connection_request"))
    );
    assert!(!e.response);
}

#[test]
fn parses_s7comm_plus() {
    let (_, s) = run(
        &mut IsoDissector::new(ProtocolId::S7COMM_PLUS, false),
        &hex(PLUS_RSP),
        Direction::ToClient,
    );
    let e = &s.events[0];
    assert_eq!(e.protocol, "s7comm_plus");
    assert_eq!(e.function, Some(0x0542));
    assert_eq!(e.function_name, Some("set_multi_variables"));
    assert_eq!(e.operation, OperationClass::Write);
    assert!(e.response);
    assert!(e.anomalies.is_empty(), "{:?}", e.anomalies);
    assert_eq!(s.field(0, "sequence"), Some(2));
}

#[test]
fn s7comm_plus_v3_skips_the_digest() {
    // Frame 45 of s71500-normal: version 3, a 32-byte digest, then SetVariable (0x04f2).
    let mut p = hex(PLUS_V3_HEAD);
    p.extend_from_slice(&[0xaa; 32]);
    p.extend(hex("31000004f20000000370000e4c"));
    p.resize(4 + 0x56, 0);
    p.extend(hex("72030000"));
    let mut tpkt = vec![3, 0, 0, 0, 2, 0xf0, 0x80];
    tpkt.extend_from_slice(&p);
    let l = tpkt.len() as u16;
    tpkt[2..4].copy_from_slice(&l.to_be_bytes());
    let (_, s) = run(
        &mut IsoDissector::new(ProtocolId::S7COMM_PLUS, false),
        &tpkt,
        Direction::ToServer,
    );
    assert_eq!(s.events[0].function_name, Some("set_variable"));
    assert!(!s.events[0].response);
    assert_eq!(s.field(0, "sequence"), Some(3));
}

#[test]
fn parses_pushes_and_system_events() {
    // iti__tia_s300_downloadHwConfig.pcapng frame 59: mode-transition push (CPU in STOP),
    // whose parameter head is 00 01 00.
    let (_, s) = run(
        &mut s7(),
        &hex("0300001902f080320700000000000800000100101000000000"),
        Direction::ToClient,
    );
    assert_eq!(
        s.events[0].function_name,
        Some("mode_transition"),
        "{:?}",
        s.events[0]
    );
    assert!(s.events[0].anomalies.is_empty());
    // lsw__s71500-normal.pcapng: two S7comm-plus system events (no trailer), then a
    // normal message that must not be taken for a continuation.
    let mut d = IsoDissector::new(ProtocolId::S7COMM_PLUS, false);
    let mut b = hex("0300001b02f08072fe001000000000000003800000000000000000");
    b.extend(hex(
        "0300002102f08072fe0016000000000000052800000000000000004c4f474f5554",
    ));
    b.extend(hex(PLUS_RSP));
    let (_, s) = run(&mut d, &b, Direction::ToClient);
    let names: Vec<_> = s.events.iter().map(|e| e.function_name).collect();
    assert_eq!(
        names,
        [
            Some("system_event"),
            Some("system_event"),
            Some("set_multi_variables")
        ]
    );
    assert!(s.events.iter().all(|e| e.anomalies.is_empty()));
}

#[test]
fn survives_garbage() {
    let mut d = s7();
    let (p, s) = run(
        &mut d,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        Direction::ToServer,
    );
    assert_eq!(p.consumed, 11);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    // A TPKT shorter than its minimum.
    let mut d = s7();
    let (_, s) = run(&mut d, &[3, 0, 0, 4, 0, 0], Direction::ToServer);
    assert_eq!(s.events[0].anomalies, ["bad_length"]);
    // After garbage the next TPKT start resyncs.
    let (_, s) = run(&mut d, &hex(STOP_JOB), Direction::ToServer);
    assert_eq!(s.events[0].function_name, Some("plc_stop"));
}

#[test]
fn flags_s7_length_mismatch() {
    let mut b = hex(STOP_ACK);
    b[14] = 0x10; // data length claims 16 bytes that are not there
    let (_, s) = run(&mut s7(), &b, Direction::ToClient);
    assert_eq!(s.events[0].anomalies, ["truncated"]);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
}
