//! `status`: is the archive protecting the cluster? Newest backup, newest WAL, gaps, size and drills, judged against thresholds with Nagios exit codes, and written as Prometheus metrics.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ages::{self, AgeThreshold, Severity};
use crate::cli::StatusArgs;
use crate::commands::progress::human_bytes;
use crate::config::{Settings, StatusSettings};
use crate::error::{Error, Kind, Result};
use crate::metrics::{self, Metric, MetricKind, Sample};
use crate::pg::{SegmentName, WalFileName};
use crate::repo::chains::Chains;
use crate::repo::continuity::{self, Span};
use crate::repo::drills::{self, DrillRecord, ListedDrill};
use crate::repo::forks::Fork;
use crate::repo::inventory::Inventory;

/// What status found. Field names are stable (`status --json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub repo: String,
    pub checked_at: DateTime<Utc>,
    pub backup_count: usize,
    /// The complete backups by type (they add up to `backup_count`).
    pub full_backup_count: usize,
    pub incremental_backup_count: usize,
    /// Chains the incremental backups form, one per full backup (or broken
    /// link) they build on.
    pub chain_count: usize,
    /// Each place a chain of incremental backups breaks, with the backups it
    /// leaves unrestorable (a warning).
    pub broken_chains: Vec<String>,
    pub incomplete_backup_count: usize,
    pub last_backup: Option<String>,
    pub last_backup_time: Option<DateTime<Utc>>,
    pub last_backup_stored_bytes: Option<u64>,
    pub last_backup_bytes: Option<u64>,
    pub last_wal: Option<String>,
    /// The WAL position up to which the archive holds the newest segment.
    pub last_wal_lsn: Option<String>,
    pub last_wal_time: Option<DateTime<Utc>>,
    pub wal_files: usize,
    /// Segments missing between the newest backup and the newest WAL.
    pub wal_gap_segments: u64,
    pub wal_gaps: Vec<continuity::Gap>,
    pub repo_bytes: u64,
    pub repo_objects: usize,
    pub last_drill: Option<DrillRecord>,
    pub last_successful_drill_time: Option<DateTime<Utc>>,
    pub problems: Vec<String>,
    /// Timelines written at once by two clusters (always critical).
    pub forks: Vec<Fork>,
}

/// Figures with a verdict.
#[derive(Debug, Serialize)]
struct Report {
    status: &'static str,
    reasons: Vec<String>,
    #[serde(flatten)]
    figures: Figures,
}

pub async fn run(args: &StatusArgs, settings: &Settings) -> Result<()> {
    let thresholds = settings.status(&args.thresholds);
    let store = settings.store()?;
    let url = store.url();
    let figures = match gather(store.as_ref(), settings).await {
        Ok(figures) => figures,
        Err(e) => {
            // The verdict first, always; then monitoring must hear about an
            // unreadable repository too.
            println!("WALDEN CRITICAL: cannot read the repository {url}: {e}");
            if let Some(path) = &args.prometheus {
                report_metrics_failure(write_metrics(path, &url, None, Severity::Critical));
            }
            return Err(Error::new(Kind::Critical, e.source));
        }
    };
    let (severity, reasons) = assess(&figures, &thresholds, figures.checked_at);
    let word = severity_word(severity);
    if args.json {
        let report = Report {
            status: word,
            reasons: reasons.clone(),
            figures: figures.clone(),
        };
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::failed(format!("encoding the report: {e}")))?;
        println!("{text}");
    } else if !(severity == Severity::Ok && settings.quiet()) {
        print_human(&figures, severity, &reasons);
    }
    // After the verdict: a metrics file that cannot be written must not hide
    // what status found. It is UNKNOWN (3) unless the verdict is worse.
    if let Some(path) = &args.prometheus {
        let written = write_metrics(path, &url, Some(&figures), severity);
        if severity != Severity::Critical {
            written?;
        } else {
            report_metrics_failure(written);
        }
    }
    match severity {
        Severity::Ok => Ok(()),
        Severity::Warning => Err(Error::new(
            Kind::Warning,
            anyhow::anyhow!("status WARNING: {}", reasons.join("; ")),
        )),
        Severity::Critical => Err(Error::new(
            Kind::Critical,
            anyhow::anyhow!("status CRITICAL: {}", reasons.join("; ")),
        )),
    }
}

async fn gather(store: &dyn crate::storage::ObjectStore, settings: &Settings) -> Result<Figures> {
    let inventory = Inventory::take(store, &settings.identities()?).await?;
    let size = inventory.segment_size();
    let newest = inventory.newest_backup();
    let last_wal = inventory
        .wal
        .iter()
        .filter_map(|w| match &w.file {
            WalFileName::Segment(s) => Some((w, *s)),
            _ => None,
        })
        .max_by_key(|(w, s)| (w.last_modified, s.start_lsn(size), s.timeline));
    let wal_gaps = match newest {
        Some((_, manifest)) => continuity::gaps(
            Span::of(manifest)
                .map_err(|e| Error::failed(format!("backup {}: {e}", manifest.name)))?,
            &inventory.histories,
            &inventory.segments_by_timeline(),
            size,
        ),
        None => Vec::new(),
    };
    let listed: Vec<ListedDrill> = inventory
        .drills
        .iter()
        .filter_map(drills::parse_key)
        .collect();
    let last_drill = match listed.last() {
        Some(drill) => Some(drills::load(store, &drill.key).await?),
        None => None,
    };
    let chains = Chains::of_entries(&inventory.backups);
    let summary = chains.summary();
    Ok(Figures {
        repo: store.url(),
        forks: inventory.forks(),
        checked_at: inventory.taken_at,
        backup_count: inventory.complete_backups().count(),
        full_backup_count: summary.full,
        incremental_backup_count: summary.incremental,
        chain_count: summary.chains,
        broken_chains: chains
            .breaks()
            .into_iter()
            .map(|(b, affected)| b.describe(&affected))
            .collect(),
        incomplete_backup_count: inventory.incomplete_backups().count(),
        last_backup: newest.map(|(b, _)| b.name.clone()),
        last_backup_time: newest.map(|(_, m)| m.stop_time),
        last_backup_stored_bytes: newest.map(|(b, _)| b.stored_bytes),
        last_backup_bytes: newest.map(|(_, m)| m.bytes),
        last_wal: last_wal.map(|(w, _)| w.file.file_name()),
        last_wal_lsn: last_wal.map(|(_, s)| segment_end(s, size)),
        last_wal_time: last_wal.and_then(|(w, _)| w.last_modified),
        wal_files: inventory.wal.len(),
        wal_gap_segments: wal_gaps.iter().map(|g| g.segments).sum(),
        wal_gaps,
        repo_bytes: inventory.total_bytes,
        repo_objects: inventory.total_objects,
        last_drill,
        last_successful_drill_time: listed
            .iter()
            .rev()
            .find(|d| d.success)
            .and_then(|d| d.finished),
        problems: inventory.unreadable().collect(),
    })
}

fn segment_end(segment: SegmentName, size: crate::pg::WalSegmentSize) -> String {
    crate::pg::Lsn(segment.start_lsn(size).0 + u64::from(size.bytes())).to_string()
}

/// The verdict and its reasons. Pure: `now` is given.
pub fn assess(
    figures: &Figures,
    thresholds: &StatusSettings,
    now: DateTime<Utc>,
) -> (Severity, Vec<String>) {
    let mut findings: Vec<(Severity, String)> = Vec::new();
    let mut by_age = |what: &str,
                      time: Option<DateTime<Utc>>,
                      threshold: Option<AgeThreshold>,
                      missing: &str| {
        let Some(threshold) = threshold else {
            return;
        };
        match time {
            None => findings.push((Severity::Critical, missing.to_string())),
            Some(time) => {
                let age = now.signed_duration_since(time);
                let severity = threshold.judge(age);
                if severity != Severity::Ok {
                    findings.push((
                        severity,
                        format!(
                            "{what} is {} old (warning after {}, critical after {})",
                            ages::short(age),
                            threshold.warning,
                            threshold.critical
                        ),
                    ));
                }
            }
        }
    };
    by_age(
        "the newest backup",
        figures.last_backup_time,
        Some(thresholds.max_backup_age),
        "no complete backup in the repository",
    );
    by_age(
        "the newest archived WAL",
        figures.last_wal_time,
        thresholds.max_wal_age,
        "no WAL archived",
    );
    by_age(
        "the newest successful drill",
        figures.last_successful_drill_time,
        thresholds.max_drill_age,
        "no successful drill recorded",
    );
    if figures.wal_gap_segments > 0 {
        let first = &figures.wal_gaps[0];
        findings.push((
            Severity::Critical,
            format!(
                "{} WAL segment(s) missing after the newest backup (first: {}): recovery stops there",
                figures.wal_gap_segments, first.first
            ),
        ));
    }
    if let Some(drill) = figures.last_drill.as_ref().filter(|d| !d.success) {
        findings.push((
            Severity::Critical,
            format!(
                "the last drill ({}, backup {}) failed: {}",
                drill.finished.format("%Y-%m-%d %H:%M UTC"),
                drill.backup,
                drill.error.as_deref().unwrap_or("see its record")
            ),
        ));
    }
    for fork in &figures.forks {
        if fork.is_active(now) {
            findings.push((Severity::Critical, fork.describe()));
        } else {
            findings.push((Severity::Warning, fork.describe_settled(now)));
        }
    }
    for problem in &figures.problems {
        findings.push((Severity::Warning, problem.clone()));
    }
    for broken in &figures.broken_chains {
        findings.push((Severity::Warning, broken.clone()));
    }
    let severity = findings
        .iter()
        .map(|(s, _)| *s)
        .max()
        .unwrap_or(Severity::Ok);
    findings.sort_by_key(|f| std::cmp::Reverse(f.0));
    (severity, findings.into_iter().map(|(_, r)| r).collect())
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Ok => "OK",
        Severity::Warning => "WARNING",
        Severity::Critical => "CRITICAL",
    }
}

fn print_human(figures: &Figures, severity: Severity, reasons: &[String]) {
    let now = figures.checked_at;
    let age = |t: Option<DateTime<Utc>>| {
        t.map(|t| format!("{} ago", ages::short(now.signed_duration_since(t))))
            .unwrap_or_else(|| "never".to_string())
    };
    let headline = if reasons.is_empty() {
        format!(
            "newest backup {}, WAL archived {}, no gaps",
            age(figures.last_backup_time),
            age(figures.last_wal_time)
        )
    } else {
        reasons.join("; ")
    };
    let backup_age = figures
        .last_backup_time
        .map(|t| now.signed_duration_since(t).num_seconds())
        .unwrap_or(-1);
    println!(
        "WALDEN {}: {headline} | backup_age={backup_age}s backups={} wal_gaps={} repo_bytes={}B",
        severity_word(severity),
        figures.backup_count,
        figures.wal_gap_segments,
        figures.repo_bytes
    );
    println!(
        "repository:    {} ({} objects, {})",
        figures.repo,
        figures.repo_objects,
        human_bytes(figures.repo_bytes)
    );
    match (&figures.last_backup, figures.last_backup_stored_bytes) {
        (Some(name), Some(stored)) => println!(
            "newest backup: {name}, finished {}, {} stored; {} complete, {} incomplete",
            age(figures.last_backup_time),
            human_bytes(stored),
            figures.backup_count,
            figures.incomplete_backup_count
        ),
        _ => println!("newest backup: none"),
    }
    println!("backups:       {}", backup_counts(figures));
    match &figures.last_wal {
        Some(name) => println!(
            "newest WAL:    {name} (up to {}), archived {}; {} files",
            figures.last_wal_lsn.as_deref().unwrap_or("?"),
            age(figures.last_wal_time),
            figures.wal_files
        ),
        None => println!("newest WAL:    none"),
    }
    for gap in &figures.wal_gaps {
        println!(
            "WAL gap:       {}..{} ({} segments) on timeline {}",
            gap.first, gap.last, gap.segments, gap.timeline
        );
    }
    match &figures.last_drill {
        Some(drill) => println!(
            "last drill:    {} {}, backup {}, RTO {}, RPO {}",
            if drill.success { "succeeded" } else { "FAILED" },
            age(Some(drill.finished)),
            drill.backup,
            drill
                .rto_seconds
                .map(|s| format!("{s:.1}s"))
                .unwrap_or_else(|| "-".into()),
            drill
                .rpo_seconds
                .map(|s| format!("{s:.1}s"))
                .unwrap_or_else(|| "-".into())
        ),
        None => println!("last drill:    never (run walden drill to prove the backups restore)"),
    }
}

/// "5 (2 full, 3 incremental in 2 chains)": the complete backups by type.
fn backup_counts(figures: &Figures) -> String {
    let total = figures.backup_count;
    let mut text = match (figures.full_backup_count, figures.incremental_backup_count) {
        (0, 0) => total.to_string(),
        (full, 0) => format!("{total} ({full} full)"),
        (full, incremental) => format!(
            "{total} ({full} full, {incremental} incremental in {} chain{})",
            figures.chain_count,
            if figures.chain_count == 1 { "" } else { "s" }
        ),
    };
    if !figures.broken_chains.is_empty() {
        text.push_str(&format!(
            "; {} broken chain link{}",
            figures.broken_chains.len(),
            if figures.broken_chains.len() == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    text
}

/// Logs a metrics file that could not be written, when the verdict (already
/// printed, and the exit code) is critical anyway.
fn report_metrics_failure(written: Result<()>) {
    if let Err(e) = written {
        tracing::error!("{e}");
    }
}

/// Writes the node_exporter textfile. `figures` is `None` when the
/// repository could not be read.
fn write_metrics(
    path: &Path,
    repo: &str,
    figures: Option<&Figures>,
    severity: Severity,
) -> Result<()> {
    let labelled = |name, help, value: f64| Metric {
        name,
        help,
        kind: MetricKind::Gauge,
        samples: vec![Sample {
            labels: vec![("repo", repo.to_string())],
            value,
        }],
    };
    let stamp = |t: Option<DateTime<Utc>>| t.map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0);
    let mut list = vec![
        labelled(
            "walden_status",
            "Verdict of walden status: 0 OK, 1 warning, 2 critical.",
            severity as u8 as f64,
        ),
        labelled(
            "walden_repo_readable",
            "1 if walden status could read the repository.",
            if figures.is_some() { 1.0 } else { 0.0 },
        ),
    ];
    if let Some(f) = figures {
        let drill = f.last_drill.as_ref();
        list.extend([
            labelled(
                "walden_last_backup_timestamp_seconds",
                "When the newest complete backup finished (0: none).",
                stamp(f.last_backup_time),
            ),
            labelled(
                "walden_last_backup_stored_bytes",
                "Stored size of the newest complete backup.",
                f.last_backup_stored_bytes.unwrap_or(0) as f64,
            ),
            labelled(
                "walden_backup_count",
                "Complete backups in the repository.",
                f.backup_count as f64,
            ),
            labelled(
                "walden_incremental_backups",
                "Complete incremental backups (each restores with the backups it builds on).",
                f.incremental_backup_count as f64,
            ),
            labelled(
                "walden_broken_backup_chains",
                "Places where a chain of incremental backups breaks: a backup it builds on is gone, incomplete, of another cluster or a loop.",
                f.broken_chains.len() as f64,
            ),
            labelled(
                "walden_incomplete_backups",
                "Backups without a manifest (running or interrupted).",
                f.incomplete_backup_count as f64,
            ),
            labelled(
                "walden_last_wal_archived_timestamp_seconds",
                "When the newest WAL segment was archived (0: none).",
                stamp(f.last_wal_time),
            ),
            labelled(
                "walden_wal_files",
                "WAL files in the archive.",
                f.wal_files as f64,
            ),
            labelled(
                "walden_wal_gaps",
                "WAL segments missing after the newest backup.",
                f.wal_gap_segments as f64,
            ),
            labelled(
                "walden_timeline_forks",
                "Parent timelines still written after a child branched off (two clusters writing into one repository).",
                f.forks.len() as f64,
            ),
            labelled(
                "walden_repo_bytes",
                "Stored bytes in the repository.",
                f.repo_bytes as f64,
            ),
            labelled(
                "walden_repo_objects",
                "Objects in the repository.",
                f.repo_objects as f64,
            ),
            labelled(
                "walden_last_drill_timestamp_seconds",
                "When the last restore drill finished (0: never).",
                stamp(drill.map(|d| d.finished)),
            ),
            labelled(
                "walden_last_drill_success",
                "1 if the last restore drill succeeded, 0 if it failed; NaN before the first drill.",
                // NaN, not 0, when no drill has run: `== 0` must mean a drill
                // failed, or a fresh install pages someone as if a restore had.
                drill.map_or(f64::NAN, |d| f64::from(u8::from(d.success))),
            ),
            labelled(
                "walden_last_successful_drill_timestamp_seconds",
                "When the last successful restore drill finished (0: never).",
                stamp(f.last_successful_drill_time),
            ),
            labelled(
                "walden_last_drill_rto_seconds",
                "Time from the start of the last drill until its cluster was ready.",
                drill.and_then(|d| d.rto_seconds).unwrap_or(f64::NAN),
            ),
            labelled(
                "walden_last_drill_rpo_seconds",
                "Age of the newest commit the last drill replayed, at the end of replay.",
                drill.and_then(|d| d.rpo_seconds).unwrap_or(f64::NAN),
            ),
        ]);
    }
    metrics::write_textfile(path, &metrics::render(&list))
        .map_err(|e| Error::usage(format!("the verdict above is not in the metrics file: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ages::Age;
    use std::time::Duration;

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn thresholds() -> StatusSettings {
        StatusSettings {
            max_backup_age: "26h".parse().unwrap(),
            max_wal_age: Some("15m,1h".parse().unwrap()),
            max_drill_age: None,
        }
    }

    fn healthy() -> Figures {
        Figures {
            checked_at: now(),
            backup_count: 1,
            last_backup: Some("base_000000010000000002000028".into()),
            last_backup_time: Some(now() - chrono::Duration::hours(3)),
            last_wal_time: Some(now() - chrono::Duration::minutes(2)),
            ..Figures::default()
        }
    }

    #[test]
    fn healthy_is_ok() {
        let (severity, reasons) = assess(&healthy(), &thresholds(), now());
        assert_eq!(severity, Severity::Ok, "{reasons:?}");
    }

    #[test]
    fn ages_give_warnings_then_criticals() {
        let mut f = healthy();
        f.last_backup_time = Some(now() - chrono::Duration::hours(30));
        let (severity, reasons) = assess(&f, &thresholds(), now());
        assert_eq!(severity, Severity::Warning);
        assert!(
            reasons[0].contains("newest backup is 30h old"),
            "{reasons:?}"
        );
        f.last_wal_time = Some(now() - chrono::Duration::hours(2));
        let (severity, reasons) = assess(&f, &thresholds(), now());
        assert_eq!(severity, Severity::Critical);
        assert!(reasons[0].contains("WAL"), "critical first: {reasons:?}");
    }

    #[test]
    fn no_backup_a_gap_or_a_failed_drill_is_critical() {
        let mut f = healthy();
        f.last_backup_time = None;
        assert_eq!(assess(&f, &thresholds(), now()).0, Severity::Critical);

        let mut f = healthy();
        f.wal_gap_segments = 2;
        f.wal_gaps = vec![continuity::Gap {
            timeline: 1,
            first: "000000010000000000000005".into(),
            last: "000000010000000000000006".into(),
            segments: 2,
        }];
        let (severity, reasons) = assess(&f, &thresholds(), now());
        assert_eq!(severity, Severity::Critical);
        assert!(reasons[0].contains("000000010000000000000005"));

        let mut f = healthy();
        f.last_drill = Some(DrillRecord {
            format: 1,
            backup: "b".into(),
            started: now(),
            finished: now(),
            success: false,
            rto_seconds: None,
            rpo_seconds: None,
            last_replayed_commit: None,
            replayed_to_lsn: None,
            bytes_restored: 0,
            check: "SELECT 1".into(),
            error: Some("check query failed".into()),
            host: "h".into(),
            walden_version: "0".into(),
        });
        let (severity, reasons) = assess(&f, &thresholds(), now());
        assert_eq!(severity, Severity::Critical);
        assert!(reasons[0].contains("check query failed"));
    }

    #[test]
    fn a_drill_threshold_wants_a_successful_drill() {
        let mut t = thresholds();
        t.max_drill_age = Some("8d".parse().unwrap());
        let (severity, reasons) = assess(&healthy(), &t, now());
        assert_eq!(severity, Severity::Critical);
        assert!(reasons[0].contains("no successful drill"));
        let mut f = healthy();
        f.last_successful_drill_time = Some(now() - chrono::Duration::days(1));
        assert_eq!(assess(&f, &t, now()).0, Severity::Ok);
        let _ = Age(Duration::ZERO);
    }

    /// The value of `name` in a textfile `write_metrics` wrote.
    fn metric(text: &str, name: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn drill_success_is_nan_before_the_first_drill_and_0_only_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("walden.prom");
        let written = |f: &Figures| {
            write_metrics(&path, "/r", Some(f), Severity::Ok).unwrap();
            std::fs::read_to_string(&path).unwrap()
        };
        let never = written(&healthy());
        assert!(
            metric(&never, "walden_last_drill_success").is_nan(),
            "{never}"
        );
        assert_eq!(metric(&never, "walden_last_drill_timestamp_seconds"), 0.0);

        let mut f = healthy();
        let drill = |success| DrillRecord {
            format: 1,
            backup: "base_000000010000000002000028".into(),
            started: now(),
            finished: now(),
            success,
            rto_seconds: None,
            rpo_seconds: None,
            last_replayed_commit: None,
            replayed_to_lsn: None,
            bytes_restored: 0,
            check: String::new(),
            error: None,
            host: String::new(),
            walden_version: String::new(),
        };
        f.last_drill = Some(drill(false));
        assert_eq!(metric(&written(&f), "walden_last_drill_success"), 0.0);
        f.last_drill = Some(drill(true));
        assert_eq!(metric(&written(&f), "walden_last_drill_success"), 1.0);
    }

    #[test]
    fn a_broken_chain_is_a_warning_and_the_counts_say_how_many_chains() {
        let mut f = healthy();
        f.backup_count = 5;
        f.full_backup_count = 2;
        f.incremental_backup_count = 3;
        f.chain_count = 2;
        assert_eq!(assess(&f, &thresholds(), now()).0, Severity::Ok);
        assert_eq!(backup_counts(&f), "5 (2 full, 3 incremental in 2 chains)");

        let broken = "backup b builds on a, which is not in the repository: b cannot be restored";
        f.broken_chains = vec![broken.to_string()];
        let (severity, reasons) = assess(&f, &thresholds(), now());
        assert_eq!(severity, Severity::Warning);
        assert_eq!(reasons, [broken]);
        assert_eq!(
            backup_counts(&f),
            "5 (2 full, 3 incremental in 2 chains); 1 broken chain link"
        );

        f.incremental_backup_count = 0;
        f.chain_count = 0;
        f.full_backup_count = 5;
        f.broken_chains.clear();
        assert_eq!(backup_counts(&f), "5 (5 full)");
        assert_eq!(backup_counts(&Figures::default()), "0");
    }

    #[test]
    fn a_clock_in_the_past_is_not_stale() {
        let mut f = healthy();
        f.last_backup_time = Some(now() + chrono::Duration::hours(5));
        assert_eq!(assess(&f, &thresholds(), now()).0, Severity::Ok);
    }
}
