//! `-q` for cron and the like: the commands a scheduler runs print nothing on success, and still print what went wrong; with real PostgreSQL 15.

mod support;

use std::process::Output;

use support::site::*;
use support::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Success, and not one byte on stdout or stderr: cron mails nothing.
fn assert_silent_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        stderr(out),
        stdout(out)
    );
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{what} -q must print nothing on success; stdout: {:?} stderr: {:?}",
        stdout(out),
        stderr(out)
    );
}

#[test]
fn quiet_commands_print_nothing_on_success_and_still_report_failures() {
    let Some(site) = Site::new("quiet_commands_print_nothing_on_success") else {
        return;
    };
    site.batch(1);
    let out = site.backup(&["-q"]);
    assert_silent_success(&out, "backup-push");
    site.batch(2);
    assert_silent_success(&site.backup(&["-q"]), "second backup-push");
    site.archive_everything();

    // Without -q the same command says what it did (the summary is not lost).
    assert_ok(&site.backup(&[]), "backup-push");
    let out = site.walden(&["verify", "--quick"]);
    assert_ok(&out, "verify");
    assert!(stdout(&out).contains("no problems"), "{}", stdout(&out));

    assert_silent_success(&site.walden(&["-q", "verify"]), "verify");
    assert_silent_success(
        &site.walden(&["prune", "-q", "--retain-full", "2", "--apply"]),
        "prune --apply",
    );
    assert_silent_success(
        &site.walden(&["status", "-q", "--max-backup-age", "1h"]),
        "status",
    );
    let work = site.scratch.pg_dir("drills").display().to_string();
    let pg_bin = site.bin.dir.display().to_string();
    assert_silent_success(
        &site.walden(&[
            "drill",
            "-q",
            "--work-dir",
            &work,
            "--pg-bin",
            &pg_bin,
            "--timeout",
            "120s",
        ]),
        "drill",
    );
    let restored = site.scratch.pg_dir("restored").display().to_string();
    assert_silent_success(
        &site.walden(&["restore", "-q", "latest", "--pgdata", &restored]),
        "restore",
    );

    // Failures still speak: an error on stderr and a failing exit code.
    let out = site.walden(&[
        "backup-push",
        "-q",
        "--pgdata",
        "/nonexistent/pgdata",
        "--pg-host",
        &site.primary.socket_dir.display().to_string(),
        "--pg-user",
        "postgres",
    ]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("ERROR"), "{}", stderr(&out));

    // A status that is not OK prints its verdict even with -q: that is the
    // message cron should mail.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = site.walden(&["status", "-q", "--max-backup-age", "1s,2s"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("WALDEN CRITICAL"),
        "{}",
        stdout(&out)
    );
}
