//! Error kinds and the one table that maps them to process exit codes.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | `wal-fetch`: the file is not in the archive (normal at the end of recovery); any other command: it failed |
//! | 2    | usage or configuration error (every command but `wal-fetch`) |
//! | 255  | `wal-fetch` only: any failure other than "absent" (corrupt object, checksum mismatch, wrong key, bad configuration, storage unreachable after retries). PostgreSQL treats an exit status above 125 as fatal and stops recovery instead of promoting early with data missing. |
//!
//! `wal-push` never exits above 125: PostgreSQL would stop the archiver.
//!
//! A panic exits 101, which `wal-fetch` must not: PostgreSQL would read it
//! as "absent" and promote. A panic in `wal-fetch` exits 255 instead (see
//! [`panic_exit_code`]).
//!
//! `status` follows the Nagios plugin convention instead: 0 OK, 1 warning,
//! 2 critical (including a repository it cannot read: unknown backups are
//! not safe backups), 3 unknown (a usage error, or a metrics file it could
//! not write).

use std::fmt;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Ordinary failure; for `wal-fetch`, "not in the archive".
pub const EXIT_FAILURE: u8 = 1;
/// Usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// `status`: a threshold's warning age passed.
pub const EXIT_WARNING: u8 = 1;
/// `status`: critical (Nagios).
pub const EXIT_CRITICAL: u8 = 2;
/// `status`: unknown, i.e. a usage error (Nagios).
pub const EXIT_UNKNOWN: u8 = 3;
/// `wal-fetch` failures that must stop recovery (above 125, see module docs).
pub const EXIT_RECOVERY_FATAL: u8 = 255;

/// What went wrong, as far as the exit code is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad flags, configuration file, repository URL or key file.
    Usage,
    /// The requested object is not in the repository.
    NotFound,
    /// Anything else: storage, integrity, I/O.
    Failed,
    /// `status`: the archive needs attention soon.
    Warning,
    /// `status`: the archive is not protecting the cluster.
    Critical,
}

/// Which command failed: the exit-code rules differ for PostgreSQL's two hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Called by PostgreSQL as `restore_command`.
    WalFetch,
    /// Called by PostgreSQL as `archive_command`.
    WalPush,
    /// A monitoring check (Nagios exit codes).
    Status,
    /// Everything run by people and cron.
    Other,
}

/// The exit-code table.
pub fn exit_code(role: Role, kind: Kind) -> u8 {
    match (role, kind) {
        (Role::WalFetch, Kind::NotFound) => EXIT_FAILURE,
        // Even a configuration error must stop recovery: exiting 2 would read
        // as "segment absent" and PostgreSQL could promote with data missing.
        (Role::WalFetch, _) => EXIT_RECOVERY_FATAL,
        (Role::Status, Kind::Usage) => EXIT_UNKNOWN,
        (Role::Status, Kind::Warning) => EXIT_WARNING,
        (Role::Status, _) => EXIT_CRITICAL,
        (_, Kind::Usage) => EXIT_USAGE,
        (_, Kind::NotFound | Kind::Failed | Kind::Warning | Kind::Critical) => EXIT_FAILURE,
    }
}

/// The exit status of a panic, for the roles where unwinding's 101 would be
/// misread: `wal-fetch` must stop recovery. `None`: 101 is fine (for
/// `wal-push` it is an ordinary failure that PostgreSQL retries).
pub fn panic_exit_code(role: Role) -> Option<u8> {
    match role {
        Role::WalFetch => Some(EXIT_RECOVERY_FATAL),
        Role::WalPush | Role::Status | Role::Other => None,
    }
}

/// An error with its kind and a message chain for the operator.
pub struct Error {
    pub kind: Kind,
    pub source: anyhow::Error,
}

impl Error {
    pub fn new(kind: Kind, source: impl Into<anyhow::Error>) -> Self {
        Error {
            kind,
            source: source.into(),
        }
    }

    pub fn usage(msg: impl fmt::Display) -> Self {
        Error::new(Kind::Usage, anyhow::anyhow!("{msg}"))
    }

    pub fn not_found(msg: impl fmt::Display) -> Self {
        Error::new(Kind::NotFound, anyhow::anyhow!("{msg}"))
    }

    pub fn failed(msg: impl fmt::Display) -> Self {
        Error::new(Kind::Failed, anyhow::anyhow!("{msg}"))
    }

    /// Adds operator-facing context, keeping the kind.
    pub fn context(self, ctx: impl fmt::Display + Send + Sync + 'static) -> Self {
        Error {
            kind: self.kind,
            source: self.source.context(ctx),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // "{:#}" prints the whole context chain on one line: "a: b: c".
        write!(f, "{:#}", self.source)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:#}", self.kind, self.source)
    }
}

impl From<crate::storage::StorageError> for Error {
    fn from(e: crate::storage::StorageError) -> Self {
        let kind = if e.is_not_found() {
            Kind::NotFound
        } else {
            Kind::Failed
        };
        Error::new(kind, e)
    }
}

impl From<crate::storage::UrlError> for Error {
    fn from(e: crate::storage::UrlError) -> Self {
        Error::new(Kind::Usage, e)
    }
}

impl From<crate::pipeline::PipelineError> for Error {
    fn from(e: crate::pipeline::PipelineError) -> Self {
        use crate::pipeline::PipelineError as P;
        let kind = match e {
            P::InvalidKey(_) | P::NoIdentity => Kind::Usage,
            _ => Kind::Failed,
        };
        Error::new(kind, e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_fetch_never_reports_a_failure_as_absent() {
        assert_eq!(exit_code(Role::WalFetch, Kind::NotFound), 1);
        for kind in [Kind::Usage, Kind::Failed, Kind::Warning, Kind::Critical] {
            assert!(exit_code(Role::WalFetch, kind) > 125);
        }
    }

    #[test]
    fn a_panic_in_wal_fetch_stops_recovery_and_elsewhere_stays_101() {
        assert_eq!(panic_exit_code(Role::WalFetch), Some(255));
        // 101 is not above 125: the archiver retries.
        assert_eq!(panic_exit_code(Role::WalPush), None);
        assert_eq!(panic_exit_code(Role::Other), None);
    }

    #[test]
    fn wal_push_never_stops_the_archiver() {
        for kind in [Kind::Usage, Kind::NotFound, Kind::Failed] {
            let code = exit_code(Role::WalPush, kind);
            assert!(code != 0 && code <= 125);
        }
        assert_eq!(exit_code(Role::WalPush, Kind::Usage), EXIT_USAGE);
    }

    #[test]
    fn status_speaks_nagios() {
        assert_eq!(exit_code(Role::Status, Kind::Warning), 1);
        assert_eq!(exit_code(Role::Status, Kind::Critical), 2);
        // A repository that cannot be read protects nothing.
        assert_eq!(exit_code(Role::Status, Kind::Failed), 2);
        assert_eq!(exit_code(Role::Status, Kind::NotFound), 2);
        assert_eq!(exit_code(Role::Status, Kind::Usage), 3);
    }
}
