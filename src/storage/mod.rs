//! Object storage: the one small trait every backend implements, its error kinds, and the repo-URL → store factory.

pub mod gcs;
pub mod local;
pub mod memory;
pub mod retry;
pub mod s3;

// Public so the integration tests can run it against the S3 and GCS servers.
#[doc(hidden)]
pub mod conformance;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::Range;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::io::AsyncReadExt;

pub use gcs::{GcsOptions, GcsStore};
pub use local::LocalStore;
pub use memory::MemoryStore;
pub use retry::{RetryPolicy, RetryingStore};
pub use s3::{S3Options, S3Store};

/// A streaming object body.
pub type ByteStream = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// User metadata stored with an object. Keys are lowercase ASCII `[a-z0-9-]`,
/// values printable ASCII: the intersection of what S3, GCS and local xattrs accept.
pub type Metadata = BTreeMap<String, String>;

/// How a `put` treats an object that already exists under the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Fail with [`StorageError::AlreadyExists`] if the key exists. Atomic: of
    /// concurrent create-only puts of one key, exactly one succeeds.
    CreateOnly,
    /// Replace whatever is there, atomically (readers see old or new, never a mix).
    Overwrite,
}

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<SystemTime>,
    /// Filled by `head` and `get`; `list` may leave it empty.
    pub metadata: Metadata,
}

/// An object being read: its metadata and a stream of its bytes.
pub struct GetResult {
    pub meta: ObjectMeta,
    pub body: ByteStream,
}

impl Debug for GetResult {
    // The body is a stream: show what is known about the object.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetResult")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl GetResult {
    /// Reads the whole body into memory. Use only for objects known to be small.
    pub async fn bytes(mut self) -> StorageResult<Bytes> {
        let mut buf = Vec::with_capacity(self.meta.size as usize);
        self.body
            .read_to_end(&mut buf)
            .await
            .map_err(|e| StorageError::from_io(&self.meta.key, e))?;
        Ok(Bytes::from(buf))
    }
}

/// The semantic error kinds every backend maps its failures onto.
/// Callers decide by kind: only `Transient` is worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{key}: not found")]
    NotFound { key: String },
    #[error("{key}: already exists")]
    AlreadyExists { key: String },
    #[error("{key}: transient storage error: {message}")]
    Transient { key: String, message: String },
    #[error("{key}: {message}")]
    Permanent { key: String, message: String },
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Transient { .. })
    }

    /// Maps an I/O error met while working on `key` onto a kind.
    pub fn from_io(key: &str, err: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let key = key.to_string();
        match err.kind() {
            K::NotFound => StorageError::NotFound { key },
            K::AlreadyExists => StorageError::AlreadyExists { key },
            K::Interrupted
            | K::WouldBlock
            | K::TimedOut
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::ConnectionRefused
            | K::BrokenPipe
            | K::UnexpectedEof => StorageError::Transient {
                key,
                message: err.to_string(),
            },
            _ => StorageError::Permanent {
                key,
                message: err.to_string(),
            },
        }
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// An object store: a flat namespace of keys mapped to immutable byte strings.
///
/// Contract (every backend passes the conformance suite in `conformance.rs`):
///
/// * Keys are `/`-separated relative paths (see [`validate_key`]). A backend
///   refuses an invalid key with `Permanent` before touching storage.
/// * `put` is atomic: a reader sees the whole object or nothing; a crash or
///   error mid-put never leaves a partial object under the key. It returns
///   only once the object is durable. `PutMode` says what happens when the
///   key exists; `CreateOnly` races have exactly one winner.
/// * `put_stream` is `put` for a body of unknown length read from a stream
///   (backup parts): the same atomicity, durability and `PutMode` rules; it
///   returns the number of bytes stored. A stream that fails mid-way fails
///   the put and leaves nothing under the key. The body cannot be replayed,
///   so retrying is the caller's job (it re-creates the stream).
/// * `get` streams the body; `range` selects bytes `start..end` (clamped to
///   the object's size). An absent key is `NotFound`.
/// * `head` returns size, modification time and user metadata.
/// * `list(prefix)` yields every object whose key starts with `prefix`
///   (a plain string prefix, not only a directory) exactly once, fetching
///   page by page so memory does not grow with the listing. The order is
///   unspecified: S3 sorts keys, but S3-compatible servers such as SeaweedFS
///   list directory by directory. Callers that need an order sort.
/// * `delete` removes a key; deleting an absent key succeeds.
/// * Errors use the four kinds of [`StorageError`]; only `Transient` ones
///   may succeed when retried (see [`RetryingStore`]).
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// Where this store points, for messages (e.g. `file:///var/lib/walden`).
    fn url(&self) -> String;

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<()>;

    async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<u64>;

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> StorageResult<GetResult>;

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta>;

    /// The whole object in memory, for objects known to be small (a WAL
    /// segment). Unlike `get`, the body is read here, so a decorator can
    /// retry a connection lost mid-body.
    async fn get_bytes(&self, key: &str) -> StorageResult<(ObjectMeta, Bytes)> {
        let got = self.get(key, None).await?;
        let meta = got.meta.clone();
        Ok((meta, got.bytes().await?))
    }

    /// `get_bytes` for an object that may not be trusted to be small: one
    /// larger than `most` bytes is refused (`Permanent`) before its body is
    /// read. Decorators retry it as a whole, like `get_bytes`.
    async fn get_bytes_at_most(&self, key: &str, most: u64) -> StorageResult<(ObjectMeta, Bytes)> {
        let got = self.get(key, None).await?;
        if got.meta.size > most {
            return Err(StorageError::Permanent {
                key: key.to_string(),
                message: format!(
                    "{} bytes stored, more than such an object can take ({most}): corrupt, or planted; not read",
                    got.meta.size
                ),
            });
        }
        let meta = got.meta.clone();
        Ok((meta, got.bytes().await?))
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, StorageResult<ObjectMeta>>;

    async fn delete(&self, key: &str) -> StorageResult<()>;
}

/// Checks that `key` is a key every backend can store: non-empty, at most
/// 1024 bytes, `/`-separated segments that are non-empty and not `.` or `..`,
/// no leading or trailing `/`, no NUL or other control characters, and no
/// segment starting with `.walden-tmp` (reserved for in-flight local writes)
/// or `.walden-meta` (local metadata sidecars).
pub fn validate_key(key: &str) -> StorageResult<()> {
    let bad = |why: &str| {
        Err(StorageError::Permanent {
            key: key.to_string(),
            message: format!("invalid object key: {why}"),
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if key.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("empty path segment (leading, trailing or double '/')"),
            "." | ".." => return bad("'.' or '..' path segment"),
            s if s.starts_with(".walden-tmp") => return bad("'.walden-tmp' prefix is reserved"),
            s if s.starts_with(local::META_DIR) => return bad("'.walden-meta' prefix is reserved"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks user metadata against the portable subset (see [`Metadata`]).
pub fn validate_metadata(key: &str, metadata: &Metadata) -> StorageResult<()> {
    for (k, v) in metadata {
        let key_ok = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let value_ok = v.bytes().all(|b| (0x20..0x7f).contains(&b));
        if !key_ok || !value_ok {
            return Err(StorageError::Permanent {
                key: key.to_string(),
                message: format!("invalid metadata entry {k:?}={v:?}"),
            });
        }
    }
    Ok(())
}

/// The byte range a ranged `get` returns: `range` clamped to an object of
/// `size` bytes, empty when it starts past the end or is reversed. Shared so
/// every backend answers odd ranges alike.
pub fn clamp_range(range: Option<Range<u64>>, size: u64) -> Range<u64> {
    match range {
        None => 0..size,
        Some(r) => {
            let end = r.end.min(size);
            r.start.min(end)..end
        }
    }
}

/// Why a repository URL could not be turned into a store.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("unsupported repository URL scheme {scheme:?} in {url:?}: use a local path, file:///path, s3://bucket/prefix or gs://bucket/prefix")]
    UnknownScheme { scheme: String, url: String },
    #[error("invalid repository URL {url:?}: {why}")]
    Invalid { url: String, why: String },
}

/// How to reach each kind of store; only the one the URL names is used.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub s3: S3Options,
    pub gcs: GcsOptions,
}

/// Parses a repository URL (`file:///path`, a plain absolute path,
/// `s3://bucket/prefix`, `gs://bucket/prefix`) into a store. Cloud clients are built on first use.
pub fn open_url(
    url: &str,
    options: &StoreOptions,
) -> Result<std::sync::Arc<dyn ObjectStore>, UrlError> {
    let invalid = |why: &str| UrlError::Invalid {
        url: url.to_string(),
        why: why.to_string(),
    };
    let path = match url.split_once("://") {
        Some(("file", rest)) => {
            if !rest.starts_with('/') {
                return Err(invalid(
                    "file:// URLs need an absolute path, e.g. file:///var/lib/walden",
                ));
            }
            rest.to_string()
        }
        Some(("s3", rest)) => {
            let (bucket, prefix) = bucket_and_prefix(rest).map_err(|why| invalid(&why))?;
            return Ok(std::sync::Arc::new(S3Store::new(
                bucket,
                prefix,
                options.s3.clone(),
            )));
        }
        Some(("gs", rest)) => {
            let (bucket, prefix) = bucket_and_prefix(rest).map_err(|why| invalid(&why))?;
            return Ok(std::sync::Arc::new(GcsStore::new(
                bucket.to_string(),
                prefix.to_string(),
                options.gcs.clone(),
            )));
        }
        Some((scheme, _)) => {
            return Err(UrlError::UnknownScheme {
                scheme: scheme.to_string(),
                url: url.to_string(),
            })
        }
        None => url.to_string(),
    };
    // PostgreSQL runs archive_command with the data directory as cwd: a
    // relative repository path would silently archive into PGDATA.
    if !path.starts_with('/') {
        return Err(invalid("a repository path must be absolute"));
    }
    Ok(std::sync::Arc::new(LocalStore::new(
        std::path::PathBuf::from(path),
    )))
}

/// Splits `bucket/some/prefix` (the part after `s3://` or `gs://`).
fn bucket_and_prefix(rest: &str) -> Result<(&str, &str), String> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("no bucket name, e.g. s3://my-bucket/walden".into());
    }
    let bucket_ok = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
    if !bucket_ok || bucket.len() < 3 || bucket.len() > 63 {
        return Err(format!(
            "{bucket:?} is not a bucket name (3 to 63 of a-z, 0-9, '-', '.', '_')"
        ));
    }
    let prefix = prefix.trim_end_matches('/');
    if !prefix.is_empty() {
        validate_key(prefix).map_err(|e| format!("bad prefix {prefix:?}: {e}"))?;
    }
    Ok((bucket, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in ["a", "wal/00000001/x.zst", "odd key/ü=+%&#.txt", ".hidden"] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/../b",
            "./a",
            "a\nb",
            "x/.walden-tmp.1",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges_clamp_to_the_object() {
        assert_eq!(clamp_range(None, 10), 0..10);
        assert_eq!(clamp_range(Some(2..5), 10), 2..5);
        assert_eq!(clamp_range(Some(8..50), 10), 8..10);
        assert_eq!(clamp_range(Some(12..20), 10), 10..10);
        let reversed = Range { start: 6, end: 3 };
        assert_eq!(clamp_range(Some(reversed), 10), 3..3);
        assert_eq!(clamp_range(Some(0..4), 0), 0..0);
    }

    #[test]
    fn urls() {
        let open = |url| open_url(url, &StoreOptions::default());
        assert!(open("file:///tmp/x").is_ok());
        assert!(open("/tmp/x").is_ok());
        assert_eq!(open("s3://bucket/a/b/").unwrap().url(), "s3://bucket/a/b");
        assert_eq!(open("s3://bucket").unwrap().url(), "s3://bucket");
        assert_eq!(open("gs://bucket/x/").unwrap().url(), "gs://bucket/x");
        for invalid in [
            "relative/dir",
            "file://relative",
            "s3://",
            "s3:///prefix",
            "s3://Bad_Bucket/x",
            "s3://bucket/a//b",
            "s3://bucket/../x",
            "gs://",
            "gs://b/x",
        ] {
            assert!(
                matches!(open(invalid), Err(UrlError::Invalid { .. })),
                "{invalid}"
            );
        }
        assert!(matches!(
            open("ftp://host/x"),
            Err(UrlError::UnknownScheme { .. })
        ));
    }
}
