//! `prune`: plan what the retention policy keeps, print the plan, and with `--apply` delete the rest in an order that leaves the repository valid at every step.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use crate::cli::PruneArgs;
use crate::commands::progress::human_bytes;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::repo::inventory::Inventory;
use crate::repo::layout;
use crate::repo::manifest::Manifest;
use crate::repo::retention::{self, BackupFacts, CompleteBackup, Facts, Plan, Policy, WalFacts};
use crate::storage::ObjectStore;

pub async fn run(args: &PruneArgs, settings: &Settings) -> Result<()> {
    let policy = policy(settings, args)?;
    let store = settings.store()?;
    let inventory = Inventory::take(store.as_ref(), &settings.identities()?).await?;
    for problem in &inventory.history_problems {
        tracing::warn!("{problem}");
    }
    // Retention keeps each written timeline's newest backup; the fork itself
    // is for the operator to end (status reports it as critical).
    for fork in inventory.forks() {
        if fork.is_active(inventory.taken_at) {
            tracing::warn!("{}", fork.describe());
        } else {
            tracing::warn!("{}", fork.describe_settled(inventory.taken_at));
        }
    }
    if let Some((name, why)) = inventory.invalid_manifests().next() {
        return Err(Error::failed(format!(
            "{why}; prune cannot know which WAL backup {name} needs, so it deletes nothing: repair or remove the backup first (walden verify lists every problem)"
        )));
    }
    let backups = backup_facts(&inventory)?;
    let wal: Vec<WalFacts> = inventory
        .wal
        .iter()
        .map(|w| WalFacts {
            key: w.key.clone(),
            file: w.file.clone(),
            size: w.size,
            last_modified: w.last_modified,
        })
        .collect();
    let facts = Facts {
        backups: &backups,
        wal: &wal,
        histories: &inventory.histories,
        segment_size: inventory.segment_size(),
        now: inventory.taken_at,
    };
    let plan = retention::plan(&facts, &policy);
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    if args.json {
        let text = serde_json::to_string_pretty(&plan)
            .map_err(|e| Error::failed(format!("encoding the plan: {e}")))?;
        println!("{text}");
    } else if !(args.apply && settings.quiet()) {
        // A dry run's plan is what was asked for; after --apply it is a summary.
        print_plan(&plan, args.apply);
    }
    if !args.apply {
        return Ok(());
    }
    let deleted = apply(store.as_ref(), &inventory, &plan).await?;
    if !settings.quiet() {
        println!("{deleted}");
    }
    Ok(())
}

fn policy(settings: &Settings, args: &PruneArgs) -> Result<Policy> {
    let merged = settings.prune(&args.policy);
    if merged.retain_full.is_none()
        && merged.retain_days.is_none()
        && merged.wal_retain_days.is_none()
    {
        return Err(Error::usage(
            "prune needs a retention policy: --retain-full N and/or --retain-days D (or --wal-retain-days D), as flags, WALDEN_* variables or in the [prune] table",
        ));
    }
    Ok(Policy {
        retain_full: merged.retain_full,
        retain_days: merged.retain_days,
        recovery_window_days: merged.wal_retain_days,
        incomplete_grace: merged
            .incomplete_grace
            .map(|a| a.as_chrono())
            .unwrap_or_else(|| chrono::Duration::hours(24)),
    })
}

fn backup_facts(inventory: &Inventory) -> Result<Vec<BackupFacts>> {
    inventory
        .backups
        .iter()
        .map(|b| {
            Ok(BackupFacts {
                name: b.name.clone(),
                complete: b.manifest.as_ref().map(complete_facts).transpose()?,
                newest_object: b.newest_object,
                stored_bytes: b.stored_bytes,
                objects: b.objects,
            })
        })
        .collect()
}

/// What retention needs from a manifest.
pub fn complete_facts(manifest: &Manifest) -> Result<CompleteBackup> {
    let (start_lsn, stop_lsn) = manifest
        .lsn_range()
        .map_err(|e| Error::failed(format!("manifest of backup {}: {e}", manifest.name)))?;
    Ok(CompleteBackup {
        timeline: crate::pg::TimelineId(manifest.timeline),
        start_lsn,
        stop_lsn,
        stop_time: manifest.stop_time,
        parent: manifest.parent.clone(),
    })
}

fn print_plan(plan: &Plan, apply: bool) {
    println!("backups:");
    if plan.backups.is_empty() {
        println!("  (none)");
    }
    for b in &plan.backups {
        let verb = if b.keep { "keep  " } else { "delete" };
        let kind = if b.complete { "" } else { " (incomplete)" };
        println!(
            "  {verb} {}{kind}  {}  {}",
            b.name,
            human_bytes(b.stored_bytes),
            b.reasons.join("; ")
        );
    }
    println!("wal:");
    if plan.timelines.is_empty() {
        println!("  (none)");
    }
    for t in &plan.timelines {
        let kept = match (&t.keep_from, t.keep_all) {
            (_, true) => "keep all".to_string(),
            (Some(from), false) => format!("keep from {from}"),
            (None, false) => "keep none".to_string(),
        };
        println!(
            "  timeline {}: {kept} ({} files); delete {} files, {}  {}",
            t.timeline,
            t.kept_files,
            t.deleted_files,
            human_bytes(t.deleted_bytes),
            t.reason
        );
    }
    let deletions = plan.delete_backups.len() + plan.delete_wal.len();
    println!(
        "{} {} backups and {} WAL files, freeing {}; keeping {}",
        if apply { "deleting" } else { "would delete" },
        plan.delete_backups.len(),
        plan.delete_wal.len(),
        human_bytes(plan.freed_bytes),
        human_bytes(plan.kept_bytes)
    );
    if !apply && deletions > 0 {
        println!("dry run: nothing was deleted; run again with --apply to delete");
    }
}

/// Backups first (each: manifest, then the rest), then WAL oldest first:
/// interrupted anywhere, the repository holds complete backups, incomplete
/// ones that a later prune removes, and WAL without holes.
/// Returns the summary line.
async fn apply(store: &dyn ObjectStore, inventory: &Inventory, plan: &Plan) -> Result<String> {
    let mut deleted_backups = 0;
    for name in &plan.delete_backups {
        let listed: Vec<_> = inventory
            .backup_objects
            .iter()
            .filter(|m| layout::backup_name_of_key(&m.key) == Some(name.as_str()))
            .collect();
        let was_complete = listed
            .iter()
            .any(|m| m.key == layout::backup_manifest_key(name));
        if !was_complete && changed_since(store, name, inventory.taken_at).await? {
            tracing::warn!(backup = %name, "incomplete backup changed while prune ran (it is running, or just finished): left alone");
            continue;
        }
        let manifest = layout::backup_manifest_key(name);
        delete(store, &manifest).await?;
        delete_all(
            store,
            listed
                .iter()
                .map(|m| m.key.as_str())
                .filter(|k| *k != manifest),
        )
        .await?;
        tracing::info!(backup = %name, objects = listed.len(), "backup deleted");
        deleted_backups += 1;
    }
    let total = plan.delete_wal.len();
    for (chunk, keys) in plan.delete_wal.chunks(1000).enumerate() {
        delete_all(store, keys.iter().map(String::as_str)).await?;
        tracing::info!(deleted = chunk * 1000 + keys.len(), total, "deleting WAL");
    }
    Ok(format!(
        "deleted {deleted_backups} backups and {total} WAL files, freed {}",
        human_bytes(plan.freed_bytes)
    ))
}

/// Whether an incomplete backup gained objects (or its manifest) after the
/// listing: then it is alive, whatever the plan thought.
async fn changed_since(
    store: &dyn ObjectStore,
    name: &str,
    taken_at: DateTime<Utc>,
) -> Result<bool> {
    let prefix = layout::backup_prefix(name);
    let mut listing = store.list(&prefix);
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| Error::from(e).context(format!("re-listing {prefix}")))?;
        let newer = meta
            .last_modified
            .is_some_and(|t| DateTime::<Utc>::from(t) > taken_at);
        if newer || meta.key == layout::backup_manifest_key(name) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Deletes `keys` a few at a time, in order: a window of concurrent
/// requests (each one a round trip on S3 or GCS), never more ahead of the
/// oldest unfinished one. Interrupted, it leaves at most that window of
/// holes among what it was deleting, and none in what the plan keeps.
async fn delete_all<'a>(
    store: &dyn ObjectStore,
    keys: impl Iterator<Item = &'a str>,
) -> Result<()> {
    const IN_FLIGHT: usize = 16;
    futures::stream::iter(keys)
        .map(|key| delete(store, key))
        .buffered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

async fn delete(store: &dyn ObjectStore, key: &str) -> Result<()> {
    store.delete(key).await.map_err(|e| {
        Error::from(e).context(format!(
            "deleting {key} from {} (prune stopped; the repository is consistent, run it again)",
            store.url()
        ))
    })?;
    tracing::debug!(key, "deleted");
    Ok(())
}
