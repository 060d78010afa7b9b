//! DHCPv6 (RFC 8415): a message type, a 3-byte transaction id and options of a 16-bit code
//! and length; relay agents wrap a message in Relay-forward/Relay-reply messages (hop count,
//! link and peer addresses, then options, one of which, Relay Message, holds the inner
//! message).
//!
//! Identity facts: a client's FQDN (option 39) and vendor class (16) about the sender of a
//! client message that no relay forwarded (the DUID's link-layer address may be another
//! interface's, or a cloned machine's), or, for a relayed one, about the MAC in its DUID;
//! the server and relay roles about the senders of server and relay messages.

use yagura_core::{Attribute, Direction, FieldValue, IdentityFact, MacAddr, PduStatus, Subject};

use super::{os_of_vendor_class, wire_name};
use crate::bytes::{be16, be32};
use crate::emit::{Fields, Summary, emit_to, u};
use crate::link::{hex_text, ip_text, printable};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

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

const OPT_CLIENT_ID: u16 = 1;
const OPT_SERVER_ID: u16 = 2;
const OPT_IA_NA: u16 = 3;
const OPT_ORO: u16 = 6;
const OPT_RELAY_MSG: u16 = 9;
const OPT_STATUS_CODE: u16 = 13;
const OPT_VENDOR_CLASS: u16 = 16;
const OPT_CLIENT_FQDN: u16 = 39;
const SUBOPT_IAADDR: u16 = 5;

/// Relay messages nested deeper than this are not opened (RFC 8415 allows 32 hops).
const MAX_RELAY_DEPTH: usize = 8;
/// Relay-forward/reply header: type, hop count, link address, peer address.
const RELAY_HEADER: usize = 34;

/// Does `data` look like a DHCPv6 message (a known type, room for the transaction id)?
pub fn probe_v6(data: &[u8]) -> Probe {
    let ok = data.len() >= 4 && V6MessageType(data[0]).name().is_some();
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// The options of `b` as (code, value) pairs, in order; false in `.1` when one overruns.
fn options(b: &[u8]) -> (Vec<(u16, &[u8])>, bool) {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (Some(code), Some(len)) = (be16(b, i), be16(b, i + 2)) else {
            return (out, false);
        };
        let Some(v) = b.get(i + 4..i + 4 + usize::from(len)) else {
            return (out, false);
        };
        out.push((code, v));
        i += 4 + usize::from(len);
    }
    (out, true)
}

/// A DUID as hex, and the Ethernet MAC inside a DUID-LLT (type 1) or DUID-LL (type 3).
fn duid(v: &[u8]) -> (String, Option<MacAddr>) {
    let mac = match (be16(v, 0), be16(v, 2)) {
        (Some(1), Some(1)) if v.len() == 14 => MacAddr::from_slice(&v[8..]),
        (Some(3), Some(1)) if v.len() == 10 => MacAddr::from_slice(&v[4..]),
        _ => None,
    };
    (hex_text(v, 130), mac)
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
        let events = sink.wants_events();
        if t.name().is_none() {
            s.anomalies.set(Anomaly::UnknownFunction);
            s.status = PduStatus::Malformed;
            emit_to(sink, events, &s, |_| {});
            return Parsed::done(d.len());
        }
        // Event fields are built only when events are wanted (formatting DUIDs, addresses
        // and lists is most of the cost of a message); facts always.
        let mut fields = Out {
            events,
            list: Vec::new(),
        };
        let mut facts: Vec<(Subject, Attribute, String)> = Vec::new();
        match t {
            V6MessageType::RELAY_FORW => {
                facts.push((Subject::Sender, Attribute::Role, "dhcp_relay".into()));
            }
            V6MessageType::RELAY_REPL
            | V6MessageType::ADVERTISE
            | V6MessageType::REPLY
            | V6MessageType::RECONFIGURE => {
                facts.push((Subject::Sender, Attribute::Role, "dhcp_server".into()));
            }
            _ => {}
        }
        // Open the relay layers down to the client's or server's message.
        let mut m = d;
        let mut depth = 0;
        while matches!(m.first(), Some(12 | 13)) {
            let Some(opts) = m.get(RELAY_HEADER..) else {
                s.anomalies.set(Anomaly::Truncated);
                break;
            };
            if depth == 0 {
                fields.put("hop_count", || u(m[1]));
                fields.put("link_address", || {
                    FieldValue::Str(ip_text(&m[2..18]).unwrap_or_default())
                });
                fields.put("peer_address", || {
                    FieldValue::Str(ip_text(&m[18..34]).unwrap_or_default())
                });
            }
            let (list, ok) = options(opts);
            if !ok {
                s.anomalies.set(Anomaly::Truncated);
            }
            let Some(&(_, inner)) = list.iter().find(|(c, _)| *c == OPT_RELAY_MSG) else {
                m = &[];
                break;
            };
            depth += 1;
            if depth > MAX_RELAY_DEPTH {
                m = &[];
                break;
            }
            m = inner;
        }
        if m.len() >= 4 && !matches!(m[0], 12 | 13) {
            let inner = V6MessageType(m[0]);
            if depth > 0 {
                fields.put("inner_message_type", || u(inner.0));
                if let Some(n) = inner.name() {
                    fields.put("inner_message", || FieldValue::Str(n.into()));
                }
            }
            fields.put("transaction_id", || {
                u(u32::from_be_bytes([0, m[1], m[2], m[3]]))
            });
            let client = matches!(inner.0, 1 | 3 | 4 | 5 | 6 | 8 | 9 | 11);
            message(&m[4..], client, depth > 0, &mut s, &mut fields, &mut facts);
        } else if depth > 0 || m.len() < 4 {
            s.anomalies.set(Anomaly::Truncated);
        }
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
        }
        for (i, (subject, attribute, value)) in facts.iter().enumerate() {
            if value.trim().is_empty()
                || facts[..i].contains(&(*subject, *attribute, value.clone()))
            {
                continue;
            }
            sink.identity(IdentityFact {
                protocol: "dhcpv6",
                subject: *subject,
                attribute: *attribute,
                value: value.clone(),
            });
        }
        emit_to(sink, events, &s, move |f| *f = fields.list);
        Parsed::done(d.len())
    }
}

/// A message's event fields, kept only when events are wanted.
struct Out {
    events: bool,
    list: Fields,
}

impl Out {
    /// Add field `name`, its value made only when it is kept.
    fn put(&mut self, name: &'static str, value: impl FnOnce() -> FieldValue) {
        if self.events {
            self.list.push((name, value()));
        }
    }
}

/// The options of a client or server message (after type and transaction id).
fn message(
    b: &[u8],
    client: bool,
    relayed: bool,
    s: &mut Summary,
    fields: &mut Out,
    facts: &mut Vec<(Subject, Attribute, String)>,
) {
    let (list, ok) = options(b);
    if !ok {
        s.anomalies.set(Anomaly::Truncated);
    }
    let mac = list
        .iter()
        .find(|(c, _)| *c == OPT_CLIENT_ID)
        .and_then(|(_, v)| duid(v).1);
    // Whom the client's statements are about.
    let who = match (client, relayed) {
        (true, false) => Some(Subject::Sender),
        (true, true) => mac.map(Subject::Mac),
        _ => None,
    };
    for (code, v) in list {
        match code {
            OPT_CLIENT_ID | OPT_SERVER_ID if fields.events => {
                let (hex, mac) = duid(v);
                let (name, mac_name) = if code == OPT_CLIENT_ID {
                    ("client_duid", "client_duid_mac")
                } else {
                    ("server_duid", "server_duid_mac")
                };
                fields.put(name, || FieldValue::Str(hex));
                if let Some(m) = mac {
                    fields.put(mac_name, || FieldValue::Str(m.to_string()));
                }
            }
            OPT_CLIENT_FQDN if fields.events || who.is_some() => {
                if let Some(name) = v.get(1..).and_then(wire_name).filter(|n| !n.is_empty()) {
                    if let Some(w) = who {
                        facts.push((w, Attribute::Hostname, name.trim_end_matches('.').into()));
                    }
                    fields.put("fqdn", || FieldValue::Str(name));
                }
            }
            OPT_VENDOR_CLASS => {
                let Some(enterprise) = be32(v, 0) else {
                    s.anomalies.set(Anomaly::BadLength);
                    continue;
                };
                // The items are walked for their lengths either way; their text is needed
                // by the event or by facts about someone.
                let keep = fields.events || who.is_some();
                let mut data = Vec::new();
                let mut i = 4;
                while let Some(len) = be16(v, i) {
                    let Some(item) = v.get(i + 2..i + 2 + usize::from(len)) else {
                        s.anomalies.set(Anomaly::BadLength);
                        break;
                    };
                    if keep && data.len() < 8 {
                        data.push(printable(item, 255));
                    }
                    i += 2 + usize::from(len);
                }
                fields.put("vendor_enterprise", || u(enterprise));
                fields.put("vendor_class", || FieldValue::Str(data.join(",")));
                if let Some(w) = who {
                    for item in &data {
                        facts.push((w, Attribute::Capability, item.clone()));
                        if let Some(os) = os_of_vendor_class(item) {
                            facts.push((w, Attribute::Os, os));
                        }
                    }
                }
            }
            OPT_ORO if fields.events => {
                let codes: Vec<String> = v
                    .chunks_exact(2)
                    .take(64)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]).to_string())
                    .collect();
                fields.put("requested_options", || FieldValue::Str(codes.join(",")));
            }
            OPT_IA_NA if fields.events => {
                // IAID, T1, T2, then IA options; an IA Address holds the assigned address.
                let (ia, _) = options(v.get(12..).unwrap_or_default());
                for (c, a) in ia {
                    if c == SUBOPT_IAADDR
                        && !client
                        && let Some(ip) = a.get(..16).and_then(ip_text)
                    {
                        fields.put("assigned_address", || FieldValue::Str(ip));
                    }
                }
            }
            OPT_STATUS_CODE => {
                if let Some(code) = be16(v, 0) {
                    fields.put("status_code", || u(code));
                    if code != 0 && s.status == PduStatus::Ok {
                        s.status = PduStatus::Exception;
                    }
                }
            }
            _ => {}
        }
    }
}
