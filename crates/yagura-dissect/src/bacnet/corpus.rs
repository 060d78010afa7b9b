//! Agreement with tshark on every corpus capture with BACnet/IP: per datagram, the service
//! choice, the I-Am parameters, and the identity properties of Device object ReadProperty
//! answers. Needs `tshark` and `../shared/corpus` beside the workspace; says SKIPPED
//! otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yagura_core::{Direction, FieldValue};

use super::BacnetDissector;
use crate::Dissector;
use crate::testutil::{VecSink, hex};

/// Captures whose tshark protocols (MANIFEST.tsv) include `bvlc`; `None` (the test then
/// says SKIPPED) only when tshark is missing and `YAGURA_SKIP_TSHARK` allows it.
fn captures() -> Option<Vec<PathBuf>> {
    yagura_testkit::tshark_available().then(|| yagura_testkit::captures_with("bvlc"))
}

fn tshark(file: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .expect("tshark runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tshark's text of the identity string properties in Device object ReadProperty answers:
/// frame number → (property name as tshark prints it, value).
fn device_strings(file: &Path) -> HashMap<u32, (String, String)> {
    let text = tshark(
        file,
        &[
            "-Y",
            "bacapp.type == 3 && bacapp.confirmed_service == 12",
            "-V",
        ],
    );
    let mut out = HashMap::new();
    let (mut frame, mut device) = (0u32, false);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Frame ") {
            frame = rest
                .split(':')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            device = false;
        } else if let Some(o) = line.strip_prefix("    ObjectIdentifier: ") {
            device = o.starts_with("device,");
        } else if device && let Some(v) = line.strip_prefix("        Object Name: ") {
            out.insert(frame, ("object-name".to_owned(), v.to_owned()));
        } else if device && let Some((name, rest)) = line.trim_start().split_once(": ") {
            let known = [
                "vendor-name",
                "model-name",
                "firmware-revision",
                "application-software-version",
                "location",
                "description",
                "serial-number",
            ];
            if known.contains(&name)
                && let (Some(a), Some(b)) = (rest.find('\''), rest.rfind('\''))
                && a < b
            {
                out.insert(frame, (name.to_owned(), rest[a + 1..b].to_owned()));
            }
        }
    }
    out
}

fn str_field<'a>(s: &'a VecSink, name: &str) -> Option<&'a str> {
    s.events[0]
        .fields
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| match v {
            FieldValue::Str(s) => Some(s.as_str()),
            _ => None,
        })
}

#[test]
fn agrees_with_tshark_on_the_corpus() {
    let Some(files) = captures() else {
        return;
    };
    assert!(files.len() >= 5, "{files:?}");
    let (mut services, mut i_ams, mut strings, mut facts) = (0, 0, 0, 0);
    for file in &files {
        let strs = device_strings(file);
        let text = tshark(
            file,
            &[
                "-Y",
                "bvlc && udp && !icmp",
                "-T",
                "fields",
                "-E",
                "occurrence=f",
                "-e",
                "frame.number",
                "-e",
                "udp.payload",
                "-e",
                "bacapp.type",
                "-e",
                "bacapp.confirmed_service",
                "-e",
                "bacapp.unconfirmed_service",
                "-e",
                "bacapp.instance_number",
                "-e",
                "bacapp.vendor_identifier",
                "-e",
                "bacnet.snet",
                "-e",
                "_ws.malformed",
            ],
        );
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let [
                frame,
                payload,
                kind,
                confirmed,
                unconfirmed,
                instance,
                vendor,
                snet,
                malformed,
            ] = f[..]
            else {
                continue;
            };
            let at = format!("{} frame {frame}", file.display());
            let mut s = VecSink::default();
            BacnetDissector.parse(&hex(payload), Direction::ToServer, &mut s);
            assert_eq!(s.events.len(), 1, "{at}");
            let e = &s.events[0];
            // Parameters tshark decodes are never called badly encoded.
            if malformed.is_empty() {
                assert!(!e.anomalies.contains(&"bad_encoding"), "{at}");
            }
            // Service choice, where tshark shows one.
            let service = if kind == "1" { unconfirmed } else { confirmed };
            if !service.is_empty() && malformed.is_empty() {
                assert_eq!(e.function, service.parse().ok(), "{at}");
                services += 1;
            }
            // I-Am: device instance and vendor id; facts unless routed.
            if kind == "1" && unconfirmed == "0" && malformed.is_empty() {
                assert_eq!(s.field(0, "device_instance"), instance.parse().ok(), "{at}");
                assert_eq!(s.field(0, "vendor_id"), vendor.parse().ok(), "{at}");
                let fact = format!("bacnet:{vendor}");
                let got = s.fact_pairs();
                if snet.is_empty() {
                    assert!(got.contains(&("vendor_id", fact.as_str())), "{at}: {got:?}");
                    facts += 1;
                } else {
                    assert!(got.is_empty(), "{at}: routed, {got:?}");
                }
                i_ams += 1;
            }
            if let Some((name, want)) = frame.parse().ok().and_then(|n: u32| strs.get(&n)) {
                let (field, attribute) = match name.as_str() {
                    "vendor-name" => ("vendor", Some("vendor")),
                    "model-name" => ("model_name", Some("model")),
                    "firmware-revision" => ("firmware_version", Some("firmware")),
                    "application-software-version" => {
                        ("application_software_version", Some("software"))
                    }
                    "object-name" => ("device_name", Some("name")),
                    "location" => ("location", None),
                    "description" => ("description", Some("description")),
                    _ => ("serial_number", Some("serial")),
                };
                let want = want.trim();
                if want.is_empty() {
                    assert_eq!(str_field(&s, field), None, "{at}");
                } else {
                    assert_eq!(str_field(&s, field), Some(want), "{at}");
                    if let Some(a) = attribute
                        && snet.is_empty()
                    {
                        assert_eq!(s.fact_pairs(), [(a, want)], "{at}");
                        facts += 1;
                    }
                }
                strings += 1;
            }
        }
    }
    eprintln!(
        "bacnet vs tshark: {services} service choices, {i_ams} I-Am, {strings} device \
         properties, {facts} facts agree"
    );
    assert!(
        services > 5000 && i_ams > 300 && strings > 40,
        "{services} {i_ams} {strings}"
    );
}
