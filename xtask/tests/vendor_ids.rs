//! The committed protocol vendor id table is exactly what the generator makes from the
//! committed input lists: it is provably generated, not hand-edited.

use xtask::vendor_ids::{DEFAULT_BACNET, DEFAULT_OUT, Input, check_sources, generate};
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
    inputs.retain(|i| i.registry != Registry::Cip);
    inputs.push(Input {
        registry: Registry::Cip,
        path: cip,
    });
    let a = generate(&inputs).unwrap();
    inputs.reverse();
    assert!(a == generate(&inputs).unwrap());
}

#[test]
fn every_cip_and_profinet_row_names_the_device_files_it_came_from() {
    // cip_vendors.tsv and profinet_vendors.tsv hold only ids read from vendors' own EDS and
    // GSDML files; each row has a source (repository, path, commit) stating that id and name.
    for i in Input::defaults()
        .into_iter()
        .filter(|i| i.registry != Registry::Bacnet)
    {
        let n = check_sources(&i).unwrap_or_else(|e| panic!("{}: {e:#}", i.path.display()));
        assert!(n >= 4, "{}: {n} sources", i.sources_path().display());
    }
}

#[test]
fn a_row_without_a_source_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = Input {
        registry: Registry::Cip,
        path: tmp.path().join("cip.tsv"),
    };
    std::fs::write(&input.path, "1\tRockwell Automation\n283\tHilscher\n").unwrap();
    let header = "id\tname\tproduct\trepository\tpath\tcommit\n";
    let row =
        |id: &str, name: &str| format!("{id}\t{name}\tp\towner/repo\ta.eds\t{}\n", "0".repeat(40));
    let sources = input.sources_path();
    assert_eq!(sources, tmp.path().join("cip.sources.tsv"));
    std::fs::write(
        &sources,
        format!("{header}{}", row("1", "Rockwell Automation")),
    )
    .unwrap();
    assert!(check_sources(&input).is_err(), "283 has no source");
    let both = format!(
        "{header}{}{}{}",
        row("1", "Rockwell Automation"),
        row("1", "Allen-Bradley"),
        row("283", "Hilscher")
    );
    std::fs::write(&sources, &both).unwrap();
    assert_eq!(check_sources(&input).unwrap(), 3);
    std::fs::write(&sources, format!("{both}{}", row("7", "Other"))).unwrap();
    assert!(check_sources(&input).is_err(), "7 is not in the input");
    std::fs::write(&sources, format!("{header}{}", row("283", "Hilscher GmbH"))).unwrap();
    assert!(
        check_sources(&input).is_err(),
        "no source spells 283 as the input does"
    );
}
