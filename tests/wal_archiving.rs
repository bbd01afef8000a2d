//! End to end with real PostgreSQL 15: archive_command = walden wal-push, restore_command = walden wal-fetch.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

/// Encoding flags for one variant of the archive/recover round trip.
struct Variant {
    name: &'static str,
    push_flags: String,
    fetch_flags: String,
    suffix: &'static str,
}

fn age_keypair(dir: &Path, run_as: &walden::pg::server::RunAs) -> (String, std::path::PathBuf) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let path = dir.join("key.txt");
    std::fs::write(&path, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    run_as.give(&path).unwrap();
    (identity.to_public().to_string(), path)
}

/// Archives several segments from a live cluster, checks every one is in the
/// repository under the variant's suffix, then recovers a WAL-less copy
/// through wal-fetch and checks it holds every committed row.
fn archive_and_recover(kind: RepoKind, variant: impl FnOnce(&Scratch) -> Variant) {
    let test = format!("archive_and_recover_{kind:?}");
    let Some(bin) = pg_bin_or_skip(&test) else {
        return;
    };
    let scratch = Scratch::new();
    let Some(repo) = TestRepo::new(kind, &scratch, &test) else {
        return;
    };
    let variant = variant(&scratch);
    let walden = scratch.walden_copy();
    let archive_command = format!(
        "{} {} --log-format logfmt %p",
        repo.shell_command(&walden, "wal-push"),
        variant.push_flags
    );
    let primary = Cluster::primary(&bin, &scratch, archive_command, &[]);
    primary.sql("CREATE TABLE t (id int PRIMARY KEY, payload text)");
    primary.sql("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g");
    let copy = primary.base_copy(&scratch, "copy");

    let mut switched = Vec::new();
    for batch in 1..=4 {
        primary.sql(&format!(
            "INSERT INTO t SELECT g, md5(g::text) FROM generate_series({}, {}) g",
            batch * 10_000,
            batch * 10_000 + 9_999
        ));
        switched.push(primary.switch_wal());
    }
    let expected = primary.sql("SELECT count(*) || ':' || sum(id) FROM t");
    primary.wait_archived(switched.last().unwrap());

    let archived = repo.keys("wal/00000001");
    for segment in &switched {
        let object = format!("{segment}{}", variant.suffix);
        assert!(
            archived.contains(&object),
            "{}: {object} missing from {archived:?}",
            variant.name
        );
    }
    assert!(repo.keys("").contains(&"walden.json".to_string()));
    let log = primary.log();
    assert!(
        log.contains("msg=archived"),
        "wal-push logs each segment in logfmt:\n{log}"
    );
    primary.stop().unwrap();

    let restore_command = format!(
        "{} {} --log-format logfmt %f %p",
        repo.shell_command(&walden, "wal-fetch"),
        variant.fetch_flags
    );
    copy.start_recovery(restore_command);
    copy.wait_until_promoted(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{}: {e}", variant.name));
    let got = copy.sql("SELECT count(*) || ':' || sum(id) FROM t");
    assert_eq!(got, expected, "{}: recovered rows differ", variant.name);
    let log = copy.log();
    for segment in &switched {
        assert!(
            log.contains(&format!("wal={segment}")),
            "{}: {segment} was not restored through walden:\n{log}",
            variant.name
        );
    }
    assert!(
        !log.contains("level=error"),
        "{}: wal-fetch logged errors:\n{log}",
        variant.name
    );
}

#[test]
fn archive_and_recover_zstd() {
    archive_and_recover(RepoKind::Local, |_| Variant {
        name: "zstd",
        push_flags: String::new(),
        fetch_flags: String::new(),
        suffix: ".zst",
    });
}

fn zstd_age(scratch: &Scratch) -> Variant {
    let (recipient, key) = age_keypair(scratch.path(), &scratch.run_as);
    Variant {
        name: "zstd+age",
        push_flags: format!(
            "--compression zstd --compression-level 5 --encrypt-recipient {recipient}"
        ),
        fetch_flags: format!("--decrypt-identity {}", key.display()),
        suffix: ".zst.age",
    }
}

#[test]
fn archive_and_recover_zstd_age() {
    archive_and_recover(RepoKind::Local, zstd_age);
}

#[test]
fn archive_and_recover_zstd_age_s3() {
    archive_and_recover(RepoKind::S3, zstd_age);
}

#[test]
fn archive_and_recover_zstd_age_gcs() {
    archive_and_recover(RepoKind::Gcs, zstd_age);
}

#[test]
fn archive_and_recover_snappy() {
    archive_and_recover(RepoKind::Local, |_| Variant {
        name: "snappy",
        push_flags: "--compression snappy".into(),
        // Reading follows the stored object, not the configured compression.
        fetch_flags: "--compression none".into(),
        suffix: ".sz",
    });
}

/// A corrupted archived segment must stop recovery with FATAL (wal-fetch
/// exits above 125) instead of letting PostgreSQL promote without it.
#[test]
fn corrupt_segment_stops_recovery_instead_of_promoting() {
    let Some(bin) = pg_bin_or_skip("corrupt_segment_stops_recovery") else {
        return;
    };
    let scratch = Scratch::new();
    let walden = scratch.walden_copy();
    let repo = scratch.pg_dir("repo");
    let primary = Cluster::primary(
        &bin,
        &scratch,
        format!("{} wal-push --repo {} %p", walden.display(), repo.display()),
        &[],
    );
    primary.sql("CREATE TABLE t (id int)");
    let copy = primary.base_copy(&scratch, "copy");
    let mut switched = Vec::new();
    for batch in 0..3 {
        primary.sql(&format!(
            "INSERT INTO t SELECT generate_series({}, {})",
            batch * 1000,
            batch * 1000 + 999
        ));
        switched.push(primary.switch_wal());
    }
    primary.wait_archived(switched.last().unwrap());
    primary.stop().unwrap();

    // Flip one byte in the middle of the second post-backup segment.
    let victim = repo
        .join("wal/00000001")
        .join(format!("{}.zst", switched[1]));
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&victim, bytes).unwrap();

    copy.start_recovery(format!(
        "{} wal-fetch --repo {} %f %p",
        walden.display(),
        repo.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while copy.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = copy.log();
    assert!(!copy.is_running(), "recovery should have stopped:\n{log}");
    assert!(
        log.contains("FATAL"),
        "expected a FATAL in the server log:\n{log}"
    );
    assert!(
        log.contains(&switched[1]),
        "the log names the corrupt segment:\n{log}"
    );
    assert!(
        !log.contains("selected new timeline ID"),
        "the server promoted:\n{log}"
    );
    assert!(
        !log.contains("archive recovery complete"),
        "the server promoted:\n{log}"
    );
    assert!(
        !copy.data.join("pg_wal/00000002.history").exists(),
        "no new timeline"
    );
}

/// The `.backup` file pg_basebackup leaves and the `.history` file of a
/// promotion, as PostgreSQL's archiver hands them to wal-push, pass its
/// checks and come back byte for byte: the checks refuse garbage
/// (tests/wal_cli.rs), never the real thing.
#[test]
fn real_backup_and_history_files_pass_the_checks() {
    let Some(bin) = pg_bin_or_skip("real_backup_and_history_files") else {
        return;
    };
    let scratch = Scratch::new();
    let walden = scratch.walden_copy();
    let repo = scratch.pg_dir("repo");
    let archive_command = format!("{} wal-push --repo {} %p", walden.display(), repo.display());
    let primary = Cluster::primary(&bin, &scratch, archive_command.clone(), &[]);
    primary.sql("CREATE TABLE t (id int)");
    let copy = primary.base_copy(&scratch, "copy");
    primary.sql("INSERT INTO t SELECT generate_series(1, 1000)");
    let segment = primary.switch_wal();
    primary.wait_archived(&segment);
    primary.stop().unwrap();
    let backups: Vec<String> = repo_files(&repo, "wal/00000001")
        .into_iter()
        .filter(|k| k.contains(".backup"))
        .collect();
    assert_eq!(
        backups.len(),
        1,
        "pg_basebackup's .backup file: {backups:?}"
    );

    // Recover the copy from the archive and promote it, archiving again.
    copy.configure(&[
        (
            "restore_command",
            format!(
                "{} wal-fetch --repo {} %f %p",
                walden.display(),
                repo.display()
            ),
        ),
        ("archive_mode", "on".into()),
        ("archive_command", archive_command),
    ])
    .unwrap();
    let signal = copy.data.join("recovery.signal");
    std::fs::write(&signal, b"").unwrap();
    copy.run_as.give(&signal).unwrap();
    copy.start().unwrap();
    copy.wait_until_promoted(Duration::from_secs(120)).unwrap();
    // The archiver sends history files first, so once a timeline 2
    // segment is archived, 00000002.history is too.
    let segment = copy.switch_wal();
    assert!(segment.starts_with("00000002"), "{segment}");
    copy.wait_archived(&segment);
    let history = std::fs::read(copy.data.join("pg_wal/00000002.history")).unwrap();
    copy.stop().unwrap();
    assert!(!copy.log().contains("refusing"), "{}", copy.log());
    assert!(!primary.log().contains("refusing"), "{}", primary.log());

    let fetch = |name: &str| {
        let dest = scratch.path().join("fetched");
        let out = run(support::walden()
            .arg("wal-fetch")
            .arg("--repo")
            .arg(&repo)
            .arg(name)
            .arg(&dest));
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        std::fs::read(&dest).unwrap()
    };
    assert_eq!(fetch("00000002.history"), history);
    let backup_name = backups[0].split(".backup").next().unwrap().to_string() + ".backup";
    let label = String::from_utf8(fetch(&backup_name)).unwrap();
    assert!(label.contains("STOP WAL LOCATION"), "{label}");
}
