//! Test helpers: the built binary, scratch directories PostgreSQL can use, and real PostgreSQL clusters killed by PID.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use walden::pg::server::{PgBin, RunAs, Server};

pub mod fake_pgdata;
pub mod fault_proxy;
pub mod hostile;
pub mod network;
pub mod servers;
pub mod site;
pub mod tls;

/// The walden binary cargo built for these tests.
pub fn walden_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_walden"))
}

/// A walden command with a clean environment (no WALDEN_* from the caller).
pub fn walden() -> Command {
    let mut cmd = Command::new(walden_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("WALDEN_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs a walden command, returning its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("walden runs")
}

/// The exit code of a process that exited (not killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A scratch directory that the `postgres` user can use too.
pub struct Scratch {
    dir: tempfile::TempDir,
    pub run_as: RunAs,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("walden-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let run_as = RunAs::detect().expect("an account to run PostgreSQL as");
        // walden runs as the PostgreSQL account in some tests and creates
        // directories here (restore targets), as an operator's would.
        run_as.give(dir.path()).unwrap();
        Scratch { dir, run_as }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A subdirectory owned by the PostgreSQL account.
    pub fn pg_dir(&self, name: &str) -> PathBuf {
        let path = self.path().join(name);
        self.run_as.make_dir(&path).unwrap();
        path
    }

    /// A copy of the walden binary that the PostgreSQL account can execute
    /// wherever the build directory lives.
    pub fn walden_copy(&self) -> PathBuf {
        let path = self.path().join("walden");
        if !path.exists() {
            std::fs::copy(walden_bin(), &path).unwrap();
        }
        path
    }
}

/// PostgreSQL's programs, or a loud skip (a failure under CI=true).
pub fn pg_bin_or_skip(test: &str) -> Option<PgBin> {
    match PgBin::find(None) {
        Ok(bin) => Some(bin),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: PostgreSQL is required under CI=true: {e}")
        }
        Err(e) => {
            eprintln!("\n*** SKIPPED {test}: PostgreSQL not installed ({e}) ***\n");
            None
        }
    }
}

/// Server programs of PostgreSQL `major`: the pinned build that
/// `scripts/install-test-postgres.sh` installs (under `$WALDEN_TEST_SERVERS`,
/// by default `target/test-servers`), else Debian's
/// `/usr/lib/postgresql/<major>/bin`. Without either: a loud skip, or a
/// failure under CI=true, where every supported major must be tested.
pub fn pg_bin_of_major(major: u32, test: &str) -> Option<PgBin> {
    let servers = match std::env::var_os("WALDEN_TEST_SERVERS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-servers"),
    };
    let pinned = servers.join(format!("pg/{major}/native/bin"));
    let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    for dir in [&pinned, &debian] {
        if let Ok(bin) = PgBin::find(Some(dir)) {
            assert_eq!(
                bin.major_version().unwrap(),
                major,
                "{} holds another major",
                dir.display()
            );
            return Some(bin);
        }
    }
    let message = format!(
        "PostgreSQL {major} is not installed (neither {} nor {}): run scripts/install-test-postgres.sh",
        pinned.display(),
        debian.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {message} (required under CI=true)");
    }
    eprintln!("\n*** SKIPPED {test}: {message} ***\n");
    None
}

/// A PostgreSQL server for a test (killed by PID when dropped, as every `Server` is).
pub struct Cluster(pub Server);

impl std::ops::Deref for Cluster {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

impl Cluster {
    pub fn new(bin: &PgBin, scratch: &Scratch, name: &str) -> Cluster {
        let root = scratch.path();
        Cluster(Server::new(
            bin.clone(),
            scratch.run_as,
            root.join(name),
            root.join(format!("sock-{name}")),
            root.join(format!("{name}.log")),
        ))
    }

    /// initdb + archiving to walden, started.
    pub fn primary(
        bin: &PgBin,
        scratch: &Scratch,
        archive_command: String,
        initdb_args: &[&str],
    ) -> Cluster {
        let cluster = Cluster::new(bin, scratch, "primary");
        cluster.initdb(initdb_args).unwrap();
        cluster
            .configure(&[
                ("wal_level", "replica".into()),
                ("archive_mode", "on".into()),
                ("archive_command", archive_command),
                ("fsync", "off".into()),
            ])
            .unwrap();
        cluster.start().unwrap();
        cluster
    }

    pub fn sql(&self, sql: &str) -> String {
        self.psql(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}\n{}", self.log_tail(30)))
    }

    /// Switches WAL and returns the name of the segment switched away from.
    pub fn switch_wal(&self) -> String {
        let segment = self.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
        self.sql("SELECT pg_switch_wal()");
        segment
    }

    /// Waits until the archiver has archived `segment` (or a later one).
    pub fn wait_archived(&self, segment: &str) {
        self.0
            .wait_archived(segment, Duration::from_secs(60))
            .unwrap();
    }

    /// A WAL-less copy of the data directory: recovering it needs the archive.
    pub fn base_copy(&self, scratch: &Scratch, name: &str) -> Cluster {
        let copy = Cluster::new(&self.bin, scratch, name);
        self.base_copy_without_wal(&copy.data).unwrap();
        copy
    }

    /// Configures archive recovery with `restore_command` and starts.
    pub fn start_recovery(&self, restore_command: String) {
        self.configure(&[
            ("restore_command", restore_command),
            ("archive_mode", "off".into()),
        ])
        .unwrap();
        let signal = self.data.join("recovery.signal");
        std::fs::write(&signal, b"").unwrap();
        self.run_as.give(&signal).unwrap();
        // pg_ctl -w returns once the server accepts connections or has exited.
        let _ = self.start();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Keys of every object under `dir` in a local repository, relative to it.
pub fn repo_files(repo: &Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let root = repo.join(dir);
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(".walden-tmp") {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

/// A 16 MiB WAL segment built from a real PostgreSQL 15 segment's first
/// 8 KiB (fixtures/wal), zero-padded, with its system identifier replaced by
/// `sysid` when given. Returns the segment's name (timeline 1) and bytes.
pub fn fixture_segment(sysid: Option<u64>) -> (String, Vec<u8>) {
    const NAME: &str = "000000010000000000000001";
    let head =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/wal/pg15-16MiB-{NAME}.head"));
    let mut data = std::fs::read(&head).unwrap_or_else(|e| panic!("{}: {e}", head.display()));
    data.resize(16 << 20, 0);
    if let Some(sysid) = sysid {
        data[24..32].copy_from_slice(&sysid.to_le_bytes());
    }
    (NAME.to_string(), data)
}

/// The kinds of repository every end-to-end test body runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    Local,
    S3,
    Gcs,
}

/// A repository for one test: its URL, the flags and environment walden
/// needs to reach it, and a way to list what it holds.
#[derive(Debug, Clone)]
pub struct TestRepo {
    pub kind: RepoKind,
    pub url: String,
    /// Flags after the command name: `--repo URL` and the store's options.
    pub args: Vec<String>,
    /// Environment walden needs (credentials), also put in archive_command.
    pub env: Vec<(String, String)>,
    s3: Option<servers::S3Server>,
    gcs: Option<servers::GcsServer>,
    bucket: String,
}

/// Where objects live inside each test bucket, to exercise prefixes too.
const BUCKET_PREFIX: &str = "cluster-a";

/// The bucket's key prefix of repository directory `dir` ("" for the top).
fn object_prefix(dir: &str) -> String {
    if dir.is_empty() {
        format!("{BUCKET_PREFIX}/")
    } else {
        format!("{BUCKET_PREFIX}/{dir}/")
    }
}

impl Cluster {
    /// The cluster with `env` in its server's environment (object-store
    /// credentials for restore_command, as an operator's service unit would set).
    pub fn with_env(mut self, env: &[(String, String)]) -> Cluster {
        self.0.env = env.to_vec();
        self
    }
}

impl TestRepo {
    /// A fresh repository of `kind`, or None (loudly) when its server is not
    /// installed; under CI=true a missing server fails the test instead.
    pub fn new(kind: RepoKind, scratch: &Scratch, test: &str) -> Option<TestRepo> {
        match kind {
            RepoKind::Local => {
                let dir = scratch.pg_dir("repo");
                Some(TestRepo {
                    kind,
                    url: dir.display().to_string(),
                    args: vec!["--repo".into(), dir.display().to_string()],
                    env: Vec::new(),
                    s3: None,
                    gcs: None,
                    bucket: String::new(),
                })
            }
            RepoKind::S3 => {
                let server = servers::s3_server()?;
                Some(TestRepo::s3_via(server, &server.endpoint, test))
            }
            RepoKind::Gcs => {
                let server = servers::gcs_server()?;
                Some(TestRepo::gcs_via(
                    server,
                    &server.endpoint,
                    &server.grpc_endpoint,
                    test,
                ))
            }
        }
    }

    /// An S3 repository reached through `endpoint` (the server's, or a fault proxy's).
    pub fn s3_via(server: &servers::S3Server, endpoint: &str, test: &str) -> TestRepo {
        let bucket = servers::unique_bucket(test);
        server.create_bucket(&bucket);
        let url = format!("s3://{bucket}/{BUCKET_PREFIX}");
        TestRepo {
            kind: RepoKind::S3,
            args: vec![
                "--repo".into(),
                url.clone(),
                "--s3-endpoint".into(),
                endpoint.to_string(),
                "--s3-path-style".into(),
            ],
            url,
            env: vec![
                ("AWS_ACCESS_KEY_ID".into(), server.access_key.into()),
                ("AWS_SECRET_ACCESS_KEY".into(), server.secret_key.into()),
                // Nothing from the account running the tests.
                ("AWS_CONFIG_FILE".into(), "/nonexistent".into()),
                ("AWS_SHARED_CREDENTIALS_FILE".into(), "/nonexistent".into()),
                ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ],
            s3: Some(server.clone()),
            gcs: None,
            bucket,
        }
    }

    /// A GCS repository reached through `endpoint` and `grpc_endpoint` (the
    /// server's, or fault proxies').
    pub fn gcs_via(
        server: &servers::GcsServer,
        endpoint: &str,
        grpc_endpoint: &str,
        test: &str,
    ) -> TestRepo {
        let bucket = servers::unique_bucket(test);
        server.create_bucket(&bucket);
        let url = format!("gs://{bucket}/{BUCKET_PREFIX}");
        TestRepo {
            kind: RepoKind::Gcs,
            args: vec![
                "--repo".into(),
                url.clone(),
                "--gcs-endpoint".into(),
                endpoint.to_string(),
                "--gcs-grpc-endpoint".into(),
                grpc_endpoint.to_string(),
            ],
            url,
            env: Vec::new(),
            s3: None,
            gcs: Some(server.clone()),
            bucket,
        }
    }

    /// The same store options with another repository URL.
    pub fn with_url(mut self, url: &str) -> TestRepo {
        self.url = url.to_string();
        self.args[1] = url.to_string();
        self
    }

    /// The directory of a local repository.
    pub fn local_dir(&self) -> PathBuf {
        assert_eq!(
            self.kind,
            RepoKind::Local,
            "only a local repository has a directory"
        );
        PathBuf::from(&self.url)
    }

    /// The same repository with other flags after `--repo URL` (e.g. another endpoint).
    pub fn with_args(&self, args: &[&str]) -> TestRepo {
        let mut other = self.clone();
        other.args.truncate(2);
        other.args.extend(args.iter().map(|a| a.to_string()));
        other
    }

    /// Adds the repository flags and environment to a walden command.
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.args(&self.args).envs(self.env.iter().cloned())
    }

    /// `walden SUBCOMMAND <repo flags> ` for an archive_command or
    /// restore_command, with the environment in front via env(1).
    pub fn shell_command(&self, walden: &Path, subcommand: &str) -> String {
        let env: String = self.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        let prefix = if env.is_empty() {
            String::new()
        } else {
            format!("env {env}")
        };
        format!(
            "{prefix}{} {subcommand} {}",
            walden.display(),
            self.args.join(" ")
        )
    }

    /// Keys of every object under `dir`, relative to it, sorted.
    pub fn keys(&self, dir: &str) -> Vec<String> {
        let dir = dir.trim_end_matches('/');
        let mut keys = match self.kind {
            RepoKind::Local => return repo_files(Path::new(&self.url), dir),
            RepoKind::S3 => self.s3_keys(dir),
            RepoKind::Gcs => self.gcs_keys(dir),
        };
        keys.sort();
        keys
    }

    /// Deletes one object (`key` relative to the repository), behind walden's back.
    pub fn delete(&self, key: &str) {
        let full = format!("{BUCKET_PREFIX}/{key}");
        let (status, body) = match self.kind {
            RepoKind::Local => {
                std::fs::remove_file(Path::new(&self.url).join(key)).unwrap();
                return;
            }
            RepoKind::S3 => self
                .s3
                .as_ref()
                .unwrap()
                .signed_request("DELETE", &format!("/{}/{full}", self.bucket), b"")
                .unwrap(),
            RepoKind::Gcs => servers::http_request(
                self.gcs.as_ref().unwrap().addr,
                "DELETE",
                &format!(
                    "/storage/v1/b/{}/o/{}",
                    self.bucket,
                    full.replace('/', "%2F")
                ),
                &[],
                b"",
            )
            .unwrap(),
        };
        assert!(
            (200..300).contains(&status),
            "deleting {key}: {status} {body}"
        );
    }

    fn s3_keys(&self, dir: &str) -> Vec<String> {
        let server = self.s3.as_ref().unwrap();
        let prefix = object_prefix(dir);
        let (status, body) = server
            .signed_request(
                "GET",
                &format!(
                    "/{}?list-type=2&max-keys=1000&prefix={}",
                    self.bucket,
                    prefix.replace('/', "%2F")
                ),
                b"",
            )
            .expect("S3 listing");
        assert_eq!(status, 200, "S3 listing: {body}");
        assert!(
            !body.contains("<IsTruncated>true"),
            "test listing needs one page"
        );
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>"))
            .filter_map(|(key, _)| key.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    fn gcs_keys(&self, dir: &str) -> Vec<String> {
        let server = self.gcs.as_ref().unwrap();
        let prefix = object_prefix(dir);
        let (status, body) = servers::http_request(
            server.addr,
            "GET",
            &format!(
                "/storage/v1/b/{}/o?maxResults=1000&prefix={}",
                self.bucket,
                prefix.replace('/', "%2F")
            ),
            &[],
            b"",
        )
        .expect("GCS listing");
        assert_eq!(status, 200, "GCS listing: {body}");
        let listing: serde_json::Value = serde_json::from_str(&body).expect("GCS listing JSON");
        assert!(
            listing.get("nextPageToken").is_none(),
            "test listing needs one page"
        );
        listing["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item["name"].as_str()?.strip_prefix(&prefix))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Polls `query` on `cluster` until it answers `expected` (90 s at most).
pub fn wait_for(cluster: &Cluster, query: &str, expected: &str, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let got = cluster.psql(query).unwrap_or_default();
        if got == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {query} gives {got:?}, not {expected:?}\n{}",
            cluster.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
