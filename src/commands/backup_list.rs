//! `backup-list`: the backups in the repository, as a table or stable JSON.

use serde::Serialize;

use crate::cli::BackupListArgs;
use crate::commands::progress::{human_bytes, human_seconds};
use crate::config::Settings;
use crate::error::Result;
use crate::repo::catalog::{self, BackupEntry};
use crate::repo::chains::{BackupType, Chains};
use crate::repo::manifest::Durations;

/// One line of `backup-list --json`. Field names are a stable interface.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    complete: bool,
    start_time: Option<String>,
    stop_time: Option<String>,
    /// The whole backup-push (the phases below add up to it); for backups
    /// written before phases were recorded, stop time − start time, which
    /// leaves out the start checkpoint.
    duration_seconds: Option<i64>,
    /// The phases as backup-push reported them, to the millisecond; `None`
    /// for backups written before they were recorded.
    total_seconds: Option<f64>,
    checkpoint_seconds: Option<f64>,
    copy_seconds: Option<f64>,
    wal_wait_seconds: Option<f64>,
    timeline: Option<u32>,
    start_lsn: Option<String>,
    stop_lsn: Option<String>,
    start_wal_file: Option<String>,
    pg_version: Option<u32>,
    bytes: Option<u64>,
    stored_bytes: u64,
    compression: Option<String>,
    encrypted: Option<bool>,
    /// "full" or "incremental"; `None` for an incomplete backup.
    #[serde(rename = "type")]
    backup_type: Option<BackupType>,
    /// The backup an incremental one builds on; `None` for a full backup.
    parent: Option<String>,
    /// Backups in its chain, from the full backup up to this one: 1 for a
    /// full backup. For a broken chain, those that are in the repository.
    chain_length: Option<usize>,
    /// The full backup its chain starts from (itself for a full backup);
    /// `None` when the chain is broken.
    chain_full: Option<String>,
    /// Why it cannot be restored when its chain is broken.
    chain_problem: Option<String>,
}

impl Listed {
    fn new(entry: &BackupEntry, chains: &Chains) -> Self {
        let m = entry.manifest.as_ref();
        let chain = m.and_then(|_| chains.get(&entry.name));
        let durations = m.and_then(|m| m.durations);
        let phase = |ms: fn(&Durations) -> u64| durations.as_ref().map(|d| ms(d) as f64 / 1000.0);
        Listed {
            name: entry.name.clone(),
            complete: m.is_some(),
            start_time: m.map(|m| m.start_time.to_rfc3339()),
            stop_time: m.map(|m| m.stop_time.to_rfc3339()),
            duration_seconds: m.map(|m| match m.durations {
                Some(d) => ((d.total_ms() + 500) / 1000) as i64,
                None => m.duration().num_seconds(),
            }),
            total_seconds: phase(|d| d.total_ms()),
            checkpoint_seconds: phase(|d| d.checkpoint_ms),
            copy_seconds: phase(|d| d.copy_ms),
            wal_wait_seconds: phase(|d| d.wal_wait_ms),
            timeline: m.map(|m| m.timeline),
            start_lsn: m.map(|m| m.start_lsn.clone()),
            stop_lsn: m.map(|m| m.stop_lsn.clone()),
            start_wal_file: m.map(|m| m.start_wal_file.clone()),
            pg_version: m.map(|m| m.pg_version),
            bytes: m.map(|m| m.bytes),
            stored_bytes: entry.stored_bytes,
            compression: m.map(|m| m.compression.clone()),
            encrypted: m.map(|m| m.encrypted),
            backup_type: chain.map(|c| c.backup_type()),
            parent: m.and_then(|m| m.parent.clone()),
            chain_length: chain.map(|c| c.length),
            chain_full: chain.and_then(|c| c.full()).map(str::to_string),
            chain_problem: chain.and_then(|c| c.problem()),
        }
    }
}

pub async fn run(args: &BackupListArgs, settings: &Settings) -> Result<()> {
    let store = settings.store()?;
    crate::repo::identity::require(store.as_ref()).await?;
    let all = catalog::list(store.as_ref()).await?;
    // Over every backup, shown or not: an incomplete parent breaks a chain.
    let chains = Chains::of_entries(&all);
    let backups: Vec<BackupEntry> = all
        .into_iter()
        .filter(|b| args.all || b.manifest.is_some())
        .collect();
    let listed: Vec<Listed> = backups.iter().map(|b| Listed::new(b, &chains)).collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&listed).expect("serializes")
        );
        return Ok(());
    }
    if listed.is_empty() {
        println!("no backups in {}", store.url());
        return Ok(());
    }
    println!(
        "{:<30} {:<20} {:>9} {:>9} {:>9} {:>9} {:>3} {:<18} {:<18} {:>10} {:>10} {:>3} {:<11} {:>6} parent",
        "name",
        "stop time (UTC)",
        "total",
        "ckpt",
        "copy",
        "wal wait",
        "tl",
        "start lsn",
        "stop lsn",
        "size",
        "stored",
        "pg",
        "type",
        "chain",
    );
    for (entry, l) in backups.iter().zip(&listed) {
        if !l.complete {
            println!(
                "{:<30} incomplete (no manifest: interrupted or in progress), {} stored",
                l.name,
                human_bytes(l.stored_bytes)
            );
            continue;
        }
        let stop = l.stop_time.as_deref().unwrap_or("-");
        // Through the same formatting as backup-push's summary, so both
        // print the same figures.
        let durations = entry.manifest.as_ref().and_then(|m| m.durations);
        let phase = |ms: fn(&Durations) -> u64| {
            durations.map_or("-".to_string(), |d| human_seconds(ms(&d)))
        };
        let total = match durations {
            Some(d) => human_seconds(d.total_ms()),
            None => format!("{} s", l.duration_seconds.unwrap_or(0)),
        };
        // A broken chain's length says nothing useful: the line below the
        // table says why.
        let chain = match (&l.chain_problem, l.chain_length) {
            (Some(_), _) => "broken".to_string(),
            (None, Some(n)) => n.to_string(),
            (None, None) => "-".to_string(),
        };
        println!(
            "{:<30} {:<20} {:>9} {:>9} {:>9} {:>9} {:>3} {:<18} {:<18} {:>10} {:>10} {:>3} {:<11} {:>6} {}",
            l.name,
            stop.get(..19).unwrap_or(stop).replace('T', " "),
            total,
            phase(|d| d.checkpoint_ms),
            phase(|d| d.copy_ms),
            phase(|d| d.wal_wait_ms),
            l.timeline.unwrap_or(0),
            l.start_lsn.as_deref().unwrap_or("-"),
            l.stop_lsn.as_deref().unwrap_or("-"),
            human_bytes(l.bytes.unwrap_or(0)),
            human_bytes(l.stored_bytes),
            l.pg_version.unwrap_or(0),
            l.backup_type.map_or("-", BackupType::as_str),
            chain,
            l.parent.as_deref().unwrap_or("-"),
        );
    }
    for problem in listed.iter().filter_map(|l| l.chain_problem.as_deref()) {
        println!("PROBLEM: {problem}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(durations: Option<Durations>) -> BackupEntry {
        let mut manifest = crate::repo::manifest::good_fixture();
        manifest.durations = durations;
        BackupEntry {
            name: manifest.name.clone(),
            manifest: Some(manifest),
            objects: 3,
            stored_bytes: 1234,
            newest_object: None,
            invalid_manifest: None,
        }
    }

    #[test]
    fn lists_recorded_phases_and_copes_without_them() {
        // Written before phases were recorded: stop − start, no phases.
        let listed = |e: &BackupEntry| Listed::new(e, &Chains::of_entries(std::slice::from_ref(e)));
        let old = listed(&entry(None));
        assert_eq!(old.duration_seconds, Some(83));
        assert_eq!(
            (
                old.total_seconds,
                old.checkpoint_seconds,
                old.copy_seconds,
                old.wal_wait_seconds
            ),
            (None, None, None, None)
        );
        let json = serde_json::to_value(&old).unwrap();
        assert!(json["checkpoint_seconds"].is_null(), "{json}");

        let new = listed(&entry(Some(Durations {
            checkpoint_ms: 270_100,
            copy_ms: 9_000,
            wal_wait_ms: 149,
        })));
        assert_eq!(new.duration_seconds, Some(279));
        assert_eq!(new.total_seconds, Some(279.249));
        assert_eq!(new.checkpoint_seconds, Some(270.1));
        assert_eq!(new.copy_seconds, Some(9.0));
        assert_eq!(new.wal_wait_seconds, Some(0.149));
        assert_eq!(new.stored_bytes, 1234, "every object of the backup");
    }

    #[test]
    fn lists_each_backups_type_parent_and_chain() {
        let full = entry(None);
        let mut incremental = entry(None);
        let m = incremental.manifest.as_mut().unwrap();
        m.name = "base_000000010000000005000028".into();
        m.format = crate::repo::manifest::INCREMENTAL_FORMAT;
        m.parent = Some(full.name.clone());
        incremental.name = m.name.clone();
        let mut orphan = incremental.clone();
        let m = orphan.manifest.as_mut().unwrap();
        m.name = "base_000000010000000007000028".into();
        m.parent = Some("base_000000010000000006000028".into());
        orphan.name = m.name.clone();
        let all = [full.clone(), incremental.clone(), orphan.clone()];
        let chains = Chains::of_entries(&all);
        let json = |e: &BackupEntry| serde_json::to_value(Listed::new(e, &chains)).unwrap();

        let f = json(&full);
        assert_eq!(f["type"], "full", "{f}");
        assert!(f["parent"].is_null(), "{f}");
        assert_eq!(f["chain_length"], 1, "{f}");
        assert_eq!(f["chain_full"], full.name.as_str(), "{f}");
        assert!(f["chain_problem"].is_null(), "{f}");

        let i = json(&incremental);
        assert_eq!(i["type"], "incremental", "{i}");
        assert_eq!(i["parent"], full.name.as_str(), "{i}");
        assert_eq!(i["chain_length"], 2, "{i}");
        assert_eq!(i["chain_full"], full.name.as_str(), "{i}");
        assert!(i["chain_problem"].is_null(), "{i}");

        let o = json(&orphan);
        assert_eq!(o["type"], "incremental", "{o}");
        assert!(o["chain_full"].is_null(), "{o}");
        assert_eq!(
            o["chain_problem"],
            "backup base_000000010000000007000028 builds on base_000000010000000006000028, which is not in the repository: base_000000010000000007000028 cannot be restored",
            "{o}"
        );

        // An incomplete backup has no type or chain.
        let mut incomplete = orphan.clone();
        incomplete.manifest = None;
        let n = json(&incomplete);
        assert!(n["type"].is_null() && n["chain_length"].is_null(), "{n}");
    }
}
