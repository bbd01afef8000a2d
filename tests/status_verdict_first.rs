//! status prints its verdict first, always: a metrics file that cannot be written is reported after it and never hides it.

mod support;

use std::process::Output;

use support::fake_pgdata::FakePgdata;
use support::site::*;
use support::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const UNWRITABLE: &str = "/nonexistent-dir/walden.prom";

#[test]
fn a_critical_verdict_is_printed_before_the_metrics_error() {
    // A repository with one archived segment and no backup: critical.
    let fake = FakePgdata::with_one_segment();
    let repo = fake.repo.as_path();

    let out = run(walden()
        .args(["status", "--prometheus", UNWRITABLE, "--repo"])
        .arg(repo));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("WALDEN CRITICAL"),
        "verdict first: {}",
        stdout(&out)
    );
    assert!(stderr(&out).contains(UNWRITABLE), "{}", stderr(&out));

    // Same for a repository that cannot be read at all.
    let out = run(walden()
        .args(["status", "--prometheus", UNWRITABLE, "--repo"])
        .arg(fake.scratch.path().join("nothing-here")));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("WALDEN CRITICAL"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains(UNWRITABLE), "{}", stderr(&out));
}

#[test]
fn an_ok_verdict_is_printed_and_the_metrics_error_makes_it_unknown() {
    let Some(site) = Site::new("an_ok_verdict_is_printed_and_the_metrics_error") else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    let out = site.walden(&["status", "--prometheus", UNWRITABLE]);
    assert!(stdout(&out).starts_with("WALDEN OK"), "{}", stdout(&out));
    assert!(stderr(&out).contains(UNWRITABLE), "{}", stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(3),
        "UNKNOWN: the check could not do its whole job: {}",
        stderr(&out)
    );
}
