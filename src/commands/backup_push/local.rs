//! The data-directory way of taking a backup: a control session runs `pg_backup_start`/`pg_backup_stop` while walden reads the files from disk, where the server runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

use super::{
    announce_checkpoint, failed, millis, record_start, unsupported_or_failed, Plan, ServerFacts,
    Taken, UploadedPart,
};
use crate::commands::progress::Progress;
use crate::config::Checkpoint;
use crate::error::{Error, Result};
use crate::pg::control::{ControlSession, Tablespace};
use crate::pg::datadir::{self, Entry, EntryKind};
use crate::pipeline::throttle::TokenBucket;
use crate::pipeline::{Digest, EncodeOptions};
use crate::repo::layout;
use crate::repo::manifest::Part;
use crate::repo::tarpart::{self, OnBytes, PartEntry, PartEntryKind, WrittenEntry};
use crate::storage::{Metadata, ObjectStore, PutMode, RetryPolicy, StorageError, StorageResult};

/// Takes the backup of the server `plan.connect` reaches, whose data
/// directory is `pgdata`, and stores its parts.
pub(super) async fn take(plan: &Plan<'_>, pgdata: &Path) -> Result<Taken> {
    let session = ControlSession::connect(&plan.connect)
        .await
        .map_err(unsupported_or_failed)?;
    tracing::info!(mode = "data-directory", pgdata = %pgdata.display(), "backing up from the data directory");
    let major = session.major();
    let pgdata = check_pgdata(pgdata, &session).await?;
    let server = ServerFacts {
        major,
        system_identifier: session.system_identifier().await.map_err(failed)?,
        wal_segment_size: session.wal_segment_size().await.map_err(failed)?,
    };
    server.ensure_repository(plan.store.as_ref()).await?;
    let tablespaces = session.tablespaces().await.map_err(failed)?;

    let checkpoint = plan.options.checkpoint;
    let checkpoint_settings = if checkpoint == Checkpoint::Fast {
        Err(String::new())
    } else {
        session
            .checkpoint_settings()
            .await
            .map_err(|e| e.to_string())
    };
    let waiting = announce_checkpoint(checkpoint, || checkpoint_settings);
    let checkpoint_started = Instant::now();
    let start = session
        .backup_start(&plan.label, checkpoint == Checkpoint::Fast)
        .await
        .map_err(failed)?;
    waiting.finish();
    let copy_started = Instant::now();
    let name = record_start(plan.store.as_ref(), &plan.label, &start).await?;

    let parts = plan_parts(&pgdata, &tablespaces, major, plan.part_size)?;
    let total: u64 = parts.iter().flat_map(|p| &p.entries).map(|e| e.size).sum();
    let bucket = plan.options.max_rate.map(TokenBucket::new);
    let progress = Progress::bytes(total, &format!("backing up {name}"));
    let on_bytes = progress.counter();
    let uploads = futures::stream::iter(parts.into_iter().enumerate())
        .map(|(index, part)| {
            upload_part(
                plan.store.clone(),
                &name,
                index,
                part,
                &plan.encode,
                bucket.clone(),
                on_bytes.clone(),
            )
        })
        .buffered(plan.options.jobs as usize)
        .try_collect::<Vec<UploadedPart>>();
    // If the session drops, PostgreSQL has already aborted the backup:
    // stop copying at once instead of finding out at pg_backup_stop.
    let uploaded = tokio::select! {
        uploaded = uploads => uploaded?,
        () = session_lost(&session) => {
            return Err(Error::failed(format!(
                "the control session to PostgreSQL was lost during the copy, so the server aborted the backup; \
                 backup {name} is incomplete and will not be used"
            )));
        }
    };
    progress.finish();
    let copied = Instant::now();

    // pg_backup_stop fails if the session dropped during the copy: then
    // the backup fails here, before any manifest is written. It is not asked
    // to wait for archiving: PostgreSQL would poll once a second, and
    // forever if archiving is broken. walden watches the repository itself.
    let stop = session.backup_stop(false).await.map_err(|e| {
        Error::failed(format!(
            "{e}; backup {name} is incomplete and will not be used"
        ))
    })?;
    Ok(Taken {
        name,
        start,
        stop,
        server,
        tablespaces,
        parts: uploaded,
        checkpoint_ms: millis(copy_started - checkpoint_started),
        copy_ms: millis(copied - copy_started),
        planned: total,
        archiver: Some(session),
        parent: None,
    })
}

/// Resolves once the control session stops answering (checked every few seconds).
async fn session_lost(session: &ControlSession) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        if !session.is_alive().await {
            return;
        }
    }
}

/// The directory given must be the one the server runs on: backing up
/// another directory would look fine and restore nothing useful.
async fn check_pgdata(given: &Path, session: &ControlSession) -> Result<PathBuf> {
    let given_real = given
        .canonicalize()
        .map_err(|e| Error::usage(format!("--pgdata {}: {e}", given.display())))?;
    let server = session.data_directory().await.map_err(failed)?;
    let server_real = server.canonicalize().unwrap_or(server.clone());
    if given_real != server_real {
        return Err(Error::usage(format!(
            "--pgdata {} is not the data directory of the server walden connected to ({}): check --pgdata and the connection options",
            given.display(),
            server.display()
        )));
    }
    Ok(given_real)
}

/// One part to write: which group (main data directory or a tablespace)
/// and its entries.
#[derive(Clone)]
struct PartPlan {
    tablespace_oid: Option<u32>,
    index_in_group: usize,
    entries: Vec<PartEntry>,
}

/// Splits the data directory and each tablespace into parts of about
/// `part_size` plaintext bytes (a file larger than that gets a part alone).
fn plan_parts(
    pgdata: &Path,
    tablespaces: &[Tablespace],
    major: u32,
    part_size: u64,
) -> Result<Vec<PartPlan>> {
    let walk_failed =
        |dir: &Path, e: std::io::Error| Error::failed(format!("reading {}: {e}", dir.display()));
    let mut plans = Vec::new();
    let base = datadir::walk(pgdata).map_err(|e| walk_failed(pgdata, e))?;
    split(None, pgdata, base, part_size, &mut plans);
    for tablespace in tablespaces {
        let entries = datadir::find_tablespace_version_dir(&tablespace.location, major)
            .and_then(|version_dir| datadir::walk_tablespace(&tablespace.location, &version_dir))
            .map_err(|e| walk_failed(&tablespace.location, e))?;
        split(
            Some(tablespace.oid),
            &tablespace.location,
            entries,
            part_size,
            &mut plans,
        );
    }
    Ok(plans)
}

fn split(
    oid: Option<u32>,
    root: &Path,
    entries: Vec<Entry>,
    part_size: u64,
    plans: &mut Vec<PartPlan>,
) {
    let mut current: Vec<PartEntry> = Vec::new();
    let mut current_size = 0u64;
    let mut index = 1;
    for entry in entries {
        let size = entry.size;
        if current_size > 0 && current_size + size > part_size {
            plans.push(PartPlan {
                tablespace_oid: oid,
                index_in_group: index,
                entries: std::mem::take(&mut current),
            });
            index += 1;
            current_size = 0;
        }
        current_size += size;
        current.push(part_entry(root, entry));
    }
    if !current.is_empty() || index == 1 {
        plans.push(PartPlan {
            tablespace_oid: oid,
            index_in_group: index,
            entries: current,
        });
    }
}

fn part_entry(root: &Path, entry: Entry) -> PartEntry {
    let rel_path = entry.rel_path.to_string_lossy().into_owned();
    PartEntry {
        source: root.join(&entry.rel_path),
        rel_path,
        kind: match entry.kind {
            EntryKind::File => PartEntryKind::File,
            EntryKind::Dir => PartEntryKind::Dir,
            EntryKind::Symlink(target) => PartEntryKind::Symlink(target),
        },
        size: entry.size,
        mode: entry.mode,
        mtime: entry.mtime,
    }
}

/// Uploads one part, re-reading it from disk when the upload fails in a
/// way worth retrying (a stream cannot be replayed, so the store can't).
async fn upload_part(
    store: Arc<dyn ObjectStore>,
    name: &str,
    index: usize,
    plan: PartPlan,
    encode: &EncodeOptions,
    bucket: Option<Arc<TokenBucket>>,
    on_bytes: OnBytes,
) -> Result<UploadedPart> {
    let relative =
        layout::backup_part_relative(plan.tablespace_oid, plan.index_in_group, encode.stages());
    let key = layout::backup_object_key(name, &relative);
    let mut attempts = 0;
    let uploaded = RetryPolicy::default()
        .run(&key, || {
            attempts += 1;
            // This backup owns its prefix: a retry may replace what an
            // attempt that only seemed to fail left behind.
            let mode = if attempts == 1 {
                PutMode::CreateOnly
            } else {
                PutMode::Overwrite
            };
            upload_part_once(
                store.clone(),
                &key,
                &relative,
                &plan,
                encode,
                mode,
                bucket.clone(),
                on_bytes.clone(),
            )
        })
        .await
        .map_err(|e| Error::from(e).context(format!("backup part {relative}")))?;
    let (digest, stored_bytes, written) = uploaded;
    tracing::info!(part = %relative, index, bytes = digest.bytes, stored_bytes, files = written.len(), "part stored");
    Ok(UploadedPart {
        part: Part {
            key: relative,
            tablespace_oid: plan.tablespace_oid,
            stored_bytes,
            plain_bytes: digest.bytes,
            sha256: digest.sha256_hex(),
        },
        entries: written,
    })
}

/// Streams one part: tar + encode on a blocking thread, into `put_stream`.
/// Failures reading the data directory are `Permanent`: not worth retrying.
#[allow(clippy::too_many_arguments)]
async fn upload_part_once(
    store: Arc<dyn ObjectStore>,
    key: &str,
    relative: &str,
    plan: &PartPlan,
    encode: &EncodeOptions,
    mode: PutMode,
    bucket: Option<Arc<TokenBucket>>,
    on_bytes: OnBytes,
) -> StorageResult<(Digest, u64, Vec<WrittenEntry>)> {
    let (reader, writer) = tokio::io::duplex(1 << 20);
    let sink =
        std::io::BufWriter::with_capacity(1 << 20, tokio_util::io::SyncIoBridge::new(writer));
    let encode = encode.clone();
    let entries = plan.entries.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let (sink, digest, written) =
            tarpart::write_part(sink, &entries, &encode, bucket, &on_bytes)?;
        // Dropping the writer ends the stream the store is reading.
        let mut bridge = sink
            .into_inner()
            .map_err(|e| Error::failed(format!("flushing a backup part: {}", e.error())))?;
        bridge
            .shutdown()
            .map_err(|e| Error::failed(format!("ending a backup part: {e}")))?;
        Ok::<_, Error>((digest, written))
    });
    let stored = store
        .put_stream(key, Box::pin(reader), mode, &Metadata::new())
        .await;
    let local_failure = |message: String| StorageError::Permanent {
        key: key.to_string(),
        message,
    };
    let produced = producer
        .await
        .map_err(|e| local_failure(format!("the copy thread of {relative} failed: {e}")))?;
    match (produced, stored) {
        (Ok((digest, written)), Ok(stored_bytes)) => Ok((digest, stored_bytes, written)),
        // A failed upload breaks the stream the producer writes to: then
        // the store's error is the cause.
        (_, Err(stored)) if stored.is_transient() => Err(stored),
        // Otherwise the producer's error explains a broken stream better.
        (Err(produced), _) => Err(local_failure(format!("{produced:#}"))),
        (Ok(_), Err(stored)) => Err(stored),
    }
}
