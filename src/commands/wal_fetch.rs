//! `wal-fetch`: restore one WAL file as PostgreSQL's restore_command.

use std::time::Instant;

use crate::cli::WalFetchArgs;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg::{parse_long_page_header, WalFileName};
use crate::repo::wal::{self, WalFile};
use crate::storage::local::write_file_atomically;

pub async fn run(args: &WalFetchArgs, settings: &Settings) -> Result<()> {
    let started = Instant::now();
    let name: WalFileName = args
        .name
        .parse()
        .map_err(|e| Error::usage(format!("cannot fetch {:?}: {e}", args.name)))?;
    let store = settings.store()?;
    let identities = settings.identities()?;
    let file_name = name.file_name();
    let target = WalFile {
        timeline: name.timeline().0,
        file_name: &file_name,
    };

    let fetched = wal::fetch(
        store.as_ref(),
        target,
        settings.preferred_stages(),
        &identities,
    )
    .await?
    .ok_or_else(|| {
        Error::not_found(format!("{file_name} is not in the archive {}", store.url()))
    })?;

    if let WalFileName::Segment(segment) | WalFileName::Partial(segment) = &name {
        // The checksum proves the bytes are what was pushed; the header proves
        // they are the segment PostgreSQL asked for.
        let header = parse_long_page_header(&fetched.plain).map_err(|e| {
            Error::failed(format!("{} is not a valid WAL segment: {e}", fetched.key))
        })?;
        header
            .check_is_segment(segment)
            .map_err(|e| Error::failed(format!("{}: {e}", fetched.key)))?;
    }

    write_file_atomically(&args.dest, &fetched.plain).map_err(|e| {
        Error::failed(format!(
            "cannot write {} to {}: {e}",
            file_name,
            args.dest.display()
        ))
    })?;
    tracing::info!(
        wal = %file_name,
        key = %fetched.key,
        bytes_in = fetched.stored_bytes,
        bytes_out = fetched.plain.len(),
        ms = started.elapsed().as_millis() as u64,
        "restored"
    );
    Ok(())
}
