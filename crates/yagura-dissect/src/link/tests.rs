use super::*;

#[test]
fn classifies_by_ethertype_llc_and_snap() {
    assert_eq!(
        LinkProtocol::classify(0x88cc, None, None),
        Some(LinkProtocol::Lldp)
    );
    assert_eq!(
        LinkProtocol::classify(0x8892, None, None),
        Some(LinkProtocol::PnDcp)
    );
    assert_eq!(
        LinkProtocol::classify(0, Some(0x42), None),
        Some(LinkProtocol::Stp)
    );
    assert_eq!(
        LinkProtocol::classify(0x2000, Some(0xaa), Some(([0, 0, 0x0c], 0x2000))),
        Some(LinkProtocol::Cdp)
    );
    // DTP and VTP share Cisco's OUI with other protocol ids.
    assert_eq!(
        LinkProtocol::classify(0x2004, Some(0xaa), Some(([0, 0, 0x0c], 0x2004))),
        None
    );
    assert_eq!(LinkProtocol::classify(0x0800, None, None), None);
}

#[path = "frames.rs"]
mod frames;

use crate::testutil::{VecSink, hex};

/// The protocol and payload of a whole Ethernet frame, as the engine hands them over
/// (a test-only stand-in for yagura-net's decoder: Ethernet II or 802.3 with LLC/SNAP).
fn payload(frame: &[u8]) -> (LinkProtocol, Vec<u8>) {
    let et = u16::from_be_bytes([frame[12], frame[13]]);
    if et > 1500 {
        return (
            LinkProtocol::classify(et, None, None).unwrap(),
            frame[14..].to_vec(),
        );
    }
    let body = &frame[14..14 + usize::from(et)];
    let (dsap, snap) = (body[0], body[0] == 0xaa);
    if snap {
        let oui = [body[3], body[4], body[5]];
        let pid = u16::from_be_bytes([body[6], body[7]]);
        let p = LinkProtocol::classify(0, Some(dsap), Some((oui, pid))).unwrap();
        (p, body[8..].to_vec())
    } else {
        (
            LinkProtocol::classify(0, Some(dsap), None).unwrap(),
            body[3..].to_vec(),
        )
    }
}

/// Dissect a frame in count mode (facts must come without events) and with events; both
/// must report the same facts. Returns the event sink.
fn run(frame_hex: &str) -> VecSink {
    let (p, b) = payload(&hex(frame_hex));
    let mut counting = VecSink::counting();
    dissect(p, &b, &mut counting);
    let mut s = VecSink::default();
    dissect(p, &b, &mut s);
    assert_eq!(s.facts, counting.facts);
    assert_eq!(s.events.len(), 1);
    assert_eq!(counting.counted.len(), 1);
    s
}

fn text(s: &VecSink, name: &str) -> Option<String> {
    s.events[0]
        .fields
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| match v {
            yagura_core::FieldValue::Str(x) => Some(x.clone()),
            _ => None,
        })
}

#[test]
fn lldp_siemens_s7_1500_identity() {
    // The CPU states vendor, model, order number, hardware, firmware and serial in its
    // system description, and its NameOfStation in the port id (Profinet's LLDP form).
    let s = run(frames::LLDP_S7_1500);
    assert_eq!(
        s.fact_pairs(),
        [
            ("port", "port-001.plcxb1.xn--profinetxaxb1f144-0x72a430t"),
            (
                "description",
                "Siemens, SIMATIC S7, CPU 1515-2 PN, 6ES7 515-2AM01-0AB0, HW: Version 3, FW: \
                 Version V2.6.0, S C-L5CM77762019"
            ),
            ("vendor", "Siemens"),
            ("model", "CPU 1515-2 PN"),
            ("order_number", "6ES7 515-2AM01-0AB0"),
            ("hardware", "3"),
            ("firmware", "V2.6.0"),
            ("serial", "S C-L5CM77762019"),
            ("capability", "bridge"),
            ("capability", "station"),
            ("management_address", "192.168.0.1"),
            ("name", "plcxb1.xn--profinetxaxb1f144-0x72a430t"),
        ]
    );
    let e = &s.events[0];
    assert_eq!((e.protocol, e.function_name), ("lldp", Some("announce")));
    assert!(e.anomalies.is_empty());
    assert_eq!(s.field(0, "ttl"), Some(20));
    assert_eq!(s.field(0, "system_capabilities"), Some(0x84));
    assert_eq!(s.field(0, "max_frame_size"), Some(1522));
    assert_eq!(
        text(&s, "pn_chassis_mac").as_deref(),
        Some("ac:64:17:5f:fa:41")
    );
}

#[test]
fn lldp_scalance_switch_identity() {
    // Older Profinet form: NameOfStation as the locally assigned chassis id.
    let s = run(frames::LLDP_SCALANCE);
    assert_eq!(
        s.fact_pairs(),
        [
            ("port", "port-001"),
            ("hostname", "Switch1"),
            (
                "description",
                "Siemens, SIMATIC NET, SCALANCE X212-2, 6GK5 212-2BB00-2AA3, HW: 7, FW: V4.02"
            ),
            ("vendor", "Siemens"),
            ("model", "SCALANCE X212-2"),
            ("order_number", "6GK5 212-2BB00-2AA3"),
            ("hardware", "7"),
            ("firmware", "V4.02"),
            ("capability", "station"),
            ("management_address", "141.81.0.190"),
            ("name", "switch1"),
        ]
    );
}

#[test]
fn cdp_v1_router_identity() {
    let s = run(frames::CDP_V1);
    assert_eq!(
        s.fact_pairs(),
        [
            ("hostname", "R1"),
            ("management_address", "192.168.10.1"),
            ("port", "Ethernet0"),
            ("capability", "router"),
            (
                "description",
                "Cisco Internetwork Operating System Software IOS (tm) 1600 Software \
                 (C1600-NY-L), Version 11.2(12)P, RELEASE SOFTWARE (fc1) Copyright (c) \
                 1986-1998 by cisco Systems, Inc. Compiled Tue 03-Mar-98 06:33 by dschwart"
            ),
            ("firmware", "11.2(12)P"),
            ("platform", "cisco 1601"),
            ("vendor", "Cisco"),
            ("model", "1601"),
        ]
    );
    assert!(s.events[0].anomalies.is_empty(), "checksum 0xdff0 is right");
    assert_eq!(s.field(0, "version"), Some(1));
}

#[test]
fn cdp_bad_checksum_is_an_anomaly() {
    let mut f = hex(frames::CDP_V1);
    // Flip a byte of the device id.
    f[26] ^= 0x20;
    let (p, b) = payload(&f);
    let mut s = VecSink::default();
    dissect(p, &b, &mut s);
    assert_eq!(s.events[0].anomalies, ["bad_crc"]);
}

#[test]
fn stp_root_bridge() {
    let s = run(frames::STP_RSTP_ROOT);
    assert_eq!(
        s.fact_pairs(),
        [("capability", "bridge"), ("role", "stp_root_bridge")]
    );
    let e = &s.events[0];
    assert_eq!(e.function_name, Some("rapid_spanning_tree"));
    assert_eq!(
        text(&s, "root_bridge_id").as_deref(),
        Some("32768.3.00:1e:f6:73:59:80")
    );
    assert_eq!(text(&s, "port_role").as_deref(), Some("designated"));
    assert_eq!(s.field(0, "port_id"), Some(0x8001));
    assert_eq!(s.field(0, "hello_time"), Some(2));
}

#[test]
fn stp_non_root_and_tcn() {
    // The same BPDU from a bridge that is not the root: one byte of the bridge MAC changed.
    let mut f = hex(frames::STP_RSTP_ROOT);
    f[17 + 17 + 7] ^= 1;
    let (p, b) = payload(&f);
    let mut s = VecSink::counting();
    dissect(p, &b, &mut s);
    assert_eq!(s.fact_pairs(), [("capability", "bridge")]);
    // A topology change notification is four bytes.
    let mut s = VecSink::default();
    dissect(LinkProtocol::Stp, &[0, 0, 0, 0x80], &mut s);
    assert_eq!(
        s.events[0].function_name,
        Some("topology_change_notification")
    );
    assert!(s.events[0].anomalies.is_empty());
}

#[test]
fn dcp_identify_response_identity() {
    let s = run(frames::DCP_IDENTIFY_RESPONSE);
    assert_eq!(
        s.fact_pairs(),
        [
            ("model", "INC"),
            ("name", "X208-BORD"),
            ("vendor_id", "pn_dcp:42"),
            ("product_code", "pn_dcp:2561"),
            ("role", "profinet_io_device"),
            ("management_address", "192.168.0.6"),
        ]
    );
    let e = &s.events[0];
    assert_eq!(e.operation, yagura_core::OperationClass::Identify);
    assert!(e.response);
    let s = run(frames::DCP_VERSAMAX);
    assert_eq!(
        s.fact_pairs(),
        [
            ("name", "versamax-pns11"),
            ("model", "IC200PNS001"),
            ("vendor_id", "pn_dcp:346"),
            ("product_code", "pn_dcp:3"),
            ("role", "profinet_io_device"),
            ("management_address", "192.168.1.2"),
        ]
    );
}

#[test]
fn dcp_set_requests_are_config_changes() {
    let s = run(frames::DCP_SET_IP);
    assert!(
        s.facts.is_empty(),
        "a set request says nothing of its sender"
    );
    let e = &s.events[0];
    assert_eq!(e.function_name, Some("set_ip"));
    assert_eq!(e.operation, yagura_core::OperationClass::ConfigChange);
    assert_eq!(text(&s, "ip_address").as_deref(), Some("192.168.0.10"));
    // The same request turned into a factory reset (control option 5, suboption 6).
    let mut f = hex(frames::DCP_SET_IP);
    let blocks = 14 + 12;
    f[blocks..blocks + 8].copy_from_slice(&[5, 6, 0, 4, 0, 1, 0, 2]);
    f[24..26].copy_from_slice(&[0, 8]);
    let (p, b) = payload(&f);
    let mut s = VecSink::default();
    dissect(p, &b, &mut s);
    assert_eq!(s.events[0].function_name, Some("reset_to_factory"));
    assert_eq!(
        s.events[0].operation,
        yagura_core::OperationClass::ConfigChange
    );
    assert!(s.events[0].anomalies.is_empty());
}

#[test]
fn dcp_ignores_other_profinet_frames() {
    // Cyclic real-time data (frame id 0x8000) is not DCP: nothing is reported.
    let mut s = VecSink::default();
    dissect(LinkProtocol::PnDcp, &[0x80, 0x00, 1, 2, 3, 4], &mut s);
    assert!(s.events.is_empty() && s.counted.is_empty());
}

#[test]
fn truncated_frames_are_anomalies() {
    for (proto, f) in [
        (LinkProtocol::Lldp, frames::LLDP_S7_1500),
        (LinkProtocol::Cdp, frames::CDP_V1),
        (LinkProtocol::Stp, frames::STP_RSTP_ROOT),
        (LinkProtocol::PnDcp, frames::DCP_IDENTIFY_RESPONSE),
    ] {
        let (p, b) = payload(&hex(f));
        assert_eq!(p, proto);
        let cut = &b[..b.len() / 2];
        let mut s = VecSink::default();
        dissect(p, cut, &mut s);
        assert_eq!(s.events.len(), 1, "{proto:?}");
        assert!(!s.events[0].anomalies.is_empty(), "{proto:?}");
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Mostly printable ASCII, with blanks, NULs, controls and non-ASCII bytes mixed in.
    fn texty() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                8 => 0x20u8..0x7f,
                1 => Just(0u8),
                1 => Just(b' '),
                1 => any::<u8>(),
            ],
            0..80,
        )
    }

    proptest! {
        #[test]
        fn printable_ascii_shortcut_agrees(b in texty(), max in 0usize..70) {
            let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            prop_assert_eq!(printable(&b, max), printable_general(&b[..end], max));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            proto in 0usize..4,
            b in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let p = [LinkProtocol::Lldp, LinkProtocol::Cdp, LinkProtocol::Stp,
                LinkProtocol::PnDcp][proto];
            let mut events = VecSink::default();
            dissect(p, &b, &mut events);
            let mut counting = VecSink::counting();
            dissect(p, &b, &mut counting);
            prop_assert_eq!(&events.facts, &counting.facts);
            prop_assert_eq!(events.events.len(), counting.counted.len());
            prop_assert!(events.facts.len() <= MAX_FACTS);
        }

        #[test]
        fn mutated_real_frames_never_panic(
            which in 0usize..7,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let f = [frames::LLDP_S7_1500, frames::LLDP_SCALANCE, frames::CDP_V1,
                frames::STP_RSTP_ROOT, frames::DCP_IDENTIFY_RESPONSE, frames::DCP_SET_IP,
                frames::DCP_VERSAMAX][which];
            let (p, mut b) = payload(&hex(f));
            for (at, x) in flips {
                let n = b.len();
                b[at % n] ^= x;
            }
            b.truncate(cut % (b.len() + 1));
            let mut s = VecSink::default();
            dissect(p, &b, &mut s);
            prop_assert!(s.events.len() <= 1);
        }
    }
}
