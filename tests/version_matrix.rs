//! The same compact scenario on every PostgreSQL major walden supports, 13 to 18, with and without data checksums, on real servers of that major; and 12 refused.
//!
//! The rest of the suite runs on Debian's PostgreSQL 15; this file proves
//! every other major end to end, with the server builds that
//! `scripts/install-test-postgres.sh` installs. A major whose programs are
//! missing fails under CI=true (see `pg_bin_of_major`).
//!
//! The scenario, one step after the other on one repository:
//! archiving through `archive_command`; `backup-push`; more rows with the
//! time noted between two batches; a point-in-time restore to that time
//! holding exactly the rows before it; a `--standby` restore that follows
//! the archive while the primary writes; a failover that promotes it to
//! timeline 2 and archives more WAL there; a restore of the timeline-1
//! backup that follows the switch to timeline 2; `verify --wal`; `status`;
//! `drill` with that major's server programs. A second backup is taken over
//! the network (the replication protocol, whose `BASE_BACKUP` syntax and
//! answer changed in 15) and is the `latest` that every later step restores.

mod support;

use std::time::{Duration, Instant};

use support::site::{assert_ok, batches, Site};
use support::*;

/// One major, with or without data checksums.
fn scenario(major: u32, checksums: bool) {
    let test = format!("pg{major}{}", if checksums { "_checksums" } else { "" });
    let Some(bin) = pg_bin_of_major(major, &test) else {
        return;
    };
    // PostgreSQL 18's initdb turns checksums on unless told otherwise.
    let initdb: &[&str] = match (checksums, major >= 18) {
        (true, _) => &["--data-checksums"],
        (false, true) => &["--no-data-checksums"],
        (false, false) => &[],
    };
    let mut site =
        Site::on(bin.clone(), RepoKind::Local, &test, initdb).expect("a local repository");
    let step = |what: &str| eprintln!("{test}: {what}");
    let version: u32 = site.primary.sql("SHOW server_version_num").parse().unwrap();
    assert_eq!(version / 10_000, major, "{test}: the server is {version}");
    let expected = if checksums { "on" } else { "off" };
    assert_eq!(site.primary.sql("SHOW data_checksums"), expected, "{test}");

    step("backup-push");
    site.batch(1);
    assert_ok(&site.backup(&[]), &format!("{test}: backup-push"));
    let list = site.walden(&["backup-list", "--json"]);
    assert_ok(&list, &format!("{test}: backup-list"));
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed[0]["pg_version"], major, "{test}: {listed}");
    assert_eq!(listed[0]["timeline"], 1, "{test}: {listed}");

    step("backup-push over the network");
    network::create_repl_user(&site.primary, "scram-sha-256");
    network::serve_over_tcp(&mut site.primary, "scram-sha-256");
    let out = network::network_backup(&site, &site.repo, &site.primary, &[])
        .output()
        .unwrap();
    assert_ok(&out, &format!("{test}: backup-push over the network"));
    let list = site.walden(&["backup-list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{test}: {listed}");
    assert_eq!(listed[1]["pg_version"], major, "{test}: {listed}");

    step("point-in-time restore");
    site.batch(2);
    let time2 = site.primary.sql("SELECT clock_timestamp()");
    std::thread::sleep(Duration::from_millis(300));
    site.batch(3);
    site.archive_everything();
    let (pitr, out) = site.restore(
        "pitr",
        &[
            "latest",
            "--target-time",
            &time2,
            "--target-action",
            "promote",
        ],
    );
    assert_ok(&out, &format!("{test}: restore --target-time"));
    for dir in walden::pg::datadir::restored_wal_dirs(major) {
        assert!(pitr.data.join(dir).is_dir(), "{test}: {dir} not restored");
    }
    pitr.start().unwrap();
    pitr.wait_until_promoted(Duration::from_secs(120)).unwrap();
    assert_eq!(batches(&pitr), "1,2", "{test}: rows before the target time");
    pitr.stop().unwrap();

    step("standby restore follows the archive");
    let (standby, out) = site.restore("standby", &["latest", "--standby"]);
    assert_ok(&out, &format!("{test}: restore --standby"));
    standby.start().unwrap();
    wait_for_batches(&standby, "1,2,3", &test);
    site.batch(4);
    site.archive_everything();
    wait_for_batches(&standby, "1,2,3,4", &test);

    step("failover to timeline 2");
    site.primary.stop().unwrap();
    standby.sql("SELECT pg_promote()");
    standby
        .wait_until_promoted(Duration::from_secs(120))
        .unwrap();
    let segment = standby.switch_wal();
    assert!(segment.starts_with("00000002"), "{test}: {segment}");
    site.batch_on(&standby, 5);
    let segment = standby.switch_wal();
    standby.wait_archived(&segment);
    assert!(
        site.repo
            .keys("wal/00000002")
            .contains(&"00000002.history.zst".to_string()),
        "{test}: timeline 2 history archived: {:?}",
        site.repo.keys("wal/00000002")
    );
    standby.stop().unwrap();

    step("restore follows the timeline switch");
    assert_eq!(
        site.restore_and_count("follows", &["latest"]),
        "1,2,3,4,5",
        "{test}: the timeline-1 backup replayed onto timeline 2"
    );

    step("verify --wal");
    let out = site.walden(&["verify", "--wal"]);
    assert_ok(&out, &format!("{test}: verify --wal"));

    step("status");
    let out = site.walden(&["status"]);
    assert_ok(&out, &format!("{test}: status"));

    step("drill");
    let work = site.scratch.pg_dir("drills");
    let out = site.walden(&[
        "drill",
        "latest",
        "--pg-bin",
        &bin.dir.display().to_string(),
        "--work-dir",
        &work.display().to_string(),
        "--json",
    ]);
    assert_ok(&out, &format!("{test}: drill"));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{test}: drill --json: {e}: {}", stderr(&out)));
    assert_eq!(record["success"], true, "{test}: {record}");
    assert_eq!(
        site.repo.keys("drills").len(),
        1,
        "{test}: the drill is recorded: {:?}",
        site.repo.keys("drills")
    );
}

/// PostgreSQL 12, out of support: backup-push refuses it as a configuration
/// error naming the supported range, and writes nothing.
#[test]
fn pg12_is_refused_before_anything_is_written() {
    let test = "pg12_is_refused";
    let Some(bin) = pg_bin_of_major(12, test) else {
        return;
    };
    let site = Site::on(bin, RepoKind::Local, test, &[]).expect("a local repository");
    site.batch(1);
    site.archive_everything();
    let before = tree(&site.repo.local_dir());
    let out = site.backup(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("PostgreSQL 12 "), "{err}");
    assert!(err.contains("13 to 18"), "{err}");
    assert_eq!(
        tree(&site.repo.local_dir()),
        before,
        "nothing written: {err}"
    );
}

/// Every file under `dir` with its length, sorted.
fn tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            out.extend(tree(&entry.path()));
        } else {
            out.push((entry.path(), meta.len()));
        }
    }
    out.sort();
    out
}

/// Waits until a hot standby shows exactly `expected` batches.
fn wait_for_batches(standby: &Cluster, expected: &str, test: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let query =
        "SELECT string_agg(batch::text, ',' ORDER BY batch) FROM (SELECT DISTINCT batch FROM t) b";
    loop {
        let got = standby.psql(query);
        if matches!(&got, Ok(batches) if batches == expected) {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{test}: the standby shows {got:?}, not {expected}\n{}",
                standby.log_tail(30)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

macro_rules! majors {
    ($($name:ident, $checksums_name:ident: $major:literal;)*) => {$(
        #[test]
        fn $name() {
            scenario($major, false);
        }

        #[test]
        fn $checksums_name() {
            scenario($major, true);
        }
    )*};
}

majors! {
    pg13, pg13_checksums: 13;
    pg14, pg14_checksums: 14;
    pg15, pg15_checksums: 15;
    pg16, pg16_checksums: 16;
    pg17, pg17_checksums: 17;
    pg18, pg18_checksums: 18;
}
