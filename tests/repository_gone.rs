//! wal-fetch says "not in the archive" (exit 1) only from a repository that is verifiably there and this cluster's; a vanished repository, a panic, or anything odd under a key stops recovery instead (exit above 125).

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use support::fake_pgdata::FakePgdata;
use support::*;

/// The segment PostgreSQL asks for that was never archived.
const ABSENT: &str = "000000010000000000000002";

/// A fake data directory whose repository holds one archived segment, so
/// that its walden.json exists.
struct Setup(FakePgdata);

impl std::ops::Deref for Setup {
    type Target = FakePgdata;
    fn deref(&self) -> &FakePgdata {
        &self.0
    }
}

fn setup() -> Setup {
    Setup(FakePgdata::with_one_segment())
}

impl Setup {
    /// `walden wal-fetch <name> pg_wal/RECOVERYXLOG --repo <repo>`, as restore_command.
    fn fetch_from(&self, repo: &Path, name: &str) -> Output {
        let out = run(&mut self.fetch_command_from(repo, name));
        assert!(
            !self.pgdata.join("pg_wal/RECOVERYXLOG").exists(),
            "nothing is handed to PostgreSQL"
        );
        out
    }

    fn fetch(&self, name: &str) -> Output {
        self.fetch_from(&self.repo, name)
    }

    /// Asserts the fetch of the absent segment from `repo` stops recovery,
    /// with a message containing `needle`.
    fn assert_fatal(&self, repo: &Path, what: &str, needle: &str) {
        let out = self.fetch_from(repo, ABSENT);
        let msg = stderr(&out);
        assert_eq!(code(&out), 255, "{what}: {msg}");
        assert!(
            msg.contains(needle),
            "{what}: the message says {needle:?}: {msg}"
        );
    }

    fn system_identifier(&self) -> u64 {
        let identity: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.repo.join("walden.json")).unwrap()).unwrap();
        identity["system_identifier"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A global/pg_control whose system identifier is `sysid`.
    fn write_control_file(&self, sysid: u64) {
        let mut control = vec![0u8; 8192];
        control[..8].copy_from_slice(&sysid.to_ne_bytes());
        std::fs::create_dir_all(self.pgdata.join("global")).unwrap();
        std::fs::write(self.pgdata.join("global/pg_control"), control).unwrap();
    }
}

#[test]
fn absent_only_from_a_present_repository_of_this_cluster() {
    let s = setup();
    let out = s.fetch(ABSENT);
    assert_eq!(code(&out), 1, "present repository: {}", stderr(&out));

    let sysid = s.system_identifier();
    s.write_control_file(sysid);
    let out = s.fetch(ABSENT);
    assert_eq!(code(&out), 1, "this cluster's repository: {}", stderr(&out));
    s.write_control_file(sysid ^ 0xFFFF);
    s.assert_fatal(&s.repo, "another cluster's repository", &sysid.to_string());
    std::fs::remove_file(s.pgdata.join("global/pg_control")).unwrap();

    let identity = s.repo.join("walden.json");
    let saved = std::fs::read(&identity).unwrap();
    std::fs::write(&identity, b"{ garbage").unwrap();
    s.assert_fatal(&s.repo, "unreadable walden.json", "walden.json");
    std::fs::write(&identity, saved).unwrap();
    assert_eq!(code(&s.fetch(ABSENT)), 1);
}

#[test]
fn a_missing_empty_or_misplaced_repository_root_is_not_absent() {
    let s = setup();
    let parent = s.repo.parent().unwrap();
    s.assert_fatal(&parent.join("never-created"), "root missing", "walden.json");

    let file = parent.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    s.assert_fatal(&file, "root is a file", "walden.json");

    let empty = parent.join("mount-point");
    std::fs::create_dir(&empty).unwrap();
    s.assert_fatal(&empty, "root is an empty directory", "unmounted");

    let link = parent.join("link-to-nowhere");
    std::os::unix::fs::symlink(parent.join("unmounted-volume"), &link).unwrap();
    s.assert_fatal(&link, "root is a dangling symlink", "symbolic link");
}

#[test]
fn odd_things_under_a_key_are_not_absent() {
    let s = setup();
    let key = s.repo.join(format!("wal/00000001/{ABSENT}.zst"));

    std::fs::create_dir(&key).unwrap();
    s.assert_fatal(&s.repo, "key is an empty directory", "directory");
    std::fs::write(key.join("junk"), b"junk").unwrap();
    s.assert_fatal(&s.repo, "key is a directory with a file", "directory");
    std::fs::remove_dir_all(&key).unwrap();

    std::os::unix::fs::symlink("/nonexistent/walden-volume/segment", &key).unwrap();
    s.assert_fatal(&s.repo, "key is a dangling symlink", "symbolic link");
    std::fs::remove_file(&key).unwrap();

    // The timeline's directory on a volume that is gone.
    let timeline = s.repo.join("wal/00000001");
    std::fs::rename(&timeline, s.repo.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/walden-volume", &timeline).unwrap();
    s.assert_fatal(
        &s.repo,
        "timeline directory a dangling symlink",
        "symbolic link",
    );
}

/// walden wal-fetch with a hidden debug-build trigger that panics: the exit
/// status must be fatal for recovery, never the 101 PostgreSQL reads as "absent".
#[test]
fn a_panic_in_wal_fetch_stops_recovery() {
    let s = setup();
    let (name, _) = fixture_segment(None);
    let out = run(walden()
        .current_dir(&s.pgdata)
        .env("WALDEN_TEST_PANIC", "1")
        .args(["wal-fetch", "--repo"])
        .arg(&s.repo)
        .args([name.as_str(), "pg_wal/RECOVERYXLOG"]));
    let msg = stderr(&out);
    assert_eq!(code(&out), 255, "{msg}");
    assert!(msg.contains("panicking on purpose"), "{msg}");
    assert!(!s.pgdata.join("pg_wal/RECOVERYXLOG").exists());
}

/// An object store whose bucket or prefix is missing answers "not found" to
/// everything: that must stop recovery, not end it.
fn missing_bucket_or_prefix(kind: RepoKind) {
    let test = format!("missing_bucket_or_prefix_{kind:?}");
    let scratch = Scratch::new();
    let Some(repo) = TestRepo::new(kind, &scratch, &test) else {
        return;
    };
    let pgdata = scratch.path().join("pgdata");
    std::fs::create_dir_all(pgdata.join("pg_wal")).unwrap();
    let (name, data) = fixture_segment(None);
    std::fs::write(pgdata.join("pg_wal").join(&name), &data).unwrap();
    let push = run(repo
        .apply(walden().current_dir(&pgdata).arg("wal-push"))
        .arg(format!("pg_wal/{name}")));
    assert_eq!(code(&push), 0, "{}", stderr(&push));
    let fetch = |repo: &TestRepo| {
        let out = run(repo
            .apply(walden().current_dir(&pgdata).arg("wal-fetch"))
            .args([ABSENT, "pg_wal/RECOVERYXLOG"]));
        assert!(!pgdata.join("pg_wal/RECOVERYXLOG").exists());
        out
    };
    let out = fetch(&repo);
    assert_eq!(code(&out), 1, "{kind:?} present: {}", stderr(&out));

    let scheme = if kind == RepoKind::S3 { "s3" } else { "gs" };
    let bucket = repo
        .url
        .trim_start_matches(&format!("{scheme}://"))
        .split('/')
        .next()
        .unwrap()
        .to_string();
    for (what, url) in [
        (
            "missing prefix",
            format!("{scheme}://{bucket}/no-such-prefix"),
        ),
        (
            "missing bucket",
            format!("{scheme}://{bucket}-gone/cluster-a"),
        ),
    ] {
        let out = fetch(&repo.clone().with_url(&url));
        let msg = stderr(&out);
        assert_eq!(code(&out), 255, "{kind:?} {what}: {msg}");
        assert!(
            msg.contains("walden.json") || msg.contains(&format!("{bucket}-gone")),
            "{kind:?} {what}: the message says why: {msg}"
        );
    }
}

#[test]
fn s3_missing_bucket_or_prefix_is_not_absent() {
    missing_bucket_or_prefix(RepoKind::S3);
}

#[test]
fn gcs_missing_bucket_or_prefix_is_not_absent() {
    missing_bucket_or_prefix(RepoKind::Gcs);
}

/// How the repository disappears in the middle of a recovery.
#[derive(Debug, Clone, Copy)]
enum Vanish {
    /// Renamed away (an unmounted volume whose mount point is gone).
    RenamedAway,
    /// Replaced by an empty directory (an unmounted mount point).
    EmptyMountPoint,
}

/// A real recovery through wal-fetch where the repository vanishes after a
/// few segments: PostgreSQL must stop, not promote with part of the rows;
/// once the repository is back, the same recovery completes with every row.
fn repository_vanishes_mid_recovery(vanish: Vanish) {
    let test = format!("repository_vanishes_mid_recovery_{vanish:?}");
    let Some(bin) = pg_bin_or_skip(&test) else {
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
    let mut last = String::new();
    for batch in 0..20 {
        primary.sql(&format!(
            "INSERT INTO t SELECT generate_series({}, {})",
            batch * 100 + 1,
            batch * 100 + 100
        ));
        last = primary.switch_wal();
    }
    primary.wait_archived(&last);
    primary.stop().unwrap();

    // restore_command through a wrapper that makes the repository vanish
    // from its 6th call on (after a few segments were restored).
    let gone = scratch.path().join("repo.gone");
    let vanish_cmd = match vanish {
        Vanish::RenamedAway => format!("mv {r} {g}", r = repo.display(), g = gone.display()),
        Vanish::EmptyMountPoint => format!(
            "mv {r} {g} && mkdir {r}",
            r = repo.display(),
            g = gone.display()
        ),
    };
    let counter = scratch.path().join("calls");
    let wrapper = scratch.path().join("fetch.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nn=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n\
             if [ $n -eq 6 ]; then {vanish_cmd}; fi\n\
             exec {w} wal-fetch --repo {r} \"$1\" \"$2\"\n",
            c = counter.display(),
            w = walden.display(),
            r = repo.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    scratch.run_as.give(&wrapper).unwrap();

    copy.start_recovery(format!("{} %f %p", wrapper.display()));
    let deadline = Instant::now() + Duration::from_secs(90);
    while copy.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = copy.log();
    assert!(
        !copy.is_running(),
        "{vanish:?}: recovery should have stopped:\n{log}"
    );
    assert!(log.contains("FATAL"), "{vanish:?}: no FATAL:\n{log}");
    assert!(
        !log.contains("selected new timeline ID") && !log.contains("archive recovery complete"),
        "{vanish:?}: the server promoted:\n{log}"
    );
    assert!(
        !copy.data.join("pg_wal/00000002.history").exists(),
        "{vanish:?}: no new timeline"
    );
    assert!(
        log.contains("walden.json"),
        "{vanish:?}: the log says why:\n{log}"
    );

    // The repository is back: the same recovery resumes and ends with every row.
    if matches!(vanish, Vanish::EmptyMountPoint) {
        std::fs::remove_dir(&repo).unwrap();
    }
    std::fs::rename(&gone, &repo).unwrap();
    std::fs::write(&counter, b"100").unwrap();
    scratch.run_as.give(&counter).unwrap();
    let _ = copy.start();
    copy.wait_until_promoted(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{vanish:?}: {e}\n{}", copy.log()));
    assert_eq!(copy.sql("SELECT count(*) FROM t"), "2000", "{vanish:?}");
}

#[test]
fn repository_renamed_away_mid_recovery_stops_postgresql() {
    repository_vanishes_mid_recovery(Vanish::RenamedAway);
}

#[test]
fn repository_replaced_by_an_empty_mount_point_mid_recovery_stops_postgresql() {
    repository_vanishes_mid_recovery(Vanish::EmptyMountPoint);
}
