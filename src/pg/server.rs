//! A throwaway local PostgreSQL server (initdb, start, query, stop) for the demo, restore drills and tests.
//!
//! The server listens only on a Unix socket in a directory of its own. When
//! walden runs as root, every PostgreSQL program runs as the unprivileged
//! `postgres` user (initdb refuses root), and the directories it needs are
//! handed to that user.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where PostgreSQL's server programs are.
#[derive(Debug, Clone)]
pub struct PgBin {
    pub dir: PathBuf,
}

impl PgBin {
    /// `explicit`, else `pg_config --bindir`, else the newest
    /// `/usr/lib/postgresql/<major>/bin` that has `initdb`.
    pub fn find(explicit: Option<&Path>) -> io::Result<PgBin> {
        if let Some(dir) = explicit {
            return Self::checked(dir.to_path_buf());
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if out.status.success() && dir.join("initdb").exists() {
                return Ok(PgBin { dir });
            }
        }
        if let Some(dir) = debian_bin_dirs().find(|dir| dir.join("initdb").exists()) {
            return Ok(PgBin { dir });
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "PostgreSQL server programs not found: install postgresql-15 (apt-get install -y postgresql-15) or pass --pg-bin DIR",
        ))
    }

    fn checked(dir: PathBuf) -> io::Result<PgBin> {
        if dir.join("initdb").exists() {
            Ok(PgBin { dir })
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} has no initdb: not a PostgreSQL bin directory",
                    dir.display()
                ),
            ))
        }
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A client program (`psql`, `pg_amcheck`, `pg_basebackup`): this
    /// directory's own, else the newest `/usr/lib/postgresql/<major>/bin`
    /// that has it, else `name` for a search of `PATH`. A bin directory may
    /// hold only the server (a minimal container, a server-only build), and
    /// psql and pg_amcheck speak to servers of other majors.
    pub fn client(&self, name: &str) -> PathBuf {
        let own = self.program(name);
        if own.exists() {
            return own;
        }
        debian_bin_dirs()
            .map(|dir| dir.join(name))
            .find(|path| path.exists())
            .unwrap_or_else(|| PathBuf::from(name))
    }

    /// The major version of these programs, as `postgres --version` reports
    /// it (PostgreSQL answers before its refusal to run as root).
    pub fn major_version(&self) -> io::Result<u32> {
        let program = self.program("postgres");
        let out = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", program.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match parse_server_version(&text) {
            Some(major) if out.status.success() => Ok(major),
            _ => Err(io::Error::other(format!(
                "{} --version did not report a PostgreSQL version ({}): {:?}",
                program.display(),
                out.status,
                text.trim()
            ))),
        }
    }
}

/// `/usr/lib/postgresql/<major>/bin` of every major installed the Debian
/// way, newest first.
fn debian_bin_dirs() -> impl Iterator<Item = PathBuf> {
    let mut majors: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    majors.sort_unstable_by(|a, b| b.cmp(a));
    majors
        .into_iter()
        .map(|major| PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")))
}

/// The major version in `postgres --version` output: `postgres
/// (PostgreSQL) 15.10 (Debian 15.10-1.pgdg120+1)` is 15, `16.4` 16,
/// `17beta1` 17; 9.6 and older count as their first number, as
/// `server_version_num / 10000` does.
pub fn parse_server_version(text: &str) -> Option<u32> {
    let (_, version) = text.trim().split_once("(PostgreSQL) ")?;
    let digits = version.len()
        - version
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    version[..digits].parse().ok().filter(|major| *major > 0)
}

/// The unprivileged account PostgreSQL programs run under, when we are root.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    ids: Option<(u32, u32)>,
}

impl RunAs {
    /// As root: the `postgres` user. Otherwise: ourselves.
    pub fn detect() -> io::Result<RunAs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(RunAs { ids: None });
        }
        let user = std::ffi::CString::new("postgres").expect("no NUL");
        // SAFETY: getpwnam gets a valid C string; the result is read at once.
        let pw = unsafe { libc::getpwnam(user.as_ptr()) };
        if pw.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "running as root, and there is no 'postgres' user to run PostgreSQL as (initdb refuses root): install postgresql-15 or run as an ordinary user",
            ));
        }
        // SAFETY: pw is non-null and points to a passwd record.
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        Ok(RunAs {
            ids: Some((uid, gid)),
        })
    }

    /// A command that runs as this account.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        if let Some((uid, gid)) = self.ids {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd
    }

    /// Creates `dir` (and parents) and gives it to this account.
    pub fn make_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        self.give(dir)
    }

    /// Gives `path` to this account (no-op when not root).
    pub fn give(&self, path: &Path) -> io::Result<()> {
        match self.ids {
            Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)),
            None => Ok(()),
        }
    }
}

/// One PostgreSQL server on a data directory, reachable on a private socket;
/// stopped by PID when dropped.
#[derive(Debug)]
pub struct Server {
    pub bin: PgBin,
    pub run_as: RunAs,
    pub data: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
    /// TCP addresses to listen on (`listen_addresses`); empty: the Unix
    /// socket only.
    pub listen_addresses: String,
    pub log: PathBuf,
    /// Environment for the server and so for its archive and restore
    /// commands (e.g. object-store credentials).
    pub env: Vec<(String, String)>,
    /// How long `start` waits for the server to accept connections.
    pub start_timeout: Duration,
    /// Role and database `psql` connects to.
    pub user: String,
    pub database: String,
}

impl Server {
    /// A server for `data`, its socket in `socket_dir` and its log at `log`.
    pub fn new(
        bin: PgBin,
        run_as: RunAs,
        data: PathBuf,
        socket_dir: PathBuf,
        log: PathBuf,
    ) -> Server {
        Server {
            bin,
            run_as,
            data,
            socket_dir,
            port: 5432,
            listen_addresses: String::new(),
            log,
            env: Vec::new(),
            start_timeout: Duration::from_secs(120),
            user: "postgres".to_string(),
            database: "postgres".to_string(),
        }
    }

    /// Runs initdb on the (new) data directory.
    pub fn initdb(&self, extra_args: &[&str]) -> io::Result<()> {
        if let Some(parent) = self.data.parent() {
            std::fs::create_dir_all(parent)?;
        }
        self.run_as.make_dir(&self.data)?;
        let mut cmd = self.run_as.command(self.bin.program("initdb"));
        cmd.arg("-D").arg(&self.data).args([
            "--auth=trust",
            "--no-sync",
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--locale=C",
        ]);
        cmd.args(extra_args);
        run(cmd, "initdb")
    }

    /// Appends settings to postgresql.conf (later lines win in PostgreSQL).
    pub fn configure(&self, settings: &[(&str, String)]) -> io::Result<()> {
        use std::io::Write;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))?;
        for (key, value) in settings {
            writeln!(conf, "{key} = '{}'", value.replace('\'', "''"))?;
        }
        Ok(())
    }

    /// Starts the server and waits until it accepts connections (or, for a
    /// server in recovery, until pg_ctl considers it started).
    pub fn start(&self) -> io::Result<()> {
        self.run_as.make_dir(&self.socket_dir)?;
        if let Some(parent) = self.log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        self.run_as.give(&self.log)?;
        let options = format!(
            "-c port={} -c listen_addresses='{}' -c unix_socket_directories='{}'",
            self.port,
            self.listen_addresses,
            self.socket_dir.display()
        );
        let mut cmd = self.run_as.command(self.bin.program("pg_ctl"));
        cmd.envs(self.env.iter().cloned());
        cmd.arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", &self.start_timeout.as_secs().max(1).to_string()])
            .args(["-o", &options]);
        run(cmd, "pg_ctl start").map_err(|e| self.with_log_tail(e))
    }

    /// Stops the server (fast shutdown), waiting for it to exit.
    pub fn stop(&self) -> io::Result<()> {
        let mut cmd = self.run_as.command(self.bin.program("pg_ctl"));
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "120"]);
        run(cmd, "pg_ctl stop")
    }

    /// The postmaster's PID while it runs.
    pub fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Whether the postmaster process is alive.
    pub fn is_running(&self) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        self.pid()
            .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0)
    }

    /// Immediate shutdown by PID, for clean-up paths.
    pub fn kill(&self) {
        if let Some(pid) = self.pid() {
            // SAFETY: plain kill(2) on the postmaster's PID.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.is_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Runs SQL through psql and returns its unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        let mut cmd = self.run_as.command(self.bin.client("psql"));
        cmd.args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            &self.user,
            "-d",
            &self.database,
            "-h",
        ])
        .arg(&self.socket_dir)
        .args(["-p", &self.port.to_string(), "-c", sql]);
        let out = output(cmd, "psql")?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Waits until the server has left recovery (promoted), failing early
    /// if the server exits (for example on a FATAL during recovery).
    pub fn wait_until_promoted(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_running() {
                return Err(
                    self.with_log_tail(io::Error::other("the server stopped during recovery"))
                );
            }
            if let Ok(answer) = self.psql("SELECT pg_is_in_recovery()") {
                if answer == "f" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(self.with_log_tail(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "recovery did not finish in time",
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Copies the running cluster into `target` with `pg_basebackup
    /// --wal-method=none`: the copy can only become consistent from a WAL
    /// archive, which is what walden's restore_command is for.
    pub fn base_copy_without_wal(&self, target: &Path) -> io::Result<()> {
        self.run_as.make_dir(target)?;
        // PostgreSQL refuses a data directory others can read.
        std::fs::set_permissions(target, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let mut cmd = self.run_as.command(self.bin.client("pg_basebackup"));
        cmd.arg("-D")
            .arg(target)
            .args([
                "--wal-method=none",
                "--checkpoint=fast",
                "--no-sync",
                "-U",
                "postgres",
                "-h",
            ])
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string()]);
        run(cmd, "pg_basebackup")
    }

    /// Waits until `segment` is archived: the archiver reports it or a later
    /// segment, or its archive status is `.done` (a `.backup` or `.history`
    /// file archived after it would hide it from `last_archived_wal`).
    pub fn wait_archived(&self, segment: &str, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let query = format!(
            "SELECT coalesce(last_archived_wal, '') >= '{segment}' OR EXISTS (SELECT 1 FROM pg_ls_archive_statusdir() WHERE name = '{segment}.done'), coalesce(last_archived_wal, ''), failed_count, coalesce(last_failed_wal, '') FROM pg_stat_archiver"
        );
        loop {
            let row = self.psql(&query)?;
            if row.starts_with("t|") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.with_log_tail(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{segment} not archived in time (pg_stat_archiver: {row})"),
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn with_log_tail(&self, err: io::Error) -> io::Error {
        io::Error::new(
            err.kind(),
            format!(
                "{err}\n--- server log ({}) ---\n{}",
                self.log.display(),
                self.log_tail(20)
            ),
        )
    }
}

/// A throwaway server never outlives its handle: whatever happened, it is
/// shut down (immediately, by PID) when the handle goes away.
impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn run(cmd: Command, what: &str) -> io::Result<()> {
    output(cmd, what).map(|_| ())
}

fn output(mut cmd: Command, what: &str) -> io::Result<Output> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot run {what} ({}): {e}",
                cmd.get_program().to_string_lossy()
            ),
        )
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end(),
            String::from_utf8_lossy(&out.stdout).trim_end()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions_as_postgres_prints_them() {
        for (text, major) in [
            (
                "postgres (PostgreSQL) 15.10 (Debian 15.10-1.pgdg120+1)\n",
                Some(15),
            ),
            ("postgres (PostgreSQL) 16.4\n", Some(16)),
            ("postgres (PostgreSQL) 17beta1", Some(17)),
            ("postgres (PostgreSQL) 18devel", Some(18)),
            ("postgres (PostgreSQL) 9.6.24", Some(9)),
            ("postgres (PostgreSQL) 13.23", Some(13)),
            ("postgres 16.4", None),
            ("postgres (PostgreSQL) ", None),
            ("postgres (PostgreSQL) x16", None),
            ("", None),
        ] {
            assert_eq!(parse_server_version(text), major, "{text:?}");
        }
    }
}
