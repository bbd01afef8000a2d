//! Chains of incremental backups as backup-list, verify and status show them, on a repository written by hand (no PostgreSQL needed): a full backup, incrementals on it, then a link taken away.

mod support;

use std::path::PathBuf;
use std::process::Output;

use support::hostile::*;
use support::*;
use walden::repo::layout;
use walden::repo::manifest::INCREMENTAL_FORMAT;

/// A crafted repository of complete backups.
struct Repo {
    scratch: Scratch,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            scratch: Scratch::new(),
        };
        // The WAL every crafted backup needs (they all start and stop in
        // segment 2): the listing is what verify and status check.
        let segment = repo
            .path()
            .join(format!("{}000000010000000000000002", layout::wal_dir(1)));
        std::fs::create_dir_all(segment.parent().unwrap()).unwrap();
        std::fs::write(segment, b"a WAL segment, as far as the listing shows").unwrap();
        repo
    }

    fn path(&self) -> PathBuf {
        self.scratch.path().join("repo")
    }

    /// Writes a complete backup named for `start_lsn`, building on `parent`
    /// (a full backup without one); returns its name.
    fn backup(&self, start_lsn: u64, parent: Option<&str>) -> String {
        let backup = CraftedBackup {
            name: layout::backup_name(1, start_lsn),
            ..CraftedBackup::minimal()
        };
        backup.write(&self.path(), SYSID, |m| {
            if let Some(parent) = parent {
                m.format = INCREMENTAL_FORMAT;
                m.parent = Some(parent.to_string());
            }
        });
        backup.name
    }

    fn walden(&self, args: &[&str]) -> Output {
        run(walden().args(args).arg("--repo").arg(self.path()))
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.walden(args);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}\n{}", stdout(&out), stderr(&out)))
    }

    /// Deletes backup `name`'s manifest, or all of it.
    fn remove(&self, name: &str, whole: bool) {
        let path = self.path();
        if whole {
            std::fs::remove_dir_all(path.join(layout::backup_prefix(name))).unwrap();
        } else {
            std::fs::remove_file(path.join(layout::backup_manifest_key(name))).unwrap();
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

/// backup-list --json's entry for `name`.
fn entry<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

/// The last three columns (type, chain, parent) of backup `name`'s line.
fn chain_columns(table: &str, name: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} not in\n{table}"));
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    words[words.len() - 3..].to_vec()
}

#[test]
fn chains_are_listed_verified_and_counted_and_a_missing_link_is_a_problem() {
    let repo = Repo::new();
    let full = repo.backup(0x0200_0028, None);
    let first = repo.backup(0x0300_0028, Some(&full));
    let second = repo.backup(0x0400_0028, Some(&first));
    let other = repo.backup(0x0500_0028, None);

    // backup-list --json: the type, parent and chain of each, beside the
    // fields scripts already read.
    let list = repo.json(&["backup-list", "--json"]);
    for (name, kind, parent, length) in [
        (&full, "full", None, 1),
        (&first, "incremental", Some(&full), 2),
        (&second, "incremental", Some(&first), 3),
        (&other, "full", None, 1),
    ] {
        let b = entry(&list, name);
        assert_eq!(b["type"], kind, "{b}");
        assert_eq!(b["parent"].as_str(), parent.map(String::as_str), "{b}");
        assert_eq!(b["chain_length"], length, "{b}");
        assert!(b["chain_problem"].is_null(), "{b}");
        assert_eq!(b["complete"], true, "{b}");
        assert!(b["stored_bytes"].as_u64().unwrap() > 0, "{b}");
    }
    assert_eq!(entry(&list, &second)["chain_full"], full.as_str());
    assert_eq!(entry(&list, &other)["chain_full"], other.as_str());

    // And the table.
    let out = repo.walden(&["backup-list"]);
    assert_code(&out, 0, "backup-list");
    let table = stdout(&out);
    let header = table.lines().next().unwrap();
    for column in ["type", "chain", "parent"] {
        assert!(header.contains(column), "{column} in {header}");
    }
    assert_eq!(
        chain_columns(&table, &second),
        ["incremental", "3", first.as_str()]
    );
    assert_eq!(chain_columns(&table, &full), ["full", "1", "-"]);
    assert!(!table.contains("PROBLEM"), "{table}");

    // verify: a whole chain is fine, and verifying an incremental backup
    // checks what it builds on too.
    let out = repo.walden(&["verify"]);
    assert_code(&out, 0, "verify of whole chains");
    let out = repo.walden(&["verify", "--json", &second]);
    assert_code(&out, 0, "verify of one incremental");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verified: Vec<&str> = report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(verified, [&second, &first, &full], "{report}");

    // status counts the chains.
    let status = repo.json(&["status", "--json"]);
    assert_eq!(status["status"], "OK", "{status}");
    assert_eq!(status["backup_count"], 4, "{status}");
    assert_eq!(status["full_backup_count"], 2, "{status}");
    assert_eq!(status["incremental_backup_count"], 2, "{status}");
    assert_eq!(status["chain_count"], 1, "{status}");
    assert_eq!(status["broken_chains"], serde_json::json!([]), "{status}");
    let out = repo.walden(&["status"]);
    assert_code(&out, 0, "status");
    assert!(
        stdout(&out).contains("backups:       4 (2 full, 2 incremental in 1 chain)\n"),
        "{}",
        stdout(&out)
    );

    // The middle link loses its manifest: incomplete, and the backup
    // above it cannot be restored. verify says so and fails.
    repo.remove(&first, false);
    let out = repo.walden(&["verify", "--quick"]);
    assert_code(&out, 1, "verify with an incomplete link");
    let expected = format!(
        "PROBLEM {}: backup {second} builds on {first}, which is incomplete (no usable manifest): {second} cannot be restored",
        layout::backup_prefix(&second)
    );
    assert!(stdout(&out).contains(&expected), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("backup {second}: PROBLEMS")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("verify found 1 problem(s)"),
        "{}",
        stderr(&out)
    );

    // Gone altogether: not in the repository.
    repo.remove(&first, true);
    let out = repo.walden(&["verify", "--json"]);
    assert_code(&out, 1, "verify with a missing link");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    let problem = format!(
        "backup {second} builds on {first}, which is not in the repository: {second} cannot be restored"
    );
    assert_eq!(
        report["problems"],
        serde_json::json!([{"object": layout::backup_prefix(&second), "problem": problem}]),
        "{report}"
    );
    // Naming the broken backup reports it the same way.
    let out = repo.walden(&["verify", "--quick", &second]);
    assert_code(&out, 1, "verify of the broken backup");
    assert!(stdout(&out).contains(&problem), "{}", stdout(&out));

    // backup-list still lists it, says the chain is broken and why.
    let list = repo.json(&["backup-list", "--json"]);
    let b = entry(&list, &second);
    assert_eq!(b["type"], "incremental", "{b}");
    assert_eq!(b["parent"], first.as_str(), "{b}");
    assert_eq!(b["chain_length"], 1, "{b}");
    assert!(b["chain_full"].is_null(), "{b}");
    assert_eq!(b["chain_problem"], problem.as_str(), "{b}");
    let out = repo.walden(&["backup-list"]);
    assert_code(&out, 0, "backup-list with a broken chain");
    assert_eq!(
        chain_columns(&stdout(&out), &second),
        ["incremental", "broken", first.as_str()]
    );
    assert!(
        stdout(&out).contains(&format!("PROBLEM: {problem}")),
        "{}",
        stdout(&out)
    );

    // status: a warning, with the break told once.
    let out = repo.walden(&["status", "--json"]);
    assert_code(&out, 1, "status with a broken chain");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["status"], "WARNING", "{status}");
    assert_eq!(
        status["broken_chains"],
        serde_json::json!([problem]),
        "{status}"
    );
    assert_eq!(status["reasons"], serde_json::json!([problem]), "{status}");
    assert_eq!(status["incremental_backup_count"], 1, "{status}");
    let out = repo.walden(&["status"]);
    assert_code(&out, 1, "status with a broken chain");
    assert!(
        stdout(&out).starts_with(&format!("WALDEN WARNING: {problem}")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn parents_that_go_round_in_a_circle_end_and_are_reported() {
    // Manifests written by hand can name each other: a loop, never
    // followed forever.
    let repo = Repo::new();
    let a = layout::backup_name(1, 0x0200_0028);
    let b = layout::backup_name(1, 0x0300_0028);
    repo.backup(0x0200_0028, Some(&b));
    repo.backup(0x0300_0028, Some(&a));

    let out = repo.walden(&["verify", "--quick"]);
    assert_code(&out, 1, "verify of a loop");
    for name in [&a, &b] {
        assert!(
            stdout(&out).contains(&format!(
                "PROBLEM {}: backup {name} builds on",
                layout::backup_prefix(name)
            )),
            "{}",
            stdout(&out)
        );
    }
    assert!(stdout(&out).contains("circle"), "{}", stdout(&out));
    let out = repo.walden(&["verify", "--quick", &a]);
    assert_code(&out, 1, "verify of one backup of a loop");

    let list = repo.json(&["backup-list", "--json"]);
    assert_eq!(entry(&list, &a)["chain_length"], 2, "{list}");
    assert!(entry(&list, &a)["chain_problem"]
        .as_str()
        .unwrap()
        .contains("circle"));
    let status = repo.json(&["status", "--json"]);
    assert_eq!(status["status"], "WARNING", "{status}");
    assert_eq!(status["full_backup_count"], 0, "{status}");
    assert_eq!(status["incremental_backup_count"], 2, "{status}");
}
