//! The committed man pages and shell completions match the CLI: regenerate with `scripts/gen-docs.sh`.

use std::path::Path;

use clap_complete::Shell;
use walden::commands::{completions, man};

const FIX: &str = "run `bash scripts/gen-docs.sh` and commit man/ and completions/";

#[test]
fn man_pages_match_the_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = man::pages();
    for (name, page) in &pages {
        let committed = std::fs::read(dir.join(name)).unwrap_or_default();
        assert!(committed == *page, "man/{name} is out of date: {FIX}");
    }
    let committed = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        committed,
        pages.len(),
        "man/ has pages for commands that no longer exist: {FIX}"
    );
}

#[test]
fn completions_match_the_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let name = completions::file_name(shell);
        let committed = std::fs::read(dir.join(name)).unwrap_or_default();
        assert!(
            committed == completions::script(shell),
            "completions/{name} is out of date: {FIX}"
        );
    }
}
