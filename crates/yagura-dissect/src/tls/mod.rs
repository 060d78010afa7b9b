//! TLS (RFC 5246, 8446): record framing over the reassembled TCP stream, handshake messages
//! reassembled across records (bounded by [`MAX_HANDSHAKE`]), one event per handshake
//! message seen in clear. Application data, change-cipher-spec and alert records are framed
//! and skipped without events; after a direction's ChangeCipherSpec (or a TLS 1.3
//! ServerHello) its handshake is encrypted and no longer read.
//!
//! Identity: the ClientHello's server name (SNI) is the name the client asked the server
//! by, a host name about the receiver (an address literal is not a name); a server
//! certificate (TLS 1.2 and older; TLS 1.3 encrypts it) gives the server a service named
//! after its leaf certificate's subject (`CN=…, O=…`), and, when the certificate is
//! self-signed (issuer = subject, as devices generate them), its organisation as a vendor
//! hint. ALPN and versions are event fields.

pub mod x509;

use yagura_core::{
    Attribute, Direction, FieldValue, ObservableKind, OperationClass, PduStatus, Subject,
};

use crate::emit::{Summary, emit, u};
use crate::text::{fact, printable};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// Largest record: 2^14 plus the 2048 octets of expansion TLS 1.2 allows.
pub const MAX_RECORD: usize = 16384 + 2048;
/// Largest handshake message reassembled (a certificate chain fits easily).
pub const MAX_HANDSHAKE: usize = 64 * 1024;
/// Extensions looked at per hello.
const MAX_EXTENSIONS: usize = 64;

open_enum! {
    /// Handshake message types (IANA TLS HandshakeType).
    pub struct HandshakeType(u8) {
        HELLO_REQUEST = 0 => "hello_request",
        CLIENT_HELLO = 1 => "client_hello",
        SERVER_HELLO = 2 => "server_hello",
        NEW_SESSION_TICKET = 4 => "new_session_ticket",
        END_OF_EARLY_DATA = 5 => "end_of_early_data",
        ENCRYPTED_EXTENSIONS = 8 => "encrypted_extensions",
        CERTIFICATE = 11 => "certificate",
        SERVER_KEY_EXCHANGE = 12 => "server_key_exchange",
        CERTIFICATE_REQUEST = 13 => "certificate_request",
        SERVER_HELLO_DONE = 14 => "server_hello_done",
        CERTIFICATE_VERIFY = 15 => "certificate_verify",
        CLIENT_KEY_EXCHANGE = 16 => "client_key_exchange",
        FINISHED = 20 => "finished",
        CERTIFICATE_STATUS = 22 => "certificate_status",
        KEY_UPDATE = 24 => "key_update",
    }
}

/// A protocol version's name (`tls1.2`), or its hex code.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "ssl3".into(),
        0x0301 => "tls1.0".into(),
        0x0302 => "tls1.1".into(),
        0x0303 => "tls1.2".into(),
        0x0304 => "tls1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}

/// Per-direction state.
#[derive(Debug, Clone, Default)]
struct Dir {
    /// A handshake message split across records, awaiting its end.
    partial: Vec<u8>,
    /// The handshake is encrypted from here on.
    encrypted: bool,
    /// Bytes did not frame, or a gap: re-probe before framing again.
    resync: bool,
}

/// Per-flow TLS state.
#[derive(Debug, Clone, Default)]
pub struct TlsDissector {
    dirs: [Dir; 2],
    udp: bool,
}

impl TlsDissector {
    /// A dissector; `udp` when each call is a whole datagram (never in practice: TLS is
    /// only registered on TCP; then every call is consumed whole).
    pub fn new(udp: bool) -> TlsDissector {
        TlsDissector {
            udp,
            ..TlsDissector::default()
        }
    }
}

fn be24(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 3)?;
    Some((s[0] as usize) << 16 | (s[1] as usize) << 8 | s[2] as usize)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    crate::bytes::be16(b, at)
}

/// A record header (content type 20..24, version 3.x, length within [`MAX_RECORD`]):
/// the record's whole length.
fn record_len(r: &[u8]) -> Option<usize> {
    let len = be16(r, 3)? as usize;
    ((20..=24).contains(&r[0]) && r[1] == 3 && len <= MAX_RECORD).then_some(5 + len)
}

impl Dissector for TlsDissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::TLS
    }

    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        if data.is_empty() {
            return Parsed::done(0);
        }
        let udp = self.udp;
        let d = &mut self.dirs[dir.index()];
        if d.resync {
            match crate::probes::tls(data) {
                Probe::Match => d.resync = false,
                Probe::NeedMore if !udp => return Parsed::incomplete(0, 0),
                _ => return Parsed::done(data.len()),
            }
        }
        let mut off = 0;
        while off < data.len() {
            let r = &data[off..];
            let whole = if r.len() < 5 {
                // A header prefix that can still be right.
                let ok = (20..=24).contains(&r[0]) && r.get(1).is_none_or(|&v| v == 3);
                if ok && !udp {
                    return Parsed::incomplete(off, 5 - r.len());
                }
                None
            } else {
                record_len(r)
            };
            let Some(n) = whole else {
                bad(r.len(), Anomaly::BadHeader, dir, sink);
                d.resync = !udp;
                d.partial.clear();
                return Parsed::done(data.len());
            };
            if r.len() < n {
                if udp {
                    bad(r.len(), Anomaly::Truncated, dir, sink);
                    return Parsed::done(data.len());
                }
                return Parsed::incomplete(off, n - r.len());
            }
            match r[0] {
                20 => d.encrypted = true,
                22 if !d.encrypted => handshake(d, &r[5..n], dir, sink),
                _ => {}
            }
            off += n;
        }
        Parsed::done(data.len())
    }

    fn on_gap(&mut self, dir: Direction, _len: u32) {
        let d = &mut self.dirs[dir.index()];
        d.resync = true;
        d.partial.clear();
    }
}

/// Report `len` bytes that do not frame as one malformed PDU.
fn bad(len: usize, why: Anomaly, dir: Direction, sink: &mut dyn PduSink) {
    let s = Summary::malformed("tls", dir == Direction::ToClient, len, why);
    emit(sink, &s, |_| {});
}

/// Take one handshake record's fragment: whole messages are handled, a split one is kept.
fn handshake(d: &mut Dir, frag: &[u8], dir: Direction, sink: &mut dyn PduSink) {
    let mut buf = std::mem::take(&mut d.partial);
    let joined = !buf.is_empty();
    if joined {
        buf.extend_from_slice(frag);
    }
    let b: &[u8] = if joined { &buf } else { frag };
    let mut at = 0;
    while at + 4 <= b.len() {
        let Some(len) = be24(b, at + 1) else { break };
        if 4 + len > MAX_HANDSHAKE {
            bad(b.len() - at, Anomaly::ReassemblyOverflow, dir, sink);
            // Its remaining records would be read as messages: stop reading this side.
            d.encrypted = true;
            at = b.len();
            break;
        }
        if at + 4 + len > b.len() {
            break;
        }
        message(d, b[at], &b[at + 4..at + 4 + len], dir, sink);
        at += 4 + len;
        if d.encrypted {
            // A TLS 1.3 ServerHello: what follows is not in clear.
            at = b.len();
        }
    }
    let rest = &b[at..];
    if !rest.is_empty() {
        let mut keep = Vec::with_capacity(rest.len());
        keep.extend_from_slice(rest);
        d.partial = keep;
    }
}

/// What a hello's extensions say.
#[derive(Debug, Default)]
struct Hello {
    sni: Option<String>,
    alpn: Vec<String>,
    versions: Vec<u16>,
}

/// Walk the extensions block at `at` of a hello body.
fn extensions(b: &[u8], at: usize) -> Hello {
    let mut h = Hello::default();
    let Some(total) = be16(b, at) else { return h };
    let end = (at + 2 + total as usize).min(b.len());
    let mut p = at + 2;
    for _ in 0..MAX_EXTENSIONS {
        let (Some(t), Some(l)) = (be16(b, p), be16(b, p + 2)) else {
            break;
        };
        let (s, e) = (p + 4, p + 4 + l as usize);
        if e > end {
            break;
        }
        let x = &b[s..e];
        match t {
            0 => {
                // server_name_list: type 0 (host_name), length, name.
                if x.get(2) == Some(&0)
                    && let Some(n) = be16(x, 3)
                {
                    h.sni = x.get(5..5 + n as usize).and_then(printable);
                }
            }
            16 => {
                let mut q = 2;
                while let Some(&n) = x.get(q) {
                    let Some(p) = x.get(q + 1..q + 1 + n as usize) else {
                        break;
                    };
                    if let Some(p) = printable(p)
                        && h.alpn.len() < 16
                    {
                        h.alpn.push(p);
                    }
                    q += 1 + n as usize;
                }
            }
            43 => {
                // ClientHello: a length octet and a list; ServerHello: the one selected.
                if x.len() == 2 {
                    h.versions.push(be16(x, 0).unwrap_or(0));
                } else {
                    for v in x.get(1..).unwrap_or(&[]).chunks_exact(2).take(16) {
                        // GREASE values (RFC 8701) are not versions.
                        if v[0] & 0x0f != 0x0a || v[0] != v[1] {
                            h.versions.push(u16::from_be_bytes([v[0], v[1]]));
                        }
                    }
                }
            }
            _ => {}
        }
        p = e;
    }
    h
}

/// Offset of a hello's extensions (after version, random and session id; then cipher
/// suites and compression methods for a ClientHello, one suite and one method for a
/// ServerHello), and the ServerHello's cipher suite.
fn hello_layout(b: &[u8], client: bool) -> Option<(usize, Option<u16>)> {
    let sid = *b.get(34)? as usize;
    let mut at = 35 + sid;
    if client {
        at += 2 + be16(b, at)? as usize;
        at += 1 + *b.get(at)? as usize;
        Some((at, None))
    } else {
        let suite = be16(b, at)?;
        Some((at + 3, Some(suite)))
    }
}

/// Handle one handshake message of type `t` with body `b`.
fn message(d: &mut Dir, t: u8, b: &[u8], dir: Direction, sink: &mut dyn PduSink) {
    let ht = HandshakeType(t);
    let mut s = Summary::new("tls", dir == Direction::ToClient, 4 + b.len());
    s.function = Some(u32::from(t));
    s.function_name = ht.name();
    s.operation = OperationClass::Other;
    if ht.name().is_none() {
        s.anomalies.set(Anomaly::UnknownFunction);
        s.status = PduStatus::Malformed;
    }
    let legacy = be16(b, 0);
    match ht {
        HandshakeType::CLIENT_HELLO | HandshakeType::SERVER_HELLO => {
            let client = ht == HandshakeType::CLIENT_HELLO;
            let layout = hello_layout(b, client);
            if layout.is_none() || b.len() < 38 {
                s.anomalies.set(Anomaly::Truncated);
                s.status = PduStatus::Malformed;
            }
            let (h, suite) = match layout {
                Some((at, suite)) if at < b.len() => (extensions(b, at), suite),
                Some((_, suite)) => (Hello::default(), suite),
                None => (Hello::default(), None),
            };
            let version = h.versions.iter().copied().max().or(legacy);
            if client {
                if let Some(n) = &h.sni
                    && n.parse::<std::net::IpAddr>().is_err()
                {
                    let n = n.trim_end_matches('.').to_ascii_lowercase();
                    crate::observe_name(sink, ObservableKind::TlsSni, n.as_bytes());
                    fact(sink, "tls", Subject::Receiver, Attribute::Hostname, n);
                }
            } else if version == Some(0x0304) {
                d.encrypted = true;
            }
            emit(sink, &s, |f| {
                if let Some(v) = version {
                    let name = if client { "max_version" } else { "version" };
                    f.push((name, FieldValue::Str(version_name(v))));
                }
                if let Some(c) = suite {
                    f.push(("cipher_suite", u(c)));
                }
                if let Some(n) = h.sni {
                    f.push(("server_name", FieldValue::Str(n)));
                }
                if !h.alpn.is_empty() {
                    f.push(("alpn", FieldValue::Str(h.alpn.join(","))));
                }
            });
        }
        HandshakeType::CERTIFICATE => {
            // TLS 1.2: a 3-octet list length, then (3-octet length, DER) per certificate,
            // the server's own first.
            let leaf = be24(b, 3).and_then(|n| b.get(6..6 + n));
            let names = leaf.and_then(x509::names);
            if leaf.is_some() && names.is_none() {
                s.anomalies.set(Anomaly::BadEncoding);
                s.status = PduStatus::Malformed;
            }
            // The leaf's fingerprints, for certificate indicators (whichever side sent it:
            // a client certificate is as telling as a server's).
            if let Some(der) = leaf.filter(|d| !d.is_empty())
                && sink.wants_observables()
            {
                let (sha1, sha256) = x509::fingerprints(der);
                sink.observable(ObservableKind::TlsCertSha1, &sha1);
                sink.observable(ObservableKind::TlsCertSha256, &sha256);
            }
            if let Some(n) = &names
                && dir == Direction::ToClient
            {
                if let Some(t) = n.subject.text() {
                    fact(sink, "tls", Subject::Sender, Attribute::Service, t);
                }
                if n.self_signed
                    && let Some(o) = &n.subject.o
                {
                    fact(sink, "tls", Subject::Sender, Attribute::Vendor, o.as_str());
                }
            }
            emit(sink, &s, |f| {
                let Some(n) = names else { return };
                let parts = [
                    ("subject_cn", n.subject.cn),
                    ("subject_o", n.subject.o),
                    ("issuer_cn", n.issuer.cn),
                    ("issuer_o", n.issuer.o),
                ];
                for (k, v) in parts {
                    if let Some(v) = v {
                        f.push((k, FieldValue::Str(v)));
                    }
                }
                f.push(("self_signed", FieldValue::Bool(n.self_signed)));
            });
        }
        _ => emit(sink, &s, |_| {}),
    }
}

#[cfg(test)]
mod tests;
