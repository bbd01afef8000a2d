//! PostgreSQL knowledge: WAL positions and file names, segment page headers, timeline history, the backup control session, recovery settings, and a throwaway local server.

pub mod backup_history;
pub mod base_backup;
pub mod conninfo;
pub mod control;
pub mod datadir;
pub mod history;
pub mod incremental;
pub mod lsn;
pub mod page_header;
pub mod pgpass;
pub mod recovery;
pub mod replication;
pub mod server;
pub mod tls;
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

/// One real cluster per supported major in `fixtures/wal/` (see its README):
/// the head of a timeline-1 segment, the head of timeline 2's first segment
/// and timeline 2's history file, all named `pg<major>-16MiB-…`.
#[cfg(test)]
pub(crate) struct MajorFixture {
    pub major: u32,
    /// `XLOG_PAGE_MAGIC` of the server that wrote it.
    pub magic: u16,
    /// From `pg_control_system()`, as recorded in the README.
    pub system_identifier: u64,
    pub timeline_1_segment: &'static str,
    pub timeline_2_segment: &'static str,
    /// Where timeline 2 branched off timeline 1, from its history file.
    pub switchpoint: &'static str,
}

#[cfg(test)]
impl MajorFixture {
    pub fn segment_head(&self, segment: &str) -> String {
        format!("pg{}-16MiB-{segment}.head", self.major)
    }

    pub fn history(&self) -> String {
        format!("pg{}-16MiB-00000002.history", self.major)
    }
}

/// 13, 14 and 16 to 18 were made by `scripts/make-wal-fixtures.sh` with the
/// servers of `scripts/install-test-postgres.sh`; 15 is cluster A, made by
/// hand with Debian's postgresql-15.
#[cfg(test)]
pub(crate) const MAJOR_FIXTURES: [MajorFixture; 6] = {
    const fn cluster(
        major: u32,
        magic: u16,
        system_identifier: u64,
        timeline_1_segment: &'static str,
        timeline_2_segment: &'static str,
        switchpoint: &'static str,
    ) -> MajorFixture {
        MajorFixture {
            major,
            magic,
            system_identifier,
            timeline_1_segment,
            timeline_2_segment,
            switchpoint,
        }
    }
    const TL1: &str = "000000010000000000000001";
    const TL2: &str = "000000020000000000000002";
    [
        cluster(13, 0xD106, 7716403191092300333, TL1, TL2, "0/20000A0"),
        cluster(14, 0xD10D, 7716403224205675331, TL1, TL2, "0/20000A0"),
        cluster(
            15,
            0xD110,
            7711825108033086416,
            TL1,
            "000000020000000000000006",
            "0/6000D38",
        ),
        cluster(16, 0xD113, 7716403257864924132, TL1, TL2, "0/20000A0"),
        cluster(17, 0xD116, 7716403282879102077, TL1, TL2, "0/20000A0"),
        cluster(18, 0xD118, 7716403304892947808, TL1, TL2, "0/20000A0"),
    ]
};
