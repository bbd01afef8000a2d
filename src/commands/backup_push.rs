//! `backup-push`: a throttled, non-exclusive base backup of a running cluster into the repository.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::cli::{BackupPushArgs, PgConnectArgs};
use crate::commands::progress::{human_bytes, human_duration, human_seconds, Progress};
use crate::config::{Checkpoint, IoPriority, Settings};
use crate::error::{Error, Result};
use crate::pg::control::{CheckpointSettings, ControlError, ControlSession, Tablespace};
use crate::pg::datadir::{self, Entry, EntryKind};
use crate::pg::{SegmentName, WalSegmentSize};
use crate::pipeline::throttle::TokenBucket;
use crate::pipeline::{Digest, EncodeOptions};
use crate::repo::identity::{self, RepoIdentity};
use crate::repo::manifest::{
    Durations, FileEntry, FileKind, Manifest, Part, TablespaceEntry, MANIFEST_FORMAT,
};
use crate::repo::tarpart::{self, OnBytes, PartEntry, PartEntryKind, WrittenEntry};
use crate::repo::wal::{self, WalFile};
use crate::repo::{catalog, layout};
use crate::storage::{Metadata, ObjectStore, PutMode, RetryPolicy, StorageError, StorageResult};

pub async fn run(args: &BackupPushArgs, settings: &Settings) -> Result<()> {
    let store = settings.store()?;
    let encode = settings.encode_options()?;
    let options = settings.backup(&args.backup);
    if let Some(priority) = options.io_priority {
        set_io_priority(priority);
    }
    let session = connect(&settings.connect(&args.connect)).await?;
    let major = session.major();
    let pgdata = check_pgdata(&args.pgdata, &session).await?;
    let system_identifier = session.system_identifier().await.map_err(failed)?;
    let wal_segment_size = session.wal_segment_size().await.map_err(failed)?;
    identity::ensure(
        store.as_ref(),
        RepoIdentity::new(system_identifier, major, wal_segment_size),
    )
    .await?;
    let tablespaces = session.tablespaces().await.map_err(failed)?;

    let label = format!(
        "walden backup {}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    let waiting = announce_checkpoint(&session, options.checkpoint).await;
    let checkpoint_started = Instant::now();
    let start = session
        .backup_start(&label, options.checkpoint == Checkpoint::Fast)
        .await
        .map_err(failed)?;
    waiting.finish();
    let copy_started = Instant::now();
    let name = layout::backup_name(start.timeline.0, start.lsn.0);
    tracing::info!(backup = %name, start_lsn = %start.lsn, timeline = start.timeline.0, "backup started");
    let started_record = serde_json::json!({
        "name": name,
        "label": label,
        "start_lsn": start.lsn.to_string(),
        "timeline": start.timeline.0,
        "start_time": start.time.to_rfc3339(),
    });
    store
        .put(
            &layout::backup_started_key(&name),
            Bytes::from(started_record.to_string()),
            PutMode::CreateOnly,
            &Metadata::new(),
        )
        .await
        .map_err(|e| Error::from(e).context(format!("recording the start of backup {name}")))?;

    let parts = plan_parts(&pgdata, &tablespaces, major, args.part_size_mib << 20)?;
    let total: u64 = parts.iter().flat_map(|p| &p.entries).map(|e| e.size).sum();
    let bucket = options.max_rate.map(TokenBucket::new);
    let progress = Progress::bytes(total, &format!("backing up {name}"));
    let on_bytes = progress.counter();
    let uploads = futures::stream::iter(parts.into_iter().enumerate())
        .map(|(index, plan)| {
            upload_part(
                store.clone(),
                &name,
                index,
                plan,
                &encode,
                bucket.clone(),
                on_bytes.clone(),
            )
        })
        .buffered(options.jobs as usize)
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
    let segment_size = WalSegmentSize::new(wal_segment_size).unwrap_or(WalSegmentSize::DEFAULT);
    let stop_segment = SegmentName::from_lsn(start.timeline, stop.lsn, segment_size);
    let waiting = Progress::phase(&format!(
        "last WAL segment {stop_segment} to reach the repository"
    ));
    wait_until_archived(
        store.as_ref(),
        &session,
        &stop_segment,
        encode.stages(),
        options.archive_timeout,
    )
    .await
    .map_err(|e| e.context(format!("backup {name} is incomplete and will not be used")))?;
    waiting.finish();
    let durations = Durations {
        checkpoint_ms: millis(copy_started - checkpoint_started),
        copy_ms: millis(copied - copy_started),
        wal_wait_ms: millis(Instant::now() - copied),
    };
    let manifest = build_manifest(ManifestInput {
        name: &name,
        label: &label,
        start: &start,
        stop: &stop,
        major,
        system_identifier,
        wal_segment_size,
        encode: &encode,
        tablespaces: &tablespaces,
        parts: uploaded,
        durations,
    });
    store
        .put(
            &layout::backup_manifest_key(&name),
            Bytes::from(manifest.to_json()),
            PutMode::CreateOnly,
            &Metadata::new(),
        )
        .await
        .map_err(|e| Error::from(e).context(format!("writing the manifest of {name}")))?;

    // Stored size as backup-list and prune count it: every object of the
    // backup, manifest included, as the store lists them.
    let stored_bytes = match catalog::entry(store.as_ref(), &name).await {
        Ok(Some(entry)) => Some(entry.stored_bytes),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(backup = %name, error = %e, "backup complete, but listing it to measure its stored size failed");
            None
        }
    };
    tracing::info!(
        backup = %name,
        bytes = manifest.bytes,
        stored_bytes,
        files = manifest.files.len(),
        total_ms = durations.total_ms(),
        checkpoint_ms = durations.checkpoint_ms,
        copy_ms = durations.copy_ms,
        wal_wait_ms = durations.wal_wait_ms,
        "backup complete"
    );
    if settings.quiet() {
        return Ok(());
    }
    println!(
        "{}",
        summary(&name, manifest.bytes, stored_bytes, &durations, total)
    );
    Ok(())
}

/// The line an operator reads when the backup is done: sizes, the time of
/// each phase (they add up to the total), and the copy's own rate, which
/// is what `--max-rate` limits.
fn summary(
    name: &str,
    bytes: u64,
    stored_bytes: Option<u64>,
    durations: &Durations,
    planned: u64,
) -> String {
    let stored = match stored_bytes {
        Some(stored) => format!(
            "{} stored ({:.0}%)",
            human_bytes(stored),
            100.0 * stored as f64 / bytes.max(1) as f64
        ),
        None => "stored size unknown".to_string(),
    };
    let rate = match durations.copy_rate(bytes) {
        Some(rate) => format!("{}/s", human_bytes(rate as u64)),
        None => "too fast to measure".to_string(),
    };
    format!(
        "backup {name} complete: {} read, {stored}, {} (checkpoint {}, copy {}, WAL wait {}), copy rate {rate} (planned {})",
        human_bytes(bytes),
        human_seconds(durations.total_ms()),
        human_seconds(durations.checkpoint_ms),
        human_seconds(durations.copy_ms),
        human_seconds(durations.wal_wait_ms),
        human_bytes(planned),
    )
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Says, before it starts, what the start checkpoint will wait for and
/// about how long; returns the terminal's spinner for it. A spread
/// checkpoint can keep a backup silent for minutes (4.5 min with
/// PostgreSQL's defaults), which looks like a hang.
async fn announce_checkpoint(session: &ControlSession, checkpoint: Checkpoint) -> Progress {
    if checkpoint == Checkpoint::Fast {
        tracing::debug!(
            phase = "checkpoint",
            checkpoint = "fast",
            "requesting an immediate checkpoint"
        );
        return Progress::phase("waiting for PostgreSQL's immediate checkpoint");
    }
    let settings = session.checkpoint_settings().await;
    let message = spread_checkpoint_notice(settings.as_ref().map_err(ToString::to_string));
    match &settings {
        Ok(s) => tracing::info!(
            phase = "checkpoint",
            checkpoint = "spread",
            estimate_s = s.spread_estimate().as_secs(),
            checkpoint_timeout_s = s.timeout.as_secs(),
            checkpoint_completion_target = s.completion_target,
            "{message}"
        ),
        Err(_) => tracing::info!(phase = "checkpoint", checkpoint = "spread", "{message}"),
    }
    // The line above says it all; the spinner beside the elapsed time is
    // cut to the terminal's width, so it keeps what matters.
    let estimate = settings
        .as_ref()
        .map(|s| format!(", up to about {}", human_duration(s.spread_estimate())))
        .unwrap_or_default();
    Progress::phase(&format!(
        "spread checkpoint{estimate}; --checkpoint fast starts now"
    ))
}

/// What the operator is told before a spread checkpoint, with the estimate
/// from the server's settings when they could be read.
fn spread_checkpoint_notice(settings: std::result::Result<&CheckpointSettings, String>) -> String {
    let how_long = match settings {
        Ok(s) => format!(
            "up to about {} (checkpoint_timeout {} × checkpoint_completion_target {})",
            human_duration(s.spread_estimate()),
            human_duration(s.timeout),
            s.completion_target
        ),
        Err(e) => format!(
            "up to checkpoint_timeout × checkpoint_completion_target (could not read them: {e})"
        ),
    };
    format!("waiting for PostgreSQL's spread checkpoint, {how_long}; --checkpoint fast starts now")
}

async fn connect(connect: &PgConnectArgs) -> Result<ControlSession> {
    let options = connect.options().map_err(|e| Error::usage(e.to_string()))?;
    ControlSession::connect(&options)
        .await
        .map_err(|e| match e {
            // A server walden cannot back up is a configuration error,
            // found before anything is written.
            ControlError::Unsupported { .. } | ControlError::Settings { .. } => {
                Error::usage(e.to_string())
            }
            other => failed(other),
        })
}

/// Waits until `segment` (the last one a restore of this backup needs) is
/// in the repository, polling quickly at first; fails after `timeout` with
/// what PostgreSQL's archiver reports, since then archiving is broken and
/// the backup could never be restored.
async fn wait_until_archived(
    store: &dyn ObjectStore,
    session: &ControlSession,
    segment: &SegmentName,
    preferred: crate::pipeline::Stages,
    timeout: std::time::Duration,
) -> Result<()> {
    let name = segment.to_string();
    let wal = WalFile {
        timeline: segment.timeline.0,
        file_name: &name,
    };
    let waiting = Instant::now();
    let mut pause = std::time::Duration::from_millis(20);
    let mut next_note = std::time::Duration::from_secs(30);
    loop {
        if wal::find(store, wal, preferred).await?.is_some() {
            tracing::debug!(segment = %name, ms = waiting.elapsed().as_millis() as u64, "stop segment archived");
            return Ok(());
        }
        let waited = waiting.elapsed();
        if waited >= timeout {
            let archiver = session
                .archiver_status()
                .await
                .unwrap_or_else(|e| e.to_string());
            return Err(Error::failed(format!(
                "WAL segment {name}, which the backup needs, did not reach {} within {:?} (--archive-timeout): check that archive_mode is on and archive_command runs walden wal-push with this repository (pg_stat_archiver: {archiver})",
                store.url(),
                timeout
            )));
        }
        if waited >= next_note {
            tracing::warn!(segment = %name, waited_s = waited.as_secs(), "still waiting for the archiver to store the backup's last WAL segment");
            next_note += std::time::Duration::from_secs(30);
        }
        tokio::time::sleep(pause.min(timeout.saturating_sub(waited))).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(1));
    }
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

fn failed(e: impl std::fmt::Display) -> Error {
    Error::failed(e.to_string())
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

struct UploadedPart {
    part: Part,
    entries: Vec<WrittenEntry>,
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

struct ManifestInput<'a> {
    name: &'a str,
    label: &'a str,
    start: &'a crate::pg::control::BackupStart,
    stop: &'a crate::pg::control::BackupStop,
    major: u32,
    system_identifier: u64,
    wal_segment_size: u32,
    encode: &'a EncodeOptions,
    tablespaces: &'a [Tablespace],
    parts: Vec<UploadedPart>,
    durations: Durations,
}

fn build_manifest(input: ManifestInput<'_>) -> Manifest {
    use crate::pg::{SegmentName, WalSegmentSize};
    let size = WalSegmentSize::new(input.wal_segment_size).unwrap_or(WalSegmentSize::DEFAULT);
    let timeline = input.start.timeline;
    let mut parts = Vec::new();
    let mut files = Vec::new();
    for (index, uploaded) in input.parts.into_iter().enumerate() {
        for entry in uploaded.entries {
            files.push(file_entry(entry, index));
        }
        parts.push(uploaded.part);
    }
    Manifest {
        format: MANIFEST_FORMAT,
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
        bytes: files.iter().map(|f| f.size).sum(),
        stored_bytes: parts.iter().map(|p| p.stored_bytes).sum(),
        parts,
        files,
        durations: Some(input.durations),
    }
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

/// Lowers the I/O priority of this process (Linux ioprio_set); threads
/// started afterwards inherit it. Failure is logged, not fatal.
fn set_io_priority(priority: IoPriority) {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_CLASS_SHIFT: libc::c_int = 13;
    let value = match priority {
        IoPriority::Idle => 3 << IOPRIO_CLASS_SHIFT,
        IoPriority::BestEffort => (2 << IOPRIO_CLASS_SHIFT) | 7,
    };
    // SAFETY: ioprio_set takes plain integers; 0 means the calling thread.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    if rc != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "could not set the I/O priority; continuing at normal priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_notice_says_how_long_and_the_way_out() {
        let defaults = CheckpointSettings::from_server(300.0, 0.9).unwrap();
        assert_eq!(
            spread_checkpoint_notice(Ok(&defaults)),
            "waiting for PostgreSQL's spread checkpoint, up to about 4 min 30 s \
             (checkpoint_timeout 5 min × checkpoint_completion_target 0.9); --checkpoint fast starts now"
        );
        let unknown = spread_checkpoint_notice(Err("permission denied".to_string()));
        assert!(
            unknown.contains("could not read them: permission denied"),
            "{unknown}"
        );
        assert!(
            unknown.ends_with("--checkpoint fast starts now"),
            "{unknown}"
        );
    }

    #[test]
    fn summary_splits_the_phases_and_rates_the_copy_alone() {
        // The report from the issue: a 270 s checkpoint, then 9 s of copy
        // at --max-rate 20MB/s.
        let durations = Durations {
            checkpoint_ms: 270_100,
            copy_ms: 9_000,
            wal_wait_ms: 100,
        };
        let line = summary(
            "base_000000010000000002000028",
            180_000_000,
            Some(3_042_098),
            &durations,
            180_000_000,
        );
        assert_eq!(
            line,
            "backup base_000000010000000002000028 complete: 171.7 MiB read, 2.9 MiB stored (2%), \
             279.2 s (checkpoint 270.1 s, copy 9.0 s, WAL wait 0.1 s), copy rate 19.1 MiB/s (planned 171.7 MiB)"
        );
        let unmeasured = summary(
            "b",
            10,
            None,
            &Durations {
                checkpoint_ms: 1,
                copy_ms: 0,
                wal_wait_ms: 1,
            },
            10,
        );
        assert!(unmeasured.contains("stored size unknown"), "{unmeasured}");
        assert!(
            unmeasured.contains("copy rate too fast to measure"),
            "{unmeasured}"
        );
    }
}
