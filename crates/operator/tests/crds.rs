//! `deploy/crds/` holds exactly what the code generates; after changing the
//! spec types run `TRIBUTARY_BLESS=1 cargo test -p operator --test crds`.

use std::path::PathBuf;

#[test]
fn checked_in_crds_match_the_rust_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let bless = std::env::var_os("TRIBUTARY_BLESS").is_some();
    let files = operator::crd::definition_files();
    assert_eq!(files.len(), 2);
    for (name, yaml) in files {
        let path = dir.join(&name);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &yaml).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == yaml,
            "{} differs from the generated CRD; regenerate with TRIBUTARY_BLESS=1 cargo test -p operator --test crds",
            path.display()
        );
    }
    let listed: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    assert_eq!(
        listed.len(),
        2,
        "only the generated YAML files in {}: {listed:?}",
        dir.display()
    );
}
