//! Every capture of the shared corpus reads with exactly the packet count `capinfos -c`
//! reports (MANIFEST.tsv), its link type, and the capture duration capinfos reports.

use yagura_capture::PacketSource;
use yagura_capture::file::open_file;
use yagura_core::LinkType;

/// capinfos' encapsulation names to the link types we must report.
fn link_types(capinfos: &str) -> &'static [LinkType] {
    match capinfos {
        "ether" => &[LinkType::ETHERNET],
        "linux-sll" => &[LinkType::LINUX_SLL],
        "null" => &[LinkType::NULL],
        "rawip4" => &[LinkType::IPV4],
        "arcnet" => &[LinkType::ARCNET_BSD, LinkType::ARCNET_LINUX],
        other => panic!("link type {other} not mapped in this test"),
    }
}

/// `duration_s=12.345678` from the notes column, in nanoseconds, and the digits printed
/// (6 for µs captures, 9 for ns ones).
fn duration_ns(notes: &str) -> (u64, u32) {
    let v = notes
        .split([';', '|'])
        .find_map(|f| f.trim().strip_prefix("duration_s="))
        .expect("duration_s in notes");
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = frac.len() as u32;
    let frac_ns = format!("{frac:0<9}")[..9].parse::<u64>().unwrap();
    (
        secs.parse::<u64>().unwrap() * 1_000_000_000 + frac_ns,
        digits,
    )
}

#[test]
fn every_corpus_capture_reads_like_capinfos() {
    let dir = yagura_testkit::corpus_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    for row in yagura_testkit::manifest() {
        let path = dir.join(row.path());
        let want_packets = row.packets();
        let mut src = open_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let (mut n, mut min, mut max) = (0u64, u64::MAX, 0u64);
        let mut links = Vec::new();
        while let Some(b) = src.next_batch(256).unwrap_or_else(|e| panic!("{e}")) {
            assert_eq!(b.first_index, n);
            for p in b.iter() {
                assert_eq!(p.index, n);
                n += 1;
                min = min.min(p.ts.0);
                max = max.max(p.ts.0);
                if !links.contains(&p.link) {
                    links.push(p.link);
                }
            }
        }
        checked += 1;
        if n != want_packets {
            failures.push(format!(
                "{}: {n} packets, capinfos says {want_packets}",
                row.path()
            ));
            continue;
        }
        // capinfos' duration is last minus first (latest minus earliest) timestamp, printed
        // with 6 or 9 decimals.
        let (want, digits) = duration_ns(row.get("notes"));
        let tolerance = if digits >= 9 { 0 } else { 1000 };
        if (max - min).abs_diff(want) > tolerance {
            failures.push(format!(
                "{}: duration {} ns, capinfos says {want} ns",
                row.path(),
                max - min
            ));
        }
        let allowed = link_types(row.get("link_type"));
        assert!(
            links.iter().all(|l| allowed.contains(l)),
            "{}: link types {links:?}, capinfos says {}",
            row.path(),
            row.get("link_type")
        );
        let s = src.stats();
        let size: u64 = row.get("bytes").parse().unwrap();
        assert_eq!((s.packets, s.input_bytes_total), (n, Some(size)));
        assert_eq!(s.input_bytes_read, size);
        // The one capture cut short upstream says so; the others read cleanly.
        let warnings = src.take_warnings();
        if row.path() == "pcap/melsec/iti__melsoft_129_clean.pcap" {
            assert_eq!(warnings.len(), 1, "{warnings:?}");
        } else {
            assert!(warnings.is_empty(), "{}: {warnings:?}", row.path());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 100, "only {checked} captures in the manifest");
}
