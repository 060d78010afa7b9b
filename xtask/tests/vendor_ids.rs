//! The committed protocol vendor id table is exactly what the generator makes from the
//! committed input lists: it is provably generated, not hand-edited.

use xtask::vendor_ids::{DEFAULT_BACNET, DEFAULT_OUT, Input, generate};
use yagura_model::vendor_ids::Registry;

#[test]
fn committed_table_is_generated_from_the_committed_lists() {
    let fresh = generate(&Input::defaults()).unwrap();
    let committed = std::fs::read(xtask::workspace_root().join(DEFAULT_OUT)).unwrap();
    let text = |b: &[u8]| String::from_utf8(zstd::decode_all(b).unwrap()).unwrap();
    assert!(
        text(&fresh) == text(&committed),
        "the committed table's content differs from a fresh `cargo xtask vendor-ids`"
    );
    assert!(
        fresh == committed,
        "same content, different compressed bytes (zstd version change?): rerun `cargo xtask vendor-ids`"
    );
}

#[test]
fn committed_bacnet_input_is_the_crate_file_recorded_in_sources() {
    // sha256 of bacnet-rs 0.3.2's src/vendor.rs, as data/SOURCES.md records it.
    let raw = std::fs::read(xtask::workspace_root().join(DEFAULT_BACNET)).unwrap();
    let text = String::from_utf8(zstd::decode_all(&raw[..]).unwrap()).unwrap();
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("//! BACnet Vendor ID Lookup Module"),
        "{header}"
    );
    let table =
        String::from_utf8(zstd::decode_all(&generate(&Input::defaults()).unwrap()[..]).unwrap())
            .unwrap();
    assert!(
        table.contains("sha256=f77a96d330828593bc3ae81912a29f79803c8c3e5128328bb0ee0e3a86003638"),
        "{}",
        table.lines().take(8).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn generation_does_not_depend_on_input_order() {
    let tmp = tempfile::tempdir().unwrap();
    let cip = tmp.path().join("cip.tsv");
    std::fs::write(&cip, "1\tRockwell Automation/Allen-Bradley\n").unwrap();
    let mut inputs = Input::defaults();
    inputs.push(Input {
        registry: Registry::Cip,
        path: cip,
    });
    let a = generate(&inputs).unwrap();
    inputs.reverse();
    assert!(a == generate(&inputs).unwrap());
}
