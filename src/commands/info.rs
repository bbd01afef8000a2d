//! `info`: what can be restored: the recoverable window of each timeline, the gaps that break it, and each backup's age, type and size.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ages;
use crate::cli::InfoArgs;
use crate::commands::progress::human_bytes;
use crate::config::Settings;
use crate::error::Result;
use crate::pg::WalFileName;
use crate::repo::catalog::Finished;
use crate::repo::inventory::Inventory;
use crate::repo::manifest::Manifest;
use crate::repo::window::{self, TimelineWindow};

/// `info --json`. Field names are stable.
#[derive(Debug, Serialize)]
struct Info {
    repo: String,
    checked_at: DateTime<Utc>,
    timelines: Vec<Timeline>,
    /// Complete backups, oldest first (by when they finished).
    backups: Vec<Backup>,
    /// Things that make the figures less certain (unreadable history files,
    /// invalid manifests, two clusters writing).
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Timeline {
    #[serde(flatten)]
    window: TimelineWindow,
    /// When the window's last segment was archived.
    end_archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
struct Backup {
    name: String,
    /// `full`; incremental backups will say `incremental`.
    #[serde(rename = "type")]
    kind: &'static str,
    timeline: u32,
    start_lsn: String,
    stop_lsn: String,
    stop_time: DateTime<Utc>,
    age_seconds: i64,
    pg_version: u32,
    bytes: u64,
    stored_bytes: u64,
}

pub async fn run(args: &InfoArgs, settings: &Settings) -> Result<()> {
    let store = settings.store()?;
    // Inventory::take refuses a missing or empty repository (exit 2), as
    // every reading command does.
    let inventory = Inventory::take(store.as_ref(), &settings.identities()?).await?;
    let info = gather(&inventory, store.url());
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).expect("info serializes")
        );
    } else {
        print_human(&info);
    }
    Ok(())
}

fn gather(inventory: &Inventory, repo: String) -> Info {
    let now = inventory.taken_at;
    let mut manifests: Vec<(&Manifest, u64)> = inventory
        .complete_backups()
        .filter_map(|b| Some((b.manifest.as_ref()?, b.stored_bytes)))
        .collect();
    manifests.sort_by(|a, b| Finished::of(a.0).cmp(&Finished::of(b.0)));
    let only: Vec<&Manifest> = manifests.iter().map(|(m, _)| *m).collect();
    let windows = window::windows(
        &only,
        &inventory.histories,
        &inventory.segments_by_timeline(),
        inventory.segment_size(),
    );
    let archived_at = |segment: &str| {
        inventory
            .wal
            .iter()
            .find(|w| matches!(&w.file, WalFileName::Segment(s) if s.to_string() == segment))
            .and_then(|w| w.last_modified)
    };
    let timelines = windows
        .into_iter()
        .map(|window| Timeline {
            end_archived_at: window.end.as_ref().and_then(|e| archived_at(&e.segment)),
            window,
        })
        .collect();
    let backups = manifests
        .iter()
        .map(|(m, stored)| Backup {
            name: m.name.clone(),
            kind: "full",
            timeline: m.timeline,
            start_lsn: m.start_lsn.clone(),
            stop_lsn: m.stop_lsn.clone(),
            stop_time: m.stop_time,
            age_seconds: now.signed_duration_since(m.stop_time).num_seconds(),
            pg_version: m.pg_version,
            bytes: m.bytes,
            stored_bytes: *stored,
        })
        .collect();
    let problems = inventory
        .unreadable()
        .chain(inventory.forks().iter().map(|f| f.describe()))
        .collect();
    Info {
        repo,
        checked_at: now,
        timelines,
        backups,
        problems,
    }
}

fn print_human(info: &Info) {
    let now = info.checked_at;
    let ago = |t: DateTime<Utc>| format!("{} ago", ages::short(now.signed_duration_since(t)));
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    println!("repository {}", info.repo);
    for t in &info.timelines {
        let w = &t.window;
        match (&w.start, &w.end) {
            (Some(start), Some(end)) => println!(
                "timeline {}: recoverable from {} ({}, when backup {} became consistent) to {} (end of {}{})",
                w.timeline,
                stamp(start.time),
                start.lsn,
                start.backup,
                end.lsn,
                end.segment,
                t.end_archived_at
                    .map(|a| format!(", archived {}", ago(a)))
                    .unwrap_or_default()
            ),
            _ => println!(
                "timeline {}: not recoverable: no backup reaches it with continuous WAL (newest segment {})",
                w.timeline,
                w.newest_segment.as_deref().unwrap_or("none")
            ),
        }
        if let (Some(end), Some(newest)) = (&w.end, &w.newest_segment) {
            if &end.segment != newest {
                println!(
                    "  WAL after {} up to {newest} cannot be replayed: a segment is missing",
                    end.segment
                );
            }
        }
        for gap in &w.gaps {
            println!(
                "  gap: {}..{} ({} segment(s) missing)",
                gap.first, gap.last, gap.segments
            );
        }
    }
    if info.backups.is_empty() {
        println!("no complete backups: nothing can be restored (run walden backup-push)");
    } else {
        println!(
            "{:<30} {:<5} {:>3} {:<23} {:>6} {:>10} {:>10}",
            "backup", "type", "tl", "finished", "age", "size", "stored"
        );
        for b in &info.backups {
            println!(
                "{:<30} {:<5} {:>3} {:<23} {:>6} {:>10} {:>10}",
                b.name,
                b.kind,
                b.timeline,
                stamp(b.stop_time),
                ages::short(now.signed_duration_since(b.stop_time)),
                human_bytes(b.bytes),
                human_bytes(b.stored_bytes)
            );
        }
    }
    for problem in &info.problems {
        println!("problem: {problem}");
    }
}
