//! EtherNet/IP encapsulation (ODVA Vol. 2, 2-3): the 24-byte header over TCP and UDP 44818.
//! CIP inside SendRRData/SendUnitData is decoded by a later session.

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::bytes::{le16, le32};
use crate::emit::{Summary, emit, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// Encapsulation header field offsets (all little-endian).
mod field {
    pub const COMMAND: usize = 0;
    /// Bytes after the 24-byte header.
    pub const LENGTH: usize = 2;
    pub const SESSION: usize = 4;
    pub const STATUS: usize = 8;
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

/// Per-flow EtherNet/IP state.
#[derive(Debug, Clone)]
pub struct EnipDissector {
    stream: Stream,
    framing: EnipFraming,
}

#[derive(Debug, Clone, Copy)]
struct EnipFraming;

impl EnipDissector {
    /// A dissector for one flow; `udp` when each call is a whole datagram.
    pub fn new(udp: bool) -> EnipDissector {
        EnipDissector {
            stream: Stream::new(udp),
            framing: EnipFraming,
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
        let c = h.command();
        let response = dir == Direction::ToClient;
        let mut s = Summary::new("enip", response, n);
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
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
        }
        emit(sink, &s, |fields| {
            fields.push(("command", u(c.0)));
            fields.push(("session", u(h.session())));
            if h.status() != 0 {
                fields.push(("enip_status", u(h.status())));
            }
        });
        Step::Used(n)
    }
}

#[cfg(test)]
mod tests;
