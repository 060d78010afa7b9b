//! BACnet/IP tests on datagrams cut from corpus captures.

use yagura_core::{Direction, OperationClass, PduStatus};

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
