//! Base backups over the network (the replication protocol, no data directory): from a primary and from a hot standby over TCP with password authentication, restored to a point in time with exactly the right rows; a cut connection, a wrong password and a promotion during the backup fail clearly; S3 and GCS repositories alike.

mod support;

use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::fault_proxy::{Fault, FaultProxy};
use support::network::*;
use support::site::*;
use support::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The names of the complete backups, oldest first.
fn backup_names(site: &Site) -> Vec<String> {
    let out = site.walden(&["backup-list", "--json"]);
    assert_ok(&out, "backup-list --json");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect()
}

fn newest_backup(site: &Site) -> String {
    backup_names(site).pop().expect("a complete backup")
}

/// A primary on TCP with the replication user.
fn network_site(kind: RepoKind, test: &str) -> Option<Site> {
    let mut site = Site::with(kind, test)?;
    create_repl_user(&site.primary, "scram-sha-256");
    serve_over_tcp(&mut site.primary, "scram-sha-256");
    Some(site)
}

/// Runs pg_verifybackup (without WAL parsing: the WAL is in the
/// repository) on a restored, not yet started data directory, against the
/// server's own manifest that the backup kept.
fn pg_verifybackup(site: &Site, cluster: &Cluster, ignore: &[&str]) {
    let mut cmd = site
        .scratch
        .run_as
        .command(site.bin.program("pg_verifybackup"));
    cmd.arg("-n");
    for path in ignore {
        cmd.args(["-i", path]);
    }
    cmd.arg(&cluster.data);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "pg_verifybackup: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// Memory against file count (issue 19), over the network: the server's
/// archive of many small files is re-cut into parts of at most 2 000
/// entries, and a restore brings back every file.
#[test]
fn many_small_files_over_the_network_are_cut_into_parts_and_all_restored() {
    let test = "many_small_files_over_the_network";
    let Some(site) = network_site(RepoKind::Local, test) else {
        return;
    };
    site.batch(1);
    let added = add_orphan_relation_files(&site.primary, 6_000);
    let out = network_backup(&site, &site.repo, &site.primary, &[])
        .output()
        .unwrap();
    assert_ok(&out, "backup-push over the network");
    site.archive_everything();
    let name = newest_backup(&site);
    let manifest = local_manifest(&site.repo, &name);
    let (parts, most) = part_counts(&manifest);
    assert!(parts >= 3, "6 000 files in {parts} parts");
    assert!(most <= 2_000, "a part holds {most} entries");
    assert_ok(&site.walden(&["verify", &name]), "verify");

    let cluster = site.restore_and_promote("many-files", &["latest"]);
    assert_eq!(batches(&cluster), "1");
    assert_all_restored(&cluster, &added);
}

#[test]
fn a_backup_over_the_network_from_the_primary_restores_exactly() {
    let test = "a_backup_over_the_network_from_the_primary_restores_exactly";
    let Some(site) = network_site(RepoKind::Local, test) else {
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
    site.batch(1);

    let out = network_backup(&site, &site.repo, &site.primary, &[])
        .output()
        .unwrap();
    assert_ok(&out, "backup-push over the network");
    assert!(
        stderr(&out).contains("replication protocol"),
        "the log does not say which mode the backup used:\n{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("complete"), "{}", stdout(&out));
    let name = newest_backup(&site);

    // The manifest is an ordinary walden manifest: the labels from the
    // stream, the tablespace as its own part, the server's manifest kept.
    let show = site.walden(&["backup-list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let entry = &list.as_array().unwrap()[0];
    assert_eq!(
        entry["pg_version"].as_u64(),
        Some(site.bin.major_version().unwrap() as u64)
    );
    assert_ok(&site.walden(&["verify", &name]), "verify");

    site.batch(2);
    let time2 = site.primary.sql("SELECT clock_timestamp()");
    std::thread::sleep(Duration::from_millis(50));
    site.batch(3);
    site.archive_everything();

    let moved = site.scratch.path().join("ts-restored");
    let map = format!("{oid}={}", moved.display());
    let (cluster, out) = site.restore(
        "pitr",
        &[
            &name,
            "--target-time",
            &time2,
            "--target-action",
            "promote",
            "--tablespace-map",
            &map,
        ],
    );
    assert_ok(&out, "restore --target-time");
    assert!(
        cluster.data.join("backup_manifest").exists(),
        "the server's backup_manifest was not kept"
    );
    // PostgreSQL makes pg_tblspc/<oid> from tablespace_map at startup;
    // pg_verifybackup needs the link to check the tablespace's files. And
    // walden writes tablespace_map with the new location: the one file it
    // changes on purpose.
    let link = cluster.data.join("pg_tblspc").join(&oid);
    std::os::unix::fs::symlink(&moved, &link).unwrap();
    pg_verifybackup(&site, &cluster, &["tablespace_map"]);
    std::fs::remove_file(&link).unwrap();
    cluster
        .configure(&[("archive_mode", "off".into())])
        .unwrap();
    cluster.start().unwrap();
    cluster
        .wait_until_promoted(Duration::from_secs(120))
        .unwrap();
    assert_eq!(batches(&cluster), "1,2");
    assert_eq!(cluster.sql("SELECT count(*) FROM in_ts"), "5000");
    assert_eq!(
        cluster.sql("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts1'"),
        moved.display().to_string()
    );
}

#[test]
fn a_backup_over_the_network_from_a_standby_restores_exactly() {
    let test = "a_backup_over_the_network_from_a_standby_restores_exactly";
    let Some(site) = network_site(RepoKind::Local, test) else {
        return;
    };
    site.batch(1);
    let standby = start_standby(&site);
    site.batch(2);
    wait_for(
        &standby,
        "SELECT count(*) FROM t",
        "2000",
        "the standby replays batch 2",
    );

    // The standby's backup ends where its replay is; the primary archives
    // that WAL, which a quiet primary does only at a segment switch.
    let done = AtomicBool::new(false);
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let _ = site.primary.psql("SELECT pg_switch_wal()");
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        let out = network_backup(&site, &site.repo, &standby, &[])
            .output()
            .unwrap();
        done.store(true, Ordering::Relaxed);
        out
    });
    assert_ok(&out, "backup-push over the network from the standby");
    assert!(
        stderr(&out).contains("standby"),
        "the log does not say the backup came from a standby:\n{}",
        stderr(&out)
    );
    let name = newest_backup(&site);

    site.batch(3);
    let time3 = site.primary.sql("SELECT clock_timestamp()");
    std::thread::sleep(Duration::from_millis(50));
    site.batch(4);
    site.archive_everything();
    assert_eq!(
        site.restore_and_count(
            "from-standby",
            &[&name, "--target-time", &time3, "--target-action", "promote"]
        ),
        "1,2,3"
    );
}

/// A hot standby streaming from the site's primary over TCP, seeded by
/// walden's own restore --standby, listening on TCP itself.
fn start_standby(site: &Site) -> Cluster {
    assert_ok(&site.backup(&[]), "backup-push (to seed the standby)");
    let conninfo = format!(
        "host=127.0.0.1 port={} user={REPL_USER} password={REPL_PASSWORD} application_name=standby1",
        site.primary.port
    );
    let (mut standby, out) = site.restore(
        "standby",
        &["latest", "--standby", "--primary-conninfo", &conninfo],
    );
    assert_ok(&out, "restore --standby");
    standby.configure(&[("hot_standby", "on".into())]).unwrap();
    serve_over_tcp(&mut standby, "scram-sha-256");
    wait_for(
        &site.primary,
        "SELECT state FROM pg_stat_replication WHERE application_name = 'standby1'",
        "streaming",
        "the standby streams",
    );
    standby
}

#[test]
fn a_standby_promoted_during_the_backup_fails_it() {
    let test = "a_standby_promoted_during_the_backup_fails_it";
    let Some(site) = network_site(RepoKind::Local, test) else {
        return;
    };
    // Enough data that a throttled backup is still copying at the promotion.
    site.primary.sql(
        "CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 40000) g",
    );
    let standby = start_standby(&site);
    let before = backup_names(&site);
    let child = network_backup(&site, &site.repo, &standby, &["--max-rate", "2MB/s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    standby.sql("SELECT pg_promote()");
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("promoted") && stderr(&out).contains("incomplete"),
        "{}",
        stderr(&out)
    );
    assert_eq!(backup_names(&site), before, "no backup may complete");
}

#[test]
fn a_connection_cut_mid_backup_leaves_an_incomplete_backup_and_a_rerun_succeeds() {
    let test = "a_connection_cut_mid_backup_leaves_an_incomplete_backup_and_a_rerun_succeeds";
    let Some(site) = network_site(RepoKind::Local, test) else {
        return;
    };
    site.batch(1);
    let proxy = FaultProxy::start(format!("127.0.0.1:{}", site.primary.port).parse().unwrap());
    proxy.set(Fault::ResetAfter {
        bytes: 4 << 20,
        times: Some(1),
    });
    let through_proxy = |extra: &[&str]| {
        network_backup_at(&site, &site.repo, proxy.addr().port(), extra)
            .output()
            .unwrap()
    };
    let started = Instant::now();
    let out = through_proxy(&[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a cut connection took {:?} to fail the backup",
        started.elapsed()
    );
    assert!(
        stderr(&out).contains("lost") && stderr(&out).contains("incomplete"),
        "{}",
        stderr(&out)
    );
    assert!(
        backup_names(&site).is_empty(),
        "the cut backup must not count"
    );
    let all = site.walden(&["backup-list", "--all", "--json"]);
    assert!(
        stdout(&all).contains("\"complete\": false"),
        "{}",
        stdout(&all)
    );

    let out = through_proxy(&[]);
    assert_ok(&out, "the rerun");
    site.batch(2);
    site.archive_everything();
    assert_eq!(site.restore_and_count("rerun", &["latest"]), "1,2");
}

/// A server or network that stops sending without resetting the
/// connection (keepalives see nothing wrong: the peer is alive) fails the
/// backup once nothing arrived for 30 s during the copy. The throttle that
/// keeps the copy going until the stall must not look like one itself.
#[test]
fn a_stalled_connection_fails_the_backup_and_throttling_is_not_a_stall() {
    let test = "a_stalled_connection_fails_the_backup_and_throttling_is_not_a_stall";
    let Some(site) = network_site(RepoKind::Local, test) else {
        return;
    };
    site.batch(1);
    let proxy = FaultProxy::start(format!("127.0.0.1:{}", site.primary.port).parse().unwrap());
    let backup = |rate: &str| {
        network_backup_at(
            &site,
            &site.repo,
            proxy.addr().port(),
            &["--max-rate", rate],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };

    // About 22 MB at 4 MB/s: several seconds, never a stall.
    let started = Instant::now();
    let out = backup("4MB/s").wait_with_output().unwrap();
    assert_ok(&out, "a throttled backup-push over the network");
    assert!(
        started.elapsed() > Duration::from_secs(4),
        "the throttled backup took {:?}: --max-rate did not hold it back",
        started.elapsed()
    );
    assert_eq!(backup_names(&site).len(), 1);

    let child = backup("2MB/s");
    std::thread::sleep(Duration::from_secs(3));
    proxy.set(Fault::Stall);
    let stalled = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stalled.elapsed() < Duration::from_secs(60),
        "a stalled connection took {:?} to fail the backup",
        stalled.elapsed()
    );
    assert!(
        stderr(&out).contains("no data from the server for 30 s")
            && stderr(&out).contains("incomplete"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        backup_names(&site).len(),
        1,
        "the stalled backup must not count"
    );
}

#[test]
fn wrong_or_missing_passwords_fail_fast_and_clearly() {
    let test = "wrong_or_missing_passwords_fail_fast_and_clearly";
    let Some(site) = network_site(RepoKind::Local, test) else {
        return;
    };
    let wrong = "not-the-password";
    let started = Instant::now();
    let out = network_backup(&site, &site.repo, &site.primary, &[])
        .env("PGPASSWORD", wrong)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = stderr(&out);
    assert!(
        err.contains("password authentication failed for user \"repl\""),
        "{err}"
    );
    assert!(!err.contains(wrong), "the password was printed: {err}");

    let out = network_backup(&site, &site.repo, &site.primary, &[])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("asks for a password"),
        "{}",
        stderr(&out)
    );
    assert!(backup_names(&site).is_empty());
}

#[test]
fn md5_passwords_work_too() {
    let test = "md5_passwords_work_too";
    let Some(mut site) = Site::new(test) else {
        return;
    };
    create_repl_user(&site.primary, "md5");
    serve_over_tcp(&mut site.primary, "md5");
    site.batch(1);
    let out = network_backup(&site, &site.repo, &site.primary, &[])
        .output()
        .unwrap();
    assert_ok(&out, "backup-push with md5 authentication");
    site.archive_everything();
    assert_eq!(site.restore_and_count("md5", &["latest"]), "1");
}

/// One body for S3 and GCS: an encrypted, snappy-compressed backup over
/// the network, verified and restored with exactly the right rows.
fn network_backup_on(kind: RepoKind, test: &str) {
    let Some(site) = network_site(kind, test) else {
        return;
    };
    let (key, recipient) = site.age_key();
    site.batch(1);
    let out = network_backup(
        &site,
        &site.repo,
        &site.primary,
        &["--encrypt-recipient", &recipient, "--compression", "snappy"],
    )
    .output()
    .unwrap();
    assert_ok(&out, "backup-push over the network");
    let name = newest_backup(&site);
    let parts = site.repo.keys(&format!("backups/{name}/data"));
    assert!(
        !parts.is_empty() && parts.iter().all(|p| p.ends_with(".tar.sz.age")),
        "{parts:?}"
    );
    site.batch(2);
    site.archive_everything();
    assert_ok(
        &site.walden(&["verify", &name, "--decrypt-identity", &key]),
        "verify",
    );
    assert_eq!(
        site.restore_and_count("restored", &[&name, "--decrypt-identity", &key]),
        "1,2"
    );
}

#[test]
fn a_backup_over_the_network_into_s3_restores() {
    network_backup_on(RepoKind::S3, "a_backup_over_the_network_into_s3_restores");
}

#[test]
fn a_backup_over_the_network_into_gcs_restores() {
    network_backup_on(RepoKind::Gcs, "a_backup_over_the_network_into_gcs_restores");
}

/// `check --replication` is an operator's first test of a backup host or
/// CronJob pod: the same connection backup-push without --pgdata makes.
#[test]
fn check_over_the_replication_protocol_passes_and_says_what_fails() {
    let test = "check_over_the_replication_protocol_passes_and_says_what_fails";
    let Some(site) = network_site(RepoKind::Local, test) else {
        return;
    };
    site.batch(1);
    site.archive_everything();
    let check = |password: &str| {
        site.command(&site.repo)
            .args(["check", "--replication", "--json", "--pg-host", "127.0.0.1"])
            .args(["--pg-port", &site.primary.port.to_string()])
            .args(["--pg-user", REPL_USER])
            .env("PGPASSWORD", password)
            .output()
            .unwrap()
    };
    let line = |out: &Output, name: &str| -> serde_json::Value {
        let lines: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        lines
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["check"] == name)
            .unwrap_or_else(|| panic!("no {name} line: {lines}"))
            .clone()
    };
    let sysid = site
        .primary
        .sql("SELECT system_identifier FROM pg_control_system()");

    let out = check(REPL_PASSWORD);
    assert_ok(&out, "check --replication");
    let server = line(&out, "server");
    assert_eq!(server["result"], "PASS", "{server}");
    let detail = server["detail"].as_str().unwrap();
    assert!(detail.contains("replication connection to"), "{detail}");
    assert!(
        detail.contains(&format!("system identifier {}", sysid.trim())),
        "{detail}"
    );
    assert_eq!(line(&out, "identity")["result"], "PASS");
    assert_eq!(line(&out, "archive")["result"], "SKIP");

    let wrong = "not-the-password";
    let out = check(wrong);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let server = line(&out, "server");
    assert_eq!(server["result"], "FAIL", "{server}");
    assert!(
        server["detail"]
            .as_str()
            .unwrap()
            .contains("password authentication failed for user \"repl\""),
        "{server}"
    );
    assert!(
        server["fix"].as_str().unwrap().contains("REPLICATION"),
        "{server}"
    );
    assert_eq!(line(&out, "identity")["result"], "SKIP");
    assert!(!stdout(&out).contains(wrong) && !stderr(&out).contains(wrong));
}
