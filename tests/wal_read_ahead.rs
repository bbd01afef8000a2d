//! wal-push read-ahead and wal-fetch prefetch with real PostgreSQL 15: the
//! archive and the recovered rows are the same as without them, a wal-push
//! killed by SIGKILL in the middle of its read-ahead loses nothing, and a
//! damaged spool entry is never handed to PostgreSQL.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::site::assert_ok;
use support::*;

/// A primary whose archive_command is emptied after a WAL-less base copy
/// (PostgreSQL then keeps every finished segment `.ready`), with `segments`
/// segments of rows waiting.
struct Backlog {
    primary: Cluster,
    copy: Cluster,
    segments: Vec<String>,
    expected: String,
    repo: TestRepo,
    walden: PathBuf,
    scratch: Scratch,
}

fn backlog(test: &str, segments: u32) -> Option<Backlog> {
    let bin = pg_bin_or_skip(test)?;
    let scratch = Scratch::new();
    let repo = TestRepo::new(RepoKind::Local, &scratch, test)?;
    let walden = scratch.walden_copy();
    let archive_command = format!("{} %p", repo.shell_command(&walden, "wal-push"));
    let primary = Cluster::primary(&bin, &scratch, archive_command, &[]);
    primary.sql("CREATE TABLE t (id int PRIMARY KEY, payload text)");
    let copy = primary.base_copy(&scratch, "copy");
    primary.sql("ALTER SYSTEM SET archive_command = ''");
    primary.sql("SELECT pg_reload_conf()");
    let mut switched = Vec::new();
    for batch in 0..segments {
        primary.sql(&format!(
            "INSERT INTO t SELECT g, md5(g::text) FROM generate_series({}, {}) g",
            batch * 10_000,
            batch * 10_000 + 9_999
        ));
        switched.push(primary.switch_wal());
    }
    let ready = std::fs::read_dir(primary.data.join("pg_wal/archive_status"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".ready")
        })
        .count();
    assert!(
        ready >= switched.len(),
        "a backlog of .ready segments: {ready}"
    );
    let expected = primary.sql("SELECT count(*) || ':' || sum(id) FROM t");
    Some(Backlog {
        primary,
        copy,
        segments: switched,
        expected,
        repo,
        walden,
        scratch,
    })
}

impl Backlog {
    /// Turns archiving on with `flags` after `wal-push`.
    fn archive_with(&self, flags: &str) {
        let command = format!(
            "{} {flags} --log-format logfmt %p",
            self.repo.shell_command(&self.walden, "wal-push")
        );
        self.primary.sql(&format!(
            "ALTER SYSTEM SET archive_command = '{}'",
            command.replace('\'', "''")
        ));
        self.primary.sql("SELECT pg_reload_conf()");
    }

    fn wait_all_archived(&self) {
        self.primary.wait_archived(self.segments.last().unwrap());
    }

    /// Recovers the WAL-less copy with `flags` after `wal-fetch` and returns
    /// its rows, and its log.
    fn recover(&self, flags: &str) -> (String, String) {
        let restore_command = format!(
            "{} {flags} --log-format logfmt %f %p",
            self.repo.shell_command(&self.walden, "wal-fetch")
        );
        self.copy.start_recovery(restore_command);
        self.copy
            .wait_until_promoted(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{e}\n{}", self.copy.log_tail(40)));
        (
            self.copy.sql("SELECT count(*) || ':' || sum(id) FROM t"),
            self.copy.log(),
        )
    }

    fn walden(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.scratch.run_as.command(&self.walden);
        cmd.current_dir(self.scratch.path()).args(args);
        self.repo.apply(&mut cmd);
        cmd.output().unwrap()
    }
}

#[test]
fn read_ahead_and_prefetch_archive_and_recover_the_same_rows() {
    let Some(site) = backlog("read_ahead_and_prefetch", 10) else {
        return;
    };
    // The default spool: .walden-spool beside the data directory.
    site.archive_with("--jobs 3");
    site.wait_all_archived();
    let log = site.primary.log();
    let ahead = log.matches("archived earlier by read-ahead").count();
    assert!(
        ahead >= 5,
        "most of the backlog was archived ahead of PostgreSQL's calls ({ahead}):\n{log}"
    );
    assert!(!log.contains("level=warn"), "{log}");
    let archived = site.repo.keys("wal/00000001");
    for segment in &site.segments {
        assert!(
            archived.contains(&format!("{segment}.zst")),
            "{segment} missing from {archived:?}"
        );
    }
    let spool = site.scratch.path().join(".walden-spool");
    assert!(
        spool.is_dir(),
        "the default spool is beside the data directory"
    );
    assert_ok(&site.walden(&["verify", "--wal"]), "verify --wal");

    let fetch_spool = site.scratch.pg_dir("fetch-spool");
    let spool_flag = format!("--prefetch 4 --spool-dir {}", fetch_spool.display());
    let (rows, log) = site.recover(&spool_flag);
    assert_eq!(rows, site.expected, "recovered rows differ:\n{log}");
    let served = log.matches("restored from the prefetch spool").count();
    assert!(
        served >= 4,
        "segments came from the spool ({served}):\n{log}"
    );
    assert!(!log.contains("level=error"), "{log}");
}

#[test]
fn wal_push_killed_during_read_ahead_loses_nothing() {
    let Some(site) = backlog("wal_push_killed_during_read_ahead", 12) else {
        return;
    };
    site.archive_with("--jobs 4");
    // SIGKILL every wal-push we see for a while, mid-upload or mid-marker.
    let mut killed = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        for pid in processes_running(&site.walden, "wal-push") {
            // SAFETY: kill(2) with a PID we just read and a valid signal.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(70));
    }
    assert!(killed > 0, "no wal-push was caught running");
    site.wait_all_archived();
    assert_ok(
        &site.walden(&["verify", "--wal"]),
        "verify --wal after kills",
    );
    let (rows, log) = site.recover("");
    assert_eq!(rows, site.expected, "recovered rows differ:\n{log}");
}

#[test]
fn a_damaged_spool_entry_is_never_used() {
    let Some(site) = backlog("damaged_spool_entry", 4) else {
        return;
    };
    site.archive_with("");
    site.wait_all_archived();
    site.primary.stop().unwrap();
    let pg_wal = site.scratch.pg_dir("restoring").join("pg_wal");
    site.scratch.run_as.make_dir(&pg_wal).unwrap();
    let spool = site.scratch.pg_dir("spool");
    let spool_arg = spool.display().to_string();
    let fetch = |segment: &str, prefetch: &str| {
        site.walden(&[
            "wal-fetch",
            "--prefetch",
            prefetch,
            "--spool-dir",
            &spool_arg,
            "--log-format",
            "logfmt",
            segment,
            "restoring/pg_wal/RECOVERYXLOG",
        ])
    };
    let segs = &site.segments;
    let first = fetch(&segs[0], "3");
    assert_ok(&first, "first fetch");
    // Wait for the background worker to fill the spool with the next three.
    let entries = || spool_entries(&spool);
    let deadline = Instant::now() + Duration::from_secs(30);
    while entries().len() < 3 {
        assert!(Instant::now() < deadline, "prefetched: {:?}", entries());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A crash truncated one entry and left another with garbage in place.
    let truncated = entry_for(&spool, &segs[1]);
    let file = std::fs::File::options()
        .write(true)
        .open(&truncated)
        .unwrap();
    file.set_len(1 << 20).unwrap();
    let garbled = entry_for(&spool, &segs[2]);
    let mut bytes = std::fs::read(&garbled).unwrap();
    bytes[8 << 20] ^= 0xff;
    std::fs::write(&garbled, &bytes).unwrap();

    for (segment, from_spool) in [(&segs[1], false), (&segs[2], false), (&segs[3], true)] {
        let out = fetch(segment, "3");
        assert_ok(&out, segment);
        let log = stderr(&out);
        assert_eq!(
            log.contains("restored from the prefetch spool"),
            from_spool,
            "{segment}: {log}"
        );
        let got = std::fs::read(pg_wal.join("RECOVERYXLOG")).unwrap();
        let direct = fetch(segment, "0");
        assert_ok(&direct, "direct fetch");
        let want = std::fs::read(pg_wal.join("RECOVERYXLOG")).unwrap();
        assert!(
            got == want,
            "{segment}: the restored bytes differ from the archive's"
        );
    }
}

/// PIDs of processes running `binary` with `subcommand`.
fn processes_running(binary: &Path, subcommand: &str) -> Vec<i32> {
    let binary = binary.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let entry = e.ok()?;
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let runs = args.iter().any(|a| a == &binary) && args.iter().any(|a| a == subcommand);
            runs.then_some(pid)
        })
        .collect()
}

/// Complete entries in a spool's fetch directory (the one subdirectory of `spool`).
fn spool_entries(spool: &Path) -> Vec<PathBuf> {
    let Some(cluster) = std::fs::read_dir(spool)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
    else {
        return Vec::new();
    };
    let Ok(listing) = std::fs::read_dir(cluster.path().join("fetch")) else {
        return Vec::new();
    };
    listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.') && name.len() == 24 + 1 + 8
        })
        .collect()
}

fn entry_for(spool: &Path, segment: &str) -> PathBuf {
    spool_entries(spool)
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(segment)
        })
        .unwrap_or_else(|| panic!("no spool entry for {segment}"))
}
