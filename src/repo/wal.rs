//! Archiving and fetching WAL objects: the duplicate rule and checksum verification.

use std::io::{Read, Write};

use bytes::Bytes;
use futures::future::join_all;

use crate::error::{Error, Result};
use crate::pg::{parse_long_page_header, WalFileName, WalSegmentSize};
use crate::pipeline::{self, Decoder, Digest, EncodeOptions, Identities, Stages};
use crate::repo::identity;
use crate::repo::layout::{self, IDENTITY_KEY, META_PLAIN_SIZE, META_SHA256};
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
///
/// `ready` is what must hold before anything is written (the repository's
/// identity). It runs at the same time as the lookup of an existing object
/// and the encoding, so a store far away costs one round trip before the
/// PUT, not three; nothing is written unless all three succeed.
pub async fn archive(
    store: &dyn ObjectStore,
    wal: WalFile<'_>,
    plain: Plaintext,
    encode: &EncodeOptions,
    identities: &Identities,
    ready: impl std::future::Future<Output = Result<()>>,
) -> Result<ArchiveOutcome> {
    let Plaintext { mut reader, len } = plain;
    let options = encode.clone();
    let encoding = on_worker_thread(move || pipeline::encode_reader(&mut reader, len, &options));
    let (ready, existing, encoded) =
        tokio::join!(ready, find(store, wal, encode.stages()), encoding);
    ready?;
    let existing = existing?;
    let (stored, digest) = encoded?
        .map_err(|e| Error::from(e).context(format!("reading and encoding {}", wal.file_name)))?;
    if let Some(existing) = existing {
        return check_duplicate(store, wal, digest, existing, identities).await;
    }
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

/// What a verified read wrote out.
#[derive(Debug)]
pub struct Written {
    pub key: String,
    pub stored_bytes: u64,
    pub plain_bytes: u64,
    /// The start of the plaintext (a segment's first page, with its header).
    pub first_page: Vec<u8>,
}

/// Reads and decodes `wal` into `out`, verifying the plaintext checksum and
/// size recorded at archive time. `None` when the file is not in the
/// archive.
///
/// `out` receives plaintext before the checksum is known to match: write
/// it where nobody reads it until this returns `Ok(Some(_))`.
///
/// In the steady state this is one request: a GET of the name the current
/// settings write. Only when nothing stands there are the other names
/// looked up (the settings changed since the file was archived).
pub async fn fetch_into(
    store: &dyn ObjectStore,
    wal: WalFile<'_>,
    preferred: Stages,
    identities: &Identities,
    out: &mut dyn Write,
) -> Result<Option<Written>> {
    let key = layout::wal_key(wal.timeline, wal.file_name, preferred);
    match get_stored(store, &key).await {
        Ok((meta, stored)) => {
            return verify_into(store, &key, preferred, identities, (meta, stored), out).map(Some)
        }
        Err(StorageError::NotFound { .. }) => {}
        Err(e) => return Err(Error::from(e).context(format!("reading {key} from {}", store.url()))),
    }
    let Some(found) = find(store, wal, preferred).await? else {
        return Ok(None);
    };
    read_verified_into(store, &found.key, found.stages, identities, out)
        .await
        .map(Some)
}

/// [`fetch_into`] memory.
#[cfg(test)]
pub async fn fetch(
    store: &dyn ObjectStore,
    wal: WalFile<'_>,
    preferred: Stages,
    identities: &Identities,
) -> Result<Option<Fetched>> {
    let mut plain = Vec::new();
    let written = fetch_into(store, wal, preferred, identities, &mut plain).await?;
    Ok(written.map(|w| Fetched {
        key: w.key,
        plain,
        stored_bytes: w.stored_bytes,
    }))
}

async fn read_and_decode(
    store: &dyn ObjectStore,
    found: &Found,
    identities: &Identities,
) -> Result<(Vec<u8>, pipeline::Digest)> {
    let file = layout::parse_wal_key(&found.key).map(|(file, _)| file);
    let (_, stored) = get_stored(store, &found.key).await.map_err(|e| {
        Error::from(e).context(format!("reading {} from {}", found.key, store.url()))
    })?;
    let mut plain = Vec::new();
    let (digest, _) = decode_bounded(
        &stored,
        found.stages,
        identities,
        file.as_ref(),
        None,
        &mut plain,
    )
    .map_err(|e| e.context(format!("decoding {} from {}", found.key, store.url())))?;
    Ok((plain, digest))
}

/// The stored object at `key`, refused unread when it is larger than the
/// most its plaintext may be plus what the stages add (zstd's worst case
/// and age's per-chunk tags are far below 1/64).
async fn get_stored(
    store: &dyn ObjectStore,
    key: &str,
) -> std::result::Result<(ObjectMeta, Bytes), StorageError> {
    let most = stored_bound(layout::parse_wal_key(key).map(|(file, _)| file).as_ref());
    store.get_bytes_at_most(key, most).await
}

/// Reads the WAL object at `key` (written with `stages`) and checks it
/// against the checksum and size recorded when it was archived. An object
/// without a recorded checksum is refused: nothing could prove it is what
/// was archived. Decoding stops at the most the file can hold (see
/// [`plaintext_bound`]), so a decompression bomb costs bounded memory.
pub async fn read_verified(
    store: &dyn ObjectStore,
    key: &str,
    stages: Stages,
    identities: &Identities,
) -> Result<Fetched> {
    let mut plain = Vec::new();
    let written = read_verified_into(store, key, stages, identities, &mut plain).await?;
    Ok(Fetched {
        key: written.key,
        plain,
        stored_bytes: written.stored_bytes,
    })
}

/// [`read_verified`] into `out`, which receives plaintext before it is
/// verified (see [`fetch_into`]).
pub async fn read_verified_into(
    store: &dyn ObjectStore,
    key: &str,
    stages: Stages,
    identities: &Identities,
    out: &mut dyn Write,
) -> Result<Written> {
    let read_failed = |e: StorageError| {
        // The object was just found: vanishing now is no proof that it was
        // never archived, so it must not read as "absent" (exit 1).
        let e = match e {
            StorageError::NotFound { key } => StorageError::Permanent {
                key,
                message: "vanished between its lookup and its read".to_string(),
            },
            other => other,
        };
        Error::from(e).context(format!("reading {key} from {}", store.url()))
    };
    let got = get_stored(store, key).await.map_err(read_failed)?;
    verify_into(store, key, stages, identities, got, out)
}

/// Decodes `stored` (the object at `key`) into `out` and checks it against
/// the checksum and size recorded in its metadata.
fn verify_into(
    store: &dyn ObjectStore,
    key: &str,
    stages: Stages,
    identities: &Identities,
    (meta, stored): (ObjectMeta, Bytes),
    out: &mut dyn Write,
) -> Result<Written> {
    let Some(expected) = meta.metadata.get(META_SHA256) else {
        return Err(Error::failed(format!(
            "{key} in {} has no recorded checksum, so nothing proves it is the file that was archived \
             (its metadata was lost, e.g. the repository was copied with rsync -a without -X, or onto a \
             filesystem without extended attributes); fix: copy it again from a copy that kept its \
             metadata (rsync -aX, cp --preserve=xattr), or, if you trust it, decode it by hand and place it in pg_wal",
            store.url()
        )));
    };
    let recorded = match meta.metadata.get(META_PLAIN_SIZE) {
        None => None,
        Some(size) => Some(size.parse::<u64>().map_err(|_| {
            Error::failed(format!(
                "{key} in {}: recorded plaintext size {size:?} is not a number",
                store.url()
            ))
        })?),
    };
    let file = layout::parse_wal_key(key).map(|(file, _)| file);
    let (digest, first_page) =
        decode_bounded(&stored, stages, identities, file.as_ref(), recorded, out)
            .map_err(|e| e.context(format!("decoding {key} from {}", store.url())))?;
    digest
        .verify(expected)
        .map_err(|e| Error::from(e).context(format!("{key} in {}", store.url())))?;
    if let Some(expected) = recorded {
        if expected != digest.bytes {
            return Err(Error::failed(format!(
                "{key} in {} decodes to {} bytes but {expected} were archived",
                store.url(),
                digest.bytes
            )));
        }
    }
    Ok(Written {
        key: key.to_string(),
        stored_bytes: meta.size,
        plain_bytes: digest.bytes,
        first_page,
    })
}

/// The most bytes a stored WAL object may take: the most its plaintext
/// may be (the largest segment; a text file's limit) plus stage overhead.
fn stored_bound(file: Option<&WalFileName>) -> u64 {
    let plain = match file {
        Some(WalFileName::History(_) | WalFileName::Backup { .. }) => MAX_TEXT_FILE,
        _ => u64::from(WalSegmentSize::MAX.bytes()),
    };
    plain + plain / 64 + (64 << 10)
}

/// Plaintext decoded before the bound is known: enough for a segment's
/// long page header, which states the segment size.
const FIRST_PAGE: u64 = 8192;

/// History and backup history files are a few lines of text.
const MAX_TEXT_FILE: u64 = crate::pg::history::MAX_HISTORY_FILE_BYTES;

/// The most plaintext a stored WAL file may decode to: a segment's size
/// (from its header, the only trustworthy size before the checksum is
/// checked), a text file's limit, and never more than the size recorded at
/// archive time. `first` is the start of the plaintext.
pub fn plaintext_bound(
    file: Option<&WalFileName>,
    recorded: Option<u64>,
    first: &[u8],
) -> std::result::Result<u64, String> {
    let limit = match file {
        Some(WalFileName::Segment(_) | WalFileName::Partial(_)) => {
            let header = parse_long_page_header(first)
                .map_err(|e| format!("not a valid WAL segment: {e}"))?;
            u64::from(header.segment_size)
        }
        Some(WalFileName::History(_) | WalFileName::Backup { .. }) => MAX_TEXT_FILE,
        None => u64::from(WalSegmentSize::MAX.bytes()),
    };
    match recorded {
        Some(recorded) if recorded > limit => Err(format!(
            "its recorded size ({recorded} bytes) is more than such a file can hold ({limit})"
        )),
        Some(recorded) => Ok(recorded),
        None => Ok(limit),
    }
}

/// Decodes `stored` into `out`, refusing to produce more than
/// [`plaintext_bound`]; returns the digest and the first page.
fn decode_bounded(
    stored: &[u8],
    stages: Stages,
    identities: &Identities,
    file: Option<&WalFileName>,
    recorded: Option<u64>,
    out: &mut dyn Write,
) -> Result<(Digest, Vec<u8>)> {
    let io_failed = |e: std::io::Error| Error::from(pipeline::PipelineError::from(e));
    let mut decoder = Decoder::from_buffered(stored, stages, identities)?;
    let mut first = Vec::with_capacity(FIRST_PAGE as usize);
    (&mut decoder)
        .take(FIRST_PAGE)
        .read_to_end(&mut first)
        .map_err(io_failed)?;
    // The bound is known only now: a recorded size is written by whoever
    // can write the repository.
    let bound = plaintext_bound(file, recorded, &first).map_err(Error::failed)?;
    let too_much = || {
        Error::failed(format!(
            "it decodes to more than {bound} bytes, more than the file can hold: \
             corrupt, or a decompression bomb; refusing it"
        ))
    };
    if first.len() as u64 > bound {
        return Err(too_much());
    }
    out.write_all(&first)
        .map_err(|e| Error::failed(format!("cannot write the plaintext: {e}")))?;
    let mut written = first.len() as u64;
    let mut chunk = vec![0u8; DECODE_CHUNK];
    loop {
        let n = decoder.read(&mut chunk).map_err(io_failed)?;
        if n == 0 {
            break;
        }
        written += n as u64;
        if written > bound {
            return Err(too_much());
        }
        out.write_all(&chunk[..n])
            .map_err(|e| Error::failed(format!("cannot write the plaintext: {e}")))?;
    }
    let digest = decoder.finish()?;
    Ok((digest, first))
}

/// How much plaintext is decoded at a time on its way to the output.
const DECODE_CHUNK: usize = 256 << 10;

/// Proves that a WAL file found nowhere in `store` is really absent before
/// wal-fetch says so (which ends recovery, and PostgreSQL promotes): the
/// repository is there and is this cluster's (its identity record is
/// readable, and matches `cluster_system_identifier` when that is known),
/// and nothing but objects stands under the file's name. Only the absent
/// path pays for this; every doubt is an error, never "absent".
pub async fn confirm_absent(
    store: &dyn ObjectStore,
    wal: WalFile<'_>,
    cluster_system_identifier: Option<u64>,
) -> Result<()> {
    let doubt = |why: String| {
        Error::failed(format!(
            "{} was not found in {}, but {why}; refusing to report it as not archived, \
             which would end recovery early with data missing",
            wal.file_name,
            store.url()
        ))
    };
    let identity = match identity::load(store).await {
        Ok(Some(identity)) => identity,
        Ok(None) => {
            return Err(doubt(format!(
                "the repository has no {IDENTITY_KEY} either: it is missing, empty (an unmounted \
                 mount point?), not a walden repository, or --repo names the wrong place (missing \
                 bucket or prefix); fix it and restart PostgreSQL to resume recovery"
            )))
        }
        // Whatever the kind, failing to read the identity is no proof of absence.
        Err(e) => return Err(doubt(format!("{IDENTITY_KEY} cannot be read ({e})"))),
    };
    if let Some(ours) = cluster_system_identifier {
        if identity.system_identifier != ours.to_string() {
            return Err(doubt(format!(
                "the repository belongs to the cluster with system identifier {} and this \
                 cluster's (global/pg_control) is {ours}: is --repo the right repository?",
                identity.system_identifier
            )));
        }
    }
    // Any stage suffix: what matters is what stands under the name.
    let candidates = layout::wal_candidate_keys(wal.timeline, wal.file_name, layout::ALL_STAGES[0]);
    let prefix = format!("{}{}", layout::wal_dir(wal.timeline), wal.file_name);
    let mut listing = store.list(&prefix);
    while let Some(item) = futures::StreamExt::next(&mut listing).await {
        let meta = item.map_err(|e| doubt(format!("listing {prefix} failed ({e})")))?;
        for (candidate, _) in &candidates {
            if &meta.key == candidate {
                return Err(doubt(format!("a listing shows {candidate}")));
            }
            if meta.key.starts_with(&format!("{candidate}/")) {
                return Err(doubt(format!(
                    "{candidate} is a directory (holding {}), not an object: the repository is damaged",
                    meta.key
                )));
            }
        }
    }
    Ok(())
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

    /// Archives `data` as SEG with nothing to check first.
    async fn push(
        store: &MemoryStore,
        data: &[u8],
        opts: &EncodeOptions,
    ) -> Result<ArchiveOutcome> {
        let plain = plain(&mut &data[..]);
        archive(store, SEG, plain, opts, &Identities::none(), async {
            Ok(())
        })
        .await
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

    /// SEG's real first page (PostgreSQL 15, 16 MiB segments) followed by `rest`.
    fn segment(rest: &[u8]) -> Vec<u8> {
        let head = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/wal/pg15-16MiB-000000010000000000000001.head"
        );
        let mut data = std::fs::read(head).unwrap();
        data.extend_from_slice(rest);
        data
    }

    #[tokio::test]
    async fn an_object_gone_between_lookup_and_read_is_no_proof_of_absence() {
        let store = MemoryStore::new();
        let key = layout::wal_key(1, SEG.file_name, Stages::PLAIN);
        let err = read_verified(&store, &key, Stages::PLAIN, &Identities::none())
            .await
            .unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Failed, "{err}");
    }

    #[tokio::test]
    async fn a_stored_object_larger_than_its_file_can_be_is_not_read() {
        let store = MemoryStore::new();
        let key = layout::wal_key(2, "00000002.history", Stages::PLAIN);
        let metadata = Metadata::from([
            (META_SHA256.to_string(), "00".repeat(32)),
            (META_PLAIN_SIZE.to_string(), "40".to_string()),
        ]);
        store
            .put(
                &key,
                Bytes::from(vec![b'#'; 3 << 20]),
                PutMode::CreateOnly,
                &metadata,
            )
            .await
            .unwrap();
        let err = read_verified(&store, &key, Stages::PLAIN, &Identities::none())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("more than such an object can take"),
            "{err}"
        );
        assert_eq!(err.kind, crate::error::Kind::Failed);
    }

    #[tokio::test]
    async fn nothing_is_written_unless_the_precondition_holds() {
        let store = MemoryStore::new();
        let data = segment(&[7u8; 100_000]);
        let zstd = opts(Compression::Zstd { level: 1 });
        let err = archive(
            &store,
            SEG,
            plain(&mut &data[..]),
            &zstd,
            &Identities::none(),
            async { Err(Error::failed("another cluster's repository".to_string())) },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("another cluster"), "{err}");
        let requests = store.take_requests();
        assert!(
            requests.iter().all(|r| r.starts_with("HEAD ")),
            "{requests:?}"
        );
        assert!(fetch(&store, SEG, zstd.stages(), &Identities::none())
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn fetching_takes_one_request_unless_the_settings_changed() {
        let store = MemoryStore::new();
        let data = segment(&[7u8; 100_000]);
        let zstd = opts(Compression::Zstd { level: 3 });
        push(&store, &data, &zstd).await.unwrap();
        store.take_requests();

        let mut out = Vec::new();
        let written = fetch_into(&store, SEG, zstd.stages(), &Identities::none(), &mut out)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(written.plain_bytes, data.len() as u64);
        assert_eq!(written.first_page, data[..FIRST_PAGE as usize]);
        let key = layout::wal_key(1, SEG.file_name, zstd.stages());
        assert_eq!(store.take_requests(), [format!("GET {key}")]);

        // Archived with zstd, fetched by settings that now say snappy: the
        // other names are looked up, and the object is still found.
        let snappy = opts(Compression::Snappy).stages();
        let fetched = fetch(&store, SEG, snappy, &Identities::none())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (fetched.key.as_str(), fetched.plain == data),
            (key.as_str(), true)
        );
        assert!(store.take_requests().len() > 2);
    }

    #[tokio::test]
    async fn a_bad_object_under_the_preferred_name_is_an_error_not_a_fallback() {
        let store = MemoryStore::new();
        let zstd = opts(Compression::Zstd { level: 3 });
        let key = layout::wal_key(1, SEG.file_name, zstd.stages());
        let metadata = Metadata::from([(META_SHA256.to_string(), "00".repeat(32))]);
        store
            .put(
                &key,
                Bytes::from_static(b"not zstd"),
                PutMode::CreateOnly,
                &metadata,
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        let err = fetch_into(&store, SEG, zstd.stages(), &Identities::none(), &mut out)
            .await
            .unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Failed, "{err}");
    }

    #[tokio::test]
    async fn archive_then_fetch_round_trips() {
        let store = MemoryStore::new();
        let data = segment(&[7u8; 100_000]);
        let zstd = opts(Compression::Zstd { level: 3 });
        let outcome = push(&store, &data, &zstd).await.unwrap();
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
        let data = segment(&[1u8; 5000]);
        push(&store, &data, &opts(Compression::Zstd { level: 3 }))
            .await
            .unwrap();
        let again = push(&store, &data, &opts(Compression::Snappy))
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
            plain(&mut &segment(b"original")[..]),
            &zstd,
            &Identities::none(),
            async { Ok(()) },
        )
        .await
        .unwrap();
        let err = archive(
            &store,
            SEG,
            plain(&mut &segment(b"impostor")[..]),
            &zstd,
            &Identities::none(),
            async { Ok(()) },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("different checksum"), "{err}");
        let fetched = fetch(&store, SEG, zstd.stages(), &Identities::none())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fetched.plain, segment(b"original"));
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

    /// Stores `plain` under SEG's key zstd-compressed, with `metadata`, as
    /// someone who can write to the bucket could.
    async fn put_crafted(store: &MemoryStore, plain: &[u8], metadata: Metadata) -> Stages {
        let zstd = opts(Compression::Zstd { level: 1 });
        let (stored, _) = pipeline::encode_bytes(plain, &zstd).unwrap();
        let key = layout::wal_key(1, SEG.file_name, zstd.stages());
        store
            .put(&key, Bytes::from(stored), PutMode::CreateOnly, &metadata)
            .await
            .unwrap();
        zstd.stages()
    }

    #[tokio::test]
    async fn a_decompression_bomb_is_refused_at_the_segment_size() {
        // A valid first page claiming 16 MiB, then 64 MiB of zeros: a few KiB stored.
        let bomb = segment(&vec![0u8; 64 << 20]);
        let sha = pipeline::sha256_hex(&bomb);
        for plain_size in [None, Some((16u64 << 20).to_string())] {
            let store = MemoryStore::new();
            let mut metadata = Metadata::from([(META_SHA256.to_string(), sha.clone())]);
            if let Some(size) = &plain_size {
                metadata.insert(META_PLAIN_SIZE.to_string(), size.clone());
            }
            let stages = put_crafted(&store, &bomb, metadata).await;
            let err = fetch(&store, SEG, stages, &Identities::none())
                .await
                .unwrap_err();
            assert_eq!(err.kind, crate::error::Kind::Failed);
            let shown = err.to_string();
            assert!(
                shown.contains("more than 16777216 bytes"),
                "{plain_size:?}: {shown}"
            );
        }
    }

    #[tokio::test]
    async fn an_object_without_a_recorded_checksum_is_refused() {
        let store = MemoryStore::new();
        let stages = put_crafted(&store, &segment(b"rsynced"), Metadata::new()).await;
        let err = fetch(&store, SEG, stages, &Identities::none())
            .await
            .unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Failed);
        let shown = err.to_string();
        assert!(
            shown.contains("wal/00000001/000000010000000000000001.zst")
                && shown.contains("no recorded checksum")
                && shown.contains("rsync -aX"),
            "{shown}"
        );
    }

    #[test]
    fn the_plaintext_bound_is_the_smallest_size_known() {
        let seg: WalFileName = SEG.file_name.parse().unwrap();
        let history: WalFileName = "00000002.history".parse().unwrap();
        let first = segment(b"");
        assert_eq!(plaintext_bound(Some(&seg), None, &first), Ok(16 << 20));
        assert_eq!(plaintext_bound(Some(&seg), Some(100), &first), Ok(100));
        assert!(plaintext_bound(Some(&seg), Some((16 << 20) + 1), &first).is_err());
        assert!(plaintext_bound(Some(&seg), None, &[0u8; 8192]).is_err());
        assert_eq!(
            plaintext_bound(Some(&history), None, b"1\t0/3"),
            Ok(MAX_TEXT_FILE)
        );
        assert!(plaintext_bound(Some(&history), Some(MAX_TEXT_FILE + 1), b"").is_err());
    }

    #[tokio::test]
    async fn absence_needs_a_present_repository_of_this_cluster() {
        let store = MemoryStore::new();
        let err = confirm_absent(&store, SEG, None).await.unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Failed);
        assert!(err.to_string().contains("walden.json"), "{err}");

        identity::ensure(&store, identity::RepoIdentity::new(42, 15, 16 << 20))
            .await
            .unwrap();
        confirm_absent(&store, SEG, None).await.unwrap();
        confirm_absent(&store, SEG, Some(42)).await.unwrap();
        let err = confirm_absent(&store, SEG, Some(7)).await.unwrap_err();
        assert!(
            err.to_string().contains("42") && err.to_string().contains('7'),
            "{err}"
        );

        // Another WAL file sharing the name as a prefix is no doubt.
        let partial = layout::wal_key(
            1,
            &format!("{}.partial", SEG.file_name),
            layout::ALL_STAGES[0],
        );
        store
            .put(
                &partial,
                Bytes::from_static(b"p"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        confirm_absent(&store, SEG, Some(42)).await.unwrap();
        // Something below the segment's own key is.
        let below = format!(
            "{}/x",
            layout::wal_key(1, SEG.file_name, layout::ALL_STAGES[4])
        );
        store
            .put(
                &below,
                Bytes::from_static(b"x"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        let err = confirm_absent(&store, SEG, Some(42)).await.unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
