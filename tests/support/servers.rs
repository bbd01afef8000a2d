//! Real object-storage servers on 127.0.0.1 for black-box tests: SeaweedFS (S3) and storage-testbench (GCS), killed by PID.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// How long a server may take to come up before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The S3 server's one identity; `weed mini` takes it from its environment.
const S3_ACCESS_KEY: &str = "waldentestaccesskey";
const S3_SECRET_KEY: &str = "waldentestsecretkey0123456789";

/// A SeaweedFS `weed mini` serving S3 with signature checking on.
#[derive(Clone, Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub addr: SocketAddr,
    pub access_key: &'static str,
    pub secret_key: &'static str,
    pub region: &'static str,
    pub pid: u32,
    /// stdout and stderr of the server.
    pub log: PathBuf,
}

/// Google's storage-testbench serving the GCS JSON API, and gRPC once started.
#[derive(Clone, Debug)]
pub struct GcsServer {
    /// `http://127.0.0.1:PORT` (JSON API and XML API)
    pub endpoint: String,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:GRPC_PORT` (google.storage.v2)
    pub grpc_endpoint: String,
    pub grpc_addr: SocketAddr,
    /// The project `create_bucket` makes buckets in.
    pub project: &'static str,
    pub pid: u32,
    pub log: PathBuf,
}

/// The S3 server shared by every test in this test binary, started on first
/// use; `None` (after a loud message) when SeaweedFS is not installed.
pub fn s3_server() -> Option<&'static S3Server> {
    static SERVER: OnceLock<Result<S3Server, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        let weed = venv().join("bin/weed");
        if !weed.is_file() {
            return Err(missing("SeaweedFS (S3 server)", &weed));
        }
        Ok(start_s3(&weed))
    });
    skip_unless(server)
}

/// The GCS emulator shared by every test in this test binary, started on
/// first use; `None` (after a loud message) when it is not installed.
pub fn gcs_server() -> Option<&'static GcsServer> {
    static SERVER: OnceLock<Result<GcsServer, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        let gunicorn = venv().join("bin/gunicorn");
        if !gunicorn.is_file() || !testbench_installed() {
            return Err(missing("storage-testbench (GCS emulator)", &gunicorn));
        }
        Ok(start_gcs(&gunicorn))
    });
    skip_unless(server)
}

/// A bucket name valid for S3 and GCS (3-63 of `a-z0-9-`), from the test's
/// name and unique within this machine's test runs.
pub fn unique_bucket(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut base = String::new();
    for c in test.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (base.is_empty() || base.ends_with('-'))) {
            base.push(c);
        }
    }
    base.truncate(36);
    let base = match base.trim_end_matches('-') {
        "" => "bucket",
        base => base,
    };
    // GCS rejects names starting "goog", S3 those starting "xn--".
    let prefix = if base.starts_with("goog") || base.starts_with("xn--") {
        "t-"
    } else {
        ""
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "{prefix}{base}-{:x}-{n}-{:x}",
        std::process::id(),
        nanos & 0xfffff
    )
}

impl S3Server {
    /// Creates a bucket with a signed `PUT /<name>`.
    pub fn create_bucket(&self, name: &str) {
        // Just after start-up the filer may still be settling: retry 5xx briefly.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self
                .signed_request("PUT", &format!("/{name}"), b"")
                .unwrap_or_else(|e| panic!("PUT /{name} to {}: {e}", self.endpoint));
            match status {
                200 => return,
                500..=599 if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                _ => panic!(
                    "creating S3 bucket {name}: HTTP {status}: {body}\n{}",
                    log_tail(&self.log)
                ),
            }
        }
    }

    /// Sends an AWS SigV4-signed request (`path` may carry a query string of
    /// already-encoded `k=v` pairs) and returns the status and body.
    pub fn signed_request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, String)> {
        let (amz_date, date) = amz_now();
        let host = self.addr.to_string();
        let payload_hash = hex::encode(Sha256::digest(body));
        let (uri, query) = path.split_once('?').unwrap_or((path, ""));
        let mut params: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                if p.contains('=') {
                    p.to_string()
                } else {
                    format!("{p}=")
                }
            })
            .collect();
        params.sort();
        let canonical = format!(
            "{method}\n{uri}\n{}\nhost:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload_hash}",
            params.join("&")
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac_sha256(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        for part in [self.region, "s3", "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}",
            self.access_key
        );
        http_request(
            self.addr,
            method,
            path,
            &[
                ("x-amz-content-sha256", &payload_hash),
                ("x-amz-date", &amz_date),
                ("authorization", &authorization),
            ],
            body,
        )
    }
}

impl GcsServer {
    /// Creates a bucket through the JSON API.
    pub fn create_bucket(&self, name: &str) {
        let body = serde_json::json!({ "name": name }).to_string();
        let (status, response) = http_request(
            self.addr,
            "POST",
            &format!("/storage/v1/b?project={}", self.project),
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("POST /storage/v1/b to {}: {e}", self.endpoint));
        if status != 200 {
            panic!(
                "creating GCS bucket {name}: HTTP {status}: {response}\n{}",
                log_tail(&self.log)
            );
        }
    }
}

/// A one-shot HTTP/1.1 request (`Connection: close`); returns the status and
/// body (chunked bodies are left as sent).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not an HTTP response: {:?}",
                    text.chars().take(200).collect::<String>()
                ),
            )
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Where `scripts/install-test-servers.sh` put the venv.
fn venv() -> PathBuf {
    match std::env::var_os("WALDEN_TEST_SERVERS") {
        Some(dir) => PathBuf::from(dir).join("venv"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-servers/venv"),
    }
}

fn testbench_installed() -> bool {
    let Ok(entries) = std::fs::read_dir(venv().join("lib")) else {
        return false;
    };
    entries
        .flatten()
        .any(|python| python.path().join("site-packages/testbench").is_dir())
}

fn missing(what: &str, path: &Path) -> String {
    let message = format!(
        "{what} is not installed ({} is missing): run scripts/install-test-servers.sh",
        path.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message} (required under CI=true)");
    }
    message
}

/// The server, or `None` after a loud message, repeated for every test
/// that skips so none is skipped silently.
fn skip_unless<T>(server: &'static Result<T, String>) -> Option<&'static T> {
    match server {
        Ok(server) => Some(server),
        Err(message) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            // Straight to stderr: eprintln! is captured by libtest and
            // shown only for failing tests.
            let _ = writeln!(std::io::stderr(), "\n*** SKIPPED {test}: {message} ***\n");
            None
        }
    }
}

fn start_s3(weed: &Path) -> S3Server {
    let dir = server_dir("s3");
    let log = dir.join("server.log");
    // A port can be taken between choosing it and the server binding it
    // (another test binary starting its servers): try again with new ones.
    for attempt in 1..=3 {
        let [s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc, admin, admin_grpc] =
            free_ports();
        let data = dir.join(format!("data-{attempt}"));
        std::fs::create_dir_all(&data).unwrap();
        let mut cmd = Command::new(weed);
        cmd.arg(format!("-logdir={}", data.display()))
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-s3.autoCreateBucket=false",
            ])
            // Every listening port, so two test binaries can run at once;
            // unset gRPC ports default to HTTP port + 10000, which may be taken
            // or past 65535.
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-s3.port.grpc={s3_grpc}"))
            .arg(format!("-master.port={master}"))
            .arg(format!("-master.port.grpc={master_grpc}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-volume.port.grpc={volume_grpc}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-filer.port.grpc={filer_grpc}"))
            .arg(format!("-admin.port={admin}"))
            .arg(format!("-admin.port.grpc={admin_grpc}"))
            // Default to /tmp/seaweedfs-*-<port>.sock, outliving a killed server.
            .arg(format!(
                "-filer.localSocket={}",
                data.join("filer.sock").display()
            ))
            .arg(format!(
                "-s3.localSocket={}",
                data.join("s3.sock").display()
            ))
            .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
            .current_dir(&data);
        // The gRPC sockets have no flag and always land in /tmp.
        for (kind, port) in [
            ("master", master_grpc),
            ("volume", volume_grpc),
            ("filer", filer_grpc),
            ("s3", s3_grpc),
            ("admin", admin_grpc),
        ] {
            register_litter(
                &dir,
                PathBuf::from(format!("/tmp/seaweedfs-{kind}-grpc-{port}.sock")),
            );
        }
        let started = Instant::now();
        let mut child = spawn(cmd, &log);
        let addr: SocketAddr = ([127, 0, 0, 1], s3).into();
        let server = S3Server {
            endpoint: format!("http://{addr}"),
            addr,
            access_key: S3_ACCESS_KEY,
            secret_key: S3_SECRET_KEY,
            region: "us-east-1",
            pid: child.id(),
            log: log.clone(),
        };
        // Ready when a signed ListBuckets succeeds: S3 is up, its filer
        // answers and our credentials are the ones it checks.
        let ready = wait_until(&mut child, &log, || {
            matches!(server.signed_request("GET", "/", b""), Ok((200, _)))
        });
        if let Err(exited) = ready {
            retry_or_panic("SeaweedFS", &mut child, &log, exited, attempt);
            continue;
        }
        let (status, body) = http_request(addr, "GET", "/", &[], b"").unwrap();
        assert_eq!(
            status, 403,
            "SeaweedFS must refuse unsigned requests (is signature checking off?): {body}"
        );
        eprintln!(
            "S3 server (SeaweedFS, pid {}) up at {} in {:.1?}",
            server.pid,
            server.endpoint,
            started.elapsed()
        );
        // Dropping a Child neither kills nor reaps it: the exit handler does both.
        drop(child);
        return server;
    }
    unreachable!()
}

/// After a failed start: returns when the server lost a race for a port
/// and another attempt may pick other ports; otherwise kills it and panics
/// with its log.
fn retry_or_panic(name: &str, child: &mut Child, log: &Path, exited: bool, attempt: u32) {
    if exited && attempt < 3 && port_clash(log) {
        unregister(child.id());
        eprintln!("{name} lost a port race (attempt {attempt}); retrying");
        return;
    }
    kill_group(child.id());
    let _ = child.wait();
    unregister(child.id());
    let why = if exited {
        "exited during start-up".to_string()
    } else {
        format!("was not ready within {START_TIMEOUT:?}")
    };
    panic!("{name} {why}:\n{}", log_tail(log));
}

/// Where testbench_shim.py lives.
fn shim_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

fn start_gcs(gunicorn: &Path) -> GcsServer {
    let dir = server_dir("gcs");
    let log = dir.join("server.log");
    for attempt in 1..=3 {
        let [port, grpc_port] = free_ports();
        // testbench_run.py runs exactly this gunicorn, but as its own
        // child, which PDEATHSIG does not reach: a test binary killed outright
        // would leave it running. Run directly, gunicorn is our child; its
        // worker exits by itself when its parent changes. No --reload: it
        // restarts the worker (losing every bucket) when files change.
        let mut cmd = Command::new(gunicorn);
        cmd.args([
            &format!("--bind=127.0.0.1:{port}"),
            "--worker-class=sync",
            "--workers=1",
            "--threads=4",
            "--access-logfile=-",
            // The testbench behind a shim mending two mismatches with the
            // official client (see testbench_shim.py).
            &format!("--chdir={}", shim_dir().display()),
            "testbench_shim:run()",
        ])
        .env("PATH", path_with_venv())
        .env("WALDEN_TESTBENCH_PORT", port.to_string())
        .current_dir(&dir);
        let started = Instant::now();
        let mut child = spawn(cmd, &log);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let grpc_addr: SocketAddr = ([127, 0, 0, 1], grpc_port).into();
        let start_grpc = format!("/start_grpc?port={grpc_port}");
        let ready = wait_until(&mut child, &log, || {
            matches!(
                http_request(addr, "GET", &start_grpc, &[], b""),
                Ok((200, _))
            ) && TcpStream::connect_timeout(&grpc_addr, Duration::from_secs(1)).is_ok()
        });
        if let Err(exited) = ready {
            retry_or_panic("storage-testbench", &mut child, &log, exited, attempt);
            continue;
        }
        let server = GcsServer {
            endpoint: format!("http://{addr}"),
            addr,
            grpc_endpoint: format!("http://{grpc_addr}"),
            grpc_addr,
            project: "test",
            pid: child.id(),
            log,
        };
        eprintln!(
            "GCS server (storage-testbench, pid {}) up at {} (gRPC {}) in {:.1?}",
            server.pid,
            server.endpoint,
            server.grpc_endpoint,
            started.elapsed()
        );
        // Dropping a Child neither kills nor reaps it: the exit handler does both.
        drop(child);
        return server;
    }
    unreachable!()
}

fn path_with_venv() -> std::ffi::OsString {
    let mut paths = vec![venv().join("bin")];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap()
}

/// Polls `ready` until it holds; `Err(true)` if the server exited first,
/// `Err(false)` on timeout.
fn wait_until(child: &mut Child, log: &Path, mut ready: impl FnMut() -> bool) -> Result<(), bool> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!(
                "server exited during start-up ({status}); log {}",
                log.display()
            );
            return Err(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(false)
}

/// Whether the server gave up because a port was taken (Go's and gunicorn's wording).
fn port_clash(log: &Path) -> bool {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    log.contains("address already in use") || log.contains("Connection in use")
}

/// `N` distinct free ports: all are held until all are chosen, so none repeats.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// The last lines of a server's log, for a failure message.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| format!("({e})"));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    format!("--- last lines of {} ---\n{tail}", log.display())
}

// ---- process lifecycle --------------------------------------------------

/// What the exit handler cleans up: server process groups, then their
/// directories and the files they leave outside them.
struct Registry {
    pids: Vec<u32>,
    dirs: Vec<PathBuf>,
    litter: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: Vec::new(),
    dirs: Vec::new(),
    litter: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forgets a server that never came up (already reaped, so its PID may be reused).
fn unregister(pid: u32) {
    registry().pids.retain(|&p| p != pid);
}

/// Files a server leaves outside its directory, removed at exit; also listed
/// in the directory, for [`sweep_stale`] should the exit handler never run.
fn register_litter(dir: &Path, path: PathBuf) {
    if let Ok(mut list) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("litter"))
    {
        let _ = writeln!(list, "{}", path.display());
    }
    registry().litter.push(path);
}

/// A fresh directory for one server's data and log, removed at exit.
fn server_dir(name: &str) -> PathBuf {
    install_exit_handler();
    sweep_stale();
    let dir = tempfile::Builder::new()
        .prefix(&format!("walden-{name}-"))
        .tempdir()
        .expect("tempdir")
        .keep();
    std::fs::write(dir.join("owner"), std::process::id().to_string()).unwrap();
    registry().dirs.push(dir.clone());
    dir
}

/// Removes what test binaries killed outright (SIGKILL, no exit handler)
/// left behind; their servers died with them through PDEATHSIG.
fn sweep_stale() {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("walden-s3-") || name.starts_with("walden-gcs-")) {
                continue;
            }
            let dir = entry.path();
            let Some(owner) = std::fs::read_to_string(dir.join("owner"))
                .ok()
                .and_then(|pid| pid.trim().parse::<libc::pid_t>().ok())
            else {
                continue;
            };
            // SAFETY: signal 0 only checks whether the process exists.
            let gone = unsafe { libc::kill(owner, 0) } == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone {
                let litter = std::fs::read_to_string(dir.join("litter")).unwrap_or_default();
                for path in litter.lines() {
                    let _ = std::fs::remove_file(path);
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    });
}

fn install_exit_handler() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // SAFETY: registers a plain extern "C" fn; libtest leaves through
        // exit() (returning from main or process::exit), which runs it.
        unsafe { libc::atexit(kill_all_servers) };
    });
}

extern "C" fn kill_all_servers() {
    let registry = registry();
    for &pid in &registry.pids {
        kill_group(pid);
    }
    for &pid in &registry.pids {
        // Reap, so nothing still writes into the directories removed below.
        let mut status = 0;
        // SAFETY: waitpid on our own child, blocking until SIGKILL lands.
        unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    }
    for dir in &registry.dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
    for path in &registry.litter {
        let _ = std::fs::remove_file(path);
    }
}

/// Kills a server and everything it started: each is a process-group leader.
fn kill_group(pid: u32) {
    // SAFETY: signals only the process group we created for this server.
    unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns on one thread that lives as long as the test binary: PDEATHSIG
/// fires when the *thread* that forked a child exits, and test threads are
/// short-lived.
fn spawn(mut cmd: Command, log: &Path) -> Child {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("test-server-keeper".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // Every sender lives in a static: this never returns.
            })
            .expect("keeper thread");
        Mutex::new(tx)
    });
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    // SAFETY: getpid before fork; only async-signal-safe calls in the child.
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            // Own process group: kill(-pid) then reaches its children too.
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The test binary died before prctl: nobody would kill us.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("test binary already gone"));
            }
            Ok(())
        });
    }
    let program = cmd.get_program().to_owned();
    let (reply, response) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply))
        .expect("keeper thread alive");
    let child = response
        .recv()
        .expect("keeper thread replies")
        .unwrap_or_else(|e| panic!("starting {}: {e}", Path::new(&program).display()));
    registry().pids.push(child.id());
    child
}

// ---- AWS SigV4 pieces ----------------------------------------------------

/// HMAC-SHA256 (RFC 2104), enough for SigV4 without another crate.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(data)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    let mut mac = [0u8; 32];
    mac.copy_from_slice(&outer);
    mac
}

/// Now as SigV4 wants it: (`YYYYMMDDTHHMMSSZ`, `YYYYMMDD`).
fn amz_now() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let time = format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    (format!("{date}T{time}Z"), date)
}
