//! wal-push and wal-fetch against S3 and GCS through a fault-injecting TCP proxy, and bad store settings: retries that recover, failures that are clean and fast.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use support::fault_proxy::{Fault, FaultProxy};
use support::*;

/// A repository reached directly and, for the same bucket, through proxies
/// whose faults a test flips.
struct Faulty {
    scratch: Scratch,
    direct: TestRepo,
    proxied: TestRepo,
    proxies: Vec<FaultProxy>,
}

impl Faulty {
    fn new(kind: RepoKind, test: &str) -> Option<Faulty> {
        let scratch = Scratch::new();
        let test = format!("{test}-{kind:?}");
        let (direct, proxied, proxies) = match kind {
            RepoKind::S3 => {
                let server = servers::s3_server()?;
                let proxy = FaultProxy::start(server.addr);
                let direct = TestRepo::s3_via(server, &server.endpoint, &test);
                let proxied = direct.with_args(&["--s3-endpoint", &proxy.url(), "--s3-path-style"]);
                (direct, proxied, vec![proxy])
            }
            RepoKind::Gcs => {
                let server = servers::gcs_server()?;
                let http = FaultProxy::start(server.addr);
                let grpc = FaultProxy::start(server.grpc_addr);
                let direct =
                    TestRepo::gcs_via(server, &server.endpoint, &server.grpc_endpoint, &test);
                let proxied = direct.with_args(&[
                    "--gcs-endpoint",
                    &http.url(),
                    "--gcs-grpc-endpoint",
                    &grpc.url(),
                ]);
                (direct, proxied, vec![http, grpc])
            }
            RepoKind::Local => unreachable!("no proxy in front of a directory"),
        };
        Some(Faulty {
            scratch,
            direct,
            proxied,
            proxies,
        })
    }

    fn set(&self, fault: Fault) {
        for proxy in &self.proxies {
            proxy.set(fault);
        }
    }

    fn resets(&self) -> u64 {
        self.proxies.iter().map(|p| p.stats().reset).sum()
    }

    /// Writes the fixture segment to pg_wal-like scratch space; returns its name and bytes.
    fn segment(&self) -> (String, Vec<u8>) {
        let (name, bytes) = fixture_segment(None);
        std::fs::write(self.scratch.path().join(&name), &bytes).unwrap();
        (name, bytes)
    }

    /// wal-push, uncompressed so the object is a full 16 MiB on the wire.
    fn push(&self, repo: &TestRepo, name: &str, extra: &[&str]) -> (Output, Duration) {
        let started = Instant::now();
        let out = run(repo
            .apply(walden().current_dir(self.scratch.path()).arg("wal-push"))
            .args(["--compression", "none", "--io-timeout", "3"])
            .args(extra)
            .arg(self.scratch.path().join(name)));
        (out, started.elapsed())
    }

    fn fetch(&self, repo: &TestRepo, name: &str, extra: &[&str]) -> (Output, Duration) {
        let started = Instant::now();
        let out = run(repo
            .apply(walden().arg("wal-fetch"))
            .args(["--io-timeout", "3"])
            .args(extra)
            .arg(name)
            .arg(self.scratch.path().join("fetched")));
        (out, started.elapsed())
    }

    fn fetched(&self) -> Vec<u8> {
        std::fs::read(self.scratch.path().join("fetched")).unwrap()
    }
}

fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", stderr(out));
}

/// Connections reset mid-upload: wal-push retries and the archive holds
/// exactly the segment; a reset mid-download: wal-fetch retries too.
fn resets_are_retried(kind: RepoKind) {
    let Some(f) = Faulty::new(kind, "resets") else {
        return;
    };
    let (name, bytes) = f.segment();
    f.set(Fault::ResetAfter {
        bytes: 1 << 20,
        times: Some(2),
    });
    let (out, took) = f.push(&f.proxied, &name, &[]);
    assert_ok(&out, "wal-push through resets");
    assert!(
        f.resets() >= 1,
        "the proxy reset nothing: the test proved nothing"
    );
    eprintln!("{kind:?}: wal-push with 2 resets took {took:?}");

    let resets_before = f.resets();
    f.set(Fault::ResetAfter {
        bytes: 4 << 20,
        times: Some(1),
    });
    let (out, took) = f.fetch(&f.proxied, &name, &[]);
    assert_ok(&out, "wal-fetch through a reset");
    assert!(f.resets() > resets_before, "no reset during the fetch");
    assert!(
        f.fetched() == bytes,
        "fetched bytes differ from the segment"
    );
    eprintln!("{kind:?}: wal-fetch with 1 reset took {took:?}");
}

#[test]
fn resets_are_retried_s3() {
    resets_are_retried(RepoKind::S3);
}

#[test]
fn resets_are_retried_gcs() {
    resets_are_retried(RepoKind::Gcs);
}

/// A store that is down: wal-push fails (not above 125), quickly, leaving
/// nothing; wal-fetch exits above 125 so PostgreSQL cannot take the outage
/// for the end of the archive; both work once the store is back.
fn outage_fails_cleanly_then_recovers(kind: RepoKind) {
    let Some(f) = Faulty::new(kind, "outage") else {
        return;
    };
    let (name, bytes) = f.segment();
    f.set(Fault::Refuse);
    let (out, took) = f.push(&f.proxied, &name, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "wal-push while down: {}",
        stderr(&out)
    );
    assert!(
        took < Duration::from_secs(30),
        "wal-push took {took:?} to give up"
    );
    assert!(
        f.direct.keys("wal/00000001").is_empty(),
        "nothing archived while down"
    );

    f.set(Fault::None);
    let (out, _) = f.push(&f.proxied, &name, &[]);
    assert_ok(&out, "wal-push after the outage");

    f.set(Fault::Refuse);
    let (out, took) = f.fetch(&f.proxied, &name, &[]);
    assert_eq!(
        out.status.code(),
        Some(255),
        "wal-fetch while down: {}",
        stderr(&out)
    );
    assert!(
        took < Duration::from_secs(30),
        "wal-fetch took {took:?} to give up"
    );
    eprintln!("{kind:?}: wal-fetch gave up on a refusing store after {took:?}");

    f.set(Fault::Stall);
    let (out, took) = f.fetch(&f.proxied, &name, &[]);
    assert_eq!(
        out.status.code(),
        Some(255),
        "wal-fetch while stalled: {}",
        stderr(&out)
    );
    eprintln!("{kind:?}: wal-fetch gave up on a stalled store after {took:?}");

    f.set(Fault::None);
    let (out, _) = f.fetch(&f.proxied, "000000010000000000000002", &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "absent segment: {}",
        stderr(&out)
    );
    let (out, _) = f.fetch(&f.proxied, &name, &[]);
    assert_ok(&out, "wal-fetch after the outage");
    assert!(f.fetched() == bytes);
}

#[test]
fn outage_fails_cleanly_then_recovers_s3() {
    outage_fails_cleanly_then_recovers(RepoKind::S3);
}

#[test]
fn outage_fails_cleanly_then_recovers_gcs() {
    outage_fails_cleanly_then_recovers(RepoKind::Gcs);
}

/// A stall mid-upload: wal-push gives up within its timeouts (retried a few
/// times), and nothing partial is visible.
fn stalled_upload_fails_cleanly(kind: RepoKind) {
    let Some(f) = Faulty::new(kind, "stall") else {
        return;
    };
    let (name, _) = f.segment();
    f.set(Fault::Stall);
    let (out, took) = f.push(&f.proxied, &name, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "wal-push while stalled: {}",
        stderr(&out)
    );
    assert!(
        took < Duration::from_secs(90),
        "wal-push took {took:?} to give up"
    );
    eprintln!("{kind:?}: wal-push gave up on a stalled store after {took:?}");
    f.set(Fault::None);
    assert!(f.direct.keys("wal/00000001").is_empty(), "nothing partial");
}

#[test]
fn stalled_upload_fails_cleanly_s3() {
    stalled_upload_fails_cleanly(RepoKind::S3);
}

#[test]
fn stalled_upload_fails_cleanly_gcs() {
    stalled_upload_fails_cleanly(RepoKind::Gcs);
}

/// Bad store settings get a clear message in seconds, and wal-fetch never
/// reads them as "segment absent" (exit 1), which would end recovery early.
fn bad_settings_fail_fast_and_clearly(kind: RepoKind) {
    let Some(f) = Faulty::new(kind, "bad") else {
        return;
    };
    let (name, _) = f.segment();
    let unknown_bucket = match kind {
        RepoKind::S3 => f.direct.clone().with_url("s3://no-such-bucket-walden/x"),
        _ => f.direct.clone().with_url("gs://no-such-bucket-walden/x"),
    };
    let (out, took) = f.push(&unknown_bucket, &name, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let (out, _) = f.fetch(&unknown_bucket, &name, &[]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));

    let scheme = if kind == RepoKind::S3 { "s3" } else { "gs" };
    let no_bucket = f.direct.clone().with_url(&format!("{scheme}://"));
    let (out, _) = f.push(&no_bucket, &name, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no bucket"), "{}", stderr(&out));

    // An HTTP server that is not a store at all: the other emulator.
    let not_a_store = match kind {
        RepoKind::S3 => {
            let Some(gcs) = servers::gcs_server() else {
                return;
            };
            f.direct
                .with_args(&["--s3-endpoint", &gcs.endpoint, "--s3-path-style"])
        }
        _ => {
            let Some(s3) = servers::s3_server() else {
                return;
            };
            f.direct.with_args(&[
                "--gcs-endpoint",
                &s3.endpoint,
                "--gcs-grpc-endpoint",
                &s3.endpoint,
            ])
        }
    };
    let (out, took) = f.push(&not_a_store, &name, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        took < Duration::from_secs(20),
        "took {took:?}: {}",
        stderr(&out)
    );
    let (out, _) = f.fetch(&not_a_store, &name, &[]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));

    if kind == RepoKind::S3 {
        let mut wrong_key = f.direct.clone();
        for (k, v) in &mut wrong_key.env {
            if k == "AWS_SECRET_ACCESS_KEY" {
                *v = "not-the-secret".into();
            }
        }
        let (out, took) = f.push(&wrong_key, &name, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("access denied"), "{}", stderr(&out));
        assert!(took < Duration::from_secs(10), "took {took:?}");
        let (out, _) = f.fetch(&wrong_key, &name, &[]);
        assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    }
}

#[test]
fn bad_settings_fail_fast_and_clearly_s3() {
    bad_settings_fail_fast_and_clearly(RepoKind::S3);
}

#[test]
fn bad_settings_fail_fast_and_clearly_gcs() {
    bad_settings_fail_fast_and_clearly(RepoKind::Gcs);
}
