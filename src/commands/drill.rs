//! `drill`: prove a backup restores. Restore it into a temporary directory, start PostgreSQL on a private socket, replay the archive to its end, run a check, and record RTO, RPO and the outcome in the repository.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cli::DrillArgs;
use crate::commands::progress::human_bytes;
use crate::commands::restore;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg::recovery::{ArchiveMode, RecoverySettings, TargetTimeline};
use crate::pg::server::{PgBin, RunAs, Server};
use crate::pipeline::Identities;
use crate::repo::catalog::TargetBound;
use crate::repo::drills::{self, DrillRecord, DRILL_FORMAT};
use crate::repo::manifest::Manifest;

/// Settings appended for the drill's server. It must never write to the
/// archive (a promoted drill would push a new timeline into production's
/// repository), must not need the production host's configuration, and
/// must not stop replay over max_connections and friends (hot standby off:
/// no connections until replay is over, which is when the RTO clock stops).
const DRILL_SETTINGS: &[(&str, &str)] = &[
    ("archive_mode", "off"),
    ("archive_command", ""),
    ("hot_standby", "off"),
    ("primary_conninfo", ""),
    ("shared_buffers", "128MB"),
    ("max_wal_size", "1GB"),
    ("listen_addresses", ""),
    ("ssl", "off"),
    ("shared_preload_libraries", ""),
    ("logging_collector", "off"),
    ("log_destination", "stderr"),
];

/// What the drill prints with --json: the record it stored, and where.
#[derive(Debug, Serialize)]
struct Outcome<'a> {
    #[serde(flatten)]
    record: &'a DrillRecord,
    record_key: Option<String>,
}

pub async fn run(args: &DrillArgs, settings: &Settings) -> Result<()> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let store = settings.store()?;
    let identities = settings.identities()?;
    let requested = args.backup.as_deref().unwrap_or("latest");
    let chosen = restore::choose_backup(
        store.as_ref(),
        &identities,
        requested,
        TargetBound::None,
        None,
    )
    .await?;
    // A drill proves that production restores; in a repository two
    // clusters write into, "the end of the archive" is not one place.
    if chosen.active_fork {
        return Err(Error::usage(format!(
            "{}: a drill would not prove anything until one cluster stops archiving here (see walden status)",
            chosen.fork_note.as_deref().unwrap_or("two clusters archive into this repository")
        )));
    }
    if let Some(note) = &chosen.fork_note {
        tracing::warn!("{note}");
    }
    let timeline = chosen.timeline.unwrap_or(TargetTimeline::Latest);
    let manifest = chosen.manifest;
    if manifest.encrypted && identities.is_empty() {
        return Err(Error::usage(format!(
            "backup {} is encrypted: pass --decrypt-identity FILE",
            manifest.name
        )));
    }
    let bin = pg_bin(args.pg_bin.as_deref(), &manifest)?;
    let run_as = RunAs::detect().map_err(|e| Error::usage(e.to_string()))?;
    let work = WorkDir::new(args.work_dir.as_deref(), &run_as)?;
    check_free_space(work.path(), manifest.bytes)?;
    let restore_command = restore::restore_command(settings)?;

    let say = |line: String| {
        if args.json || settings.quiet() {
            tracing::info!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "drill: restoring backup {} ({}) into {}",
        manifest.name,
        human_bytes(manifest.bytes),
        work.path().display()
    ));
    let mut record = DrillRecord {
        format: DRILL_FORMAT,
        backup: manifest.name.clone(),
        started: started_at,
        finished: started_at,
        success: false,
        rto_seconds: None,
        rpo_seconds: None,
        last_replayed_commit: None,
        replayed_to_lsn: None,
        bytes_restored: 0,
        check: describe_check(args),
        error: None,
        host: hostname(),
        walden_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let result = tokio::select! {
        result = drill(
            args,
            settings,
            &manifest,
            &identities,
            &bin,
            run_as,
            &work,
            RecoverySettings {
                restore_command,
                target: None,
                inclusive: true,
                action: None,
                timeline: Some(timeline),
                standby: false,
                archive: ArchiveMode::Off,
                primary_conninfo: None,
                primary_slot_name: None,
            },
            clock,
            &mut record,
        ) => result,
        signal = interrupted() => {
            // Neither the server nor the restored files may outlive an
            // interrupted drill.
            stop_postmaster(&work.path().join("data"));
            Err(Error::failed(format!("interrupted by {signal}; the drill's server (if it had started) was stopped")))
        }
    };
    record.finished = Utc::now();
    if let Err(e) = &result {
        record.success = false;
        record.error = Some(first_line(&e.to_string()));
    }
    let record_key = match drills::record(store.as_ref(), &record).await {
        Ok(key) => Some(key),
        Err(e) => {
            tracing::error!("{e}");
            None
        }
    };
    let keep = result.is_err() && args.keep_failed;
    let mut work = work;
    if keep {
        work.keep();
    }
    if args.json {
        let text = serde_json::to_string_pretty(&Outcome {
            record: &record,
            record_key: record_key.clone(),
        })
        .map_err(|e| Error::failed(format!("encoding the result: {e}")))?;
        println!("{text}");
    }
    match result {
        Ok(()) => {
            if !args.json && !settings.quiet() {
                println!(
                    "drill: OK: backup {} restored {} and replayed to {}; RTO {:.1} s, RPO {}",
                    record.backup,
                    human_bytes(record.bytes_restored),
                    record.replayed_to_lsn.as_deref().unwrap_or("?"),
                    record.rto_seconds.unwrap_or_default(),
                    record
                        .rpo_seconds
                        .map(|s| format!(
                            "{s:.1} s (newest replayed commit {})",
                            record
                                .last_replayed_commit
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_default()
                        ))
                        .unwrap_or_else(|| "unknown (no commit replayed)".to_string())
                );
            }
            if record_key.is_none() {
                return Err(Error::failed(
                    "the drill succeeded but its result could not be recorded in the repository",
                ));
            }
            Ok(())
        }
        Err(e) => {
            if keep {
                eprintln!(
                    "drill: FAILED; kept {} for inspection",
                    work.path().display()
                );
            }
            Err(e.context(format!("drill of backup {} failed", record.backup)))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn drill(
    args: &DrillArgs,
    settings: &Settings,
    manifest: &Manifest,
    identities: &Identities,
    bin: &PgBin,
    run_as: RunAs,
    work: &WorkDir,
    recovery: RecoverySettings,
    clock: Instant,
    record: &mut DrillRecord,
) -> Result<()> {
    let pgdata = work.path().join("data");
    let remap: HashMap<u32, PathBuf> = manifest
        .tablespaces
        .iter()
        .map(|t| (t.oid, work.path().join(format!("tblspc-{}", t.oid))))
        .collect();
    restore::unpack(
        settings.store()?,
        manifest.clone(),
        &pgdata,
        &remap,
        &recovery,
        identities,
        args.jobs,
    )
    .await?;
    record.bytes_restored = manifest.bytes;
    prepare_config(&pgdata, work.path())?;
    give_tree(&run_as, work.path())?;

    let mut server = Server::new(
        bin.clone(),
        run_as,
        pgdata,
        work.path().join("sock"),
        work.path().join("server.log"),
    );
    server.start_timeout = args.timeout.0;
    server.user = args.check_user.clone();
    server.database = args.check_database.clone();
    tracing::info!(log = %server.log.display(), "starting PostgreSQL on the restored backup and replaying the archive");
    let checked = tokio::task::spawn_blocking({
        let check_sql = args.check_sql.clone();
        let amcheck = args.amcheck;
        let timeout = args.timeout.0;
        move || -> std::result::Result<Replayed, String> {
            let outcome = start_and_check(&server, &check_sql, amcheck, timeout, clock);
            let stopped = server.stop();
            let outcome = outcome.map_err(|e| e.to_string())?;
            stopped.map_err(|e| format!("stopping the drill's server: {e}"))?;
            Ok(outcome)
        }
    })
    .await
    .map_err(|e| Error::failed(format!("the drill's server thread failed: {e}")))?
    .map_err(Error::failed)?;
    record.rto_seconds = Some(checked.ready_after.as_secs_f64());
    record.replayed_to_lsn = checked.replayed_to;
    record.last_replayed_commit = checked.last_commit;
    record.rpo_seconds = checked.last_commit.map(|t| {
        Utc::now()
            .signed_duration_since(t)
            .num_milliseconds()
            .max(0) as f64
            / 1000.0
    });
    record.success = true;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM, naming it.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Immediate shutdown of the postmaster of `data_dir`, by the PID in its
/// postmaster.pid, waiting up to 10 s for it to exit.
fn stop_postmaster(data_dir: &Path) {
    let pid = std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok());
    let Some(pid) = pid else {
        return;
    };
    // SAFETY: kill(2) on the PID the postmaster wrote; signal 0 only probes.
    unsafe { libc::kill(pid, libc::SIGQUIT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the restored server showed once ready.
struct Replayed {
    ready_after: Duration,
    replayed_to: Option<String>,
    last_commit: Option<DateTime<Utc>>,
}

fn start_and_check(
    server: &Server,
    check_sql: &str,
    amcheck: bool,
    timeout: Duration,
    clock: Instant,
) -> std::io::Result<Replayed> {
    server.start()?;
    wait_until_ready(server, timeout)?;
    let facts = server.psql(
        "SELECT coalesce(pg_last_wal_replay_lsn()::text, ''), coalesce(to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '')",
    )?;
    server.psql(check_sql).map_err(|e| {
        std::io::Error::other(format!(
            "the check query failed: {e}\n--- server log ({}) ---\n{}",
            server.log.display(),
            server.log_tail(20)
        ))
    })?;
    let ready_after = clock.elapsed();
    if amcheck {
        run_amcheck(server).map_err(|e| {
            std::io::Error::other(format!(
                "{e}\n--- server log ({}) ---\n{}",
                server.log.display(),
                server.log_tail(20)
            ))
        })?;
    }
    let (lsn, commit) = facts.split_once('|').unwrap_or((&facts, ""));
    Ok(Replayed {
        ready_after,
        replayed_to: Some(lsn.to_string()).filter(|s| !s.is_empty()),
        last_commit: commit.parse().ok(),
    })
}

/// Waits until the server has replayed the archive and been promoted,
/// asking as the check's role: refusals while it is still replaying are
/// waited out, any other refusal (no such role or database) fails at once
/// instead of after --timeout.
fn wait_until_ready(server: &Server, timeout: Duration) -> std::io::Result<()> {
    const STILL_REPLAYING: [&str; 3] = [
        "not accepting connections",
        "the database system is starting up",
        "in recovery mode",
    ];
    let with_log = |what: String| {
        std::io::Error::other(format!(
            "{what}\n--- server log ({}) ---\n{}",
            server.log.display(),
            server.log_tail(20)
        ))
    };
    let deadline = Instant::now() + timeout;
    loop {
        if !server.is_running() {
            return Err(with_log("the server stopped during recovery".to_string()));
        }
        match server.psql("SELECT pg_is_in_recovery()") {
            Ok(answer) if answer == "f" => return Ok(()),
            Ok(_) => {}
            Err(e) if STILL_REPLAYING.iter().any(|s| e.to_string().contains(s)) => {}
            Err(e) => {
                return Err(with_log(format!(
                    "connecting to the restored cluster as {} to database {}: {e}",
                    server.user, server.database
                )))
            }
        }
        if Instant::now() > deadline {
            return Err(with_log(format!(
                "the cluster was not ready after {timeout:?} (--timeout)"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_amcheck(server: &Server) -> std::io::Result<()> {
    let mut cmd = server.run_as.command(server.bin.client("pg_amcheck"));
    cmd.args([
        "--all",
        "--install-missing",
        "--heapallindexed",
        "-U",
        &server.user,
        "-h",
    ])
    .arg(&server.socket_dir)
    .args(["-p", &server.port.to_string()]);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run pg_amcheck: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "pg_amcheck found problems ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim_end(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )))
    }
}

/// The drill's server needs a configuration that works on this host: a
/// backup of a Debian cluster has no postgresql.conf in its data directory
/// at all, and production's pg_hba.conf may not let the drill in.
fn prepare_config(pgdata: &Path, work: &Path) -> Result<()> {
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text)
            .map_err(|e| Error::failed(format!("writing {}: {e}", path.display())))
    };
    let conf = pgdata.join("postgresql.conf");
    if !conf.exists() {
        write(
            &conf,
            "# written by walden drill: the backup had no postgresql.conf\n",
        )?;
    }
    let hba = work.join("pg_hba.conf");
    write(
        &hba,
        "# walden drill: only the drill, over its private socket\nlocal all all trust\n",
    )?;
    let auto = pgdata.join("postgresql.auto.conf");
    let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
    text.push_str("\n# walden drill: a throwaway server that must not touch production\n");
    for (key, value) in DRILL_SETTINGS {
        text.push_str(&format!("{key} = '{value}'\n"));
    }
    text.push_str(&format!(
        "hba_file = '{}'\n",
        hba.display().to_string().replace('\'', "''")
    ));
    write(&auto, &text)
}

/// Refuses to start a drill that would fill the disk: the restored files,
/// plus room for the WAL replay writes, must fit.
fn check_free_space(dir: &Path, restored_bytes: u64) -> Result<()> {
    let needed = restored_bytes + restored_bytes / 10 + (256 << 20);
    let Some(free) = free_bytes(dir) else {
        return Ok(());
    };
    if free < needed {
        return Err(Error::usage(format!(
            "the drill needs about {} free in {} (the backup restores to {}) but only {} is free: choose another --work-dir",
            human_bytes(needed),
            dir.display(),
            human_bytes(restored_bytes),
            human_bytes(free)
        )));
    }
    Ok(())
}

fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a
    // valid C string for the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Where the drill takes PostgreSQL's server programs from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BinSource {
    /// `--pg-bin DIR`: used as given, or not at all.
    Explicit(PathBuf),
    /// The backup's own major version, installed the Debian way.
    Versioned(PathBuf),
    /// `pg_config --bindir`, else the newest installed major.
    Search,
}

/// Chooses where to look: `--pg-bin` if given, else the backup's major
/// version if `installed` finds it, else a search that may find another
/// major (which the version check then refuses).
fn bin_source(
    explicit: Option<&Path>,
    backup_major: u32,
    installed: impl Fn(&Path) -> bool,
) -> BinSource {
    if let Some(dir) = explicit {
        return BinSource::Explicit(dir.to_path_buf());
    }
    let versioned = PathBuf::from(format!("/usr/lib/postgresql/{backup_major}/bin"));
    if installed(&versioned) {
        BinSource::Versioned(versioned)
    } else {
        BinSource::Search
    }
}

/// A server of another major version cannot start on the backup's data
/// directory: refuse before anything is restored, naming both versions and
/// how to choose the right programs.
fn check_bin_major(
    backup: &str,
    backup_major: u32,
    bin_dir: &Path,
    bin_major: u32,
    source: &BinSource,
) -> Result<()> {
    if bin_major == backup_major {
        return Ok(());
    }
    let how = match source {
        BinSource::Explicit(_) => {
            format!("pass --pg-bin with PostgreSQL {backup_major}'s bin directory instead")
        }
        BinSource::Versioned(dir) => format!(
            "{} does not hold PostgreSQL {backup_major} after all: pass --pg-bin DIR with its bin directory",
            dir.display()
        ),
        BinSource::Search => format!(
            "install PostgreSQL {backup_major} (/usr/lib/postgresql/{backup_major}/bin was not found) or pass --pg-bin DIR with its bin directory"
        ),
    };
    Err(Error::usage(format!(
        "backup {backup} is of PostgreSQL {backup_major}, but the server programs in {} are PostgreSQL {bin_major}, which cannot run it: {how}; nothing was restored",
        bin_dir.display()
    )))
}

/// The server binaries for the backup's major version, checked by asking
/// them, before the drill restores anything.
fn pg_bin(explicit: Option<&Path>, manifest: &Manifest) -> Result<PgBin> {
    let major = manifest.pg_version;
    let source = bin_source(explicit, major, |dir| dir.join("postgres").exists());
    let found = match &source {
        BinSource::Explicit(dir) | BinSource::Versioned(dir) => PgBin::find(Some(dir)),
        BinSource::Search => PgBin::find(None),
    };
    let bin = found.map_err(|e| {
        Error::usage(format!(
            "{e} (the backup needs PostgreSQL {major}'s server binaries)"
        ))
    })?;
    let bin_major = bin.major_version().map_err(|e| {
        Error::usage(format!(
            "cannot tell which PostgreSQL version is in {}: {e}; pass --pg-bin with PostgreSQL {major}'s bin directory",
            bin.dir.display()
        ))
    })?;
    check_bin_major(&manifest.name, major, &bin.dir, bin_major, &source)?;
    Ok(bin)
}

/// The drill's temporary directory: removed when the drill ends, unless kept.
struct WorkDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl WorkDir {
    fn new(parent: Option<&Path>, run_as: &RunAs) -> Result<WorkDir> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("walden-drill-")
            .tempdir_in(&parent)
            .map_err(|e| {
                Error::usage(format!(
                    "cannot create the drill's directory in {}: {e}",
                    parent.display()
                ))
            })?;
        run_as
            .give(dir.path())
            .map_err(|e| Error::failed(format!("{}: {e}", dir.path().display())))?;
        Ok(WorkDir {
            path: dir.path().to_path_buf(),
            dir: Some(dir),
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the directory in place when this handle goes.
    fn keep(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
    }
}

/// Gives everything under `root` to the account the server runs as (the
/// restore ran as us, maybe root).
fn give_tree(run_as: &RunAs, root: &Path) -> Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
        if meta.is_symlink() {
            // A tablespace link: its target is in the tree too.
            continue;
        }
        run_as
            .give(&path)
            .map_err(|e| Error::failed(format!("chown {}: {e}", path.display())))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)
                .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?
            {
                let entry = entry.map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

fn describe_check(args: &DrillArgs) -> String {
    if args.amcheck {
        format!("{}; pg_amcheck --all --heapallindexed", args.check_sql)
    } else {
        args.check_sql.clone()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backups_own_major_is_preferred_then_a_search() {
        let only_16 = |dir: &Path| dir == Path::new("/usr/lib/postgresql/16/bin");
        assert_eq!(
            bin_source(None, 16, only_16),
            BinSource::Versioned(PathBuf::from("/usr/lib/postgresql/16/bin"))
        );
        assert_eq!(bin_source(None, 15, only_16), BinSource::Search);
        // --pg-bin wins even over an installed match.
        assert_eq!(
            bin_source(Some(Path::new("/opt/pg16/bin")), 16, only_16),
            BinSource::Explicit(PathBuf::from("/opt/pg16/bin"))
        );
    }

    #[test]
    fn another_major_is_a_usage_error_naming_both_and_pg_bin() {
        let dir = Path::new("/usr/lib/postgresql/15/bin");
        let backup = "base_000000010000000000000002";
        assert!(check_bin_major(backup, 15, dir, 15, &BinSource::Search).is_ok());
        for source in [
            BinSource::Search,
            BinSource::Explicit(dir.to_path_buf()),
            BinSource::Versioned(dir.to_path_buf()),
        ] {
            let err = check_bin_major(backup, 16, dir, 15, &source).unwrap_err();
            assert_eq!(err.kind, crate::error::Kind::Usage);
            let message = err.to_string();
            for part in [
                backup,
                "PostgreSQL 16",
                "PostgreSQL 15",
                "/usr/lib/postgresql/15/bin",
                "--pg-bin",
                "nothing was restored",
            ] {
                assert!(message.contains(part), "{source:?}: {part}: {message}");
            }
        }
    }

    #[test]
    fn a_drill_that_cannot_fit_is_refused_before_it_starts() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_free_space(dir.path(), 1 << 20).is_ok());
        let err = check_free_space(dir.path(), u64::MAX / 4).unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Usage);
        assert!(err.to_string().contains("--work-dir"), "{err}");
    }
}
