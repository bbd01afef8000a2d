//! Resolved settings: each option is defined once (flag, `WALDEN_*` variable and TOML key) and merged flag > env > file > default.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::ages::{Age, AgeThreshold};
use crate::cli::PgConnectArgs;
use crate::error::{Error, Result};
use crate::pipeline::throttle::Rate;
use crate::pipeline::{Codec, Compression, EncodeOptions, Identities, Recipients, Stages};
use crate::storage::{
    self, GcsOptions, ObjectStore, RetryPolicy, RetryingStore, S3Options, StoreOptions,
};

/// The configuration file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/walden/walden.toml";

/// What new objects hold, for the settings that differ between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Wal,
    Backup,
}

impl Content {
    /// The zstd level when none is set, chosen by `benches/levels.sh` (the
    /// table is in the README): on real WAL, level 1 stores 2-5 % more
    /// bytes than level 3 for 17 % less CPU per segment, and wal-push runs
    /// on every segment, on the database host; a backup is written once and
    /// kept for weeks, and level 3 stores its data files 7 % smaller for
    /// about the same speed.
    pub fn default_zstd_level(self) -> i32 {
        match self {
            Content::Wal => 1,
            Content::Backup => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionName {
    None,
    Zstd,
    Snappy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// key=value pairs, one event per line.
    Logfmt,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

/// Every setting that may come from a flag, the environment or the TOML file.
/// Field names are the TOML keys (kebab-case), the flags, and, upper-cased
/// with `WALDEN_`, the environment variables.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[command(next_help_heading = "Global options")]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SettingsArgs {
    /// Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix.
    #[arg(long, global = true, env = "WALDEN_REPO", value_name = "URL")]
    pub repo: Option<String>,

    /// Compression for new objects [default: zstd]. Reading picks the codec from the object's name, whatever this says.
    #[arg(
        long,
        global = true,
        env = "WALDEN_COMPRESSION",
        value_name = "CODEC",
        hide_short_help = true,
        help_heading = "Compression and encryption"
    )]
    pub compression: Option<CompressionName>,

    /// zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups].
    #[arg(long, global = true, env = "WALDEN_COMPRESSION_LEVEL", value_name = "N", allow_negative_numbers = true,
          value_parser = parse_zstd_level, hide_short_help = true, help_heading = "Compression and encryption")]
    #[serde(default, deserialize_with = "zstd_level_opt")]
    pub compression_level: Option<i32>,

    /// Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment.
    #[arg(
        long,
        global = true,
        env = "WALDEN_ENCRYPT_RECIPIENT",
        value_name = "AGE1KEY",
        value_delimiter = ',',
        hide_short_help = true,
        help_heading = "Compression and encryption"
    )]
    #[serde(default)]
    pub encrypt_recipient: Vec<String>,

    /// File of age recipients, one per line ('#' comments allowed); adds to --encrypt-recipient.
    #[arg(
        long,
        global = true,
        env = "WALDEN_ENCRYPT_RECIPIENTS_FILE",
        value_name = "FILE",
        hide_short_help = true,
        help_heading = "Compression and encryption"
    )]
    pub encrypt_recipients_file: Option<PathBuf>,

    /// age identity file (from age-keygen) to decrypt objects when fetching or restoring.
    #[arg(
        long,
        global = true,
        env = "WALDEN_DECRYPT_IDENTITY",
        value_name = "FILE",
        help_heading = "Compression and encryption"
    )]
    pub decrypt_identity: Option<PathBuf>,

    /// Log format on stderr [default: text].
    #[arg(
        long,
        global = true,
        env = "WALDEN_LOG_FORMAT",
        value_name = "FORMAT",
        hide_short_help = true,
        help_heading = "Logging"
    )]
    pub log_format: Option<LogFormat>,

    /// Log level [default: info]; -v and -q move it up and down.
    #[arg(
        long,
        global = true,
        env = "WALDEN_LOG_LEVEL",
        value_name = "LEVEL",
        hide_short_help = true,
        help_heading = "Logging"
    )]
    pub log_level: Option<LogLevel>,

    /// A storage request that makes no progress for this long fails (and is retried) [default: 60].
    #[arg(long, global = true, env = "WALDEN_IO_TIMEOUT", value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600), hide_short_help = true, help_heading = "Object storage (S3 and GCS)")]
    pub io_timeout: Option<u64>,

    /// S3-compatible service to use instead of AWS, e.g. https://minio.example:9000.
    #[arg(
        long,
        global = true,
        env = "WALDEN_S3_ENDPOINT",
        value_name = "URL",
        hide_short_help = true,
        help_heading = "S3 storage"
    )]
    pub s3_endpoint: Option<String>,

    /// The bucket's region [default: from the AWS chain; us-east-1 with --s3-endpoint].
    #[arg(
        long,
        global = true,
        env = "WALDEN_S3_REGION",
        value_name = "REGION",
        hide_short_help = true,
        help_heading = "S3 storage"
    )]
    pub s3_region: Option<String>,

    /// Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it).
    #[arg(long, global = true, env = "WALDEN_S3_PATH_STYLE", value_name = "BOOL",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", hide_short_help = true, help_heading = "S3 storage")]
    pub s3_path_style: Option<bool>,

    /// Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from.
    #[arg(
        long,
        global = true,
        env = "WALDEN_S3_PROFILE",
        value_name = "NAME",
        hide_short_help = true,
        help_heading = "S3 storage"
    )]
    pub s3_profile: Option<String>,

    /// When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads.
    #[arg(
        long,
        global = true,
        env = "WALDEN_S3_CHECKSUMS",
        value_name = "WHEN",
        hide_short_help = true,
        help_heading = "S3 storage"
    )]
    pub s3_checksums: Option<S3Checksums>,

    /// Storage class of new objects, e.g. STANDARD_IA [default: the bucket's].
    #[arg(
        long,
        global = true,
        env = "WALDEN_S3_STORAGE_CLASS",
        value_name = "CLASS",
        hide_short_help = true,
        help_heading = "S3 storage"
    )]
    pub s3_storage_class: Option<String>,

    /// Server-side encryption of new objects [default: the bucket's].
    #[arg(
        long,
        global = true,
        env = "WALDEN_S3_SSE",
        value_name = "MODE",
        hide_short_help = true,
        help_heading = "S3 storage"
    )]
    pub s3_sse: Option<S3Sse>,

    /// KMS key for --s3-sse aws:kms [default: the account's S3 key].
    #[arg(
        long,
        global = true,
        env = "WALDEN_S3_SSE_KMS_KEY_ID",
        value_name = "KEY",
        hide_short_help = true,
        help_heading = "S3 storage"
    )]
    pub s3_sse_kms_key_id: Option<String>,

    /// GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given.
    #[arg(
        long,
        global = true,
        env = "WALDEN_GCS_ENDPOINT",
        value_name = "URL",
        hide_short_help = true,
        help_heading = "GCS storage"
    )]
    pub gcs_endpoint: Option<String>,

    /// GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint].
    #[arg(
        long,
        global = true,
        env = "WALDEN_GCS_GRPC_ENDPOINT",
        value_name = "URL",
        hide_short_help = true,
        help_heading = "GCS storage"
    )]
    pub gcs_grpc_endpoint: Option<String>,

    /// Service-account key file (JSON) [default: Application Default Credentials].
    #[arg(
        long,
        global = true,
        env = "WALDEN_GCS_CREDENTIALS_FILE",
        value_name = "FILE",
        hide_short_help = true,
        help_heading = "GCS storage"
    )]
    pub gcs_credentials_file: Option<PathBuf>,
}

/// When the S3 client sends request checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum S3Checksums {
    /// Whenever the operation supports them (aws-chunked uploads with trailing checksums).
    WhenSupported,
    /// Only where the operation requires them.
    WhenRequired,
}

/// S3 server-side encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
pub enum S3Sse {
    /// S3-managed keys.
    #[value(name = "AES256")]
    #[serde(rename = "AES256")]
    Aes256,
    /// AWS KMS keys (see --s3-sse-kms-key-id).
    #[value(name = "aws:kms")]
    #[serde(rename = "aws:kms")]
    AwsKms,
}

impl SettingsArgs {
    /// Fills every unset field of `self` from `lower` (lower precedence).
    fn or(self, lower: SettingsArgs) -> SettingsArgs {
        SettingsArgs {
            repo: self.repo.or(lower.repo),
            compression: self.compression.or(lower.compression),
            compression_level: self.compression_level.or(lower.compression_level),
            encrypt_recipient: if self.encrypt_recipient.is_empty() {
                lower.encrypt_recipient
            } else {
                self.encrypt_recipient
            },
            encrypt_recipients_file: self
                .encrypt_recipients_file
                .or(lower.encrypt_recipients_file),
            decrypt_identity: self.decrypt_identity.or(lower.decrypt_identity),
            log_format: self.log_format.or(lower.log_format),
            log_level: self.log_level.or(lower.log_level),
            io_timeout: self.io_timeout.or(lower.io_timeout),
            s3_endpoint: self.s3_endpoint.or(lower.s3_endpoint),
            s3_region: self.s3_region.or(lower.s3_region),
            s3_path_style: self.s3_path_style.or(lower.s3_path_style),
            s3_profile: self.s3_profile.or(lower.s3_profile),
            s3_checksums: self.s3_checksums.or(lower.s3_checksums),
            s3_storage_class: self.s3_storage_class.or(lower.s3_storage_class),
            s3_sse: self.s3_sse.or(lower.s3_sse),
            s3_sse_kms_key_id: self.s3_sse_kms_key_id.or(lower.s3_sse_kms_key_id),
            gcs_endpoint: self.gcs_endpoint.or(lower.gcs_endpoint),
            gcs_grpc_endpoint: self.gcs_grpc_endpoint.or(lower.gcs_grpc_endpoint),
            gcs_credentials_file: self.gcs_credentials_file.or(lower.gcs_credentials_file),
        }
    }
}

/// Settings after merging; defaults are applied by the accessors.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    args: SettingsArgs,
    /// The `[backup-push]` table of the configuration file.
    backup_file: BackupSettingsArgs,
    /// The `[prune]` table.
    prune_file: PruneSettingsArgs,
    /// The `[status]` table.
    status_file: StatusSettingsArgs,
    /// The `[wal-push]` table.
    wal_push_file: WalPushSettingsArgs,
    /// The `[wal-fetch]` table.
    wal_fetch_file: WalFetchSettingsArgs,
    /// `-q`: success summaries are not printed (see `Settings::quiet`).
    quiet: bool,
    /// The connection keys at the top of the file (`pg-host`, …).
    connect_file: PgConnectArgs,
}

/// The start checkpoint of a base backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checkpoint {
    /// Spread the start checkpoint over checkpoint_completion_target × checkpoint_timeout (gentle; the default; up to 4.5 min with PostgreSQL's defaults, announced with the server's estimate).
    Spread,
    /// Checkpoint at once (faster start, an I/O burst).
    Fast,
}

/// The I/O scheduling class of a base backup's disk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IoPriority {
    /// Read the disk only when nothing else wants it (Linux ioprio class idle).
    Idle,
    /// Normal priority, lowest level within it.
    BestEffort,
}

/// `backup-push` settings: flags, `WALDEN_*` variables, or keys of the
/// `[backup-push]` table in the configuration file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[command(next_help_heading = "Throttling and parallelism")]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackupSettingsArgs {
    /// Limit the backup's reads (the data directory's disk, or the server's stream, also limited server-side): bytes per second with unit and /s, e.g. 50MB/s [default: unlimited].
    #[arg(long, env = "WALDEN_MAX_RATE", value_name = "RATE")]
    #[serde(default, deserialize_with = "from_str_opt")]
    pub max_rate: Option<Rate>,

    /// I/O scheduling priority of the backup's disk reads [default: unchanged].
    #[arg(long, env = "WALDEN_IO_PRIORITY", value_name = "CLASS")]
    pub io_priority: Option<IoPriority>,

    /// Parts compressed and uploaded in parallel [default: 2].
    #[arg(long, env = "WALDEN_JOBS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,

    /// Start checkpoint [default: spread].
    #[arg(long, env = "WALDEN_CHECKPOINT", value_name = "MODE")]
    pub checkpoint: Option<Checkpoint>,

    /// Fail when the WAL the backup ends in has not reached the repository after this long: archiving is broken [default: 10m].
    #[arg(long, env = "WALDEN_ARCHIVE_TIMEOUT", value_name = "AGE")]
    #[serde(default, deserialize_with = "from_str_opt")]
    pub archive_timeout: Option<Age>,
}

/// `wal-push` settings: flags, `WALDEN_*` variables, or keys of the
/// `[wal-push]` table in the configuration file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[command(next_help_heading = "Read-ahead")]
pub struct WalPushSettingsArgs {
    /// Segments archived in parallel. Above 1, each call also archives the next segments PostgreSQL has marked ready (up to 4×N) and records them in the spool, so that PostgreSQL's calls for them return at once [default: 1: only the segment asked for].
    #[arg(long, env = "WALDEN_WAL_PUSH_JOBS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,

    /// Local directory for read-ahead markers and prefetched segments, outside the data directory [default: .walden-spool beside the data directory].
    #[arg(long, env = "WALDEN_SPOOL_DIR", value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
}

/// `wal-fetch` settings: flags, `WALDEN_*` variables, or keys of the
/// `[wal-fetch]` table in the configuration file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[command(next_help_heading = "Prefetch")]
pub struct WalFetchSettingsArgs {
    /// Segments to fetch ahead, in the background, into the spool: PostgreSQL's next calls are then served from local disk, verified [default: 0: no prefetch].
    #[arg(long, env = "WALDEN_PREFETCH", value_name = "N", value_parser = clap::value_parser!(u16).range(0..=64))]
    pub prefetch: Option<u16>,

    /// Local directory for prefetched segments, outside the data directory [default: .walden-spool beside the data directory].
    #[arg(long, env = "WALDEN_SPOOL_DIR", value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
}

/// `wal-push` settings after merging, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalPushSettings {
    pub jobs: u16,
    pub spool_dir: Option<PathBuf>,
}

/// `wal-fetch` settings after merging, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalFetchSettings {
    pub prefetch: u16,
    pub spool_dir: Option<PathBuf>,
}

/// `prune` settings: flags, `WALDEN_*` variables, or keys of the `[prune]`
/// table in the configuration file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[command(next_help_heading = "Retention policy")]
pub struct PruneSettingsArgs {
    /// Keep the N newest complete backups.
    #[arg(long, env = "WALDEN_RETAIN_FULL", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_full: Option<u32>,

    /// Keep complete backups that finished within D days.
    #[arg(long, env = "WALDEN_RETAIN_DAYS", value_name = "D")]
    pub retain_days: Option<u32>,

    /// Keep point-in-time recovery possible to any moment of the last D days: also keeps the newest backup that finished before that window, and all WAL after it.
    #[arg(long, env = "WALDEN_WAL_RETAIN_DAYS", value_name = "D")]
    pub wal_retain_days: Option<u32>,

    /// An incomplete backup (no manifest) silent for less than this may still be running and is kept [default: 24h].
    #[arg(long, env = "WALDEN_INCOMPLETE_GRACE", value_name = "AGE")]
    #[serde(default, deserialize_with = "from_str_opt")]
    pub incomplete_grace: Option<Age>,
}

/// `status` thresholds: flags, `WALDEN_*` variables, or keys of the
/// `[status]` table in the configuration file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[command(next_help_heading = "Thresholds (WARN or WARN,CRIT; CRIT defaults to twice WARN)")]
pub struct StatusSettingsArgs {
    /// Age of the newest complete backup [default: 26h,52h].
    #[arg(long, env = "WALDEN_MAX_BACKUP_AGE", value_name = "AGE")]
    #[serde(default, deserialize_with = "from_str_opt")]
    pub max_backup_age: Option<AgeThreshold>,

    /// Age of the newest archived WAL file [default: not checked: an idle cluster writes no WAL unless archive_timeout is set].
    #[arg(long, env = "WALDEN_MAX_WAL_AGE", value_name = "AGE")]
    #[serde(default, deserialize_with = "from_str_opt")]
    pub max_wal_age: Option<AgeThreshold>,

    /// Age of the newest successful drill [default: not checked].
    #[arg(long, env = "WALDEN_MAX_DRILL_AGE", value_name = "AGE")]
    #[serde(default, deserialize_with = "from_str_opt")]
    pub max_drill_age: Option<AgeThreshold>,
}

/// `status` thresholds after merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSettings {
    pub max_backup_age: AgeThreshold,
    pub max_wal_age: Option<AgeThreshold>,
    pub max_drill_age: Option<AgeThreshold>,
}

/// How long backup-push waits for its last WAL segment to be archived: a
/// backlog after a big backup drains in minutes; ten is archiving broken.
pub const DEFAULT_ARCHIVE_TIMEOUT: Duration = Duration::from_secs(600);

/// The grace an incomplete backup gets by default: a nightly backup that
/// has been silent for a day is not running any more.
pub const DEFAULT_INCOMPLETE_GRACE: Duration = Duration::from_secs(24 * 3600);

/// `backup-push` settings after merging, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSettings {
    pub max_rate: Option<Rate>,
    pub io_priority: Option<IoPriority>,
    pub jobs: u16,
    pub checkpoint: Checkpoint,
    pub archive_timeout: Duration,
}

/// `Settings::connect` with the environment given, for tests.
fn connect_over_file(
    cli: &PgConnectArgs,
    file: &PgConnectArgs,
    env: impl Fn(&str) -> Option<String>,
) -> PgConnectArgs {
    // Empty counts as unset, as in pg::control.
    let unset_in_env = |name: &str| env(name).is_none_or(|v| v.is_empty());
    let below_env = PgConnectArgs {
        pg_host: file.pg_host.clone().filter(|_| unset_in_env("PGHOST")),
        pg_port: file.pg_port.filter(|_| unset_in_env("PGPORT")),
        pg_user: file.pg_user.clone().filter(|_| unset_in_env("PGUSER")),
        pg_database: file
            .pg_database
            .clone()
            .filter(|_| unset_in_env("PGDATABASE")),
        pg_sslmode: file.pg_sslmode.filter(|_| unset_in_env("PGSSLMODE")),
        pg_sslrootcert: file
            .pg_sslrootcert
            .clone()
            .filter(|_| unset_in_env("PGSSLROOTCERT")),
        pg_sslcert: file
            .pg_sslcert
            .clone()
            .filter(|_| unset_in_env("PGSSLCERT")),
        pg_sslkey: file.pg_sslkey.clone().filter(|_| unset_in_env("PGSSLKEY")),
    };
    cli.clone().or(below_env)
}

/// `path` made absolute against the working directory, for commands run elsewhere.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The command-line spelling of an enum value.
fn value_name(value: &impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

fn parse_zstd_level(text: &str) -> std::result::Result<i32, String> {
    let level = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    Compression::check_zstd_level(level)
}

fn zstd_level_opt<'de, D>(deserializer: D) -> std::result::Result<Option<i32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let level = i32::deserialize(deserializer)?;
    Compression::check_zstd_level(level)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn from_str_opt<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

impl Settings {
    /// Merges command line/environment (already merged by clap) over the
    /// TOML file: `explicit_file` (from `--config`/`WALDEN_CONFIG`) must
    /// exist; otherwise `default_file` is read if present.
    pub fn resolve(
        cli: SettingsArgs,
        explicit_file: Option<&Path>,
        default_file: &Path,
    ) -> Result<Settings> {
        let file = match explicit_file {
            Some(path) => Some(read_toml(path)?),
            None if default_file.exists() => Some(read_toml(default_file)?),
            None => None,
        };
        Ok(match file {
            Some(file) => Settings {
                args: cli.or(file.global),
                backup_file: file.backup,
                prune_file: file.prune,
                status_file: file.status,
                wal_push_file: file.wal_push,
                wal_fetch_file: file.wal_fetch,
                quiet: false,
                connect_file: file.connect,
            },
            None => Settings::without_file(cli),
        })
    }

    /// Settings from the command line only, for reporting a broken config file.
    pub fn without_file(cli: SettingsArgs) -> Settings {
        Settings {
            args: cli,
            ..Settings::default()
        }
    }

    /// `backup-push` settings: flags and environment (`cli`) over the
    /// `[backup-push]` table, over the defaults.
    pub fn backup(&self, cli: &BackupSettingsArgs) -> BackupSettings {
        let file = &self.backup_file;
        BackupSettings {
            max_rate: cli.max_rate.or(file.max_rate),
            io_priority: cli.io_priority.or(file.io_priority),
            jobs: cli.jobs.or(file.jobs).unwrap_or(2),
            checkpoint: cli
                .checkpoint
                .or(file.checkpoint)
                .unwrap_or(Checkpoint::Spread),
            archive_timeout: cli
                .archive_timeout
                .or(file.archive_timeout)
                .map_or(DEFAULT_ARCHIVE_TIMEOUT, |a| a.0),
        }
    }

    /// How to reach the server, flag > environment > file like every other
    /// option: the file's `pg-host`, `pg-port`, `pg-user` and `pg-database`
    /// fill in only what neither a flag nor libpq's PGHOST, PGPORT, PGUSER or
    /// PGDATABASE sets (the control session reads those itself).
    pub fn connect(&self, cli: &PgConnectArgs) -> PgConnectArgs {
        connect_over_file(cli, &self.connect_file, |name| std::env::var(name).ok())
    }

    /// `wal-push` settings: flags and environment over the `[wal-push]` table.
    pub fn wal_push(&self, cli: &WalPushSettingsArgs) -> WalPushSettings {
        let file = &self.wal_push_file;
        WalPushSettings {
            jobs: cli.jobs.or(file.jobs).unwrap_or(1),
            spool_dir: cli.spool_dir.clone().or_else(|| file.spool_dir.clone()),
        }
    }

    /// `wal-fetch` settings: flags and environment over the `[wal-fetch]` table.
    pub fn wal_fetch(&self, cli: &WalFetchSettingsArgs) -> WalFetchSettings {
        let file = &self.wal_fetch_file;
        WalFetchSettings {
            prefetch: cli.prefetch.or(file.prefetch).unwrap_or(0),
            spool_dir: cli.spool_dir.clone().or_else(|| file.spool_dir.clone()),
        }
    }

    /// `prune` settings: flags and environment over the `[prune]` table.
    pub fn prune(&self, cli: &PruneSettingsArgs) -> PruneSettingsArgs {
        let file = &self.prune_file;
        PruneSettingsArgs {
            retain_full: cli.retain_full.or(file.retain_full),
            retain_days: cli.retain_days.or(file.retain_days),
            wal_retain_days: cli.wal_retain_days.or(file.wal_retain_days),
            incomplete_grace: cli
                .incomplete_grace
                .or(file.incomplete_grace)
                .or(Some(Age(DEFAULT_INCOMPLETE_GRACE))),
        }
    }

    /// `status` thresholds: flags and environment over the `[status]` table,
    /// over the defaults.
    pub fn status(&self, cli: &StatusSettingsArgs) -> StatusSettings {
        let file = &self.status_file;
        let day_and_slack = Age(Duration::from_secs(26 * 3600));
        StatusSettings {
            max_backup_age: cli
                .max_backup_age
                .or(file.max_backup_age)
                .unwrap_or(AgeThreshold {
                    warning: day_and_slack,
                    critical: Age(day_and_slack.0 * 2),
                }),
            max_wal_age: cli.max_wal_age.or(file.max_wal_age),
            max_drill_age: cli.max_drill_age.or(file.max_drill_age),
        }
    }

    pub fn repo_url(&self) -> Result<&str> {
        self.args.repo.as_deref().ok_or_else(|| {
            Error::usage("no repository given: pass --repo URL, set WALDEN_REPO, or set repo in the configuration file")
        })
    }

    /// The repository's store, with transient failures retried.
    pub fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        let url = self.repo_url()?;
        let inner = storage::open_url(url, &self.store_options()?)?;
        Ok(Arc::new(RetryingStore::new(inner, RetryPolicy::default())))
    }

    /// The store settings in effect, as `--flag=value` words: for commands walden writes
    /// for PostgreSQL to run later (restore_command), which see neither
    /// this command line nor its environment. Credentials are never included.
    pub fn store_flags(&self) -> Vec<String> {
        let a = &self.args;
        let mut flags = Vec::new();
        let mut add = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                flags.push(format!("--{flag}={value}"));
            }
        };
        add("io-timeout", a.io_timeout.map(|t| t.to_string()));
        add("s3-endpoint", a.s3_endpoint.clone());
        add("s3-region", a.s3_region.clone());
        add("s3-path-style", a.s3_path_style.map(|b| b.to_string()));
        add("s3-profile", a.s3_profile.clone());
        add("s3-checksums", a.s3_checksums.map(|c| value_name(&c)));
        add("gcs-endpoint", a.gcs_endpoint.clone());
        add("gcs-grpc-endpoint", a.gcs_grpc_endpoint.clone());
        add(
            "gcs-credentials-file",
            a.gcs_credentials_file
                .as_ref()
                .map(|f| absolute(f).display().to_string()),
        );
        flags
    }

    fn store_options(&self) -> Result<StoreOptions> {
        let a = &self.args;
        if a.s3_sse_kms_key_id.is_some() && a.s3_sse != Some(S3Sse::AwsKms) {
            return Err(Error::usage("--s3-sse-kms-key-id needs --s3-sse aws:kms"));
        }
        let io_timeout = Duration::from_secs(a.io_timeout.unwrap_or(60));
        Ok(StoreOptions {
            s3: S3Options {
                endpoint: a.s3_endpoint.clone(),
                region: a.s3_region.clone(),
                path_style: a.s3_path_style.unwrap_or(false),
                profile: a.s3_profile.clone(),
                checksums_when_required: a.s3_checksums == Some(S3Checksums::WhenRequired),
                storage_class: a.s3_storage_class.clone(),
                sse: a.s3_sse.map(|sse| match sse {
                    S3Sse::Aes256 => "AES256".to_string(),
                    S3Sse::AwsKms => "aws:kms".to_string(),
                }),
                sse_kms_key_id: a.s3_sse_kms_key_id.clone(),
                io_timeout,
                list_page_size: None,
                part_retry: RetryPolicy::default(),
            },
            gcs: GcsOptions {
                endpoint: a.gcs_endpoint.clone(),
                grpc_endpoint: a.gcs_grpc_endpoint.clone(),
                credentials_file: a.gcs_credentials_file.clone(),
                list_page_size: None,
                io_timeout,
            },
        })
    }

    pub fn compression(&self, content: Content) -> Compression {
        match self.args.compression.unwrap_or(CompressionName::Zstd) {
            CompressionName::None => Compression::None,
            CompressionName::Snappy => Compression::Snappy,
            CompressionName::Zstd => Compression::Zstd {
                level: self
                    .args
                    .compression_level
                    .unwrap_or(content.default_zstd_level()),
            },
        }
    }

    /// The stages a fetched object most likely has, tried first: only an
    /// ordering hint, since reading follows the stored object's name.
    pub fn preferred_stages(&self) -> Stages {
        let codec = match self.compression(Content::Wal) {
            Compression::None => Codec::None,
            Compression::Zstd { .. } => Codec::Zstd,
            Compression::Snappy => Codec::Snappy,
        };
        let encrypted = self.args.decrypt_identity.is_some()
            || !self.args.encrypt_recipient.is_empty()
            || self.args.encrypt_recipients_file.is_some();
        Stages { codec, encrypted }
    }

    /// How new objects are encoded; reads the recipients file if one is set.
    pub fn encode_options(&self, content: Content) -> Result<EncodeOptions> {
        let mut recipients = Recipients::parse(&self.args.encrypt_recipient)?;
        if let Some(path) = &self.args.encrypt_recipients_file {
            recipients.extend(Recipients::from_file(path)?);
        }
        Ok(EncodeOptions {
            compression: self.compression(content),
            recipients,
        })
    }

    /// Identities for decrypting; empty when none is configured.
    pub fn identities(&self) -> Result<Identities> {
        match &self.args.decrypt_identity {
            Some(path) => Ok(Identities::from_file(path)?),
            None => Ok(Identities::none()),
        }
    }

    pub fn log_format(&self) -> LogFormat {
        self.args.log_format.unwrap_or_default()
    }

    pub fn log_level(&self) -> LogLevel {
        self.args.log_level.unwrap_or_default()
    }

    /// These settings for a run with `-q` (`quiet` > 0) or without.
    pub fn with_quiet(self, quiet: u8) -> Settings {
        Settings {
            quiet: quiet > 0,
            ..self
        }
    }

    /// `-q`: print nothing on success, so that cron mails only failures.
    /// Commands skip their success summaries; what goes wrong still reaches
    /// stderr (warnings and errors) or stdout (a non-OK verdict, problems).
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// The flags that reproduce the repository and decryption settings, for
    /// commands walden writes for PostgreSQL to run later (restore_command).
    pub fn raw(&self) -> &SettingsArgs {
        &self.args
    }
}

/// The configuration file, split into its tables.
struct FileSettings {
    global: SettingsArgs,
    connect: PgConnectArgs,
    backup: BackupSettingsArgs,
    prune: PruneSettingsArgs,
    status: StatusSettingsArgs,
    wal_push: WalPushSettingsArgs,
    wal_fetch: WalFetchSettingsArgs,
}

/// The configuration file: global settings (and the connection keys) at the
/// top level, and a table per command with settings of its own (`[backup-push]`, `[prune]`,
/// `[status]`, `[wal-push]`, `[wal-fetch]`).
fn read_toml(path: &Path) -> Result<FileSettings> {
    let invalid = |e: &dyn std::fmt::Display| {
        Error::usage(format!(
            "invalid configuration file {}: {e}",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(format!(
            "cannot read configuration file {}: {e}",
            path.display()
        ))
    })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| invalid(&e))?;
    fn section<T: Default + serde::de::DeserializeOwned>(
        table: &mut toml::Table,
        name: &str,
        invalid: &dyn Fn(&dyn std::fmt::Display) -> Error,
    ) -> Result<T> {
        match table.remove(name) {
            Some(section) => section
                .try_into()
                .map_err(|e| invalid(&format!("[{name}]: {e}"))),
            None => Ok(T::default()),
        }
    }
    let backup = section(&mut table, "backup-push", &invalid)?;
    let prune = section(&mut table, "prune", &invalid)?;
    let status = section(&mut table, "status", &invalid)?;
    let wal_push = section(&mut table, "wal-push", &invalid)?;
    let wal_fetch = section(&mut table, "wal-fetch", &invalid)?;
    // The connection keys sit at the top level beside the global settings
    // but belong to another struct (the one the --pg-* flags fill).
    let mut connect_keys = toml::Table::new();
    for key in [
        "pg-host",
        "pg-port",
        "pg-user",
        "pg-database",
        "pg-sslmode",
        "pg-sslrootcert",
        "pg-sslcert",
        "pg-sslkey",
    ] {
        if let Some(value) = table.remove(key) {
            connect_keys.insert(key.to_string(), value);
        }
    }
    let connect = toml::Value::Table(connect_keys)
        .try_into()
        .map_err(|e| invalid(&e))?;
    let global = toml::Value::Table(table)
        .try_into()
        .map_err(|e| invalid(&e))?;
    Ok(FileSettings {
        global,
        connect,
        backup,
        prune,
        status,
        wal_push,
        wal_fetch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct TestCli {
        #[command(flatten)]
        settings: SettingsArgs,
    }

    fn cli(args: &[&str]) -> SettingsArgs {
        let mut argv = vec!["walden"];
        argv.extend_from_slice(args);
        TestCli::try_parse_from(argv).unwrap().settings
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("walden.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    // Environment precedence is clap's own `env` handling; these tests cover
    // the merge with the file and the defaults, which are ours. Environment
    // variables are process-global, so they are exercised in the black-box
    // tests instead of here.

    #[test]
    fn flag_beats_file_and_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "repo = \"/from/file\"\ncompression = \"snappy\"\nlog-format = \"json\"\n",
        );
        let s = Settings::resolve(
            cli(&["--repo", "/from/flag"]),
            Some(&file),
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(s.repo_url().unwrap(), "/from/flag");
        assert_eq!(s.compression(Content::Wal), Compression::Snappy);
        assert_eq!(s.log_format(), LogFormat::Json);
        assert_eq!(s.log_level(), LogLevel::Info);
    }

    #[test]
    fn defaults_apply_without_file() {
        let s = Settings::resolve(cli(&[]), None, Path::new("/nonexistent")).unwrap();
        assert_eq!(s.compression(Content::Wal), Compression::Zstd { level: 1 });
        assert_eq!(
            s.compression(Content::Backup),
            Compression::Zstd { level: 3 }
        );
        assert!(s.repo_url().is_err());
        assert_eq!(s.log_format(), LogFormat::Text);
    }

    #[test]
    fn default_file_is_read_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "repo = \"/r\"\ncompression-level = 9\n");
        let s = Settings::resolve(cli(&[]), None, &file).unwrap();
        assert_eq!(s.repo_url().unwrap(), "/r");
        assert_eq!(s.compression(Content::Wal), Compression::Zstd { level: 9 });
        assert_eq!(
            s.compression(Content::Backup),
            Compression::Zstd { level: 9 }
        );
    }

    #[test]
    fn recipients_from_flag_replace_those_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "encrypt-recipient = [\"a\", \"b\"]\n");
        let s = Settings::resolve(
            cli(&["--encrypt-recipient", "c"]),
            Some(&file),
            Path::new("/x"),
        )
        .unwrap();
        assert_eq!(s.raw().encrypt_recipient, vec!["c".to_string()]);
        let s = Settings::resolve(cli(&[]), Some(&file), Path::new("/x")).unwrap();
        assert_eq!(
            s.raw().encrypt_recipient,
            vec!["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn wal_push_and_wal_fetch_tables_sit_below_flags_and_above_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "repo = \"/r\"\n[wal-push]\njobs = 4\nspool-dir = \"/spool\"\n[wal-fetch]\nprefetch = 8\n",
        );
        let s = Settings::resolve(cli(&[]), Some(&file), Path::new("/x")).unwrap();
        let push = s.wal_push(&WalPushSettingsArgs::default());
        assert_eq!(push.jobs, 4);
        assert_eq!(push.spool_dir.as_deref(), Some(Path::new("/spool")));
        let fetch = s.wal_fetch(&WalFetchSettingsArgs::default());
        assert_eq!((fetch.prefetch, fetch.spool_dir), (8, None));
        let flags = WalPushSettingsArgs {
            jobs: Some(1),
            spool_dir: Some("/other".into()),
        };
        assert_eq!(s.wal_push(&flags).jobs, 1);
        assert_eq!(
            s.wal_push(&flags).spool_dir.as_deref(),
            Some(Path::new("/other"))
        );
        let defaults = Settings::default();
        assert_eq!(defaults.wal_push(&WalPushSettingsArgs::default()).jobs, 1);
        assert_eq!(
            defaults
                .wal_fetch(&WalFetchSettingsArgs::default())
                .prefetch,
            0
        );

        let bad = write(dir.path(), "[wal-fetch]\nprefetch = 8\njobs = 2\n");
        let err = Settings::resolve(cli(&[]), Some(&bad), Path::new("/x")).unwrap_err();
        assert!(err.to_string().contains("[wal-fetch]"), "{err}");
    }

    #[test]
    fn backup_push_table_sits_below_flags_and_above_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "repo = \"/r\"\n[backup-push]\nmax-rate = \"50MB/s\"\njobs = 4\nio-priority = \"idle\"\n",
        );
        let s = Settings::resolve(cli(&[]), Some(&file), Path::new("/x")).unwrap();
        let from_file = s.backup(&BackupSettingsArgs::default());
        assert_eq!(from_file.max_rate.unwrap().bytes_per_sec(), 50_000_000);
        assert_eq!(from_file.jobs, 4);
        assert_eq!(from_file.io_priority, Some(IoPriority::Idle));
        assert_eq!(from_file.checkpoint, Checkpoint::Spread);
        let flags = BackupSettingsArgs {
            jobs: Some(1),
            ..Default::default()
        };
        assert_eq!(s.backup(&flags).jobs, 1);
        assert_eq!(
            Settings::default()
                .backup(&BackupSettingsArgs::default())
                .jobs,
            2
        );

        let bad = write(dir.path(), "[backup-push]\nmax-rate = \"fast\"\n");
        let err = Settings::resolve(cli(&[]), Some(&bad), Path::new("/x")).unwrap_err();
        assert!(err.to_string().contains("backup-push"), "{err}");
    }

    #[test]
    fn store_settings_from_file_and_flags_reach_restore_command_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "repo = \"s3://b/p\"\ns3-endpoint = \"http://file:1\"\ns3-path-style = true\ns3-sse = \"aws:kms\"\ns3-sse-kms-key-id = \"k\"\ngcs-credentials-file = \"/etc/key.json\"\n",
        );
        let s = Settings::resolve(
            cli(&[
                "--s3-endpoint",
                "http://flag:2",
                "--s3-checksums",
                "when-required",
            ]),
            Some(&file),
            Path::new("/nonexistent"),
        )
        .unwrap();
        let options = s.store_options().unwrap();
        assert_eq!(options.s3.endpoint.as_deref(), Some("http://flag:2"));
        assert!(options.s3.path_style && options.s3.checksums_when_required);
        assert_eq!(options.s3.sse.as_deref(), Some("aws:kms"));
        assert_eq!(
            s.store_flags(),
            [
                "--s3-endpoint=http://flag:2",
                "--s3-path-style=true",
                "--s3-checksums=when-required",
                "--gcs-credentials-file=/etc/key.json",
            ]
        );
        // A value only with '=': in archive_command the next word is %p.
        assert_eq!(cli(&["--s3-path-style"]).s3_path_style, Some(true));
        assert_eq!(cli(&["--s3-path-style=false"]).s3_path_style, Some(false));
        let kms_without_sse = Settings::resolve(
            cli(&["--s3-sse-kms-key-id", "k"]),
            None,
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert!(kms_without_sse.store_options().is_err());
    }

    #[test]
    fn connection_keys_in_the_file_sit_below_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "repo = \"/r\"\npg-host = \"/run/postgresql\"\npg-port = 5433\npg-user = \"postgres\"\npg-database = \"app\"\n",
        );
        let s = Settings::resolve(cli(&[]), Some(&file), Path::new("/x")).unwrap();
        let from_file = s.connect(&PgConnectArgs::default());
        assert_eq!(from_file.pg_host.as_deref(), Some("/run/postgresql"));
        assert_eq!(from_file.pg_port, Some(5433));
        assert_eq!(from_file.pg_user.as_deref(), Some("postgres"));
        assert_eq!(from_file.pg_database.as_deref(), Some("app"));
        let flags = PgConnectArgs {
            pg_port: Some(6000),
            ..Default::default()
        };
        let no_env = |_: &str| None;
        let merged = connect_over_file(&flags, &s.connect_file, no_env);
        assert_eq!(merged.pg_port, Some(6000));
        assert_eq!(merged.pg_user.as_deref(), Some("postgres"));
        assert_eq!(
            connect_over_file(&flags, &PgConnectArgs::default(), no_env).pg_user,
            None
        );
        // flag > environment > file: PGUSER set leaves the user to libpq.
        let env = |name: &str| (name == "PGUSER").then(|| "app_owner".to_string());
        let merged = connect_over_file(&PgConnectArgs::default(), &s.connect_file, env);
        assert_eq!(merged.pg_user, None, "PGUSER applies, not the file");
        assert_eq!(merged.pg_host.as_deref(), Some("/run/postgresql"));

        let bad = write(dir.path(), "pg-port = \"many\"\n");
        let err = Settings::resolve(cli(&[]), Some(&bad), Path::new("/x")).unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Usage);
        assert!(err.to_string().contains("pg-port"), "{err}");
    }

    #[test]
    fn tls_keys_in_the_file_sit_below_the_flags_and_pgssl_variables() {
        use crate::pg::tls::SslMode;
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "pg-sslmode = \"verify-full\"\npg-sslrootcert = \"/etc/ca.pem\"\npg-sslcert = \"/etc/c.crt\"\npg-sslkey = \"/etc/c.key\"\n",
        );
        let s = Settings::resolve(cli(&[]), Some(&file), Path::new("/x")).unwrap();
        let no_env = |_: &str| None;
        let merged = connect_over_file(&PgConnectArgs::default(), &s.connect_file, no_env);
        assert_eq!(merged.pg_sslmode, Some(SslMode::VerifyFull));
        assert_eq!(merged.pg_sslrootcert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(merged.pg_sslcert, Some(PathBuf::from("/etc/c.crt")));
        assert_eq!(merged.pg_sslkey, Some(PathBuf::from("/etc/c.key")));
        let flags = PgConnectArgs {
            pg_sslmode: Some(SslMode::Require),
            ..Default::default()
        };
        let merged = connect_over_file(&flags, &s.connect_file, no_env);
        assert_eq!(merged.pg_sslmode, Some(SslMode::Require));
        let env = |name: &str| (name == "PGSSLMODE").then(|| "disable".to_string());
        let merged = connect_over_file(&PgConnectArgs::default(), &s.connect_file, env);
        assert_eq!(merged.pg_sslmode, None, "PGSSLMODE applies, not the file");
        assert_eq!(merged.pg_sslrootcert, Some(PathBuf::from("/etc/ca.pem")));

        let bad = write(dir.path(), "pg-sslmode = \"allow\"\n");
        let err = Settings::resolve(cli(&[]), Some(&bad), Path::new("/x")).unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Usage);
        assert!(err.to_string().contains("allow"), "{err}");
    }

    #[test]
    fn unknown_keys_and_missing_explicit_file_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "reop = \"/typo\"\n");
        let err = Settings::resolve(cli(&[]), Some(&file), Path::new("/x")).unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Usage);
        assert!(err.to_string().contains("reop"), "{err}");
        let err = Settings::resolve(cli(&[]), Some(Path::new("/no/such.toml")), Path::new("/x"))
            .unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Usage);
    }
}
