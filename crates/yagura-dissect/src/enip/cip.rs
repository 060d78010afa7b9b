//! CIP explicit messages (ODVA Vol. 1, 2-4 and appendix C) carried by EtherNet/IP
//! SendRRData (unconnected) and SendUnitData (connected): the message router request and
//! response, EPATHs (class/instance/attribute, symbolic tags), general and extended status,
//! Multiple Service Packet and Unconnected Send with their embedded messages, Forward
//! Open/Close, Identity object responses, and Execute PCCC (handed to [`super::pccc`]).
//!
//! One `cip` event per message, one per embedded message. A response carries the path of its
//! request, found in a small per-flow table ([`Pending`]): connected messages by CIP
//! sequence count, unconnected ones by sender context in order.

use yagura_core::{FieldValue, OperationClass, PduStatus, Route, Subject, Via};

use super::pccc;
use crate::bytes::{le16, le32, u8_at};
use crate::emit::{Fields, Summary, emit_to, u};
use crate::memo::{COUNT_MAX_KEY, CountHint, CountMemo, Counts};
use crate::{Anomaly, PduCount, PduSink, ProtocolId};

/// Well-known object classes.
pub mod class {
    /// Identity object.
    pub const IDENTITY: u32 = 0x01;
    /// Message Router.
    pub const MESSAGE_ROUTER: u32 = 0x02;
    /// Connection Manager.
    pub const CONNECTION_MANAGER: u32 = 0x06;
    /// File object.
    pub const FILE: u32 = 0x37;
    /// PCCC object (Rockwell).
    pub const PCCC: u32 = 0x67;
    /// Symbol object (Logix).
    pub const SYMBOL: u32 = 0x6b;
    /// Template object (Logix).
    pub const TEMPLATE: u32 = 0x6c;
}

/// Common service codes (Vol. 1, appendix A).
pub mod svc {
    #![allow(missing_docs)]
    pub const GET_ATTRIBUTES_ALL: u8 = 0x01;
    pub const GET_ATTRIBUTE_LIST: u8 = 0x03;
    pub const MULTIPLE_SERVICE_PACKET: u8 = 0x0a;
    pub const GET_ATTRIBUTE_SINGLE: u8 = 0x0e;
    pub const FORWARD_CLOSE: u8 = 0x4e;
    pub const UNCONNECTED_SEND: u8 = 0x52;
    pub const FORWARD_OPEN: u8 = 0x54;
    pub const LARGE_FORWARD_OPEN: u8 = 0x5b;
    pub const EXECUTE_PCCC: u8 = 0x4b;
}

/// The response bit of a service code.
pub const RESPONSE: u8 = 0x80;
/// General status 0x06: partial transfer (more data follows, e.g. Read Tag Fragmented).
pub const STATUS_PARTIAL: u8 = 0x06;
/// Embedded messages decoded per Multiple Service Packet (more are counted, not decoded).
pub const MAX_MEMBERS: usize = 200;
/// Events one encapsulated CIP message may produce (with all it embeds).
pub const MAX_EVENTS: usize = 1024;
/// Nesting depth of embedded messages (MSP in Unconnected Send in MSP…).
const MAX_DEPTH: u8 = 3;
/// Bytes of a symbolic tag kept (longer ones are cut).
pub const MAX_TAG: usize = 48;

/// A symbolic tag path as text (`Program:Main.Tag[3].Member`), inline and truncated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    buf: [u8; MAX_TAG],
    len: u8,
}

impl Default for Tag {
    fn default() -> Tag {
        Tag {
            buf: [0; MAX_TAG],
            len: 0,
        }
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Tag {
    fn push(&mut self, s: &[u8]) {
        for &c in s {
            let i = self.len as usize;
            let Some(slot) = self.buf.get_mut(i) else {
                return;
            };
            *slot = if c.is_ascii_graphic() || c == b' ' {
                c
            } else {
                b'?'
            };
            self.len += 1;
        }
    }
    fn push_index(&mut self, v: u32) {
        let mut digits = [0u8; 10];
        let mut n = v;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(b"[");
        self.push(&digits[i..]);
        self.push(b"]");
    }
    /// The text (ASCII only, so always valid UTF-8).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
    /// No symbol in the path.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a request path addresses: its first class, instance, attribute, member and
/// connection point segments, and whether it has symbolic segments (their text, the tag, is
/// parsed apart: only events need it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Path {
    /// Class id.
    pub class: Option<u32>,
    /// Instance id.
    pub instance: Option<u32>,
    /// Attribute id.
    pub attribute: Option<u32>,
    /// Member id (outside a symbolic path).
    pub member: Option<u32>,
    /// Connection point.
    pub conn_point: Option<u32>,
    /// The path has a symbolic segment.
    pub symbolic: bool,
    /// A segment did not parse (the fields hold what came before it).
    pub bad: bool,
}

impl Path {
    /// Parse an EPATH (padded format, as in message router requests), with the symbolic
    /// segments only noted (what counting a PDU needs: its class and whether it is
    /// symbolic).
    #[inline(always)]
    pub fn parse(p: &[u8]) -> Path {
        // The shapes most requests use, without the general walk: 8-bit class and instance
        // (and attribute) logical segments, or one symbolic segment (a tag name).
        match *p {
            [0x20, c, 0x24, i] => Path {
                class: Some(u32::from(c)),
                instance: Some(u32::from(i)),
                ..Path::default()
            },
            [0x20, c, 0x24, i, 0x30, a] => Path {
                class: Some(u32::from(c)),
                instance: Some(u32::from(i)),
                attribute: Some(u32::from(a)),
                ..Path::default()
            },
            [0x91, n, ref rest @ ..]
                if n > 0 && rest.len() == usize::from(n) + usize::from(n % 2) =>
            {
                Path {
                    symbolic: true,
                    ..Path::default()
                }
            }
            _ => Path::parse_walk(p),
        }
    }

    /// The general walk without the tag, out of line: [`Path::parse`] is inlined where
    /// requests are counted, so that the common shapes' class folds into [`operation`].
    #[inline(never)]
    fn parse_walk(p: &[u8]) -> Path {
        Path::parse_with(p, None)
    }

    /// The general walk alone (the shortcuts of [`Path::parse`] must agree with it).
    #[cfg(test)]
    pub(crate) fn parse_with_walk(p: &[u8]) -> Path {
        Path::parse_with(p, None)
    }

    /// Parse, with the symbolic segments added to `tag` when given.
    #[inline]
    fn parse_with(p: &[u8], mut tag: Option<&mut Tag>) -> Path {
        let mut path = Path::default();
        let mut i = 0;
        // Each turn consumes at least one byte (every arm advances `i` or returns).
        while let Some(&s) = p.get(i) {
            let next = match s >> 5 {
                // Port segment: port in the low nibble (15 = 16-bit port follows), bit 4 =
                // link address size byte follows; padded to an even length.
                0 => {
                    let mut j = i + 1;
                    let ext = s & 0x10 != 0;
                    let size = if ext {
                        let n = p.get(j).map(|&n| n as usize);
                        j += 1;
                        n
                    } else {
                        Some(1)
                    };
                    if s & 0x0f == 0x0f {
                        j += 2;
                    }
                    let Some(size) = size else {
                        path.bad = true;
                        break;
                    };
                    j += size;
                    if (j - i) % 2 == 1 {
                        j += 1;
                    }
                    j
                }
                // Logical segment: type (bits 2-4) and format (bits 0-1).
                1 => {
                    let kind = (s >> 2) & 7;
                    let format = s & 3;
                    if kind == 5 {
                        // Special: electronic key (format 0, key format 4: 8 bytes).
                        if format != 0 || p.get(i + 1) != Some(&4) {
                            path.bad = true;
                            break;
                        }
                        i + 10
                    } else {
                        let (value, len) = match format {
                            0 => (u8_at(p, i + 1).map(u32::from), 2),
                            1 => (le16(p, i + 2).map(u32::from), 4),
                            2 => (le32(p, i + 2), 6),
                            _ => (None, 0),
                        };
                        let Some(v) = value else {
                            path.bad = true;
                            break;
                        };
                        let slot = match kind {
                            0 => &mut path.class,
                            1 => &mut path.instance,
                            2 if path.symbolic => {
                                if let Some(t) = tag.as_deref_mut() {
                                    t.push_index(v);
                                }
                                i += len;
                                continue;
                            }
                            2 => &mut path.member,
                            3 => &mut path.conn_point,
                            4 => &mut path.attribute,
                            // Service id and extended logical: not kept.
                            _ => {
                                i += len;
                                continue;
                            }
                        };
                        slot.get_or_insert(v);
                        i + len
                    }
                }
                // Network segment: two bytes, except the extended one (0x5f) with a length
                // in words.
                2 => {
                    if s == 0x5f {
                        match u8_at(p, i + 1) {
                            Some(w) => i + 2 + 2 * w as usize,
                            None => {
                                path.bad = true;
                                break;
                            }
                        }
                    } else {
                        i + 2
                    }
                }
                // Symbolic segment: size in the low 5 bits (0 = extended format, unsupported).
                3 => {
                    let n = (s & 0x1f) as usize;
                    let Some(sym) = p.get(i + 1..i + 1 + n).filter(|_| n > 0) else {
                        path.bad = true;
                        break;
                    };
                    path.push_symbol(sym, tag.as_deref_mut());
                    i + 1 + n + (1 + n) % 2
                }
                // Data segments: 0x80 simple data (length in words), 0x91 ANSI extended
                // symbol (length in bytes, padded).
                4 => match s {
                    0x80 => match u8_at(p, i + 1) {
                        Some(w) => i + 2 + 2 * w as usize,
                        None => {
                            path.bad = true;
                            break;
                        }
                    },
                    0x91 => {
                        let n = u8_at(p, i + 1).map_or(0, usize::from);
                        let Some(sym) = p.get(i + 2..i + 2 + n) else {
                            path.bad = true;
                            break;
                        };
                        path.push_symbol(sym, tag.as_deref_mut());
                        i + 2 + n + n % 2
                    }
                    _ => {
                        path.bad = true;
                        break;
                    }
                },
                _ => {
                    path.bad = true;
                    break;
                }
            };
            if next > p.len() {
                path.bad = true;
                break;
            }
            i = next;
        }
        path
    }

    fn push_symbol(&mut self, sym: &[u8], tag: Option<&mut Tag>) {
        self.symbolic = true;
        let Some(tag) = tag else {
            return;
        };
        if !tag.is_empty() {
            tag.push(b".");
        }
        tag.push(sym);
    }

    /// Is this a symbolic (tag) path?
    pub fn symbolic(&self) -> bool {
        self.symbolic
    }
}

/// A service's snake_case name, given the class it addresses (class-specific codes ≥ 0x4b
/// mean different things per class).
pub fn service_name(service: u8, path: &Path) -> Option<&'static str> {
    let name = match service {
        0x01 => "get_attributes_all",
        0x02 => "set_attributes_all",
        0x03 => "get_attribute_list",
        0x04 => "set_attribute_list",
        0x05 => "reset",
        0x06 => "start",
        0x07 => "stop",
        0x08 => "create",
        0x09 => "delete",
        0x0a => "multiple_service_packet",
        0x0d => "apply_attributes",
        0x0e => "get_attribute_single",
        0x10 => "set_attribute_single",
        0x11 => "find_next_object_instance",
        0x14 => "error_response",
        0x15 => "restore",
        0x16 => "save",
        0x17 => "nop",
        0x18 => "get_member",
        0x19 => "set_member",
        0x1a => "insert_member",
        0x1b => "remove_member",
        0x1c => "group_sync",
        _ => return class_service_name(service, path),
    };
    Some(name)
}

fn class_service_name(service: u8, path: &Path) -> Option<&'static str> {
    let name = match (path.class, service) {
        (Some(class::CONNECTION_MANAGER), s) => match s {
            0x4e => "forward_close",
            0x52 => "unconnected_send",
            0x54 => "forward_open",
            0x56 => "get_connection_data",
            0x57 => "search_connection_data",
            0x5a => "get_connection_owner",
            0x5b => "large_forward_open",
            _ => return None,
        },
        (Some(class::PCCC), s) => match s {
            0x4b => "execute_pccc",
            0x4c => "execute_dh_plus",
            0x4d => "execute_local_pccc",
            _ => return None,
        },
        (Some(class::FILE), s) => match s {
            0x4b => "initiate_upload",
            0x4c => "initiate_download",
            0x4d => "initiate_partial_read",
            0x4e => "initiate_partial_write",
            0x4f => "upload_transfer",
            0x50 => "download_transfer",
            0x51 => "clear_file",
            _ => return None,
        },
        (Some(class::TEMPLATE), 0x4c) => "read_template",
        (Some(class::SYMBOL), 0x55) => "get_instance_attribute_list",
        (c, s) if path.symbolic() || c == Some(class::SYMBOL) => match s {
            0x4c => "read_tag",
            0x4d => "write_tag",
            0x4e => "read_modify_write_tag",
            0x52 => "read_tag_fragmented",
            0x53 => "write_tag_fragmented",
            _ => return None,
        },
        _ => return None,
    };
    Some(name)
}

/// A service's operation class (see docs/events.md).
#[inline]
pub fn operation(service: u8, path: &Path) -> OperationClass {
    use OperationClass as O;
    match service {
        0x01 | 0x03 | 0x0e if path.class == Some(class::IDENTITY) => O::Identify,
        0x01 | 0x03 | 0x0e | 0x11 | 0x18 => O::Read,
        0x02 | 0x04 | 0x10 | 0x19 | 0x1a | 0x1b => O::Write,
        0x05 => O::Restart,
        0x06 => O::Start,
        0x07 => O::Stop,
        0x08 | 0x09 | 0x0d | 0x15 | 0x16 => O::ConfigChange,
        // The class-specific services, by code as [`class_service_name`] names them.
        _ => match (path.class, service) {
            // get_connection_data, search_connection_data, get_connection_owner.
            (Some(class::CONNECTION_MANAGER), 0x56 | 0x57 | 0x5a) => O::Read,
            (Some(class::CONNECTION_MANAGER | class::PCCC), _) => O::Other,
            // initiate_upload … clear_file.
            (Some(class::FILE), 0x4b..=0x51) => O::FileTransfer,
            (Some(class::FILE), _) => O::Other,
            // read_template, get_instance_attribute_list.
            (Some(class::TEMPLATE), 0x4c) | (Some(class::SYMBOL), 0x55) => O::Read,
            (c, s) if path.symbolic() || c == Some(class::SYMBOL) => match s {
                // read_tag, read_tag_fragmented.
                0x4c | 0x52 => O::Read,
                // write_tag, read_modify_write_tag, write_tag_fragmented.
                0x4d | 0x4e | 0x53 => O::Write,
                _ => O::Other,
            },
            _ => O::Other,
        },
    }
}

/// A request remembered until its response: service, path, and for Execute PCCC the
/// command and function.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    /// Service code (request form).
    pub service: u8,
    /// Request path.
    pub path: Path,
    /// Its symbolic segments as text (only kept for events).
    pub tag: Tag,
    /// PCCC command and function of an Execute PCCC request.
    pub pccc: Option<(u8, u8)>,
}

/// Outstanding requests kept per flow. Connected messaging multiplexes many connections on
/// one session, each with a Multiple Service Packet of tens of members in flight (the corpus
/// has 7 × 25), so the bound is above the 32 typical of single-transaction protocols.
pub const PENDING_CAP: usize = 256;

#[derive(Debug, Clone, Copy, Default)]
struct Entry<T> {
    key: u64,
    member: u16,
    live: bool,
    req: T,
}

/// A top-level read of the Identity object awaiting its answer, and the route it was
/// sent along when an Unconnected Send routed it (then the answer is the identity of the
/// module at the end of the route, not of the sender).
#[derive(Debug, Clone, Copy, Default)]
struct IdentRead {
    service: u8,
    path: Path,
    route: Option<Route>,
}

/// The per-flow tables matching CIP responses to requests. `all` holds every request, for
/// the events (a response's path, name and facts come from its request); it is kept only
/// when events are wanted. `pccc` holds the Execute PCCC requests, always: a PCCC reply is
/// decoded (and counted as a PDU) only with its request's command, so counting PDUs needs
/// it too, and must find the same match with or without events. `ident` holds the
/// top-level reads of the Identity object, always: their answers report identity facts
/// whether or not events are wanted, with their route when an Unconnected Send (possibly
/// nested) routed them. Boxed in the flow state and created at the first request that
/// needs it.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    all: Queue,
    pccc: Queue,
    ident: Queue<IdentRead>,
}

impl Pending {
    /// Outstanding requests (in the table events use).
    pub fn len(&self) -> usize {
        self.all.live
    }

    /// No outstanding request.
    pub fn is_empty(&self) -> bool {
        self.all.live == 0
    }
}

/// Requests in request order: a matched entry is marked dead and the dead prefix is
/// dropped, so that with in-order replies the match is found at the front. At most
/// [`PENDING_CAP`] entries (then the oldest is dropped).
#[derive(Debug, Clone)]
struct Queue<T = Request> {
    e: std::collections::VecDeque<Entry<T>>,
    live: usize,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            e: std::collections::VecDeque::new(),
            live: 0,
        }
    }
}

impl<T: Copy> Queue<T> {
    fn push(&mut self, key: u64, member: u16, req: T) {
        if self.e.len() >= PENDING_CAP {
            self.e.retain(|e| e.live);
            if self.e.len() >= PENDING_CAP && self.e.pop_front().is_some() {
                self.live -= 1;
            }
        }
        self.e.push_back(Entry {
            key,
            member,
            live: true,
            req,
        });
        self.live += 1;
    }

    /// The oldest request with this key and member index, removed.
    fn take(&mut self, key: u64, member: u16) -> Option<T> {
        let e = self
            .e
            .iter_mut()
            .find(|e| e.live && e.key == key && e.member == member)?;
        e.live = false;
        let req = e.req;
        self.live -= 1;
        while self.e.front().is_some_and(|e| !e.live) {
            self.e.pop_front();
        }
        Some(req)
    }
}

/// Where a message travels: its matching key, connection id and sequence count (connected
/// messages), nesting.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Matching key: the sequence count (connected) or the sender context (unconnected).
    pub key: u64,
    /// Connected address item's connection id.
    pub connection_id: Option<u32>,
    /// CIP sequence count of connected data.
    pub sequence: Option<u16>,
    /// Index within a Multiple Service Packet (1-based), 0 for a top-level message.
    pub member: u16,
    /// Nesting depth.
    pub depth: u8,
}

/// The matching key of a connected message (sequence count) and of an unconnected one
/// (sender context).
pub fn connected_key(seq: u16) -> u64 {
    (1 << 63) | u64::from(seq)
}

/// Is `status` an error (0 = success, 0x06 = partial transfer, which is not)?
pub fn is_error(status: u8) -> bool {
    status != 0 && status != STATUS_PARTIAL
}

/// Decode one CIP message (request or response by its service bit) and emit its events.
pub fn message(m: &[u8], ctx: Ctx, pending: &mut Option<Box<Pending>>, sink: &mut dyn PduSink) {
    let events = sink.wants_events();
    message_to(m, ctx, pending, sink, events);
}

/// [`message`], with `events` the sink's [`PduSink::wants_events`] asked beforehand. True
/// when counted (`events` false) wholly the short way (every PDU by [`count_short`], the
/// MSP counts and [`count_members`] without a fallback): then
/// what the sink saw is a function of `m` alone (no pending entry was read or added, no
/// fact given), which [`count_msp_request_memo`] relies on.
pub(crate) fn message_to(
    m: &[u8],
    ctx: Ctx,
    pending: &mut Option<Box<Pending>>,
    sink: &mut dyn PduSink,
    events: bool,
) -> bool {
    let mut out = Out {
        to: sink,
        events,
        tally: Tally::new(m),
        short: !events,
    };
    match u8_at(m, 0) {
        Some(s) if s & RESPONSE != 0 => response(m, ctx, pending, &mut out),
        Some(_) => request(m, ctx, pending, &mut out),
        None => {
            out.short = false;
            let s = Summary::malformed("cip", false, 0, Anomaly::Truncated);
            out.emit(&s, |f| base_fields(f, &ctx));
        }
    }
    out.flush();
    out.short
}

/// Count a top-level CIP message alone (counting mode) as [`message_to`] would, when it
/// embeds nothing and needs nothing of the flow's state (most messages: a tag read or
/// write, or its answer); false, having done nothing, for the others (then
/// [`count_message`]). `message_to` would give such a message to [`count_short`] and hand
/// the sink that one count (the budget, at least 4, allows it); here it is handed over at
/// once, before its [`Ctx`] is even built, without an [`Out`] or the frames of
/// `message_to`, `request` and `response` (about a third of such a message's CIP cost).
/// So is a Multiple Service Packet response of plain members ([`count_msp_response_alone`]).
#[inline(always)]
pub(crate) fn count_alone(
    m: &[u8],
    pending: &Option<Box<Pending>>,
    sink: &mut dyn PduSink,
) -> bool {
    let c = match m.first() {
        Some(&MSP_RESPONSE) => return count_msp_response_alone(m, pending, sink),
        Some(&s) if s & RESPONSE != 0 => response_counted(m),
        // Never an MSP (`request_counted` says `None`).
        Some(_) => request_counted(m),
        None => None,
    };
    match c {
        Some(c) => {
            crate::count(sink, c.pdu(), 1);
            true
        }
        None => false,
    }
}

/// The first byte of a Multiple Service Packet response.
const MSP_RESPONSE: u8 = svc::MULTIPLE_SERVICE_PACKET | RESPONSE;

/// [`count_alone`] for a top-level Multiple Service Packet response (`m`): counted as
/// `message_to` would (through [`response`] and [`count_msp_response`]) when its members
/// are all plain responses, which [`count_msp_response`] counts in one go too: the same
/// decisions ([`msp_response_parts`], [`plain_responses`]) and the same tally, here in
/// registers and handed to the sink once. False, having done nothing, otherwise (an
/// Identity read awaits its answer, a member is not plain).
#[inline(never)]
fn count_msp_response_alone(
    m: &[u8],
    pending: &Option<Box<Pending>>,
    sink: &mut dyn PduSink,
) -> bool {
    // As `response` decides: `response_full` would look the Identity read up.
    if pending.as_ref().is_some_and(|p| p.ident.live != 0) {
        return false;
    }
    let (truncated, msp) = msp_response_parts(m);
    let members = match msp {
        Some((msp, data)) => match plain_responses(msp, data) {
            Some(n) => n,
            None => return false,
        },
        None => 0,
    };
    // As `count_msp_response` counts (at depth 0, below `MAX_DEPTH`).
    let mut tally = Tally::new(m);
    if tally.spend() {
        tally.count(
            sink,
            Counted::new(OperationClass::Other, true, u32::from(truncated)),
        );
        tally.count_many(sink, PLAIN_RESPONSE, members);
    }
    tally.flush(sink);
    true
}

/// Count a top-level CIP message (counting mode) as [`message_to`] would: a Multiple
/// Service Packet request by [`count_msp_request_memo`], the others by `message_to`
/// (after [`count_alone`] said no). `hint` is the flow's place in the [`CountMemo`].
#[inline(always)]
pub(crate) fn count_message(
    m: &[u8],
    ctx: Ctx,
    hint: &mut CountHint,
    pending: &mut Option<Box<Pending>>,
    sink: &mut dyn PduSink,
) {
    if m.first() == Some(&svc::MULTIPLE_SERVICE_PACKET) {
        count_msp_request_memo(m, ctx, hint, pending, sink);
    } else {
        message_to(m, ctx, pending, sink, false);
    }
}

/// Count a Multiple Service Packet request (`m`, top level) in counting mode as
/// [`message_to`] would, or hand the sink the counts it gave last time when the sink's
/// [`CountMemo`] remembers it. A polling client (an HMI, a scanner) sends the same packets
/// every cycle, byte for byte, and finding one costs a fraction of walking its members
/// again. Only packets counted wholly the short way are remembered (see [`message_to`]:
/// their counts depend on their bytes alone, whatever the flow and its state). `hint` is
/// the flow's place in the memo.
#[inline]
pub(crate) fn count_msp_request_memo(
    m: &[u8],
    ctx: Ctx,
    hint: &mut CountHint,
    pending: &mut Option<Box<Pending>>,
    sink: &mut dyn PduSink,
) {
    let Some(memo) = sink.count_memo().filter(|_| m.len() <= COUNT_MAX_KEY) else {
        message_to(m, ctx, pending, sink, false);
        return;
    };
    let Some(&counts) = memo.get(ProtocolId::ENIP, m, hint) else {
        count_and_remember(m, ctx, hint, pending, sink);
        return;
    };
    for (c, n) in counts.runs() {
        crate::count(sink, c, n);
    }
}

/// [`count_msp_request_memo`] for a packet the memo does not know: counted, and remembered
/// if counted wholly the short way. Apart, so that the lookup's frame stays small.
#[inline(never)]
fn count_and_remember(
    m: &[u8],
    ctx: Ctx,
    hint: &mut CountHint,
    pending: &mut Option<Box<Pending>>,
    sink: &mut dyn PduSink,
) {
    let mut rec = Recorder {
        to: sink,
        counts: Counts::default(),
        spoiled: false,
    };
    let short = message_to(m, ctx, pending, &mut rec, false);
    let counts = rec.counts;
    if short
        && !rec.spoiled
        && let Some(memo) = sink.count_memo()
    {
        memo.put(ProtocolId::ENIP, m, &counts, hint);
    }
}

/// A sink handing everything to `to` and recording the counts, for the [`CountMemo`].
struct Recorder<'s> {
    to: &'s mut dyn PduSink,
    counts: Counts,
    /// Something went through that a replay of `counts` would not give (an event, a fact,
    /// more runs than a [`Counts`] holds).
    spoiled: bool,
}

impl PduSink for Recorder<'_> {
    fn pdu(&mut self, pdu: crate::PduEvent) {
        self.spoiled = true;
        self.to.pdu(pdu);
    }
    fn wants_events(&self) -> bool {
        self.to.wants_events()
    }
    fn pdu_count(&mut self, pdu: PduCount) {
        self.pdu_counts(pdu, 1);
    }
    fn pdu_counts(&mut self, pdu: PduCount, n: u32) {
        if !self.counts.push(pdu, n) {
            self.spoiled = true;
        }
        crate::count(self.to, pdu, n);
    }
    fn identity(&mut self, fact: yagura_core::IdentityFact) {
        self.spoiled = true;
        self.to.identity(fact);
    }
    fn identity_ref(&mut self, fact: &yagura_core::IdentityFact) {
        self.spoiled = true;
        self.to.identity_ref(fact);
    }
    fn fact_memo(&mut self) -> Option<&mut crate::memo::FactMemo> {
        self.spoiled = true;
        self.to.fact_memo()
    }
    fn count_memo(&mut self) -> Option<&mut CountMemo> {
        self.spoiled = true;
        self.to.count_memo()
    }
}

/// Where one encapsulated message's PDUs go: the sink, whether it wants events (asked once
/// per message), and its [`Tally`].
struct Out<'s> {
    /// Reached through [`Out::sink`], which hands over the pending run first.
    to: &'s mut dyn PduSink,
    events: bool,
    tally: Tally,
    /// Every PDU so far was counted the short way (see [`message_to`]).
    short: bool,
}

/// The events one message may still produce, and in counting mode the run of alike counts
/// not yet handed to the sink. Apart from [`Out`] so that [`count_members`] can keep it in
/// registers while it counts members (through `&mut Out` it lives in memory, loaded and
/// stored at every member).
#[derive(Debug, Clone, Copy)]
struct Tally {
    budget: usize,
    /// Counted CIP PDUs alike (same class, direction and anomaly count) in a row, and
    /// how many: the members of a Multiple Service Packet are mostly alike, and one
    /// [`PduSink::pdu_counts`] per run costs less than a virtual call per member.
    run: Counted,
    /// PDUs in the run (0: none yet).
    run_len: u32,
}

impl Tally {
    /// The tally of top-level message `m`: the events it may produce with everything it
    /// embeds (members can overlap and nest, so without a budget a few hundred bytes
    /// could claim millions of events), no run yet.
    #[inline(always)]
    fn new(m: &[u8]) -> Tally {
        Tally {
            budget: (m.len() / 2 + 4).min(MAX_EVENTS),
            run: Counted(0),
            run_len: 0,
        }
    }

    /// Take one event from the budget; false when it is spent.
    #[inline(always)]
    fn spend(&mut self) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        true
    }

    /// Count a CIP PDU (counting mode): added to the pending run when alike, else the run
    /// is handed over to `to` and a new one starts. The sink sees the same counts in the
    /// same order as with one [`PduSink::pdu_count`] each.
    #[inline(always)]
    fn count(&mut self, to: &mut dyn PduSink, c: Counted) {
        // An empty run may hold any value: equal, it becomes a run of one.
        if self.run == c {
            self.run_len += 1;
        } else {
            self.flush(to);
            self.run = c;
            self.run_len = 1;
        }
    }

    /// Count `n` CIP PDUs alike, as `n` times [`Tally::spend`] then [`Tally::count`] would.
    #[inline]
    fn count_many(&mut self, to: &mut dyn PduSink, c: Counted, n: usize) {
        let n = n.min(self.budget);
        if n == 0 {
            return;
        }
        self.budget -= n;
        // A run is at most `MAX_EVENTS` long (the budget bounds it).
        let n = n as u32;
        if self.run == c {
            self.run_len += n;
        } else {
            self.flush(to);
            self.run = c;
            self.run_len = n;
        }
    }

    /// Hand the pending run of counts to `to`.
    #[inline(always)]
    fn flush(&mut self, to: &mut dyn PduSink) {
        if self.run_len > 0 {
            crate::count(to, self.run.pdu(), self.run_len);
            self.run_len = 0;
        }
    }
}

/// What counting records of a CIP PDU (its [`PduCount`] without the protocol, always
/// `cip` here), packed in one word: telling whether the next PDU is alike is then one
/// comparison (comparing the fields one by one cost more than the call it saves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted(u64);

impl Counted {
    #[inline]
    const fn new(operation: OperationClass, response: bool, anomalies: u32) -> Counted {
        Counted(operation as u64 | (response as u64) << 8 | (anomalies as u64) << 32)
    }

    fn pdu(self) -> PduCount {
        PduCount {
            protocol: "cip",
            // The discriminant indexes `ALL` (as it does an `OperationSet`'s bits).
            operation: OperationClass::ALL[(self.0 & 0xff) as usize],
            response: self.0 & 0x100 != 0,
            anomalies: (self.0 >> 32) as u32,
        }
    }
}

impl Out<'_> {
    /// Take one event from the budget; false when it is spent.
    #[inline]
    fn spend(&mut self) -> bool {
        self.tally.spend()
    }

    #[inline]
    fn emit(&mut self, s: &Summary, fill: impl FnOnce(&mut Fields)) {
        if self.events {
            emit_to(self.to, true, s, fill);
        } else if s.operational() {
            // Never only counted (see `PduSink::pdu_count`): `emit_to` gives its event.
            self.flush();
            emit_to(self.to, false, s, fill);
        } else {
            debug_assert_eq!(s.protocol, "cip");
            self.count(s.operation, s.response, s.anomalies.count());
        }
    }

    /// Count a CIP PDU (counting mode), see [`Tally::count`].
    #[inline]
    fn count(&mut self, operation: OperationClass, response: bool, anomalies: u32) {
        self.tally
            .count(self.to, Counted::new(operation, response, anomalies));
    }

    /// Hand the pending run of counts to the sink.
    #[inline]
    fn flush(&mut self) {
        self.tally.flush(self.to);
    }

    /// The sink, for what does not go through [`Out::emit`] or [`Out::count`] (PCCC
    /// PDUs, identity facts): the pending counts first, to keep the order.
    #[inline]
    fn sink(&mut self) -> &mut dyn PduSink {
        self.flush();
        &mut *self.to
    }
}

fn base_fields(f: &mut Fields, ctx: &Ctx) {
    if let Some(c) = ctx.connection_id {
        f.push(("connection_id", u(c)));
    }
    if let Some(s) = ctx.sequence {
        f.push(("sequence", u(s)));
    }
    if ctx.member > 0 {
        f.push(("member_index", u(ctx.member)));
    }
}

fn path_fields(f: &mut Fields, p: &Path, tag: Option<&Tag>) {
    if let Some(c) = p.class {
        f.push(("class", u(c)));
    }
    if let Some(i) = p.instance {
        f.push(("instance", u(i)));
    }
    if let Some(a) = p.attribute {
        f.push(("attribute", u(a)));
    }
    if let Some(m) = p.member {
        f.push(("member", u(m)));
    }
    if let Some(c) = p.conn_point {
        f.push(("connection_point", u(c)));
    }
    if p.symbolic() {
        let tag = tag.map_or("", Tag::as_str);
        f.push(("tag", FieldValue::Str(tag.to_owned())));
    }
}

/// A request: counted the short way when it can be (counting mode), else in full. Inlined
/// into its callers, so that counting enters neither [`request_full`] nor its frame.
#[inline]
fn request(m: &[u8], ctx: Ctx, pending: &mut Option<Box<Pending>>, out: &mut Out<'_>) {
    if !out.events {
        if count_short(request_counted(m), out) {
            return;
        }
        if m[0] == svc::MULTIPLE_SERVICE_PACKET {
            count_msp_request(m, ctx, pending, out);
            return;
        }
    }
    request_full(m, ctx, pending, out);
}

/// A request decoded in full: its event (or count), pending entries, embedded messages.
fn request_full(m: &[u8], ctx: Ctx, pending: &mut Option<Box<Pending>>, out: &mut Out<'_>) {
    out.short = false;
    if !out.spend() {
        return;
    }
    let service = m[0];
    let words = u8_at(m, 1).map_or(0, usize::from);
    let path_end = 2 + 2 * words;
    let mut s = Summary::new("cip", false, m.len());
    s.function = Some(u32::from(service));
    let (p, data) = match (m.get(2..path_end), m.get(path_end..)) {
        (Some(p), Some(d)) => (p, d),
        _ => {
            s.anomalies.set(Anomaly::Truncated);
            (m.get(2..).unwrap_or(&[]), &[][..])
        }
    };
    // Counting a PDU needs its class and operation, not its tag text or name.
    let events = out.events;
    let mut tag = None;
    let path = if events {
        Path::parse_with(p, Some(tag.insert(Tag::default())))
    } else {
        Path::parse(p)
    };
    if path.bad {
        s.anomalies.set(Anomaly::BadEncoding);
    }
    s.operation = operation(service, &path);
    // The name is for the event, which an operational request always has.
    if events || s.operation.is_operational() {
        s.function_name = service_name(service, &path);
    }
    let cm = path.class == Some(class::CONNECTION_MANAGER);
    let pccc_req = (path.class == Some(class::PCCC) && service == svc::EXECUTE_PCCC)
        .then(|| pccc::Pccc::request(data))
        .flatten();
    if let Some(p) = &pccc_req {
        s.operation = p.operation();
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    let msp = (service == svc::MULTIPLE_SERVICE_PACKET).then(|| Msp::parse(data));
    let ucs = (cm && service == svc::UNCONNECTED_SEND).then(|| UnconnectedSend::parse(data));
    out.emit(&s, |f| {
        f.push(("service", u(service)));
        path_fields(f, &path, tag.as_ref());
        base_fields(f, &ctx);
        if let Some(Some(msp)) = &msp {
            f.push(("member_count", u(msp.count)));
        }
        if cm && matches!(service, svc::FORWARD_OPEN | svc::LARGE_FORWARD_OPEN) {
            forward_open_request_fields(f, data, service == svc::LARGE_FORWARD_OPEN);
        }
        if cm && service == svc::FORWARD_CLOSE {
            forward_close_fields(f, data, true);
        }
        if let Some(Some(u)) = &ucs {
            u.fields(f);
        }
    });
    // The response of an Unconnected Send is its embedded message's response: remember the
    // embedded request instead of the wrapper.
    let embedded = match ucs {
        Some(Some(u)) if ctx.depth < MAX_DEPTH => Some(u.message),
        _ => None,
    };
    // A top-level read of the Identity object: its answer is the sender's identity. One
    // routed by a top-level Unconnected Send is the identity of the module at the end of
    // the route: remembered with the route (the embedded request, one level deeper, is not).
    let ident = ctx.depth == 0
        && path.class == Some(class::IDENTITY)
        && matches!(service, svc::GET_ATTRIBUTES_ALL | svc::GET_ATTRIBUTE_SINGLE);
    if ctx.depth == 0
        && let Some(Some(u)) = &ucs
        && let Some(read) = routed_identity_read(u)
    {
        let pending = pending.get_or_insert_with(Box::default);
        pending.ident.push(ctx.key, ctx.member, read);
    }
    if embedded.is_none() && (events || pccc_req.is_some() || ident) {
        let req = Request {
            service,
            path,
            tag: tag.unwrap_or_default(),
            pccc: pccc_req.as_ref().map(|p| (p.cmd, p.fnc.unwrap_or(0))),
        };
        let pending = pending.get_or_insert_with(Box::default);
        if events {
            pending.all.push(ctx.key, ctx.member, req);
        }
        if req.pccc.is_some() {
            pending.pccc.push(ctx.key, ctx.member, req);
        }
        if ident {
            let read = IdentRead {
                service,
                path,
                route: None,
            };
            pending.ident.push(ctx.key, ctx.member, read);
        }
    }
    if let Some(p) = pccc_req.filter(|_| out.spend()) {
        p.emit(false, out.sink());
    }
    if let Some(Some(msp)) = msp {
        walk_members(msp, data, false, ctx, pending, out);
    }
    if let Some(e) = embedded {
        let c = Ctx {
            depth: ctx.depth + 1,
            ..ctx
        };
        match u8_at(e, 0) {
            Some(s) if s & RESPONSE == 0 => request(e, c, pending, out),
            _ => member_malformed(false, c, out),
        }
    }
}

/// Count a PDU the short way: `c` is what [`request_counted`] or [`response_counted`] said
/// of it (a request that embeds nothing and needs no pending entry, such as most tag reads
/// and writes and the members of a cyclic Multiple Service Packet; a response that embeds
/// nothing and needs no request). False, having done nothing, when `c` is `None`: then
/// [`request_full`] or [`response_full`] handles it in full.
#[inline(always)]
fn count_short(c: Option<Counted>, out: &mut Out<'_>) -> bool {
    let Some(c) = c else {
        return false;
    };
    if out.spend() {
        out.tally.count(out.to, c);
    }
    true
}

/// What counting records of a request (`m`, not empty) that embeds nothing and needs no
/// pending entry; `None` for the others. Must count exactly what [`request_full`] would.
/// Always inlined: called once per member of a Multiple Service Packet, where the call
/// itself was a good part of the cost.
#[inline(always)]
pub(crate) fn request_counted(m: &[u8]) -> Option<Counted> {
    let service = m[0];
    if service == svc::MULTIPLE_SERVICE_PACKET {
        return None;
    }
    let words = u8_at(m, 1).map_or(0, usize::from);
    let path_end = 2 + 2 * words;
    let (p, truncated) = match m.get(2..path_end) {
        Some(p) if path_end <= m.len() => (p, false),
        _ => (m.get(2..).unwrap_or(&[]), true),
    };
    let path = Path::parse(p);
    match path.class {
        Some(class::CONNECTION_MANAGER) if service == svc::UNCONNECTED_SEND => return None,
        Some(class::PCCC) if service == svc::EXECUTE_PCCC => return None,
        // Its answer may give identity facts: remembered (see `Pending`).
        Some(class::IDENTITY)
            if matches!(service, svc::GET_ATTRIBUTES_ALL | svc::GET_ATTRIBUTE_SINGLE) =>
        {
            return None;
        }
        _ => {}
    }
    let op = operation(service, &path);
    // An operational request (Stop, Reset, …) is never only counted: the full path gives
    // its event (see `PduSink::pdu_count`).
    if op.is_operational() {
        return None;
    }
    Some(Counted::new(
        op,
        false,
        u32::from(truncated) + u32::from(path.bad),
    ))
}

/// What counting records of a response (`m`, not empty) that embeds nothing and needs no
/// request: its anomalies (its class is its request's, which counting does not look up).
/// `None` for the others (and for a first byte without the response bit, not a response).
/// Must count exactly what [`response_full`] would.
#[inline(always)]
fn response_counted(m: &[u8]) -> Option<Counted> {
    if !COUNTED_RESPONSES[usize::from(m[0])] {
        return None;
    }
    // `response_full`: truncated when the status or the additional status words are cut
    // (with fewer than 4 bytes, the status size itself is).
    let truncated = match m.get(3) {
        Some(&add_words) => m.len() < 4 + 2 * usize::from(add_words),
        None => true,
    };
    Some(Counted::new(
        OperationClass::Other,
        true,
        u32::from(truncated),
    ))
}

/// The first bytes of the responses [`response_counted`] counts (one lookup per member of
/// a Multiple Service Packet's response): the response bit set, and not the service of a
/// response that embeds messages or needs its request.
const COUNTED_RESPONSES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = RESPONSE as usize;
    while b < 256 {
        t[b] = !matches!(
            (b as u8) & !RESPONSE,
            svc::MULTIPLE_SERVICE_PACKET
                | svc::EXECUTE_PCCC
                // May answer an Identity read, whose facts it reports (or, from a routing
                // error, end the wait for a routed one's answer).
                | svc::GET_ATTRIBUTES_ALL
                | svc::GET_ATTRIBUTE_SINGLE
                | svc::UNCONNECTED_SEND
        );
        b += 1;
    }
    t
};

/// The bytes a request's count depends on ([`request_counted`] reads its service, its path
/// size and its path), packed in a word, for a request of at least 8 bytes whose path (at
/// most 3 words) ends within them: two requests with the same key are counted the same.
/// `None` for the others. The path size is in the key, so the mask is too.
#[inline(always)]
pub(crate) fn request_key(m: &[u8]) -> Option<u64> {
    let k = u64::from_le_bytes(*m.first_chunk::<8>()?);
    let words = (k >> 8) & 0xff;
    if words > 3 {
        return None;
    }
    // Its first 2 + 2 * words bytes: 16 to 64 bits.
    Some(k & (u64::MAX >> (48 - 16 * words)))
}

/// Count a Multiple Service Packet request and its members with only what counting needs,
/// as [`request_full`] would: an MSP itself needs no pending entry and routes nothing.
fn count_msp_request(m: &[u8], ctx: Ctx, pending: &mut Option<Box<Pending>>, out: &mut Out<'_>) {
    if !out.spend() {
        return;
    }
    let words = u8_at(m, 1).map_or(0, usize::from);
    let path_end = 2 + 2 * words;
    let (p, data, truncated) = match (m.get(2..path_end), m.get(path_end..)) {
        (Some(p), Some(d)) => (p, d, false),
        _ => (m.get(2..).unwrap_or(&[]), &[][..], true),
    };
    let path = Path::parse(p);
    out.count(
        operation(svc::MULTIPLE_SERVICE_PACKET, &path),
        false,
        u32::from(truncated) + u32::from(path.bad),
    );
    if let Some(msp) = Msp::parse(data) {
        walk_members(msp, data, false, ctx, pending, out);
    }
}

/// Count a Multiple Service Packet response and its members with only what counting needs,
/// as [`response_full`] would (the caller checked that no Identity read awaits an answer).
fn count_msp_response(m: &[u8], ctx: Ctx, pending: &mut Option<Box<Pending>>, out: &mut Out<'_>) {
    if !out.spend() {
        return;
    }
    let (truncated, msp) = msp_response_parts(m);
    out.count(OperationClass::Other, true, u32::from(truncated));
    let Some((msp, data)) = msp else {
        return;
    };
    // The common answer (to a cyclic packet of tag reads): every member a whole plain
    // response. Counted here in one go, as `walk_members` would count them one by one
    // (a third of the cost per member, and no call into its large frame).
    if ctx.depth < MAX_DEPTH
        && let Some(n) = plain_responses(msp, data)
    {
        out.tally.count_many(out.to, PLAIN_RESPONSE, n);
        return;
    }
    walk_members(msp, data, true, ctx, pending, out);
}

/// What counting reads of a Multiple Service Packet response (`m`) as [`response_full`]
/// would: whether its status is cut, and its members' list with its service data (none
/// when there is no data).
#[inline(always)]
fn msp_response_parts(m: &[u8]) -> (bool, Option<(Msp, &[u8])>) {
    let add_words = u8_at(m, 3).map_or(0, usize::from);
    let data = m.get(4 + 2 * add_words..);
    let truncated = u8_at(m, 2).is_none() || data.is_none();
    let data = data.unwrap_or(&[]);
    let msp = (!data.is_empty()).then(|| Msp::parse(data)).flatten();
    (truncated, msp.map(|msp| (msp, data)))
}

/// What [`response_counted`] records of a whole response that embeds nothing.
const PLAIN_RESPONSE: Counted = Counted::new(OperationClass::Other, true, 0);

/// How many members a Multiple Service Packet response (`data` its service data) has when
/// [`Msp::members`] gives them all as non-empty responses that [`response_counted`] counts
/// [`PLAIN_RESPONSE`]; `None` otherwise. The same walk as `members`, with each member's
/// start the previous one's end, kept in a register.
#[inline]
fn plain_responses(msp: Msp, data: &[u8]) -> Option<usize> {
    let (offsets, last_end) = msp.offsets(data);
    let at = |o: &[u8; 2]| usize::from(u16::from_le_bytes(*o));
    // `response_counted` gives `PLAIN_RESPONSE` for a response it counts whose status and
    // additional status are whole: then it has 4 bytes at least (so is not empty). Said
    // so, a check a member fewer than asking it (the debug_asserts below tie them).
    let plain = |start: usize, end: usize| match data.get(start..end) {
        Some(b @ &[s, _, _, add_words, ..]) => {
            COUNTED_RESPONSES[usize::from(s)] && b.len() >= 4 + 2 * usize::from(add_words)
        }
        _ => false,
    };
    let n = if let Some((first, rest)) = offsets.split_first() {
        let mut start = at(first);
        for o in rest {
            let end = at(o);
            if !plain(start, end) {
                return None;
            }
            start = end;
        }
        if !plain(start, last_end?) {
            return None;
        }
        offsets.len()
    } else {
        0
    };
    debug_assert_eq!(msp.members(data).count(), n);
    debug_assert!(msp.members(data).all(|b| {
        b.filter(|b| !b.is_empty()).and_then(response_counted) == Some(PLAIN_RESPONSE)
    }));
    Some(n)
}

/// The members of a Multiple Service Packet (`data` its service data), each a request
/// (`responses` false) or a response of its own, one level deeper (not beyond
/// [`MAX_DEPTH`]).
fn walk_members(
    msp: Msp,
    data: &[u8],
    responses: bool,
    ctx: Ctx,
    pending: &mut Option<Box<Pending>>,
    out: &mut Out<'_>,
) {
    if ctx.depth >= MAX_DEPTH {
        return;
    }
    if !out.events {
        count_members(msp, data, responses, ctx, pending, out);
        return;
    }
    for (i, member) in msp.members(data).enumerate() {
        walk_member(i, member, responses, ctx, pending, out);
    }
}

/// Member `i` of a Multiple Service Packet (`None`: its offsets are bad), the general way.
fn walk_member(
    i: usize,
    member: Option<&[u8]>,
    responses: bool,
    ctx: Ctx,
    pending: &mut Option<Box<Pending>>,
    out: &mut Out<'_>,
) {
    out.short = false;
    let c = Ctx {
        member: (i + 1) as u16,
        depth: ctx.depth + 1,
        ..ctx
    };
    match member {
        Some(b) if responses && b.first().is_some_and(|s| s & RESPONSE != 0) => {
            response(b, c, pending, out)
        }
        Some(b) if !responses && !b.is_empty() => request(b, c, pending, out),
        _ => member_malformed(responses, c, out),
    }
}

/// [`walk_members`] in counting mode. Most members (the tag reads of a cyclic packet and
/// their answers) are counted here from [`request_counted`] or [`response_counted`], with
/// the tally in locals, without entering [`request_full`] or [`response_full`] (whose frames
/// are sized for the events path); the others go to [`walk_member`], with the tally handed
/// back around the call.
fn count_members(
    msp: Msp,
    data: &[u8],
    responses: bool,
    ctx: Ctx,
    pending: &mut Option<Box<Pending>>,
    out: &mut Out<'_>,
) {
    if responses {
        count_members_with(msp, data, true, ctx, pending, out, response_counted);
        return;
    }
    // The key of the last request counted here and its count: the members of a cyclic
    // packet mostly read alike (same service, same path shape and class), and looking the
    // key up costs a fraction of `request_counted`. `u64::MAX` is no key (its path size
    // byte would be 0xff).
    let mut memo = (u64::MAX, Counted(0));
    let counted = |b: &[u8]| match request_key(b) {
        Some(k) if k == memo.0 => {
            debug_assert_eq!(request_counted(b), Some(memo.1));
            Some(memo.1)
        }
        k => {
            let c = request_counted(b);
            if let (Some(k), Some(c)) = (k, c) {
                memo = (k, c);
            }
            c
        }
    };
    count_members_with(msp, data, false, ctx, pending, out, counted);
}

/// [`count_members`] for requests or responses, `counted` telling what counting records
/// of a (non-empty) member, `None` for those [`walk_member`] handles.
#[inline(always)]
fn count_members_with(
    msp: Msp,
    data: &[u8],
    responses: bool,
    ctx: Ctx,
    pending: &mut Option<Box<Pending>>,
    out: &mut Out<'_>,
    mut counted: impl FnMut(&[u8]) -> Option<Counted>,
) {
    let mut tally = out.tally;
    for (i, member) in msp.members(data).enumerate() {
        match member.filter(|b| !b.is_empty()).and_then(&mut counted) {
            Some(c) => {
                if tally.spend() {
                    tally.count(out.to, c);
                }
            }
            None => {
                out.tally = tally;
                walk_member(i, member, responses, ctx, pending, out);
                tally = out.tally;
            }
        }
    }
    out.tally = tally;
}

fn member_malformed(response: bool, ctx: Ctx, out: &mut Out<'_>) {
    if !out.spend() {
        return;
    }
    let s = Summary::malformed("cip", response, 0, Anomaly::BadLength);
    out.emit(&s, |f| base_fields(f, &ctx));
}

/// A response: counted the short way when it can be (counting mode), else in full (see
/// [`request`]).
#[inline]
fn response(m: &[u8], ctx: Ctx, pending: &mut Option<Box<Pending>>, out: &mut Out<'_>) {
    if !out.events {
        if count_short(response_counted(m), out) {
            return;
        }
        // While no Identity read awaits its answer (which [`response_full`] would look up).
        if m[0] & !RESPONSE == svc::MULTIPLE_SERVICE_PACKET
            && pending.as_ref().is_none_or(|p| p.ident.live == 0)
        {
            // Counted so because of the flow's state: not a function of `m` alone.
            out.short = false;
            count_msp_response(m, ctx, pending, out);
            return;
        }
    }
    response_full(m, ctx, pending, out);
}

/// A response decoded in full: its event (or count), the request it answers, identity
/// facts, embedded messages.
fn response_full(m: &[u8], ctx: Ctx, pending: &mut Option<Box<Pending>>, out: &mut Out<'_>) {
    out.short = false;
    if !out.spend() {
        return;
    }
    let service = m[0] & !RESPONSE;
    let mut s = Summary::new("cip", true, m.len());
    s.function = Some(u32::from(service));
    let gs = u8_at(m, 2);
    let add_words = u8_at(m, 3).map_or(0, usize::from);
    let data_at = 4 + 2 * add_words;
    let data = m.get(data_at..);
    if gs.is_none() || data.is_none() {
        s.anomalies.set(Anomaly::Truncated);
    }
    let data = data.unwrap_or(&[]);
    let gs = gs.unwrap_or(0);
    let events = out.events;
    // A matched request of another service is a mismatch (lost or reordered request).
    let req = pending
        .as_mut()
        .filter(|_| events)
        .and_then(|p| p.all.take(ctx.key, ctx.member))
        .filter(|r| r.service == service);
    // The PCCC command and function of an Execute PCCC reply's request (see `Pending`).
    let pccc_req = pending
        .as_mut()
        .filter(|_| service == svc::EXECUTE_PCCC)
        .and_then(|p| p.pccc.take(ctx.key, ctx.member))
        .filter(|r| r.service == service)
        .and_then(|r| r.pccc);
    // The Identity read this answers, if any (kept in both modes, see `Pending`).
    let ident_req = pending
        .as_mut()
        .filter(|p| p.ident.live > 0 && ctx.depth == 0)
        .and_then(|p| p.ident.take(ctx.key, ctx.member))
        .filter(|r| r.service == service && gs == 0);
    let path = req.as_ref().map(|r| r.path).unwrap_or_default();
    // A response's name and class (its request's) only matter to its event: counting
    // aggregates the requests' classes.
    if events {
        s.function_name = service_name(service, &path);
        s.operation = operation(service, &path);
    }
    if is_error(gs) {
        s.status = PduStatus::Exception;
    }
    let cm = path.class == Some(class::CONNECTION_MANAGER);
    let pccc_rsp = pccc_req.and_then(|(cmd, fnc)| pccc::Pccc::response(data, cmd, fnc));
    if let Some(p) = &pccc_rsp {
        s.operation = p.operation();
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    let msp = (service == svc::MULTIPLE_SERVICE_PACKET && !data.is_empty())
        .then(|| Msp::parse(data))
        .flatten();
    let ident_path = ident_req.map(|r| r.path);
    let ident_subject = match ident_req.and_then(|r| r.route) {
        Some(route) => Subject::Routed {
            via: Via::Sender,
            route,
        },
        None => Subject::Sender,
    };
    let fill = |f: &mut Fields| {
        f.push(("service", u(service)));
        path_fields(f, &path, req.as_ref().map(|r| &r.tag));
        base_fields(f, &ctx);
        f.push(("general_status", u(gs)));
        if let Some(e) = (add_words > 0).then(|| le16(m, 4)).flatten() {
            f.push(("extended_status", u(e)));
        }
        if let Some(msp) = &msp {
            f.push(("member_count", u(msp.count)));
        }
        if req.is_none() {
            f.push(("matched", FieldValue::Bool(false)));
        }
        if gs == 0 {
            if let Some(p) = ident_path {
                identity_response_fields(f, service, &p, data);
            } else if path.class == Some(class::IDENTITY) {
                identity_response_fields(f, service, &path, data);
            }
            if cm && matches!(service, svc::FORWARD_OPEN | svc::LARGE_FORWARD_OPEN) {
                forward_open_response_fields(f, data);
            }
            if cm && service == svc::FORWARD_CLOSE {
                forward_close_fields(f, data, false);
            }
        }
    };
    if ident_path.is_some() {
        let events = out.events;
        identity_emit(out.sink(), events, &s, ident_subject, fill);
    } else {
        out.emit(&s, fill);
    }
    if let Some(p) = pccc_rsp.filter(|_| out.spend()) {
        p.emit(true, out.sink());
    }
    if let Some(msp) = msp {
        walk_members(msp, data, true, ctx, pending, out);
    }
}

/// A Multiple Service Packet's service count and offset list (offsets from the count).
#[derive(Debug, Clone, Copy)]
struct Msp {
    count: u16,
}

impl Msp {
    fn parse(data: &[u8]) -> Option<Msp> {
        Some(Msp {
            count: le16(data, 0)?,
        })
    }

    /// The members' offsets, and where the last of them ends (see [`Msp::members`]).
    #[inline(always)]
    fn offsets(self, data: &[u8]) -> (&[[u8; 2]], Option<usize>) {
        // Only as many members as the offset list holds (a count beyond it is cut).
        let n = (self.count as usize)
            .min(data.len().saturating_sub(2) / 2)
            .min(MAX_MEMBERS);
        let (offsets, _) = data.get(2..2 + 2 * n).unwrap_or_default().as_chunks::<2>();
        // A member ends at the next offset. The last one the list holds (the count's last,
        // or the last before the list is cut) ends at the next offset when the count says
        // there is one (then `None` if the data is cut before it), else at the data's end.
        let last_end = if n < usize::from(self.count) {
            le16(data, 2 + 2 * n).map(usize::from)
        } else {
            Some(data.len())
        };
        (offsets, last_end)
    }

    /// Each member's bytes (up to the next offset, the last to the end), `None` where an
    /// offset points outside the data. At most [`MAX_MEMBERS`].
    fn members<'a>(self, data: &'a [u8]) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        let (offsets, last_end) = self.offsets(data);
        let at = |o: &[u8; 2]| usize::from(u16::from_le_bytes(*o));
        offsets.iter().enumerate().map(move |(i, start)| {
            let end = offsets.get(i + 1).map_or(last_end, |o| Some(at(o)));
            data.get(at(start)..end?)
        })
    }
}

/// Unconnected Send request data: timing, the embedded message and the route path.
#[derive(Debug, Clone, Copy)]
struct UnconnectedSend<'a> {
    message: &'a [u8],
    route_port: Option<u8>,
    route_link: Option<u8>,
    /// The route path's bytes (its stated size, when the data holds it all).
    route: Option<&'a [u8]>,
}

impl<'a> UnconnectedSend<'a> {
    fn parse(d: &'a [u8]) -> Option<UnconnectedSend<'a>> {
        let size = le16(d, 2)? as usize;
        let message = d.get(4..4 + size)?;
        let route_at = 4 + size + size % 2;
        let route_words = u8_at(d, route_at).map_or(0, usize::from);
        let route_path = d.get(route_at + 2..route_at + 2 + 2 * route_words);
        let route = d.get(route_at + 2..).unwrap_or(&[]);
        let (route_port, route_link) = match route {
            [p, l, ..] if p & 0xf0 == 0 && p & 0x0f != 0x0f => (Some(p & 0x0f), Some(*l)),
            _ => (None, None),
        };
        Some(UnconnectedSend {
            message,
            route_port,
            route_link,
            route: route_path,
        })
    }

    fn fields(&self, f: &mut Fields) {
        if let (Some(p), Some(l)) = (self.route_port, self.route_link) {
            f.push(("route_port", u(p)));
            f.push(("route_link", u(l)));
        }
    }
}

/// The Identity read an Unconnected Send routes, directly or through nested Unconnected
/// Sends (each one's route continuing from where the previous one ends), with the whole
/// route; `None` when it routes something else or a route does not parse or fit.
fn routed_identity_read(u: &UnconnectedSend<'_>) -> Option<IdentRead> {
    // Most routed messages are tag reads and writes: only these services can lead to an
    // Identity read.
    let wanted = |m: &[u8]| {
        matches!(
            m.first(),
            Some(&(svc::GET_ATTRIBUTES_ALL | svc::GET_ATTRIBUTE_SINGLE | svc::UNCONNECTED_SEND))
        )
    };
    if !wanted(u.message) {
        return None;
    }
    let mut route = route_path(u.route?)?;
    let mut m = u.message;
    // The embedded message is at depth 1; nested ones go no deeper than [`request`] follows.
    for depth in 1..=MAX_DEPTH {
        if !wanted(m) {
            return None;
        }
        let service = m[0];
        let path_end = 2 + 2 * usize::from(u8_at(m, 1)?);
        let path = Path::parse(m.get(2..path_end)?);
        match (service, path.class) {
            (svc::GET_ATTRIBUTES_ALL | svc::GET_ATTRIBUTE_SINGLE, Some(class::IDENTITY)) => {
                return Some(IdentRead {
                    service,
                    path,
                    route: Some(route),
                });
            }
            (svc::UNCONNECTED_SEND, Some(class::CONNECTION_MANAGER)) if depth < MAX_DEPTH => {
                let inner = UnconnectedSend::parse(m.get(path_end..)?)?;
                route = route.then(&route_path(inner.route?)?)?;
                m = inner.message;
            }
            _ => return None,
        }
    }
    None
}

/// A route path (CIP Vol. 1, C-1.4.3: port segments only) as a [`Route`]; `None` when
/// empty, when another segment type appears, or when it does not fit.
pub(crate) fn route_path(p: &[u8]) -> Option<Route> {
    let mut route = Route::new();
    let mut i = 0;
    while let Some(&s) = p.get(i) {
        // Port segment: segment type 0 in bits 5-7, bit 4 = a link address size byte
        // follows (else the link address is one byte), port 15 = a 16-bit port follows
        // (after the size byte); padded to an even length.
        if s & 0xe0 != 0 {
            return None;
        }
        let mut j = i + 1;
        let size = if s & 0x10 != 0 {
            j += 1;
            usize::from(*p.get(j - 1)?)
        } else {
            1
        };
        let port = if s & 0x0f == 0x0f {
            j += 2;
            le16(p, j - 2)?
        } else {
            u16::from(s & 0x0f)
        };
        if port == 0 || !route.push(port, p.get(j..j + size)?) {
            return None;
        }
        j += size;
        i = j + (j - i) % 2;
    }
    (!route.is_empty()).then_some(route)
}

/// Forward Open request: O→T and T→O connection ids, connection serial, originator.
fn forward_open_request_fields(f: &mut Fields, d: &[u8], _large: bool) {
    if let (Some(ot), Some(to), Some(serial), Some(vendor), Some(orig)) = (
        le32(d, 2),
        le32(d, 6),
        le16(d, 10),
        le16(d, 12),
        le32(d, 14),
    ) {
        f.push(("ot_connection_id", u(ot)));
        f.push(("to_connection_id", u(to)));
        f.push(("connection_serial", u(serial)));
        f.push(("originator_vendor_id", u(vendor)));
        f.push(("originator_serial", u(orig)));
    }
}

/// Forward Open response: the connection ids the target chose.
fn forward_open_response_fields(f: &mut Fields, d: &[u8]) {
    if let (Some(ot), Some(to), Some(serial)) = (le32(d, 0), le32(d, 4), le16(d, 8)) {
        f.push(("ot_connection_id", u(ot)));
        f.push(("to_connection_id", u(to)));
        f.push(("connection_serial", u(serial)));
    }
}

/// Forward Close request (after the priority/tick and timeout bytes) and response:
/// connection serial, originator.
fn forward_close_fields(f: &mut Fields, d: &[u8], request: bool) {
    let at = if request { 2 } else { 0 };
    if let (Some(serial), Some(vendor), Some(orig)) =
        (le16(d, at), le16(d, at + 2), le32(d, at + 4))
    {
        f.push(("connection_serial", u(serial)));
        f.push(("originator_vendor_id", u(vendor)));
        f.push(("originator_serial", u(orig)));
    }
}

/// Identity object attributes 1-7 (vendor id … product name) as laid out by
/// Get_Attributes_All and by the ListIdentity item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// Vendor id.
    pub vendor_id: u16,
    /// Device type.
    pub device_type: u16,
    /// Product code.
    pub product_code: u16,
    /// Major and minor revision.
    pub revision: (u8, u8),
    /// Device status word.
    pub status: u16,
    /// Serial number.
    pub serial: u32,
    /// Product name (SHORT_STRING).
    pub name: &'a [u8],
    /// Bytes used.
    pub len: usize,
}

impl<'a> Identity<'a> {
    /// Parse attributes 1-7 from the front of `b`.
    pub fn parse(b: &'a [u8]) -> Option<Identity<'a>> {
        let n = u8_at(b, 14)? as usize;
        Some(Identity {
            vendor_id: le16(b, 0)?,
            device_type: le16(b, 2)?,
            product_code: le16(b, 4)?,
            revision: (u8_at(b, 6)?, u8_at(b, 7)?),
            status: le16(b, 8)?,
            serial: le32(b, 10)?,
            name: b.get(15..15 + n)?,
            len: 15 + n,
        })
    }

    /// The identity facts as event fields.
    pub fn fields(&self, f: &mut Fields) {
        f.push(("vendor_id", u(self.vendor_id)));
        f.push(("device_type", u(self.device_type)));
        f.push(("product_code", u(self.product_code)));
        f.push((
            "firmware_version",
            FieldValue::Str(format!("{}.{}", self.revision.0, self.revision.1)),
        ));
        f.push(("device_status", u(self.status)));
        f.push(("serial_number", serial_hex(self.serial)));
        f.push(("product_name", text(self.name)));
    }
}

/// A serial number as `0x` and 8 hex digits.
pub fn serial_hex(s: u32) -> FieldValue {
    FieldValue::Str(format!("0x{s:08x}"))
}

/// Bytes as text (lossy, control characters dropped).
pub fn text(b: &[u8]) -> FieldValue {
    FieldValue::Str(
        String::from_utf8_lossy(b)
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
    )
}

/// Emit a PDU whose fields identify a device (an Identity object answer, a ListIdentity
/// reply): the fields are built in both modes and each identity-named one is reported as a
/// fact about `subject` (the sender, or a module the sender routed the read to), numeric
/// ids as `cip:<n>` whichever protocol carried them (CIP's vendor ids and device types are
/// one numbering, in CIP and in ListIdentity alike).
pub(crate) fn identity_emit(
    sink: &mut dyn PduSink,
    events: bool,
    s: &Summary,
    subject: Subject,
    fill: impl FnOnce(&mut Fields),
) {
    let mut fields = Vec::new();
    fill(&mut fields);
    for (name, value) in &fields {
        let Some(attribute) = yagura_core::Attribute::from_field(name) else {
            continue;
        };
        let value = match value {
            FieldValue::Str(v) if v.trim().is_empty() => continue,
            FieldValue::Str(v) => v.trim().to_string(),
            FieldValue::U64(n) => format!("cip:{n}"),
            FieldValue::I64(n) => format!("cip:{n}"),
            FieldValue::Bool(_) => continue,
        };
        sink.identity(yagura_core::IdentityFact {
            protocol: s.protocol,
            subject,
            attribute,
            value,
        });
    }
    emit_to(sink, events, s, move |f| *f = fields);
}

/// Identity facts in a successful response to a read of the Identity object.
fn identity_response_fields(f: &mut Fields, service: u8, path: &Path, d: &[u8]) {
    match service {
        svc::GET_ATTRIBUTES_ALL => {
            if let Some(id) = Identity::parse(d) {
                id.fields(f);
                if let Some(state) = u8_at(d, id.len) {
                    f.push(("state", u(state)));
                }
            }
        }
        svc::GET_ATTRIBUTE_SINGLE => {
            if let Some(a) = path.attribute {
                identity_attribute(f, a, d);
            }
        }
        svc::GET_ATTRIBUTE_LIST => {
            // Count, then per attribute: id, status, value (when status is 0).
            let n = le16(d, 0).unwrap_or(0);
            let mut at = 2;
            for _ in 0..n.min(16) {
                let (Some(id), Some(st)) = (le16(d, at), le16(d, at + 2)) else {
                    break;
                };
                at += 4;
                if st != 0 {
                    continue;
                }
                let Some(len) = identity_attribute(f, u32::from(id), d.get(at..).unwrap_or(&[]))
                else {
                    break;
                };
                at += len;
            }
        }
        _ => {}
    }
}

/// One Identity attribute value as its field; returns its length (None if unknown or short).
fn identity_attribute(f: &mut Fields, attr: u32, v: &[u8]) -> Option<usize> {
    match attr {
        1 => f.push(("vendor_id", u(le16(v, 0)?))),
        2 => f.push(("device_type", u(le16(v, 0)?))),
        3 => f.push(("product_code", u(le16(v, 0)?))),
        4 => f.push((
            "firmware_version",
            FieldValue::Str(format!("{}.{}", u8_at(v, 0)?, u8_at(v, 1)?)),
        )),
        5 => f.push(("device_status", u(le16(v, 0)?))),
        6 => f.push(("serial_number", serial_hex(le32(v, 0)?))),
        7 => {
            let n = u8_at(v, 0)? as usize;
            f.push(("product_name", text(v.get(1..1 + n)?)));
            return Some(1 + n);
        }
        8 => f.push(("state", u(u8_at(v, 0)?))),
        _ => return None,
    }
    Some(match attr {
        6 => 4,
        8 => 1,
        _ => 2,
    })
}

#[cfg(test)]
mod counted_tests {
    use super::*;

    // The packed count must give back what was counted, for every class.
    #[test]
    fn counted_round_trips() {
        for operation in OperationClass::ALL {
            for response in [false, true] {
                for anomalies in [0, 1, 2, 31] {
                    let pdu = Counted::new(operation, response, anomalies).pdu();
                    assert_eq!(
                        pdu,
                        PduCount {
                            protocol: "cip",
                            operation,
                            response,
                            anomalies,
                        }
                    );
                }
            }
        }
    }
}
