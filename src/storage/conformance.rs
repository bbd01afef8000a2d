//! The conformance suite: the `ObjectStore` contract as executable checks, run against every backend.
//!
//! It works under a fresh random prefix, never assumes the store is empty,
//! and deletes what it wrote when it passes, so it can run against a shared
//! bucket. A violation panics naming the store, the key and what differed.

use std::collections::BTreeSet;
use std::ops::Range;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{clamp_range, ByteStream, Metadata, ObjectMeta, ObjectStore, PutMode, StorageError};

/// How many puts, gets or deletes the suite keeps in flight at once.
const PARALLEL: usize = 32;

/// Runs every check against `store`. Configure the store with a small list
/// page size (e.g. 7) so that listings span many pages.
pub async fn run(store: &dyn ObjectStore) {
    let suite = Suite {
        store,
        run: format!("walden-conformance-{:016x}/", rand::random::<u64>()),
    };
    // First, while the run's prefix holds nothing but the listing's keys.
    suite.listing().await;
    suite.round_trips().await;
    suite.metadata().await;
    suite.create_only().await;
    suite.overwrite().await;
    suite.create_only_races().await;
    suite.create_only_races_with_metadata().await;
    suite.overwrite_races().await;
    suite.absent_keys().await;
    suite.odd_keys().await;
    suite.invalid_keys().await;
    suite.streaming().await;
    suite.cleanup().await;
}

struct Suite<'a> {
    store: &'a dyn ObjectStore,
    /// This run's key prefix, ending in `/`.
    run: String,
}

impl Suite<'_> {
    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.run)
    }

    fn fail(&self, what: std::fmt::Arguments<'_>) -> ! {
        panic!("conformance violation in {}: {what}", self.store.url())
    }

    async fn put(&self, key: &str, body: impl Into<Bytes>, mode: PutMode) {
        self.put_with(key, body, mode, &Metadata::new()).await;
    }

    async fn put_with(&self, key: &str, body: impl Into<Bytes>, mode: PutMode, meta: &Metadata) {
        if let Err(e) = self.store.put(key, body.into(), mode, meta).await {
            self.fail(format_args!("put {key:?} ({mode:?}) failed: {e}"));
        }
    }

    async fn read(&self, key: &str, range: Option<Range<u64>>) -> (ObjectMeta, Bytes) {
        let got = match self.store.get(key, range.clone()).await {
            Ok(got) => got,
            Err(e) => self.fail(format_args!("get {key:?} {range:?} failed: {e}")),
        };
        let meta = got.meta.clone();
        match got.bytes().await {
            Ok(body) => (meta, body),
            Err(e) => self.fail(format_args!("reading body of {key:?} {range:?}: {e}")),
        }
    }

    async fn head(&self, key: &str) -> ObjectMeta {
        match self.store.head(key).await {
            Ok(meta) => meta,
            Err(e) => self.fail(format_args!("head {key:?} failed: {e}")),
        }
    }

    async fn list(&self, prefix: &str) -> Vec<ObjectMeta> {
        match self.store.list(prefix).try_collect().await {
            Ok(listed) => listed,
            Err(e) => self.fail(format_args!("list {prefix:?} failed: {e}")),
        }
    }

    async fn delete(&self, key: &str) {
        if let Err(e) = self.store.delete(key).await {
            self.fail(format_args!("delete {key:?} failed: {e}"));
        }
    }

    /// Compares bodies without printing megabytes.
    fn same_body(&self, got: &[u8], want: &[u8], what: std::fmt::Arguments<'_>) {
        if got == want {
            return;
        }
        let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
        self.fail(format_args!(
            "{what}: got {} bytes, want {}; first difference at {first_diff:?}",
            got.len(),
            want.len()
        ));
    }

    async fn expect_not_found(&self, key: &str) {
        match self.store.get(key, None).await {
            Err(StorageError::NotFound { .. }) => {}
            Err(e) => self.fail(format_args!(
                "get of absent {key:?}: want NotFound, got {e}"
            )),
            Ok(_) => self.fail(format_args!("get of absent {key:?} succeeded")),
        }
        match self.store.head(key).await {
            Err(StorageError::NotFound { .. }) => {}
            other => self.fail(format_args!(
                "head of absent {key:?}: want NotFound, got {other:?}"
            )),
        }
    }

    async fn put_all(&self, keys: &[String], mode: PutMode) {
        stream::iter(keys)
            .map(|key| self.put(key, key.clone(), mode))
            .buffer_unordered(PARALLEL)
            .collect::<()>()
            .await;
    }

    async fn listing(&self) {
        let keys = listing_keys(&self.key("list/"));
        self.put_all(&keys, PutMode::CreateOnly).await;
        let all: Vec<String> = keys
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let run_mid_segment = &self.run[..self.run.len() - 4];
        self.check_listing(run_mid_segment, &all).await;
        self.check_listing(&self.run, &all).await;
        for rest in [
            "list",
            "list/",
            "list/flat",
            "list/flat/",
            "list/flat/000",
            "list/flat/0123",
            "list/flat-",
            "list/fla",
            "list/flat.",
            "list/deep/",
            "list/deep/3",
            "list/deep/3/",
            "list/deep/3/0",
            "list/deep/7",
            "list/flat/02499x",
            "list/nomatch",
            "list/flat/9",
            "list/z",
            "list/flat/00000/",
        ] {
            self.check_listing(&self.key(rest), &all).await;
        }
    }

    /// Listing `prefix` yields exactly the keys of `all` that start with it, each once.
    async fn check_listing(&self, prefix: &str, all: &[String]) {
        let want: Vec<&String> = all.iter().filter(|k| k.starts_with(prefix)).collect();
        let listed = self.list(prefix).await;
        let mut seen = BTreeSet::new();
        for meta in &listed {
            if !seen.insert(&meta.key) {
                let key = &meta.key;
                self.fail(format_args!("list {prefix:?} yielded {key:?} twice"));
            }
        }
        for meta in &listed {
            if !want.contains(&&meta.key) {
                let key = &meta.key;
                self.fail(format_args!(
                    "list {prefix:?} yielded unexpected key {key:?}"
                ));
            }
            if meta.size != meta.key.len() as u64 {
                let (key, size) = (&meta.key, meta.size);
                self.fail(format_args!(
                    "list {prefix:?}: {key:?} has size {size}, want {}",
                    key.len()
                ));
            }
        }
        if listed.len() != want.len() {
            let got: BTreeSet<&String> = listed.iter().map(|m| &m.key).collect();
            let missing = want.iter().find(|k| !got.contains(**k));
            self.fail(format_args!(
                "list {prefix:?} yielded {} keys, want {}; e.g. missing {missing:?}",
                listed.len(),
                want.len()
            ));
        }
    }

    async fn round_trips(&self) {
        for (name, size) in [("empty", 0), ("one", 1), ("big", 17 << 20)] {
            let key = self.key(&format!("round-trip/{name}"));
            let body = pattern(size, size as u64);
            self.put(&key, body.clone(), PutMode::CreateOnly).await;
            let head = self.head(&key).await;
            if head.size != size as u64 || head.key != key {
                self.fail(format_args!("head {key:?} says {head:?}, want size {size}"));
            }
            let (meta, got) = self.read(&key, None).await;
            if meta.size != size as u64 {
                self.fail(format_args!(
                    "get {key:?} says size {}, want {size}",
                    meta.size
                ));
            }
            self.same_body(&got, &body, format_args!("get {key:?}"));
            self.ranged_reads(&key, &body).await;
        }
    }

    async fn ranged_reads(&self, key: &str, body: &[u8]) {
        let s = body.len() as u64;
        let mid = s / 2;
        let ranges = [
            0..0,
            0..1,
            0..s,
            mid.saturating_sub(5)..mid + 5,
            s.saturating_sub(1)..s,
            s.saturating_sub(1000)..s + 1000,
            s + 10..s + 20,
            // Reversed: selects nothing.
            Range { start: 5, end: 3 },
        ];
        for range in ranges {
            let (meta, got) = self.read(key, Some(range.clone())).await;
            if meta.size != s {
                let size = meta.size;
                self.fail(format_args!(
                    "get {key:?} {range:?} says size {size}, want the object's {s}"
                ));
            }
            let want = clamp_range(Some(range.clone()), s);
            let want = &body[want.start as usize..want.end as usize];
            self.same_body(&got, want, format_args!("get {key:?} range {range:?}"));
        }
    }

    async fn metadata(&self) {
        let key = self.key("meta/with");
        let meta = Metadata::from([
            (
                "sha256".to_string(),
                "e3b0c44298fc1c149afbf4c8996fb924".to_string(),
            ),
            ("plain-size".to_string(), "0".to_string()),
            (
                "note".to_string(),
                "printable: ~!@#$%^&*() {}[]".to_string(),
            ),
        ]);
        self.put_with(&key, "m", PutMode::CreateOnly, &meta).await;
        self.check_metadata(&key, &meta).await;

        let plain = self.key("meta/without");
        self.put(&plain, "p", PutMode::CreateOnly).await;
        self.check_metadata(&plain, &Metadata::new()).await;

        let replaced = Metadata::from([("sha256".to_string(), "00".to_string())]);
        self.put_with(&key, "m2", PutMode::Overwrite, &replaced)
            .await;
        self.check_metadata(&key, &replaced).await;
        self.put(&key, "m3", PutMode::Overwrite).await;
        self.check_metadata(&key, &Metadata::new()).await;

        let bad_key = self.key("meta/invalid");
        for (k, v) in [
            ("Upper", "x"),
            ("", "x"),
            ("under_score", "x"),
            ("ok", "new\nline"),
        ] {
            let bad = Metadata::from([(k.to_string(), v.to_string())]);
            match self
                .store
                .put(
                    &bad_key,
                    Bytes::from_static(b"x"),
                    PutMode::CreateOnly,
                    &bad,
                )
                .await
            {
                Err(StorageError::Permanent { .. }) => {}
                other => self.fail(format_args!(
                    "put with metadata {bad:?}: want Permanent, got {other:?}"
                )),
            }
        }
        self.expect_not_found(&bad_key).await;
    }

    async fn check_metadata(&self, key: &str, want: &Metadata) {
        let head = self.head(key).await.metadata;
        if &head != want {
            self.fail(format_args!(
                "head {key:?} metadata {head:?}, want {want:?}"
            ));
        }
        let (meta, _) = self.read(key, None).await;
        if &meta.metadata != want {
            let got = &meta.metadata;
            self.fail(format_args!("get {key:?} metadata {got:?}, want {want:?}"));
        }
    }

    async fn create_only(&self) {
        let key = self.key("create-only/k");
        let meta = Metadata::from([("sha256".to_string(), "aa".to_string())]);
        self.put_with(&key, "original", PutMode::CreateOnly, &meta)
            .await;
        let second = self
            .store
            .put(
                &key,
                Bytes::from_static(b"intruder!"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await;
        if !matches!(second, Err(StorageError::AlreadyExists { .. })) {
            self.fail(format_args!(
                "second create-only put of {key:?}: want AlreadyExists, got {second:?}"
            ));
        }
        let (_, got) = self.read(&key, None).await;
        self.same_body(
            &got,
            b"original",
            format_args!("{key:?} after a refused put"),
        );
        self.check_metadata(&key, &meta).await;
    }

    async fn overwrite(&self) {
        let key = self.key("overwrite/k");
        self.put(&key, "first, fairly long body", PutMode::Overwrite)
            .await;
        self.put(&key, "second", PutMode::Overwrite).await;
        let (meta, got) = self.read(&key, None).await;
        self.same_body(
            &got,
            b"second",
            format_args!("{key:?} after overwriting with a shorter body"),
        );
        if meta.size != 6 || self.head(&key).await.size != 6 {
            self.fail(format_args!("{key:?} size after overwrite: {meta:?}"));
        }
        self.put(&key, "", PutMode::Overwrite).await;
        let (_, got) = self.read(&key, None).await;
        self.same_body(
            &got,
            b"",
            format_args!("{key:?} after overwriting with nothing"),
        );
    }

    /// Contenders' bodies differ. Small ones finish together, which makes a
    /// check-then-publish window likelier to show; big ones overlap in flight.
    fn contender_body(round: usize, contender: usize) -> Bytes {
        let line = format!("round {round} contender {contender}\n");
        let size = if round.is_multiple_of(2) {
            1 << 10
        } else {
            256 << 10
        };
        Bytes::from(line.repeat(size / line.len()))
    }

    async fn create_only_races(&self) {
        const CONTENDERS: usize = 16;
        for round in 0..12 {
            let key = self.key(&format!("race/create-{round}"));
            let empty = Metadata::new();
            let puts = (0..CONTENDERS).map(|c| {
                let body = Self::contender_body(round, c);
                self.store.put(&key, body, PutMode::CreateOnly, &empty)
            });
            let results = futures::future::join_all(puts).await;
            let mut winners = Vec::new();
            for (c, result) in results.into_iter().enumerate() {
                match result {
                    Ok(()) => winners.push(c),
                    Err(StorageError::AlreadyExists { .. }) => {}
                    Err(e) => self.fail(format_args!("racing create-only put of {key:?}: {e}")),
                }
            }
            let [winner] = winners[..] else {
                self.fail(format_args!("{CONTENDERS} create-only puts of {key:?}: winners {winners:?}, want exactly one"));
            };
            let (_, got) = self.read(&key, None).await;
            let want = Self::contender_body(round, winner);
            self.same_body(
                &got,
                &want,
                format_args!("{key:?} after race won by contender {winner}"),
            );
        }
    }

    /// Racing create-only puts that carry metadata, as a retried or
    /// read-ahead WAL push racing the original does: with the same content
    /// and metadata, and with contents of one size but other checksums.
    /// The one winner's object must keep exactly its metadata.
    async fn create_only_races_with_metadata(&self) {
        const CONTENDERS: usize = 16;
        let sha = |c: usize| Metadata::from([("sha256".to_string(), format!("{c:064x}"))]);
        for round in 0..8 {
            let identical = round % 2 == 0;
            let key = self.key(&format!("race/create-meta-{round}"));
            let contender = |c: usize| {
                let c = if identical { 0 } else { c };
                // Bodies of one size: a sidecar's size check cannot tell them apart.
                (Self::contender_body(round, c % 10), sha(c))
            };
            let (key, contender) = (&key, &contender);
            let puts = (0..CONTENDERS).map(|c| async move {
                let (body, meta) = contender(c);
                self.store.put(key, body, PutMode::CreateOnly, &meta).await
            });
            let results = futures::future::join_all(puts).await;
            let mut winners = Vec::new();
            for (c, result) in results.into_iter().enumerate() {
                match result {
                    Ok(()) => winners.push(c),
                    Err(StorageError::AlreadyExists { .. }) => {}
                    Err(e) => self.fail(format_args!("racing create-only put of {key:?}: {e}")),
                }
            }
            let [winner] = winners[..] else {
                self.fail(format_args!("{CONTENDERS} create-only puts of {key:?}: winners {winners:?}, want exactly one"));
            };
            let (body, meta) = contender(winner);
            let (_, got) = self.read(key, None).await;
            self.same_body(
                &got,
                &body,
                format_args!("{key:?} after race won by contender {winner}"),
            );
            self.check_metadata(key, &meta).await;
        }
    }

    async fn overwrite_races(&self) {
        let key = self.key("race/overwrite");
        let empty = Metadata::new();
        let puts = (0..8).map(|c| {
            let body = Self::contender_body(99, c);
            self.store.put(&key, body, PutMode::Overwrite, &empty)
        });
        for result in futures::future::join_all(puts).await {
            if let Err(e) = result {
                self.fail(format_args!("racing overwrite of {key:?}: {e}"));
            }
        }
        let (_, got) = self.read(&key, None).await;
        if !(0..8).any(|c| got == Self::contender_body(99, c)) {
            self.fail(format_args!(
                "{key:?} after racing overwrites is no single writer's body (torn write?)"
            ));
        }
    }

    async fn absent_keys(&self) {
        let absent = self.key("absent/never-written");
        self.expect_not_found(&absent).await;
        self.delete(&absent).await;

        let key = self.key("absent/doomed");
        self.put(&key, "doomed", PutMode::CreateOnly).await;
        self.delete(&key).await;
        self.expect_not_found(&key).await;
        self.delete(&key).await;
        if !self.list(&self.key("absent/")).await.is_empty() {
            self.fail(format_args!("list still shows {key:?} after delete"));
        }

        // A key that is only a prefix of others, or lies below an object, is absent.
        let child = self.key("absent/parent/child");
        self.put(&child, "child", PutMode::CreateOnly).await;
        self.expect_not_found(&self.key("absent/parent")).await;
        self.delete(&self.key("absent/parent")).await;
        self.expect_not_found(&self.key("absent/parent/child/below"))
            .await;
        self.delete(&self.key("absent/parent/child/below")).await;
        let (_, got) = self.read(&child, None).await;
        self.same_body(
            &got,
            b"child",
            format_args!("{child:?} after deleting absent neighbours"),
        );
    }

    async fn odd_keys(&self) {
        let base = self.key("odd/");
        let keys: Vec<String> = [
            "with space",
            "trailing space ",
            "ünïcödé/日本語.txt",
            "emoji 🐘",
            "a+b",
            "100%",
            "100%25",
            "k=v&x=y",
            "#hash",
            "~tilde",
            "question?mark",
            "quote'\"",
            "semi;colon,comma",
            "star*",
            ".hidden/.dotfile",
            "-dash",
        ]
        .iter()
        .map(|rest| format!("{base}{rest}"))
        .collect();
        self.put_all(&keys, PutMode::CreateOnly).await;
        for key in &keys {
            let (_, got) = self.read(key, None).await;
            self.same_body(&got, key.as_bytes(), format_args!("get {key:?}"));
            let size = self.head(key).await.size;
            if size != key.len() as u64 {
                self.fail(format_args!("head {key:?} size {size}, want {}", key.len()));
            }
        }
        let mut sorted = keys.clone();
        sorted.sort();
        let listed: Vec<String> = self.list(&base).await.into_iter().map(|m| m.key).collect();
        if listed != sorted {
            self.fail(format_args!(
                "list {base:?} gave {listed:?}, want {sorted:?}"
            ));
        }
    }

    async fn invalid_keys(&self) {
        let run = &self.run;
        let long = format!("{run}{}", "x".repeat(1025));
        let keys = [
            String::new(),
            "/absolute".to_string(),
            format!("{run}double//slash"),
            format!("{run}../escape"),
            format!("{run}./dot"),
            format!("{run}dot/."),
            format!("{run}trailing/"),
            format!("{run}.walden-tmp.0.x"),
            format!("{run}control\nchar"),
            format!("{run}nul\0char"),
            long,
        ];
        for key in &keys {
            let put = self
                .store
                .put(
                    key,
                    Bytes::from_static(b"x"),
                    PutMode::Overwrite,
                    &Metadata::new(),
                )
                .await;
            let get = self.store.get(key, None).await.map(|g| g.meta);
            let head = self.store.head(key).await;
            let delete = self.store.delete(key).await;
            for (op, result) in [
                ("put", put.err()),
                ("get", get.err()),
                ("head", head.err()),
                ("delete", delete.err()),
            ] {
                if !matches!(result, Some(StorageError::Permanent { .. })) {
                    self.fail(format_args!(
                        "{op} of invalid key {key:?}: want Permanent, got {result:?}"
                    ));
                }
            }
        }
    }

    /// `put_stream`: round trips, metadata, create-only, and a body stream
    /// that fails mid-way leaving nothing behind.
    async fn streaming(&self) {
        let big: Vec<u8> = (0..17u32 << 20)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let meta = Metadata::from([("sha256".to_string(), "abc".to_string())]);
        for (name, body) in [("stream/empty", Vec::new()), ("stream/big", big.clone())] {
            let key = self.key(name);
            let stream: ByteStream = Box::pin(std::io::Cursor::new(body.clone()));
            match self
                .store
                .put_stream(&key, stream, PutMode::CreateOnly, &meta)
                .await
            {
                Ok(n) if n == body.len() as u64 => {}
                Ok(n) => self.fail(format_args!(
                    "put_stream {key:?} reported {n} bytes, wrote {}",
                    body.len()
                )),
                Err(e) => self.fail(format_args!("put_stream {key:?} failed: {e}")),
            }
            let (got_meta, got) = self.read(&key, None).await;
            self.same_body(
                &got,
                &body,
                format_args!("put_stream round trip of {key:?}"),
            );
            if self.head(&key).await.metadata != meta || got_meta.metadata != meta {
                self.fail(format_args!("put_stream lost the metadata of {key:?}"));
            }
        }
        let key = self.key("stream/big");
        let again: ByteStream = Box::pin(std::io::Cursor::new(b"other".to_vec()));
        match self
            .store
            .put_stream(&key, again, PutMode::CreateOnly, &Metadata::new())
            .await
        {
            Err(StorageError::AlreadyExists { .. }) => {}
            other => self.fail(format_args!(
                "second create-only put_stream of {key:?}: {other:?}"
            )),
        }
        let (_, got) = self.read(&key, None).await;
        self.same_body(
            &got,
            &big,
            format_args!("{key:?} after a refused put_stream"),
        );

        // Early and late: a backend may buffer the first megabytes (S3's
        // first multipart part) and only then start an upload to abort.
        for (name, good_bytes) in [
            ("stream/broken-early", 3usize << 20),
            ("stream/broken-late", 11 << 20),
        ] {
            let broken = self.key(name);
            let failing: ByteStream = Box::pin(tokio::io::AsyncReadExt::chain(
                std::io::Cursor::new(vec![7u8; good_bytes]),
                FailingReader,
            ));
            if self
                .store
                .put_stream(&broken, failing, PutMode::CreateOnly, &Metadata::new())
                .await
                .is_ok()
            {
                self.fail(format_args!(
                    "put_stream of a failing body succeeded for {broken:?}"
                ));
            }
            self.expect_not_found(&broken).await;
            if self.list(&broken).await.iter().any(|m| m.key == broken) {
                self.fail(format_args!(
                    "a failed put_stream left {broken:?} in the listing"
                ));
            }
        }
    }

    async fn cleanup(&self) {
        let keys: Vec<String> = self
            .list(&self.run)
            .await
            .into_iter()
            .map(|m| m.key)
            .collect();
        stream::iter(&keys)
            .map(|key| self.delete(key))
            .buffer_unordered(PARALLEL)
            .collect::<()>()
            .await;
        let left = self.list(&self.run).await;
        if !left.is_empty() {
            self.fail(format_args!(
                "{} objects left under {:?} after deleting all",
                left.len(),
                self.run
            ));
        }
    }
}

/// A body stream that breaks: as a network or a producer failing mid-upload.
struct FailingReader;

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::Error::other("the body stream broke")))
    }
}

/// 2500 keys spread over directories and sibling names that sort around
/// `/` (`flat-…` < `flat.x` < `flat/…` < `flat0`), so that path order and
/// key order differ.
fn listing_keys(base: &str) -> Vec<String> {
    let mut keys: Vec<String> = (0..2500)
        .map(|i| match i % 5 {
            0..=2 => format!("{base}flat/{i:05}"),
            3 => format!("{base}deep/{}/{i:05}", i % 7),
            _ => format!("{base}flat-{i:05}"),
        })
        .collect();
    for extra in ["flat.x", "flat0", "fla", "a", "deep/7x", "zz"] {
        keys.push(format!("{base}{extra}"));
    }
    keys
}

/// `len` deterministic pseudo-random bytes, so misplaced ranges show up.
fn pattern(len: usize, seed: u64) -> Bytes {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64*: cheap and good enough to make every offset distinct.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}
