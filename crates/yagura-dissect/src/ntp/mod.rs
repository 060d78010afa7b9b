//! NTP (RFC 5905; mode 6 control per RFC 9327, mode 7 private): the mode as the function.
//! One datagram is one message.

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::emit::{Summary, emit, u};
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

/// The NTP dissector: stateless, zero-sized.
#[derive(Debug, Clone, Copy, Default)]
pub struct NtpDissector;

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
        emit(sink, &s, |fields| fields.push(("version", u((b >> 3) & 7))));
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
        NtpDissector.parse(&b, Direction::ToServer, &mut s);
        assert_eq!(s.events[0].function_name, Some("symmetric_active"));
        assert_eq!(s.field(0, "version"), Some(3));
    }
}
