//! The data-directory way of taking a backup: a control session runs `pg_backup_start`/`pg_backup_stop` while walden reads the files from disk, where the server runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

use super::{
    announce_checkpoint, failed, millis, record_start, unsupported_or_failed, Plan, ServerFacts,
    Stored, Taken,
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
use crate::repo::tarpart::{self, part_is_full, OnBytes, PartEntry, PartEntryKind, WrittenEntry};
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

    // The walk runs ahead of the copy by a few parts only, so the total
    // grows on the bar while a large cluster is still being walked.
    let progress = Progress::bytes(0, &format!("backing up {name}"));
    let planned = Arc::new(AtomicU64::new(0));
    let plans = plan_parts(
        pgdata.clone(),
        tablespaces.clone(),
        major,
        plan.part_size,
        planned.clone(),
        progress.clone(),
    );
    let bucket = plan.options.max_rate.map(TokenBucket::new);
    let on_bytes = progress.counter();
    let uploads = plans
        .enumerate()
        .map(|(index, part)| {
            let (store, encode, bucket, on_bytes) = (
                plan.store.clone(),
                &plan.encode,
                bucket.clone(),
                on_bytes.clone(),
            );
            let name = &name;
            async move { upload_part(store, name, index, part?, encode, bucket, on_bytes).await }
        })
        .buffered(plan.options.jobs as usize)
        .try_fold(Stored::new()?, |mut stored, (part, entries)| async move {
            stored.add(part, entries)?;
            Ok(stored)
        });
    // If the session drops, PostgreSQL has already aborted the backup:
    // stop copying at once instead of finding out at pg_backup_stop.
    let stored = tokio::select! {
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
        stored,
        checkpoint_ms: millis(copy_started - checkpoint_started),
        copy_ms: millis(copied - copy_started),
        planned: planned.load(Ordering::Relaxed),
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
struct PartPlan {
    tablespace_oid: Option<u32>,
    index_in_group: usize,
    entries: Vec<PartEntry>,
}

/// Parts the copy may have waiting while it stores others.
const PARTS_AHEAD: usize = 2;

/// Walks the data directory, then each tablespace, on a blocking thread,
/// cutting them into parts by [`part_is_full`] as it goes: the stream
/// yields each part once it is cut, and an error ends it. Memory holds the
/// parts being stored and [`PARTS_AHEAD`] more, whatever the number of
/// files. `planned` and the bar's total count the bytes walked so far.
fn plan_parts(
    pgdata: PathBuf,
    tablespaces: Vec<Tablespace>,
    major: u32,
    part_size: u64,
    planned: Arc<AtomicU64>,
    progress: Progress,
) -> impl futures::Stream<Item = Result<PartPlan>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(PARTS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let walk_failed = |dir: &Path, e: std::io::Error| {
            Error::failed(format!("reading {}: {e}", dir.display()))
        };
        let mut cutter = Cutter {
            part_size,
            sender: sender.clone(),
            planned,
            progress,
            current: None,
        };
        let mut walked = cutter
            .group(None, &pgdata, |sink| datadir::walk_each(&pgdata, sink))
            .map_err(|e| walk_failed(&pgdata, e));
        for tablespace in &tablespaces {
            if walked.is_err() {
                break;
            }
            let location = &tablespace.location;
            walked = cutter
                .group(Some(tablespace.oid), location, |sink| {
                    let version_dir = datadir::find_tablespace_version_dir(location, major)?;
                    datadir::walk_tablespace_each(location, &version_dir, sink)
                })
                .map_err(|e| walk_failed(location, e));
        }
        if let Err(e) = walked {
            // The copy may be gone already: then it has its own error.
            let _ = sender.blocking_send(Err(e));
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|plan| (plan, receiver))
    })
}

/// Cuts one group's walk into parts and hands them to the copy.
struct Cutter {
    part_size: u64,
    sender: tokio::sync::mpsc::Sender<Result<PartPlan>>,
    planned: Arc<AtomicU64>,
    progress: Progress,
    /// The part being filled and its file bytes.
    current: Option<(PartPlan, u64)>,
}

impl Cutter {
    /// Walks one group (the data directory or a tablespace under `root`)
    /// with `walk`; its last part is sent when the walk ends.
    fn group(
        &mut self,
        oid: Option<u32>,
        root: &Path,
        walk: impl FnOnce(&mut dyn FnMut(Entry) -> std::io::Result<()>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut index = 1;
        self.current = Some((PartPlan::new(oid, index), 0));
        walk(&mut |entry| {
            let (part, bytes) = self.current.as_mut().expect("a part is open");
            if part_is_full(part.entries.len(), *bytes, entry.size, self.part_size) {
                index += 1;
                let (full, _) = self
                    .current
                    .replace((PartPlan::new(oid, index), 0))
                    .expect("a part is open");
                self.send(full)?;
            }
            let (part, bytes) = self.current.as_mut().expect("a part is open");
            *bytes += entry.size;
            self.planned.fetch_add(entry.size, Ordering::Relaxed);
            self.progress.grow(entry.size);
            part.entries.push(part_entry(root, entry));
            Ok(())
        })?;
        let (last, _) = self.current.take().expect("a part is open");
        // An empty group still gets its (empty) part, as it always did.
        self.send(last)
    }

    fn send(&self, part: PartPlan) -> std::io::Result<()> {
        self.sender.blocking_send(Ok(part)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the copy stopped before the walk ended",
            )
        })
    }
}

impl PartPlan {
    fn new(tablespace_oid: Option<u32>, index_in_group: usize) -> PartPlan {
        PartPlan {
            tablespace_oid,
            index_in_group,
            entries: Vec::new(),
        }
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
) -> Result<(Part, Vec<WrittenEntry>)> {
    let relative =
        layout::backup_part_relative(plan.tablespace_oid, plan.index_in_group, encode.stages());
    // Shared with each attempt's copy thread, not copied for it.
    let plan = Arc::new(plan);
    let key = layout::backup_object_key(name, &relative);
    let uploaded = RetryPolicy::default()
        .run_put_of_own_key(&key, |mode| {
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
    let part = Part {
        key: relative,
        tablespace_oid: plan.tablespace_oid,
        stored_bytes,
        plain_bytes: digest.bytes,
        sha256: digest.sha256_hex(),
    };
    Ok((part, written))
}

/// Streams one part: tar + encode on a blocking thread, into `put_stream`.
/// Failures reading the data directory are `Permanent`: not worth retrying.
#[allow(clippy::too_many_arguments)]
async fn upload_part_once(
    store: Arc<dyn ObjectStore>,
    key: &str,
    relative: &str,
    plan: &Arc<PartPlan>,
    encode: &EncodeOptions,
    mode: PutMode,
    bucket: Option<Arc<TokenBucket>>,
    on_bytes: OnBytes,
) -> StorageResult<(Digest, u64, Vec<WrittenEntry>)> {
    let (reader, writer) = tokio::io::duplex(1 << 20);
    let sink =
        std::io::BufWriter::with_capacity(1 << 20, tokio_util::io::SyncIoBridge::new(writer));
    let encode = encode.clone();
    let plan = plan.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let (sink, digest, written) =
            tarpart::write_part(sink, &plan.entries, &encode, bucket, &on_bytes)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn the_walk_is_cut_into_bounded_parts_as_it_goes() {
        let pgdata = tempfile::tempdir().unwrap();
        let root = pgdata.path();
        std::fs::create_dir_all(root.join("global")).unwrap();
        std::fs::write(root.join("global/pg_control"), [1u8; 100]).unwrap();
        std::fs::create_dir_all(root.join("base/5")).unwrap();
        let files = tarpart::MAX_PART_ENTRIES * 2 + 10;
        for i in 0..files {
            std::fs::write(root.join(format!("base/5/{}", 100_000 + i)), b"").unwrap();
        }
        std::fs::write(root.join("base/5/1259"), [7u8; 3000]).unwrap();
        let planned = Arc::new(AtomicU64::new(0));
        let plans: Vec<PartPlan> = plan_parts(
            root.to_path_buf(),
            Vec::new(),
            15,
            1 << 20,
            planned.clone(),
            Progress::bytes(0, "test"),
        )
        .try_collect()
        .await
        .unwrap();
        assert_eq!(plans.len(), 3, "cut by the number of entries");
        for (i, plan) in plans.iter().enumerate() {
            assert_eq!(plan.index_in_group, i + 1);
            assert_eq!(plan.tablespace_oid, None);
            assert!(plan.entries.len() <= tarpart::MAX_PART_ENTRIES);
        }
        let all: Vec<&PartEntry> = plans.iter().flat_map(|p| &p.entries).collect();
        // The directories, base/5's files, pg_control.
        assert_eq!(all.len(), 3 + files + 1 + 1);
        assert_eq!(all.last().unwrap().rel_path, "global/pg_control");
        assert_eq!(planned.load(Ordering::Relaxed), 3100);
    }

    #[tokio::test]
    async fn a_walk_error_ends_the_stream_with_it() {
        let missing = tempfile::tempdir().unwrap().path().join("gone");
        let planned = Arc::new(AtomicU64::new(0));
        let result: Result<Vec<PartPlan>> = plan_parts(
            missing.clone(),
            Vec::new(),
            15,
            1 << 20,
            planned,
            Progress::bytes(0, "test"),
        )
        .try_collect()
        .await;
        let err = result.err().expect("a missing data directory fails");
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
