//! The one place storage calls are retried: a decorator that retries `Transient` errors with jittered exponential backoff.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use super::{
    ByteStream, GetResult, Metadata, ObjectMeta, ObjectStore, PutMode, StorageError, StorageResult,
};

/// How hard [`RetryingStore`] tries before giving up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means no retries.
    pub max_attempts: u32,
    /// Cap of the first backoff; each later cap doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// No retry starts a sleep that would end later than this after the first attempt began.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// Rides out an outage of a few seconds or throttling (backoffs capped
    /// at 0.2, 0.4, 0.8, 1.6, 3.2 and 4 s: about 5 s in all on average, at
    /// most 10 s) without holding up PostgreSQL's `archive_command` for more
    /// than half a minute when requests hang until their timeout; PostgreSQL
    /// retries the command itself after that.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 7,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(4),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniform pick below an exponentially growing cap, so
    /// many clients failing together do not retry together.
    fn backoff(&self, failed_attempts: u32) -> Duration {
        let doublings = failed_attempts.saturating_sub(1).min(31);
        let cap = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

/// An [`ObjectStore`] that retries the inner store's `Transient` failures.
/// `list` is passed through: a listing cannot be resumed midway portably.
#[derive(Debug)]
pub struct RetryingStore {
    inner: Arc<dyn ObjectStore>,
    policy: RetryPolicy,
}

impl RetryingStore {
    pub fn new(inner: Arc<dyn ObjectStore>, policy: RetryPolicy) -> RetryingStore {
        RetryingStore { inner, policy }
    }

    async fn retry<T, F, Fut>(&self, key: &str, attempt_once: F) -> StorageResult<T>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = StorageResult<T>> + Send,
        T: Send,
    {
        self.policy.run(key, attempt_once).await
    }
}

impl RetryPolicy {
    /// [`run`](Self::run) for a put under a key no one else writes (a
    /// backup's own objects): the first attempt is create-only, so that a
    /// clash of names is caught; a retry overwrites, since an attempt that
    /// only seemed to fail may have stored the object already.
    pub async fn run_put_of_own_key<T, F, Fut>(
        &self,
        key: &str,
        mut attempt_once: F,
    ) -> StorageResult<T>
    where
        F: FnMut(PutMode) -> Fut + Send,
        Fut: Future<Output = StorageResult<T>> + Send,
        T: Send,
    {
        let mut attempts = 0u32;
        self.run(key, || {
            attempts += 1;
            attempt_once(if attempts == 1 {
                PutMode::CreateOnly
            } else {
                PutMode::Overwrite
            })
        })
        .await
    }

    /// Runs `attempt_once` until it succeeds, fails with a non-`Transient`
    /// error, or the policy is spent. Backends use it for sub-requests they
    /// can replay themselves (an in-memory multipart part).
    pub async fn run<T, F, Fut>(&self, key: &str, mut attempt_once: F) -> StorageResult<T>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = StorageResult<T>> + Send,
        T: Send,
    {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let error = match attempt_once().await {
                Err(e @ StorageError::Transient { .. }) => e,
                done => return done,
            };
            let sleep = self.backoff(attempt);
            if attempt >= self.max_attempts || started.elapsed() + sleep > self.max_elapsed {
                return Err(exhausted(error, attempt, started.elapsed()));
            }
            tracing::warn!(key, attempt, error = %error, backoff = ?sleep, "transient storage error, retrying");
            tokio::time::sleep(sleep).await;
            attempt += 1;
        }
    }
}

/// The last transient error, saying that retrying it did not help; still
/// `Transient` so a caller (or PostgreSQL) may try again later.
fn exhausted(error: StorageError, attempts: u32, elapsed: Duration) -> StorageError {
    match error {
        StorageError::Transient { key, message } => StorageError::Transient {
            key,
            message: format!(
                "{message} (retries exhausted: gave up after {attempts} attempts over {:.1}s)",
                elapsed.as_secs_f64()
            ),
        },
        other => other,
    }
}

#[async_trait]
impl ObjectStore for RetryingStore {
    fn url(&self) -> String {
        self.inner.url()
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<()> {
        self.retry(key, || self.inner.put(key, body.clone(), mode, metadata))
            .await
    }

    /// Not retried here: a stream cannot be replayed. Callers that can
    /// re-create the body (backup parts) retry the whole part.
    async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<u64> {
        self.inner.put_stream(key, body, mode, metadata).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> StorageResult<GetResult> {
        self.retry(key, || self.inner.get(key, range.clone())).await
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        self.retry(key, || self.inner.head(key)).await
    }

    async fn get_bytes(&self, key: &str) -> StorageResult<(ObjectMeta, Bytes)> {
        self.retry(key, || self.inner.get_bytes(key)).await
    }

    async fn get_bytes_at_most(&self, key: &str, most: u64) -> StorageResult<(ObjectMeta, Bytes)> {
        self.retry(key, || self.inner.get_bytes_at_most(key, most))
            .await
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, StorageResult<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.retry(key, || self.inner.delete(key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{conformance, MemoryStore};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails its next `failures` calls with an injected error, then behaves like memory.
    #[derive(Debug)]
    struct FlakyStore {
        inner: MemoryStore,
        failures: AtomicU32,
        permanent: bool,
        calls: AtomicU32,
    }

    impl FlakyStore {
        fn new(failures: u32, permanent: bool) -> Arc<FlakyStore> {
            Arc::new(FlakyStore {
                inner: MemoryStore::new(),
                failures: AtomicU32::new(failures),
                permanent,
                calls: AtomicU32::new(0),
            })
        }

        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }

        fn fail(&self, key: &str) -> StorageResult<()> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let armed = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if !armed {
                return Ok(());
            }
            let (key, message) = (key.to_string(), format!("injected failure {call}"));
            Err(if self.permanent {
                StorageError::Permanent { key, message }
            } else {
                StorageError::Transient { key, message }
            })
        }
    }

    #[async_trait]
    impl ObjectStore for FlakyStore {
        fn url(&self) -> String {
            "flaky://".into()
        }

        async fn put(
            &self,
            key: &str,
            body: Bytes,
            mode: PutMode,
            m: &Metadata,
        ) -> StorageResult<()> {
            self.fail(key)?;
            self.inner.put(key, body, mode, m).await
        }

        async fn put_stream(
            &self,
            key: &str,
            body: ByteStream,
            mode: PutMode,
            m: &Metadata,
        ) -> StorageResult<u64> {
            self.fail(key)?;
            self.inner.put_stream(key, body, mode, m).await
        }

        async fn get(&self, key: &str, range: Option<Range<u64>>) -> StorageResult<GetResult> {
            self.fail(key)?;
            self.inner.get(key, range).await
        }

        async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
            self.fail(key)?;
            self.inner.head(key).await
        }

        fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, StorageResult<ObjectMeta>> {
            self.inner.list(prefix)
        }

        async fn delete(&self, key: &str) -> StorageResult<()> {
            self.fail(key)?;
            self.inner.delete(key).await
        }
    }

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_elapsed: Duration::from_secs(5),
        }
    }

    fn put_x(store: &RetryingStore) -> impl Future<Output = StorageResult<()>> + '_ {
        store.put("k", Bytes::from_static(b"x"), PutMode::CreateOnly, &EMPTY)
    }

    static EMPTY: Metadata = Metadata::new();

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let flaky = FlakyStore::new(3, false);
        let store = RetryingStore::new(flaky.clone(), quick(5));
        put_x(&store).await.unwrap();
        assert_eq!(flaky.calls(), 4);
        let body = store.get("k", None).await.unwrap().bytes().await.unwrap();
        assert_eq!(&body[..], b"x");
    }

    #[tokio::test]
    async fn every_operation_but_list_is_retried() {
        for op in ["get", "head", "delete"] {
            let flaky = FlakyStore::new(0, false);
            let store = RetryingStore::new(flaky.clone(), quick(5));
            put_x(&store).await.unwrap();
            flaky.failures.store(2, Ordering::SeqCst);
            match op {
                "get" => drop(store.get("k", Some(0..1)).await.unwrap()),
                "head" => drop(store.head("k").await.unwrap()),
                _ => store.delete("k").await.unwrap(),
            }
            assert_eq!(flaky.calls(), 4, "{op}");
        }
    }

    #[tokio::test]
    async fn permanent_errors_are_returned_at_once() {
        let flaky = FlakyStore::new(1, true);
        let store = RetryingStore::new(flaky.clone(), quick(5));
        let err = put_x(&store).await.unwrap_err();
        assert!(matches!(err, StorageError::Permanent { .. }), "{err}");
        assert_eq!(flaky.calls(), 1);
    }

    #[tokio::test]
    async fn not_found_and_already_exists_are_returned_at_once() {
        let flaky = FlakyStore::new(0, false);
        let store = RetryingStore::new(flaky.clone(), quick(5));
        assert!(store.get("absent", None).await.unwrap_err().is_not_found());
        assert!(store.head("absent").await.unwrap_err().is_not_found());
        put_x(&store).await.unwrap();
        let err = put_x(&store).await.unwrap_err();
        assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
        assert_eq!(flaky.calls(), 4);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let flaky = FlakyStore::new(u32::MAX, false);
        let store = RetryingStore::new(flaky.clone(), quick(4));
        let started = Instant::now();
        let err = put_x(&store).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("retries exhausted"), "{err}");
        assert!(err.to_string().contains("injected failure 4"), "{err}");
        assert_eq!(flaky.calls(), 4);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn gives_up_before_sleeping_past_max_elapsed() {
        let flaky = FlakyStore::new(u32::MAX, false);
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_elapsed: Duration::from_millis(100),
        };
        let store = RetryingStore::new(flaky.clone(), policy);
        let started = Instant::now();
        let err = put_x(&store).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("retries exhausted"), "{err}");
        assert!(flaky.calls() > 1);
        // The last sleep ends by max_elapsed; allow the scheduler some slack.
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn backoff_grows_to_its_cap_and_is_jittered() {
        let policy = RetryPolicy::default();
        for _ in 0..100 {
            assert!(policy.backoff(1) <= Duration::from_millis(200));
            assert!(policy.backoff(3) <= Duration::from_millis(800));
            assert!(policy.backoff(40) <= Duration::from_secs(4));
        }
        let picks: std::collections::BTreeSet<_> = (0..20).map(|_| policy.backoff(5)).collect();
        assert!(picks.len() > 1, "backoff is not jittered");
    }

    #[tokio::test]
    async fn conformance_through_the_decorator() {
        let inner = Arc::new(MemoryStore::new().with_page_size(7));
        conformance::run(&RetryingStore::new(inner, quick(3))).await;
    }
}
