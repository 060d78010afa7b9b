//! DNP3 against tshark (per PDU) and Zeek's `dnp3.log` (per response) on every corpus
//! capture that has it (see tests/fidelity/mod.rs for the method and docs/fidelity.md for
//! the figures).

mod fidelity;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fidelity::*;

/// tshark's fields, in this order.
const FIELDS: &[&str] = &[
    "dnp3.src",
    "dnp3.dst",
    "dnp3.ctl.prm",
    "dnp3.ctl.prifunc",
    "dnp3.ctl.secfunc",
    "dnp3.al.func",
    "dnp3.al.seq",
    "dnp3.al.con",
    "dnp3.al.uns",
    "dnp3.al.iin",
    "dnp3.al.obj",
    "dnp3.al.objq.prefix",
    "dnp3.al.objq.range",
    "dnp3.tr.seq",
];

/// `true`/`false`/`1`/`0`/`True` as 0 or 1.
fn flag(s: &str) -> u8 {
    u8::from(matches!(s, "1" | "true" | "True"))
}

/// Yagura's key of one event: link addresses and function; for application fragments the
/// function, sequence, CON/UNS, IIN and the object headers (group, variation, qualifier).
fn our_key(e: &Event) -> String {
    let link = format!(
        "src={} dst={} link={}",
        field(e, "link_src"),
        field(e, "link_dst"),
        field(e, "link_function")
    );
    if field(e, "transport_segments").is_empty() {
        return link;
    }
    let no_objs = matches!(
        field(e, "function").as_str(),
        "16" | "17" | "18" | "32" | "33" | "131"
    );
    // "g30v1 q0x01 0-9, g60v1 q0x06" -> "g30v1/0/1 g60v1/0/6"
    let objs: Vec<String> = field(e, "objects")
        .split(", ")
        .filter(|o| !o.is_empty() && !no_objs)
        .map(|o| {
            let mut t = o.split(' ');
            let gv = t.next().unwrap_or("");
            let q = t
                .next()
                .and_then(|q| q.strip_prefix("q0x"))
                .and_then(|q| u8::from_str_radix(q, 16).ok())
                .unwrap_or(0);
            format!("{gv}/{}/{}", (q >> 4) & 7, q & 0x0f)
        })
        .collect();
    format!(
        "{link} fc={} seq={} con={} uns={} iin={} objs={}",
        field(e, "function"),
        field(e, "sequence"),
        flag(&field(e, "confirm")),
        flag(&field(e, "unsolicited")),
        if no_objs && field(e, "function") == "131" {
            "131".to_string()
        } else {
            field(e, "iin")
        },
        objs.join(" ")
    )
}

/// tshark's key of one frame holding one link frame; `None` for a transport segment that
/// does not complete a fragment (Yagura reports the fragment once, in its last frame).
fn their_key(v: &[&str]) -> Option<String> {
    let [
        src,
        dst,
        prm,
        prifunc,
        secfunc,
        func,
        seq,
        con,
        uns,
        iin,
        obj,
        prefix,
        range,
        _,
    ] = v
    else {
        return None;
    };
    let lf = if flag(prm) == 1 { prifunc } else { secfunc };
    let link = format!("src={src} dst={dst} link={lf}");
    let user_data = flag(prm) == 1 && matches!(*prifunc, "3" | "4");
    if !user_data {
        return Some(link);
    }
    if func.is_empty() {
        return None;
    }
    // tshark 4.0 decodes no objects for application start/stop/initialise and secure
    // authentication (docs/fidelity.md): compare those without objects.
    let no_objs = matches!(*func, "16" | "17" | "18" | "32" | "33" | "131");
    let pre: Vec<&str> = prefix.split(',').collect();
    let rng: Vec<&str> = range.split(',').collect();
    let objs: Vec<String> = obj
        .split(',')
        .filter(|o| !o.is_empty() && !no_objs)
        .enumerate()
        .map(|(i, o)| {
            let gv = num(o).unwrap_or(0);
            format!(
                "g{}v{}/{}/{}",
                gv >> 8,
                gv & 0xff,
                pre.get(i).unwrap_or(&""),
                rng.get(i).unwrap_or(&"")
            )
        })
        .collect();
    // tshark 4.0 shows no IIN in an authentication response (131), which carries one
    // (every response header, 0x81-0x83, has IIN in IEEE 1815-2012): compared without it (docs/fidelity.md).
    let iin = if *func == "131" {
        "131".to_string()
    } else if iin.is_empty() {
        String::new()
    } else {
        num(iin).unwrap_or(0).to_string()
    };
    Some(format!(
        "{link} fc={func} seq={seq} con={} uns={} iin={iin} objs={}",
        flag(con),
        flag(uns),
        objs.join(" ")
    ))
}

/// Per link frame or application fragment: link source/destination/function, application
/// function, sequence, CON/UNS, IIN and object headers.
#[test]
fn dnp3_agrees_with_tshark() {
    if !tshark_available() {
        return;
    }
    let mut agreement = Agreement::new("dnp3");
    let mut multi = 0;
    let mut wrapped_frames = 0;
    for cap in captures_with("dnp3") {
        let mut ours = keys_by_frame(&yagura_events(&cap), "dnp3", our_key);
        let mut theirs: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        // Last transport sequence number per (source, destination).
        let mut last_seq: BTreeMap<(String, String), String> = BTreeMap::new();
        for row in tshark(&cap, "dnp3", FIELDS, &[]) {
            if row.get(0).len() != 1 {
                // Several link frames in one packet: none in the corpus today.
                multi += 1;
                continue;
            }
            // tshark does not wrap the 6-bit transport sequence: a segment numbered 0
            // after one numbered 63 is not reassembled (or is decoded from stale state).
            // Documented in docs/fidelity.md; such frames are compared in neither tool.
            if let [seq] = row.get(13) {
                let k = (row.get(0)[0].clone(), row.get(1)[0].clone());
                let wrapped = seq == "0" && last_seq.get(&k).is_some_and(|p| p == "63");
                last_seq.insert(k, seq.clone());
                if wrapped {
                    ours.remove(&row.frame);
                    wrapped_frames += 1;
                    continue;
                }
            }
            // Multi-valued fields (the object list) are joined back with commas.
            let joined: Vec<String> = (0..FIELDS.len()).map(|i| row.get(i).join(",")).collect();
            let vals: Vec<&str> = joined.iter().map(String::as_str).collect();
            if let Some(k) = their_key(&vals) {
                theirs.entry(row.frame).or_default().push(k);
            }
        }
        // A frame whose start octets are corrupt (`05 05` in zeek__dnp3.pcap frame 19 and
        // its copy iti__dnp3_test_data_part1.pcap) is plain TCP data to tshark; Yagura
        // reports it as one malformed PDU (bad_header). Not compared.
        ours.retain(|f, keys| {
            keys.retain(|k| k != "src= dst= link=" || theirs.contains_key(f));
            !keys.is_empty()
        });
        agreement.compare(&cap, &ours, &theirs);
    }
    eprintln!("dnp3: {wrapped_frames} frames after a transport sequence wrap not compared");
    assert_eq!(
        multi, 0,
        "frames with several DNP3 link frames are not compared"
    );
    agreement.assert_at_least(0.999, 1000);
}

/// The corpus' Zeek `dnp3.log` files, by capture file name.
fn zeek_logs() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let base = corpus().join("expected/pcap/dnp3");
    let Ok(dirs) = std::fs::read_dir(&base) else {
        return out;
    };
    for d in dirs.flatten() {
        let name = d.file_name().to_string_lossy().into_owned();
        let Some(cap) = name
            .strip_suffix(".zeek")
            .or_else(|| name.strip_suffix(".zeek-icsnpp"))
        else {
            continue;
        };
        let mut stack = vec![d.path()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "dnp3.log") {
                    out.push((corpus().join("pcap/dnp3").join(cap), path));
                }
            }
        }
    }
    out.sort();
    out
}

/// Zeek's replies of one log as "FUNCTION iin" (requests without reply are not keyed).
fn zeek_replies(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).expect("dnp3.log");
    let mut cols: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for l in text.lines() {
        if let Some(f) = l.strip_prefix("#fields\t") {
            cols = f.split('\t').map(str::to_string).collect();
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split('\t').collect();
        let get = |n: &str| cols.iter().position(|c| c == n).and_then(|i| f.get(i));
        let (Some(reply), Some(iin)) = (get("fc_reply"), get("iin")) else {
            continue;
        };
        if *reply != "-" {
            out.push(format!("{reply} {iin}"));
        }
    }
    out.sort();
    out
}

/// Per capture with a Zeek `dnp3.log`: the multiset of responses (function and IIN) equals
/// Zeek's. (Zeek pairs each reply with the last request seen, not by sequence number, so
/// its `fc_request` column is not compared; see docs/fidelity.md.)
#[test]
fn dnp3_responses_agree_with_zeek() {
    let logs = zeek_logs();
    assert!(logs.len() >= 14, "only {} dnp3.log files found", logs.len());
    let mut total = 0;
    for (cap, log) in logs {
        let theirs = zeek_replies(&log);
        let mut ours: Vec<String> = yagura_events(&cap)
            .iter()
            .filter(|e| field(e, "protocol") == "dnp3")
            .filter(|e| matches!(field(e, "function").as_str(), "129" | "130"))
            .map(|e| {
                format!(
                    "{} {}",
                    field(e, "function_name").to_uppercase(),
                    field(e, "iin")
                )
            })
            .collect();
        ours.sort();
        assert_eq!(ours, theirs, "{}", cap.display());
        total += theirs.len();
    }
    eprintln!("dnp3: {total} responses agree with Zeek");
    assert!(total >= 450, "only {total} responses compared");
}

/// Snapshot of the events of a small capture with select/operate (reviewed against tshark).
#[test]
fn golden_select_operate() {
    golden(
        &corpus().join("pcap/dnp3/zeek__dnp3_select_operate.pcap"),
        &["dnp3"],
        "dnp3_select_operate",
    );
}

/// Snapshot of a file read (multi-segment response, group 70 objects).
#[test]
fn golden_file_read() {
    golden(
        &corpus().join("pcap/dnp3/zeek__dnp3_file_read.pcap"),
        &["dnp3"],
        "dnp3_file_read",
    );
}
