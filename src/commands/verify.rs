//! `verify`: re-read the repository and report every problem that would make a restore fail: corrupt or missing parts, WAL gaps, unreadable WAL, orphans and interrupted backups.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use crate::cli::VerifyArgs;
use crate::commands::progress::{human_bytes, Progress};
use crate::config::{Settings, DEFAULT_INCOMPLETE_GRACE};
use crate::error::{Error, Result};

use crate::pipeline::{Decoder, Digest, Identities, Stages};
use crate::repo::chains::Chains;
use crate::repo::continuity::{self, Gap, Span};
use crate::repo::inventory::Inventory;
use crate::repo::layout;
use crate::repo::manifest::Manifest;
use crate::repo::wal;
use crate::storage::ObjectStore;

/// One thing wrong, and the object it concerns.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub object: String,
    pub problem: String,
}

#[derive(Debug, Serialize)]
struct BackupReport {
    name: String,
    parts: usize,
    /// Plaintext bytes read back and checked (0 with --quick).
    bytes_checked: u64,
    gaps: Vec<Gap>,
    ok: bool,
}

/// What `verify --json` prints. Field names are stable.
#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    backups: Vec<BackupReport>,
    wal_files: usize,
    /// WAL files read back and checked (with --wal).
    wal_checked: usize,
    problems: Vec<Problem>,
    /// Worth knowing, not wrong: a backup that may still be running.
    notes: Vec<String>,
}

pub async fn run(args: &VerifyArgs, settings: &Settings) -> Result<()> {
    let store = settings.store()?;
    let identities = settings.identities()?;
    let inventory = Inventory::take(store.as_ref(), &identities).await?;
    let selected = select(&inventory, &args.backups)?;
    let encrypted = (!args.quick && selected.iter().any(|m| m.encrypted))
        || (args.wal && inventory.wal.iter().any(|w| w.stages.encrypted));
    if encrypted && identities.is_empty() {
        return Err(Error::usage(
            "the repository holds encrypted objects: pass --decrypt-identity FILE to read them back, or --quick to check only what the listing shows",
        ));
    }
    let mut problems: Vec<Problem> = Vec::new();
    let mut notes = Vec::new();
    let problem = |object: &str, text: String| Problem {
        object: object.to_string(),
        problem: text,
    };

    for text in &inventory.history_problems {
        problems.push(problem("wal/", text.clone()));
    }
    for fork in inventory.forks() {
        if fork.is_active(inventory.taken_at) {
            problems.push(problem(&layout::wal_dir(fork.parent.0), fork.describe()));
        } else {
            notes.push(fork.describe_settled(inventory.taken_at));
        }
    }
    for stray in &inventory.strays {
        problems.push(problem(
            &stray.key,
            "orphan: not an object walden writes here".to_string(),
        ));
    }
    let grace = chrono::Duration::from_std(DEFAULT_INCOMPLETE_GRACE).unwrap_or_default();
    for (name, why) in inventory.invalid_manifests() {
        problems.push(problem(&layout::backup_manifest_key(name), why.to_string()));
    }
    for backup in inventory.incomplete_backups() {
        let age = backup
            .newest_object
            .map(|t| inventory.taken_at.signed_duration_since(t));
        match age {
            Some(age) if age <= grace => notes.push(format!(
                "backup {} is incomplete and was written to {} min ago: it may still be running",
                backup.name,
                age.num_minutes()
            )),
            _ => problems.push(problem(
                &layout::backup_prefix(&backup.name),
                "incomplete backup (no manifest): interrupted; prune removes it".to_string(),
            )),
        }
    }
    problems.extend(orphans_in_backups(&inventory));

    let archived = inventory.segments_by_timeline();
    let size = inventory.segment_size();
    // Over every backup, selected or not: an incremental backup restores
    // only with each backup it builds on.
    let chains = Chains::of_entries(&inventory.backups);
    let mut reports = Vec::new();
    for manifest in &selected {
        let mut backup_problems = check_parts_listed(manifest, &inventory);
        let parts_listed = backup_problems.is_empty();
        if let Some(text) = chains.get(&manifest.name).and_then(|c| c.problem()) {
            backup_problems.push(problem(&layout::backup_prefix(&manifest.name), text));
        }
        let gaps = match Span::of(manifest) {
            Ok(span) => continuity::gaps(span, &inventory.histories, &archived, size),
            Err(e) => {
                backup_problems.push(problem(&manifest.name, e.to_string()));
                Vec::new()
            }
        };
        for gap in &gaps {
            backup_problems.push(problem(
                &format!("wal/{:08X}/{}", gap.timeline, gap.first),
                format!(
                    "WAL gap: {} segment(s) {}..{} missing; backup {} cannot be recovered past it",
                    gap.segments, gap.first, gap.last, manifest.name
                ),
            ));
        }
        let mut bytes_checked = 0;
        if !args.quick && parts_listed {
            let (bytes, part_problems) =
                read_parts(store.clone(), manifest, &identities, args.jobs).await;
            bytes_checked = bytes;
            backup_problems.extend(part_problems);
        }
        reports.push(BackupReport {
            name: manifest.name.clone(),
            parts: manifest.parts.len(),
            bytes_checked,
            gaps,
            ok: backup_problems.is_empty(),
        });
        problems.extend(backup_problems);
    }

    let mut wal_checked = 0;
    if args.wal {
        let (checked, wal_problems) =
            read_wal(store.clone(), &inventory, &identities, args.jobs).await;
        wal_checked = checked;
        problems.extend(wal_problems);
    }

    let report = Report {
        ok: problems.is_empty(),
        backups: reports,
        wal_files: inventory.wal.len(),
        wal_checked,
        problems,
        notes,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::failed(format!("encoding the report: {e}")))?;
        println!("{text}");
    } else if !(report.ok && settings.quiet()) {
        print_report(&report, &inventory);
    }
    if report.ok {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "verify found {} problem(s) in {}",
            report.problems.len(),
            store.url()
        )))
    }
}

/// The complete backups to verify: the named ones with every complete
/// backup they build on (restoring one reads them all), or all.
fn select<'a>(inventory: &'a Inventory, names: &[String]) -> Result<Vec<&'a Manifest>> {
    if names.is_empty() {
        return Ok(inventory
            .complete_backups()
            .filter_map(|b| b.manifest.as_ref())
            .collect());
    }
    let named = named(inventory, names)?;
    let mut selected: Vec<&Manifest> = Vec::new();
    for manifest in named {
        // Down the chain while its links are there (a broken link is
        // reported with the backup); each step adds a backup not yet
        // selected, so a chain that loops ends too.
        let mut next = Some(manifest);
        while let Some(m) = next.filter(|m| !selected.iter().any(|s| s.name == m.name)) {
            selected.push(m);
            next = m.parent.as_deref().and_then(|parent| {
                inventory
                    .complete_backups()
                    .find(|b| b.name == parent)
                    .and_then(|b| b.manifest.as_ref())
            });
        }
    }
    Ok(selected)
}

/// The complete backups named on the command line.
fn named<'a>(inventory: &'a Inventory, names: &[String]) -> Result<Vec<&'a Manifest>> {
    names
        .iter()
        .map(|name| {
            let entry = inventory.backups.iter().find(|b| &b.name == name);
            match entry.map(|b| b.manifest.as_ref()) {
                Some(Some(manifest)) => Ok(manifest),
                Some(None) => Err(Error::failed(format!(
                    "backup {name} is incomplete (no manifest): there is nothing to verify"
                ))),
                None => Err(Error::not_found(format!(
                    "backup {name} is not in the repository; see backup-list"
                ))),
            }
        })
        .collect()
}

/// Parts the manifest names that the listing lacks or shows with another size.
fn check_parts_listed(manifest: &Manifest, inventory: &Inventory) -> Vec<Problem> {
    let listed: HashMap<&str, u64> = inventory
        .backup_objects
        .iter()
        .map(|m| (m.key.as_str(), m.size))
        .collect();
    let mut problems = Vec::new();
    for part in &manifest.parts {
        let key = layout::backup_object_key(&manifest.name, &part.key);
        match listed.get(key.as_str()) {
            None => problems.push(Problem {
                object: key,
                problem: format!("missing: backup {} cannot be restored", manifest.name),
            }),
            Some(&size) if size != part.stored_bytes => problems.push(Problem {
                object: key,
                problem: format!(
                    "stored size is {size} bytes but the manifest recorded {}: truncated or replaced",
                    part.stored_bytes
                ),
            }),
            Some(_) => {}
        }
    }
    problems
}

/// Objects in a complete backup's directory that its manifest does not name.
fn orphans_in_backups(inventory: &Inventory) -> Vec<Problem> {
    let mut known: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for backup in &inventory.backups {
        let Some(manifest) = &backup.manifest else {
            continue;
        };
        let mut keys: BTreeSet<String> = manifest
            .parts
            .iter()
            .map(|p| layout::backup_object_key(&backup.name, &p.key))
            .collect();
        keys.insert(layout::backup_manifest_key(&backup.name));
        keys.insert(layout::backup_started_key(&backup.name));
        known.insert(backup.name.as_str(), keys);
    }
    inventory
        .backup_objects
        .iter()
        .filter(|meta| {
            let name = layout::backup_name_of_key(&meta.key).unwrap_or("");
            known
                .get(name)
                .is_some_and(|keys| !keys.contains(&meta.key))
        })
        .map(|meta| Problem {
            object: meta.key.clone(),
            problem: "orphan: not named by its backup's manifest".to_string(),
        })
        .collect()
}

/// Reads every part back through the stages and compares it with the
/// manifest; returns the plaintext bytes checked and the problems.
async fn read_parts(
    store: Arc<dyn ObjectStore>,
    manifest: &Manifest,
    identities: &Identities,
    jobs: u16,
) -> (u64, Vec<Problem>) {
    let progress = Progress::bytes(manifest.bytes, &format!("verifying {}", manifest.name));
    let results: Vec<(String, Result<Digest>, &str, u64)> =
        futures::stream::iter(manifest.parts.iter())
            .map(|part| {
                let key = layout::backup_object_key(&manifest.name, &part.key);
                let (_, stages) = Stages::split_name(&part.key);
                let store = store.clone();
                let identities = identities.clone();
                async move {
                    let digest = read_object(store, key.clone(), stages, identities).await;
                    (key, digest, part.sha256.as_str(), part.plain_bytes)
                }
            })
            .buffer_unordered(jobs as usize)
            .inspect(|(_, digest, _, _)| {
                if let Ok(d) = digest {
                    progress.add(d.bytes);
                }
            })
            .collect()
            .await;
    progress.finish();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (key, digest, sha256, plain_bytes) in results {
        let outcome = digest.and_then(|digest| {
            checked += digest.bytes;
            digest.verify(sha256).map_err(Error::from)?;
            if digest.bytes != plain_bytes {
                return Err(Error::failed(format!(
                    "decodes to {} bytes but the manifest recorded {plain_bytes}",
                    digest.bytes
                )));
            }
            Ok(())
        });
        if let Err(e) = outcome {
            problems.push(Problem {
                object: key,
                problem: format!("corrupt: {e}"),
            });
        }
    }
    (checked, problems)
}

/// Streams one object through the decoding stages, hashing the plaintext.
async fn read_object(
    store: Arc<dyn ObjectStore>,
    key: String,
    stages: Stages,
    identities: Identities,
) -> Result<Digest> {
    let object = store
        .get(&key, None)
        .await
        .map_err(|e| Error::from(e).context(format!("reading {key}")))?;
    let body = tokio_util::io::SyncIoBridge::new(object.body);
    tokio::task::spawn_blocking(move || {
        let mut decoder = Decoder::new(body, stages, &identities)?;
        io::copy(&mut decoder, &mut io::sink()).map_err(crate::pipeline::PipelineError::from)?;
        decoder.finish().map_err(Error::from)
    })
    .await
    .map_err(|e| Error::failed(format!("checking {key}: the decoding thread failed: {e}")))?
}

/// Reads every archived WAL file back and checks it against the checksum
/// recorded when it was archived.
async fn read_wal(
    store: Arc<dyn ObjectStore>,
    inventory: &Inventory,
    identities: &Identities,
    jobs: u16,
) -> (usize, Vec<Problem>) {
    let total: u64 = inventory.wal.iter().map(|w| w.size).sum();
    let progress = Progress::bytes(total, "verifying WAL");
    let problems: Vec<Problem> = futures::stream::iter(inventory.wal.iter())
        .map(|object| {
            let store = store.clone();
            let progress = &progress;
            async move {
                let outcome =
                    wal::read_verified(store.as_ref(), &object.key, object.stages, identities)
                        .await;
                progress.add(object.size);
                outcome.err().map(|e| Problem {
                    object: object.key.clone(),
                    problem: format!("corrupt: {e}"),
                })
            }
        })
        .buffer_unordered(jobs as usize)
        .filter_map(|p| async move { p })
        .collect()
        .await;
    progress.finish();
    (inventory.wal.len(), problems)
}

fn print_report(report: &Report, inventory: &Inventory) {
    for backup in &report.backups {
        let verdict = if backup.ok { "ok" } else { "PROBLEMS" };
        let checked = if backup.bytes_checked > 0 {
            format!(", {} read back", human_bytes(backup.bytes_checked))
        } else {
            String::new()
        };
        println!(
            "backup {}: {verdict} ({} parts{checked})",
            backup.name, backup.parts
        );
    }
    println!(
        "wal: {} files{}",
        report.wal_files,
        if report.wal_checked > 0 {
            format!(", {} read back", report.wal_checked)
        } else {
            String::new()
        }
    );
    for note in &report.notes {
        println!("note: {note}");
    }
    for p in &report.problems {
        println!("PROBLEM {}: {}", p.object, p.problem);
    }
    if report.ok {
        println!(
            "verified {} objects ({}): no problems",
            inventory.total_objects,
            human_bytes(inventory.total_bytes)
        );
    }
}
