//! `wal-push`: archive one WAL file as PostgreSQL's archive_command.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

use crate::cli::WalPushArgs;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg::{parse_long_page_header, LongPageHeader, SegmentName, WalFileName};
use crate::repo::identity::{self, RepoIdentity};
use crate::repo::wal::{self, ArchiveOutcome, Plaintext, WalFile};

pub async fn run(args: &WalPushArgs, settings: &Settings) -> Result<()> {
    let started = Instant::now();
    let name = wal_file_name(&args.path)?;
    // Settings before reading the file: a broken configuration is reported
    // as such, not as whatever the file read runs into.
    let store = settings.store()?;
    let encode = settings.encode_options()?;
    let identities = settings.identities()?;
    let (mut file, len) = open_wal_file(&args.path)?;

    if let WalFileName::Segment(segment) | WalFileName::Partial(segment) = &name {
        let header = check_segment(&args.path, segment, &mut file, len)?;
        let candidate = RepoIdentity::new(
            header.system_identifier,
            header.pg_major().unwrap_or(0),
            header.segment_size,
        );
        identity::ensure(store.as_ref(), candidate).await?;
    }

    let file_name = name.file_name();
    let target = WalFile {
        timeline: name.timeline().0,
        file_name: &file_name,
    };
    let plain = Plaintext {
        reader: &mut file,
        len: Some(len),
    };
    let outcome = wal::archive(store.as_ref(), target, plain, &encode, &identities).await?;
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

/// Opens the WAL file PostgreSQL named, with its size.
fn open_wal_file(path: &Path) -> Result<(BufReader<File>, u64)> {
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
    let len = file.metadata().map_err(fail)?.len();
    Ok((BufReader::with_capacity(1 << 16, file), len))
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
