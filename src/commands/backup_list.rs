//! `backup-list`: the backups in the repository, as a table or stable JSON.

use serde::Serialize;

use crate::cli::BackupListArgs;
use crate::commands::progress::human_bytes;
use crate::config::Settings;
use crate::error::Result;
use crate::repo::catalog::{self, BackupEntry};

/// One line of `backup-list --json`. Field names are a stable interface.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    complete: bool,
    start_time: Option<String>,
    stop_time: Option<String>,
    duration_seconds: Option<i64>,
    timeline: Option<u32>,
    start_lsn: Option<String>,
    stop_lsn: Option<String>,
    start_wal_file: Option<String>,
    pg_version: Option<u32>,
    bytes: Option<u64>,
    stored_bytes: u64,
    compression: Option<String>,
    encrypted: Option<bool>,
}

impl From<&BackupEntry> for Listed {
    fn from(entry: &BackupEntry) -> Self {
        let m = entry.manifest.as_ref();
        Listed {
            name: entry.name.clone(),
            complete: m.is_some(),
            start_time: m.map(|m| m.start_time.to_rfc3339()),
            stop_time: m.map(|m| m.stop_time.to_rfc3339()),
            duration_seconds: m.map(|m| m.duration().num_seconds()),
            timeline: m.map(|m| m.timeline),
            start_lsn: m.map(|m| m.start_lsn.clone()),
            stop_lsn: m.map(|m| m.stop_lsn.clone()),
            start_wal_file: m.map(|m| m.start_wal_file.clone()),
            pg_version: m.map(|m| m.pg_version),
            bytes: m.map(|m| m.bytes),
            stored_bytes: entry.stored_bytes,
            compression: m.map(|m| m.compression.clone()),
            encrypted: m.map(|m| m.encrypted),
        }
    }
}

pub async fn run(args: &BackupListArgs, settings: &Settings) -> Result<()> {
    let store = settings.store()?;
    crate::repo::identity::require(store.as_ref()).await?;
    let backups: Vec<BackupEntry> = catalog::list(store.as_ref())
        .await?
        .into_iter()
        .filter(|b| args.all || b.manifest.is_some())
        .collect();
    let listed: Vec<Listed> = backups.iter().map(Listed::from).collect();
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
        "{:<30} {:<20} {:>7} {:>3} {:<18} {:<18} {:>10} {:>10} {:>3}",
        "name", "stop time (UTC)", "secs", "tl", "start lsn", "stop lsn", "size", "stored", "pg"
    );
    for l in &listed {
        if !l.complete {
            println!(
                "{:<30} incomplete (no manifest: interrupted or in progress), {} stored",
                l.name,
                human_bytes(l.stored_bytes)
            );
            continue;
        }
        let stop = l.stop_time.as_deref().unwrap_or("-");
        println!(
            "{:<30} {:<20} {:>7} {:>3} {:<18} {:<18} {:>10} {:>10} {:>3}",
            l.name,
            stop.get(..19).unwrap_or(stop).replace('T', " "),
            l.duration_seconds.unwrap_or(0),
            l.timeline.unwrap_or(0),
            l.start_lsn.as_deref().unwrap_or("-"),
            l.stop_lsn.as_deref().unwrap_or("-"),
            human_bytes(l.bytes.unwrap_or(0)),
            human_bytes(l.stored_bytes),
            l.pg_version.unwrap_or(0),
        );
    }
    Ok(())
}
