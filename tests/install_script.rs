//! scripts/install.sh: binary, man pages and completions land under a prefix, the installed binary runs, and a second run changes nothing but succeeds.

mod support;

use std::path::Path;
use std::process::Command;

fn install(prefix: &Path, destdir: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .arg("--binary")
        .arg(support::walden_bin());
    match destdir {
        Some(dir) => cmd.env("DESTDIR", dir),
        None => cmd.env_remove("DESTDIR"),
    };
    cmd.output().unwrap()
}

const INSTALLED: [&str; 6] = [
    "bin/walden",
    "share/man/man1/walden.1",
    "share/man/man1/walden-restore.1",
    "share/bash-completion/completions/walden",
    "share/zsh/site-functions/_walden",
    "share/fish/vendor_completions.d/walden.fish",
];

#[test]
fn installs_binary_man_pages_and_completions_under_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("usr/local");
    for round in 1..=2 {
        let out = install(&prefix, None);
        assert!(
            out.status.success(),
            "round {round}: {}",
            support::stderr(&out)
        );
        for file in INSTALLED {
            assert!(prefix.join(file).is_file(), "round {round}: {file} missing");
        }
    }
    let version = Command::new(prefix.join("bin/walden"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("walden "));
    let man_pages = std::fs::read_dir(prefix.join("share/man/man1"))
        .unwrap()
        .count();
    let committed = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("man"))
        .unwrap()
        .count();
    assert_eq!(man_pages, committed, "every committed man page");
    assert!(
        !prefix.join("bin/.walden.new").exists(),
        "no temporary binary left behind"
    );
}

#[test]
fn destdir_stages_a_package_without_touching_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    let prefix = dir.path().join("opt/walden");
    let out = install(&prefix, Some(&stage));
    assert!(out.status.success(), "{}", support::stderr(&out));
    let staged = stage.join(prefix.strip_prefix("/").unwrap());
    for file in INSTALLED {
        assert!(staged.join(file).is_file(), "{file} missing under DESTDIR");
    }
    assert!(!prefix.exists(), "the prefix itself is left alone");
}

#[test]
fn unknown_options_are_usage_errors() {
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh"))
        .arg("--prefx")
        .arg("/tmp/x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(support::stderr(&out).contains("unknown option --prefx"));
}
