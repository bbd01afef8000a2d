//! `wal-push`: archive one WAL file as PostgreSQL's archive_command.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;

use crate::cli::WalPushArgs;
use crate::config::{Settings, WalPushSettingsArgs};
use crate::error::{Error, Result};
use crate::pg::{
    check_backup_history, check_history_file, parse_long_page_header, LongPageHeader, SegmentName,
    WalFileName,
};
use crate::pipeline::{EncodeOptions, Identities};
use crate::repo::identity::{self, RepoIdentity};
use crate::repo::wal::{self, ArchiveOutcome, Plaintext, WalFile};
use crate::spool::{self, markers::FileStamp, markers::Markers};
use crate::storage::ObjectStore;

pub async fn run(args: &WalPushArgs, settings: &Settings) -> Result<()> {
    let started = Instant::now();
    let name = wal_file_name(&args.path)?;
    let file_name = name.file_name();
    let read_ahead = ReadAhead::for_call(&args.path, &name, settings, &args.settings)?;
    if let Some(read_ahead) = &read_ahead {
        // The common case under read-ahead: an earlier call already stored
        // this very file. One stat and one small read, no store at all.
        if read_ahead.markers.take(&file_name, &args.path) {
            tracing::info!(
                wal = %file_name,
                ms = started.elapsed().as_millis() as u64,
                "archived earlier by read-ahead; nothing written"
            );
            return Ok(());
        }
    }
    // Settings before reading the file: a broken configuration is reported
    // as such, not as whatever the file read runs into.
    let store = settings.store()?;
    let encode = settings.encode_options(crate::config::Content::Wal)?;
    let identities = settings.identities()?;
    let (mut file, len, _) = open_wal_file(&args.path)?;

    // A segment's header names its cluster, which the repository's identity
    // must match before anything is written; history files carry none.
    let (body, cluster): (Box<dyn Read + Send>, _) = match &name {
        WalFileName::Segment(segment) | WalFileName::Partial(segment) => {
            let header = check_segment(&args.path, segment, &mut file, len)?;
            (Box::new(file), Some(header))
        }
        // What is checked is what is stored: the bytes read, not the file
        // read again.
        WalFileName::History(_) | WalFileName::Backup { .. } => {
            let contents = read_small_file(&args.path, file, len)?;
            check_small_file(&args.path, &name, &contents)?;
            (Box::new(std::io::Cursor::new(contents)), None)
        }
    };
    let system_identifier = cluster.as_ref().map(|h| h.system_identifier);
    // Read-ahead starts once the identity is confirmed, never before.
    let (confirmed, identity_confirmed) = tokio::sync::oneshot::channel();
    let ready = async {
        if let Some(header) = cluster {
            let candidate = RepoIdentity::new(
                header.system_identifier,
                header.pg_major().unwrap_or(0),
                header.segment_size,
            );
            identity::ensure(store.as_ref(), candidate).await?;
        }
        let _ = confirmed.send(());
        Ok(())
    };

    let context = PushContext {
        store: store.as_ref(),
        encode: &encode,
        identities: &identities,
    };
    let requested = context.push(&name, (body, len), started, ready);
    // Read-ahead only follows a segment, whose header names the cluster.
    let (Some(read_ahead), Some(system_identifier)) = (read_ahead, system_identifier) else {
        return requested.await.map(drop);
    };
    let ahead = read_ahead.candidates(&file_name);
    if ahead.is_empty() {
        return requested.await.map(drop);
    }
    let others = futures::stream::iter(
        ahead
            .into_iter()
            .map(|path| context.push_ahead(path, system_identifier, &read_ahead.markers)),
    )
    .buffer_unordered(read_ahead.jobs.max(2) - 1);
    // The requested segment and the read-ahead, N in flight, once the
    // identity is confirmed; every upload finishes before PostgreSQL gets
    // its answer.
    let others = async move {
        if identity_confirmed.await.is_ok() {
            others.for_each(|()| async {}).await;
        }
    };
    let (outcome, ()) = tokio::join!(requested, others);
    outcome
}

/// What every upload of one call shares.
struct PushContext<'a> {
    store: &'a dyn ObjectStore,
    encode: &'a EncodeOptions,
    identities: &'a Identities,
}

impl PushContext<'_> {
    /// Archives one opened WAL file and logs the outcome.
    async fn push(
        &self,
        name: &WalFileName,
        (body, len): (Box<dyn Read + Send>, u64),
        started: Instant,
        ready: impl std::future::Future<Output = Result<()>>,
    ) -> Result<()> {
        let file_name = name.file_name();
        let target = WalFile {
            timeline: name.timeline().0,
            file_name: &file_name,
        };
        let plain = Plaintext {
            reader: body,
            len: Some(len),
        };
        let outcome = wal::archive(
            self.store,
            target,
            plain,
            self.encode,
            self.identities,
            ready,
        )
        .await?;
        let ms = started.elapsed().as_millis() as u64;
        match outcome {
            ArchiveOutcome::Stored { key, stored_bytes } => tracing::info!(
                wal = %file_name, key, bytes_in = len, bytes_out = stored_bytes, ms,
                "archived"
            ),
            ArchiveOutcome::AlreadyArchived { key } => tracing::info!(
                wal = %file_name, key, bytes_in = len, ms,
                "already archived with identical content; nothing written"
            ),
        }
        Ok(())
    }

    /// Archives a segment PostgreSQL has not asked for yet and, once it is
    /// durably stored, records its marker. Failures are only warnings: the
    /// segment stays unmarked, and PostgreSQL's own call pushes it.
    async fn push_ahead(&self, path: PathBuf, system_identifier: u64, markers: &Markers) {
        let started = Instant::now();
        let pushed = async {
            let name = wal_file_name(&path)?;
            let WalFileName::Segment(segment) = &name else {
                return Err(Error::failed("not a segment".to_string()));
            };
            let (mut file, len, stamp) = open_wal_file(&path)?;
            let header = check_segment(&path, segment, &mut file, len)?;
            if header.system_identifier != system_identifier {
                return Err(Error::failed(format!(
                    "its system identifier {} is not this cluster's {system_identifier}",
                    header.system_identifier
                )));
            }
            self.push(&name, (Box::new(file), len), started, async { Ok(()) })
                .await?;
            Ok((name.file_name(), stamp))
        };
        match pushed.await {
            Ok((file_name, stamp)) => {
                if let Err(e) = markers.record(&file_name, stamp) {
                    tracing::warn!(
                        wal = %file_name,
                        "archived ahead, but cannot write its marker in {}: {e}; PostgreSQL's call will check the repository again",
                        markers.dir().display()
                    );
                }
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                "read-ahead did not archive it (PostgreSQL's own call will): {e}"
            ),
        }
    }
}

/// Read-ahead for one call: the spool's markers and what to push ahead.
struct ReadAhead {
    jobs: usize,
    markers: Markers,
    /// pg_wal/archive_status, where PostgreSQL marks segments `.ready`.
    status_dir: PathBuf,
}

/// How many segments one call pushes, per job: more spreads a process's
/// start-up over more segments, at the price of a longer first call.
const READ_AHEAD_PER_JOB: usize = 4;

impl ReadAhead {
    /// `None` unless `--jobs` is above 1 and `path` sits in a pg_wal
    /// directory with an archive_status beside it (PostgreSQL's layout).
    fn for_call(
        path: &Path,
        name: &WalFileName,
        settings: &Settings,
        cli: &WalPushSettingsArgs,
    ) -> Result<Option<ReadAhead>> {
        let options = settings.wal_push(cli);
        if options.jobs <= 1 || !name.is_segment() {
            return Ok(None);
        }
        let status_dir = path
            .parent()
            .unwrap_or(Path::new("."))
            .join("archive_status");
        let Some(pgdata) = spool::pgdata_of(path).filter(|_| status_dir.is_dir()) else {
            return Ok(None);
        };
        let spool = spool::spool_dir(options.spool_dir.as_deref(), &pgdata, settings.repo_url()?);
        Ok(Some(ReadAhead {
            jobs: usize::from(options.jobs),
            markers: Markers::new(&spool),
            status_dir,
        }))
    }

    /// The segments to push ahead of `current`, oldest first, and removes
    /// markers PostgreSQL no longer needs (their `.ready` is gone).
    fn candidates(&self, current: &str) -> Vec<PathBuf> {
        let ready = ready_segments(&self.status_dir);
        let marked = self.markers.names();
        for stale in marked.iter().filter(|m| !ready.contains(m)) {
            self.markers.remove(stale);
        }
        let limit = self.jobs * READ_AHEAD_PER_JOB - 1;
        let wal_dir = self.status_dir.parent().unwrap_or(Path::new("."));
        pick_ahead(ready, current, &marked, limit)
            .into_iter()
            .map(|name| wal_dir.join(name))
            .collect()
    }
}

/// Segment names PostgreSQL has marked `.ready` in `status_dir`, sorted.
fn ready_segments(status_dir: &Path) -> Vec<String> {
    let Ok(listing) = std::fs::read_dir(status_dir) else {
        return Vec::new();
    };
    let mut ready: Vec<String> = listing
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".ready")?;
            stem.parse::<SegmentName>().ok()?;
            Some(stem.to_string())
        })
        .collect();
    ready.sort();
    ready
}

/// Which ready segments to push ahead of `current`: the oldest `limit`
/// others without a marker (PostgreSQL archives oldest first).
fn pick_ahead(ready: Vec<String>, current: &str, marked: &[String], limit: usize) -> Vec<String> {
    ready
        .into_iter()
        .filter(|name| name != current && !marked.contains(name))
        .take(limit)
        .collect()
}

/// The WAL file name from the path PostgreSQL passes, refusing anything that
/// is not a segment, `.partial`, `.history` or `.backup` file.
fn wal_file_name(path: &Path) -> Result<WalFileName> {
    let file_name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::usage(format!(
            "refusing to archive {}: not a WAL file name",
            path.display()
        ))
    })?;
    file_name
        .parse()
        .map_err(|e| Error::usage(format!("refusing to archive {}: {e}", path.display())))
}

/// Opens the WAL file PostgreSQL named, with its size and the stamp a
/// read-ahead marker records (both from one fstat).
fn open_wal_file(path: &Path) -> Result<(BufReader<File>, u64, FileStamp)> {
    let fail = |e: std::io::Error| {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        Error::failed(format!(
            "cannot read WAL file {} (working directory {cwd}): {e}",
            path.display()
        ))
    };
    let file = File::open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    Ok((
        BufReader::with_capacity(1 << 16, file),
        meta.len(),
        FileStamp::of(&meta),
    ))
}

/// Checks a segment's long page header against its name and size, so a
/// renamed or truncated file is never archived as something it is not.
/// Leaves `file` at its start.
fn check_segment(
    path: &Path,
    segment: &SegmentName,
    file: &mut BufReader<File>,
    len: u64,
) -> Result<LongPageHeader> {
    let refuse =
        |why: String| Error::failed(format!("refusing to archive {}: {why}", path.display()));
    // fill_buf reads at least the header (64 KiB buffer); rewinding is free.
    let first = file
        .fill_buf()
        .map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let header = parse_long_page_header(first)
        .map_err(|e| refuse(format!("not a PostgreSQL WAL segment: {e}")))?;
    header
        .check_is_segment(segment)
        .map_err(|e| refuse(e.to_string()))?;
    if len != u64::from(header.segment_size) {
        return Err(refuse(format!(
            "it is {len} bytes but its header says segments are {} bytes (truncated or still being written?)",
            header.segment_size
        )));
    }
    Ok(header)
}

const MAX_SMALL_FILE: u64 = crate::pg::history::MAX_HISTORY_FILE_BYTES;

/// Reads a history or backup history file whole, refusing one over
/// `MAX_SMALL_FILE` by its size before reading and by what is read (it
/// could grow in between).
fn read_small_file(path: &Path, file: BufReader<File>, len: u64) -> Result<Vec<u8>> {
    let too_big = |len: u64| {
        Error::failed(format!(
            "refusing to archive {}: it is {len} bytes, and PostgreSQL's history files are a few hundred; anything over {MAX_SMALL_FILE} bytes is not one",
            path.display()
        ))
    };
    if len > MAX_SMALL_FILE {
        return Err(too_big(len));
    }
    let mut contents = Vec::with_capacity(len as usize);
    file.take(MAX_SMALL_FILE + 1)
        .read_to_end(&mut contents)
        .map_err(|e| Error::failed(format!("cannot read WAL file {}: {e}", path.display())))?;
    if contents.len() as u64 > MAX_SMALL_FILE {
        return Err(too_big(contents.len() as u64));
    }
    Ok(contents)
}

/// Refuses a `.history` or `.backup` file whose contents are not what its
/// name says: an archived history file steers `recovery_target_timeline =
/// latest`, restore and prune, so garbage must never get into the archive.
fn check_small_file(path: &Path, name: &WalFileName, contents: &[u8]) -> Result<()> {
    let refused = match name {
        WalFileName::History(timeline) => check_history_file(*timeline, contents)
            .map(drop)
            .map_err(|e| {
                format!(
                    "not a timeline history file for timeline {}: {e}",
                    timeline.0
                )
            }),
        WalFileName::Backup { segment, offset } => {
            check_backup_history(*segment, *offset, contents)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        WalFileName::Segment(_) | WalFileName::Partial(_) => Ok(()),
    };
    refused.map_err(|why| {
        Error::failed(format!(
            "refusing to archive {}: {why}; nothing was written to the repository",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn read_ahead_takes_the_oldest_unmarked_others() {
        let ready = names(&[
            "000000010000000000000001",
            "000000010000000000000002",
            "000000010000000000000003",
            "000000010000000000000004",
            "000000010000000000000005",
        ]);
        let marked = names(&["000000010000000000000003"]);
        assert_eq!(
            pick_ahead(ready.clone(), "000000010000000000000001", &marked, 2),
            names(&["000000010000000000000002", "000000010000000000000004"])
        );
        assert!(pick_ahead(ready, "000000010000000000000001", &[], 0).is_empty());
    }

    #[test]
    fn only_ready_segments_are_candidates() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "000000010000000000000002.ready",
            "000000010000000000000001.done",
            "00000002.history.ready",
            "000000010000000000000003.partial.ready",
            "000000010000000000000004.ready",
            "junk.ready",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(
            ready_segments(dir.path()),
            names(&["000000010000000000000002", "000000010000000000000004"])
        );
    }
}
