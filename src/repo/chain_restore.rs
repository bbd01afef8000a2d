//! Restoring a backup's files, and for an incremental backup rebuilding them from its chain: the newest backup is unpacked first, its incremental files written block by block where they belong, and then each older backup of the chain, newest to oldest, supplies only the blocks still missing, straight into the restored files.
//!
//! Disk use is the restored data directory and nothing more: no backup of
//! the chain is staged (pg_combinebackup needs every backup of the chain
//! on disk next to its output). Each backup's parts are read once, and an
//! older backup's part is read only if it holds a file still waiting for
//! blocks. Every part and every file of every backup read is checked
//! against its manifest, as for a full restore. Memory per file being
//! rebuilt is one bit per block below its truncation length (16 KiB for a
//! whole 1 GiB segment).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::pg::incremental::{read_header, BlockGeometry, PendingBlocks, INCREMENTAL_PREFIX};
use crate::pipeline::Identities;
use crate::repo::catalog;
use crate::repo::manifest::{safe_join, FileEntry, Manifest};
use crate::repo::part_restore::{self, PartJob, SERVER_MANIFEST};
use crate::repo::tarpart::{make_parent, EntrySink, Modes, OnBytes, WriteEntries};
use crate::storage::ObjectStore;

/// Longer than any chain walden makes (`--max-chain` is far below it): a
/// bound on the walk through parents, whatever a repository says.
pub const MAX_CHAIN_WALK: usize = 1000;

/// The chain a backup is restored from: the backup itself, then its parent,
/// and so on down to a full backup. Every manifest is read and validated;
/// a missing or incomplete parent, a cycle, a parent of another cluster or
/// one that does not start before its child is refused with the reason.
pub async fn load_chain(store: &dyn ObjectStore, newest: Manifest) -> Result<Vec<Arc<Manifest>>> {
    let mut chain = vec![Arc::new(newest)];
    let mut seen: HashSet<String> = HashSet::from([chain[0].name.clone()]);
    while let Some(parent) = chain.last().and_then(|m| m.parent.clone()) {
        let child = chain.last().expect("a chain is never empty").clone();
        let broken = |why: String| {
            Error::failed(format!(
                "backup {} cannot be restored: it builds on {parent}, which {why}; the chain is broken (restore an older backup, or take a new full one)",
                chain[0].name
            ))
        };
        if !seen.insert(parent.clone()) {
            return Err(broken("is also one of its descendants (a cycle)".into()));
        }
        if chain.len() >= MAX_CHAIN_WALK {
            return Err(broken(format!(
                "lies more than {MAX_CHAIN_WALK} backups down the chain"
            )));
        }
        let manifest = catalog::load_manifest(store, &parent)
            .await
            .map_err(|e| broken(format!("cannot be read ({e})")))?;
        if manifest.system_identifier != child.system_identifier {
            return Err(broken(format!(
                "belongs to another cluster (system identifier {}, not {})",
                manifest.system_identifier, child.system_identifier
            )));
        }
        let (parent_start, _) = manifest.lsn_range().map_err(|e| broken(e.to_string()))?;
        let (child_start, _) = child.lsn_range().map_err(|e| broken(e.to_string()))?;
        if parent_start >= child_start {
            return Err(broken(format!(
                "starts at {parent_start}, not before {} (at {child_start})",
                child.name
            )));
        }
        chain.push(Arc::new(manifest));
    }
    Ok(chain)
}

/// Where each tablespace of the restored cluster goes (`None` = the data
/// directory), and what restoring may use.
pub struct ChainTarget<'a> {
    pub roots: &'a HashMap<Option<u32>, PathBuf>,
    pub modes: Modes,
    pub identities: &'a Identities,
    /// Parts restored at once.
    pub jobs: usize,
    pub geometry: BlockGeometry,
}

/// Restores `chain` (newest first, as [`load_chain`] gives it): the newest
/// backup's files, with every incremental one rebuilt from the older
/// backups. `on_bytes` hears of every file byte read, from every backup.
/// Returns the number of files restored.
pub async fn restore_chain(
    store: Arc<dyn ObjectStore>,
    chain: &[Arc<Manifest>],
    target: &ChainTarget<'_>,
    on_bytes: OnBytes,
) -> Result<usize> {
    let newest = chain[0].clone();
    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let all_parts: Vec<usize> = (0..newest.parts.len()).collect();
    let files = restore_parts(
        store.clone(),
        &newest,
        &all_parts,
        target,
        &on_bytes,
        |root| {
            Box::new(NewestEntries {
                write: WriteEntries {
                    modes: target.modes,
                },
                pending: pending.clone(),
                geometry: target.geometry,
                skip_server_manifest: chain.len() > 1 && root == target.roots[&None],
                incremental: newest.parent.is_some(),
            })
        },
    )
    .await?;
    for older in &chain[1..] {
        let waiting: HashSet<PathBuf> = lock(&pending).keys().cloned().collect();
        if waiting.is_empty() {
            break;
        }
        let parts = parts_holding(older, &waiting, target.roots)?;
        tracing::info!(backup = %older.name, files = waiting.len(), parts = parts.len(), "rebuilding incremental files from an older backup of the chain");
        restore_parts(store.clone(), older, &parts, target, &on_bytes, |_| {
            Box::new(OlderEntries {
                pending: pending.clone(),
                incremental: older.parent.is_some(),
                geometry: target.geometry,
            })
        })
        .await?;
    }
    let left = lock(&pending);
    if let Some(path) = left.keys().next() {
        return Err(Error::failed(format!(
            "{} has no full version in the chain of backup {} (down to {}): the chain is broken; {} file(s) cannot be rebuilt",
            path.display(),
            newest.name,
            chain.last().expect("a chain is never empty").name,
            left.len()
        )));
    }
    Ok(files)
}

/// The largest write when copying a run of blocks from a full version.
const COPY_CHUNK: usize = 1 << 20;

/// Files being rebuilt, by their path in the restored cluster, with the
/// blocks older backups may still supply.
type Pending = Arc<Mutex<HashMap<PathBuf, PendingBlocks>>>;

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, HashMap<PathBuf, PendingBlocks>> {
    // A panicking unpacking thread fails the restore anyway.
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Restores `parts` of `manifest`, `jobs` at a time, each through the sink
/// `sink_for` makes for its root. Returns the number of files read.
async fn restore_parts(
    store: Arc<dyn ObjectStore>,
    manifest: &Arc<Manifest>,
    parts: &[usize],
    target: &ChainTarget<'_>,
    on_bytes: &OnBytes,
    sink_for: impl Fn(&Path) -> Box<dyn EntrySink + Send>,
) -> Result<usize> {
    let jobs: Vec<PartJob> = parts
        .iter()
        .filter_map(|&index| {
            let root = target.roots.get(&manifest.parts[index].tablespace_oid)?;
            Some(PartJob {
                index,
                root: root.clone(),
                sink: sink_for(root),
                identities: target.identities.clone(),
                on_bytes: on_bytes.clone(),
            })
        })
        .collect();
    futures::stream::iter(jobs)
        .map(|job| part_restore::restore_part(store.clone(), manifest.clone(), job))
        .buffer_unordered(target.jobs.max(1))
        .try_fold(0, |total, files| async move { Ok(total + files) })
        .await
}

/// The parts of `manifest` that hold a version of a file in `waiting`.
/// Every waiting file must have one: a backup in the middle of a chain
/// without it means the chain is not what the newer backups were taken on.
fn parts_holding(
    manifest: &Manifest,
    waiting: &HashSet<PathBuf>,
    roots: &HashMap<Option<u32>, PathBuf>,
) -> Result<Vec<usize>> {
    let mut parts = Vec::new();
    let mut found = HashSet::new();
    for file in &manifest.files {
        let Some(root) = manifest
            .parts
            .get(file.part)
            .and_then(|p| roots.get(&p.tablespace_oid))
        else {
            continue;
        };
        let Ok(placed) = safe_join(root, &file.path) else {
            continue;
        };
        let Ok((rebuilt, _)) = rebuilt_path(&placed, manifest.parent.is_some()) else {
            continue;
        };
        if waiting.contains(&rebuilt) {
            found.insert(rebuilt);
            if !parts.contains(&file.part) {
                parts.push(file.part);
            }
        }
    }
    if let Some(missing) = waiting.iter().find(|p| !found.contains(*p)) {
        return Err(Error::failed(format!(
            "{} is missing from backup {}, which a newer backup of the chain builds on: the chain is broken; this backup cannot be rebuilt",
            missing.display(),
            manifest.name
        )));
    }
    parts.sort_unstable();
    Ok(parts)
}

/// The path a file is restored to, and whether it is an incremental file
/// (`INCREMENTAL.<name>`, rebuilt as `<name>` next to it). Only an
/// incremental backup (`in_incremental`) holds incremental files: in a full
/// backup a file of that name is an ordinary file, restored as it is.
fn rebuilt_path(placed: &Path, in_incremental: bool) -> Result<(PathBuf, bool)> {
    if !in_incremental {
        return Ok((placed.to_path_buf(), false));
    }
    let name = placed.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.strip_prefix(INCREMENTAL_PREFIX) {
        None => Ok((placed.to_path_buf(), false)),
        Some("") | Some(".") | Some("..") => Err(Error::failed(format!(
            "{} is not a valid incremental file name: the backup is damaged or crafted",
            placed.display()
        ))),
        Some(rest) => Ok((placed.with_file_name(rest), true)),
    }
}

fn incremental_error(e: crate::pg::incremental::IncrementalError) -> Error {
    Error::failed(format!("{e}: the backup is damaged or crafted"))
}

/// The newest backup of the chain: every entry written as in a full
/// restore, except that an incremental file becomes its rebuilt file,
/// holding the blocks it carries, at the length it says, and waits for the
/// rest from older backups. The server's `backup_manifest` of an
/// incremental backup describes its incremental files, not the rebuilt
/// directory, so it is not restored.
struct NewestEntries {
    write: WriteEntries,
    pending: Pending,
    geometry: BlockGeometry,
    skip_server_manifest: bool,
    /// Whether this backup is incremental, so may hold incremental files.
    incremental: bool,
}

impl EntrySink for NewestEntries {
    fn dir(&mut self, placed: &Path) -> Result<()> {
        self.write.dir(placed)
    }

    fn file(&mut self, placed: &Path, listed: &FileEntry, body: &mut dyn Read) -> Result<()> {
        if self.skip_server_manifest && listed.path == SERVER_MANIFEST {
            return Ok(());
        }
        let (rebuilt, incremental) = rebuilt_path(placed, self.incremental)?;
        if !incremental {
            return self.write.file(placed, listed, body);
        }
        let header = read_incremental_header(body, placed, listed, self.geometry)?;
        let file = create_file(&rebuilt, self.write.modes)?;
        let block_size = u64::from(self.geometry.block_size);
        let fail = |e: io::Error| Error::failed(format!("writing {}: {e}", rebuilt.display()));
        file.set_len(u64::from(header.rebuilt_block_length()) * block_size)
            .map_err(fail)?;
        let mut block = vec![0u8; self.geometry.block_size as usize];
        for &number in &header.blocks {
            body.read_exact(&mut block).map_err(|e| short(placed, e))?;
            file.write_all_at(&block, u64::from(number) * block_size)
                .map_err(fail)?;
        }
        if header.truncation_block_length > 0 {
            lock(&self.pending).insert(rebuilt, PendingBlocks::after_newest(&header));
        }
        Ok(())
    }
}

/// An older backup of the chain: only the blocks files still wait for are
/// written, into the files the newest backup created; every other entry is
/// read (and checked) and dropped.
struct OlderEntries {
    pending: Pending,
    /// Whether this backup is incremental, so may hold incremental files.
    incremental: bool,
    geometry: BlockGeometry,
}

impl EntrySink for OlderEntries {
    fn dir(&mut self, _placed: &Path) -> Result<()> {
        Ok(())
    }

    fn file(&mut self, placed: &Path, listed: &FileEntry, body: &mut dyn Read) -> Result<()> {
        let (rebuilt, incremental) = rebuilt_path(placed, self.incremental)?;
        let Some(mut waiting) = lock(&self.pending).remove(&rebuilt) else {
            return Ok(());
        };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&rebuilt)
            .map_err(|e| Error::failed(format!("opening {}: {e}", rebuilt.display())))?;
        let fail = |e: io::Error| Error::failed(format!("writing {}: {e}", rebuilt.display()));
        let block_size = u64::from(self.geometry.block_size);
        let mut block = vec![0u8; self.geometry.block_size as usize];
        if incremental {
            let header = read_incremental_header(body, placed, listed, self.geometry)?;
            let take = waiting.take_incremental(&header);
            for (&number, take) in header.blocks.iter().zip(take) {
                body.read_exact(&mut block).map_err(|e| short(placed, e))?;
                if take {
                    file.write_all_at(&block, u64::from(number) * block_size)
                        .map_err(fail)?;
                }
            }
            lock(&self.pending).insert(rebuilt, waiting);
            return Ok(());
        }
        // Runs of blocks, copied in writes of up to COPY_CHUNK bytes: an
        // unchanged segment is mostly one run.
        let mut chunk = vec![0u8; COPY_CHUNK];
        let mut position = 0u64;
        for run in waiting.take_full(listed.size, self.geometry) {
            let mut offset = u64::from(run.start) * block_size;
            let end = u64::from(run.end) * block_size;
            io::copy(&mut body.take(offset - position), &mut io::sink())
                .map_err(|e| short(placed, e))?;
            while offset < end {
                let n = (end - offset).min(COPY_CHUNK as u64) as usize;
                body.read_exact(&mut chunk[..n])
                    .map_err(|e| short(placed, e))?;
                file.write_all_at(&chunk[..n], offset).map_err(fail)?;
                offset += n as u64;
            }
            position = end;
        }
        Ok(())
    }
}

/// The header of an incremental file being read, which must account for
/// exactly the file's listed size.
fn read_incremental_header(
    body: &mut dyn Read,
    placed: &Path,
    listed: &FileEntry,
    geometry: BlockGeometry,
) -> Result<crate::pg::incremental::IncrementalHeader> {
    let header = read_header(body, &listed.path, geometry).map_err(incremental_error)?;
    if header.file_size(geometry) != listed.size {
        return Err(Error::failed(format!(
            "{}: its header accounts for {} bytes, but the file has {}: the backup is damaged or crafted",
            placed.display(),
            header.file_size(geometry),
            listed.size
        )));
    }
    Ok(header)
}

fn create_file(path: &Path, modes: Modes) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    make_parent(path, modes)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(modes.file)
        .open(path)
        .map_err(|e| Error::failed(format!("creating {}: {e}", path.display())))
}

fn short(placed: &Path, e: io::Error) -> Error {
    Error::from(crate::pipeline::PipelineError::from(e))
        .context(format!("reading {}", placed.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_incremental_backup_holds_incremental_files() {
        let placed = Path::new("/restore/base/5/INCREMENTAL.16384");
        assert_eq!(
            rebuilt_path(placed, true).unwrap(),
            (PathBuf::from("/restore/base/5/16384"), true)
        );
        // A full backup's file of that name is restored as it is.
        assert_eq!(
            rebuilt_path(placed, false).unwrap(),
            (placed.to_path_buf(), false)
        );
        assert_eq!(
            rebuilt_path(Path::new("/restore/base/5/16384"), true).unwrap(),
            (PathBuf::from("/restore/base/5/16384"), false)
        );
        assert!(rebuilt_path(Path::new("/restore/base/5/INCREMENTAL."), true).is_err());
    }
}
