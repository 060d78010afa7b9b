//! The service parameters of the APDUs that identify a device (ASHRAE 135 clause 20.2 tag
//! encoding): I-Am; ReadProperty and WriteProperty requests (object and property); and
//! ReadProperty / ReadPropertyMultiple acknowledgements of a Device object's identity
//! properties (vendor, model, firmware, names, serial number).
//!
//! Pure and borrowing: [`decode`] walks the tags of one service body without allocating;
//! strings are decoded only when an event or a fact needs them ([`CharString::text`]).
//! Every loop consumes input, so the work is bounded by the body's length; a body whose
//! tags do not parse gives what was read before the fault plus [`Info::bad_encoding`].

/// BACnet object type of the Device object.
pub const OBJECT_DEVICE: u16 = 8;

/// The Device object properties reported as identity, in the order they are reported.
pub const IDENTITY_PROPERTIES: [u32; 9] = [
    VENDOR_IDENTIFIER,
    VENDOR_NAME,
    MODEL_NAME,
    FIRMWARE_REVISION,
    APPLICATION_SOFTWARE_VERSION,
    OBJECT_NAME,
    LOCATION,
    DESCRIPTION,
    SERIAL_NUMBER,
];

/// Property `application-software-version` (clause 21, BACnetPropertyIdentifier).
pub const APPLICATION_SOFTWARE_VERSION: u32 = 12;
/// Property `description`.
pub const DESCRIPTION: u32 = 28;
/// Property `firmware-revision`.
pub const FIRMWARE_REVISION: u32 = 44;
/// Property `location`.
pub const LOCATION: u32 = 58;
/// Property `model-name`.
pub const MODEL_NAME: u32 = 70;
/// Property `object-name`.
pub const OBJECT_NAME: u32 = 77;
/// Property `vendor-identifier`.
pub const VENDOR_IDENTIFIER: u32 = 120;
/// Property `vendor-name`.
pub const VENDOR_NAME: u32 = 121;
/// Property `serial-number` (added in protocol revision 15).
pub const SERIAL_NUMBER: u32 = 372;

/// Longest string kept from a property value, in characters (names and versions are short;
/// a description can be long, and nothing downstream needs more).
pub const MAX_TEXT_CHARS: usize = 256;

/// A BACnetObjectIdentifier: 10-bit type, 22-bit instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectId {
    /// Object type (8 device, 0 analog-input, …).
    pub object_type: u16,
    /// Instance number (4194303 is the wildcard "this device").
    pub instance: u32,
}

impl ObjectId {
    fn from_u32(v: u32) -> ObjectId {
        ObjectId {
            object_type: (v >> 22) as u16,
            instance: v & 0x3f_ffff,
        }
    }
}

/// The parameters of an I-Am (clause 16.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IAm {
    /// The device's Device object.
    pub device: ObjectId,
    /// Largest APDU it accepts, in octets.
    pub max_apdu: u32,
    /// 0 both, 1 transmit, 2 receive, 3 none (BACnetSegmentation).
    pub segmentation: u32,
    /// ASHRAE vendor identifier.
    pub vendor_id: u32,
}

/// A CharacterString as encoded: character set and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharString<'a> {
    /// 0 UTF-8, 1 IBM/Microsoft DBCS, 2 JIS X 0208, 3 UCS-4, 4 UCS-2, 5 ISO 8859-1.
    pub charset: u8,
    /// The encoded characters.
    pub bytes: &'a [u8],
}

impl CharString<'_> {
    /// The text, trimmed and cut to [`MAX_TEXT_CHARS`], for the character sets that can be
    /// decoded without tables: UTF-8 (invalid sequences replaced), UCS-2 and UCS-4 (big
    /// endian), ISO 8859-1. `None` for the double-byte sets (1, 2) and unknown ones.
    pub fn text(&self) -> Option<String> {
        let chars: Box<dyn Iterator<Item = char>> = match self.charset {
            0 => {
                let s = String::from_utf8_lossy(self.bytes);
                return Some(cut(s.chars()));
            }
            3 => Box::new(self.bytes.chunks_exact(4).map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })),
            4 => Box::new(
                char::decode_utf16(
                    self.bytes
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]])),
                )
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
            ),
            5 => Box::new(self.bytes.iter().map(|&b| char::from(b))),
            _ => return None,
        };
        Some(cut(chars))
    }
}

fn cut(chars: impl Iterator<Item = char>) -> String {
    let s: String = chars
        .take(MAX_TEXT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.trim().to_owned()
}

/// A property value, as far as identity needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// An Unsigned.
    Unsigned(u32),
    /// A CharacterString.
    Text(CharString<'a>),
    /// Another type, or a constructed value.
    Other,
}

/// What [`decode`] found in one service body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Info<'a> {
    /// An I-Am's parameters.
    pub i_am: Option<IAm>,
    /// The (first) object a ReadProperty, WriteProperty or ReadPropertyMultiple names.
    pub object: Option<ObjectId>,
    /// The property of a ReadProperty or WriteProperty.
    pub property: Option<u32>,
    /// Values of the Device object's [`IDENTITY_PROPERTIES`], by index in that list (the
    /// first value of each when an answer repeats one).
    pub device: [Option<Value<'a>>; IDENTITY_PROPERTIES.len()],
    /// Some value of `device` was found (asked per message, where most have none).
    pub any_device: bool,
    /// The tags did not parse (or the fixed parameters were missing).
    pub bad_encoding: bool,
}

/// APDU types and service choices [`decode`] understands.
const CONFIRMED_REQUEST: u8 = 0;
const UNCONFIRMED_REQUEST: u8 = 1;
const COMPLEX_ACK: u8 = 3;
const I_AM: u8 = 0;
const READ_PROPERTY: u8 = 12;
const READ_PROPERTY_MULTIPLE: u8 = 14;
const WRITE_PROPERTY: u8 = 15;

/// Decode the body (the bytes after the service choice) of an unsegmented APDU of type
/// `apdu_type` and service `service`. Other services give an empty [`Info`].
pub fn decode(apdu_type: u8, service: u8, body: &[u8]) -> Info<'_> {
    let mut info = Info::default();
    decode_into(apdu_type, service, body, &mut info);
    info
}

/// [`decode`] into `info` (fresh, [`Info::default`]), without moving the result.
pub fn decode_into<'a>(apdu_type: u8, service: u8, body: &'a [u8], info: &mut Info<'a>) {
    let r = match (apdu_type, service) {
        (UNCONFIRMED_REQUEST, I_AM) => i_am(body, info),
        (CONFIRMED_REQUEST, READ_PROPERTY | WRITE_PROPERTY) => object_property(body, info),
        (COMPLEX_ACK, READ_PROPERTY) => read_property_ack(body, info),
        (COMPLEX_ACK, READ_PROPERTY_MULTIPLE) => read_property_multiple_ack(body, info),
        _ => Ok(()),
    };
    info.bad_encoding = r.is_err();
}

/// A tag-encoding fault.
#[derive(Debug)]
struct Bad;

type R<T> = Result<T, Bad>;

/// One tag header (20.2.1). Small enough (with its `Result`) to travel in registers: a
/// ReadProperty answer reads some eight tags, each once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    number: u8,
    context: bool,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Primitive data of this many octets (application BOOLEAN: 0, its value in the LVT).
    Data(u32),
    Opening,
    Closing,
}

impl Tag {
    /// Context closing tag `number`?
    fn closes(self, number: u8) -> bool {
        self.context && self.number == number && self.kind == Kind::Closing
    }
}

/// A cursor over a service body.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    fn byte(&mut self) -> R<u8> {
        let v = *self.b.get(self.i).ok_or(Bad)?;
        self.i += 1;
        Ok(v)
    }

    fn take(&mut self, n: u32) -> R<&'a [u8]> {
        let end = self.i.checked_add(n as usize).ok_or(Bad)?;
        let s = self.b.get(self.i..end).ok_or(Bad)?;
        self.i = end;
        Ok(s)
    }

    #[inline]
    fn tag(&mut self) -> R<Tag> {
        let t = self.byte()?;
        let context = t & 0x08 != 0;
        let number = t >> 4;
        let lvt = t & 0x07;
        // The common one-octet header: tag number below 15 and a length below 5, or a
        // context opening/closing tag. The rest (extended numbers and lengths, application
        // BOOLEAN, invalid LVTs) takes the general path, which also handles these.
        if number != 15 && (lvt < 5 || context && lvt >= 6) && (context || number != 1) {
            let kind = match lvt {
                6 => Kind::Opening,
                7 => Kind::Closing,
                n => Kind::Data(u32::from(n)),
            };
            return Ok(Tag {
                number,
                context,
                kind,
            });
        }
        self.tag_rest(t)
    }

    /// [`Cur::tag`] after its first octet `t`, in general.
    #[inline(never)]
    fn tag_rest(&mut self, t: u8) -> R<Tag> {
        let context = t & 0x08 != 0;
        let mut number = t >> 4;
        if number == 15 {
            number = self.byte()?;
        }
        let lvt = t & 0x07;
        let kind = match lvt {
            6 if context => Kind::Opening,
            7 if context => Kind::Closing,
            5 => {
                let n = match self.byte()? {
                    254 => u32::from(u16::from_be_bytes([self.byte()?, self.byte()?])),
                    255 => {
                        u32::from_be_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?])
                    }
                    n => u32::from(n),
                };
                Kind::Data(n)
            }
            // Application BOOLEAN carries its value in the LVT and has no content octets.
            _ if !context && number == 1 => Kind::Data(0),
            6 | 7 => return Err(Bad),
            n => Kind::Data(u32::from(n)),
        };
        Ok(Tag {
            number,
            context,
            kind,
        })
    }

    /// Content of a primitive tag.
    fn data(&mut self, t: Tag) -> R<&'a [u8]> {
        match t.kind {
            Kind::Data(n) => self.take(n),
            _ => Err(Bad),
        }
    }

    /// An unsigned value of 1 to 4 octets under tag `t`.
    fn unsigned(&mut self, t: Tag) -> R<u32> {
        let d = self.data(t)?;
        if d.is_empty() || d.len() > 4 {
            return Err(Bad);
        }
        Ok(be_uint(d))
    }

    /// The next tag must be `context`/`number` with primitive data: its unsigned value.
    #[inline]
    fn expect_unsigned(&mut self, context: bool, number: u8) -> R<u32> {
        // The usual encoding, read directly: a one-octet header naming exactly this tag with
        // 1 to 4 content octets (not an application BOOLEAN, whose LVT is its value).
        // Anything else takes the general reader, which agrees on this case (tested).
        if number < 15 && (context || number != 1) {
            let header = (number << 4) | (u8::from(context) << 3);
            if let Some(&h) = self.b.get(self.i)
                && h & 0xf8 == header
                && (1..=4).contains(&(h & 0x07))
                && let Some(d) = self.b.get(self.i + 1..self.i + 1 + usize::from(h & 0x07))
            {
                self.i += 1 + d.len();
                return Ok(be_uint(d));
            }
        }
        self.expect_unsigned_general(context, number)
    }

    /// [`Cur::expect_unsigned`] for any encoding.
    #[inline(never)]
    fn expect_unsigned_general(&mut self, context: bool, number: u8) -> R<u32> {
        let t = self.tag()?;
        if t.context != context || t.number != number {
            return Err(Bad);
        }
        self.unsigned(t)
    }

    /// The next tag must be context opening/closing tag `number`.
    fn expect(&mut self, kind: Kind, number: u8) -> R<()> {
        let t = self.tag()?;
        if t.context && t.number == number && t.kind == kind {
            Ok(())
        } else {
            Err(Bad)
        }
    }

    /// Skips the rest of an element whose tag `t` was just read: a primitive value's
    /// content, or a constructed value up to its matching closing tag.
    fn skip_element_after(&mut self, t: Tag) -> R<()> {
        match t.kind {
            Kind::Data(_) => self.data(t).map(|_| ()),
            Kind::Closing => Err(Bad),
            Kind::Opening => {
                let mut depth = 1usize;
                while depth > 0 {
                    let t = self.tag()?;
                    match t.kind {
                        Kind::Data(_) => {
                            self.data(t)?;
                        }
                        Kind::Opening => depth += 1,
                        Kind::Closing => depth -= 1,
                    }
                }
                Ok(())
            }
        }
    }

    /// The elements up to context closing tag `number` (consumed): the first, decoded if it
    /// is an unsigned or a character string. Each tag header is read once.
    fn value_until_closing(&mut self, number: u8) -> R<Value<'a>> {
        let mut first = None;
        loop {
            let t = self.tag()?;
            if t.closes(number) {
                return Ok(first.unwrap_or(Value::Other));
            }
            let v = match (first.is_none() && !t.context, t.number, t.kind) {
                (true, 2, Kind::Data(_)) => Value::Unsigned(self.unsigned(t)?),
                (true, 7, Kind::Data(_)) => {
                    let d = self.data(t)?;
                    let (&charset, bytes) = d.split_first().ok_or(Bad)?;
                    Value::Text(CharString { charset, bytes })
                }
                _ => {
                    self.skip_element_after(t)?;
                    Value::Other
                }
            };
            first.get_or_insert(v);
        }
    }
}

/// A big-endian unsigned of 1 to 4 octets (0 for others; callers check the length).
fn be_uint(d: &[u8]) -> u32 {
    match *d {
        [a] => u32::from(a),
        [a, b] => u32::from(u16::from_be_bytes([a, b])),
        [a, b, c] => u32::from_be_bytes([0, a, b, c]),
        [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Records a Device object property value (first one wins).
fn record<'a>(info: &mut Info<'a>, object: ObjectId, property: u32, v: Value<'a>) {
    if object.object_type != OBJECT_DEVICE {
        return;
    }
    if let Some(k) = IDENTITY_PROPERTIES.iter().position(|&p| p == property) {
        info.device[k].get_or_insert(v);
        info.any_device = true;
    }
}

/// I-Am: application-tagged object id, max APDU, segmentation, vendor id.
fn i_am(body: &[u8], info: &mut Info<'_>) -> R<()> {
    let mut c = Cur { b: body, i: 0 };
    let t = c.tag()?;
    if t.context || t.number != 12 {
        return Err(Bad);
    }
    let device = ObjectId::from_u32(c.unsigned(t)?);
    let max_apdu = c.expect_unsigned(false, 2)?;
    let segmentation = c.expect_unsigned(false, 9)?;
    let vendor_id = c.expect_unsigned(false, 2)?;
    info.i_am = Some(IAm {
        device,
        max_apdu,
        segmentation,
        vendor_id,
    });
    Ok(())
}

/// `[0] objectIdentifier, [1] propertyIdentifier` (ReadProperty, WriteProperty requests).
fn object_property(body: &[u8], info: &mut Info<'_>) -> R<()> {
    let mut c = Cur { b: body, i: 0 };
    info.object = Some(ObjectId::from_u32(c.expect_unsigned(true, 0)?));
    info.property = Some(c.expect_unsigned(true, 1)?);
    Ok(())
}

/// ReadProperty-ACK: `[0] object, [1] property, [2] array index?, [3] { value }`.
fn read_property_ack<'a>(body: &'a [u8], info: &mut Info<'a>) -> R<()> {
    let mut c = Cur { b: body, i: 0 };
    let object = ObjectId::from_u32(c.expect_unsigned(true, 0)?);
    info.object = Some(object);
    let property = c.expect_unsigned(true, 1)?;
    info.property = Some(property);
    let mut t = c.tag()?;
    if t.context && t.number == 2 && matches!(t.kind, Kind::Data(_)) {
        c.unsigned(t)?;
        t = c.tag()?;
    }
    if !(t.context && t.number == 3 && t.kind == Kind::Opening) {
        return Err(Bad);
    }
    let v = c.value_until_closing(3)?;
    record(info, object, property, v);
    Ok(())
}

/// ReadPropertyMultiple-ACK: a list of `[0] object, [1] { ([2] property, [3] index?,
/// ([4] { value } | [5] { error }))* }`.
fn read_property_multiple_ack<'a>(body: &'a [u8], info: &mut Info<'a>) -> R<()> {
    let mut c = Cur { b: body, i: 0 };
    while !c.at_end() {
        let object = ObjectId::from_u32(c.expect_unsigned(true, 0)?);
        info.object.get_or_insert(object);
        c.expect(Kind::Opening, 1)?;
        loop {
            let t = c.tag()?;
            match (t.context, t.number, t.kind) {
                (true, 1, Kind::Closing) => break,
                (true, 2, Kind::Data(_)) => {
                    let property = c.unsigned(t)?;
                    let mut t = c.tag()?;
                    if t.context && t.number == 3 && matches!(t.kind, Kind::Data(_)) {
                        c.unsigned(t)?;
                        t = c.tag()?;
                    }
                    match (t.context, t.number, t.kind) {
                        (true, 4, Kind::Opening) => {
                            let v = c.value_until_closing(4)?;
                            record(info, object, property, v);
                        }
                        (true, 5, Kind::Opening) => {
                            c.value_until_closing(5)?;
                        }
                        _ => return Err(Bad),
                    }
                }
                _ => return Err(Bad),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The one-octet fast path of [`Cur::tag`] agrees with the general reader for every
    /// first octet (whatever follows).
    #[test]
    fn tag_fast_path_agrees_with_the_general_reader() {
        for t in 0..=255u8 {
            for rest in [[0u8; 6], [0xff; 6], [254, 1, 2, 3, 4, 5]] {
                let mut b = vec![t];
                b.extend_from_slice(&rest);
                let mut fast = Cur { b: &b, i: 0 };
                let mut general = Cur { b: &b, i: 1 };
                assert_eq!(
                    fast.tag().ok(),
                    general.tag_rest(t).ok(),
                    "first octet {t:#04x}"
                );
                assert_eq!(fast.i, general.i, "first octet {t:#04x}");
            }
        }
    }

    /// The direct read of [`Cur::expect_unsigned`] agrees with the general reader.
    fn expect_agrees(b: &[u8], context: bool, number: u8) {
        let mut direct = Cur { b, i: 0 };
        let mut general = Cur { b, i: 0 };
        let x = direct.expect_unsigned(context, number).ok();
        let y = general
            .tag()
            .and_then(|t| {
                if t.context != context || t.number != number {
                    return Err(Bad);
                }
                general.unsigned(t)
            })
            .ok();
        assert_eq!(x, y, "{b:02x?} {context} {number}");
        if x.is_some() {
            assert_eq!(direct.i, general.i, "{b:02x?}");
        }
    }

    #[test]
    fn expect_unsigned_agrees_for_every_header() {
        for h in 0..=255u8 {
            for rest in [[0u8; 6], [0xff; 6], [3, 1, 2, 3, 4, 5], [1, 7, 0, 0, 0, 0]] {
                let mut b = vec![h];
                b.extend_from_slice(&rest);
                for n in 1..b.len() {
                    for (context, number) in [
                        (true, 0),
                        (true, 1),
                        (false, 1),
                        (false, 2),
                        (false, 9),
                        (false, 15),
                        (true, 15),
                    ] {
                        expect_agrees(&b[..n], context, number);
                    }
                }
            }
        }
    }

    /// The value reader as it was, peeking every tag and reading it again: the reference
    /// for [`Cur::value_until_closing`], which reads each header once.
    fn value_until_closing_peeking<'a>(c: &mut Cur<'a>, number: u8) -> R<Value<'a>> {
        let peek = |c: &Cur<'a>| Cur { b: c.b, i: c.i }.tag();
        let skip_element = |c: &mut Cur<'a>| {
            let t = c.tag()?;
            c.skip_element_after(t)
        };
        let mut first = None;
        loop {
            let t = peek(c)?;
            if t.context && t.kind == Kind::Closing && t.number == number {
                c.tag()?;
                return Ok(first.unwrap_or(Value::Other));
            }
            if first.is_none() && !t.context {
                let at = c.i;
                let t = c.tag()?;
                first = Some(match (t.number, t.kind) {
                    (2, Kind::Data(_)) => Value::Unsigned(c.unsigned(t)?),
                    (7, Kind::Data(_)) => {
                        let d = c.data(t)?;
                        let (&charset, bytes) = d.split_first().ok_or(Bad)?;
                        Value::Text(CharString { charset, bytes })
                    }
                    _ => {
                        c.i = at;
                        skip_element(c)?;
                        Value::Other
                    }
                });
            } else {
                first.get_or_insert(Value::Other);
                skip_element(c)?;
            }
        }
    }

    fn agree(b: &[u8], number: u8) {
        let mut once = Cur { b, i: 0 };
        let mut peeking = Cur { b, i: 0 };
        let (x, y) = (
            once.value_until_closing(number).ok(),
            value_until_closing_peeking(&mut peeking, number).ok(),
        );
        assert_eq!(x, y, "{b:02x?}");
        if x.is_some() {
            assert_eq!(once.i, peeking.i, "{b:02x?}");
        }
    }

    #[test]
    fn value_reader_agrees_on_real_values() {
        // An unsigned, a string, a constructed value, an empty value, a context tag first.
        for hex in [
            "2201f43f",
            "750600414243443f",
            "1e21012f3f",
            "3f",
            "0901213f",
            "2201f4750400413f",
        ] {
            agree(&crate::testutil::hex(hex), 3);
        }
    }

    proptest! {
        #[test]
        fn value_reader_agrees_with_the_peeking_one(
            number in 0u8..6,
            b in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(0x3f), Just(0x3e), Just(0x21), Just(0x75)],
                0..40,
            ),
        ) {
            agree(&b, number);
        }
    }
}
