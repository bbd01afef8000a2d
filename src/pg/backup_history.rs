//! Backup history files (`000000010000000000000002.00000028.backup`): checks that one is what its name says before it is archived.

use super::control::{parse_backup_label, BackupLabel};
use super::lsn::WalSegmentSize;
use super::wal_name::SegmentName;

/// Why a file named like a backup history file is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a PostgreSQL backup history file: {problem}")]
pub struct BackupHistoryError {
    pub problem: String,
}

/// Parses the backup history file named for `segment` and `offset` (the
/// segment and in-segment offset of the backup's start, as
/// `pg_backup_stop` names it) and checks it agrees with its name: the
/// `START WAL LOCATION` must be that segment at that offset, and the `STOP`
/// lines PostgreSQL always writes into this file must be there and not lie
/// before the start. Labels may be in any server encoding, so the bytes are
/// read leniently; the lines that matter are ASCII.
pub fn check_backup_history(
    segment: SegmentName,
    offset: u32,
    contents: &[u8],
) -> Result<BackupLabel, BackupHistoryError> {
    let problem = |problem: String| BackupHistoryError { problem };
    let text = String::from_utf8_lossy(contents);
    let label = parse_backup_label(&text).map_err(|e| problem(e.to_string()))?;
    let Some(stop) = &label.stop else {
        return Err(problem(
            "no STOP WAL LOCATION line (pg_backup_stop always writes one into the .backup file)"
                .to_string(),
        ));
    };
    let start = label.start_lsn;
    // The name carries no segment size; some valid size must put the start
    // position at exactly this segment and offset.
    let mut sizes = (0..=10).filter_map(|shift| WalSegmentSize::new(1 << (20 + shift)).ok());
    let matches = sizes.any(|size| {
        SegmentName::from_lsn(segment.timeline, start, size) == segment
            && start.segment_offset(size) == offset
    });
    if label.start_segment != segment || !matches {
        return Err(problem(format!(
            "its START WAL LOCATION {start} (file {}) is not the segment {segment} at offset {offset:08X} its name says",
            label.start_segment
        )));
    }
    if stop.lsn < start || stop.timeline < label.start_timeline {
        return Err(problem(format!(
            "it stops at {} on timeline {}, before it starts ({start} on timeline {})",
            stop.lsn, stop.timeline.0, label.start_timeline.0
        )));
    }
    Ok(label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::fixture;
    use crate::pg::wal_name::{TimelineId, WalFileName};

    /// Checks a fixture against the name it was archived under.
    fn check_fixture(name: &str) -> Result<BackupLabel, BackupHistoryError> {
        let file_name = name.split_once('-').unwrap().1.split_once('-').unwrap().1;
        check_named(file_name, &fixture(name))
    }

    fn check_named(file_name: &str, contents: &[u8]) -> Result<BackupLabel, BackupHistoryError> {
        let WalFileName::Backup { segment, offset } = file_name.parse().unwrap() else {
            panic!("{file_name} is not a backup history file name");
        };
        check_backup_history(segment, offset, contents)
    }

    #[test]
    fn real_backup_history_files_pass() {
        for (name, start, timeline) in [
            (
                "pg15-16MiB-000000010000000000000003.00000028.backup",
                "0/3000028",
                1,
            ),
            (
                "pg15-16MiB-000000020000000000000007.00000028.backup",
                "0/7000028",
                2,
            ),
            (
                "pg15-1MiB-000000010000000000000008.00000028.backup",
                "0/800028",
                1,
            ),
        ] {
            let label = check_fixture(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(label.start_lsn, start.parse().unwrap(), "{name}");
            assert_eq!(label.start_timeline, TimelineId(timeline), "{name}");
        }
    }

    #[test]
    fn a_label_in_another_encoding_is_fine() {
        // LATIN1 "é" in the label: not UTF-8, still PostgreSQL's file.
        let mut text = fixture("pg15-16MiB-000000010000000000000003.00000028.backup");
        let at = text.windows(6).position(|w| w == b"LABEL:").unwrap() + 7;
        text.insert(at, 0xE9);
        check_named("000000010000000000000003.00000028.backup", &text).unwrap();
    }

    #[test]
    fn garbage_and_files_that_disagree_with_their_name_are_refused() {
        let real = String::from_utf8(fixture(
            "pg15-16MiB-000000010000000000000003.00000028.backup",
        ))
        .unwrap();
        let name = "000000010000000000000003.00000028.backup";
        let without_stop: String = real
            .lines()
            .filter(|l| !l.starts_with("STOP"))
            .map(|l| format!("{l}\n"))
            .collect();
        for (file_name, contents, expected) in [
            (name, "hello world\n".to_string(), "no START WAL LOCATION"),
            (name, String::new(), "no START WAL LOCATION"),
            (name, without_stop, "no STOP WAL LOCATION"),
            // Another segment's file under this name.
            (
                "000000010000000000000004.00000028.backup",
                real.clone(),
                "not the segment 000000010000000000000004",
            ),
            // The right segment, the wrong offset.
            (
                "000000010000000000000003.00000060.backup",
                real.clone(),
                "at offset 00000060",
            ),
            // Timeline 2's name on timeline 1's file.
            (
                "000000020000000000000003.00000028.backup",
                real.clone(),
                "not the segment",
            ),
            (
                name,
                real.replace(
                    "STOP WAL LOCATION: 0/3000D30 (file 000000010000000000000003)",
                    "STOP WAL LOCATION: 0/3000000 (file 000000010000000000000003)",
                ),
                "before it starts",
            ),
            (
                name,
                real.replace("START TIMELINE: 1", "START TIMELINE: 2"),
                "cannot be in segment",
            ),
            (name, format!("{real}LABEL: smuggled\n"), "appears twice"),
        ] {
            let err = check_named(file_name, contents.as_bytes()).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(expected),
                "{file_name}: {contents:?}: {message}"
            );
            assert!(message.starts_with("not a PostgreSQL backup history file"));
        }
    }
}
