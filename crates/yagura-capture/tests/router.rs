//! A consumer's router runs on every record as a file source parses it.

use std::path::Path;

use yagura_capture::PacketSource;
use yagura_capture::file::open_file;
use yagura_core::LinkType;

fn sample() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcap/sample/zeek__modbusSmall.pcap")
}

fn by_length(link: LinkType, data: &[u8]) -> u32 {
    data.len() as u32 ^ (u32::from(link.0) << 16)
}

#[test]
fn file_source_routes_every_record_as_it_parses() {
    let mut src = open_file(sample()).expect("open");
    assert!(src.set_router(by_length));
    let mut n = 0;
    while let Some(batch) = src.next_batch(7).expect("read") {
        for (i, r) in batch.records.iter().enumerate() {
            let p = batch.get(i);
            assert_eq!(r.route, by_length(p.link, p.data));
            n += 1;
        }
        src.recycle(batch);
    }
    assert_eq!(n, 166);
}

#[test]
fn a_router_comes_before_the_first_batch() {
    let mut src = open_file(sample()).expect("open");
    let first = src.next_batch(4).expect("read").expect("records");
    assert!(first.records.iter().all(|r| r.route == 0));
    // Records already delivered would have no route: refused.
    assert!(!src.set_router(by_length));
}
