//! Formats and their quirks: real files written by editcap/mergecap, and crafted bytes for
//! what those tools do not write (big-endian pcap, SPB, OPB, binary `if_tsresol`, …).

use yagura_capture::file::{FileSource, OpenOptions, open_file};
use yagura_capture::{CaptureError, PacketSource};
use yagura_core::LinkType;

use crate::common::{Ng, Rec, W, drain, fixture, pcap};

const MODBUS4_TS: [u64; 4] = [
    1_595_660_608_237_857_000,
    1_595_660_608_237_866_000,
    1_595_660_608_237_872_000,
    1_595_660_608_237_928_000,
];
const MODBUS4_LEN: [usize; 4] = [74, 74, 66, 78];
/// DNP3 packets shifted by +123 ns, so only a nanosecond reader gets them right.
const DNP3_NS_TS: [u64; 3] = [
    1_583_869_914_739_725_123,
    1_583_869_914_742_717_123,
    1_583_869_914_742_999_123,
];
const DNP3_LEN: [usize; 3] = [72, 346, 122];

fn read(src: &mut dyn PacketSource) -> Vec<Rec> {
    let d = drain(src, 1000);
    assert!(d.error.is_none(), "{:?}", d.error);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    d.recs
}

fn bytes_source(bytes: Vec<u8>) -> FileSource {
    FileSource::from_bytes("test.bin", bytes, &OpenOptions::default()).expect("opens")
}

fn check_modbus4(recs: &[Rec]) {
    let ts: Vec<u64> = recs.iter().map(|r| r.ts).collect();
    let lens: Vec<usize> = recs.iter().map(|r| r.data.len()).collect();
    assert_eq!(ts, MODBUS4_TS);
    assert_eq!(lens, MODBUS4_LEN);
    assert!(recs.iter().all(|r| r.link == LinkType::ETHERNET));
    assert!(recs.iter().all(|r| r.orig_len as usize == r.data.len()));
    // Ethernet frames carrying IPv4.
    assert!(recs.iter().all(|r| r.data[12..14] == [0x08, 0x00]));
}

/// A little-endian classic pcap rewritten in big-endian order, field by field.
fn to_big_endian(le: &[u8]) -> Vec<u8> {
    let rd = |at: usize| u32::from_le_bytes(le[at..at + 4].try_into().unwrap());
    let rd16 = |at: usize| u16::from_le_bytes(le[at..at + 2].try_into().unwrap());
    let mut w = W::new(true);
    w.u32(rd(0)).u16(rd16(4)).u16(rd16(6));
    for at in [8, 12, 16, 20] {
        w.u32(rd(at));
    }
    let mut p = 24;
    while p < le.len() {
        let caplen = rd(p + 8) as usize;
        for at in 0..4 {
            w.u32(rd(p + 4 * at));
        }
        w.bytes(&le[p + 16..p + 16 + caplen]);
        p += 16 + caplen;
    }
    w.v
}

#[test]
fn parses_usec_pcap() {
    let recs = read(&mut open_file(fixture("modbus4_usec.pcap")).unwrap());
    check_modbus4(&recs);
}

#[test]
fn parses_big_endian_pcap_like_little_endian() {
    let le = std::fs::read(fixture("modbus4_usec.pcap")).unwrap();
    let be = to_big_endian(&le);
    assert_eq!(&be[..4], &[0xa1, 0xb2, 0xc3, 0xd4]);
    let from_le = read(&mut bytes_source(le));
    let from_be = read(&mut bytes_source(be));
    assert_eq!(from_le, from_be);
    check_modbus4(&from_be);
}

#[test]
fn parses_nsec_modified_and_pcapng_variants_identically() {
    let reference = read(&mut open_file(fixture("modbus4_usec.pcap")).unwrap());
    for name in [
        "modbus4_nsec.pcap",
        "modbus4_modified.pcap",
        "modbus4.pcapng",
    ] {
        let recs = read(&mut open_file(fixture(name)).unwrap());
        assert_eq!(recs, reference, "{name}");
    }
}

#[test]
fn recognises_by_magic_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let swapped = [
        ("modbus4_usec.pcap", "looks_like.pcapng"),
        ("modbus4.pcapng", "looks_like.pcap"),
        ("modbus4_nsec.pcap", "no_extension"),
    ];
    for (from, to) in swapped {
        let p = dir.path().join(to);
        std::fs::copy(fixture(from), &p).unwrap();
        check_modbus4(&read(&mut open_file(&p).unwrap()));
    }
}

#[test]
fn parses_pcapng_with_two_sections_of_different_resolution() {
    let recs = read(&mut open_file(fixture("two_sections_usec_nsec.pcapng")).unwrap());
    assert_eq!(recs.len(), 7);
    check_modbus4(&recs[..4]);
    let ts: Vec<u64> = recs[4..].iter().map(|r| r.ts).collect();
    let lens: Vec<usize> = recs[4..].iter().map(|r| r.data.len()).collect();
    assert_eq!(ts, DNP3_NS_TS);
    assert_eq!(lens, DNP3_LEN);
}

#[test]
fn parses_pcapng_with_two_interfaces_of_different_resolution() {
    // mergecap wrote the (earlier) DNP3 packets of interface 1 (ns) first.
    let recs = read(&mut open_file(fixture("two_interfaces_usec_nsec.pcapng")).unwrap());
    assert_eq!(recs.len(), 7);
    let ts: Vec<u64> = recs[..3].iter().map(|r| r.ts).collect();
    assert_eq!(ts, DNP3_NS_TS);
    check_modbus4(&recs[3..]);
}

#[test]
fn crafted_pcapng_sections_interfaces_and_packet_blocks() {
    let a = [0xaa; 10];
    let b = [0xbb; 7];
    // Section 1, little-endian: one interface in milliseconds.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, Some(3), None)
        .epb(0, 1_700_000_000_123, &a, 10)
        .block(4, &[0; 8]) // name resolution: skipped silently
        .block(0x0bad, &[1, 2, 3, 4, 5, 6, 7, 8]); // custom: skipped silently
    // Section 2, big-endian: interfaces are defined afresh.
    ng.be = true;
    ng.shb()
        .idb(101, 4, Some(0x80 | 10), Some(100)) // raw IP, snaplen 4, 2^-10 s, +100 s
        .idb(228, 0, Some(9), Some(-5)) // IPv4, ns, -5 s
        .epb(1, 7_000_000_000, &b, 1500)
        .spb(7, &b) // interface 0: cut to the snap length 4
        .opb(0, 2048, &a, 10) // 2048 / 1024 s + 100 s
        .block(0x1234_5678, &[0; 4]) // unknown: skipped with one warning
        .block(0x1234_5678, &[0; 4]);
    let mut src = bytes_source(ng.v);
    let d = drain(&mut src, 2);
    assert!(d.error.is_none(), "{:?}", d.error);
    let got: Vec<(u64, LinkType, u32, usize)> = d
        .recs
        .iter()
        .map(|r| (r.ts, r.link, r.orig_len, r.data.len()))
        .collect();
    assert_eq!(
        got,
        [
            (1_700_000_000_123_000_000, LinkType::ETHERNET, 10, 10),
            (2_000_000_000, LinkType::IPV4, 1500, 7),
            // An SPB has no timestamp: it takes the previous packet's.
            (2_000_000_000, LinkType::RAW, 7, 4),
            (102_000_000_000, LinkType::RAW, 10, 10),
        ]
    );
    assert_eq!(d.recs[0].data, a);
    assert_eq!(d.recs[1].data, b);
    assert_eq!(d.recs[2].data, b[..4]);
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    assert!(d.warnings[0].message.contains("0x12345678"));
}

#[test]
fn spb_captured_length_is_the_smallest_of_original_snaplen_and_block() {
    for (snaplen, orig, data_len, want) in [
        (0, 5, 8, 5),        // original length (the rest is padding)
        (3, 5, 8, 3),        // snap length
        (0, 100, 8, 8),      // what the block holds
        (65535, 60, 60, 60), // all present
    ] {
        let data = vec![0x55; data_len];
        let mut ng = Ng::new(false);
        ng.idb(1, snaplen, None, None).spb(orig, &data);
        let recs = read(&mut bytes_source(ng.v));
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].data.len(), want, "snaplen {snaplen} orig {orig}");
        assert_eq!(recs[0].orig_len, orig);
    }
}

#[test]
fn masks_fcs_bits_of_the_link_type_and_keeps_unknown_link_types() {
    let frame = [1u8; 20];
    // Bits 26-28: an FCS of 4 bytes is present.
    let bytes = pcap(
        false,
        0xa1b2_c3d4,
        (1 << 28) | (2 << 26) | 1,
        &[(1, 2, &frame, 20)],
    );
    assert_eq!(read(&mut bytes_source(bytes))[0].link, LinkType::ETHERNET);
    let bytes = pcap(false, 0xa1b2_c3d4, 7, &[(1, 2, &frame, 20)]);
    assert_eq!(read(&mut bytes_source(bytes))[0].link, LinkType::ARCNET_BSD);
}

#[test]
fn delivers_caplen_over_orig_len_and_over_snaplen() {
    let big = vec![9u8; 70_000]; // over the 65535 snap length written in the header
    let bytes = pcap(
        false,
        0xa1b2_c3d4,
        1,
        &[(1, 0, &[1, 2, 3], 2), (2, 0, &big, 70_000)],
    );
    let recs = read(&mut bytes_source(bytes));
    assert_eq!((recs[0].data.len(), recs[0].orig_len), (3, 2));
    assert_eq!(recs[1].data.len(), 70_000);
}

#[test]
fn batches_respect_max_and_count_globally() {
    let mut src = open_file(fixture("two_sections_usec_nsec.pcapng")).unwrap();
    let sizes: Vec<(u64, usize)> = std::iter::from_fn(|| src.next_batch(3).unwrap())
        .map(|b| (b.first_index, b.len()))
        .collect();
    assert_eq!(sizes, [(0, 3), (3, 3), (6, 1)]);
    let s = src.stats();
    assert_eq!(s.packets, 7);
    assert_eq!(s.bytes, (74 + 74 + 66 + 78 + 72 + 346 + 122) as u64);
    assert_eq!(s.input_bytes_total, Some(1336));
    assert_eq!(s.input_bytes_read, 1336);
    // max 0 still makes progress.
    let mut src = open_file(fixture("modbus4_usec.pcap")).unwrap();
    assert_eq!(src.next_batch(0).unwrap().unwrap().len(), 1);
    assert_eq!(
        src.files(),
        [fixture("modbus4_usec.pcap").display().to_string()]
    );
}

// ---- errors and warnings ----

#[test]
fn rejects_a_file_that_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.pcap");
    std::fs::write(&p, b"hello, this is text").unwrap();
    match open_file(&p) {
        Err(CaptureError::UnknownFormat { path, magic }) => {
            assert_eq!(path, p);
            assert_eq!(magic, "68 65 6c 6c");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        open_file(&empty),
        Err(CaptureError::UnknownFormat { .. })
    ));
    assert!(matches!(
        FileSource::from_bytes("x", vec![0xd4, 0xc3], &OpenOptions::default()),
        Err(CaptureError::UnknownFormat { .. })
    ));
    assert!(matches!(
        open_file(dir.path().join("missing.pcap")),
        Err(CaptureError::Io { .. })
    ));
}

#[test]
fn truncated_last_record_is_a_warning_after_all_complete_records() {
    let full = std::fs::read(fixture("modbus4_usec.pcap")).unwrap();
    // Cut inside the last record's data, then inside its header.
    for cut in [full.len() - 10, full.len() - 78 - 16 + 5] {
        let mut src = bytes_source(full[..cut].to_vec());
        let d = drain(&mut src, 1000);
        assert!(d.error.is_none());
        assert_eq!(d.recs.len(), 3, "cut at {cut}");
        assert_eq!(d.warnings.len(), 1);
        let last_record_at = (full.len() - 78 - 16) as u64;
        assert_eq!(d.warnings[0].offset, last_record_at);
        assert!(
            d.warnings[0].message.contains("ends inside"),
            "{}",
            d.warnings[0]
        );
    }
    // Cut inside the file header: nothing to deliver, still only a warning.
    let d = drain(&mut bytes_source(full[..10].to_vec()), 1000);
    assert!(d.error.is_none() && d.recs.is_empty() && d.warnings.len() == 1);

    let ng = std::fs::read(fixture("two_sections_usec_nsec.pcapng")).unwrap();
    let d = drain(&mut bytes_source(ng[..ng.len() - 3].to_vec()), 1000);
    assert!(d.error.is_none());
    assert_eq!(d.recs.len(), 6);
    assert_eq!(d.warnings.len(), 1);
}

#[test]
fn impossible_caplen_mid_file_is_corrupt_after_earlier_records() {
    let mut bytes = std::fs::read(fixture("modbus4_usec.pcap")).unwrap();
    let third = 24 + (16 + 74) * 2;
    bytes[third + 8..third + 12].copy_from_slice(&300_000u32.to_le_bytes());
    let d = drain(&mut bytes_source(bytes), 1000);
    assert_eq!(d.recs.len(), 2);
    match d.error {
        Some(CaptureError::Corrupt { offset, reason, .. }) => {
            assert_eq!(offset, third as u64);
            assert!(reason.contains("300000"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

fn corrupt_offset(bytes: Vec<u8>) -> (usize, u64, String) {
    let d = drain(&mut bytes_source(bytes), 1000);
    match d.error {
        Some(CaptureError::Corrupt { offset, reason, .. }) => (d.recs.len(), offset, reason),
        other => panic!(
            "expected corruption, got {other:?} after {} records",
            d.recs.len()
        ),
    }
}

#[test]
fn pcapng_corruption_is_reported_with_its_offset() {
    let mut good = Ng::new(false);
    good.idb(1, 0, None, None).epb(0, 1, &[1; 8], 8);
    let at = good.v.len() as u64;

    // A packet for an interface the section does not define.
    let mut ng = Ng {
        be: false,
        v: good.v.clone(),
    };
    ng.epb(3, 2, &[2; 8], 8);
    let (n, offset, reason) = corrupt_offset(ng.v);
    assert_eq!((n, offset), (1, at));
    assert!(reason.contains("interface 3"), "{reason}");

    // A block length that is not a multiple of 4, and one under the 12-byte minimum.
    for len in [30u32, 8] {
        let mut v = good.v.clone();
        let mut w = W::new(false);
        w.u32(6).u32(len).bytes(&[0; 40]);
        v.extend_from_slice(&w.v);
        let (n, offset, _) = corrupt_offset(v);
        assert_eq!((n, offset), (1, at), "length {len}");
    }

    // Leading and trailing lengths that disagree.
    let mut ng = Ng {
        be: false,
        v: good.v.clone(),
    };
    ng.epb(0, 2, &[2; 8], 8);
    let last = ng.v.len();
    ng.v[last - 4..].copy_from_slice(&36u32.to_le_bytes());
    assert_eq!(corrupt_offset(ng.v).1, at);

    // A captured length larger than its block.
    let mut ng = Ng {
        be: false,
        v: good.v.clone(),
    };
    ng.epb(0, 2, &[2; 8], 8);
    ng.v[at as usize + 20..at as usize + 24].copy_from_slice(&200u32.to_le_bytes());
    assert_eq!(corrupt_offset(ng.v).1, at);

    // An SPB before any interface.
    let mut ng = Ng::new(true);
    ng.spb(4, &[1, 2, 3, 4]);
    assert_eq!(corrupt_offset(ng.v).1, 28);

    // A second section header with a bad byte-order magic.
    let mut ng = Ng {
        be: false,
        v: good.v.clone(),
    };
    ng.shb();
    ng.v[at as usize + 8..at as usize + 12].copy_from_slice(b"oops");
    assert_eq!(corrupt_offset(ng.v).1, at);
}
