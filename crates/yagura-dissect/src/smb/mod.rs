//! SMB over NetBIOS session service (TCP 139, RFC 1002 4.3) or direct TCP (445, MS-SMB2
//! 2.1): one event per SMB1 message or SMB2 command (compounded commands each), the command
//! as the function.
//!
//! Only the first [`LOOK`] bytes of a message are read (security blobs and names sit there);
//! the rest of a large message (a file read) is skipped as it streams past, so a message
//! never has to be buffered whole.
//!
//! Identity: SMB1 Session Setup AndX native OS (→ OS) and LAN manager (→ software) of
//! either side, the primary domain a server answers with (→ domain), a non-extended
//! Negotiate answer's domain and server name; NTLMSSP inside SMB1 and SMB2 session setups
//! ([`ntlmssp`]): the server's NetBIOS/DNS computer names (→ host names), domain names
//! (→ domains) and Windows version (→ OS) from its CHALLENGE, the client's workstation name,
//! domain and version from its AUTHENTICATE. SMB2 Negotiate: dialect and server GUID as
//! event fields. User names, passwords, hashes and responses are never read out.

pub mod ntlmssp;

use yagura_core::{Attribute, Direction, FieldValue, OperationClass, PduStatus, Subject};

use crate::bytes::{le16, le32};
use crate::emit::{Fields, Summary, emit};
use crate::text::{fact, printable, utf16le};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// Bytes of a message read for its event and facts.
pub const LOOK: usize = 8 * 1024;
/// Largest session message: 17 bits over NetBIOS, 24 over direct TCP.
const MAX_MESSAGE: usize = 0x00ff_ffff;
/// Compounded SMB2 commands read per message.
const MAX_CHAIN: usize = 16;

/// Per-direction state.
#[derive(Debug, Clone, Copy, Default)]
struct Dir {
    /// Bytes of the current message still to skip.
    skip: usize,
    /// Re-probe before framing.
    resync: bool,
}

/// Per-flow SMB state.
#[derive(Debug, Clone)]
pub struct SmbDissector {
    id: ProtocolId,
    dirs: [Dir; 2],
    udp: bool,
}

impl SmbDissector {
    /// A dissector for a flow labelled `id` (`smb`, or `netbios_ssn` when the session
    /// service starts with a session request: its SMB messages follow); `udp` when each
    /// call is a whole datagram (never in practice: both are registered on TCP only).
    pub fn new(id: ProtocolId, udp: bool) -> SmbDissector {
        SmbDissector {
            id,
            dirs: [Dir::default(); 2],
            udp,
        }
    }
}

/// Does `data` start a session message we frame (any NetBIOS session packet type)?
fn frames(data: &[u8]) -> Probe {
    match data.first() {
        None => Probe::NeedMore,
        Some(0x00 | 0x81..=0x85) => {
            if data.len() < 4 {
                Probe::NeedMore
            } else if data[0] != 0 {
                Probe::Match
            } else {
                crate::probes::smb(data)
            }
        }
        Some(_) => Probe::NoMatch,
    }
}

impl Dissector for SmbDissector {
    fn protocol(&self) -> ProtocolId {
        self.id
    }

    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        let udp = self.udp;
        let d = &mut self.dirs[dir.index()];
        let mut off = 0;
        if d.skip > 0 {
            let k = d.skip.min(data.len());
            d.skip -= k;
            off = k;
        }
        if d.resync && off < data.len() {
            match frames(&data[off..]) {
                Probe::Match => d.resync = false,
                Probe::NeedMore if !udp => return Parsed::incomplete(off, 0),
                _ => return Parsed::done(data.len()),
            }
        }
        while off < data.len() {
            let r = &data[off..];
            if r.len() < 4 {
                if udp {
                    bad(r.len(), Anomaly::Truncated, dir, sink);
                    return Parsed::done(data.len());
                }
                return Parsed::incomplete(off, 4 - r.len());
            }
            let len = match r[0] {
                // Direct TCP uses 24 bits; NetBIOS 17 (the flag bit is the 17th).
                0x00 => (r[1] as usize) << 16 | (r[2] as usize) << 8 | r[3] as usize,
                0x81..=0x85 if r[1] & 0xfe == 0 => (r[2] as usize) << 8 | r[3] as usize,
                _ => {
                    bad(r.len(), Anomaly::BadHeader, dir, sink);
                    d.resync = !udp;
                    return Parsed::done(data.len());
                }
            };
            if len > MAX_MESSAGE {
                bad(r.len(), Anomaly::BadLength, dir, sink);
                d.resync = !udp;
                return Parsed::done(data.len());
            }
            let look = len.min(LOOK);
            if r.len() < 4 + look {
                if udp {
                    bad(r.len(), Anomaly::Truncated, dir, sink);
                    return Parsed::done(data.len());
                }
                return Parsed::incomplete(off, 4 + look - r.len());
            }
            if r[0] == 0 {
                message(&r[4..4 + look], len, dir, sink);
            }
            let have = (r.len() - 4).min(len);
            off += 4 + have;
            if have < len {
                d.skip = len - have;
            }
        }
        Parsed::done(data.len())
    }

    fn on_gap(&mut self, dir: Direction, _len: u32) {
        let d = &mut self.dirs[dir.index()];
        d.resync = true;
        d.skip = 0;
    }
}

/// Report `len` bytes that do not frame as one malformed PDU.
fn bad(len: usize, why: Anomaly, dir: Direction, sink: &mut dyn PduSink) {
    let s = Summary::malformed("smb", dir == Direction::ToClient, len, why);
    emit(sink, &s, |_| {});
}

/// One session message's SMB payload (its first [`LOOK`] bytes; `len` is the whole).
fn message(m: &[u8], len: usize, dir: Direction, sink: &mut dyn PduSink) {
    match m.get(..4) {
        Some(b"\xffSMB") => smb1(m, len, sink),
        Some(b"\xfeSMB") => smb2(m, sink),
        Some(b"\xfdSMB") => {
            let mut s = Summary::new("smb", dir == Direction::ToClient, len);
            s.function_name = Some("encrypted");
            emit(sink, &s, |_| {});
        }
        _ => bad(len, Anomaly::BadHeader, dir, sink),
    }
}

/// NTLMSSP facts and fields of a security blob, about the sender.
fn ntlm(blob: &[u8], sink: &mut dyn PduSink) -> Option<ntlmssp::Ntlm> {
    let n = ntlmssp::parse(blob)?;
    let me = Subject::Sender;
    for v in [&n.nb_computer, &n.dns_computer, &n.workstation]
        .into_iter()
        .flatten()
    {
        fact(sink, "smb", me, Attribute::Hostname, v.as_str());
    }
    for v in [&n.nb_domain, &n.dns_domain, &n.domain]
        .into_iter()
        .flatten()
    {
        fact(sink, "smb", me, Attribute::Domain, v.as_str());
    }
    if let Some(t) = &n.dns_tree
        && n.dns_domain.as_ref() != Some(t)
    {
        fact(sink, "smb", me, Attribute::Domain, t.as_str());
    }
    if let Some(v) = &n.os {
        fact(sink, "smb", me, Attribute::Os, v.as_str());
    }
    Some(n)
}

fn ntlm_fields(f: &mut Fields, n: Option<ntlmssp::Ntlm>) {
    let Some(n) = n else { return };
    f.push(("ntlmssp_type", crate::emit::u(n.message_type)));
    let all = [
        ("nb_computer_name", n.nb_computer),
        ("nb_domain_name", n.nb_domain),
        ("dns_computer_name", n.dns_computer),
        ("dns_domain_name", n.dns_domain),
        ("dns_tree_name", n.dns_tree),
        ("workstation", n.workstation),
        ("domain", n.domain),
        ("os_version", n.os),
    ];
    for (k, v) in all {
        if let Some(v) = v {
            f.push((k, FieldValue::Str(v)));
        }
    }
}

open_enum! {
    /// SMB1 commands we name (MS-CIFS 2.2.2.1).
    pub struct Smb1Command(u8) {
        CLOSE = 0x04 => "close",
        TRANSACTION = 0x25 => "transaction",
        ECHO = 0x2b => "echo",
        READ_ANDX = 0x2e => "read_andx",
        WRITE_ANDX = 0x2f => "write_andx",
        TRANSACTION2 = 0x32 => "transaction2",
        TREE_DISCONNECT = 0x71 => "tree_disconnect",
        NEGOTIATE = 0x72 => "negotiate",
        SESSION_SETUP_ANDX = 0x73 => "session_setup_andx",
        LOGOFF_ANDX = 0x74 => "logoff_andx",
        TREE_CONNECT_ANDX = 0x75 => "tree_connect_andx",
        NT_TRANSACT = 0xa0 => "nt_transact",
        NT_CREATE_ANDX = 0xa2 => "nt_create_andx",
    }
}

open_enum! {
    /// SMB2 commands (MS-SMB2 2.2.1.2).
    pub struct Smb2Command(u16) {
        NEGOTIATE = 0 => "negotiate",
        SESSION_SETUP = 1 => "session_setup",
        LOGOFF = 2 => "logoff",
        TREE_CONNECT = 3 => "tree_connect",
        TREE_DISCONNECT = 4 => "tree_disconnect",
        CREATE = 5 => "create",
        CLOSE = 6 => "close",
        FLUSH = 7 => "flush",
        READ = 8 => "read",
        WRITE = 9 => "write",
        LOCK = 10 => "lock",
        IOCTL = 11 => "ioctl",
        CANCEL = 12 => "cancel",
        ECHO = 13 => "echo",
        QUERY_DIRECTORY = 14 => "query_directory",
        CHANGE_NOTIFY = 15 => "change_notify",
        QUERY_INFO = 16 => "query_info",
        SET_INFO = 17 => "set_info",
        OPLOCK_BREAK = 18 => "oplock_break",
    }
}

fn operation_smb2(c: u16) -> OperationClass {
    match c {
        1 => OperationClass::Auth,
        8 | 14 | 16 => OperationClass::Read,
        9 | 17 => OperationClass::Write,
        _ => OperationClass::Other,
    }
}

/// Null-terminated strings from `at` of `b` (Unicode ones aligned to an even offset of the
/// SMB header `base`), at most `n` of them.
fn strings(m: &[u8], mut at: usize, end: usize, unicode: bool, n: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let b = &m[..end.min(m.len())];
    for _ in 0..n {
        if at >= b.len() {
            break;
        }
        if unicode {
            at += at % 2;
            let rest = b.get(at..).unwrap_or(&[]);
            let l = rest
                .chunks_exact(2)
                .position(|p| p == [0, 0])
                .map_or(rest.len(), |i| i * 2);
            out.push(utf16le(&rest[..l]));
            at += l + 2;
        } else {
            let rest = &b[at..];
            let l = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            out.push(printable(&rest[..l]));
            at += l + 1;
        }
    }
    out
}

/// One SMB1 message (header at `m[0]`).
fn smb1(m: &[u8], len: usize, sink: &mut dyn PduSink) {
    let cmd = Smb1Command(m.get(4).copied().unwrap_or(0));
    let reply = m.get(9).is_some_and(|f| f & 0x80 != 0);
    let mut s = Summary::new("smb", reply, len);
    s.function = Some(u32::from(cmd.0));
    s.function_name = cmd.name();
    s.operation = match cmd.0 {
        0x73 => OperationClass::Auth,
        0x2e => OperationClass::Read,
        0x2f => OperationClass::Write,
        _ => OperationClass::Other,
    };
    if m.len() < 35 {
        s.anomalies.set(Anomaly::Truncated);
        s.status = PduStatus::Malformed;
        emit(sink, &s, |_| {});
        return;
    }
    // Errors, but not "more processing required" (a session setup's next round).
    if reply && le32(m, 5).is_some_and(|st| st & 0xc000_0000 == 0xc000_0000 && st != 0xc000_0016) {
        s.status = PduStatus::Exception;
    }
    let unicode = le16(m, 10).is_some_and(|f| f & 0x8000 != 0);
    let wc = m[32] as usize;
    let words = 33;
    let bc_at = words + 2 * wc;
    let bytes = bc_at + 2;
    let bytes_end = le16(m, bc_at).map_or(0, |n| bytes + n as usize);
    let word = |i: usize| le16(m, words + 2 * i);
    let me = Subject::Sender;
    let mut n = None;
    let mut names: Vec<Option<String>> = Vec::new();
    match (cmd.0, reply, wc) {
        // Session Setup AndX with extended security: request (12 words), reply (4).
        (0x73, false, 12) | (0x73, true, 4) => {
            let blob_len = word(if reply { 3 } else { 7 }).unwrap_or(0) as usize;
            let blob = m.get(bytes..bytes + blob_len).unwrap_or(&[]);
            n = ntlm(blob, sink);
            names = strings(m, bytes + blob_len, bytes_end, unicode, 3);
        }
        // Without extended security: request (13 words, then two passwords and the
        // account name, never read), reply (3 words).
        (0x73, false, 13) => {
            let skip = word(7).unwrap_or(0) as usize + word(8).unwrap_or(0) as usize;
            let after = strings(m, bytes + skip, bytes_end, unicode, 4);
            // Account name, primary domain, native OS, native LAN manager.
            names = after.into_iter().skip(2).collect();
        }
        (0x73, true, 3) => names = strings(m, bytes, bytes_end, unicode, 3),
        // NT LM 0.12 Negotiate answer without extended security: challenge, domain, server.
        (0x72, true, 17) => {
            let caps = le32(m, words + 19).unwrap_or(0);
            let challenge = m.get(words + 33).copied().unwrap_or(0) as usize;
            if caps & 0x8000_0000 == 0 {
                let v = strings(m, bytes + challenge, bytes_end, unicode, 2);
                if let Some(Some(d)) = v.first() {
                    fact(sink, "smb", me, Attribute::Domain, d.as_str());
                }
                if let Some(Some(h)) = v.get(1) {
                    fact(sink, "smb", me, Attribute::Hostname, h.as_str());
                }
            }
        }
        _ => {}
    }
    let get = |i: usize| names.get(i).cloned().flatten();
    let (os, lanman, domain) = (get(0), get(1), if reply { get(2) } else { None });
    if let Some(v) = &os {
        fact(sink, "smb", me, Attribute::Os, v.as_str());
    }
    if let Some(v) = &lanman {
        fact(sink, "smb", me, Attribute::Software, v.as_str());
    }
    if let Some(v) = &domain {
        fact(sink, "smb", me, Attribute::Domain, v.as_str());
    }
    emit(sink, &s, |f| {
        f.push(("version", crate::emit::u(1u8)));
        for (k, v) in [
            ("native_os", os),
            ("native_lanman", lanman),
            ("primary_domain", domain),
        ] {
            if let Some(v) = v {
                f.push((k, FieldValue::Str(v)));
            }
        }
        ntlm_fields(f, n);
    });
}

/// An SMB2 dialect as text (`3.1.1`), or its hex code.
pub fn dialect_name(d: u16) -> String {
    match d {
        0x0202 => "2.0.2".into(),
        0x0210 => "2.1".into(),
        0x0300 => "3.0".into(),
        0x0302 => "3.0.2".into(),
        0x0311 => "3.1.1".into(),
        _ => format!("0x{d:04x}"),
    }
}

/// One SMB2 message: each command of a compound.
fn smb2(m: &[u8], sink: &mut dyn PduSink) {
    let mut at = 0;
    for _ in 0..MAX_CHAIN {
        let h = &m[at..];
        let next = le32(h, 20).unwrap_or(0) as usize;
        let end = if next == 0 {
            h.len()
        } else {
            next.min(h.len())
        };
        smb2_command(&h[..end], sink);
        if next < 64 || next >= h.len() {
            break;
        }
        at += next;
    }
}

fn smb2_command(h: &[u8], sink: &mut dyn PduSink) {
    let cmd = Smb2Command(le16(h, 12).unwrap_or(0xffff));
    let reply = le32(h, 16).is_some_and(|f| f & 1 != 0);
    let mut s = Summary::new("smb", reply, h.len());
    s.function = Some(u32::from(cmd.0));
    s.function_name = cmd.name();
    s.operation = operation_smb2(cmd.0);
    if h.len() < 64 || h.get(..4) != Some(b"\xfeSMB") {
        s.anomalies.set(Anomaly::Truncated);
        s.status = PduStatus::Malformed;
        emit(sink, &s, |_| {});
        return;
    }
    if reply && le32(h, 8).is_some_and(|st| st & 0xc000_0000 == 0xc000_0000 && st != 0xc000_0016) {
        s.status = PduStatus::Exception;
    }
    let body = 64;
    let blob = |off_at: usize| {
        let off = le16(h, body + off_at)? as usize;
        let len = le16(h, body + off_at + 2)? as usize;
        h.get(off..off.checked_add(len)?)
    };
    let mut n = None;
    let mut dialect = None;
    let mut guid = None;
    match (cmd.0, reply) {
        (0, true) => {
            dialect = le16(h, body + 4);
            guid = h
                .get(body + 8..body + 24)
                .map(|g| crate::text::hex(g, None, 16));
            if let Some(b) = blob(56) {
                n = ntlm(b, sink);
            }
        }
        (1, false) => n = blob(12).and_then(|b| ntlm(b, sink)),
        (1, true) => n = blob(4).and_then(|b| ntlm(b, sink)),
        _ => {}
    }
    emit(sink, &s, |f| {
        f.push(("version", crate::emit::u(2u8)));
        if let Some(d) = dialect {
            f.push(("dialect", FieldValue::Str(dialect_name(d))));
        }
        if let Some(g) = guid {
            f.push(("server_guid", FieldValue::Str(g)));
        }
        ntlm_fields(f, n);
    });
}

#[cfg(test)]
mod tests;
