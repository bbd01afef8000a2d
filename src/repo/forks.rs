//! Two clusters writing into one repository: a parent timeline that keeps receiving WAL after a child timeline branched off it. Pure: the listing in, the forks out.
//!
//! One repository follows one line of history. When a standby is promoted
//! (or a restore promotes), PostgreSQL archives the new timeline's history
//! file and the old timeline stops growing: its old primary is gone. If
//! the old timeline keeps receiving segments past its switchpoint *after*
//! that history file arrived, two live clusters share the repository (a
//! restored clone that kept production's `archive_command`, or a split
//! brain). Neither timeline can then be called "the latest": restoring
//! either one silently drops the other's writes, so walden refuses to guess.
//!
//! Segments of the parent archived *before* the history file are normal:
//! a point-in-time restore that promoted in the past branches off WAL that
//! had already been archived.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::pg::{HistoryEntry, Lsn, SegmentName, TimelineId, WalFileName, WalSegmentSize};

/// One archived WAL file as this check needs it.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub file: &'a WalFileName,
    pub last_modified: Option<DateTime<Utc>>,
}

/// A parent timeline still written after a child branched off it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fork {
    #[serde(serialize_with = "decimal")]
    pub parent: TimelineId,
    #[serde(serialize_with = "decimal")]
    pub child: TimelineId,
    /// Where the child left the parent.
    #[serde(serialize_with = "lsn_text")]
    pub switchpoint: Lsn,
    /// When the child's history file was archived.
    pub branched_at: DateTime<Utc>,
    /// The newest segment of each timeline.
    pub parent_newest: String,
    pub child_newest: Option<String>,
    /// Parent segments past the switchpoint archived after the history file.
    pub parent_segments_after: usize,
    /// When each side last received WAL (`None`: unknown, taken as now).
    pub parent_last_arrival: Option<DateTime<Utc>>,
    pub child_last_arrival: Option<DateTime<Utc>>,
}

/// How long both sides of a fork must have been silent on one side for the
/// fork to count as settled: a day, as backups and prune's grace reckon.
pub const STILL_WRITTEN: chrono::Duration = chrono::Duration::hours(24);

impl Fork {
    /// Both timelines received WAL within [`STILL_WRITTEN`] of `now`: two
    /// clusters are archiving here right now.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        let recent = |t: Option<DateTime<Utc>>| t.is_none_or(|t| now - t <= STILL_WRITTEN);
        recent(self.parent_last_arrival) && recent(self.child_last_arrival)
    }

    /// For a settled fork, the side still written (the one that received
    /// WAL last); `None` while the fork is active.
    pub fn live_side(&self, now: DateTime<Utc>) -> Option<TimelineId> {
        if self.is_active(now) {
            return None;
        }
        Some(if self.child_last_arrival >= self.parent_last_arrival {
            self.child
        } else {
            self.parent
        })
    }

    /// One line for a settled fork: which side lives on, and how to end
    /// the warning.
    pub fn describe_settled(&self, now: DateTime<Utc>) -> String {
        let live = self.live_side(now).unwrap_or(self.child);
        let dead = if live == self.parent {
            self.child
        } else {
            self.parent
        };
        format!(
            "timeline {} kept receiving WAL after timeline {} branched off it at {} ({} segment(s)),              but timeline {} has received none for over {} h: timeline {} is taken as the live one              (restore latest follows it); if timeline {} is gone for good, remove its WAL (wal/{:08X}/)              and its backups to end this warning",
            self.parent.0,
            self.child.0,
            self.switchpoint,
            self.parent_segments_after,
            dead.0,
            STILL_WRITTEN.num_hours(),
            live.0,
            dead.0,
            dead.0,
        )
    }
}

impl Fork {
    /// One line for an operator: both timelines and what to do.
    pub fn describe(&self) -> String {
        format!(
            "two clusters are writing into this repository: timeline {} (newest segment {}) kept receiving WAL after timeline {} (newest segment {}) branched off it at {} ({} segment(s) since {}); \
             a restored copy or a split brain is archiving here: stop the one that is not production (set archive_mode = off on it), then restore with --target-timeline {} or --target-timeline {}",
            self.parent.0,
            self.parent_newest,
            self.child.0,
            self.child_newest.as_deref().unwrap_or("none yet"),
            self.switchpoint,
            self.parent_segments_after,
            self.branched_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.parent.0,
            self.child.0,
        )
    }
}

fn decimal<S: serde::Serializer>(timeline: &TimelineId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(timeline.0)
}

fn lsn_text<S: serde::Serializer>(lsn: &Lsn, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&lsn.to_string())
}

/// Every fork in a listing. `histories` are the parsed history files;
/// `wal` the archived files in any order (history files among them, which
/// give the time each timeline was born). A history file of unknown time
/// (a store without modification times) is treated as old, so every
/// parent segment past its switchpoint counts: better a false alarm than a
/// silent merge.
pub fn find(
    histories: &BTreeMap<TimelineId, Vec<HistoryEntry>>,
    wal: &[Arrival],
    size: WalSegmentSize,
) -> Vec<Fork> {
    let mut newest: BTreeMap<TimelineId, SegmentName> = BTreeMap::new();
    let mut born: BTreeMap<TimelineId, Option<DateTime<Utc>>> = BTreeMap::new();
    // Per timeline, its newest arrival; `None` inside once any is undated.
    let mut last: BTreeMap<TimelineId, Option<DateTime<Utc>>> = BTreeMap::new();
    for arrival in wal {
        let slot = last
            .entry(arrival.file.timeline())
            .or_insert(arrival.last_modified);
        *slot = match (*slot, arrival.last_modified) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        match arrival.file {
            WalFileName::Segment(s) => {
                let slot = newest.entry(s.timeline).or_insert(*s);
                if s.segno(size) > slot.segno(size) {
                    *slot = *s;
                }
            }
            WalFileName::History(t) => {
                born.insert(*t, arrival.last_modified);
            }
            _ => {}
        }
    }
    let mut forks = Vec::new();
    for (&child, entries) in histories {
        // The last line names the direct parent and where the child left it.
        let Some(entry) = entries.last() else {
            continue;
        };
        let branched_at = born.get(&child).copied().flatten();
        // The segment holding the switchpoint is legitimately finished and
        // archived by the old primary: only later segments are new writes.
        let switch_segno = entry.switchpoint.segno(size);
        let after: Vec<&Arrival> = wal
            .iter()
            .filter(|a| match a.file {
                WalFileName::Segment(s) => {
                    s.timeline == entry.parent
                        && s.segno(size) > switch_segno
                        && arrived_after(a.last_modified, branched_at)
                }
                _ => false,
            })
            .collect();
        let parent_last_arrival = after
            .iter()
            .map(|a| a.last_modified)
            .try_fold(None::<DateTime<Utc>>, |acc, t| t.map(|t| acc.max(Some(t))))
            .flatten();
        if after.is_empty() {
            continue;
        }
        let Some(parent_newest) = newest.get(&entry.parent) else {
            continue;
        };
        forks.push(Fork {
            parent: entry.parent,
            child,
            switchpoint: entry.switchpoint,
            parent_last_arrival,
            child_last_arrival: last.get(&child).copied().flatten(),
            branched_at: branched_at.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            parent_newest: parent_newest.to_string(),
            child_newest: newest.get(&child).map(|s| s.to_string()),
            parent_segments_after: after.len(),
        });
    }
    forks
}

fn arrived_after(segment: Option<DateTime<Utc>>, history: Option<DateTime<Utc>>) -> bool {
    match (segment, history) {
        (Some(segment), Some(history)) => segment > history,
        // Unknown times: assume the worst.
        _ => true,
    }
}

/// The timelines still being written in a forked repository: both sides
/// of every fork, ascending.
pub fn live_timelines(forks: &[Fork]) -> Vec<TimelineId> {
    let mut live: Vec<TimelineId> = forks.iter().flat_map(|f| [f.parent, f.child]).collect();
    live.sort();
    live.dedup();
    live
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0).unwrap())
    }

    fn seg(name: &str) -> WalFileName {
        name.parse().unwrap()
    }

    fn history_2_from_1_at(lsn: &str) -> BTreeMap<TimelineId, Vec<HistoryEntry>> {
        BTreeMap::from([(
            TimelineId(2),
            vec![HistoryEntry {
                parent: TimelineId(1),
                switchpoint: lsn.parse().unwrap(),
                reason: "no recovery target specified".into(),
            }],
        )])
    }

    fn check(files: &[(&str, Option<DateTime<Utc>>)]) -> Vec<Fork> {
        let names: Vec<WalFileName> = files.iter().map(|(n, _)| seg(n)).collect();
        let wal: Vec<Arrival> = names
            .iter()
            .zip(files)
            .map(|(file, (_, t))| Arrival {
                file,
                last_modified: *t,
            })
            .collect();
        find(
            &history_2_from_1_at("0/5000060"),
            &wal,
            WalSegmentSize::default(),
        )
    }

    #[test]
    fn a_clean_promotion_is_no_fork() {
        // The old primary finished the switch segment after the history file:
        // still one line of history.
        let forks = check(&[
            ("000000010000000000000004", at(1)),
            ("000000010000000000000005", at(3)),
            ("00000002.history", at(2)),
            ("000000020000000000000005", at(2)),
            ("000000020000000000000006", at(4)),
        ]);
        assert_eq!(forks, vec![]);
    }

    #[test]
    fn a_restore_that_promoted_in_the_past_is_no_fork() {
        // Point-in-time recovery branched off WAL archived long before.
        let forks = check(&[
            ("000000010000000000000005", at(1)),
            ("000000010000000000000006", at(1)),
            ("000000010000000000000007", at(1)),
            ("00000002.history", at(5)),
            ("000000020000000000000005", at(6)),
        ]);
        assert_eq!(forks, vec![]);
    }

    #[test]
    fn a_parent_still_written_after_the_branch_is_a_fork() {
        let forks = check(&[
            ("000000010000000000000005", at(1)),
            ("000000010000000000000006", at(1)),
            ("00000002.history", at(5)),
            ("000000020000000000000005", at(6)),
            ("000000010000000000000007", at(7)),
            ("000000010000000000000008", at(9)),
        ]);
        assert_eq!(forks.len(), 1, "{forks:?}");
        let fork = &forks[0];
        assert_eq!((fork.parent, fork.child), (TimelineId(1), TimelineId(2)));
        assert_eq!(fork.parent_newest, "000000010000000000000008");
        assert_eq!(
            fork.child_newest.as_deref(),
            Some("000000020000000000000005")
        );
        assert_eq!(fork.parent_segments_after, 2);
        let text = fork.describe();
        assert!(
            text.contains("timeline 1 (newest segment 000000010000000000000008)"),
            "{text}"
        );
        assert!(text.contains("timeline 2"), "{text}");
        assert_eq!(live_timelines(&forks), vec![TimelineId(1), TimelineId(2)]);
    }

    #[test]
    fn a_fork_settles_once_one_side_is_silent_for_a_day() {
        let forks = check(&[
            ("000000010000000000000005", at(1)),
            ("00000002.history", at(5)),
            ("000000020000000000000005", at(6)),
            ("000000010000000000000007", at(7)),
            ("000000010000000000000008", at(9)),
        ]);
        let fork = &forks[0];
        let minutes_later = at(30).unwrap();
        assert!(fork.is_active(minutes_later));
        assert_eq!(fork.live_side(minutes_later), None);
        // A day and more later, only the parent was still written (the
        // clone was thrown away): the parent is the live line.
        let day_later = at(9).unwrap() + chrono::Duration::hours(25);
        assert!(!fork.is_active(day_later));
        assert_eq!(fork.live_side(day_later), Some(TimelineId(1)));
        let text = fork.describe_settled(day_later);
        assert!(
            text.contains("timeline 1 is taken as the live one"),
            "{text}"
        );
        assert!(text.contains("wal/00000002/"), "{text}");
    }

    #[test]
    fn unknown_times_are_assumed_to_be_a_fork() {
        let forks = check(&[
            ("00000002.history", None),
            ("000000010000000000000009", None),
        ]);
        assert_eq!(forks.len(), 1);
    }
}
