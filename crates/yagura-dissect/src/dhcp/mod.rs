//! DHCP (RFC 2131, message type option 53) and DHCPv6 (RFC 8415, message type). One
//! datagram is one message.

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::emit::{Summary, emit, u};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// BOOTP field offsets.
mod field {
    pub const OP: usize = 0;
    pub const HLEN: usize = 2;
    pub const XID: usize = 4;
    pub const MAGIC: usize = 236;
    pub const OPTIONS: usize = 240;
}

/// The DHCP magic cookie.
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
const OPT_PAD: u8 = 0;
const OPT_MESSAGE_TYPE: u8 = 53;
const OPT_END: u8 = 255;

open_enum! {
    /// DHCP message types (option 53).
    pub struct MessageType(u8) {
        DISCOVER = 1 => "discover",
        OFFER = 2 => "offer",
        REQUEST = 3 => "request",
        DECLINE = 4 => "decline",
        ACK = 5 => "ack",
        NAK = 6 => "nak",
        RELEASE = 7 => "release",
        INFORM = 8 => "inform",
        FORCE_RENEW = 9 => "force_renew",
        LEASE_QUERY = 10 => "lease_query",
        LEASE_UNASSIGNED = 11 => "lease_unassigned",
        LEASE_UNKNOWN = 12 => "lease_unknown",
        LEASE_ACTIVE = 13 => "lease_active",
    }
}

open_enum! {
    /// DHCPv6 message types.
    pub struct V6MessageType(u8) {
        SOLICIT = 1 => "solicit",
        ADVERTISE = 2 => "advertise",
        REQUEST = 3 => "request",
        CONFIRM = 4 => "confirm",
        RENEW = 5 => "renew",
        REBIND = 6 => "rebind",
        REPLY = 7 => "reply",
        RELEASE = 8 => "release",
        DECLINE = 9 => "decline",
        RECONFIGURE = 10 => "reconfigure",
        INFORMATION_REQUEST = 11 => "information_request",
        RELAY_FORW = 12 => "relay_forw",
        RELAY_REPL = 13 => "relay_repl",
    }
}

/// Does `data` start with a BOOTP header (op 1/2, a hardware address length ≤ 16) and the
/// DHCP magic cookie?
pub fn probe(data: &[u8]) -> Probe {
    let ok = data.len() >= field::OPTIONS
        && matches!(data[field::OP], 1 | 2)
        && data[field::HLEN] <= 16
        && data[field::MAGIC..field::OPTIONS] == MAGIC;
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// Does `data` look like a DHCPv6 message (a known type, room for the transaction id)?
pub fn probe_v6(data: &[u8]) -> Probe {
    let ok = data.len() >= 4 && V6MessageType(data[0]).name().is_some();
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// The message type option, walking the options after the cookie.
fn message_type(d: &[u8]) -> Option<u8> {
    let mut i = field::OPTIONS;
    while let Some(&code) = d.get(i) {
        match code {
            OPT_PAD => i += 1,
            OPT_END => return None,
            _ => {
                let len = *d.get(i + 1)? as usize;
                if code == OPT_MESSAGE_TYPE && len == 1 {
                    return d.get(i + 2).copied();
                }
                i += 2 + len;
            }
        }
    }
    None
}

/// The DHCP dissector: stateless, zero-sized.
#[derive(Debug, Clone, Copy, Default)]
pub struct DhcpDissector;

impl Dissector for DhcpDissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::DHCP
    }
    fn parse(&mut self, d: &[u8], _dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        if d.is_empty() {
            return Parsed::done(0);
        }
        // BOOTP op says the direction: 1 from client, 2 from server.
        let mut s = Summary::new("dhcp", d[field::OP] == 2, d.len());
        if d.len() < field::OPTIONS {
            s.anomalies.set(Anomaly::Truncated);
        } else if d[field::MAGIC..field::OPTIONS] != MAGIC {
            s.anomalies.set(Anomaly::BadMagic);
        } else if let Some(t) = message_type(d) {
            let t = MessageType(t);
            s.function = Some(u32::from(t.0));
            s.function_name = t.name();
            if t == MessageType::NAK || t == MessageType::DECLINE {
                s.status = PduStatus::Exception;
            }
        }
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
        }
        // Address configuration: `other` until DHCP feeds identity facts.
        s.operation = OperationClass::Other;
        emit(sink, &s, |fields| {
            if let Some(x) = crate::bytes::be32(d, field::XID) {
                fields.push(("transaction_id", u(x)));
            }
        });
        Parsed::done(d.len())
    }
}

/// The DHCPv6 dissector: stateless, zero-sized.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dhcpv6Dissector;

impl Dissector for Dhcpv6Dissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::DHCPV6
    }
    fn parse(&mut self, d: &[u8], _dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        let Some(&t) = d.first() else {
            return Parsed::done(0);
        };
        let t = V6MessageType(t);
        let response = matches!(t.0, 2 | 7 | 10 | 13);
        let mut s = Summary::new("dhcpv6", response, d.len());
        s.function = Some(u32::from(t.0));
        s.function_name = t.name();
        if t.name().is_none() {
            s.anomalies.set(Anomaly::UnknownFunction);
            s.status = PduStatus::Malformed;
        }
        emit(sink, &s, |_| {});
        Parsed::done(d.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{VecSink, hex};

    #[test]
    fn parses_discover_and_offer() {
        // zeek__dhcp.pcap, frames 1 and 2 (padding zeros elided into a repeat).
        let mut d1 = hex("01010600000007c0000000000000000000000000000000000000000090b11c994929");
        d1.resize(236, 0);
        d1.extend_from_slice(&hex(
            "638253633501013204c0a8d3c20c0d62746573742e69732e636f6f6cff",
        ));
        let mut s = VecSink::default();
        assert_eq!(probe(&d1), Probe::Match);
        DhcpDissector.parse(&d1, Direction::ToServer, &mut s);
        assert_eq!(s.events[0].function_name, Some("discover"));
        assert!(!s.events[0].response);
        let mut d2 = hex("02010600000007c0000000000000000080020661ac13e6070000000090b11c994929");
        d2.resize(236, 0);
        d2.extend_from_slice(&hex("638253633501023604800206983304000003840104ffffff00ff"));
        DhcpDissector.parse(&d2, Direction::ToClient, &mut s);
        assert_eq!(s.events[1].function_name, Some("offer"));
        assert!(s.events[1].response);
        DhcpDissector.parse(&d2[..100], Direction::ToClient, &mut s);
        assert_eq!(s.events[2].anomalies, ["truncated"]);
    }
}
