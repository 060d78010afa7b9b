//! Identity fields of the IP application protocols (NBNS names, HTTP and SSDP heads, SNMP
//! sysDescr, NTLMSSP names in SMB session setups, TLS server names) against tshark on every
//! corpus capture that has them, through the whole engine (see tests/fidelity/mod.rs). The
//! same parsed values become the identity facts (unit tests in yagura-dissect check that).

mod fidelity;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fidelity::*;

/// One comparison: which captures, tshark's filter and fields, how each side makes its key.
struct Check {
    name: &'static str,
    captures: fn() -> Vec<PathBuf>,
    filter: &'static str,
    fields: &'static [&'static str],
    /// tshark options.
    extra: &'static [&'static str],
    /// tshark's key of a row (None: the row is not a PDU we compare).
    theirs: fn(&Row) -> Option<String>,
    /// Our protocol and the key of one of its events (None: not compared).
    protocol: &'static str,
    ours: fn(&Event) -> Option<String>,
    /// Least number of PDUs compared.
    min_pdus: u64,
}

fn first(r: &Row, i: usize) -> String {
    r.get(i).first().cloned().unwrap_or_default()
}

/// A NetBIOS name as tshark shows it, without its description: `KW-VLIPC<00>`.
fn nb(s: &str) -> String {
    s.split(" (").next().unwrap_or("").to_string()
}

fn hex_text(h: &str) -> String {
    let b: Vec<u8> = (0..h.len() / 2)
        .filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
        .collect();
    String::from_utf8_lossy(&b).trim().to_string()
}

fn seeds(name: &str) -> Vec<PathBuf> {
    vec![corpus().join("../bench/seeds").join(name)]
}

fn http_key(host: &str, ua: &str, server: &str) -> String {
    format!("host={host} ua={ua} server={server}")
}

const CHECKS: &[Check] = &[
    Check {
        name: "nbns name",
        captures: || captures_with("nbns"),
        filter: "nbns",
        fields: &["nbns.name"],
        extra: &[],
        theirs: |r| Some(nb(&first(r, 0))),
        protocol: "nbns",
        ours: |e| Some(field(e, "name")),
        min_pdus: 1600,
    },
    Check {
        name: "http heads",
        captures: || {
            let mut c = captures_with("http");
            c.retain(|p| !p.to_string_lossy().contains("cip_1"));
            c.extend(seeds("zeek__http_get.pcap"));
            c.extend(seeds("zeek__http_post.pcap"));
            c
        },
        filter: "http && tcp && (http.request || http.response)",
        fields: &["http.host", "http.user_agent", "http.server"],
        // A head is one PDU at the frame that completes it, as Yagura reports it.
        extra: &["-o", "http.desegment_body:FALSE"],
        theirs: |r| Some(http_key(&first(r, 0), &first(r, 1), &first(r, 2))),
        protocol: "http",
        ours: |e| {
            Some(http_key(
                &field(e, "host"),
                &field(e, "user_agent"),
                &field(e, "server"),
            ))
        },
        min_pdus: 5,
    },
    Check {
        name: "ssdp heads",
        captures: || captures_with("ssdp"),
        filter: "ssdp",
        fields: &["http.server", "http.user_agent", "http.location"],
        extra: &[],
        theirs: |r| {
            Some(format!(
                "server={} ua={} location={}",
                first(r, 0),
                first(r, 1),
                first(r, 2)
            ))
        },
        protocol: "ssdp",
        ours: |e| {
            Some(format!(
                "server={} ua={} location={}",
                field(e, "server"),
                field(e, "user_agent"),
                field(e, "location")
            ))
        },
        min_pdus: 210,
    },
    Check {
        name: "snmp sysDescr",
        captures: || captures_with("snmp"),
        filter: "snmp.get_response_element && snmp.name == 1.3.6.1.2.1.1.1.0",
        fields: &["snmp.name", "snmp.value.octets"],
        extra: &[],
        theirs: |r| (r.get(0).len() == 1).then(|| format!("descr={}", hex_text(&first(r, 1)))),
        protocol: "snmp",
        ours: |e| {
            let d = field(e, "sys_descr");
            (!d.is_empty()).then(|| format!("descr={d}"))
        },
        min_pdus: 1,
    },
    Check {
        name: "ntlmssp challenge names",
        captures: || captures_with("smb"),
        // NTLMSSP in DCE/RPC binds (port 135) is not read: DCE/RPC is not dissected.
        filter: "ntlmssp.messagetype == 0x00000002 && (smb || smb2)",
        fields: &[
            "ntlmssp.challenge.target_info.nb_computer_name",
            "ntlmssp.challenge.target_info.nb_domain_name",
        ],
        extra: &[],
        theirs: |r| Some(format!("nb={} domain={}", first(r, 0), first(r, 1))),
        protocol: "smb",
        ours: |e| {
            (field(e, "ntlmssp_type") == "2").then(|| {
                format!(
                    "nb={} domain={}",
                    field(e, "nb_computer_name"),
                    field(e, "nb_domain_name")
                )
            })
        },
        min_pdus: 7,
    },
    Check {
        name: "ntlmssp authenticate names",
        captures: || captures_with("smb"),
        filter: "ntlmssp.messagetype == 0x00000003 && (smb || smb2)",
        fields: &["ntlmssp.auth.hostname", "ntlmssp.auth.domain"],
        extra: &[],
        // tshark shows an empty domain as NULL.
        theirs: |r| {
            let d = first(r, 1);
            let d = if d == "NULL" { String::new() } else { d };
            Some(format!("ws={} domain={d}", first(r, 0)))
        },
        protocol: "smb",
        ours: |e| {
            (field(e, "ntlmssp_type") == "3").then(|| {
                format!(
                    "ws={} domain={}",
                    field(e, "workstation"),
                    field(e, "domain")
                )
            })
        },
        min_pdus: 6,
    },
    Check {
        name: "tls client hello",
        captures: || captures_with("tls"),
        filter: "tls.handshake.type == 1",
        fields: &["tls.handshake.extensions_server_name"],
        extra: &[],
        theirs: |r| Some(format!("sni={}", first(r, 0))),
        protocol: "tls",
        ours: |e| {
            (field(e, "function_name") == "client_hello")
                .then(|| format!("sni={}", field(e, "server_name")))
        },
        min_pdus: 1,
    },
];

fn run(check: &Check) -> Agreement {
    let mut a = Agreement::new(check.name);
    for cap in (check.captures)() {
        if !cap.is_file() {
            continue;
        }
        let events = yagura_events(&cap);
        let mut ours: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (frame, keys) in keys_by_frame(&events, check.protocol, |e| {
            (check.ours)(e).unwrap_or_default()
        }) {
            let keys: Vec<String> = keys.into_iter().filter(|k| !k.is_empty()).collect();
            if !keys.is_empty() {
                ours.insert(frame, keys);
            }
        }
        let mut theirs: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for row in tshark(&cap, check.filter, check.fields, check.extra) {
            if let Some(k) = (check.theirs)(&row) {
                theirs.entry(row.frame).or_default().push(k);
            }
        }
        a.compare(Path::new(&cap), &ours, &theirs);
    }
    a
}

#[test]
fn identity_fields_agree_with_tshark() {
    if !tshark_available() {
        return;
    }
    let mut failed = Vec::new();
    for c in CHECKS {
        let a = run(c);
        eprintln!("{}", a.summary(20));
        if a.compared < c.min_pdus || a.ratio() < 1.0 {
            failed.push(c.name);
        }
    }
    assert!(failed.is_empty(), "disagreements in {failed:?}");
}
