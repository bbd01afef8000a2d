//! An in-memory store with the full contract, for unit tests of the logic above storage.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Bound, Range};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use super::{
    clamp_range, validate_key, validate_metadata, GetResult, Metadata, ObjectMeta, ObjectStore,
    PutMode, StorageError, StorageResult,
};

const DEFAULT_PAGE_SIZE: usize = 1000;

type Objects = BTreeMap<String, (Bytes, Metadata, SystemTime)>;

/// An [`ObjectStore`] holding everything in a map; nothing survives the process.
pub struct MemoryStore {
    objects: Mutex<Objects>,
    page_size: usize,
    /// Every request made, e.g. `GET wal/…` (a listing counts one per page).
    requests: Mutex<Vec<String>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore {
            objects: Mutex::new(BTreeMap::new()),
            page_size: DEFAULT_PAGE_SIZE,
            requests: Mutex::new(Vec::new()),
        }
    }

    /// The requests made since the last call, as `METHOD key` (`LIST
    /// prefix` for each page of a listing), so tests can count round trips.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, method: &str, key: &str) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{method} {key}"));
    }

    /// Sets how many objects `list` takes per lock (at least 1), so tests
    /// can exercise listings that span pages.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    fn objects(&self) -> MutexGuard<'_, Objects> {
        // A panic elsewhere cannot leave the map half-updated: every change is one insert or remove.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn describe(&self, key: &str) -> StorageResult<(Bytes, ObjectMeta)> {
        let objects = self.objects();
        let (body, metadata, modified) =
            objects.get(key).ok_or_else(|| StorageError::NotFound {
                key: key.to_string(),
            })?;
        let meta = ObjectMeta {
            key: key.to_string(),
            size: body.len() as u64,
            last_modified: Some(*modified),
            metadata: metadata.clone(),
        };
        Ok((body.clone(), meta))
    }

    /// The next page of keys starting with `prefix` after `after` (exclusive).
    fn page(&self, prefix: &str, after: Option<&str>) -> Vec<ObjectMeta> {
        let start = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Included(prefix),
        };
        self.objects()
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(self.page_size)
            .map(|(key, (body, _, modified))| ObjectMeta {
                key: key.clone(),
                size: body.len() as u64,
                last_modified: Some(*modified),
                metadata: Metadata::new(),
            })
            .collect()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl fmt::Debug for MemoryStore {
    // Bodies can be megabytes: show the shape, not the content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("objects", &self.objects().len())
            .field("page_size", &self.page_size)
            .finish()
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn url(&self) -> String {
        "memory://".to_string()
    }

    async fn put_stream(
        &self,
        key: &str,
        mut body: super::ByteStream,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<u64> {
        validate_key(key)?;
        let mut buf = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut body, &mut buf)
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        let len = buf.len() as u64;
        self.put(key, Bytes::from(buf), mode, metadata).await?;
        Ok(len)
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
        self.record("PUT", key);
        let mut objects = self.objects();
        if mode == PutMode::CreateOnly && objects.contains_key(key) {
            return Err(StorageError::AlreadyExists {
                key: key.to_string(),
            });
        }
        objects.insert(key.to_string(), (body, metadata.clone(), SystemTime::now()));
        Ok(())
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> StorageResult<GetResult> {
        validate_key(key)?;
        self.record("GET", key);
        let (body, meta) = self.describe(key)?;
        let range = clamp_range(range, meta.size);
        let body = body.slice(range.start as usize..range.end as usize);
        Ok(GetResult {
            meta,
            body: Box::pin(std::io::Cursor::new(body)),
        })
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        validate_key(key)?;
        self.record("HEAD", key);
        self.describe(key).map(|(_, meta)| meta)
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, StorageResult<ObjectMeta>> {
        // The cursor is the last key yielded, so puts and deletes between
        // pages neither repeat nor skip the keys that stay.
        stream::unfold(Some(None::<String>), move |cursor| async move {
            let after = cursor?;
            self.record("LIST", prefix);
            let page = self.page(prefix, after.as_deref());
            let last = page.last()?.key.clone();
            let next = (page.len() == self.page_size).then_some(Some(last));
            Some((page, next))
        })
        .flat_map(|page| stream::iter(page.into_iter().map(Ok)))
        .boxed()
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        validate_key(key)?;
        self.record("DELETE", key);
        self.objects().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::conformance;

    #[tokio::test]
    async fn conformance() {
        conformance::run(&MemoryStore::new().with_page_size(7)).await;
    }

    #[tokio::test]
    async fn default_page_size_lists_everything() {
        let store = MemoryStore::default();
        for i in 0..1500 {
            store
                .put(
                    &format!("k/{i:04}"),
                    Bytes::new(),
                    PutMode::CreateOnly,
                    &Metadata::new(),
                )
                .await
                .unwrap();
        }
        let keys: Vec<String> = store.list("k/").map(|r| r.unwrap().key).collect().await;
        let expected: Vec<String> = (0..1500).map(|i| format!("k/{i:04}")).collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn debug_does_not_dump_bodies() {
        let shown = format!("{:?}", MemoryStore::new());
        assert_eq!(shown, "MemoryStore { objects: 0, page_size: 1000 }");
    }
}
