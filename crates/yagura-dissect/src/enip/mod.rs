//! EtherNet/IP encapsulation (ODVA Vol. 2, 2-3 and 2-4): the 24-byte header over TCP and
//! UDP 44818, the command-specific data of ListIdentity (the CIP identity item),
//! ListServices and RegisterSession, and the common packet format (CPF) of SendRRData and
//! SendUnitData, whose CIP messages go to [`cip`] (and Execute PCCC to [`pccc`]).
//!
//! Events: one `enip` per encapsulation PDU, then one `cip` per CIP message it carries (and
//! per embedded message), and one `pccc` per PCCC command.

pub mod cip;
pub mod pccc;

use yagura_core::{Direction, FieldValue, OperationClass, PduStatus};

use crate::bytes::{be16, le16, le32, u8_at};
use crate::emit::{Fields, Summary, emit_to, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomaly, Dissector, Parsed, PduCount, PduSink, Probe, ProtocolId};

/// Encapsulation header field offsets (all little-endian).
mod field {
    pub const COMMAND: usize = 0;
    /// Bytes after the 24-byte header.
    pub const LENGTH: usize = 2;
    pub const SESSION: usize = 4;
    pub const STATUS: usize = 8;
    pub const CONTEXT: usize = 12;
    pub const OPTIONS: usize = 20;
    /// RegisterSession data: protocol version (1) and option flags (0).
    pub const REG_VERSION: usize = 24;
}

/// Encapsulation header length.
pub const HEADER_LEN: usize = 24;
/// The largest encapsulated data we frame. The length field allows 65511 (65535 − 24); no
/// command's data comes near it, but a bound this high keeps framing purely structural.
pub const MAX_DATA: u16 = 65511;

open_enum! {
    /// Encapsulation commands.
    pub struct Command(u16) {
        NOP = 0x0000 => "nop",
        LIST_SERVICES = 0x0004 => "list_services",
        LIST_IDENTITY = 0x0063 => "list_identity",
        LIST_INTERFACES = 0x0064 => "list_interfaces",
        REGISTER_SESSION = 0x0065 => "register_session",
        UNREGISTER_SESSION = 0x0066 => "unregister_session",
        SEND_RR_DATA = 0x006f => "send_rr_data",
        SEND_UNIT_DATA = 0x0070 => "send_unit_data",
        INDICATE_STATUS = 0x0072 => "indicate_status",
        CANCEL = 0x0073 => "cancel",
    }
}

/// A checked view of one encapsulation header (24 bytes present).
#[derive(Debug, Clone, Copy)]
pub struct EncapHeader<'a>(&'a [u8]);

impl<'a> EncapHeader<'a> {
    /// A view if `b` holds the 24-byte header.
    pub fn new_checked(b: &'a [u8]) -> Option<EncapHeader<'a>> {
        (b.len() >= HEADER_LEN).then_some(EncapHeader(b))
    }
    /// Command.
    pub fn command(&self) -> Command {
        Command(le16(self.0, field::COMMAND).unwrap_or(0))
    }
    /// Data length after the header.
    pub fn length(&self) -> u16 {
        le16(self.0, field::LENGTH).unwrap_or(0)
    }
    /// Session handle.
    pub fn session(&self) -> u32 {
        le32(self.0, field::SESSION).unwrap_or(0)
    }
    /// Status (0 = success).
    pub fn status(&self) -> u32 {
        le32(self.0, field::STATUS).unwrap_or(0)
    }
    /// Sender context (8 bytes, read little-endian).
    pub fn context(&self) -> u64 {
        self.0
            .get(field::CONTEXT..field::CONTEXT + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }
    /// Options (must be 0).
    pub fn options(&self) -> u32 {
        le32(self.0, field::OPTIONS).unwrap_or(0)
    }
}

/// Does `data` start with an encapsulation header with a known command and a sane length?
pub fn probe(data: &[u8]) -> Probe {
    if data.len() < 2 {
        return Probe::NeedMore;
    }
    if Command(le16(data, 0).unwrap_or(0xffff)).name().is_none() {
        return Probe::NoMatch;
    }
    let Some(h) = EncapHeader::new_checked(data) else {
        return Probe::NeedMore;
    };
    let c = h.command();
    // UDP uses only the list commands; NOP carries no status. Options are always zero.
    let len_ok = match c {
        Command::LIST_IDENTITY | Command::LIST_SERVICES | Command::LIST_INTERFACES => {
            h.length() <= 2048
        }
        Command::REGISTER_SESSION => h.length() == 4,
        Command::UNREGISTER_SESSION => h.length() == 0,
        _ => h.length() <= MAX_DATA,
    };
    yes(len_ok && h.options() == 0 && c != Command::NOP)
}

/// ENIP, port-independent: a ListIdentity/ListServices/ListInterfaces request (no data) or a
/// RegisterSession request (version 1, no flags), with zero session, status and options, and
/// nothing after it.
pub fn probe_strict(data: &[u8]) -> Probe {
    match probe(data) {
        Probe::Match => {}
        other => return other,
    }
    let h = EncapHeader(data);
    let zero = h.status() == 0 && h.session() == 0;
    let ok = match h.command() {
        Command::LIST_IDENTITY | Command::LIST_SERVICES | Command::LIST_INTERFACES => {
            h.length() == 0 && data.len() == HEADER_LEN
        }
        Command::REGISTER_SESSION => {
            data.len() == HEADER_LEN + 4
                && le16(data, field::REG_VERSION) == Some(1)
                && le16(data, field::REG_VERSION + 2) == Some(0)
        }
        _ => false,
    };
    yes(zero && ok)
}

fn yes(b: bool) -> Probe {
    if b { Probe::Match } else { Probe::NoMatch }
}

/// Operation class of a command. Session management is `other` (it authenticates nothing);
/// the CIP carried by SendRRData/SendUnitData gets its own classes from the CIP dissector.
pub fn operation(c: Command) -> OperationClass {
    match c {
        Command::LIST_IDENTITY | Command::LIST_SERVICES | Command::LIST_INTERFACES => {
            OperationClass::Identify
        }
        _ => OperationClass::Other,
    }
}

/// Common packet format item types (Vol. 2, 2-6).
pub mod item {
    #![allow(missing_docs)]
    pub const NULL_ADDRESS: u16 = 0x0000;
    pub const LIST_IDENTITY: u16 = 0x000c;
    pub const CONNECTED_ADDRESS: u16 = 0x00a1;
    pub const CONNECTED_DATA: u16 = 0x00b1;
    pub const UNCONNECTED_DATA: u16 = 0x00b2;
    pub const LIST_SERVICES: u16 = 0x0100;
    pub const SOCKADDR_OT: u16 = 0x8000;
    pub const SOCKADDR_TO: u16 = 0x8001;
    pub const SEQUENCED_ADDRESS: u16 = 0x8002;
}

/// Items read from one CPF (the ones Yagura uses; at most [`MAX_ITEMS`] are walked).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpf<'a> {
    /// Connection id of a connected or sequenced address item.
    pub connection_id: Option<u32>,
    /// The data item: type and bytes.
    pub data: Option<(u16, &'a [u8])>,
    /// The first ListIdentity or ListServices item.
    pub list: Option<(u16, &'a [u8])>,
    /// Items in the count.
    pub count: u16,
    /// The items overran the encapsulated data.
    pub truncated: bool,
}

/// CPF items walked per PDU.
pub const MAX_ITEMS: u16 = 16;

impl<'a> Cpf<'a> {
    /// Parse a CPF (item count, then type/length/data items).
    pub fn parse(b: &'a [u8]) -> Cpf<'a> {
        Cpf::address_and_data(b).unwrap_or_else(|| Cpf::walk(b))
    }

    /// [`Cpf::parse`] item by item, whatever the shape.
    fn walk(b: &'a [u8]) -> Cpf<'a> {
        let mut cpf = Cpf::default();
        let Some(count) = le16(b, 0) else {
            cpf.truncated = true;
            return cpf;
        };
        cpf.count = count;
        let mut at = 2;
        for _ in 0..count.min(MAX_ITEMS) {
            let (Some(t), Some(len)) = (le16(b, at), le16(b, at + 2)) else {
                cpf.truncated = true;
                break;
            };
            let Some(d) = b.get(at + 4..at + 4 + len as usize) else {
                cpf.truncated = true;
                break;
            };
            at += 4 + len as usize;
            match t {
                item::CONNECTED_ADDRESS | item::SEQUENCED_ADDRESS => {
                    cpf.connection_id = le32(d, 0);
                }
                item::CONNECTED_DATA | item::UNCONNECTED_DATA if cpf.data.is_none() => {
                    cpf.data = Some((t, d));
                }
                item::LIST_IDENTITY | item::LIST_SERVICES if cpf.list.is_none() => {
                    cpf.list = Some((t, d));
                }
                _ => {}
            }
        }
        cpf
    }

    /// The shape of nearly every SendRRData/SendUnitData CPF: two items, an address item
    /// (null, connected or sequenced) then a data item, read at their fixed offsets. `None`
    /// for any other shape, which [`Cpf::walk`] reads item by item; for this one the walk
    /// finds the same, at about half the cost (the walk checks every read against the end
    /// and branches on every item type).
    #[inline]
    fn address_and_data(b: &'a [u8]) -> Option<Cpf<'a>> {
        let &[c0, c1, t0, t1, l0, l1] = b.first_chunk::<6>()?;
        if u16::from_le_bytes([c0, c1]) != 2 {
            return None;
        }
        let addr_len = usize::from(u16::from_le_bytes([l0, l1]));
        let connection_id = match u16::from_le_bytes([t0, t1]) {
            item::NULL_ADDRESS => None,
            item::CONNECTED_ADDRESS | item::SEQUENCED_ADDRESS => le32(b.get(6..6 + addr_len)?, 0),
            _ => return None,
        };
        let at = 6 + addr_len;
        let t = le16(b, at)?;
        if !matches!(t, item::CONNECTED_DATA | item::UNCONNECTED_DATA) {
            return None;
        }
        let len = usize::from(le16(b, at + 2)?);
        let d = b.get(at + 4..at + 4 + len)?;
        Some(Cpf {
            connection_id,
            data: Some((t, d)),
            list: None,
            count: 2,
            truncated: false,
        })
    }
}

/// The ListIdentity item: encapsulation version, socket address, identity, state.
#[derive(Debug, Clone, Copy)]
pub struct IdentityItem<'a> {
    /// Encapsulation protocol version.
    pub version: u16,
    /// Socket address the device announces (IPv4, port).
    pub socket: ([u8; 4], u16),
    /// Identity attributes 1-7.
    pub identity: cip::Identity<'a>,
    /// Device state (attribute 8).
    pub state: Option<u8>,
}

impl<'a> IdentityItem<'a> {
    /// Parse the item's data.
    pub fn parse(d: &'a [u8]) -> Option<IdentityItem<'a>> {
        let identity = cip::Identity::parse(d.get(18..)?)?;
        let addr = d.get(6..10)?;
        Some(IdentityItem {
            version: le16(d, 0)?,
            socket: ([addr[0], addr[1], addr[2], addr[3]], be16(d, 4)?),
            identity,
            state: u8_at(d, 18 + identity.len),
        })
    }
}

/// Per-flow EtherNet/IP state.
#[derive(Debug, Clone)]
pub struct EnipDissector {
    stream: Stream,
    framing: EnipFraming,
}

/// Framing, the CIP request table (allocated at the first CIP request that needs it) and
/// the flow's place in the worker's memo of Multiple Service Packet requests' counts.
#[derive(Debug, Clone, Default)]
struct EnipFraming {
    pending: Option<Box<cip::Pending>>,
    count_hint: crate::memo::CountHint,
}

impl EnipDissector {
    /// A dissector for one flow; `udp` when each call is a whole datagram.
    pub fn new(udp: bool) -> EnipDissector {
        EnipDissector {
            stream: Stream::new(udp),
            framing: EnipFraming::default(),
        }
    }
}

impl Dissector for EnipDissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::ENIP
    }
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        self.stream.run(&mut self.framing, data, dir, sink)
    }
    fn on_gap(&mut self, dir: Direction, _len: u32) {
        self.stream.gap(dir);
    }
}

/// Offset of the CPF in SendRRData/SendUnitData data: interface handle (4), timeout (2).
const SEND_CPF: usize = HEADER_LEN + 6;

impl Framing for EnipFraming {
    const PROTOCOL: &'static str = "enip";

    fn probe(data: &[u8]) -> Probe {
        probe(data)
    }

    fn step(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step {
        // The command is the only structural check available before the length: ENIP has no
        // magic, so an unknown command means we are not at a header.
        if data.len() >= 2 && Command(le16(data, 0).unwrap_or(0)).name().is_none() {
            return Step::Bad(Anomaly::BadHeader);
        }
        let Some(h) = EncapHeader::new_checked(data) else {
            return Step::Need(HEADER_LEN - data.len());
        };
        let n = HEADER_LEN + h.length() as usize;
        if data.len() < n {
            return Step::Need(n - data.len());
        }
        let pdu = &data[..n];
        let c = h.command();
        let events = sink.wants_events();
        let send = matches!(c, Command::SEND_RR_DATA | Command::SEND_UNIT_DATA);
        if !events
            && send
            && let Some(cpf) = pdu.get(SEND_CPF..).and_then(Cpf::address_and_data)
        {
            // Counting the common PDU (SendRRData/SendUnitData with an address and a data
            // item) with only what its count needs: its class is `other` and its only
            // possible anomaly an unexpected status (its CPF is whole). Must count what
            // `full` would; it would spend a third more on the general CPF walk and the
            // event's bookkeeping.
            let response = dir == Direction::ToClient;
            let unexpected = h.options() != 0 || (h.status() != 0 && !response);
            crate::count(
                sink,
                PduCount {
                    protocol: "enip",
                    operation: operation(c),
                    response,
                    anomalies: u32::from(unexpected),
                },
                1,
            );
            self.send_data(EncapHeader(pdu), &cpf, sink, false);
        } else {
            self.full(EncapHeader(pdu), dir, sink, events);
        }
        Step::Used(n)
    }
}

impl EnipFraming {
    /// One whole PDU (`h` views exactly it), the general way: its event or count, then the
    /// CIP message it carries.
    fn full(&mut self, h: EncapHeader<'_>, dir: Direction, sink: &mut dyn PduSink, events: bool) {
        let pdu = h.0;
        let c = h.command();
        let response = dir == Direction::ToClient;
        let mut s = Summary::new("enip", response, pdu.len());
        s.function = Some(u32::from(c.0));
        s.function_name = c.name();
        s.operation = operation(c);
        if h.options() != 0 {
            s.anomalies.set(Anomaly::UnexpectedStatus);
        }
        if h.status() != 0 {
            if response {
                s.status = PduStatus::Exception;
            } else {
                s.anomalies.set(Anomaly::UnexpectedStatus);
            }
        }
        let send = matches!(c, Command::SEND_RR_DATA | Command::SEND_UNIT_DATA);
        let listing = matches!(
            c,
            Command::LIST_IDENTITY | Command::LIST_SERVICES | Command::LIST_INTERFACES
        );
        let cpf = if send {
            pdu.get(SEND_CPF..).map(Cpf::parse)
        } else if listing && h.length() > 0 {
            pdu.get(HEADER_LEN..).map(Cpf::parse)
        } else {
            None
        };
        if send && cpf.is_none_or(|c| c.truncated || c.data.is_none()) && h.status() == 0 {
            s.anomalies.set(Anomaly::Truncated);
        }
        if cpf.is_some_and(|c| c.truncated) {
            s.anomalies.set(Anomaly::Truncated);
        }
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
        }
        let cpf = cpf.unwrap_or_default();
        // A ListIdentity reply (it carries the identity item) identifies its sender.
        let identity = matches!(cpf.list, Some((item::LIST_IDENTITY, _)));
        let fill = |fields: &mut Fields| {
            fields.push(("command", u(c.0)));
            fields.push(("session", u(h.session())));
            if h.status() != 0 {
                fields.push(("enip_status", u(h.status())));
            }
            let ctx = h.context();
            if ctx != 0 {
                let hex = crate::text::hex(&ctx.to_le_bytes(), None, 8);
                fields.push(("sender_context", FieldValue::Str(hex)));
            }
            if let (true, Some(v), Some(o)) = (
                c == Command::REGISTER_SESSION,
                le16(pdu, field::REG_VERSION),
                le16(pdu, field::REG_VERSION + 2),
            ) {
                fields.push(("encap_version", u(v)));
                fields.push(("option_flags", u(o)));
            }
            if let Some(id) = cpf.connection_id {
                fields.push(("connection_id", u(id)));
            }
            list_fields(fields, &cpf);
        };
        if identity {
            cip::identity_emit(sink, events, &s, yagura_core::Subject::Sender, fill);
        } else {
            emit_to(sink, events, &s, fill);
        }
        if send {
            self.send_data(h, &cpf, sink, events);
        }
    }

    /// The CIP message of a SendRRData/SendUnitData PDU, if its CPF has a data item.
    #[inline(always)]
    fn send_data(
        &mut self,
        h: EncapHeader<'_>,
        cpf: &Cpf<'_>,
        sink: &mut dyn PduSink,
        events: bool,
    ) {
        let Some((t, d)) = cpf.data else {
            return;
        };
        let connected = t == item::CONNECTED_DATA;
        let (sequence, msg) = if connected {
            (le16(d, 0), d.get(2..).unwrap_or(&[]))
        } else {
            (None, d)
        };
        // Counting mode: most messages are counted alone, before their context is built.
        if !events && cip::count_alone(msg, &self.pending, sink) {
            return;
        }
        let ctx = cip::Ctx {
            key: if connected {
                cip::connected_key(sequence.unwrap_or(0))
            } else {
                h.context() & !(1 << 63)
            },
            connection_id: cpf.connection_id,
            sequence,
            member: 0,
            depth: 0,
        };
        if events {
            cip::message_to(msg, ctx, &mut self.pending, sink, true);
        } else {
            cip::count_message(msg, ctx, &mut self.count_hint, &mut self.pending, sink);
        }
    }
}

/// Identity (ListIdentity) or service (ListServices) facts of a list reply.
fn list_fields(f: &mut Fields, cpf: &Cpf<'_>) {
    match cpf.list {
        Some((item::LIST_IDENTITY, d)) => {
            if let Some(it) = IdentityItem::parse(d) {
                f.push(("encap_version", u(it.version)));
                let [a, b, c, e] = it.socket.0;
                f.push((
                    "socket_address",
                    FieldValue::Str(format!("{a}.{b}.{c}.{e}:{}", it.socket.1)),
                ));
                it.identity.fields(f);
                if let Some(st) = it.state {
                    f.push(("state", u(st)));
                }
            }
        }
        Some((item::LIST_SERVICES, d)) => {
            if let (Some(v), Some(flags)) = (le16(d, 0), le16(d, 2)) {
                f.push(("encap_version", u(v)));
                f.push(("capability_flags", u(flags)));
                let name = d.get(4..).unwrap_or(&[]);
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                f.push(("service_name", cip::text(&name[..end])));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
