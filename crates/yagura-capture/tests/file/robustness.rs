//! Arbitrary and mutated input never panics or hangs, and the memory-mapped and chunked
//! readers agree on every input.

use proptest::prelude::*;
use yagura_capture::file::{FileSource, OpenOptions};

use crate::common::{Rec, drain, fixture};

const FIXTURES: [&str; 6] = [
    "modbus4_usec.pcap",
    "modbus4_nsec.pcap",
    "modbus4_modified.pcap",
    "modbus4.pcapng",
    "two_sections_usec_nsec.pcapng",
    "two_interfaces_usec_nsec.pcapng",
];

/// What a reader made of an input: records, and whether it ended in an error (and where).
fn outcome(bytes: &[u8], opts: &OpenOptions, max: usize) -> Option<(Vec<Rec>, Option<String>)> {
    let mut src = FileSource::from_bytes("fuzz", bytes.to_vec(), opts).ok()?;
    let d = drain(&mut src, max);
    // Bounded output: no more records than the smallest record (16 bytes) fits, or
    // (for SPBs, which can be padding-only) one per 16 bytes.
    assert!(d.recs.len() <= bytes.len() / 16 + 1);
    Some((d.recs, d.error.map(|e| e.to_string())))
}

/// Reads `bytes` whole and in chunks of `chunk` bytes: both must give the same result.
fn check(bytes: &[u8], chunk: usize, max: usize) {
    let whole = outcome(bytes, &OpenOptions::default(), max);
    let streamed = outcome(
        bytes,
        &OpenOptions {
            chunk_size: chunk,
            mmap: false,
        },
        max,
    );
    assert_eq!(whole, streamed);
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(at, v) in edits {
        if !bytes.is_empty() {
            let n = bytes.len();
            bytes[at % n] = v;
        }
    }
    if let Some(c) = cut {
        bytes.truncate(c % (bytes.len() + 1));
    }
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Starts that get random bytes past the magic check into the parsers.
fn magics() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![0xd4, 0xc3, 0xb2, 0xa1]),
        Just(vec![0xa1, 0xb2, 0xc3, 0xd4]),
        Just(vec![0x4d, 0x3c, 0xb2, 0xa1]),
        Just(vec![0x34, 0xcd, 0xb2, 0xa1]),
        Just(vec![
            0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a
        ]),
        Just(vec![
            0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d
        ]),
        Just(vec![]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn survives_arbitrary_bytes(
        head in magics(),
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..300,
        max in 1usize..50,
    ) {
        let mut bytes = head;
        bytes.extend_from_slice(&tail);
        check(&bytes, chunk, max);
    }

    #[test]
    fn survives_mutated_captures(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<usize>()),
        chunk in 1usize..300,
        max in 1usize..50,
    ) {
        let bytes = std::fs::read(fixture(FIXTURES[which])).unwrap();
        check(&mutate(bytes, &edits, cut), chunk, max);
    }

    #[test]
    fn survives_mutated_compressed_captures(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<usize>()),
        chunk in 1usize..300,
    ) {
        let bytes = gzip(&std::fs::read(fixture(FIXTURES[which])).unwrap());
        let bytes = mutate(bytes, &edits, cut);
        // Compressed input is always streamed; any outcome but a panic or hang is fine.
        let opts = OpenOptions { chunk_size: chunk, mmap: true };
        if let Ok(mut src) = FileSource::from_bytes("fuzz.gz", bytes, &opts) {
            drain(&mut src, 16);
        }
    }
}
