//! Amazon S3 and S3-compatible stores (`s3://bucket/prefix`) through `aws-sdk-s3`.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, FuturesUnordered, StreamExt, TryStreamExt};
use tokio::io::AsyncReadExt;
use tokio::sync::OnceCell;

use super::{
    clamp_range, validate_key, validate_metadata, ByteStream, GetResult, Metadata, ObjectMeta,
    ObjectStore, PutMode, RetryPolicy, StorageError, StorageResult,
};

/// Objects up to this size go in one PUT; larger streams go multipart with
/// parts of this size to start with (S3's minimum part is 5 MiB).
const FIRST_PART_SIZE: usize = 8 << 20;
/// The part size doubles every this many parts, so that S3's 10 000 parts
/// cover 8 TiB (more than S3's 5 TiB object limit) while objects of the usual
/// size keep 8 MiB parts and small buffers.
const PARTS_PER_SIZE_STEP: usize = 1000;
/// Bytes of parts in flight per upload, whatever the part size (memory bound).
const MULTIPART_BUFFER: usize = 32 << 20;
/// S3's limit on parts per upload.
const MAX_PARTS: i32 = 10_000;

/// How to reach the S3 service. Credentials come from the standard AWS chain
/// (environment, profile, web identity, container and instance metadata).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// An S3-compatible service instead of AWS, e.g. `http://127.0.0.1:8333`.
    pub endpoint: Option<String>,
    /// The bucket's region; from the AWS chain when absent (`us-east-1` for a custom endpoint).
    pub region: Option<String>,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint`.
    pub path_style: bool,
    /// The profile of `~/.aws/config` to take credentials and region from.
    pub profile: Option<String>,
    /// Send and check checksums only when an operation requires them: for
    /// S3-compatible stores that reject aws-chunked uploads with trailing checksums.
    pub checksums_when_required: bool,
    /// Storage class for new objects, e.g. `STANDARD_IA`.
    pub storage_class: Option<String>,
    /// Server-side encryption: `AES256` or `aws:kms`.
    pub sse: Option<String>,
    /// The KMS key for `aws:kms`; the bucket's default key when absent.
    pub sse_kms_key_id: Option<String>,
    /// A request that makes no progress for this long fails as transient.
    pub io_timeout: Duration,
    /// Keys per listing page (S3 allows up to 1000, the default).
    pub list_page_size: Option<i32>,
    /// Retries of one multipart part, which the store can replay from memory.
    pub part_retry: RetryPolicy,
}

/// An S3 bucket, or a prefix in one. The SDK's own retries are off: transient
/// failures surface as [`StorageError::Transient`] for the retry decorator.
#[derive(Debug)]
pub struct S3Store {
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
    options: S3Options,
    /// Built on first use, so a command that never touches the store pays nothing.
    client: OnceCell<Client>,
    /// Set once the bucket is known to exist: a 404 from HEAD cannot tell a
    /// missing key from a missing bucket, and only the first may read as "absent".
    bucket_exists: OnceCell<()>,
}

impl S3Store {
    pub fn new(bucket: &str, prefix: &str, options: S3Options) -> S3Store {
        let prefix = prefix.trim_matches('/');
        S3Store {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            options,
            client: OnceCell::new(),
            bucket_exists: OnceCell::new(),
        }
    }

    async fn client(&self) -> &Client {
        self.client.get_or_init(|| self.build_client()).await
    }

    async fn build_client(&self) -> Client {
        let o = &self.options;
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &o.profile {
            loader = loader.profile_name(profile);
        }
        // A custom endpoint rarely cares about the region, and asking the
        // chain would probe instance metadata for seconds off AWS.
        let region = o
            .region
            .clone()
            .or_else(|| o.endpoint.as_ref().map(|_| "us-east-1".to_string()));
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        let shared = loader.load().await;
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(o.io_timeout.min(Duration::from_secs(10)))
            // From the request's start to the first byte of the answer, so it
            // includes sending the body: parts are at most tens of MiB.
            .read_timeout(o.io_timeout.max(Duration::from_secs(1)) * 2)
            .build();
        // Bodies are sent from memory, so a throttled backup never looks
        // stalled; a stalled connection fails after the grace period.
        let stall = StalledStreamProtectionConfig::enabled()
            .grace_period(o.io_timeout)
            .build();
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(o.path_style)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .timeout_config(timeouts)
            .stalled_stream_protection(stall);
        if let Some(endpoint) = &o.endpoint {
            config = config.endpoint_url(endpoint);
        }
        if o.checksums_when_required {
            config = config
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        Client::from_conf(config.build())
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn location(&self) -> String {
        match &self.options.endpoint {
            Some(endpoint) => format!("bucket {:?} at {endpoint}", self.bucket),
            None => format!("bucket {:?}", self.bucket),
        }
    }

    /// Turns an SDK failure into a storage error kind, with what an operator needs to fix it.
    fn error<E>(&self, key: &str, err: SdkError<E>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let key = key.to_string();
        let transient = |message: String| StorageError::Transient {
            key: key.clone(),
            message,
        };
        let permanent = |message: String| StorageError::Permanent {
            key: key.clone(),
            message,
        };
        let detail = DisplayErrorContext(&err).to_string();
        match &err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                let code = ctx.err().code().unwrap_or("");
                match (status, code) {
                    (_, "NoSuchBucket") => permanent(format!(
                        "{} does not exist; create it or fix the repository URL",
                        self.location()
                    )),
                    (404, _) => StorageError::NotFound { key },
                    (409 | 412, _) => StorageError::AlreadyExists { key },
                    (403, _) | (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch") => permanent(format!(
                        "access denied by {} ({code}): check the credentials (AWS_ACCESS_KEY_ID, profile, role) and the bucket policy",
                        self.location()
                    )),
                    (301, _) | (_, "PermanentRedirect" | "AuthorizationHeaderMalformed") => permanent(format!(
                        "{} is in another region: set --s3-region ({detail})",
                        self.location()
                    )),
                    (408 | 429 | 500..=599, _)
                    | (_, "SlowDown" | "RequestTimeout" | "InternalError") => {
                        transient(format!("{} answered {status} {code}", self.location()))
                    }
                    _ => permanent(format!("{} answered {status}: {detail}", self.location())),
                }
            }
            SdkError::TimeoutError(_) => transient(format!("{} timed out", self.location())),
            SdkError::DispatchFailure(failure) if failure.is_user() => {
                permanent(format!("request to {} not sent: {detail}", self.location()))
            }
            SdkError::DispatchFailure(_) => {
                transient(format!("cannot reach {}: {detail}", self.location()))
            }
            SdkError::ResponseError(ctx) if ctx.raw().status().is_server_error() => {
                transient(format!("bad answer from {}: {detail}", self.location()))
            }
            SdkError::ResponseError(_) => permanent(format!(
                "{} did not answer like an S3 service: {detail}",
                self.location()
            )),
            _ => permanent(format!("{}: {detail}", self.location())),
        }
    }

    /// A HEAD 404 has no body saying which was missing: the key, or the bucket.
    async fn not_found(&self, key: &str) -> StorageError {
        let checked = self
            .bucket_exists
            .get_or_try_init(|| async {
                match self
                    .client()
                    .await
                    .head_bucket()
                    .bucket(&self.bucket)
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(SdkError::ServiceError(ctx)) if ctx.raw().status().as_u16() == 404 => {
                        Err(StorageError::Permanent {
                            key: key.to_string(),
                            message: format!(
                                "{} does not exist; create it or fix the repository URL",
                                self.location()
                            ),
                        })
                    }
                    Err(e) => Err(self.error(key, e)),
                }
            })
            .await;
        match checked {
            Ok(()) => StorageError::NotFound {
                key: key.to_string(),
            },
            Err(e) => e,
        }
    }

    async fn put_once(
        &self,
        key: &str,
        body: Bytes,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<()> {
        let o = &self.options;
        let request = self
            .client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .content_length(body.len() as i64)
            .body(SdkBody::from(body))
            .set_metadata(Some(sdk_metadata(metadata)))
            .set_if_none_match(create_only_condition(mode))
            .set_storage_class(o.storage_class.as_deref().map(Into::into))
            .set_server_side_encryption(o.sse.as_deref().map(ServerSideEncryption::from))
            .set_ssekms_key_id(o.sse_kms_key_id.clone());
        request
            .send()
            .await
            .map_err(|e| self.error(key, e))
            .map(|_| ())
    }

    /// Uploads `first` and the rest of `body` as a multipart upload, aborting
    /// it on any failure so that no parts are left behind (and billed).
    async fn put_multipart(
        &self,
        key: &str,
        first: Bytes,
        mut body: ByteStream,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<u64> {
        let o = &self.options;
        let client = self.client().await;
        let full_key = self.full_key(key);
        let created = client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full_key)
            .set_metadata(Some(sdk_metadata(metadata)))
            .set_storage_class(o.storage_class.as_deref().map(Into::into))
            .set_server_side_encryption(o.sse.as_deref().map(ServerSideEncryption::from))
            .set_ssekms_key_id(o.sse_kms_key_id.clone())
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let uploaded = self.upload_parts(key, &upload_id, first, &mut body).await;
        let result = match uploaded {
            Ok((parts, total)) => client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&full_key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .set_if_none_match(create_only_condition(mode))
                .send()
                .await
                .map(|_| total)
                .map_err(|e| self.error(key, e)),
            Err(e) => Err(e),
        };
        if result.is_err() {
            let aborted = client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&full_key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = aborted {
                tracing::warn!(key, upload_id, error = %self.error(key, e), "could not abort a failed multipart upload; a bucket lifecycle rule for incomplete uploads will remove its parts");
            }
        }
        result
    }

    /// Reads parts from `body` and uploads them while reading the next, with
    /// at most [`MULTIPART_BUFFER`] bytes in flight; each part is retried
    /// from its in-memory copy.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        first: Bytes,
        body: &mut ByteStream,
    ) -> StorageResult<(Vec<CompletedPart>, u64)> {
        let mut in_flight = FuturesUnordered::new();
        let mut in_flight_bytes = 0usize;
        let mut done = Vec::new();
        let mut total = 0u64;
        let mut number = 1i32;
        let mut pending = Some(first);
        while let Some(part) = pending.take() {
            while !in_flight.is_empty() && in_flight_bytes + part.len() > MULTIPART_BUFFER {
                if let Some(finished) = in_flight.next().await {
                    let (completed, len): (CompletedPart, usize) = finished?;
                    in_flight_bytes -= len;
                    done.push(completed);
                }
            }
            if number > MAX_PARTS {
                return Err(StorageError::Permanent {
                    key: key.to_string(),
                    message: format!("object larger than S3's {MAX_PARTS} multipart parts"),
                });
            }
            total += part.len() as u64;
            in_flight_bytes += part.len();
            in_flight.push(self.upload_part(key, upload_id, number, part));
            number += 1;
            // Keep the uploads going while the next part is read.
            let read = read_up_to(body, part_size(number as usize));
            tokio::pin!(read);
            let chunk = loop {
                tokio::select! {
                    chunk = &mut read => break chunk.map_err(|e| StorageError::from_io(key, e))?,
                    Some(finished) = in_flight.next() => {
                        let (completed, len) = finished?;
                        in_flight_bytes -= len;
                        done.push(completed);
                    }
                }
            };
            if !chunk.is_empty() {
                pending = Some(chunk);
            }
        }
        while let Some(finished) = in_flight.next().await {
            done.push(finished?.0);
        }
        done.sort_by_key(|part| part.part_number());
        Ok((done, total))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        part: Bytes,
    ) -> StorageResult<(CompletedPart, usize)> {
        let client = self.client().await;
        let full_key = self.full_key(key);
        let len = part.len();
        let etag = self
            .options
            .part_retry
            .run(key, || {
                let request = client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&full_key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(len as i64)
                    .body(SdkBody::from(part.clone()));
                async move {
                    request
                        .send()
                        .await
                        .map(|out| out.e_tag().unwrap_or_default().to_string())
                        .map_err(|e| self.error(key, e))
                }
            })
            .await?;
        let completed = CompletedPart::builder()
            .part_number(number)
            .e_tag(etag)
            .build();
        Ok((completed, len))
    }

    async fn head_object(&self, key: &str) -> StorageResult<ObjectMeta> {
        match self
            .client()
            .await
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(out) => Ok(ObjectMeta {
                key: key.to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                last_modified: out.last_modified().and_then(to_system_time),
                metadata: our_metadata(out.metadata()),
            }),
            Err(e) => match self.error(key, e) {
                StorageError::NotFound { .. } => Err(self.not_found(key).await),
                other => Err(other),
            },
        }
    }
}

/// The size of part `number` (1-based): doubling every [`PARTS_PER_SIZE_STEP`] parts.
fn part_size(number: usize) -> usize {
    let step = (number.saturating_sub(1) / PARTS_PER_SIZE_STEP).min(10);
    FIRST_PART_SIZE << step
}

/// Reads until `want` bytes or the end of `body`.
async fn read_up_to(body: &mut ByteStream, want: usize) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(want);
    while buf.len() < want {
        let read = (&mut *body)
            .take((want - buf.len()) as u64)
            .read_buf(&mut buf)
            .await?;
        if read == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

fn create_only_condition(mode: PutMode) -> Option<String> {
    match mode {
        PutMode::CreateOnly => Some("*".to_string()),
        PutMode::Overwrite => None,
    }
}

fn sdk_metadata(metadata: &Metadata) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn our_metadata(metadata: Option<&HashMap<String, String>>) -> Metadata {
    metadata
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn to_system_time(t: &aws_sdk_s3::primitives::DateTime) -> Option<SystemTime> {
    SystemTime::try_from(*t).ok()
}

/// The object's full size from a `Content-Range: bytes a-b/size` header.
fn total_from_content_range(content_range: &str) -> Option<u64> {
    content_range.rsplit_once('/')?.1.parse().ok()
}

#[async_trait]
impl ObjectStore for S3Store {
    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
            .trim_end_matches('/')
            .to_string()
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
        self.put_once(key, body, mode, metadata).await
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
        let first = read_up_to(&mut body, FIRST_PART_SIZE)
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        if first.len() < FIRST_PART_SIZE {
            let len = first.len() as u64;
            // Replayable from memory: retry like a plain put.
            self.options
                .part_retry
                .run(key, || self.put_once(key, first.clone(), mode, metadata))
                .await?;
            return Ok(len);
        }
        if mode == PutMode::CreateOnly {
            // Fail early rather than upload gigabytes; the completion's
            // If-None-Match still decides a race.
            match self.head_object(key).await {
                Ok(_) => {
                    return Err(StorageError::AlreadyExists {
                        key: key.to_string(),
                    })
                }
                Err(StorageError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.put_multipart(key, first, body, mode, metadata).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> StorageResult<GetResult> {
        validate_key(key)?;
        if let Some(r) = &range {
            if r.start >= r.end {
                let meta = self.head_object(key).await?;
                return Ok(empty_body(meta));
            }
        }
        let request = self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .set_range(
                range
                    .as_ref()
                    .map(|r| format!("bytes={}-{}", r.start, r.end - 1)),
            );
        let out = match request.send().await {
            Ok(out) => out,
            Err(SdkError::ServiceError(ctx)) if ctx.raw().status().as_u16() == 416 => {
                // The range starts past the end: an empty read, as on every backend.
                let meta = self.head_object(key).await?;
                let clamped = clamp_range(range, meta.size);
                debug_assert!(clamped.is_empty());
                return Ok(empty_body(meta));
            }
            Err(e) => return Err(self.error(key, e)),
        };
        let size = match out.content_range() {
            Some(content_range) => {
                total_from_content_range(content_range).ok_or_else(|| StorageError::Permanent {
                    key: key.to_string(),
                    message: format!("unreadable Content-Range {content_range:?}"),
                })?
            }
            None => out.content_length().unwrap_or(0).max(0) as u64,
        };
        let meta = ObjectMeta {
            key: key.to_string(),
            size,
            last_modified: out.last_modified().and_then(to_system_time),
            metadata: our_metadata(out.metadata()),
        };
        let body: ByteStream = Box::pin(BodyErrorsAreTransient(out.body.into_async_read()));
        Ok(GetResult { meta, body })
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        validate_key(key)?;
        self.head_object(key).await
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, StorageResult<ObjectMeta>> {
        let full_prefix = self.full_key(prefix);
        // State: the continuation token of the next page, None once done.
        let pages = stream::try_unfold(Some(None::<String>), move |state| {
            let full_prefix = full_prefix.clone();
            async move {
                let Some(token) = state else {
                    return Ok(None);
                };
                let out = self
                    .client()
                    .await
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&full_prefix)
                    .set_max_keys(self.options.list_page_size)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| self.error(prefix, e))?;
                let next = match (out.is_truncated(), out.next_continuation_token()) {
                    (Some(true), Some(token)) => Some(Some(token.to_string())),
                    _ => None,
                };
                let objects: Vec<StorageResult<ObjectMeta>> = out
                    .contents()
                    .iter()
                    .filter_map(|object| {
                        let key = object.key()?.strip_prefix(&self.prefix)?;
                        Some(Ok(ObjectMeta {
                            key: key.to_string(),
                            size: object.size().unwrap_or(0).max(0) as u64,
                            last_modified: object.last_modified().and_then(to_system_time),
                            metadata: Metadata::new(),
                        }))
                    })
                    .collect();
                Ok(Some((stream::iter(objects), next)))
            }
        });
        pages.try_flatten().boxed()
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        validate_key(key)?;
        self.client()
            .await
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.error(key, e))
            .map(|_| ())
    }
}

/// A response body whose read errors are connection trouble (a reset, a
/// stall): given an I/O kind that `StorageError::from_io` retries. Corrupt
/// data is caught later, by checksums.
struct BodyErrorsAreTransient<R>(R);

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for BodyErrorsAreTransient<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0)
            .poll_read(cx, buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionAborted, e))
    }
}

fn empty_body(meta: ObjectMeta) -> GetResult {
    GetResult {
        meta,
        body: Box::pin(tokio::io::empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_cover_s3_objects_in_10000_parts() {
        assert_eq!(part_size(1), 8 << 20);
        assert_eq!(part_size(1000), 8 << 20);
        assert_eq!(part_size(1001), 16 << 20);
        let covered: u64 = (1..=10_000).map(|n| part_size(n) as u64).sum();
        assert!(covered > 5 << 40, "10 000 parts cover only {covered} bytes");
        assert!((1..=10_000).all(|n| part_size(n) >= 5 << 20));
    }

    #[test]
    fn content_range_total() {
        assert_eq!(total_from_content_range("bytes 0-9/100"), Some(100));
        assert_eq!(total_from_content_range("bytes */100"), Some(100));
        assert_eq!(total_from_content_range("garbage"), None);
    }
}
