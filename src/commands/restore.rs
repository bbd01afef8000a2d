//! `restore`: unpack a backup into a new data directory and configure point-in-time recovery from the archive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

use crate::cli::RestoreArgs;
use crate::commands::progress::Progress;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg::recovery::{
    self, ArchiveMode, RecoverySettings, RecoveryTarget, TargetAction, TargetTimeline,
};
use crate::pg::Lsn;
use crate::pipeline::{Identities, Stages};
use crate::repo::catalog::TargetBound;
use crate::repo::inventory::Inventory;
use crate::repo::layout;
use crate::repo::manifest::{FileEntry, Manifest};
use crate::repo::selection::{self, Candidates, Request};
use crate::repo::tarpart::{self, OnBytes};
use crate::storage::ObjectStore;

pub async fn run(args: &RestoreArgs, settings: &Settings) -> Result<()> {
    let started = Instant::now();
    let store = settings.store()?;
    let identities = settings.identities()?;
    let (target, bound) = recovery_target(args)?;
    let recovery = RecoverySettings {
        restore_command: restore_command(settings)?,
        target,
        inclusive: !args.target_exclusive,
        action: args
            .target_action
            .as_deref()
            .map(parse_action)
            .transpose()?,
        timeline: args
            .target_timeline
            .as_deref()
            .map(parse_timeline)
            .transpose()?,
        standby: args.standby,
        archive: match &args.archive_mode {
            Some(mode) => mode
                .parse()
                .map_err(|e: recovery::RecoveryError| Error::usage(e.to_string()))?,
            None => ArchiveMode::default_for(args.standby),
        },
    };
    recovery::validate(&recovery).map_err(|e| Error::usage(e.to_string()))?;
    check_missing_or_empty(&args.pgdata)?;
    let remap = parse_tablespace_map(&args.tablespace_map)?;

    let chosen = choose_backup(
        store.as_ref(),
        &identities,
        &args.backup,
        bound,
        recovery.timeline,
    )
    .await?;
    if let Some(note) = &chosen.fork_note {
        tracing::warn!("{note}");
        println!("warning: {note}");
    }
    let mut recovery = recovery;
    recovery.timeline = chosen.timeline.or(recovery.timeline);
    let manifest = chosen.manifest;
    if manifest.encrypted && identities.is_empty() {
        return Err(Error::usage(format!(
            "backup {} is encrypted: pass --decrypt-identity FILE",
            manifest.name
        )));
    }
    let files = unpack(
        store.clone(),
        manifest.clone(),
        &args.pgdata,
        &remap,
        &recovery,
        &identities,
        args.jobs,
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "restored backup {} ({} files, {}) into {} in {secs:.1} s",
        manifest.name,
        files,
        crate::commands::progress::human_bytes(manifest.bytes),
        args.pgdata.display()
    );
    println!("recovery: {}", describe(&recovery));
    if recovery.archive == ArchiveMode::Off {
        println!(
            "archiving: off in the restored cluster (archive_mode = off), so it never archives into {}; for a replacement primary restore with --archive-mode preserve",
            store.url()
        );
    }
    println!(
        "next: start PostgreSQL on it, e.g. pg_ctl start -D {} (as the user that owns it); it replays WAL from the archive{}",
        args.pgdata.display(),
        if recovery.target.is_some() && recovery.action.is_none() {
            " and pauses at the target: check, then SELECT pg_wal_replay_resume() to promote"
        } else {
            ""
        }
    );
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        println!(
            "note: restored as root; PostgreSQL will not start on root-owned files: chown -R postgres:postgres {} first (or run walden restore as postgres)",
            args.pgdata.display()
        );
    }
    Ok(())
}

/// Unpacks `manifest`'s backup into `pgdata` (and its tablespaces, where
/// `remap` says or at their original locations), checking every checksum,
/// then writes the control files and `recovery` last. Returns the number of
/// files restored.
pub async fn unpack(
    store: Arc<dyn ObjectStore>,
    manifest: Manifest,
    pgdata: &Path,
    remap: &HashMap<u32, PathBuf>,
    recovery: &RecoverySettings,
    identities: &Identities,
    jobs: u16,
) -> Result<usize> {
    let roots = placement(&manifest, pgdata, remap)?;
    for root in roots.values() {
        create_private_dir(root)?;
    }
    tracing::info!(backup = %manifest.name, pgdata = %pgdata.display(), parts = manifest.parts.len(), "restoring");

    let manifest = Arc::new(manifest);
    let progress = Progress::bytes(manifest.bytes, &format!("restoring {}", manifest.name));
    let on_bytes = progress.counter();
    let files: usize = futures::stream::iter(0..manifest.parts.len())
        .map(|index| {
            let job = PartJob {
                index,
                roots: roots.clone(),
                identities: identities.clone(),
                on_bytes: on_bytes.clone(),
            };
            restore_part(store.clone(), manifest.clone(), job)
        })
        .buffer_unordered(jobs as usize)
        .try_fold(0, |total, files| async move { Ok(total + files) })
        .await?;
    progress.finish();
    // Data durable before the files that make the directory startable, and
    // those durable before reporting success: a crash in between must never
    // leave a recovery.signal in front of data that did not reach the disk.
    sync_filesystems(roots.values())?;
    write_control_files(&manifest, pgdata, &roots, recovery)?;
    sync_filesystems(std::iter::once(&pgdata.to_path_buf()))?;
    Ok(files)
}

/// Flushes the file systems holding `dirs` (syncfs(2)): one call at the end
/// instead of an fsync per file while unpacking.
fn sync_filesystems<'a>(dirs: impl Iterator<Item = &'a PathBuf>) -> Result<()> {
    use std::os::fd::AsRawFd;
    for dir in dirs {
        let handle = std::fs::File::open(dir)
            .map_err(|e| Error::failed(format!("opening {} to sync it: {e}", dir.display())))?;
        // SAFETY: syncfs takes an open file descriptor, valid for the call.
        if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
            return Err(Error::failed(format!(
                "syncing the file system of {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// The recovery target from the flags, and the bound it puts on the backup.
fn recovery_target(args: &RestoreArgs) -> Result<(Option<RecoveryTarget>, TargetBound)> {
    let usage = |e: &dyn std::fmt::Display| Error::usage(e.to_string());
    if let Some(time) = &args.target_time {
        let parsed = recovery::parse_target_time(time).map_err(|e| usage(&e))?;
        return Ok((
            Some(RecoveryTarget::Time(parsed)),
            TargetBound::Time(parsed.with_timezone(&chrono::Utc)),
        ));
    }
    if let Some(lsn) = &args.target_lsn {
        let lsn: Lsn = lsn.parse().map_err(|e| usage(&e))?;
        return Ok((Some(RecoveryTarget::Lsn(lsn)), TargetBound::Lsn(lsn.0)));
    }
    if let Some(xid) = &args.target_xid {
        let xid: u64 = xid.parse().map_err(|_| {
            Error::usage(format!(
                "--target-xid {xid:?} is not a transaction id (a positive integer)"
            ))
        })?;
        return Ok((Some(RecoveryTarget::Xid(xid)), TargetBound::None));
    }
    if let Some(name) = &args.target_name {
        return Ok((Some(RecoveryTarget::Name(name.clone())), TargetBound::None));
    }
    if args.target_immediate {
        return Ok((Some(RecoveryTarget::Immediate), TargetBound::None));
    }
    Ok((None, TargetBound::None))
}

fn parse_action(s: &str) -> Result<TargetAction> {
    s.parse()
        .map_err(|e: recovery::RecoveryError| Error::usage(e.to_string()))
}

fn parse_timeline(s: &str) -> Result<TargetTimeline> {
    s.parse()
        .map_err(|e: recovery::RecoveryError| Error::usage(e.to_string()))
}

/// The restore_command PostgreSQL will run: this walden binary with the
/// same repository and identity, spelled out (PostgreSQL does not see the
/// environment or flags this restore was run with).
pub fn restore_command(settings: &Settings) -> Result<String> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::failed(format!("locating the walden binary: {e}")))?;
    let mut command = format!(
        "{} wal-fetch --repo {}",
        shell_quote(&exe.display().to_string()),
        shell_quote(settings.repo_url()?)
    );
    for flag in settings.store_flags() {
        command.push(' ');
        command.push_str(&shell_quote(&flag));
    }
    if let Some(identity) = &settings.raw().decrypt_identity {
        let absolute = identity
            .canonicalize()
            .map_err(|e| Error::usage(format!("--decrypt-identity {}: {e}", identity.display())))?;
        command.push_str(&format!(
            " --decrypt-identity {}",
            shell_quote(&absolute.display().to_string())
        ));
    }
    command.push_str(" %f %p");
    Ok(command)
}

/// Quotes for sh when needed.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Refuses to restore over anything: the directory must be missing or empty.
pub fn check_missing_or_empty(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::usage(format!(
                    "{} is not empty: restore only into a new or empty directory, so nothing is overwritten",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::usage(format!("{}: {e}", dir.display()))),
    }
}

fn parse_tablespace_map(specs: &[String]) -> Result<HashMap<u32, PathBuf>> {
    specs
        .iter()
        .map(|spec| {
            let bad = || {
                Error::usage(format!(
                    "--tablespace-map {spec:?}: expected OID=DIR with an absolute DIR"
                ))
            };
            let (oid, dir) = spec.split_once('=').ok_or_else(bad)?;
            let oid: u32 = oid.parse().map_err(|_| bad())?;
            let dir = PathBuf::from(dir);
            if !dir.is_absolute() {
                return Err(bad());
            }
            Ok((oid, dir))
        })
        .collect()
}

/// The backup a restore uses, and the timeline its recovery must follow
/// when the repository is forked (see `repo::selection`).
pub struct Chosen {
    pub manifest: Manifest,
    pub timeline: Option<TargetTimeline>,
    pub fork_note: Option<String>,
}

pub async fn choose_backup(
    store: &dyn ObjectStore,
    identities: &Identities,
    requested: &str,
    bound: TargetBound,
    timeline: Option<TargetTimeline>,
) -> Result<Chosen> {
    let backup = (requested != "latest").then_some(requested);
    if let Some(name) = backup {
        if !layout::is_backup_name(name) {
            return Err(Error::usage(format!(
                "{name:?} is not a backup name (like base_000000010000000002000028) or 'latest'; see backup-list"
            )));
        }
    }
    // One listing: the backups, and the WAL and history files that tell
    // whether two clusters write into the repository.
    let inventory = Inventory::take(store, identities).await?;
    if let Some((name, why)) = inventory.invalid_manifests().next() {
        return Err(Error::failed(format!(
            "backup {name}: {why}; refusing to choose a backup from a repository with a damaged manifest (see walden verify)"
        )));
    }
    let complete: Vec<&Manifest> = inventory
        .complete_backups()
        .filter_map(|b| b.manifest.as_ref())
        .collect();
    let forks = inventory.forks();
    let selection = selection::select(
        Candidates {
            backups: &complete,
            histories: &inventory.histories,
            forks: &forks,
        },
        Request {
            backup,
            bound,
            timeline,
        },
    )?;
    Ok(Chosen {
        manifest: selection.manifest.clone(),
        timeline: selection.timeline,
        fork_note: selection.fork_note,
    })
}

/// Where each part group goes: `None` (the data directory) and each
/// tablespace OID, remapped or at its original location, which must be
/// missing or empty too.
fn placement(
    manifest: &Manifest,
    pgdata: &Path,
    remap: &HashMap<u32, PathBuf>,
) -> Result<HashMap<Option<u32>, PathBuf>> {
    let mut roots = HashMap::from([(None, pgdata.to_path_buf())]);
    for tablespace in &manifest.tablespaces {
        let dir = remap
            .get(&tablespace.oid)
            .cloned()
            .unwrap_or_else(|| PathBuf::from(&tablespace.location));
        check_missing_or_empty(&dir).map_err(|e| {
            e.context(format!(
                "tablespace {} ({}) would be restored to {}; map it elsewhere with --tablespace-map {}=DIR",
                tablespace.name,
                tablespace.oid,
                dir.display(),
                tablespace.oid
            ))
        })?;
        roots.insert(Some(tablespace.oid), dir);
    }
    for oid in remap.keys() {
        if !manifest.tablespaces.iter().any(|t| t.oid == *oid) {
            return Err(Error::usage(format!(
                "--tablespace-map names OID {oid}, which backup {} does not have",
                manifest.name
            )));
        }
    }
    Ok(roots)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::failed(format!("creating {}: {e}", dir.display())))
}

/// Downloads, decodes and unpacks one part, checking every file and the
/// part's own checksum against the manifest.
/// One part to restore, with what its unpacking thread needs.
struct PartJob {
    index: usize,
    roots: HashMap<Option<u32>, PathBuf>,
    identities: Identities,
    on_bytes: OnBytes,
}

async fn restore_part(
    store: Arc<dyn ObjectStore>,
    manifest: Arc<Manifest>,
    job: PartJob,
) -> Result<usize> {
    let PartJob {
        index,
        roots,
        identities,
        on_bytes,
    } = job;
    let part = &manifest.parts[index];
    let key = layout::backup_object_key(&manifest.name, &part.key);
    let (_, stages) = Stages::split_name(&part.key);
    let root = roots[&part.tablespace_oid].clone();
    let object = store
        .get(&key, None)
        .await
        .map_err(|e| Error::from(e).context(format!("reading {key}")))?;
    let body = tokio_util::io::SyncIoBridge::new(object.body);
    let manifest_for_task = manifest.clone();
    let (digest, files) = tokio::task::spawn_blocking(move || {
        let expected: HashMap<&str, &FileEntry> = manifest_for_task
            .files
            .iter()
            .filter(|f| f.part == index)
            .map(|f| (f.path.as_str(), f))
            .collect();
        tarpart::unpack_part(
            std::io::BufReader::with_capacity(1 << 20, body),
            stages,
            &identities,
            &root,
            &expected,
            &on_bytes,
        )
    })
    .await
    .map_err(|e| Error::failed(format!("restoring {key}: the unpacking thread failed: {e}")))?
    .map_err(|e| e.context(format!("restoring {key}")))?;
    digest
        .verify(&part.sha256)
        .map_err(|e| Error::from(e).context(format!("backup part {key}")))?;
    tracing::info!(part = %part.key, files, bytes = digest.bytes, "part restored");
    Ok(files)
}

/// backup_label and tablespace_map from pg_backup_stop, the recovery
/// settings and the signal file: written after every part is in place, so
/// an interrupted restore never looks startable.
fn write_control_files(
    manifest: &Manifest,
    pgdata: &Path,
    roots: &HashMap<Option<u32>, PathBuf>,
    recovery: &RecoverySettings,
) -> Result<()> {
    let write = |name: &str, contents: &str| {
        std::fs::write(pgdata.join(name), contents)
            .map_err(|e| Error::failed(format!("writing {}: {e}", pgdata.join(name).display())))
    };
    for dir in ["pg_wal", "pg_wal/archive_status"] {
        create_private_dir(&pgdata.join(dir))?;
    }
    write("backup_label", &manifest.backup_label)?;
    if !manifest.tablespaces.is_empty() {
        // PostgreSQL creates pg_tblspc/<oid> links from this file at startup.
        let map: String = manifest
            .tablespaces
            .iter()
            .map(|t| format!("{} {}\n", t.oid, roots[&Some(t.oid)].display()))
            .collect();
        write("tablespace_map", &map)?;
    }
    let auto_conf = pgdata.join("postgresql.auto.conf");
    let mut conf = std::fs::read_to_string(&auto_conf).unwrap_or_default();
    conf.push_str(&recovery.conf_lines());
    write("postgresql.auto.conf", &conf)?;
    write(recovery.signal_file(), "")?;
    Ok(())
}

fn describe(recovery: &RecoverySettings) -> String {
    let target = match &recovery.target {
        None => "replay all archived WAL, then promote".to_string(),
        Some(RecoveryTarget::Immediate) => "stop as soon as consistent".to_string(),
        Some(RecoveryTarget::Time(t)) => format!("up to time {t}"),
        Some(RecoveryTarget::Lsn(l)) => format!("up to LSN {l}"),
        Some(RecoveryTarget::Xid(x)) => format!("up to transaction {x}"),
        Some(RecoveryTarget::Name(n)) => format!("up to restore point {n:?}"),
    };
    format!(
        "{target}; {} written; restore_command = {}",
        recovery.signal_file(),
        recovery.restore_command
    )
}
