//! `backup-push`: a throttled, non-exclusive base backup of a running cluster into the repository.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::cli::BackupPushArgs;
use crate::commands::progress::{human_bytes, human_duration, human_seconds, Progress};
use crate::config::{BackupSettings, Checkpoint, IoPriority, Settings};
use crate::error::{Error, Result};
use crate::pg::control::{
    BackupStart, BackupStop, CheckpointSettings, ConnectOptions, ControlError, ControlSession,
    Tablespace,
};
use crate::pg::{SegmentName, WalSegmentSize};
use crate::pipeline::EncodeOptions;
use crate::repo::identity::{self, RepoIdentity};
use crate::repo::manifest::Durations;
use crate::repo::wal::{self, WalFile};
use crate::repo::{catalog, layout};
use crate::storage::{Metadata, ObjectStore, PutMode, StorageError};

mod incremental;
mod local;
mod network;
mod stored;

use stored::{ManifestInput, Stored};

pub async fn run(args: &BackupPushArgs, settings: &Settings) -> Result<()> {
    let store = settings.store()?;
    let encode = settings.encode_options(crate::config::Content::Backup)?;
    let options = settings.backup(&args.backup);
    if args.pgdata.is_some() && args.incremental.wanted() {
        return Err(Error::usage(
            "incremental backups are taken over the replication protocol: drop --pgdata (and unset PGDATA) to take one",
        ));
    }
    if let Some(priority) = options.io_priority {
        set_io_priority(priority);
    }
    let plan = Plan {
        store: store.clone(),
        encode: encode.clone(),
        options,
        connect: settings
            .connect(&args.connect)
            .options()
            .map_err(|e| Error::usage(e.to_string()))?,
        part_size: args.part_size_mib << 20,
        incremental: &args.incremental,
        identities: settings.identities()?,
        label: format!(
            "walden backup {}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        ),
    };
    // Like pg_basebackup: without a data directory the backup comes over
    // the network, through the replication protocol.
    let taken = match &args.pgdata {
        Some(pgdata) => local::take(&plan, pgdata).await?,
        None => network::take(&plan).await?,
    };
    let Taken {
        name,
        start,
        stop,
        server,
        tablespaces,
        stored,
        checkpoint_ms,
        copy_ms,
        planned,
        archiver,
        parent,
    } = taken;
    let copied = Instant::now();

    let segment_size =
        WalSegmentSize::new(server.wal_segment_size).unwrap_or(WalSegmentSize::DEFAULT);
    let stop_segment = SegmentName::from_lsn(start.timeline, stop.lsn, segment_size);
    let waiting = Progress::phase(&format!(
        "last WAL segment {stop_segment} to reach the repository"
    ));
    wait_until_archived(
        store.as_ref(),
        archiver.as_ref(),
        &stop_segment,
        encode.stages(),
        plan.options.archive_timeout,
    )
    .await
    .map_err(|e| e.context(format!("backup {name} is incomplete and will not be used")))?;
    waiting.finish();
    let durations = Durations {
        checkpoint_ms,
        copy_ms,
        wal_wait_ms: millis(Instant::now() - copied),
    };
    let (bytes, files) = (stored.files.bytes(), stored.files.len());
    stored::write_manifest(
        store.as_ref(),
        ManifestInput {
            name: &name,
            label: &plan.label,
            start: &start,
            stop: &stop,
            major: server.major,
            system_identifier: server.system_identifier,
            wal_segment_size: server.wal_segment_size,
            encode: &encode,
            tablespaces: &tablespaces,
            stored,
            durations,
            parent,
        },
    )
    .await
    .map_err(|e| e.context(format!("writing the manifest of {name}")))?;

    let stored_bytes = match catalog::stored_bytes(store.as_ref(), &name).await {
        Ok(stored) => Some(stored),
        Err(e) => {
            tracing::warn!(backup = %name, error = %e, "backup complete, but listing it to measure its stored size failed");
            None
        }
    };
    tracing::info!(
        backup = %name,
        bytes,
        stored_bytes,
        files,
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
        summary(&name, bytes, stored_bytes, &durations, planned)
    );
    Ok(())
}

/// What both ways of taking a backup start from.
pub(super) struct Plan<'a> {
    pub store: Arc<dyn ObjectStore>,
    pub encode: EncodeOptions,
    pub options: BackupSettings,
    pub connect: ConnectOptions,
    /// Target plaintext bytes of one part.
    pub part_size: u64,
    pub label: String,
    /// What kind of backup was asked for (over the network only).
    pub incremental: &'a crate::cli::IncrementalArgs,
    /// To read a base backup's server manifest in an encrypted repository.
    pub identities: crate::pipeline::Identities,
}

/// The server a backup is taken from.
#[derive(Debug, Clone, Copy)]
pub(super) struct ServerFacts {
    pub major: u32,
    pub system_identifier: u64,
    pub wal_segment_size: u32,
}

impl ServerFacts {
    /// The repository must belong to this cluster (or be new).
    pub async fn ensure_repository(&self, store: &dyn ObjectStore) -> Result<()> {
        identity::ensure(
            store,
            RepoIdentity::new(self.system_identifier, self.major, self.wal_segment_size),
        )
        .await
        .map(|_| ())
    }
}

/// A backup whose files are all stored: what is left is waiting for its
/// WAL and writing the manifest.
pub(super) struct Taken {
    pub name: String,
    pub start: BackupStart,
    pub stop: BackupStop,
    pub server: ServerFacts,
    pub tablespaces: Vec<Tablespace>,
    /// The parts, in order, and their files.
    pub stored: Stored,
    pub checkpoint_ms: u64,
    pub copy_ms: u64,
    /// The bytes the copy expected to read.
    pub planned: u64,
    /// A session that can say what the archiver is doing, when there is one.
    pub archiver: Option<ControlSession>,
    /// The backup this one builds on, for an incremental backup.
    pub parent: Option<String>,
}

/// Names the backup that started at `start` and records that it has
/// started, so that `backup-list --all` shows it while it runs and after it
/// fails. The name is the start position's, with a suffix when a backup
/// already started there (a standby's, see `layout::backup_name_variant`).
pub(super) async fn record_start(
    store: &dyn ObjectStore,
    label: &str,
    start: &BackupStart,
) -> Result<String> {
    for n in 0..layout::MAX_BACKUPS_PER_START {
        let name = layout::backup_name_variant(start.timeline.0, start.lsn.0, n);
        let started_record = serde_json::json!({
            "name": name,
            "label": label,
            "start_lsn": start.lsn.to_string(),
            "timeline": start.timeline.0,
            "start_time": start.time.to_rfc3339(),
        });
        let recorded = store
            .put(
                &layout::backup_started_key(&name),
                Bytes::from(started_record.to_string()),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await;
        match recorded {
            Ok(_) => {
                tracing::info!(backup = %name, start_lsn = %start.lsn, timeline = start.timeline.0, "backup started");
                return Ok(name);
            }
            Err(StorageError::AlreadyExists { .. }) => {
                tracing::info!(backup = %name, start_lsn = %start.lsn, "a backup already started at this position (a standby's restartpoint repeats the primary's last checkpoint); naming this one apart");
            }
            Err(e) => {
                return Err(Error::from(e).context(format!("recording the start of backup {name}")))
            }
        }
    }
    Err(Error::failed(format!(
        "{} backups already started at {}: take the backup from the primary, or let it checkpoint first",
        layout::MAX_BACKUPS_PER_START,
        start.lsn
    )))
}

/// A server walden cannot back up is a configuration error, found before
/// anything is written.
pub(super) fn unsupported_or_failed(e: ControlError) -> Error {
    match e {
        ControlError::Unsupported { .. } | ControlError::Settings { .. } => {
            Error::usage(e.to_string())
        }
        other => failed(other),
    }
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

pub(super) fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Says, before it starts, what the start checkpoint will wait for and
/// about how long; returns the terminal's spinner for it. A spread
/// checkpoint can keep a backup silent for minutes (4.5 min with
/// PostgreSQL's defaults), which looks like a hang.
pub(super) fn announce_checkpoint(
    checkpoint: Checkpoint,
    settings: impl FnOnce() -> std::result::Result<CheckpointSettings, String>,
) -> Progress {
    if checkpoint == Checkpoint::Fast {
        tracing::debug!(
            phase = "checkpoint",
            checkpoint = "fast",
            "requesting an immediate checkpoint"
        );
        return Progress::phase("waiting for PostgreSQL's immediate checkpoint");
    }
    let settings = settings();
    let message = spread_checkpoint_notice(settings.as_ref().map_err(Clone::clone));
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

/// Waits until `segment` (the last one a restore of this backup needs) is
/// in the repository, polling quickly at first; fails after `timeout` with
/// what PostgreSQL's archiver reports, since then archiving is broken and
/// the backup could never be restored.
async fn wait_until_archived(
    store: &dyn ObjectStore,
    session: Option<&ControlSession>,
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
            // Over the replication protocol there is no SQL session to
            // ask: the archiver runs on the primary anyway.
            let archiver = match session {
                Some(session) => session
                    .archiver_status()
                    .await
                    .unwrap_or_else(|e| e.to_string()),
                None => "see pg_stat_archiver on the primary".to_owned(),
            };
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

pub(super) fn failed(e: impl std::fmt::Display) -> Error {
    Error::failed(e.to_string())
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
