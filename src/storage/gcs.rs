//! Google Cloud Storage backend, on Google's official `google-cloud-storage` crate.
//!
//! Object data moves through the [`Storage`] client (JSON API over HTTP);
//! listing, deleting and metadata go through [`StorageControl`] (gRPC).
//! Both clients are built lazily on first use, so constructing a
//! [`GcsStore`] costs nothing.
//!
//! The crate's own retries are switched off: walden retries `Transient`
//! errors in one place, [`super::RetryingStore`]. Stalls are bounded by
//! progress watchdogs rather than whole-request timeouts, so a slow but
//! moving transfer of a large object is never cut off.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use google_cloud_gax::retry_policy::NeverRetry;
use google_cloud_storage::client::{Storage, StorageControl};
use google_cloud_storage::model::Object;
use google_cloud_storage::model_ext::ReadRange;
use google_cloud_storage::streaming_source::{Seek, SizeHint, StreamingSource};
use tokio::io::AsyncReadExt;
use tokio::sync::OnceCell;

use super::{
    clamp_range, validate_key, validate_metadata, ByteStream, GetResult, Metadata, ObjectMeta,
    ObjectStore, PutMode, StorageError, StorageResult,
};

/// Default objects per listing page (the service maximum is 1000).
const DEFAULT_PAGE_SIZE: i32 = 1000;
/// `put_stream` bodies that end within this many bytes go up in one
/// single-shot request; longer ones use a resumable upload.
const SINGLE_SHOT_MAX: usize = 8 << 20;
/// Chunk size of resumable uploads (a multiple of 256 KiB, as GCS requires;
/// Google recommends at least 8 MiB for throughput).
const RESUMABLE_CHUNK: usize = 8 << 20;
/// How much is read from a body, or handed to the client, at a time.
const READ_CHUNK: usize = 256 << 10;
/// How to reach Google Cloud Storage.
#[derive(Debug, Clone, Default)]
pub struct GcsOptions {
    /// JSON API (HTTP) endpoint, e.g. `http://127.0.0.1:9000` for an
    /// emulator. When set, requests use anonymous credentials unless
    /// `credentials_file` is given. Default: the public Google endpoint.
    pub endpoint: Option<String>,
    /// gRPC endpoint of the metadata calls (list, delete, head), e.g.
    /// `http://127.0.0.1:9001` for an emulator (storage-testbench serves
    /// gRPC on a separate port). Default: `endpoint` when set, else Google's.
    pub grpc_endpoint: Option<String>,
    /// Service-account key JSON file; otherwise Application Default Credentials.
    pub credentials_file: Option<PathBuf>,
    /// Objects per listing page; default 1000.
    pub list_page_size: Option<i32>,
    /// A call that makes no progress for this long fails as `Transient`:
    /// a metadata call's attempt, a read whose body delivers nothing, a
    /// single-shot upload whose body the client takes nothing of (the body
    /// is handed over 256 KiB at a time as the connection drains, so a slow
    /// link is not cut off, a stalled one is). Resumable uploads take 8 MiB
    /// at a time and then send it, so they get twice as long.
    pub io_timeout: Duration,
}

/// An [`ObjectStore`] in a GCS bucket, under an optional key prefix.
pub struct GcsStore {
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
    options: GcsOptions,
    clients: OnceCell<Clients>,
}

struct Clients {
    storage: Storage,
    control: StorageControl,
}

impl std::fmt::Debug for GcsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl GcsStore {
    /// Cheap and synchronous: no client is built and nothing is contacted
    /// until the first operation.
    pub fn new(bucket: String, prefix: String, options: GcsOptions) -> GcsStore {
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        GcsStore {
            bucket,
            prefix,
            options,
            clients: OnceCell::new(),
        }
    }

    fn bucket_path(&self) -> String {
        format!("projects/_/buckets/{}", self.bucket)
    }

    fn object_name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Where requests go, for error messages.
    fn location(&self) -> String {
        let endpoint = self
            .options
            .endpoint
            .as_deref()
            .unwrap_or("https://storage.googleapis.com");
        format!("gs://{} via {endpoint}", self.bucket)
    }

    async fn clients(&self, key: &str) -> StorageResult<&Clients> {
        self.clients
            .get_or_try_init(|| self.build_clients())
            .await
            .map_err(|message| StorageError::Permanent {
                key: key.to_string(),
                message,
            })
    }

    async fn build_clients(&self) -> Result<Clients, String> {
        let o = &self.options;
        let credentials = match (&o.credentials_file, &o.endpoint) {
            (Some(path), _) => {
                let raw = std::fs::read(path).map_err(|e| {
                    format!("cannot read GCS credentials file {}: {e}", path.display())
                })?;
                let json: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| {
                    format!("GCS credentials file {} is not JSON: {e}", path.display())
                })?;
                let creds = google_cloud_auth::credentials::service_account::Builder::new(json)
                    .build()
                    .map_err(|e| {
                        format!(
                            "GCS credentials file {} is not a usable service-account key: {e}",
                            path.display()
                        )
                    })?;
                Some(creds)
            }
            (None, Some(_)) => {
                Some(google_cloud_auth::credentials::anonymous::Builder::new().build())
            }
            (None, None) => None,
        };

        let mut storage = Storage::builder().with_retry_policy(NeverRetry);
        if let Some(endpoint) = &o.endpoint {
            storage = storage.with_endpoint(endpoint.clone());
        }
        if let Some(c) = &credentials {
            storage = storage.with_credentials(c.clone());
        }
        let storage = storage.build().await.map_err(|e| {
            format!(
                "cannot set up the GCS client for {}: {e} (check credentials: \
                 GOOGLE_APPLICATION_CREDENTIALS or a credentials file)",
                self.location()
            )
        })?;

        let mut control = StorageControl::builder()
            .with_retry_policy(NeverRetry)
            .with_attempt_timeout(self.options.io_timeout);
        if let Some(endpoint) = o.grpc_endpoint.as_ref().or(o.endpoint.as_ref()) {
            control = control.with_endpoint(endpoint.clone());
        }
        if let Some(c) = credentials {
            control = control.with_credentials(c);
        }
        let control = control.build().await.map_err(|e| {
            format!(
                "cannot set up the GCS control client for {}: {e} (check credentials: \
                 GOOGLE_APPLICATION_CREDENTIALS or a credentials file)",
                self.location()
            )
        })?;
        Ok(Clients { storage, control })
    }

    /// Maps a client error onto walden's kinds, naming the bucket and endpoint.
    fn map_err(&self, key: &str, op: &str, e: google_cloud_storage::Error) -> StorageError {
        use google_cloud_gax::error::rpc::Code;
        let key = key.to_string();
        let code = e.http_status_code().map(u32::from).or_else(|| {
            e.status().map(|s| match s.code {
                Code::NotFound => 404,
                Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => 412,
                Code::DeadlineExceeded => 408,
                Code::ResourceExhausted => 429,
                Code::Unavailable | Code::Internal | Code::Unknown => 503,
                Code::Unauthenticated => 401,
                Code::PermissionDenied => 403,
                _ => 400,
            })
        });
        let message = format!("GCS {op} on {} failed: {e}", self.location());
        match code {
            Some(404) => StorageError::NotFound { key },
            Some(412) => StorageError::AlreadyExists { key },
            Some(408 | 429 | 500..=599) => StorageError::Transient { key, message },
            Some(401 | 403) => StorageError::Permanent {
                key,
                message: format!(
                    "{message} (check the credentials and their permissions on the bucket)"
                ),
            },
            Some(_) => StorageError::Permanent { key, message },
            None if e.is_timeout() || e.is_connect() || e.is_io() || e.is_transport() => {
                StorageError::Transient { key, message }
            }
            None if e.is_authentication() => StorageError::Permanent {
                key,
                message: format!("{message} (check GCS credentials)"),
            },
            None => StorageError::Permanent { key, message },
        }
    }

    fn bucket_missing(&self, key: &str) -> StorageError {
        StorageError::Permanent {
            key: key.to_string(),
            message: format!(
                "GCS bucket {:?} does not exist (endpoint {}): check the repository URL",
                self.bucket,
                self.options
                    .endpoint
                    .as_deref()
                    .unwrap_or("https://storage.googleapis.com")
            ),
        }
    }

    /// Turns a `NotFound` of an object call into a `Permanent` error when it
    /// is the bucket that is missing: GCS answers both with 404, and callers
    /// must not take a missing bucket for a missing object (a restore would
    /// take it for the end of the archived WAL). Checked with a one-item
    /// listing, which needs only the object permissions walden needs anyway;
    /// if the check itself fails, the `NotFound` stands.
    async fn check_not_found(&self, key: &str, err: StorageError) -> StorageError {
        if !err.is_not_found() {
            return err;
        }
        let Ok(clients) = self.clients(key).await else {
            return err;
        };
        let probe = clients
            .control
            .list_objects()
            .set_parent(self.bucket_path())
            .set_prefix(self.object_name(key))
            .set_page_size(1)
            .send()
            .await;
        match probe.map_err(|e| self.map_err(key, "list", e)) {
            Err(StorageError::NotFound { .. }) => self.bucket_missing(key),
            _ => err,
        }
    }

    fn to_meta(&self, key: &str, object: &Object) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: u64::try_from(object.size).unwrap_or(0),
            last_modified: object.update_time.as_ref().and_then(|t| {
                let secs = u64::try_from(t.seconds()).ok()?;
                let nanos = u32::try_from(t.nanos()).ok()?;
                Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
            }),
            // Only keys walden could have written (`[a-z0-9-]`): others were
            // put there by other tools, or by emulators (`x_emulator_*`).
            metadata: object
                .metadata
                .iter()
                .filter(|(k, _)| {
                    !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    async fn head_object(&self, key: &str) -> StorageResult<Object> {
        let clients = self.clients(key).await?;
        let object = clients
            .control
            .get_object()
            .set_bucket(self.bucket_path())
            .set_object(self.object_name(key))
            .send()
            .await;
        match object {
            Ok(object) => Ok(object),
            Err(e) => {
                let err = self.map_err(key, "head", e);
                Err(self.check_not_found(key, err).await)
            }
        }
    }

    /// Starts a write of `payload` with the object's name, metadata and precondition.
    fn write<P>(
        &self,
        clients: &Clients,
        key: &str,
        payload: P,
        mode: PutMode,
        metadata: &Metadata,
    ) -> google_cloud_storage::builder::storage::WriteObject<P>
    where
        P: StreamingSource + Send + Sync + 'static,
        P::Error: std::error::Error + Send + Sync + 'static,
    {
        let custom: HashMap<String, String> = metadata.clone().into_iter().collect();
        let write = clients
            .storage
            .write_object(self.bucket_path(), self.object_name(key), payload)
            .set_content_type("application/octet-stream")
            .set_metadata(custom);
        match mode {
            PutMode::CreateOnly => write.set_if_generation_match(0),
            PutMode::Overwrite => write,
        }
    }

    /// One single-shot (multipart) request for a body held in memory, with
    /// its CRC32C sent up front for the service to check.
    async fn upload_in_memory(
        &self,
        key: &str,
        body: Bytes,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<Object> {
        let clients = self.clients(key).await?;
        let progress = Progress::new();
        let crc = crc32c::crc32c(&body);
        let source = MemorySource {
            body,
            pos: 0,
            progress: progress.clone(),
        };
        let upload = self
            .write(clients, key, source, mode, metadata)
            .with_known_crc32c(crc)
            .with_resumable_upload_threshold(usize::MAX)
            .send_unbuffered();
        self.watch(key, upload, &progress, self.options.io_timeout)
            .await
    }

    /// A resumable upload of a body of unknown length, `RESUMABLE_CHUNK` at a
    /// time. The object appears only when the final chunk is sent, after the
    /// body ended cleanly; a failing body abandons the session (GCS discards
    /// it after a week) and leaves nothing under the key.
    async fn upload_resumable(
        &self,
        key: &str,
        head: Bytes,
        rest: ByteStream,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<Object> {
        let clients = self.clients(key).await?;
        let progress = Progress::new();
        let source = StreamSource {
            head,
            rest: Some(std::sync::Mutex::new(rest)),
            progress: progress.clone(),
        };
        let upload = self
            .write(clients, key, source, mode, metadata)
            .with_resumable_upload_threshold(0usize)
            .with_resumable_upload_buffer_size(RESUMABLE_CHUNK)
            .send_buffered();
        self.watch(key, upload, &progress, self.options.io_timeout * 2)
            .await
    }

    /// Awaits an upload, failing it as `Transient` once the client has taken
    /// no body bytes for `stall`: a stalled connection fails, a slow but
    /// moving one does not.
    async fn watch(
        &self,
        key: &str,
        upload: impl std::future::Future<Output = google_cloud_storage::Result<Object>>,
        progress: &Progress,
        stall: Duration,
    ) -> StorageResult<Object> {
        tokio::pin!(upload);
        loop {
            tokio::select! {
                result = &mut upload => {
                    // Uploads answer 404 only for a missing bucket.
                    return result.map_err(|e| match self.map_err(key, "upload", e) {
                        StorageError::NotFound { .. } => self.bucket_missing(key),
                        other => other,
                    });
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if progress.idle() > stall {
                        return Err(StorageError::Transient {
                            key: key.to_string(),
                            message: format!(
                                "GCS upload to {} made no progress for {}s",
                                self.location(),
                                stall.as_secs()
                            ),
                        });
                    }
                }
            }
        }
    }
}

/// When a transfer last moved, for the stall watchdogs.
struct Progress {
    start: Instant,
    last_ms: AtomicU64,
    /// Set while the upload waits for our own body (a throttled backup
    /// part): that is not the connection stalling.
    awaiting_source: AtomicBool,
}

impl Progress {
    fn new() -> Arc<Progress> {
        Arc::new(Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            awaiting_source: AtomicBool::new(false),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        if self.awaiting_source.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A body in memory, handed to the client `READ_CHUNK` at a time (so taking
/// bytes tracks the upload's progress) and rewindable for single-shot uploads.
struct MemorySource {
    body: Bytes,
    pos: usize,
    progress: Arc<Progress>,
}

impl StreamingSource for MemorySource {
    type Error = std::io::Error;

    async fn next(&mut self) -> Option<Result<Bytes, Self::Error>> {
        self.progress.touch();
        if self.pos >= self.body.len() {
            return None;
        }
        let end = (self.pos + READ_CHUNK).min(self.body.len());
        let chunk = self.body.slice(self.pos..end);
        self.pos = end;
        Some(Ok(chunk))
    }

    async fn size_hint(&self) -> Result<SizeHint, Self::Error> {
        Ok(SizeHint::with_exact(self.body.len() as u64))
    }
}

impl Seek for MemorySource {
    type Error = std::io::Error;

    async fn seek(&mut self, offset: u64) -> Result<(), Self::Error> {
        self.progress.touch();
        self.pos = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.body.len());
        Ok(())
    }
}

/// A body of unknown length: what was read ahead, then the rest of the reader.
struct StreamSource {
    head: Bytes,
    /// In a mutex only to be `Sync`, as the client requires; never contended.
    rest: Option<std::sync::Mutex<ByteStream>>,
    progress: Arc<Progress>,
}

impl StreamingSource for StreamSource {
    type Error = std::io::Error;

    async fn next(&mut self) -> Option<Result<Bytes, Self::Error>> {
        self.progress.touch();
        if !self.head.is_empty() {
            let n = READ_CHUNK.min(self.head.len());
            return Some(Ok(self.head.split_to(n)));
        }
        let reader = self
            .rest
            .as_mut()?
            .get_mut()
            .unwrap_or_else(|e| e.into_inner());
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        self.progress.awaiting_source.store(true, Ordering::Relaxed);
        let result = reader.read_buf(&mut buf).await;
        self.progress
            .awaiting_source
            .store(false, Ordering::Relaxed);
        self.progress.touch();
        match result {
            Ok(0) => {
                self.rest = None;
                None
            }
            Ok(_) => Some(Ok(buf.freeze())),
            Err(e) => {
                self.rest = None;
                Some(Err(e))
            }
        }
    }
}

#[async_trait]
impl ObjectStore for GcsStore {
    fn url(&self) -> String {
        match self.prefix.trim_end_matches('/') {
            "" => format!("gs://{}", self.bucket),
            prefix => format!("gs://{}/{prefix}", self.bucket),
        }
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<()> {
        validate_key(key)?;
        validate_metadata(key, metadata)?;
        self.upload_in_memory(key, body, mode, metadata).await?;
        Ok(())
    }

    async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<u64> {
        validate_key(key)?;
        validate_metadata(key, metadata)?;
        // Read up to SINGLE_SHOT_MAX + 1 bytes: a body that ends by then goes
        // up single-shot with its exact size; a longer one streams through a
        // resumable upload, which is only finalized once the body has ended
        // cleanly, so a failing body leaves nothing under the key.
        let mut head = BytesMut::new();
        let mut ended = false;
        while head.len() <= SINGLE_SHOT_MAX {
            head.reserve(READ_CHUNK);
            let n = body
                .read_buf(&mut head)
                .await
                .map_err(|e| StorageError::from_io(key, e))?;
            if n == 0 {
                ended = true;
                break;
            }
        }
        let head = head.freeze();
        let object = if ended {
            self.upload_in_memory(key, head, mode, metadata).await?
        } else {
            self.upload_resumable(key, head, body, mode, metadata)
                .await?
        };
        Ok(u64::try_from(object.size).unwrap_or(0))
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> StorageResult<GetResult> {
        validate_key(key)?;
        // The read response does not carry custom metadata: look the object
        // up first, then read exactly that generation. An overwrite in
        // between removes that generation: look again (bounded).
        let mut attempts = 0;
        let (meta, response) = loop {
            attempts += 1;
            let object = self.head_object(key).await?;
            let meta = self.to_meta(key, &object);
            let want = clamp_range(range.clone(), meta.size);
            if want.is_empty() {
                let body: ByteStream = Box::pin(tokio::io::empty());
                return Ok(GetResult { meta, body });
            }
            let clients = self.clients(key).await?;
            let read = clients
                .storage
                .read_object(self.bucket_path(), self.object_name(key))
                .set_generation(object.generation)
                .set_read_range(ReadRange::segment(want.start, want.end - want.start))
                .send();
            match tokio::time::timeout(self.options.io_timeout, read).await {
                Ok(Ok(response)) => break (meta, response),
                Ok(Err(e)) => match self.map_err(key, "read", e) {
                    StorageError::NotFound { .. } if attempts < 3 => continue,
                    err => return Err(err),
                },
                Err(_) => {
                    return Err(StorageError::Transient {
                        key: key.to_string(),
                        message: format!(
                            "GCS read from {} did not answer within {}s",
                            self.location(),
                            self.options.io_timeout.as_secs()
                        ),
                    })
                }
            }
        };
        let location = self.location();
        let io_timeout = self.options.io_timeout;
        let chunks = stream::unfold(Some(response), move |state| {
            let location = location.clone();
            async move {
                let mut response = state?;
                match tokio::time::timeout(io_timeout, response.next()).await {
                    Ok(None) => None,
                    Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(response))),
                    Ok(Some(Err(e))) => {
                        // Network trouble mid-body is worth retrying (as
                        // `Transient`, via `StorageError::from_io`).
                        let kind =
                            if e.is_io() || e.is_transport() || e.is_timeout() || e.is_connect() {
                                std::io::ErrorKind::ConnectionAborted
                            } else {
                                std::io::ErrorKind::Other
                            };
                        let message = format!("GCS read from {location} failed: {e}");
                        Some((Err(std::io::Error::new(kind, message)), None))
                    }
                    Err(_) => Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("GCS read from {location} stalled"),
                        )),
                        None,
                    )),
                }
            }
        });
        let body: ByteStream = Box::pin(tokio_util::io::StreamReader::new(Box::pin(chunks)));
        Ok(GetResult { meta, body })
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        validate_key(key)?;
        let object = self.head_object(key).await?;
        Ok(self.to_meta(key, &object))
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, StorageResult<ObjectMeta>> {
        let full = self.object_name(prefix);
        let page_size = self.options.list_page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        // State: the next page token, or None once the last page was fetched.
        let pages = stream::try_unfold(Some(String::new()), move |token| {
            let full = full.clone();
            async move {
                let Some(token) = token else {
                    return Ok(None);
                };
                let clients = self.clients(prefix).await?;
                let page = clients
                    .control
                    .list_objects()
                    .set_parent(self.bucket_path())
                    .set_prefix(full)
                    .set_page_size(page_size)
                    .set_page_token(token)
                    .send()
                    .await
                    .map_err(|e| match self.map_err(prefix, "list", e) {
                        StorageError::NotFound { .. } => self.bucket_missing(prefix),
                        other => other,
                    })?;
                let items: Vec<StorageResult<ObjectMeta>> = page
                    .objects
                    .iter()
                    .filter_map(|o| {
                        let key = o.name.strip_prefix(&self.prefix)?;
                        Some(Ok(self.to_meta(key, o)))
                    })
                    .collect();
                let next = (!page.next_page_token.is_empty()).then_some(page.next_page_token);
                Ok(Some((stream::iter(items), next)))
            }
        });
        Box::pin(
            pages
                .map(|page| match page {
                    Ok(items) => items.left_stream(),
                    Err(e) => stream::iter([Err(e)]).right_stream(),
                })
                .flatten(),
        )
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        validate_key(key)?;
        let clients = self.clients(key).await?;
        match clients
            .control
            .delete_object()
            .set_bucket(self.bucket_path())
            .set_object(self.object_name(key))
            .send()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => match self.map_err(key, "delete", e) {
                err @ StorageError::NotFound { .. } => match self.check_not_found(key, err).await {
                    StorageError::NotFound { .. } => Ok(()),
                    other => Err(other),
                },
                other => Err(other),
            },
        }
    }
}
