//! Several files and directories merged in timestamp order.

use std::io::Write;
use std::path::{Path, PathBuf};

use yagura_capture::CaptureError;
use yagura_capture::file::{MergedSource, OpenOptions, open_file, open_paths};
use yagura_core::LinkType;

use crate::common::{Rec, corpus, drain, fixture, pcap_of};

/// A capture whose timestamps never go backwards (so the merge must reproduce it).
const SORTED: &str = "pcap/dnp3/icsnpp-dnp3__dnp3_example.pcap";

fn recs_of(path: &Path) -> Vec<Rec> {
    let d = drain(&mut open_file(path).unwrap(), 1000);
    assert!(d.error.is_none());
    d.recs
}

fn gzip_file(path: &Path, bytes: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
}

fn rec(ts_us: u64, tag: u8) -> Rec {
    Rec {
        ts: ts_us * 1000,
        link: LinkType::ETHERNET,
        orig_len: 20,
        data: vec![tag; 20],
    }
}

#[test]
fn interleaves_two_files_in_timestamp_order() {
    let all = recs_of(&corpus(SORTED));
    assert!(all.windows(2).all(|w| w[0].ts <= w[1].ts));
    // Split into two files in irregular runs.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, r) in all.iter().enumerate() {
        let to = if (i * 7 + i / 3) % 3 == 0 {
            &mut a
        } else {
            &mut b
        };
        to.push(r.clone());
    }
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    std::fs::write(&pa, pcap_of(&a)).unwrap();
    std::fs::write(&pb, pcap_of(&b)).unwrap();
    let mut src = open_paths(&[pb.clone(), pa.clone()]).unwrap();
    let d = drain(src.as_mut(), 100);
    assert!(d.error.is_none() && d.warnings.is_empty());
    // A stable sort of "b then a" by time: equal timestamps keep the given file order.
    let mut want: Vec<Rec> = b.iter().chain(&a).cloned().collect();
    want.sort_by_key(|r| r.ts);
    assert!(d.recs == want, "merged order differs");
    let s = src.stats();
    assert_eq!(s.packets, all.len() as u64);
    assert_eq!(
        s.bytes,
        all.iter().map(|r| r.data.len() as u64).sum::<u64>()
    );
    let sizes = std::fs::metadata(&pa).unwrap().len() + std::fs::metadata(&pb).unwrap().len();
    assert_eq!(s.input_bytes_total, Some(sizes));
    assert_eq!(s.input_bytes_read, sizes);
    assert_eq!(
        src.files(),
        [pb.display().to_string(), pa.display().to_string()]
    );
}

#[test]
fn ties_go_to_the_earlier_file_and_each_file_keeps_its_order() {
    let dir = tempfile::tempdir().unwrap();
    // File 0 goes back in time once; the merge follows its head record, never reorders it.
    let f0 = [rec(10, 1), rec(20, 2), rec(15, 3), rec(30, 4)];
    let f1 = [rec(10, 11), rec(20, 12), rec(30, 13)];
    let (p0, p1) = (dir.path().join("0.pcap"), dir.path().join("1.pcap"));
    std::fs::write(&p0, pcap_of(&f0)).unwrap();
    std::fs::write(&p1, pcap_of(&f1)).unwrap();
    let d = drain(open_paths(&[p0, p1]).unwrap().as_mut(), 2);
    let tags: Vec<u8> = d.recs.iter().map(|r| r.data[0]).collect();
    assert_eq!(tags, [1, 11, 2, 3, 12, 4, 13]);
}

#[test]
fn many_compressed_files_overlapping_in_time() {
    // More compressed files than are kept open, fully interleaved (record j of file k at
    // time 40 j + k) and, in a second group, one after the other.
    let dir = tempfile::tempdir().unwrap();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut want = Vec::new();
    for k in 0..40u64 {
        let recs: Vec<Rec> = (0..25u64)
            .map(|j| {
                let ts = if k < 20 {
                    40 * j + k
                } else {
                    1_000_000 + 100 * k + j
                };
                rec(ts, k as u8)
            })
            .collect();
        // Given in reverse, so the file order is not the time order.
        let p = dir.path().join(format!("{:02}.pcap.gz", 39 - k));
        gzip_file(&p, &pcap_of(&recs));
        want.extend(recs);
        paths.push(p);
    }
    want.sort_by_key(|r| r.ts);
    let mut src = MergedSource::open(&paths, &OpenOptions::default()).unwrap();
    let d = drain(&mut src, 37);
    assert!(d.error.is_none());
    assert!(d.recs == want);
}

#[test]
fn walks_a_directory_recursively_skipping_hidden_and_non_captures() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("b/deeper")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::copy(fixture("modbus4_usec.pcap"), root.join("b/deeper/x.pcap")).unwrap();
    let ng = std::fs::read(fixture("two_sections_usec_nsec.pcapng")).unwrap();
    gzip_file(&root.join("a.pcapng.gz"), &ng);
    std::fs::copy(fixture("modbus4.pcapng"), root.join(".hidden.pcap")).unwrap();
    std::fs::copy(fixture("modbus4.pcapng"), root.join(".git/y.pcap")).unwrap();
    std::fs::write(root.join("README.txt"), "captures from the plant").unwrap();
    std::fs::write(root.join("b/empty.pcap"), "").unwrap();

    let mut src = open_paths(&[root.to_path_buf()]).unwrap();
    assert_eq!(
        src.files(),
        [
            root.join("a.pcapng.gz").display().to_string(),
            root.join("b/deeper/x.pcap").display().to_string(),
        ]
    );
    let d = drain(src.as_mut(), 1000);
    assert!(d.error.is_none());
    assert_eq!(d.recs.len(), 7 + 4);
    let mut skipped: Vec<PathBuf> = d.warnings.iter().map(|w| w.path.clone()).collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [root.join("README.txt"), root.join("b/empty.pcap")]
    );
    assert!(d.warnings.iter().all(|w| w.message.starts_with("skipped")));
}

#[test]
fn empty_directories_and_explicit_non_captures_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        open_paths(std::slice::from_ref(&empty)),
        Err(CaptureError::NoFiles { path }) if path == empty
    ));
    let notes = dir.path().join("only-notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("a.txt"), "text").unwrap();
    assert!(matches!(
        open_paths(&[notes]),
        Err(CaptureError::NoFiles { .. })
    ));
    let text = dir.path().join("named.pcap");
    std::fs::write(&text, "not a capture").unwrap();
    assert!(matches!(
        open_paths(&[fixture("modbus4_usec.pcap"), text]),
        Err(CaptureError::UnknownFormat { .. })
    ));
    assert!(matches!(open_paths(&[]), Err(CaptureError::NoFiles { .. })));
}

#[test]
fn corruption_in_one_file_stops_the_merge_after_earlier_records() {
    let dir = tempfile::tempdir().unwrap();
    let good: Vec<Rec> = (0..10).map(|i| rec(100 + i, 1)).collect();
    let mut bad_bytes = pcap_of(&(0..10).map(|i| rec(105 + i, 2)).collect::<Vec<_>>());
    // Record 3 of the second file gets an impossible length.
    let at = 24 + 3 * (16 + 20);
    bad_bytes[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let (pg, pb) = (dir.path().join("good.pcap"), dir.path().join("bad.pcap"));
    std::fs::write(&pg, pcap_of(&good)).unwrap();
    std::fs::write(&pb, bad_bytes).unwrap();
    let d = drain(open_paths(&[pg, pb.clone()]).unwrap().as_mut(), 1000);
    match d.error {
        Some(CaptureError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, pb);
            assert_eq!(offset, at as u64);
        }
        other => panic!("{other:?}"),
    }
    // Everything up to the bad file's third record (t = 107) was merged in order.
    let ts: Vec<u64> = d.recs.iter().map(|r| r.ts / 1000).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    assert!(ts.len() >= 8 && ts.iter().all(|&t| t <= 107), "{ts:?}");
}
