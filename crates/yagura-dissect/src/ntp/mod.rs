//! NTP (RFC 5905; mode 6 control per RFC 9327, mode 7 private): the mode as the function.
//! One datagram is one message.
//!
//! Identity: a host answering in server mode (4) or broadcasting time (5) gets the role
//! `ntp_server`, once per flow. Its stratum and reference id are event fields.

use yagura_core::{Attribute, Direction, FieldValue, OperationClass, PduStatus, Subject};

use crate::emit::{Summary, emit, u};
use crate::text::fact;
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// Length of a mode 1–5 packet without extensions.
pub const PACKET_LEN: usize = 48;

open_enum! {
    /// Association modes.
    pub struct Mode(u8) {
        SYMMETRIC_ACTIVE = 1 => "symmetric_active",
        SYMMETRIC_PASSIVE = 2 => "symmetric_passive",
        CLIENT = 3 => "client",
        SERVER = 4 => "server",
        BROADCAST = 5 => "broadcast",
        CONTROL = 6 => "control",
        PRIVATE = 7 => "private",
    }
}

/// Does `data` look like NTP: version 1..4, a mode 1..7, 48 octets for the time modes?
pub fn probe(data: &[u8]) -> Probe {
    let Some(&b) = data.first() else {
        return Probe::NoMatch;
    };
    let (vn, mode) = ((b >> 3) & 7, b & 7);
    let ok = match mode {
        1..=5 => (1..=4).contains(&vn) && data.len() >= PACKET_LEN,
        6 => (1..=4).contains(&vn) && data.len() >= 12,
        7 => (1..=4).contains(&vn) && data.len() >= 8,
        _ => false,
    };
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// The reference id as text: a kiss code or reference source (stratum 0 and 1: four ASCII
/// characters, RFC 5905 7.3, e.g. `GPS`, `PPS`, `DCF`), otherwise the upstream server's IPv4
/// address (for an IPv6 upstream, the first octets of its hash, shown the same way).
pub fn reference_id(stratum: u8, id: [u8; 4]) -> String {
    if stratum <= 1 {
        let s: String = id
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect();
        s
    } else {
        format!("{}.{}.{}.{}", id[0], id[1], id[2], id[3])
    }
}

/// The NTP dissector; remembers only whether this flow's server role was reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct NtpDissector {
    role_reported: bool,
}

impl Dissector for NtpDissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::NTP
    }
    fn parse(&mut self, d: &[u8], _dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        let Some(&b) = d.first() else {
            return Parsed::done(0);
        };
        let mode = Mode(b & 7);
        let response = match mode.0 {
            2 | 4 | 5 => true,
            // Mode 6 has its response bit in the second octet, mode 7 in the first.
            6 => d.get(1).is_some_and(|r| r & 0x80 != 0),
            7 => b & 0x80 != 0,
            _ => false,
        };
        let mut s = Summary::new("ntp", response, d.len());
        s.function = Some(u32::from(mode.0));
        s.function_name = mode.name();
        // Time queries read the server clock; control and private modes (ntpq, ntpdc,
        // monlist) query server state.
        s.operation = match mode.0 {
            1..=5 => OperationClass::Read,
            6 | 7 => OperationClass::Diagnostic,
            _ => OperationClass::Other,
        };
        if mode.0 == 0 {
            s.anomalies.set(Anomaly::UnknownFunction);
        }
        if (1..=5).contains(&mode.0) && d.len() < PACKET_LEN {
            s.anomalies.set(Anomaly::Truncated);
        }
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
        }
        // Time modes with a whole header: stratum (octet 1) and reference id (12..16).
        let time = (1..=5).contains(&mode.0) && d.len() >= PACKET_LEN;
        let stratum = d.get(1).copied().unwrap_or(0);
        if time && matches!(mode.0, 4 | 5) && !self.role_reported {
            self.role_reported = true;
            fact(sink, "ntp", Subject::Sender, Attribute::Role, "ntp_server");
        }
        emit(sink, &s, |fields| {
            fields.push(("version", u((b >> 3) & 7)));
            if time {
                fields.push(("stratum", u(stratum)));
                let id = [d[12], d[13], d[14], d[15]];
                if mode.0 != 3 || id != [0; 4] {
                    fields.push(("reference_id", FieldValue::Str(reference_id(stratum, id))));
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
    fn parses_client_request() {
        // zeek__NTP_sync.pcap frame 1.
        let b = hex(
            "d9000afa000000000001029000000000000000000000000000000000000000000000000000000000c50204ecec42ee92",
        );
        assert_eq!(probe(&b), Probe::Match);
        let mut s = VecSink::default();
        NtpDissector::default().parse(&b, Direction::ToServer, &mut s);
        assert_eq!(s.events[0].function_name, Some("symmetric_active"));
        assert_eq!(s.field(0, "version"), Some(3));
        assert_eq!(s.field(0, "stratum"), Some(0));
        assert!(s.facts.is_empty());
    }

    /// A stratum-1 server's answer: iti__JavaRMI_and_IEC_Misc.pcap frame 2 (tshark: mode 4,
    /// stratum 1, reference id "SHM"), then a stratum-2 answer from the bench seed
    /// zeek__ntp_ntp.pcap (tshark: refid 212.7.1.132).
    #[test]
    fn server_answers_give_the_role_once_per_flow() {
        let shm = hex(
            "240100ed00000000006bd0b953484d00cbce6bc97b894dc10000002500000000cc3c245b1152c685cc3c245b115a3524",
        );
        for events in [true, false] {
            let mut s = if events {
                VecSink::default()
            } else {
                VecSink::counting()
            };
            let mut d = NtpDissector::default();
            d.parse(&shm, Direction::ToClient, &mut s);
            d.parse(&shm, Direction::ToClient, &mut s);
            assert_eq!(s.fact_pairs(), [("role", "ntp_server")]);
            assert_eq!(s.facts[0].subject, Subject::Sender);
            if events {
                assert_eq!(s.field(0, "stratum"), Some(1));
                assert_eq!(
                    s.events[0]
                        .fields
                        .iter()
                        .find(|f| f.0 == "reference_id")
                        .map(|f| &f.1),
                    Some(&FieldValue::Str("SHM".into()))
                );
            }
        }
        assert_eq!(reference_id(2, [212, 7, 1, 132]), "212.7.1.132");
    }
}
