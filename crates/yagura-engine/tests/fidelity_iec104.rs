//! IEC 60870-5-104 against tshark on every corpus capture that has it (see
//! tests/fidelity/mod.rs for the method and docs/fidelity.md for the figures).

mod fidelity;

use std::collections::BTreeMap;

use fidelity::*;

/// tshark's fields, in this order.
const FIELDS: &[&str] = &[
    "iec60870_104.type",
    "iec60870_104.utype",
    "iec60870_104.tx",
    "iec60870_104.rx",
    "iec60870_asdu.typeid",
    "iec60870_asdu.sq",
    "iec60870_asdu.numix",
    "iec60870_asdu.causetx",
    "iec60870_asdu.nega",
    "iec60870_asdu.test",
    "iec60870_asdu.oa",
    "iec60870_asdu.addr",
    "iec60870_asdu.ioa",
];

/// `true`/`false`/`1`/`0` as 0 or 1.
fn flag(s: &str) -> u8 {
    u8::from(matches!(s, "1" | "true" | "True"))
}

/// Yagura's key of one APDU: the APCI format; U: the function; S: the receive sequence;
/// I: send/receive sequence, type id, SQ, number of objects, cause, P/N and test bits,
/// originator, common address and first IOA.
fn our_key(e: &Event) -> String {
    match field(e, "apci_type").as_str() {
        "u" => format!(
            "u f={}",
            field(e, "function").parse::<u64>().unwrap_or(0) >> 2
        ),
        "s" => format!("s rx={}", field(e, "rx_seq")),
        t => format!(
            "{t} tx={} rx={} type={} sq={} n={} cot={} neg={} test={} oa={} ca={} ioa={}",
            field(e, "tx_seq"),
            field(e, "rx_seq"),
            field(e, "type_id"),
            flag(&field(e, "sq")),
            field(e, "num_objects"),
            field(e, "cot"),
            flag(&field(e, "negative")),
            flag(&field(e, "test")),
            field(e, "originator"),
            field(e, "common_address"),
            field(e, "ioa"),
        ),
    }
}

/// Per APDU: see [`our_key`].
#[test]
fn iec104_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let mut agreement = Agreement::new("iec104");
    let mut malformed = Vec::new();
    for cap in captures_with("iec60870_104") {
        let events = yagura_events(&cap);
        // The corpus' IEC 104 captures are well-formed: every ASDU's length matches its
        // type's element size and object count.
        malformed.extend(
            events
                .iter()
                .filter(|e| field(e, "protocol") == "iec104" && field(e, "status") == "malformed")
                .map(|e| format!("{} {}", cap.display(), field(e, "packet"))),
        );
        let ours = keys_by_frame(&events, "iec104", our_key);
        let mut theirs: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for row in tshark(&cap, "iec60870_104", FIELDS, &[]) {
            // tshark: one 104apci.type per APDU (0 = I, 1 = S, 3 = U), a utype per U
            // frame, tx per I frame, rx per I and S frame, the ASDU fields per I frame, and
            // one IOA per object (one per ASDU when SQ is set).
            let mut it: Vec<std::slice::Iter<String>> =
                (0..FIELDS.len()).map(|i| row.get(i).iter()).collect();
            let mut next = |i: usize| it[i].next().map_or("", String::as_str).to_string();
            let types: Vec<String> = row.get(0).to_vec();
            let mut keys = Vec::new();
            for t in types {
                keys.push(match num(&t) {
                    Some(0) => {
                        let (tx, rx, ty, sq, n) = (next(2), next(3), next(4), next(5), next(6));
                        let (cot, neg, test, oa, ca) = (next(7), next(8), next(9), next(10), next(11));
                        let nioa = if flag(&sq) == 1 { 1 } else { n.parse().unwrap_or(0) };
                        let ioas: Vec<String> = (0..nioa).map(|_| next(12)).collect();
                        format!(
                            "i tx={tx} rx={rx} type={ty} sq={} n={n} cot={cot} neg={} test={} oa={oa} ca={ca} ioa={}",
                            flag(&sq),
                            flag(&neg),
                            flag(&test),
                            ioas.first().map_or("", String::as_str)
                        )
                    }
                    Some(1) => format!("s rx={}", next(3)),
                    _ => format!("u f={}", num(&next(1)).unwrap_or(0)),
                });
            }
            theirs.entry(row.frame).or_default().extend(keys);
        }
        agreement.compare(&cap, &ours, &theirs);
    }
    agreement.assert_at_least(0.999, 400);
    assert!(malformed.is_empty(), "malformed: {malformed:?}");
}

/// Snapshot of the events of the zeek-iec104 capture (reviewed against tshark).
#[test]
fn golden_iec104() {
    golden(
        &corpus().join("pcap/iec104/zeek-iec104__iec104.pcap"),
        &["iec104"],
        "iec104",
    );
}
