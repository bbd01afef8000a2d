//! `wal-fetch`: restore one WAL file as PostgreSQL's restore_command, with
//! optional prefetch of the following segments into the spool.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::cli::WalFetchArgs;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg::{parse_long_page_header, SegmentName, WalFileName, WalSegmentSize};
use crate::pipeline::{Identities, Stages};
use crate::repo::wal::{self, WalFile};
use crate::spool;
use crate::spool::prefetched::{Prefetched, Replacing, Verified};
use crate::storage::ObjectStore;

pub async fn run(args: &WalFetchArgs, settings: &Settings) -> Result<()> {
    let started = Instant::now();
    let name: WalFileName = args
        .name
        .parse()
        .map_err(|e| Error::usage(format!("cannot fetch {:?}: {e}", args.name)))?;
    let prefetch = Prefetch::for_call(args, &name, settings)?;
    if let Some(segment_bytes) = args.prefetch_worker {
        return match (&prefetch, name.segment()) {
            (Some(prefetch), Some(after)) => prefetch.work(after, segment_bytes, settings).await,
            _ => Err(Error::usage(
                "--prefetch-worker needs --prefetch and a segment name",
            )),
        };
    }
    // A hidden trigger for the test that a panic stops recovery (debug builds only).
    #[cfg(debug_assertions)]
    if std::env::var_os("WALDEN_TEST_PANIC").is_some() {
        panic!("WALDEN_TEST_PANIC is set: panicking on purpose");
    }
    let file_name = name.file_name();
    let segment = name.segment().filter(|_| name.is_segment());

    if let (Some(prefetch), Some(segment)) = (&prefetch, &segment) {
        if let Some(segment_bytes) = prefetch.serve(segment, &args.dest)? {
            tracing::info!(
                wal = %file_name,
                ms = started.elapsed().as_millis() as u64,
                "restored from the prefetch spool"
            );
            prefetch.keep_ahead(segment, segment_bytes);
            return Ok(());
        }
    }

    let store = settings.store()?;
    let identities = settings.identities()?;
    let write_failed = |e: std::io::Error| {
        Error::failed(format!(
            "cannot write {} to {}: {e}",
            file_name,
            args.dest.display()
        ))
    };
    // Decoded straight into a file beside the destination, renamed into
    // place once verified: memory stays bounded, and a failed or
    // interrupted fetch leaves no half file where PostgreSQL looks.
    spool::prefetched::remove_stale_temps_beside(&args.dest);
    let mut out = Replacing::beside(&args.dest).map_err(write_failed)?;
    let fetched = fetch_verified(
        store.as_ref(),
        &name,
        settings.preferred_stages(),
        &identities,
        &mut out,
    )
    .await?;
    let Some(fetched) = fetched else {
        drop(out);
        let target = WalFile {
            timeline: name.timeline().0,
            file_name: &file_name,
        };
        wal::confirm_absent(
            store.as_ref(),
            target,
            cluster_system_identifier(&args.dest),
        )
        .await?;
        return Err(Error::not_found(format!(
            "{file_name} is not in the archive {}",
            store.url()
        )));
    };
    out.commit(&args.dest).map_err(write_failed)?;
    tracing::info!(
        wal = %file_name,
        key = %fetched.key,
        bytes_in = fetched.stored_bytes,
        bytes_out = fetched.plain_bytes,
        ms = started.elapsed().as_millis() as u64,
        "restored"
    );
    if let (Some(prefetch), Some(segment)) = (&prefetch, &segment) {
        prefetch.keep_ahead(segment, fetched.segment_bytes);
    }
    Ok(())
}

/// The system identifier in the control file of the data directory that
/// `dest` (`pg_wal/RECOVERYXLOG`) belongs to, when it can be read.
fn cluster_system_identifier(dest: &Path) -> Option<u64> {
    let pgdata = spool::pgdata_of(dest)?;
    let control = std::fs::read(pgdata.join(crate::pg::datadir::CONTROL_FILE)).ok()?;
    crate::pg::datadir::control_file_system_identifier(&control)
}

/// A WAL file read back from the repository and checked: its archived
/// checksum, and for a segment its header against its name.
struct FetchedWal {
    key: String,
    stored_bytes: u64,
    plain_bytes: u64,
    /// The segment size its header states (0 for other files).
    segment_bytes: u32,
}

/// Fetches `name` into `out` and checks it; `out` holds what was written
/// only when this returns `Ok(Some(_))`.
async fn fetch_verified(
    store: &dyn ObjectStore,
    name: &WalFileName,
    preferred: Stages,
    identities: &Identities,
    out: &mut dyn std::io::Write,
) -> Result<Option<FetchedWal>> {
    let file_name = name.file_name();
    let target = WalFile {
        timeline: name.timeline().0,
        file_name: &file_name,
    };
    let Some(fetched) = wal::fetch_into(store, target, preferred, identities, out).await? else {
        return Ok(None);
    };
    let mut segment_bytes = 0;
    if let Some(segment) = name.segment() {
        // The checksum proves the bytes are what was pushed; the header proves
        // they are the segment PostgreSQL asked for.
        segment_bytes = check_segment(&fetched.first_page, &segment)
            .map_err(|e| Error::failed(format!("{}: {e}", fetched.key)))?;
    }
    Ok(Some(FetchedWal {
        key: fetched.key,
        stored_bytes: fetched.stored_bytes,
        plain_bytes: fetched.plain_bytes,
        segment_bytes,
    }))
}

/// Checks that `plain` is `segment` by its long page header and size;
/// returns the segment size.
fn check_segment(plain: &[u8], segment: &SegmentName) -> std::result::Result<u32, String> {
    let header =
        parse_long_page_header(plain).map_err(|e| format!("not a valid WAL segment: {e}"))?;
    header
        .check_is_segment(segment)
        .map_err(|e| e.to_string())?;
    Ok(header.segment_size)
}

/// Prefetch for one call: the spool's `fetch/` directory and how far ahead.
struct Prefetch {
    count: u16,
    spool: Prefetched,
}

/// Segments one prefetch worker fetches at a time.
const WORKER_JOBS: usize = 4;

/// How long a call waits for a running worker to deliver its segment
/// before fetching it itself (a worker stuck on a slow store).
const WORKER_WAIT: Duration = Duration::from_secs(30);

impl Prefetch {
    /// `None` unless `--prefetch` is above 0.
    fn for_call(
        args: &WalFetchArgs,
        name: &WalFileName,
        settings: &Settings,
    ) -> Result<Option<Prefetch>> {
        let options = settings.wal_fetch(&args.settings);
        if options.prefetch == 0 || name.segment().is_none() {
            return Ok(None);
        }
        let Some(pgdata) = spool::pgdata_of(&args.dest) else {
            return Ok(None);
        };
        let dir = spool::spool_dir(options.spool_dir.as_deref(), &pgdata, settings.repo_url()?);
        Ok(Some(Prefetch {
            count: options.prefetch,
            spool: Prefetched::new(&dir),
        }))
    }

    /// Moves `segment` from the spool to `dest` when a verified entry is
    /// there; returns its segment size. Entries behind `segment` or of
    /// other timelines are removed.
    fn serve(&self, segment: &SegmentName, dest: &Path) -> Result<Option<u32>> {
        self.spool
            .clean(|s| s.timeline == segment.timeline && s >= segment);
        let Some(entry) = self.wait_for(segment) else {
            return Ok(None);
        };
        let segment_bytes = match check_segment(&entry.first_page, segment) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(wal = %segment, "ignoring a prefetched copy: {e}");
                let _ = std::fs::remove_file(&entry.path);
                return Ok(None);
            }
        };
        entry.move_to(dest).map_err(|e| {
            Error::failed(format!("cannot move {segment} to {}: {e}", dest.display()))
        })?;
        Ok(Some(segment_bytes))
    }

    /// `segment`'s verified entry: at once, or once the running worker
    /// fetching it has (fetching it here too would only race the worker).
    fn wait_for(&self, segment: &SegmentName) -> Option<Verified> {
        let deadline = Instant::now() + WORKER_WAIT;
        loop {
            if let Some(entry) = self.spool.verified(segment) {
                return Some(entry);
            }
            let fetching = self
                .spool
                .worker_window()
                .is_some_and(|(first, last)| (first..=last).contains(segment));
            if !fetching || Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts a background worker when less than half of the next `count`
    /// segments are in the spool and no worker is running. Failing to start
    /// one is only a warning: the next calls fetch directly.
    fn keep_ahead(&self, after: &SegmentName, segment_bytes: u32) {
        let Ok(size) = WalSegmentSize::new(segment_bytes) else {
            return;
        };
        let window = window_after(after, size, self.count);
        let present = self.spool.entries();
        let missing = window
            .iter()
            .filter(|s| !present.iter().any(|e| &e.segment == *s))
            .count();
        if missing * 2 < usize::from(self.count).max(1) {
            return;
        }
        match self.spool.lock_worker() {
            Ok(Some(lock)) => drop(lock),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(
                    "cannot use the prefetch spool {}: {e}",
                    self.spool.dir().display()
                );
                return;
            }
        }
        if let Err(e) = self.spawn_worker(segment_bytes) {
            tracing::warn!("cannot start the prefetch worker: {e}");
        }
    }

    /// Runs this same command line again, detached, as the worker: in its
    /// own process group (PostgreSQL's signals to the recovery do not reach
    /// it), with its log in the spool.
    fn spawn_worker(&self, segment_bytes: u32) -> std::io::Result<()> {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.spool.dir().join("prefetch.log"))?;
        Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .arg(format!("--prefetch-worker={segment_bytes}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map(drop)
    }

    /// The worker: fetches the segments after `after` that the spool lacks,
    /// verified, a few at a time, stopping at the first one the archive
    /// does not have yet. Exits at once if another worker runs.
    async fn work(
        &self,
        after: SegmentName,
        segment_bytes: u32,
        settings: &Settings,
    ) -> Result<()> {
        let spool_error = |e: std::io::Error| {
            Error::failed(format!(
                "cannot use the spool {}: {e}",
                self.spool.dir().display()
            ))
        };
        let Some(mut lock) = self.spool.lock_worker().map_err(spool_error)? else {
            return Ok(());
        };
        let size = WalSegmentSize::new(segment_bytes)
            .map_err(|e| Error::usage(format!("--prefetch-worker: {e}")))?;
        let window = window_after(&after, size, self.count);
        if let (Some(first), Some(last)) = (window.first(), window.last()) {
            Prefetched::announce(&mut lock, first, last).map_err(spool_error)?;
        }
        let store = settings.store()?;
        let identities = settings.identities()?;
        let preferred = settings.preferred_stages();
        let wanted: Vec<SegmentName> = window.into_iter().filter(|s| !self.spool.has(s)).collect();
        let mut fetches = futures::stream::iter(wanted)
            .map(|segment| {
                let (store, identities) = (store.as_ref(), &identities);
                async move {
                    let name = WalFileName::Segment(segment);
                    let mut entry = match self.spool.begin(&segment) {
                        Ok(entry) => entry,
                        Err(e) => return (segment, Err(spool_error(e)), None),
                    };
                    let fetched =
                        fetch_verified(store, &name, preferred, identities, &mut entry).await;
                    (segment, fetched, Some(entry))
                }
            })
            .buffered(WORKER_JOBS);
        while let Some((segment, fetched, entry)) = fetches.next().await {
            match (fetched, entry) {
                (Ok(Some(_)), Some(entry)) => {
                    if let Err(e) = self.spool.commit(&segment, entry) {
                        tracing::warn!(wal = %segment, "cannot write to the spool: {e}");
                        break;
                    }
                    tracing::debug!(wal = %segment, "prefetched");
                }
                // Not archived yet: the recovery is at the archive's end.
                (Ok(_), _) => break,
                (Err(e), _) => {
                    tracing::warn!(wal = %segment, "prefetch failed: {e}");
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The `count` segments after `after` on its timeline.
fn window_after(after: &SegmentName, size: WalSegmentSize, count: u16) -> Vec<SegmentName> {
    std::iter::successors(Some(after.next(size)), |s| Some(s.next(size)))
        .take(usize::from(count))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_crosses_log_boundaries() {
        let after: SegmentName = "0000000200000003000000FE".parse().unwrap();
        let window = window_after(&after, WalSegmentSize::DEFAULT, 3);
        let names: Vec<String> = window.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "0000000200000003000000FF",
                "000000020000000400000000",
                "000000020000000400000001"
            ]
        );
    }
}
