//! SNMP v1/v2c/v3 (RFC 3416, 3412): the PDU type as the function. One datagram is one
//! message. Community strings are credentials and never leave the dissector.

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::emit::{Summary, emit, u};
use crate::probes::ber_len;
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;

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

/// What the message header says.
struct Message {
    version: u64,
    /// PDU tag and content range, `None` for an encrypted v3 scoped PDU.
    pdu: Option<(u8, usize, usize)>,
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
    if version == 3 {
        let (_, _, global_end) = tlv(d, at)?; // msgGlobalData
        let (_, _, sec_end) = tlv(d, global_end)?; // msgSecurityParameters
        let (st, ss, _) = tlv(d, sec_end)?;
        if st == OCTET_STRING {
            return Some(Message { version, pdu: None });
        }
        let (_, _, engine_end) = tlv(d, ss)?; // contextEngineID
        let (_, _, name_end) = tlv(d, engine_end)?; // contextName
        at = name_end;
    } else {
        let (ct, _, ce) = tlv(d, at)?; // community
        if ct != OCTET_STRING {
            return None;
        }
        at = ce;
    }
    Some(Message {
        version,
        pdu: Some(tlv(d, at)?),
    })
}

/// The SNMP dissector: stateless, zero-sized.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnmpDissector;

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
            }
            None => s.function_name = Some("encrypted"),
        }
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
        }
        emit(sink, &s, |fields| fields.push(("version", u(m.version))));
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
        SnmpDissector.parse(&q, Direction::ToServer, &mut s);
        SnmpDissector.parse(&r, Direction::ToClient, &mut s);
        assert_eq!(s.events[0].function_name, Some("get_request"));
        assert_eq!(s.events[0].operation, OperationClass::Read);
        assert_eq!(s.events[1].function_name, Some("response"));
        assert_eq!(s.events[1].status, PduStatus::Ok);
        SnmpDissector.parse(&q[..20], Direction::ToServer, &mut s);
        assert_eq!(s.events[2].status, PduStatus::Malformed);
    }
}
