//! Measures the protocol vendor id table's one-off decode and the lookup speed:
//! `cargo run --release -p yagura-model --example vendor_ids_speed`.

use std::hint::black_box;
use std::time::Instant;

use yagura_model::vendor_ids::{self, Registry};

fn main() {
    let t = Instant::now();
    let first = vendor_ids::bacnet(7);
    println!(
        "first lookup (decodes the table): {:?} -> {first:?}",
        t.elapsed()
    );
    for r in Registry::ALL {
        println!("{}: {} ids", r.as_str(), vendor_ids::table_len(r));
    }
    let n = 1_000_000u32;
    let t = Instant::now();
    let mut found = 0usize;
    for i in 0..n {
        // Ids 0..2047: a mix of assigned and unassigned BACnet ids.
        let id = (i.wrapping_mul(2_654_435_761) >> 21) as u16;
        found += usize::from(black_box(vendor_ids::bacnet(black_box(id))).is_some());
    }
    let el = t.elapsed();
    println!(
        "{n} lookups in {el:?}: {:.1} ns each, {found} found",
        el.as_nanos() as f64 / f64::from(n)
    );
}
