//! The network way of taking a backup: `BASE_BACKUP` over a replication connection, as pg_basebackup does, from a primary or a hot standby, with no access to the data directory.
//!
//! The server's tar archives are re-cut into walden's parts as they
//! arrive (`repo::tar_recut`) on a blocking thread, each part streamed to
//! the store while it is written: memory stays at the pipeline's buffers
//! whatever the size of the database. `backup_label` and `tablespace_map`
//! come inside the main archive and go into the manifest, exactly as the
//! data-directory way gets them from `pg_backup_stop`; the server's own
//! `backup_manifest` is kept as a file of the backup, so `pg_verifybackup`
//! can check a restored directory.

use std::io::{BufWriter, Read, Seek, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Buf, Bytes};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::io::SyncIoBridge;

use super::incremental::{self, ServerState};
use super::{
    announce_checkpoint, failed, millis, record_start, unsupported_or_failed, Plan, ServerFacts,
    Stored, Taken,
};
use crate::commands::progress::Progress;
use crate::config::Checkpoint;
use crate::error::{Error, Result};
use crate::pg::base_backup::{BackupEvent, BaseBackup, BaseBackupOptions, TablespaceHeader};
use crate::pg::control::{
    check_supported, parse_backup_label, BackupFrom, BackupStart, BackupStop, CheckpointSettings,
    Tablespace,
};
use crate::pg::replication::{ReplicationConnection, ReplicationError};
use crate::pg::{Lsn, TimelineId};
use crate::pipeline::throttle::{ThrottledReader, TokenBucket};
use crate::pipeline::{Digest, EncodeOptions};
use crate::repo::layout;
use crate::repo::manifest::Part;
use crate::repo::part_restore::SERVER_MANIFEST;
use crate::repo::tar_recut::{self, PartSinks, SetAside};
use crate::repo::tarpart::{OnBytes, PartWriter, WrittenEntry};
use crate::storage::{Metadata, ObjectStore, PutMode, StorageResult};

const BACKUP_LABEL: &str = "backup_label";
const TABLESPACE_MAP: &str = "tablespace_map";

/// Once the checkpoint is done the server sends without pause (even at the
/// lowest MAX_RATE, a chunk every second or so); this long without a byte
/// means the server or the network hangs.
const COPY_SILENCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Chunks of the server's stream waiting for the re-cutting thread: with
/// chunks of up to a few hundred KiB, a few MiB in flight at most.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Takes a backup over the replication connection `plan.connect`
/// describes and stores its parts.
pub(super) async fn take(plan: &Plan<'_>) -> Result<Taken> {
    let mut connection = ReplicationConnection::connect(&plan.connect)
        .await
        .map_err(connect_failed)?;
    let identity = connection.identify().await.map_err(failed)?;
    let major = check_supported(identity.version_num).map_err(unsupported_or_failed)?;
    let server = ServerFacts {
        major,
        system_identifier: identity.system_identifier,
        wal_segment_size: identity.wal_segment_size,
    };
    tracing::info!(mode = "replication", server = %connection.target(), major, "backing up over the replication protocol");
    server.ensure_repository(plan.store.as_ref()).await?;
    let state = ServerState {
        major,
        system_identifier: identity.system_identifier,
        timeline: identity.timeline,
        summarize_wal: if plan.incremental.wanted() && major >= incremental::FIRST_MAJOR {
            connection
                .show("summarize_wal")
                .await
                .map_err(|e| e.to_string())
        } else {
            Err("not read".into())
        },
    };
    let base =
        incremental::choose_base(plan.incremental, &plan.store, &plan.identities, &state).await?;
    if let Some(base) = &base {
        tracing::info!(base = %base.name, chain = base.chain_length, "taking an incremental backup");
        connection
            .upload_manifest(&base.server_manifest)
            .await
            .map_err(|e| {
                failed(e).context(format!("sending the server manifest of {}", base.name))
            })?;
    }

    let checkpoint = plan.options.checkpoint;
    let checkpoint_settings = if checkpoint == Checkpoint::Fast {
        Err(String::new())
    } else {
        checkpoint_settings(&mut connection).await
    };
    let waiting = announce_checkpoint(checkpoint, || checkpoint_settings);
    let checkpoint_started = Instant::now();
    let request = BaseBackupOptions {
        label: plan.label.clone(),
        fast_checkpoint: checkpoint == Checkpoint::Fast,
        max_rate: plan.options.max_rate.map(|rate| rate.bytes_per_sec()),
        incremental: base.is_some(),
    };
    let mut backup = BaseBackup::start(&mut connection, major, &request)
        .await
        .map_err(failed)?;
    let (start_lsn, start_timeline) = match backup.next().await.map_err(failed)? {
        Some(BackupEvent::Started { lsn, timeline }) => (lsn, timeline),
        other => return Err(unexpected("the start position", &other)),
    };
    waiting.finish();
    backup.set_read_timeout(Some(COPY_SILENCE_LIMIT));
    let copy_started = Instant::now();
    // Refined from backup_label's START TIME once the label arrives.
    let start_time = chrono::Utc::now();
    let name = record_start(
        plan.store.as_ref(),
        &plan.label,
        &BackupStart {
            lsn: start_lsn,
            timeline: start_timeline,
            time: start_time,
        },
    )
    .await?;
    let incomplete =
        |e: Error| e.context(format!("backup {name} is incomplete and will not be used"));

    let headers = match backup.next().await.map_err(failed).map_err(incomplete)? {
        Some(BackupEvent::Tablespaces(headers)) => headers,
        other => return Err(incomplete(unexpected("the tablespace list", &other))),
    };
    let planned: u64 = headers.iter().filter_map(|h| h.size).sum();
    let progress = Progress::bytes(planned, &format!("backing up {name}"));
    let copy = Copy {
        store: plan.store.clone(),
        name: name.clone(),
        encode: plan.encode.clone(),
        part_size: plan.part_size,
        bucket: plan.options.max_rate.map(TokenBucket::new),
        on_bytes: progress.counter(),
        stored: Arc::new(Mutex::new(Stored::new()?)),
    };
    let streamed = receive(&mut backup, &copy).await.map_err(incomplete)?;
    let stored = Arc::try_unwrap(copy.stored)
        .ok()
        .and_then(|stored| stored.into_inner().ok())
        .ok_or_else(|| incomplete(Error::failed("a copy thread still holds the part list")))?;
    progress.finish();
    let copied = Instant::now();
    drop(backup);
    connection.close().await;

    let label_file = streamed
        .label
        .ok_or_else(|| incomplete(Error::failed("the server sent no backup_label")))?;
    let label = parse_backup_label(&label_file)
        .map_err(|e| incomplete(Error::failed(format!("the server's backup_label: {e}"))))?;
    if label.start_lsn != start_lsn || label.start_timeline != start_timeline {
        return Err(incomplete(Error::failed(format!(
            "the server's backup_label starts at {} on timeline {}, but the backup started at {start_lsn} on timeline {}",
            label.start_lsn, label.start_timeline.0, start_timeline.0
        ))));
    }
    if streamed.stop_timeline != start_timeline {
        return Err(incomplete(Error::failed(format!(
            "the server moved from timeline {} to {} during the backup (a promotion upstream); take the backup again",
            start_timeline.0, streamed.stop_timeline.0
        ))));
    }
    let from = match label.from {
        BackupFrom::Primary => "primary",
        BackupFrom::Standby => "standby",
    };
    tracing::info!(backup = %name, from, stop_lsn = %streamed.stop_lsn, "the server finished the backup");
    let start = BackupStart {
        lsn: start_lsn,
        timeline: start_timeline,
        time: label_start_time(&label.start_time).unwrap_or(start_time),
    };
    let stop = BackupStop {
        lsn: streamed.stop_lsn,
        label_file,
        tablespace_map: streamed.tablespace_map,
        // After the server's stop: the backup is consistent by then.
        time: chrono::Utc::now(),
    };
    Ok(Taken {
        name,
        start,
        stop,
        server,
        tablespaces: tablespaces(&headers),
        stored,
        checkpoint_ms: millis(copy_started - checkpoint_started),
        copy_ms: millis(copied - copy_started),
        planned,
        archiver: None,
        parent: base.map(|b| b.name),
    })
}

/// A wrong password or an unreachable server is not worth retrying; the
/// message says which server and why.
fn connect_failed(e: ReplicationError) -> Error {
    Error::failed(e.to_string())
}

fn unexpected(what: &str, event: &Option<BackupEvent>) -> Error {
    Error::failed(format!(
        "the server's answer to BASE_BACKUP: expected {what}, got {event:?}"
    ))
}

async fn checkpoint_settings(
    connection: &mut ReplicationConnection,
) -> std::result::Result<CheckpointSettings, String> {
    let timeout = connection
        .show("checkpoint_timeout")
        .await
        .map_err(|e| e.to_string())?;
    let target = connection
        .show("checkpoint_completion_target")
        .await
        .map_err(|e| e.to_string())?;
    let seconds =
        parse_seconds(&timeout).ok_or_else(|| format!("checkpoint_timeout {timeout:?}"))?;
    let target: f64 = target
        .trim()
        .parse()
        .map_err(|_| format!("checkpoint_completion_target {target:?}"))?;
    CheckpointSettings::from_server(seconds, target)
}

/// "5min" → 300, as `SHOW` prints time settings.
fn parse_seconds(text: &str) -> Option<f64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: f64 = text[..digits].parse().ok()?;
    let unit = match &text[digits..] {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    };
    Some(number * unit)
}

/// backup_label's "2026-12-07 06:00:00 UTC" (the server's time zone name
/// may be any; only UTC offsets PostgreSQL prints as a name are lost).
fn label_start_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (stamp, zone) = text.trim().rsplit_once(' ')?;
    if zone != "UTC" && zone != "GMT" {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|naive| naive.and_utc())
}

/// The tablespaces as the manifest records them. A replication connection
/// cannot read `pg_tablespace`, so the name is the oid, as in `pg_tblspc`.
fn tablespaces(headers: &[TablespaceHeader]) -> Vec<Tablespace> {
    headers
        .iter()
        .filter_map(|h| {
            Some(Tablespace {
                oid: h.oid?,
                name: h.oid?.to_string(),
                location: h.location.clone()?.into(),
            })
        })
        .collect()
}

/// Everything a copy needs, shared by the parts.
struct Copy {
    store: Arc<dyn ObjectStore>,
    name: String,
    encode: EncodeOptions,
    part_size: u64,
    bucket: Option<Arc<TokenBucket>>,
    on_bytes: OnBytes,
    /// Where each part is recorded once stored (archives come one at a
    /// time, so in order).
    stored: Arc<Mutex<Stored>>,
}

/// What the stream delivered.
struct Streamed {
    label: Option<String>,
    tablespace_map: Option<String>,
    stop_lsn: Lsn,
    stop_timeline: TimelineId,
}

/// Reads the rest of the server's answer: each archive re-cut into parts
/// on a blocking thread, the server's manifest spooled to a temporary file
/// and stored as the last part, and the stop position.
async fn receive(backup: &mut BaseBackup<'_>, copy: &Copy) -> Result<Streamed> {
    let mut label = None;
    let mut tablespace_map = None;
    let mut base_parts = 0;
    let mut parts_before = 0;
    let mut archive: Option<Archive> = None;
    let mut manifest: Option<std::fs::File> = None;
    loop {
        let event = backup.next().await.map_err(failed)?;
        match event {
            Some(BackupEvent::ArchiveStart { oid }) => {
                // The thread records its parts as it stores them.
                parts_before = stored_parts(copy);
                archive = Some(Archive::start(copy, oid));
            }
            Some(BackupEvent::ArchiveData(data)) => {
                let current = archive
                    .as_mut()
                    .ok_or_else(|| Error::failed("archive data outside an archive"))?;
                if current.chunks.send(data).await.is_err() {
                    // The thread stopped reading: its error says why.
                    if let Some(stopped) = archive.take() {
                        stopped.finish().await?;
                    }
                    return Err(Error::failed(
                        "the copy thread stopped before the archive ended",
                    ));
                }
            }
            Some(BackupEvent::ArchiveEnd) => {
                let current = archive
                    .take()
                    .ok_or_else(|| Error::failed("an archive ended that never began"))?;
                let oid = current.oid;
                let set_aside = current.finish().await?;
                if oid.is_none() {
                    base_parts = stored_parts(copy) - parts_before;
                }
                for file in set_aside {
                    let text = String::from_utf8(file.content).map_err(|_| {
                        Error::failed(format!("the server's {} is not UTF-8", file.path))
                    })?;
                    match file.path.as_str() {
                        BACKUP_LABEL => label = Some(text),
                        _ => tablespace_map = Some(text),
                    }
                }
            }
            Some(BackupEvent::ManifestData(data)) => {
                let file = match &mut manifest {
                    Some(file) => file,
                    None => manifest.insert(tempfile::tempfile().map_err(|e| {
                        Error::failed(format!(
                            "creating a temporary file for the server's backup_manifest: {e}"
                        ))
                    })?),
                };
                file.write_all(&data).map_err(|e| {
                    Error::failed(format!("spooling the server's backup_manifest: {e}"))
                })?;
            }
            Some(BackupEvent::Stopped { lsn, timeline }) => {
                if let Some(file) = manifest.take() {
                    let index = base_parts + 1;
                    store_server_manifest(copy, index, file).await?;
                }
                // The server still sends CommandComplete and ReadyForQuery.
                while backup.next().await.map_err(failed)?.is_some() {}
                return Ok(Streamed {
                    label,
                    tablespace_map,
                    stop_lsn: lsn,
                    stop_timeline: timeline,
                });
            }
            Some(other) => return Err(unexpected("archive data", &Some(other))),
            None => {
                return Err(Error::failed(
                    "the server ended BASE_BACKUP without a stop position",
                ))
            }
        }
    }
}

fn stored_parts(copy: &Copy) -> usize {
    copy.stored
        .lock()
        .map(|stored| stored.parts.len())
        .unwrap_or(0)
}

/// One archive being re-cut into parts on a blocking thread.
struct Archive {
    oid: Option<u32>,
    chunks: mpsc::Sender<Bytes>,
    thread: JoinHandle<Result<Vec<SetAside>>>,
}

impl Archive {
    fn start(copy: &Copy, oid: Option<u32>) -> Archive {
        let (chunks, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let mut sinks = StoreSinks::new(copy, oid);
        let encode = copy.encode.clone();
        let part_size = copy.part_size;
        let bucket = copy.bucket.clone();
        let on_bytes = copy.on_bytes.clone();
        // The labels are in the main archive only; a tablespace's
        // archive holds no such names at its top.
        let set_aside: &'static [&'static str] = if oid.is_none() {
            &[BACKUP_LABEL, TABLESPACE_MAP]
        } else {
            &[]
        };
        let thread = tokio::task::spawn_blocking(move || {
            let stream = ThrottledReader::new(ChunkReader::new(receiver), bucket);
            let result =
                tar_recut::recut(stream, part_size, &encode, set_aside, &mut sinks, &on_bytes);
            match result {
                Ok(kept) => Ok(kept),
                // A failed upload breaks the pipe the part is written to:
                // then the store's error is the cause.
                Err(e) => Err(sinks.upload_error().unwrap_or(e)),
            }
        });
        Archive {
            oid,
            chunks,
            thread,
        }
    }

    /// Ends the stream and waits for the thread to store its last part;
    /// returns the files set aside.
    async fn finish(self) -> Result<Vec<SetAside>> {
        drop(self.chunks);
        self.thread
            .await
            .map_err(|e| Error::failed(format!("the copy thread failed: {e}")))?
    }
}

/// Turns the chunks the server sent into a byte stream for the tar reader.
struct ChunkReader {
    receiver: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    fn new(receiver: mpsc::Receiver<Bytes>) -> Self {
        ChunkReader {
            receiver,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Parts streamed into the store as they are written, one at a time.
struct StoreSinks {
    store: Arc<dyn ObjectStore>,
    name: String,
    oid: Option<u32>,
    encode: EncodeOptions,
    handle: tokio::runtime::Handle,
    upload: Option<(String, JoinHandle<StorageResult<u64>>)>,
    stored: Arc<Mutex<Stored>>,
}

type PartSink = BufWriter<SyncIoBridge<DuplexStream>>;

impl StoreSinks {
    fn new(copy: &Copy, oid: Option<u32>) -> Self {
        StoreSinks {
            store: copy.store.clone(),
            name: copy.name.clone(),
            oid,
            encode: copy.encode.clone(),
            handle: tokio::runtime::Handle::current(),
            upload: None,
            stored: copy.stored.clone(),
        }
    }

    /// The error of the upload in progress, if it failed.
    fn upload_error(&mut self) -> Option<Error> {
        let (relative, upload) = self.upload.take()?;
        match self.handle.block_on(upload) {
            Ok(Err(e)) => Some(Error::from(e).context(format!("backup part {relative}"))),
            _ => None,
        }
    }
}

impl PartSinks for StoreSinks {
    type Sink = PartSink;

    fn open(&mut self, index_in_group: usize) -> Result<PartSink> {
        let relative = layout::backup_part_relative(self.oid, index_in_group, self.encode.stages());
        let key = layout::backup_object_key(&self.name, &relative);
        let (reader, writer) = tokio::io::duplex(1 << 20);
        let store = self.store.clone();
        let upload = self.handle.spawn(async move {
            store
                .put_stream(
                    &key,
                    Box::pin(reader),
                    PutMode::CreateOnly,
                    &Metadata::new(),
                )
                .await
        });
        self.upload = Some((relative, upload));
        Ok(BufWriter::with_capacity(
            1 << 20,
            SyncIoBridge::new_with_handle(writer, self.handle.clone()),
        ))
    }

    fn close(
        &mut self,
        index_in_group: usize,
        sink: PartSink,
        digest: Digest,
        entries: Vec<WrittenEntry>,
    ) -> Result<()> {
        let ended = sink
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|mut bridge| bridge.shutdown());
        if let Err(e) = ended {
            return Err(self
                .upload_error()
                .unwrap_or_else(|| Error::failed(format!("ending a backup part: {e}"))));
        }
        let (relative, upload) = self
            .upload
            .take()
            .ok_or_else(|| Error::failed("a part was closed that was never opened"))?;
        let stored_bytes = self
            .handle
            .block_on(upload)
            .map_err(|e| Error::failed(format!("the upload of {relative} failed: {e}")))?
            .map_err(|e| Error::from(e).context(format!("backup part {relative}")))?;
        tracing::info!(part = %relative, index = index_in_group, bytes = digest.bytes, stored_bytes, files = entries.len(), "part stored");
        let part = Part {
            key: relative,
            tablespace_oid: self.oid,
            stored_bytes,
            plain_bytes: digest.bytes,
            sha256: digest.sha256_hex(),
        };
        self.stored
            .lock()
            .map_err(|_| Error::failed("another copy thread failed while recording its part"))?
            .add(part, entries)
    }
}

impl Drop for StoreSinks {
    /// An upload left open by a failure must not complete a truncated part.
    fn drop(&mut self) {
        if let Some((_, upload)) = self.upload.take() {
            upload.abort();
        }
    }
}

/// Stores the server's `backup_manifest` as the main data directory's last
/// part, a file of the backup like any other.
async fn store_server_manifest(copy: &Copy, index: usize, mut file: std::fs::File) -> Result<()> {
    let mut sinks = StoreSinks::new(copy, None);
    let encode = copy.encode.clone();
    tokio::task::spawn_blocking(move || {
        let spool_failed = |e: std::io::Error| {
            Error::failed(format!("reading back the server's backup_manifest: {e}"))
        };
        let size = file.stream_position().map_err(spool_failed)?;
        file.rewind().map_err(spool_failed)?;
        let mut part = PartWriter::new(sinks.open(index)?, &encode, 1)?;
        let mtime = chrono::Utc::now().timestamp();
        let written = part.append_file(SERVER_MANIFEST, 0o600, mtime, size, &mut file);
        if let Err(e) = written {
            return Err(sinks.upload_error().unwrap_or_else(|| {
                Error::failed(format!("storing the server's backup_manifest: {e}"))
            }));
        }
        let (sink, digest, entries) = part.finish()?;
        sinks.close(index, sink, digest, entries)
    })
    .await
    .map_err(|e| Error::failed(format!("the copy thread failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_settings_are_read_with_their_units() {
        assert_eq!(parse_seconds("5min"), Some(300.0));
        assert_eq!(parse_seconds("30s"), Some(30.0));
        assert_eq!(parse_seconds("1h"), Some(3600.0));
        assert_eq!(parse_seconds("soon"), None);
    }

    #[test]
    fn label_times_in_utc_are_read() {
        assert_eq!(
            label_start_time("2026-12-07 06:00:01 UTC")
                .unwrap()
                .to_rfc3339(),
            "2026-12-07T06:00:01+00:00"
        );
        assert_eq!(label_start_time("2026-12-07 07:00:01 CET"), None);
    }

    #[test]
    fn tablespaces_are_named_by_oid() {
        let headers = vec![
            TablespaceHeader {
                oid: Some(16390),
                location: Some("/srv/ts".into()),
                size: Some(8192),
            },
            TablespaceHeader {
                oid: None,
                location: None,
                size: Some(1),
            },
        ];
        let found = tablespaces(&headers);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].oid, 16390);
        assert_eq!(found[0].name, "16390");
        assert_eq!(found[0].location, std::path::PathBuf::from("/srv/ts"));
    }
}
