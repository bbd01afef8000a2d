//! Which backup an incremental one builds on: the checks `backup-push --incremental` makes before it asks the server for the changed blocks, and the server manifest it sends.
//!
//! An incremental backup is refused, with the reason, when it cannot be
//! restored or taken: a server older than 17, `summarize_wal` off, no
//! complete backup on the server's timeline, a base taken from the data
//! directory (which keeps no server manifest) or whose own chain is broken.
//! `--incremental-or-full` turns each refusal into a full backup and a
//! warning. A chain as long as `--max-chain` allows is not a refusal: the
//! next backup is a full one, as asked.

use std::sync::Arc;

use crate::cli::IncrementalArgs;
use crate::error::{Error, Result};
use crate::pipeline::Identities;
use crate::repo::manifest::Manifest;
use crate::repo::{catalog, chain_restore, part_restore};
use crate::storage::ObjectStore;

/// The first major with incremental backups.
pub const FIRST_MAJOR: u32 = 17;

/// The backup an incremental one builds on.
pub(super) struct Base {
    pub name: String,
    /// PostgreSQL's own `backup_manifest` of that backup, for UPLOAD_MANIFEST.
    pub server_manifest: Vec<u8>,
    /// Backups in the new backup's chain, itself and its full one included.
    pub chain_length: usize,
}

/// What the server said that matters here.
pub(super) struct ServerState {
    pub major: u32,
    pub system_identifier: u64,
    pub timeline: u32,
    /// `SHOW summarize_wal`, or why it could not be read.
    pub summarize_wal: std::result::Result<String, String>,
}

/// The base of the incremental backup asked for, or `None` for a full
/// backup: none asked for, the chain is long enough, or (with
/// `--incremental-or-full`) an incremental cannot be taken.
pub(super) async fn choose_base(
    args: &IncrementalArgs,
    store: &Arc<dyn ObjectStore>,
    identities: &Identities,
    server: &ServerState,
) -> Result<Option<Base>> {
    if !args.wanted() {
        return Ok(None);
    }
    match find_base(args, store, identities, server).await {
        Ok(Choice::Base(base)) => Ok(Some(base)),
        Ok(Choice::ChainFull { base, length }) => {
            tracing::info!(base = %base, chain = length, max_chain = args.max_chain, "the chain is as long as --max-chain allows: taking a full backup");
            eprintln!(
                "note: backup {base} is the last of a chain of {length} (--max-chain {}): this backup is a full one",
                args.max_chain
            );
            Ok(None)
        }
        Err(Refusal(reason)) if args.incremental_or_full => {
            tracing::warn!(reason = %reason, "an incremental backup cannot be taken: taking a full one (--incremental-or-full)");
            eprintln!("warning: an incremental backup cannot be taken: {reason}; taking a full backup (--incremental-or-full)");
            Ok(None)
        }
        Err(Refusal(reason)) => Err(Error::failed(format!(
            "an incremental backup cannot be taken: {reason}"
        ))),
    }
}

enum Choice {
    Base(Base),
    /// The base's chain is already `length` backups long.
    ChainFull {
        base: String,
        length: usize,
    },
}

/// Why no incremental backup can be taken, for the operator.
struct Refusal(String);

async fn find_base(
    args: &IncrementalArgs,
    store: &Arc<dyn ObjectStore>,
    identities: &Identities,
    server: &ServerState,
) -> std::result::Result<Choice, Refusal> {
    if server.major < FIRST_MAJOR {
        return Err(Refusal(format!(
            "the server runs PostgreSQL {}, and incremental backups need {FIRST_MAJOR} or later",
            server.major
        )));
    }
    match server.summarize_wal.as_deref().map(str::trim) {
        Ok("on") => {}
        Ok(other) => {
            return Err(Refusal(format!(
                "summarize_wal is {other} on the server, and the server can only send changed blocks from its WAL summaries: ALTER SYSTEM SET summarize_wal = on; SELECT pg_reload_conf(); then take a full backup for incrementals to build on"
            )))
        }
        Err(e) => {
            return Err(Refusal(format!(
                "reading summarize_wal from the server failed: {e}"
            )))
        }
    }
    let base = match &args.incremental_from {
        Some(name) => catalog::load_manifest(store.as_ref(), name)
            .await
            .map_err(|e| Refusal(format!("--incremental-from {name}: {e}")))?,
        None => newest_on_timeline(store.as_ref(), server).await?,
    };
    if base.timeline != server.timeline {
        return Err(Refusal(format!(
            "backup {} is on timeline {}, and the server is on timeline {}: an incremental backup builds on a backup of the server's timeline; take a full backup",
            base.name, base.timeline, server.timeline
        )));
    }
    if base.system_identifier != server.system_identifier.to_string() {
        return Err(Refusal(format!(
            "backup {} is of another cluster (system identifier {}, the server's is {})",
            base.name, base.system_identifier, server.system_identifier
        )));
    }
    let name = base.name.clone();
    let chain = chain_restore::load_chain(store.as_ref(), base)
        .await
        .map_err(|e| Refusal(e.to_string()))?;
    if chain.len() >= args.max_chain as usize {
        return Ok(Choice::ChainFull {
            base: name,
            length: chain.len(),
        });
    }
    let base: Arc<Manifest> = chain[0].clone();
    if base.encrypted && identities.is_empty() {
        return Err(Refusal(format!(
            "backup {name} is encrypted, and its server manifest must be read to build on it: pass --decrypt-identity FILE"
        )));
    }
    let server_manifest =
        part_restore::read_server_manifest(store.clone(), base, identities.clone())
            .await
            .map_err(|e| Refusal(e.to_string()))?;
    Ok(Choice::Base(Base {
        name,
        server_manifest,
        chain_length: chain.len() + 1,
    }))
}

/// The newest complete backup of the server's timeline.
async fn newest_on_timeline(
    store: &dyn ObjectStore,
    server: &ServerState,
) -> std::result::Result<Manifest, Refusal> {
    let entries = catalog::list(store)
        .await
        .map_err(|e| Refusal(format!("listing the backups to build on: {e}")))?;
    let on_timeline = entries
        .iter()
        .filter_map(|e| e.manifest.as_ref())
        .filter(|m| m.timeline == server.timeline);
    catalog::newest(on_timeline).cloned().ok_or_else(|| {
        Refusal(format!(
            "the repository has no complete backup on timeline {} to build on: take a full backup first",
            server.timeline
        ))
    })
}
