//! Base backups and point-in-time restore with real PostgreSQL 15: backup-push, backup-list, restore to every kind of target, timelines, bad input.

mod support;

use std::path::Path;
use std::time::Duration;

use support::fault_proxy::{Fault, FaultProxy};
use support::site::*;
use support::*;

#[test]
fn backup_then_restore_to_every_kind_of_target() {
    restore_to_every_kind_of_target(RepoKind::Local);
}

#[test]
fn backup_then_restore_to_every_kind_of_target_s3() {
    restore_to_every_kind_of_target(RepoKind::S3);
}

#[test]
fn backup_then_restore_to_every_kind_of_target_gcs() {
    restore_to_every_kind_of_target(RepoKind::Gcs);
}

fn restore_to_every_kind_of_target(kind: RepoKind) {
    let Some(site) = Site::with(kind, &format!("restore_to_every_target_{kind:?}")) else {
        return;
    };
    site.batch(1);
    let out = site.backup(&[]);
    assert_ok(&out, "backup-push");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("complete"),
        "summary line"
    );

    let xid2 = site.batch(2);
    let lsn2 = site.primary.sql("SELECT pg_current_wal_lsn()");
    let time2 = site.primary.sql("SELECT clock_timestamp()");
    site.primary
        .sql("SELECT pg_create_restore_point('after_batch_2')");
    std::thread::sleep(Duration::from_millis(300));
    site.batch(3);
    site.batch(4);
    site.archive_everything();

    let list = site.walden(&["backup-list", "--json"]);
    assert_ok(&list, "backup-list");
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["complete"], true);
    assert_eq!(listed[0]["timeline"], 1);
    assert_eq!(listed[0]["pg_version"], 15);

    let promote = ["--target-action", "promote"];
    for (name, target) in [
        ("by-time", vec!["--target-time", time2.as_str()]),
        ("by-lsn", vec!["--target-lsn", lsn2.as_str()]),
        ("by-xid", vec!["--target-xid", xid2.as_str()]),
        ("by-name", vec!["--target-name", "after_batch_2"]),
    ] {
        let mut args = vec!["latest"];
        args.extend(target);
        args.extend(promote);
        assert_eq!(
            site.restore_and_count(name, &args),
            "1,2",
            "{name}: exactly the batches before the target"
        );
    }
    assert_eq!(
        site.restore_and_count(
            "immediate",
            &["latest", "--target-immediate", "--target-action", "promote"]
        ),
        "1",
        "immediate: only what the backup holds"
    );
    assert_eq!(
        site.restore_and_count("to-end", &["latest"]),
        "1,2,3,4",
        "no target: everything archived"
    );
}

#[test]
fn restore_follows_a_new_timeline_through_history_files() {
    restore_follows_a_new_timeline(RepoKind::Local);
}

#[test]
fn restore_follows_a_new_timeline_through_history_files_s3() {
    restore_follows_a_new_timeline(RepoKind::S3);
}

#[test]
fn restore_follows_a_new_timeline_through_history_files_gcs() {
    restore_follows_a_new_timeline(RepoKind::Gcs);
}

fn restore_follows_a_new_timeline(kind: RepoKind) {
    let Some(site) = Site::with(kind, &format!("new_timeline_{kind:?}")) else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    site.batch(2);
    let time2 = site.primary.sql("SELECT clock_timestamp()");
    std::thread::sleep(Duration::from_millis(300));
    site.batch(3);
    site.archive_everything();
    site.primary.stop().unwrap();

    // Restore to batch 2 and promote: timeline 2, archiving into the same
    // repository as the replacement primary it is.
    let (branch, out) = site.restore(
        "branch",
        &[
            "latest",
            "--target-time",
            &time2,
            "--target-action",
            "promote",
            "--archive-mode",
            "preserve",
        ],
    );
    assert_ok(&out, "restore");
    branch.start().unwrap();
    branch
        .wait_until_promoted(Duration::from_secs(120))
        .unwrap();
    assert_eq!(batches(&branch), "1,2");
    site.batch_on(&branch, 5);
    let lsn5 = branch.sql("SELECT pg_current_wal_lsn()");
    let segment = branch.switch_wal();
    branch.wait_archived(&segment);
    assert!(
        site.repo
            .keys("wal/00000002")
            .contains(&"00000002.history.zst".to_string()),
        "timeline 2 history archived"
    );
    branch.stop().unwrap();

    // Restoring the same backup to a point on timeline 2 follows the history file.
    let got = site.restore_and_count(
        "on-timeline-2",
        &[
            "latest",
            "--target-lsn",
            &lsn5,
            "--target-action",
            "promote",
        ],
    );
    assert_eq!(got, "1,2,5", "timeline 2's rows, not timeline 1's batch 3");
    let got = site.restore_and_count("timeline-1", &["latest", "--target-timeline", "1"]);
    assert_eq!(got, "1,2,3", "pinned to timeline 1");
}

#[test]
fn bad_restores_are_refused_and_write_nothing_outside_pgdata() {
    let Some(site) = Site::new("bad_restores_are_refused") else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    site.archive_everything();
    let list: serde_json::Value =
        serde_json::from_slice(&site.walden(&["backup-list", "--json"]).stdout).unwrap();
    let name = list[0]["name"].as_str().unwrap().to_string();
    let backup_dir = site.repo.local_dir().join("backups").join(&name);

    // Non-empty target directory.
    let occupied = site.scratch.pg_dir("occupied");
    std::fs::write(occupied.join("keep-me"), b"precious").unwrap();
    site.scratch.run_as.give(&occupied.join("keep-me")).unwrap();
    let out = site.walden(&["restore", "latest", "--pgdata", occupied.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&occupied).unwrap().count(), 1);

    // Unknown and malformed backup names.
    let (_, out) = site.restore("unknown", &["base_00000001FFFFFFFF00000000"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (_, out) = site.restore("malformed", &["../../etc"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // A target before every backup.
    let (_, out) = site.restore(
        "too-early",
        &["latest", "--target-time", "2000-01-01 00:00:00+00"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no backup finished before"),
        "{}",
        stderr(&out)
    );

    // A corrupted part: refused, and the error names it.
    let part = std::fs::read_dir(backup_dir.join("data"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let original = std::fs::read(&part).unwrap();
    let mut corrupt = original.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x40;
    std::fs::write(&part, &corrupt).unwrap();
    let (cluster, out) = site.restore("corrupt", &["latest"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        !cluster.data.join("backup_label").exists(),
        "an interrupted restore never looks startable"
    );
    // A truncated part.
    std::fs::write(&part, &original[..original.len() / 3]).unwrap();
    let (_, out) = site.restore("truncated", &["latest"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    std::fs::write(&part, &original).unwrap();

    // Malicious manifests: paths outside the data directory.
    let manifest_path = backup_dir.join("manifest.json");
    let good = std::fs::read(&manifest_path).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/manifests");
    for evil in [
        "dotdot.json",
        "absolute.json",
        "symlink-escape.json",
        "garbage.json",
    ] {
        std::fs::write(&manifest_path, std::fs::read(fixtures.join(evil)).unwrap()).unwrap();
        let (cluster, out) = site.restore(&format!("evil-{evil}"), &[&name]);
        assert!(!out.status.success(), "{evil} accepted");
        assert!(
            stderr(&out).contains("manifest"),
            "{evil}: {}",
            stderr(&out)
        );
        assert!(
            !cluster.data.exists() || std::fs::read_dir(&cluster.data).unwrap().count() == 0,
            "{evil}: wrote files"
        );
    }
    assert!(!Path::new("/etc/walden-test-escape").exists());
    std::fs::write(&manifest_path, &good).unwrap();

    // Without its manifest a backup is incomplete: invisible to restore and backup-list, shown by --all.
    std::fs::remove_file(&manifest_path).unwrap();
    let (_, out) = site.restore("no-manifest", &["latest"]);
    assert!(!out.status.success(), "restored a backup without manifest");
    let all: serde_json::Value =
        serde_json::from_slice(&site.walden(&["backup-list", "--json", "--all"]).stdout).unwrap();
    assert_eq!(all[0]["complete"], false, "{all}");
    let listed: serde_json::Value =
        serde_json::from_slice(&site.walden(&["backup-list", "--json"]).stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
    std::fs::write(&manifest_path, &good).unwrap();

    // And once repaired, the same backup restores.
    assert_eq!(site.restore_and_count("repaired", &["latest"]), "1");
}

#[test]
fn encrypted_backup_needs_the_right_identity() {
    let Some(site) = Site::new("encrypted_backup_needs_the_right_identity") else {
        return;
    };
    let key = |n: &str| {
        use age::secrecy::ExposeSecret;
        let identity = age::x25519::Identity::generate();
        let path = site.scratch.path().join(n);
        std::fs::write(&path, format!("{}\n", identity.to_string().expose_secret())).unwrap();
        site.scratch.run_as.give(&path).unwrap();
        (identity.to_public().to_string(), path.display().to_string())
    };
    let (recipient, right) = key("right.txt");
    let (_, wrong) = key("wrong.txt");
    site.batch(1);
    assert_ok(
        &site.backup(&["--encrypt-recipient", &recipient]),
        "backup-push",
    );
    site.archive_everything();

    let (_, out) = site.restore("no-key", &["latest"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--decrypt-identity"),
        "{}",
        stderr(&out)
    );
    let (_, out) = site.restore("wrong-key", &["latest", "--decrypt-identity", &wrong]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(
        site.restore_and_count("right-key", &["latest", "--decrypt-identity", &right]),
        "1"
    );

    // verify reads the parts back, so it needs the key too; --quick does not.
    let out = site.walden(&["verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--decrypt-identity"),
        "{}",
        stderr(&out)
    );
    assert_ok(
        &site.walden(&["verify", "--quick"]),
        "verify --quick without a key",
    );
    assert_ok(
        &site.walden(&["verify", "--decrypt-identity", &right]),
        "verify with the key",
    );
    let out = site.walden(&["verify", "--decrypt-identity", &wrong]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn killed_backup_is_incomplete_and_invisible_and_the_next_one_works() {
    let Some(site) = Site::new("killed_backup_is_incomplete") else {
        return;
    };
    site.batch(1);
    let mut child = site.spawn_slow_backup("2MB/s", std::process::Stdio::null());
    std::thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    let all: serde_json::Value =
        serde_json::from_slice(&site.walden(&["backup-list", "--json", "--all"]).stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["complete"], false, "{all}");
    let (_, out) = site.restore("from-nothing", &["latest"]);
    assert!(!out.status.success(), "nothing complete to restore");

    // The server is not left in backup mode: the next backup works.
    assert_ok(&site.backup(&[]), "backup-push after a killed one");
    site.archive_everything();
    assert_eq!(site.restore_and_count("after-kill", &["latest"]), "1");
}

#[test]
fn backup_during_pgbench_restores_consistent() {
    let Some(site) = Site::new("backup_during_pgbench_restores_consistent") else {
        return;
    };
    let pgbench = |args: &[&str]| {
        let mut cmd = site.scratch.run_as.command(site.bin.program("pgbench"));
        cmd.args(["-h"])
            .arg(&site.primary.socket_dir)
            .args(["-U", "postgres"])
            .args(args)
            .arg("postgres");
        cmd
    };
    let out = pgbench(&["-i", "-s", "2", "-q"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut load: std::process::Child = pgbench(&["-T", "8", "-c", "2", "-n"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert_ok(&site.backup(&[]), "backup-push under load");
    let _ = load.wait();
    site.archive_everything();
    let (cluster, out) = site.restore("under-load", &["latest"]);
    assert_ok(&out, "restore");
    cluster
        .configure(&[("archive_mode", "off".into())])
        .unwrap();
    cluster.start().unwrap();
    cluster
        .wait_until_promoted(Duration::from_secs(120))
        .unwrap();
    // TPC-B keeps four sums equal; a torn restore breaks them.
    let sums = cluster.sql(
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history) \
         AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(delta) FROM pgbench_history) \
         AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history) \
         AND (SELECT count(*) FROM pgbench_accounts) = 200000",
    );
    assert_eq!(sums, "t");
    let primary_history = site.primary.sql("SELECT count(*) FROM pgbench_history");
    assert_eq!(
        cluster.sql("SELECT count(*) FROM pgbench_history"),
        primary_history,
        "replayed to the end of the archive"
    );
    cluster.sql("CREATE EXTENSION IF NOT EXISTS amcheck");
    let mut amcheck = site.scratch.run_as.command(site.bin.program("pg_amcheck"));
    amcheck.arg("-h").arg(&cluster.socket_dir).args([
        "-U",
        "postgres",
        "--heapallindexed",
        "postgres",
    ]);
    let out = amcheck.output().unwrap();
    assert!(
        out.status.success(),
        "pg_amcheck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Memory against file count (issue 19): a cluster of many small files is
/// cut into parts of at most 2 000 entries while it is walked, its file
/// list goes through a temporary file into the manifest, and a restore
/// brings back every file.
#[test]
fn many_small_files_are_cut_into_parts_and_all_restored() {
    let Some(site) = Site::new("many_small_files_are_cut_into_parts") else {
        return;
    };
    site.batch(1);
    let added = add_orphan_relation_files(&site.primary, 6_000);
    assert_ok(&site.backup(&[]), "backup-push --pgdata");
    site.archive_everything();
    let list: serde_json::Value =
        serde_json::from_slice(&site.walden(&["backup-list", "--json"]).stdout).unwrap();
    let name = list[0]["name"].as_str().unwrap();
    let manifest = local_manifest(&site.repo, name);
    let (parts, most) = part_counts(&manifest);
    assert!(parts >= 3, "6 000 files in {parts} parts");
    assert!(most <= 2_000, "a part holds {most} entries");
    assert_eq!(
        manifest["files"].as_array().unwrap().last().unwrap()["path"],
        "global/pg_control",
        "pg_control stays the data directory's last file"
    );
    assert_ok(&site.walden(&["verify", name]), "verify");

    let cluster = site.restore_and_promote("many-files", &["latest"]);
    assert_eq!(batches(&cluster), "1");
    assert_all_restored(&cluster, &added);
}

#[test]
fn tablespaces_are_backed_up_and_can_be_remapped() {
    let Some(site) = Site::new("tablespaces_are_backed_up_and_can_be_remapped") else {
        return;
    };
    let location = site.scratch.pg_dir("ts-original");
    site.primary.sql(&format!(
        "CREATE TABLESPACE ts1 LOCATION '{}'",
        location.display()
    ));
    site.primary
        .sql("CREATE TABLE in_ts (id int) TABLESPACE ts1");
    site.primary
        .sql("INSERT INTO in_ts SELECT generate_series(1, 5000)");
    let oid = site
        .primary
        .sql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'");
    assert_ok(&site.backup(&[]), "backup-push");
    site.primary
        .sql("INSERT INTO in_ts SELECT generate_series(5001, 6000)");
    site.archive_everything();

    // The original location is in use: refused, with the way out named.
    let (_, out) = site.restore("same-place", &["latest"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--tablespace-map"),
        "{}",
        stderr(&out)
    );

    let moved = site.scratch.path().join("ts-restored");
    let map = format!("{oid}={}", moved.display());
    let (cluster, out) = site.restore("remapped", &["latest", "--tablespace-map", &map]);
    assert_ok(&out, "restore with --tablespace-map");
    cluster
        .configure(&[("archive_mode", "off".into())])
        .unwrap();
    cluster.start().unwrap();
    cluster
        .wait_until_promoted(Duration::from_secs(120))
        .unwrap();
    assert_eq!(cluster.sql("SELECT count(*) FROM in_ts"), "6000");
    assert_eq!(
        cluster.sql("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts1'"),
        moved.display().to_string()
    );
}

#[test]
fn backup_fails_clearly_when_archiving_is_broken_instead_of_waiting_forever() {
    let Some(site) = Site::new("broken_archiving") else {
        return;
    };
    site.batch(1);
    site.primary
        .sql("ALTER SYSTEM SET archive_command = 'exit 1'");
    site.primary.sql("SELECT pg_reload_conf()");
    let started = std::time::Instant::now();
    let out = site.backup(&["--archive-timeout", "3s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(60));
    let err = stderr(&out);
    assert!(
        err.contains("did not reach")
            && err.contains("pg_stat_archiver")
            && err.contains("failures"),
        "{err}"
    );
    let listed = site.walden(&["backup-list", "--json"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");

    // Once archiving works again, so do backups.
    site.primary.sql("ALTER SYSTEM RESET archive_command");
    site.primary.sql("SELECT pg_reload_conf()");
    assert_ok(
        &site.backup(&[]),
        "backup-push after archiving was repaired",
    );
}

#[test]
fn backup_fails_cleanly_when_its_session_is_killed() {
    let Some(site) = Site::new("backup_fails_cleanly_when_its_session_is_killed") else {
        return;
    };
    site.batch(1);
    let child = site.spawn_slow_backup("1MB/s", std::process::Stdio::piped());
    std::thread::sleep(Duration::from_millis(1500));
    let killed = site.primary.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = 'walden'",
    );
    assert_eq!(killed, "1", "exactly the backup's session");
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "backup-push succeeded without its session"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "noticed within seconds, not at the end of the copy"
    );
    assert!(stderr(&out).contains("session"), "{}", stderr(&out));
    let all: serde_json::Value =
        serde_json::from_slice(&site.walden(&["backup-list", "--json", "--all"]).stdout).unwrap();
    assert_eq!(all[0]["complete"], false, "{all}");
    // The server aborted the backup: a new one can start.
    assert_ok(&site.backup(&[]), "backup-push after the killed session");
}

#[test]
fn killed_restore_never_looks_startable_and_a_rerun_works() {
    let Some(site) = Site::new("killed_restore_never_looks_startable") else {
        return;
    };
    site.batch(1);
    site.primary.sql("CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 300000) g");
    assert_ok(&site.backup(&[]), "backup-push");
    site.archive_everything();
    let mut interrupted_mid_way = 0;
    for attempt in 0..6u64 {
        let target = site.scratch.path().join(format!("killed-{attempt}"));
        let mut cmd = site.scratch.run_as.command(&site.walden);
        cmd.args(["restore", "latest"]);
        site.repo.apply(&mut cmd);
        cmd.arg("--pgdata")
            .arg(&target)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(20 + attempt * 40));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            assert!(
                !target.join("recovery.signal").exists() && !target.join("backup_label").exists(),
                "attempt {attempt}: an interrupted restore must not look startable"
            );
            let written = std::fs::read_dir(&target).map(|d| d.count()).unwrap_or(0);
            interrupted_mid_way += usize::from(written > 0);
        }
    }
    assert!(
        interrupted_mid_way > 0,
        "no attempt was killed while writing: the test proved nothing"
    );
    assert_eq!(site.restore_and_count("after-kills", &["latest"]), "1");
}

/// A connection reset in the middle of a backup part (S3 multipart): the
/// part is uploaded again, the backup completes, and the restored cluster
/// holds every row. (Not on GCS: the testbench hands out resumable-upload
/// URLs on its own port, so those uploads would bypass the proxy.)
#[test]
fn backup_survives_a_reset_mid_part_s3() {
    let Some(site) = Site::with(RepoKind::S3, "backup_reset_mid_part") else {
        return;
    };
    site.batch(1);
    site.primary.sql(
        "CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 300000) g",
    );
    let server = servers::s3_server().unwrap();
    let proxy = FaultProxy::start(server.addr);
    let proxied = site
        .repo
        .with_args(&["--s3-endpoint", &proxy.url(), "--s3-path-style"]);
    // Uncompressed, the data directory is ~60 MB: a multipart upload of
    // 8 MiB parts, and the reset lands inside one.
    proxy.set(Fault::ResetAfter {
        bytes: 5 << 20,
        times: Some(1),
    });
    let out = site.backup_with(&proxied, &["--compression", "none"]);
    assert_ok(&out, "backup-push through a reset");
    assert_eq!(proxy.stats().reset, 1, "the proxy reset no upload");
    site.batch(2);
    site.archive_everything();
    assert_eq!(site.restore_and_count("after-reset", &["latest"]), "1,2");
}

/// A backup throttled to take many times `--io-timeout`: waiting for our
/// own throttled disk reads must never look like a stalled upload.
fn throttled_backup_is_not_a_stall(kind: RepoKind) {
    let Some(site) = Site::with(kind, &format!("throttled_{kind:?}")) else {
        return;
    };
    site.batch(1);
    site.primary.sql(
        "CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 300000) g",
    );
    let started = std::time::Instant::now();
    let out = site.backup(&[
        "--max-rate",
        "10MB/s",
        "--io-timeout",
        "1",
        "--compression",
        "none",
    ]);
    assert_ok(&out, "throttled backup-push");
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the backup took {:?}: too fast to prove anything",
        started.elapsed()
    );
    site.batch(2);
    site.archive_everything();
    assert_eq!(site.restore_and_count("throttled", &["latest"]), "1,2");
}

#[test]
fn throttled_backup_is_not_a_stall_s3() {
    throttled_backup_is_not_a_stall(RepoKind::S3);
}

#[test]
fn throttled_backup_is_not_a_stall_gcs() {
    throttled_backup_is_not_a_stall(RepoKind::Gcs);
}
