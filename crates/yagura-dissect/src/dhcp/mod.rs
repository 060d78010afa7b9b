//! DHCP (RFC 2131 and the options of RFC 2132, 4702, 4361) and DHCPv6 (RFC 8415, in
//! [`v6`]). One datagram is one message.
//!
//! Beside the event, a message reports identity facts: what a client says of itself
//! (host name, FQDN, vendor class, an OS hint from the vendor class or the parameter request
//! list) about the client's hardware address (`chaddr`, [`Subject::Mac`]), which stays right
//! when a relay agent forwards the message; and the server role about the address the
//! server identifier option names.

use std::net::Ipv4Addr;

use yagura_core::{Attribute, Direction, FieldValue, IdentityFact, MacAddr, PduStatus, Subject};

use crate::emit::{Fields, Summary, emit_to, u};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

mod v6;

pub use v6::{Dhcpv6Dissector, V6MessageType, probe_v6};

/// BOOTP field offsets.
mod field {
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const XID: usize = 4;
    pub const CIADDR: usize = 12;
    pub const YIADDR: usize = 16;
    pub const GIADDR: usize = 24;
    pub const CHADDR: usize = 28;
    pub const MAGIC: usize = 236;
    pub const OPTIONS: usize = 240;
}

/// The DHCP magic cookie.
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
const OPT_PAD: u8 = 0;
const OPT_HOSTNAME: u8 = 12;
const OPT_DOMAIN_NAME: u8 = 15;
const OPT_REQUESTED_ADDRESS: u8 = 50;
const OPT_LEASE_TIME: u8 = 51;
const OPT_MESSAGE_TYPE: u8 = 53;
const OPT_SERVER_ID: u8 = 54;
const OPT_PARAMETER_LIST: u8 = 55;
const OPT_VENDOR_CLASS: u8 = 60;
const OPT_CLIENT_ID: u8 = 61;
const OPT_FQDN: u8 = 81;
const OPT_RELAY_AGENT: u8 = 82;
const OPT_END: u8 = 255;

/// Longest text kept from an option.
const MAX_TEXT: usize = 255;

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

/// Does `data` start with a BOOTP header (op 1/2, a hardware address length ≤ 16) and the
/// DHCP magic cookie?
pub fn probe(data: &[u8]) -> Probe {
    let ok = data.len() >= field::OPTIONS
        && matches!(data[field::OP], 1 | 2)
        && data[field::HLEN] <= 16
        && data[field::MAGIC..field::OPTIONS] == MAGIC;
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// Parameter request lists (option 55) that only one OS family sends, as OS hints. Each is
/// the exact list seen in the corpus beside the vendor class `MSFT 5.0`: Windows 2000/XP/2003
/// ask for the first (no classless static routes, 121), Windows Vista and later add 121.
const PRL_FINGERPRINTS: [(&[u8], &str); 2] = [
    (&[1, 15, 3, 6, 44, 46, 47, 31, 33, 249, 43], "Windows"),
    (&[1, 15, 3, 6, 44, 46, 47, 31, 33, 121, 249, 43], "Windows"),
];

/// The OS a vendor class identifier (option 60) names, for the formats whose authors
/// document them: Microsoft's `MSFT 5.0` / `MSFT 98`, Android's `android-dhcp-<version>`,
/// dhcpcd's `dhcpcd-<version>:<sysname>-<release>:<machine>:<platform>`.
pub(crate) fn os_of_vendor_class(vc: &str) -> Option<String> {
    if vc.starts_with("MSFT ") {
        return Some("Windows".into());
    }
    if vc.starts_with("android-dhcp-") {
        return Some("Android".into());
    }
    if let Some(rest) = vc.strip_prefix("dhcpcd-") {
        let sys = rest.split(':').nth(1)?.split('-').next()?;
        return (!sys.is_empty()).then(|| sys.to_owned());
    }
    None
}

/// Printable option text (control characters as `?`, trailing NULs dropped).
fn opt_text(v: &[u8]) -> String {
    crate::link::printable(v, MAX_TEXT)
}

fn ipv4_at(d: &[u8], off: usize) -> Option<Ipv4Addr> {
    let b = d.get(off..off + 4)?;
    Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

/// A domain name in DNS wire format (RFC 4702 with the E flag, RFC 8415): labels without
/// compression. `None` when malformed; a fully qualified name ends with `.`.
pub(crate) fn wire_name(b: &[u8]) -> Option<String> {
    let mut name = String::new();
    let mut i = 0;
    while let Some(&len) = b.get(i) {
        if len == 0 {
            name.push('.');
            return Some(name);
        }
        if len > 63 || name.len() > MAX_TEXT {
            return None;
        }
        let label = b.get(i + 1..i + 1 + usize::from(len))?;
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&crate::link::printable(label, 63));
        i += 1 + usize::from(len);
    }
    // A partial name (no root label): the client's own host name only.
    Some(name)
}

/// What the options of one message say.
#[derive(Default)]
struct Options<'a> {
    message_type: Option<u8>,
    hostname: Option<&'a [u8]>,
    domain_name: Option<&'a [u8]>,
    requested: Option<Ipv4Addr>,
    lease: Option<u32>,
    server_id: Option<Ipv4Addr>,
    prl: Option<&'a [u8]>,
    vendor_class: Option<&'a [u8]>,
    client_id: Option<&'a [u8]>,
    fqdn: Option<&'a [u8]>,
    relay_agent: bool,
    count: u64,
    /// An option runs past the end of the datagram.
    overrun: bool,
}

/// Walk the options after the cookie (at most one pass over the datagram).
fn options(d: &[u8]) -> Options<'_> {
    let mut o = Options::default();
    let mut i = field::OPTIONS;
    while let Some(&code) = d.get(i) {
        match code {
            OPT_PAD => i += 1,
            OPT_END => break,
            _ => {
                let Some(len) = d.get(i + 1).map(|&l| usize::from(l)) else {
                    o.overrun = true;
                    break;
                };
                let Some(v) = d.get(i + 2..i + 2 + len) else {
                    o.overrun = true;
                    break;
                };
                i += 2 + len;
                o.count += 1;
                let addr = || (len == 4).then(|| Ipv4Addr::new(v[0], v[1], v[2], v[3]));
                match code {
                    OPT_MESSAGE_TYPE if len == 1 => o.message_type = Some(v[0]),
                    OPT_HOSTNAME => o.hostname = Some(v),
                    OPT_DOMAIN_NAME => o.domain_name = Some(v),
                    OPT_REQUESTED_ADDRESS => o.requested = addr(),
                    OPT_LEASE_TIME if len == 4 => {
                        o.lease = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
                    }
                    OPT_SERVER_ID => o.server_id = addr(),
                    OPT_PARAMETER_LIST => o.prl = Some(v),
                    OPT_VENDOR_CLASS => o.vendor_class = Some(v),
                    OPT_CLIENT_ID => o.client_id = Some(v),
                    OPT_FQDN => o.fqdn = Some(v),
                    OPT_RELAY_AGENT => o.relay_agent = true,
                    _ => {}
                }
            }
        }
    }
    o
}

/// The client FQDN option (RFC 4702): flags, two deprecated rcodes, then the name in wire
/// format when the E flag (0x04) is set, else in ASCII.
fn fqdn(v: &[u8]) -> Option<String> {
    let (&flags, rest) = v.split_first()?;
    let name = rest.get(2..)?;
    let name = if flags & 0x04 != 0 {
        wire_name(name)?
    } else {
        opt_text(name)
    };
    (!name.is_empty()).then_some(name)
}

/// A client identifier (option 61): type 1 with 6 bytes is an Ethernet MAC, else hex.
fn client_id(v: &[u8]) -> String {
    match v {
        [1, mac @ ..] if mac.len() == 6 => crate::link::mac_text(mac).unwrap_or_default(),
        _ => crate::link::hex_text(v, 64),
    }
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
        let client = d[field::OP] == 1;
        let mut s = Summary::new("dhcp", d[field::OP] == 2, d.len());
        let events = sink.wants_events();
        if d.len() < field::OPTIONS {
            s.anomalies.set(Anomaly::Truncated);
        } else if d[field::MAGIC..field::OPTIONS] != MAGIC {
            s.anomalies.set(Anomaly::BadMagic);
        }
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
            emit_to(sink, events, &s, |fields| {
                if let Some(x) = crate::bytes::be32(d, field::XID) {
                    fields.push(("transaction_id", u(x)));
                }
            });
            return Parsed::done(d.len());
        }
        let o = options(d);
        if o.overrun {
            s.anomalies.set(Anomaly::Truncated);
            s.status = PduStatus::Malformed;
        }
        let t = o.message_type.map(MessageType);
        if let Some(t) = t {
            s.function = Some(u32::from(t.0));
            s.function_name = t.name();
            if t == MessageType::NAK || t == MessageType::DECLINE {
                s.status = PduStatus::Exception;
            }
            if t.name().is_none() {
                s.anomalies.set(Anomaly::UnknownFunction);
                s.status = PduStatus::Malformed;
            }
        }
        // Address configuration is class `other`.
        // Event fields are built only when events are wanted (formatting addresses and the
        // parameter list is most of the cost of a message); facts always.
        let mut fields = Fields::new();
        let mut put = |name: &'static str, value: &dyn Fn() -> FieldValue| {
            if events {
                fields.push((name, value()));
            }
        };
        let mut facts: Vec<(Subject, Attribute, String)> = Vec::new();
        put("transaction_id", &|| {
            u(crate::bytes::be32(d, field::XID).unwrap_or(0))
        });
        let giaddr = ipv4_at(d, field::GIADDR).filter(|a| !a.is_unspecified());
        let chaddr = (d[field::HTYPE] == 1 && d[field::HLEN] == 6)
            .then(|| MacAddr::from_slice(&d[field::CHADDR..]))
            .flatten()
            .filter(|m| !m.is_zero());
        // Whom the client's statements are about: its hardware address; without one, the
        // sender of a client message that no relay forwarded.
        let who = match chaddr {
            Some(m) => Some(Subject::Mac(m)),
            None if client && giaddr.is_none() => Some(Subject::Sender),
            None => None,
        };
        if let Some(m) = chaddr {
            put("client_mac", &|| FieldValue::Str(m.to_string()));
        }
        if let Some(a) = ipv4_at(d, field::CIADDR).filter(|a| !a.is_unspecified()) {
            put("client_address", &|| FieldValue::Str(a.to_string()));
        }
        if let Some(a) = ipv4_at(d, field::YIADDR).filter(|a| !a.is_unspecified()) {
            let name = match t {
                Some(MessageType::OFFER) => "offered_address",
                _ => "assigned_address",
            };
            put(name, &|| FieldValue::Str(a.to_string()));
        }
        if let Some(a) = giaddr {
            put("relay_address", &|| FieldValue::Str(a.to_string()));
            if client {
                facts.push((Subject::Ip(a.into()), Attribute::Role, "dhcp_relay".into()));
            }
        }
        if let Some(h) = o.hostname.map(opt_text).filter(|h| !h.is_empty()) {
            if let Some(w) = who {
                facts.push((w, Attribute::Hostname, h.clone()));
            }
            put("hostname", &|| FieldValue::Str(h.clone()));
        }
        if let Some(f) = o.fqdn.and_then(fqdn) {
            if let Some(w) = who {
                facts.push((w, Attribute::Hostname, f.trim_end_matches('.').to_owned()));
            }
            put("fqdn", &|| FieldValue::Str(f.clone()));
        }
        if let Some(v) = o.domain_name.map(opt_text) {
            put("domain_name", &|| FieldValue::Str(v.clone()));
        }
        if let Some(vc) = o.vendor_class.map(opt_text).filter(|v| !v.is_empty()) {
            if client && let Some(w) = who {
                facts.push((w, Attribute::Capability, vc.clone()));
                if let Some(os) = os_of_vendor_class(&vc) {
                    facts.push((w, Attribute::Os, os));
                }
            }
            put("vendor_class", &|| FieldValue::Str(vc.clone()));
        }
        if let Some(prl) = o.prl {
            put("parameter_request_list", &|| {
                let list: Vec<String> = prl.iter().map(u8::to_string).collect();
                FieldValue::Str(list.join(","))
            });
            if let Some((_, os)) = PRL_FINGERPRINTS.iter().find(|(l, _)| *l == prl) {
                put("os_hint", &|| FieldValue::Str((*os).into()));
                if client && let Some(w) = who {
                    facts.push((w, Attribute::Os, (*os).into()));
                }
            }
        }
        if let Some(c) = o.client_id {
            put("client_id", &|| FieldValue::Str(client_id(c)));
        }
        if let Some(a) = o.requested {
            put("requested_address", &|| FieldValue::Str(a.to_string()));
        }
        if let Some(a) = o.server_id {
            put("server_id", &|| FieldValue::Str(a.to_string()));
            if !a.is_unspecified() {
                facts.push((Subject::Ip(a.into()), Attribute::Role, "dhcp_server".into()));
            }
        }
        if let Some(l) = o.lease {
            put("lease_time", &|| u(l));
        }
        if o.relay_agent {
            put("relay_agent_info", &|| FieldValue::Bool(true));
        }
        put("option_count", &|| u(o.count));
        for (i, (subject, attribute, value)) in facts.iter().enumerate() {
            if value.trim().is_empty()
                || facts[..i].contains(&(*subject, *attribute, value.clone()))
            {
                continue;
            }
            sink.identity(IdentityFact {
                protocol: "dhcp",
                subject: *subject,
                attribute: *attribute,
                value: value.clone(),
            });
        }
        emit_to(sink, events, &s, move |f| *f = fields);
        Parsed::done(d.len())
    }
}
#[cfg(test)]
mod tests;
