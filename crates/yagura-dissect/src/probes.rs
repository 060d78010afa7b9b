//! Probes of the protocols that are recognised but not (yet) dissected, and of the ISO-on-TCP
//! family. Each looks only at the first bytes of a payload and must never panic.
//!
//! Port-bound probes (used only on their registered ports) may be moderate; the `*_strong`,
//! `*_bind`, `*_hello`, `*_connect`, `*_crc` and `*_uuid` variants are the port-independent
//! ones and require enough fixed structure that a false label is unlikely.

use crate::Probe;
use crate::bytes::{be16, be32, le16, le32};
use crate::registry::{Detect, ProtocolId};
use crate::s7comm::cotp::{self, TpduCode};

/// `Match` if `d` starts with `pat`, `NeedMore` if `d` is a proper prefix of it.
pub(crate) fn prefix(d: &[u8], pat: &[u8]) -> Probe {
    if d.len() < pat.len() {
        if pat.starts_with(d) {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        }
    } else if d.starts_with(pat) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// The best of [`prefix`] over several patterns.
pub(crate) fn any_prefix(d: &[u8], pats: &[&[u8]]) -> Probe {
    let mut r = Probe::NoMatch;
    for p in pats {
        match prefix(d, p) {
            Probe::Match => return Probe::Match,
            Probe::NeedMore => r = Probe::NeedMore,
            Probe::NoMatch => {}
        }
    }
    r
}

#[inline]
pub(crate) fn yes(b: bool) -> Probe {
    if b { Probe::Match } else { Probe::NoMatch }
}

/// A BER definite length at `d[off..]`: (length, bytes used by the length octets).
pub(crate) fn ber_len(d: &[u8], off: usize) -> Option<(usize, usize)> {
    let first = *d.get(off)?;
    if first < 0x80 {
        return Some((first as usize, 1));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut v = 0usize;
    for i in 0..n {
        v = (v << 8) | *d.get(off + 1 + i)? as usize;
    }
    Some((v, 1 + n))
}

// ---------------------------------------------------------------- ISO-on-TCP family

/// TPKT/COTP on port 102 and port-independently: names the payload protocol of the first
/// data TPDU (`s7comm` 0x32, `s7comm_plus` 0x72, `mms` for an ISO session SPDU or an MMS PDU,
/// `rdp` for an RDP connection request, `cotp` otherwise). A connection request or confirm
/// without RDP markers says `NeedMore`: the payload protocol shows only in the data that
/// follows.
pub(crate) fn iso_tsap(d: &[u8]) -> Detect {
    let mut rest = d;
    loop {
        let t = match cotp::Tpdu::parse(rest) {
            Ok(t) => t,
            Err(cotp::TpduError::Incomplete(_)) => {
                // A header prefix that is consistent so far.
                return if cotp::probe(rest) == Probe::NoMatch {
                    Detect::Unknown
                } else {
                    Detect::NeedMore
                };
            }
            Err(cotp::TpduError::Bad(_)) => return Detect::Unknown,
        };
        match t.code {
            TpduCode::CR | TpduCode::CC => {
                if is_rdp_cr(t.variable) || is_rdp_cr(t.user_data) {
                    return Detect::Found(ProtocolId::RDP);
                }
            }
            TpduCode::DT => {
                if let Some(id) = payload_protocol(t.user_data) {
                    return Detect::Found(id);
                }
            }
            c if c.name().is_some() => return Detect::Found(ProtocolId::COTP),
            _ => return Detect::Unknown,
        }
        rest = &rest[t.len..];
        if rest.is_empty() {
            return Detect::NeedMore;
        }
    }
}

/// TPKT/COTP, port-independent: the first TPDU must be whole and be a class 0..4 connection
/// request (LI ≥ 6), or a class 0 DT (LI 2) carrying S7comm, S7comm-plus or MMS.
pub(crate) fn iso_tsap_strong(d: &[u8]) -> Detect {
    let t = match cotp::Tpdu::parse(d) {
        Ok(t) if t.anomalies.is_empty() => t,
        Err(cotp::TpduError::Incomplete(_)) if cotp::probe(d) != Probe::NoMatch => {
            return Detect::NeedMore;
        }
        _ => return Detect::Unknown,
    };
    let li = d[4];
    match t.code {
        TpduCode::CR if li >= 6 && d.get(10).is_some_and(|c| c >> 4 <= 4) => iso_tsap(d),
        TpduCode::DT if li == 2 => match iso_tsap(d) {
            Detect::Found(ProtocolId::COTP) => Detect::Unknown,
            other => other,
        },
        _ => Detect::Unknown,
    }
}

/// The protocol carried by a COTP data payload (`None` for an empty segment).
pub(crate) fn payload_protocol(p: &[u8]) -> Option<ProtocolId> {
    let &first = p.first()?;
    Some(match first {
        0x32 => ProtocolId::S7COMM,
        0x72 => ProtocolId::S7COMM_PLUS,
        // ISO 8327 session CONNECT / ACCEPT SPDU, or GIVE-TOKENS + DATA-TRANSFER.
        0x0d | 0x0e => ProtocolId::MMS,
        0x01 if p.get(1..4) == Some(&[0x00, 0x01, 0x00]) => ProtocolId::MMS,
        // An MMS PDU straight on COTP (some stacks skip session/presentation): a
        // context-specific constructed tag 0..13 with a BER length that fits.
        0xa0..=0xad if ber_len(p, 1).is_some_and(|(l, n)| 1 + n + l <= p.len()) => ProtocolId::MMS,
        _ => ProtocolId::COTP,
    })
}

/// An RDP connection request carries a `Cookie: mstshash=` or an RDP negotiation request
/// (type 1, length 8) after its fixed header; a confirm carries a negotiation response
/// (type 2/3).
fn is_rdp_cr(user: &[u8]) -> bool {
    user.starts_with(b"Cookie: ")
        || (user.len() == 8 && matches!(user[0], 1..=3) && user[2..4] == [8, 0])
        || user
            .iter()
            .position(|&b| b == b'\n')
            .and_then(|i| user.get(i + 1..))
            .is_some_and(|tail| tail.len() == 8 && tail[0] == 1 && tail[2..4] == [8, 0])
}

/// RDP (port 3389): any TPKT/COTP start.
pub(crate) fn rdp(d: &[u8]) -> Probe {
    cotp::probe(d)
}

// ---------------------------------------------------------------- IT

/// A TLS record header: content type 20..23, version 3.x, a length within the record limit.
pub(crate) fn tls(d: &[u8]) -> Probe {
    if d.len() < 5 {
        let ok = (0x14..=0x17).contains(&d[0]) && d.get(1).is_none_or(|&v| v == 3);
        return if ok { Probe::NeedMore } else { Probe::NoMatch };
    }
    let len = be16(d, 3).unwrap_or(0);
    yes((0x14..=0x17).contains(&d[0]) && d[1] == 3 && d[2] <= 4 && (1..=18432).contains(&len))
}

/// TLS, port-independent: a handshake record holding a hello, or application data whose
/// record boundary is consistent with the payload.
pub(crate) fn tls_strong(d: &[u8]) -> Probe {
    match tls(d) {
        Probe::Match => {}
        other => return other,
    }
    let len = be16(d, 3).unwrap_or(0) as usize;
    match d[0] {
        0x16 => match d.get(5) {
            None => Probe::NeedMore,
            Some(1 | 2) => yes(d.get(6) == Some(&0)),
            Some(_) => Probe::NoMatch,
        },
        0x17 if d[2] >= 1 => {
            let next = &d[(5 + len).min(d.len())..];
            yes(5 + len == d.len() || (next.len() >= 3 && next[0] == 0x17 && next[1..3] == d[1..3]))
        }
        _ => Probe::NoMatch,
    }
}

/// SSH identification string.
pub(crate) fn ssh(d: &[u8]) -> Probe {
    prefix(d, b"SSH-")
}

/// FTP server greeting or a typical first client command.
pub(crate) fn ftp(d: &[u8]) -> Probe {
    any_prefix(
        d,
        &[
            b"220 ",
            b"220-",
            b"USER ",
            b"AUTH TLS",
            b"AUTH SSL",
            b"FEAT\r\n",
        ],
    )
}

/// SMTP server greeting or client hello.
pub(crate) fn smtp(d: &[u8]) -> Probe {
    any_prefix(
        d,
        &[b"220 ", b"220-", b"EHLO ", b"HELO ", b"ehlo ", b"helo "],
    )
}

/// Telnet option negotiation (IAC WILL/WONT/DO/DONT/SB).
pub(crate) fn telnet(d: &[u8]) -> Probe {
    match d {
        [0xff] => Probe::NeedMore,
        [0xff, c, ..] => yes((0xfa..=0xfe).contains(c)),
        _ => Probe::NoMatch,
    }
}

/// Kerberos application tags: AS-REQ/REP, TGS-REQ/REP, KRB-ERROR.
fn krb_tag(t: u8) -> bool {
    matches!(t, 0x6a..=0x6d | 0x7e)
}

/// Kerberos over TCP: a 4-byte record length, then a Kerberos message.
pub(crate) fn kerberos_tcp(d: &[u8]) -> Probe {
    if d.len() < 6 {
        return Probe::NeedMore;
    }
    let len = be32(d, 0).unwrap_or(0) as usize;
    yes(len >= 2 && len + 4 >= d.len() && krb_tag(d[4]) && ber_len(d, 5).is_some())
}

/// Kerberos over UDP.
pub(crate) fn kerberos_udp(d: &[u8]) -> Probe {
    yes(d.len() >= 2 && krb_tag(d[0]) && ber_len(d, 1).is_some_and(|(l, n)| 1 + n + l == d.len()))
}

/// LDAP message: SEQUENCE { messageID INTEGER, protocolOp [APPLICATION n] }.
pub(crate) fn ldap(d: &[u8]) -> Probe {
    if d.first() != Some(&0x30) {
        return Probe::NoMatch;
    }
    let Some((_, n)) = ber_len(d, 1) else {
        return if d.len() < 6 {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let i = 1 + n;
    let (Some(&0x02), Some(&il)) = (d.get(i), d.get(i + 1)) else {
        return if d.len() < i + 2 {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    if !(1..=4).contains(&il) {
        return Probe::NoMatch;
    }
    match d.get(i + 2 + il as usize) {
        None => Probe::NeedMore,
        Some(&t) => yes(matches!(t & 0xe0, 0x40 | 0x60) && t & 0x1f <= 25),
    }
}

/// DCE/RPC connection-oriented header (version 5.0/5.1, a packet type, a data representation).
pub(crate) fn dcerpc_co(d: &[u8]) -> Probe {
    if d.len() < 16 {
        return if d.first().is_none_or(|&v| v == 5) {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    let frag = if d[4] == 0x10 { le16(d, 8) } else { be16(d, 8) }.unwrap_or(0);
    yes(d[0] == 5 && d[1] <= 1 && d[2] <= 20 && matches!(d[4], 0x10 | 0x00) && frag >= 16)
}

/// DCE/RPC, port-independent: a bind, bind-ack, alter-context (or its response) that fits,
/// or a request/response (as on dynamic endpoint ports) whose fragment length is exactly the
/// payload, with the usual little-endian ASCII/IEEE data representation.
pub(crate) fn dcerpc_co_bind(d: &[u8]) -> Probe {
    match dcerpc_co(d) {
        Probe::Match => {}
        other => return other,
    }
    let frag = if d[4] == 0x10 { le16(d, 8) } else { be16(d, 8) }.unwrap_or(0) as usize;
    let first_last = d[3] & 0x03 == 0x03;
    let bind = matches!(d[2], 11 | 12 | 14 | 15) && frag <= d.len() && first_last;
    let call = matches!(d[2], 0 | 2) && frag == d.len() && d[4..8] == [0x10, 0, 0, 0];
    yes(bind || call)
}

/// DCE/RPC connectionless header (version 4).
pub(crate) fn dcerpc_cl(d: &[u8]) -> Probe {
    yes(d.len() >= 80 && d[0] == 4 && d[1] <= 10 && matches!(d[4], 0x10 | 0x00))
}

/// Profinet IO on its port: connectionless DCE/RPC.
pub(crate) fn pn_io_any(d: &[u8]) -> Probe {
    dcerpc_cl(d)
}

/// Profinet IO, port-independent: connectionless DCE/RPC whose interface is one of the PNIO
/// interfaces DEA0000x-6C97-11D1-8271-00A02442DF7D (x = 1 device, 2 controller, 3
/// supervisor, 4 parameter server).
pub(crate) fn pn_io_uuid(d: &[u8]) -> Probe {
    if dcerpc_cl(d) != Probe::Match {
        return Probe::NoMatch;
    }
    const TAIL: [u8; 8] = [0x82, 0x71, 0x00, 0xa0, 0x24, 0x42, 0xdf, 0x7d];
    let u = &d[24..40];
    let little = u[1..4] == [0x00, 0xa0, 0xde] && u[4..8] == [0x97, 0x6c, 0xd1, 0x11];
    let big = u[0..3] == [0xde, 0xa0, 0x00] && u[4..8] == [0x6c, 0x97, 0x11, 0xd1];
    let x = if little { u[0] } else { u[3] };
    yes((little || big) && (1..=4).contains(&x) && u[8..16] == TAIL)
}

/// SMB over NetBIOS session or direct TCP: a session message then the SMB1/2/3 magic.
pub(crate) fn smb(d: &[u8]) -> Probe {
    if d.first().is_some_and(|&t| t != 0) {
        return Probe::NoMatch;
    }
    if d.len() < 8 {
        return Probe::NeedMore;
    }
    yes(d[4..8] == *b"\xffSMB" || d[4..8] == *b"\xfeSMB" || d[4..8] == *b"\xfdSMB")
}

/// Port 139: SMB inside NetBIOS session messages, or other NetBIOS session traffic.
pub(crate) fn netbios_ssn(d: &[u8]) -> Detect {
    match smb(d) {
        Probe::Match => return Detect::Found(ProtocolId::SMB),
        Probe::NeedMore => return Detect::NeedMore,
        Probe::NoMatch => {}
    }
    // Session request / positive / negative response / keep-alive, with a consistent length.
    let ok = d.len() >= 4
        && matches!(d[0], 0x81..=0x85)
        && d[1] & 0xfe == 0
        && be16(d, 2).is_some_and(|l| l as usize + 4 <= d.len());
    if ok {
        Detect::Found(ProtocolId::NETBIOS_SSN)
    } else {
        Detect::Unknown
    }
}

/// NetBIOS datagram service header.
pub(crate) fn nbdgm(d: &[u8]) -> Probe {
    yes(d.len() >= 14 && (0x10..=0x16).contains(&d[0]) && d[1] & 0xf0 == 0)
}

/// TFTP read or write request: opcode, file name, NUL, transfer mode, NUL.
pub(crate) fn tftp(d: &[u8]) -> Probe {
    if d.len() < 4 || !matches!(be16(d, 0), Some(1 | 2)) {
        return Probe::NoMatch;
    }
    let body = &d[2..];
    let Some(z) = body.iter().position(|&b| b == 0) else {
        return Probe::NoMatch;
    };
    let mode = &body[z + 1..];
    let mode = &mode[..mode.iter().position(|&b| b == 0).unwrap_or(mode.len())];
    yes(z > 0
        && ["octet", "netascii", "mail"]
            .iter()
            .any(|m| mode.eq_ignore_ascii_case(m.as_bytes())))
}

/// Syslog: `<PRI>` with 1 to 3 digits.
pub(crate) fn syslog(d: &[u8]) -> Probe {
    if d.first() != Some(&b'<') {
        return Probe::NoMatch;
    }
    let digits = d[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    yes((1..=3).contains(&digits) && d.get(1 + digits) == Some(&b'>'))
}

/// VNC (RFB) protocol version string.
pub(crate) fn vnc(d: &[u8]) -> Probe {
    prefix(d, b"RFB 0")
}

// ---------------------------------------------------------------- OT

/// OPC UA binary on its port: a message type, a chunk type and a sane size.
pub(crate) fn opcua(d: &[u8]) -> Probe {
    if d.len() < 8 {
        return Probe::NeedMore;
    }
    let kind = matches!(
        &d[0..3],
        b"HEL" | b"ACK" | b"OPN" | b"MSG" | b"CLO" | b"ERR" | b"RHE"
    );
    let size = le32(d, 4).unwrap_or(0);
    yes(kind && matches!(d[3], b'F' | b'C' | b'A') && (8..=1 << 24).contains(&size))
}

/// OPC UA, port-independent: a Hello, Acknowledge, ReverseHello or OpenSecureChannel whose
/// size fits the payload.
pub(crate) fn opcua_hello(d: &[u8]) -> Probe {
    match any_prefix(d, &[b"HELF", b"ACKF", b"RHEF", b"OPNF"]) {
        Probe::Match => {}
        other => return other,
    }
    if d.len() < 8 {
        return Probe::NeedMore;
    }
    let size = le32(d, 4).unwrap_or(0) as usize;
    yes((28..=d.len()).contains(&size) || (d[0] == b'O' && size >= 28))
}

/// MQTT remaining-length varint at `d[1..]`: (value, header length).
fn mqtt_len(d: &[u8]) -> Option<(usize, usize)> {
    let mut v = 0usize;
    for i in 0..4 {
        let b = *d.get(1 + i)?;
        v |= ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, 2 + i));
        }
    }
    None
}

/// MQTT on its port: a control packet type and a remaining length that fits.
pub(crate) fn mqtt(d: &[u8]) -> Probe {
    if d.len() < 2 {
        return Probe::NeedMore;
    }
    let t = d[0] >> 4;
    yes((1..=14).contains(&t) && mqtt_len(d).is_some_and(|(l, h)| h + l <= d.len() + 4096))
}

/// MQTT, port-independent: a CONNECT naming the protocol (`MQTT` or 3.1's `MQIsdp`).
pub(crate) fn mqtt_connect(d: &[u8]) -> Probe {
    if d.first() != Some(&0x10) {
        return Probe::NoMatch;
    }
    let Some((_, h)) = mqtt_len(d) else {
        return if d.len() < 5 {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    any_prefix(&d[h..], &[b"\x00\x04MQTT", b"\x00\x06MQIsdp"])
}

/// IEEE C37.118 frame header: SYNC 0xAA, a frame type 0..5, version 1 or 2, a sane size.
pub(crate) fn c37118(d: &[u8]) -> Probe {
    if d.len() < 4 {
        return if d.first().is_none_or(|&b| b == 0xaa) {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    let size = be16(d, 2).unwrap_or(0);
    yes(d[0] == 0xaa
        && d[1] & 0x80 == 0
        && (d[1] >> 4) <= 5
        && matches!(d[1] & 0x0f, 1..=3)
        && size >= 16)
}

/// C37.118, port-independent: a whole frame whose CRC-CCITT matches.
pub(crate) fn c37118_crc(d: &[u8]) -> Probe {
    match c37118(d) {
        Probe::Match => {}
        other => return other,
    }
    let size = be16(d, 2).unwrap_or(0) as usize;
    if size > d.len() {
        return Probe::NoMatch;
    }
    yes(crc_ccitt(&d[..size - 2]) == be16(d, size - 2).unwrap_or(0))
}

/// CRC-CCITT (poly 0x1021, init 0xFFFF, no reflection) as C37.118 uses it. Bitwise: it runs
/// only in detection.
fn crc_ccitt(d: &[u8]) -> u16 {
    let mut crc = 0xffffu16;
    for &b in d {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Omron FINS/TCP: the `FINS` magic.
pub(crate) fn fins_tcp(d: &[u8]) -> Probe {
    prefix(d, b"FINS")
}

/// Omron FINS over UDP: ICF, RSV 0, a gateway count of 2 or 7, a known main request code.
pub(crate) fn fins_udp(d: &[u8]) -> Probe {
    if d.len() < 12 {
        return Probe::NoMatch;
    }
    yes(
        matches!(d[0], 0x80 | 0x81 | 0xc0 | 0xc1 | 0x00 | 0x01 | 0x40 | 0x41)
            && d[1] == 0
            && matches!(d[2], 0x02 | 0x07)
            && matches!(d[10], 0x01..=0x09 | 0x0c | 0x21 | 0x22 | 0x23 | 0x26 | 0x28),
    )
}

/// MELSEC: SLMP/MC 3E or 4E binary frames (subheader 0x5000/0x5400, responses 0xD000/0xD400)
/// with a data length that fits, or MELSOFT frames (0x5700/0xD700 with their 0x1111 marker at
/// offset 5).
pub(crate) fn slmp(d: &[u8]) -> Probe {
    if d.len() < 11 {
        return Probe::NoMatch;
    }
    let ok = match (d[0], d[1]) {
        (0x50 | 0xd0, 0) => le16(d, 7).is_some_and(|l| l as usize + 9 == d.len()),
        (0x54 | 0xd4, 0) => le16(d, 11).is_some_and(|l| l as usize + 13 == d.len()),
        (0x57 | 0xd7, 0) => d[5..7] == [0x11, 0x11],
        _ => false,
    };
    yes(ok)
}

/// GE SRTP: 56-byte header, message type 0..3 (0 is the all-zero session init).
pub(crate) fn srtp(d: &[u8]) -> Probe {
    if d.len() < 56 {
        return Probe::NoMatch;
    }
    yes(d[0] <= 3 && d[1] == 0)
}

/// Beckhoff ADS over TCP: AMS/TCP header (2 reserved zero bytes, a length) and an AMS header
/// with a command id 0..9.
pub(crate) fn ads_tcp(d: &[u8]) -> Probe {
    if d.len() < 38 {
        return Probe::NoMatch;
    }
    let len = le32(d, 2).unwrap_or(0);
    yes(d[0..2] == [0, 0] && (32..=1 << 24).contains(&len) && le16(d, 22).is_some_and(|c| c <= 9))
}

/// Beckhoff ADS discovery over UDP: its magic.
pub(crate) fn ads_udp(d: &[u8]) -> Probe {
    prefix(d, &[0x03, 0x66, 0x14, 0x71])
}

/// HART-IP header: version 1 or 2, message type, message id, a byte count ≥ 8.
pub(crate) fn hart_ip(d: &[u8]) -> Probe {
    if d.len() < 8 {
        return Probe::NoMatch;
    }
    let count = be16(d, 6).unwrap_or(0);
    yes(matches!(d[0], 1 | 2)
        && matches!(d[1], 0..=3 | 15)
        && matches!(d[2], 0..=4 | 128..=130)
        && count >= 8)
}

/// HART-IP, port-independent: the header of [`hart_ip`] with a byte count equal to the
/// payload (servers answer a session initiate on 5094 from another port, e.g. 5095).
pub(crate) fn hart_ip_exact(d: &[u8]) -> Probe {
    if hart_ip(d) != Probe::Match {
        return Probe::NoMatch;
    }
    yes(be16(d, 6).is_some_and(|c| c as usize == d.len()))
}

/// ANSI C12.22: an ACSE PDU (`[APPLICATION 0]`) whose BER length fits.
pub(crate) fn c1222(d: &[u8]) -> Probe {
    yes(d.first() == Some(&0x60) && ber_len(d, 1).is_some_and(|(l, n)| 1 + n + l == d.len()))
}

/// CODESYS: V2 runtime (0xBBBB) or V3 block driver magic. Not seen in the corpus.
pub(crate) fn codesys(d: &[u8]) -> Probe {
    any_prefix(
        d,
        &[
            &[0xbb, 0xbb],
            &[0x00, 0x01, 0x17, 0xe8],
            &[0xe8, 0x17, 0x01, 0x00],
        ],
    )
}

/// Niagara Fox hello.
pub(crate) fn fox(d: &[u8]) -> Probe {
    prefix(d, b"fox a ")
}

/// PCWorx (port 1962): type 0x01/0x81, then a big-endian length equal to the payload.
pub(crate) fn pcworx(d: &[u8]) -> Probe {
    yes(d.len() >= 4 && d[0] & 0x7f == 1 && be16(d, 2).is_some_and(|l| l as usize == d.len()))
}

/// ProConOS (port 20547): 0xCC 0x01 header.
pub(crate) fn proconos(d: &[u8]) -> Probe {
    prefix(d, &[0xcc, 0x01])
}

/// GENISYS over TCP: a control character 0xF1..0xFE (not the terminator) … 0xF6.
pub(crate) fn genisys(d: &[u8]) -> Probe {
    yes(d.len() >= 2 && (0xf1..=0xfe).contains(&d[0]) && d[0] != 0xf6 && d[d.len() - 1] == 0xf6)
}

/// BSAP over IP (UDP 1234): its 14-byte header.
pub(crate) fn bsap_ip(d: &[u8]) -> Probe {
    yes(d.len() >= 14 && d[0] == 0x0e && d[1] == 0)
}

/// BSAP serial frames tunnelled over UDP 1235: DLE STX … DLE ETX CRC.
pub(crate) fn bsap_serial(d: &[u8]) -> Probe {
    yes(d.len() >= 6 && d[0..2] == [0x10, 0x02] && d[d.len() - 4..d.len() - 2] == [0x10, 0x03])
}

/// CIP implicit (I/O) messages on UDP 2222: a common packet format with a sequenced or
/// connected address item followed by a connected data item.
pub(crate) fn cip_io(d: &[u8]) -> Probe {
    let (Some(count), Some(t1), Some(l1)) = (le16(d, 0), le16(d, 2), le16(d, 4)) else {
        return Probe::NoMatch;
    };
    let addr_ok = matches!((t1, l1), (0x8002, 8) | (0x00a1, 4));
    let off = 6 + l1 as usize;
    let data_ok = matches!(le16(d, off), Some(0x00b1 | 0x00b2))
        && le16(d, off + 2).is_some_and(|l| off + 4 + l as usize <= d.len());
    yes((2..=4).contains(&count) && addr_ok && data_ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    #[test]
    fn crc_ccitt_matches_a_real_c37118_frame() {
        // C37.118_1PMU_TCP.pcap: a command frame (turn on transmission) with its CRC.
        let f = hex("aa41001200f100000000000000000005d7d0");
        assert_eq!(c37118_crc(&f), Probe::Match);
        let mut bad = f.clone();
        bad[8] ^= 1;
        assert_eq!(c37118_crc(&bad), Probe::NoMatch);
    }

    #[test]
    fn iso_tsap_names_the_payload() {
        // s71500-normal.pcapng: connection request, then an S7comm-plus data TPDU.
        let cr = hex("030000231ee00000001500c1020600c20f53494d415449432d524f4f542d4553c0010a");
        assert_eq!(iso_tsap(&cr), Detect::NeedMore);
        let dt = hex("0300002002f08072020011320000054200000002340000000000000072020000");
        assert_eq!(iso_tsap(&dt), Detect::Found(ProtocolId::S7COMM_PLUS));
        // snap7.pcap: S7 setup communication.
        let s7 = hex("0300001902f08032010000000000080000f0000001000101e0");
        assert_eq!(iso_tsap(&s7), Detect::Found(ProtocolId::S7COMM));
        // An empty EOT=0 segment then the real one in the same payload.
        let mut two = hex("0300000702f000");
        two.extend_from_slice(&s7);
        assert_eq!(iso_tsap(&two), Detect::Found(ProtocolId::S7COMM));
        assert_eq!(iso_tsap(b"GET / HTTP/1.1\r\n"), Detect::Unknown);
        // zeek__modbus-and-non-modbus-p502.pcap: an RDP connection request sent to port 502.
        let rdp = hex(
            "0300002b26e00000000000436f6f6b69653a206d737473686173683d61646d696e0d0a0100080001000000",
        );
        assert_eq!(iso_tsap(&rdp), Detect::Found(ProtocolId::RDP));
        assert_eq!(iso_tsap_strong(&rdp), Detect::Found(ProtocolId::RDP));
    }

    #[test]
    fn real_payloads_probe() {
        type ProbeFn = fn(&[u8]) -> Probe;
        let cases: &[(ProbeFn, &str)] = &[
            (
                opcua_hello,
                "48454c464f00000000000000ffff0000ffff0000a00f0000000000002f0000006f70632e7463703a2f2f766d2d78702d73746576656e3a31323030312f55412f5374",
            ),
            (
                mqtt_connect,
                "102500064d51497364700302000500177061686f2f333441414535344137354438333935363645",
            ),
            (
                fins_tcp,
                "46494e530000001700000002000000008000020000000000007a0401000001",
            ),
            (fins_udp, "8000020000000000007a010100cccccc0001"),
            (hart_ip, "010000000002000d0100007530"),
            (
                c1222,
                "6032a20a06082b06010401828563a611060f2b060104018285638e7f85f1c24e00a806020413e81421be09280781058003000000",
            ),
            (
                ads_tcp,
                "000020000000050d756001011027c0a801c70101038004000400000000000000000008000000",
            ),
            (ads_udp, "036614710000000001000000c0a801c70101102700000000"),
            (
                slmp,
                "57000000001111070000ffff030000fe03000014001c080a0800000000000000040101010000000001",
            ),
            (
                pcworx,
                "0101001a0000000078800003000c494245544830314e305f4d00",
            ),
            (genisys, "fb018340f6"),
            (
                bsap_serial,
                "100201eba0e30803000401400f014047562e4153332e001003a94d",
            ),
            (cip_io, "02000280080003064b00db943f00b1000600a587e80f0300"),
            (fox, "666f7820612031202d3120666f782068656c6c6f0a"),
        ];
        for (i, (p, h)) in cases.iter().enumerate() {
            let mut b = hex(h);
            if i == 0 {
                // The capture's hello is 0x4f bytes; the excerpt above stops at 70.
                b.resize(0x4f, b'x');
            }
            assert_eq!(p(&b), Probe::Match, "case {i}");
        }
    }
}
