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
    use crate::pg::fixture;

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
