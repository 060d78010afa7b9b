//! System status lists (SZL) in Read SZL responses: module identification (SZL-ID xy11),
//! component identification (xy1C) and the CPU mode (xy24: 0424, 0124). Decoded only when events are
//! wanted.

use yagura_core::FieldValue;

use crate::bytes::be16;
use crate::emit::{Fields, u};

/// SZL partial list header: id, index, record length, record count.
const HEADER_LEN: usize = 8;

/// The records of a partial list (`payload` starts with the SZL id), at most as many as
/// both the count and the bytes allow.
fn records(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let len = be16(payload, 4).unwrap_or(0) as usize;
    let count = be16(payload, 6).unwrap_or(0) as usize;
    let body = payload.get(HEADER_LEN..).unwrap_or(&[]);
    let n = body.len().checked_div(len).map_or(0, |fit| count.min(fit));
    body.chunks_exact(len.max(1)).take(n)
}

/// Text of a fixed-width SZL string: up to the first NUL, without surrounding blanks;
/// `None` when empty.
fn text(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]);
    let t = s.trim_matches(|c: char| c == ' ' || c.is_control());
    (!t.is_empty()).then(|| t.to_string())
}

/// CPU mode name of a mode code (low nibble of `bzu-id` in SZL 0424).
pub fn cpu_mode_name(code: u8) -> &'static str {
    match code {
        1..=4 => "stop",
        5..=7 => "startup",
        8 => "run",
        0xa => "hold",
        0xd => "defect",
        _ => "unknown",
    }
}

/// Add the identity facts or CPU mode of a Read SZL response to `fields`. `payload` is the
/// data after the 4-byte data header (return code, transport size, length).
pub fn fill(payload: &[u8], fields: &mut Fields) {
    let Some(id) = be16(payload, 0) else {
        return;
    };
    match id & 0xff {
        0x11 => module_identification(payload, fields),
        0x1c => component_identification(payload, fields),
        // xy24 (0x0124 last, 0x0424 current mode transition): the requested mode of the
        // transition is the mode the CPU is in.
        0x24 => {
            if let Some(r) = records(payload).next()
                && let Some(&bzu) = r.get(3)
            {
                fields.push((
                    "cpu_mode",
                    FieldValue::Str(cpu_mode_name(bzu & 0x0f).into()),
                ));
                fields.push(("cpu_mode_code", u(bzu & 0x0f)));
            }
        }
        _ => {}
    }
}

/// SZL xy11: records of index, 20-character order number (MLFB), module type, and two
/// version words. Index 1 is the module, 6 its basic hardware, 7 its basic firmware (whose
/// order number is blank and whose version words read `'V' major minor patch`).
fn module_identification(payload: &[u8], fields: &mut Fields) {
    let (mut order, mut hw, mut hw_basic, mut fw) = (None, None, None, None);
    for r in records(payload) {
        let (Some(index), Some(ausbg), Some(ausbe)) = (be16(r, 0), be16(r, 24), be16(r, 26)) else {
            continue;
        };
        match index {
            1 => {
                order = r.get(2..22).and_then(text);
                hw = Some(ausbg);
            }
            6 => {
                hw_basic = Some(ausbg);
                if order.is_none() {
                    order = r.get(2..22).and_then(text);
                }
            }
            7 if ausbg >> 8 == u16::from(b'V') => {
                fw = Some(format!("V{}.{}.{}", ausbg & 0xff, ausbe >> 8, ausbe & 0xff));
            }
            _ => {}
        }
    }
    if let Some(o) = order {
        fields.push(("order_number", FieldValue::Str(o)));
    }
    if let Some(h) = hw_basic.or(hw) {
        fields.push(("hardware_version", FieldValue::Str(h.to_string())));
    }
    if let Some(f) = fw {
        fields.push(("firmware_version", FieldValue::Str(f)));
    }
}

/// SZL xy1C: records of index and 32 bytes. Index 1 is the PLC (automation system) name,
/// 2 the module name, 3 the plant identification, 5 the serial number, 7 the module type
/// name.
fn component_identification(payload: &[u8], fields: &mut Fields) {
    let mut found: [Option<String>; 5] = Default::default();
    for r in records(payload) {
        let slot = match be16(r, 0) {
            Some(1) => 0,
            Some(2) => 1,
            Some(3) => 2,
            Some(5) => 3,
            Some(7) => 4,
            _ => continue,
        };
        found[slot] = r.get(2..34.min(r.len())).and_then(text);
    }
    let names = [
        "station_name",
        "module_name",
        "plant_id",
        "serial_number",
        "product_name",
    ];
    for (name, v) in names.into_iter().zip(found) {
        if let Some(v) = v {
            fields.push((name, FieldValue::Str(v)));
        }
    }
}
