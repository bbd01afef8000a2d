//! The repository identity record (`walden.json`): which cluster this repository belongs to.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};
use crate::repo::layout::{BACKUPS_PREFIX, IDENTITY_KEY, WAL_PREFIX};
use crate::storage::{Metadata, ObjectStore, PutMode, StorageError};

/// The on-store format version this walden writes and understands.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoIdentity {
    pub format: u32,
    /// PostgreSQL's database system identifier, as a decimal string (it does
    /// not fit a JSON number exactly in every reader).
    pub system_identifier: String,
    /// Major version of the PostgreSQL that wrote the first segment.
    pub pg_version: u32,
    pub wal_segment_size: u32,
    pub created: DateTime<Utc>,
}

impl RepoIdentity {
    pub fn new(system_identifier: u64, pg_version: u32, wal_segment_size: u32) -> Self {
        RepoIdentity {
            format: FORMAT_VERSION,
            system_identifier: system_identifier.to_string(),
            pg_version,
            wal_segment_size,
            created: Utc::now(),
        }
    }
}

/// Reads the identity record; `None` for a repository nothing was pushed to yet.
pub async fn load(store: &dyn ObjectStore) -> Result<Option<RepoIdentity>> {
    let bytes = match store.get(IDENTITY_KEY, None).await {
        Ok(object) => object.bytes().await?,
        Err(StorageError::NotFound { .. }) => return Ok(None),
        Err(e) => {
            return Err(Error::from(e).context(format!("reading {IDENTITY_KEY} in {}", store.url())))
        }
    };
    let identity: RepoIdentity = serde_json::from_slice(&bytes).map_err(|e| {
        Error::failed(format!(
            "{IDENTITY_KEY} in {} is not a walden identity record ({e}); refusing to use this repository",
            store.url()
        ))
    })?;
    if identity.format > FORMAT_VERSION {
        return Err(Error::new(
            Kind::Usage,
            anyhow::anyhow!(
                "repository {} has format {} but this walden understands only up to {FORMAT_VERSION}: upgrade walden",
                store.url(),
                identity.format
            ),
        ));
    }
    Ok(Some(identity))
}

/// How every command that reads a repository recognises one: by its
/// identity record, which the first wal-push writes. Without the record but
/// with backups or WAL the repository is damaged, not absent: it is read
/// (with a warning) so that what it holds can still be listed and restored.
/// With neither, it is a configuration error naming the URL, never "no
/// backups": a mistyped --repo, a missing bucket or prefix and an unmounted
/// directory all look like that.
pub async fn require(store: &dyn ObjectStore) -> Result<Option<RepoIdentity>> {
    if let Some(identity) = load(store).await? {
        return Ok(Some(identity));
    }
    for prefix in [BACKUPS_PREFIX, WAL_PREFIX] {
        match futures::StreamExt::next(&mut store.list(prefix)).await {
            None | Some(Err(StorageError::NotFound { .. })) => {}
            Some(Ok(_)) => {
                tracing::warn!(
                    "repository {} has backups or WAL but no {IDENTITY_KEY} (the record the first wal-push writes): it is damaged; reading it anyway",
                    store.url()
                );
                return Ok(None);
            }
            Some(Err(e)) => {
                return Err(Error::from(e).context(format!("listing {prefix} in {}", store.url())))
            }
        }
    }
    Err(Error::usage(format!(
        "no walden repository at {}: there is no {IDENTITY_KEY} (the record the first wal-push writes), no backup and no WAL. \
         Check --repo (a mistyped path, bucket or prefix? an unmounted directory?); a new repository is created by archiving into it \
         (archive_command = 'walden wal-push --repo URL %p')",
        store.url()
    )))
}

/// Returns the repository's identity, recording `candidate` if the repository
/// has none yet, and refuses a cluster with another system identifier.
pub async fn ensure(store: &dyn ObjectStore, candidate: RepoIdentity) -> Result<RepoIdentity> {
    let existing = match load(store).await? {
        Some(existing) => existing,
        None => {
            let body = serde_json::to_vec_pretty(&candidate).expect("identity serializes");
            match store
                .put(
                    IDENTITY_KEY,
                    Bytes::from(body),
                    PutMode::CreateOnly,
                    &Metadata::new(),
                )
                .await
            {
                Ok(()) => {
                    tracing::info!(
                        system_identifier = %candidate.system_identifier,
                        pg_version = candidate.pg_version,
                        repo = %store.url(),
                        "recorded the cluster's identity in a new repository"
                    );
                    return Ok(candidate);
                }
                // Another wal-push won the race: check against what it wrote.
                Err(StorageError::AlreadyExists { .. }) => load(store).await?.ok_or_else(|| {
                    Error::failed(format!(
                        "{IDENTITY_KEY} in {} vanished while being created",
                        store.url()
                    ))
                })?,
                Err(e) => {
                    return Err(Error::from(e)
                        .context(format!("writing {IDENTITY_KEY} in {}", store.url())))
                }
            }
        }
    };
    if existing.system_identifier != candidate.system_identifier {
        return Err(Error::failed(format!(
            "this cluster's system identifier is {} but repository {} belongs to the cluster with system identifier {}: \
             refusing to mix clusters in one repository (use a separate repository for each cluster)",
            candidate.system_identifier,
            store.url(),
            existing.system_identifier
        )));
    }
    Ok(existing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    #[tokio::test]
    async fn first_push_records_and_others_are_checked() {
        let store = MemoryStore::new();
        assert_eq!(load(&store).await.unwrap(), None);
        let first = ensure(&store, RepoIdentity::new(42, 15, 16 << 20))
            .await
            .unwrap();
        assert_eq!(first.system_identifier, "42");
        let again = ensure(&store, RepoIdentity::new(42, 15, 16 << 20))
            .await
            .unwrap();
        assert_eq!(again, first);
        let err = ensure(&store, RepoIdentity::new(7, 15, 16 << 20))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("42") && msg.contains('7'), "{msg}");
    }

    #[tokio::test]
    async fn a_repository_is_recognised_by_its_identity_or_what_it_holds() {
        let store = MemoryStore::new();
        let err = require(&store).await.unwrap_err();
        assert_eq!(err.kind, Kind::Usage);
        let msg = err.to_string();
        assert!(
            msg.contains(&store.url()) && msg.contains(IDENTITY_KEY),
            "{msg}"
        );

        // Damaged (identity lost) but holding backups: still readable.
        let none = Metadata::new();
        let backup = "backups/base_000000010000000002000028/manifest.json";
        store
            .put(
                backup,
                Bytes::from_static(b"{}"),
                PutMode::CreateOnly,
                &none,
            )
            .await
            .unwrap();
        assert_eq!(require(&store).await.unwrap(), None);

        let store = MemoryStore::new();
        ensure(&store, RepoIdentity::new(42, 15, 16 << 20))
            .await
            .unwrap();
        assert!(require(&store).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn garbage_and_future_formats_are_refused() {
        let store = MemoryStore::new();
        let none = Metadata::new();
        let put = |body: &'static [u8]| {
            store.put(
                IDENTITY_KEY,
                Bytes::from_static(body),
                PutMode::Overwrite,
                &none,
            )
        };
        put(b"not json").await.unwrap();
        assert!(load(&store).await.is_err());
        put(br#"{"format":99,"system_identifier":"1","pg_version":15,"wal_segment_size":16777216,"created":"2026-01-01T00:00:00Z"}"#)
            .await
            .unwrap();
        assert_eq!(load(&store).await.unwrap_err().kind, Kind::Usage);
    }
}
