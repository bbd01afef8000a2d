//! Archiving and fetching WAL objects: the duplicate rule and checksum verification.

use std::io::Read;

use bytes::Bytes;
use futures::future::join_all;

use crate::error::{Error, Result};
use crate::pipeline::{self, Digest, EncodeOptions, Identities, Stages};
use crate::repo::layout::{self, META_PLAIN_SIZE, META_SHA256};
use crate::storage::{Metadata, ObjectMeta, ObjectStore, PutMode, StorageError};

/// One WAL file as the repository knows it: its timeline directory and name.
#[derive(Debug, Clone, Copy)]
pub struct WalFile<'a> {
    pub timeline: u32,
    pub file_name: &'a str,
}

/// A stored object found for a WAL file.
#[derive(Debug, Clone)]
pub struct Found {
    pub key: String,
    pub stages: Stages,
    pub meta: ObjectMeta,
}

/// What `archive` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveOutcome {
    /// A new object was written and is durable.
    Stored { key: String, stored_bytes: u64 },
    /// The same content was already archived under `key`; nothing was written.
    AlreadyArchived { key: String },
}

/// Looks for `wal` under every stage suffix (concurrently), `preferred` first.
pub async fn find(
    store: &dyn ObjectStore,
    wal: WalFile<'_>,
    preferred: Stages,
) -> Result<Option<Found>> {
    let candidates = layout::wal_candidate_keys(wal.timeline, wal.file_name, preferred);
    let heads = join_all(candidates.iter().map(|(key, _)| store.head(key))).await;
    for ((key, stages), head) in candidates.into_iter().zip(heads) {
        match head {
            Ok(meta) => return Ok(Some(Found { key, stages, meta })),
            Err(StorageError::NotFound { .. }) => continue,
            Err(e) => {
                return Err(Error::from(e).context(format!(
                    "looking up {} in {}",
                    wal.file_name,
                    store.url()
                )))
            }
        }
    }
    Ok(None)
}

/// The plaintext of a WAL file being archived: read once, streamed, on a
/// worker thread (so that several archives in flight use every core).
pub struct Plaintext {
    pub reader: Box<dyn Read + Send>,
    /// Exact size when known (lets zstd record it in the frame).
    pub len: Option<u64>,
}

/// Archives `plain` as `wal`, create-only. An object already archived with the
/// same plaintext is success; with different plaintext it is an error and
/// nothing is overwritten.
pub async fn archive(
    store: &dyn ObjectStore,
    wal: WalFile<'_>,
    plain: Plaintext,
    encode: &EncodeOptions,
    identities: &Identities,
) -> Result<ArchiveOutcome> {
    let Plaintext { mut reader, len } = plain;
    if let Some(existing) = find(store, wal, encode.stages()).await? {
        let ours = on_worker_thread(move || Digest::of_reader(&mut reader))
            .await?
            .map_err(|e| Error::failed(format!("reading {}: {e}", wal.file_name)))?;
        return check_duplicate(store, wal, ours, existing, identities).await;
    }
    let options = encode.clone();
    let (stored, digest) =
        on_worker_thread(move || pipeline::encode_reader(&mut reader, len, &options))
            .await?
            .map_err(|e| {
                Error::from(e).context(format!("reading and encoding {}", wal.file_name))
            })?;
    let key = layout::wal_key(wal.timeline, wal.file_name, encode.stages());
    let metadata = Metadata::from([
        (META_SHA256.to_string(), digest.sha256_hex()),
        (META_PLAIN_SIZE.to_string(), digest.bytes.to_string()),
    ]);
    let stored_bytes = stored.len() as u64;
    match store
        .put(&key, Bytes::from(stored), PutMode::CreateOnly, &metadata)
        .await
    {
        Ok(()) => Ok(ArchiveOutcome::Stored { key, stored_bytes }),
        // A concurrent push of the same file won the race.
        Err(StorageError::AlreadyExists { .. }) => {
            let meta = store.head(&key).await?;
            let existing = Found {
                key,
                stages: encode.stages(),
                meta,
            };
            check_duplicate(store, wal, digest, existing, identities).await
        }
        Err(e) => {
            Err(Error::from(e).context(format!("archiving {} to {}", wal.file_name, store.url())))
        }
    }
}

/// Runs CPU-bound `work` (hashing, compression) off the async thread.
async fn on_worker_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::failed(format!("a worker thread failed: {e}")))
}

async fn check_duplicate(
    store: &dyn ObjectStore,
    wal: WalFile<'_>,
    ours: Digest,
    existing: Found,
    identities: &Identities,
) -> Result<ArchiveOutcome> {
    let ours = ours.sha256_hex();
    let theirs = match existing.meta.metadata.get(META_SHA256) {
        Some(sha) => sha.clone(),
        // Stores without metadata support: decode the object to compare.
        None => {
            let (_, digest) = read_and_decode(store, &existing, identities)
                .await
                .map_err(|e| {
                    e.context(format!(
                    "{} is already archived as {} and its checksum could not be read to compare",
                    wal.file_name, existing.key
                ))
                })?;
            digest.sha256_hex()
        }
    };
    if theirs == ours {
        Ok(ArchiveOutcome::AlreadyArchived { key: existing.key })
    } else {
        Err(Error::failed(format!(
            "{} is already archived in {} as {} with a different checksum (stored sha256 {theirs}, this file {ours}): \
             another cluster or a split brain is writing to this repository; nothing was overwritten",
            wal.file_name,
            store.url(),
            existing.key
        )))
    }
}

/// A WAL file read back from the repository, verified.
#[derive(Debug)]
pub struct Fetched {
    pub key: String,
    pub plain: Vec<u8>,
    pub stored_bytes: u64,
}

/// Reads and decodes `wal`, verifying the plaintext checksum and size
/// recorded at archive time. `None` when the file is not in the archive.
pub async fn fetch(
    store: &dyn ObjectStore,
    wal: WalFile<'_>,
    preferred: Stages,
    identities: &Identities,
) -> Result<Option<Fetched>> {
    let Some(found) = find(store, wal, preferred).await? else {
        return Ok(None);
    };
    read_verified(store, &found.key, found.stages, identities)
        .await
        .map(Some)
}

async fn read_and_decode(
    store: &dyn ObjectStore,
    found: &Found,
    identities: &Identities,
) -> Result<(Vec<u8>, pipeline::Digest)> {
    let (_, stored) = store.get_bytes(&found.key).await.map_err(|e| {
        Error::from(e).context(format!("reading {} from {}", found.key, store.url()))
    })?;
    pipeline::decode_bytes(&stored, found.stages, identities)
        .map_err(|e| Error::from(e).context(format!("decoding {} from {}", found.key, store.url())))
}

/// Reads the WAL object at `key` (written with `stages`) and checks it
/// against the checksum and size recorded when it was archived.
pub async fn read_verified(
    store: &dyn ObjectStore,
    key: &str,
    stages: Stages,
    identities: &Identities,
) -> Result<Fetched> {
    let (meta, stored) = store
        .get_bytes(key)
        .await
        .map_err(|e| Error::from(e).context(format!("reading {key} from {}", store.url())))?;
    let (plain, digest) = pipeline::decode_bytes(&stored, stages, identities)
        .map_err(|e| Error::from(e).context(format!("decoding {key} from {}", store.url())))?;
    if let Some(expected) = meta.metadata.get(META_SHA256) {
        digest
            .verify(expected)
            .map_err(|e| Error::from(e).context(format!("{key} in {}", store.url())))?;
    }
    if let Some(expected) = meta.metadata.get(META_PLAIN_SIZE) {
        if expected != &digest.bytes.to_string() {
            return Err(Error::failed(format!(
                "{key} in {} decodes to {} bytes but {expected} were archived",
                store.url(),
                digest.bytes
            )));
        }
    }
    Ok(Fetched {
        key: key.to_string(),
        plain,
        stored_bytes: meta.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Compression, Recipients};
    use crate::storage::MemoryStore;

    fn plain(data: &mut &[u8]) -> Plaintext {
        let owned = data.to_vec();
        Plaintext {
            len: Some(owned.len() as u64),
            reader: Box::new(std::io::Cursor::new(owned)),
        }
    }

    fn opts(compression: Compression) -> EncodeOptions {
        EncodeOptions {
            compression,
            recipients: Recipients::none(),
        }
    }

    const SEG: WalFile<'static> = WalFile {
        timeline: 1,
        file_name: "000000010000000000000001",
    };

    #[tokio::test]
    async fn archive_then_fetch_round_trips() {
        let store = MemoryStore::new();
        let data = vec![7u8; 100_000];
        let zstd = opts(Compression::Zstd { level: 3 });
        let outcome = archive(
            &store,
            SEG,
            plain(&mut &data[..]),
            &zstd,
            &Identities::none(),
        )
        .await
        .unwrap();
        assert!(matches!(outcome, ArchiveOutcome::Stored { ref key, .. } if key.ends_with(".zst")));
        let fetched = fetch(&store, SEG, zstd.stages(), &Identities::none())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fetched.plain, data);
    }

    #[tokio::test]
    async fn identical_duplicate_is_success_even_with_other_compression() {
        let store = MemoryStore::new();
        let data = vec![1u8; 5000];
        archive(
            &store,
            SEG,
            plain(&mut &data[..]),
            &opts(Compression::Zstd { level: 3 }),
            &Identities::none(),
        )
        .await
        .unwrap();
        let again = archive(
            &store,
            SEG,
            plain(&mut &data[..]),
            &opts(Compression::Snappy),
            &Identities::none(),
        )
        .await
        .unwrap();
        assert_eq!(
            again,
            ArchiveOutcome::AlreadyArchived {
                key: "wal/00000001/000000010000000000000001.zst".into()
            }
        );
        let mut listed = Vec::new();
        let mut stream = store.list("wal/");
        while let Some(meta) = futures::StreamExt::next(&mut stream).await {
            listed.push(meta.unwrap().key);
        }
        assert_eq!(listed.len(), 1, "no second object was written: {listed:?}");
    }

    #[tokio::test]
    async fn different_duplicate_is_refused_and_original_kept() {
        let store = MemoryStore::new();
        let zstd = opts(Compression::Zstd { level: 3 });
        archive(
            &store,
            SEG,
            plain(&mut &b"original"[..]),
            &zstd,
            &Identities::none(),
        )
        .await
        .unwrap();
        let err = archive(
            &store,
            SEG,
            plain(&mut &b"impostor"[..]),
            &zstd,
            &Identities::none(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("different checksum"), "{err}");
        let fetched = fetch(&store, SEG, zstd.stages(), &Identities::none())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fetched.plain, b"original");
    }

    #[tokio::test]
    async fn absent_is_none_and_tampered_metadata_is_caught() {
        let store = MemoryStore::new();
        let none = opts(Compression::None);
        assert!(fetch(&store, SEG, none.stages(), &Identities::none())
            .await
            .unwrap()
            .is_none());
        let key = layout::wal_key(1, SEG.file_name, none.stages());
        let metadata = Metadata::from([(
            META_SHA256.to_string(),
            pipeline::sha256_hex(b"something else"),
        )]);
        store
            .put(
                &key,
                Bytes::from_static(b"data"),
                PutMode::CreateOnly,
                &metadata,
            )
            .await
            .unwrap();
        let err = fetch(&store, SEG, none.stages(), &Identities::none())
            .await
            .unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Failed);
    }
}
