//! Drill records (`drills/<stamp>-<outcome>.json`): what each restore drill proved, kept in the repository so status can alert on failing or stale drills.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::repo::layout;
use crate::storage::{Metadata, ObjectMeta, ObjectStore, PutMode};

/// One drill. Field names are stable: monitoring reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    pub format: u32,
    pub backup: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub success: bool,
    /// From the start of the drill until the restored cluster accepted the check.
    pub rto_seconds: Option<f64>,
    /// Between the newest replayed commit and the end of replay.
    pub rpo_seconds: Option<f64>,
    pub last_replayed_commit: Option<DateTime<Utc>>,
    pub replayed_to_lsn: Option<String>,
    pub bytes_restored: u64,
    pub check: String,
    /// Why it failed.
    pub error: Option<String>,
    pub host: String,
    pub walden_version: String,
}

/// The format this walden writes.
pub const DRILL_FORMAT: u32 = 1;

/// The key of a drill record: sorts by time, and says the outcome so that a
/// listing alone tells status when the last successful drill was.
pub fn record_key(record: &DrillRecord) -> String {
    let outcome = if record.success { "ok" } else { "failed" };
    format!(
        "{}{}-{outcome}.json",
        layout::DRILLS_PREFIX,
        record.finished.format("%Y%m%dT%H%M%S%.3fZ")
    )
}

/// What a drill record's key says without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDrill {
    pub key: String,
    pub success: bool,
    pub finished: Option<DateTime<Utc>>,
}

/// Reads a listed drill key; `None` for anything else under `drills/`.
pub fn parse_key(meta: &ObjectMeta) -> Option<ListedDrill> {
    let name = meta
        .key
        .strip_prefix(layout::DRILLS_PREFIX)?
        .strip_suffix(".json")?;
    let (stamp, outcome) = name.rsplit_once('-')?;
    let success = match outcome {
        "ok" => true,
        "failed" => false,
        _ => return None,
    };
    let finished = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ")
        .ok()
        .map(|t| t.and_utc())
        .or(meta.last_modified.map(DateTime::<Utc>::from));
    Some(ListedDrill {
        key: meta.key.clone(),
        success,
        finished,
    })
}

/// Stores a drill record; returns its key.
pub async fn record(store: &dyn ObjectStore, record: &DrillRecord) -> Result<String> {
    let key = record_key(record);
    let body = serde_json::to_vec_pretty(record)
        .map_err(|e| Error::failed(format!("encoding the drill record: {e}")))?;
    store
        .put(
            &key,
            Bytes::from(body),
            PutMode::Overwrite,
            &Metadata::new(),
        )
        .await
        .map_err(|e| Error::from(e).context(format!("recording the drill in {}", store.url())))?;
    Ok(key)
}

/// Reads one drill record.
pub async fn load(store: &dyn ObjectStore, key: &str) -> Result<DrillRecord> {
    let (_, bytes) = store
        .get_bytes(key)
        .await
        .map_err(|e| Error::from(e).context(format!("reading drill record {key}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::failed(format!("drill record {key} is not valid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    fn sample(success: bool) -> DrillRecord {
        DrillRecord {
            format: DRILL_FORMAT,
            backup: "base_000000010000000002000028".into(),
            started: "2026-11-25T01:00:00Z".parse().unwrap(),
            finished: "2026-11-25T01:02:03.456Z".parse().unwrap(),
            success,
            rto_seconds: Some(12.5),
            rpo_seconds: Some(3.0),
            last_replayed_commit: None,
            replayed_to_lsn: Some("0/5000060".into()),
            bytes_restored: 1234,
            check: "SELECT 1".into(),
            error: None,
            host: "db1".into(),
            walden_version: "0.1.0".into(),
        }
    }

    #[tokio::test]
    async fn records_round_trip_and_their_keys_tell_the_outcome() {
        let store = MemoryStore::new();
        for success in [true, false] {
            let rec = sample(success);
            let key = record(&store, &rec).await.unwrap();
            assert_eq!(load(&store, &key).await.unwrap(), rec);
            let meta = store.head(&key).await.unwrap();
            let listed = parse_key(&meta).unwrap();
            assert_eq!(listed.success, success);
            assert_eq!(listed.finished, Some(rec.finished));
        }
        assert_eq!(
            record_key(&sample(true)),
            "drills/20261125T010203.456Z-ok.json"
        );
        let stray = ObjectMeta {
            key: "drills/notes.txt".into(),
            size: 1,
            last_modified: None,
            metadata: Metadata::new(),
        };
        assert!(parse_key(&stray).is_none());
    }
}
