//! Retention planning for prune: which backups and WAL files a policy keeps, and why. Pure: facts in, plan out.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Serialize, Serializer};

use crate::pg::{HistoryEntry, Lsn, SegmentName, TimelineId, WalFileName, WalSegmentSize};
use crate::repo::catalog::Finished;

/// What prune keeps. The caller validates it (at least one of the `retain_*`
/// fields set, counts >= 1); `plan` stays safe without that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Keep the N newest complete backups.
    pub retain_full: Option<u32>,
    /// Keep complete backups that stopped within D days before `now`.
    pub retain_days: Option<u32>,
    /// `--wal-retain-days`: point-in-time recovery to any moment of the last
    /// D days. Keeps the newest complete backup that stopped at or before
    /// `now - D` and every complete backup newer than it.
    pub recovery_window_days: Option<u32>,
    /// Incomplete backups whose newest object is younger than this are
    /// presumed running and kept; timelines no kept backup reaches keep
    /// their WAL while any of it is this young.
    pub incomplete_grace: Duration,
}

/// What a backup's manifest says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteBackup {
    pub timeline: TimelineId,
    pub start_lsn: Lsn,
    pub stop_lsn: Lsn,
    pub stop_time: DateTime<Utc>,
    /// The backup an incremental one builds on; `None` for a full backup.
    pub parent: Option<String>,
}

impl CompleteBackup {
    /// Its place in the one order of backups (see [`Finished`]).
    pub fn finished<'a>(&self, name: &'a str) -> Finished<'a> {
        Finished {
            stop_time: self.stop_time,
            stop_lsn: self.stop_lsn.0,
            name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFacts {
    /// `base_<8 hex timeline><16 hex start LSN>`: names sort oldest first.
    pub name: String,
    /// `None`: no manifest, the backup is incomplete.
    pub complete: Option<CompleteBackup>,
    /// Last-modified time of its newest object.
    pub newest_object: Option<DateTime<Utc>>,
    pub stored_bytes: u64,
    pub objects: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalFacts {
    pub key: String,
    pub file: WalFileName,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// One listing of the repository and the clock it is judged by.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Any order.
    pub backups: &'a [BackupFacts],
    /// Any order.
    pub wal: &'a [WalFacts],
    /// The parsed `.history` files present in the archive.
    pub histories: &'a BTreeMap<TimelineId, Vec<HistoryEntry>>,
    pub segment_size: WalSegmentSize,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupDecision {
    pub name: String,
    pub keep: bool,
    pub complete: bool,
    /// Every rule that keeps it, or why it goes.
    pub reasons: Vec<String>,
    pub stored_bytes: u64,
    pub objects: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineDecision {
    /// Decimal, as PostgreSQL's settings and history files write it.
    #[serde(serialize_with = "timeline_number")]
    pub timeline: TimelineId,
    /// The first segment kept: the floor set by the kept backups (even if
    /// that segment is missing from the archive), or the oldest file when
    /// `keep_all`; `None` when all of the timeline's WAL goes.
    pub keep_from: Option<String>,
    /// No kept backup reaches the timeline, but its WAL is kept anyway.
    pub keep_all: bool,
    pub reason: String,
    pub kept_files: usize,
    pub deleted_files: usize,
    pub deleted_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Oldest first.
    pub backups: Vec<BackupDecision>,
    /// Every timeline with WAL files other than its history file.
    pub timelines: Vec<TimelineDecision>,
    /// Keys, oldest first by (segment start, timeline): deleting in this
    /// order and stopping anywhere leaves no hole in the kept WAL.
    pub delete_wal: Vec<String>,
    /// Names, oldest first.
    pub delete_backups: Vec<String>,
    pub warnings: Vec<String>,
    pub freed_bytes: u64,
    pub kept_bytes: u64,
}

fn timeline_number<S: Serializer>(timeline: &TimelineId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(timeline.0)
}

/// The timelines a recovery from a backup on `timeline` starting at `start`
/// reads, each with the first LSN read on it: the backup's own timeline from
/// `start` first, then every timeline D whose history lists `timeline` as an
/// ancestor that ended at or after `start`, entered at D's own begin point
/// (the switchpoint of the last line of D's history). A history file lists
/// all ancestors, so grandchildren are found without walking the tree.
pub fn reach(
    histories: &BTreeMap<TimelineId, Vec<HistoryEntry>>,
    timeline: TimelineId,
    start: Lsn,
) -> Vec<(TimelineId, Lsn)> {
    let mut reached = vec![(timeline, start)];
    for (&descendant, entries) in histories {
        if descendant == timeline {
            continue;
        }
        let branches_after_start = entries
            .iter()
            .any(|e| e.parent == timeline && e.switchpoint >= start);
        if let (true, Some(last)) = (branches_after_start, entries.last()) {
            reached.push((descendant, last.switchpoint));
        }
    }
    reached
}

/// Decides what prune keeps. The safety contract:
///
/// 1. Backups kept are the union of: the `retain_full` newest complete
///    backups; complete backups that stopped at or after `now -
///    retain_days` (a stop time in the future counts as recent, with a
///    warning); for the recovery window, the newest complete backup that
///    stopped at or before `now - recovery_window_days` and every complete
///    backup newer than it (all of them if none stopped that early: the
///    oldest comes closest to the window's start);
///    and always the newest complete backup. With no policy field set, every
///    complete backup is kept. An incomplete backup is deleted when its
///    newest object is older than `now - incomplete_grace`, and kept
///    otherwise (with a warning if its age is unknown). Time arithmetic
///    saturates: either clock may be far off. A kept incremental backup
///    keeps every backup it builds on, down to its full backup.
/// 2. A kept complete backup reaches the timelines `reach` lists.
/// 3. On a timeline reached by kept backups, WAL is kept from the lowest
///    segment where one of them enters it; below that, segments, `.partial`
///    and `.backup` files (by the segment they name) are deleted. Gaps above
///    that floor change nothing: nothing above it is ever deleted.
/// 4. A timeline no kept backup reaches keeps all its WAL, with a warning,
///    if it is the highest timeline in the archive (the live one, counting
///    history files), if it is above 1 and has no history file (its
///    ancestry is unknown), or if any of its WAL was written within the
///    grace period or at an unknown time (a branch being written now).
///    Otherwise no kept backup can replay it and all of its WAL goes.
/// 5. `.history` files are never deleted.
pub fn plan(facts: &Facts, policy: &Policy) -> Plan {
    let mut warnings = Vec::new();
    let backups = decide_backups(facts, policy, &mut warnings);

    let kept_names: BTreeSet<&str> = backups
        .iter()
        .filter(|d| d.keep)
        .map(|d| d.name.as_str())
        .collect();
    let mut kept: Vec<(&str, &CompleteBackup)> = facts
        .backups
        .iter()
        .filter(|b| kept_names.contains(b.name.as_str()))
        .filter_map(|b| b.complete.as_ref().map(|c| (b.name.as_str(), c)))
        .collect();
    kept.sort_by(|a, b| a.0.cmp(b.0));

    let wal = decide_wal(facts, policy, &kept, &mut warnings);

    let delete_backups: Vec<String> = backups
        .iter()
        .filter(|d| !d.keep)
        .map(|d| d.name.clone())
        .collect();
    let sum = |keep: bool| {
        let backup_bytes = backups
            .iter()
            .filter(|d| d.keep == keep)
            .fold(0u64, |acc, d| acc.saturating_add(d.stored_bytes));
        let wal_bytes = facts
            .wal
            .iter()
            .filter(|w| wal.deleted.contains(w.key.as_str()) != keep)
            .fold(0u64, |acc, w| acc.saturating_add(w.size));
        backup_bytes.saturating_add(wal_bytes)
    };
    let (freed_bytes, kept_bytes) = (sum(false), sum(true));

    Plan {
        backups,
        timelines: wal.timelines,
        delete_wal: wal.delete_wal,
        delete_backups,
        warnings,
        freed_bytes,
        kept_bytes,
    }
}

fn decide_backups(
    facts: &Facts,
    policy: &Policy,
    warnings: &mut Vec<String>,
) -> Vec<BackupDecision> {
    let now = facts.now;
    let mut order: Vec<&BackupFacts> = facts.backups.iter().collect();
    order.sort_by(|a, b| a.name.cmp(&b.name));
    // Newest last, by when each finished (never by name: see `Finished`).
    let mut complete: Vec<(usize, &CompleteBackup)> = order
        .iter()
        .enumerate()
        .filter_map(|(i, b)| b.complete.as_ref().map(|c| (i, c)))
        .collect();
    complete.sort_by(|a, b| {
        a.1.finished(&order[a.0].name)
            .cmp(&b.1.finished(&order[b.0].name))
    });
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); order.len()];

    if let Some(n) = policy.retain_full {
        let phrase = if n == 1 {
            "the newest complete backup (retain 1)".to_owned()
        } else {
            format!("one of the {n} newest complete backups")
        };
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        for (i, _) in complete.iter().rev().take(n) {
            reasons[*i].push(phrase.clone());
        }
    }
    if let Some(d) = policy.retain_days {
        let cutoff = days_before(now, d);
        for (i, c) in &complete {
            if c.stop_time >= cutoff {
                reasons[*i].push(format!("stopped within {}", plural(d, "day")));
            }
        }
    }
    if let Some(w) = policy.recovery_window_days {
        let cutoff = days_before(now, w);
        let inside = format!("within the {w}-day recovery window");
        let newer = match complete.iter().rposition(|(_, c)| c.stop_time <= cutoff) {
            Some(anchor) => {
                reasons[complete[anchor].0]
                    .push(format!("newest backup before the {w}-day recovery window"));
                anchor + 1
            }
            None => 0,
        };
        for (i, _) in &complete[newer..] {
            reasons[*i].push(inside.clone());
        }
    }
    let no_policy = policy.retain_full.is_none()
        && policy.retain_days.is_none()
        && policy.recovery_window_days.is_none();
    if no_policy {
        for (i, _) in &complete {
            reasons[*i].push("no retention policy set".to_owned());
        }
    }
    if let Some((i, _)) = complete.last() {
        reasons[*i].push("newest complete backup (never pruned)".to_owned());
    }
    let grace_cutoff = grace_cutoff(now, policy);
    // A timeline still being written keeps its own newest backup, whatever
    // the other timelines hold: when two clusters write into one
    // repository, retention must not trade one's backups for the other's.
    let timelines: BTreeSet<TimelineId> = complete.iter().map(|(_, c)| c.timeline).collect();
    for timeline in timelines {
        let Some((i, newest)) = complete.iter().rev().find(|(_, c)| c.timeline == timeline) else {
            continue;
        };
        if written_since(facts, newest, grace_cutoff) {
            reasons[*i].push(format!(
                "newest backup of timeline {}, which received WAL within the last {}",
                timeline.0,
                crate::ages::short(policy.incomplete_grace)
            ));
        }
    }
    keep_what_incrementals_build_on(&order, &mut reasons, warnings);
    order
        .iter()
        .zip(reasons)
        .map(|(b, mut reasons)| {
            let keep = match (&b.complete, b.newest_object) {
                (Some(c), _) => {
                    if c.stop_time > now {
                        warnings.push(format!(
                            "backup {} stop_time {} is in the future (clock skew?)",
                            b.name, c.stop_time
                        ));
                    }
                    if reasons.is_empty() {
                        reasons.push("outside the retention policy".to_owned());
                        false
                    } else {
                        true
                    }
                }
                (None, None) => {
                    reasons.push("incomplete, age unknown: may still be running".to_owned());
                    warnings.push(format!(
                        "backup {} is incomplete and the age of its objects is unknown: kept",
                        b.name
                    ));
                    true
                }
                (None, Some(newest)) => {
                    let age = age(now, newest);
                    if newest > now {
                        warnings.push(format!(
                            "incomplete backup {} was written at {newest}, in the future (clock skew?)",
                            b.name
                        ));
                    }
                    if newest < grace_cutoff {
                        reasons.push(format!("incomplete for {age}: interrupted"));
                        false
                    } else {
                        reasons.push(format!("incomplete, {age} old: may still be running"));
                        true
                    }
                }
            };
            BackupDecision {
                name: b.name.clone(),
                keep,
                complete: b.complete.is_some(),
                reasons,
                stored_bytes: b.stored_bytes,
                objects: b.objects,
            }
        })
        .collect()
}

/// A kept incremental backup restores only with every backup it builds on:
/// each of those is kept too, with the reason, down to the chain's full
/// backup (whose WAL floor then keeps the WAL from there on). A parent that
/// is not a complete backup in the repository is warned about: that chain
/// cannot be restored.
fn keep_what_incrementals_build_on(
    order: &[&BackupFacts],
    reasons: &mut [Vec<String>],
    warnings: &mut Vec<String>,
) {
    let index: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i))
        .collect();
    let mut todo: Vec<usize> = (0..order.len())
        .filter(|&i| order[i].complete.is_some() && !reasons[i].is_empty())
        .collect();
    while let Some(i) = todo.pop() {
        let Some(parent) = order[i].complete.as_ref().and_then(|c| c.parent.as_deref()) else {
            continue;
        };
        match index.get(parent).filter(|&&p| order[p].complete.is_some()) {
            Some(&p) => {
                if reasons[p].is_empty() {
                    todo.push(p);
                }
                reasons[p].push(format!("base of kept incremental backup {}", order[i].name));
            }
            None => warnings.push(format!(
                "backup {} builds on {parent}, which is not a complete backup in the repository: it cannot be restored",
                order[i].name
            )),
        }
    }
}

/// Whether `backup`'s timeline received WAL at or after `cutoff` (or at an
/// unknown time) from the backup's start on. Only files the backup itself
/// keeps count, so that pruning again right after changes nothing.
fn written_since(facts: &Facts, backup: &CompleteBackup, cutoff: DateTime<Utc>) -> bool {
    let size = facts.segment_size;
    let from = backup.start_lsn.segno(size);
    facts.wal.iter().any(|w| {
        let segment = match &w.file {
            WalFileName::Segment(s) | WalFileName::Partial(s) => *s,
            WalFileName::Backup { segment, .. } => *segment,
            WalFileName::History(_) => return false,
        };
        segment.timeline == backup.timeline
            && segment.segno(size) >= from
            && w.last_modified.is_none_or(|t| t >= cutoff)
    })
}

struct WalDecisions<'a> {
    timelines: Vec<TimelineDecision>,
    delete_wal: Vec<String>,
    deleted: BTreeSet<&'a str>,
}

fn decide_wal<'a>(
    facts: &Facts<'a>,
    policy: &Policy,
    kept: &[(&str, &CompleteBackup)],
    warnings: &mut Vec<String>,
) -> WalDecisions<'a> {
    let size = facts.segment_size;

    // Per timeline: the lowest segment a kept backup reads, the LSN it
    // enters at, and the oldest backup that does.
    let mut floors: BTreeMap<TimelineId, (u64, Lsn, &str)> = BTreeMap::new();
    for &(name, backup) in kept {
        for (timeline, lsn) in reach(facts.histories, backup.timeline, backup.start_lsn) {
            let segno = lsn.segno(size);
            let floor = floors.entry(timeline).or_insert((segno, lsn, name));
            if segno < floor.0 {
                *floor = (segno, lsn, name);
            }
        }
    }

    let mut by_timeline: BTreeMap<TimelineId, Vec<(u64, &'a WalFacts)>> = BTreeMap::new();
    for w in facts.wal {
        let segment = match &w.file {
            WalFileName::Segment(s) | WalFileName::Partial(s) => *s,
            WalFileName::Backup { segment, .. } => *segment,
            WalFileName::History(_) => continue,
        };
        by_timeline
            .entry(segment.timeline)
            .or_default()
            .push((segment.segno(size), w));
    }
    let highest = facts
        .wal
        .iter()
        .map(|w| w.file.timeline())
        .chain(facts.histories.keys().copied())
        .max();

    let grace_cutoff = grace_cutoff(facts.now, policy);

    let mut timelines = Vec::new();
    let mut doomed: Vec<(u64, TimelineId, &'a str)> = Vec::new();
    for (&timeline, files) in &by_timeline {
        let tli = timeline.0;
        let (keep_from, keep_all, reason, floor) = if let Some(&(floor, lsn, name)) =
            floors.get(&timeline)
        {
            let from = SegmentName::from_segno(timeline, floor, size).to_string();
            let reason = format!("backup {name} reads it from {lsn}");
            (Some(from), false, reason, floor)
        } else {
            let live = Some(timeline) == highest;
            let orphan = tli > 1 && !facts.histories.contains_key(&timeline);
            let undated = files.iter().any(|(_, w)| w.last_modified.is_none());
            let fresh = files
                .iter()
                .any(|(_, w)| w.last_modified.is_some_and(|t| t >= grace_cutoff));
            let recent = fresh || undated;
            if orphan {
                warnings.push(format!(
                    "timeline {tli} has no history file: its ancestry is unknown, so all its WAL is kept"
                ));
            }
            // The live timeline is always being written: its own warning says enough.
            if recent && !live {
                let when = if fresh {
                    format!(
                        "written within the last {}",
                        crate::ages::short(policy.incomplete_grace)
                    )
                } else {
                    "of unknown age".to_owned()
                };
                warnings.push(format!(
                    "timeline {tli} is reached by no kept backup but has WAL {when}: all its WAL is kept"
                ));
            }
            let reason = if live {
                "the newest timeline, reached by no kept backup: all its WAL is kept"
            } else if orphan {
                "no history file, ancestry unknown: all its WAL is kept"
            } else if recent {
                "reached by no kept backup but recently written: all its WAL is kept"
            } else {
                "reached by no kept backup, so none can replay it: all its WAL is deleted"
            };
            // Floors of 0 and u64::MAX: keep every file, or none.
            if live || orphan || recent {
                let oldest = files.iter().map(|(segno, _)| *segno).min().unwrap_or(0);
                let from = SegmentName::from_segno(timeline, oldest, size).to_string();
                (Some(from), true, reason.to_owned(), 0)
            } else {
                (None, false, reason.to_owned(), u64::MAX)
            }
        };
        let mut decision = TimelineDecision {
            timeline,
            keep_from,
            keep_all,
            reason,
            kept_files: 0,
            deleted_files: 0,
            deleted_bytes: 0,
        };
        for &(segno, w) in files {
            if segno >= floor {
                decision.kept_files += 1;
            } else {
                decision.deleted_files += 1;
                decision.deleted_bytes = decision.deleted_bytes.saturating_add(w.size);
                doomed.push((segno, timeline, w.key.as_str()));
            }
        }
        timelines.push(decision);
    }
    if let Some(live) = highest {
        if !floors.contains_key(&live) {
            warnings.push(format!(
                "no kept backup can reach timeline {}: take a new backup",
                live.0
            ));
        }
    }

    // The key breaks ties (a segment and its `.backup` file) only to make
    // the order reproducible.
    doomed.sort();
    WalDecisions {
        timelines,
        delete_wal: doomed.iter().map(|(_, _, key)| (*key).to_owned()).collect(),
        deleted: doomed.iter().map(|(_, _, key)| *key).collect(),
    }
}

/// Objects last modified before this are past the grace period.
fn grace_cutoff(now: DateTime<Utc>, policy: &Policy) -> DateTime<Utc> {
    now.checked_sub_signed(policy.incomplete_grace.max(Duration::zero()))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn days_before(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    Duration::try_days(i64::from(days))
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    crate::ages::short(now.signed_duration_since(then))
}

fn plural(n: u32, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::fmt::Write as _;
    use std::ops::RangeInclusive;

    const SIZE: WalSegmentSize = WalSegmentSize::DEFAULT;
    const SEG: u64 = 0x100_0000;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
    }

    fn hours_ago(hours: i64) -> DateTime<Utc> {
        now() - Duration::hours(hours)
    }

    fn days_ago(days: i64) -> DateTime<Utc> {
        now() - Duration::days(days)
    }

    fn lsn(segno: u64, offset: u64) -> Lsn {
        Lsn(segno * SEG + offset)
    }

    fn tl(tli: u32) -> TimelineId {
        TimelineId(tli)
    }

    fn seg(tli: u32, segno: u64) -> SegmentName {
        SegmentName::from_segno(tl(tli), segno, SIZE)
    }

    fn file(file: WalFileName) -> WalFacts {
        WalFacts {
            key: file.file_name(),
            file,
            size: 16,
            last_modified: Some(days_ago(30)),
        }
    }

    fn segs(tli: u32, segnos: RangeInclusive<u64>) -> Vec<WalFacts> {
        segnos
            .map(|n| file(WalFileName::Segment(seg(tli, n))))
            .collect()
    }

    fn partial(tli: u32, segno: u64) -> WalFacts {
        file(WalFileName::Partial(seg(tli, segno)))
    }

    fn backup_file(tli: u32, at: Lsn) -> WalFacts {
        file(WalFileName::Backup {
            segment: SegmentName::from_lsn(tl(tli), at, SIZE),
            offset: at.segment_offset(SIZE),
        })
    }

    fn history_file(tli: u32) -> WalFacts {
        file(WalFileName::History(tl(tli)))
    }

    fn name(tli: u32, start: Lsn) -> String {
        format!("base_{tli:08X}{:016X}", start.0)
    }

    fn complete(tli: u32, start: Lsn, stop_time: DateTime<Utc>) -> BackupFacts {
        BackupFacts {
            name: name(tli, start),
            complete: Some(CompleteBackup {
                timeline: tl(tli),
                start_lsn: start,
                stop_lsn: Lsn(start.0 + 0x1000),
                stop_time,
                parent: None,
            }),
            newest_object: Some(stop_time),
            stored_bytes: 1000,
            objects: 3,
        }
    }

    fn incomplete(tli: u32, start: Lsn, newest_object: Option<DateTime<Utc>>) -> BackupFacts {
        BackupFacts {
            name: name(tli, start),
            complete: None,
            newest_object,
            stored_bytes: 500,
            objects: 2,
        }
    }

    /// `(timeline, [(parent, switchpoint)])`, as the history files list them.
    fn histories(list: &[(u32, &[(u32, Lsn)])]) -> BTreeMap<TimelineId, Vec<HistoryEntry>> {
        list.iter()
            .map(|(tli, entries)| {
                let entries = entries
                    .iter()
                    .map(|&(parent, switchpoint)| HistoryEntry {
                        parent: tl(parent),
                        switchpoint,
                        reason: "no recovery target specified".to_owned(),
                    })
                    .collect();
                (tl(*tli), entries)
            })
            .collect()
    }

    fn policy() -> Policy {
        Policy {
            retain_full: None,
            retain_days: None,
            recovery_window_days: None,
            incomplete_grace: Duration::hours(12),
        }
    }

    fn full(n: u32) -> Policy {
        Policy {
            retain_full: Some(n),
            ..policy()
        }
    }

    fn run_at(
        now: DateTime<Utc>,
        backups: &[BackupFacts],
        wal: &[WalFacts],
        histories: &BTreeMap<TimelineId, Vec<HistoryEntry>>,
        policy: &Policy,
    ) -> Plan {
        let facts = Facts {
            backups,
            wal,
            histories,
            segment_size: SIZE,
            now,
        };
        plan(&facts, policy)
    }

    fn run(
        backups: &[BackupFacts],
        wal: &[WalFacts],
        histories: &BTreeMap<TimelineId, Vec<HistoryEntry>>,
        policy: &Policy,
    ) -> Plan {
        run_at(now(), backups, wal, histories, policy)
    }

    /// `backup` as an incremental on `parent`.
    fn on(mut backup: BackupFacts, parent: &BackupFacts) -> BackupFacts {
        backup.complete.as_mut().unwrap().parent = Some(parent.name.clone());
        backup
    }

    #[test]
    fn a_kept_incremental_keeps_its_chain_and_the_chains_wal() {
        // full (old) <- incr 1 <- incr 2 (newest); an unrelated older full
        // goes. retain 1 keeps incr 2, and with it incr 1 and the full,
        // and the WAL from the full's start.
        let unrelated = complete(1, lsn(1, 0x28), days_ago(9));
        let base = complete(1, lsn(3, 0x28), days_ago(8));
        let first = on(complete(1, lsn(5, 0x28), days_ago(4)), &base);
        let second = on(complete(1, lsn(7, 0x28), hours_ago(1)), &first);
        let backups = [
            unrelated.clone(),
            base.clone(),
            first.clone(),
            second.clone(),
        ];
        let plan = run(&backups, &segs(1, 1..=8), &BTreeMap::new(), &full(1));
        assert_eq!(plan.delete_backups, vec![unrelated.name.clone()]);
        let reasons = |b: &BackupFacts| {
            plan.backups
                .iter()
                .find(|d| d.name == b.name)
                .unwrap()
                .reasons
                .join("; ")
        };
        assert!(reasons(&base).contains(&format!("base of kept incremental backup {}", first.name)));
        assert!(
            reasons(&first).contains(&format!("base of kept incremental backup {}", second.name))
        );
        assert_eq!(
            plan.timelines[0].keep_from.as_deref(),
            Some("000000010000000000000003")
        );
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);

        // A chain whose base is gone cannot be restored: said, not hidden.
        let orphan = [second.clone()];
        let plan = run(&orphan, &segs(1, 7..=8), &BTreeMap::new(), &full(1));
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.contains(&format!("builds on {}", first.name))),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn two_live_timelines_each_keep_their_newest_backup() {
        // Production on timeline 1 keeps writing and backing up; a restored
        // clone promoted to timeline 2 archives and backs up into the same
        // repository. Names put the clone's backup last; retain 1 must
        // still keep production's newest, and the clone's (its timeline
        // is written to as well).
        let production_old = complete(1, lsn(2, 0x28), days_ago(3));
        let production_new = complete(1, lsn(9, 0x28), hours_ago(1));
        let clone = complete(2, lsn(5, 0x28), hours_ago(2));
        let backups = [
            production_old.clone(),
            production_new.clone(),
            clone.clone(),
        ];
        let mut wal = segs(1, 2..=10);
        wal.extend(segs(2, 5..=6));
        for w in wal
            .iter_mut()
            .filter(|w| w.key.ends_with("A") || w.key.starts_with("00000002"))
        {
            w.last_modified = Some(hours_ago(1));
        }
        wal.push(history_file(2));
        let histories = histories(&[(2, &[(1, lsn(5, 0x100))])]);
        let plan = run(&backups, &wal, &histories, &full(1));
        let kept: Vec<&str> = plan
            .backups
            .iter()
            .filter(|b| b.keep)
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(
            kept,
            vec![production_new.name.as_str(), clone.name.as_str()]
        );
        let newest = plan
            .backups
            .iter()
            .find(|b| b.name == production_new.name)
            .unwrap();
        assert!(
            newest
                .reasons
                .iter()
                .any(|r| r.contains("newest complete backup")),
            "{:?}",
            newest.reasons
        );
        assert_eq!(plan.delete_backups, vec![production_old.name.clone()]);
    }

    /// Every field of the plan but the per-backup sizes, which the byte
    /// totals cover, one fact a line.
    fn render(plan: &Plan) -> String {
        let mut out = String::new();
        for b in &plan.backups {
            let verdict = if b.keep { "keep" } else { "DROP" };
            let kind = if b.complete { "" } else { " (incomplete)" };
            writeln!(out, "{verdict} {}{kind}: {}", b.name, b.reasons.join("; ")).unwrap();
        }
        for t in &plan.timelines {
            let from = match (&t.keep_from, t.keep_all) {
                (Some(from), true) => format!("all from {from}"),
                (Some(from), false) => format!("from {from}"),
                (None, _) => "nothing".to_owned(),
            };
            writeln!(
                out,
                "timeline {} {from}, kept {} deleted {} ({} B): {}",
                t.timeline.0, t.kept_files, t.deleted_files, t.deleted_bytes, t.reason
            )
            .unwrap();
        }
        for key in &plan.delete_wal {
            writeln!(out, "delete wal {key}").unwrap();
        }
        for name in &plan.delete_backups {
            writeln!(out, "delete backup {name}").unwrap();
        }
        for warning in &plan.warnings {
            writeln!(out, "warning: {warning}").unwrap();
        }
        writeln!(out, "freed {} kept {}", plan.freed_bytes, plan.kept_bytes).unwrap();
        out
    }

    #[track_caller]
    fn assert_plan(plan: &Plan, expected: &str) {
        let actual = render(plan);
        let expected = expected
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect::<String>();
        assert_eq!(actual, expected, "\nactual:\n{actual}");
    }

    fn seg_name(tli: u32, segno: u64) -> String {
        seg(tli, segno).to_string()
    }

    /// Five backups on timeline 1 at segments 2, 4, 6, 8, 10, stopped 9, 7,
    /// 5, 3 and 1 days ago, and segments 1 to 12.
    fn five() -> (Vec<BackupFacts>, Vec<WalFacts>) {
        let backups = [(2, 9), (4, 7), (6, 5), (8, 3), (10, 1)]
            .map(|(segno, days)| complete(1, lsn(segno, 0x28), days_ago(days)))
            .to_vec();
        (backups, segs(1, 1..=12))
    }

    #[test]
    fn empty_repository() {
        let plan = run(&[], &[], &BTreeMap::new(), &full(2));
        assert_plan(&plan, "freed 0 kept 0");
    }

    #[test]
    fn one_backup() {
        let wal = [segs(1, 1..=6), vec![backup_file(1, lsn(3, 0x28))]].concat();
        let backups = [complete(1, lsn(3, 0x28), days_ago(2))];
        let plan = run(&backups, &wal, &BTreeMap::new(), &full(1));
        assert_plan(
            &plan,
            "keep base_000000010000000003000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 from 000000010000000000000003, kept 5 deleted 2 (32 B): backup base_000000010000000003000028 reads it from 0/3000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            freed 32 kept 1080",
        );
    }

    #[test]
    fn retain_full_two_of_five() {
        let (backups, wal) = five();
        let plan = run(&backups, &wal, &BTreeMap::new(), &full(2));
        assert_plan(
            &plan,
            "DROP base_000000010000000002000028: outside the retention policy
            DROP base_000000010000000004000028: outside the retention policy
            DROP base_000000010000000006000028: outside the retention policy
            keep base_000000010000000008000028: one of the 2 newest complete backups
            keep base_00000001000000000A000028: one of the 2 newest complete backups; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000008, kept 5 deleted 7 (112 B): backup base_000000010000000008000028 reads it from 0/8000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete wal 000000010000000000000006
            delete wal 000000010000000000000007
            delete backup base_000000010000000002000028
            delete backup base_000000010000000004000028
            delete backup base_000000010000000006000028
            freed 3112 kept 2080",
        );
    }

    #[test]
    fn retain_days_keeps_what_stopped_within_the_days_boundary_included() {
        let (backups, wal) = five();
        let three_days = Policy {
            retain_days: Some(3),
            ..policy()
        };
        let plan = run(&backups, &wal, &BTreeMap::new(), &three_days);
        assert_plan(
            &plan,
            "DROP base_000000010000000002000028: outside the retention policy
            DROP base_000000010000000004000028: outside the retention policy
            DROP base_000000010000000006000028: outside the retention policy
            keep base_000000010000000008000028: stopped within 3 days
            keep base_00000001000000000A000028: stopped within 3 days; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000008, kept 5 deleted 7 (112 B): backup base_000000010000000008000028 reads it from 0/8000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete wal 000000010000000000000006
            delete wal 000000010000000000000007
            delete backup base_000000010000000002000028
            delete backup base_000000010000000004000028
            delete backup base_000000010000000006000028
            freed 3112 kept 2080",
        );
    }

    #[test]
    fn retain_full_and_retain_days_keep_the_union() {
        let (backups, wal) = five();
        let more_days = Policy {
            retain_full: Some(2),
            retain_days: Some(6),
            ..policy()
        };
        assert_plan(
            &run(&backups, &wal, &BTreeMap::new(), &more_days),
            "DROP base_000000010000000002000028: outside the retention policy
            DROP base_000000010000000004000028: outside the retention policy
            keep base_000000010000000006000028: stopped within 6 days
            keep base_000000010000000008000028: one of the 2 newest complete backups; stopped within 6 days
            keep base_00000001000000000A000028: one of the 2 newest complete backups; stopped within 6 days; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000006, kept 7 deleted 5 (80 B): backup base_000000010000000006000028 reads it from 0/6000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete backup base_000000010000000002000028
            delete backup base_000000010000000004000028
            freed 2080 kept 3112",
        );
        let more_full = Policy {
            retain_full: Some(4),
            retain_days: Some(2),
            ..policy()
        };
        assert_plan(
            &run(&backups, &wal, &BTreeMap::new(), &more_full),
            "DROP base_000000010000000002000028: outside the retention policy
            keep base_000000010000000004000028: one of the 4 newest complete backups
            keep base_000000010000000006000028: one of the 4 newest complete backups
            keep base_000000010000000008000028: one of the 4 newest complete backups
            keep base_00000001000000000A000028: one of the 4 newest complete backups; stopped within 2 days; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000004, kept 9 deleted 3 (48 B): backup base_000000010000000004000028 reads it from 0/4000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete backup base_000000010000000002000028
            freed 1048 kept 4144",
        );
    }

    #[test]
    fn recovery_window_keeps_the_newest_backup_before_it() {
        let (backups, wal) = five();
        let window = |days| Policy {
            recovery_window_days: Some(days),
            ..policy()
        };
        assert_plan(
            &run(&backups, &wal, &BTreeMap::new(), &window(4)),
            "DROP base_000000010000000002000028: outside the retention policy
            DROP base_000000010000000004000028: outside the retention policy
            keep base_000000010000000006000028: newest backup before the 4-day recovery window
            keep base_000000010000000008000028: within the 4-day recovery window
            keep base_00000001000000000A000028: within the 4-day recovery window; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000006, kept 7 deleted 5 (80 B): backup base_000000010000000006000028 reads it from 0/6000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete backup base_000000010000000002000028
            delete backup base_000000010000000004000028
            freed 2080 kept 3112",
        );
        // Stopped exactly at the window's start: recovery to that moment
        // needs it, nothing older.
        let plan = run(&backups, &wal, &BTreeMap::new(), &window(5));
        assert_eq!(
            plan.delete_backups,
            [name(1, lsn(2, 0x28)), name(1, lsn(4, 0x28))]
        );
        assert_eq!(
            plan.backups[2].reasons,
            ["newest backup before the 5-day recovery window"]
        );
        // Nothing stopped before the window: the oldest backup is as close
        // to its start as recovery can get, so all are kept.
        assert_plan(
            &run(&backups, &wal, &BTreeMap::new(), &window(10)),
            "keep base_000000010000000002000028: within the 10-day recovery window
            keep base_000000010000000004000028: within the 10-day recovery window
            keep base_000000010000000006000028: within the 10-day recovery window
            keep base_000000010000000008000028: within the 10-day recovery window
            keep base_00000001000000000A000028: within the 10-day recovery window; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000002, kept 11 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            delete wal 000000010000000000000001
            freed 16 kept 5176",
        );
    }

    #[test]
    fn newest_complete_backup_survives_any_policy() {
        let (mut backups, wal) = five();
        // The newest backup is not the latest to stop; still never pruned.
        backups.push(incomplete(1, lsn(11, 0x28), Some(days_ago(5))));
        let one_day = Policy {
            retain_days: Some(1),
            ..policy()
        };
        let mut plan_backups = run(&backups, &wal, &BTreeMap::new(), &one_day).backups;
        assert_eq!(plan_backups.len(), 6);
        let newest = plan_backups.remove(4);
        assert_eq!(newest.name, name(1, lsn(10, 0x28)));
        assert!(newest.keep);
        assert_eq!(
            newest.reasons,
            [
                "stopped within 1 day",
                "newest complete backup (never pruned)"
            ]
        );
        assert!(plan_backups.iter().all(|b| !b.keep));

        let no_days = Policy {
            retain_days: Some(0),
            ..policy()
        };
        assert_plan(
            &run(&backups[..5], &wal, &BTreeMap::new(), &no_days),
            "DROP base_000000010000000002000028: outside the retention policy
            DROP base_000000010000000004000028: outside the retention policy
            DROP base_000000010000000006000028: outside the retention policy
            DROP base_000000010000000008000028: outside the retention policy
            keep base_00000001000000000A000028: newest complete backup (never pruned)
            timeline 1 from 00000001000000000000000A, kept 3 deleted 9 (144 B): backup base_00000001000000000A000028 reads it from 0/A000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete wal 000000010000000000000006
            delete wal 000000010000000000000007
            delete wal 000000010000000000000008
            delete wal 000000010000000000000009
            delete backup base_000000010000000002000028
            delete backup base_000000010000000004000028
            delete backup base_000000010000000006000028
            delete backup base_000000010000000008000028
            freed 4144 kept 1048",
        );
    }

    #[test]
    fn no_policy_keeps_every_complete_backup() {
        let (backups, wal) = five();
        let plan = run(&backups, &wal, &BTreeMap::new(), &policy());
        assert!(plan.delete_backups.is_empty());
        assert_eq!(plan.backups[0].reasons, ["no retention policy set"]);
        assert_eq!(
            plan.backups[4].reasons,
            [
                "no retention policy set",
                "newest complete backup (never pruned)"
            ]
        );
        assert_eq!(plan.delete_wal, [seg_name(1, 1)]);
    }

    #[test]
    fn incomplete_backups_old_young_and_undated() {
        let backups = [
            complete(1, lsn(2, 0x28), days_ago(2)),
            incomplete(1, lsn(3, 0x28), Some(hours_ago(26))),
            incomplete(1, lsn(4, 0x28), Some(now() - Duration::minutes(10))),
            incomplete(1, lsn(5, 0x28), Some(hours_ago(12))),
            incomplete(1, lsn(6, 0x28), None),
            incomplete(1, lsn(7, 0x28), Some(now() + Duration::minutes(5))),
        ];
        let wal = segs(1, 1..=8);
        assert_plan(
            &run(&backups, &wal, &BTreeMap::new(), &full(1)),
            "keep base_000000010000000002000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            DROP base_000000010000000003000028 (incomplete): incomplete for 26h: interrupted
            keep base_000000010000000004000028 (incomplete): incomplete, 10m old: may still be running
            keep base_000000010000000005000028 (incomplete): incomplete, 12h old: may still be running
            keep base_000000010000000006000028 (incomplete): incomplete, age unknown: may still be running
            keep base_000000010000000007000028 (incomplete): incomplete, 0s old: may still be running
            timeline 1 from 000000010000000000000002, kept 7 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            delete wal 000000010000000000000001
            delete backup base_000000010000000003000028
            warning: backup base_000000010000000006000028 is incomplete and the age of its objects is unknown: kept
            warning: incomplete backup base_000000010000000007000028 was written at 2024-06-01 12:05:00 UTC, in the future (clock skew?)
            freed 516 kept 3112",
        );
    }

    #[test]
    fn only_incomplete_backups() {
        let backups = [
            incomplete(1, lsn(2, 0x28), Some(days_ago(3))),
            incomplete(1, lsn(3, 0x28), Some(hours_ago(1))),
        ];
        let wal = segs(1, 1..=4);
        assert_plan(
            &run(&backups, &wal, &BTreeMap::new(), &full(1)),
            "DROP base_000000010000000002000028 (incomplete): incomplete for 3d: interrupted
            keep base_000000010000000003000028 (incomplete): incomplete, 60m old: may still be running
            timeline 1 all from 000000010000000000000001, kept 4 deleted 0 (0 B): the newest timeline, reached by no kept backup: all its WAL is kept
            delete backup base_000000010000000002000028
            warning: no kept backup can reach timeline 1: take a new backup
            freed 500 kept 564",
        );
    }
    /// Timeline 1 to segment 5 and its `.partial` 6; timeline 2 branches at
    /// 0/6000100 and runs to segment 9.
    fn one_branch() -> (Vec<WalFacts>, BTreeMap<TimelineId, Vec<HistoryEntry>>) {
        let wal = [
            segs(1, 1..=5),
            vec![partial(1, 6), history_file(2)],
            segs(2, 6..=9),
        ]
        .concat();
        (wal, histories(&[(2, &[(1, lsn(6, 0x100))])]))
    }

    #[test]
    fn backup_before_the_switch_reaches_the_branch() {
        let (wal, hist) = one_branch();
        let backups = [complete(1, lsn(3, 0x28), days_ago(2))];
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "keep base_000000010000000003000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 from 000000010000000000000003, kept 4 deleted 2 (32 B): backup base_000000010000000003000028 reads it from 0/3000028
            timeline 2 from 000000020000000000000006, kept 4 deleted 0 (0 B): backup base_000000010000000003000028 reads it from 0/6000100
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            freed 32 kept 1144",
        );
    }

    #[test]
    fn backup_after_the_switchpoint_does_not_reach_the_branch() {
        // Timeline 1 went on after a recovery test branched timeline 2 off
        // it; timeline 3 is a later branch of timeline 1.
        let wal = [
            segs(1, 1..=10),
            vec![history_file(2), history_file(3)],
            segs(2, 6..=7),
            segs(3, 9..=11),
        ]
        .concat();
        let hist = histories(&[(2, &[(1, lsn(6, 0x100))]), (3, &[(1, lsn(9, 0x200))])]);
        let backups = [complete(1, lsn(8, 0x28), days_ago(2))];
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "keep base_000000010000000008000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 from 000000010000000000000008, kept 3 deleted 7 (112 B): backup base_000000010000000008000028 reads it from 0/8000028
            timeline 2 nothing, kept 0 deleted 2 (32 B): reached by no kept backup, so none can replay it: all its WAL is deleted
            timeline 3 from 000000030000000000000009, kept 3 deleted 0 (0 B): backup base_000000010000000008000028 reads it from 0/9000200
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete wal 000000010000000000000006
            delete wal 000000020000000000000006
            delete wal 000000010000000000000007
            delete wal 000000020000000000000007
            freed 144 kept 1128",
        );
    }

    #[test]
    fn backup_on_the_branch_only() {
        let (wal, hist) = one_branch();
        let backups = [complete(2, lsn(7, 0x28), days_ago(1))];
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "keep base_000000020000000007000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 nothing, kept 0 deleted 6 (96 B): reached by no kept backup, so none can replay it: all its WAL is deleted
            timeline 2 from 000000020000000000000007, kept 3 deleted 1 (16 B): backup base_000000020000000007000028 reads it from 0/7000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete wal 000000010000000000000006.partial
            delete wal 000000020000000000000006
            freed 112 kept 1064",
        );
    }

    #[test]
    fn abandoned_parent_wal_goes_with_the_last_backup_that_needs_it() {
        let (wal, hist) = one_branch();
        let backups = [
            complete(1, lsn(3, 0x28), days_ago(10)),
            complete(2, lsn(7, 0x28), days_ago(1)),
        ];
        assert_plan(
            &run(&backups, &wal, &hist, &full(2)),
            "keep base_000000010000000003000028: one of the 2 newest complete backups
            keep base_000000020000000007000028: one of the 2 newest complete backups; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000003, kept 4 deleted 2 (32 B): backup base_000000010000000003000028 reads it from 0/3000028
            timeline 2 from 000000020000000000000006, kept 4 deleted 0 (0 B): backup base_000000010000000003000028 reads it from 0/6000100
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            freed 32 kept 2144",
        );
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "DROP base_000000010000000003000028: outside the retention policy
            keep base_000000020000000007000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 nothing, kept 0 deleted 6 (96 B): reached by no kept backup, so none can replay it: all its WAL is deleted
            timeline 2 from 000000020000000000000007, kept 3 deleted 1 (16 B): backup base_000000020000000007000028 reads it from 0/7000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete wal 000000010000000000000006.partial
            delete wal 000000020000000000000006
            delete backup base_000000010000000003000028
            freed 1112 kept 1064",
        );
    }

    #[test]
    fn unreached_timeline_written_within_the_grace_period_is_kept() {
        let (mut wal, hist) = one_branch();
        wal[4].last_modified = Some(hours_ago(1));
        let backups = [complete(2, lsn(7, 0x28), days_ago(1))];
        let expected = "keep base_000000020000000007000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 all from 000000010000000000000001, kept 6 deleted 0 (0 B): reached by no kept backup but recently written: all its WAL is kept
            timeline 2 from 000000020000000000000007, kept 3 deleted 1 (16 B): backup base_000000020000000007000028 reads it from 0/7000028
            delete wal 000000020000000000000006
            warning: timeline 1 is reached by no kept backup but has WAL written within the last 12h: all its WAL is kept
            freed 16 kept 1160";
        assert_plan(&run(&backups, &wal, &hist, &full(1)), expected);
        wal[4].last_modified = None;
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            &expected.replace("written within the last 12h", "of unknown age"),
        );
        // Past the grace period it goes.
        wal[4].last_modified = Some(hours_ago(13));
        let plan = run(&backups, &wal, &hist, &full(1));
        assert_eq!(plan.timelines[0].deleted_files, 6);
        assert!(plan.warnings.is_empty());
    }

    /// 1 → 2 at 0/5000080 → 3 at 0/8000040.
    fn three_levels() -> (Vec<WalFacts>, BTreeMap<TimelineId, Vec<HistoryEntry>>) {
        let wal = [
            segs(1, 1..=4),
            vec![partial(1, 5), history_file(2), history_file(3)],
            segs(2, 5..=7),
            vec![partial(2, 8)],
            segs(3, 8..=10),
        ]
        .concat();
        let hist = histories(&[
            (2, &[(1, lsn(5, 0x80))]),
            (3, &[(1, lsn(5, 0x80)), (2, lsn(8, 0x40))]),
        ]);
        (wal, hist)
    }

    #[test]
    fn three_generations() {
        let (wal, hist) = three_levels();
        let backups = [
            complete(1, lsn(2, 0x28), days_ago(5)),
            complete(2, lsn(6, 0x28), days_ago(1)),
        ];
        assert_plan(
            &run(&backups, &wal, &hist, &full(2)),
            "keep base_000000010000000002000028: one of the 2 newest complete backups
            keep base_000000020000000006000028: one of the 2 newest complete backups; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000002, kept 4 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            timeline 2 from 000000020000000000000005, kept 4 deleted 0 (0 B): backup base_000000010000000002000028 reads it from 0/5000080
            timeline 3 from 000000030000000000000008, kept 3 deleted 0 (0 B): backup base_000000010000000002000028 reads it from 0/8000040
            delete wal 000000010000000000000001
            freed 16 kept 2208",
        );
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "DROP base_000000010000000002000028: outside the retention policy
            keep base_000000020000000006000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 nothing, kept 0 deleted 5 (80 B): reached by no kept backup, so none can replay it: all its WAL is deleted
            timeline 2 from 000000020000000000000006, kept 3 deleted 1 (16 B): backup base_000000020000000006000028 reads it from 0/6000028
            timeline 3 from 000000030000000000000008, kept 3 deleted 0 (0 B): backup base_000000020000000006000028 reads it from 0/8000040
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005.partial
            delete wal 000000020000000000000005
            delete backup base_000000010000000002000028
            freed 1096 kept 1128",
        );
    }

    #[test]
    fn reach_follows_history_files() {
        let (_, hist) = three_levels();
        assert_eq!(
            reach(&hist, tl(1), lsn(2, 0x28)),
            [
                (tl(1), lsn(2, 0x28)),
                (tl(2), lsn(5, 0x80)),
                (tl(3), lsn(8, 0x40))
            ]
        );
        // The switch itself still counts: recovery may read up to it.
        assert_eq!(
            reach(&hist, tl(1), lsn(5, 0x80)),
            [
                (tl(1), lsn(5, 0x80)),
                (tl(2), lsn(5, 0x80)),
                (tl(3), lsn(8, 0x40))
            ]
        );
        assert_eq!(reach(&hist, tl(1), lsn(5, 0x81)), [(tl(1), lsn(5, 0x81))]);
        assert_eq!(
            reach(&hist, tl(2), lsn(6, 0)),
            [(tl(2), lsn(6, 0)), (tl(3), lsn(8, 0x40))]
        );
        assert_eq!(reach(&hist, tl(2), lsn(8, 0x41)), [(tl(2), lsn(8, 0x41))]);
        assert_eq!(reach(&hist, tl(3), lsn(9, 0)), [(tl(3), lsn(9, 0))]);
        assert_eq!(reach(&hist, tl(7), lsn(1, 0)), [(tl(7), lsn(1, 0))]);
        assert_eq!(
            reach(&BTreeMap::new(), tl(1), lsn(1, 0)),
            [(tl(1), lsn(1, 0))]
        );
    }

    /// Two recoveries of timeline 1 to the same point: timelines 2 and 3
    /// both begin at 0/4000100.
    fn twins() -> (Vec<WalFacts>, BTreeMap<TimelineId, Vec<HistoryEntry>>) {
        let wal = [
            segs(1, 1..=3),
            vec![partial(1, 4), history_file(2), history_file(3)],
            segs(2, 4..=6),
            segs(3, 4..=7),
        ]
        .concat();
        let hist = histories(&[(2, &[(1, lsn(4, 0x100))]), (3, &[(1, lsn(4, 0x100))])]);
        (wal, hist)
    }

    #[test]
    fn two_children_branching_at_the_same_point() {
        let (wal, hist) = twins();
        let backups = [complete(1, lsn(2, 0x28), days_ago(2))];
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "keep base_000000010000000002000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 from 000000010000000000000002, kept 3 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            timeline 2 from 000000020000000000000004, kept 3 deleted 0 (0 B): backup base_000000010000000002000028 reads it from 0/4000100
            timeline 3 from 000000030000000000000004, kept 4 deleted 0 (0 B): backup base_000000010000000002000028 reads it from 0/4000100
            delete wal 000000010000000000000001
            freed 16 kept 1192",
        );
    }

    #[test]
    fn deletion_goes_oldest_first_across_timelines() {
        let (wal, hist) = twins();
        let backups = [complete(3, lsn(5, 0x28), days_ago(2))];
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "keep base_000000030000000005000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 nothing, kept 0 deleted 4 (64 B): reached by no kept backup, so none can replay it: all its WAL is deleted
            timeline 2 nothing, kept 0 deleted 3 (48 B): reached by no kept backup, so none can replay it: all its WAL is deleted
            timeline 3 from 000000030000000000000005, kept 3 deleted 1 (16 B): backup base_000000030000000005000028 reads it from 0/5000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004.partial
            delete wal 000000020000000000000004
            delete wal 000000030000000000000004
            delete wal 000000020000000000000005
            delete wal 000000020000000000000006
            freed 128 kept 1080",
        );
    }

    #[test]
    fn backup_history_and_partial_files_follow_their_segment() {
        let wal = [
            segs(1, 1..=4),
            vec![
                backup_file(1, lsn(2, 0x28)),
                partial(1, 5),
                history_file(2),
                backup_file(2, lsn(6, 0x28)),
                backup_file(2, lsn(7, 0x28)),
            ],
            segs(2, 5..=8),
        ]
        .concat();
        let hist = histories(&[(2, &[(1, lsn(5, 0x10))])]);
        let backups = [
            complete(1, lsn(2, 0x28), days_ago(9)),
            complete(2, lsn(6, 0x28), days_ago(5)),
            complete(2, lsn(7, 0x28), days_ago(1)),
        ];
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "DROP base_000000010000000002000028: outside the retention policy
            DROP base_000000020000000006000028: outside the retention policy
            keep base_000000020000000007000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 nothing, kept 0 deleted 6 (96 B): reached by no kept backup, so none can replay it: all its WAL is deleted
            timeline 2 from 000000020000000000000007, kept 3 deleted 3 (48 B): backup base_000000020000000007000028 reads it from 0/7000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000002.00000028.backup
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005.partial
            delete wal 000000020000000000000005
            delete wal 000000020000000000000006
            delete wal 000000020000000000000006.00000028.backup
            delete backup base_000000010000000002000028
            delete backup base_000000020000000006000028
            freed 2144 kept 1064",
        );
    }

    #[test]
    fn wal_gaps_change_nothing() {
        let wal = [segs(1, 1..=3), segs(1, 6..=8)].concat();
        let backups = [complete(1, lsn(2, 0x28), days_ago(2))];
        assert_plan(
            &run(&backups, &wal, &BTreeMap::new(), &full(1)),
            "keep base_000000010000000002000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 from 000000010000000000000002, kept 5 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            delete wal 000000010000000000000001
            freed 16 kept 1080",
        );
        // The floor itself is missing: still nothing above it goes.
        let backups = [complete(1, lsn(5, 0x28), days_ago(2))];
        assert_plan(
            &run(&backups, &wal, &BTreeMap::new(), &full(1)),
            "keep base_000000010000000005000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 from 000000010000000000000005, kept 3 deleted 3 (48 B): backup base_000000010000000005000028 reads it from 0/5000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            freed 48 kept 1048",
        );
    }

    #[test]
    fn backups_on_an_abandoned_timeline() {
        // Timeline 2 was a recovery test off timeline 1, which went on and
        // was later promoted into timeline 3; a backup was taken on each.
        let wal = [
            segs(1, 1..=10),
            vec![history_file(2), history_file(3)],
            segs(2, 4..=6),
            segs(3, 8..=9),
        ]
        .concat();
        let hist = histories(&[(2, &[(1, lsn(4, 0))]), (3, &[(1, lsn(8, 0))])]);
        let backups = [
            complete(1, lsn(2, 0x28), days_ago(10)),
            complete(2, lsn(5, 0x28), days_ago(5)),
            complete(3, lsn(9, 0x28), days_ago(1)),
        ];
        let week = Policy {
            retain_days: Some(7),
            ..policy()
        };
        assert_plan(
            &run(&backups, &wal, &hist, &week),
            "DROP base_000000010000000002000028: outside the retention policy
            keep base_000000020000000005000028: stopped within 7 days
            keep base_000000030000000009000028: stopped within 7 days; newest complete backup (never pruned)
            timeline 1 nothing, kept 0 deleted 10 (160 B): reached by no kept backup, so none can replay it: all its WAL is deleted
            timeline 2 from 000000020000000000000005, kept 2 deleted 1 (16 B): backup base_000000020000000005000028 reads it from 0/5000028
            timeline 3 from 000000030000000000000009, kept 1 deleted 1 (16 B): backup base_000000030000000009000028 reads it from 0/9000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000020000000000000004
            delete wal 000000010000000000000005
            delete wal 000000010000000000000006
            delete wal 000000010000000000000007
            delete wal 000000010000000000000008
            delete wal 000000030000000000000008
            delete wal 000000010000000000000009
            delete wal 00000001000000000000000A
            delete backup base_000000010000000002000028
            freed 1192 kept 2080",
        );
        assert_plan(
            &run(&backups, &wal, &hist, &full(3)),
            "keep base_000000010000000002000028: one of the 3 newest complete backups
            keep base_000000020000000005000028: one of the 3 newest complete backups
            keep base_000000030000000009000028: one of the 3 newest complete backups; newest complete backup (never pruned)
            timeline 1 from 000000010000000000000002, kept 9 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            timeline 2 from 000000020000000000000004, kept 3 deleted 0 (0 B): backup base_000000010000000002000028 reads it from 0/4000000
            timeline 3 from 000000030000000000000008, kept 2 deleted 0 (0 B): backup base_000000010000000002000028 reads it from 0/8000000
            delete wal 000000010000000000000001
            freed 16 kept 3256",
        );
    }

    #[test]
    fn unknown_ancestry_keeps_all_of_a_timeline() {
        let wal = [
            segs(1, 1..=5),
            segs(2, 3..=4),
            vec![history_file(3)],
            segs(3, 5..=6),
        ]
        .concat();
        let hist = histories(&[(3, &[(1, lsn(5, 0))])]);
        let backups = [complete(1, lsn(2, 0x28), days_ago(2))];
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "keep base_000000010000000002000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 from 000000010000000000000002, kept 4 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            timeline 2 all from 000000020000000000000003, kept 2 deleted 0 (0 B): no history file, ancestry unknown: all its WAL is kept
            timeline 3 from 000000030000000000000005, kept 2 deleted 0 (0 B): backup base_000000010000000002000028 reads it from 0/5000000
            delete wal 000000010000000000000001
            warning: timeline 2 has no history file: its ancestry is unknown, so all its WAL is kept
            freed 16 kept 1144",
        );
        // The live timeline without a history file: both warnings.
        let wal = [wal, segs(4, 7..=7)].concat();
        assert_plan(
            &run(&backups, &wal, &hist, &full(1)),
            "keep base_000000010000000002000028: the newest complete backup (retain 1); newest complete backup (never pruned)
            timeline 1 from 000000010000000000000002, kept 4 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            timeline 2 all from 000000020000000000000003, kept 2 deleted 0 (0 B): no history file, ancestry unknown: all its WAL is kept
            timeline 3 from 000000030000000000000005, kept 2 deleted 0 (0 B): backup base_000000010000000002000028 reads it from 0/5000000
            timeline 4 all from 000000040000000000000007, kept 1 deleted 0 (0 B): the newest timeline, reached by no kept backup: all its WAL is kept
            delete wal 000000010000000000000001
            warning: timeline 2 has no history file: its ancestry is unknown, so all its WAL is kept
            warning: timeline 4 has no history file: its ancestry is unknown, so all its WAL is kept
            warning: no kept backup can reach timeline 4: take a new backup
            freed 16 kept 1160",
        );
    }

    #[test]
    fn live_timeline_known_only_from_its_history_file() {
        let (mut wal, mut hist) = one_branch();
        // Promoted to timeline 3 a moment ago: only its history is archived.
        wal.push(history_file(3));
        hist.insert(
            tl(3),
            histories(&[(3, &[(2, lsn(9, 0x10))])])[&tl(3)].clone(),
        );
        let backups = [complete(2, lsn(7, 0x28), days_ago(1))];
        let plan = run(&backups, &wal, &hist, &full(1));
        assert_eq!(plan.timelines.len(), 2);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        // Timeline 2 is no longer the newest, but its backup reaches 3.
        let backups = [complete(2, lsn(9, 0x28), days_ago(1))];
        let plan = run(&backups, &wal, &hist, &full(1));
        assert_eq!(
            plan.warnings,
            ["no kept backup can reach timeline 3: take a new backup"]
        );
    }

    #[test]
    fn clock_behind_every_backup() {
        let (mut backups, wal) = five();
        backups.push(incomplete(1, lsn(11, 0x28), Some(days_ago(1))));
        let policy = Policy {
            retain_days: Some(2),
            recovery_window_days: Some(3),
            ..policy()
        };
        assert_plan(
            &run_at(days_ago(10), &backups, &wal, &BTreeMap::new(), &policy),
            "keep base_000000010000000002000028: stopped within 2 days; within the 3-day recovery window
            keep base_000000010000000004000028: stopped within 2 days; within the 3-day recovery window
            keep base_000000010000000006000028: stopped within 2 days; within the 3-day recovery window
            keep base_000000010000000008000028: stopped within 2 days; within the 3-day recovery window
            keep base_00000001000000000A000028: stopped within 2 days; within the 3-day recovery window; newest complete backup (never pruned)
            keep base_00000001000000000B000028 (incomplete): incomplete, 0s old: may still be running
            timeline 1 from 000000010000000000000002, kept 11 deleted 1 (16 B): backup base_000000010000000002000028 reads it from 0/2000028
            delete wal 000000010000000000000001
            warning: backup base_000000010000000002000028 stop_time 2024-05-23 12:00:00 UTC is in the future (clock skew?)
            warning: backup base_000000010000000004000028 stop_time 2024-05-25 12:00:00 UTC is in the future (clock skew?)
            warning: backup base_000000010000000006000028 stop_time 2024-05-27 12:00:00 UTC is in the future (clock skew?)
            warning: backup base_000000010000000008000028 stop_time 2024-05-29 12:00:00 UTC is in the future (clock skew?)
            warning: backup base_00000001000000000A000028 stop_time 2024-05-31 12:00:00 UTC is in the future (clock skew?)
            warning: incomplete backup base_00000001000000000B000028 was written at 2024-05-31 12:00:00 UTC, in the future (clock skew?)
            freed 16 kept 5676",
        );
    }

    #[test]
    fn clock_far_ahead_of_every_backup() {
        let (mut backups, wal) = five();
        backups.push(incomplete(1, lsn(11, 0x28), Some(days_ago(1))));
        let policy = Policy {
            retain_days: Some(2),
            recovery_window_days: Some(3),
            ..policy()
        };
        let later = Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap();
        assert_plan(
            &run_at(later, &backups, &wal, &BTreeMap::new(), &policy),
            "DROP base_000000010000000002000028: outside the retention policy
            DROP base_000000010000000004000028: outside the retention policy
            DROP base_000000010000000006000028: outside the retention policy
            DROP base_000000010000000008000028: outside the retention policy
            keep base_00000001000000000A000028: newest backup before the 3-day recovery window; newest complete backup (never pruned)
            DROP base_00000001000000000B000028 (incomplete): incomplete for 27607d: interrupted
            timeline 1 from 00000001000000000000000A, kept 3 deleted 9 (144 B): backup base_00000001000000000A000028 reads it from 0/A000028
            delete wal 000000010000000000000001
            delete wal 000000010000000000000002
            delete wal 000000010000000000000003
            delete wal 000000010000000000000004
            delete wal 000000010000000000000005
            delete wal 000000010000000000000006
            delete wal 000000010000000000000007
            delete wal 000000010000000000000008
            delete wal 000000010000000000000009
            delete backup base_000000010000000002000028
            delete backup base_000000010000000004000028
            delete backup base_000000010000000006000028
            delete backup base_000000010000000008000028
            delete backup base_00000001000000000B000028
            freed 4644 kept 1048",
        );
    }

    #[test]
    fn extreme_clocks_and_policies_do_not_panic() {
        let (mut backups, mut wal) = five();
        backups.push(incomplete(1, lsn(11, 0x28), Some(DateTime::<Utc>::MAX_UTC)));
        backups.push(incomplete(1, lsn(12, 0x28), Some(DateTime::<Utc>::MIN_UTC)));
        wal[0].last_modified = Some(DateTime::<Utc>::MIN_UTC);
        wal[1].last_modified = Some(DateTime::<Utc>::MAX_UTC);
        for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            for grace in [Duration::MIN, Duration::zero(), Duration::MAX] {
                let policy = Policy {
                    retain_full: Some(u32::MAX),
                    retain_days: Some(u32::MAX),
                    recovery_window_days: Some(u32::MAX),
                    incomplete_grace: grace,
                };
                let plan = run_at(now, &backups, &wal, &BTreeMap::new(), &policy);
                assert!(plan.backups.iter().filter(|b| b.complete).all(|b| b.keep));
                assert_eq!(plan.delete_wal, [seg_name(1, 1)]);
            }
        }
    }

    #[test]
    fn freed_and_kept_bytes() {
        let (wal, hist) = one_branch();
        let wal: Vec<WalFacts> = wal
            .into_iter()
            .enumerate()
            .map(|(i, w)| WalFacts { size: 1 << i, ..w })
            .collect();
        let backups = [
            BackupFacts {
                stored_bytes: 1 << 20,
                ..complete(1, lsn(3, 0x28), days_ago(9))
            },
            BackupFacts {
                stored_bytes: 1 << 21,
                ..complete(2, lsn(8, 0x28), days_ago(1))
            },
            BackupFacts {
                stored_bytes: 1 << 22,
                ..incomplete(2, lsn(9, 0x28), Some(days_ago(3)))
            },
        ];
        let plan = run(&backups, &wal, &hist, &full(1));
        // Timeline 1 (files 0 to 5) goes; on timeline 2 (files 7 to 10),
        // segments 6 and 7 (files 7, 8) go.
        let timeline_2: u64 = (1 << 7) + (1 << 8);
        assert_eq!(plan.timelines[0].deleted_bytes, 0b11_1111);
        assert_eq!(plan.timelines[1].deleted_bytes, timeline_2);
        assert_eq!(
            plan.freed_bytes,
            (1 << 20) + (1 << 22) + 0b11_1111 + timeline_2
        );
        assert_eq!(plan.kept_bytes, (1 << 21) + (1 << 6) + (1 << 9) + (1 << 10));
        let total: u64 = wal.iter().map(|w| w.size).sum::<u64>()
            + backups.iter().map(|b| b.stored_bytes).sum::<u64>();
        assert_eq!(plan.freed_bytes + plan.kept_bytes, total);
    }

    #[test]
    fn plan_serializes_with_stable_field_names() {
        let (wal, hist) = one_branch();
        let backups = [complete(2, lsn(7, 0x28), days_ago(1))];
        let json = serde_json::to_value(run(&backups, &wal, &hist, &full(1))).unwrap();
        assert_eq!(
            json["backups"][0],
            serde_json::json!({
                "name": "base_000000020000000007000028",
                "keep": true,
                "complete": true,
                "reasons": ["the newest complete backup (retain 1)", "newest complete backup (never pruned)"],
                "stored_bytes": 1000,
                "objects": 3,
            })
        );
        assert_eq!(
            json["timelines"][1],
            serde_json::json!({
                "timeline": 2,
                "keep_from": "000000020000000000000007",
                "keep_all": false,
                "reason": "backup base_000000020000000007000028 reads it from 0/7000028",
                "kept_files": 3,
                "deleted_files": 1,
                "deleted_bytes": 16,
            })
        );
        assert_eq!(json["timelines"][0]["keep_from"], serde_json::Value::Null);
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "backups",
                "delete_backups",
                "delete_wal",
                "freed_bytes",
                "kept_bytes",
                "timelines",
                "warnings"
            ]
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashSet;

        #[derive(Debug, Clone)]
        struct TimelineSpec {
            parent: usize,
            branch: u64,
            len: u64,
            gaps: Option<(u16, u16)>,
            partial: bool,
            hide_history: bool,
            modified_hour: Option<i64>,
        }

        #[derive(Debug, Clone)]
        struct BackupSpec {
            timeline: usize,
            position: u64,
            complete: bool,
            stop_hour: i64,
            newest_hour: Option<i64>,
            /// Picks the backup an incremental builds on, if any.
            parent: Option<usize>,
        }

        #[derive(Debug, Clone)]
        struct Scenario {
            small_segments: bool,
            first_segment: u64,
            timelines: Vec<TimelineSpec>,
            backups: Vec<BackupSpec>,
            retain_full: Option<u32>,
            retain_days: Option<u32>,
            window_days: Option<u32>,
            grace_hours: i64,
            now_hour: i64,
        }

        fn timeline_spec() -> impl Strategy<Value = TimelineSpec> {
            (
                any::<usize>(),
                any::<u64>(),
                0..12u64,
                prop::option::of(any::<(u16, u16)>()),
                any::<bool>(),
                prop::bool::weighted(0.1),
                prop::option::weighted(0.9, -100..2000i64),
            )
                .prop_map(
                    |(parent, branch, len, gaps, partial, hide_history, modified_hour)| {
                        TimelineSpec {
                            parent,
                            branch,
                            len,
                            gaps,
                            partial,
                            hide_history,
                            modified_hour,
                        }
                    },
                )
        }

        fn backup_spec() -> impl Strategy<Value = BackupSpec> {
            (
                any::<usize>(),
                any::<u64>(),
                prop::bool::weighted(0.75),
                0..2000i64,
                prop::option::weighted(0.9, 0..2000i64),
                prop::option::weighted(0.4, any::<usize>()),
            )
                .prop_map(
                    |(timeline, position, complete, stop_hour, newest_hour, parent)| BackupSpec {
                        timeline,
                        position,
                        complete,
                        stop_hour,
                        newest_hour,
                        parent,
                    },
                )
        }

        fn scenario() -> impl Strategy<Value = Scenario> {
            (
                (
                    any::<bool>(),
                    1..4u64,
                    prop::collection::vec(timeline_spec(), 1..=5),
                    prop::collection::vec(backup_spec(), 0..8),
                ),
                (
                    prop::option::of(1..4u32),
                    prop::option::of(0..90u32),
                    prop::option::of(0..90u32),
                    0..48i64,
                    -100..2500i64,
                ),
            )
                .prop_map(
                    |(
                        (small_segments, first_segment, timelines, backups),
                        (retain_full, retain_days, window_days, grace_hours, now_hour),
                    )| Scenario {
                        small_segments,
                        first_segment,
                        timelines,
                        backups,
                        retain_full,
                        retain_days,
                        window_days,
                        grace_hours,
                        now_hour,
                    },
                )
        }

        struct World {
            backups: Vec<BackupFacts>,
            wal: Vec<WalFacts>,
            histories: BTreeMap<TimelineId, Vec<HistoryEntry>>,
            size: WalSegmentSize,
            now: DateTime<Utc>,
            policy: Policy,
        }

        impl World {
            fn plan(&self) -> Plan {
                let facts = Facts {
                    backups: &self.backups,
                    wal: &self.wal,
                    histories: &self.histories,
                    segment_size: self.size,
                    now: self.now,
                };
                plan(&facts, &self.policy)
            }
        }

        fn build(s: &Scenario) -> World {
            let base = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
            let hour = |h: i64| base + Duration::hours(h);
            let size = if s.small_segments {
                WalSegmentSize::MIN
            } else {
                WalSegmentSize::DEFAULT
            };
            let seg_bytes = u64::from(size.bytes());
            // Per timeline: where its WAL begins and its last segment.
            let mut extent: Vec<(TimelineId, Lsn, u64)> = Vec::new();
            let mut all_histories: BTreeMap<TimelineId, Vec<HistoryEntry>> = BTreeMap::new();
            let mut histories = BTreeMap::new();
            let mut wal = Vec::new();
            for (k, spec) in s.timelines.iter().enumerate() {
                let tli = TimelineId(k as u32 + 1);
                let begin = if k == 0 {
                    Lsn(s.first_segment * seg_bytes)
                } else {
                    let (parent, parent_begin, parent_end) = extent[spec.parent % k];
                    let span = (parent_end + 1) * seg_bytes - parent_begin.0;
                    let switchpoint = Lsn(parent_begin.0 + spec.branch % span);
                    let mut history = all_histories.get(&parent).cloned().unwrap_or_default();
                    history.push(HistoryEntry {
                        parent,
                        switchpoint,
                        reason: String::new(),
                    });
                    all_histories.insert(tli, history.clone());
                    if !spec.hide_history {
                        histories.insert(tli, history);
                        wal.push(WalFacts {
                            key: format!("{tli}.history"),
                            file: WalFileName::History(tli),
                            size: 100,
                            last_modified: spec.modified_hour.map(hour),
                        });
                    }
                    switchpoint
                };
                let first = begin.segno(size);
                let last = first + spec.len;
                extent.push((tli, begin, last));
                for segno in first..=last {
                    let bit = 1u16 << ((segno - first) % 16);
                    if spec.gaps.is_some_and(|(a, b)| a & b & bit != 0) {
                        continue;
                    }
                    let segment = SegmentName::from_segno(tli, segno, size);
                    let file = if segno == last && spec.partial {
                        WalFileName::Partial(segment)
                    } else {
                        WalFileName::Segment(segment)
                    };
                    wal.push(WalFacts {
                        key: file.file_name(),
                        file,
                        size: 100,
                        last_modified: spec.modified_hour.map(hour),
                    });
                }
            }
            let mut backups: Vec<BackupFacts> = Vec::new();
            for spec in &s.backups {
                let (tli, begin, last) = extent[spec.timeline % extent.len()];
                let span = (last + 1) * seg_bytes - begin.0;
                let start = Lsn(begin.0 + spec.position % span);
                let name = format!("base_{tli}{:016X}", start.0);
                if backups.iter().any(|b| b.name == name) {
                    continue;
                }
                // An incremental builds on an earlier complete backup of
                // its timeline, as backup-push --incremental picks one.
                let bases: Vec<&BackupFacts> = backups
                    .iter()
                    .filter(|b| {
                        b.complete
                            .as_ref()
                            .is_some_and(|c| c.timeline == tli && c.start_lsn < start)
                    })
                    .collect();
                let parent = spec
                    .parent
                    .filter(|_| !bases.is_empty())
                    .map(|k| bases[k % bases.len()].name.clone());
                let complete = spec.complete.then(|| CompleteBackup {
                    timeline: tli,
                    start_lsn: start,
                    stop_lsn: Lsn(start.0 + 0x1000),
                    stop_time: hour(spec.stop_hour),
                    parent,
                });
                let newest_object = match &complete {
                    Some(c) => Some(c.stop_time),
                    None => spec.newest_hour.map(hour),
                };
                backups.push(BackupFacts {
                    name,
                    complete,
                    newest_object,
                    stored_bytes: 1000,
                    objects: 3,
                });
                // PostgreSQL archives a `.backup` file when a backup completes.
                if spec.complete {
                    let segment = SegmentName::from_lsn(tli, start, size);
                    let file = WalFileName::Backup {
                        segment,
                        offset: start.segment_offset(size),
                    };
                    wal.push(WalFacts {
                        key: file.file_name(),
                        file,
                        size: 10,
                        last_modified: Some(hour(spec.stop_hour)),
                    });
                }
            }
            // Any order is allowed: hand them over in neither name nor WAL order.
            backups.reverse();
            wal.reverse();
            World {
                backups,
                wal,
                histories,
                size,
                now: hour(s.now_hour),
                policy: Policy {
                    retain_full: s.retain_full,
                    retain_days: s.retain_days,
                    recovery_window_days: s.window_days,
                    incomplete_grace: Duration::hours(s.grace_hours),
                },
            }
        }

        /// Keys of the WAL a recovery from `backup` reads to reach the
        /// newest segment of its timeline and of every timeline branched
        /// off it after its start, found by walking parent links (the last
        /// line of each history file) down from the backup's timeline.
        fn oracle_needs(world: &World, backup: &CompleteBackup) -> Vec<String> {
            let mut children: BTreeMap<TimelineId, Vec<(TimelineId, Lsn)>> = BTreeMap::new();
            for (&child, history) in &world.histories {
                if let Some(last) = history.last() {
                    children
                        .entry(last.parent)
                        .or_default()
                        .push((child, last.switchpoint));
                }
            }
            let mut needed = Vec::new();
            let mut todo = vec![(backup.timeline, backup.start_lsn)];
            while let Some((timeline, from)) = todo.pop() {
                for w in &world.wal {
                    if let Some(segment) = w.file.segment() {
                        if segment.timeline == timeline
                            && segment.segno(world.size) >= from.segno(world.size)
                        {
                            needed.push(w.key.clone());
                        }
                    }
                }
                for &(child, switchpoint) in children.get(&timeline).into_iter().flatten() {
                    if switchpoint >= from {
                        todo.push((child, switchpoint));
                    }
                }
            }
            needed
        }

        fn order_key(world: &World, key: &str) -> (u64, TimelineId) {
            let w = world.wal.iter().find(|w| w.key == key).unwrap();
            let segment = match &w.file {
                WalFileName::Segment(s) | WalFileName::Partial(s) => *s,
                WalFileName::Backup { segment, .. } => *segment,
                WalFileName::History(_) => panic!("history file {key} deleted"),
            };
            (segment.segno(world.size), segment.timeline)
        }

        proptest! {
            // Cheap cases: more of them find rare shapes (a backup exactly
            // at a switchpoint, a branch off a gap).
            #![proptest_config(ProptestConfig::with_cases(1024))]

            #[test]
            fn plans_are_safe(s in scenario()) {
                let world = build(&s);
                let plan = world.plan();
                let deleted_wal: HashSet<&str> = plan.delete_wal.iter().map(String::as_str).collect();
                let deleted_backups: HashSet<&str> =
                    plan.delete_backups.iter().map(String::as_str).collect();

                // (a) Every kept backup can still be restored to the end of
                // every timeline it reaches.
                for b in &world.backups {
                    let Some(complete) = &b.complete else { continue };
                    if deleted_backups.contains(b.name.as_str()) {
                        continue;
                    }
                    for key in oracle_needs(&world, complete) {
                        prop_assert!(
                            !deleted_wal.contains(key.as_str()),
                            "{} needs {key}, which the plan deletes", b.name
                        );
                    }
                }

                // (f) A kept incremental keeps what it builds on, down to
                // its full backup.
                for b in &world.backups {
                    let Some(parent) = b.complete.as_ref().and_then(|c| c.parent.as_deref()) else {
                        continue;
                    };
                    if !deleted_backups.contains(b.name.as_str()) {
                        prop_assert!(
                            !deleted_backups.contains(parent),
                            "{} is kept but its base {parent} is deleted", b.name
                        );
                    }
                }

                // (b) The newest complete backup survives: the one that
                // finished last, whatever its name.
                if let Some(newest) = world
                    .backups
                    .iter()
                    .filter_map(|b| b.complete.as_ref().map(|c| c.finished(&b.name)))
                    .max()
                {
                    prop_assert!(!deleted_backups.contains(newest.name));
                }

                // (c) Oldest first, history files never.
                let order: Vec<(u64, TimelineId)> =
                    plan.delete_wal.iter().map(|k| order_key(&world, k)).collect();
                prop_assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
                prop_assert_eq!(deleted_wal.len(), plan.delete_wal.len());

                // (e) Decisions and the deletion list agree.
                let dropped: Vec<&str> = plan
                    .backups
                    .iter()
                    .filter(|d| !d.keep)
                    .map(|d| d.name.as_str())
                    .collect();
                prop_assert_eq!(&dropped, &plan.delete_backups);
                prop_assert!(plan.backups.windows(2).all(|w| w[0].name < w[1].name));
                prop_assert_eq!(plan.backups.len(), world.backups.len());

                let total: u64 = world.wal.iter().map(|w| w.size).sum::<u64>()
                    + world.backups.iter().map(|b| b.stored_bytes).sum::<u64>();
                prop_assert_eq!(plan.freed_bytes + plan.kept_bytes, total);
                let per_timeline: usize =
                    plan.timelines.iter().map(|t| t.deleted_files).sum();
                prop_assert_eq!(per_timeline, plan.delete_wal.len());

                // (d) What is kept is a fixed point: pruning again right
                // after deletes nothing more.
                let after = World {
                    backups: world
                        .backups
                        .iter()
                        .filter(|b| !deleted_backups.contains(b.name.as_str()))
                        .cloned()
                        .collect(),
                    wal: world
                        .wal
                        .iter()
                        .filter(|w| !deleted_wal.contains(w.key.as_str()))
                        .cloned()
                        .collect(),
                    histories: world.histories.clone(),
                    ..world
                };
                let again = after.plan();
                prop_assert!(again.delete_wal.is_empty(), "{:?}", again.delete_wal);
                prop_assert!(again.delete_backups.is_empty(), "{:?}", again.delete_backups);
            }
        }
    }
}
