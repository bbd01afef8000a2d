//! Keeping a repository healthy with real PostgreSQL 15: prune by count and by age across two timelines, verify and status finding gaps and corruption, drills that restore each kept backup, and a prune racing the archiver and a backup.

mod support;

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use support::site::*;
use support::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn backup_names(site: &Site) -> Vec<String> {
    let out = site.walden(&["backup-list", "--json"]);
    assert_ok(&out, "backup-list");
    json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

/// A check query that fails, naming what it found, unless `t` holds
/// exactly these batches (a cast, not 1/0: PostgreSQL folds constants at
/// plan time, whatever the CASE).
fn expect_batches(batches: &str) -> String {
    format!(
        "SELECT CASE WHEN found = '{batches}' THEN 1 ELSE ('batches found: ' || coalesce(found, 'none'))::int END FROM (SELECT string_agg(batch::text, ',' ORDER BY batch) AS found FROM (SELECT DISTINCT batch FROM t) b) f"
    )
}

fn drill(site: &Site, backup: &str, check: &str) -> Output {
    let work = site.scratch.pg_dir("drills");
    let work = work.display().to_string();
    site.walden(&[
        "drill",
        backup,
        "--check-sql",
        check,
        "--work-dir",
        &work,
        "--pg-bin",
        &site.bin.dir.display().to_string(),
        "--timeout",
        "120s",
    ])
}

/// Backups A and B on timeline 1, then a point-in-time restore promoted to
/// timeline 2 with backup C taken on it; returns the branch cluster (stopped).
fn two_timelines(site: &Site) -> [String; 3] {
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup A");
    site.batch(2);
    assert_ok(&site.backup(&[]), "backup B");
    let before3 = site.primary.sql("SELECT clock_timestamp()");
    std::thread::sleep(Duration::from_millis(300));
    site.batch(3);
    site.archive_everything();
    site.primary.stop().unwrap();

    let (branch, out) = site.restore(
        "branch",
        &[
            "latest",
            "--target-time",
            &before3,
            "--target-action",
            "promote",
            "--archive-mode",
            "preserve",
        ],
    );
    assert_ok(&out, "restore to the branch point");
    branch.start().unwrap();
    branch
        .wait_until_promoted(Duration::from_secs(120))
        .unwrap();
    assert_eq!(batches(&branch), "1,2");
    site.batch_on(&branch, 5);
    assert_ok(
        &site.backup_cluster(&site.repo, &branch, &[]),
        "backup C on timeline 2",
    );
    site.batch_on(&branch, 6);
    let segment = branch.switch_wal();
    branch.wait_archived(&segment);
    branch.stop().unwrap();

    let names = backup_names(site);
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names[2].starts_with("base_00000002"), "{names:?}");
    [names[0].clone(), names[1].clone(), names[2].clone()]
}

fn wal_keys(site: &Site, timeline: &str) -> BTreeSet<String> {
    site.repo
        .keys(&format!("wal/{timeline}"))
        .into_iter()
        .collect()
}

#[test]
fn prune_by_count_then_by_age_keeps_every_kept_backup_restorable() {
    prune_by_count_then_by_age(RepoKind::Local);
}

#[test]
fn prune_by_count_then_by_age_keeps_every_kept_backup_restorable_s3() {
    prune_by_count_then_by_age(RepoKind::S3);
}

#[test]
fn prune_by_count_then_by_age_keeps_every_kept_backup_restorable_gcs() {
    prune_by_count_then_by_age(RepoKind::Gcs);
}

fn prune_by_count_then_by_age(kind: RepoKind) {
    let Some(site) = Site::with(kind, &format!("prune_{kind:?}")) else {
        return;
    };
    let [a, b, c] = two_timelines(&site);
    let everything = site.repo.keys("");

    // A dry run deletes nothing and says what it would do, and why.
    let out = site.walden(&["prune", "--retain-full", "2", "--json"]);
    assert_ok(&out, "prune dry run");
    let plan = json(&out);
    assert_eq!(plan["delete_backups"], serde_json::json!([a.clone()]));
    let kept: Vec<bool> = plan["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["keep"].as_bool().unwrap())
        .collect();
    assert_eq!(kept, [false, true, true]);
    assert!(!plan["delete_wal"].as_array().unwrap().is_empty(), "{plan}");
    assert_eq!(site.repo.keys(""), everything, "a dry run deletes nothing");
    let out = site.walden(&["prune", "--retain-full", "2"]);
    assert_ok(&out, "prune dry run, text");
    assert!(stdout(&out).contains("--apply"), "{}", stdout(&out));

    // By count: A goes, with the timeline-1 WAL only it needed.
    let t1_before = wal_keys(&site, "00000001");
    let out = site.walden(&["prune", "--retain-full", "2", "--apply"]);
    assert_ok(&out, "prune --retain-full 2 --apply");
    assert_eq!(backup_names(&site), [b.clone(), c.clone()]);
    let t1_after = wal_keys(&site, "00000001");
    assert!(t1_after.len() < t1_before.len(), "old WAL deleted");
    let b_start_segno = u64::from_str_radix(&b[13..], 16).unwrap() >> 24;
    let segno = |key: &str| {
        u64::from_str_radix(&key[8..16], 16).unwrap() * 0x100
            + u64::from_str_radix(&key[16..24], 16).unwrap()
    };
    assert!(
        t1_after
            .iter()
            .filter(|k| !k.ends_with(".history"))
            .all(|k| segno(k) >= b_start_segno),
        "only WAL before B's start was deleted: {t1_after:?}"
    );
    assert!(
        t1_before
            .iter()
            .filter(|k| segno(k) >= b_start_segno)
            .all(|k| t1_after.contains(k)),
        "nothing from B's start on was deleted: {t1_before:?} → {t1_after:?}"
    );
    assert_ok(&site.walden(&["verify", "--wal"]), "verify after prune");
    // B replays timeline 1 and follows timeline 2 to its end; C is on timeline 2.
    assert_ok(&drill(&site, &b, &expect_batches("1,2,5,6")), "drill of B");
    assert_ok(&drill(&site, &c, &expect_batches("1,2,5,6")), "drill of C");

    // By age: every backup is older than 0 days, but the newest is never
    // deleted; timeline 1's WAL is then unreachable and goes too.
    let out = site.walden(&[
        "prune",
        "--retain-days",
        "0",
        "--incomplete-grace",
        "0s",
        "--apply",
    ]);
    assert_ok(&out, "prune --retain-days 0 --apply");
    assert_eq!(backup_names(&site), std::slice::from_ref(&c));
    let t1_left: Vec<String> = wal_keys(&site, "00000001").into_iter().collect();
    assert!(t1_left.is_empty(), "timeline 1 WAL left: {t1_left:?}");
    assert!(
        wal_keys(&site, "00000002").contains("00000002.history.zst"),
        "history files are kept"
    );
    assert_ok(&site.walden(&["verify"]), "verify after the second prune");
    assert_ok(
        &drill(&site, "latest", &expect_batches("1,2,5,6")),
        "drill of C after pruning by age",
    );
    let out = site.walden(&["status", "--max-drill-age", "1h"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));

    if kind == RepoKind::Local {
        prune_a_stale_incomplete_backup(&site, &c);
    }

    // A prune with nothing left to do deletes nothing.
    let all = site.repo.keys("");
    let out = site.walden(&["prune", "--retain-full", "1", "--apply"]);
    assert_ok(&out, "idempotent prune");
    assert_eq!(site.repo.keys(""), all);
}

/// An interrupted backup is kept while it may still be running, and deleted
/// once it has been silent for longer than the grace period.
fn prune_a_stale_incomplete_backup(site: &Site, newest: &str) {
    let stale = "base_00000002000000000F000028";
    let started = site
        .repo
        .local_dir()
        .join(format!("backups/{stale}/started.json"));
    site.scratch
        .run_as
        .make_dir(started.parent().unwrap())
        .unwrap();
    std::fs::write(&started, "{}").unwrap();
    let out = site.walden(&["prune", "--retain-full", "1", "--apply"]);
    assert_ok(&out, "prune with a young incomplete backup");
    assert!(started.exists(), "a young incomplete backup may be running");
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86400);
    std::fs::File::options()
        .write(true)
        .open(&started)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let out = site.walden(&["prune", "--retain-full", "1", "--json"]);
    assert_ok(&out, "prune plan with a stale incomplete backup");
    assert_eq!(json(&out)["delete_backups"], serde_json::json!([stale]));
    assert_ok(
        &site.walden(&["prune", "--retain-full", "1", "--apply"]),
        "prune of a stale incomplete backup",
    );
    assert!(!started.exists(), "the interrupted backup is gone");
    assert_eq!(backup_names(site), [newest]);
}

#[test]
fn prune_without_a_policy_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = walden()
        .args(["prune", "--repo"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--retain-full"), "{}", stderr(&out));
    let out = walden()
        .args(["prune", "--retain-full", "0", "--repo"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn verify_and_status_find_a_gap_and_a_corrupt_part() {
    verify_and_status(RepoKind::Local);
}

#[test]
fn verify_and_status_find_a_gap_and_a_corrupt_part_s3() {
    verify_and_status(RepoKind::S3);
}

#[test]
fn verify_and_status_find_a_gap_and_a_corrupt_part_gcs() {
    verify_and_status(RepoKind::Gcs);
}

fn verify_and_status(kind: RepoKind) {
    let Some(site) = Site::with(kind, &format!("verify_status_{kind:?}")) else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    for n in 2..=4 {
        site.batch(n);
        site.archive_everything();
    }
    let metrics = site.scratch.path().join("walden.prom");
    let metrics_arg = metrics.display().to_string();

    let out = site.walden(&["verify", "--wal", "--json"]);
    assert_ok(&out, "verify of a healthy repository");
    let report = json(&out);
    assert_eq!(report["ok"], true);
    assert!(report["backups"][0]["bytes_checked"].as_u64().unwrap() > 1_000_000);
    assert!(report["wal_checked"].as_u64().unwrap() >= 4);

    let out = site.walden(&[
        "status",
        "--max-wal-age",
        "1h",
        "--prometheus",
        &metrics_arg,
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("WALDEN OK"), "{}", stdout(&out));
    let scraped = scrape(&std::fs::read_to_string(&metrics).unwrap());
    assert_eq!(scraped["walden_backup_count"], 1.0);
    assert_eq!(scraped["walden_status"], 0.0);
    assert_eq!(scraped["walden_wal_gaps"], 0.0);
    assert!(
        scraped["walden_last_drill_success"].is_nan(),
        "never drilled: NaN, so that `== 0` means a failed drill"
    );
    assert!(scraped["walden_repo_bytes"] > 1_000_000.0);
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - scraped["walden_last_backup_timestamp_seconds"]).abs() < 600.0);
    assert!((now - scraped["walden_last_wal_archived_timestamp_seconds"]).abs() < 600.0);

    // Thresholds: a warning, then critical (Nagios 1 and 2), unknown for nonsense.
    std::thread::sleep(Duration::from_millis(1100));
    let out = site.walden(&["status", "--max-backup-age", "1s,1h"]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).starts_with("WALDEN WARNING"),
        "{}",
        stdout(&out)
    );
    let out = site.walden(&["status", "--max-backup-age", "0s,1s", "--json"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(json(&out)["status"], "CRITICAL");
    let out = site.walden(&["status", "--max-backup-age", "soon"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    // A segment after the backup goes missing: verify names it, status is critical.
    let segments: Vec<String> = site
        .repo
        .keys("wal/00000001")
        .into_iter()
        .filter(|k| !k.contains(".backup") && !k.contains(".history"))
        .collect();
    let victim = segments[segments.len() - 2].clone();
    site.repo.delete(&format!("wal/00000001/{victim}"));
    let out = site.walden(&["verify", "--quick"]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let segment_name = &victim[..24];
    assert!(
        stdout(&out).contains("WAL gap") && stdout(&out).contains(segment_name),
        "{}",
        stdout(&out)
    );
    let out = site.walden(&["status", "--prometheus", &metrics_arg]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(segment_name), "{}", stdout(&out));
    let scraped = scrape(&std::fs::read_to_string(&metrics).unwrap());
    assert_eq!(scraped["walden_wal_gaps"], 1.0);
    assert_eq!(scraped["walden_status"], 2.0);

    // A part is corrupted in place (same size): only reading it back finds it.
    if kind == RepoKind::Local {
        let backup = &backup_names(&site)[0];
        let part = site
            .repo
            .keys(&format!("backups/{backup}/data"))
            .into_iter()
            .next()
            .unwrap();
        let key = format!("backups/{backup}/data/{part}");
        let path = site.repo.local_dir().join(&key);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let out = site.walden(&["verify", backup, "--json"]);
        assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
        let report = json(&out);
        let problems = report["problems"].as_array().unwrap();
        assert!(
            problems.iter().any(|p| p["object"] == key.as_str()
                && p["problem"].as_str().unwrap().contains("corrupt")),
            "{report}"
        );

        // A damaged manifest is reported by verify, and stops prune cold:
        // without it, prune cannot know which WAL that backup needs.
        let bad = "backups/base_0000000100000000FF000028/manifest.json";
        let path = site.repo.local_dir().join(bad);
        site.scratch
            .run_as
            .make_dir(path.parent().unwrap())
            .unwrap();
        std::fs::write(&path, "{\"format\": 1, \"name\": ").unwrap();
        let out = site.walden(&["verify", "--quick"]);
        assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains(bad), "{}", stdout(&out));
        let before = site.repo.keys("");
        let out = site.walden(&["prune", "--retain-full", "1", "--apply"]);
        assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
        assert!(
            stderr(&out).contains("repair or remove"),
            "{}",
            stderr(&out)
        );
        assert_eq!(site.repo.keys(""), before, "prune deleted nothing");
    }
}

/// Metric name → value of each sample, parsed by a Prometheus text parser.
fn scrape(text: &str) -> std::collections::HashMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("a valid textfile");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("unexpected {other:?}"),
            };
            (s.metric, value)
        })
        .collect()
}

#[test]
fn a_failing_drill_is_recorded_and_makes_status_critical() {
    let Some(site) = Site::new("failing_drill") else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    site.batch(2);
    site.archive_everything();

    let out = drill(&site, "latest", "SELECT * FROM no_such_table");
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("no_such_table"), "{}", stderr(&out));
    let out = site.walden(&["status"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("drill"), "{}", stdout(&out));
    let out = site.walden(&[
        "drill",
        "--check-user",
        "nobody_here",
        "--work-dir",
        &site.scratch.pg_dir("drills").display().to_string(),
        "--pg-bin",
        &site.bin.dir.display().to_string(),
    ]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("nobody_here"), "{}", stderr(&out));

    let out = site.walden(&[
        "drill",
        "--json",
        "--keep-failed",
        "--check-sql",
        &expect_batches("1,2"),
        "--work-dir",
        &site.scratch.pg_dir("drills").display().to_string(),
        "--pg-bin",
        &site.bin.dir.display().to_string(),
    ]);
    if !out.status.success() {
        for entry in std::fs::read_dir(site.scratch.path().join("drills")).unwrap() {
            let log = entry.unwrap().path().join("server.log");
            eprintln!("{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
    }
    assert_ok(&out, "drill");
    let record = json(&out);
    assert_eq!(record["success"], true);
    assert!(record["rto_seconds"].as_f64().unwrap() > 0.0);
    assert!(record["rpo_seconds"].as_f64().unwrap() >= 0.0);
    assert!(record["bytes_restored"].as_u64().unwrap() > 1_000_000);
    assert_eq!(site.repo.keys("drills").len(), 3);
    let leftovers = std::fs::read_dir(site.scratch.path().join("drills"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "drills remove their directory");

    let metrics = site.scratch.path().join("walden.prom");
    let out = site.walden(&["status", "--prometheus", &metrics.display().to_string()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let scraped = scrape(&std::fs::read_to_string(&metrics).unwrap());
    assert_eq!(scraped["walden_last_drill_success"], 1.0);
    assert!(scraped["walden_last_drill_rto_seconds"] > 0.0);

    // As root (as cron often runs it): the server runs as postgres on files
    // given to it, and pg_amcheck checks every heap and index.
    let work = site.scratch.pg_dir("root-drills");
    let out = std::process::Command::new(&site.walden)
        .arg("drill")
        .args(&site.repo.args)
        .envs(site.repo.env.iter().cloned())
        .args([
            "--amcheck",
            "--check-sql",
            &expect_batches("1,2"),
            "--work-dir",
        ])
        .arg(&work)
        .arg("--pg-bin")
        .arg(&site.bin.dir)
        .output()
        .unwrap();
    assert_ok(&out, "drill as root with pg_amcheck");
    assert!(stdout(&out).contains("drill: OK"), "{}", stdout(&out));
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
}

#[test]
fn an_interrupted_drill_leaves_no_server_and_no_directory() {
    let Some(site) = Site::new("interrupted_drill") else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    site.archive_everything();
    let work = site.scratch.pg_dir("drills");
    let mut cmd = site.scratch.run_as.command(&site.walden);
    cmd.arg("drill")
        .args(&site.repo.args)
        .args(["--check-sql", "SELECT pg_sleep(60)", "--work-dir"])
        .arg(&work)
        .arg("--pg-bin")
        .arg(&site.bin.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait until the drill's server runs its (long) check.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let postmaster = loop {
        let pid = std::fs::read_dir(&work).unwrap().flatten().find_map(|d| {
            let text = std::fs::read_to_string(d.path().join("data/postmaster.pid")).ok()?;
            text.lines().next()?.trim().parse::<i32>().ok()
        });
        if let Some(pid) = pid {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the drill never started its server"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: signalling the drill we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGTERM"), "{}", stderr(&out));
    // SAFETY: signal 0 only probes whether the postmaster still exists.
    assert_ne!(
        unsafe { libc::kill(postmaster, 0) },
        0,
        "the drill's server is gone"
    );
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "its directory is gone"
    );
    assert!(
        site.repo
            .keys("drills")
            .iter()
            .any(|k| k.ends_with("-failed.json")),
        "the interrupted drill is recorded as failed"
    );
}

#[test]
fn prune_racing_the_archiver_and_a_backup_deletes_nothing_new() {
    let Some(site) = Site::new("prune_race") else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "first backup");
    site.batch(2);
    assert_ok(&site.backup(&[]), "second backup");
    site.archive_everything();
    let before = backup_names(&site);

    // A slow backup and a stream of archived segments while prune runs over and over.
    let slow = site.spawn_slow_backup("20MB/s", std::process::Stdio::piped());
    let mut pruned = 0;
    for n in 3..=8 {
        site.batch(n);
        site.primary.switch_wal();
        let out = site.walden(&["prune", "--retain-full", "1", "--apply"]);
        assert_ok(&out, "prune during the race");
        pruned += 1;
    }
    let status = slow.wait_with_output().unwrap();
    assert!(
        status.status.success(),
        "the racing backup completed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    site.archive_everything();
    assert_eq!(pruned, 6);
    // On a loaded machine the racing backup may finish before the last
    // prune, which then rightly keeps only it: what must hold is that the
    // backup prune raced with was never touched.
    let names = backup_names(&site);
    assert!(
        names.iter().any(|name| !before.contains(name)),
        "the racing backup survived: {names:?} (before it: {before:?})"
    );
    assert_ok(&site.walden(&["verify"]), "verify after the race");
    assert_ok(
        &drill(&site, "latest", &expect_batches("1,2,3,4,5,6,7,8")),
        "drill of the racing backup",
    );
}
