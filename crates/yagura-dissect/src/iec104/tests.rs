//! IEC 104 tests on bytes cut from corpus captures (zeek-iec104__iec104.pcap).

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, hex, run};

const STARTDT_ACT: &str = "680407000000";
const STARTDT_CON: &str = "68040b000000";
const S_FRAME: &str = "680401001a00";
// Frame 9: general interrogation (C_IC_NA_1, activation) to common address 10.
const GI: &str = "680e00000000640106000a0000000014";
// Frame 12: three APDUs in one segment (GI confirmation, M_SP_NA_1, M_DP_NA_1).
const THREE: &str = "680e02000200640107000a0000000014681a04000200010414000a0001000000020000000300000004000000681a06000200030414000a0001000000020000000300000004000000";
// Frame 20: single command C_SC_NA_1, activation.
const SC: &str = "680e040042002d0106000a0002000001";

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

// iti__JavaRMI_and_IEC_Misc.pcap frame 17: M_SP_NA_1 with SQ set, ten elements after one
// address (IOA 10010), cause "interrogated by general interrogation", common address 37133.
const SP_SEQUENCE: &str = "681704000200018a14010d911a270000800000000000000000";
// iti__090813_diverse.pcap frames 25 and 27: single command (select) activation and its
// confirmation, IOA 4500.
const SC_SELECT: &str = "680e2c00a2002d010600030094110081";
const SC_SELECT_CON: &str = "680ea2002e002d010700030094110081";

fn str_field(s: &VecSink, i: usize, name: &str) -> Option<String> {
    s.events[i]
        .fields
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| match v {
            yagura_core::FieldValue::Str(x) => Some(x.clone()),
            _ => None,
        })
}

#[test]
fn reads_ioa_cot_and_sequence() {
    let (_, s) = run(
        &mut Iec104Dissector::new(false),
        &hex(SP_SEQUENCE),
        Direction::ToClient,
    );
    let e = &s.events[0];
    assert_eq!(e.function_name, Some("m_sp_na_1"));
    assert_eq!(e.operation, OperationClass::Read);
    assert!(e.anomalies.is_empty(), "{:?}", e.anomalies);
    assert_eq!(s.field(0, "ioa"), Some(10010));
    assert_eq!(s.field(0, "num_objects"), Some(10));
    assert_eq!(s.field(0, "common_address"), Some(37133));
    assert_eq!(s.field(0, "originator"), Some(1));
    assert_eq!(s.field(0, "cot"), Some(20));
    assert_eq!(
        str_field(&s, 0, "cot_name").as_deref(),
        Some("interrogated_general")
    );
    assert_eq!(s.field(0, "tx_seq"), Some(2));
    assert_eq!(s.field(0, "rx_seq"), Some(1));
    let (_, s) = run(
        &mut Iec104Dissector::new(false),
        &hex(SC_SELECT),
        Direction::ToServer,
    );
    assert_eq!(s.events[0].operation, OperationClass::ControlCommand);
    assert_eq!(s.field(0, "ioa"), Some(4500));
    assert_eq!(str_field(&s, 0, "cot_name").as_deref(), Some("activation"));
    let (_, s) = run(
        &mut Iec104Dissector::new(false),
        &hex(SC_SELECT_CON),
        Direction::ToClient,
    );
    assert_eq!(
        str_field(&s, 0, "cot_name").as_deref(),
        Some("activation_con")
    );
    assert!(s.events[0].response);
}

#[test]
fn flags_asdu_length_mismatch() {
    // The SQ sequence with one element cut off (APCI length and object count unchanged).
    let mut b = hex(SP_SEQUENCE);
    b.pop();
    b[1] -= 1;
    let (_, s) = run(&mut Iec104Dissector::new(false), &b, Direction::ToClient);
    assert_eq!(s.events[0].anomalies, ["bad_length"]);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    // A command with two objects announced but one present.
    let mut b = hex(SC_SELECT);
    b[7] = 2;
    let (_, s) = run(&mut Iec104Dissector::new(false), &b, Direction::ToServer);
    assert_eq!(s.events[0].anomalies, ["bad_length"]);
}

#[test]
fn command_classes() {
    // Built from the GI APDU (zeek-iec104__iec104.pcap frame 9) with the type id and the
    // element changed: clock synchronisation (CP56Time2a, 7 octets), reset process (QRP),
    // counter interrogation (QCC), read (no element).
    let cases: &[(&str, &str, OperationClass)] = &[
        (
            "681400000000670106000a0000000000000000000000",
            "c_cs_na_1",
            OperationClass::ClockSync,
        ),
        (
            "680e00000000690106000a0000000001",
            "c_rp_na_1",
            OperationClass::Restart,
        ),
        (
            "680e00000000650106000a0000000005",
            "c_ci_na_1",
            OperationClass::Read,
        ),
        (
            "680d00000000660105000a00000000",
            "c_rd_na_1",
            OperationClass::Read,
        ),
        (
            "680e000000002e0106000a0000000001",
            "c_dc_na_1",
            OperationClass::ControlCommand,
        ),
        (
            "681000000000300106000a00000000000000",
            "c_se_na_1",
            OperationClass::ControlCommand,
        ),
    ];
    for (h, name, op) in cases {
        let (_, s) = run(
            &mut Iec104Dissector::new(false),
            &hex(h),
            Direction::ToServer,
        );
        let e = &s.events[0];
        assert_eq!(e.function_name, Some(*name));
        assert_eq!(e.operation, *op, "{name}");
        assert!(e.anomalies.is_empty(), "{name}: {:?}", e.anomalies);
    }
}

#[test]
fn many_apdus_in_one_segment_one_event_each() {
    let mut b = Vec::new();
    for _ in 0..5 {
        b.extend(hex(SP_SEQUENCE));
        b.extend(hex(S_FRAME));
    }
    let (p, s) = run(&mut Iec104Dissector::new(false), &b, Direction::ToClient);
    assert_eq!(p, Parsed::done(b.len()));
    assert_eq!(s.events.len(), 10);
    let mut c = VecSink::counting();
    Iec104Dissector::new(false).parse(&b, Direction::ToClient, &mut c);
    assert_eq!(c.counted.len(), 10);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Arbitrary bytes split anywhere: no panic, bounded consumption and events.
    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), cut in 0usize..600, udp in proptest::prelude::any::<bool>()) {
        let mut d = Iec104Dissector::new(udp);
        let mut s = VecSink::default();
        let cut = cut.min(b.len());
        let p = d.parse(&b[..cut], Direction::ToServer, &mut s);
        proptest::prop_assert!(p.consumed <= cut);
        let p2 = d.parse(&b[p.consumed..], Direction::ToServer, &mut s);
        proptest::prop_assert!(p2.consumed <= b.len() - p.consumed);
        // Every APDU is at least 6 octets; malformed runs are one event per call.
        proptest::prop_assert!(s.events.len() <= b.len() / 6 + 2);
    }

    /// Mutations and truncations of real APDUs never panic.
    #[test]
    fn mutated_apdus_never_panic(i in 0usize..4, pos in 0usize..40, val in proptest::prelude::any::<u8>(), cut in 0usize..40) {
        let all = [SP_SEQUENCE, SC_SELECT, THREE, GI];
        let mut b = hex(all[i]);
        if pos < b.len() { b[pos] = val; }
        b.truncate(cut);
        let p = Iec104Dissector::new(false).parse(&b, Direction::ToServer, &mut VecSink::default());
        proptest::prop_assert!(p.consumed <= b.len());
    }
}
