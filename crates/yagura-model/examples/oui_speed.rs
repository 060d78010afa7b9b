//! Measures the vendor table's one-off decode and the lookup speed:
//! `cargo run --release -p yagura-model --example oui_speed`.

use std::hint::black_box;
use std::time::Instant;

use yagura_core::MacAddr;
use yagura_model::oui;

fn main() {
    let t = Instant::now();
    let raw = zstd::decode_all(&include_bytes!("../data/oui.tsv.zst")[..]).unwrap();
    println!("zstd alone: {:?} ({} bytes)", t.elapsed(), raw.len());
    let t = Instant::now();
    let first = oui::lookup(MacAddr([0x00, 0x0e, 0x8c, 1, 2, 3]));
    let decode = t.elapsed();
    println!("first lookup (decodes the table): {decode:?} -> {first:?}");
    println!("blocks (MA-L, MA-M, MA-S, IAB): {:?}", oui::table_len());

    // Pseudo-random universally administered unicast MACs: most miss the 36- and 28-bit
    // tables and hit or miss the 24-bit one, the common case.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let macs: Vec<MacAddr> = (0..1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_be_bytes();
            MacAddr([b[2] & 0xfc, b[3], b[4], b[5], b[6], b[7]])
        })
        .collect();
    let t = Instant::now();
    let mut found = 0usize;
    for m in &macs {
        found += usize::from(black_box(oui::lookup(*m)).is_some());
    }
    let el = t.elapsed();
    println!(
        "{} lookups in {el:?}: {:.0} ns each, {found} found",
        macs.len(),
        el.as_nanos() as f64 / macs.len() as f64
    );
}
