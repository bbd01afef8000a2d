//! A restored clone must never take over production's repository: a one-off restore does not archive, and when a clone archives anyway (two clusters writing into one repository), restore, prune, status, verify and drill notice instead of following the clone. Real PostgreSQL 15.

mod support;

use std::time::Duration;

use support::site::*;
use support::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Complete backups as (name, timeline), in backup-list's order.
fn backups(site: &Site) -> Vec<(String, u64)> {
    let out = site.walden(&["backup-list", "--json"]);
    assert_ok(&out, "backup-list");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["complete"] == true)
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["timeline"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_restored_clone_never_takes_over_the_repository() {
    let Some(site) = Site::new("clone_takeover") else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "production backup A");
    site.batch(2);
    site.archive_everything();
    let immediate = ["latest", "--target-immediate", "--target-action", "promote"];

    // A test restore, as an operator types it: it must not archive.
    let (quiet, out) = site.restore("quiet-clone", &immediate);
    assert_ok(&out, "restore");
    let said = stdout(&out);
    assert!(
        said.contains("archive_mode = off") && said.contains("--archive-mode preserve"),
        "restore says archiving is off and how to keep it: {said}"
    );
    let auto_conf = std::fs::read_to_string(quiet.data.join("postgresql.auto.conf")).unwrap();
    assert!(auto_conf.contains("archive_mode = 'off'"), "{auto_conf}");
    quiet.start().unwrap();
    quiet.wait_until_promoted(Duration::from_secs(120)).unwrap();
    assert_eq!(quiet.sql("SHOW archive_mode"), "off");
    site.batch_on(&quiet, 7);
    quiet.switch_wal();
    quiet.stop().unwrap();
    assert!(
        site.repo.keys("wal/00000002").is_empty(),
        "a default restore archived into production's repository: {:?}",
        site.repo.keys("wal/00000002")
    );

    // A standby keeps archiving on: it must archive once promoted.
    let (standby, out) = site.restore("standby-check", &["latest", "--standby"]);
    assert_ok(&out, "restore --standby");
    let auto_conf = std::fs::read_to_string(standby.data.join("postgresql.auto.conf")).unwrap();
    assert!(!auto_conf.contains("archive_mode = 'off'"), "{auto_conf}");

    // A clone told to keep production's archiving (or restored by an older
    // walden) is promoted to timeline 2, writes, archives and is backed up
    // into the same repository...
    let mut preserve = immediate.to_vec();
    preserve.extend(["--archive-mode", "preserve"]);
    let (clone, out) = site.restore("clone", &preserve);
    assert_ok(&out, "restore --archive-mode preserve");
    assert!(!stdout(&out).contains("archive_mode = off"));
    clone.start().unwrap();
    clone.wait_until_promoted(Duration::from_secs(120)).unwrap();
    assert_eq!(clone.sql("SHOW archive_mode"), "on");
    site.batch_on(&clone, 10);
    let segment = clone.switch_wal();
    clone.wait_archived(&segment);
    assert_ok(
        &site.backup_cluster(&site.repo, &clone, &[]),
        "backup-push on the clone",
    );

    // ...while production keeps writing and backing up on timeline 1.
    site.batch(3);
    site.archive_everything();
    assert_ok(&site.backup(&[]), "production backup B");
    site.batch(4);
    site.archive_everything();
    site.batch_on(&clone, 11);
    let segment = clone.switch_wal();
    clone.wait_archived(&segment);
    clone.stop().unwrap();

    let listed = backups(&site);
    assert_eq!(listed.len(), 3, "{listed:?}");
    let production_b = listed
        .iter()
        .filter(|(_, tli)| *tli == 1)
        .map(|(name, _)| name.clone())
        .max()
        .unwrap();
    let clone_backup = listed
        .iter()
        .find(|(_, tli)| *tli == 2)
        .map(|(name, _)| name.clone())
        .unwrap();

    // status: CRITICAL, naming both timelines and their newest segments.
    let status = site.walden(&["status"]);
    assert_eq!(status.status.code(), Some(2), "{}", stdout(&status));
    let said = stdout(&status);
    assert!(
        said.contains("WALDEN CRITICAL") && said.contains("two clusters are writing"),
        "{said}"
    );
    assert!(
        said.contains("timeline 1 (newest segment 00000001")
            && said.contains("timeline 2 (newest segment 00000002"),
        "{said}"
    );

    // verify reports it.
    let verify = site.walden(&["verify", "--quick"]);
    assert!(!verify.status.success(), "verify: {}", stdout(&verify));
    assert!(
        stdout(&verify).contains("two clusters are writing"),
        "{}",
        stdout(&verify)
    );

    // restore latest refuses to guess, and lists the candidates.
    let (_, out) = site.restore("guess", &["latest"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let said = stderr(&out);
    assert!(
        said.contains("timeline 1: newest segment 00000001")
            && said.contains(&format!("newest backup {production_b}"))
            && said.contains(&format!("newest backup {clone_backup}"))
            && said.contains("--target-timeline"),
        "{said}"
    );

    // drill refuses too: "the end of the archive" is not one place.
    let drill = site.walden(&["drill"]);
    assert_eq!(drill.status.code(), Some(2), "{}", stderr(&drill));

    // prune keeps production's newest backup (and the clone's: its
    // timeline is being written too), and production's WAL.
    let prune = site.walden(&["prune", "--retain-full", "1", "--apply"]);
    assert_ok(&prune, "prune --retain-full 1 --apply");
    let left: Vec<String> = backups(&site).into_iter().map(|(n, _)| n).collect();
    assert!(
        left.contains(&production_b),
        "prune deleted production's newest backup: {left:?}\n{}",
        stdout(&prune)
    );
    assert!(left.contains(&clone_backup), "{left:?}");

    // Naming the timeline, or production's backup, restores production.
    let got = site.restore_and_count("production", &["latest", "--target-timeline", "1"]);
    assert_eq!(got, "1,2,3,4", "production's rows, not the clone's");
    let got = site.restore_and_count("production-by-name", &[production_b.as_str()]);
    assert_eq!(got, "1,2,3,4", "a named backup follows its own timeline");
    let got = site.restore_and_count("the-clone", &["latest", "--target-timeline", "2"]);
    assert_eq!(
        got, "1,10,11",
        "the clone's own line when asked for (it branched at backup A, before batch 2)"
    );
}
