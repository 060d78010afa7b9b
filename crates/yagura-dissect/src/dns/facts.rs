//! Identity facts from DNS, mDNS, LLMNR and NetBIOS name service messages.
//!
//! - mDNS answers (and announcements): A/AAAA records → host name of that address (`.local`
//!   stripped); reverse PTR records → host name of the address named; service-type PTRs
//!   (`_services._dns-sd._udp` targets, `_x._tcp`/`_x._udp` owners) → services of the
//!   sender; TXT keys `md`, `ty`, `product`, `model` (AirPlay/RAOP, DNS-SD printers) → model
//!   of the sender.
//! - LLMNR and plain DNS answers: A/AAAA and reverse PTR records → host names; queries give
//!   nothing (the querier is asking, not telling). A host answering DNS gets the role
//!   `dns_server` (once per flow).
//! - NetBIOS: registrations and refreshes (requests) and positive query answers → per
//!   address in the NB record: `<00>` unique → host name, `<00>` group → workgroup
//!   (domain), `<20>` → host name and service `netbios_file_server`, `<1C>` group → domain
//!   and role `domain_controller`, `<1B>` → domain and role `domain_master_browser`, `<1D>`
//!   → domain and role `master_browser`, `<1E>` group → domain. Node status answers: the
//!   same for each name of the table, about the sender, and its unit id (a MAC) gets the
//!   host name too. `<03>` (messenger, often a user name) is never reported.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use yagura_core::{Attribute, IdentityFact, MacAddr, Subject};

use super::rr::{self, NbName, Record};
use crate::PduSink;
use crate::bytes::{be16, u8_at};
use crate::memo::MemoKey;
use crate::registry::ProtocolId;
use crate::text::printable;

/// Facts reported per message at most.
pub(super) const MAX_FACTS: usize = 64;

/// Collects a message's facts without duplicates, then hands them to the sink.
struct Facts {
    protocol: &'static str,
    list: Vec<IdentityFact>,
}

impl Facts {
    fn add(&mut self, subject: Subject, attribute: Attribute, value: String) {
        if value.is_empty() || self.list.len() >= MAX_FACTS {
            return;
        }
        let f = IdentityFact {
            protocol: self.protocol,
            subject,
            attribute,
            value,
        };
        if !self.list.contains(&f) {
            self.list.push(f);
        }
    }
}

/// Strip a trailing dot and, for mDNS, the `.local` domain.
fn host(name: &[u8], mdns: bool) -> String {
    let n = name.strip_suffix(b".").unwrap_or(name);
    let n = match n.len().checked_sub(6) {
        Some(cut) if mdns && n[cut..].eq_ignore_ascii_case(b".local") => &n[..cut],
        _ => n,
    };
    rr::text(n)
}

/// A DNS-SD service type (`_http._tcp`) from a name ending in `.local`.
fn service_type(name: &[u8]) -> Option<String> {
    let s = host(name, true);
    let mut labels = s.rsplit('.');
    let proto = labels.next()?;
    let svc = labels.next()?;
    let ok = (proto == "_tcp" || proto == "_udp")
        && svc.starts_with('_')
        && svc.len() > 1
        && labels.next().is_none();
    ok.then_some(s)
}

/// The role of a host answering DNS: the same fact for every one, made once (reported by
/// reference, a sink that knows it already copies nothing).
static DNS_SERVER: LazyLock<IdentityFact> = LazyLock::new(|| IdentityFact {
    protocol: ProtocolId::DNS.name(),
    subject: Subject::Sender,
    attribute: Attribute::Role,
    value: "dns_server".into(),
});

/// Report the facts of one message `m` (at least a header long) of protocol `id`.
/// `role_reported` is the flow's "dns_server already reported" flag.
pub(super) fn report(id: ProtocolId, m: &[u8], sink: &mut dyn PduSink, role_reported: &mut bool) {
    let flags = be16(m, 2).unwrap_or(0);
    let response = flags & 0x8000 != 0;
    let opcode = ((flags >> 11) & 0x0f) as u8;
    let rcode = flags & 0x0f;
    let mut role = false;
    match id {
        ProtocolId::NBNS => {
            let registration = !response && matches!(opcode, 5 | 8 | 9 | 15);
            let answer = response && opcode == 0 && rcode == 0;
            if !(registration || answer) {
                return;
            }
        }
        ProtocolId::DNS | ProtocolId::MDNS | ProtocolId::LLMNR => {
            if !response {
                return;
            }
            if id == ProtocolId::DNS && !*role_reported {
                // Marked reported even when the answer below gives nothing.
                *role_reported = true;
                role = true;
            }
            if rcode != 0 {
                return;
            }
        }
        _ => return,
    }
    // The records' facts depend on the message alone, not on its id (the first two octets):
    // an identical message seen before gives them from the memo.
    let key = if sink.fact_memo().is_some() {
        MemoKey::new(id, &m[2..])
    } else {
        None
    };
    let remembered = key.and_then(|k| sink.fact_memo()?.get(&k));
    let records = match remembered {
        Some(facts) => facts,
        None => {
            let Some(facts) = record_facts(id, m) else {
                return;
            };
            let facts: Arc<[IdentityFact]> = facts.into();
            if let (Some(k), Some(memo)) = (key, sink.fact_memo()) {
                memo.put(&k, Arc::clone(&facts));
            }
            facts
        }
    };
    if role {
        debug_assert_eq!(id, ProtocolId::DNS);
        sink.identity_ref(&DNS_SERVER);
    }
    // The role (never among the records' facts) takes one of the message's places.
    for f in records.iter().take(MAX_FACTS - usize::from(role)) {
        sink.identity_ref(f);
    }
}

/// The facts of the records of message `m` of protocol `id` (at most [`MAX_FACTS`], the
/// first ones); `None` when the questions do not parse (the message then gives nothing).
fn record_facts(id: ProtocolId, m: &[u8]) -> Option<Vec<IdentityFact>> {
    let counts = |o| be16(m, o).unwrap_or(0) as usize;
    let (qd, an, ns, ar) = (counts(4), counts(6), counts(8), counts(10));
    let at = rr::skip_questions(m, qd as u16)?;
    let mut facts = Facts {
        protocol: id.name(),
        list: Vec::new(),
    };
    if id == ProtocolId::NBNS {
        for r in rr::records(m, at, an + ns + ar) {
            nbns_record(m, &r, &mut facts);
        }
    } else {
        let mdns = id == ProtocolId::MDNS;
        // mDNS puts a responder's own records in the additional section too.
        let n = if mdns { an + ns + ar } else { an };
        for r in rr::records(m, at, n) {
            dns_record(m, &r, mdns, &mut facts);
        }
    }
    Some(facts.list)
}

/// Facts of one DNS/mDNS/LLMNR answer record.
fn dns_record(m: &[u8], r: &Record, mdns: bool, facts: &mut Facts) {
    let data = &m[r.data.0..r.data.1];
    match r.rtype {
        rr::A | rr::AAAA => {
            if let Some(ip) = rr::addr(r.rtype, data) {
                facts.add(Subject::Ip(ip), Attribute::Hostname, host(&r.name, mdns));
            }
        }
        rr::PTR => {
            let Some((target, _)) = rr::name(m, r.data.0) else {
                return;
            };
            if let Some(ip) = rr::reverse_addr(&r.name) {
                facts.add(Subject::Ip(ip), Attribute::Hostname, host(&target, mdns));
            } else if mdns {
                let owner = host(&r.name, true);
                if owner.eq_ignore_ascii_case("_services._dns-sd._udp") {
                    if let Some(t) = service_type(&target) {
                        facts.add(Subject::Sender, Attribute::Service, t);
                    }
                } else if let Some(t) = service_type(&r.name) {
                    facts.add(Subject::Sender, Attribute::Service, t);
                }
            }
        }
        rr::TXT if mdns => {
            let mut at = 0;
            for _ in 0..64 {
                let Some(&l) = data.get(at) else { break };
                let Some(s) = data.get(at + 1..at + 1 + l as usize) else {
                    break;
                };
                at += 1 + l as usize;
                let Some(eq) = s.iter().position(|&b| b == b'=') else {
                    continue;
                };
                let key = &s[..eq];
                let model_key = [&b"md"[..], b"ty", b"product", b"model"]
                    .iter()
                    .any(|k| key.eq_ignore_ascii_case(k));
                if model_key {
                    let v = &s[eq + 1..];
                    // DNS-SD printers write `product=(HP LaserJet 4100)`.
                    let v = v
                        .strip_prefix(b"(")
                        .and_then(|v| v.strip_suffix(b")"))
                        .unwrap_or(v);
                    if let Some(v) = printable(v) {
                        facts.add(Subject::Sender, Attribute::Model, v);
                    }
                }
            }
        }
        _ => {}
    }
}

/// What a NetBIOS name says about the host that holds it.
fn nb_facts(n: &NbName, group: bool, subject: Subject, facts: &mut Facts) {
    if n.name.is_empty() || n.name.starts_with('*') {
        return;
    }
    let name = n.name.clone();
    match (n.suffix, group) {
        (0x00, false) => facts.add(subject, Attribute::Hostname, name),
        (0x00, true) | (0x1e, true) => facts.add(subject, Attribute::Domain, name),
        (0x20, false) => {
            facts.add(subject, Attribute::Hostname, name);
            facts.add(subject, Attribute::Service, "netbios_file_server".into());
        }
        (0x1c, true) => {
            facts.add(subject, Attribute::Domain, name);
            facts.add(subject, Attribute::Role, "domain_controller".into());
        }
        (0x1b, false) => {
            facts.add(subject, Attribute::Domain, name);
            facts.add(subject, Attribute::Role, "domain_master_browser".into());
        }
        (0x1d, false) => {
            facts.add(subject, Attribute::Domain, name);
            facts.add(subject, Attribute::Role, "master_browser".into());
        }
        _ => {}
    }
}

/// Facts of one NBNS record: NB (name and its owners' addresses) or NBSTAT (node status).
fn nbns_record(m: &[u8], r: &Record, facts: &mut Facts) {
    let data = &m[r.data.0..r.data.1];
    match r.rtype {
        rr::NB => {
            let Some(n) = rr::nb_name(&r.name) else {
                return;
            };
            // NB_FLAGS (group bit first) then an IPv4 address, repeated.
            for e in data.chunks_exact(6).take(16) {
                let group = e[0] & 0x80 != 0;
                let ip = IpAddr::from([e[2], e[3], e[4], e[5]]);
                let subject = if ip.is_unspecified() {
                    Subject::Sender
                } else {
                    Subject::Ip(ip)
                };
                nb_facts(&n, group, subject, facts);
            }
        }
        rr::NBSTAT => {
            let count = u8_at(data, 0).unwrap_or(0) as usize;
            let mut hostname = None;
            for i in 0..count {
                let at = 1 + i * 18;
                let Some(e) = data.get(at..at + 18) else {
                    break;
                };
                let mut raw = [0u8; 16];
                raw.copy_from_slice(&e[..16]);
                let n = rr::nb_raw(&raw);
                let group = e[16] & 0x80 != 0;
                if n.suffix == 0 && !group && hostname.is_none() && !n.name.is_empty() {
                    hostname = Some(n.name.clone());
                }
                nb_facts(&n, group, Subject::Sender, facts);
            }
            // Statistics start with the unit id (the adapter's MAC).
            let unit = MacAddr::from_slice(data.get(1 + count * 18..).unwrap_or(&[]));
            if let (Some(mac), Some(h)) = (unit, hostname)
                && !mac.is_zero()
                && !mac.is_group()
            {
                facts.add(Subject::Mac(mac), Attribute::Hostname, h);
            }
        }
        _ => {}
    }
}
