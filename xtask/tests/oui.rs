//! The committed vendor table is exactly what the generator makes from the shared registry
//! copies: it is provably generated, not hand-edited.

use std::path::PathBuf;

#[test]
fn committed_table_is_generated_from_the_shared_registry_csvs() {
    let shared = std::env::var_os("YAGURA_OUI_DIR").map_or_else(
        || xtask::workspace_root().join("../shared/oui"),
        PathBuf::from,
    );
    if !shared.is_dir() {
        eprintln!(
            "SKIPPED: {} missing (set YAGURA_OUI_DIR to the IEEE CSVs the table was made from)",
            shared.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("oui.tsv.zst");
    let files = xtask::input_files(&[shared]).unwrap();
    assert_eq!(files.len(), 4, "{files:?}");
    std::fs::write(&out, xtask::generate(&files).unwrap()).unwrap();
    let fresh = std::fs::read(&out).unwrap();
    let committed = std::fs::read(xtask::workspace_root().join(xtask::DEFAULT_OUT)).unwrap();
    let text = |b: &[u8]| zstd::decode_all(b).unwrap();
    assert!(
        text(&fresh) == text(&committed),
        "the committed table's content differs from a fresh `cargo xtask oui`"
    );
    assert!(
        fresh == committed,
        "same content, different compressed bytes (zstd version change?): rerun `cargo xtask oui`"
    );
}

#[test]
fn generation_does_not_depend_on_input_order() {
    let shared = xtask::workspace_root().join("../shared/oui");
    if !shared.is_dir() {
        eprintln!("SKIPPED: {} missing", shared.display());
        return;
    }
    let mut files = xtask::input_files(&[shared]).unwrap();
    let a = xtask::generate(&files).unwrap();
    files.reverse();
    assert!(a == xtask::generate(&files).unwrap());
}
