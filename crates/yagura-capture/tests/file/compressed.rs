//! gzip and zstd input, and the chunked streaming it goes through.

use std::io::Write;

use yagura_capture::file::{FileSource, OpenOptions, open_file};
use yagura_capture::{CaptureError, PacketSource};

use crate::common::{Drained, corpus, drain};

const PCAP: &str = "pcap/modbus/iti__modbus_test.pcap";
const PCAPNG: &str = "pcap/profinet/icsnpp-profinet-io-cm__profinet_io_cm_mixed_2.pcapng";
const TRUNCATED: &str = "pcap/melsec/iti__melsoft_129_clean.pcap";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 1).unwrap()
}

fn plain(rel: &str) -> Drained {
    let d = drain(&mut open_file(corpus(rel)).unwrap(), 500);
    assert!(d.error.is_none(), "{:?}", d.error);
    d
}

#[test]
fn gzip_and_zstd_files_read_like_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    for rel in [PCAP, PCAPNG, TRUNCATED] {
        let reference = plain(rel);
        let raw = std::fs::read(corpus(rel)).unwrap();
        for (ext, packed) in [("gz", gzip(&raw)), ("zst", zstd(&raw))] {
            // The extension says nothing: the magic bytes decide.
            let path = dir.path().join(format!("capture.{ext}.bin"));
            std::fs::write(&path, &packed).unwrap();
            let mut src = open_file(&path).unwrap();
            let d = drain(&mut src, 500);
            assert!(d.error.is_none(), "{rel} {ext}: {:?}", d.error);
            assert_eq!(d.recs.len(), reference.recs.len(), "{rel} {ext}");
            assert_eq!(d.recs.first(), reference.recs.first());
            assert_eq!(d.recs.last(), reference.recs.last());
            assert!(d.recs == reference.recs, "{rel} {ext}: records differ");
            // The same warnings (the truncated melsoft capture has one), same offsets.
            let offsets = |d: &Drained| d.warnings.iter().map(|w| w.offset).collect::<Vec<_>>();
            assert_eq!(offsets(&d), offsets(&reference), "{rel} {ext}");
            let s = src.stats();
            assert_eq!(s.input_bytes_total, Some(packed.len() as u64));
            assert_eq!(s.input_bytes_read, packed.len() as u64, "{rel} {ext}");
            assert_eq!(s.packets, reference.recs.len() as u64);
        }
    }
}

#[test]
fn records_split_across_chunks_come_out_identical() {
    for rel in [PCAP, PCAPNG] {
        let reference = plain(rel);
        let raw = std::fs::read(corpus(rel)).unwrap();
        let packed = gzip(&raw);
        // Chunks smaller than one record, of odd sizes, and around a typical record.
        for chunk_size in [1, 7, 100, 1000, 4099] {
            let opts = OpenOptions {
                chunk_size,
                mmap: false,
            };
            for (what, input) in [("plain", &raw), ("gzip", &packed)] {
                let mut src = FileSource::from_bytes(rel, input.clone(), &opts).unwrap();
                let d = drain(&mut src, 64);
                assert!(d.error.is_none(), "{what} {chunk_size}: {:?}", d.error);
                assert!(
                    d.recs == reference.recs,
                    "{rel} {what} chunk {chunk_size}: records differ"
                );
                // Batches did span chunks, so records were carried across boundaries.
                assert!(d.multi_backing_batches > 0, "{what} {chunk_size}");
            }
        }
    }
}

#[test]
fn a_cut_short_compressed_file_keeps_what_was_read() {
    let reference = plain(PCAP);
    let raw = std::fs::read(corpus(PCAP)).unwrap();
    for packed in [gzip(&raw), zstd(&raw)] {
        // Three quarters: zstd decodes whole blocks (up to 128 KiB), and half of this file's
        // frame does not hold one.
        let cut = packed[..packed.len() * 3 / 4].to_vec();
        let mut src = FileSource::from_bytes("half", cut, &OpenOptions::default()).unwrap();
        let d = drain(&mut src, 500);
        // A truncated stream is a warning, and every record decoded before the cut is
        // delivered unchanged.
        assert!(d.error.is_none(), "{:?}", d.error);
        assert!(!d.warnings.is_empty());
        assert!(!d.recs.is_empty() && d.recs.len() < reference.recs.len());
        assert_eq!(d.recs[..], reference.recs[..d.recs.len()]);
    }
}

#[test]
fn concatenated_gzip_members_read_as_one_stream() {
    let raw = std::fs::read(corpus(PCAP)).unwrap();
    let (a, b) = raw.split_at(raw.len() / 3);
    let mut packed = gzip(a);
    packed.extend_from_slice(&gzip(b));
    let mut src = FileSource::from_bytes("two-members", packed, &OpenOptions::default()).unwrap();
    assert!(drain(&mut src, 500).recs == plain(PCAP).recs);
}

#[test]
fn undecodable_or_non_capture_compressed_data_is_an_error() {
    let mut garbage = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    garbage.extend_from_slice(&[0xff; 64]);
    assert!(matches!(
        FileSource::from_bytes("bad.gz", garbage, &OpenOptions::default()),
        Err(CaptureError::Corrupt { .. })
    ));
    match FileSource::from_bytes("text.gz", gzip(b"just some text"), &OpenOptions::default()) {
        Err(CaptureError::UnknownFormat { magic, .. }) => {
            assert!(
                magic.starts_with("gzip data starting 6a 75 73 74"),
                "{magic}"
            )
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    // A corrupt stream after good data: the records before it, then an error.
    let raw = std::fs::read(corpus(PCAP)).unwrap();
    let mut packed = gzip(&raw);
    let mid = packed.len() / 2;
    for b in &mut packed[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let mut src = FileSource::from_bytes("flipped.gz", packed, &OpenOptions::default()).unwrap();
    let d = drain(&mut src, 500);
    assert!(
        matches!(d.error, Some(CaptureError::Corrupt { .. })),
        "{:?}",
        d.error
    );
    assert!(!d.recs.is_empty());
}

#[test]
fn streamed_plain_file_reports_progress() {
    let raw = std::fs::read(corpus(PCAP)).unwrap();
    let opts = OpenOptions {
        chunk_size: 64 * 1024,
        mmap: false,
    };
    let mut src = FileSource::from_bytes("streamed", raw.clone(), &opts).unwrap();
    let first = src.next_batch(10).unwrap().unwrap();
    assert_eq!(first.len(), 10);
    let mid = src.stats().input_bytes_read;
    assert!(mid > 0 && mid < raw.len() as u64, "{mid}");
    while src.next_batch(1000).unwrap().is_some() {}
    assert_eq!(src.stats().input_bytes_read, raw.len() as u64);
}
