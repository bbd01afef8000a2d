//! The recoverable window of each timeline: from the oldest point a backup makes consistent to the end of the WAL it can replay without a gap. Pure.
//!
//! A backup B restores onto timeline T when T is B's own timeline, or when
//! T's history names B's timeline as an ancestor that ended at or after B
//! became consistent. Recovery then reads B's timeline from B's start
//! segment up to the switchpoint, each intermediate timeline between its
//! switchpoints, and T from where T began; PostgreSQL reads the segment
//! holding a switchpoint from the newer timeline, which holds a copy of the
//! older one's WAL up to it. The first missing segment on that path ends
//! what B can reach. T's window ends where the furthest-reaching backup
//! stops, and starts at the stop of the oldest backup (by when it finished,
//! `catalog::Finished`) that reaches just as far.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::pg::{HistoryEntry, Lsn, SegmentName, TimelineId, WalSegmentSize};
use crate::repo::catalog::Finished;
use crate::repo::continuity::{missing_runs, Gap, SegmentsByTimeline, Span};
use crate::repo::manifest::Manifest;

/// Where a window starts: the moment a backup becomes consistent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowStart {
    pub backup: String,
    pub lsn: String,
    pub time: DateTime<Utc>,
}

/// Where a window ends: the end of the last segment replayable without a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowEnd {
    pub segment: String,
    pub lsn: String,
}

/// One timeline's recoverable window. Field names are stable (`info --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineWindow {
    pub timeline: u32,
    /// `None` (with `end`): no backup can be restored onto this timeline.
    pub start: Option<WindowStart>,
    pub end: Option<WindowEnd>,
    /// The newest archived segment of the timeline, reachable or not.
    pub newest_segment: Option<String>,
    /// Missing segments on this timeline from where the oldest backup that
    /// reaches it enters it, to its newest segment: each one cuts off the
    /// backups before it, or the WAL after it.
    pub gaps: Vec<Gap>,
}

/// The window of every timeline that has archived segments or backups,
/// ascending. `backups` are the complete backups, in any order.
pub fn windows(
    backups: &[&Manifest],
    histories: &BTreeMap<TimelineId, Vec<HistoryEntry>>,
    archived: &SegmentsByTimeline,
    size: WalSegmentSize,
) -> Vec<TimelineWindow> {
    let spans: Vec<(&Manifest, Span)> = backups
        .iter()
        .filter_map(|m| Span::of(m).ok().map(|span| (*m, span)))
        .collect();
    let timelines: BTreeSet<TimelineId> = archived
        .keys()
        .copied()
        .chain(spans.iter().map(|(_, s)| s.timeline))
        .collect();
    let empty = BTreeSet::new();
    timelines
        .into_iter()
        .map(|timeline| {
            let present = archived.get(&timeline).unwrap_or(&empty);
            let newest = present.last().copied();
            let paths: Vec<(&Manifest, Vec<Leg>)> = spans
                .iter()
                .filter_map(|(m, span)| Some((*m, path(span, timeline, histories, newest, size)?)))
                .collect();
            let reached: Vec<(&Manifest, u64)> = paths
                .iter()
                .filter_map(|(m, legs)| Some((*m, reach(legs, archived)?)))
                .collect();
            let best = reached.iter().map(|(_, end)| *end).max();
            let from = best.and_then(|best| {
                reached
                    .iter()
                    .filter(|(_, end)| *end == best)
                    .map(|(m, _)| *m)
                    .min_by(|a, b| Finished::of(a).cmp(&Finished::of(b)))
            });
            let floor = paths
                .iter()
                .filter_map(|(_, legs)| legs.last().map(|leg| leg.from))
                .min();
            let gaps = match (floor, newest) {
                (Some(floor), Some(newest)) => missing_runs(present, floor, newest)
                    .into_iter()
                    .map(|(first, last)| Gap {
                        timeline: timeline.0,
                        first: SegmentName::from_segno(timeline, first, size).to_string(),
                        last: SegmentName::from_segno(timeline, last, size).to_string(),
                        segments: last - first + 1,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            TimelineWindow {
                timeline: timeline.0,
                start: from.map(|m| WindowStart {
                    backup: m.name.clone(),
                    lsn: m.stop_lsn.clone(),
                    time: m.stop_time,
                }),
                end: from.and(best).map(|end| WindowEnd {
                    segment: SegmentName::from_segno(timeline, end - 1, size).to_string(),
                    lsn: Lsn(end * u64::from(size.bytes())).to_string(),
                }),
                newest_segment: newest
                    .map(|segno| SegmentName::from_segno(timeline, segno, size).to_string()),
                gaps,
            }
        })
        .collect()
}

/// Segments a recovery reads on one timeline, `from..=until`; `at_least`
/// is the segment that must be replayed for the leg to count as reached
/// (the stop segment on the backup's timeline, the first segment on the
/// target timeline).
#[derive(Debug, Clone, Copy)]
struct Leg {
    timeline: TimelineId,
    from: u64,
    until: u64,
    at_least: u64,
}

/// The legs of a recovery from `span` onto `target`; `None` if `target`
/// cannot be reached from the backup.
fn path(
    span: &Span,
    target: TimelineId,
    histories: &BTreeMap<TimelineId, Vec<HistoryEntry>>,
    newest: Option<u64>,
    size: WalSegmentSize,
) -> Option<Vec<Leg>> {
    let start = span.start.segno(size);
    let stop = span.stop.segno(size);
    if span.timeline == target {
        return Some(vec![Leg {
            timeline: target,
            from: start,
            until: newest.unwrap_or(stop).max(stop),
            at_least: stop,
        }]);
    }
    let entries = histories.get(&target)?;
    // The backup must be consistent before its timeline ended.
    let first = entries
        .iter()
        .position(|e| e.parent == span.timeline && e.switchpoint >= span.stop)?;
    let mut legs = Vec::new();
    let mut from = start;
    for entry in &entries[first..] {
        let switch = entry.switchpoint.segno(size);
        // The segment holding the switchpoint is read from the next timeline.
        if switch > from {
            legs.push(Leg {
                timeline: entry.parent,
                from,
                until: switch - 1,
                at_least: if entry.parent == span.timeline {
                    stop.min(switch - 1)
                } else {
                    from
                },
            });
        }
        from = switch;
    }
    legs.push(Leg {
        timeline: target,
        from,
        until: newest.unwrap_or(from).max(from),
        at_least: from.max(stop),
    });
    Some(legs)
}

/// How far, as an exclusive segment number on the last leg's timeline, a
/// recovery along `legs` replays before the first missing segment; `None`
/// if it stops before a leg's `at_least` segment.
fn reach(legs: &[Leg], archived: &SegmentsByTimeline) -> Option<u64> {
    let empty = BTreeSet::new();
    let last = legs.len().checked_sub(1)?;
    for (i, leg) in legs.iter().enumerate() {
        let present = archived.get(&leg.timeline).unwrap_or(&empty);
        let first_missing = missing_runs(present, leg.from, leg.until)
            .first()
            .map(|(first, _)| *first);
        match first_missing {
            Some(missing) if missing <= leg.at_least => return None,
            // A break before the last leg never gets to the target.
            Some(missing) => return (i == last).then_some(missing),
            None if i == last => return Some(leg.until + 1),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size() -> WalSegmentSize {
        WalSegmentSize::default()
    }

    /// An LSN inside segment `segno`.
    fn lsn(segno: u64) -> Lsn {
        Lsn(segno * u64::from(size().bytes()) + 0x28)
    }

    fn manifest(name: &str, timeline: u32, start: u64, stop: u64, stop_time: &str) -> Manifest {
        let mut m = crate::repo::manifest::good_fixture();
        m.name = name.to_string();
        m.timeline = timeline;
        m.start_lsn = lsn(start).to_string();
        m.stop_lsn = lsn(stop).to_string();
        m.stop_time = stop_time.parse().unwrap();
        m
    }

    fn archived(list: &[(u32, &[u64])]) -> SegmentsByTimeline {
        list.iter()
            .map(|(t, s)| (TimelineId(*t), s.iter().copied().collect()))
            .collect()
    }

    fn seg(timeline: u32, segno: u64) -> String {
        SegmentName::from_segno(TimelineId(timeline), segno, size()).to_string()
    }

    #[test]
    fn the_window_runs_from_the_oldest_backup_to_the_newest_segment() {
        let a = manifest("a", 1, 2, 3, "2026-01-01T10:00:00Z");
        let b = manifest("b", 1, 5, 5, "2026-01-01T12:00:00Z");
        let found = windows(
            &[&b, &a],
            &BTreeMap::new(),
            &archived(&[(1, &[2, 3, 4, 5, 6, 7])]),
            size(),
        );
        assert_eq!(found.len(), 1);
        let w = &found[0];
        assert_eq!(w.start.as_ref().unwrap().backup, "a");
        assert_eq!(w.start.as_ref().unwrap().lsn, lsn(3).to_string());
        assert_eq!(w.end.as_ref().unwrap().segment, seg(1, 7));
        assert_eq!(w.end.as_ref().unwrap().lsn, "0/8000000");
        assert!(w.gaps.is_empty());
    }

    #[test]
    fn a_gap_cuts_off_the_older_backups() {
        let a = manifest("a", 1, 2, 3, "2026-01-01T10:00:00Z");
        let b = manifest("b", 1, 6, 6, "2026-01-01T12:00:00Z");
        let found = windows(
            &[&a, &b],
            &BTreeMap::new(),
            &archived(&[(1, &[2, 3, 6, 7])]),
            size(),
        );
        let w = &found[0];
        assert_eq!(w.start.as_ref().unwrap().backup, "b");
        assert_eq!(w.end.as_ref().unwrap().segment, seg(1, 7));
        assert_eq!(w.gaps.len(), 1);
        assert_eq!(
            (w.gaps[0].first.as_str(), w.gaps[0].segments),
            (seg(1, 4).as_str(), 2)
        );
    }

    #[test]
    fn a_gap_after_the_newest_backup_ends_the_window_before_it() {
        let a = manifest("a", 1, 2, 2, "2026-01-01T10:00:00Z");
        let found = windows(
            &[&a],
            &BTreeMap::new(),
            &archived(&[(1, &[2, 3, 5, 6])]),
            size(),
        );
        let w = &found[0];
        assert_eq!(w.end.as_ref().unwrap().segment, seg(1, 3));
        assert_eq!(w.newest_segment.as_deref(), Some(seg(1, 6).as_str()));
        assert_eq!(w.gaps[0].first, seg(1, 4));
    }

    #[test]
    fn a_backup_whose_stop_segment_is_missing_opens_no_window() {
        let a = manifest("a", 1, 2, 3, "2026-01-01T10:00:00Z");
        let found = windows(&[&a], &BTreeMap::new(), &archived(&[(1, &[2])]), size());
        assert_eq!(found[0].start, None);
        assert_eq!(found[0].end, None);
        let none = windows(&[], &BTreeMap::new(), &archived(&[(1, &[2, 3])]), size());
        assert_eq!(none[0].start, None);
        assert!(none[0].gaps.is_empty());
    }

    #[test]
    fn a_backup_before_the_branch_reaches_the_child_timeline() {
        let histories = BTreeMap::from([(
            TimelineId(2),
            vec![HistoryEntry {
                parent: TimelineId(1),
                switchpoint: lsn(5),
                reason: String::new(),
            }],
        )]);
        let a = manifest("a", 1, 2, 3, "2026-01-01T10:00:00Z");
        // Started after the branch: it reaches timeline 1 only.
        let late = manifest("late", 1, 6, 6, "2026-01-01T11:00:00Z");
        let found = windows(
            &[&a, &late],
            &histories,
            &archived(&[(1, &[2, 3, 4, 5, 6]), (2, &[5, 6, 7])]),
            size(),
        );
        assert_eq!(found.len(), 2);
        let t1 = &found[0];
        assert_eq!(t1.start.as_ref().unwrap().backup, "a");
        assert_eq!(t1.end.as_ref().unwrap().segment, seg(1, 6));
        let t2 = &found[1];
        assert_eq!(t2.start.as_ref().unwrap().backup, "a");
        assert_eq!(t2.end.as_ref().unwrap().segment, seg(2, 7));
        assert!(t2.gaps.is_empty(), "{:?}", t2.gaps);

        // The parent's segment before the switch missing: timeline 2 is cut off from a.
        let broken = windows(
            &[&a],
            &histories,
            &archived(&[(1, &[2, 3]), (2, &[5, 6, 7])]),
            size(),
        );
        assert_eq!(broken[1].start, None);
        // ...but timeline 1 is fine up to segment 3.
        assert_eq!(broken[0].end.as_ref().unwrap().segment, seg(1, 3));
    }
}
