//! One part of a backup, from the store onto disk: downloaded, decoded and unpacked with every file checked against the manifest, then the part's own checksum. Used by restore for every part, and to read back the server's `backup_manifest` that a backup over the replication protocol keeps.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::pipeline::{Identities, Stages};
use crate::repo::layout;
use crate::repo::manifest::{FileEntry, FileKind, Manifest};
use crate::repo::tarpart::{self, EntrySink, Modes, OnBytes, PartTarget, WriteEntries};
use crate::storage::ObjectStore;

/// The name pg_basebackup gives the server's manifest, which a backup over
/// the replication protocol keeps in its main directory.
pub const SERVER_MANIFEST: &str = "backup_manifest";

/// One part to restore, with what its unpacking thread needs.
pub struct PartJob {
    pub index: usize,
    /// The data directory, or the tablespace's location.
    pub root: PathBuf,
    /// What becomes of each entry: [`WriteEntries`] for a plain restore.
    pub sink: Box<dyn EntrySink + Send>,
    pub identities: Identities,
    pub on_bytes: OnBytes,
}

/// Downloads, decodes and unpacks part `job.index` of `manifest` under
/// `job.root`, checking every file and the part's own checksum against the
/// manifest. Returns the number of files written.
pub async fn restore_part(
    store: Arc<dyn ObjectStore>,
    manifest: Arc<Manifest>,
    job: PartJob,
) -> Result<usize> {
    let PartJob {
        index,
        root,
        mut sink,
        identities,
        on_bytes,
    } = job;
    let part = &manifest.parts[index];
    let key = layout::backup_object_key(&manifest.name, &part.key);
    let (_, stages) = Stages::split_name(&part.key);
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
        let target = PartTarget {
            root: &root,
            expected: &expected,
            plain_bytes: manifest_for_task.parts[index].plain_bytes,
        };
        tarpart::unpack_part(
            std::io::BufReader::with_capacity(1 << 20, body),
            stages,
            &identities,
            &target,
            sink.as_mut(),
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

/// The server's own `backup_manifest` in a backup taken over the
/// replication protocol, exactly as PostgreSQL wrote it: what a PostgreSQL
/// 17 incremental backup on top of that backup uploads. Read with every
/// check a restore makes (into a scratch directory, removed afterwards).
pub async fn read_server_manifest(
    store: Arc<dyn ObjectStore>,
    manifest: Arc<Manifest>,
    identities: Identities,
) -> Result<Vec<u8>> {
    let entry = manifest.files.iter().find(|f| {
        f.path == SERVER_MANIFEST
            && f.kind == FileKind::File
            && manifest
                .parts
                .get(f.part)
                .is_some_and(|p| p.tablespace_oid.is_none())
    });
    let Some(entry) = entry else {
        return Err(Error::usage(format!(
            "backup {} holds no server backup_manifest: it was taken from the data directory (--pgdata), and only a backup taken over the replication protocol (backup-push without --pgdata) can be the base of an incremental one",
            manifest.name
        )));
    };
    let scratch = tempfile::tempdir()
        .map_err(|e| Error::failed(format!("a scratch directory for {SERVER_MANIFEST}: {e}")))?;
    let job = PartJob {
        index: entry.part,
        root: scratch.path().to_path_buf(),
        sink: Box::new(WriteEntries {
            modes: Modes::for_cluster(false),
        }),
        identities,
        on_bytes: Arc::new(|_| {}),
    };
    restore_part(store, manifest.clone(), job)
        .await
        .map_err(|e| {
            e.context(format!(
                "reading the {SERVER_MANIFEST} of backup {}",
                manifest.name
            ))
        })?;
    std::fs::read(scratch.path().join(SERVER_MANIFEST)).map_err(|e| {
        Error::failed(format!(
            "reading back the {SERVER_MANIFEST} of backup {}: {e}",
            manifest.name
        ))
    })
}
