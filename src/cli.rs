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

/// walden keeps PostgreSQL clusters recoverable.
#[derive(Debug, Parser)]
#[command(
    name = "walden",
    version,
    about = "Keeps PostgreSQL clusters recoverable: WAL archiving to object storage with compression and encryption",
    long_about = "Keeps PostgreSQL clusters recoverable.\n\nArchive WAL from PostgreSQL with\n  archive_command = 'walden wal-push --repo /var/lib/walden %p'\nand restore it during recovery with\n  restore_command = 'walden wal-fetch --repo /var/lib/walden %f %p'",
    after_long_help = EXIT_STATUS,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file [default: /etc/walden/walden.toml if present].
    #[arg(long, global = true, env = "WALDEN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Less log output (repeat for less).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Archive one completed WAL file; PostgreSQL's archive_command (`walden wal-push %p`).
    #[command(
        long_about = "Archive one completed WAL file: a segment, a .partial segment, a .history or a .backup file.\n\nUse as PostgreSQL's archive_command:\n  archive_command = 'walden wal-push --repo URL %p'\nThe path is relative to the data directory, as PostgreSQL passes it. Exits 0 only once the object is durably stored. A segment already archived with the same content succeeds; with different content it fails (another cluster or a split brain is writing to the repository) and nothing is overwritten. The first segment pushed records the cluster's system identifier in the repository; segments from another cluster are refused."
    )]
    WalPush(WalPushArgs),

    /// Restore one WAL file from the archive; PostgreSQL's restore_command (`walden wal-fetch %f %p`).
    #[command(
        long_about = "Restore one WAL file (segment or .history) from the archive to DEST, atomically, verifying its checksum.\n\nUse as PostgreSQL's restore_command:\n  restore_command = 'walden wal-fetch --repo URL %f %p'\nExits 1 when the file is not in the archive (normal at the end of recovery) and 255 on any other failure, so that PostgreSQL stops recovery instead of promoting with data missing."
    )]
    WalFetch(WalFetchArgs),

    /// Tour on a throwaway cluster: archive WAL to a local repo, then recover a copy from it.
    Demo(DemoArgs),

    /// Write the man pages.
    #[command(hide = true)]
    Man(ManArgs),

    /// Print a shell completion script.
    #[command(hide = true)]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct WalPushArgs {
    /// Path of the WAL file (%p), relative to the current directory.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct WalFetchArgs {
    /// Name of the WAL file to restore (%f), e.g. 000000010000000000000003 or 00000002.history.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Where to write it (%p), relative to the current directory.
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
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
