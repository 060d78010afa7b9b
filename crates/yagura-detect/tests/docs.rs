//! docs/detection.md lists every alert kind as the catalogue defines it.

use yagura_detect::{AlertKind, Lang};

fn catalogue_rows() -> Vec<Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/detection.md");
    let doc = std::fs::read_to_string(path).expect("docs/detection.md");
    let table = doc
        .split("## The catalogue")
        .nth(1)
        .expect("a `## The catalogue` section");
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn the_docs_table_matches_the_catalogue() {
    let rows = catalogue_rows();
    for &kind in AlertKind::ALL {
        let id = format!("`{}`", kind.id());
        let row = rows
            .iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("{kind} is missing from docs/detection.md"));
        let want = [
            id.clone(),
            kind.engine().id().to_owned(),
            kind.severity().id().to_owned(),
            kind.title(Lang::En).to_owned(),
            kind.title(Lang::Ja).to_owned(),
        ];
        assert_eq!(row[..], want[..], "{kind}");
    }
    // And nothing else: a kind removed from the code goes from the docs too.
    assert_eq!(rows.len(), AlertKind::ALL.len());
}
