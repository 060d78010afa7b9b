//! ISO-on-TCP / S7comm / S7comm-plus tests on bytes cut from corpus captures.

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, hex, run};

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

// ---- Deeper S7comm decoding (bytes cut from corpus captures) ----

use proptest::prelude::*;
use yagura_core::FieldValue;

/// The string value of field `name` in event `i`.
fn text(s: &VecSink, i: usize, name: &str) -> Option<String> {
    s.events[i]
        .fields
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| match v {
            FieldValue::Str(x) => Some(x.clone()),
            _ => None,
        })
}

// icsnpp-s7comm__snap7.pcap frames 51, 52: read var of MB16 and its answer.
const READ_JOB: &str = "0300001f02f080320100001900000e00000401120a10080001000083000080";
const READ_ACK: &str = "0300001d02f0803203000019000002000800000401ff07000400000000";
// snap7.pcap frames 53, 54: write var of five items (M, I, Q, T, C); items 4 and 5 fail.
const WRITE_JOB: &str = "030000c302f080320100001a00003e00740505120a10040010000083000000120a10020010000081000000120a10020010000082000000120a101d000800001d000000120a101c000800001c00000000040100addeaddeaddeaddeaddeaddeaddeaddeefbeefbeefbeefbeefbeefbeefbeefbe00040080aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb00040080bbbbbbbbbbbbbbbbaddeaddeaddeadde00090010efbeefbeefbeefbeefbeefbeefbeefbe00090010fecafecafecafecafecafecafecafeca";
const WRITE_ACK: &str = "0300001a02f080320300001a000002000500000505ffffff0303";
// snap7.pcap frames 43, 44: start upload of OB0, refused with an Ack (no parameter).
const UPLOAD_JOB: &str = "0300002302f080320100001500001200001d00000000000000095f3038303030303041";
const UPLOAD_NAK: &str = "0300001302f08032020000150000000000d20c";
// iti__step7_s300_download.pcapng frames 87 and 93: request download of DB1, then the PI
// service _INSE activating it.
const DOWNLOAD_REQ: &str = "0300003102f080320100008300002000001a00010000000000095f30413030303031500d31303030323136303030303838";
const PI_INSE: &str =
    "0300002b02f080320100008400001a000028000000000000fd000a01003041303030303150055f494e5345";
// snap7.pcap frame 63: PI P_PROGRAM with parameter block "C " (cold start).
const PI_COLD: &str =
    "0300002702f080320100001f000016000028000000000000fd0002432009505f50524f4752414d";
// icsnpp-s7comm__s7ident.pcap frame 11: SZL 0x0011 answer (module identification).
const SZL_0011: &str = "0300009902f080320700000100000c007c000112081284010000000000ff09007800110000001c0004000136455337203331352d32454831342d304142302000c000040001000636455337203331352d32454831342d304142302000c0000400010007202020202020202020202020202020202020202000c0560302060081426f6f74204c6f61646572202020202020202020000041200909";
// s7ident.pcap frame 17: SZL 0x0424 answer (CPU mode: RUN).
const SZL_0424: &str = "0300003d02f080320700000400000c0020000112081284010000000000ff09001c04240000001400015144ff0800000000000000002410042124250005";
// snap7.pcap frames 6 and 8: SZL 0x001C answer in two data units (the second fetched by a
// follow-up request, frame 7).
const SZL_001C_1: &str = "030000f702f080320700000200000c00da0001120812840102d5010000ff0900d6001c00000022000a000153373330302f45543230304d2073746174696f6e5f31000000000000000000000002504c435f310000000000000000000000000000000000000000000000000000000003000000000000000000000000000000000000000000000000000000000000000000044f726967696e616c205369656d656e732045717569706d656e7400000000000000055320432d423155333933313432303131000000000000000000000000000000000007435055203331352d3220504e2f445000000000000000000000000000000000000008";
const SZL_FOLLOW: &str = "0300002102f080320700000300000c00040001120812440102000000000a000000";
const SZL_001C_2: &str = "030000a702f080320700000300000c008a0001120812840102d5000000ff0900864d4d4320344131414330313900000000000000000000000000000000000000000009002af60000010000000000000000000000000000000000000000000000000000000a0000000000000000000000000000000000000000000000000000000000000000000b0000000000000000000000000000000000000000000000000000000000000000";
// snap7.pcap frame 46: read clock answer.
const CLOCK_ACK: &str =
    "0300002b02f080320700001600000c000e000112081287010200000000ff09000a00191602081451379162";
// iti__S7-1511_db2_var1_HMI.pcap frame 7: S7comm-plus V1 CreateObject answer carrying the
// server session version string.
const PLUS_CREATE_RSP: &str = "030000d702f080720100c832000004ca0000000136000287088709a100000120821f0100a38169001500a3822b00048280808000a3822d0015104f4d53502e52454c2e353034312e3233a3822f10021427ab8fbbf5932317cd6959f04976658f7313522aa3823200170000013a823b00048240823c00048240823d000484818040823e000484818040823f00151a313b36455337203531312d31414b30302d304142303b56312e30824000151a313b36455337203531312d31414b30302d304142303b56312e3082410003000300a20000000072010000";

#[test]
fn read_var_job_and_matched_answer() {
    let mut d = s7();
    let (_, s) = run(&mut d, &hex(READ_JOB), Direction::ToServer);
    assert_eq!(s.events[0].operation, OperationClass::Read);
    assert_eq!(s.field(0, "item_count"), Some(1));
    assert_eq!(text(&s, 0, "area").as_deref(), Some("M"));
    assert_eq!(s.field(0, "address"), Some(16));
    let (_, s) = run(&mut d, &hex(READ_ACK), Direction::ToClient);
    let e = &s.events[0];
    assert_eq!(
        (e.function_name, e.status),
        (Some("read_var"), PduStatus::Ok)
    );
    // The answer carries the request's item.
    assert_eq!(text(&s, 0, "area").as_deref(), Some("M"));
    assert_eq!(s.field(0, "return_code"), Some(0xff));
}

#[test]
fn write_var_with_failing_items() {
    let mut d = s7();
    let (_, s) = run(&mut d, &hex(WRITE_JOB), Direction::ToServer);
    assert_eq!(s.events[0].operation, OperationClass::Write);
    assert_eq!(s.field(0, "item_count"), Some(5));
    assert!(s.events[0].anomalies.is_empty());
    let (_, s) = run(&mut d, &hex(WRITE_ACK), Direction::ToClient);
    assert_eq!(s.events[0].status, PduStatus::Exception);
    assert_eq!(s.field(0, "return_code"), Some(3));
}

#[test]
fn ack_takes_the_jobs_function() {
    let mut d = s7();
    let (_, s) = run(&mut d, &hex(UPLOAD_JOB), Direction::ToServer);
    assert_eq!(s.events[0].operation, OperationClass::ProgramUpload);
    assert_eq!(text(&s, 0, "block_type").as_deref(), Some("OB"));
    assert_eq!(s.field(0, "block_number"), Some(0));
    let (_, s) = run(&mut d, &hex(UPLOAD_NAK), Direction::ToClient);
    let e = &s.events[0];
    assert_eq!(e.function_name, Some("start_upload"));
    assert_eq!(e.status, PduStatus::Exception);
    assert_eq!(s.field(0, "error_class"), Some(0xd2));
    // An Ack without a Job seen has no function.
    let (_, s) = run(&mut s7(), &hex(UPLOAD_NAK), Direction::ToClient);
    assert_eq!(s.events[0].function, None);
}

#[test]
fn download_and_pi_services() {
    let mut d = s7();
    let (_, s) = run(&mut d, &hex(DOWNLOAD_REQ), Direction::ToServer);
    assert_eq!(s.events[0].operation, OperationClass::ProgramDownload);
    assert_eq!(text(&s, 0, "block_type").as_deref(), Some("DB"));
    assert_eq!(s.field(0, "block_number"), Some(1));
    let (_, s) = run(&mut d, &hex(PI_INSE), Direction::ToServer);
    assert_eq!(s.events[0].operation, OperationClass::ProgramDownload);
    assert_eq!(text(&s, 0, "pi_service").as_deref(), Some("_INSE"));
    assert_eq!(text(&s, 0, "block_type").as_deref(), Some("DB"));
    let (_, s) = run(&mut d, &hex(PI_COLD), Direction::ToServer);
    assert_eq!(s.events[0].operation, OperationClass::Restart);
    assert_eq!(text(&s, 0, "start_mode").as_deref(), Some("cold"));
}

#[test]
fn szl_module_identification_and_cpu_mode() {
    let mut d = s7();
    let (_, s) = run(&mut d, &hex(SZL_0011), Direction::ToClient);
    assert_eq!(s.events[0].operation, OperationClass::Identify);
    assert_eq!(
        text(&s, 0, "order_number").as_deref(),
        Some("6ES7 315-2EH14-0AB0")
    );
    assert_eq!(text(&s, 0, "hardware_version").as_deref(), Some("4"));
    assert_eq!(text(&s, 0, "firmware_version").as_deref(), Some("V3.2.6"));
    let (_, s) = run(&mut d, &hex(SZL_0424), Direction::ToClient);
    assert_eq!(s.events[0].operation, OperationClass::Diagnostic);
    assert_eq!(text(&s, 0, "cpu_mode").as_deref(), Some("run"));
}

#[test]
fn szl_component_identification_over_two_data_units() {
    let mut d = s7();
    let (_, s) = run(&mut d, &hex(SZL_001C_1), Direction::ToClient);
    assert_eq!(text(&s, 0, "station_name"), None, "decoded when complete");
    let (_, s) = run(&mut d, &hex(SZL_FOLLOW), Direction::ToServer);
    assert_eq!(s.events[0].function_name, Some("read_szl"));
    let (_, s) = run(&mut d, &hex(SZL_001C_2), Direction::ToClient);
    assert_eq!(s.field(0, "szl_id"), Some(0x1c));
    assert_eq!(
        text(&s, 0, "station_name").as_deref(),
        Some("S7300/ET200M station_1")
    );
    assert_eq!(text(&s, 0, "module_name").as_deref(), Some("PLC_1"));
    assert_eq!(
        text(&s, 0, "serial_number").as_deref(),
        Some("S C-B1U393142011")
    );
    assert_eq!(s.events[0].operation, OperationClass::Identify);
}

#[test]
fn read_clock_answer() {
    let (_, s) = run(&mut s7(), &hex(CLOCK_ACK), Direction::ToClient);
    assert_eq!(s.events[0].function_name, Some("read_clock"));
    assert_eq!(
        text(&s, 0, "clock").as_deref(),
        Some("2016-02-08T14:51:37.916")
    );
}

#[test]
fn pending_table_is_bounded() {
    let mut d = s7();
    let mut b = hex(READ_JOB);
    for r in 0..1000u16 {
        b[11..13].copy_from_slice(&r.to_be_bytes());
        run(&mut d, &b, Direction::ToServer);
    }
    // Only the newest MAX_PENDING Jobs are remembered: an answer to the first is unmatched.
    let mut a = hex(READ_ACK);
    a[11..13].copy_from_slice(&0u16.to_be_bytes());
    let (_, s) = run(&mut d, &a, Direction::ToClient);
    assert_eq!(text(&s, 0, "area"), None);
    a[11..13].copy_from_slice(&999u16.to_be_bytes());
    let (_, s) = run(&mut d, &a, Direction::ToClient);
    assert_eq!(text(&s, 0, "area").as_deref(), Some("M"));
}

#[test]
fn s7comm_plus_version_string_and_cpu_stop() {
    let (_, s) = run(
        &mut IsoDissector::new(ProtocolId::S7COMM_PLUS, false),
        &hex(PLUS_CREATE_RSP),
        Direction::ToClient,
    );
    assert_eq!(s.events[0].function_name, Some("create_object"));
    assert_eq!(
        text(&s, 0, "order_number").as_deref(),
        Some("6ES7 511-1AK00-0AB0")
    );
    assert_eq!(text(&s, 0, "firmware_version").as_deref(), Some("V1.0"));
    // Synthetic (no capture of it in the corpus): a V1 SetVariable request on the CPU
    // execution unit (object 0x34), attribute 2167 (VLQ 90 77), DInt value 1 = STOP.
    let body = hex("31 0000 04f2 0000 0007 70000e4d 36 00000034 01 9077 00 04 01 00000000");
    let mut p = vec![0x72, 0x01];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend(&body);
    p.extend(hex("72010000"));
    let mut t = vec![3, 0, 0, 0, 2, 0xf0, 0x80];
    t.extend(&p);
    let l = t.len() as u16;
    t[2..4].copy_from_slice(&l.to_be_bytes());
    let (_, s) = run(
        &mut IsoDissector::new(ProtocolId::S7COMM_PLUS, false),
        &t,
        Direction::ToServer,
    );
    assert_eq!(s.events[0].operation, OperationClass::Stop);
    assert_eq!(s.field(0, "session_id"), Some(0x70000e4d));
    assert_eq!(s.field(0, "requested_state"), Some(1));
    let at = t.len() - 9;
    t[at] = 3; // value 3 = RUN
    let (_, s) = run(
        &mut IsoDissector::new(ProtocolId::S7COMM_PLUS, false),
        &t,
        Direction::ToServer,
    );
    assert_eq!(s.events[0].operation, OperationClass::Start);
}

/// Wrap `payload` in TPKT + COTP DT (EOT).
fn tpkt(payload: &[u8]) -> Vec<u8> {
    let mut t = vec![3, 0, 0, 0, 2, 0xf0, 0x80];
    t.extend_from_slice(payload);
    let l = t.len().min(0xffff) as u16;
    t[2..4].copy_from_slice(&l.to_be_bytes());
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Arbitrary S7comm / S7comm-plus payloads behind valid framing, and arbitrary
    /// truncations of real PDUs, never panic; one event per TPDU at most.
    #[test]
    fn arbitrary_payloads_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        first in prop_oneof![Just(0x32u8), Just(0x72u8), any::<u8>()],
        rosctr in prop_oneof![Just(1u8), Just(2), Just(3), Just(7), any::<u8>()],
        events in any::<bool>(),
    ) {
        let mut p = vec![first, rosctr];
        p.extend_from_slice(&body);
        let t = tpkt(&p);
        let mut d = s7();
        let mut sink = if events { VecSink::default() } else { VecSink::counting() };
        for dir in [Direction::ToServer, Direction::ToClient] {
            d.parse(&t, dir, &mut sink);
        }
        prop_assert!(sink.events.len() + sink.counted.len() <= 2);
    }

    #[test]
    fn truncated_corpus_pdus_never_panic(cut in 0usize..400, which in 0usize..8) {
        let all = [READ_JOB, WRITE_JOB, PI_INSE, SZL_0011, SZL_001C_1, SZL_001C_2, CLOCK_ACK, PLUS_CREATE_RSP];
        let b = hex(all[which]);
        let payload = &b[7..];
        let t = tpkt(&payload[..cut.min(payload.len())]);
        let mut d = s7();
        let mut sink = VecSink::default();
        d.parse(&t, Direction::ToClient, &mut sink);
        prop_assert!(sink.events.len() <= 1);
    }
}

/// One parse call in count mode.
fn count(d: &mut dyn Dissector, b: &[u8], dir: Direction) -> VecSink {
    let mut s = VecSink::counting();
    d.parse(b, dir, &mut s);
    s
}

#[test]
fn szl_identity_facts_in_count_mode() {
    let mut d = s7();
    let s = count(&mut d, &hex(SZL_0011), Direction::ToClient);
    assert_eq!(
        s.fact_pairs(),
        [
            ("order_number", "6ES7 315-2EH14-0AB0"),
            ("hardware", "4"),
            ("firmware", "V3.2.6"),
        ]
    );
    assert!(
        s.facts
            .iter()
            .all(|f| f.subject == yagura_core::Subject::Sender)
    );
    let s = count(&mut d, &hex(SZL_0424), Direction::ToClient);
    assert_eq!(s.fact_pairs(), [("state", "run")]);
    // Component identification over two data units, reassembled in count mode too.
    let mut d = s7();
    assert!(
        count(&mut d, &hex(SZL_001C_1), Direction::ToClient)
            .facts
            .is_empty()
    );
    assert!(
        count(&mut d, &hex(SZL_FOLLOW), Direction::ToServer)
            .facts
            .is_empty()
    );
    let s = count(&mut d, &hex(SZL_001C_2), Direction::ToClient);
    let names: Vec<_> = s.fact_pairs();
    assert!(
        names.contains(&("name", "S7300/ET200M station_1")),
        "{names:?}"
    );
    assert!(names.contains(&("name", "PLC_1")));
    assert!(names.contains(&("serial", "S C-B1U393142011")));
    // The same facts as with events.
    let mut e = s7();
    run(&mut e, &hex(SZL_001C_1), Direction::ToClient);
    run(&mut e, &hex(SZL_FOLLOW), Direction::ToServer);
    let (_, with_events) = run(&mut e, &hex(SZL_001C_2), Direction::ToClient);
    assert_eq!(with_events.facts, s.facts);
}

#[test]
fn s7comm_plus_identity_facts_in_count_mode() {
    let s = count(
        &mut IsoDissector::new(ProtocolId::S7COMM_PLUS, false),
        &hex(PLUS_CREATE_RSP),
        Direction::ToClient,
    );
    assert_eq!(
        s.fact_pairs(),
        [
            ("order_number", "6ES7 511-1AK00-0AB0"),
            ("firmware", "V1.0")
        ]
    );
}

/// What counting reports for a sequence of frames, and what the events report: (protocol,
/// operation, response, anomaly count) per PDU, in order, and the identity facts.
type Reported = (
    Vec<(String, OperationClass, bool, u32)>,
    Vec<yagura_core::IdentityFact>,
);

fn counts_and_events(frames: &[(Vec<u8>, Direction)]) -> [Reported; 2] {
    let (mut counting, mut events) = (s7(), s7());
    let (mut c, mut e): (Reported, Reported) = Default::default();
    for (b, dir) in frames {
        let s = count(&mut counting, b, *dir);
        c.0.extend(
            s.counted_full
                .iter()
                .map(|p| (p.protocol.to_string(), p.operation, p.response, p.anomalies)),
        );
        c.1.extend(s.facts);
        let (_, s) = run(&mut events, b, *dir);
        e.0.extend(s.events.iter().map(|p| {
            let n = u32::try_from(p.anomalies.len()).unwrap();
            (p.protocol.to_string(), p.operation, p.response, n)
        }));
        e.1.extend(s.facts);
    }
    [c, e]
}

// Counting keeps only a Job's class in its pending table and skips the details
// (`JobClass`), and builds only the SZL's own fields of an identifying answer: it must count
// exactly what the events report, and report the same identity facts, for answers matched
// to their Jobs, unmatched, or whose PDU reference was reused, for SZL answers in one or
// more data units, and for mangled PDUs.
#[test]
fn counting_agrees_with_events() {
    use Direction::{ToClient as C, ToServer as S};
    let frames: Vec<(Vec<u8>, Direction)> = [
        (SETUP_JOB, S),
        (SETUP_ACK, C),
        (READ_JOB, S),
        (WRITE_JOB, S),
        (WRITE_ACK, C),
        (READ_ACK, C),
        (STOP_JOB, S),
        (STOP_ACK, C),
        (ERR_ACK, C),
        (UPLOAD_JOB, S),
        (UPLOAD_NAK, C),
        (UPLOAD_NAK, C),
        (DOWNLOAD_REQ, S),
        (PI_INSE, S),
        (PI_COLD, S),
        (SZL_REQ, S),
        (SZL_0011, C),
        (SZL_0424, C),
        (SZL_001C_1, C),
        (SZL_FOLLOW, S),
        (SZL_001C_2, C),
        (CLOCK_ACK, C),
        (EMPTY_DT, S),
        (CR, S),
        // A Read Var answer under the Write Var Job's reference: the answer is trusted alone.
        (READ_JOB, S),
        (WRITE_ACK, C),
        (READ_ACK, C),
        // S7comm-plus: an answer, and a CreateObject answer with a version string (which
        // identifies the sender), then the same as a request (which does not).
        (PLUS_RSP, C),
        (PLUS_CREATE_RSP, C),
        (&PLUS_CREATE_RSP.replacen("720100c832", "720100c831", 1), S),
    ]
    .iter()
    .map(|(h, d)| (hex(h), *d))
    .collect();
    let [c, e] = counts_and_events(&frames);
    assert_eq!(
        c.0.len(),
        frames.len() - 1,
        "one PDU per frame but the empty DT"
    );
    assert!(c.1.len() > 5, "the SZL answers identify the CPU: {:?}", c.1);
    assert_eq!(c, e);
    // Mangled copies: one byte of one frame changed (header, parameter, items, data), the
    // rest of the sequence as is.
    let mut next = xorshift(0x2545_f491_u32);
    for _ in 0..3000 {
        let mut f = frames.clone();
        let i = next() % f.len();
        let b = &mut f[i].0;
        // Past the TPKT and COTP headers, mostly in the S7 header and parameter.
        let at = 7 + next() % (b.len() - 7).clamp(1, 40);
        if at < b.len() {
            b[at] = match next() % 4 {
                0 => 0,
                1 => 0xff,
                2 => b[at].wrapping_add(1),
                _ => next() as u8,
            };
        }
        let [c, e] = counts_and_events(&f);
        assert_eq!(c, e, "frame {i} byte {at}");
    }
}

/// A deterministic xorshift32 sequence from `seed` (mangling test inputs reproducibly).
fn xorshift(mut seed: u32) -> impl FnMut() -> usize {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as usize
    }
}

// The framing loop's fast path (`cotp::plain_dt`) must read a TPKT as the general parse
// does: whenever it takes one, `Tpdu::parse` finds a DT TPDU of the same length and EOT,
// without anomaly, whose user data follows the 7-byte header. Checked on corpus TPKTs and
// on mangled copies (headers, lengths, truncations).
#[test]
fn plain_dt_agrees_with_tpdu_parse() {
    let corpus: Vec<Vec<u8>> = [
        READ_JOB, READ_ACK, WRITE_JOB, SZL_0011, SZL_FOLLOW, EMPTY_DT, CR, PLUS_RSP,
    ]
    .iter()
    .map(|h| hex(h))
    .collect();
    let mut next = xorshift(0x9e37_79b9_u32);
    let mut taken = 0;
    for round in 0..20_000 {
        let mut b = corpus[round % corpus.len()].clone();
        if round >= corpus.len() {
            // Mostly in the 7 header bytes; sometimes cut the TPKT short.
            let at = next() % 8.min(b.len());
            b[at] = match next() % 5 {
                0 => 0,
                1 => 0x80,
                2 => b[at].wrapping_add(1),
                3 => b[at].wrapping_sub(1),
                _ => next() as u8,
            };
            if next().is_multiple_of(4) {
                b.truncate(next() % (b.len() + 1));
            }
        }
        let Some((n, eot)) = cotp::plain_dt(&b) else {
            continue;
        };
        taken += 1;
        let t = Tpdu::parse(&b).expect("the fast path frames only whole TPKTs");
        assert_eq!(t.code, TpduCode::DT, "{b:02x?}");
        assert_eq!((t.len, t.eot), (n, eot), "{b:02x?}");
        assert!(t.anomalies.is_empty(), "{b:02x?}");
        assert_eq!(t.user_data, &b[cotp::DT_HEADER..n], "{b:02x?}");
    }
    assert!(taken > 1000, "the fast path was exercised {taken} times");
}

// The Job item walk sizes items with `Item::size` and reads only the first with
// `Item::read`: short, odd and cut items must neither panic nor yield S7ANY fields that are
// not all there.
#[test]
fn item_size_and_read_on_short_items() {
    use wire::Item;
    let full = [
        0x12, 0x0a, 0x10, 0x02, 0x00, 0x01, 0x00, 0x05, 0x84, 0x00, 0x00, 0x08,
    ];
    assert_eq!(Item::size(&full), Some(12));
    let it = Item::read(&full, 12);
    assert_eq!((it.syntax, it.db, it.area, it.address), (0x10, 5, 0x84, 8));
    assert_eq!(Item::parse(&full), Some((it, 12)));
    for len in 0..12u8 {
        let mut b = full;
        b[1] = len;
        for cut in 0..=b.len() {
            let b = &b[..cut];
            match Item::size(b) {
                Some(size) => {
                    assert!(size <= b.len() && size == 2 + usize::from(len));
                    let it = Item::read(b, size);
                    assert_eq!(it.syntax, 0x10);
                    assert_eq!(it.area != 0, len >= 10, "len {len} cut {cut}");
                }
                None => assert!(cut < 3 || cut < 2 + usize::from(len)),
            }
        }
    }
}

// The framing loop takes an input's first TPKT apart from the others (`FIRST_APART`): an
// input of several TPKTs, whole or followed by a cut TPKT or by garbage, must be framed as
// the same TPKTs given one per call.
#[test]
fn first_tpkt_apart_frames_as_the_loop() {
    let frames: Vec<Vec<u8>> = [STOP_JOB, EMPTY_DT, SZL_0131, CR, STOP_ACK, PLUS_RSP]
        .iter()
        .map(|h| hex(h))
        .collect();
    let one_by_one = |n: usize| {
        let mut d = s7();
        let mut events = Vec::new();
        for f in &frames[..n] {
            let (p, s) = run(&mut d, f, Direction::ToServer);
            assert_eq!(p, Parsed::done(f.len()));
            events.extend(s.events);
        }
        events
    };
    for n in 1..=frames.len() {
        let whole: Vec<u8> = frames[..n].concat();
        let expected = one_by_one(n);
        let (p, s) = run(&mut s7(), &whole, Direction::ToServer);
        assert_eq!(p, Parsed::done(whole.len()), "{n} TPKTs");
        assert_eq!(s.events, expected, "{n} TPKTs");
        // Followed by the first 10 bytes of a TPKT: those wait for the rest.
        let mut cut = whole.clone();
        cut.extend_from_slice(&hex(STOP_JOB)[..10]);
        let (p, s) = run(&mut s7(), &cut, Direction::ToServer);
        assert_eq!(
            p,
            Parsed::incomplete(whole.len(), 23),
            "{n} TPKTs and a cut one"
        );
        assert_eq!(s.events, expected, "{n} TPKTs and a cut one");
        // Followed by garbage: one malformed PDU of the rest, and resync.
        let mut bad = whole.clone();
        bad.extend_from_slice(b"\x16\x03\x01\x02\x00");
        let mut d = s7();
        let (p, s) = run(&mut d, &bad, Direction::ToServer);
        assert_eq!(p, Parsed::done(bad.len()), "{n} TPKTs and garbage");
        assert_eq!(s.events[..expected.len()], expected[..]);
        assert_eq!(s.events.len(), expected.len() + 1);
        assert_eq!(s.events[expected.len()].status, PduStatus::Malformed);
        assert_eq!(s.events[expected.len()].length, 5);
        let (p, s) = run(&mut d, b"\x16\x03\x01", Direction::ToServer);
        assert_eq!(
            (p, s.events.len()),
            (Parsed::done(3), 0),
            "skipped in resync"
        );
    }
}
