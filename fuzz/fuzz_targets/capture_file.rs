//! Capture file readers (`yagura_capture::file::FileSource`): pcap and pcapng, plain, gzip or
//! zstd, read whole (as a memory-mapped file is) and streamed in 64-byte chunks (so records
//! and blocks straddle chunks). Every batch is drained; the source must end (`Ok(None)`,
//! also when asked again) after at most one error, and an uncompressed input must yield the
//! same records both ways.
//!
//! Input: the file's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_capture::PacketSource;
use yagura_capture::file::{FileSource, OpenOptions};

/// A delivered record: time, link type, length on the wire, bytes.
type Rec = (u64, u16, u32, Vec<u8>);

/// Records read, and whether reading ended in an error (`None` if the file did not open).
fn read_all(data: &[u8], opts: &OpenOptions) -> Option<(Vec<Rec>, bool)> {
    let mut src = match FileSource::from_bytes("fuzz", data.to_vec(), opts) {
        Ok(s) => s,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return None;
        }
    };
    let mut recs = Vec::new();
    let mut failed = false;
    // Every batch holds at least one record, and a record at least a 16-byte header (or is
    // decompressed from the input), so this bounds a reader that does not end.
    let mut budget = 1_000_000usize;
    loop {
        budget = budget.checked_sub(1).expect("the reader does not end");
        match src.next_batch(7) {
            Ok(Some(b)) => {
                assert!(!b.is_empty() && b.len() <= 7, "batch of {}", b.len());
                for (i, r) in b.records.iter().enumerate() {
                    let p = b.get(i);
                    assert_eq!(p.data.len(), r.caplen as usize);
                    assert_eq!(p.index, b.first_index + i as u64);
                    recs.push((p.ts.0, p.link.0, p.orig_len, p.data.to_vec()));
                }
            }
            Ok(None) => break,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                failed = true;
                break;
            }
        }
        for w in src.take_warnings() {
            assert!(!w.to_string().is_empty());
        }
    }
    // Ended for good.
    assert!(matches!(src.next_batch(7), Ok(None)));
    let st = src.stats();
    assert_eq!(st.packets, recs.len() as u64);
    assert_eq!(st.bytes, recs.iter().map(|r| r.3.len() as u64).sum::<u64>());
    Some((recs, failed))
}

fuzz_target!(|data: &[u8]| {
    let whole = read_all(data, &OpenOptions::default());
    let streamed = read_all(
        data,
        &OpenOptions {
            mmap: false,
            chunk_size: 64,
        },
    );
    let compressed = data.starts_with(&[0x1f, 0x8b]) || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    if !compressed {
        assert_eq!(whole.is_some(), streamed.is_some(), "opened one way only");
        if let (Some((a, fa)), Some((b, fb))) = (&whole, &streamed) {
            assert_eq!(
                a.len(),
                b.len(),
                "record counts differ (errors: {fa} / {fb})"
            );
            assert!(a == b, "records differ");
        }
    }
});
