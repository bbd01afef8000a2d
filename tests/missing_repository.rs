//! A mistyped or empty repository is an error for every command that reads one (exit 2 naming the URL and what is missing; status: CRITICAL), never "no backups" and success.

mod support;

use std::process::Output;

use support::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn reading_commands_refuse_a_missing_or_empty_repository() {
    let scratch = Scratch::new();
    let empty = scratch.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mistyped = scratch.path().join("no-such-repo");
    let restore_to = scratch.path().join("restored").display().to_string();
    let commands: [&[&str]; 5] = [
        &["backup-list"],
        &["backup-list", "--json"],
        &["verify"],
        &["prune", "--retain-full", "1"],
        &["drill"],
    ];
    for repo in [&mistyped, &empty] {
        let url = repo.display().to_string();
        let mut all: Vec<Vec<&str>> = commands.iter().map(|c| c.to_vec()).collect();
        all.push(vec!["restore", "latest", "--pgdata", &restore_to]);
        for args in all {
            let out = run(walden().args(&args).arg("--repo").arg(repo));
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?} on {url}: {err}");
            assert!(
                err.contains(&url) && err.contains("walden.json"),
                "{args:?}: the message names the URL and what is missing: {err}"
            );
            assert!(
                !stdout(&out).contains("no backups"),
                "{args:?}: {}",
                stdout(&out)
            );
        }
        // status keeps its Nagios contract: CRITICAL (2), verdict first.
        let out = run(walden().args(["status", "--repo"]).arg(repo));
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stdout(&out).starts_with("WALDEN CRITICAL") && stdout(&out).contains("walden.json"),
            "{}",
            stdout(&out)
        );
    }
    assert!(!mistyped.exists(), "reading must not create the repository");
    assert!(!std::path::Path::new(&restore_to).exists());
}
