//! `restore`: unpack a backup into a new data directory and configure point-in-time recovery from the archive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::cli::RestoreArgs;
use crate::commands::progress::Progress;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg::conninfo::Conninfo;
use crate::pg::control::{self, ConnectOptions, ControlError, ControlSession, SlotMade};
use crate::pg::incremental::{self, BlockGeometry};
use crate::pg::recovery::{
    self, ArchiveMode, RecoverySettings, RecoveryTarget, TargetAction, TargetTimeline,
};
use crate::pg::Lsn;
use crate::pipeline::Identities;
use crate::repo::catalog::TargetBound;
use crate::repo::chain_restore::{self, ChainTarget};
use crate::repo::identity::{self, RepoIdentity};
use crate::repo::inventory::Inventory;
use crate::repo::layout;
use crate::repo::manifest::{Manifest, TablespaceEntry};
use crate::repo::selection::{self, Candidates, Request};
use crate::repo::tarpart::Modes;
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
        primary_conninfo: args
            .primary_conninfo
            .as_deref()
            .map(|text| {
                Conninfo::parse(text).map_err(|e| Error::usage(format!("--primary-conninfo: {e}")))
            })
            .transpose()?,
        primary_slot_name: args.slot.clone(),
    };
    recovery::validate(&recovery).map_err(|e| Error::usage(e.to_string()))?;
    check_missing_or_empty(&args.pgdata)?;
    let remap = parse_tablespace_map(&args.tablespace_map)?;
    // The slot is checked now, so that a connection or permission problem
    // shows before hours of restore, but created only once the data is in
    // place: a slot left behind by a failed restore would hold WAL on the
    // primary until its disk fills.
    let slot = match (&recovery.primary_conninfo, &recovery.primary_slot_name) {
        (Some(conninfo), Some(name)) if args.create_slot => {
            let slot = SlotPlan::new(conninfo, name)?;
            slot.check().await?;
            Some(slot)
        }
        _ => None,
    };

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
    let roots = placement(&manifest, &args.pgdata, &remap)?;
    check_tablespaces_in_place(
        &manifest,
        &args.pgdata,
        &remap,
        args.tablespaces_in_place,
        running_as_root(),
    )?;
    if !settings.quiet() {
        announce(&manifest, &roots);
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
    let made = match &slot {
        Some(slot) => Some(slot.create(&args.pgdata).await?),
        None => None,
    };
    if settings.quiet() {
        return Ok(());
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "restored backup {} ({} files, {}) into {} in {secs:.1} s",
        manifest.name,
        files,
        crate::commands::progress::human_bytes(manifest.bytes),
        args.pgdata.display()
    );
    println!("recovery: {}", describe(&recovery));
    if let (Some(slot), Some(made)) = (&slot, &made) {
        println!("{}", slot.describe(made));
    }
    if let (Some(name), None) = (&recovery.primary_slot_name, &slot) {
        println!(
            "slot: the standby streams through slot {name}, which must exist on the primary: SELECT pg_create_physical_replication_slot('{name}', true) there, or restore with --create-slot"
        );
    }
    if recovery.archive == ArchiveMode::Off {
        println!(
            "archiving: off in the restored cluster (archive_mode = off), so it never archives into {}; for a replacement primary restore with --archive-mode preserve",
            store.url()
        );
    }
    println!(
        "next: start PostgreSQL on it, e.g. pg_ctl start -D {} (as the user that owns it); {}",
        args.pgdata.display(),
        after_start(&recovery)
    );
    if running_as_root() {
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
    manifest
        .check_restorable()
        .map_err(|e| Error::failed(format!("backup {}: {e}", manifest.name)))?;
    let identity = identity::load(store.as_ref()).await?;
    check_identity(&manifest, identity.as_ref(), &store.url())?;
    // The whole chain is read before anything is written: a broken one is
    // refused with nothing to clean up.
    let chain = chain_restore::load_chain(store.as_ref(), manifest).await?;
    let manifest = chain[0].clone();
    let roots = placement(&manifest, pgdata, remap)?;
    let modes = Modes::for_cluster(manifest.group_access());
    for (oid, root) in &roots {
        tracing::info!(backup = %manifest.name, tablespace = ?oid, dir = %root.display(), "restoring into");
        create_dir_with_mode(root, modes.dir)?;
    }
    tracing::info!(backup = %manifest.name, pgdata = %pgdata.display(), parts = manifest.parts.len(), "restoring");

    if chain.len() > 1 {
        tracing::info!(backup = %manifest.name, chain = chain.len(), full = %chain[chain.len() - 1].name, "rebuilding an incremental backup from its chain");
    }
    // Every byte of the newest backup is read, and at most every byte of
    // the older ones: the bar may end early, never past its end.
    let total: u64 = chain.iter().map(|m| m.bytes).sum();
    let progress = Progress::bytes(total, &format!("restoring {}", manifest.name));
    let target = ChainTarget {
        roots: &roots,
        modes,
        identities,
        jobs: jobs as usize,
        geometry: BlockGeometry::default(),
    };
    let files =
        chain_restore::restore_chain(store.clone(), &chain, &target, progress.counter()).await?;
    progress.finish();
    // Data durable before the files that make the directory startable, and
    // those durable before reporting success: a crash in between must never
    // leave a recovery.signal in front of data that did not reach the disk.
    sync_filesystems(roots.values())?;
    write_control_files(&manifest, pgdata, &roots, recovery, modes)?;
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
    let identity = match &settings.raw().decrypt_identity {
        Some(identity) => Some(identity.canonicalize().map_err(|e| {
            Error::usage(format!("--decrypt-identity {}: {e}", identity.display()))
        })?),
        None => None,
    };
    Ok(format_restore_command(
        &exe.display().to_string(),
        settings.repo_url()?,
        &settings.store_flags(),
        identity.map(|p| p.display().to_string()).as_deref(),
    ))
}

/// `<exe> wal-fetch --repo <url> <flags> [--decrypt-identity <file>] %f %p`,
/// each word quoted for sh and every `%` in it doubled: PostgreSQL replaces
/// `%f`, `%p`, `%r` and `%%` anywhere in restore_command before the shell
/// sees it, so a `%` in a path would otherwise be expanded (or, from
/// PostgreSQL 16 on, refused).
fn format_restore_command(
    exe: &str,
    repo_url: &str,
    store_flags: &[String],
    identity: Option<&str>,
) -> String {
    let word = |s: &str| shell_quote(s).replace('%', "%%");
    let mut command = format!("{} wal-fetch --repo {}", word(exe), word(repo_url));
    for flag in store_flags {
        command.push(' ');
        command.push_str(&word(flag));
    }
    if let Some(identity) = identity {
        command.push_str(" --decrypt-identity ");
        command.push_str(&word(identity));
    }
    command.push_str(" %f %p");
    command
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
            if dir.chars().any(char::is_control) {
                return Err(Error::usage(format!(
                    "--tablespace-map {spec:?}: DIR contains a control character"
                )));
            }
            let dir = PathBuf::from(dir);
            if !dir.is_absolute() {
                return Err(bad());
            }
            Ok((oid, dir))
        })
        .try_fold(HashMap::new(), |mut map, pair: Result<(u32, PathBuf)>| {
            let (oid, dir) = pair?;
            if map.insert(oid, dir).is_some() {
                return Err(Error::usage(format!(
                    "--tablespace-map names OID {oid} twice"
                )));
            }
            Ok(map)
        })
}

/// The backup a restore uses, and the timeline its recovery must follow
/// when the repository is forked (see `repo::selection`).
pub struct Chosen {
    pub manifest: Manifest,
    pub timeline: Option<TargetTimeline>,
    pub fork_note: Option<String>,
    /// Two clusters archive into the repository right now.
    pub active_fork: bool,
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
    // A damaged manifest blocks only what it could mislead: "latest" (the
    // damaged backup might be the newest), or the backup it belongs to.
    for (name, why) in inventory.invalid_manifests() {
        match backup {
            None => {
                return Err(Error::failed(format!(
                    "backup {name}: {why}; with a damaged manifest in the repository 'latest' is unknown: name the backup to restore (see backup-list and walden verify)"
                )))
            }
            Some(wanted) if wanted == name => {
                return Err(Error::failed(format!("backup {name}: {why}")))
            }
            Some(_) => tracing::warn!("backup {name}: {why} (see walden verify)"),
        }
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
            now: inventory.taken_at,
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
        active_fork: selection.active_fork,
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
    check_no_nesting(&roots)?;
    Ok(roots)
}

/// A tablespace may live inside the data directory (PostgreSQL allows it),
/// but no tablespace directory may hold the data directory or another
/// tablespace directory: one tree's entries would land in the other's.
fn check_no_nesting(roots: &HashMap<Option<u32>, PathBuf>) -> Result<()> {
    let absolute: Vec<(Option<u32>, PathBuf)> = roots
        .iter()
        .map(|(oid, dir)| {
            Ok((
                *oid,
                std::path::absolute(dir)
                    .map_err(|e| Error::usage(format!("{}: {e}", dir.display())))?,
            ))
        })
        .collect::<Result<_>>()?;
    for (oid, dir) in absolute.iter().filter(|(oid, _)| oid.is_some()) {
        for (other_oid, other) in &absolute {
            if other_oid != oid && other.starts_with(dir) {
                let what = match other_oid {
                    None => "the data directory".to_string(),
                    Some(o) => format!("tablespace {o}'s directory"),
                };
                return Err(Error::usage(format!(
                    "tablespace {} would be restored to {}, which holds {what} ({}): map it elsewhere with --tablespace-map {}=DIR",
                    oid.unwrap_or_default(),
                    dir.display(),
                    other.display(),
                    oid.unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// Tablespaces that would be written at the absolute location the manifest
/// names, outside the data directory, without an explicit --tablespace-map.
fn tablespaces_in_place_outside<'m>(
    manifest: &'m Manifest,
    pgdata: &Path,
    remap: &HashMap<u32, PathBuf>,
) -> Vec<&'m TablespaceEntry> {
    let pgdata = std::path::absolute(pgdata).unwrap_or_else(|_| pgdata.to_path_buf());
    manifest
        .tablespaces
        .iter()
        .filter(|t| !remap.contains_key(&t.oid) && !Path::new(&t.location).starts_with(&pgdata))
        .collect()
}

/// As root, restore writes outside --pgdata only where the operator said:
/// the locations in a manifest are whatever anyone who can write to the
/// repository put there (pgBackRest and barman restore tablespaces to
/// their recorded locations by default; walden asks first when it runs as
/// root). Other users are bounded by their own permissions.
fn check_tablespaces_in_place(
    manifest: &Manifest,
    pgdata: &Path,
    remap: &HashMap<u32, PathBuf>,
    in_place_allowed: bool,
    as_root: bool,
) -> Result<()> {
    if !as_root || in_place_allowed {
        return Ok(());
    }
    let unmapped = tablespaces_in_place_outside(manifest, pgdata, remap);
    if unmapped.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = unmapped
        .iter()
        .map(|t| format!("{} ({:?}) at {:?}", t.oid, t.name, t.location))
        .collect();
    let maps: Vec<String> = unmapped
        .iter()
        .map(|t| format!("--tablespace-map {}=DIR", t.oid))
        .collect();
    Err(Error::usage(format!(
        "running as root, restore writes outside --pgdata only where told: backup {} has tablespace{} {} outside {}; \
         pass {} (or --tablespaces-in-place to write them at the locations the backup names)",
        manifest.name,
        if unmapped.len() == 1 { "" } else { "s" },
        list.join(", "),
        pgdata.display(),
        maps.join(" "),
    )))
}

/// Says where restore is about to write, before it writes anything.
fn announce(manifest: &Manifest, roots: &HashMap<Option<u32>, PathBuf>) {
    println!(
        "restoring backup {} into {}",
        manifest.name,
        roots[&None].display()
    );
    for t in &manifest.tablespaces {
        let dir = &roots[&Some(t.oid)];
        let how = if dir.as_os_str() == std::ffi::OsStr::new(&t.location) {
            "its original location"
        } else {
            "mapped"
        };
        println!(
            "  tablespace {} ({:?}) into {} ({how})",
            t.oid,
            t.name,
            dir.display()
        );
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Refuses a backup from another cluster: its system identifier must be the
/// one recorded in the repository's walden.json.
fn check_identity(manifest: &Manifest, identity: Option<&RepoIdentity>, repo: &str) -> Result<()> {
    let Some(identity) = identity else {
        return Err(Error::failed(format!(
            "repository {repo} has no walden.json, so backup {} cannot be shown to belong to this repository's cluster: \
             restore walden.json (it is written by the first wal-push or backup-push) before restoring",
            manifest.name
        )));
    };
    if identity.system_identifier != manifest.system_identifier {
        return Err(Error::failed(format!(
            "backup {} is of the cluster with system identifier {}, but repository {repo} belongs to the cluster with system identifier {}: \
             refusing to restore another cluster's backup (the repository is damaged or was written to by someone else)",
            manifest.name, manifest.system_identifier, identity.system_identifier
        )));
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with `mode`, and sets `mode` on it
/// even if it existed empty: PostgreSQL refuses a data directory that others
/// can read, and takes group access from its mode.
fn create_dir_with_mode(dir: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)))
        .map_err(|e| Error::failed(format!("creating {}: {e}", dir.display())))
}

/// backup_label and tablespace_map from pg_backup_stop, the recovery
/// settings and the signal file: written after every part is in place, so
/// an interrupted restore never looks startable.
fn write_control_files(
    manifest: &Manifest,
    pgdata: &Path,
    roots: &HashMap<Option<u32>, PathBuf>,
    recovery: &RecoverySettings,
    modes: Modes,
) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let write = |name: &str, contents: &[u8]| {
        let path = pgdata.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(modes.file)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, contents))
            .map_err(|e| Error::failed(format!("writing {}: {e}", path.display())))
    };
    for dir in crate::pg::datadir::restored_wal_dirs(manifest.pg_version) {
        create_dir_with_mode(&pgdata.join(dir), modes.dir)?;
    }
    // An incremental backup's label says so, and PostgreSQL refuses to
    // start from it: the rebuilt directory is a full backup's.
    write(
        "backup_label",
        incremental::label_of_rebuilt(&manifest.backup_label).as_bytes(),
    )?;
    if !manifest.tablespaces.is_empty() {
        // PostgreSQL creates pg_tblspc/<oid> links from this file at startup.
        let map: Vec<u8> = manifest
            .tablespaces
            .iter()
            .flat_map(|t| tablespace_map_line(t.oid, &roots[&Some(t.oid)]))
            .collect();
        write("tablespace_map", &map)?;
    }
    // The backup's own settings, byte for byte: PostgreSQL does not require
    // them to be UTF-8 (ALTER SYSTEM on a LATIN1 server writes LATIN1).
    let conf = read_backup_settings(&pgdata.join("postgresql.auto.conf"))?;
    write(
        "postgresql.auto.conf",
        &append_settings(conf, &recovery.conf_lines()),
    )?;
    write(recovery.signal_file(), b"")?;
    Ok(())
}

/// The restored postgresql.auto.conf as it is; empty when the backup has
/// none. Any other failure to read it stops the restore rather than
/// replacing the settings in it.
fn read_backup_settings(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::failed(format!(
            "reading the restored {}: {e}; refusing to replace the backup's settings",
            path.display()
        ))),
    }
}

/// `conf` with `lines` after it, on a line of their own.
fn append_settings(mut conf: Vec<u8>, lines: &str) -> Vec<u8> {
    if conf.last().is_some_and(|&b| b != b'\n') {
        conf.push(b'\n');
    }
    conf.extend_from_slice(lines.as_bytes());
    conf
}

/// One `tablespace_map` line, `<oid> <path>`, with the path escaped the way
/// PostgreSQL writes it (do_pg_backup_start) and reads it back
/// (read_tablespace_map): a backslash before each backslash, CR and LF.
fn tablespace_map_line(oid: u32, dir: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut line = format!("{oid} ").into_bytes();
    for &b in dir.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b'\n' | b'\r') {
            line.push(b'\\');
        }
        line.push(b);
    }
    line.push(b'\n');
    line
}

/// A physical replication slot to create on the primary for the standby.
struct SlotPlan {
    name: String,
    options: ConnectOptions,
}

impl SlotPlan {
    /// The slot's connection: the standby's own conninfo, so the slot is
    /// made on the server the standby will stream from, by the role it
    /// will stream as (which has the REPLICATION attribute that creating a
    /// slot needs), as pg_basebackup -C -R does. walden's --pg-host
    /// defaults would reach the local socket: on the new replica's host,
    /// no server or the wrong one.
    fn new(conninfo: &Conninfo, name: &str) -> Result<SlotPlan> {
        let options = conninfo.connect_options().map_err(|e| {
            Error::usage(format!(
                "--create-slot connects with --primary-conninfo, but {e}; create the slot on the primary yourself (SELECT pg_create_physical_replication_slot('{name}', true)) and leave out --create-slot"
            ))
        })?;
        Ok(SlotPlan {
            name: name.to_owned(),
            options: options
                .with_pg_env()
                .map_err(|e| Error::usage(e.to_string()))?,
        })
    }

    async fn connect(&self) -> Result<ControlSession> {
        ControlSession::connect(&self.options)
            .await
            .map_err(|e| match e {
                ControlError::Unsupported { .. } => Error::usage(e.to_string()),
                ControlError::Connect { .. } => Error::failed(format!(
                    "--create-slot: {e} (the slot is made over an ordinary connection to database {}: pg_hba.conf must let the role in there, not only for replication)",
                    self.options.database.as_deref().unwrap_or("postgres")
                )),
                other => Error::failed(format!("--create-slot: {other}")),
            })
    }

    /// Before the restore: the primary answers, the role may create slots,
    /// and an existing slot of that name is one a standby may take.
    async fn check(&self) -> Result<()> {
        let session = self.connect().await?;
        let failed = |e: ControlError| Error::failed(format!("--create-slot: {e}"));
        if !session.may_create_slots().await.map_err(failed)? {
            return Err(Error::usage(format!(
                "--create-slot: {}",
                session.slot_error(&self.name, &format!(
                    "role {} may not create replication slots (it needs the REPLICATION attribute, which streaming needs too): ALTER ROLE {} REPLICATION, or connect as a role that has it",
                    self.options.user.as_deref().unwrap_or("(default)"),
                    self.options.user.as_deref().unwrap_or("…")
                ))
            )));
        }
        if let Some(state) = session.replication_slot(&self.name).await.map_err(failed)? {
            control::check_slot_usable(&self.name, &state).map_err(|problem| {
                Error::usage(session.slot_error(&self.name, &problem).to_string())
            })?;
        }
        Ok(())
    }

    /// After the restore: creates the slot (or takes the existing one).
    async fn create(&self, pgdata: &Path) -> Result<SlotMade> {
        let session = self.connect().await?;
        session.ensure_physical_slot(&self.name).await.map_err(|e| {
            Error::failed(format!(
                "{e}; the data directory {} is restored and set to use slot {}: create the slot on the primary (SELECT pg_create_physical_replication_slot('{}', true)) before starting it",
                pgdata.display(),
                self.name,
                self.name
            ))
        })
    }

    fn describe(&self, made: &SlotMade) -> String {
        let server = self.options.describe();
        match made {
            SlotMade::Created { restart_lsn } => format!(
                "slot: created physical replication slot {} on {server}{}",
                self.name,
                restart_lsn
                    .map(|lsn| format!(", keeping WAL from {lsn}"))
                    .unwrap_or_default()
            ),
            SlotMade::Existing(state) => format!(
                "slot: using the existing inactive physical replication slot {} on {server}{}",
                self.name,
                state
                    .restart_lsn
                    .map(|lsn| format!(" (keeping WAL from {lsn})"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// What the server does once started: the operator's next step.
fn after_start(recovery: &RecoverySettings) -> String {
    if recovery.standby && recovery.target.is_none() {
        let source = match &recovery.primary_conninfo {
            Some(conninfo) => format!(
                "it runs as a standby, streams from {} and reads the archive whenever streaming stops",
                conninfo.masked()
            ),
            None => "it runs as a standby and follows the archive as WAL arrives".to_owned(),
        };
        return format!(
            "{source}; it never promotes by itself (pg_ctl promote when it is to take over)"
        );
    }
    format!(
        "it replays WAL from the archive{}",
        if recovery.target.is_some() && recovery.action.is_none() {
            " and pauses at the target: check, then SELECT pg_wal_replay_resume() to promote"
        } else {
            ""
        }
    )
}

fn describe(recovery: &RecoverySettings) -> String {
    let target = match &recovery.target {
        None if recovery.standby => match &recovery.primary_conninfo {
            Some(conninfo) => format!(
                "standby streaming from {}{}, with the archive as fallback",
                conninfo.masked(),
                recovery
                    .primary_slot_name
                    .as_deref()
                    .map(|slot| format!(" through slot {slot}"))
                    .unwrap_or_default()
            ),
            None => "standby following the archive".to_string(),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_command_doubles_every_percent() {
        let command = format_restore_command(
            "/opt/wal%fden/bin/walden",
            "/srv/repo%p%%",
            &["--s3-endpoint=http://h/%r".to_string()],
            Some("/keys/id%x.age"),
        );
        assert_eq!(
            command,
            "'/opt/wal%%fden/bin/walden' wal-fetch --repo '/srv/repo%%p%%%%' \
             '--s3-endpoint=http://h/%%r' --decrypt-identity '/keys/id%%x.age' %f %p"
        );
        // Plain words stay as they were.
        assert_eq!(
            format_restore_command("/usr/bin/walden", "s3://b/p", &[], None),
            "/usr/bin/walden wal-fetch --repo s3://b/p %f %p"
        );
    }

    /// PostgreSQL's expansion of restore_command (BuildRestoreCommand /
    /// replace_percent_placeholders), to show the round trip.
    fn expand(command: &str, f: &str, p: &str) -> String {
        let mut out = String::new();
        let mut chars = command.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('f') => out.push_str(f),
                Some('p') => out.push_str(p),
                Some('%') => out.push('%'),
                Some(other) => panic!("PostgreSQL 16 refuses %{other}"),
                None => panic!("trailing %"),
            }
        }
        out
    }

    #[test]
    fn postgresql_expands_the_command_back_to_the_paths() {
        let command = format_restore_command("/b%p/walden", "/r%f%%", &[], Some("/k%%/id"));
        assert_eq!(
            expand(&command, "000000010000000000000001", "pg_wal/RECOVERYXLOG"),
            "'/b%p/walden' wal-fetch --repo '/r%f%%' --decrypt-identity '/k%%/id' 000000010000000000000001 pg_wal/RECOVERYXLOG"
        );
    }

    #[test]
    fn tablespace_map_lines_are_escaped_as_postgresql_does() {
        assert_eq!(
            tablespace_map_line(16385, Path::new("/srv/ts1")),
            b"16385 /srv/ts1\n"
        );
        assert_eq!(
            tablespace_map_line(16386, Path::new("/srv/a\\b\nc\rd")),
            b"16386 /srv/a\\\\b\\\nc\\\rd\n"
        );
    }

    #[test]
    fn settings_are_appended_to_the_bytes_as_they_were() {
        let latin1 = b"# caf\xe9\nwork_mem = '7MB'".to_vec();
        assert_eq!(
            append_settings(latin1, "restore_command = 'x'\n"),
            b"# caf\xe9\nwork_mem = '7MB'\nrestore_command = 'x'\n"
        );
        assert_eq!(append_settings(Vec::new(), "a = 'b'\n"), b"a = 'b'\n");
        assert_eq!(append_settings(b"x = 1\n".to_vec(), "a\n"), b"x = 1\na\n");
    }

    #[test]
    fn only_an_absent_postgresql_auto_conf_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postgresql.auto.conf");
        assert_eq!(read_backup_settings(&path).unwrap(), b"");
        std::fs::write(&path, b"a = '\xff'\n").unwrap();
        assert_eq!(read_backup_settings(&path).unwrap(), b"a = '\xff'\n");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = read_backup_settings(&path).unwrap_err().to_string();
        assert!(
            err.contains("postgresql.auto.conf") && err.contains("refusing"),
            "{err}"
        );
    }

    fn manifest_with_tablespaces(locations: &[(u32, &str)]) -> Manifest {
        let mut m = crate::repo::manifest::good_fixture();
        m.tablespaces = locations
            .iter()
            .map(|&(oid, location)| TablespaceEntry {
                oid,
                name: format!("ts{oid}"),
                location: location.to_string(),
            })
            .collect();
        m
    }

    #[test]
    fn root_needs_a_map_or_the_opt_in_for_tablespaces_outside_pgdata() {
        let m = manifest_with_tablespaces(&[
            (1, "/root/.ssh"),
            (2, "/restore/data/ts"),
            (3, "/srv/ts3"),
        ]);
        let pgdata = Path::new("/restore/data");
        let remap = HashMap::from([(3, PathBuf::from("/elsewhere/ts3"))]);
        let outside: Vec<u32> = tablespaces_in_place_outside(&m, pgdata, &remap)
            .iter()
            .map(|t| t.oid)
            .collect();
        assert_eq!(outside, [1]);

        let err = check_tablespaces_in_place(&m, pgdata, &remap, false, true).unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Usage);
        let msg = err.to_string();
        assert!(
            msg.contains("/root/.ssh") && msg.contains("--tablespace-map 1=DIR"),
            "{msg}"
        );
        assert!(msg.contains("--tablespaces-in-place"), "{msg}");
        check_tablespaces_in_place(&m, pgdata, &remap, true, true).unwrap();
        check_tablespaces_in_place(&m, pgdata, &remap, false, false).unwrap();
        let all = HashMap::from([(1, PathBuf::from("/x/1")), (3, PathBuf::from("/x/3"))]);
        check_tablespaces_in_place(&m, pgdata, &all, false, true).unwrap();
    }

    #[test]
    fn tablespace_directories_may_not_hold_pgdata_or_each_other() {
        let roots = |pairs: &[(Option<u32>, &str)]| -> HashMap<Option<u32>, PathBuf> {
            pairs.iter().map(|(o, d)| (*o, PathBuf::from(d))).collect()
        };
        check_no_nesting(&roots(&[
            (None, "/r/data"),
            (Some(1), "/r/data/ts1"),
            (Some(2), "/r/ts2"),
        ]))
        .unwrap();
        for bad in [
            roots(&[(None, "/r/data"), (Some(1), "/r")]),
            roots(&[(None, "/r/data"), (Some(1), "/r/data")]),
            roots(&[(None, "/r/data"), (Some(1), "/t"), (Some(2), "/t/x")]),
        ] {
            let err = check_no_nesting(&bad).unwrap_err();
            assert!(err.to_string().contains("--tablespace-map"), "{err}");
        }
    }

    #[test]
    fn tablespace_map_flags_are_checked() {
        assert!(parse_tablespace_map(&["1=/a".into(), "2=/b".into()]).is_ok());
        for bad in [
            vec!["1=relative".to_string()],
            vec!["x=/a".to_string()],
            vec!["1=/a\n2 /root".to_string()],
            vec!["1=/a".to_string(), "1=/b".to_string()],
        ] {
            let err = parse_tablespace_map(&bad).unwrap_err();
            assert_eq!(err.kind, crate::error::Kind::Usage, "{bad:?}");
        }
    }

    #[test]
    fn a_backup_of_another_cluster_is_refused() {
        let m = manifest_with_tablespaces(&[]);
        let mine = RepoIdentity::new(m.system_identifier.parse().unwrap(), 15, 16 << 20);
        check_identity(&m, Some(&mine), "file:///r").unwrap();
        let other = RepoIdentity::new(42, 15, 16 << 20);
        let msg = check_identity(&m, Some(&other), "file:///r")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("42") && msg.contains(&m.system_identifier),
            "{msg}"
        );
        let msg = check_identity(&m, None, "file:///r")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("walden.json"), "{msg}");
    }
}
