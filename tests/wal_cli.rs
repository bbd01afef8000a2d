//! wal-push / wal-fetch driven directly, as PostgreSQL would: bad input, exit codes, duplicates, configuration, crash safety.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use support::fake_pgdata::FakePgdata;
use support::*;

fn assert_quiet_stdout(out: &Output) {
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn push_then_fetch_round_trips_and_logs_to_stderr_only() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    let rel = s.wal_file(&name, &data);
    let out = s.push(&rel, &["--log-format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_quiet_stdout(&out);
    let line = stderr(&out);
    let event: serde_json::Value =
        serde_json::from_str(line.lines().last().unwrap()).expect("json log line");
    assert_eq!(event["wal"], name.as_str());
    assert_eq!(event["bytes_in"], 16 << 20);
    assert!(
        event["bytes_out"].as_u64().unwrap() < 1 << 20,
        "zero-padded segment compresses"
    );
    assert!(event["ms"].is_u64());

    let identity: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.repo.join("walden.json")).unwrap()).unwrap();
    assert_eq!(identity["pg_version"], 15);

    let out = s.fetch(&name, &["--log-format", "logfmt"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_quiet_stdout(&out);
    assert!(
        stderr(&out).contains("level=info msg=restored"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.fetched(), data);
}

#[test]
fn history_backup_and_partial_files_are_archived() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    let history = "1\t0/3000000\tno recovery target specified\n";
    for (file, bytes) in [
        ("00000002.history".to_string(), history.as_bytes().to_vec()),
        (
            "00000003.history".to_string(),
            wal_fixture("00000003.history"),
        ),
        (
            "000000010000000000000003.00000028.backup".to_string(),
            wal_fixture("000000010000000000000003.00000028.backup"),
        ),
        (format!("{name}.partial"), data.clone()),
    ] {
        let out = s.push(&s.wal_file(&file, &bytes), &[]);
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
        let out = s.fetch(&file, &[]);
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
        assert_eq!(s.fetched(), bytes, "{file}");
    }
    assert!(s.repo.join("wal/00000002/00000002.history.zst").exists());
}

/// A file PostgreSQL wrote, from fixtures/wal (16 MiB segment cluster).
fn wal_fixture(name: &str) -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/wal/pg15-16MiB-{name}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A garbage history file would steer recovery_target_timeline = latest,
/// restore and prune; a garbage .backup file is not what its name says.
/// Both are refused with an ordinary failure (PostgreSQL retries) and
/// nothing reaches the repository.
#[test]
fn malformed_history_and_backup_files_are_refused_and_nothing_is_written() {
    let s = FakePgdata::new();
    let real_backup = wal_fixture("000000010000000000000003.00000028.backup");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "00000002.history",
            b"garbage that is no history\n".to_vec(),
            "not a timeline history file for timeline 2",
        ),
        ("00000002.history", Vec::new(), "names no parent timeline"),
        // Timeline 3's history under timeline 2's name.
        (
            "00000002.history",
            wal_fixture("00000003.history"),
            "not an ancestor",
        ),
        (
            "00000004.history",
            b"1\t0/6000000\tr\n2\t0/5000000\tr\n".to_vec(),
            "must not go backwards",
        ),
        (
            "00000002.history",
            b"1\t0/3000000\tr\n".repeat(80_000),
            "over 1048576 bytes",
        ),
        (
            "000000010000000000000003.00000028.backup",
            b"hello\n".to_vec(),
            "not a PostgreSQL backup history file",
        ),
        // A real backup history file under another backup's name.
        (
            "000000010000000000000005.00000028.backup",
            real_backup,
            "not the segment 000000010000000000000005",
        ),
    ];
    for (name, contents, expected) in cases {
        let out = s.push(&s.wal_file(name, &contents), &[]);
        assert_eq!(code(&out), 1, "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("refusing to archive"), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {expected}: {err}");
        assert_quiet_stdout(&out);
        std::fs::remove_file(s.pgdata.join("pg_wal").join(name)).unwrap();
    }
    assert!(s.snapshot().is_empty(), "repository untouched");
}

#[test]
fn names_that_are_not_wal_are_refused_and_nothing_is_written() {
    let s = FakePgdata::new();
    let (_, data) = fixture_segment(None);
    for bad in [
        "postgresql.conf",
        "000000010000000000000001.tmp",
        "00000001000000000000000g",
        "0000000100000000000000011",
        "../000000010000000000000001x",
    ] {
        let rel = s.wal_file(&bad.replace("../", ""), &data);
        let out = s.push(&rel, &[]);
        assert_eq!(code(&out), 2, "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("refusing to archive"),
            "{bad}: {}",
            stderr(&out)
        );
        assert_quiet_stdout(&out);
    }
    assert!(s.snapshot().is_empty(), "repository untouched");
    // wal-fetch of a non-WAL name is fatal for recovery, not "absent".
    let out = s.fetch("postgresql.conf", &[]);
    assert!(code(&out) > 125, "{}", stderr(&out));
}

#[test]
fn missing_file_is_an_ordinary_failure() {
    let s = FakePgdata::new();
    let out = s.push("pg_wal/000000010000000000000009", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read WAL file"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains('\u{1b}'),
        "no colour codes into PostgreSQL's log"
    );
}

#[test]
fn a_file_that_is_not_a_segment_under_a_segment_name_is_refused() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    let out = s.push(&s.wal_file(&name, &vec![0u8; 16 << 20]), &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // A real segment under another segment's name: the page address disagrees.
    let other = format!("{}F", &name[..23]);
    let out = s.push(&s.wal_file(&other, &data), &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // A truncated segment.
    let out = s.push(&s.wal_file(&name, &data[..1 << 20]), &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("truncated"), "{}", stderr(&out));
    assert!(s.snapshot().is_empty());
}

#[test]
fn segment_from_another_cluster_is_refused_naming_both_ids() {
    let s = FakePgdata::new();
    let (name, ours) = fixture_segment(Some(7_000_000_000_000_000_001));
    assert_eq!(code(&s.push(&s.wal_file(&name, &ours), &[])), 0);
    let before = s.snapshot();
    let next = format!(
        "{}{:X}",
        &name[..23],
        u8::from_str_radix(&name[23..], 16).unwrap() + 1
    );
    let (_, mut theirs) = fixture_segment(Some(7_000_000_000_000_000_002));
    // Make it a valid header for the next segment's page address.
    let addr = u64::from_le_bytes(theirs[8..16].try_into().unwrap()) + (16 << 20);
    theirs[8..16].copy_from_slice(&addr.to_le_bytes());
    let out = s.push(&s.wal_file(&next, &theirs), &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains("7000000000000000001") && msg.contains("7000000000000000002"),
        "{msg}"
    );
    assert_eq!(s.snapshot(), before, "repository unchanged");
}

#[test]
fn duplicates_identical_succeed_different_are_refused_without_overwrite() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    let rel = s.wal_file(&name, &data);
    assert_eq!(code(&s.push(&rel, &[])), 0);
    let before = s.snapshot();

    // Same content, even with other compression settings: success, nothing written.
    let out = s.push(&rel, &["--compression", "snappy"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already archived"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.snapshot(), before);

    // Different content under the same name: refused, original kept.
    let mut other = data.clone();
    other[100_000] ^= 1;
    let out = s.push(&s.wal_file(&name, &other), &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("different checksum"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.snapshot(), before);
    assert_eq!(code(&s.fetch(&name, &[])), 0);
    assert_eq!(s.fetched(), data);
}

#[test]
fn absent_files_exit_1_silently_and_say_why_at_debug_level() {
    let s = FakePgdata::new();
    // "Absent" needs a repository that is there (see tests/repository_gone.rs).
    let (name, data) = fixture_segment(None);
    assert_eq!(code(&s.push(&s.wal_file(&name, &data), &[])), 0);
    for name in ["000000010000000000000042", "00000002.history"] {
        // A standby asks every 5 s: at the default level, not one line in
        // PostgreSQL's log.
        let out = s.fetch(name, &["--log-format", "logfmt"]);
        assert_eq!(code(&out), 1, "{name}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{name}: {}", stderr(&out));
        assert_quiet_stdout(&out);
        assert!(!s.pgdata.join("pg_wal/RECOVERYXLOG").exists());
        // -v (or log-level = "debug") says why.
        let out = s.fetch(name, &["--log-format", "logfmt", "-v"]);
        assert_eq!(code(&out), 1, "{name}: {}", stderr(&out));
        let msg = stderr(&out);
        assert!(
            msg.contains("level=debug") && msg.contains("not in the archive"),
            "{msg}"
        );
        assert!(!msg.contains("level=error"), "{msg}");
    }
}

#[test]
fn unknown_scheme_is_a_usage_error_for_push_and_fatal_for_fetch() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    let rel = s.wal_file(&name, &data);
    let out = run(walden()
        .current_dir(&s.pgdata)
        .args(["wal-push", "--repo", "ftp://host/x"])
        .arg(&rel));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unsupported repository URL scheme"),
        "{}",
        stderr(&out)
    );
    let out = run(walden().current_dir(&s.pgdata).args([
        "wal-fetch",
        "--repo",
        "ftp://host/x",
        &name,
        "pg_wal/x",
    ]));
    assert!(code(&out) > 125, "{}", stderr(&out));
    // Bad arguments to wal-fetch are fatal too: recovery must not read them as "absent".
    let out = run(walden().args(["wal-fetch", "--no-such-flag", &name, "x"]));
    assert!(code(&out) > 125, "{}", stderr(&out));
    let out = run(walden().args(["wal-push", "--no-such-flag", "x"]));
    assert_eq!(code(&out), 2);
}

fn age_key(dir: &Path) -> (String, PathBuf) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let path = dir.join(format!("key-{}.txt", rand_suffix()));
    std::fs::write(&path, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    (identity.to_public().to_string(), path)
}

fn rand_suffix() -> u64 {
    use std::time::SystemTime;
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn encrypted_segments_need_the_right_identity_else_fetch_is_fatal() {
    let s = FakePgdata::new();
    let (recipient, key) = age_key(s.scratch.path());
    let (_, wrong_key) = age_key(s.scratch.path());
    let (name, data) = fixture_segment(None);
    let out = s.push(
        &s.wal_file(&name, &data),
        &["--encrypt-recipient", &recipient],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(s.repo.join(format!("wal/00000001/{name}.zst.age")).exists());

    let out = s.fetch(&name, &[]);
    assert!(code(&out) > 125, "no identity: {}", stderr(&out));
    assert!(
        stderr(&out).contains("--decrypt-identity"),
        "{}",
        stderr(&out)
    );
    let out = s.fetch(&name, &["--decrypt-identity", wrong_key.to_str().unwrap()]);
    assert!(code(&out) > 125, "wrong identity: {}", stderr(&out));
    let out = s.fetch(&name, &["--decrypt-identity", "/no/such/key.txt"]);
    assert!(code(&out) > 125, "missing identity file: {}", stderr(&out));
    assert!(
        stderr(&out).contains("/no/such/key.txt"),
        "{}",
        stderr(&out)
    );
    assert!(
        !s.pgdata.join("pg_wal/RECOVERYXLOG").exists(),
        "nothing written on failure"
    );

    let out = s.fetch(&name, &["--decrypt-identity", key.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(s.fetched(), data);
}

#[test]
fn corrupt_and_truncated_objects_are_fatal_for_fetch() {
    for compression in ["zstd", "snappy", "none"] {
        let s = FakePgdata::new();
        let (name, data) = fixture_segment(None);
        assert_eq!(
            code(&s.push(&s.wal_file(&name, &data), &["--compression", compression])),
            0
        );
        let suffix = match compression {
            "zstd" => ".zst",
            "snappy" => ".sz",
            _ => "",
        };
        let object = s.repo.join(format!("wal/00000001/{name}{suffix}"));
        let stored = std::fs::read(&object).unwrap();

        let mut flipped = stored.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x55;
        std::fs::write(&object, &flipped).unwrap();
        let out = s.fetch(&name, &[]);
        assert!(code(&out) > 125, "{compression} corrupt: {}", stderr(&out));

        std::fs::write(&object, &stored[..stored.len() / 2]).unwrap();
        let out = s.fetch(&name, &[]);
        assert!(
            code(&out) > 125,
            "{compression} truncated: {}",
            stderr(&out)
        );
        assert!(!s.pgdata.join("pg_wal/RECOVERYXLOG").exists());
    }
}

#[test]
fn unwritable_repository_fails_cleanly_and_never_above_125() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    // A repository path below a regular file cannot be created, even by root.
    let blocker = s.scratch.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let repo = blocker.join("repo");
    let rel = s.wal_file(&name, &data);
    let out = run(walden()
        .current_dir(&s.pgdata)
        .arg("wal-push")
        .arg("--repo")
        .arg(&repo)
        .arg(&rel));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not-a-dir"),
        "the message names the path: {}",
        stderr(&out)
    );

    // As the unprivileged PostgreSQL account, a root-owned repository is read-only.
    let scratch = &s.scratch;
    if unsafe_is_root() {
        let repo = scratch.path().join("root-owned-repo");
        std::fs::create_dir(&repo).unwrap();
        let pgdata = scratch.pg_dir("pgdata2");
        std::fs::create_dir_all(pgdata.join("pg_wal")).unwrap();
        scratch.run_as.give(&pgdata.join("pg_wal")).unwrap();
        std::fs::write(pgdata.join("pg_wal").join(&name), &data).unwrap();
        let mut cmd = scratch.run_as.command(scratch.walden_copy());
        cmd.current_dir(&pgdata)
            .arg("wal-push")
            .arg("--repo")
            .arg(&repo)
            .arg(format!("pg_wal/{name}"));
        let out = cmd.output().unwrap();
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert!(
            stderr(&out).to_lowercase().contains("permission denied"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_dir(&repo).unwrap().count(),
            0,
            "nothing left behind"
        );
    }
}

fn unsafe_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn flag_beats_environment_beats_config_file() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    let rel = s.wal_file(&name, &data);
    let from_file = s.scratch.path().join("repo-file");
    let from_env = s.scratch.path().join("repo-env");
    let from_flag = s.scratch.path().join("repo-flag");
    let config = s.scratch.path().join("walden.toml");
    std::fs::write(
        &config,
        format!(
            "repo = \"{}\"\ncompression = \"snappy\"\n",
            from_file.display()
        ),
    )
    .unwrap();

    let push = |envs: &[(&str, &Path)], args: &[&str]| {
        let mut cmd = walden();
        cmd.current_dir(&s.pgdata)
            .arg("wal-push")
            .arg("--config")
            .arg(&config);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.args(args).arg(&rel);
        let out = run(&mut cmd);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    push(&[], &[]);
    assert!(
        from_file.join(format!("wal/00000001/{name}.sz")).exists(),
        "file setting used"
    );
    push(&[("WALDEN_REPO", &from_env)], &[]);
    assert!(
        from_env.join(format!("wal/00000001/{name}.sz")).exists(),
        "env beats file; file still gives compression"
    );
    push(
        &[("WALDEN_REPO", &from_env)],
        &["--repo", from_flag.to_str().unwrap()],
    );
    assert!(from_flag.join("walden.json").exists(), "flag beats env");

    std::fs::write(&config, "repo = 3\n").unwrap();
    let out = run(walden()
        .current_dir(&s.pgdata)
        .arg("wal-push")
        .arg("--config")
        .arg(&config)
        .arg(&rel));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("walden.toml"), "{}", stderr(&out));
}

/// SIGKILL at random moments of a push never leaves a partial object under
/// the final name, and a rerun succeeds.
#[test]
fn killed_push_leaves_nothing_partial_and_rerun_succeeds() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    let rel = s.wal_file(&name, &data);
    let object = s.repo.join(format!("wal/00000001/{name}.zst"));
    for attempt in 0..15u64 {
        let mut child = walden()
            .current_dir(&s.pgdata)
            .args(["wal-push", "--compression-level", "19", "--repo"])
            .arg(&s.repo)
            .arg(&rel)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + attempt * 7));
        let _ = child.kill();
        let _ = child.wait();
        if object.exists() {
            // Whatever is visible must be whole: it fetches and matches.
            let out = s.fetch(&name, &[]);
            assert_eq!(code(&out), 0, "attempt {attempt}: {}", stderr(&out));
            assert_eq!(s.fetched(), data, "attempt {attempt}");
            std::fs::remove_file(&object).unwrap();
        }
    }
    let out = s.push(&rel, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = s.fetch(&name, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(s.fetched(), data);
}

/// The README's break-glass restore: stock `age` and `zstd` read what
/// walden archived, without walden.
#[test]
fn archived_segments_restore_with_stock_age_and_zstd() {
    let missing: Vec<&str> = ["age", "zstd"]
        .into_iter()
        .filter(|tool| {
            !std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .status()
                .unwrap()
                .success()
        })
        .collect();
    if !missing.is_empty() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{missing:?} required under CI=true"
        );
        eprintln!("\n*** SKIPPED archived_segments_restore_with_stock_age_and_zstd: {missing:?} not installed ***\n");
        return;
    }
    let s = FakePgdata::new();
    let (recipient, key) = age_key(s.scratch.path());
    let (name, data) = fixture_segment(None);
    let out = s.push(
        &s.wal_file(&name, &data),
        &["--encrypt-recipient", &recipient],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let object = s.repo.join(format!("wal/00000001/{name}.zst.age"));
    let restored = s.scratch.path().join("restored");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"age -d -i "$1" "$2" | zstd -d -q -o "$3""#)
        .args([
            "sh",
            key.to_str().unwrap(),
            object.to_str().unwrap(),
            restored.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::read(&restored).unwrap() == data,
        "break-glass restore differs"
    );
}
