//! What a backup has stored so far (its parts, in order, and the files in them, spilled to disk), and writing its manifest from that at the end.

use std::io::{Seek, SeekFrom};

use crate::error::{Error, Result};
use crate::pg::control::{BackupStart, BackupStop, Tablespace};
use crate::pg::{SegmentName, WalSegmentSize};
use crate::pipeline::EncodeOptions;
use crate::repo::file_list::FileList;
use crate::repo::layout;
use crate::repo::manifest::{
    Durations, FileEntry, FileKind, Manifest, Part, TablespaceEntry, FULL_FORMAT,
    INCREMENTAL_FORMAT,
};
use crate::repo::tarpart::{PartEntryKind, WrittenEntry};
use crate::storage::{Metadata, ObjectStore, RetryPolicy};

/// The parts stored so far, in manifest order, and their files. The files
/// go to a temporary file at once: a cluster's file list is the one thing
/// in a backup that grows with it.
pub(crate) struct Stored {
    pub parts: Vec<Part>,
    pub files: FileList,
}

impl Stored {
    pub fn new() -> Result<Stored> {
        Ok(Stored {
            parts: Vec::new(),
            files: FileList::new().map_err(|e| Error::failed(e.to_string()))?,
        })
    }

    /// Records the next part and the entries written into it.
    pub fn add(&mut self, part: Part, entries: Vec<WrittenEntry>) -> Result<()> {
        let index = self.parts.len();
        for entry in entries {
            self.files
                .push(&file_entry(entry, index))
                .map_err(|e| Error::failed(format!("spilling the backup's file list: {e}")))?;
        }
        self.parts.push(part);
        Ok(())
    }
}

pub(super) struct ManifestInput<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub start: &'a BackupStart,
    pub stop: &'a BackupStop,
    pub major: u32,
    pub system_identifier: u64,
    pub wal_segment_size: u32,
    pub encode: &'a EncodeOptions,
    pub tablespaces: &'a [Tablespace],
    pub stored: Stored,
    pub durations: Durations,
    pub parent: Option<String>,
}

/// Writes the manifest, the backup's commit marker, create-only. Its JSON
/// goes through a temporary file, not memory, and is streamed to the store
/// from there (again on a retry).
pub(super) async fn write_manifest(
    store: &dyn ObjectStore,
    input: ManifestInput<'_>,
) -> Result<()> {
    let key = layout::backup_manifest_key(input.name);
    let (head, files) = manifest_head(input);
    let spooled = tokio::task::spawn_blocking(move || {
        let mut file = tempfile::tempfile()?;
        files.write_manifest(&head, &mut file)?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| Error::failed(format!("the manifest thread failed: {e}")))?
    .map_err(|e| Error::failed(format!("writing the manifest to a temporary file: {e}")))?;
    RetryPolicy::default()
        .run_put_of_own_key(&key, |mode| {
            let body = spooled
                .try_clone()
                .and_then(|mut file| file.seek(SeekFrom::Start(0)).map(|_| file));
            let key = &key;
            async move {
                let body = body.map_err(|e| crate::storage::StorageError::Permanent {
                    key: key.clone(),
                    message: format!("reading back the spooled manifest: {e}"),
                })?;
                let body = tokio::fs::File::from_std(body);
                store
                    .put_stream(key, Box::pin(body), mode, &Metadata::new())
                    .await
            }
        })
        .await
        .map_err(Error::from)?;
    Ok(())
}

/// The manifest without its files, and the files.
fn manifest_head(input: ManifestInput<'_>) -> (Manifest, FileList) {
    let size = WalSegmentSize::new(input.wal_segment_size).unwrap_or(WalSegmentSize::DEFAULT);
    let timeline = input.start.timeline;
    let Stored { parts, files } = input.stored;
    let head = Manifest {
        format: if input.parent.is_some() {
            INCREMENTAL_FORMAT
        } else {
            FULL_FORMAT
        },
        name: input.name.to_string(),
        label: input.label.to_string(),
        start_lsn: input.start.lsn.to_string(),
        stop_lsn: input.stop.lsn.to_string(),
        start_wal_file: SegmentName::from_lsn(timeline, input.start.lsn, size).to_string(),
        stop_wal_file: SegmentName::from_lsn(timeline, input.stop.lsn, size).to_string(),
        timeline: timeline.0,
        start_time: input.start.time,
        stop_time: input.stop.time,
        pg_version: input.major,
        system_identifier: input.system_identifier.to_string(),
        wal_segment_size: input.wal_segment_size,
        compression: input.encode.compression.to_string(),
        encrypted: !input.encode.recipients.is_empty(),
        backup_label: input.stop.label_file.clone(),
        tablespace_map: input.stop.tablespace_map.clone(),
        tablespaces: input
            .tablespaces
            .iter()
            .map(|t| TablespaceEntry {
                oid: t.oid,
                name: t.name.clone(),
                location: t.location.display().to_string(),
            })
            .collect(),
        bytes: files.bytes(),
        stored_bytes: parts.iter().map(|p| p.stored_bytes).sum(),
        parts,
        files: Vec::new(),
        durations: Some(input.durations),
        parent: input.parent,
    };
    (head, files)
}

fn file_entry(entry: WrittenEntry, part: usize) -> FileEntry {
    let (kind, link_target) = match entry.kind {
        PartEntryKind::File => (FileKind::File, None),
        PartEntryKind::Dir => (FileKind::Dir, None),
        PartEntryKind::Symlink(target) => (FileKind::Symlink, Some(target.display().to_string())),
    };
    FileEntry {
        path: entry.rel_path,
        part,
        size: entry.size,
        mode: entry.mode,
        mtime: entry.mtime,
        sha256: entry.sha256,
        kind,
        link_target,
    }
}
