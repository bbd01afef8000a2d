//! Timeline history files (`00000002.history`): where each ancestor timeline ended and why.

use super::lsn::Lsn;
use super::wal_name::TimelineId;

/// One line of a history file: WAL on `parent` is valid up to, not
/// including, `switchpoint`; after it the next timeline in the file (or the
/// file's own timeline, for the last line) takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub parent: TimelineId,
    pub switchpoint: Lsn,
    /// Free text PostgreSQL writes after the switchpoint, such as `no
    /// recovery target specified` or `at restore point "before-upgrade"`.
    pub reason: String,
}

/// A line PostgreSQL itself would refuse, or a file that cannot belong to
/// the timeline it is named for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timeline history line {line} ({text:?}): {problem}")]
pub struct HistoryError {
    /// 1-based.
    pub line: usize,
    pub text: String,
    pub problem: &'static str,
}

/// Parses a history file the way PostgreSQL's `readTimeLineHistory` does:
/// each line is a decimal parent timeline, whitespace (PostgreSQL writes a
/// tab), a switchpoint LSN, whitespace and a reason; blank lines and lines
/// starting with `#` are skipped; parent timelines must increase.
pub fn parse_history(contents: &str) -> Result<Vec<HistoryEntry>, HistoryError> {
    let mut entries: Vec<HistoryEntry> = Vec::new();
    for (index, raw) in contents.lines().enumerate() {
        let error = |problem| HistoryError {
            line: index + 1,
            text: raw.to_owned(),
            problem,
        };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (tli, rest) = line.split_at(digits);
        let parent = match tli.parse::<u32>() {
            Ok(0) => return Err(error("timeline 0 does not exist; timelines start at 1")),
            Ok(tli) => TimelineId(tli),
            Err(_) => {
                return Err(error(
                    "expected a decimal timeline ID at the start of the line",
                ))
            }
        };
        if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            return Err(error("expected a tab after the timeline ID"));
        }
        let rest = rest.trim_start();
        let (switchpoint, reason) = rest
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((rest, ""));
        let switchpoint = switchpoint.parse::<Lsn>().map_err(|_| {
            error("expected a switchpoint WAL location like 0/3000000 after the timeline ID")
        })?;
        if entries.last().is_some_and(|last| parent <= last.parent) {
            return Err(error("timeline IDs must increase from line to line"));
        }
        entries.push(HistoryEntry {
            parent,
            switchpoint,
            reason: reason.trim().to_owned(),
        });
    }
    Ok(entries)
}

/// `parse_history` for the file of `timeline`, which may only list ancestors
/// (lower timeline IDs), as PostgreSQL also insists.
pub fn parse_history_for(
    timeline: TimelineId,
    contents: &str,
) -> Result<Vec<HistoryEntry>, HistoryError> {
    let entries = parse_history(contents)?;
    // Parents increase line by line, so only the last one can be too high.
    if entries.last().is_some_and(|last| last.parent >= timeline) {
        let (line, text) = contents
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .last()
            .map(|(i, l)| (i + 1, l.to_owned()))
            .unwrap_or_default();
        return Err(HistoryError {
            line,
            text,
            problem: "lists a timeline that is not an ancestor: history files name only lower timelines than their own",
        });
    }
    Ok(entries)
}

/// The most a timeline history or backup history file may hold. PostgreSQL's
/// are a few hundred bytes (a history file grows by one line per timeline):
/// anything bigger is not one, and is refused before it is read into memory.
pub const MAX_HISTORY_FILE_BYTES: u64 = 1 << 20;

/// Checks that `contents` can be the history file of `timeline` before it
/// is archived, where `recovery_target_timeline = latest`, restore and prune
/// would all believe it: what `parse_history_for` insists on, plus at least
/// one ancestor (every timeline after the first has a parent) and
/// switchpoints that never go backwards (each timeline ends at or after the
/// point where its parent ended). Restore point names in the reasons may be
/// in any server encoding, so the bytes are read leniently.
pub fn check_history_file(
    timeline: TimelineId,
    contents: &[u8],
) -> Result<Vec<HistoryEntry>, String> {
    let text = String::from_utf8_lossy(contents);
    let entries = parse_history_for(timeline, &text).map_err(|e| e.to_string())?;
    if entries.is_empty() {
        return Err(format!(
            "it names no parent timeline, but every timeline history file lists at least the timeline {} branched from",
            timeline.0
        ));
    }
    let backwards = entries
        .windows(2)
        .position(|pair| pair[1].switchpoint < pair[0].switchpoint);
    if let Some(index) = backwards {
        let (earlier, later) = (&entries[index], &entries[index + 1]);
        let line = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .nth(index + 1)
            .map_or(0, |(i, _)| i + 1);
        return Err(format!(
            "timeline history line {line}: timeline {} ends at {}, before its parent timeline {} ended at {}: switchpoints must not go backwards",
            later.parent.0, later.switchpoint, earlier.parent.0, earlier.switchpoint
        ));
    }
    Ok(entries)
}

/// The timeline whose WAL holds `lsn`, seen from `current` with its history
/// (PostgreSQL's `tliOfPointInHistory`): the first ancestor whose switchpoint
/// lies after `lsn`, else `current` itself.
pub fn timeline_of_lsn(history: &[HistoryEntry], current: TimelineId, lsn: Lsn) -> TimelineId {
    history
        .iter()
        .find(|entry| lsn < entry.switchpoint)
        .map_or(current, |entry| entry.parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::{fixture, SegmentName, WalSegmentSize, MAJOR_FIXTURES};

    fn entry(parent: u32, switchpoint: &str, reason: &str) -> HistoryEntry {
        HistoryEntry {
            parent: TimelineId(parent),
            switchpoint: switchpoint.parse().unwrap(),
            reason: reason.to_owned(),
        }
    }

    fn fixture_text(name: &str) -> String {
        String::from_utf8(fixture(name)).unwrap()
    }

    #[test]
    fn real_history_of_timeline_2() {
        let text = fixture_text("pg15-16MiB-00000002.history");
        let expected = vec![entry(
            1,
            "0/6000D38",
            "at restore point \"walden-fixture-rp\"",
        )];
        assert_eq!(parse_history(&text), Ok(expected.clone()));
        assert_eq!(parse_history_for(TimelineId(2), &text), Ok(expected));
    }

    #[test]
    fn real_history_of_every_major() {
        for cluster in &MAJOR_FIXTURES {
            let file = cluster.history();
            let contents = fixture(&file);
            let entries = check_history_file(TimelineId(2), &contents)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let switchpoint: Lsn = cluster.switchpoint.parse().unwrap();
            assert_eq!(entries.len(), 1, "{file}");
            assert_eq!(entries[0].parent, TimelineId(1), "{file}");
            assert_eq!(entries[0].switchpoint, switchpoint, "{file}");
            assert!(!entries[0].reason.is_empty(), "{file}");
            let text = String::from_utf8(contents.clone()).unwrap();
            assert_eq!(parse_history_for(TimelineId(2), &text), Ok(entries.clone()));
            // Timeline 1 has no parent to name.
            assert!(
                check_history_file(TimelineId(1), &contents).is_err(),
                "{file}"
            );
            // Timeline 2 starts in the segment whose head is beside it.
            assert_eq!(
                SegmentName::from_lsn(TimelineId(2), switchpoint, WalSegmentSize::DEFAULT)
                    .to_string(),
                cluster.timeline_2_segment,
                "{file}"
            );
            let before = Lsn(switchpoint.0 - 1);
            assert_eq!(
                timeline_of_lsn(&entries, TimelineId(2), before),
                TimelineId(1)
            );
            assert_eq!(
                timeline_of_lsn(&entries, TimelineId(2), switchpoint),
                TimelineId(2)
            );
        }
    }

    #[test]
    fn real_history_of_timeline_3() {
        // PostgreSQL copies the parent's file and appends after a blank line.
        let text = fixture_text("pg15-16MiB-00000003.history");
        assert!(text.contains("\n\n"), "{text:?}");
        let expected = vec![
            entry(1, "0/6000D38", "at restore point \"walden-fixture-rp\""),
            entry(2, "0/9000000", "no recovery target specified"),
        ];
        assert_eq!(parse_history(&text), Ok(expected.clone()));
        assert_eq!(parse_history_for(TimelineId(3), &text), Ok(expected));
        let err = parse_history_for(TimelineId(2), &text).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().contains("not an ancestor"), "{err}");
    }

    #[test]
    fn comments_blank_lines_and_spacing() {
        let text = "# made by hand\n\n  \t\n1\t0/3000000\tno recovery target specified\r\n  # indented comment\n2 1/A0000000  before 2000-01-01 00:00:00+00 \n3\t2/0\n";
        assert_eq!(
            parse_history(text),
            Ok(vec![
                entry(1, "0/3000000", "no recovery target specified"),
                entry(2, "1/A0000000", "before 2000-01-01 00:00:00+00"),
                entry(3, "2/0", ""),
            ])
        );
        assert_eq!(parse_history(""), Ok(vec![]));
        assert_eq!(parse_history("# nothing\n\n"), Ok(vec![]));
        assert_eq!(
            parse_history("1\t0/3000000\tno newline"),
            Ok(vec![entry(1, "0/3000000", "no newline")])
        );
    }

    #[test]
    fn malformed_lines() {
        for (text, line, problem) in [
            ("x\t0/3000000\treason\n", 1, "decimal timeline ID"),
            ("/3000000\treason\n", 1, "decimal timeline ID"),
            ("-1\t0/3000000\treason\n", 1, "decimal timeline ID"),
            ("99999999999\t0/3000000\treason\n", 1, "decimal timeline ID"),
            ("0\t0/3000000\treason\n", 1, "timelines start at 1"),
            ("1\n", 1, "tab after the timeline ID"),
            ("1/0/3000000\n", 1, "tab after the timeline ID"),
            ("1\t\n", 1, "switchpoint"),
            ("1\t3000000\treason\n", 1, "switchpoint"),
            ("1\t0/3000000/1\treason\n", 1, "switchpoint"),
            ("1\t0/3000000\tr\n\n1\t0/4000000\tr\n", 3, "increase"),
            ("2\t0/3000000\tr\n1\t0/4000000\tr\n", 2, "increase"),
        ] {
            let err = parse_history(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            let message = err.to_string();
            assert!(message.contains(problem), "{text:?}: {message}");
            assert!(message.contains(&format!("line {line}")), "{message}");
        }
    }

    #[test]
    fn archivable_history_files() {
        let two = fixture("pg15-16MiB-00000002.history");
        let three = fixture("pg15-16MiB-00000003.history");
        assert_eq!(check_history_file(TimelineId(2), &two).unwrap().len(), 1);
        assert_eq!(check_history_file(TimelineId(3), &three).unwrap().len(), 2);
        // A later timeline may carry an earlier one's file (3 branched off 2,
        // then 5 off 3 with 4 abandoned): only its ancestors matter.
        assert!(check_history_file(TimelineId(5), &three).is_ok());
        // A restore point named in LATIN1.
        let mut latin1 = two.clone();
        latin1.splice(20..20, [0xE9]);
        assert!(check_history_file(TimelineId(2), &latin1).is_ok());
        // Equal switchpoints: a timeline promoted before writing anything.
        let same = b"1\t0/6000D38\tr\n2\t0/6000D38\tr\n";
        assert!(check_history_file(TimelineId(3), same).is_ok());
    }

    #[test]
    fn history_files_that_must_not_be_archived() {
        let three = fixture("pg15-16MiB-00000003.history");
        for (timeline, contents, expected) in [
            (2, &b"garbage\n"[..], "decimal timeline ID"),
            (2, b"\x00\x01\x02 binary", "decimal timeline ID"),
            (2, b"", "names no parent timeline"),
            (2, b"# only a comment\n\n", "names no parent timeline"),
            (1, b"", "names no parent timeline"),
            // Timeline 3's file pushed as timeline 2's.
            (2, &three[..], "not an ancestor"),
            (2, b"2\t0/3000000\tr\n", "not an ancestor"),
            (2, b"5\t0/3000000\tr\n", "not an ancestor"),
            (4, b"2\t0/3000000\tr\n1\t0/4000000\tr\n", "increase"),
            (
                4,
                b"1\t0/6000000\tr\n\n2\t0/5000000\tr\n",
                "timeline history line 3: timeline 2 ends at 0/5000000, before its parent timeline 1 ended at 0/6000000",
            ),
        ] {
            let err = check_history_file(TimelineId(timeline), contents).unwrap_err();
            assert!(err.contains(expected), "{timeline} {contents:?}: {err}");
        }
    }

    #[test]
    fn timeline_of_lsn_follows_the_switchpoints() {
        let history = parse_history(&fixture_text("pg15-16MiB-00000003.history")).unwrap();
        let current = TimelineId(3);
        let at = |lsn: &str| timeline_of_lsn(&history, current, lsn.parse().unwrap());
        assert_eq!(at("0/1000000"), TimelineId(1));
        assert_eq!(at("0/6000D37"), TimelineId(1));
        assert_eq!(at("0/6000D38"), TimelineId(2));
        assert_eq!(at("0/8FFFFFF"), TimelineId(2));
        assert_eq!(at("0/9000000"), TimelineId(3));
        assert_eq!(at("FFFFFFFF/FFFFFFFF"), TimelineId(3));
        assert_eq!(
            timeline_of_lsn(&[], TimelineId(1), Lsn(0x300_0000)),
            TimelineId(1)
        );
    }
}
