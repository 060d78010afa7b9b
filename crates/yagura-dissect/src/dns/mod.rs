//! DNS and its relatives with the same header (RFC 1035 4.1.1): mDNS, LLMNR, NetBIOS name
//! service. Over UDP one datagram is one message; over TCP each message has a 2-octet length
//! prefix (RFC 1035 4.2.2).
//!
//! Identity facts: see [`facts`]. Events carry the first name of the message (the first
//! question's, or the first record's when there is no question), a NetBIOS name decoded as
//! `NAME<xx>`.

mod facts;
mod rr;

use yagura_core::{Direction, FieldValue, OperationClass, PduStatus};

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
    /// This flow's `dns_server` role was reported.
    role_reported: bool,
}

impl DnsDissector {
    /// A dissector for `id` (`dns`, `mdns`, `llmnr` or `nbns`); `udp` when each call is a
    /// whole datagram.
    pub fn new(id: ProtocolId, udp: bool) -> DnsDissector {
        DnsDissector {
            stream: Stream::new(udp),
            framing: DnsFraming {
                id,
                tcp: !udp,
                role_reported: false,
            },
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
                message(&mut self.framing, data, data.len(), dir, sink);
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
        message(self, &data[2..n], n, dir, sink);
        Step::Used(n)
    }
}

/// The message's first name as shown in events.
fn first_name(id: ProtocolId, m: &[u8]) -> Option<String> {
    let (wire, _) = rr::name(m, field::QUESTION)?;
    if id == ProtocolId::NBNS
        && let Some(n) = rr::nb_name(&wire)
    {
        return Some(n.display());
    }
    Some(rr::text(&wire))
}

/// Summarise and emit one message (`wire_len` includes a TCP length prefix).
fn message(f: &mut DnsFraming, m: &[u8], wire_len: usize, dir: Direction, sink: &mut dyn PduSink) {
    let id = f.id;
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
    facts::report(id, m, sink, &mut f.role_reported);
    // The name a client asks the resolver for (unicast DNS only: mDNS and LLMNR names are
    // the segment's own).
    if id == ProtocolId::DNS
        && !s.response
        && op == Opcode::QUERY
        && be16(m, field::QDCOUNT).unwrap_or(0) > 0
        && sink.wants_observables()
        && let Some((wire, _)) = rr::name(m, field::QUESTION)
    {
        crate::observe_name(sink, yagura_core::ObservableKind::DnsQuery, &wire);
    }
    emit(sink, &s, |fields| {
        fields.push(("transaction_id", u(be16(m, field::ID).unwrap_or(0))));
        fields.push(("rcode", u(rcode)));
        fields.push(("qdcount", u(be16(m, field::QDCOUNT).unwrap_or(0))));
        fields.push(("ancount", u(be16(m, field::ANCOUNT).unwrap_or(0))));
        if let Some(n) = first_name(id, m) {
            fields.push(("name", FieldValue::Str(n)));
        }
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
    fn queries_name_what_the_client_asked_for() {
        use yagura_core::ObservableKind;
        let mut d = DnsDissector::new(ProtocolId::DNS, true);
        let mut s = VecSink::counting();
        d.parse(&hex(Q), Direction::ToServer, &mut s);
        // The answer repeats the question: only the query counts.
        d.parse(&hex(R), Direction::ToClient, &mut s);
        assert_eq!(
            s.observables,
            [(ObservableKind::DnsQuery, "mail.google.com".to_owned())]
        );
        // The same query as mDNS names nothing.
        let mut d = DnsDissector::new(ProtocolId::MDNS, true);
        let mut s = VecSink::counting();
        d.parse(&hex(Q), Direction::ToServer, &mut s);
        assert!(s.observables.is_empty());
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

    use std::net::IpAddr;
    use yagura_core::Subject;

    /// Facts of `msgs` (each a datagram of protocol `id`), checked to be the same when only
    /// counting, and with a fact memo (which then gives them a second time, in a new flow,
    /// without parsing them).
    fn facts_of(
        id: ProtocolId,
        msgs: &[&str],
        dir: Direction,
    ) -> Vec<(Subject, &'static str, String)> {
        let mut runs = crate::testutil::facts_in_three_sinks(|s| {
            let mut d = DnsDissector::new(id, true);
            for m in msgs {
                d.parse(&hex(m), dir, s);
            }
        });
        assert_eq!(runs[0], runs[1], "events and counting give the same facts");
        assert_eq!(runs[0], runs[2], "the memo gives the facts parsing gives");
        let mut first = runs.remove(0);
        let second = first.split_off(first.len() / 2);
        assert_eq!(first, second, "a new flow gives the same facts again");
        first
            .into_iter()
            .map(|f| (f.subject, f.attribute.name(), f.value))
            .collect()
    }

    fn ip(s: &str) -> Subject {
        Subject::Ip(s.parse::<IpAddr>().unwrap())
    }

    /// icsnpp-profinet-io-cm__profinet_io_cm_mixed_1.pcap frames 120 and 122: registrations
    /// of KW-VLIPC<00> (unique) and WORKGROUP<00> (group) for 192.168.1.1 (tshark -V).
    #[test]
    fn nbns_registrations_name_the_host_and_workgroup() {
        let f = facts_of(
            ProtocolId::NBNS,
            &[
                "92f92910000100000000000120454c4648434e4647454d454a46414544434143414341434143414341434141410000200001c00c00200001000493e000066000c0a80101",
                "92fa2910000100000000000120464845504643454c4548464345504646464143414341434143414341434141410000200001c00c00200001000493e00006e000c0a80101",
            ],
            Direction::ToServer,
        );
        let a = ip("192.168.1.1");
        assert_eq!(
            f,
            [
                (a, "hostname", "KW-VLIPC".to_string()),
                (a, "domain", "WORKGROUP".to_string())
            ]
        );
    }

    /// iti__CL5000EIP-Remote_Mode_Change_Attempt.pcap frame 582: positive answer for
    /// WIN2K3LAB021<20> at 192.168.10.21 (tshark: nbns.name, nbns.addr); and a query (frame
    /// 137 of iti__Sample_File_MMS_and_GOOSE.pcap, SAS<1b>) gives nothing.
    #[test]
    fn nbns_answers_name_the_address_and_queries_do_not() {
        let answer = "9f4a85000000000100000000204648454a454f4443454c4444454d4542454344414443444243414341434143410000200001000493e000060000c0a80a15";
        let a = ip("192.168.10.21");
        assert_eq!(
            facts_of(ProtocolId::NBNS, &[answer], Direction::ToClient),
            [
                (a, "hostname", "WIN2K3LAB021".to_string()),
                (a, "service", "netbios_file_server".to_string())
            ]
        );
        let query = "99220110000100000000000020464445424644434143414341434143414341434143414341434143414341424c0000200001";
        assert!(facts_of(ProtocolId::NBNS, &[query], Direction::ToServer).is_empty());
        let mut s = VecSink::default();
        DnsDissector::new(ProtocolId::NBNS, true).parse(&hex(query), Direction::ToServer, &mut s);
        assert_eq!(
            s.events[0]
                .fields
                .iter()
                .find(|f| f.0 == "name")
                .map(|f| &f.1),
            Some(&FieldValue::Str("SAS<1b>".into()))
        );
    }

    /// iti__wrapup.pcapng frame 7: VJTI-PC3 announces `_ni-logos._tcp` with its A and AAAA
    /// records and reverse PTRs (tshark: dns.a 192.168.0.16, dns.aaaa
    /// fe80::98a:de6e:a5a4:6cfa, dns.ptr.domain_name _ni-logos._tcp.local).
    #[test]
    fn mdns_announcement_names_addresses_and_services() {
        let m = "00008400000000080000000208564a54492d504333095f6e692d6c6f676f73045f746370056c6f63616c000021800100000078001100000000092708564a54492d504333c024c00c0010800100001194000100095f7365727669636573075f646e732d7364045f756470c024000c0001000011940002c015c015000c0001000011940002c00cc03b00018001000000780004c0a800100231360130033136380331393207696e2d61646472046172706100000c8001000000780002c03bc03b001c8001000000780010fe80000000000000098ade6ea5a46cfa0141014601430136013401410135014101450136014501440141013801390130013001300130013001300130013001300130013001300130013001380145014603697036c0ab000c8001000000780002c03bc00c002f8001000000780009c00c00050000800040c03b002f8001000000780008c03b000440000008";
        let (v4, v6) = (ip("192.168.0.16"), ip("fe80::98a:de6e:a5a4:6cfa"));
        assert_eq!(
            facts_of(ProtocolId::MDNS, &[m], Direction::ToServer),
            [
                (Subject::Sender, "service", "_ni-logos._tcp".to_string()),
                (v4, "hostname", "VJTI-PC3".to_string()),
                (v6, "hostname", "VJTI-PC3".to_string()),
            ]
        );
    }

    /// zeek__modbusSmall.pcap frame 102 (tshark: dns.a 74.125.239.54, 74.125.239.53 for
    /// googlemail.l.google.com): the server's role once per flow, then the answers' names.
    #[test]
    fn dns_answers_give_names_and_the_server_role() {
        let r = "981081800001000300040004046d61696c06676f6f676c6503636f6d0000010001c00c00050001000538ae000f0a676f6f676c656d61696c016cc011c02d000100010000002300044a7def36c02d000100010000002300044a7def35c01100020001000144210006036e7333c011c01100020001000144210006036e7332c011c01100020001000144210006036e7334c011c01100020001000144210006036e7331c011c08c000100010001558a0004d8ef260ac068000100010001558a0004d8ef240ac07a000100010001558a0004d8ef220ac09e000100010001558a0004d8ef200a";
        let n = "googlemail.l.google.com".to_string();
        assert_eq!(
            facts_of(ProtocolId::DNS, &[r, r, Q], Direction::ToClient),
            [
                (Subject::Sender, "role", "dns_server".to_string()),
                (ip("74.125.239.54"), "hostname", n.clone()),
                (ip("74.125.239.53"), "hostname", n.clone()),
                (ip("74.125.239.54"), "hostname", n.clone()),
                (ip("74.125.239.53"), "hostname", n),
            ]
        );
    }

    /// An answer with more addresses than a message may report: the role, first in the
    /// flow, takes one of the places (whether the rest come from the memo or not).
    #[test]
    fn the_role_takes_one_place_of_a_long_answer() {
        use facts::MAX_FACTS;
        let mut m = hex("1234 8180 0001 0046 0000 0000 016100 0001 0001");
        for i in 0..70u8 {
            m.extend(hex("c00c 0001 0001 0000003c 0004"));
            m.extend([10, 0, 0, i]);
        }
        let m: String = m.iter().map(|b| format!("{b:02x}")).collect();
        let f = facts_of(ProtocolId::DNS, &[&m, &m], Direction::ToClient);
        assert_eq!(f.len(), 1 + (MAX_FACTS - 1) + MAX_FACTS);
        assert_eq!(f[0].1, "role");
        assert_eq!(f[MAX_FACTS - 1].0, ip("10.0.0.62"));
        assert_eq!(f[MAX_FACTS].0, ip("10.0.0.0"));
        assert_eq!(f.last().unwrap().0, ip("10.0.0.63"));
    }

    /// lsw__opc_ae_1.pcap frame 12: an LLMNR answer for JANKIN at 192.168.11.20.
    #[test]
    fn llmnr_answers_name_the_address() {
        let r = "503980000001000100000000064a414e4b494e0000010001064a414e4b494e00000100010000001e0004c0a80b14";
        assert_eq!(
            facts_of(ProtocolId::LLMNR, &[r], Direction::ToClient),
            [(ip("192.168.11.20"), "hostname", "JANKIN".to_string())]
        );
    }

    #[test]
    fn names_are_bounded() {
        // A pointer to itself, a forward pointer, and a chain of backward pointers.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xc0, 12]);
        assert!(rr::name(&m, 12).is_none());
        m[12..14].copy_from_slice(&[0xc0, 20]);
        assert!(rr::name(&m, 12).is_none());
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[1, b'a', 0]);
        for i in 0..40u8 {
            m.extend_from_slice(&[1, b'b', 0xc0, 12 + i * 4]);
        }
        assert!(rr::name(&m, m.len() - 4).is_none(), "too many jumps");
        assert_eq!(
            rr::reverse_addr(b"16.0.168.192.in-addr.arpa"),
            Some("192.168.0.16".parse().unwrap())
        );
    }

    proptest::proptest! {
        /// Mutated real messages never panic and count the facts events give.
        #[test]
        fn mutated_messages_never_panic(pos in 0usize..400, val: u8, cut in 12usize..400, which in 0usize..3) {
            let (id, m) = [
                (ProtocolId::MDNS, "00008400000000080000000208564a54492d504333095f6e692d6c6f676f73045f746370056c6f63616c000021800100000078001100000000092708564a54492d504333c024c00c0010800100001194000100095f7365727669636573075f646e732d7364045f756470c024000c0001000011940002c015c015000c0001000011940002c00cc03b00018001000000780004c0a800100231360130033136380331393207696e2d61646472046172706100000c8001000000780002c03bc03b001c8001000000780010fe80000000000000098ade6ea5a46cfa0141014601430136013401410135014101450136014501440141013801390130013001300130013001300130013001300130013001300130013001380145014603697036c0ab000c8001000000780002c03bc00c002f8001000000780009c00c00050000800040c03b002f8001000000780008c03b000440000008"),
                (ProtocolId::NBNS, "9f4a85000000000100000000204648454a454f4443454c4444454d4542454344414443444243414341434143410000200001000493e000060000c0a80a15"),
                (ProtocolId::DNS, "981081800001000300040004046d61696c06676f6f676c6503636f6d0000010001c00c00050001000538ae000f0a676f6f676c656d61696c016cc011c02d000100010000002300044a7def36c02d000100010000002300044a7def35"),
            ][which];
            let mut b = hex(m);
            if pos < b.len() { b[pos] = val; }
            b.truncate(cut);
            let mut a = VecSink::default();
            let mut c = VecSink::counting();
            let mut m = VecSink::memoising();
            for _flow in 0..2 {
                DnsDissector::new(id, true).parse(&b, Direction::ToClient, &mut a);
                DnsDissector::new(id, true).parse(&b, Direction::ToClient, &mut c);
                DnsDissector::new(id, true).parse(&b, Direction::ToClient, &mut m);
            }
            proptest::prop_assert_eq!(&a.facts, &c.facts);
            proptest::prop_assert_eq!(&a.facts, &m.facts);
            // Skipping a name checks what reading it does.
            for at in [field::QUESTION, pos.min(b.len())] {
                proptest::prop_assert_eq!(rr::skip_name(&b, at), rr::name(&b, at).map(|(_, e)| e));
            }
        }
    }
}
