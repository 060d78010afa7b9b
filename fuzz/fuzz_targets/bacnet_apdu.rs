//! BACnet service parameters: the tag walker behind I-Am, ReadProperty/WriteProperty and the
//! Device object identity properties of ReadProperty(-Multiple) answers.
//! Input: APDU type (low 3 bits of byte 0), service choice (byte 1), then the service body
//! (the bytes after the service choice) → `yagura_dissect::bacnet::apdu::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_dissect::bacnet::apdu::{self, Value};

fuzz_target!(|data: &[u8]| {
    let [kind, service, body @ ..] = data else {
        return;
    };
    let info = apdu::decode(kind & 0x07, *service, body);
    if let Some(i) = info.i_am {
        assert!(i.device.instance < 1 << 22 && i.device.object_type < 1 << 10);
    }
    for v in info.device.iter().flatten() {
        if let Value::Text(c) = v {
            assert!(c.bytes.len() <= body.len());
            if let Some(t) = c.text() {
                assert!(t.chars().count() <= apdu::MAX_TEXT_CHARS);
            }
        }
    }
});
