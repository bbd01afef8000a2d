//! Command-line definitions: one struct per command, parsed by clap.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::config::SettingsArgs;

const EXIT_STATUS: &str = "\
Exit status:
  0    success
  1    wal-fetch: the file is not in the archive (normal at the end of recovery);
       other commands: failure
  2    usage or configuration error (not wal-fetch: see 255)
  255  wal-fetch only: any failure other than \"absent\" (corrupt object, checksum
       mismatch, wrong or missing age identity, bad configuration, storage
       unreachable after retries). PostgreSQL stops recovery on a status above
       125 instead of promoting early with data missing.
wal-push never exits above 125, so PostgreSQL keeps the archiver running and retries.

Configuration: every option is a flag, a WALDEN_* environment variable and a key in
the TOML file (--config, default /etc/walden/walden.toml); flag > environment > file.";

/// Below `-h`, which leaves out the options most runs take from the
/// configuration file.
const SHORT_HELP_FOOTER: &str = "\
More options (compression, encryption, logging, S3 and GCS storage)
and the exit codes: walden --help
Each command's options: walden <COMMAND> -h; its manual: man walden-<COMMAND>";

/// walden keeps PostgreSQL clusters recoverable.
#[derive(Debug, Parser)]
#[command(
    name = "walden",
    version,
    about = "Keeps PostgreSQL clusters recoverable: WAL archiving to object storage with compression and encryption",
    long_about = "Keeps PostgreSQL clusters recoverable.\n\nArchive WAL from PostgreSQL with\n  archive_command = 'walden wal-push --repo /var/lib/walden %p'\nand restore it during recovery with\n  restore_command = 'walden wal-fetch --repo /var/lib/walden %f %p'",
    after_help = SHORT_HELP_FOOTER,
    after_long_help = EXIT_STATUS,
    propagate_version = true,
    mut_args = hide_env_value,
    mut_subcommands = hide_env_values
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Help names the WALDEN_* variable of each option but never shows its
/// current value: identity paths, KMS key ids and bucket names would end up
/// in terminals, screenshots and support tickets.
fn hide_env_value(arg: clap::Arg) -> clap::Arg {
    arg.hide_env_values(true)
}

/// `hide_env_value` for every option of `command` and its subcommands.
fn hide_env_values(command: clap::Command) -> clap::Command {
    command
        .mut_args(hide_env_value)
        .mut_subcommands(hide_env_values)
}

/// Options every command accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// TOML configuration file [default: /etc/walden/walden.toml if present].
    #[arg(long, global = true, env = "WALDEN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Archive one completed WAL file; PostgreSQL's archive_command (`walden wal-push %p`).
    #[command(
        long_about = "Archive one completed WAL file: a segment, a .partial segment, a .history or a .backup file.\n\nUse as PostgreSQL's archive_command:\n  archive_command = 'walden wal-push --repo URL %p'\nThe path is relative to the data directory, as PostgreSQL passes it. Exits 0 only once the object is durably stored. A segment already archived with the same content succeeds; with different content it fails (another cluster or a split brain is writing to the repository) and nothing is overwritten. The first segment pushed records the cluster's system identifier in the repository; segments from another cluster are refused.\n\nRead-ahead (--jobs N, N > 1): when PostgreSQL is behind, each call also archives, N at a time, the next segments it has marked ready in pg_wal/archive_status, and records each one only after the store confirmed it in a marker in the spool (--spool-dir, by default .walden-spool beside the data directory). PostgreSQL's later call for such a segment checks that the marker describes that very file (device, inode, size, modification time) and returns at once. A crash loses markers, never data: a segment without its marker is pushed again, which the duplicate rule makes harmless."
    )]
    WalPush(WalPushArgs),

    /// Fetch one WAL file; PostgreSQL's restore_command (`walden wal-fetch %f %p`).
    #[command(
        long_about = "Restore one WAL file (segment or .history) from the archive to DEST, atomically, verifying its checksum.\n\nUse as PostgreSQL's restore_command:\n  restore_command = 'walden wal-fetch --repo URL %f %p'\nExits 1 when the file is not in the archive (normal at the end of recovery) and 255 on any other failure, so that PostgreSQL stops recovery instead of promoting with data missing.\n\nPrefetch (--prefetch N): a call for a segment also starts a background process that fetches the next N segments of its timeline, verified against their archived checksums, into the spool (--spool-dir, by default .walden-spool beside the data directory). Later calls take them from there after checking each one's CRC-32C, so a spool file damaged by a crash is deleted and fetched again, never used. Entries of other timelines or behind the recovery are removed."
    )]
    WalFetch(WalFetchArgs),

    /// Take a throttled base backup of a running cluster into the repository.
    #[command(
        long_about = "Take a base backup of a running cluster into the repository, as tar parts through the compression and encryption stages, in one of two ways.\n\nWith --pgdata (or PGDATA): a non-exclusive backup (pg_backup_start / pg_backup_stop over one session) whose files walden reads from the data directory, so run it on the database host, as a user that can read the data directory (usually postgres). --max-rate 50MB/s limits disk reads, --io-priority idle yields the disk to everything else.\n\nWithout --pgdata and PGDATA: over the network through the replication protocol (BASE_BACKUP, as pg_basebackup does), from a primary or a hot standby, with no access to the data directory. The user needs the REPLICATION attribute and a replication line in pg_hba.conf; the password comes from PGPASSWORD or .pgpass (database \"replication\"). --max-rate limits the stream and the server's reads.\n\nEither way, WAL needed to make the backup consistent must be archived by walden wal-push into the same repository: walden waits until the backup's last segment is there, and fails after --archive-timeout if archiving is broken. The manifest is written last: a backup without one is incomplete and never restored.\n\nMemory does not grow with the number of files: the file list goes to temporary files in $TMPDIR (else /tmp) while the parts are stored, about 500 bytes a file (500 MB for a cluster of a million files)."
    )]
    BackupPush(BackupPushArgs),

    /// List the backups in the repository.
    BackupList(BackupListArgs),

    /// Restore a backup into a new data directory, set up for point-in-time recovery.
    #[command(
        long_about = "Download and unpack a backup into a new (missing or empty) data directory, verify every checksum, write backup_label and tablespace_map, and configure recovery: restore_command pointing at this walden with the same repository and key, recovery.signal (or standby.signal with --standby), and the recovery target.\n\n`latest` with a --target-time or --target-lsn picks the newest backup that finished before the target. Then start PostgreSQL on the directory (pg_ctl start): it replays WAL from the archive up to the target.\n\nA streaming replica in one command: --standby --primary-conninfo 'host=primary.example user=replicator' --slot NAME --create-slot. The standby streams from the primary through the slot and falls back to the archive whenever streaming stops; it never promotes by itself."
    )]
    Restore(RestoreArgs),

    /// Delete what the retention policy no longer needs (a dry run unless --apply).
    #[command(
        long_about = "Plan which backups and WAL files the retention policy keeps, and why; with --apply, delete the rest.\n\nWithout --apply nothing is deleted: the plan is printed (or written as JSON with --json). Kept: the backups chosen by --retain-full and --retain-days (both: what either keeps), the newest backup before the --wal-retain-days window, and always the newest complete backup. WAL is kept from the start of the oldest kept backup on each timeline to the newest archived segment, on its timeline and every timeline that branched from it later (followed through .history files), so every kept backup can be restored to any point after it. History files are never deleted. Incomplete backups (no manifest) silent for longer than --incomplete-grace are deleted.\n\nDeletion order keeps the repository valid if prune is interrupted: a backup's manifest goes first (the backup becomes incomplete, never half-restorable), then its parts; WAL oldest first, so what is kept never has a hole. A wal-push or backup-push running at the same time is safe: only objects in the plan's listing are deleted, and those are below every kept backup's WAL."
    )]
    Prune(PruneArgs),

    /// Re-read the repository: every checksum, manifest and each backup's WAL chain.
    #[command(
        long_about = "Re-read objects and check them: every part of each complete backup is downloaded, decrypted, decompressed and compared with the manifest's SHA-256 and size; with --wal, every archived WAL file is read and compared with the checksum recorded when it was archived. Always checked from the listing: that WAL is continuous from each backup's start segment to the newest archived segment on its timeline and the timelines that branched from it, that each backup's parts exist with the recorded sizes, that every backup an incremental backup builds on is a complete backup of the same cluster down to a full backup, incomplete backups, and objects walden did not write (orphans).\n\nExits 0 when everything is fine and 1 on any problem, each named with the object it concerns."
    )]
    Verify(VerifyArgs),

    /// Is the archive healthy? Nagios exit codes and Prometheus metrics.
    #[command(
        long_about = "Report the complete backups (full and incremental, and the chains the incremental ones form), the newest complete backup (age, size), the newest archived WAL file (age), WAL gaps since the newest backup, the repository's size and the last drill.\n\nFor cron, Nagios or Icinga: exits 0 when everything is within the thresholds (OK), 1 for a warning and 2 when critical (no backup at all, a WAL gap after the newest backup, the last drill failed, a threshold's critical age passed, or the repository cannot be read); a chain of incremental backups with a link gone is a warning; 3 on a usage error or a --prometheus file that cannot be written (UNKNOWN, unless the verdict is critical). The first line of stdout is the one-line verdict, always printed before anything else can fail.\n\n--prometheus FILE writes the figures as a node_exporter textfile (atomically, mode 0644), e.g. /var/lib/prometheus/node-exporter/walden.prom."
    )]
    Status(StatusArgs),

    /// Prove the newest backup restores: restore, start PostgreSQL, replay, run a check.
    #[command(
        long_about = "Restore a backup (the newest by default) into a temporary directory, start PostgreSQL on it on a private socket and port, replay WAL to the end of the archive, promote, run a check (SELECT 1 by default, --check-sql for your own, --amcheck to run pg_amcheck on every database), stop the server and remove the directory.\n\nReports the RTO (from the start of the drill until the cluster was ready), the RPO (time between the newest replayed commit and now), and the bytes restored, and records the result in the repository under drills/ so that status can alert on a failing or stale drill. Exits 1 when the drill fails, printing the tail of the server log.\n\nRun it where PostgreSQL's server binaries of the backup's major version (13 to 18) are installed: --pg-bin DIR, else /usr/lib/postgresql/<major>/bin, else pg_config's if it reports that major; any other version is refused before anything is restored. As root it runs the server as the postgres user."
    )]
    Drill(DrillArgs),

    /// Check the setup end to end: repository, keys, identity, archive_command.
    #[command(
        long_about = "Check the setup end to end, one line per check with PASS, FAIL (and what to do) or SKIP (and why):\n\n  config      the settings resolve: repository URL, compression, age keys\n  repository  the store answers a listing, and a probe object under check/ is written, read back and deleted (--read-only: listing and reads only, for hosts that only restore)\n  keys        a probe is encrypted to the recipients and, with --decrypt-identity, decrypted back; an archived encrypted WAL file is decrypted with the identity\n  server      the cluster answers on --pg-host/--pg-port/--pg-user/--pg-database (with --replication: over the replication protocol, as backup-push without --pgdata connects, and what IDENTIFY_SYSTEM says; the archive check is then skipped)\n  identity    the cluster's system identifier, major version and segment size match the repository's record (walden.json); a new repository has none until the first wal-push records it, or --init records it now\n  archive     a restore point and pg_switch_wal() make PostgreSQL archive a segment through archive_command; it must reach this repository within --timeout, else pg_stat_archiver's last failure is shown\n\nWithout connection options the server checks are skipped. Run it as the account that runs archive_command (usually postgres), with the same settings. Exits 0 when every check passed or was skipped, 1 when one failed, 2 on a configuration error."
    )]
    Check(CheckArgs),

    /// The recoverable window per timeline, and each backup's age, type and size.
    #[command(
        long_about = "Show what can be restored: for each timeline, the recoverable window from the oldest restorable point (where the oldest backup whose WAL is continuous to the newest segment becomes consistent) to the end of the newest archived segment it can reach, and the WAL gaps that cut earlier backups off; then each complete backup with its age, type, size and timeline.\n\nAn empty or missing repository is an error (exit 2): usually a mistyped --repo."
    )]
    Info(InfoArgs),

    /// Tour on a throwaway cluster: archive, back up, write, restore to a point in time.
    Demo(DemoArgs),

    /// Write the man pages into a directory (scripts/install.sh installs them).
    Man(ManArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct WalPushArgs {
    /// Path of the WAL file (%p), relative to the current directory.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    #[command(flatten)]
    pub settings: crate::config::WalPushSettingsArgs,
}

#[derive(Debug, Args)]
pub struct WalFetchArgs {
    /// Name of the WAL file to restore (%f), e.g. 000000010000000000000003 or 00000002.history.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Where to write it (%p), relative to the current directory.
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,

    #[command(flatten)]
    pub settings: crate::config::WalFetchSettingsArgs,

    /// Internal: run as the background prefetcher after NAME, for segments of this many bytes.
    #[arg(long, hide = true, value_name = "SEGMENT_BYTES")]
    pub prefetch_worker: Option<u32>,
}

/// How to reach the cluster's control session (libpq-style; PG* variables
/// apply). Also top-level keys of the configuration file (`pg-host = …`),
/// below the flags and above PG* variables.
#[derive(Debug, Clone, Default, Args, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[command(next_help_heading = "Connection")]
pub struct PgConnectArgs {
    /// Server host or Unix-socket directory [env: PGHOST; default: /var/run/postgresql].
    #[arg(long, value_name = "HOST")]
    pub pg_host: Option<String>,

    /// Server port [env: PGPORT; default: 5432].
    #[arg(long, value_name = "PORT")]
    pub pg_port: Option<u16>,

    /// User to connect as (needs pg_backup_start rights) [env: PGUSER; default: the OS user].
    #[arg(long, value_name = "USER")]
    pub pg_user: Option<String>,

    /// Database to connect to [env: PGDATABASE; default: the user name].
    #[arg(long, value_name = "DB")]
    pub pg_database: Option<String>,

    /// TLS over TCP: disable, prefer, require, verify-ca, verify-full [env: PGSSLMODE; default: prefer].
    ///
    /// libpq's rules: verify-* need a root certificate; require with one present checks like verify-ca; Unix sockets never use TLS.
    #[arg(long, value_name = "MODE", hide_short_help = true)]
    pub pg_sslmode: Option<crate::pg::tls::SslMode>,

    /// CA certificate(s) the server's must chain to, or "system" [env: PGSSLROOTCERT; default: ~/.postgresql/root.crt].
    ///
    /// "system" uses the operating system's trusted roots and needs sslmode verify-full.
    #[arg(long, value_name = "FILE", hide_short_help = true)]
    pub pg_sslrootcert: Option<PathBuf>,

    /// Client certificate for cert authentication [env: PGSSLCERT; default: ~/.postgresql/postgresql.crt].
    ///
    /// Its common name must be the user name (pg_hba.conf method cert).
    #[arg(long, value_name = "FILE", hide_short_help = true)]
    pub pg_sslcert: Option<PathBuf>,

    /// Private key of the client certificate [env: PGSSLKEY; default: ~/.postgresql/postgresql.key].
    ///
    /// Refused when group or others may read it (chmod 0600), as libpq does.
    #[arg(long, value_name = "FILE", hide_short_help = true)]
    pub pg_sslkey: Option<PathBuf>,
}

impl PgConnectArgs {
    /// The control connection these options describe; what they leave
    /// unset comes from libpq's PG* variables (PGHOST, PGSSLMODE, …). The
    /// password comes from PGPASSWORD or the password file
    /// (`ConnectOptions::password_for`). An invalid PGSSLMODE is an error.
    pub fn options(
        &self,
    ) -> Result<crate::pg::control::ConnectOptions, crate::pg::control::ControlError> {
        let mut options = crate::pg::control::ConnectOptions {
            host: self.pg_host.clone(),
            port: self.pg_port,
            user: self.pg_user.clone(),
            database: self.pg_database.clone(),
            password: None,
            tls: crate::pg::tls::TlsOptions {
                mode: self.pg_sslmode.unwrap_or_default(),
                root_cert: self.pg_sslrootcert.clone(),
                cert: self.pg_sslcert.clone(),
                key: self.pg_sslkey.clone(),
                home: None,
            },
            passfile: None,
        }
        .with_pg_env()?;
        // A flag wins over PGSSLMODE even when it names the default mode.
        if let Some(mode) = self.pg_sslmode {
            options.tls.mode = mode;
        }
        Ok(options)
    }

    /// Whether any option is set.
    pub fn any(&self) -> bool {
        self.pg_host.is_some()
            || self.pg_port.is_some()
            || self.pg_user.is_some()
            || self.pg_database.is_some()
            || self.pg_sslmode.is_some()
            || self.pg_sslrootcert.is_some()
            || self.pg_sslcert.is_some()
            || self.pg_sslkey.is_some()
    }

    /// Fills every unset field of `self` from `lower` (lower precedence).
    pub fn or(self, lower: PgConnectArgs) -> PgConnectArgs {
        PgConnectArgs {
            pg_host: self.pg_host.or(lower.pg_host),
            pg_port: self.pg_port.or(lower.pg_port),
            pg_user: self.pg_user.or(lower.pg_user),
            pg_database: self.pg_database.or(lower.pg_database),
            pg_sslmode: self.pg_sslmode.or(lower.pg_sslmode),
            pg_sslrootcert: self.pg_sslrootcert.or(lower.pg_sslrootcert),
            pg_sslcert: self.pg_sslcert.or(lower.pg_sslcert),
            pg_sslkey: self.pg_sslkey.or(lower.pg_sslkey),
        }
    }
}

#[derive(Debug, Args)]
pub struct BackupPushArgs {
    /// Read the backup from this data directory; without it, over the network.
    ///
    /// The cluster's data directory, read from disk (must be the one the server reports); without it and PGDATA, the backup comes over the network (replication protocol, as pg_basebackup).
    #[arg(long, env = "PGDATA", value_name = "DIR")]
    pub pgdata: Option<PathBuf>,

    #[command(flatten)]
    pub connect: PgConnectArgs,

    #[command(flatten)]
    pub backup: crate::config::BackupSettingsArgs,

    #[command(flatten)]
    pub incremental: IncrementalArgs,

    /// Target plaintext size of one tar part, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024, hide = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub part_size_mib: u64,
}

/// What kind of backup backup-push takes: full unless asked otherwise.
#[derive(Debug, Args)]
#[command(next_help_heading = "Incremental backups (PostgreSQL 17 or later)")]
pub struct IncrementalArgs {
    /// Only the blocks changed since the newest backup (PostgreSQL 17+, summarize_wal = on).
    ///
    /// Take an incremental backup: only the blocks changed since the newest complete backup on the server's timeline, which must have been taken over the network (no --pgdata). Needs PostgreSQL 17 or later with summarize_wal = on. When it cannot be taken, backup-push says why and fails, unless --incremental-or-full. A restore rebuilds the full data directory from the chain, in place.
    #[arg(long)]
    pub incremental: bool,

    /// Build on this backup instead of the newest (implies --incremental).
    #[arg(long, hide_short_help = true, value_name = "NAME")]
    pub incremental_from: Option<String>,

    /// Like --incremental, but a full backup (and a warning) when one cannot be taken.
    ///
    /// Like --incremental, but take a full backup (with a warning saying why) when an incremental one cannot be taken: a server older than 17, summarize_wal off, no backup to build on, a broken chain.
    #[arg(long, hide_short_help = true, conflicts_with = "incremental_from")]
    pub incremental_or_full: bool,

    /// The longest chain, its full backup included; then the next backup is full.
    ///
    /// The longest chain, counting its full backup: when the backup to build on is already the last this allows, the backup is a full one, so a restore never reads more than this many backups.
    #[arg(long, hide_short_help = true, value_name = "N", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_chain: u32,
}

impl IncrementalArgs {
    /// Whether an incremental backup was asked for, by any of the flags.
    pub fn wanted(&self) -> bool {
        self.incremental || self.incremental_from.is_some() || self.incremental_or_full
    }
}

#[derive(Debug, Args)]
pub struct BackupListArgs {
    /// Print JSON (stable field names, for scripts).
    #[arg(long)]
    pub json: bool,

    /// Also list incomplete backups (no manifest: interrupted or in progress).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Backup name from backup-list, or `latest`.
    #[arg(value_name = "NAME|latest")]
    pub backup: String,

    /// Data directory to create; must be missing or empty.
    #[arg(long, value_name = "DIR")]
    pub pgdata: PathBuf,

    /// Parts downloaded and unpacked in parallel.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// Put tablespace OID at DIR instead of its original location (repeatable).
    #[arg(long, value_name = "OID=DIR")]
    pub tablespace_map: Vec<String>,

    /// As root, write unmapped tablespaces at the locations the backup names (outside --pgdata) instead of refusing.
    #[arg(long)]
    pub tablespaces_in_place: bool,

    /// Recover up to this time, e.g. '2026-11-24 10:00:00+00' (an offset is required).
    #[arg(long, value_name = "TIME", group = "target")]
    pub target_time: Option<String>,

    /// Recover up to this WAL position, e.g. 0/3000060.
    #[arg(long, value_name = "LSN", group = "target")]
    pub target_lsn: Option<String>,

    /// Recover up to the commit of this transaction id.
    #[arg(long, value_name = "XID", group = "target")]
    pub target_xid: Option<String>,

    /// Recover up to this restore point (pg_create_restore_point).
    #[arg(long, value_name = "NAME", group = "target")]
    pub target_name: Option<String>,

    /// Stop as soon as the backup is consistent.
    #[arg(long, group = "target")]
    pub target_immediate: bool,

    /// Stop just before the target instead of just after it.
    #[arg(long)]
    pub target_exclusive: bool,

    /// What to do at the target: pause (inspect, then promote), promote, or shutdown [PostgreSQL's default: pause].
    #[arg(long, value_name = "ACTION")]
    pub target_action: Option<String>,

    /// Timeline to recover along: latest, current, or a number [PostgreSQL's default: latest].
    #[arg(long, value_name = "TIMELINE")]
    pub target_timeline: Option<String>,

    /// Set up a standby (standby.signal) instead of a one-off recovery.
    #[arg(long)]
    pub standby: bool,

    /// With --standby: stream from the server this libpq connection string reaches
    /// (primary_conninfo), e.g. 'host=primary.example user=replicator'; restore_command stays as
    /// the fallback. Written as given into postgresql.auto.conf; printed with password= masked.
    #[arg(long, value_name = "CONNINFO", requires = "standby")]
    pub primary_conninfo: Option<String>,

    /// With --primary-conninfo: the physical replication slot on the primary that keeps WAL for
    /// this standby (primary_slot_name).
    #[arg(long, value_name = "NAME", requires = "primary_conninfo")]
    pub slot: Option<String>,

    /// Create --slot on the primary after the restore (pg_create_physical_replication_slot,
    /// reserving WAL at once), connecting with --primary-conninfo (database postgres unless it
    /// names one); an existing inactive physical slot of that name is used as it is.
    #[arg(long, requires = "slot")]
    pub create_slot: bool,

    /// Whether the restored cluster archives WAL: off writes archive_mode = off, so a test or
    /// clone never archives into this repository; preserve keeps the backup's archive settings
    /// (for a replacement primary). [default: off, or preserve with --standby]
    #[arg(long, value_name = "MODE", value_parser = ["off", "preserve"])]
    pub archive_mode: Option<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub policy: crate::config::PruneSettingsArgs,

    /// Delete what the plan says; without it, prune only prints the plan.
    #[arg(long)]
    pub apply: bool,

    /// Print the plan as JSON (stable field names, for scripts).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Backups to verify, each with every backup it builds on [default: every complete backup].
    #[arg(value_name = "BACKUP")]
    pub backups: Vec<String>,

    /// Also re-read every archived WAL file and check its checksum.
    #[arg(long)]
    pub wal: bool,

    /// Check only what the listing and manifests show (sizes, WAL continuity, orphans); read no parts.
    #[arg(long, conflicts_with = "wal")]
    pub quick: bool,

    /// Objects read in parallel.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub thresholds: crate::config::StatusSettingsArgs,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    /// Also write the figures as a Prometheus node_exporter textfile, atomically.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Backup to drill [default: the newest complete backup].
    #[arg(value_name = "BACKUP")]
    pub backup: Option<String>,

    /// Query that must succeed on the restored cluster (run with psql in the postgres database).
    #[arg(long, value_name = "SQL", default_value = "SELECT 1")]
    pub check_sql: String,

    /// Also run pg_amcheck --all (heap and B-tree checks) on the restored cluster.
    #[arg(long)]
    pub amcheck: bool,

    /// Role the check connects as (a superuser for --amcheck).
    #[arg(long, value_name = "ROLE", default_value = "postgres")]
    pub check_user: String,

    /// Database the check query runs in.
    #[arg(long, value_name = "DB", default_value = "postgres")]
    pub check_database: String,

    /// Directory with PostgreSQL's server binaries (pg_ctl, postgres) of the backup's major version, checked with `postgres --version` before anything is restored; psql and pg_amcheck come from there too, else from the newest /usr/lib/postgresql/<major>/bin or PATH [default: /usr/lib/postgresql/<backup's major>/bin if installed, else pg_config's if it is that major].
    #[arg(long, env = "WALDEN_PG_BIN", value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,

    /// Where to create the temporary data directory [default: the system's temporary directory].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Give up when the cluster is not ready after this long (replay included).
    #[arg(long, value_name = "AGE", default_value = "1h")]
    pub timeout: crate::ages::Age,

    /// Parts downloaded and unpacked in parallel.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// Keep the restored directory when the drill fails, for inspection.
    #[arg(long)]
    pub keep_failed: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub connect: PgConnectArgs,

    /// How long the archive check waits for the switched segment to reach the repository.
    #[arg(long, value_name = "AGE", default_value = "60s")]
    pub timeout: crate::ages::Age,

    /// Record the cluster's identity in a new repository now (needs a server connection), instead of at the first wal-push.
    #[arg(long)]
    pub init: bool,

    /// Only list and read the repository; write nothing (for hosts that only restore).
    #[arg(long, conflicts_with = "init")]
    pub read_only: bool,

    /// Connect as backup-push does without --pgdata: over the replication protocol, as a role with the REPLICATION attribute (a backup host, a CronJob pod). The server and identity checks then use IDENTIFY_SYSTEM; the archive check, which needs an SQL session, is skipped: run check without this flag where archive_command runs.
    #[arg(long)]
    pub replication: bool,

    /// Print the checks as a JSON array (stable field names, for scripts).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Print JSON (stable field names, for scripts).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo's clusters and repository [default: a new temporary directory].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Keep the directory afterwards instead of removing it.
    #[arg(long)]
    pub keep: bool,

    /// Directory with PostgreSQL's server binaries (initdb, pg_ctl, postgres) [default: from pg_config, or /usr/lib/postgresql/15/bin].
    #[arg(long, env = "WALDEN_PG_BIN", value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write walden.1 and one page per command into.
    #[arg(long, value_name = "DIR", default_value = "man")]
    pub out_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Command {
    /// The exit-code role of this command (see `error::exit_code`).
    pub fn role(&self) -> crate::error::Role {
        match self {
            Command::WalPush(_) => crate::error::Role::WalPush,
            Command::WalFetch(_) => crate::error::Role::WalFetch,
            Command::Status(_) => crate::error::Role::Status,
            _ => crate::error::Role::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
