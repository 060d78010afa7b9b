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

/// One tag header (20.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    number: u8,
    context: bool,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Primitive data of this many octets (application BOOLEAN: 0, its value in the LVT).
    Data(usize),
    Opening,
    Closing,
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

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.i.checked_add(n).ok_or(Bad)?;
        let s = self.b.get(self.i..end).ok_or(Bad)?;
        self.i = end;
        Ok(s)
    }

    fn peek_tag(&self) -> R<Tag> {
        Cur {
            b: self.b,
            i: self.i,
        }
        .tag()
    }

    fn tag(&mut self) -> R<Tag> {
        let t = self.byte()?;
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
                Kind::Data(n as usize)
            }
            // Application BOOLEAN carries its value in the LVT and has no content octets.
            _ if !context && number == 1 => Kind::Data(0),
            6 | 7 => return Err(Bad),
            n => Kind::Data(usize::from(n)),
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
        Ok(d.iter().fold(0, |v, &b| (v << 8) | u32::from(b)))
    }

    /// The next tag must be `context`/`number` with primitive data: its unsigned value.
    fn expect_unsigned(&mut self, context: bool, number: u8) -> R<u32> {
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

    /// Skips one element: a primitive value, or a constructed one up to its matching
    /// closing tag.
    fn skip_element(&mut self) -> R<()> {
        let t = self.tag()?;
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
    /// is an unsigned or a character string.
    fn value_until_closing(&mut self, number: u8) -> R<Value<'a>> {
        let mut first = None;
        loop {
            let t = self.peek_tag()?;
            if t.context && t.kind == Kind::Closing && t.number == number {
                self.tag()?;
                return Ok(first.unwrap_or(Value::Other));
            }
            if first.is_none() && !t.context {
                let at = self.i;
                let t = self.tag()?;
                first = Some(match (t.number, t.kind) {
                    (2, Kind::Data(_)) => Value::Unsigned(self.unsigned(t)?),
                    (7, Kind::Data(_)) => {
                        let d = self.data(t)?;
                        let (&charset, bytes) = d.split_first().ok_or(Bad)?;
                        Value::Text(CharString { charset, bytes })
                    }
                    _ => {
                        self.i = at;
                        self.skip_element()?;
                        Value::Other
                    }
                });
            } else {
                first.get_or_insert(Value::Other);
                self.skip_element()?;
            }
        }
    }
}

/// Records a Device object property value (first one wins).
fn record<'a>(info: &mut Info<'a>, object: ObjectId, property: u32, v: Value<'a>) {
    if object.object_type != OBJECT_DEVICE {
        return;
    }
    if let Some(k) = IDENTITY_PROPERTIES.iter().position(|&p| p == property) {
        info.device[k].get_or_insert(v);
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
    let t = c.peek_tag()?;
    if t.context && t.number == 2 && matches!(t.kind, Kind::Data(_)) {
        c.expect_unsigned(true, 2)?;
    }
    c.expect(Kind::Opening, 3)?;
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
