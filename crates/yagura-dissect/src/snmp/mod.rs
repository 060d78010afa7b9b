//! SNMP v1/v2c/v3 (RFC 3416, 3412, 3414): the PDU type as the function. One datagram is one
//! message. Community strings are credentials and never leave the dissector in clear.
//!
//! Identity (from responses, about their sender, the agent): the system group's `sysDescr`
//! (description, and an OS when the text names one unambiguously), `sysObjectID` (object
//! id, and its IANA private enterprise number as vendor id `snmp:<number>`) and `sysName`
//! (name); `sysLocation` and `sysContact` are event fields only. The community an agent
//! answers to is a finding: `snmp_community:public` or `snmp_community:private` for the
//! well-known defaults, otherwise `snmp_community_sha256:<first 16 hex digits>` (once per
//! flow). SNMPv3: the authoritative engine id (and its enterprise number) of a response or
//! report, never the user name.

use sha2::{Digest, Sha256};
use yagura_core::{
    Attribute, Direction, FieldValue, IdentityFact, OperationClass, PduStatus, Subject,
};

use crate::emit::{Summary, emit, u};
use crate::probes::ber_len;
use crate::text::{fact, printable};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;

/// Variable bindings looked at per PDU (a walk's GetBulk answer can hold many more).
pub const MAX_VARBINDS: usize = 64;
/// Sub-identifiers decoded per OID.
const MAX_SUBIDS: usize = 64;

/// `1.3.6.1.2.1.1` (the system group), BER-encoded.
const SYSTEM: &[u8] = &[0x2b, 6, 1, 2, 1, 1];
/// `1.3.6.1.4.1` (private enterprises), BER-encoded.
const ENTERPRISES: &[u8] = &[0x2b, 6, 1, 4, 1];

open_enum! {
    /// PDU types (context-specific constructed tags).
    pub struct PduType(u8) {
        GET_REQUEST = 0xa0 => "get_request",
        GET_NEXT_REQUEST = 0xa1 => "get_next_request",
        RESPONSE = 0xa2 => "response",
        SET_REQUEST = 0xa3 => "set_request",
        TRAP_V1 = 0xa4 => "trap",
        GET_BULK_REQUEST = 0xa5 => "get_bulk_request",
        INFORM_REQUEST = 0xa6 => "inform_request",
        TRAP_V2 = 0xa7 => "trap_v2",
        REPORT = 0xa8 => "report",
    }
}

/// Operation class of a PDU type.
pub fn operation(t: PduType) -> OperationClass {
    match t.0 {
        0xa0 | 0xa1 | 0xa5 => OperationClass::Read,
        0xa3 => OperationClass::Write,
        _ => OperationClass::Other,
    }
}

/// One BER TLV at `at`: (tag, content start, content end), bounded by `d`.
fn tlv(d: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *d.get(at)?;
    let (len, n) = ber_len(d, at + 1)?;
    let start = at + 1 + n;
    let end = start.checked_add(len)?;
    (end <= d.len()).then_some((tag, start, end))
}

/// A small non-negative BER INTEGER's value.
fn int(d: &[u8], start: usize, end: usize) -> Option<u64> {
    let b = d.get(start..end)?;
    (!b.is_empty() && b.len() <= 8).then(|| b.iter().fold(0u64, |v, &x| v << 8 | u64::from(x)))
}

/// Does `data` start with SEQUENCE { INTEGER version 0, 1 or 3, … }?
pub fn probe(data: &[u8]) -> Probe {
    let ok = tlv(data, 0).is_some_and(|(t, s, _)| {
        t == SEQUENCE
            && tlv(data, s).is_some_and(|(vt, vs, ve)| {
                vt == INTEGER && matches!(int(data, vs, ve), Some(0 | 1 | 3))
            })
    });
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// An OID's content octets in dotted form (`None` when malformed or longer than
/// [`MAX_SUBIDS`]).
pub fn oid_text(b: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut v: u64 = 0;
    let mut n = 0;
    for (i, &x) in b.iter().enumerate() {
        if v > u64::MAX >> 7 {
            return None;
        }
        v = v << 7 | u64::from(x & 0x7f);
        if x & 0x80 != 0 {
            continue;
        }
        if n == 0 {
            let (a, c) = match v {
                0..=39 => (0, v),
                40..=79 => (1, v - 40),
                _ => (2, v - 80),
            };
            out.push_str(&format!("{a}.{c}"));
        } else {
            out.push_str(&format!(".{v}"));
        }
        n += 1;
        v = 0;
        if n > MAX_SUBIDS || i + 1 == b.len() {
            break;
        }
    }
    (n > 0 && n <= MAX_SUBIDS && b.last().is_some_and(|&x| x & 0x80 == 0)).then_some(out)
}

/// The first sub-identifier after `prefix` in an OID's content octets.
fn arc_after(b: &[u8], prefix: &[u8]) -> Option<u64> {
    let rest = b.strip_prefix(prefix)?;
    let mut v: u64 = 0;
    for &x in rest.iter().take(10) {
        v = v << 7 | u64::from(x & 0x7f);
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// An OS named unambiguously at the start of a `sysDescr` (the forms net-snmp, Windows,
/// Cisco IOS and VxWorks agents use).
pub fn os_hint(descr: &str) -> Option<&'static str> {
    let d = descr.trim_start();
    // Bytes, not a str slice: `p.len()` need not fall on a character boundary of `d`.
    let starts =
        |p: &str| d.len() >= p.len() && d.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes());
    if starts("Linux ") {
        Some("Linux")
    } else if starts("Hardware:") && d.contains("Software: Windows") {
        Some("Windows")
    } else if starts("Cisco IOS Software") || starts("Cisco Internetwork Operating System") {
        Some("Cisco IOS")
    } else if starts("FreeBSD ") {
        Some("FreeBSD")
    } else if starts("SunOS ") {
        Some("SunOS")
    } else if starts("VxWorks") {
        Some("VxWorks")
    } else {
        None
    }
}

/// The community as it may be shown: the well-known defaults by name, any other as the
/// first 16 hex digits of its SHA-256.
pub fn community_finding(c: &[u8]) -> String {
    match c {
        b"public" => "snmp_community:public".into(),
        b"private" => "snmp_community:private".into(),
        _ => {
            let h = Sha256::digest(c);
            format!("snmp_community_sha256:{}", crate::text::hex(&h, None, 8))
        }
    }
}

/// The enterprise number of an SNMPv3 engine id in the RFC 3411 format (first bit set).
pub fn engine_enterprise(id: &[u8]) -> Option<u32> {
    let b = id.get(..4)?;
    (b[0] & 0x80 != 0).then(|| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
}

/// What the message header says.
struct Message {
    version: u64,
    /// PDU tag and content range, `None` for an encrypted v3 scoped PDU.
    pdu: Option<(u8, usize, usize)>,
    /// v1/v2c: the community's content range.
    community: Option<(usize, usize)>,
    /// v3: the authoritative engine id's content range (USM).
    engine_id: Option<(usize, usize)>,
}

/// The USM `msgAuthoritativeEngineID` inside `msgSecurityParameters` (RFC 3414 2.4).
fn usm_engine_id(d: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    let (t, s, e) = tlv(d, start)?;
    if t != SEQUENCE || e > end {
        return None;
    }
    let (it, is, ie) = tlv(d, s)?;
    (it == OCTET_STRING && ie <= e && ie > is).then_some((is, ie))
}

/// Walk to the PDU.
fn walk(d: &[u8]) -> Option<Message> {
    let (t, s, _) = tlv(d, 0)?;
    if t != SEQUENCE {
        return None;
    }
    let (vt, vs, ve) = tlv(d, s)?;
    if vt != INTEGER {
        return None;
    }
    let version = int(d, vs, ve)?;
    let mut at = ve;
    let (mut community, mut engine_id) = (None, None);
    if version == 3 {
        let (_, _, global_end) = tlv(d, at)?; // msgGlobalData
        let (pt, ps, sec_end) = tlv(d, global_end)?; // msgSecurityParameters
        if pt == OCTET_STRING {
            engine_id = usm_engine_id(d, ps, sec_end);
        }
        let (st, ss, _) = tlv(d, sec_end)?;
        if st == OCTET_STRING {
            return Some(Message {
                version,
                pdu: None,
                community,
                engine_id,
            });
        }
        let (_, _, engine_end) = tlv(d, ss)?; // contextEngineID
        let (_, _, name_end) = tlv(d, engine_end)?; // contextName
        at = name_end;
    } else {
        let (ct, cs, ce) = tlv(d, at)?; // community
        if ct != OCTET_STRING {
            return None;
        }
        community = Some((cs, ce));
        at = ce;
    }
    Some(Message {
        version,
        pdu: Some(tlv(d, at)?),
        community,
        engine_id,
    })
}

/// The system-group values of a PDU's variable bindings.
#[derive(Debug, Default)]
struct System {
    descr: Option<String>,
    object_id: Option<String>,
    enterprise: Option<u64>,
    name: Option<String>,
    contact: Option<String>,
    location: Option<String>,
}

/// A response PDU at `ps..pe` after its request id: error status, error index and the
/// variable bindings, all the agent's facts depend on (the request id changes with every
/// message, the rest rarely does for a polled agent). `None` when the request id does not
/// parse.
fn after_request_id(d: &[u8], ps: usize, pe: usize) -> Option<&[u8]> {
    let d = &d[..pe];
    let (_, _, re) = tlv(d, ps)?;
    d.get(re..)
}

/// Walk up to [`MAX_VARBINDS`] bindings of a PDU given [`after_request_id`] and keep the
/// system group's scalar values.
fn system(d: &[u8]) -> System {
    let mut sys = System::default();
    let mut at = 0;
    for _ in 0..2 {
        let Some((_, _, e)) = tlv(d, at) else {
            return sys;
        };
        at = e;
    }
    let Some((t, mut vs, ve)) = tlv(d, at) else {
        return sys;
    };
    if t != SEQUENCE {
        return sys;
    }
    for _ in 0..MAX_VARBINDS {
        let Some((bt, bs, be)) = tlv(d, vs).filter(|&(_, _, e)| e <= ve) else {
            break;
        };
        vs = be;
        let Some((_, ns, ne)) = tlv(d, bs).filter(|&(t, _, e)| t == OID && e <= be) else {
            continue;
        };
        let Some((xt, xs, xe)) = tlv(d, ne).filter(|&(_, _, e)| e <= be) else {
            continue;
        };
        if bt != SEQUENCE {
            continue;
        }
        let name = &d[ns..ne];
        let Some(rest) = name.strip_prefix(SYSTEM) else {
            continue;
        };
        let value = &d[xs..xe];
        match (rest, xt) {
            ([1, 0], OCTET_STRING) => sys.descr = printable(value),
            ([2, 0], OID) => {
                sys.object_id = oid_text(value);
                sys.enterprise = arc_after(value, ENTERPRISES);
            }
            ([4, 0], OCTET_STRING) => sys.contact = printable(value),
            ([5, 0], OCTET_STRING) => sys.name = printable(value),
            ([6, 0], OCTET_STRING) => sys.location = printable(value),
            _ => {}
        }
    }
    sys
}

/// The facts a response gives about the agent, from its system group and from the v3
/// engine's enterprise number, in the order they are reported.
fn agent_facts(sys: &System, enterprise: Option<u32>) -> Vec<IdentityFact> {
    let mut facts = Vec::new();
    let mut add = |attribute, value: String| {
        if !value.is_empty() {
            facts.push(IdentityFact {
                protocol: "snmp",
                subject: Subject::Sender,
                attribute,
                value,
            });
        }
    };
    if let Some(v) = &sys.descr {
        add(Attribute::Description, v.clone());
        if let Some(os) = os_hint(v) {
            add(Attribute::Os, os.into());
        }
    }
    if let Some(v) = &sys.object_id {
        add(Attribute::ObjectId, v.clone());
    }
    if let Some(n) = sys.enterprise.or(enterprise.map(u64::from)) {
        add(Attribute::VendorId, format!("snmp:{n}"));
    }
    if let Some(v) = &sys.name {
        add(Attribute::Name, v.clone());
    }
    facts
}

/// Report the agent's facts of a response whose PDU after the request id is `bindings`
/// (`None`: a report, or an encrypted v3 message). A polled agent answers the same values
/// over and over, in new flows too: when they depend on the bindings alone (no v3
/// engine's enterprise to fall back on), the facts of identical bindings come from the
/// worker's memo instead of walking them, decoding OIDs and cleaning up text again.
fn report_agent(sink: &mut dyn PduSink, bindings: Option<&[u8]>, enterprise: Option<u32>) {
    // Only answers that gave facts are remembered (`report_facts`): the others mostly carry
    // counters, whose values do not come back.
    let key = bindings
        .filter(|_| enterprise.is_none())
        .map(|b| (ProtocolId::SNMP, 0, b));
    crate::memo::report_facts(sink, key, || {
        let sys = bindings.map(system).unwrap_or_default();
        agent_facts(&sys, enterprise)
    });
}

/// The SNMP dissector; remembers only whether this flow's community finding was reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnmpDissector {
    community_reported: bool,
}

impl Dissector for SnmpDissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::SNMP
    }
    fn parse(&mut self, d: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        if d.is_empty() {
            return Parsed::done(0);
        }
        let Some(m) = walk(d) else {
            let s = Summary::malformed(
                "snmp",
                dir == Direction::ToClient,
                d.len(),
                Anomaly::BadEncoding,
            );
            emit(sink, &s, |_| {});
            return Parsed::done(d.len());
        };
        let mut s = Summary::new("snmp", dir == Direction::ToClient, d.len());
        // A response's PDU after its request id, where the agent's values are.
        let mut bindings = None;
        match m.pdu {
            Some((tag, ps, pe)) => {
                let t = PduType(tag);
                s.function = Some(u32::from(tag));
                s.function_name = t.name();
                s.operation = operation(t);
                s.response = matches!(tag, 0xa2 | 0xa8);
                if t.name().is_none() {
                    s.anomalies.set(Anomaly::UnknownFunction);
                }
                // request-id, then error-status (not in v1 traps).
                if tag != 0xa4 {
                    let status = tlv(d, ps)
                        .and_then(|(_, _, re)| tlv(d, re))
                        .filter(|&(_, _, ee)| ee <= pe)
                        .and_then(|(et, es, ee)| (et == INTEGER).then(|| int(d, es, ee)).flatten());
                    if s.response && status.is_some_and(|e| e != 0) {
                        s.status = PduStatus::Exception;
                    }
                }
                if tag == 0xa2 {
                    bindings = after_request_id(d, ps, pe);
                }
            }
            None => s.function_name = Some("encrypted"),
        }
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
        }
        // The community's finding (a hash, and a string) is needed only by the event and by
        // the flow's first answer: most messages of a polled agent need neither.
        let events = sink.wants_events();
        let community = m
            .community
            .filter(|_| events || (s.response && !self.community_reported))
            .map(|(cs, ce)| community_finding(&d[cs..ce]));
        let engine_id = m.engine_id.map(|(es, ee)| &d[es..ee]);
        let enterprise = engine_id.and_then(engine_enterprise);
        if s.response {
            report_agent(sink, bindings, enterprise);
            // An agent answers only to a community it accepts (even with an error status).
            if let Some(c) = &community
                && !self.community_reported
            {
                self.community_reported = true;
                fact(
                    sink,
                    "snmp",
                    Subject::Sender,
                    Attribute::Finding,
                    c.as_str(),
                );
            }
        }
        emit(sink, &s, |fields| {
            let sys = bindings.map(system).unwrap_or_default();
            fields.push(("version", u(m.version)));
            if let Some(c) = community {
                fields.push(("community", FieldValue::Str(c)));
            }
            if let Some(id) = engine_id {
                fields.push(("engine_id", FieldValue::Str(crate::text::hex(id, None, 32))));
            }
            if let Some(n) = enterprise {
                fields.push(("engine_enterprise", u(n)));
            }
            let strings = [
                ("sys_descr", sys.descr),
                ("sys_object_id", sys.object_id),
                ("sys_name", sys.name),
                ("sys_contact", sys.contact),
                ("sys_location", sys.location),
            ];
            for (name, v) in strings {
                if let Some(v) = v {
                    fields.push((name, FieldValue::Str(v)));
                }
            }
        });
        Parsed::done(d.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{VecSink, hex};

    #[test]
    fn parses_get_and_response() {
        // zeek__snmpv1_get.pcap frames 1 and 2.
        let q =
            hex("302602010004067075626c6963a019020126020100020100300e300c06082b060102010102000500");
        let r = hex(
            "303802010004067075626c6963a22b0201260201000201003020301e06082b0601020101020006122b060104018f5101010182295d011b020201",
        );
        assert_eq!(probe(&q), Probe::Match);
        let mut s = VecSink::default();
        let mut d = SnmpDissector::default();
        d.parse(&q, Direction::ToServer, &mut s);
        d.parse(&r, Direction::ToClient, &mut s);
        assert_eq!(s.events[0].function_name, Some("get_request"));
        assert_eq!(s.events[0].operation, OperationClass::Read);
        assert_eq!(s.events[1].function_name, Some("response"));
        assert_eq!(s.events[1].status, PduStatus::Ok);
        d.parse(&q[..20], Direction::ToServer, &mut s);
        assert_eq!(s.events[2].status, PduStatus::Malformed);
        // tshark: snmp.value.oid 1.3.6.1.4.1.2001.1.1.1.297.93.1.27.2.2.1 (2001: Oki).
        assert_eq!(
            s.fact_pairs(),
            [
                ("object_id", "1.3.6.1.4.1.2001.1.1.1.297.93.1.27.2.2.1"),
                ("vendor_id", "snmp:2001"),
                ("finding", "snmp_community:public"),
            ]
        );
        assert_eq!(
            str_field(&s.events[0], "community"),
            Some("snmp_community:public")
        );
    }

    fn str_field<'a>(e: &'a yagura_core::PduEvent, name: &str) -> Option<&'a str> {
        e.fields
            .iter()
            .find(|f| f.0 == name)
            .and_then(|f| match &f.1 {
                FieldValue::Str(v) => Some(v.as_str()),
                _ => None,
            })
    }

    /// zeek__snmpwalk-short.pcap frames 2 (sysDescr), 4 (sysObjectID) and 10 (sysName), as
    /// tshark shows them; and zeek__snmpv1_get.pcap frame 4 (sysName "B6300", sysLocation
    /// "Chandra's cube"). Facts are the same whether events are built or only counted.
    #[test]
    fn system_group_answers_become_facts() {
        let frames = [
            "30819002010104067075626c6963a28182020409584e450201000201003074307206082b0601020101010004664c696e7578207562756e74752d3531326d622d73666f322d303120342e342e302d33312d67656e65726963202335307e31342e30342e312d5562756e747520534d5020576564204a756c2031332030313a30373a3332205554432032303136207838365f3634",
            "303302010104067075626c6963a226020409584e460201000201003018301606082b06010201010200060a2b06010401bf0803020a",
            "303d02010104067075626c6963a230020409584e490201000201003022302006082b0601020101050004147562756e74752d3531326d622d73666f322d3031",
            "304702010004067075626c6963a23a020127020100020100302f301106082b0601020101050004054236333030301a06082b06010201010600040e4368616e64726127732063756265",
        ];
        let mut runs = Vec::new();
        for events in [true, false] {
            let mut s = if events {
                VecSink::default()
            } else {
                VecSink::counting()
            };
            let mut d = SnmpDissector::default();
            for f in frames {
                d.parse(&hex(f), Direction::ToClient, &mut s);
            }
            if events {
                assert_eq!(
                    str_field(&s.events[3], "sys_location"),
                    Some("Chandra's cube")
                );
                assert_eq!(
                    str_field(&s.events[1], "sys_object_id"),
                    Some("1.3.6.1.4.1.8072.3.2.10")
                );
            }
            runs.push(s.facts);
        }
        assert_eq!(runs[0], runs[1]);
        let pairs: Vec<_> = runs[0]
            .iter()
            .map(|f| (f.attribute.name(), f.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                (
                    "description",
                    "Linux ubuntu-512mb-sfo2-01 4.4.0-31-generic #50~14.04.1-Ubuntu SMP Wed Jul 13 01:07:32 UTC 2016 x86_64"
                ),
                ("os", "Linux"),
                ("finding", "snmp_community:public"),
                ("object_id", "1.3.6.1.4.1.8072.3.2.10"),
                ("vendor_id", "snmp:8072"),
                ("name", "ubuntu-512mb-sfo2-01"),
                ("name", "B6300"),
            ]
        );
    }

    #[test]
    fn other_communities_are_fingerprinted() {
        // SHA-256("secret") = 2bb80d537b1da3e3…
        assert_eq!(
            community_finding(b"secret"),
            "snmp_community_sha256:2bb80d537b1da3e3"
        );
        assert_eq!(
            oid_text(&[0x2b, 6, 1, 0x82, 0x29]).as_deref(),
            Some("1.3.6.1.297")
        );
        assert_eq!(oid_text(&[0x2b, 0x86]), None);
        assert_eq!(engine_enterprise(&[0x80, 0, 0x1f, 0x88, 4]), Some(8072));
        assert_eq!(engine_enterprise(&[0, 0, 0x1f, 0x88]), None);
    }

    proptest::proptest! {
        /// Mutated real messages never panic, and counting gives the facts events give.
        #[test]
        fn mutated_messages_never_panic(pos in 0usize..160, val: u8, cut in 0usize..160) {
            let mut b = hex("30819002010104067075626c6963a28182020409584e450201000201003074307206082b0601020101010004664c696e7578207562756e74752d3531326d622d73666f322d303120342e342e302d33312d67656e65726963202335307e31342e30342e312d5562756e747520534d5020576564204a756c2031332030313a30373a3332205554432032303136207838365f3634");
            if pos < b.len() { b[pos] = val; }
            b.truncate(cut.max(1));
            let mut a = VecSink::default();
            let mut c = VecSink::counting();
            SnmpDissector::default().parse(&b, Direction::ToClient, &mut a);
            SnmpDissector::default().parse(&b, Direction::ToClient, &mut c);
            proptest::prop_assert_eq!(a.facts, c.facts);
        }
    }
}
