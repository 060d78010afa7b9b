//! DNP3 tests on bytes cut from corpus captures.

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, hex, run};

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

// zeek__dnp3_file_read.pcap frames 9, 11, 13, 15: a file-data response in four transport
// segments (seq 51..54), group 70 variation 5 with a 2-octet size prefix (qualifier 0x5b).
const FILE_SEGS: [&str; 4] = [
    "0564ff4403000400486073ef81100046055b01460378563412005875000080efbbbf3c3f786d6c2076657273e942696f6e3d22312e302220656e636f64694a376e673d227574662d38223f3e0d0a3c3fecfc786d6c2d7374796c657368656574207418af7970653d27746578742f78736c272068b8267265663d27444e503344657669636550d766726f66696c654a616e323031302e7873062b6c7427206d656469613d2773637265650f446e273f3e0d0a3c444e503344657669634de76550726f66696c65446f63756d656e74cbca20786d6c6e733a7873693d226874747099033a2f2f7777772e77332e6f72672f32305b9630312f584d4c536368656d612d696e73657f74616e63652220786d6c6e733a7873645b343d22687474703a2f2f7763cb",
    "0564ff440300040048603477772e77332e6f72672f323030312ffe0e584d4c536368656d612220736368656d50c86156657273696f6e3d22322e30372e30eeca302220786d6c6e733d22687474703a2fd7c32f7777772e646e70332e6f72672f444ef44050332f44657669636550726f66696c654b882f4a616e32303130223e0d0a20203c21011f2d2d446f63756d656e742048656164655ece722d2d3e0d0a20203c646f63756d656e02c8744865616465723e0d0a202020203c6402d26f63756d656e744e616d653e4120444e9cb6503320584d4c2046696c653c2f646f630fc4756d656e744e616d653e0d0a20202020df4e3c646f63756d656e7444657363726970206b74696f6e3e546869732069732061204461404e503320436f6d706c65b814",
    "0564ff44030004004860357465204465766963652050726f6669c21e6c6520666f7220444e50204f757473742c3b6174696f6e20696e2074686520544d5728fe20436f6d6d756e69636174696f6e20504090726f746f636f6c2054657374204861729ac16e6573733c2f646f63756d656e74446532ba736372697074696f6e3e0d0a202020209d603c7265766973696f6e486973746f7279c9ae2076657273696f6e3d2232223e0d0a208c1d20202020203c646174653e323031302d6a6031322d30313c2f646174653e0d0a2020fe94202020203c617574686f723e53746576e79765204d63436f793c2f617574686f723ecb2c0d0a2020202020203c726561736f6e3e33fb446f63756d656e746564205465737420f83d4861726e6573732053442e1c",
    "05646b44030004006444b64e50204465766963652050726f6669bd0c6c653c2f726561736f6e3e0d0a2020206f23203c2f7265766973696f6e486973746f605972793e0d0a20203c2f646f63756d656e4be4744865616465723e0d0a3c2f444e50331f8e44657669636550726f66696c65446f635919756d656e743ebf7c",
];
// zeek__dnp3.pcap frames 4 and 6: an empty unsolicited response (IIN need time) and the
// master's confirmation of it.
const UNSOL: &str = "05640a44030004007caee6f78210004fbd";
const UNSOL_CONFIRM: &str = "056408c404000300b4b8c0d7007ace";
// iti__warm_restart_and_response.pcap frames 4 and 6.
const WARM_RESTART: &str = "056408c40a000100fc42c0c00e7edc";
const WARM_RESTART_RSP: &str = "05640a4401000a006e25c1c0810001c4fd";
// iti__directoperate_and_response.pcap frame 4: direct operate of one CROB.
const DIRECT_OPERATE: &str =
    "05641ac40a0001008a1cc0c0050c012801000000030164000000dded6400000000005b";
// zeek__dnp3_rec_time.pcap frame 4.
const REC_TIME: &str = "056408c40200030036ace0c1181490";
// iti__auth_change_session_keys.pcap frames 4 and 5: session key status request (g120v4)
// and its authentication response (g120v5, IIN device restart + need time).
const AUTH_REQ: &str = "05640ec4040003006dd3c0c1207804070101009e40";
const AUTH_RSP: &str =
    "05641f4403000400342ec0c183900078055b010f0001000000018926000102000400737465766e8d";
// zeek__dnp3_file_del.pcap frame 4: delete file, g70v3 file command (two blocks).
const FILE_DEL: &str = "056463c404000300c7eec7c91b46035b0155001a003b000000009ec700000000000000000000000000000000ffff001e00433a2f74656d702f444e504465677d76696365436f6e66696775726174696f930c6e207772697474656e20746f2052656d35206f7465204465766963652e786d6cc48b";
// zeek__dnp3_en_spon.pcap frame 4: enable unsolicited for classes 1, 2, 3.
const EN_UNSOL: &str = "056411c402000300ccfbeacb143c02063c03063c040630b2";
// zeek__dnp3.pcap frame 163: stop application whose third object header has a reserved
// qualifier (0xed).
const STOP_BAD_QUAL: &str = "056411c4040003004eefc1c1123c02060107063c04ed8763";
// icsnpp-dnp3__dnp3_example.pcap frames 17 and 18: a response in two segments whose
// transport sequence wraps from 63 to 0.
const WRAP: [&str; 2] = [
    "0564ff446400050035187fc881000001020000778101010101011e0e01010101010101010101010101010101bbc301010101010101010101010101010101bbc3010101010101010101010000000000001a1300000000000000000000000000000000ffff00000000000000000000000000000000ffff00000000000000000000000000000000ffff00000000000000000000000000000000ffff00000a02000021000000000000000000857700000000000000000000000000000000ffff0000000000000000001e0200001300c088fc0300df0400d30400e704007003004605720e00660300000000000000000000000000a49d00000000000000000000000000000000ffff000000000000000000002802000013002ebd00000000000000000000ffff",
    "0564374464000500173d80000000000000000000000000000000f3c800000000000000000000000000000000ffff00000000000000000000000000000000ffff0000ffff",
];

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

fn bool_field(s: &VecSink, i: usize, name: &str) -> Option<bool> {
    s.events[i]
        .fields
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| match v {
            yagura_core::FieldValue::Bool(x) => Some(*x),
            _ => None,
        })
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

#[test]
fn reads_object_headers_and_iin() {
    let (_, s) = run(
        &mut Dnp3Dissector::new(false),
        &hex(READ_RSP),
        Direction::ToClient,
    );
    assert_eq!(
        str_field(&s, 0, "objects").as_deref(),
        Some("g1v2 q0x00 0-8, g10v2 q0x00 0-6, g30v1 q0x00 0-14")
    );
    assert_eq!(s.field(0, "object_count"), Some(3));
    assert_eq!(s.field(0, "sequence"), Some(8));
    assert_eq!(s.field(0, "iin"), Some(0));
    let (_, s) = run(
        &mut Dnp3Dissector::new(false),
        &hex(READ),
        Direction::ToServer,
    );
    assert_eq!(
        str_field(&s, 0, "objects").as_deref(),
        Some("g60v2 q0x06, g60v3 q0x06, g60v4 q0x06, g60v1 q0x06")
    );
}

#[test]
fn reassembles_transport_segments() {
    let mut d = Dnp3Dissector::new(false);
    for (i, seg) in FILE_SEGS.iter().enumerate() {
        let (p, s) = run(&mut d, &hex(seg), Direction::ToClient);
        assert_eq!(p.consumed, hex(seg).len());
        if i < 3 {
            assert!(s.events.is_empty(), "segment {i} has no event of its own");
            continue;
        }
        let e = &s.events[0];
        assert_eq!(e.function_name, Some("response"));
        assert!(e.anomalies.is_empty(), "{:?}", e.anomalies);
        assert_eq!(e.length, 292 * 3 + 126);
        assert_eq!(s.field(0, "transport_segments"), Some(4));
        assert_eq!(s.field(0, "iin"), Some(0x1000));
        assert_eq!(str_field(&s, 0, "iin_flags").as_deref(), Some("need_time"));
        assert_eq!(
            str_field(&s, 0, "objects").as_deref(),
            Some("g70v5 q0x5b n=1")
        );
        assert_eq!(bool_field(&s, 0, "confirm"), Some(true));
    }
}

#[test]
fn transport_sequence_wraps() {
    let mut d = Dnp3Dissector::new(false);
    let (_, s) = run(&mut d, &hex(WRAP[0]), Direction::ToClient);
    assert!(s.events.is_empty());
    let (_, s) = run(&mut d, &hex(WRAP[1]), Direction::ToClient);
    assert_eq!(s.events[0].function, Some(129));
    assert!(s.events[0].anomalies.is_empty());
    assert_eq!(s.field(0, "transport_segments"), Some(2));
    assert_eq!(s.field(0, "object_count"), Some(4));
}

#[test]
fn flags_lost_and_missing_segments() {
    // A continuation without its first segment.
    let mut d = Dnp3Dissector::new(false);
    let (_, s) = run(&mut d, &hex(FILE_SEGS[1]), Direction::ToClient);
    assert_eq!(s.events[0].anomalies, ["missing_first_segment"]);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    assert_eq!(s.field(0, "transport_seq"), Some(52));
    // A first segment followed by a new fragment: the first is reported as truncated.
    let mut d = Dnp3Dissector::new(false);
    run(&mut d, &hex(FILE_SEGS[0]), Direction::ToClient);
    let (_, s) = run(&mut d, &hex(READ_RSP), Direction::ToClient);
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.events[0].anomalies, ["truncated"]);
    assert_eq!(s.events[0].function, Some(129));
    assert!(s.events[1].anomalies.is_empty());
    // A gap drops the fragment in progress silently.
    let mut d = Dnp3Dissector::new(false);
    run(&mut d, &hex(FILE_SEGS[0]), Direction::ToClient);
    d.on_gap(Direction::ToClient, 10);
    let (_, s) = run(&mut d, &hex(READ_RSP), Direction::ToClient);
    assert_eq!(s.events.len(), 1);
}

#[test]
fn bounds_reassembly() {
    // The first file segment, then its second one repeated with consecutive sequence
    // numbers (CRCs recomputed) until the fragment passes MAX_FRAGMENT.
    let mut d = Dnp3Dissector::new(false);
    run(&mut d, &hex(FILE_SEGS[0]), Direction::ToClient);
    let mut events = Vec::new();
    for i in 0..20u8 {
        let mut b = hex(FILE_SEGS[1]);
        b[10] = (52 + i) & 0x3f; // transport header: not FIR, not FIN
        let c = crc::crc(&b[10..26]).to_le_bytes();
        b[26..28].copy_from_slice(&c);
        let (_, s) = run(&mut d, &b, Direction::ToClient);
        events.extend(s.events);
    }
    // 1 + 16 segments fit in MAX_FRAGMENT; the 17th continuation overflows, and the ones
    // after it have no first segment.
    assert_eq!(events[0].anomalies, ["truncated", "reassembly_overflow"]);
    assert_eq!(events[0].status, PduStatus::Malformed);
    assert_eq!(events.len(), 1 + (20 - 16));
    assert!(
        events[1..]
            .iter()
            .all(|e| e.anomalies == ["missing_first_segment"])
    );
}

#[test]
fn function_families() {
    let cases: &[(&str, Direction, &str, OperationClass)] = &[
        (
            WARM_RESTART,
            Direction::ToServer,
            "warm_restart",
            OperationClass::Restart,
        ),
        (
            DIRECT_OPERATE,
            Direction::ToServer,
            "direct_operate",
            OperationClass::ControlCommand,
        ),
        (
            REC_TIME,
            Direction::ToServer,
            "record_current_time",
            OperationClass::ClockSync,
        ),
        (
            AUTH_REQ,
            Direction::ToServer,
            "authenticate_req",
            OperationClass::Auth,
        ),
        (
            AUTH_RSP,
            Direction::ToClient,
            "authenticate_resp",
            OperationClass::Auth,
        ),
        (
            FILE_DEL,
            Direction::ToServer,
            "delete_file",
            OperationClass::FileTransfer,
        ),
        (
            EN_UNSOL,
            Direction::ToServer,
            "enable_unsolicited",
            OperationClass::ConfigChange,
        ),
        (
            UNSOL,
            Direction::ToClient,
            "unsolicited_response",
            OperationClass::Read,
        ),
        (
            UNSOL_CONFIRM,
            Direction::ToServer,
            "confirm",
            OperationClass::Other,
        ),
        (
            SELECT,
            Direction::ToServer,
            "select",
            OperationClass::ControlCommand,
        ),
        (READ, Direction::ToServer, "read", OperationClass::Read),
    ];
    for (h, dir, name, op) in cases {
        let (_, s) = run(&mut Dnp3Dissector::new(false), &hex(h), *dir);
        let e = &s.events[0];
        assert_eq!(e.function_name, Some(*name), "{h}");
        assert_eq!(e.operation, *op, "{name}");
        assert!(e.anomalies.is_empty(), "{name}: {:?}", e.anomalies);
        assert_eq!(e.status, PduStatus::Ok, "{name}");
    }
    let (_, s) = run(
        &mut Dnp3Dissector::new(false),
        &hex(UNSOL),
        Direction::ToClient,
    );
    assert_eq!(bool_field(&s, 0, "unsolicited"), Some(true));
    assert_eq!(bool_field(&s, 0, "confirm"), Some(true));
    let (_, s) = run(
        &mut Dnp3Dissector::new(false),
        &hex(AUTH_RSP),
        Direction::ToClient,
    );
    assert_eq!(s.field(0, "iin"), Some(0x9000));
    assert_eq!(
        str_field(&s, 0, "iin_flags").as_deref(),
        Some("need_time,device_restart")
    );
    assert_eq!(
        str_field(&s, 0, "objects").as_deref(),
        Some("g120v5 q0x5b n=1")
    );
}

#[test]
fn response_takes_its_request_class() {
    let mut d = Dnp3Dissector::new(false);
    run(&mut d, &hex(WARM_RESTART), Direction::ToServer);
    let (_, s) = run(&mut d, &hex(WARM_RESTART_RSP), Direction::ToClient);
    assert_eq!(s.events[0].operation, OperationClass::Restart);
    assert_eq!(s.field(0, "request_function"), Some(14));
    assert_eq!(
        str_field(&s, 0, "request_function_name").as_deref(),
        Some("warm_restart")
    );
    // The outstation answers "function code not supported" (IIN2.0).
    assert_eq!(s.events[0].status, PduStatus::Exception);
    assert_eq!(
        str_field(&s, 0, "iin_flags").as_deref(),
        Some("no_func_code_support")
    );
    // Unmatched: no request fields, class other.
    let (_, s) = run(
        &mut Dnp3Dissector::new(false),
        &hex(WARM_RESTART_RSP),
        Direction::ToClient,
    );
    assert_eq!(s.events[0].operation, OperationClass::Other);
    assert_eq!(s.field(0, "request_function"), None);
}

#[test]
fn flags_bad_object_header() {
    let (_, s) = run(
        &mut Dnp3Dissector::new(false),
        &hex(STOP_BAD_QUAL),
        Direction::ToServer,
    );
    let e = &s.events[0];
    assert_eq!(e.function_name, Some("stop_appl"));
    assert_eq!(e.operation, OperationClass::Stop);
    assert_eq!(e.anomalies, ["bad_object_header"]);
    assert_eq!(e.status, PduStatus::Malformed);
    assert_eq!(
        str_field(&s, 0, "objects").as_deref(),
        Some("g60v2 q0x06, g1v7 q0x06, g60v4 q0xed reserved")
    );
}

#[test]
fn counts_without_events() {
    let mut d = Dnp3Dissector::new(false);
    let mut s = VecSink::counting();
    for seg in FILE_SEGS {
        d.parse(&hex(seg), Direction::ToClient, &mut s);
    }
    d.parse(&hex(STOP_BAD_QUAL), Direction::ToServer, &mut s);
    assert_eq!(s.counted, [("dnp3", 0), ("dnp3", 1)]);
}

#[test]
fn udp_datagrams() {
    let mut d = Dnp3Dissector::new(true);
    let (p, s) = run(&mut d, &hex(&FILE_SEGS[0][..40]), Direction::ToClient);
    assert_eq!(p, Parsed::done(20));
    assert_eq!(s.events[0].anomalies, ["truncated"]);
    let (_, s) = run(&mut d, &hex(READ), Direction::ToServer);
    assert_eq!(s.events[0].function_name, Some("read"));
}

#[test]
fn object_sizes_of_common_groups() {
    use wire::{ObjSize, obj_size};
    assert_eq!(obj_size(1, 1), ObjSize::Bits(1));
    assert_eq!(obj_size(3, 1), ObjSize::Bits(2));
    assert_eq!(obj_size(12, 1), ObjSize::Fixed(11));
    assert_eq!(obj_size(20, 1), ObjSize::Fixed(5));
    assert_eq!(obj_size(30, 5), ObjSize::Fixed(5));
    assert_eq!(obj_size(32, 8), ObjSize::Fixed(15));
    assert_eq!(obj_size(41, 2), ObjSize::Fixed(3));
    assert_eq!(obj_size(50, 1), ObjSize::Fixed(6));
    assert_eq!(obj_size(52, 2), ObjSize::Fixed(2));
    assert_eq!(obj_size(60, 1), ObjSize::Nothing);
    assert_eq!(obj_size(110, 12), ObjSize::Fixed(12));
    assert_eq!(obj_size(30, 9), ObjSize::Unknown);
    assert_eq!(obj_size(200, 1), ObjSize::Unknown);
    // A response with an object this table does not know: the walk stops, no anomaly.
    let (n, end) = app::walk(&[200, 1, 0x00, 0, 1, 9, 9], 129, |_| {}, |_, _, _| {});
    assert_eq!((n, end), (1, app::WalkEnd::Unknown));
    // Count larger than the data.
    let (_, end) = app::walk(&[30, 1, 0x07, 200, 1, 2, 3], 129, |_| {}, |_, _, _| {});
    assert_eq!(end, app::WalkEnd::Bad(Anomaly::Truncated));
    // Inverted range.
    let (_, end) = app::walk(&[1, 2, 0x00, 5, 1], 129, |_| {}, |_, _, _| {});
    assert_eq!(end, app::WalkEnd::Bad(Anomaly::BadObjectHeader));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Arbitrary user data inside valid link frames (CRCs computed), split anywhere:
    /// no panic, everything consumed, at most one event per frame plus one per gap.
    #[test]
    fn arbitrary_user_data_never_panics(
        frames in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..250), 1..8),
        cut in 0usize..2000,
        events in proptest::prelude::any::<bool>(),
    ) {
        let mut b = Vec::new();
        for ud in &frames {
            b.extend(link(ud));
        }
        let mut d = Dnp3Dissector::new(false);
        let mut s = if events { VecSink::default() } else { VecSink::counting() };
        let cut = cut.min(b.len());
        let p1 = d.parse(&b[..cut], Direction::ToServer, &mut s);
        let rest = &b[p1.consumed..];
        let p2 = d.parse(rest, Direction::ToServer, &mut s);
        proptest::prop_assert_eq!(p1.consumed + p2.consumed, b.len());
        let n = s.events.len() + s.counted.len();
        proptest::prop_assert!(n <= 2 * frames.len());
    }

    /// Truncations and one-byte mutations of real frames never panic.
    #[test]
    fn mutated_frames_never_panic(i in 0usize..13, pos in 0usize..300, val in proptest::prelude::any::<u8>(), cut in 0usize..300) {
        let all = [SELECT, SELECT_RSP, READ, READ_RSP, UNSOL, WARM_RESTART_RSP, DIRECT_OPERATE, AUTH_RSP, FILE_DEL, EN_UNSOL, STOP_BAD_QUAL, FILE_SEGS[0], WRAP[0]];
        let mut b = hex(all[i]);
        if pos < b.len() { b[pos] = val; }
        b.truncate(cut);
        for udp in [false, true] {
            let mut d = Dnp3Dissector::new(udp);
            let p = d.parse(&b, Direction::ToClient, &mut VecSink::default());
            proptest::prop_assert!(p.consumed <= b.len());
        }
    }
}

/// A primary unconfirmed-user-data link frame carrying `ud`, CRCs included.
fn link(ud: &[u8]) -> Vec<u8> {
    let mut h = vec![
        0x05,
        0x64,
        (ud.len() + 5) as u8,
        0xc4,
        0x01,
        0x00,
        0x02,
        0x00,
    ];
    let c = crc::crc(&h).to_le_bytes();
    h.extend(c);
    for block in ud.chunks(BLOCK) {
        h.extend(block);
        h.extend(crc::crc(block).to_le_bytes());
    }
    h
}

/// Device attributes (group 0) in a response become identity facts. No corpus capture has
/// them, so the objects are built after IEEE 1815's device attribute table: g0v252
/// (manufacturer, visible string), g0v250 (product and model), g0v242 (software version),
/// g0v248 (serial number, sent as an unsigned integer here: not a visible string, so not
/// taken), one object each at index 0 (qualifier 0x00, start-stop 0-0).
#[test]
fn device_attributes_become_identity_facts() {
    let attr = |v: u8, dtype: u8, value: &[u8]| {
        let mut o = vec![0, v, 0x00, 0, 0, dtype, value.len() as u8];
        o.extend_from_slice(value);
        o
    };
    let mut objs = Vec::new();
    objs.extend(attr(252, 1, b"ACME Grid Controls"));
    objs.extend(attr(250, 1, b"RTU-500 rev B\0\0"));
    objs.extend(attr(242, 1, b"4.2.1"));
    objs.extend(attr(248, 2, &[0x39, 0x30, 0, 0]));
    let mut facts = Vec::new();
    let mut headers = 0;
    let (n, end) = app::walk(
        &objs,
        0x81,
        |_| headers += 1,
        |o, dtype, value| facts.extend(identity_fact(o.variation, dtype, value)),
    );
    assert_eq!((n, end, headers), (4, app::WalkEnd::Done, 4));
    assert_eq!(
        facts,
        [
            ("vendor", "ACME Grid Controls".to_owned()),
            ("product_name", "RTU-500 rev B".to_owned()),
            ("firmware_version", "4.2.1".to_owned()),
        ]
    );
    // A value cut short is a truncated walk, not a panic.
    let (_, end) = app::walk(&objs[..objs.len() - 2], 0x81, |_| {}, |_, _, _| {});
    assert_eq!(end, app::WalkEnd::Bad(crate::Anomaly::Truncated));
    // Attributes nobody maps, and empty or non-text values, give nothing.
    assert_eq!(identity_fact(209, 1, b"x"), None);
    assert_eq!(identity_fact(252, 1, b"\0\0"), None);
    assert_eq!(identity_fact(252, 7, b"ACME"), None);
}

/// The same device attributes in a whole response frame: the facts reach the sink in count
/// mode too, equal to those reported with events.
#[test]
fn device_attribute_facts_in_count_mode() {
    let attr = |v: u8, value: &[u8]| {
        let mut o = vec![0, v, 0x00, 0, 0, 1, value.len() as u8];
        o.extend_from_slice(value);
        o
    };
    // Transport header (FIR, FIN), application control (FIR, FIN), response, IIN.
    let mut ud = vec![0xc0, 0xc0, 0x81, 0x00, 0x00];
    ud.extend(attr(252, b"ACME Grid Controls"));
    ud.extend(attr(250, b"RTU-500 rev B"));
    ud.extend(attr(247, b"Substation 7 RTU"));
    let frame = link(&ud);
    let mut counting = VecSink::counting();
    Dnp3Dissector::new(false).parse(&frame, Direction::ToClient, &mut counting);
    assert_eq!(
        counting.fact_pairs(),
        [
            ("vendor", "ACME Grid Controls"),
            ("model", "RTU-500 rev B"),
            ("name", "Substation 7 RTU"),
        ]
    );
    assert_eq!(counting.counted, [("dnp3", 0)]);
    let mut events = VecSink::default();
    Dnp3Dissector::new(false).parse(&frame, Direction::ToClient, &mut events);
    assert_eq!(events.facts, counting.facts);
    let vendor = events.events[0].fields.iter().find(|(n, _)| *n == "vendor");
    assert_eq!(
        vendor.map(|(_, v)| v),
        Some(&yagura_core::FieldValue::Str("ACME Grid Controls".into()))
    );
}

/// The counting path (no closure, no fields) and the event path of `fragment` and the link
/// frames must agree on every counted fact and identity fact, for every test vector, in
/// both directions, whole and with one octet flipped (bad CRCs, bad headers).
#[test]
fn counting_path_matches_events() {
    let mut vectors: Vec<Vec<u8>> = [
        SELECT,
        SELECT_RSP,
        READ,
        READ_RSP,
        LINK_REQ,
        LINK_RSP,
        UNSOL,
        UNSOL_CONFIRM,
        WARM_RESTART,
        WARM_RESTART_RSP,
        DIRECT_OPERATE,
        REC_TIME,
        AUTH_REQ,
        AUTH_RSP,
        FILE_DEL,
        EN_UNSOL,
        STOP_BAD_QUAL,
    ]
    .iter()
    .chain(FILE_SEGS.iter())
    .chain(WRAP.iter())
    .map(|h| hex(h))
    .collect();
    for i in 0..vectors.len() {
        for at in [3, 10, 12, 20] {
            let mut v = vectors[i].clone();
            if let Some(b) = v.get_mut(at) {
                *b ^= 0x41;
                vectors.push(v);
            }
        }
    }
    for dir in [Direction::ToServer, Direction::ToClient] {
        let mut with_events = Dnp3Dissector::new(true);
        let mut counting = Dnp3Dissector::new(true);
        let mut e = VecSink::default();
        let mut c = VecSink::counting();
        for v in &vectors {
            with_events.parse(v, dir, &mut e);
            counting.parse(v, dir, &mut c);
        }
        let counts = crate::testutil::as_counts(&e.events);
        assert!(!counts.is_empty());
        assert_eq!(c.counted_full, counts, "{dir:?}");
        assert_eq!(c.facts, e.facts, "{dir:?}");
    }
}

/// User data of every length class (3 + 3k octets: every remainder modulo the block size)
/// is gathered whole and in order across the blocks (the short last block is copied with
/// the octets before it), and a flipped octet in any block, the last one included, is a
/// bad CRC.
#[test]
fn gathers_user_data_of_every_length() {
    for k in 0..=82u8 {
        // Transport FIR|FIN, application FIR|FIN, READ, then k class-data object headers
        // whose variations count 1..=k (a misplaced octet shows in the description).
        let mut ud = vec![0xc0, 0xc0, 0x01];
        for i in 1..=k {
            ud.extend([0x3c, i, 0x06]);
        }
        let frame = link(&ud);
        let (_, s) = run(&mut Dnp3Dissector::new(false), &frame, Direction::ToServer);
        assert_eq!(s.events.len(), 1, "{k}");
        assert!(
            s.events[0].anomalies.is_empty(),
            "{k}: {:?}",
            s.events[0].anomalies
        );
        let want: Vec<String> = (1..=k).map(|i| format!("g60v{i}")).collect();
        let objects = str_field(&s, 0, "objects").unwrap_or_default();
        let got: Vec<&str> = objects
            .split(", ")
            .map(|o| o.split(' ').next().unwrap_or(""))
            .collect();
        if k > 0 {
            assert_eq!(got, want, "{k}");
        }
        for pos in [HEADER_LEN, frame.len() - 3] {
            let mut bad = frame.clone();
            bad[pos] ^= 0x10;
            let (_, s) = run(&mut Dnp3Dissector::new(false), &bad, Direction::ToServer);
            assert!(s.events[0].anomalies.contains(&"bad_crc"), "{k} {pos}");
        }
    }
}
