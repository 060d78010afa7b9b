//! EtherNet/IP and CIP against tshark on every corpus capture that has them (see
//! tests/fidelity/mod.rs for the method and docs/fidelity.md for the figures), plus a
//! record-level comparison with the ICSNPP Zeek logs and golden snapshots.

mod fidelity;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use fidelity::*;

/// tshark's dissection of `capture` (frames with ENIP) as JSON, duplicate keys merged into
/// arrays. The CIP tree nests embedded messages, which `-T fields` flattens.
fn tshark_json(capture: &Path) -> Vec<Value> {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(capture)
        .args(["-Y", "enip", "-T", "json", "--no-duplicate-keys"])
        .args(["-J", "frame enip cip cipcm cipcls cippccc"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed on {}",
        capture.display()
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("tshark JSON")
}

/// The layers object of one tshark packet and its frame number.
fn layers(p: &Value) -> Option<(u64, &Map<String, Value>)> {
    let l = p.get("_source")?.get("layers")?.as_object()?;
    let f = l
        .get("frame")?
        .get("frame.number")?
        .as_str()?
        .parse()
        .ok()?;
    Some((f, l))
}

/// A value that may be one item or an array of them (merged duplicate keys).
fn each(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    }
}

/// Every value of field `name` under `v`, not descending into nested CIP messages
/// (objects with their own `cip.service`).
fn collect(v: &Value, name: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == name {
                    for s in each(x) {
                        if let Some(s) = s.as_str() {
                            out.push(s.to_string());
                        }
                    }
                } else if !is_message(x) {
                    collect(x, name, out);
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                if !is_message(x) {
                    collect(x, name, out);
                }
            }
        }
        _ => {}
    }
}

fn is_message(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.contains_key("cip.service"))
}

/// Every CIP message object under `v`, in document order (a message before the messages it
/// embeds).
fn messages<'a>(v: &'a Value, out: &mut Vec<&'a Map<String, Value>>) {
    match v {
        Value::Object(o) => {
            if o.contains_key("cip.service") {
                out.push(o);
            }
            for x in o.values() {
                messages(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| messages(x, out)),
        _ => {}
    }
}

/// A hex or decimal number as decimal text, `""` if none.
fn dec(s: Option<&String>) -> String {
    s.and_then(|s| num(s))
        .map_or_else(String::new, |n| n.to_string())
}

/// The first value of a field in the message's request path.
fn path_value(m: &Map<String, Value>, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in m {
        if k.starts_with("Request Path") {
            collect(v, name, &mut out);
        }
    }
    out
}

/// Key of a CIP message: requests by service and path, responses by service, general and
/// extended status and the class and instance of the request they answer.
#[allow(clippy::too_many_arguments)]
fn cip_key(
    response: bool,
    service: u64,
    status: &str,
    ext: &str,
    class: &str,
    instance: &str,
    attribute: &str,
    tag: &str,
    identity: &str,
) -> String {
    if response {
        format!("rsp svc={service} gs={status} ext={ext} class={class} inst={instance}{identity}")
    } else {
        format!("req svc={service} class={class} inst={instance} attr={attribute} tag={tag}")
    }
}

/// Our key of an `enip` event: command, session, status, and the identity facts of a
/// ListIdentity reply.
fn our_enip_key(e: &Event) -> String {
    let status = match field(e, "enip_status").as_str() {
        "" => "0".to_string(),
        s => s.to_string(),
    };
    format!(
        "cmd={} session={} status={status} id={}/{}/{}/{}/{}/{}",
        field(e, "command"),
        field(e, "session"),
        field(e, "vendor_id"),
        field(e, "device_type"),
        field(e, "product_code"),
        field(e, "firmware_version"),
        field(e, "serial_number"),
        field(e, "product_name"),
    )
}

fn our_cip_key(e: &Event) -> String {
    if field(e, "status") == "malformed" {
        return "malformed".into();
    }
    let response = field(e, "direction") == "response";
    let svc: u64 = field(e, "service").parse().unwrap_or(0);
    // tshark shows a symbolic path's element (member) segments separately.
    let tag: String = field(e, "tag")
        .split('[')
        .map(|p| p.split_once(']').map_or(p, |(_, rest)| rest))
        .collect();
    cip_key(
        response,
        svc | if response { 0x80 } else { 0 },
        &field(e, "general_status"),
        &field(e, "extended_status"),
        &field(e, "class"),
        &field(e, "instance"),
        &field(e, "attribute"),
        &tag,
        &identity(
            &field(e, "vendor_id"),
            &field(e, "product_code"),
            &field(e, "serial_number"),
            &field(e, "product_name"),
        ),
    )
}

/// Identity facts of an Identity object reply (empty when none).
fn identity(vendor: &str, product: &str, serial: &str, name: &str) -> String {
    if vendor.is_empty() && product.is_empty() && serial.is_empty() && name.is_empty() {
        String::new()
    } else {
        format!(" id={vendor}/{product}/{serial}/{name}")
    }
}

/// An identity field of a tshark message (decimal; the serial number as `0x` + 8 digits;
/// the product name as it is).
fn id_field(m: &Map<String, Value>, name: &str, serial: bool) -> String {
    let mut v = Vec::new();
    collect(&Value::Object(m.clone()), name, &mut v);
    let Some(first) = v.first() else {
        return String::new();
    };
    match (serial, num(first)) {
        (true, Some(n)) => format!("0x{n:08x}"),
        (false, Some(n)) if name != "cip.id.product_name" => n.to_string(),
        _ => first.clone(),
    }
}

/// tshark's keys per frame for `enip` and `cip`.
type Keys = BTreeMap<u64, Vec<String>>;

fn tshark_keys(capture: &Path) -> (Keys, Keys) {
    let (mut enip, mut cip) = (Keys::new(), Keys::new());
    for p in tshark_json(capture) {
        let Some((frame, l)) = layers(&p) else {
            continue;
        };
        for e in l.get("enip").map(each).unwrap_or_default() {
            let g = |n: &str| {
                let mut v = Vec::new();
                collect(e, n, &mut v);
                v
            };
            let (cmd, session, status) = (g("enip.command"), g("enip.session"), g("enip.status"));
            if cmd.is_empty() {
                // CIP I/O on UDP 2222: a CPF without encapsulation header (not ENIP).
                continue;
            }
            let id = if g("enip.lir.vendor").is_empty() {
                "/////".to_string()
            } else {
                let rev =
                    num(g("enip.lir.revision").first().map_or("", String::as_str)).unwrap_or(0);
                format!(
                    "{}/{}/{}/{}.{}/0x{:08x}/{}",
                    dec(g("enip.lir.vendor").first()),
                    dec(g("enip.lir.devtype").first()),
                    dec(g("enip.lir.prodcode").first()),
                    // tshark reads the two revision bytes as one big-endian number.
                    rev >> 8,
                    rev & 0xff,
                    num(g("enip.lir.serial").first().map_or("", String::as_str)).unwrap_or(0),
                    g("enip.lir.name").first().map_or("", String::as_str),
                )
            };
            enip.entry(frame).or_default().push(format!(
                "cmd={} session={} status={} id={id}",
                dec(cmd.first()),
                dec(session.first()),
                dec(status.first()),
            ));
        }
        let mut msgs = Vec::new();
        for (k, v) in l {
            if k != "frame" && k != "enip" {
                messages(v, &mut msgs);
            }
        }
        // The response to an Unconnected Send is the embedded request's response: tshark
        // shows the wrapper's path (Connection Manager) on it and the embedded request's
        // path in its `cipcm` layer.
        let ucs_path = l
            .get("cipcm")
            .and_then(Value::as_object)
            .filter(|o| o.get("cip.cm.sc").and_then(Value::as_str) == Some("0x52"));
        for m in msgs {
            let service = num(m["cip.service"].as_str().unwrap_or("")).unwrap_or(0);
            let response = service & 0x80 != 0;
            let one = |n: &str| {
                let mut v = Vec::new();
                collect(&Value::Object(m.clone()), n, &mut v);
                dec(v.first())
            };
            let path = match ucs_path {
                Some(u) if response && service != 0xd2 => u,
                _ => m,
            };
            let first = |n: &str| dec(path_value(path, n).first());
            cip.entry(frame).or_default().push(cip_key(
                response,
                service,
                &one("cip.genstat"),
                &one("cip.addstat"),
                &first("cip.class"),
                &first("cip.instance"),
                &first("cip.attribute"),
                &path_value(path, "cip.symbol").join("."),
                // Identity facts: in the message, or for an Unconnected Send reply in the
                // `cipcm` layer that holds the embedded reply's data.
                &identity(
                    &id_field(path, "cip.id.vendor_id", false),
                    &id_field(path, "cip.id.product_code", false),
                    &id_field(path, "cip.id.serial_number", true),
                    &id_field(path, "cip.id.product_name", false),
                ),
            ));
        }
    }
    (enip, cip)
}

/// Per encapsulation PDU (command, session, status, ListIdentity facts) and per CIP
/// message (service; requests: class, instance, attribute, tag; responses: general status).
#[test]
fn enip_and_cip_agree_with_tshark() {
    if !tshark_available() {
        return;
    }
    let mut enip = Agreement::new("enip");
    let mut cip = Agreement::new("cip");
    let mut caps = captures_with("enip");
    caps.sort();
    for cap in caps {
        let events = yagura_events(&cap);
        let ours_enip = keys_by_frame(&events, "enip", our_enip_key);
        let ours_cip = keys_by_frame(&events, "cip", our_cip_key);
        let (theirs_enip, theirs_cip) = tshark_keys(&cap);
        enip.compare(&cap, &ours_enip, &theirs_enip);
        cip.compare(&cap, &ours_cip, &theirs_cip);
    }
    eprintln!("{}", cip.summary(300));
    enip.assert_at_least(0.999, 20_000);
    cip.assert_at_least(0.999, 20_000);
}

/// One Zeek log of the ICSNPP baselines: its data rows, tab-separated.
fn zeek_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// A Zeek hex field (`0x0a`) as decimal text, `-` kept as empty.
fn zeek_num(s: &str) -> String {
    num(s).map_or_else(String::new, |n| n.to_string())
}

/// Record-level comparison with the ICSNPP Zeek baselines (`enip.log`, `cip.log`,
/// `cip_identity.log`), as multisets per capture: ENIP per PDU (command, data length,
/// session); CIP per message (direction and service; requests: class and instance;
/// responses: general status); identity per ListIdentity reply. Zeek logs CIP I/O (UDP
/// 2222) in `cip_io.log`, which Yagura does not decode (see docs/fidelity.md).
#[test]
fn enip_and_cip_agree_with_zeek_icsnpp() {
    let corpus = corpus();
    let expected = corpus.join("expected/pcap/enip");
    let cases = [
        (
            "icsnpp-enip__enip_cip_example.pcap",
            "icsnpp-enip__enip_cip_example.pcap.zeek-icsnpp/analyzer.basic",
        ),
        (
            "icsnpp-enip__multiple_service_packet_cip.pcapng",
            "icsnpp-enip__multiple_service_packet_cip.pcapng.zeek-icsnpp/analyzer.multiple_service_request",
        ),
        (
            "icsnpp-enip__set_attribute_single_service_cip.pcapng",
            "icsnpp-enip__set_attribute_single_service_cip.pcapng.zeek-icsnpp/analyzer.set_attr_single_service",
        ),
    ];
    let mut enip = Agreement::new("enip vs zeek");
    let mut cip = Agreement::new("cip vs zeek");
    let mut identity = Agreement::new("identity vs zeek");
    for (cap, dir) in cases {
        let cap = corpus.join("pcap/enip").join(cap);
        let dir = expected.join(dir);
        let events = yagura_events(&cap);
        let one = |v: Vec<String>| BTreeMap::from([(0u64, v)]);
        let ours = |proto: &str, key: &dyn Fn(&Event) -> String| {
            one(events
                .iter()
                .filter(|e| field(e, "protocol") == proto)
                .map(key)
                .collect())
        };
        // enip.log: command (11), length (13), session (14).
        let theirs: Vec<String> = zeek_rows(&dir.join("enip.log"))
            .iter()
            .map(|r| {
                format!(
                    "cmd={} len={} session={}",
                    zeek_num(&r[11]),
                    r[13],
                    zeek_num(&r[14])
                )
            })
            .collect();
        enip.compare(
            &cap,
            &ours("enip", &|e| {
                let len: u64 = field(e, "length").parse().unwrap_or(0);
                format!(
                    "cmd={} len={} session={}",
                    field(e, "command"),
                    len.saturating_sub(24),
                    field(e, "session")
                )
            }),
            &one(theirs),
        );
        // cip.log: direction (12), service (13), status (15), class (19), instance (21).
        let theirs: Vec<String> = zeek_rows(&dir.join("cip.log"))
            .iter()
            .map(|r| {
                if r[12] == "request" {
                    format!(
                        "req svc={} class={} inst={}",
                        zeek_num(&r[13]),
                        zeek_num(&r[19]),
                        zeek_num(&r[21])
                    )
                } else {
                    format!("rsp svc={} gs={}", zeek_num(&r[13]), zeek_num(&r[15]))
                }
            })
            .collect();
        cip.compare(
            &cap,
            &ours("cip", &|e| {
                if field(e, "direction") == "request" {
                    format!(
                        "req svc={} class={} inst={}",
                        field(e, "service"),
                        field(e, "class"),
                        field(e, "instance")
                    )
                } else {
                    format!(
                        "rsp svc={} gs={}",
                        field(e, "service"),
                        field(e, "general_status")
                    )
                }
            }),
            &one(theirs),
        );
        // cip_identity.log: vendor id (14), device type (16), product code (18), revision
        // (19), status (20), serial (21), product name (22), state (23).
        let id_log = dir.join("cip_identity.log");
        if id_log.is_file() {
            let theirs: Vec<String> = zeek_rows(&id_log)
                .iter()
                .map(|r| {
                    format!(
                        "{}/{}/{}/{}/{}/{}/{}/{}",
                        r[14],
                        r[16],
                        r[18],
                        r[19],
                        zeek_num(&r[20]),
                        r[21],
                        r[22],
                        zeek_num(&r[23])
                    )
                })
                .collect();
            let ours: Vec<String> = events
                .iter()
                .filter(|e| field(e, "protocol") == "enip" && !field(e, "vendor_id").is_empty())
                .map(|e| {
                    format!(
                        "{}/{}/{}/{}/{}/{}/{}/{}",
                        field(e, "vendor_id"),
                        field(e, "device_type"),
                        field(e, "product_code"),
                        field(e, "firmware_version"),
                        field(e, "device_status"),
                        field(e, "serial_number"),
                        field(e, "product_name"),
                        field(e, "state")
                    )
                })
                .collect();
            identity.compare(&cap, &one(ours), &one(theirs));
        }
    }
    eprintln!("{}\n{}", cip.summary(50), identity.summary(10));
    enip.assert_at_least(1.0, 270);
    cip.assert_at_least(1.0, 1_170);
    identity.assert_at_least(1.0, 1);
}

/// Golden snapshots: a connected Multiple Service Packet of eleven requests (Identity and
/// other objects), and ListIdentity with its identity item.
#[test]
fn golden_enip() {
    let c = corpus().join("pcap/enip");
    golden(
        &c.join("iti__cip-multiple-1.pcap"),
        &["enip", "cip", "pccc"],
        "enip_cip_multiple",
    );
    golden(
        &c.join("sv__enip_test1.pcap"),
        &["enip", "cip", "pccc"],
        "enip_list_identity",
    );
}
