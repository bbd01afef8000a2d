//! Seeding a streaming replica from a backup in one command: `restore --standby --primary-conninfo … --slot … --create-slot` gives a standby that streams from the primary (not only the archive), with passwords masked in everything walden prints.

mod support;

use std::process::Output;

use support::site::*;
use support::*;

/// Never in anything walden prints; only in postgresql.auto.conf.
const PASSWORD: &str = "hunter2-not-for-logs";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_replica_seeded_by_restore_streams_from_the_primary() {
    let Some(site) = Site::new("a_replica_seeded_by_restore_streams_from_the_primary") else {
        return;
    };
    let primary = &site.primary;
    // initdb --auth=trust lets local replication connections in, and the
    // defaults (wal_level replica, max_wal_senders 10) allow streaming.
    let hba = std::fs::read_to_string(primary.data.join("pg_hba.conf")).unwrap();
    assert!(
        hba.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["local", "replication", "all", "trust"]),
        "the primary's pg_hba.conf does not allow local replication:\n{hba}"
    );
    assert_eq!(primary.sql("SHOW wal_level"), "replica");

    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    site.batch(2);

    let conninfo = format!(
        "host={} port={} user=postgres application_name=replica1 password={PASSWORD}",
        primary.socket_dir.display(),
        primary.port
    );
    let (replica, out) = site.restore(
        "replica",
        &[
            "latest",
            "--standby",
            "--primary-conninfo",
            &conninfo,
            "--slot",
            "s1",
            "--create-slot",
        ],
    );
    assert_ok(
        &out,
        "restore --standby --primary-conninfo --slot --create-slot",
    );
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !printed.contains(PASSWORD),
        "the password was printed:\n{printed}"
    );
    assert!(
        printed.contains("password=********"),
        "the masked conninfo is missing:\n{printed}"
    );
    assert!(
        !printed.contains("then promote"),
        "a standby is not promoted:\n{printed}"
    );
    assert!(
        printed.contains("created physical replication slot s1"),
        "{printed}"
    );
    assert!(printed.contains("never promotes by itself"), "{printed}");
    // The settings PostgreSQL reads hold the string as given.
    let auto_conf = std::fs::read_to_string(replica.data.join("postgresql.auto.conf")).unwrap();
    assert!(
        auto_conf.contains(&format!("primary_conninfo = '{conninfo}'")),
        "{auto_conf}"
    );
    assert!(
        auto_conf.contains("primary_slot_name = 's1'"),
        "{auto_conf}"
    );
    assert!(auto_conf.contains("restore_command = '"), "{auto_conf}");
    assert!(replica.data.join("standby.signal").exists());

    // The slot exists, physical, holding WAL before the replica first connects.
    assert_eq!(
        primary.sql(
            "SELECT slot_type, active, restart_lsn IS NOT NULL FROM pg_replication_slots WHERE slot_name = 's1'"
        ),
        "physical|f|t"
    );

    replica.start().unwrap();
    wait_for(
        primary,
        "SELECT application_name, state FROM pg_stat_replication",
        "replica1|streaming",
        "the primary's pg_stat_replication",
    );
    wait_for(
        primary,
        "SELECT active FROM pg_replication_slots WHERE slot_name = 's1'",
        "t",
        "slot s1",
    );
    wait_for(
        &replica,
        "SELECT status, slot_name FROM pg_stat_wal_receiver",
        "streaming|s1",
        "the replica's WAL receiver",
    );
    wait_for(&replica, "SELECT pg_is_in_recovery()", "t", "the replica");

    // Rows written now reach the replica while their segment is still being
    // written on the primary: streamed, not read from the archive.
    site.batch(3);
    let current = primary.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
    wait_for(
        &replica,
        "SELECT string_agg(batch::text, ',' ORDER BY batch) FROM (SELECT DISTINCT batch FROM t) b",
        "1,2,3",
        "the replica's rows",
    );
    assert_eq!(
        primary.sql("SELECT pg_walfile_name(pg_current_wal_lsn())"),
        current,
        "the primary switched WAL segments during the test"
    );
    let archived = repo_files(&site.repo.local_dir(), "wal/00000001");
    assert!(
        !archived.iter().any(|name| name.starts_with(&current)),
        "segment {current} is in the archive already: {archived:?}"
    );

    // A second replica may not take the slot the first one streams through;
    // refused before anything is restored.
    let (second, out) = site.restore(
        "second",
        &[
            "latest",
            "--standby",
            "--primary-conninfo",
            &conninfo,
            "--slot",
            "s1",
            "--create-slot",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("in use") && err.contains("s1"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(!second.data.join("PG_VERSION").exists());

    // An existing inactive physical slot is taken as it is.
    primary.sql("SELECT pg_create_physical_replication_slot('s2', true)");
    let (_third, out) = site.restore(
        "third",
        &[
            "latest",
            "--standby",
            "--primary-conninfo",
            &conninfo,
            "--slot",
            "s2",
            "--create-slot",
        ],
    );
    assert_ok(&out, "restore onto an existing slot");
    assert!(
        stdout(&out).contains("using the existing inactive physical replication slot s2"),
        "{}",
        stdout(&out)
    );

    // A role without REPLICATION could neither create the slot nor stream;
    // an unreachable primary is named. Both before anything is restored.
    primary.sql("CREATE ROLE norep LOGIN");
    let sock = primary.socket_dir.display().to_string();
    for (name, conninfo, code, words) in [
        (
            "norep",
            format!("host={sock} user=norep password={PASSWORD}"),
            2,
            "may not create replication slots",
        ),
        (
            "unreachable",
            format!("host={sock}-gone user=postgres password={PASSWORD}"),
            1,
            "cannot connect",
        ),
    ] {
        let (cluster, out) = site.restore(
            name,
            &[
                "latest",
                "--standby",
                "--primary-conninfo",
                &conninfo,
                "--slot",
                "s3",
                "--create-slot",
            ],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{name}: {err}");
        assert!(err.contains(words), "{name}: {err}");
        assert!(!err.contains(PASSWORD), "{name}: {err}");
        assert!(!cluster.data.join("PG_VERSION").exists(), "{name}");
    }

    // A standby without a conninfo follows the archive; it is not told to promote either.
    let (_archive_only, out) = site.restore("archive-only", &["latest", "--standby"]);
    assert_ok(&out, "restore --standby");
    let printed = stdout(&out);
    assert!(printed.contains("follows the archive"), "{printed}");
    assert!(!printed.contains("then promote"), "{printed}");
    assert!(!printed.contains("primary_"), "{printed}");

    replica.stop().unwrap();
}

#[test]
fn streaming_flags_without_a_standby_are_usage_errors() {
    let scratch = Scratch::new();
    let repo = scratch.path().join("repo");
    let pgdata = scratch.path().join("data");
    let secret = format!("host=primary user=rep password={PASSWORD}");
    for (args, words) in [
        (vec!["--primary-conninfo", &secret], "--standby"),
        (vec!["--standby", "--slot", "s1"], "--primary-conninfo"),
        (
            vec!["--primary-conninfo", &secret, "--slot", "s1"],
            "--standby",
        ),
        (
            vec!["--standby", "--primary-conninfo", &secret, "--create-slot"],
            "--slot",
        ),
        (
            vec![
                "--standby",
                "--primary-conninfo",
                &secret,
                "--slot",
                "Replica-1",
            ],
            "lower-case",
        ),
        (
            vec!["--standby", "--primary-conninfo", "host primary"],
            "missing \"=\"",
        ),
        (
            vec![
                "--standby",
                "--primary-conninfo",
                &format!("postgresql://rep:{PASSWORD}@primary/"),
            ],
            "key=value",
        ),
    ] {
        let out = run(walden()
            .args(["restore", "latest", "--repo"])
            .arg(&repo)
            .arg("--pgdata")
            .arg(&pgdata)
            .args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let printed = format!("{}{}", stdout(&out), stderr(&out));
        assert!(printed.contains(words), "{args:?}: {printed}");
        assert!(!printed.contains(PASSWORD), "{args:?}: {printed}");
        assert!(!pgdata.exists(), "{args:?} wrote {}", pgdata.display());
    }
}
