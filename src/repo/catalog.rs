//! The backups in a repository: complete ones (with a manifest) and incomplete ones, and which one a restore should use.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::repo::layout;
use crate::repo::manifest::Manifest;
use crate::storage::{ObjectMeta, ObjectStore, StorageError};

/// One backup directory in the repository.
#[derive(Debug, Clone)]
pub struct BackupEntry {
    pub name: String,
    /// `None` for an incomplete backup (interrupted, or still running).
    pub manifest: Option<Manifest>,
    pub objects: usize,
    /// What the backup occupies in the repository: every object under its
    /// directory (parts, manifest, start record), as the store lists them.
    /// The one definition of a backup's stored size, for push's summary,
    /// backup-list and prune alike.
    pub stored_bytes: u64,
    /// When its newest object was written: how long an incomplete backup
    /// has been silent.
    pub newest_object: Option<DateTime<Utc>>,
    /// Why its manifest, present, cannot be used (only with
    /// [`InvalidManifests::Record`]); `manifest` is then `None` although the
    /// backup is not merely incomplete.
    pub invalid_manifest: Option<String>,
}

/// What `from_objects` does with a manifest that is there but invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidManifests {
    /// Fail: nothing may be restored from a listing that contains one.
    Fail,
    /// Record it on the entry, for commands that report on the repository.
    Record,
}

/// Every backup, oldest first; incomplete ones have no manifest.
pub async fn list(store: &dyn ObjectStore) -> Result<Vec<BackupEntry>> {
    let mut objects = Vec::new();
    let mut listing = store.list(layout::BACKUPS_PREFIX);
    while let Some(meta) = listing.next().await {
        objects.push(
            meta.map_err(|e| {
                Error::from(e).context(format!("listing backups in {}", store.url()))
            })?,
        );
    }
    from_objects(store, &objects, InvalidManifests::Fail).await
}

/// What one backup occupies in the repository (see
/// [`BackupEntry::stored_bytes`]), from a listing of its own directory
/// only, without reading its manifest: cheap right after writing it, and
/// its memory does not grow with the backup's file count.
pub async fn stored_bytes(store: &dyn ObjectStore, name: &str) -> Result<u64> {
    let prefix = layout::backup_prefix(name);
    let mut total = 0;
    let mut listing = store.list(&prefix);
    while let Some(meta) = listing.next().await {
        let meta = meta
            .map_err(|e| Error::from(e).context(format!("listing {prefix} in {}", store.url())))?;
        if layout::backup_name_of_key(&meta.key) == Some(name) {
            total += meta.size;
        }
    }
    Ok(total)
}

/// The backups among listed `objects` (other keys are ignored), oldest
/// first, with the manifests of complete ones loaded and validated.
pub async fn from_objects(
    store: &dyn ObjectStore,
    objects: &[ObjectMeta],
    invalid: InvalidManifests,
) -> Result<Vec<BackupEntry>> {
    let mut found: BTreeMap<&str, BackupEntry> = BTreeMap::new();
    let mut complete = Vec::new();
    for meta in objects {
        let Some(name) = layout::backup_name_of_key(&meta.key) else {
            continue;
        };
        let entry = found.entry(name).or_insert_with(|| BackupEntry {
            name: name.to_string(),
            manifest: None,
            objects: 0,
            stored_bytes: 0,
            newest_object: None,
            invalid_manifest: None,
        });
        entry.objects += 1;
        entry.stored_bytes += meta.size;
        let modified = meta.last_modified.map(DateTime::<Utc>::from);
        entry.newest_object = entry.newest_object.max(modified);
        if meta.key == layout::backup_manifest_key(name) {
            complete.push(name);
        }
    }
    for name in complete {
        let bytes = read_manifest(store, name).await?;
        let parsed = parse_manifest(store, name, &bytes);
        let Some(entry) = found.get_mut(name) else {
            continue;
        };
        match (parsed, invalid) {
            (Ok(manifest), _) => entry.manifest = Some(manifest),
            (Err(e), InvalidManifests::Fail) => return Err(e),
            (Err(e), InvalidManifests::Record) => entry.invalid_manifest = Some(e.to_string()),
        }
    }
    Ok(found.into_values().collect())
}

/// Reads and validates a backup's manifest.
pub async fn load_manifest(store: &dyn ObjectStore, name: &str) -> Result<Manifest> {
    let bytes = read_manifest(store, name).await?;
    parse_manifest(store, name, &bytes)
}

async fn read_manifest(store: &dyn ObjectStore, name: &str) -> Result<bytes::Bytes> {
    let key = layout::backup_manifest_key(name);
    match store.get(&key, None).await {
        Ok(object) => Ok(object.bytes().await?),
        Err(StorageError::NotFound { .. }) => Err(Error::not_found(format!(
            "backup {name} has no manifest in {}: it does not exist or is incomplete (interrupted); see backup-list --all",
            store.url()
        ))),
        Err(e) => Err(Error::from(e).context(format!("reading {key}"))),
    }
}

fn parse_manifest(store: &dyn ObjectStore, name: &str, bytes: &[u8]) -> Result<Manifest> {
    let manifest = Manifest::from_json(bytes).map_err(|e| {
        Error::failed(format!(
            "manifest of backup {name} in {} is invalid: {e}",
            store.url()
        ))
    })?;
    if manifest.name != name {
        return Err(Error::failed(format!(
            "manifest at {} says it belongs to backup {}: refusing to use it",
            layout::backup_manifest_key(name),
            manifest.name
        )));
    }
    Ok(manifest)
}

/// How far a restore must be able to go back, for choosing a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetBound {
    /// No usable bound (no target, or an xid or name): the newest backup.
    None,
    /// The backup must have finished at or before this time.
    Time(DateTime<Utc>),
    /// The backup must have become consistent at or before this WAL position.
    Lsn(u64),
}

/// When a backup finished: what "newest" means for backups, everywhere
/// (restore latest, prune, status, drill). Stop time first, then stop LSN
/// for backups that stopped within the same clock tick, then the name only
/// to make the order total. Never the name alone: names start with the
/// timeline, so a backup of a restored clone on timeline 2 would sort after
/// every production backup on timeline 1 whatever its age.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finished<'a> {
    pub stop_time: DateTime<Utc>,
    pub stop_lsn: u64,
    pub name: &'a str,
}

impl<'a> Finished<'a> {
    pub fn of(manifest: &'a Manifest) -> Self {
        Finished {
            stop_time: manifest.stop_time,
            stop_lsn: stop_lsn(manifest).unwrap_or(0),
            name: &manifest.name,
        }
    }
}

/// The newest of `manifests` by when they finished.
pub fn newest<'a, I>(manifests: I) -> Option<&'a Manifest>
where
    I: IntoIterator<Item = &'a Manifest>,
{
    manifests
        .into_iter()
        .max_by(|a, b| Finished::of(a).cmp(&Finished::of(b)))
}

/// The newest complete backup that can reach `bound`. Pure: `manifests`
/// are the complete backups, in any order.
pub fn choose<'a>(manifests: &[&'a Manifest], bound: TargetBound) -> Result<&'a Manifest> {
    let fits = |m: &&&Manifest| match bound {
        TargetBound::None => true,
        TargetBound::Time(t) => m.stop_time <= t,
        TargetBound::Lsn(lsn) => stop_lsn(m).is_some_and(|stop| stop <= lsn),
    };
    if let Some(best) = newest(manifests.iter().filter(fits).copied()) {
        return Ok(best);
    }
    let Some(oldest) = manifests
        .iter()
        .min_by(|a, b| Finished::of(a).cmp(&Finished::of(b)))
    else {
        return Err(Error::not_found(
            "the repository has no complete backup to restore",
        ));
    };
    Err(Error::usage(match bound {
        TargetBound::Time(t) => format!(
            "no backup finished before the target time {t}: the oldest, {}, finished at {}; choose a later target",
            oldest.name, oldest.stop_time
        ),
        TargetBound::Lsn(_) => format!(
            "no backup is consistent before the target LSN: the oldest, {}, needs WAL up to {}; choose a later target",
            oldest.name, oldest.stop_lsn
        ),
        TargetBound::None => unreachable!("every backup fits no bound"),
    }))
}

fn stop_lsn(manifest: &Manifest) -> Option<u64> {
    manifest
        .stop_lsn
        .parse::<crate::pg::Lsn>()
        .ok()
        .map(|lsn| lsn.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, stop_lsn: &str, stop_time: &str) -> Manifest {
        let mut m = crate::repo::manifest::good_fixture();
        m.name = name.to_string();
        m.stop_lsn = stop_lsn.to_string();
        m.stop_time = stop_time.parse().unwrap();
        m
    }

    #[test]
    fn chooses_the_newest_backup_before_the_target() {
        let a = manifest(
            "base_000000010000000002000028",
            "0/2000100",
            "2026-01-01T10:00:00Z",
        );
        let b = manifest(
            "base_000000010000000005000028",
            "0/5000100",
            "2026-01-01T12:00:00Z",
        );
        let all = [&b, &a];
        assert_eq!(choose(&all, TargetBound::None).unwrap().name, b.name);
        let at = |s: &str| TargetBound::Time(s.parse().unwrap());
        assert_eq!(
            choose(&all, at("2026-01-01T11:00:00Z")).unwrap().name,
            a.name
        );
        assert_eq!(
            choose(&all, at("2026-01-01T12:00:00Z")).unwrap().name,
            b.name
        );
        assert_eq!(
            choose(&all, TargetBound::Lsn(0x4000000)).unwrap().name,
            a.name
        );
        let err = choose(&all, at("2026-01-01T09:00:00Z")).unwrap_err();
        assert!(
            err.to_string().contains("no backup finished before"),
            "{err}"
        );
        assert!(choose(&all, TargetBound::Lsn(0x100)).is_err());
        assert!(choose(&[], TargetBound::None).is_err());
    }

    #[test]
    fn newest_means_finished_last_not_named_last() {
        // A clone's backup on timeline 2 sorts after production's by name,
        // but production's finished later.
        let production = manifest(
            "base_000000010000000009000028",
            "0/9000100",
            "2026-01-01T12:00:00Z",
        );
        let clone = manifest(
            "base_000000020000000005000028",
            "0/5000100",
            "2026-01-01T11:00:00Z",
        );
        let all = [&clone, &production];
        assert_eq!(
            choose(&all, TargetBound::None).unwrap().name,
            production.name
        );
        assert_eq!(newest(all).unwrap().name, production.name);
        // Same stop time: the stop LSN decides.
        let later_lsn = manifest(
            "base_000000010000000001000028",
            "0/A000100",
            "2026-01-01T12:00:00Z",
        );
        assert_eq!(
            newest([&production, &later_lsn]).unwrap().name,
            later_lsn.name
        );
    }
}
