//! One listing of a whole repository, sorted into backups, WAL files, timeline histories, drill records and strays: what prune, verify and status reason about.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::pg::{check_history_file, HistoryEntry, TimelineId, WalFileName, WalSegmentSize};
use crate::pipeline::{Identities, Stages};
use crate::repo::catalog::{self, BackupEntry, InvalidManifests};
use crate::repo::continuity::SegmentsByTimeline;
use crate::repo::forks::{self, Arrival, Fork};
use crate::repo::identity::{self, RepoIdentity};
use crate::repo::layout;
use crate::repo::manifest::Manifest;
use crate::repo::wal;
use crate::storage::{ObjectMeta, ObjectStore};

/// One archived WAL file.
#[derive(Debug, Clone)]
pub struct WalObject {
    pub key: String,
    pub file: WalFileName,
    pub stages: Stages,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// Everything in a repository at one moment.
#[derive(Debug)]
pub struct Inventory {
    /// Taken before the listing started: every object listed was written
    /// before it or during the listing.
    pub taken_at: DateTime<Utc>,
    pub identity: Option<RepoIdentity>,
    /// Oldest first. A backup whose manifest is present but invalid has
    /// `invalid_manifest` set (see [`Inventory::invalid_manifests`]).
    pub backups: Vec<BackupEntry>,
    /// Every object under `backups/`, sorted by key.
    pub backup_objects: Vec<ObjectMeta>,
    /// Sorted by key.
    pub wal: Vec<WalObject>,
    /// The parsed `.history` files that could be read.
    pub histories: BTreeMap<TimelineId, Vec<HistoryEntry>>,
    /// Why a `.history` file could not be used (unreadable, undecryptable,
    /// malformed): its timeline's ancestry is unknown.
    pub history_problems: Vec<String>,
    /// Drill records, sorted by key (oldest first).
    pub drills: Vec<ObjectMeta>,
    /// Objects walden does not know: under `wal/` with a name it never
    /// writes, or outside its prefixes.
    pub strays: Vec<ObjectMeta>,
    /// Stored bytes of every object.
    pub total_bytes: u64,
    pub total_objects: usize,
}

impl Inventory {
    /// Lists `store` once and reads the small objects that give the listing
    /// its meaning: `walden.json`, manifests and history files (decrypted
    /// with `identities` when they are encrypted).
    pub async fn take(store: &dyn ObjectStore, identities: &Identities) -> Result<Inventory> {
        let taken_at = Utc::now();
        let identity = identity::require(store).await?;
        let mut backup_objects = Vec::new();
        let mut wal = Vec::new();
        let mut drills = Vec::new();
        let mut strays = Vec::new();
        let (mut total_bytes, mut total_objects) = (0, 0);
        let mut listing = store.list("");
        while let Some(meta) = listing.next().await {
            let meta =
                meta.map_err(|e| Error::from(e).context(format!("listing {}", store.url())))?;
            total_bytes += meta.size;
            total_objects += 1;
            if meta.key.starts_with(layout::BACKUPS_PREFIX) {
                backup_objects.push(meta);
            } else if meta.key.starts_with(layout::DRILLS_PREFIX) {
                drills.push(meta);
            } else if let Some((file, stages)) = layout::parse_wal_key(&meta.key) {
                wal.push(WalObject {
                    file,
                    stages,
                    size: meta.size,
                    last_modified: meta.last_modified.map(DateTime::<Utc>::from),
                    key: meta.key,
                });
            } else if meta.key != layout::IDENTITY_KEY {
                strays.push(meta);
            }
        }
        drop(listing);
        wal.sort_by(|a, b| a.key.cmp(&b.key));
        drills.sort_by(|a, b| a.key.cmp(&b.key));
        strays.sort_by(|a, b| a.key.cmp(&b.key));
        backup_objects.sort_by(|a, b| a.key.cmp(&b.key));
        let backups =
            catalog::from_objects(store, &backup_objects, InvalidManifests::Record).await?;
        let (histories, history_problems) = read_histories(store, &wal, identities).await;
        Ok(Inventory {
            taken_at,
            identity,
            backups,
            backup_objects,
            wal,
            histories,
            history_problems,
            drills,
            strays,
            total_bytes,
            total_objects,
        })
    }

    /// The cluster's WAL segment size: from the repository identity, else a
    /// manifest, else PostgreSQL's default.
    pub fn segment_size(&self) -> WalSegmentSize {
        self.identity
            .as_ref()
            .map(|i| i.wal_segment_size)
            .or_else(|| {
                self.backups
                    .iter()
                    .find_map(|b| b.manifest.as_ref().map(|m| m.wal_segment_size))
            })
            .and_then(|bytes| WalSegmentSize::new(bytes).ok())
            .unwrap_or_default()
    }

    /// What the listing could not make sense of, worded for the operator:
    /// unreadable history files, then manifests that do not parse.
    pub fn unreadable(&self) -> impl Iterator<Item = String> + '_ {
        self.history_problems
            .iter()
            .cloned()
            .chain(self.invalid_manifests().map(|(_, why)| why.to_string()))
    }

    /// Backups whose manifest is there but cannot be used, with why.
    pub fn invalid_manifests(&self) -> impl Iterator<Item = (&str, &str)> {
        self.backups
            .iter()
            .filter_map(|b| Some((b.name.as_str(), b.invalid_manifest.as_deref()?)))
    }

    /// Incomplete backups: no manifest at all (interrupted, or running).
    pub fn incomplete_backups(&self) -> impl Iterator<Item = &BackupEntry> {
        self.backups
            .iter()
            .filter(|b| b.manifest.is_none() && b.invalid_manifest.is_none())
    }

    /// The archived segments of each timeline (not `.partial`, `.backup`
    /// or `.history` files), as segment numbers.
    pub fn segments_by_timeline(&self) -> SegmentsByTimeline {
        let size = self.segment_size();
        let mut archived = SegmentsByTimeline::new();
        for object in &self.wal {
            if let WalFileName::Segment(segment) = &object.file {
                archived
                    .entry(segment.timeline)
                    .or_default()
                    .insert(segment.segno(size));
            }
        }
        archived
    }

    /// The complete backups, in name order.
    pub fn complete_backups(&self) -> impl Iterator<Item = &BackupEntry> {
        self.backups.iter().filter(|b| b.manifest.is_some())
    }

    /// The complete backup that finished last (see [`catalog::Finished`]).
    pub fn newest_backup(&self) -> Option<(&BackupEntry, &Manifest)> {
        let newest = catalog::newest(self.backups.iter().filter_map(|b| b.manifest.as_ref()))?;
        self.backups
            .iter()
            .find(|b| b.name == newest.name)
            .map(|b| (b, newest))
    }

    /// Parent timelines still written after a child branched off them: two
    /// clusters archiving into this repository (see [`forks`]).
    pub fn forks(&self) -> Vec<Fork> {
        let arrivals: Vec<Arrival> = self
            .wal
            .iter()
            .map(|w| Arrival {
                file: &w.file,
                last_modified: w.last_modified,
            })
            .collect();
        forks::find(&self.histories, &arrivals, self.segment_size())
    }
}

async fn read_histories(
    store: &dyn ObjectStore,
    wal: &[WalObject],
    identities: &Identities,
) -> (BTreeMap<TimelineId, Vec<HistoryEntry>>, Vec<String>) {
    let mut histories = BTreeMap::new();
    let mut problems = Vec::new();
    for object in wal {
        let WalFileName::History(timeline) = object.file else {
            continue;
        };
        match read_history(store, object, timeline, identities).await {
            Ok(entries) => {
                histories.insert(timeline, entries);
            }
            Err(problem) => problems.push(format!(
                "{}: {problem}; the ancestry of timeline {} is unknown",
                object.key, timeline.0
            )),
        }
    }
    (histories, problems)
}

async fn read_history(
    store: &dyn ObjectStore,
    object: &WalObject,
    timeline: TimelineId,
    identities: &Identities,
) -> std::result::Result<Vec<HistoryEntry>, String> {
    // The same read as wal-fetch's (bounded, checksum verified) and the same
    // check as wal-push's: a history file steers fork detection, retention
    // and recovery, so one rule decides what a valid one is.
    let fetched = wal::read_verified(store, &object.key, object.stages, identities)
        .await
        .map_err(|e| e.to_string())?;
    check_history_file(timeline, &fetched.plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{MemoryStore, Metadata, PutMode};
    use bytes::Bytes;

    /// Puts `body` with the checksum and size wal-push records.
    async fn put(store: &MemoryStore, key: &str, body: &str) {
        let metadata = Metadata::from([
            (
                layout::META_SHA256.to_string(),
                crate::pipeline::sha256_hex(body.as_bytes()),
            ),
            (layout::META_PLAIN_SIZE.to_string(), body.len().to_string()),
        ]);
        store
            .put(
                key,
                Bytes::from(body.to_string()),
                PutMode::CreateOnly,
                &metadata,
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn history_files_are_read_as_wal_push_checks_them() {
        let store = MemoryStore::new();
        // A restore point named in LATIN1: wal-push archives it, so the
        // inventory must read it too.
        let latin1 = b"1\t0/3000000\tat restore point \"caf\xe9\"\n";
        store
            .put(
                "wal/00000002/00000002.history",
                Bytes::from(&latin1[..]),
                PutMode::CreateOnly,
                &Metadata::from([
                    (
                        layout::META_SHA256.to_string(),
                        crate::pipeline::sha256_hex(latin1),
                    ),
                    (
                        layout::META_PLAIN_SIZE.to_string(),
                        latin1.len().to_string(),
                    ),
                ]),
            )
            .await
            .unwrap();
        // Too big to be a history file: refused without being decoded whole.
        let big = "1\t0/3000000\tx\n".repeat(100_000);
        put(&store, "wal/00000003/00000003.history", &big).await;
        let inv = Inventory::take(&store, &Identities::none()).await.unwrap();
        assert_eq!(inv.histories.len(), 1, "{:?}", inv.history_problems);
        assert!(inv.histories.contains_key(&TimelineId(2)));
        assert_eq!(inv.history_problems.len(), 1);
        assert!(inv.history_problems[0].contains("00000003.history"));
    }

    #[tokio::test]
    async fn sorts_a_listing_into_its_kinds() {
        let store = MemoryStore::new();
        put(&store, "wal/00000001/000000010000000000000001", "x").await;
        put(
            &store,
            "wal/00000002/00000002.history",
            "1\t0/3000000\tno recovery target specified\n",
        )
        .await;
        put(&store, "wal/00000003/00000003.history", "garbage").await;
        put(&store, "wal/00000001/notes.txt", "stray").await;
        put(
            &store,
            "backups/base_000000010000000002000028/started.json",
            "{}",
        )
        .await;
        put(
            &store,
            "backups/base_000000010000000004000028/manifest.json",
            "{\"format\": 1",
        )
        .await;
        put(&store, "drills/20261125T010203.000Z.json", "{}").await;
        put(&store, "elsewhere", "stray").await;
        let inv = Inventory::take(&store, &Identities::none()).await.unwrap();
        assert_eq!(inv.wal.len(), 3);
        assert_eq!(inv.histories.len(), 1);
        assert_eq!(inv.histories[&TimelineId(2)][0].parent, TimelineId(1));
        assert_eq!(inv.history_problems.len(), 1, "{:?}", inv.history_problems);
        assert!(inv.history_problems[0].contains("00000003.history"));
        let strays: Vec<&str> = inv.strays.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(strays, ["elsewhere", "wal/00000001/notes.txt"]);
        assert_eq!(inv.backups.len(), 2);
        let incomplete: Vec<&str> = inv.incomplete_backups().map(|b| b.name.as_str()).collect();
        assert_eq!(incomplete, ["base_000000010000000002000028"]);
        assert!(inv.backups[0].newest_object.is_some());
        // A damaged manifest is recorded, not fatal, and not "incomplete".
        let invalid: Vec<(&str, &str)> = inv.invalid_manifests().collect();
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].0, "base_000000010000000004000028");
        assert!(invalid[0].1.contains("invalid"), "{}", invalid[0].1);
        assert_eq!(inv.drills.len(), 1);
        assert_eq!(inv.total_objects, 8);
        assert_eq!(inv.segment_size(), WalSegmentSize::default());
    }
}
