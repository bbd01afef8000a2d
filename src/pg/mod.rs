//! PostgreSQL knowledge: WAL positions and file names, segment page headers, timeline history, the backup control session, recovery settings, and a throwaway local server.

pub mod backup_history;
pub mod conninfo;
pub mod control;
pub mod datadir;
pub mod history;
pub mod lsn;
pub mod page_header;
pub mod recovery;
pub mod server;
pub mod wal_name;

pub use backup_history::{check_backup_history, BackupHistoryError};
pub use control::{
    check_supported, parse_backup_label, BackupFrom, BackupLabel, BackupLabelStop, BackupStart,
    BackupStop, ConnectOptions, ControlError, ControlSession, Tablespace, SUPPORTED_MAJORS,
};
pub use history::{
    check_history_file, parse_history, parse_history_for, timeline_of_lsn, HistoryEntry,
    HistoryError,
};
pub use lsn::{Lsn, LsnParseError, SegmentSizeError, WalSegmentSize};
pub use page_header::{
    parse_long_page_header, pg_major_for_magic, LongPageHeader, PageHeaderError,
    LONG_PAGE_HEADER_LEN,
};
pub use recovery::{
    parse_target_time, parse_xid, RecoveryError, RecoverySettings, RecoveryTarget, TargetAction,
    TargetTimeline,
};
pub use wal_name::{SegmentName, TimelineId, TimelineParseError, WalFileName, WalNameError};

/// A file from `fixtures/wal/`: real WAL written by PostgreSQL (see its
/// README). The path goes through the crate root so that it works both in
/// this crate and in a crate that links `fixtures` to it.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wal")).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}
