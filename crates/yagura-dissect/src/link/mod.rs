//! Link-layer protocols that are not IP: frames a switch or a controller sends to a group
//! address (LLDP, CDP, STP, Profinet DCP). They belong to no flow, so the engine hands each
//! such frame here whole, and the identity facts they carry are about the frame's sender
//! ([`yagura_core::Subject::Sender`], resolved to the source MAC).

use yagura_core::{Attribute, IdentityFact, Subject};

use crate::PduSink;
use crate::emit::{Fields, Summary, emit_to};

mod cdp;
mod lldp;
mod pn_dcp;
mod stp;

#[cfg(test)]
mod tests;

/// A link-layer protocol this module dissects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkProtocol {
    /// IEEE 802.1AB LLDP (ethertype 0x88CC).
    Lldp,
    /// Cisco Discovery Protocol (LLC SNAP, OUI 00:00:0C, PID 0x2000).
    Cdp,
    /// Spanning tree BPDUs (LLC DSAP/SSAP 0x42, or Cisco PVST+ over SNAP).
    Stp,
    /// Profinet DCP (ethertype 0x8892, frame ids 0xFEFC–0xFEFF).
    PnDcp,
}

impl LinkProtocol {
    /// The protocol id used in events and facts.
    pub const fn name(self) -> &'static str {
        match self {
            LinkProtocol::Lldp => "lldp",
            LinkProtocol::Cdp => "cdp",
            LinkProtocol::Stp => "stp",
            LinkProtocol::PnDcp => "pn_dcp",
        }
    }

    /// The protocol of a non-IP frame, from its ethertype (after VLAN tags and SNAP;
    /// 0 for plain 802.2 LLC), its LLC DSAP when it has an LLC header, and its SNAP
    /// organisation code and protocol id when it has one.
    pub fn classify(
        ethertype: u16,
        dsap: Option<u8>,
        snap: Option<([u8; 3], u16)>,
    ) -> Option<LinkProtocol> {
        match (ethertype, dsap, snap) {
            (_, _, Some(([0x00, 0x00, 0x0c], 0x2000))) => Some(LinkProtocol::Cdp),
            // Cisco PVST+: an 802.1D/RSTP BPDU per VLAN, after a SNAP header.
            (_, _, Some(([0x00, 0x00, 0x0c], 0x010b))) => Some(LinkProtocol::Stp),
            (_, _, Some(_)) => None,
            (0x88cc, _, _) => Some(LinkProtocol::Lldp),
            (0x8892, _, _) => Some(LinkProtocol::PnDcp),
            (0, Some(0x42), _) => Some(LinkProtocol::Stp),
            _ => None,
        }
    }
}

/// Dissect one frame's payload (the bytes after the Ethernet, VLAN and LLC/SNAP headers) of
/// protocol `proto`, reporting its PDUs and identity facts to `sink`.
///
/// Each frame gives one event (or one count); every identity fact it carries is reported
/// first, whether or not events are wanted. Truncated or invalid parts are anomalies on the
/// event, never errors.
pub fn dissect(proto: LinkProtocol, payload: &[u8], sink: &mut dyn PduSink) {
    let mut out = Out {
        events: sink.wants_events(),
        ..Out::default()
    };
    let s = match proto {
        LinkProtocol::Lldp => lldp::parse(payload, &mut out),
        LinkProtocol::Cdp => cdp::parse(payload, &mut out),
        LinkProtocol::Stp => stp::parse(payload, &mut out),
        LinkProtocol::PnDcp => match pn_dcp::parse(payload, &mut out) {
            Some(s) => s,
            // Cyclic real-time data, alarms and PTCP share the ethertype.
            None => return,
        },
    };
    out.report(sink, &s);
}

/// Most identity facts one frame may report; a frame stating more (hundreds of management
/// addresses, say) is cut there.
const MAX_FACTS: usize = 32;

/// What a parser found in one frame: the event fields and the identity facts about the
/// sender. Link frames are rare (one per port every few seconds), and most fields come from
/// the same walk as the facts, so the parsers call the field methods whatever the sink
/// wants; those methods keep nothing when no events are wanted (the engine never wants
/// link-layer events), and fields that cost text formatting of their own (STP's bridge ids)
/// are not built at all then.
#[derive(Default)]
pub(crate) struct Out {
    pub fields: Fields,
    pub facts: Vec<(Attribute, String)>,
    /// The sink wants events, hence the fields.
    pub events: bool,
}

impl Out {
    /// Add a fact about the sender (empty values and duplicates are dropped).
    pub fn fact(&mut self, attribute: Attribute, value: impl Into<String>) {
        let value = value.into();
        let value = value.trim();
        if value.is_empty()
            || self.facts.len() >= MAX_FACTS
            || self
                .facts
                .iter()
                .any(|(a, v)| *a == attribute && v == value)
        {
            return;
        }
        self.facts.push((attribute, value.to_owned()));
    }

    /// Add an event field.
    pub fn field(&mut self, name: &'static str, value: yagura_core::FieldValue) {
        if self.events {
            self.fields.push((name, value));
        }
    }

    /// Add a text event field.
    pub fn text(&mut self, name: &'static str, value: impl Into<String>) {
        if self.events {
            self.fields
                .push((name, yagura_core::FieldValue::Str(value.into())));
        }
    }

    /// Add an unsigned event field.
    pub fn num(&mut self, name: &'static str, value: impl Into<u64>) {
        if self.events {
            self.fields
                .push((name, yagura_core::FieldValue::U64(value.into())));
        }
    }

    fn report(self, sink: &mut dyn PduSink, s: &Summary) {
        for (attribute, value) in self.facts {
            sink.identity(IdentityFact {
                protocol: s.protocol,
                subject: Subject::Sender,
                attribute,
                value,
            });
        }
        let events = sink.wants_events();
        let fields = self.fields;
        emit_to(sink, events, s, move |f| *f = fields);
    }
}

/// Printable text from protocol bytes: invalid UTF-8 and control characters become `?`,
/// trailing NULs and blanks are dropped, and the result is cut at `max` characters.
pub(crate) fn printable(b: &[u8], max: usize) -> String {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    let b = &b[..end];
    // Printable ASCII (names, versions: the usual case) is kept as it is, one character a
    // byte: cut and trimmed without decoding it character by character. Agrees with
    // `printable_general` (tested).
    if b.iter().all(|c| (0x20..0x7f).contains(c)) {
        let s = std::str::from_utf8(&b[..b.len().min(max)]).unwrap_or_default();
        return s.trim_end().to_owned();
    }
    printable_general(b, max)
}

/// [`printable`] for any bytes (without trailing NULs).
fn printable_general(b: &[u8], max: usize) -> String {
    let s: String = String::from_utf8_lossy(b)
        .chars()
        .take(max)
        .map(|c| {
            if c.is_control() || c == char::REPLACEMENT_CHARACTER {
                '?'
            } else {
                c
            }
        })
        .collect();
    s.trim_end().to_owned()
}

/// A MAC address as text, from the first six bytes of `b`.
pub(crate) fn mac_text(b: &[u8]) -> Option<String> {
    yagura_core::MacAddr::from_slice(b).map(|m| m.to_string())
}

/// An IPv4 or IPv6 address as text from 4 or 16 bytes.
pub(crate) fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(std::net::Ipv6Addr::from(a).to_string())
        }
        _ => None,
    }
}

/// Bytes as lowercase hex separated by `:`, at most `max` bytes.
pub(crate) fn hex_text(b: &[u8], max: usize) -> String {
    crate::text::hex(b, Some(':'), max)
}

/// Vendor, model, order number, hardware, firmware and serial from a Siemens identity
/// string as SIMATIC and SCALANCE devices put it in their LLDP system description:
/// `Siemens, SIMATIC S7, CPU 1515-2 PN, 6ES7 515-2AM01-0AB0, HW: Version 3, FW: Version
/// V2.6.0, S C-L5CM77762019` or `Siemens, SIMATIC NET, SCALANCE X212-2, 6GK5 212-2BB00-2AA3,
/// HW: 7, FW: V4.02`. Anything not of that shape gives no facts.
pub(crate) fn siemens_identity(desc: &str, out: &mut Out) {
    let parts: Vec<&str> = desc.split(',').map(str::trim).take(12).collect();
    if parts.len() < 5 || parts[0] != "Siemens" || !parts.iter().any(|p| p.starts_with("FW:")) {
        return;
    }
    out.fact(Attribute::Vendor, "Siemens");
    out.fact(Attribute::Model, parts[2]);
    if is_order_number(parts[3]) {
        out.fact(Attribute::OrderNumber, parts[3]);
    }
    for p in &parts[4..] {
        let version = |v: &str| v.trim().trim_start_matches("Version").trim().to_owned();
        if let Some(v) = p.strip_prefix("HW:") {
            out.fact(Attribute::Hardware, version(v));
        } else if let Some(v) = p.strip_prefix("FW:") {
            out.fact(Attribute::Firmware, version(v));
        } else if p.starts_with("S ") {
            // Kept whole, as S7 SZL component identification gives it (`S C-B1U393142011`).
            out.fact(Attribute::Serial, *p);
        }
    }
}

/// A Siemens order number (MLFB): `6ES7 515-2AM01-0AB0`, `6GK5 212-2BB00-2AA3`.
fn is_order_number(s: &str) -> bool {
    s.len() >= 10
        && s.starts_with(|c: char| c.is_ascii_digit())
        && s.contains('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
}
