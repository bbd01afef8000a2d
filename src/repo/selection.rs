//! Which backup a restore (or drill) uses and which timeline its recovery follows: the newest backup that fits the target, and never a guess when two clusters write into the repository. Pure: the repository's facts in, a choice or a refusal out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::pg::recovery::TargetTimeline;
use crate::pg::{HistoryEntry, TimelineId};
use crate::repo::catalog::{self, Finished, TargetBound};
use crate::repo::forks::{self, Fork};
use crate::repo::manifest::Manifest;
use crate::repo::retention::reach;

/// What the repository holds, as far as choosing a backup goes.
#[derive(Debug, Clone, Copy)]
pub struct Candidates<'a> {
    /// The complete backups, any order.
    pub backups: &'a [&'a Manifest],
    pub histories: &'a BTreeMap<TimelineId, Vec<HistoryEntry>>,
    pub forks: &'a [Fork],
    /// When the listing was taken: whether a fork is still active.
    pub now: DateTime<Utc>,
}

/// What the operator asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// A backup name, or `None` for "latest".
    pub backup: Option<&'a str>,
    pub bound: TargetBound,
    /// `--target-timeline`, if given.
    pub timeline: Option<TargetTimeline>,
}

/// The backup to restore, and the timeline recovery must follow when it
/// differs from what the operator asked (a forked repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<'a> {
    pub manifest: &'a Manifest,
    pub timeline: Option<TargetTimeline>,
    /// Set when the repository is forked: what the restore says about it.
    pub fork_note: Option<String>,
    /// Two clusters are archiving into the repository right now.
    pub active_fork: bool,
}

/// Chooses the backup. Without forks: the named backup (which must fit the
/// bound) or the newest one that fits. In a forked repository (see
/// [`forks`]) "latest" is refused with the candidates listed, unless
/// `--target-timeline N` says which line of history to follow; a named
/// backup on a forked timeline makes recovery follow that backup's own
/// timeline instead of hopping onto the other cluster's.
pub fn select<'a>(facts: Candidates<'a>, request: Request<'_>) -> Result<Selection<'a>> {
    let named = match request.backup {
        Some(name) => Some(
            *facts
                .backups
                .iter()
                .find(|m| m.name == name)
                .ok_or_else(|| Error::not_found(format!(
                    "backup {name} has no manifest: it does not exist or is incomplete (interrupted); see backup-list --all"
                )))?,
        ),
        None => None,
    };
    let active_fork = facts.forks.iter().any(|f| f.is_active(facts.now));
    let mut request = request;
    let mut settled_note = None;
    if !facts.forks.is_empty() && !active_fork && request.timeline.is_none() {
        // Every fork has settled: one side stopped receiving WAL a day ago.
        // Follow the side still written, if the forks agree on one.
        let mut live: Vec<TimelineId> = facts
            .forks
            .iter()
            .filter_map(|f| f.live_side(facts.now))
            .collect();
        live.sort();
        live.dedup();
        if let [only] = live[..] {
            let reachable = named.is_none_or(|m| reaches(facts.histories, m, only));
            if reachable {
                request.timeline = Some(TargetTimeline::Id(only));
                settled_note = Some(format!(
                    "the repository once had two clusters archiving into it; timeline {} is the one still written, so recovery follows it (see walden status)",
                    only.0
                ));
            }
        }
    }
    if facts.forks.is_empty() {
        let manifest = match named {
            Some(m) => {
                catalog::choose(&[m], request.bound)?;
                m
            }
            None => catalog::choose(facts.backups, request.bound)?,
        };
        return Ok(Selection {
            manifest,
            timeline: None,
            fork_note: None,
            active_fork,
        });
    }

    let forked_parent = |tli: u32| facts.forks.iter().any(|f| f.parent.0 == tli);
    match (named, request.timeline) {
        // A timeline number says which line of history.
        (_, Some(TargetTimeline::Id(n))) => {
            let reaching: Vec<&Manifest> = facts
                .backups
                .iter()
                .copied()
                .filter(|m| reaches(facts.histories, m, n))
                .collect();
            let manifest = match named {
                Some(m) if !reaching.iter().any(|r| r.name == m.name) => {
                    return Err(Error::usage(format!(
                        "backup {} cannot reach timeline {}: {}",
                        m.name,
                        n.0,
                        candidates_text(facts)
                    )))
                }
                Some(m) => {
                    catalog::choose(&[m], request.bound)?;
                    m
                }
                None if reaching.is_empty() => {
                    return Err(Error::usage(format!(
                        "no complete backup can reach timeline {}: {}",
                        n.0,
                        candidates_text(facts)
                    )))
                }
                None => catalog::choose(&reaching, request.bound)?,
            };
            Ok(Selection {
                manifest,
                timeline: Some(TargetTimeline::Id(n)),
                fork_note: Some(settled_note.unwrap_or_else(|| {
                    format!(
                        "the repository is forked (two clusters archive into it); following timeline {} as asked",
                        n.0
                    )
                })),
                active_fork,
            })
        }
        // A named backup picks its own line when it sits on a forked parent.
        (Some(m), None | Some(TargetTimeline::Current)) => {
            catalog::choose(&[m], request.bound)?;
            let own = forked_parent(m.timeline);
            Ok(Selection {
                active_fork,
                manifest: m,
                timeline: own.then_some(TargetTimeline::Current),
                fork_note: Some(if own {
                    format!(
                        "the repository is forked (two clusters archive into it); following backup {}'s own timeline {} only",
                        m.name, m.timeline
                    )
                } else {
                    "the repository is forked (two clusters archive into it): see walden status"
                        .to_string()
                }),
            })
        }
        (Some(m), Some(TargetTimeline::Latest)) if !forked_parent(m.timeline) => Ok(Selection {
            active_fork,
            manifest: m,
            timeline: None,
            fork_note: Some(
                "the repository is forked (two clusters archive into it): see walden status"
                    .to_string(),
            ),
        }),
        _ => Err(Error::usage(format!(
            "refusing to guess which line of history is the latest: {}",
            candidates_text(facts)
        ))),
    }
}

/// Whether recovery from `manifest` can follow timeline `target`.
fn reaches(
    histories: &BTreeMap<TimelineId, Vec<HistoryEntry>>,
    manifest: &Manifest,
    target: TimelineId,
) -> bool {
    let Ok((start, _)) = manifest.lsn_range() else {
        return false;
    };
    reach(histories, TimelineId(manifest.timeline), start)
        .iter()
        .any(|&(t, _)| t == target)
}

/// The live timelines of a forked repository, each with its newest segment
/// and newest backup, and how to pick one.
fn candidates_text(facts: Candidates) -> String {
    let mut lines = vec![
        "two clusters are archiving into this repository (a restored copy that kept archive_mode on, or a split brain):"
            .to_string(),
    ];
    for tli in forks::live_timelines(facts.forks) {
        let newest_segment = facts
            .forks
            .iter()
            .find_map(|f| {
                if f.parent == tli {
                    Some(f.parent_newest.clone())
                } else if f.child == tli {
                    f.child_newest.clone()
                } else {
                    None
                }
            })
            .unwrap_or_else(|| "none".to_string());
        let newest_backup = facts
            .backups
            .iter()
            .copied()
            .filter(|m| reaches(facts.histories, m, tli))
            .max_by(|a, b| Finished::of(a).cmp(&Finished::of(b)));
        let backup = match newest_backup {
            Some(m) => format!(
                "newest backup {} (finished {})",
                m.name,
                m.stop_time.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => "no backup reaches it".to_string(),
        };
        lines.push(format!(
            "  timeline {}: newest segment {newest_segment}, {backup}",
            tli.0
        ));
    }
    lines.push(
        "pick one with --target-timeline N (or name a backup), and stop the cluster that is not production from archiving here"
            .to_string(),
    );
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::Lsn;

    fn manifest(tli: u32, start: u64, stop_time: &str) -> Manifest {
        let mut m = crate::repo::manifest::good_fixture();
        m.name = format!("base_{tli:08X}{start:016X}");
        m.timeline = tli;
        m.start_lsn = Lsn(start).to_string();
        m.stop_lsn = Lsn(start + 0x1000).to_string();
        m.stop_time = stop_time.parse().unwrap();
        m
    }

    fn fork() -> Fork {
        Fork {
            parent: TimelineId(1),
            child: TimelineId(2),
            switchpoint: Lsn(0x5000100),
            branched_at: DateTime::<Utc>::UNIX_EPOCH,
            parent_newest: "000000010000000000000009".into(),
            child_newest: Some("000000020000000000000006".into()),
            parent_segments_after: 3,
            parent_last_arrival: Some(now()),
            child_last_arrival: Some(now()),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-01-01T13:00:00Z".parse().unwrap()
    }

    fn histories() -> BTreeMap<TimelineId, Vec<HistoryEntry>> {
        BTreeMap::from([(
            TimelineId(2),
            vec![HistoryEntry {
                parent: TimelineId(1),
                switchpoint: Lsn(0x5000100),
                reason: String::new(),
            }],
        )])
    }

    fn request(backup: Option<&str>, timeline: Option<TargetTimeline>) -> Request<'_> {
        Request {
            backup,
            bound: TargetBound::None,
            timeline,
        }
    }

    #[test]
    fn a_forked_repository_has_no_latest() {
        let early = manifest(1, 0x2000028, "2026-01-01T09:00:00Z");
        let production = manifest(1, 0x9000028, "2026-01-01T12:00:00Z");
        let clone = manifest(2, 0x6000028, "2026-01-01T11:00:00Z");
        let backups = [&early, &production, &clone];
        let hist = histories();
        let forks = [fork()];
        let facts = Candidates {
            backups: &backups,
            histories: &hist,
            forks: &forks,
            now: now(),
        };

        let err = select(facts, request(None, None)).unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::Usage);
        let text = err.to_string();
        assert!(text.contains("timeline 1: newest segment 000000010000000000000009, newest backup base_000000010000000009000028"), "{text}");
        assert!(text.contains("timeline 2: newest segment 000000020000000000000006, newest backup base_000000020000000006000028"), "{text}");
        assert!(select(facts, request(None, Some(TargetTimeline::Latest))).is_err());
        assert!(select(facts, request(None, Some(TargetTimeline::Current))).is_err());

        let one = select(
            facts,
            request(None, Some(TargetTimeline::Id(TimelineId(1)))),
        )
        .unwrap();
        assert_eq!(one.manifest.name, production.name);
        // The early backup reaches timeline 2 through its history, the
        // production one (after the switchpoint) does not.
        let two = select(
            facts,
            request(None, Some(TargetTimeline::Id(TimelineId(2)))),
        )
        .unwrap();
        assert_eq!(two.manifest.name, clone.name);
        assert!(select(
            facts,
            request(
                Some(&production.name),
                Some(TargetTimeline::Id(TimelineId(2)))
            )
        )
        .is_err());

        // A named production backup follows its own timeline, not latest.
        let named = select(facts, request(Some(&early.name), None)).unwrap();
        assert_eq!(named.timeline, Some(TargetTimeline::Current));
        assert!(select(
            facts,
            request(Some(&early.name), Some(TargetTimeline::Latest))
        )
        .is_err());
        let child = select(facts, request(Some(&clone.name), None)).unwrap();
        assert_eq!(child.timeline, None);
    }

    #[test]
    fn a_settled_fork_follows_the_side_still_written() {
        let early = manifest(1, 0x2000028, "2026-01-01T09:00:00Z");
        let production = manifest(1, 0x9000028, "2026-01-01T12:00:00Z");
        let clone = manifest(2, 0x6000028, "2026-01-01T11:00:00Z");
        let backups = [&early, &production, &clone];
        let hist = histories();
        // The clone stopped archiving two days ago; production goes on.
        let forks = [Fork {
            child_last_arrival: Some(now() - chrono::Duration::hours(48)),
            ..fork()
        }];
        let facts = Candidates {
            backups: &backups,
            histories: &hist,
            forks: &forks,
            now: now(),
        };
        let chosen = select(facts, request(None, None)).unwrap();
        assert_eq!(chosen.manifest.name, production.name);
        assert_eq!(chosen.timeline, Some(TargetTimeline::Id(TimelineId(1))));
        assert!(!chosen.active_fork);
        assert!(chosen
            .fork_note
            .unwrap()
            .contains("timeline 1 is the one still written"));
    }

    #[test]
    fn without_forks_latest_is_the_newest_to_finish() {
        let production = manifest(1, 0x9000028, "2026-01-01T12:00:00Z");
        let older_tl2 = manifest(2, 0x6000028, "2026-01-01T11:00:00Z");
        let backups = [&older_tl2, &production];
        let hist = histories();
        let facts = Candidates {
            backups: &backups,
            histories: &hist,
            forks: &[],
            now: now(),
        };
        let chosen = select(facts, request(None, None)).unwrap();
        assert_eq!(chosen.manifest.name, production.name);
        assert_eq!(chosen.timeline, None);
        assert!(select(facts, request(Some("base_000000010000000001000028"), None)).is_err());
    }
}
