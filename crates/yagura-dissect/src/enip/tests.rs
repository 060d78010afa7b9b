//! EtherNet/IP encapsulation tests on bytes cut from corpus captures.

use proptest::prelude::*;
use yagura_core::{Direction, FieldValue, OperationClass, PduStatus};

use super::*;
use crate::memo::CountMemo;
use crate::testutil::{VecSink, hex, run};

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

fn enip_events(s: &VecSink) -> usize {
    s.events.iter().filter(|e| e.protocol == "enip").count()
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
    assert_eq!(enip_events(&s), 1);
    let (p, s) = run(&mut d, &b[62..], Direction::ToServer);
    assert_eq!(p, Parsed::done(62));
    assert_eq!(enip_events(&s), 1);
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

/// The value of a string field.
fn text(s: &VecSink, i: usize, name: &str) -> Option<String> {
    s.events[i].fields.iter().find_map(|(n, v)| match v {
        FieldValue::Str(x) if *n == name => Some(x.clone()),
        _ => None,
    })
}

/// Events of one protocol.
fn of(s: &VecSink, proto: &str) -> Vec<usize> {
    (0..s.events.len())
        .filter(|i| s.events[*i].protocol == proto)
        .collect()
}

#[test]
fn list_identity_reply_carries_identity_facts() {
    let (_, s) = run(
        &mut EnipDissector::new(false),
        &hex(LI_RSP),
        Direction::ToClient,
    );
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.field(0, "vendor_id"), Some(1));
    assert_eq!(s.field(0, "device_type"), Some(12));
    assert_eq!(s.field(0, "product_code"), Some(58));
    assert_eq!(text(&s, 0, "firmware_version").as_deref(), Some("4.3"));
    assert_eq!(s.field(0, "device_status"), Some(0x30));
    assert_eq!(text(&s, 0, "serial_number").as_deref(), Some("0x00524d8e"));
    assert_eq!(text(&s, 0, "product_name").as_deref(), Some("1756-ENBT/A"));
    assert_eq!(s.field(0, "state"), Some(3));
    assert_eq!(
        text(&s, 0, "socket_address").as_deref(),
        Some("10.1.1.164:44818")
    );
}

// iti__EthernetIP-CIP.pcap frames 1 and 7: a connected Multiple Service Packet of two
// requests (service 0x4c on class 0x72) and its reply, matched by CIP sequence count.
const MSP_REQ: &str = "70003a0000010210000000001a392f000000000000000000000000000a000200a100040009133500b1002600e46a0a02200224010200060012004c022072240000ce040001004c02207224002c3d04000100";
const MSP_RSP: &str = "7000300000010210000000000000000000000000000000000000000000000200a1000400d7f10080b1001c00e46a8a000000020006000e00cc00000001000000cc00000005000000";

#[test]
fn multiple_service_packet_and_matching() {
    let mut d = EnipDissector::new(false);
    let (_, s) = run(&mut d, &hex(MSP_REQ), Direction::ToServer);
    let cip = of(&s, "cip");
    assert_eq!(cip.len(), 3);
    assert_eq!(
        s.events[cip[0]].function_name,
        Some("multiple_service_packet")
    );
    assert_eq!(s.field(cip[0], "member_count"), Some(2));
    assert_eq!(s.field(cip[0], "sequence"), Some(27364));
    assert_eq!(s.field(cip[0], "connection_id"), Some(0x0035_1309));
    assert_eq!(s.field(cip[1], "class"), Some(0x72));
    assert_eq!(s.field(cip[1], "member_index"), Some(1));
    assert_eq!(s.field(cip[2], "member_index"), Some(2));
    let (_, s) = run(&mut d, &hex(MSP_RSP), Direction::ToClient);
    let cip = of(&s, "cip");
    assert_eq!(cip.len(), 3);
    for &i in &cip {
        assert!(s.events[i].response);
        assert_eq!(s.field(i, "general_status"), Some(0));
        assert_eq!(s.field(i, "sequence"), Some(27364));
    }
    // The reply's path comes from the request.
    assert_eq!(s.field(cip[0], "class"), Some(2));
    assert_eq!(s.field(cip[1], "class"), Some(0x72));
    assert_eq!(s.field(cip[2], "instance"), Some(0));
    assert!(d.framing.pending.as_ref().is_some_and(|p| p.is_empty()));
}

// iti__EthernetIP-CIP.pcap frame 37: Read-Modify-Write Tag on symbolic paths in a MSP.
const RMW: &str = "7000aa000001021000000000a3a893000000000000000000000000000a000200a100040001038b00b100960071ec0a022002240104000a00280046006a004e0c91164c4d535f44495341424c455f32445343414e4e455231010001ff4e0c91164c4d535f44495341424c455f32445343414e4e455232010001ff4e0f911b4c4d535f44495341424c455f424152434f44455f5343414e4e455200010000fe4e0f911b4c4d535f534554504f494e544348414e47455f524543454956454400010000fe";

#[test]
fn symbolic_tags_are_write_operations() {
    let (_, s) = run(
        &mut EnipDissector::new(false),
        &hex(RMW),
        Direction::ToServer,
    );
    let cip = of(&s, "cip");
    assert_eq!(cip.len(), 5);
    let e = &s.events[cip[1]];
    assert_eq!(e.function_name, Some("read_modify_write_tag"));
    assert_eq!(e.operation, OperationClass::Write);
    assert_eq!(
        text(&s, cip[1], "tag").as_deref(),
        Some("LMS_DISABLE_2DSCANNER1")
    );
    assert_eq!(
        text(&s, cip[4], "tag").as_deref(),
        Some("LMS_SETPOINTCHANGE_RECEIVED")
    );
}

// lsw__cip_1.pcap frames 32 and 33: Unconnected Send carrying Get_Attributes_All (class
// 0x6c instance 0x3f3) and the embedded reply.
const UCS_REQ: &str = "6f0026000011020a00000000000000000000000000000000000000000000020000000000b200160052022006240107e908000103206c2500f30301000100";
const UCS_RSP: &str = "6f0024000011020a00000000000000000000000000000000000000000000020000000000b20014008100000067f90200080013000000080000000000";

#[test]
fn unconnected_send_embeds_a_request() {
    let mut d = EnipDissector::new(false);
    let (_, s) = run(&mut d, &hex(UCS_REQ), Direction::ToServer);
    let cip = of(&s, "cip");
    assert_eq!(cip.len(), 2);
    assert_eq!(s.events[cip[0]].function_name, Some("unconnected_send"));
    assert_eq!(s.field(cip[0], "route_port"), Some(1));
    assert_eq!(s.field(cip[0], "route_link"), Some(0));
    assert_eq!(s.events[cip[1]].function_name, Some("get_attributes_all"));
    assert_eq!(s.field(cip[1], "class"), Some(0x6c));
    assert_eq!(s.field(cip[1], "instance"), Some(0x3f3));
    let (_, s) = run(&mut d, &hex(UCS_RSP), Direction::ToClient);
    let cip = of(&s, "cip");
    assert_eq!(cip.len(), 1);
    assert_eq!(s.events[cip[0]].function_name, Some("get_attributes_all"));
    assert_eq!(s.field(cip[0], "class"), Some(0x6c));
    assert_eq!(s.field(cip[0], "instance"), Some(0x3f3));
}

// lsw__cip_1.pcap frames 22 and 23: Forward Open and its reply.
const FO_REQ: &str = "6f0042000011020a00000000000000000000000000000000000000000000020000000000b200320054022006240105f7020000000100000002004c54c0a8002e0200000080841e00f44380841e00f443a3040100200224012c01";
const FO_RSP: &str = "6f002e000011020a00000000000000000000000000000000000000000000020000000000b2001e00d4000000411194000100000002004c54c0a8002e80841e0080841e000000";

#[test]
fn forward_open() {
    let mut d = EnipDissector::new(false);
    let (_, s) = run(&mut d, &hex(FO_REQ), Direction::ToServer);
    let cip = of(&s, "cip")[0];
    assert_eq!(s.events[cip].function_name, Some("forward_open"));
    assert_eq!(s.events[cip].operation, OperationClass::Other);
    assert_eq!(s.field(cip, "to_connection_id"), Some(1));
    assert_eq!(s.field(cip, "connection_serial"), Some(2));
    assert_eq!(s.field(cip, "originator_vendor_id"), Some(0x544c));
    let (_, s) = run(&mut d, &hex(FO_RSP), Direction::ToClient);
    let cip = of(&s, "cip")[0];
    assert_eq!(s.events[cip].function_name, Some("forward_open"));
    assert_eq!(s.field(cip, "ot_connection_id"), Some(0x0094_1141));
    assert_eq!(s.field(cip, "to_connection_id"), Some(1));
}

// iti__CL5000EIP-Remote_Mode_Change_Attempt.pcap frames 421/422 (Stop on class 0x8e) and
// iti__cip_start_plc.pcap frame 1 (Start).
const STOP_REQ: &str = "70001c0000010212000000000000000000000000000000000000000001000200a10004000139dd00b1000800b0280702208e2401";
const STOP_RSP: &str = "70001a0000010212000000000000000000000000000000000000000000000200a10004001c00fe80b1000600b02887000000";
const START_REQ: &str = "70001c0001002a00000000000000000000000000000000000000000001000200a1000400224095ffb1000800e7000602208e2401";

#[test]
fn stop_and_start() {
    let mut d = EnipDissector::new(false);
    let (_, s) = run(&mut d, &hex(STOP_REQ), Direction::ToServer);
    let cip = of(&s, "cip")[0];
    assert_eq!(s.events[cip].operation, OperationClass::Stop);
    assert_eq!(s.events[cip].function_name, Some("stop"));
    assert_eq!(s.field(cip, "class"), Some(0x8e));
    let (_, s) = run(&mut d, &hex(STOP_RSP), Direction::ToClient);
    let cip = of(&s, "cip")[0];
    assert_eq!(s.events[cip].operation, OperationClass::Stop);
    assert_eq!(s.field(cip, "class"), Some(0x8e));
    assert_eq!(s.events[cip].status, PduStatus::Ok);
    let (_, s) = run(
        &mut EnipDissector::new(false),
        &hex(START_REQ),
        Direction::ToServer,
    );
    assert_eq!(s.events[of(&s, "cip")[0]].operation, OperationClass::Start);
}

// icsnpp-enip__set_attribute_single_service_cip.pcapng frame 1.
const SET_ATTR: &str = "70001c00f4ffcab4000000005f7079636f6d6d5f00000000000000000a000200a1000400ba629adab10008000d00100220012400";

#[test]
fn set_attribute_single_is_a_write() {
    let (_, s) = run(
        &mut EnipDissector::new(false),
        &hex(SET_ATTR),
        Direction::ToServer,
    );
    assert_eq!(
        text(&s, 0, "sender_context").as_deref(),
        Some("5f7079636f6d6d5f")
    );
    let cip = of(&s, "cip")[0];
    assert_eq!(s.events[cip].function_name, Some("set_attribute_single"));
    assert_eq!(s.events[cip].operation, OperationClass::Write);
    assert_eq!(s.field(cip, "class"), Some(1));
}

#[test]
fn error_status_is_an_exception() {
    // iti__CL5000EIP-Firmware_Change_Failure.pcap frame 10556: general status 1 with
    // extended status 0x0909; frame 9: general status 8 (service not supported).
    let b = hex(
        "6f001600000102120000000083b10100489ae00000000000000000008b00020000000000b2000600cd0001010909",
    );
    let (_, s) = run(&mut EnipDissector::new(false), &b, Direction::ToClient);
    let cip = of(&s, "cip")[0];
    assert_eq!(s.events[cip].status, PduStatus::Exception);
    assert_eq!(s.field(cip, "general_status"), Some(1));
    assert_eq!(s.field(cip, "extended_status"), Some(0x0909));
    // No request seen on this flow.
    assert!(
        s.events[cip]
            .fields
            .contains(&("matched", FieldValue::Bool(false)))
    );
    let (_, s) = run(
        &mut EnipDissector::new(false),
        &hex(SUD_RSP),
        Direction::ToClient,
    );
    let cip = of(&s, "cip")[0];
    assert_eq!(s.field(cip, "general_status"), Some(8));
    assert_eq!(s.events[cip].status, PduStatus::Exception);
}

// iti__CL5000EIP-Software_Upload.pcap frames 10 and 12: Get_Attributes_All of the Identity
// object through Unconnected Send, and the reply with the identity facts.
const ID_REQ: &str = "6f002400000102110000000022a902002008e10000000000000000002000020000000000b200140052022006240107f9060001022001240101000100";
const ID_RSP: &str = "6f003700000102110000000022a902002008e10000000000000000002000020000000000b20027008100000001000e003600101460303f82510014313735362d4c36312f42204c4f47495835353631";

#[test]
fn identity_object_reply() {
    let mut d = EnipDissector::new(false);
    let (_, s) = run(&mut d, &hex(ID_REQ), Direction::ToServer);
    let cip = of(&s, "cip");
    assert_eq!(s.events[cip[1]].operation, OperationClass::Identify);
    let (_, s) = run(&mut d, &hex(ID_RSP), Direction::ToClient);
    let cip = of(&s, "cip")[0];
    assert_eq!(s.events[cip].operation, OperationClass::Identify);
    assert_eq!(s.field(cip, "vendor_id"), Some(1));
    assert_eq!(s.field(cip, "device_type"), Some(14));
    assert_eq!(s.field(cip, "product_code"), Some(54));
    assert_eq!(text(&s, cip, "firmware_version").as_deref(), Some("16.20"));
    assert_eq!(
        text(&s, cip, "serial_number").as_deref(),
        Some("0x0051823f")
    );
    assert_eq!(
        text(&s, cip, "product_name").as_deref(),
        Some("1756-L61/B LOGIX5561")
    );
}

/// An Execute PCCC request (service 0x4b to the PCCC object, class 0x67 instance 1) in a
/// SendRRData, built from the DF1 command set (no PCCC traffic in the corpus): requestor
/// id (length 7, vendor 1, serial 0x12345678), then `pccc`.
fn pccc_frame(reply: bool, pccc: &[u8]) -> Vec<u8> {
    let mut cip = if reply {
        vec![0xcb, 0, 0, 0]
    } else {
        vec![0x4b, 0x02, 0x20, 0x67, 0x24, 0x01]
    };
    cip.extend([7, 1, 0, 0x78, 0x56, 0x34, 0x12]);
    cip.extend(pccc);
    let mut cpf = vec![0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0xb2, 0];
    cpf.extend((cip.len() as u16).to_le_bytes());
    cpf.extend(cip);
    let mut b = vec![0x6f, 0];
    b.extend((cpf.len() as u16).to_le_bytes());
    b.extend([0; 20]);
    b.extend(cpf);
    b
}

#[test]
fn pccc_mode_change_and_program_transfer() {
    let mut d = EnipDissector::new(false);
    // CMD 0x0f, STS 0, TNS 0x0102, FNC 0x80 change mode to program (0x01): stop.
    let (_, s) = run(
        &mut d,
        &pccc_frame(false, &[0x0f, 0, 0x02, 0x01, 0x80, 0x01]),
        Direction::ToServer,
    );
    let p = of(&s, "pccc")[0];
    assert_eq!(s.events[p].function_name, Some("change_mode"));
    assert_eq!(s.events[p].operation, OperationClass::Stop);
    assert_eq!(s.field(p, "mode"), Some(1));
    assert_eq!(s.field(p, "tns"), Some(0x0102));
    assert_eq!(s.field(p, "requestor_vendor_id"), Some(1));
    let cip = of(&s, "cip")[0];
    assert_eq!(s.events[cip].function_name, Some("execute_pccc"));
    assert_eq!(s.events[cip].operation, OperationClass::Stop);
    // The reply (CMD 0x4f, STS 0x10: illegal command) is matched to the request.
    let (_, s) = run(
        &mut d,
        &pccc_frame(true, &[0x4f, 0x10, 0x02, 0x01]),
        Direction::ToClient,
    );
    let p = of(&s, "pccc")[0];
    assert_eq!(s.events[p].function_name, Some("change_mode"));
    assert_eq!(s.events[p].status, PduStatus::Exception);
    assert_eq!(s.field(p, "pccc_status"), Some(0x10));
    // Run mode (0x06): start; a test mode (0x07, continuous scan with outputs disabled)
    // and PLC-5's set CPU mode: mode changes; upload and download requests.
    let cases: [(&[u8], OperationClass); 7] = [
        (&[0x0f, 0, 1, 0, 0x80, 0x06], OperationClass::Start),
        (&[0x0f, 0, 1, 0, 0x80, 0x07], OperationClass::ModeChange),
        (&[0x0f, 0, 1, 0, 0x3a, 0x02], OperationClass::ModeChange),
        (&[0x0f, 0, 1, 0, 0x53], OperationClass::ProgramUpload),
        (&[0x0f, 0, 1, 0, 0x50], OperationClass::ProgramDownload),
        (&[0x06, 0, 1, 0, 0x03], OperationClass::Identify),
        (
            &[0x0f, 0, 1, 0, 0xa2, 2, 7, 0x89, 0, 0],
            OperationClass::Read,
        ),
    ];
    for (bytes, op) in cases {
        let (_, s) = run(
            &mut EnipDissector::new(false),
            &pccc_frame(false, bytes),
            Direction::ToServer,
        );
        let p = of(&s, "pccc")[0];
        assert_eq!(s.events[p].operation, op, "{bytes:02x?}");
    }
    let (_, s) = run(
        &mut EnipDissector::new(false),
        &pccc_frame(false, &[0x0f, 0, 1, 0, 0xa2, 2, 7, 0x89, 3, 0]),
        Direction::ToServer,
    );
    let p = of(&s, "pccc")[0];
    assert_eq!(s.field(p, "file_number"), Some(7));
    assert_eq!(s.field(p, "file_type"), Some(0x89));
    assert_eq!(s.field(p, "element"), Some(3));
}

#[test]
fn truncated_cip_is_malformed() {
    let mut b = hex(MSP_REQ);
    // Cut the CPF data item short (length field says more than is there).
    b.truncate(70);
    let len = (b.len() - 24) as u16;
    b[2..4].copy_from_slice(&len.to_le_bytes());
    let (_, s) = run(&mut EnipDissector::new(false), &b, Direction::ToServer);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    assert_eq!(s.events[0].anomalies, ["truncated"]);
}

#[test]
fn pending_table_is_bounded() {
    let mut d = EnipDissector::new(false);
    let mut b = hex(MSP_REQ);
    for seq in 0..2000u16 {
        b[46..48].copy_from_slice(&seq.to_le_bytes());
        // The request table is kept when events are wanted (counting needs only PCCC's).
        let mut s = VecSink::default();
        d.parse(&b, Direction::ToServer, &mut s);
    }
    let pending = d.framing.pending.as_ref().unwrap();
    assert!(pending.len() <= cip::PENDING_CAP);
    // Counting only: no table for a flow without PCCC.
    let mut d = EnipDissector::new(false);
    d.parse(&b, Direction::ToServer, &mut VecSink::counting());
    assert!(d.framing.pending.is_none());
}

#[test]
fn counting_sink_sees_every_pdu() {
    let mut s = VecSink::counting();
    let mut d = EnipDissector::new(false);
    d.parse(&hex(MSP_REQ), Direction::ToServer, &mut s);
    assert_eq!(s.counted.len(), 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The shortcuts of `Path::parse` for common shapes agree with the general walk.
    #[test]
    fn path_shortcuts_agree_with_the_walk(
        shape in 0u8..4,
        a in any::<u8>(), b in any::<u8>(), c in any::<u8>(),
        sym in proptest::collection::vec(any::<u8>(), 0..12),
        noise in proptest::collection::vec(any::<u8>(), 0..10),
    ) {
        let p: Vec<u8> = match shape {
            0 => vec![0x20, a, 0x24, b],
            1 => vec![0x20, a, 0x24, b, 0x30, c],
            2 => {
                let mut p = vec![0x91, sym.len() as u8];
                p.extend(&sym);
                if sym.len() % 2 == 1 { p.push(0); }
                p
            }
            _ => noise.clone(),
        };
        prop_assert_eq!(cip::Path::parse(&p), cip::Path::parse_with_walk(&p));
        // Cut or extended, too.
        for q in [&p[..p.len().saturating_sub(1)], &[p.as_slice(), &[a]].concat()[..]] {
            prop_assert_eq!(cip::Path::parse(q), cip::Path::parse_with_walk(q));
        }
    }

    /// The shortcut of `Cpf::parse` for an address item then a data item agrees with the
    /// item-by-item walk.
    #[test]
    fn cpf_shortcut_agrees_with_the_walk(
        addr in prop::sample::select(vec![0x0000u16, 0x00a1, 0x8002, 0x00b1, 0x000c]),
        addr_len in 0u16..10,
        data in prop::sample::select(vec![0x00b1u16, 0x00b2, 0x00a1, 0x0100]),
        data_len in 0u16..8,
        count in 0u16..4,
        cut in any::<prop::sample::Index>(),
        extra in 0usize..3,
    ) {
        let mut b = count.to_le_bytes().to_vec();
        b.extend(addr.to_le_bytes());
        b.extend(addr_len.to_le_bytes());
        b.extend((0..addr_len).map(|i| i as u8 + 1));
        b.extend(data.to_le_bytes());
        b.extend(data_len.to_le_bytes());
        b.extend((0..data_len + extra as u16).map(|i| i as u8 + 0x40));
        let b = &b[..cut.index(b.len() + 1)];
        prop_assert_eq!(
            format!("{:?}", Cpf::parse(b)),
            format!("{:?}", Cpf::walk(b))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400), udp in any::<bool>(), resp in any::<bool>()) {
        let mut d = EnipDissector::new(udp);
        let mut s = VecSink::default();
        let dir = if resp { Direction::ToClient } else { Direction::ToServer };
        let p = d.parse(&data, dir, &mut s);
        prop_assert!(p.consumed <= data.len());
        // Events are bounded by the input: at most one per two bytes, plus one.
        prop_assert!(s.events.len() <= data.len() / 2 + 1);
    }

    /// A routed Identity read mutated anywhere (its route, the embedded request, the
    /// encapsulation) never panics, and counting reports the same facts as events.
    #[test]
    fn mutated_routed_identity_reads_agree(pos in any::<prop::sample::Index>(), val in any::<u8>()) {
        let mut req = hex(ID_REQ);
        let n = req.len();
        req[pos.index(n)] = val;
        routed_facts(&req, &hex(ID_RSP));
    }

    #[test]
    fn mutated_real_pdus_never_panic(i in 0usize..9, pos in any::<prop::sample::Index>(), val in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let frames = [MSP_REQ, MSP_RSP, RMW, UCS_REQ, FO_REQ, ID_RSP, LI_RSP, STOP_REQ, ID_REQ];
        let mut b = hex(frames[i]);
        let n = b.len();
        b[pos.index(n)] = val;
        let b = &b[..cut.index(n) + 1];
        for udp in [false, true] {
            let mut d = EnipDissector::new(udp);
            let mut s = VecSink::default();
            d.parse(b, Direction::ToServer, &mut s);
            d.parse(b, Direction::ToClient, &mut s);
            prop_assert!(s.events.len() <= 2 * (b.len() / 2 + 1));
        }
    }
}

#[test]
fn overlapping_nested_members_are_bounded() {
    // A Multiple Service Packet whose 100 offsets all point at one member that is itself
    // such a packet (and so on): without the per-message budget this would claim 100^3
    // events. Found by the dissect_cip fuzz target (a count beyond the offset list).
    let mut inner = vec![0x0a, 0x00];
    inner.extend(100u16.to_le_bytes());
    for _ in 0..100 {
        inner.extend(202u16.to_le_bytes());
    }
    inner.extend([0x0e, 0x00]);
    let mut msg = vec![0x0a, 0x00];
    msg.extend(100u16.to_le_bytes());
    for _ in 0..100 {
        msg.extend(202u16.to_le_bytes());
    }
    msg.extend(&inner);
    let mut cpf = vec![0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0xb2, 0];
    cpf.extend((msg.len() as u16).to_le_bytes());
    cpf.extend(&msg);
    let mut b = vec![0x6f, 0];
    b.extend((cpf.len() as u16).to_le_bytes());
    b.extend([0; 20]);
    b.extend(cpf);
    let (_, s) = run(&mut EnipDissector::new(false), &b, Direction::ToServer);
    assert!(s.events.len() <= msg.len() / 2 + 5, "{}", s.events.len());
    // A count of 0x3100 with a 3-byte body: no member is invented.
    let (_, s) = run(
        &mut EnipDissector::new(false),
        &pccc_frame_raw(&[0x0a, 0x00, 0x00, 0x31, 0x0e]),
        Direction::ToServer,
    );
    assert_eq!(of(&s, "cip").len(), 1);
}

/// `cip` as the data item of a SendRRData.
fn pccc_frame_raw(cip: &[u8]) -> Vec<u8> {
    let mut cpf = vec![0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0xb2, 0];
    cpf.extend((cip.len() as u16).to_le_bytes());
    cpf.extend(cip);
    let mut b = vec![0x6f, 0];
    b.extend((cpf.len() as u16).to_le_bytes());
    b.extend([0; 20]);
    b.extend(cpf);
    b
}

/// The operation class of every service on every class that has class-specific services,
/// matched by code, agrees with the class the service's name stands for.
#[test]
fn cip_operation_by_code_agrees_with_service_names() {
    use OperationClass as O;
    let by_name = |name: Option<&str>| match name {
        Some(
            "read_tag"
            | "read_tag_fragmented"
            | "read_template"
            | "get_instance_attribute_list"
            | "get_connection_data"
            | "search_connection_data"
            | "get_connection_owner",
        ) => O::Read,
        Some("write_tag" | "write_tag_fragmented" | "read_modify_write_tag") => O::Write,
        Some(
            "initiate_upload"
            | "initiate_download"
            | "initiate_partial_read"
            | "initiate_partial_write"
            | "upload_transfer"
            | "download_transfer"
            | "clear_file",
        ) => O::FileTransfer,
        _ => O::Other,
    };
    let classes = [
        None,
        Some(cip::class::IDENTITY),
        Some(cip::class::MESSAGE_ROUTER),
        Some(cip::class::CONNECTION_MANAGER),
        Some(cip::class::FILE),
        Some(cip::class::PCCC),
        Some(cip::class::SYMBOL),
        Some(cip::class::TEMPLATE),
    ];
    for class in classes {
        for symbolic in [false, true] {
            let path = cip::Path {
                class,
                symbolic,
                ..cip::Path::default()
            };
            // The class-specific range (the common services are classed by code alone).
            for service in 0x1du8..0x80 {
                assert_eq!(
                    cip::operation(service, &path),
                    by_name(cip::service_name(service, &path)),
                    "service {service:#x} class {class:?} symbolic {symbolic}"
                );
            }
        }
    }
}

/// What counting reports for a sequence of ENIP PDUs, and what the events report: (protocol,
/// operation, response, has anomalies) per PDU, in order. A response's operation is its
/// request's, which only events look up (the report aggregates requests' classes): left out.
fn counts_and_events(frames: &[(Vec<u8>, Direction)]) -> [Vec<(String, String, bool, bool)>; 2] {
    let mut flow = [EnipDissector::new(false), EnipDissector::new(false)];
    counts_and_events_in(&mut CountMemo::default(), &mut flow, frames)
}

/// [`counts_and_events`] for one flow (`flow`: its counting dissector, its events one)
/// among others: the counting sink offers `memo`, the worker's.
fn counts_and_events_in(
    memo: &mut CountMemo,
    flow: &mut [EnipDissector; 2],
    frames: &[(Vec<u8>, Direction)],
) -> [Vec<(String, String, bool, bool)>; 2] {
    let [counting, events] = flow;
    let (mut c, mut e) = (Vec::new(), Vec::new());
    for (b, dir) in frames {
        let mut s = MemoSink {
            to: VecSink::counting(),
            memo: &mut *memo,
        };
        counting.parse(b, *dir, &mut s);
        let s = s.to;
        c.extend(s.counted_full.iter().map(|p| {
            let op = if p.response { "" } else { p.operation.name() }.to_string();
            (p.protocol.to_string(), op, p.response, p.anomalies > 0)
        }));
        let (_, s) = run(events, b, *dir);
        e.extend(s.events.iter().map(|p| {
            let op = if p.response { "" } else { p.operation.name() }.to_string();
            (
                p.protocol.to_string(),
                op,
                p.response,
                !p.anomalies.is_empty(),
            )
        }));
    }
    [c, e]
}

/// A counting sink that offers a worker's [`CountMemo`], as the engine's does.
struct MemoSink<'m> {
    to: VecSink,
    memo: &'m mut CountMemo,
}

impl PduSink for MemoSink<'_> {
    fn pdu(&mut self, pdu: yagura_core::PduEvent) {
        self.to.pdu(pdu);
    }
    fn wants_events(&self) -> bool {
        self.to.wants_events()
    }
    fn pdu_count(&mut self, pdu: PduCount) {
        self.to.pdu_count(pdu);
    }
    fn identity(&mut self, fact: yagura_core::IdentityFact) {
        self.to.identity(fact);
    }
    fn count_memo(&mut self) -> Option<&mut CountMemo> {
        Some(self.memo)
    }
    fn tally(&mut self) -> Option<&mut crate::Tally> {
        self.to.tally()
    }
}

// Counting takes a shorter way through most requests (`cip::request_counted`, from
// `cip::count_alone` or `cip::count_short`): it must count
// exactly what the events report, including truncated and malformed paths.
#[test]
fn counting_agrees_with_events() {
    let frames = counting_frames();
    let [counted, events] = counts_and_events(&frames);
    if let Some(i) = (0..counted.len().min(events.len())).find(|&i| counted[i] != events[i]) {
        panic!(
            "PDU {i}: counted {:?}, events {:?}",
            &counted[i.saturating_sub(3)..(i + 3).min(counted.len())],
            &events[i.saturating_sub(3)..(i + 3).min(events.len())]
        );
    }
    assert_eq!(counted.len(), events.len());
    assert!(
        counted.iter().filter(|c| c.3).count() > 100,
        "malformed cases exercised"
    );
}

// A sink that keeps a tally (the engine's) is handed counts through it (`crate::count`,
// with CIP's runs and the count memo's replays): the sums must be those of the counts one by
// one.
#[test]
fn tallying_agrees_with_counting() {
    let frames = counting_frames();
    let mut flows = [EnipDissector::new(false), EnipDissector::new(false)];
    let mut memos = [CountMemo::default(), CountMemo::default()];
    let mut sinks = [VecSink::counting(), VecSink::tallying()];
    // Twice, so that the memo answers the second time.
    for _ in 0..2 {
        for (b, dir) in &frames {
            for ((d, memo), to) in flows.iter_mut().zip(&mut memos).zip(&mut sinks) {
                let mut s = MemoSink {
                    to: std::mem::take(to),
                    memo,
                };
                d.parse(b, *dir, &mut s);
                *to = s.to;
            }
        }
    }
    let [counted, tallied] = sinks;
    assert!(counted.tally.is_none() && tallied.tally.is_some());
    assert!(tallied.counted_full.len() < counted.counted_full.len() / 10);
    assert_eq!(tallied.total(), counted.total());
    assert!(counted.total().anomalous > 100, "malformed cases exercised");
}

/// Frames of every kind that counting treats its own way, and mangled ones.
fn counting_frames() -> Vec<(Vec<u8>, Direction)> {
    let mut frames: Vec<(Vec<u8>, Direction)> = [
        (MSP_REQ, Direction::ToServer),
        (MSP_RSP, Direction::ToClient),
        (RMW, Direction::ToServer),
        (UCS_REQ, Direction::ToServer),
        (UCS_RSP, Direction::ToClient),
        (FO_REQ, Direction::ToServer),
        (STOP_REQ, Direction::ToServer),
        (SET_ATTR, Direction::ToServer),
        (ID_REQ, Direction::ToServer),
    ]
    .iter()
    .map(|(h, d)| (hex(h), *d))
    .collect();
    frames.push((
        pccc_frame(false, &[0x0f, 0, 0x02, 0x01, 0x80, 0x01]),
        Direction::ToServer,
    ));
    frames.push((
        pccc_frame(true, &[0x4f, 0x10, 0x02, 0x01]),
        Direction::ToClient,
    ));
    // Every cut of a member-rich request, and every byte of it flipped to a few values
    // (the header's too: status and options, which counting's shortcut for the common
    // SendRRData/SendUnitData shape reads itself).
    let rmw = hex(RMW);
    for i in 0..rmw.len() {
        for v in [0x00, 0x28, 0x91, 0xff] {
            let mut b = rmw.clone();
            b[i] = v;
            frames.push((b, Direction::ToServer));
        }
    }
    let rsp = hex(MSP_RSP);
    for i in 0..rsp.len() {
        for v in [0x00, 0x02, 0x8a, 0xff] {
            let mut b = hex(MSP_REQ);
            frames.push((b.clone(), Direction::ToServer));
            b = rsp.clone();
            b[i] = v;
            frames.push((b, Direction::ToClient));
        }
    }
    frames
}

#[test]
fn identity_facts_in_count_mode() {
    // ListIdentity reply: facts about the sender, numeric ids as `cip:<n>`, events or not.
    let mut counting = VecSink::counting();
    EnipDissector::new(false).parse(&hex(LI_RSP), Direction::ToClient, &mut counting);
    assert_eq!(
        counting.fact_pairs(),
        [
            ("vendor_id", "cip:1"),
            ("capability", "cip:12"),
            ("product_code", "cip:58"),
            ("firmware", "4.3"),
            ("serial", "0x00524d8e"),
            ("model", "1756-ENBT/A"),
            ("state", "cip:3"),
        ]
    );
    assert!(
        counting
            .facts
            .iter()
            .all(|f| f.subject == yagura_core::Subject::Sender)
    );
    let (_, events) = run(
        &mut EnipDissector::new(false),
        &hex(LI_RSP),
        Direction::ToClient,
    );
    assert_eq!(events.facts, counting.facts);
}

/// The facts a routed Identity read's answer gives, counting and with events (which must
/// agree), after `req` then `rsp`.
fn routed_facts(req: &[u8], rsp: &[u8]) -> Vec<yagura_core::IdentityFact> {
    let mut counting = VecSink::counting();
    let mut d = EnipDissector::new(false);
    d.parse(req, Direction::ToServer, &mut counting);
    d.parse(rsp, Direction::ToClient, &mut counting);
    let mut events = VecSink::default();
    let mut d = EnipDissector::new(false);
    d.parse(req, Direction::ToServer, &mut events);
    d.parse(rsp, Direction::ToClient, &mut events);
    assert_eq!(events.facts, counting.facts);
    counting.facts
}

/// `route` (hops of port and link address) as a [`yagura_core::Route`].
fn route_of(hops: &[(u16, &[u8])]) -> yagura_core::Route {
    let mut r = yagura_core::Route::new();
    for (port, link) in hops {
        assert!(r.push(*port, link));
    }
    r
}

#[test]
fn routed_identity_read_is_the_modules_identity() {
    // An Identity read routed by an Unconnected Send to port 1 (backplane), slot 0 answers
    // for the controller in that slot, not for the 1756-ENBT that owns the address and
    // sends the reply: facts about the module at the end of the route, counting or not.
    // The values as tshark decodes frame 12 (`-Y cip.id.product_name -T fields -e
    // cip.id.vendor_id -e cip.id.device_type -e cip.id.product_code -e cip.id.major_rev -e
    // cip.id.minor_rev -e cip.id.serial_number -e cip.id.product_name`): 0x0001, 0x000e, 54,
    // 16, 20, 0x0051823f, "1756-L61/B LOGIX5561".
    let facts = routed_facts(&hex(ID_REQ), &hex(ID_RSP));
    let pairs: Vec<(&str, &str)> = facts
        .iter()
        .map(|f| (f.attribute.name(), f.value.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("vendor_id", "cip:1"),
            ("capability", "cip:14"),
            ("product_code", "cip:54"),
            ("firmware", "16.20"),
            ("serial", "0x0051823f"),
            ("model", "1756-L61/B LOGIX5561"),
        ]
    );
    let subject = yagura_core::Subject::Routed {
        via: yagura_core::Via::Sender,
        route: route_of(&[(1, &[0])]),
    };
    assert!(facts.iter().all(|f| f.subject == subject), "{facts:?}");
    let route = route_of(&[(1, &[0])]);
    assert_eq!(route.to_string(), "1:0");
    assert_eq!(route.describe(), "backplane slot 0");
}

/// The Unconnected Send request data carrying `message` along `route` (port segments).
fn ucs_data(message: &[u8], route: &[u8]) -> Vec<u8> {
    assert!(route.len().is_multiple_of(2));
    let mut d = vec![0x07, 0xf9];
    d.extend((message.len() as u16).to_le_bytes());
    d.extend(message);
    if message.len() % 2 == 1 {
        d.push(0);
    }
    d.extend([(route.len() / 2) as u8, 0]);
    d.extend(route);
    d
}

/// An Unconnected Send request (to the Connection Manager) of `message` along `route`.
fn ucs(message: &[u8], route: &[u8]) -> Vec<u8> {
    let mut m = vec![0x52, 0x02, 0x20, 0x06, 0x24, 0x01];
    m.extend(ucs_data(message, route));
    m
}

#[test]
fn nested_unconnected_sends_join_their_routes() {
    // The Identity read of ID_REQ, sent by an Unconnected Send along port 2 to the node
    // with address "10.0.0.5" (an extended link address), itself sent by one along the
    // backplane to slot 2: the module is 10.0.0.5 behind the module in slot 2.
    let read = [0x01, 0x02, 0x20, 0x01, 0x24, 0x01];
    let mut ext = vec![0x12, 8];
    ext.extend(b"10.0.0.5");
    let inner = ucs(&read, &ext);
    let outer = ucs(&inner, &[0x01, 0x02]);
    let rsp = hex(ID_RSP);
    let facts = routed_facts(&rr_frame(&outer), &rr_frame(&rsp[40..]));
    assert_eq!(facts.len(), 6, "{facts:?}");
    let route = route_of(&[(1, &[2]), (2, b"10.0.0.5")]);
    assert!(facts.iter().all(|f| f.subject
        == yagura_core::Subject::Routed {
            via: yagura_core::Via::Sender,
            route
        }));
    assert_eq!(route.to_string(), "1:2/2:10.0.0.5");
    assert_eq!(
        route.describe(),
        "backplane slot 2, port 2 address 10.0.0.5"
    );
    // Routed to something else (the Template object of UCS_REQ), or along a route that
    // does not parse (a logical segment in it): no facts about anyone.
    assert!(routed_facts(&hex(UCS_REQ), &hex(UCS_RSP)).is_empty());
    let bad = ucs(&read, &[0x20, 0x01]);
    assert!(routed_facts(&rr_frame(&bad), &rr_frame(&rsp[40..])).is_empty());
}

#[test]
fn route_paths_parse_every_port_segment_form() {
    let r = |p: &[u8]| cip::route_path(p).map(|r| r.to_string());
    assert_eq!(r(&[0x01, 0x00]).as_deref(), Some("1:0"));
    assert_eq!(r(&[0x01, 0x03, 0x02, 0x07]).as_deref(), Some("1:3/2:7"));
    // 16-bit port (15 in the segment), then the one-byte link: 4 bytes, no pad.
    assert_eq!(r(&[0x0f, 0x12, 0x00, 0x05]).as_deref(), Some("18:5"));
    // Extended link address of odd size: padded to an even length.
    assert_eq!(
        r(&[0x13, 0x03, 0x0a, 0x0b, 0x0c, 0x00, 0x01, 0x04]).as_deref(),
        Some("3:0x0a0b0c/1:4")
    );
    // Extended link address and 16-bit port: size, port, link.
    assert_eq!(
        r(&[0x1f, 0x02, 0x34, 0x12, 0x41, 0x42]).as_deref(),
        Some("4660:AB")
    );
    for bad in [
        &[][..],
        &[0x01][..],
        &[0x00, 0x00],
        &[0x20, 0x01],
        &[0x01, 0x00, 0x24, 0x01],
        &[0x12, 0x09, b'1', b'0'],
    ] {
        assert_eq!(r(bad), None, "{bad:?}");
    }
}

/// A SendRRData PDU (session 0x02010000) carrying the unconnected CIP message `cip`.
fn rr_frame(cip: &[u8]) -> Vec<u8> {
    let mut cpf = vec![0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0xb2, 0];
    cpf.extend((cip.len() as u16).to_le_bytes());
    cpf.extend(cip);
    let mut b = vec![0x6f, 0];
    b.extend((cpf.len() as u16).to_le_bytes());
    b.extend([0, 0, 1, 2]);
    b.extend([0; 16]);
    b.extend(cpf);
    b
}

// A top-level Get_Attributes_All of the Identity object (the request is the embedded one of
// ID_REQ, sent directly) answers with the sender's identity: facts in count mode too.
#[test]
fn top_level_identity_read_gives_facts_when_counting() {
    let rsp = hex(ID_RSP);
    let answer = &rsp[40..]; // the CIP message after the CPF's data item header
    assert_eq!(answer[0], 0x81);
    let frames = [
        (
            rr_frame(&[0x01, 0x02, 0x20, 0x01, 0x24, 0x01]),
            Direction::ToServer,
        ),
        (rr_frame(answer), Direction::ToClient),
    ];
    let mut counting = VecSink::counting();
    let mut d = EnipDissector::new(false);
    for (b, dir) in &frames {
        d.parse(b, *dir, &mut counting);
    }
    let pairs = counting.fact_pairs();
    assert!(
        pairs.contains(&("model", "1756-L61/B LOGIX5561")),
        "{pairs:?}"
    );
    let mut events = VecSink::default();
    let mut d = EnipDissector::new(false);
    for (b, dir) in &frames {
        d.parse(b, *dir, &mut events);
    }
    assert_eq!(events.facts, counting.facts);
}

/// A Multiple Service Packet (request, or response when `response`) of `members`, at the
/// offsets their sizes give, as a SendRRData PDU.
fn msp_frame(response: bool, members: &[Vec<u8>], count_extra: u16) -> Vec<u8> {
    let mut cip = if response {
        vec![0x8a, 0, 0, 0]
    } else {
        vec![0x0a, 0x02, 0x20, 0x02, 0x24, 0x01]
    };
    let n = members.len() as u16;
    cip.extend((n + count_extra).to_le_bytes());
    let mut at = 2 + 2 * n;
    for m in members {
        cip.extend(at.to_le_bytes());
        at += m.len() as u16;
    }
    for m in members {
        cip.extend(m);
    }
    rr_frame(&cip)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Counting the members of a Multiple Service Packet (`cip::count_members`: its key
    /// memo for requests, its table for responses, its fallback to the full decode) counts
    /// what the events report, whatever the members: alike in a row or not, cut, with
    /// paths of every size, services that embed or need their request.
    #[test]
    fn msp_member_counting_agrees_with_events(
        members in proptest::collection::vec(
            (
                prop::sample::select(vec![0x4cu8, 0x4d, 0x4e, 0x52, 0x03, 0x01, 0x0e, 0x0a, 0x4b, 0x10, 0x55, 0x05]),
                0u8..5,
                prop::sample::select(vec![0x20u8, 0x24, 0x30, 0x91, 0x28, 0x00]),
                prop::sample::select(vec![0x01u8, 0x02, 0x06, 0x67, 0x6b, 0x6c, 0x72, 0x37]),
                0usize..14,
                0usize..3,
            ),
            0..12,
        ),
        status in prop::sample::select(vec![0u8, 1, 6]),
        count_extra in 0u16..2,
    ) {
        // Each member mostly repeats the previous shape, with a varied tail.
        let mut reqs = Vec::new();
        let mut rsps = Vec::new();
        for &(service, words, seg, class, len, add) in &members {
            let mut m = vec![service, words, seg, class, 0x24, 0x01, 0x30, 0x05];
            m.extend((0..len).map(|i| i as u8));
            m.truncate(len.max(1));
            reqs.push(m);
            let mut r = vec![service | 0x80, 0, status, add as u8];
            r.extend((0..len).map(|i| i as u8));
            r.truncate(len.max(1));
            rsps.push(r);
        }
        let frames = [
            (msp_frame(false, &reqs, count_extra), Direction::ToServer),
            (msp_frame(true, &rsps, count_extra), Direction::ToClient),
        ];
        let [counted, events] = counts_and_events(&frames);
        prop_assert_eq!(counted, events);
    }
}

/// A Multiple Service Packet response whose members are all whole plain responses is
/// counted in one go (`cip::plain_responses`); one member otherwise (cut, empty, out of
/// bounds, of a service that needs its request, a count beyond the list) sends the whole
/// response the member-by-member way. Both count what the events report.
#[test]
fn msp_plain_responses_count_what_events_report() {
    let plain = |i: u8| vec![0xcc, 0, 0, 0, 0xc4, 0, i, i, i, i];
    let many: Vec<Vec<u8>> = (0..150).map(plain).collect();
    let odd: [Vec<u8>; 5] = [
        vec![0xcc, 0, 0, 2, 0xc4, 0],
        vec![],
        vec![0xcc, 0],
        vec![0x81, 0, 0, 0, 1, 2],
        vec![0x8a, 0, 0, 0, 0, 0],
    ];
    let mut frames = vec![(msp_frame(true, &many, 0), Direction::ToClient)];
    for o in &odd {
        for at in [0, 3, 7] {
            let mut members: Vec<Vec<u8>> = (0..8).map(plain).collect();
            members.insert(at, o.clone());
            frames.push((msp_frame(true, &members, 0), Direction::ToClient));
        }
    }
    frames.push((msp_frame(true, &many[..4], 1), Direction::ToClient));
    frames.push((msp_frame(true, &[], 0), Direction::ToClient));
    let [counted, events] = counts_and_events(&frames);
    assert_eq!(counted, events);
    // The big one: itself and its 150 members.
    assert!(counted.len() > 151);
}

/// Two requests with the same `request_key` are counted the same.
#[test]
fn request_key_determines_the_count() {
    let shapes: Vec<Vec<u8>> = vec![
        vec![0x4c, 0x02, 0x20, 0x72, 0x24, 0x00, 0x01, 0x00],
        vec![0x4c, 0x03, 0x20, 0x6b, 0x24, 0x00, 0x30, 0x01],
        vec![0x0e, 0x03, 0x20, 0x01, 0x24, 0x01, 0x30, 0x07],
        vec![0x4d, 0x01, 0x91, 0x02, 0x41, 0x42, 0x00, 0x00],
        vec![0x52, 0x02, 0x20, 0x06, 0x24, 0x01, 0x07, 0xe9],
        vec![0x4b, 0x02, 0x20, 0x67, 0x24, 0x01, 0x07, 0x00],
        vec![0x03, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06],
    ];
    for a in &shapes {
        for tail in [&[][..], &[1, 2, 3], &[0xff; 9]] {
            let mut b = a.clone();
            b.extend(tail);
            // The bytes past the path vary freely (the data, the longer member).
            for x in &mut b[2 + 2 * usize::from(a[1])..] {
                *x ^= 0x5a;
            }
            assert_eq!(cip::request_key(a), cip::request_key(&b));
            assert_eq!(
                cip::request_counted(a),
                cip::request_counted(&b),
                "{a:02x?} {b:02x?}"
            );
        }
    }
    // A longer path or a short member has no key.
    assert_eq!(
        cip::request_key(&[0x4c, 0x04, 0x20, 0x6b, 0x24, 0, 0x30, 1, 0, 0]),
        None
    );
    assert_eq!(cip::request_key(&[0x4c, 0x01, 0x20, 0x6b, 0, 0, 0]), None);
}

/// Counting mode remembers the Multiple Service Packet requests a flow sends (in the
/// worker's `CountMemo`): a cycle of packets, repeated in order and in another order
/// (hits away from the flow's hint), interleaved with their answers, counts what the
/// events report every time.
#[test]
fn msp_memo_counts_what_events_report() {
    let read = |i: u8| vec![0x4c, 0x02, 0x20, 0x6b, 0x24, i, 0x01, 0x00];
    let write = |i: u8| {
        vec![
            0x4d, 0x02, 0x20, 0x6b, 0x24, i, 0xc4, 0x00, 0x01, 0x00, 1, 2, 3, 4,
        ]
    };
    // 20 distinct packets, some of mixed members (several runs).
    let packets: Vec<Vec<Vec<u8>>> = (0..20u8)
        .map(|p| match p % 4 {
            0 => (0..8).map(|i| read(p * 8 + i)).collect(),
            1 => vec![read(p), write(p), read(p), write(p), read(p), write(p)],
            2 => vec![read(p)],
            _ => (0..3).map(|i| write(p + i)).collect(),
        })
        .collect();
    let mut frames = Vec::new();
    for cycle in 0..3 {
        // The first cycles in order, the last in another (hits away from the hint).
        let order: Vec<usize> = if cycle < 2 {
            (0..packets.len()).collect()
        } else {
            (0..packets.len()).rev().collect()
        };
        for k in order {
            let members = &packets[k];
            frames.push((msp_frame(false, members, 0), Direction::ToServer));
            let rsps: Vec<Vec<u8>> = members
                .iter()
                .map(|m| vec![m[0] | 0x80, 0, 0, 0, 0xc4, 0, cycle as u8, 0])
                .collect();
            frames.push((msp_frame(true, &rsps, 0), Direction::ToClient));
        }
    }
    let [counted, events] = counts_and_events(&frames);
    assert_eq!(counted, events);
    // 30 writes a cycle.
    assert_eq!(counted.iter().filter(|c| c.1 == "write").count(), 90);
}

/// A Multiple Service Packet with a member that is not counted the short way (an Execute
/// PCCC, which leaves a pending entry for its reply) is not remembered: sent again, its
/// PCCC request is remembered again, and its reply decoded with the request's command.
#[test]
fn msp_with_pending_members_is_not_memoised() {
    let mut pccc = vec![0x4b, 0x02, 0x20, 0x67, 0x24, 0x01];
    pccc.extend([7, 1, 0, 0x78, 0x56, 0x34, 0x12]);
    pccc.extend([0x0f, 0, 0x02, 0x01, 0x80, 0x01]);
    let read = vec![0x4c, 0x02, 0x20, 0x6b, 0x24, 0x01, 0x01, 0x00];
    let mut pccc_rsp = vec![0xcb, 0, 0, 0];
    pccc_rsp.extend([7, 1, 0, 0x78, 0x56, 0x34, 0x12]);
    pccc_rsp.extend([0x4f, 0x00, 0x02, 0x01]);
    let read_rsp = vec![0xcc, 0, 0, 0, 0xc4, 0, 1, 0];
    let mut frames = Vec::new();
    for _ in 0..3 {
        frames.push((
            msp_frame(false, &[read.clone(), pccc.clone()], 0),
            Direction::ToServer,
        ));
        frames.push((
            msp_frame(true, &[read_rsp.clone(), pccc_rsp.clone()], 0),
            Direction::ToClient,
        ));
    }
    let [counted, events] = counts_and_events(&frames);
    assert_eq!(counted, events);
    // Each reply's PCCC PDU found its request (then it is classed, not `other`).
    let pccc: Vec<_> = counted.iter().filter(|c| c.0 == "pccc").collect();
    assert_eq!(pccc.len(), 6, "{counted:?}");
}

/// A Multiple Service Packet request of `members` reads (and a write every `write_every`
/// members when not 0), its reads' instances from `first`.
fn msp_reads(first: u32, members: u32, write_every: u32) -> Vec<Vec<u8>> {
    (0..members)
        .map(|i| {
            let at = (first + i).to_le_bytes();
            if write_every > 0 && i % write_every == write_every - 1 {
                vec![
                    0x4d, 0x02, 0x20, 0x6b, 0x25, 0x00, at[0], at[1], 0xc4, 0, 1, 0, 1, 2, 3, 4,
                ]
            } else {
                vec![0x4c, 0x02, 0x20, 0x6b, 0x25, 0x00, at[0], at[1], 0x01, 0x00]
            }
        })
        .collect()
}

/// The memo of Multiple Service Packet counts is the worker's, of a bounded size whatever
/// the number of flows (each holds only its hint): thousands of flows, each polling its
/// own packets (many more than the memo holds, some too long to be kept, some alike
/// across flows), count what the events report, and the memo stays within its bound.
#[test]
fn msp_count_memo_is_bounded_whatever_the_flows() {
    use crate::memo::{COUNT_MAX_KEY, COUNT_MEMO_MAX_BYTES, COUNT_SLOTS};
    // A flow's part: its hint, beside the request table it had before the memo.
    assert!(std::mem::size_of::<EnipFraming>() <= 16);
    let mut memo = CountMemo::default();
    let mut kept_at_most = 0;
    let flows = 3 * COUNT_SLOTS as u32;
    for f in 0..flows {
        // Up to 50 members of 10 to 16 bytes: up to about 800 bytes, some beyond the
        // longest kept.
        let cycle: Vec<Vec<Vec<u8>>> = (0..3)
            .map(|p| match p {
                // Alike across flows.
                0 => msp_reads(0, 4, 0),
                1 => msp_reads(f * 64, 1 + f % 50, 3),
                _ => msp_reads(f * 64 + 100, 1 + (f * 7) % 50, 0),
            })
            .collect();
        let mut frames = Vec::new();
        for _ in 0..2 {
            for members in &cycle {
                frames.push((msp_frame(false, members, 0), Direction::ToServer));
            }
        }
        let mut flow = [EnipDissector::new(false), EnipDissector::new(false)];
        let [counted, events] = counts_and_events_in(&mut memo, &mut flow, &frames);
        assert_eq!(counted, events, "flow {f}");
        kept_at_most = kept_at_most.max(memo.heap_bytes());
    }
    assert!(
        kept_at_most > COUNT_SLOTS * COUNT_MAX_KEY / 4,
        "{kept_at_most}"
    );
    assert!(
        kept_at_most <= COUNT_MEMO_MAX_BYTES,
        "{kept_at_most} > {COUNT_MEMO_MAX_BYTES}"
    );
}

/// Flows sending the same packets in different orders share the memo's entries and the
/// guesses of what comes next, and each counts what its events report.
#[test]
fn msp_count_memo_is_shared_by_flows() {
    let packets: Vec<Vec<u8>> = (0..6)
        .map(|p| msp_frame(false, &msp_reads(p * 10, 1 + p, p % 3), 0))
        .collect();
    let mut memo = CountMemo::default();
    let mut flows: Vec<[EnipDissector; 2]> = (0..3)
        .map(|_| [EnipDissector::new(false), EnipDissector::new(false)])
        .collect();
    for round in 0..4 {
        for (i, flow) in flows.iter_mut().enumerate() {
            // Flow 0 in order, flow 1 backwards, flow 2 each packet twice, by turns.
            let order: Vec<usize> = match i {
                0 => (0..6).collect(),
                1 => (0..6).rev().collect(),
                _ => (0..6).flat_map(|k| [(k + round) % 6; 2]).collect(),
            };
            let frames: Vec<_> = order
                .iter()
                .map(|&k| (packets[k].clone(), Direction::ToServer))
                .collect();
            let [counted, events] = counts_and_events_in(&mut memo, flow, &frames);
            assert_eq!(counted, events, "round {round} flow {i}");
        }
    }
}

/// A top-level CIP message `m` counted the way the EtherNet/IP framing counts it (alone
/// when it can be, else through `count_message`), and counted through the full path
/// (`message_to`): the two must agree.
fn counted_alone_and_in_full(m: &[u8]) -> (Vec<crate::PduCount>, Vec<crate::PduCount>) {
    let ctx = cip::Ctx {
        key: 7,
        connection_id: None,
        sequence: None,
        member: 0,
        depth: 0,
    };
    let (mut a, mut b) = (VecSink::counting(), VecSink::counting());
    let mut hint = crate::memo::CountHint::default();
    if !cip::count_alone(m, &None, &mut a) {
        cip::count_message(m, ctx, &mut hint, &mut None, &mut a);
    }
    cip::message_to(m, ctx, &mut None, &mut b, false);
    (a.counted_full, b.counted_full)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// `cip::count_alone` then `cip::count_message` (counting mode's way into a top-level CIP
    /// message, which counts one alone with one call to the sink) count what
    /// `cip::message_to` counts,
    /// whatever the message: requests and responses of every service, cut, with paths of
    /// every size, that embed or need their request or not.
    #[test]
    fn count_message_agrees_with_message_to(
        service in prop::sample::select(vec![
            0x4cu8, 0x4d, 0x4e, 0x52, 0x03, 0x01, 0x0e, 0x0a, 0x4b, 0x10, 0x55, 0x05, 0x54, 0x4f,
        ]),
        response in any::<bool>(),
        words in 0u8..5,
        seg in prop::sample::select(vec![0x20u8, 0x24, 0x30, 0x91, 0x28, 0x00]),
        class in prop::sample::select(vec![0x01u8, 0x02, 0x06, 0x67, 0x6b, 0x6c, 0x72, 0x37]),
        tail in proptest::collection::vec(any::<u8>(), 0..12),
        len in 0usize..20,
    ) {
        let first = if response { service | cip::RESPONSE } else { service };
        let mut m = vec![first, words, seg, class, 0x24, 0x01, 0x30, 0x05];
        m.extend(&tail);
        m.truncate(len);
        let (a, b) = counted_alone_and_in_full(&m);
        prop_assert_eq!(&a, &b, "{:02x?}", m);
        prop_assert!(!a.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// A top-level Multiple Service Packet response is counted by `cip::count_alone` (in
    /// one go when its members are all plain responses) as `cip::message_to` counts it,
    /// whatever its status, its members (plain, cut, empty, of services that need their
    /// request or embed messages), its count and its length.
    #[test]
    fn msp_response_count_alone_agrees_with_message_to(
        members in proptest::collection::vec(
            (
                // Mostly plain: a whole read or write answer.
                prop::bool::weighted(0.9),
                prop::sample::select(vec![0xccu8, 0xcd, 0x8e, 0x81, 0x8a, 0xcb, 0x4c, 0xd2]),
                prop::sample::select(vec![0u8, 1, 2]),
                0usize..8,
            ),
            0..10,
        ),
        status in prop::sample::select(vec![0u8, 1, 6, 0x1e]),
        add_words in 0u8..2,
        count_extra in 0u16..2,
        cut in 0usize..4,
    ) {
        let mut m = vec![0x8a, 0, status, add_words];
        m.extend(std::iter::repeat_n(0xee, 2 * usize::from(add_words)));
        let n = members.len() as u16;
        m.extend((n + count_extra).to_le_bytes());
        let bodies: Vec<Vec<u8>> = members
            .iter()
            .map(|&(plain, s, add, len)| {
                if plain {
                    return vec![0xcc, 0, 0, 0, 0xc4, 0, s, add];
                }
                let mut b = vec![s, 0, 0, add];
                b.extend((0..len).map(|i| i as u8));
                b.truncate(len.max(1).min(b.len()));
                if len == 7 { b.clear() }
                b
            })
            .collect();
        let mut at = 2 + 2 * n;
        for b in &bodies {
            m.extend(at.to_le_bytes());
            at += b.len() as u16;
        }
        for b in &bodies {
            m.extend(b);
        }
        m.truncate(m.len() - cut.min(m.len()));
        let (a, b) = counted_alone_and_in_full(&m);
        prop_assert_eq!(&a, &b, "{:02x?}", m);
    }
}
