//! BACnet/IP tests on datagrams cut from corpus captures.

use yagura_core::{Direction, OperationClass, PduStatus, Subject};

use super::*;
use crate::testutil::{VecSink, hex};

fn one(b: &str, dir: Direction) -> VecSink {
    let mut s = VecSink::default();
    let d = hex(b);
    assert_eq!(
        BacnetDissector.parse(&d, dir, &mut s),
        Parsed::done(d.len())
    );
    s
}

#[test]
fn parses_read_property_and_ack() {
    // iti__bacnet_test.pcap: ReadProperty request and its complex ack.
    let s = one("810a001101040005010c0c023fffff194b", Direction::ToServer);
    let e = &s.events[0];
    assert_eq!(
        (e.function, e.function_name),
        (Some(12), Some("read_property"))
    );
    assert_eq!(e.operation, OperationClass::Read);
    assert!(!e.response);
    assert_eq!(s.field(0, "invoke_id"), Some(1));
    let s = one(
        "810a0017010030010c0c023fffff194b3ec4020001f43f",
        Direction::ToClient,
    );
    assert!(s.events[0].response);
    assert_eq!(s.events[0].function_name, Some("read_property"));
    assert_eq!(s.field(0, "apdu_type"), Some(3));
}

#[test]
fn parses_errors_rejects_aborts() {
    // icsnpp-bacnet__bacnet_error_reject_abort.pcap: an error to ReinitializeDevice, a
    // reject and an abort, all routed (DNET present).
    let s = one("810a00120120000d013dff5034149105911a", Direction::ToClient);
    assert_eq!(s.events[0].status, PduStatus::Exception);
    assert_eq!(s.events[0].function_name, Some("reinitialize_device"));
    assert_eq!(s.events[0].operation, OperationClass::Restart);
    let s = one("810a000e0120000d013dff603a09", Direction::ToClient);
    assert_eq!(s.events[0].status, PduStatus::Exception);
    assert_eq!(s.events[0].function_name, Some("reject"));
    let s = one("810b00090100710100", Direction::ToClient);
    assert_eq!(s.events[0].function_name, Some("abort"));
}

#[test]
fn device_communication_control_is_a_mode_change() {
    // icsnpp-bacnet__bacnet_services.pcap frames 267/268: DeviceCommunicationControl
    // (disable, with a password), acknowledged.
    let s = one(
        "810a001e01240003016cff02038511090119012d090066696c6973746572",
        Direction::ToServer,
    );
    assert_eq!(
        s.events[0].function_name,
        Some("device_communication_control")
    );
    assert_eq!(s.events[0].operation, OperationClass::ModeChange);
    assert!(!s.events[0].response);
    let s = one("810a000d01080003016c208511", Direction::ToClient);
    assert!(s.events[0].response);
    assert_eq!(s.events[0].operation, OperationClass::ModeChange);
    // Its neighbour, a ReadProperty of the same device, is a read (above).
}

#[test]
fn parses_unconfirmed_and_bvlc_only() {
    // I-Am from the same capture; BVLC-Result and Read-BDT from bacnet_test.pcap.
    let s = one(
        "810a001501001000c4020000652204009100220539",
        Direction::ToServer,
    );
    assert_eq!(s.events[0].function_name, Some("i_am"));
    let s = one("81020004", Direction::ToServer);
    assert_eq!(
        s.events[0].function_name,
        Some("read_broadcast_distribution_table")
    );
    let s = one("810000060020", Direction::ToClient);
    assert!(s.events[0].response);
}

#[test]
fn survives_garbage() {
    let s = one("810a00ff0120", Direction::ToServer);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    let s = one("deadbeef", Direction::ToServer);
    assert_eq!(s.events[0].anomalies, ["bad_header"]);
    assert_eq!(
        probe(&hex("810a001101040005010c0c023fffff194b")),
        Probe::Match
    );
    assert_eq!(
        probe_strict(&hex("810a001101040005010c0c023fffff194b")),
        Probe::Match
    );
    // A BVLC length that disagrees with the datagram: still BACnet on its port, not off it.
    assert_eq!(
        probe(&hex("810a001201040005010c0c023fffff194b")),
        Probe::Match
    );
    assert_eq!(
        probe_strict(&hex("810a001201040005010c0c023fffff194b")),
        Probe::NoMatch
    );
    assert_eq!(
        probe(&hex("810a0012ff040005010c0c023fffff194b")),
        Probe::NoMatch
    );
}

fn fact_pairs(s: &VecSink) -> Vec<(&'static str, &str)> {
    s.fact_pairs()
}

#[test]
fn i_am_gives_vendor_id_and_device_instance() {
    // icsnpp-bacnet__bacnet_error_reject_abort.pcap frame 29: I-Am from device 101, max APDU
    // 1024, segmentation both (0), vendor 1337 (tshark: "Xxter bv (1337)").
    let b = "810a001501001000c4020000652204009100220539";
    let s = one(b, Direction::ToServer);
    assert_eq!(s.field(0, "device_instance"), Some(101));
    assert_eq!(s.field(0, "max_apdu"), Some(1024));
    assert_eq!(s.field(0, "segmentation"), Some(0));
    assert_eq!(s.field(0, "vendor_id"), Some(1337));
    assert_eq!(
        fact_pairs(&s),
        [("vendor_id", "bacnet:1337"), ("name", "BACnet device 101")]
    );
    assert!(s.facts.iter().all(|f| f.subject == Subject::Sender));
    // Facts come in count mode too.
    let mut c = VecSink::counting();
    BacnetDissector.parse(&hex(b), Direction::ToServer, &mut c);
    assert_eq!(c.facts, s.facts);
    assert_eq!(c.counted.len(), 1);
}

#[test]
fn routed_i_am_gives_no_facts() {
    // icsnpp-bacnet__bacnet_services.pcap frame 287: I-Am of device 108 (vendor 42) routed
    // from network 3: its IP sender is the router.
    let s = one(
        "810b001c0128ffff000003016cfe1000c40200006c2201e09100212a",
        Direction::ToServer,
    );
    assert_eq!(s.field(0, "source_network"), Some(3));
    assert_eq!(s.field(0, "device_instance"), Some(108));
    assert_eq!(s.field(0, "vendor_id"), Some(42));
    assert!(s.facts.is_empty());
}

#[test]
fn forwarded_i_am_is_about_the_original_sender() {
    // The NPDU of the I-Am above (frame 29 of bacnet_error_reject_abort.pcap), as a BBMD
    // would forward it: BVLC Forwarded-NPDU with the original B/IP address 10.1.2.3:47808.
    let s = one(
        "8104001b0a010203bac001001000c4020000652204009100220539",
        Direction::ToServer,
    );
    assert_eq!(s.events[0].status, PduStatus::Ok);
    assert_eq!(
        s.events[0]
            .fields
            .iter()
            .find(|(n, _)| *n == "forwarded_from")
            .map(|(_, v)| v.clone()),
        Some(yagura_core::FieldValue::Str("10.1.2.3:47808".into()))
    );
    let ip: std::net::IpAddr = "10.1.2.3".parse().unwrap();
    assert!(s.facts.iter().all(|f| f.subject == Subject::Ip(ip)));
    assert_eq!(s.facts.len(), 2);
}

/// Facts of `msgs` given twice (two flows), by events, by counting and with a fact memo
/// (which gives the second round from memory): all the same.
#[test]
fn the_memo_gives_the_facts_parsing_gives() {
    let msgs = [
        // I-Am (above), the same forwarded, and a ReadProperty-ACK of a model name.
        "810a001501001000c4020000652204009100220539",
        "8104001b0a010203bac001001000c4020000652204009100220539",
        "810a001c010030020c0c020001f519463e7508004849592d3035343f",
        // The same ACK with another invoke id; the same body in a ReadProperty request
        // (not an identifying answer: no facts).
        "810a001c010030070c0c020001f519463e7508004849592d3035343f",
        "810a001d0104000507 0c0c020001f519463e7508004849592d3035343f",
        // A ReadProperty-ACK of a vendor name (UCS-2).
        "810a001b010030010c0c023fffff19793e750704004a004300493f",
    ];
    let runs = crate::testutil::facts_in_three_sinks(|s| {
        for m in msgs {
            BacnetDissector.parse(&hex(&m.replace(' ', "")), Direction::ToClient, s);
        }
    });
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
    assert_eq!(runs[0].len(), 2 * 7);
}

#[test]
fn read_property_acks_of_the_device_object() {
    // iti__bacnet_test.pcap frames 8 and 16 (UCS-2 strings; tshark: vendor-name 'JCI',
    // model-name 'MS-NAE4510-2'), object device 4194303 (the "this device" wildcard).
    let s = one(
        "810a001b010030010c0c023fffff19793e750704004a004300493f",
        Direction::ToClient,
    );
    assert_eq!(s.field(0, "object_type"), Some(8));
    assert_eq!(s.field(0, "object_instance"), Some(4_194_303));
    assert_eq!(s.field(0, "property"), Some(121));
    assert_eq!(fact_pairs(&s), [("vendor", "JCI")]);
    let s = one(
        "810a002d010030010c0c023fffff19463e751904004d0053002d004e004100450034003500310030002d00323f",
        Direction::ToClient,
    );
    assert_eq!(fact_pairs(&s), [("model", "MS-NAE4510-2")]);
    // icsnpp-bacnet__bacnet_example.pcap frames 137, 141, 145, 150 (UTF-8; device 501).
    for (b, fact) in [
        (
            "810a001c010030020c0c020001f519463e7508004849592d3035343f",
            Some(("model", "HIY-054")),
        ),
        (
            "810a001a010030030c0c020001f5192c3e750600342e322e313f",
            Some(("firmware", "4.2.1")),
        ),
        (
            "810a001a010030040c0c020001f5190c3e750600302e352e373f",
            Some(("software", "0.5.7")),
        ),
        // location is an event field, not an identity fact.
        (
            "810a001d010030050c0c020001f5193a3e7509006261795f373038303f",
            None,
        ),
    ] {
        let s = one(b, Direction::ToClient);
        assert_eq!(s.field(0, "object_instance"), Some(501));
        assert_eq!(fact_pairs(&s), fact.into_iter().collect::<Vec<_>>(), "{b}");
    }
    let s = one(
        "810a001d010030050c0c020001f5193a3e7509006261795f373038303f",
        Direction::ToClient,
    );
    let loc = s.events[0].fields.iter().find(|(n, _)| *n == "location");
    assert_eq!(
        loc.map(|(_, v)| v.clone()),
        Some(yagura_core::FieldValue::Str("bay_7080".into()))
    );
}

#[test]
fn object_names_of_other_objects_are_not_identity() {
    // icsnpp-bacnet__bacnet_example.pcap frame 2: object-name of analog-input 1.
    let s = one(
        "810a0021010030010c0c00000001194d3e750d0053656e736f725f34353331323f",
        Direction::ToClient,
    );
    assert_eq!(s.field(0, "object_type"), Some(0));
    assert!(s.facts.is_empty());
    assert!(s.events[0].fields.iter().all(|(n, _)| *n != "device_name"));
}

#[test]
fn read_property_multiple_ack_with_an_error_result() {
    // automayt__BACnetL_SchedRPM.pcapng frame 2: RPM-ACK for schedule 88, fifteen results,
    // the last an error (property 168: class property, code unknown-property).
    let s = one(
        "810a0083010030080e0c044000581e294b4ec4044000584f294d4e74003132334f294f4e91114f29554e004f291c4e74003132334f29204ea4720101ffa4730101ff4f297b4e0e0f0e0f0e0f0e0f0e0f0e0f0e0f4f29264e4f29ae4e004f29364e4f29584e210a4f296f4e8204004f29674e91004f29514e104f29a85e910291205f1f",
        Direction::ToClient,
    );
    assert_eq!(s.events[0].status, PduStatus::Ok, "{:?}", s.events[0]);
    assert_eq!(s.events[0].function_name, Some("read_property_multiple"));
    assert_eq!(s.field(0, "object_type"), Some(17));
    assert_eq!(s.field(0, "object_instance"), Some(88));
    assert!(s.facts.is_empty());
    // The same answer for a Device object: the schedule's id rewritten to device 88.
    let dev = "810a0083010030080e0c020000581e294b4ec4044000584f294d4e74003132334f294f4e91114f29554e004f291c4e74003132334f29204ea4720101ffa4730101ff4f297b4e0e0f0e0f0e0f0e0f0e0f0e0f0e0f4f29264e4f29ae4e004f29364e4f29584e210a4f296f4e8204004f29674e91004f29514e104f29a85e910291205f1f";
    let s = one(dev, Direction::ToClient);
    assert_eq!(fact_pairs(&s), [("name", "123"), ("description", "123")]);
}

#[test]
fn read_and_write_property_requests_name_their_target() {
    // iti__bacnet_test.pcap: ReadProperty of device 4194303's property 75.
    let s = one("810a001101040005010c0c023fffff194b", Direction::ToServer);
    assert_eq!(s.field(0, "object_type"), Some(8));
    assert_eq!(s.field(0, "property"), Some(75));
    assert!(s.facts.is_empty());
}

#[test]
fn bad_tags_are_flagged_not_fatal() {
    // The I-Am of frame 29 cut after the max-APDU tag.
    let s = one("810a000f01001000c40200006522", Direction::ToServer);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    assert!(s.events[0].anomalies.contains(&"bad_encoding"));
    assert!(s.facts.is_empty());
}

#[test]
fn character_sets() {
    use apdu::CharString;
    let t = |charset, bytes: &[u8]| CharString { charset, bytes }.text();
    assert_eq!(t(0, b" abc \x00"), Some("abc".into()));
    assert_eq!(t(4, &[0, b'J', 0, b'C']), Some("JC".into()));
    assert_eq!(t(5, &[b'M', 0xfc, b'n']), Some("Mün".into()));
    assert_eq!(t(3, &[0, 0, 0, b'A']), Some("A".into()));
    assert_eq!(t(1, b"x"), None);
    assert_eq!(
        t(0, &[b'a'; 1000]).map(|s| s.len()),
        Some(apdu::MAX_TEXT_CHARS)
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn survives_arbitrary_datagrams(d in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut s = VecSink::default();
            BacnetDissector.parse(&d, Direction::ToServer, &mut s);
            let mut c = VecSink::counting();
            BacnetDissector.parse(&d, Direction::ToServer, &mut c);
            prop_assert_eq!(s.facts, c.facts);
        }

        #[test]
        fn survives_arbitrary_service_bodies(
            kind in 0u8..8, service in 0u8..40,
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let _ = apdu::decode(kind, service, &body);
        }

        #[test]
        fn survives_mutated_real_answers(i in 0usize..131, b in any::<u8>()) {
            // The RPM-ACK above with one byte changed anywhere.
            let mut d = hex("810a0083010030080e0c020000581e294b4ec4044000584f294d4e74003132334f294f4e91114f29554e004f291c4e74003132334f29204ea4720101ffa4730101ff4f297b4e0e0f0e0f0e0f0e0f0e0f0e0f0e0f4f29264e4f29ae4e004f29364e4f29584e210a4f296f4e8204004f29674e91004f29514e104f29a85e910291205f1f");
            d[i] = b;
            let mut s = VecSink::default();
            BacnetDissector.parse(&d, Direction::ToClient, &mut s);
            prop_assert_eq!(s.events.len(), 1);
        }
    }
}
