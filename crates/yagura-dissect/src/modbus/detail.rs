//! Per-function decoding of the bytes after the function code (Modbus Application Protocol
//! v1.1b3, section 6): the ids events carry (address, quantity, byte count, sub-function, MEI
//! type, …) and the violations, in a `Copy` value built without allocating. The variable
//! parts (file record groups, device identification objects) are walked here only to check
//! their lengths; their contents are read again in `fill` when events are wanted.

use std::cmp::Ordering;

use super::wire::{self, COIL_OFF, COIL_ON, FILE_REFERENCE_TYPE, MEI_READ_DEVICE_ID, limit};
use crate::bytes::{be16, u8_at};
use crate::{Anomalies, Anomaly};

/// What one PDU's data says, function by function. `None` where the PDU does not carry it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Detail {
    /// Starting address (reference number) of a read or write; the write part of FC 23.
    pub address: Option<u16>,
    /// Coils or registers addressed (1 for the single writes FC 5, 6 and FC 22).
    pub quantity: Option<u16>,
    /// FC 23: the read part.
    pub read_address: Option<u16>,
    pub read_quantity: Option<u16>,
    /// The PDU's own byte count field.
    pub byte_count: Option<u16>,
    /// Values the PDU carries: registers (FC 3, 4, 16, 23, 24) or coils (FC 15).
    pub value_count: Option<u16>,
    /// The single value of FC 5, 6, FC 7's status byte, or FC 8's data word.
    pub value: Option<u16>,
    pub and_mask: Option<u16>,
    pub or_mask: Option<u16>,
    /// FC 8 sub-function.
    pub sub_function: Option<u16>,
    /// FC 43 MEI type.
    pub mei: Option<u8>,
    /// FC 20, 21: record groups (sub-requests).
    pub groups: Option<u16>,
    /// Exception responses: the exception code.
    pub exception_code: Option<u8>,
    pub anomalies: Anomalies,
}

impl Detail {
    #[inline]
    fn flag(&mut self, a: Anomaly) {
        self.anomalies.set(a);
    }

    /// The data must be exactly `n` bytes: shorter is `truncated`, longer `trailing_bytes`.
    #[inline]
    fn exact(&mut self, data: &[u8], n: usize) {
        match data.len().cmp(&n) {
            Ordering::Less => self.flag(Anomaly::Truncated),
            Ordering::Greater => self.flag(Anomaly::TrailingBytes),
            Ordering::Equal => {}
        }
    }

    /// At least `n` bytes, else `truncated`; says whether they are there.
    #[inline]
    fn at_least(&mut self, data: &[u8], n: usize) -> bool {
        let ok = data.len() >= n;
        if !ok {
            self.flag(Anomaly::Truncated);
        }
        ok
    }

    /// A quantity must be 1..=max (the server answers exception 3 otherwise).
    #[inline]
    fn quantity_within(&mut self, q: Option<u16>, max: u16) {
        if let Some(q) = q
            && (q == 0 || q > max)
        {
            self.flag(Anomaly::BadValue);
        }
    }

    /// The 1-byte count at `data[0]` must cover exactly the rest.
    #[inline]
    fn byte_count_covers_rest(&mut self, data: &[u8]) -> Option<u8> {
        let bc = u8_at(data, 0);
        match bc {
            Some(bc) => self.exact(data, 1 + usize::from(bc)),
            None => self.flag(Anomaly::Truncated),
        }
        self.byte_count = bc.map(u16::from);
        bc
    }
}

/// Decode one PDU's data (after the function code): an exception response's, a normal
/// response's or a request's. One value, filled in place by the function's decoder: built
/// by three decoders returning their own, it was copied whole from the one that ran (a
/// good part of a counted PDU's cost). Always inlined, with every decoder below that takes
/// the value: the counting path reads only a few of its fields, and the compiler drops the
/// stores of the others only while the value's address does not escape into a call.
#[inline(always)]
pub(crate) fn decode(fc: u8, exception: bool, response: bool, data: &[u8]) -> Detail {
    let mut d = Detail::default();
    if exception {
        self::exception(&mut d, data);
    } else if response {
        self::response(&mut d, fc, data);
    } else {
        request(&mut d, fc, data);
    }
    d
}

/// Decode a request's data.
#[inline(always)]
fn request(d: &mut Detail, fc: u8, data: &[u8]) {
    let w = |i: usize| be16(data, i);
    match fc {
        1..=4 => {
            d.exact(data, 4);
            d.address = w(0);
            d.quantity = w(2);
            let max = if fc <= 2 {
                limit::READ_BITS
            } else {
                limit::READ_REGISTERS
            };
            d.quantity_within(d.quantity, max);
        }
        5 | 6 => single_write(d, fc, data),
        7 | 11 | 12 | 17 => d.exact(data, 0),
        8 => diagnostics(d, data),
        15 | 16 => {
            // What is there is reported even when the PDU is cut short.
            d.address = w(0);
            d.quantity = w(2);
            let bc = u8_at(data, 4).map(u16::from);
            d.byte_count = bc;
            let q = d.quantity.unwrap_or(0);
            let want = if fc == 15 {
                d.quantity_within(d.quantity, limit::WRITE_BITS);
                d.value_count = d.quantity;
                q.div_ceil(8)
            } else {
                d.quantity_within(d.quantity, limit::WRITE_REGISTERS);
                d.value_count = bc.map(|b| b / 2);
                q.saturating_mul(2)
            };
            match bc {
                Some(bc) => {
                    d.exact(data, 5 + usize::from(bc));
                    if bc != want {
                        d.flag(Anomaly::BadLength);
                    }
                }
                None => d.flag(Anomaly::Truncated),
            }
        }
        20 => {
            if let Some(bc) = d.byte_count_covers_rest(data) {
                // Sub-requests of 7 bytes: reference type, file number, record number, length.
                if bc == 0 || bc % 7 != 0 {
                    d.flag(Anomaly::BadLength);
                }
                let groups = data.get(1..).unwrap_or_default().chunks_exact(7);
                d.groups = Some(groups.len() as u16);
                for g in groups {
                    if g[0] != FILE_REFERENCE_TYPE {
                        d.flag(Anomaly::BadValue);
                    }
                }
            }
        }
        21 => write_file_record(d, data),
        22 => mask_write(d, data),
        23 => {
            d.read_address = w(0);
            d.read_quantity = w(2);
            d.address = w(4);
            d.quantity = w(6);
            d.quantity_within(d.read_quantity, limit::READ_REGISTERS);
            d.quantity_within(d.quantity, limit::READ_WRITE_REGISTERS);
            let bc = u8_at(data, 8).map(u16::from);
            d.byte_count = bc;
            d.value_count = bc.map(|b| b / 2);
            match bc {
                Some(bc) => {
                    d.exact(data, 9 + usize::from(bc));
                    if bc != d.quantity.unwrap_or(0).saturating_mul(2) {
                        d.flag(Anomaly::BadLength);
                    }
                }
                None => d.flag(Anomaly::Truncated),
            }
        }
        24 => {
            d.exact(data, 2);
            d.address = w(0);
        }
        43 => {
            d.mei = u8_at(data, 0);
            if d.mei.is_none() {
                d.flag(Anomaly::Truncated);
            }
            if d.mei == Some(MEI_READ_DEVICE_ID) {
                // Read device ID code (1 basic, 2 regular, 3 extended, 4 one object), object id.
                d.exact(data, 3);
                if let Some(code) = u8_at(data, 1)
                    && !(1..=4).contains(&code)
                {
                    d.flag(Anomaly::BadValue);
                }
            }
        }
        _ => {}
    }
}

/// Decode a normal (non-exception) response's data.
#[inline(always)]
fn response(d: &mut Detail, fc: u8, data: &[u8]) {
    let w = |i: usize| be16(data, i);
    match fc {
        1 | 2 => {
            d.byte_count_covers_rest(data);
        }
        3 | 4 | 23 => {
            if let Some(bc) = d.byte_count_covers_rest(data) {
                d.value_count = Some(u16::from(bc / 2));
                if bc % 2 != 0 {
                    d.flag(Anomaly::BadLength);
                }
            }
        }
        5 | 6 => single_write(d, fc, data),
        7 => {
            d.exact(data, 1);
            d.value = u8_at(data, 0).map(u16::from);
        }
        8 => diagnostics(d, data),
        11 => d.exact(data, 4),
        12 => {
            // Status, event count, message count (6 bytes), then up to 64 events.
            if let Some(bc) = d.byte_count_covers_rest(data)
                && bc < 6
            {
                d.flag(Anomaly::BadLength);
            }
        }
        15 | 16 => {
            d.exact(data, 4);
            d.address = w(0);
            d.quantity = w(2);
            let max = if fc == 15 {
                limit::WRITE_BITS
            } else {
                limit::WRITE_REGISTERS
            };
            d.quantity_within(d.quantity, max);
        }
        17 => {
            d.byte_count_covers_rest(data);
        }
        20 => read_file_record_response(d, data),
        21 => write_file_record(d, data),
        22 => mask_write(d, data),
        24 => fifo_response(d, data),
        43 => {
            d.mei = u8_at(data, 0);
            if d.mei.is_none() {
                d.flag(Anomaly::Truncated);
            }
            if d.mei == Some(MEI_READ_DEVICE_ID) {
                match device_objects(data) {
                    Some([]) => {}
                    Some(_) => d.flag(Anomaly::TrailingBytes),
                    None => d.flag(Anomaly::Truncated),
                }
            }
        }
        _ => {}
    }
}

/// Decode an exception response's data: one exception code.
#[inline(always)]
fn exception(d: &mut Detail, data: &[u8]) {
    d.exact(data, 1);
    d.exception_code = u8_at(data, 0);
}

/// FC 20 response: sub-responses of a length (reference type + data), reference type 6 and
/// the registers.
#[inline(always)]
fn read_file_record_response(d: &mut Detail, data: &[u8]) {
    if d.byte_count_covers_rest(data).is_none() {
        return;
    }
    let mut rest = data.get(1..).unwrap_or_default();
    let mut groups = 0u16;
    while let Some(&len) = rest.first() {
        let Some(group) = rest.get(1..1 + usize::from(len)) else {
            d.flag(Anomaly::BadLength);
            break;
        };
        if len == 0 || len % 2 == 0 || group.first() != Some(&FILE_REFERENCE_TYPE) {
            d.flag(Anomaly::BadValue);
        }
        groups += 1;
        rest = &rest[1 + usize::from(len)..];
    }
    d.groups = Some(groups);
}

/// FC 24 response: 16-bit byte count, FIFO count, registers.
#[inline(always)]
fn fifo_response(d: &mut Detail, data: &[u8]) {
    if !d.at_least(data, 4) {
        return;
    }
    let bc = be16(data, 0).unwrap_or(0);
    let n = be16(data, 2).unwrap_or(0);
    d.byte_count = Some(bc);
    d.value_count = Some(n);
    d.exact(data, 2 + usize::from(bc));
    if u32::from(bc) != 2 + 2 * u32::from(n) {
        d.flag(Anomaly::BadLength);
    }
    if n > limit::FIFO {
        d.flag(Anomaly::BadValue);
    }
}

/// FC 5, 6 (request and echoed response): address, value.
#[inline(always)]
fn single_write(d: &mut Detail, fc: u8, data: &[u8]) {
    d.exact(data, 4);
    d.address = be16(data, 0);
    d.quantity = d.address.map(|_| 1);
    d.value = be16(data, 2);
    if fc == 5
        && let Some(v) = d.value
        && v != COIL_ON
        && v != COIL_OFF
    {
        d.flag(Anomaly::BadValue);
    }
}

/// FC 8: sub-function and, when it is one word, its data.
#[inline(always)]
fn diagnostics(d: &mut Detail, data: &[u8]) {
    if d.at_least(data, 2) {
        d.sub_function = be16(data, 0);
        if data.len() == 4 {
            d.value = be16(data, 2);
        }
    }
}

/// FC 22 (request and echoed response): address, AND mask, OR mask.
#[inline(always)]
fn mask_write(d: &mut Detail, data: &[u8]) {
    d.exact(data, 6);
    d.address = be16(data, 0);
    d.quantity = d.address.map(|_| 1);
    d.and_mask = be16(data, 2);
    d.or_mask = be16(data, 4);
}

/// FC 21 (request and echoed response): groups of reference type, file number, record
/// number, record length, then `length` registers.
#[inline(always)]
fn write_file_record(d: &mut Detail, data: &[u8]) {
    if d.byte_count_covers_rest(data).is_none() {
        return;
    }
    let mut groups = 0u16;
    for g in FileGroups(data.get(1..).unwrap_or_default()) {
        match g {
            Some(g) => {
                if g.reference_type != FILE_REFERENCE_TYPE {
                    d.flag(Anomaly::BadValue);
                }
                groups += 1;
            }
            None => {
                d.flag(Anomaly::BadLength);
                break;
            }
        }
    }
    if groups == 0 {
        d.flag(Anomaly::BadLength);
    }
    d.groups = Some(groups);
}

/// One FC 21 record group (or FC 20 sub-request, without data).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileGroup {
    pub reference_type: u8,
    pub file_number: u16,
    pub record_number: u16,
    pub record_length: u16,
}

/// FC 21 groups: `Some(group)` per whole group, one `None` where a group overruns the data.
pub(crate) struct FileGroups<'a>(pub &'a [u8]);

impl Iterator for FileGroups<'_> {
    type Item = Option<FileGroup>;
    fn next(&mut self) -> Option<Option<FileGroup>> {
        if self.0.is_empty() {
            return None;
        }
        let b = self.0;
        let parsed = (|| {
            let g = FileGroup {
                reference_type: u8_at(b, 0)?,
                file_number: be16(b, 1)?,
                record_number: be16(b, 3)?,
                record_length: be16(b, 5)?,
            };
            let end = 7 + 2 * usize::from(g.record_length);
            (b.len() >= end).then_some((g, end))
        })();
        match parsed {
            Some((g, end)) => {
                self.0 = &b[end..];
                Some(Some(g))
            }
            None => {
                self.0 = &[];
                Some(None)
            }
        }
    }
}

/// FC 20 request sub-requests (7 bytes each, no data).
pub(crate) fn read_file_groups(data: &[u8]) -> impl Iterator<Item = FileGroup> + '_ {
    data.get(1..)
        .unwrap_or_default()
        .chunks_exact(7)
        .map(|g| FileGroup {
            reference_type: g[0],
            file_number: u16::from_be_bytes([g[1], g[2]]),
            record_number: u16::from_be_bytes([g[3], g[4]]),
            record_length: u16::from_be_bytes([g[5], g[6]]),
        })
}

/// FC 43/14 response header (after the MEI type).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceIdHeader {
    pub read_device_id: u8,
    pub conformity_level: u8,
    pub more_follows: u8,
    pub next_object_id: u8,
    pub number_of_objects: u8,
}

/// The header of an FC 43/14 response's data (MEI type first).
pub(crate) fn device_id_header(data: &[u8]) -> Option<DeviceIdHeader> {
    Some(DeviceIdHeader {
        read_device_id: u8_at(data, 1)?,
        conformity_level: u8_at(data, 2)?,
        more_follows: u8_at(data, 3)?,
        next_object_id: u8_at(data, 4)?,
        number_of_objects: u8_at(data, 5)?,
    })
}

/// Walk an FC 43/14 response's objects (id, length, value); the bytes after the last one,
/// or `None` when the header or an object is cut short.
pub(crate) fn device_objects(data: &[u8]) -> Option<&[u8]> {
    let h = device_id_header(data)?;
    let mut rest = data.get(6..)?;
    for _ in 0..h.number_of_objects {
        let (_, _, r) = device_object(rest)?;
        rest = r;
    }
    Some(rest)
}

/// One object at the front of `b`: (id, value, rest).
pub(crate) fn device_object(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let id = u8_at(b, 0)?;
    let len = usize::from(u8_at(b, 1)?);
    let value = b.get(2..2 + len)?;
    Some((id, value, &b[2 + len..]))
}

/// Function name for events: FC 43's MEI types have their own.
pub(crate) fn function_name(fc: u8, mei: Option<u8>) -> Option<&'static str> {
    match (fc, mei) {
        (43, Some(MEI_READ_DEVICE_ID)) => Some("read_device_identification"),
        (43, Some(wire::MEI_CANOPEN)) => Some("canopen_general_reference"),
        _ => wire::FunctionCode(fc).name(),
    }
}
