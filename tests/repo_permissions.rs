//! A local repository written by wal-push and backup-push under umask 022 (cron, a login shell) is private: objects 0600, directories 0700, its root included.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::site::assert_ok;
use support::*;

/// Every directory (with `dir` itself) and file under `dir` with its mode.
fn modes(dir: &Path, out: &mut Vec<(String, bool, u32)>) {
    let meta = std::fs::symlink_metadata(dir).unwrap();
    out.push((
        dir.display().to_string(),
        true,
        meta.permissions().mode() & 0o7777,
    ));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            modes(&path, out);
        } else {
            out.push((
                path.display().to_string(),
                false,
                meta.permissions().mode() & 0o7777,
            ));
        }
    }
}

#[test]
fn wal_push_and_backup_push_under_umask_022_write_a_private_repository() {
    let Some(bin) = pg_bin_or_skip("private_repository") else {
        return;
    };
    let scratch = Scratch::new();
    let walden = scratch.walden_copy();
    // Not there yet: walden creates the root and its parent.
    let top = scratch.path().join("backups");
    let repo = top.join("repo");
    // PostgreSQL runs archive_command under its own umask 077; cron would not.
    let primary = Cluster::primary(
        &bin,
        &scratch,
        format!(
            "umask 022; {} wal-push --repo {} %p",
            walden.display(),
            repo.display()
        ),
        &[],
    );
    primary.sql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS id");
    let segment = primary.switch_wal();
    primary.wait_archived(&segment);

    let backup = format!(
        "umask 022; exec {} backup-push --repo {} --pgdata {} --pg-host {} --pg-user postgres --checkpoint fast",
        walden.display(),
        repo.display(),
        primary.data.display(),
        primary.socket_dir.display()
    );
    let out = scratch
        .run_as
        .command("sh")
        .args(["-c", &backup])
        .current_dir(scratch.path())
        .output()
        .unwrap();
    assert_ok(&out, "backup-push");

    let mut seen = Vec::new();
    modes(&top, &mut seen);
    let files = seen.iter().filter(|(_, dir, _)| !dir).count();
    assert!(
        files >= 4,
        "walden.json, WAL, backup parts and manifest: {seen:?}"
    );
    for (path, is_dir, mode) in &seen {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{path} is {mode:o}, want {want:o}");
    }
}
