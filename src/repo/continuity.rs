//! WAL continuity: which segments a backup's recovery reads, and which of them are missing from the archive. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::pg::{HistoryEntry, Lsn, SegmentName, TimelineId, WalSegmentSize};
use crate::repo::manifest::{Manifest, ManifestError};
use crate::repo::retention;

/// The archived segments of each timeline, as segment numbers.
pub type SegmentsByTimeline = BTreeMap<TimelineId, BTreeSet<u64>>;

/// A run of missing segments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub timeline: u32,
    /// The first and last missing segment names.
    pub first: String,
    pub last: String,
    pub segments: u64,
}

/// Where a backup's recovery starts and must at least get to.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub timeline: TimelineId,
    pub start: Lsn,
    /// The backup is consistent only once this position is replayed.
    pub stop: Lsn,
}

impl Span {
    /// A backup's span, from its manifest.
    pub fn of(manifest: &Manifest) -> Result<Span, ManifestError> {
        let (start, stop) = manifest.lsn_range()?;
        Ok(Span {
            timeline: TimelineId(manifest.timeline),
            start,
            stop,
        })
    }
}

/// Missing segments a recovery from `span` would need: from the start
/// segment to at least the stop segment and on to the newest archived
/// segment of the backup's timeline, and from its branch point to the newest
/// segment of every later timeline that recovery can follow (per
/// `histories`). A timeline with nothing archived yet has no gap of its own.
pub fn gaps(
    span: Span,
    histories: &BTreeMap<TimelineId, Vec<HistoryEntry>>,
    archived: &SegmentsByTimeline,
    size: WalSegmentSize,
) -> Vec<Gap> {
    let mut found = Vec::new();
    for (timeline, from) in retention::reach(histories, span.timeline, span.start) {
        let present = archived.get(&timeline);
        let newest = present.and_then(|p| p.last().copied());
        let must_reach = (timeline == span.timeline).then(|| span.stop.segno(size));
        let Some(until) = newest.max(must_reach) else {
            continue;
        };
        let empty = BTreeSet::new();
        let present = present.unwrap_or(&empty);
        for (first, last) in missing_runs(present, from.segno(size), until) {
            found.push(Gap {
                timeline: timeline.0,
                first: SegmentName::from_segno(timeline, first, size).to_string(),
                last: SegmentName::from_segno(timeline, last, size).to_string(),
                segments: last - first + 1,
            });
        }
    }
    found
}

/// Runs of numbers in `from..=until` that are not in `present`.
pub fn missing_runs(present: &BTreeSet<u64>, from: u64, until: u64) -> Vec<(u64, u64)> {
    let mut runs = Vec::new();
    if from > until {
        return runs;
    }
    let mut next = from;
    for &segno in present.range(from..=until) {
        if segno > next {
            runs.push((next, segno - 1));
        }
        next = segno + 1;
    }
    if next <= until {
        runs.push((next, until));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[u64]) -> BTreeSet<u64> {
        items.iter().copied().collect()
    }

    #[test]
    fn missing_runs_finds_holes_and_a_missing_tail() {
        assert_eq!(missing_runs(&set(&[1, 2, 3]), 1, 3), vec![]);
        assert_eq!(
            missing_runs(&set(&[1, 3, 4, 7]), 1, 7),
            vec![(2, 2), (5, 6)]
        );
        assert_eq!(missing_runs(&set(&[2]), 1, 4), vec![(1, 1), (3, 4)]);
        assert_eq!(missing_runs(&set(&[]), 5, 5), vec![(5, 5)]);
        assert_eq!(missing_runs(&set(&[9]), 1, 0), vec![]);
    }

    fn size() -> WalSegmentSize {
        WalSegmentSize::default()
    }

    fn lsn(segno: u64) -> Lsn {
        Lsn(segno * u64::from(size().bytes()) + 0x28)
    }

    #[test]
    fn a_backup_needs_its_own_range_and_its_descendants() {
        let mut archived = SegmentsByTimeline::new();
        archived.insert(TimelineId(1), set(&[2, 3, 4, 6]));
        archived.insert(TimelineId(2), set(&[5, 7]));
        let mut histories = BTreeMap::new();
        histories.insert(
            TimelineId(2),
            vec![HistoryEntry {
                parent: TimelineId(1),
                switchpoint: lsn(5),
                reason: String::new(),
            }],
        );
        let span = Span {
            timeline: TimelineId(1),
            start: lsn(2),
            stop: lsn(3),
        };
        let found = gaps(span, &histories, &archived, size());
        let names: Vec<(u32, &str, u64)> = found
            .iter()
            .map(|g| (g.timeline, g.first.as_str(), g.segments))
            .collect();
        assert_eq!(
            names,
            vec![
                (1, "000000010000000000000005", 1),
                (2, "000000020000000000000006", 1)
            ]
        );
        // Started after the branch point: timeline 2 is out of reach.
        let late = Span {
            timeline: TimelineId(1),
            start: lsn(6),
            stop: lsn(6),
        };
        assert!(gaps(late, &histories, &archived, size()).is_empty());
        // The stop segment must be there even if nothing later is.
        let unfinished = Span {
            timeline: TimelineId(1),
            start: lsn(6),
            stop: lsn(8),
        };
        let found = gaps(unfinished, &histories, &archived, size());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].first, "000000010000000000000007");
        assert_eq!(found[0].segments, 2);
    }
}
