//! Modbus tests on bytes cut from corpus captures (`tshark -T fields -e tcp.payload`).

use yagura_core::{Direction, OperationClass, PduStatus};

use super::*;
use crate::testutil::{VecSink, as_counts, hex, run};

// iti__modbus_test.pcap frames 7 and 9: read input registers 0..14 on unit 1, and its answer.
const REQ_FC4: &str = "41a00000000601040000000e";
const RSP_FC4: &str = "41a00000001f01041c000053f5000000000000000000003318000000000000000000005925";
// iti__modbus_test.pcap frame 69: two write-single-register requests in one segment.
const TWO_FC6: &str = "01f80000000607060004000001f8000000060706000536c1";
// An exception response (FC 23 | 0x80, gateway target failed) from the corpus fuzz captures.
const EXC: &str = "000b0000000301970a";
// lsw__mod_43.pcap: read device identification request and response.
const REQ_FC43: &str = "000000000005012b0e0100";
const RSP_FC43: &str = "000000000032012b0e018100000300145363686e656964657220456c6563747269632020010c424d58205033342032303230020476322e35";

#[test]
fn parses_request_and_response() {
    let mut d = ModbusDissector::new(false);
    let (p, s) = run(&mut d, &hex(REQ_FC4), Direction::ToServer);
    assert_eq!(p, Parsed::done(12));
    let e = &s.events[0];
    assert_eq!(e.protocol, "modbus");
    assert_eq!(e.function, Some(4));
    assert_eq!(e.function_name, Some("read_input_registers"));
    assert_eq!(e.operation, OperationClass::Read);
    assert!(!e.response);
    assert_eq!(e.status, PduStatus::Ok);
    assert_eq!(e.length, 12);
    assert_eq!(s.field(0, "transaction_id"), Some(0x41a0));
    assert_eq!(s.field(0, "unit_id"), Some(1));

    let (p, s) = run(&mut d, &hex(RSP_FC4), Direction::ToClient);
    assert_eq!(p, Parsed::done(37));
    assert!(s.events[0].response);
    assert_eq!(s.events[0].function, Some(4));
}

#[test]
fn parses_exception() {
    let mut d = ModbusDissector::new(false);
    let (_, s) = run(&mut d, &hex(EXC), Direction::ToClient);
    let e = &s.events[0];
    assert_eq!(e.status, PduStatus::Exception);
    assert_eq!(e.function, Some(23));
    assert_eq!(e.operation, OperationClass::Write);
    assert_eq!(s.field(0, "exception_code"), Some(10));
    assert!(e.anomalies.is_empty());
}

#[test]
fn parses_read_device_identification() {
    let mut d = ModbusDissector::new(false);
    let (_, s) = run(&mut d, &hex(REQ_FC43), Direction::ToServer);
    assert_eq!(
        s.events[0].function_name,
        Some("read_device_identification")
    );
    assert_eq!(s.events[0].operation, OperationClass::Identify);
    assert_eq!(s.field(0, "mei_type"), Some(14));
    let (p, s) = run(&mut d, &hex(RSP_FC43), Direction::ToClient);
    assert_eq!(p.consumed, 56);
    assert_eq!(s.events[0].operation, OperationClass::Identify);
}

#[test]
fn parses_two_pdus_in_one_call() {
    let mut d = ModbusDissector::new(false);
    let (p, s) = run(&mut d, &hex(TWO_FC6), Direction::ToServer);
    assert_eq!(p, Parsed::done(24));
    assert_eq!(s.events.len(), 2);
    assert!(
        s.events
            .iter()
            .all(|e| e.operation == OperationClass::Write)
    );
}

#[test]
fn waits_for_a_split_pdu() {
    let mut d = ModbusDissector::new(false);
    let b = hex(RSP_FC4);
    let (p, s) = run(&mut d, &b[..5], Direction::ToClient);
    assert_eq!(p.consumed, 0);
    assert!(p.needed > 0);
    assert!(s.events.is_empty());
    let (p, s) = run(&mut d, &b[..20], Direction::ToClient);
    assert_eq!(p, Parsed::incomplete(0, 17));
    assert!(s.events.is_empty());
    let (p, s) = run(&mut d, &b, Direction::ToClient);
    assert_eq!(p, Parsed::done(37));
    assert_eq!(s.events.len(), 1);
}

#[test]
fn survives_garbage_then_resyncs() {
    let mut d = ModbusDissector::new(false);
    // An S7 setup-communication TPDU sent to port 502: length field 0x02f0 is impossible.
    let garbage = hex("0300001902f08032010000000000080000f0000001000101e0");
    let (p, s) = run(&mut d, &garbage, Direction::ToServer);
    assert_eq!(p, Parsed::done(garbage.len()));
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    assert_eq!(s.events[0].anomalies, ["bad_length"]);
    // In resync, a non-Modbus start is skipped silently, a Modbus start is parsed.
    let (p, s) = run(&mut d, &garbage, Direction::ToServer);
    assert_eq!(p.consumed, garbage.len());
    assert!(s.events.is_empty());
    let (_, s) = run(&mut d, &hex(REQ_FC4), Direction::ToServer);
    assert_eq!(s.events.len(), 1);
}

#[test]
fn resyncs_after_gap() {
    let mut d = ModbusDissector::new(false);
    d.on_gap(Direction::ToClient, 100);
    let b = hex(RSP_FC4);
    // The tail of a PDU after the gap is skipped, the next whole one parsed.
    let (p, s) = run(&mut d, &b[9..], Direction::ToClient);
    assert_eq!(p.consumed, b.len() - 9);
    assert!(s.events.is_empty());
    let (_, s) = run(&mut d, &b, Direction::ToClient);
    assert_eq!(s.events.len(), 1);
}

#[test]
fn flags_nonzero_protocol_id() {
    let mut b = hex(REQ_FC4);
    b[3] = 1;
    let (_, s) = run(&mut ModbusDissector::new(false), &b, Direction::ToServer);
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    assert_eq!(s.events[0].anomalies, ["bad_protocol_id"]);
}

#[test]
fn counts_without_events() {
    let mut d = ModbusDissector::new(false);
    let mut sink = VecSink::counting();
    d.parse(&hex(TWO_FC6), Direction::ToServer, &mut sink);
    assert_eq!(sink.counted, [("modbus", 0), ("modbus", 0)]);
}

#[test]
fn udp_truncated_is_malformed() {
    let b = hex(RSP_FC4);
    let (p, s) = run(
        &mut ModbusDissector::new(true),
        &b[..20],
        Direction::ToClient,
    );
    assert_eq!(p, Parsed::done(20));
    assert_eq!(s.events[0].anomalies, ["truncated"]);
}

#[test]
fn probes() {
    assert_eq!(probe(&hex(REQ_FC4)), Probe::Match);
    assert_eq!(probe(&hex(EXC)), Probe::Match);
    assert_eq!(probe(&hex(REQ_FC4)[..3]), Probe::NeedMore);
    assert_eq!(probe(b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
}

/// The value of a string field of event `i`.
fn text_field(s: &VecSink, i: usize, name: &str) -> Option<String> {
    s.events[i].fields.iter().find_map(|(n, v)| match v {
        yagura_core::FieldValue::Str(t) if *n == name => Some(t.clone()),
        _ => None,
    })
}

/// Request then response on one flow; the two sinks.
fn exchange(req: &str, rsp: &str) -> (VecSink, VecSink) {
    let mut d = ModbusDissector::new(false);
    let (_, a) = run(&mut d, &hex(req), Direction::ToServer);
    let (_, b) = run(&mut d, &hex(rsp), Direction::ToClient);
    (a, b)
}

// icsnpp-modbus__modbus_example.pcap, frames 8/10: read coils 1..8 on unit 5.
#[test]
fn read_coils_and_matched_response() {
    let (q, r) = exchange("000200000006050100010008", "000200000004050101e9");
    assert_eq!(q.field(0, "address"), Some(1));
    assert_eq!(q.field(0, "quantity"), Some(8));
    assert_eq!(r.field(0, "byte_count"), Some(1));
    // The response does not say which coils: its request does.
    assert_eq!(r.field(0, "address"), Some(1));
    assert_eq!(r.field(0, "quantity"), Some(8));
    assert_eq!(r.events[0].status, PduStatus::Ok);
}

// icsnpp example frames 24/26: read holding registers 1..8, 16-byte answer.
#[test]
fn read_holding_registers_counts_values() {
    let (q, r) = exchange(
        "000600000006050300010008",
        "00060000001305031000aa00aa00bb00ccef84e3eb9f8be4c1",
    );
    assert_eq!(q.events[0].operation, OperationClass::Read);
    assert_eq!(r.field(0, "byte_count"), Some(16));
    assert_eq!(r.field(0, "value_count"), Some(8));
    assert_eq!(r.field(0, "quantity"), Some(8));
}

// icsnpp example frames 36 (write single coil ON) and 40 (write single register 0xabcd).
#[test]
fn single_writes() {
    let (q, r) = exchange("00090000000606050001ff00", "00090000000606050001ff00");
    for s in [&q, &r] {
        assert_eq!(s.events[0].operation, OperationClass::Write);
        assert_eq!(s.field(0, "address"), Some(1));
        assert_eq!(s.field(0, "quantity"), Some(1));
        assert_eq!(s.field(0, "value"), Some(0xff00));
    }
    let (q, _) = exchange("000a0000000607060001abcd", "000a0000000607060001abcd");
    assert_eq!(q.field(0, "value"), Some(0xabcd));
    // A coil value other than 0x0000/0xff00 is refused by the server: flagged.
    let (q, _) = exchange("00090000000606050001ff01", "00090000000606050001ff00");
    assert_eq!(q.events[0].anomalies, ["bad_value"]);
}

// icsnpp example frames 52/54 (write multiple coils) and 56/58 (write multiple registers).
#[test]
fn multiple_writes() {
    let (q, r) = exchange("000d00000008070f000100040109", "000d00000006070f00010004");
    assert_eq!(q.field(0, "address"), Some(1));
    assert_eq!(q.field(0, "quantity"), Some(4));
    assert_eq!(q.field(0, "byte_count"), Some(1));
    assert_eq!(r.field(0, "quantity"), Some(4));
    assert!(q.events[0].anomalies.is_empty());
    let (q, r) = exchange(
        "000e0000000f0710000100040800aa00bb00cc00dd",
        "000e00000006071000010004",
    );
    assert_eq!(q.field(0, "byte_count"), Some(8));
    assert_eq!(q.field(0, "value_count"), Some(4));
    assert_eq!(r.field(0, "address"), Some(1));
    // Byte count that contradicts the quantity.
    let (q, _) = exchange(
        "000e0000000f0710000100030800aa00bb00cc00dd",
        "000e00000006071000010003",
    );
    assert_eq!(q.events[0].status, PduStatus::Malformed);
    assert_eq!(q.events[0].anomalies, ["bad_length"]);
}

// icsnpp example frames 72/74 (mask write register) and 84/86 (read/write multiple).
#[test]
fn mask_write_and_read_write_multiple() {
    let (q, r) = exchange(
        "0012000000080416000adead0000",
        "0012000000080416000adead0000",
    );
    for s in [&q, &r] {
        assert_eq!(s.field(0, "address"), Some(10));
        assert_eq!(s.field(0, "and_mask"), Some(0xdead));
        assert_eq!(s.field(0, "or_mask"), Some(0));
    }
    let (q, r) = exchange(
        "001500000011061700010004000200030600aa00bb00cc",
        "00150000000b06170800aa00aa00bb00cc",
    );
    assert_eq!(q.field(0, "read_address"), Some(1));
    assert_eq!(q.field(0, "read_quantity"), Some(4));
    assert_eq!(q.field(0, "address"), Some(2));
    assert_eq!(q.field(0, "quantity"), Some(3));
    assert_eq!(q.field(0, "byte_count"), Some(6));
    assert_eq!(r.field(0, "read_quantity"), Some(4));
    assert_eq!(r.field(0, "value_count"), Some(4));
    assert_eq!(r.events[0].operation, OperationClass::Write);
}

// icsnpp example frames 88/90: read FIFO queue at 0, empty queue.
#[test]
fn fifo_queue() {
    let (q, r) = exchange("0016000000040a180000", "0016000000060a1800020000");
    assert_eq!(q.field(0, "address"), Some(0));
    assert_eq!(r.field(0, "byte_count"), Some(2));
    assert_eq!(r.field(0, "value_count"), Some(0));
    assert!(r.events[0].anomalies.is_empty());
}

// icsnpp example frames 48/50 (diagnostics, return diagnostic register); sv__modbus.pcap
// frames 8/9 (force listen only mode, answered with exception 11).
#[test]
fn diagnostics_sub_functions() {
    let (q, r) = exchange("000c00000006020800020000", "000c00000006020800020000");
    assert_eq!(q.events[0].operation, OperationClass::Diagnostic);
    assert_eq!(q.field(0, "sub_function"), Some(2));
    assert_eq!(
        text_field(&q, 0, "sub_function_name").as_deref(),
        Some("return_diagnostic_register")
    );
    assert_eq!(r.field(0, "sub_function"), Some(2));
    let (q, r) = exchange("0000000000060a0800040000", "0000000000030a880b");
    assert_eq!(q.events[0].operation, OperationClass::ModeChange);
    assert_eq!(q.field(0, "sub_function"), Some(4));
    assert_eq!(r.events[0].status, PduStatus::Exception);
    assert_eq!(r.field(0, "exception_code"), Some(11));
}

// icsnpp example frames 44/46 (read exception status), 60/62 (report server id).
#[test]
fn serial_line_functions() {
    let (q, r) = exchange("000b000000020207", "000b00000003020700");
    assert_eq!(q.events[0].operation, OperationClass::Diagnostic);
    assert_eq!(r.field(0, "value"), Some(0));
    let (q, r) = exchange(
        "000f000000020211",
        "000f000000350211325a65656b204d6f6462757320546573742d50726f746f636f6c2050617273696e672069732066756e212d312e322e332e36ff",
    );
    assert_eq!(q.events[0].operation, OperationClass::Identify);
    assert_eq!(r.field(0, "byte_count"), Some(50));
    assert!(r.events[0].anomalies.is_empty());
}

// A file record read with one sub-request (Modbus spec 6.14 example layout) and the
// icsnpp example's empty one (frame 64: byte count 0, flagged).
#[test]
fn file_records() {
    let (q, _) = exchange("00010000000a01140706000400010002", "000100000003019402");
    assert_eq!(q.events[0].operation, OperationClass::Read);
    assert_eq!(q.field(0, "groups"), Some(1));
    let q = {
        let mut d = ModbusDissector::new(false);
        run(
            &mut d,
            &hex("00010000000b0114070600040001000200"),
            Direction::ToServer,
        )
        .1
    };
    assert_eq!(q.events[0].anomalies, ["trailing_bytes"]);
    let (q, _) = exchange("001000000003081400", "001000000003081400");
    assert_eq!(q.events[0].anomalies, ["bad_length"]);
    // Write file record: file 4, record 7, one register.
    let (q, r) = exchange(
        "00020000000c011509060004000700011234",
        "00020000000c011509060004000700011234",
    );
    for s in [&q, &r] {
        assert_eq!(s.events[0].operation, OperationClass::Write);
        assert_eq!(s.field(0, "file_number"), Some(4), "{:?}", s.events[0]);
        assert_eq!(s.field(0, "record_number"), Some(7));
        assert_eq!(s.field(0, "record_length"), Some(1));
        assert!(s.events[0].anomalies.is_empty(), "{:?}", s.events[0]);
    }
}

// lsw__mod_43.pcap frames 1/2: read device identification from a Schneider BMX P34 2020.
#[test]
fn device_identification_identity_facts() {
    let (q, r) = exchange(REQ_FC43, RSP_FC43);
    assert_eq!(q.field(0, "read_device_id"), Some(1));
    assert_eq!(q.field(0, "object_id"), Some(0));
    assert_eq!(r.field(0, "number_of_objects"), Some(3));
    assert_eq!(text_field(&r, 0, "object_ids").as_deref(), Some("0,1,2"));
    assert_eq!(
        text_field(&r, 0, "vendor").as_deref(),
        Some("Schneider Electric")
    );
    assert_eq!(
        text_field(&r, 0, "product_code").as_deref(),
        Some("BMX P34 2020")
    );
    assert_eq!(
        text_field(&r, 0, "firmware_version").as_deref(),
        Some("v2.5")
    );
    assert!(r.events[0].anomalies.is_empty());
    // The same objects become identity facts about the server, with or without events.
    let want = [
        ("vendor", "Schneider Electric"),
        ("product_code", "BMX P34 2020"),
        ("firmware", "v2.5"),
    ];
    assert_eq!(r.fact_pairs(), want);
    assert!(
        r.facts
            .iter()
            .all(|f| f.subject == yagura_core::Subject::Sender)
    );
    let mut counting = VecSink::counting();
    ModbusDissector::new(false).parse(&hex(RSP_FC43), Direction::ToClient, &mut counting);
    assert_eq!(counting.fact_pairs(), want);
    assert!(q.facts.is_empty(), "a request reveals nothing");
    // Cut inside the objects: flagged, what was read is still reported.
    let mut cut = hex(RSP_FC43);
    cut.truncate(cut.len() - 3);
    let l = (cut.len() - 6) as u8;
    cut[5] = l;
    let (_, s) = run(&mut ModbusDissector::new(false), &cut, Direction::ToClient);
    assert_eq!(s.events[0].anomalies, ["truncated"]);
    assert_eq!(
        text_field(&s, 0, "vendor").as_deref(),
        Some("Schneider Electric")
    );
}

// lsw__mods.pcap frame 92: a read/write multiple registers request cut after 4 bytes.
#[test]
fn truncated_request_reports_what_is_there() {
    let (_, s) = run(
        &mut ModbusDissector::new(false),
        &hex("000000000006011700000000"),
        Direction::ToServer,
    );
    assert_eq!(s.events[0].status, PduStatus::Malformed);
    // Read quantity 0 is outside 1..=125 as well.
    assert_eq!(s.events[0].anomalies, ["truncated", "bad_value"]);
    assert_eq!(s.field(0, "read_address"), Some(0));
    assert_eq!(s.field(0, "read_quantity"), Some(0));
    assert_eq!(s.field(0, "address"), None);
}

// lsw__mods.pcap scans every function code: reserved ones are flagged.
#[test]
fn reserved_function_is_flagged() {
    let (_, s) = run(
        &mut ModbusDissector::new(false),
        &hex("000000000006011d00000000"),
        Direction::ToServer,
    );
    assert_eq!(s.events[0].function, Some(29));
    assert_eq!(s.events[0].anomalies, ["unknown_function"]);
    // User-defined codes (65-72, 100-110) are not.
    let (_, s) = run(
        &mut ModbusDissector::new(false),
        &hex("000000000006014100000000"),
        Direction::ToServer,
    );
    assert!(s.events[0].anomalies.is_empty());
}

#[test]
fn pending_table_is_bounded() {
    let mut p = pending::Pending::default();
    for tid in 0..1000u16 {
        p.push(pending::Request {
            tid,
            fc: 3,
            umas: None,
            address: Some(tid),
            quantity: Some(1),
            read_address: None,
            read_quantity: None,
        });
    }
    assert_eq!(p.len(), pending::SLOTS);
    assert_eq!(p.take(999, 3).and_then(|r| r.address), Some(999));
    assert_eq!(p.take(0, 3), None, "the oldest was overwritten");
    assert_eq!(p.take(999, 3), None, "taken once");
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn mbap(unit: u8, pdu: &[u8]) -> Vec<u8> {
        let mut b = vec![0x12, 0x34, 0, 0];
        b.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
        b.push(unit);
        b.extend_from_slice(pdu);
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any PDU body under a valid MBAP header: one event per frame, never a panic, and
        /// events only when wanted.
        #[test]
        fn arbitrary_pdus_never_panic(
            pdu in proptest::collection::vec(any::<u8>(), 1..254),
            unit in any::<u8>(),
            to_client in any::<bool>(),
            cut in 0usize..300,
        ) {
            let dir = if to_client { Direction::ToClient } else { Direction::ToServer };
            let frame = mbap(unit, &pdu);
            let mut d = ModbusDissector::new(false);
            let mut sink = VecSink::default();
            let p = d.parse(&frame, dir, &mut sink);
            prop_assert_eq!(p.consumed, frame.len());
            prop_assert_eq!(sink.events.len(), 1);
            prop_assert!(sink.events[0].fields.len() <= 40);
            // Truncated prefixes: waited for over TCP, one malformed event over UDP.
            let cut = cut.min(frame.len());
            let mut sink = VecSink::default();
            let p = ModbusDissector::new(false).parse(&frame[..cut], dir, &mut sink);
            prop_assert!(p.consumed == cut || p.consumed == 0);
            let mut sink = VecSink::default();
            ModbusDissector::new(true).parse(&frame[..cut], dir, &mut sink);
            prop_assert!(sink.events.len() <= 1);
            let mut sink = VecSink::counting();
            ModbusDissector::new(false).parse(&frame, dir, &mut sink);
            prop_assert_eq!(sink.counted.len(), 1);
        }

        /// Arbitrary byte streams, both directions, with FC 90 and 43 favoured.
        #[test]
        fn arbitrary_streams_never_panic(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
            fc in prop_oneof![Just(90u8), Just(43u8), Just(8u8), Just(20u8), Just(21u8), any::<u8>()],
        ) {
            let mut d = ModbusDissector::new(false);
            for (i, c) in chunks.iter().enumerate() {
                let dir = if i % 2 == 0 { Direction::ToServer } else { Direction::ToClient };
                let mut body = vec![fc];
                body.extend_from_slice(c.get(..c.len().min(250)).unwrap_or_default());
                let frame = mbap(1, &body);
                let mut sink = VecSink::default();
                let p = d.parse(&frame, dir, &mut sink);
                prop_assert!(p.consumed <= frame.len());
                prop_assert!(sink.events.len() <= 1);
                let mut sink = VecSink::default();
                let p = d.parse(c, dir, &mut sink);
                prop_assert!(p.consumed <= c.len());
                prop_assert!(sink.events.len() <= c.len() / 8 + 1);
            }
        }
    }
}

/// The counting path (`count`, which inlines its own copy of `summarise` and `decode`) and
/// the event path (`pdu`) must agree on every counted fact, for every function code (with
/// and without the exception bit), both directions, and data of many lengths and contents.
#[test]
fn counting_path_matches_events() {
    let mut frames = Vec::new();
    for raw in 0..=255u8 {
        for len in 0..=24usize {
            for fill in [0x00u8, 0x01, 0x04, 0x0e, 0xff] {
                let mut data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                if let Some(b) = data.first_mut() {
                    // A plausible byte count or MEI type first, now and then.
                    *b = if fill == 0x0e {
                        14
                    } else {
                        (len as u8).saturating_sub(1)
                    };
                }
                let mbap_len = (2 + len) as u16;
                let mut f = vec![0x12, 0x34, 0, 0];
                f.extend_from_slice(&mbap_len.to_be_bytes());
                f.push(1);
                f.push(raw);
                f.extend_from_slice(&data);
                frames.push(f);
            }
        }
    }
    for dir in [Direction::ToServer, Direction::ToClient] {
        let mut with_events = ModbusDissector::new(false);
        let mut counting = ModbusDissector::new(false);
        let mut e = VecSink::default();
        let mut c = VecSink::counting();
        for f in &frames {
            with_events.parse(f, dir, &mut e);
            counting.parse(f, dir, &mut c);
        }
        assert_eq!(e.events.len(), frames.len());
        assert_eq!(c.counted_full, as_counts(&e.events), "{dir:?}");
        assert_eq!(c.facts, e.facts, "{dir:?}");
    }
}
