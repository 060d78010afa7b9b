//! IEC 60870-5-104 against tshark on every corpus capture that has it (see
//! tests/fidelity/mod.rs for the method and docs/fidelity.md for the figures).

mod fidelity;

use std::collections::BTreeMap;

use fidelity::*;

/// Per APDU: the APCI frame type and, for I frames, the ASDU type id.
#[test]
fn iec104_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let mut agreement = Agreement::new("iec104");
    for cap in captures_with("iec60870_104") {
        let ours = keys_by_frame(&yagura_events(&cap), "iec104", |e| {
            format!("{} type={}", field(e, "apci_type"), field(e, "type_id"))
        });
        let mut theirs: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for row in tshark(
            &cap,
            "iec60870_104",
            &["iec60870_104.type", "iec60870_asdu.typeid"],
            &[],
        ) {
            // tshark: one 104apci.type per APDU (0 = I, 1 = S, 3 = U); typeid per I frame.
            let mut typeids = row.get(1).iter();
            let keys = row.get(0).iter().map(|t| match num(t) {
                Some(0) => format!("i type={}", typeids.next().map_or("", |s| s.as_str())),
                Some(1) => "s type=".to_string(),
                _ => "u type=".to_string(),
            });
            theirs.entry(row.frame).or_default().extend(keys);
        }
        agreement.compare(&cap, &ours, &theirs);
    }
    agreement.assert_at_least(0.999, 400);
}
