//! The PostgreSQL control session of a base backup: one connection that runs `pg_backup_start`/`pg_backup_stop` and answers questions about the cluster.
//!
//! A non-exclusive backup belongs to the session that started it: PostgreSQL
//! aborts it the moment that session ends. So the session must stay open,
//! idle, for as long as the files are copied (hours on a big cluster), and
//! losing it must be reported as the end of this backup, never hidden.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::{AsyncMessage, Client, Connection};

use super::lsn::{Lsn, WalSegmentSize};
use super::tls::{MakeRustls, RustlsStream, SslMode, TlsOptions};
use super::wal_name::{SegmentName, TimelineId};

/// PostgreSQL major versions whose backup functions and backup label format
/// walden knows, each tested end to end on a real server
/// (tests/version_matrix.rs). 13 and 14 take non-exclusive backups with
/// `pg_start_backup(label, fast, false)`/`pg_stop_backup(false, wait)`; 15
/// renamed them `pg_backup_start`/`pg_backup_stop` and removed exclusive
/// backups. 12 and older are out of community support.
pub const SUPPORTED_MAJORS: RangeInclusive<u32> = 13..=18;

/// Where libpq looks for a server when nothing says otherwise (Debian's
/// socket directory).
pub(crate) const DEFAULT_HOST: &str = "/var/run/postgresql";
pub(crate) const DEFAULT_PORT: u16 = 5432;

/// Longest label `pg_backup_start` takes (`MAXPGPATH`).
const MAX_LABEL_BYTES: usize = 1024;

/// Unlike libpq (which waits forever), give up on an unreachable host soon
/// enough for cron to report it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The session sits idle while files are copied; TCP keepalives stop a NAT
/// or firewall from silently dropping it, and detect a dead server within
/// about two minutes instead of two hours.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 6;

/// How long `is_alive` waits for the server to answer.
const ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach the server, libpq style. Unset fields come from the
/// `PG*` environment and libpq's defaults (`with_pg_env`).
///
/// The password is resolved per connection, because the password file
/// matches on the database: `password_for(database)` for a normal session,
/// `password_for("replication")` for a replication connection (libpq's
/// convention). Precedence: `password` (explicit, else `PGPASSWORD`), then
/// the password file. TLS (`tls`) applies to TCP hosts only: a TCP
/// connection goes through `tls::negotiate` (or `tls::MakeRustls` for
/// tokio-postgres) with these options.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// A host name or address, or a directory holding the Unix socket when
    /// it starts with '/'.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub database: Option<String>,
    /// Given explicitly or by `PGPASSWORD`; the password file is read
    /// only when this is unset (see `password_for`).
    pub password: Option<String>,
    /// `sslmode` and the certificate files; only TCP connections use TLS.
    pub tls: TlsOptions,
    /// libpq's password file (`PGPASSFILE`, default `~/.pgpass`).
    pub passfile: Option<PathBuf>,
}

/// Never print a password, even in debug logs.
impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("tls", &self.tls)
            .field("passfile", &self.passfile)
            .finish()
    }
}

/// libpq's TLS variables walden does not implement, and why that matters.
const UNSUPPORTED_TLS_VARIABLES: [(&str, &str); 3] = [
    ("PGSSLCRL", "does not check certificate revocation lists"),
    ("PGSSLCRLDIR", "does not check certificate revocation lists"),
    ("PGSSLPASSWORD", "reads only unencrypted client keys"),
];

impl ConnectOptions {
    /// Fills unset fields from `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`,
    /// `PGPASSWORD`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`
    /// and `PGPASSFILE`, then with libpq's defaults: the socket directory
    /// `/var/run/postgresql`, port 5432, the OS user name, a database named
    /// like the user, `sslmode=prefer` (`verify-full` with
    /// `sslrootcert=system`), certificate files under `~/.postgresql/` and
    /// the password file `~/.pgpass`. An unparsable `PGPORT` is ignored
    /// with a warning; an invalid `PGSSLMODE` is an error, since guessing
    /// could send the session in clear.
    pub fn with_pg_env(self) -> Result<Self, ControlError> {
        self.with_env(|name| std::env::var(name).ok(), os_user_name())
    }

    /// `with_pg_env` with the environment and OS user given, for tests.
    fn with_env(
        self,
        env: impl Fn(&str) -> Option<String>,
        os_user: Option<String>,
    ) -> Result<Self, ControlError> {
        // libpq treats an empty variable as set; an empty host or user is
        // never what was meant, so empty counts as unset here.
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        let host = self
            .host
            .or_else(|| var("PGHOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());
        let port = self
            .port
            .or_else(|| var("PGPORT").and_then(|text| parse_port(&text)))
            .unwrap_or(DEFAULT_PORT);
        let user = self.user.or_else(|| var("PGUSER")).or(os_user);
        let database = self
            .database
            .or_else(|| var("PGDATABASE"))
            .or_else(|| user.clone());
        let password = self.password.or_else(|| var("PGPASSWORD"));
        let home = var("HOME").map(PathBuf::from);
        let path = |explicit: Option<PathBuf>, name: &str| {
            explicit.or_else(|| var(name).map(PathBuf::from))
        };
        // Ignoring these would trust a revoked certificate, or fail later on
        // a key walden cannot decrypt: say so before connecting.
        for (name, why) in UNSUPPORTED_TLS_VARIABLES {
            if var(name).is_some() {
                return Err(ControlError::Settings {
                    problem: format!("{name} is set, but walden {why}: unset it, or use pg_basebackup for this connection"),
                });
            }
        }
        let root_cert = path(self.tls.root_cert, "PGSSLROOTCERT");
        let mode = match (self.tls.mode, var("PGSSLMODE")) {
            (mode, _) if mode != SslMode::default() => mode,
            (_, Some(text)) => text.parse().map_err(|problem| ControlError::Settings {
                problem: format!("PGSSLMODE: {problem}"),
            })?,
            // libpq 16: the system's roots make verify-full the default.
            (_, None) if root_cert.as_deref() == Some(std::path::Path::new("system")) => {
                SslMode::VerifyFull
            }
            (mode, None) => mode,
        };
        let tls = TlsOptions {
            mode,
            root_cert,
            cert: path(self.tls.cert, "PGSSLCERT"),
            key: path(self.tls.key, "PGSSLKEY"),
            home: self.tls.home.or_else(|| home.clone()),
        };
        let passfile = self
            .passfile
            .or_else(|| super::pgpass::path_from(var("PGPASSFILE"), home.as_deref()));
        Ok(ConnectOptions {
            host: Some(host),
            port: Some(port),
            user,
            database,
            password,
            tls,
            passfile,
        })
    }

    /// The password to send for a connection to `database` (`replication`
    /// for a replication connection, as the password file spells it): the
    /// explicit one or `PGPASSWORD`, else the first matching line of the
    /// password file, else none.
    pub fn password_for(&self, database: &str) -> Option<String> {
        if let Some(password) = &self.password {
            return Some(password.clone());
        }
        let (passfile, user) = (self.passfile.as_deref()?, self.user.as_deref()?);
        super::pgpass::lookup(
            passfile,
            &super::pgpass::PgpassQuery {
                host: self.host.as_deref().unwrap_or(DEFAULT_HOST),
                port: self.port.unwrap_or(DEFAULT_PORT),
                database,
                user,
            },
        )
    }

    /// Whether the connection goes over a Unix socket, which never uses TLS.
    pub fn is_socket(&self) -> bool {
        is_socket_dir(self.host.as_deref().unwrap_or(DEFAULT_HOST))
    }

    /// "socket /run/postgresql/.s.PGSQL.5432 as user postgres, database
    /// app": what an operator needs to find what we tried to reach.
    pub fn describe(&self) -> String {
        let port = self.port.unwrap_or(DEFAULT_PORT);
        let place = match self.host.as_deref().unwrap_or(DEFAULT_HOST) {
            dir if is_socket_dir(dir) => {
                format!("socket {}/.s.PGSQL.{port}", dir.trim_end_matches('/'))
            }
            host if host.contains(':') => format!("host [{host}]:{port}"),
            host => format!("host {host}:{port}"),
        };
        let tls = if self.is_socket() || self.tls.mode == SslMode::default() {
            String::new()
        } else {
            format!(", sslmode={}", self.tls.mode)
        };
        format!(
            "{place} as user {}, database {}{tls}",
            self.user.as_deref().unwrap_or("(none)"),
            self.database.as_deref().unwrap_or("(none)")
        )
    }
}

fn parse_port(text: &str) -> Option<u16> {
    match text.parse() {
        Ok(port) if port != 0 => Some(port),
        _ => {
            tracing::warn!(PGPORT = text, "ignoring PGPORT: not a TCP port number");
            None
        }
    }
}

/// libpq's rule: a host starting with '/' is a Unix socket directory.
pub(crate) fn is_socket_dir(host: &str) -> bool {
    host.starts_with('/')
}

/// The effective user's name, as libpq takes it from the password database.
fn os_user_name() -> Option<String> {
    // SAFETY: passwd is plain old data (integers and pointers); all zeroes
    // is a valid value, which getpwuid_r overwrites.
    let mut record: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and buf's length is given.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut record,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || record.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string in buf.
    let name = unsafe { std::ffi::CStr::from_ptr(record.pw_name) };
    name.to_str().ok().map(str::to_owned)
}

/// What went wrong with the control session, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("cannot connect to PostgreSQL at {target}: {detail}")]
    Connect { target: String, detail: String },
    /// The connection settings themselves are wrong (a configuration error).
    #[error("{problem}")]
    Settings { problem: String },
    #[error("PostgreSQL {version} (server_version_num {version_num}) is not supported: walden takes base backups of PostgreSQL {} to {}", SUPPORTED_MAJORS.start(), SUPPORTED_MAJORS.end())]
    Unsupported { version_num: u32, version: String },
    #[error("{what} failed: {detail}")]
    Query { what: String, detail: String },
    #[error("the control connection to PostgreSQL was lost ({reason}); PostgreSQL aborts a non-exclusive backup when its session ends, so a backup in progress on it cannot be used: run the backup again")]
    SessionLost { reason: String },
    #[error("backup label: {problem}")]
    Label { problem: String },
    #[error("replication slot {slot:?} on {server}: {problem}")]
    Slot {
        slot: String,
        server: String,
        problem: String,
    },
}

/// The major version of `version_num` if walden supports it.
pub fn check_supported(version_num: u32) -> Result<u32, ControlError> {
    let major = version_num / 10_000;
    if SUPPORTED_MAJORS.contains(&major) {
        Ok(major)
    } else {
        Err(ControlError::Unsupported {
            version_num,
            version: version_name(version_num),
        })
    }
}

/// "15" from 150004, "9.6" from 90624: how PostgreSQL names its majors.
fn version_name(version_num: u32) -> String {
    let major = version_num / 10_000;
    if major >= 10 {
        major.to_string()
    } else {
        format!("{major}.{}", version_num / 100 % 100)
    }
}

/// Where `pg_backup_start` put the backup's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupStart {
    /// The redo point of the backup's checkpoint: replay starts here.
    pub lsn: Lsn,
    /// The timeline of that checkpoint. The label file from `backup_stop`
    /// (`START TIMELINE`) is the authority; this is known earlier.
    pub timeline: TimelineId,
    /// The server's clock just after the checkpoint.
    pub time: DateTime<Utc>,
}

/// What `pg_backup_stop` returned: the files to store with the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupStop {
    /// The backup is consistent once replay reaches this position.
    pub lsn: Lsn,
    /// The contents of `backup_label`, to be written into the restored data
    /// directory (it must never be taken from the live cluster).
    pub label_file: String,
    /// The contents of `tablespace_map`; `None` without tablespaces.
    pub tablespace_map: Option<String>,
    /// The server's clock after `pg_backup_stop` returned (after waiting for
    /// archiving, if asked): no earlier than the moment the backup became
    /// consistent, so it is safe for choosing a backup for a target time.
    pub time: DateTime<Utc>,
}

/// The two settings that pace a spread checkpoint, as the server has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckpointSettings {
    /// `checkpoint_timeout`.
    pub timeout: Duration,
    /// `checkpoint_completion_target`, a fraction of `checkpoint_timeout`.
    pub completion_target: f64,
}

impl CheckpointSettings {
    /// From `pg_settings` (`checkpoint_timeout` in seconds), refusing
    /// values no server has, so that an estimate is never nonsense.
    pub fn from_server(timeout_seconds: f64, completion_target: f64) -> Result<Self, String> {
        if !(1.0..=86_400.0).contains(&timeout_seconds) {
            return Err(format!(
                "checkpoint_timeout of {timeout_seconds} s is outside PostgreSQL's range"
            ));
        }
        if !(0.0..=1.0).contains(&completion_target) {
            return Err(format!(
                "checkpoint_completion_target of {completion_target} is outside PostgreSQL's range"
            ));
        }
        Ok(CheckpointSettings {
            timeout: Duration::from_secs_f64(timeout_seconds),
            completion_target,
        })
    }

    /// About the longest a requested spread checkpoint takes: PostgreSQL
    /// paces its writes to end at `checkpoint_completion_target` of
    /// `checkpoint_timeout`. It ends sooner with little to write (it pauses
    /// at most 100 ms per buffer written), or when `max_wal_size` fills;
    /// later when a checkpoint is already running (the request waits for
    /// it, then for its own).
    pub fn spread_estimate(&self) -> Duration {
        self.timeout.mul_f64(self.completion_target)
    }
}

/// A user tablespace: its files live outside the data directory, behind the
/// symbolic link `pg_tblspc/<oid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tablespace {
    pub oid: u32,
    pub name: String,
    /// As `pg_tablespace_location` gives it: absolute, or relative to the
    /// data directory (`pg_tblspc/<oid>`) for an in-place tablespace.
    pub location: PathBuf,
}

/// One open connection to the server a backup is taken from. Dropping it
/// closes the connection, which aborts a backup still in progress on it.
pub struct ControlSession {
    client: Client,
    version_num: u32,
    major: u32,
    target: String,
    connection_task: tokio::task::JoinHandle<()>,
    /// Why the connection ended, when the server or the network ended it.
    end: Arc<Mutex<Option<String>>>,
}

impl fmt::Debug for ControlSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlSession")
            .field("target", &self.target)
            .field("version_num", &self.version_num)
            .finish_non_exhaustive()
    }
}

impl ControlSession {
    /// Connects (fields left unset take libpq's defaults, without reading
    /// the environment: call `with_pg_env` first for that), refuses
    /// PostgreSQL versions walden does not support, and turns off the
    /// session timeouts a long backup would trip.
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ControlError> {
        let target = opts.describe();
        let connect_error = |e: tokio_postgres::Error| ControlError::Connect {
            target: target.clone(),
            detail: connect_detail(&e, opts.tls.mode),
        };
        // A socket never uses TLS (libpq's rule), so its certificate files
        // are not even read.
        let tls_options = if opts.is_socket() {
            TlsOptions {
                mode: SslMode::Disable,
                ..TlsOptions::default()
            }
        } else {
            opts.tls.clone()
        };
        let tls = MakeRustls::new(&tls_options).map_err(|e| ControlError::Connect {
            target: target.clone(),
            detail: e.to_string(),
        })?;
        let mut config = config_for(opts);
        config.ssl_mode(tls.ssl_mode());
        let (client, connection) = config.connect(tls).await.map_err(connect_error)?;
        let end = Arc::new(Mutex::new(None));
        let connection_task = tokio::spawn(drive(connection, target.clone(), Arc::clone(&end)));
        let mut session = ControlSession {
            client,
            version_num: 0,
            major: 0,
            target,
            connection_task,
            end,
        };
        let text: String = session
            .query_value("SHOW server_version_num", "SHOW server_version_num", &[])
            .await?;
        session.version_num = text.trim().parse().map_err(|_| ControlError::Query {
            what: "SHOW server_version_num".to_owned(),
            detail: format!("unexpected answer {text:?}"),
        })?;
        session.major = check_supported(session.version_num)?;
        session.disable_timeouts().await?;
        Ok(session)
    }

    /// A server-wide `statement_timeout` would cancel a spread checkpoint or
    /// the wait for archiving, and `idle_session_timeout` (14+) would end
    /// the session while files are copied, aborting the backup.
    async fn disable_timeouts(&self) -> Result<(), ControlError> {
        let mut sql = String::from("SET statement_timeout = 0; SET lock_timeout = 0;");
        if self.major >= 14 {
            sql.push_str(" SET idle_session_timeout = 0;");
        }
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| self.query_error("turning off session timeouts", &e))
    }

    /// `server_version_num`, e.g. 150004 for 15.4.
    pub fn server_version_num(&self) -> u32 {
        self.version_num
    }

    /// The major version, e.g. 15.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The database system identifier, the same as in every WAL segment's
    /// header and `pg_controldata`.
    pub async fn system_identifier(&self) -> Result<u64, ControlError> {
        let id: i64 = self
            .query_value(
                "reading the system identifier (pg_control_system())",
                "SELECT system_identifier FROM pg_control_system()",
                &[],
            )
            .await?;
        // PostgreSQL hands the unsigned 64-bit value over as a signed bigint.
        Ok(id as u64)
    }

    /// The data directory, as the server sees it. Needs superuser or
    /// `pg_read_all_settings`.
    pub async fn data_directory(&self) -> Result<PathBuf, ControlError> {
        let dir: String = self
            .query_value("SHOW data_directory", "SHOW data_directory", &[])
            .await?;
        Ok(PathBuf::from(dir))
    }

    /// The cluster's WAL segment size in bytes (validated: a power of two
    /// from 1 MiB to 1 GiB).
    pub async fn wal_segment_size(&self) -> Result<u32, ControlError> {
        // SHOW gives "16MB"; pg_size_bytes turns that into bytes server-side.
        let bytes: i64 = self
            .query_value(
                "reading wal_segment_size",
                "SELECT pg_size_bytes(current_setting('wal_segment_size'))",
                &[],
            )
            .await?;
        u32::try_from(bytes)
            .ok()
            .and_then(|bytes| WalSegmentSize::new(bytes).ok())
            .map(WalSegmentSize::bytes)
            .ok_or_else(|| ControlError::Query {
                what: "reading wal_segment_size".to_owned(),
                detail: format!("{bytes} bytes is not a valid WAL segment size"),
            })
    }

    /// Starts a non-exclusive backup: a checkpoint (immediate with `fast`,
    /// otherwise spread over `checkpoint_completion_target`, which can take
    /// minutes), then the start position and its timeline.
    pub async fn backup_start(&self, label: &str, fast: bool) -> Result<BackupStart, ControlError> {
        check_label(label)?;
        let (function, sql) = backup_start_sql(self.major);
        let what = format!("{function} (label {label:?})");
        let lsn: String = self.query_value(&what, sql, &[&label, &fast]).await?;
        let lsn = parse_lsn(&what, &lsn)?;
        // pg_backup_start takes the start position and timeline from the
        // checkpoint record it just wrote (or, on a standby, the last
        // restartpoint), which pg_control_checkpoint() reports.
        let what = "reading the backup's timeline (pg_control_checkpoint())";
        let row = self
            .client
            .query_one(
                "SELECT timeline_id, redo_lsn::text, (extract(epoch FROM now()) * 1000000)::int8 FROM pg_control_checkpoint()",
                &[],
            )
            .await
            .map_err(|e| self.query_error(what, &e))?;
        let (timeline, redo, micros): (i32, String, i64) = (
            column(&row, 0, what)?,
            column(&row, 1, what)?,
            column(&row, 2, what)?,
        );
        if redo != lsn.to_string() {
            // Another checkpoint came in between; the timeline is still the
            // same unless a promotion happened, which the label will show.
            tracing::debug!(start = %lsn, redo, "a checkpoint followed the backup's own");
        }
        Ok(BackupStart {
            lsn,
            timeline: timeline_from(what, timeline)?,
            time: time_from(what, micros)?,
        })
    }

    /// Ends the backup started on this session. With `wait_for_archive`,
    /// waits until every WAL segment the backup needs is archived (forever
    /// if archiving is failing: the server logs a warning every minute,
    /// which comes through as a warning here).
    pub async fn backup_stop(&self, wait_for_archive: bool) -> Result<BackupStop, ControlError> {
        let (what, sql) = backup_stop_sql(self.major);
        let row = self
            .client
            .query_one(sql, &[&wait_for_archive])
            .await
            .map_err(|e| self.query_error(what, &e))?;
        let (lsn, label_file, map, micros): (String, String, Option<String>, i64) = (
            column(&row, 0, what)?,
            column(&row, 1, what)?,
            column(&row, 2, what)?,
            column(&row, 3, what)?,
        );
        Ok(BackupStop {
            lsn: parse_lsn(what, &lsn)?,
            label_file,
            tablespace_map: map.filter(|map| !map.is_empty()),
            time: time_from(what, micros)?,
        })
    }

    /// `checkpoint_timeout` and `checkpoint_completion_target` (from
    /// `pg_settings`, which every role may read), to tell the operator how
    /// long a spread checkpoint may take before it starts.
    pub async fn checkpoint_settings(&self) -> Result<CheckpointSettings, ControlError> {
        let what = "reading checkpoint_timeout and checkpoint_completion_target";
        let row = self
            .client
            .query_one(
                "SELECT (SELECT setting::float8 FROM pg_settings WHERE name = 'checkpoint_timeout' AND unit = 's'), \
                        (SELECT setting::float8 FROM pg_settings WHERE name = 'checkpoint_completion_target')",
                &[],
            )
            .await
            .map_err(|e| self.query_error(what, &e))?;
        let (timeout, target): (Option<f64>, Option<f64>) =
            (column(&row, 0, what)?, column(&row, 1, what)?);
        let (Some(timeout), Some(target)) = (timeout, target) else {
            return Err(ControlError::Query {
                what: what.to_owned(),
                detail: "pg_settings does not list them in the expected units".to_owned(),
            });
        };
        CheckpointSettings::from_server(timeout, target).map_err(|detail| ControlError::Query {
            what: what.to_owned(),
            detail,
        })
    }

    /// User tablespaces (not `pg_default` and `pg_global`, which live in the
    /// data directory), by OID.
    pub async fn tablespaces(&self) -> Result<Vec<Tablespace>, ControlError> {
        let what = "listing tablespaces";
        let rows = self
            .client
            .query(
                "SELECT oid, spcname::text, pg_tablespace_location(oid) FROM pg_tablespace \
                 WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY oid",
                &[],
            )
            .await
            .map_err(|e| self.query_error(what, &e))?;
        rows.iter()
            .map(|row| {
                Ok(Tablespace {
                    oid: column(row, 0, what)?,
                    name: column(row, 1, what)?,
                    location: PathBuf::from(column::<String>(row, 2, what)?),
                })
            })
            .collect()
    }

    /// What the archiver reports (`pg_stat_archiver`, readable by anyone),
    /// for telling an operator why WAL is not reaching the archive.
    pub async fn archiver_status(&self) -> Result<String, ControlError> {
        self.query_value(
            "reading pg_stat_archiver",
            "SELECT format('last archived %s at %s, %s failures, last failed %s at %s', \
                coalesce(last_archived_wal, 'nothing'), coalesce(last_archived_time::text, '-'), \
                failed_count, coalesce(last_failed_wal, 'nothing'), coalesce(last_failed_time::text, '-')) \
             FROM pg_stat_archiver",
            &[],
        )
        .await
    }

    /// A server setting as `SHOW` gives it (e.g. `archive_mode`).
    pub async fn setting(&self, name: &str) -> Result<String, ControlError> {
        self.query_value(
            &format!("reading the setting {name}"),
            "SELECT current_setting($1)",
            &[&name],
        )
        .await
    }

    /// Whether the server is a standby (in recovery): it cannot switch WAL.
    pub async fn is_in_recovery(&self) -> Result<bool, ControlError> {
        self.query_value(
            "SELECT pg_is_in_recovery()",
            "SELECT pg_is_in_recovery()",
            &[],
        )
        .await
    }

    /// Writes a restore point named `name` and switches to a new WAL
    /// segment; returns the segment switched away from, which the archiver
    /// will hand to `archive_command`. The restore point guarantees the
    /// current segment holds WAL: on an idle server `pg_switch_wal()` is a
    /// no-op and would name a segment archived long ago (pgBackRest's check
    /// does the same). Needs superuser or EXECUTE on both functions.
    pub async fn switch_wal_with_restore_point(
        &self,
        name: &str,
    ) -> Result<SegmentName, ControlError> {
        let what = "pg_create_restore_point() and pg_switch_wal()";
        let _: String = self
            .query_value(what, "SELECT pg_create_restore_point($1)::text", &[&name])
            .await?;
        // pg_walfile_name() of the switch position names the segment it ends
        // (it maps a segment boundary to the segment before it).
        let file: String = self
            .query_value(what, "SELECT pg_walfile_name(pg_switch_wal())", &[])
            .await?;
        file.parse().map_err(|e| ControlError::Query {
            what: what.to_owned(),
            detail: format!("the server named the segment {file:?}: {e}"),
        })
    }

    /// Whether the server still answers on this session, so that a backup
    /// whose session dropped fails at once instead of after the copy. Call
    /// it between other calls: queued behind a long one (a spread checkpoint,
    /// the wait for archiving) it would time out and answer false.
    pub async fn is_alive(&self) -> bool {
        if self.client.is_closed() || self.connection_task.is_finished() {
            return false;
        }
        matches!(
            tokio::time::timeout(ALIVE_TIMEOUT, self.client.simple_query("SELECT 1")).await,
            Ok(Ok(_))
        )
    }

    /// Whether the session's role may create replication slots (the
    /// REPLICATION attribute, or superuser).
    pub async fn may_create_slots(&self) -> Result<bool, ControlError> {
        self.query_value(
            "checking the role's REPLICATION attribute",
            "SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
    }

    /// The replication slot called `name`, if there is one.
    pub async fn replication_slot(&self, name: &str) -> Result<Option<SlotState>, ControlError> {
        let what = "reading pg_replication_slots";
        let rows = self
            .client
            .query(
                "SELECT slot_type, active, active_pid, restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                &[&name],
            )
            .await
            .map_err(|e| self.query_error(what, &e))?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let slot_type: String = column(row, 0, what)?;
        let restart_lsn: Option<String> = column(row, 3, what)?;
        Ok(Some(SlotState {
            physical: slot_type == "physical",
            active: column(row, 1, what)?,
            active_pid: column(row, 2, what)?,
            restart_lsn: restart_lsn.map(|l| parse_lsn(what, &l)).transpose()?,
        }))
    }

    /// Creates the physical slot `name`, reserving WAL at once
    /// (`pg_create_physical_replication_slot(name, true)`), or takes the
    /// existing one if a standby may use it (`check_slot_usable`).
    pub async fn ensure_physical_slot(&self, name: &str) -> Result<SlotMade, ControlError> {
        let what = "pg_create_physical_replication_slot()";
        let created = self
            .client
            .query_one(
                "SELECT lsn::text FROM pg_create_physical_replication_slot($1, true)",
                &[&name],
            )
            .await;
        match created {
            Ok(row) => {
                let lsn: Option<String> = column(&row, 0, what)?;
                Ok(SlotMade::Created {
                    restart_lsn: lsn.map(|l| parse_lsn(what, &l)).transpose()?,
                })
            }
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT) => {
                let state = self.replication_slot(name).await?.ok_or_else(|| {
                    self.slot_error(
                        name,
                        "was there a moment ago and is gone now; run the command again",
                    )
                })?;
                check_slot_usable(name, &state)
                    .map_err(|problem| self.slot_error(name, &problem))?;
                Ok(SlotMade::Existing(state))
            }
            Err(e) => Err(self.query_error(what, &e)),
        }
    }

    /// A slot problem on this session's server.
    pub fn slot_error(&self, slot: &str, problem: &str) -> ControlError {
        ControlError::Slot {
            slot: slot.to_owned(),
            server: self.target.clone(),
            problem: problem.to_owned(),
        }
    }

    /// A closed connection means the backup is gone, whatever query noticed
    /// it; the reason is the connection's own error when it had one (a query
    /// only sees "connection closed").
    fn query_error(&self, what: &str, err: &tokio_postgres::Error) -> ControlError {
        let fatal = err
            .as_db_error()
            .is_some_and(|db| matches!(db.severity(), "FATAL" | "PANIC"));
        if err.is_closed() || fatal {
            let end = self.end.lock().ok().and_then(|end| end.clone());
            ControlError::SessionLost {
                reason: format!(
                    "during {what}: {}",
                    end.unwrap_or_else(|| describe_error(err))
                ),
            }
        } else {
            ControlError::Query {
                what: what.to_owned(),
                detail: describe_error(err),
            }
        }
    }

    async fn query_value<T>(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<T, ControlError>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let row = self
            .client
            .query_one(sql, params)
            .await
            .map_err(|e| self.query_error(what, &e))?;
        column(&row, 0, what)
    }
}

/// A column of a result row, as an error instead of a panic if it is not
/// what the query promised.
fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
    what: &str,
) -> Result<T, ControlError> {
    row.try_get(index).map_err(|e| ControlError::Query {
        what: what.to_owned(),
        detail: describe_error(&e),
    })
}

/// The function (for messages) and the query that starts a backup:
/// `pg_backup_start` was `pg_start_backup`, with an `exclusive` flag, up to 14.
fn backup_start_sql(major: u32) -> (&'static str, &'static str) {
    if major >= 15 {
        ("pg_backup_start()", "SELECT pg_backup_start($1, $2)::text")
    } else {
        (
            "pg_start_backup()",
            "SELECT pg_start_backup($1, $2, false)::text",
        )
    }
}

/// The function and the query that stop a backup. `clock_timestamp()` is
/// evaluated as the row is produced, after the function returned; `now()`
/// would be the time the statement started.
fn backup_stop_sql(major: u32) -> (&'static str, &'static str) {
    if major >= 15 {
        (
            "pg_backup_stop()",
            "SELECT lsn::text, labelfile, spcmapfile, (extract(epoch FROM clock_timestamp()) * 1000000)::int8 FROM pg_backup_stop($1)",
        )
    } else {
        (
            "pg_stop_backup()",
            "SELECT lsn::text, labelfile, spcmapfile, (extract(epoch FROM clock_timestamp()) * 1000000)::int8 FROM pg_stop_backup(false, $1)",
        )
    }
}

/// A label PostgreSQL would refuse, or one that would add lines of its own
/// to the backup label file.
fn check_label(label: &str) -> Result<(), ControlError> {
    let problem = if label.len() > MAX_LABEL_BYTES {
        format!(
            "{} bytes is too long: PostgreSQL takes at most {MAX_LABEL_BYTES}",
            label.len()
        )
    } else if label.contains(['\n', '\r', '\0']) {
        format!(
            "{label:?} must be a single line: it is written as one line of the backup_label file"
        )
    } else {
        return Ok(());
    };
    Err(ControlError::Label { problem })
}

fn config_for(opts: &ConnectOptions) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    let host = opts.host.as_deref().unwrap_or(DEFAULT_HOST);
    if is_socket_dir(host) {
        config.host_path(host);
    } else {
        config.host(host);
    }
    config
        .port(opts.port.unwrap_or(DEFAULT_PORT))
        .application_name("walden")
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES);
    if let Some(user) = &opts.user {
        config.user(user);
    }
    if let Some(database) = &opts.database {
        config.dbname(database);
    }
    if let Some(password) = opts.password_for(opts.database.as_deref().unwrap_or_default()) {
        config.password(password);
    }
    config
}

/// Runs the connection until the session ends, passing the server's
/// notices and warnings (such as "still waiting for all required WAL
/// segments to be archived") on to the log.
async fn drive(
    mut connection: Connection<tokio_postgres::Socket, RustlsStream>,
    target: String,
    end: Arc<Mutex<Option<String>>>,
) {
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            None => return,
            Some(Ok(AsyncMessage::Notice(notice))) => log_notice(&notice),
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                if let Ok(mut end) = end.lock() {
                    *end = Some(describe_error(&e));
                }
                tracing::warn!(server = %target, "PostgreSQL control connection ended: {}", describe_error(&e));
                return;
            }
        }
    }
}

fn log_notice(notice: &tokio_postgres::error::DbError) {
    let text = describe_db_error(notice);
    match notice.severity() {
        "WARNING" => tracing::warn!("PostgreSQL: {text}"),
        "NOTICE" | "INFO" | "LOG" => tracing::info!("PostgreSQL: {text}"),
        _ => tracing::debug!("PostgreSQL: {text}"),
    }
}

/// What to add to a failed connection attempt: the server's own words
/// when it answered, else a hint about where it was looked for.
fn connect_detail(err: &tokio_postgres::Error, mode: SslMode) -> String {
    let detail = describe_error(err);
    // tokio-postgres' words for an 'N' to the SSL request; the same
    // sentence as the replication client's (tls::negotiate).
    if detail.contains("server does not support TLS") {
        return super::tls::TlsError::Refused { mode }.to_string();
    }
    // tokio-postgres says only "password missing" when the server asks
    // for one and none was found.
    if detail.contains("password missing") {
        return "the server asks for a password and none was given: set PGPASSWORD, or add a line for this host, port, database and user to the password file (PGPASSFILE, default ~/.pgpass, mode 0600)".to_owned();
    }
    // A TLS failure means the server answered: the hint would mislead.
    if err.as_db_error().is_some() || is_tls_failure(err) {
        detail
    } else {
        format!("{detail}; is the server running there? (set the host, port and user with PGHOST, PGPORT and PGUSER or the matching options)")
    }
}

fn is_tls_failure(err: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        if inner.downcast_ref::<super::tls::TlsError>().is_some() {
            return true;
        }
        cause = inner.source();
    }
    false
}

/// One line with everything the server or the socket said.
fn describe_error(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return describe_db_error(db);
    }
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn describe_db_error(db: &tokio_postgres::error::DbError) -> String {
    let mut text = format!("{}: {}", db.severity(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(&format!(" (DETAIL: {detail})"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!(" (HINT: {hint})"));
    }
    text.push_str(&format!(" [SQLSTATE {}]", db.code().code()));
    text
}

fn parse_lsn(what: &str, text: &str) -> Result<Lsn, ControlError> {
    text.parse().map_err(|_| ControlError::Query {
        what: what.to_owned(),
        detail: format!("unexpected WAL location {text:?}"),
    })
}

fn timeline_from(what: &str, value: i32) -> Result<TimelineId, ControlError> {
    match u32::try_from(value) {
        Ok(tli) if tli > 0 => Ok(TimelineId(tli)),
        _ => Err(ControlError::Query {
            what: what.to_owned(),
            detail: format!("unexpected timeline {value}"),
        }),
    }
}

fn time_from(what: &str, micros: i64) -> Result<DateTime<Utc>, ControlError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| ControlError::Query {
        what: what.to_owned(),
        detail: format!("unexpected server time ({micros} µs since 1970)"),
    })
}

/// A replication slot as `pg_replication_slots` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotState {
    pub physical: bool,
    /// A walsender (a standby, pg_receivewal) is streaming from it now.
    pub active: bool,
    pub active_pid: Option<i32>,
    /// The oldest WAL it keeps; none until WAL was reserved or streamed.
    pub restart_lsn: Option<Lsn>,
}

/// What `ensure_physical_slot` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotMade {
    Created { restart_lsn: Option<Lsn> },
    Existing(SlotState),
}

/// Whether a new standby may take the existing slot `name`: a logical
/// slot cannot feed a physical standby, and an active one already feeds
/// something else (two standbys on one slot each lose WAL the other
/// confirmed). The problem, worded for the operator, when it may not.
pub fn check_slot_usable(name: &str, state: &SlotState) -> Result<(), String> {
    if !state.physical {
        return Err(
            "exists and is a logical slot; a standby needs a physical one: choose another --slot name"
                .to_owned(),
        );
    }
    if state.active {
        let pid = state
            .active_pid
            .map(|pid| format!(" (walsender PID {pid})"))
            .unwrap_or_default();
        return Err(format!(
            "exists and is in use by another standby or WAL receiver{pid}; a slot feeds one receiver: choose another --slot name, or stop the other one and drop the slot with SELECT pg_drop_replication_slot('{name}')"
        ));
    }
    Ok(())
}

/// Which server a backup was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupFrom {
    Primary,
    Standby,
}

/// The contents of a `backup_label` file, or of a `.backup` history file
/// (which adds the `STOP` lines). Unknown lines are skipped, as PostgreSQL
/// does, so that a newer server's additions do not break reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupLabel {
    pub start_lsn: Lsn,
    /// The segment holding `start_lsn`, as named in the label.
    pub start_segment: SegmentName,
    pub checkpoint_lsn: Lsn,
    /// `streamed` (non-exclusive), or `pg_start_backup` from an exclusive
    /// backup of PostgreSQL 14 or older.
    pub method: String,
    pub from: BackupFrom,
    /// As written, in the server's `log_timezone` (`2026-11-24 19:40:18 UTC`);
    /// zone abbreviations are ambiguous, so it is not parsed.
    pub start_time: String,
    pub label: String,
    pub start_timeline: TimelineId,
    /// `INCREMENTAL FROM LSN` / `INCREMENTAL FROM TLI` (PostgreSQL 17).
    pub incremental_from: Option<(Lsn, TimelineId)>,
    /// Only in `.backup` history files.
    pub stop: Option<BackupLabelStop>,
}

/// The `STOP` lines of a `.backup` history file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupLabelStop {
    pub lsn: Lsn,
    pub segment: SegmentName,
    pub time: String,
    pub timeline: TimelineId,
}

/// Parses a backup label (or `.backup` history file) written by
/// PostgreSQL, insisting on the lines recovery depends on and on their
/// agreeing with each other.
pub fn parse_backup_label(text: &str) -> Result<BackupLabel, ControlError> {
    let fields = label_fields(text)?;
    let (start_lsn, start_segment) = wal_location(&fields, "START WAL LOCATION")?;
    let start_timeline = decimal_timeline(&fields, "START TIMELINE")?;
    check_segment(start_lsn, start_segment, start_timeline, "START")?;
    let from = match required(&fields, "BACKUP FROM")? {
        // PostgreSQL 13 and older write "master"; 14 renamed it "primary".
        "primary" | "master" => BackupFrom::Primary,
        "standby" => BackupFrom::Standby,
        other => {
            return Err(label_problem(format!(
                "BACKUP FROM {other:?} is neither primary nor standby"
            )))
        }
    };
    Ok(BackupLabel {
        start_lsn,
        start_segment,
        checkpoint_lsn: lsn_field(&fields, "CHECKPOINT LOCATION")?,
        method: required(&fields, "BACKUP METHOD")?.to_owned(),
        from,
        start_time: required(&fields, "START TIME")?.to_owned(),
        label: required(&fields, "LABEL")?.to_owned(),
        start_timeline,
        incremental_from: incremental_from(&fields)?,
        stop: stop_lines(&fields)?,
    })
}

type Fields<'a> = Vec<(&'a str, &'a str)>;

/// `KEY: value` pairs. A key seen twice is refused: it could only come from
/// a label that smuggled in lines of its own.
fn label_fields(text: &str) -> Result<Fields<'_>, ControlError> {
    let mut fields: Fields<'_> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        if fields.iter().any(|(seen, _)| *seen == key) {
            return Err(label_problem(format!("the line {key:?} appears twice")));
        }
        fields.push((key, value));
    }
    Ok(fields)
}

fn label_problem(problem: String) -> ControlError {
    ControlError::Label { problem }
}

fn optional<'a>(fields: &Fields<'a>, key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn required<'a>(fields: &Fields<'a>, key: &str) -> Result<&'a str, ControlError> {
    optional(fields, key).ok_or_else(|| label_problem(format!("no {key} line")))
}

fn lsn_field(fields: &Fields<'_>, key: &str) -> Result<Lsn, ControlError> {
    let text = required(fields, key)?;
    text.parse()
        .map_err(|_| label_problem(format!("{key} {text:?} is not a WAL location")))
}

/// `0/2000028 (file 000000010000000000000002)`.
fn wal_location(fields: &Fields<'_>, key: &str) -> Result<(Lsn, SegmentName), ControlError> {
    let text = required(fields, key)?;
    let bad = || {
        label_problem(format!(
            "{key} {text:?} is not like \"0/2000028 (file 000000010000000000000002)\""
        ))
    };
    let (lsn, rest) = text.split_once(" (file ").ok_or_else(bad)?;
    let file = rest.strip_suffix(')').ok_or_else(bad)?;
    Ok((
        lsn.parse().map_err(|_| bad())?,
        file.parse().map_err(|_| bad())?,
    ))
}

/// Timelines are decimal in labels (`%u`), unlike in file names.
fn decimal_timeline(fields: &Fields<'_>, key: &str) -> Result<TimelineId, ControlError> {
    let text = required(fields, key)?;
    match text.parse::<u32>() {
        Ok(tli) if tli > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(TimelineId(tli)),
        _ => Err(label_problem(format!(
            "{key} {text:?} is not a timeline number"
        ))),
    }
}

/// The segment named in the label must hold the position and be on the
/// label's timeline. Whatever the segment size, the middle 8 digits of a
/// segment name are the high half of the positions it holds.
fn check_segment(
    lsn: Lsn,
    segment: SegmentName,
    timeline: TimelineId,
    which: &str,
) -> Result<(), ControlError> {
    if segment.timeline != timeline || u64::from(segment.log) != lsn.0 >> 32 {
        return Err(label_problem(format!(
            "{which} WAL location {lsn} cannot be in segment {segment} on timeline {}",
            timeline.0
        )));
    }
    Ok(())
}

fn incremental_from(fields: &Fields<'_>) -> Result<Option<(Lsn, TimelineId)>, ControlError> {
    let (lsn_key, tli_key) = ("INCREMENTAL FROM LSN", "INCREMENTAL FROM TLI");
    match (optional(fields, lsn_key), optional(fields, tli_key)) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Ok(Some((
            lsn_field(fields, lsn_key)?,
            decimal_timeline(fields, tli_key)?,
        ))),
        _ => Err(label_problem(format!(
            "{lsn_key} and {tli_key} must come together"
        ))),
    }
}

fn stop_lines(fields: &Fields<'_>) -> Result<Option<BackupLabelStop>, ControlError> {
    if optional(fields, "STOP WAL LOCATION").is_none() {
        return Ok(None);
    }
    let (lsn, segment) = wal_location(fields, "STOP WAL LOCATION")?;
    let timeline = decimal_timeline(fields, "STOP TIMELINE")?;
    check_segment(lsn, segment, timeline, "STOP")?;
    Ok(Some(BackupLabelStop {
        lsn,
        segment,
        time: required(fields, "STOP TIME")?.to_owned(),
        timeline,
    }))
}

#[cfg(test)]
mod label_tests {
    use super::*;
    use crate::pg::fixture;

    /// What PostgreSQL 15's pg_backup_stop returned as `labelfile` in the
    /// integration test below (time and label as it wrote them).
    const PG15_LABEL: &str = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
CHECKPOINT LOCATION: 0/2000060
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-11-24 19:40:18 UTC
LABEL: walden base_000000010000000000000002
START TIMELINE: 1
";

    fn fixture_text(name: &str) -> String {
        String::from_utf8(fixture(name)).unwrap()
    }

    fn seg(timeline: u32, log: u32, seg: u32) -> SegmentName {
        SegmentName {
            timeline: TimelineId(timeline),
            log,
            seg,
        }
    }

    #[test]
    fn parses_a_label_file() {
        let label = parse_backup_label(PG15_LABEL).unwrap();
        assert_eq!(
            label,
            BackupLabel {
                start_lsn: "0/2000028".parse().unwrap(),
                start_segment: seg(1, 0, 2),
                checkpoint_lsn: "0/2000060".parse().unwrap(),
                method: "streamed".to_owned(),
                from: BackupFrom::Primary,
                start_time: "2026-11-24 19:40:18 UTC".to_owned(),
                label: "walden base_000000010000000000000002".to_owned(),
                start_timeline: TimelineId(1),
                incremental_from: None,
                stop: None,
            }
        );
    }

    #[test]
    fn postgresql_13_calls_the_primary_master() {
        // As PostgreSQL 13.23 wrote it (tests/version_matrix.rs found it:
        // wal-push refused every PostgreSQL 13 backup history file).
        let pg13 = PG15_LABEL.replace("BACKUP FROM: primary", "BACKUP FROM: master");
        assert_eq!(parse_backup_label(&pg13).unwrap().from, BackupFrom::Primary);
    }

    #[test]
    fn parses_backup_history_files_with_their_stop_lines() {
        let label = parse_backup_label(&fixture_text(
            "pg15-16MiB-000000010000000000000003.00000028.backup",
        ))
        .unwrap();
        assert_eq!(label.start_lsn.to_string(), "0/3000028");
        assert_eq!(label.start_segment, seg(1, 0, 3));
        assert_eq!(label.checkpoint_lsn.to_string(), "0/3000060");
        assert_eq!(label.label, "walden-fixture");
        assert_eq!(label.start_timeline, TimelineId(1));
        assert_eq!(label.start_time, "2026-11-24 19:40:18 UTC");
        let stop = label.stop.unwrap();
        assert_eq!(stop.lsn.to_string(), "0/3000D30");
        assert_eq!(stop.segment, seg(1, 0, 3));
        assert_eq!(stop.timeline, TimelineId(1));
        assert_eq!(stop.time, "2026-11-24 19:40:18 UTC");

        let label = parse_backup_label(&fixture_text(
            "pg15-16MiB-000000020000000000000007.00000028.backup",
        ))
        .unwrap();
        assert_eq!(label.start_timeline, TimelineId(2));
        assert_eq!(label.start_segment, seg(2, 0, 7));
        assert_eq!(label.label, "pg_basebackup base backup");
        assert_eq!(label.stop.unwrap().lsn.to_string(), "0/7000100");

        // 1 MiB segments: segment 8 holds 0/800028.
        let label = parse_backup_label(&fixture_text(
            "pg15-1MiB-000000010000000000000008.00000028.backup",
        ))
        .unwrap();
        assert_eq!(label.start_lsn.to_string(), "0/800028");
        assert_eq!(label.start_segment, seg(1, 0, 8));
    }

    #[test]
    fn parses_standby_and_incremental_labels() {
        let text = PG15_LABEL.replace("BACKUP FROM: primary", "BACKUP FROM: standby")
            + "INCREMENTAL FROM LSN: 0/1000028\nINCREMENTAL FROM TLI: 1\n";
        let label = parse_backup_label(&text).unwrap();
        assert_eq!(label.from, BackupFrom::Standby);
        assert_eq!(
            label.incremental_from,
            Some(("0/1000028".parse().unwrap(), TimelineId(1)))
        );
        let half = PG15_LABEL.to_owned() + "INCREMENTAL FROM LSN: 0/1000028\n";
        assert!(parse_backup_label(&half).is_err());
    }

    #[test]
    fn keeps_labels_with_colons_and_skips_unknown_lines() {
        let text = PG15_LABEL.replace(
            "LABEL: walden base_000000010000000000000002",
            "LABEL: nightly: 02:00 run",
        ) + "SOMETHING NEW: 42\n";
        assert_eq!(
            parse_backup_label(&text).unwrap().label,
            "nightly: 02:00 run"
        );
        let empty = PG15_LABEL.replace("LABEL: walden base_000000010000000000000002", "LABEL: ");
        assert_eq!(parse_backup_label(&empty).unwrap().label, "");
        let crlf = PG15_LABEL.replace('\n', "\r\n");
        assert_eq!(
            parse_backup_label(&crlf).unwrap().start_timeline,
            TimelineId(1)
        );
    }

    #[test]
    fn refuses_labels_recovery_could_not_use() {
        for (text, expected) in [
            (
                PG15_LABEL.replace("START TIMELINE: 1\n", ""),
                "no START TIMELINE",
            ),
            (
                PG15_LABEL.replace("CHECKPOINT LOCATION: 0/2000060\n", ""),
                "no CHECKPOINT LOCATION",
            ),
            (
                PG15_LABEL.replace("START WAL LOCATION", "START WAL"),
                "no START WAL LOCATION",
            ),
            (
                PG15_LABEL.replace("START TIMELINE: 1", "START TIMELINE: 0"),
                "not a timeline",
            ),
            (
                PG15_LABEL.replace("START TIMELINE: 1", "START TIMELINE: 0x1"),
                "not a timeline",
            ),
            (
                PG15_LABEL.replace("START TIMELINE: 1", "START TIMELINE: 2"),
                "cannot be in segment",
            ),
            (
                PG15_LABEL.replace("0/2000028 (file", "1/2000028 (file"),
                "cannot be in segment",
            ),
            (
                PG15_LABEL.replace(
                    "(file 000000010000000000000002)",
                    "000000010000000000000002",
                ),
                "is not like",
            ),
            (
                PG15_LABEL.replace(
                    "(file 000000010000000000000002)",
                    "(file 00000001000000000000002)",
                ),
                "is not like",
            ),
            (
                PG15_LABEL.replace(
                    "CHECKPOINT LOCATION: 0/2000060",
                    "CHECKPOINT LOCATION: 2000060",
                ),
                "not a WAL location",
            ),
            (
                PG15_LABEL.replace("BACKUP FROM: primary", "BACKUP FROM: replica"),
                "neither primary nor standby",
            ),
            (
                PG15_LABEL.to_owned() + "START TIMELINE: 2\n",
                "appears twice",
            ),
            ("garbage".to_owned(), "no START WAL LOCATION"),
            (String::new(), "no START WAL LOCATION"),
        ] {
            let err = parse_backup_label(&text).unwrap_err();
            assert!(matches!(err, ControlError::Label { .. }), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains(expected),
                "{message} (wanted {expected:?})"
            );
        }
    }

    #[test]
    fn refuses_stop_lines_that_disagree() {
        let mut text = fixture_text("pg15-16MiB-000000010000000000000003.00000028.backup");
        text = text.replace("STOP TIMELINE: 1", "STOP TIMELINE: 2");
        let err = parse_backup_label(&text).unwrap_err();
        assert!(err.to_string().contains("STOP WAL location"), "{err}");
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn spread_checkpoint_estimate_is_timeout_times_target() {
        let five_minutes = CheckpointSettings::from_server(300.0, 0.9).unwrap();
        assert_eq!(five_minutes.spread_estimate(), Duration::from_secs(270));
        let minimum = CheckpointSettings::from_server(30.0, 0.5).unwrap();
        assert_eq!(minimum.spread_estimate(), Duration::from_secs(15));
        assert_eq!(
            CheckpointSettings::from_server(60.0, 0.0)
                .unwrap()
                .spread_estimate(),
            Duration::ZERO
        );
        for (timeout, target) in [(0.0, 0.9), (-5.0, 0.9), (300.0, 1.5), (300.0, f64::NAN)] {
            let err = CheckpointSettings::from_server(timeout, target).unwrap_err();
            assert!(err.contains("outside PostgreSQL's range"), "{err}");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_are_libpqs() {
        let opts = ConnectOptions::default()
            .with_env(env(&[]), Some("alice".to_owned()))
            .unwrap();
        assert_eq!(
            opts,
            ConnectOptions {
                host: Some("/var/run/postgresql".to_owned()),
                port: Some(5432),
                user: Some("alice".to_owned()),
                database: Some("alice".to_owned()),
                password: None,
                tls: TlsOptions::default(),
                passfile: None,
            }
        );
        let nobody = ConnectOptions::default().with_env(env(&[]), None).unwrap();
        assert_eq!((nobody.user, nobody.database), (None, None));
    }

    #[test]
    fn environment_fills_only_unset_fields() {
        let vars = env(&[
            ("PGHOST", "db.example"),
            ("PGPORT", "6543"),
            ("PGUSER", "backup"),
            ("PGDATABASE", "app"),
            ("PGPASSWORD", "s3cret"),
        ]);
        let from_env = ConnectOptions::default()
            .with_env(&vars, Some("root".to_owned()))
            .unwrap();
        assert_eq!(
            from_env,
            ConnectOptions {
                host: Some("db.example".to_owned()),
                port: Some(6543),
                user: Some("backup".to_owned()),
                database: Some("app".to_owned()),
                password: Some("s3cret".to_owned()),
                ..ConnectOptions::default()
            }
        );
        let explicit = ConnectOptions {
            host: Some("/run/pg".to_owned()),
            port: Some(5433),
            user: Some("walden".to_owned()),
            database: None,
            password: None,
            tls: TlsOptions::default(),
            passfile: None,
        }
        .with_env(&vars, Some("root".to_owned()))
        .unwrap();
        assert_eq!(explicit.host.as_deref(), Some("/run/pg"));
        assert_eq!(explicit.port, Some(5433));
        assert_eq!(explicit.user.as_deref(), Some("walden"));
        assert_eq!(explicit.database.as_deref(), Some("app"));
        assert_eq!(explicit.password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn database_defaults_to_the_user_wherever_it_came_from() {
        let opts = ConnectOptions {
            user: Some("walden".to_owned()),
            ..ConnectOptions::default()
        }
        .with_env(env(&[("PGUSER", "other")]), Some("root".to_owned()))
        .unwrap();
        assert_eq!(opts.database.as_deref(), Some("walden"));
    }

    #[test]
    fn empty_and_bad_variables_are_ignored() {
        let opts = ConnectOptions::default()
            .with_env(
                env(&[("PGHOST", ""), ("PGPORT", "fifty"), ("PGUSER", "")]),
                Some("bob".to_owned()),
            )
            .unwrap();
        assert_eq!(opts.host.as_deref(), Some("/var/run/postgresql"));
        assert_eq!(opts.port, Some(5432));
        assert_eq!(opts.user.as_deref(), Some("bob"));
        for bad in ["0", "65536", "-1", " 5432"] {
            let opts = ConnectOptions::default()
                .with_env(env(&[("PGPORT", bad)]), None)
                .unwrap();
            assert_eq!(opts.port, Some(5432), "{bad}");
        }
    }

    #[test]
    fn tls_and_password_file_from_the_environment() {
        let vars = env(&[
            ("HOME", "/home/op"),
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", "/etc/ca.pem"),
            ("PGSSLCERT", "/etc/c.crt"),
            ("PGSSLKEY", "/etc/c.key"),
        ]);
        let opts = ConnectOptions::default().with_env(&vars, None).unwrap();
        assert_eq!(
            opts.tls,
            TlsOptions {
                mode: SslMode::VerifyFull,
                root_cert: Some(PathBuf::from("/etc/ca.pem")),
                cert: Some(PathBuf::from("/etc/c.crt")),
                key: Some(PathBuf::from("/etc/c.key")),
                home: Some(PathBuf::from("/home/op")),
            }
        );
        assert_eq!(opts.passfile, Some(PathBuf::from("/home/op/.pgpass")));
        // Explicit settings win over the environment.
        let explicit = ConnectOptions {
            tls: TlsOptions {
                mode: SslMode::Disable,
                root_cert: Some(PathBuf::from("/mine.pem")),
                ..TlsOptions::default()
            },
            ..ConnectOptions::default()
        }
        .with_env(&vars, None)
        .unwrap();
        assert_eq!(explicit.tls.mode, SslMode::Disable);
        assert_eq!(explicit.tls.root_cert, Some(PathBuf::from("/mine.pem")));

        let err = ConnectOptions::default()
            .with_env(env(&[("PGSSLMODE", "secure")]), None)
            .unwrap_err();
        assert!(matches!(err, ControlError::Settings { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("PGSSLMODE: invalid sslmode"),
            "{err}"
        );

        let system = ConnectOptions::default()
            .with_env(env(&[("PGSSLROOTCERT", "system")]), None)
            .unwrap();
        assert_eq!(system.tls.mode, SslMode::VerifyFull);
        for name in ["PGSSLCRL", "PGSSLCRLDIR", "PGSSLPASSWORD"] {
            let err = ConnectOptions::default()
                .with_env(env(&[(name, "/etc/x")]), None)
                .unwrap_err();
            assert!(matches!(err, ControlError::Settings { .. }), "{err:?}");
            assert!(err.to_string().contains(&format!("{name} is set")), "{err}");
        }
        let passfile = ConnectOptions::default()
            .with_env(env(&[("HOME", "/h"), ("PGPASSFILE", "/etc/pw")]), None)
            .unwrap();
        assert_eq!(passfile.passfile, Some(PathBuf::from("/etc/pw")));
    }

    #[test]
    fn password_precedence_is_explicit_then_pgpassword_then_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "db:5432:replication:backup:from-file-repl\n*:*:*:backup:from-file\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let base = ConnectOptions {
            host: Some("db".to_owned()),
            port: Some(5432),
            user: Some("backup".to_owned()),
            database: Some("app".to_owned()),
            passfile: Some(file),
            ..ConnectOptions::default()
        };
        assert_eq!(base.password_for("app").as_deref(), Some("from-file"));
        assert_eq!(
            base.password_for("replication").as_deref(),
            Some("from-file-repl")
        );
        let from_env = base
            .clone()
            .with_env(env(&[("PGPASSWORD", "from-env")]), None)
            .unwrap();
        assert_eq!(from_env.password_for("app").as_deref(), Some("from-env"));
        let explicit = ConnectOptions {
            password: Some("explicit".to_owned()),
            ..base
        }
        .with_env(env(&[("PGPASSWORD", "from-env")]), None)
        .unwrap();
        assert_eq!(
            explicit.password_for("replication").as_deref(),
            Some("explicit")
        );
    }

    #[test]
    fn os_user_is_known() {
        let name = os_user_name().expect("the test's user has a passwd entry");
        assert!(!name.is_empty());
    }

    #[test]
    fn describes_targets_for_operators() {
        let socket = ConnectOptions {
            host: Some("/run/postgresql/".to_owned()),
            port: Some(5433),
            user: Some("postgres".to_owned()),
            database: Some("app".to_owned()),
            password: Some("hunter2".to_owned()),
            ..ConnectOptions::default()
        };
        assert_eq!(
            socket.describe(),
            "socket /run/postgresql/.s.PGSQL.5433 as user postgres, database app"
        );
        let tcp = ConnectOptions {
            host: Some("db.example".to_owned()),
            ..socket.clone()
        };
        assert_eq!(
            tcp.describe(),
            "host db.example:5433 as user postgres, database app"
        );
        let v6 = ConnectOptions {
            host: Some("::1".to_owned()),
            ..socket.clone()
        };
        assert!(v6.describe().starts_with("host [::1]:5433 "));
        assert!(!format!("{socket:?}").contains("hunter2"));
        assert!(format!("{socket:?}").contains("<hidden>"));
    }

    #[test]
    fn supported_versions() {
        for (version_num, major) in [
            (130023, 13),
            (140010, 14),
            (150004, 15),
            (160000, 16),
            (170002, 17),
            (180004, 18),
        ] {
            assert_eq!(check_supported(version_num).unwrap(), major);
        }
        for (version_num, name) in [
            (120022, "12"),
            (190000, "19"),
            (90624, "9.6"),
            (100023, "10"),
        ] {
            let err = check_supported(version_num).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&format!("PostgreSQL {name} ")),
                "{message}"
            );
            assert!(message.contains("13 to 18"), "{message}");
        }
    }

    #[test]
    fn backup_functions_follow_the_version() {
        assert_eq!(
            backup_start_sql(15).1,
            "SELECT pg_backup_start($1, $2)::text"
        );
        assert!(backup_start_sql(14)
            .1
            .contains("pg_start_backup($1, $2, false)"));
        assert!(backup_stop_sql(17).1.contains("FROM pg_backup_stop($1)"));
        assert!(backup_stop_sql(13)
            .1
            .contains("FROM pg_stop_backup(false, $1)"));
        assert_eq!(backup_stop_sql(16).0, "pg_backup_stop()");
    }

    #[test]
    fn labels_must_be_one_short_line() {
        assert!(check_label("walden base_000000010000000000000002").is_ok());
        assert!(check_label(&"x".repeat(1024)).is_ok());
        let long = check_label(&"x".repeat(1025)).unwrap_err().to_string();
        assert!(long.contains("1025 bytes"), "{long}");
        for bad in ["a\nSTART TIMELINE: 9", "a\r", "a\0b"] {
            let message = check_label(bad).unwrap_err().to_string();
            assert!(message.contains("single line"), "{message}");
        }
    }

    #[test]
    fn server_values_are_checked() {
        assert_eq!(timeline_from("q", 3).unwrap(), TimelineId(3));
        assert!(timeline_from("q", 0).is_err());
        assert!(timeline_from("q", -1).is_err());
        assert_eq!(
            time_from("q", 1_700_000_000_123_456).unwrap().to_rfc3339(),
            "2023-11-14T22:13:20.123456+00:00"
        );
        assert!(time_from("q", i64::MAX).is_err());
        assert!(parse_lsn("q", "0/3000028").is_ok());
        assert!(parse_lsn("q", "").is_err());
    }
}

/// Helpers for tests that need a real PostgreSQL server.
#[cfg(test)]
pub(crate) mod pg_test_support {
    use crate::pg::server::{PgBin, RunAs, Server};
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    /// PostgreSQL's programs, or `None` after a loud skip (a failure under
    /// CI=true, where a missing PostgreSQL means a broken test machine).
    pub(crate) fn pg_bin_or_skip(test: &str) -> Option<PgBin> {
        match PgBin::find(None) {
            Ok(bin) => Some(bin),
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("{test}: PostgreSQL is required under CI=true: {e}")
            }
            Err(e) => {
                // Straight to stderr: libtest hides eprintln! of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED {test}: PostgreSQL not installed ({e}) ***\n"
                );
                None
            }
        }
    }

    /// A scratch directory the PostgreSQL account can enter; a server
    /// inside it is killed before the directory goes.
    pub(crate) struct Scratch {
        pub server: Server,
        pub run_as: RunAs,
        pub dir: tempfile::TempDir,
    }

    impl Scratch {
        /// A cluster after initdb, not started.
        pub(crate) fn initdb(bin: PgBin) -> Scratch {
            let dir = tempfile::Builder::new()
                .prefix("walden-pg-")
                .tempdir()
                .unwrap();
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let run_as = RunAs::detect().unwrap();
            let root = dir.path();
            let server = Server::new(
                bin,
                run_as,
                root.join("data"),
                root.join("sock"),
                root.join("server.log"),
            );
            server.initdb(&[]).unwrap();
            Scratch {
                server,
                run_as,
                dir,
            }
        }

        /// A directory owned by the PostgreSQL account.
        pub(crate) fn pg_dir(&self, name: &str) -> std::path::PathBuf {
            let path = self.dir.path().join(name);
            self.run_as.make_dir(&path).unwrap();
            path
        }
    }
}

#[cfg(test)]
mod server_tests {
    use std::time::{Duration, Instant};

    use super::pg_test_support::{pg_bin_or_skip, Scratch};
    use super::*;

    /// A started server whose settings would break a careless backup
    /// session: statements over 1 s are cancelled, sessions idle for 1 s
    /// are closed.
    fn hostile_server(test: &str) -> Option<Scratch> {
        let bin = pg_bin_or_skip(test)?;
        let scratch = Scratch::initdb(bin);
        let archive = scratch.pg_dir("archive");
        scratch
            .server
            .configure(&[
                ("wal_level", "replica".into()),
                ("archive_mode", "on".into()),
                ("archive_command", format!("cp %p {}/%f", archive.display())),
                ("fsync", "off".into()),
                ("statement_timeout", "1s".into()),
                ("idle_session_timeout", "1s".into()),
                // A spread (non-fast) checkpoint then lasts about 3 s.
                ("checkpoint_timeout", "30s".into()),
                ("checkpoint_completion_target", "0.1".into()),
            ])
            .unwrap();
        scratch.server.start().unwrap();
        Some(scratch)
    }

    fn options(scratch: &Scratch) -> ConnectOptions {
        ConnectOptions {
            host: Some(scratch.server.socket_dir.display().to_string()),
            port: Some(scratch.server.port),
            user: Some("postgres".to_owned()),
            database: Some("postgres".to_owned()),
            password: None,
            tls: TlsOptions::default(),
            passfile: None,
        }
    }

    fn sql(scratch: &Scratch, sql: &str) -> String {
        scratch
            .server
            .psql(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}\n{}", scratch.server.log_tail(30)))
    }

    fn controldata_system_identifier(scratch: &Scratch) -> u64 {
        let mut cmd = scratch
            .run_as
            .command(scratch.server.bin.program("pg_controldata"));
        let out = cmd.arg("-D").arg(&scratch.server.data).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("Database system identifier:"))
            .expect("pg_controldata prints the system identifier")
            .trim()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn backup_round_trip_on_a_real_server() {
        let Some(scratch) = hostile_server("backup_round_trip_on_a_real_server") else {
            return;
        };
        let session = ControlSession::connect(&options(&scratch)).await.unwrap();
        assert!(SUPPORTED_MAJORS.contains(&session.major()));
        assert_eq!(session.server_version_num() / 10_000, session.major());

        let sysid = session.system_identifier().await.unwrap();
        assert_ne!(sysid, 0);
        assert_eq!(sysid, controldata_system_identifier(&scratch));
        assert_eq!(session.system_identifier().await.unwrap(), sysid);

        let data = session.data_directory().await.unwrap();
        assert_eq!(
            data.canonicalize().unwrap(),
            scratch.server.data.canonicalize().unwrap()
        );
        assert_eq!(session.wal_segment_size().await.unwrap(), 16 * 1024 * 1024);
        // The settings hostile_server configured, read back in seconds.
        let checkpoint = session.checkpoint_settings().await.unwrap();
        assert_eq!(checkpoint.timeout, Duration::from_secs(30));
        assert!((checkpoint.completion_target - 0.1).abs() < 1e-9);
        assert_eq!(checkpoint.spread_estimate().as_secs(), 3);

        let location = scratch.pg_dir("tablespace-one");
        sql(
            &scratch,
            &format!("CREATE TABLESPACE one LOCATION '{}'", location.display()),
        );
        let oid: u32 = sql(
            &scratch,
            "SELECT oid FROM pg_tablespace WHERE spcname = 'one'",
        )
        .parse()
        .unwrap();
        assert_eq!(
            session.tablespaces().await.unwrap(),
            vec![Tablespace {
                oid,
                name: "one".to_owned(),
                location: location.clone(),
            }]
        );

        sql(&scratch, "CREATE TABLE t (i int) TABLESPACE one");
        sql(&scratch, "INSERT INTO t SELECT generate_series(1, 1000)");
        let start = session
            .backup_start("walden round trip", true)
            .await
            .unwrap();
        assert_eq!(start.timeline, TimelineId(1));
        let age = Utc::now() - start.time;
        assert!(age.num_seconds().abs() < 60, "server time {}", start.time);

        sql(&scratch, "INSERT INTO t SELECT generate_series(1, 1000)");
        sql(&scratch, "SELECT pg_switch_wal()");
        assert!(session.is_alive().await);

        let stop = session.backup_stop(true).await.unwrap();
        assert!(stop.lsn > start.lsn, "{} <= {}", stop.lsn, start.lsn);
        assert!(stop.time >= start.time);
        let label = parse_backup_label(&stop.label_file).unwrap();
        assert_eq!(label.start_lsn, start.lsn);
        assert_eq!(label.start_timeline, start.timeline);
        assert_eq!(label.label, "walden round trip");
        assert_eq!(label.from, BackupFrom::Primary);
        assert_eq!(label.method, "streamed");
        assert!(label.checkpoint_lsn >= start.lsn);
        assert_eq!(label.stop, None);
        assert_eq!(
            stop.tablespace_map.as_deref(),
            Some(format!("{oid} {}\n", location.display()).as_str())
        );

        // Only one backup per session, and it is over.
        let again = session.backup_stop(true).await.unwrap_err();
        assert!(matches!(again, ControlError::Query { .. }), "{again:?}");
        assert!(again.to_string().contains("not in progress"), "{again}");
    }

    #[tokio::test]
    async fn session_outlives_slow_checkpoints_and_idle_copies() {
        let Some(scratch) = hostile_server("session_outlives_slow_checkpoints_and_idle_copies")
        else {
            return;
        };
        let session = ControlSession::connect(&options(&scratch)).await.unwrap();
        sql(
            &scratch,
            "CREATE TABLE t AS SELECT generate_series(1, 100000) AS i",
        );

        // A spread checkpoint outlasts the server's statement_timeout.
        let began = Instant::now();
        let start = session.backup_start("slow", false).await.unwrap();
        let took = began.elapsed();
        assert!(
            took > Duration::from_secs(1),
            "the checkpoint took only {took:?}"
        );

        // The copy: the session idles for longer than idle_session_timeout.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(session.is_alive().await, "{}", scratch.server.log_tail(20));
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let stop = session.backup_stop(true).await.unwrap();
        assert_eq!(
            parse_backup_label(&stop.label_file).unwrap().start_lsn,
            start.lsn
        );
        assert_eq!(stop.tablespace_map, None);
    }

    #[tokio::test]
    async fn a_lost_session_is_reported_and_its_backup_is_gone() {
        let Some(scratch) = hostile_server("a_lost_session_is_reported_and_its_backup_is_gone")
        else {
            return;
        };
        let session = ControlSession::connect(&options(&scratch)).await.unwrap();
        session.backup_start("doomed", true).await.unwrap();
        let killed = sql(
            &scratch,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'walden'",
        );
        assert_eq!(killed, "1");

        assert!(!session.is_alive().await);
        let err = session.backup_stop(true).await.unwrap_err();
        assert!(matches!(err, ControlError::SessionLost { .. }), "{err:?}");
        assert!(err.to_string().contains("run the backup again"), "{err}");

        // The server aborted that backup: a new session can start another.
        let fresh = ControlSession::connect(&options(&scratch)).await.unwrap();
        fresh.backup_start("second try", true).await.unwrap();
        fresh.backup_stop(false).await.unwrap();
    }

    #[tokio::test]
    async fn connect_failures_name_the_target_quickly() {
        let began = Instant::now();
        let missing = ConnectOptions {
            host: Some("/nonexistent/walden-socket-dir".to_owned()),
            port: Some(5499),
            user: Some("backup".to_owned()),
            database: Some("app".to_owned()),
            password: None,
            tls: TlsOptions::default(),
            passfile: None,
        };
        let err = ControlSession::connect(&missing).await.unwrap_err();
        assert!(matches!(err, ControlError::Connect { .. }), "{err:?}");
        let message = err.to_string();
        for part in [
            "/nonexistent/walden-socket-dir/.s.PGSQL.5499",
            "user backup",
            "database app",
            "No such file or directory",
        ] {
            assert!(message.contains(part), "{message} (wanted {part:?})");
        }

        // A TCP port nobody listens on.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let closed = ConnectOptions {
            host: Some("127.0.0.1".to_owned()),
            port: Some(port),
            ..missing
        };
        let message = ControlSession::connect(&closed)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&format!("host 127.0.0.1:{port}")),
            "{message}"
        );
        assert!(message.contains("refused"), "{message}");
        assert!(began.elapsed() < Duration::from_secs(5));
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    fn state(physical: bool, active: bool) -> SlotState {
        SlotState {
            physical,
            active,
            active_pid: active.then_some(4242),
            restart_lsn: None,
        }
    }

    #[test]
    fn only_an_inactive_physical_slot_is_taken_over() {
        check_slot_usable("s1", &state(true, false)).unwrap();
        let logical = check_slot_usable("s1", &state(false, false)).unwrap_err();
        assert!(logical.contains("logical"), "{logical}");
        let active = check_slot_usable("s1", &state(true, true)).unwrap_err();
        assert!(
            active.contains("in use") && active.contains("4242") && active.contains("'s1'"),
            "{active}"
        );
    }
}
