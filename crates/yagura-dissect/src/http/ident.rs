//! Identity from HTTP and SSDP heads, and from the first bytes of some response bodies.
//!
//! HTTP requests: `User-Agent` → software of the client; `Host` → host name of the server
//! (not for an address literal, nor for a proxy request with an absolute URI). Responses:
//! `Server` → service of the server (and an OS when the header names one:
//! `Microsoft-IIS/*`, `(Win32)`, `(Ubuntu)`…); the `realm` of `WWW-Authenticate` (embedded
//! web servers often put the device model there) → description. The `<title>` of an HTML
//! answer (first [`SCAN`] bytes of an uncompressed 2xx body) → description; a UPnP device
//! description (XML) → name (`friendlyName`), vendor (`manufacturer`), model
//! (`modelName` and `modelNumber`) and serial (`serialNumber`).
//!
//! SSDP (UPnP discovery): a `NOTIFY` or a search answer comes from the device it
//! describes: `SERVER` (`OS/version UPnP/1.0 product/version`) → the OS token as OS, the
//! whole header as software; the device or service type of `NT`/`ST`/`USN`
//! (`urn:schemas-upnp-org:device:MediaRenderer:1`) → service; `LOCATION` is an event
//! field. An `M-SEARCH` only gives its `USER-AGENT` as the searcher's software.

use yagura_core::{Attribute, FieldValue, IdentityFact, Subject};

use crate::PduSink;
use crate::emit::Fields;
use crate::text::{fact, printable};

/// Body bytes looked at for a title or a device description.
pub const SCAN: usize = 4096;

/// The header values identity and events use (raw, trimmed).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Headers<'a> {
    pub host: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub server: Option<&'a [u8]>,
    pub www_authenticate: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
    pub content_encoding: Option<&'a [u8]>,
    pub location: Option<&'a [u8]>,
    pub nt: Option<&'a [u8]>,
    pub st: Option<&'a [u8]>,
    pub usn: Option<&'a [u8]>,
}

impl<'a> Headers<'a> {
    /// Keep `v` if `k` is one of the headers we want (the first occurrence wins).
    pub fn take(&mut self, k: &[u8], v: &'a [u8]) {
        let slot = match k.len() {
            2 if k.eq_ignore_ascii_case(b"nt") => &mut self.nt,
            2 if k.eq_ignore_ascii_case(b"st") => &mut self.st,
            3 if k.eq_ignore_ascii_case(b"usn") => &mut self.usn,
            4 if k.eq_ignore_ascii_case(b"host") => &mut self.host,
            6 if k.eq_ignore_ascii_case(b"server") => &mut self.server,
            8 if k.eq_ignore_ascii_case(b"location") => &mut self.location,
            10 if k.eq_ignore_ascii_case(b"user-agent") => &mut self.user_agent,
            12 if k.eq_ignore_ascii_case(b"content-type") => &mut self.content_type,
            16 if k.eq_ignore_ascii_case(b"www-authenticate") => &mut self.www_authenticate,
            16 if k.eq_ignore_ascii_case(b"content-encoding") => &mut self.content_encoding,
            _ => return,
        };
        slot.get_or_insert(v);
    }
}

/// What to look for in the body that follows a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scan {
    /// `<title>` of an HTML page.
    Html,
    /// A UPnP device description.
    Xml,
}

/// The body scan a 2xx response head asks for, if any.
pub(super) fn scan_for(status: u16, h: &Headers) -> Option<Scan> {
    if !(200..300).contains(&status) {
        return None;
    }
    if h.content_encoding
        .is_some_and(|e| !e.eq_ignore_ascii_case(b"identity"))
    {
        return None;
    }
    let ct = h.content_type?;
    let has = |p: &[u8]| ct.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p));
    if has(b"text/html") {
        Some(Scan::Html)
    } else if has(b"/xml") {
        Some(Scan::Xml)
    } else {
        None
    }
}

/// The `realm` parameter of a `WWW-Authenticate` challenge.
fn realm(v: &[u8]) -> Option<&[u8]> {
    let at = v
        .windows(6)
        .position(|w| w.eq_ignore_ascii_case(b"realm="))?;
    let rest = &v[at + 6..];
    Some(match rest.strip_prefix(b"\"") {
        Some(q) => &q[..q.iter().position(|&b| b == b'"').unwrap_or(q.len())],
        None => &rest[..rest.iter().position(|&b| b == b',').unwrap_or(rest.len())],
    })
}

/// An OS an HTTP `Server` header names unambiguously.
pub fn server_os(server: &str) -> Option<&'static str> {
    let has = |p: &str| server.contains(p);
    if server.starts_with("Microsoft-IIS/")
        || server.starts_with("Microsoft-HTTPAPI/")
        || has("(Win32)")
        || has("(Win64)")
    {
        Some("Windows")
    } else if [
        "(Ubuntu)",
        "(Debian)",
        "(CentOS)",
        "(Red Hat)",
        "(Fedora)",
        "(Raspbian)",
    ]
    .iter()
    .any(|d| has(d))
    {
        Some("Linux")
    } else {
        None
    }
}

/// The OS token of a UPnP `SERVER` header (`Linux/2.6 UPnP/1.0 x/1`): the first token,
/// unless it is the UPnP version itself.
pub fn upnp_os(server: &str) -> Option<&str> {
    let first = server.split([' ', ',']).find(|t| !t.is_empty())?;
    (!first.starts_with("UPnP/") && first.contains('/')).then_some(first)
}

/// The device or service type of an `NT`, `ST` or `USN` value (`urn:…:device:X:1`).
fn upnp_type(v: &[u8]) -> Option<String> {
    let v = printable(v)?;
    let t = match v.find("::") {
        Some(i) => &v[i + 2..],
        None => &v,
    };
    let ok = t.starts_with("urn:") && (t.contains(":device:") || t.contains(":service:"));
    ok.then(|| t.to_string())
}

/// The host part of a `Host` header, unless it is an address literal.
pub(super) fn host_name(v: &[u8]) -> Option<String> {
    let h = printable(v)?;
    if h.starts_with('[') {
        return None;
    }
    let name = h.rsplit_once(':').map_or(h.as_str(), |(n, _)| n);
    let literal = name.parse::<std::net::IpAddr>().is_ok();
    (!literal && !name.is_empty()).then(|| name.to_ascii_lowercase())
}

/// A head's facts, in the order they are reported. `ssdp`: the message is SSDP; `method`:
/// the request method (None for a response); `target`: the request target.
pub(super) fn head_facts(
    ssdp: bool,
    method: Option<&str>,
    target: &[u8],
    h: &Headers,
) -> Vec<IdentityFact> {
    let protocol = if ssdp { "ssdp" } else { "http" };
    let mut facts = Vec::new();
    // As `text::fact`: empty values are no facts.
    let mut fact = |subject, attribute, value: String| {
        if !value.is_empty() {
            facts.push(IdentityFact {
                protocol,
                subject,
                attribute,
                value,
            });
        }
    };
    let me = Subject::Sender;
    if ssdp {
        match method {
            Some("m_search") => {
                if let Some(v) = h.user_agent.and_then(printable) {
                    fact(me, Attribute::Software, v);
                }
                return facts;
            }
            Some("notify") | None => {}
            Some(_) => return facts,
        }
        if let Some(v) = h.server.and_then(printable) {
            if let Some(os) = upnp_os(&v) {
                fact(me, Attribute::Os, os.into());
            }
            fact(me, Attribute::Software, v);
        }
        let kind = if method.is_some() { h.nt } else { h.st };
        let t = kind
            .and_then(upnp_type)
            .or_else(|| h.usn.and_then(upnp_type));
        if let Some(t) = t {
            fact(me, Attribute::Service, t);
        }
        return facts;
    }
    if method.is_some() {
        if let Some(v) = h.user_agent.and_then(printable) {
            fact(me, Attribute::Software, v);
        }
        let absolute = target.len() > 7 && target[..7].eq_ignore_ascii_case(b"http://");
        if !absolute && let Some(n) = h.host.and_then(host_name) {
            fact(Subject::Receiver, Attribute::Hostname, n);
        }
    } else {
        if let Some(v) = h.server.and_then(printable) {
            if let Some(os) = server_os(&v) {
                fact(me, Attribute::Os, os.into());
            }
            fact(me, Attribute::Service, v);
        }
        if let Some(r) = h.www_authenticate.and_then(realm).and_then(printable) {
            fact(me, Attribute::Description, r);
        }
    }
    facts
}

/// A head's identity headers as event fields.
pub(super) fn head_fields(fields: &mut Fields, h: &Headers) {
    let all = [
        ("host", h.host),
        ("user_agent", h.user_agent),
        ("server", h.server),
        ("location", h.location),
        ("nt", h.nt),
        ("st", h.st),
        ("usn", h.usn),
    ];
    for (name, v) in all {
        if let Some(v) = v.and_then(printable) {
            fields.push((name, FieldValue::Str(v)));
        }
    }
    if let Some(r) = h.www_authenticate.and_then(realm).and_then(printable) {
        fields.push(("realm", FieldValue::Str(r)));
    }
}

/// The text between `<tag…>` and `</tag` in `b` (tag matched case-insensitively).
fn element<'a>(b: &'a [u8], tag: &[u8]) -> Option<&'a [u8]> {
    let find = |hay: &[u8], pat: &[u8]| {
        hay.windows(pat.len())
            .position(|w| w.eq_ignore_ascii_case(pat))
    };
    let mut open = Vec::with_capacity(tag.len() + 1);
    open.push(b'<');
    open.extend_from_slice(tag);
    let start = find(b, &open)?;
    let after = &b[start + open.len()..];
    // `<title>` or `<title lang=…>`, not `<titlebar>`.
    if !matches!(after.first(), Some(b'>' | b' ' | b'\t' | b'\r' | b'\n')) {
        return None;
    }
    let gt = after.iter().position(|&c| c == b'>')?;
    let body = &after[gt + 1..];
    let mut close = Vec::with_capacity(tag.len() + 2);
    close.extend_from_slice(b"</");
    close.extend_from_slice(tag);
    let end = find(body, &close)?;
    Some(&body[..end])
}

/// Report what the first bytes of a response body say about the server.
pub(super) fn body_facts(sink: &mut dyn PduSink, scan: Scan, body: &[u8]) {
    let body = &body[..body.len().min(SCAN)];
    let me = Subject::Sender;
    match scan {
        Scan::Html => {
            if let Some(t) = element(body, b"title").and_then(printable) {
                fact(sink, "http", me, Attribute::Description, t);
            }
        }
        Scan::Xml => {
            let get = |t: &[u8]| element(body, t).and_then(printable);
            if let Some(v) = get(b"friendlyName") {
                fact(sink, "http", me, Attribute::Name, v);
            }
            if let Some(v) = get(b"manufacturer") {
                fact(sink, "http", me, Attribute::Vendor, v);
            }
            let model = match (get(b"modelName"), get(b"modelNumber")) {
                (Some(n), Some(x)) if !n.contains(&x) => Some(format!("{n} {x}")),
                (Some(n), _) => Some(n),
                (None, x) => x,
            };
            if let Some(v) = model {
                fact(sink, "http", me, Attribute::Model, v);
            }
            if let Some(v) = get(b"serialNumber") {
                fact(sink, "http", me, Attribute::Serial, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        assert_eq!(
            realm(b"Basic realm=\"Siemens S7-1200\", charset=\"UTF-8\""),
            Some(&b"Siemens S7-1200"[..])
        );
        assert_eq!(realm(b"Digest realm=abc, nonce=1"), Some(&b"abc"[..]));
        assert_eq!(server_os("Apache/2.4.3 (Fedora)"), Some("Linux"));
        assert_eq!(server_os("Microsoft-IIS/10.0"), Some("Windows"));
        assert_eq!(server_os("gunicorn/0.16.1"), None);
        assert_eq!(
            upnp_os("Linux/2.x.x, UPnP/1.0, pvConnect UPnP SDK/1.0"),
            Some("Linux/2.x.x")
        );
        assert_eq!(upnp_os("UPnP/1.0 BLR-TX4S/1.0"), None);
        assert_eq!(host_name(b"bro.org").as_deref(), Some("bro.org"));
        assert_eq!(host_name(b"127.0.0.2"), None);
        assert_eq!(
            host_name(b"plc.example:8080").as_deref(),
            Some("plc.example")
        );
        assert_eq!(
            element(b"<html><TITLE>SIMATIC 1200</TITLE>", b"title"),
            Some(&b"SIMATIC 1200"[..])
        );
        assert_eq!(element(b"<titlebar>x</titlebar>", b"title"), None);
    }
}
