//! DNS and its relatives with the same header (RFC 1035 4.1.1): mDNS, LLMNR, NetBIOS name
//! service. Over UDP one datagram is one message; over TCP each message has a 2-octet length
//! prefix (RFC 1035 4.2.2).

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::bytes::be16;
use crate::emit::{Summary, emit, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// Header field offsets.
mod field {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
    pub const QUESTION: usize = 12;
}

/// Header length.
pub const HEADER_LEN: usize = 12;
const QR: u16 = 0x8000;

open_enum! {
    /// Opcodes (DNS; NetBIOS NS uses 5..9 for registration, release, WACK and refresh).
    pub struct Opcode(u8) {
        QUERY = 0 => "query",
        IQUERY = 1 => "iquery",
        STATUS = 2 => "status",
        NOTIFY = 4 => "notify",
        UPDATE = 5 => "update",
        NB_RELEASE = 6 => "release",
        NB_WACK = 7 => "wack",
        NB_REFRESH = 8 => "refresh",
        NB_REFRESH_ALT = 9 => "refresh",
        NB_MULTIHOMED_REGISTRATION = 15 => "multihomed_registration",
    }
}

/// Does `data` start with a plausible message header whose first question name parses?
pub fn probe(data: &[u8]) -> Probe {
    if data.len() < HEADER_LEN {
        return Probe::NoMatch;
    }
    let flags = be16(data, field::FLAGS).unwrap_or(0);
    let opcode = ((flags >> 11) & 0x0f) as u8;
    let qd = be16(data, field::QDCOUNT).unwrap_or(0);
    // Bonjour packs dozens of questions into one mDNS query (81 in the corpus).
    let counts_ok = qd <= 256
        && [field::ANCOUNT, field::NSCOUNT, field::ARCOUNT]
            .iter()
            .all(|&o| be16(data, o).unwrap_or(u16::MAX) <= 256);
    let rcode = flags & 0x0f;
    let name_ok = qd == 0 && data.len() > HEADER_LEN
        || qd > 0 && name_end(data, field::QUESTION).is_some_and(|e| e + 4 <= data.len());
    let ok = matches!(opcode, 0..=2 | 4..=9 | 15)
        && rcode <= 10
        && counts_ok
        && name_ok
        && flags & 0x0040 == 0;
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// Over TCP: a 2-octet length then a message.
pub fn probe_tcp(data: &[u8]) -> Probe {
    let Some(len) = be16(data, 0) else {
        return Probe::NeedMore;
    };
    if (len as usize) < HEADER_LEN {
        return Probe::NoMatch;
    }
    let m = &data[2..];
    if m.len() < HEADER_LEN {
        return Probe::NeedMore;
    }
    probe(&m[..m.len().min(len as usize)])
}

/// End offset of an uncompressed-or-pointer-terminated name at `at`.
fn name_end(d: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..128 {
        let l = *d.get(at)?;
        match l {
            0 => return Some(at + 1),
            1..=63 => at += 1 + l as usize,
            0xc0..=0xff => return (at + 2 <= d.len()).then_some(at + 2),
            _ => return None,
        }
    }
    None
}

/// Operation class of an opcode.
pub fn operation(id: ProtocolId, op: Opcode) -> OperationClass {
    match (id, op.0) {
        (_, 0..=2) => OperationClass::Read,
        (ProtocolId::NBNS, 5..=9 | 15) => OperationClass::ConfigChange,
        (_, 5) => OperationClass::Write,
        _ => OperationClass::Other,
    }
}

/// Per-flow state of a DNS-like protocol.
#[derive(Debug, Clone)]
pub struct DnsDissector {
    stream: Stream,
    framing: DnsFraming,
}

#[derive(Debug, Clone, Copy)]
struct DnsFraming {
    id: ProtocolId,
    tcp: bool,
}

impl DnsDissector {
    /// A dissector for `id` (`dns`, `mdns`, `llmnr` or `nbns`); `udp` when each call is a
    /// whole datagram.
    pub fn new(id: ProtocolId, udp: bool) -> DnsDissector {
        DnsDissector {
            stream: Stream::new(udp),
            framing: DnsFraming { id, tcp: !udp },
        }
    }
}

impl Dissector for DnsDissector {
    fn protocol(&self) -> ProtocolId {
        self.framing.id
    }
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        if !self.framing.tcp {
            if !data.is_empty() {
                message(self.framing.id, data, data.len(), dir, sink);
            }
            return Parsed::done(data.len());
        }
        self.stream.run(&mut self.framing, data, dir, sink)
    }
    fn on_gap(&mut self, dir: Direction, _len: u32) {
        self.stream.gap(dir);
    }
}

impl Framing for DnsFraming {
    const PROTOCOL: &'static str = "dns";

    fn probe(data: &[u8]) -> Probe {
        probe_tcp(data)
    }

    fn step(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step {
        let Some(len) = be16(data, 0) else {
            return Step::Need(2 - data.len());
        };
        if (len as usize) < HEADER_LEN {
            return Step::Bad(Anomaly::BadLength);
        }
        let n = 2 + len as usize;
        if data.len() < n {
            return Step::Need(n - data.len());
        }
        message(self.id, &data[2..n], n, dir, sink);
        Step::Used(n)
    }
}

/// Summarise and emit one message (`wire_len` includes a TCP length prefix).
fn message(id: ProtocolId, m: &[u8], wire_len: usize, dir: Direction, sink: &mut dyn PduSink) {
    let name = id.name();
    if m.len() < HEADER_LEN {
        let s = Summary::malformed(
            name,
            dir == Direction::ToClient,
            wire_len,
            Anomaly::Truncated,
        );
        emit(sink, &s, |_| {});
        return;
    }
    let flags = be16(m, field::FLAGS).unwrap_or(0);
    let op = Opcode(((flags >> 11) & 0x0f) as u8);
    let rcode = flags & 0x0f;
    let mut s = Summary::new(name, flags & QR != 0, wire_len);
    s.function = Some(u32::from(op.0));
    s.function_name = op.name();
    s.operation = operation(id, op);
    if s.response && rcode != 0 {
        s.status = PduStatus::Exception;
    }
    emit(sink, &s, |fields| {
        fields.push(("transaction_id", u(be16(m, field::ID).unwrap_or(0))));
        fields.push(("rcode", u(rcode)));
        fields.push(("qdcount", u(be16(m, field::QDCOUNT).unwrap_or(0))));
        fields.push(("ancount", u(be16(m, field::ANCOUNT).unwrap_or(0))));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{VecSink, hex};

    // zeek__modbusSmall.pcap: a query for mail.google.com and its answer.
    const Q: &str = "981001000001000000000000046d61696c06676f6f676c6503636f6d0000010001";
    const R: &str = "981081800001000300040004046d61696c06676f6f676c6503636f6d0000010001c00c00050001000538ae000f0a676f6f676c656d61696c016cc011";

    #[test]
    fn parses_query_and_response() {
        let mut d = DnsDissector::new(ProtocolId::DNS, true);
        let mut s = VecSink::default();
        assert_eq!(d.parse(&hex(Q), Direction::ToServer, &mut s).consumed, 33);
        d.parse(&hex(R), Direction::ToClient, &mut s);
        assert_eq!(s.events[0].function_name, Some("query"));
        assert!(!s.events[0].response);
        assert!(s.events[1].response);
        assert_eq!(s.field(0, "transaction_id"), Some(0x9810));
        assert_eq!(probe(&hex(Q)), Probe::Match);
        // nbns and llmnr from iti__wrapup.pcapng.
        let nb = hex(
            "8c1f011000010000000000002046484641454245454341434143414341434143414341434143414341434141410000200001",
        );
        assert_eq!(probe(&nb), Probe::Match);
        assert_eq!(
            probe(&hex("6dd30000000100000000000004777061640000010001")),
            Probe::Match
        );
    }

    #[test]
    fn frames_tcp_messages() {
        let q = hex(Q);
        let mut b = (q.len() as u16).to_be_bytes().to_vec();
        b.extend_from_slice(&q);
        b.extend_from_slice(&b.clone());
        let mut d = DnsDissector::new(ProtocolId::DNS, false);
        let mut s = VecSink::default();
        assert_eq!(
            d.parse(&b[..40], Direction::ToServer, &mut s),
            Parsed::incomplete(35, 30)
        );
        assert_eq!(
            d.parse(&b[35..50], Direction::ToServer, &mut s),
            Parsed::incomplete(0, 20)
        );
        assert_eq!(s.events.len(), 1);
        assert_eq!(probe_tcp(&b), Probe::Match);
    }
}
