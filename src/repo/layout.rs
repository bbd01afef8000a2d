//! The object naming scheme: every key walden reads or writes is built here.

use crate::pipeline::{Codec, Stages};

/// The repository identity record, stored plain so an operator can read it.
pub const IDENTITY_KEY: &str = "walden.json";

/// Object metadata: hex SHA-256 of the plaintext.
pub const META_SHA256: &str = "sha256";
/// Object metadata: size of the plaintext in bytes.
pub const META_PLAIN_SIZE: &str = "plain-size";

/// Every stage combination an object may have been written with.
pub const ALL_STAGES: [Stages; 6] = [
    Stages {
        codec: Codec::Zstd,
        encrypted: false,
    },
    Stages {
        codec: Codec::Zstd,
        encrypted: true,
    },
    Stages {
        codec: Codec::Snappy,
        encrypted: false,
    },
    Stages {
        codec: Codec::Snappy,
        encrypted: true,
    },
    Stages {
        codec: Codec::None,
        encrypted: false,
    },
    Stages {
        codec: Codec::None,
        encrypted: true,
    },
];

/// Where every WAL file lives.
pub const WAL_PREFIX: &str = "wal/";

/// Where `drill` records its results.
pub const DRILLS_PREFIX: &str = "drills/";

/// The WAL file a key under `wal/` stores and the stages it was written
/// with; `None` for anything walden does not write there (a stray object),
/// including a file filed under another timeline's directory.
pub fn parse_wal_key(key: &str) -> Option<(crate::pg::WalFileName, Stages)> {
    let (dir, stored_name) = key.strip_prefix(WAL_PREFIX)?.split_once('/')?;
    let (file_name, stages) = Stages::split_name(stored_name);
    let file: crate::pg::WalFileName = file_name.parse().ok()?;
    (dir == format!("{:08X}", file.timeline().0)).then_some((file, stages))
}

/// The directory of one timeline's WAL: `wal/<timeline as 8 hex digits>/`.
pub fn wal_dir(timeline: u32) -> String {
    format!("{WAL_PREFIX}{timeline:08X}/")
}

/// Key of a WAL file written with `stages`: `wal/00000001/000000010000000A000000FE.zst.age`.
pub fn wal_key(timeline: u32, file_name: &str, stages: Stages) -> String {
    format!("{}{file_name}{}", wal_dir(timeline), stages.suffix())
}

/// The keys a WAL file may be stored under, `preferred` first: reading
/// follows what the object was written with, not the current settings.
pub fn wal_candidate_keys(
    timeline: u32,
    file_name: &str,
    preferred: Stages,
) -> Vec<(String, Stages)> {
    std::iter::once(preferred)
        .chain(ALL_STAGES.into_iter().filter(|s| *s != preferred))
        .map(|stages| (wal_key(timeline, file_name, stages), stages))
        .collect()
}

/// Where `check` writes its probe object (and deletes it at once); one
/// left there by an interrupted check is a stray that verify reports.
pub const CHECK_PREFIX: &str = "check/";

/// The probe object of one `check` run: unique per host, process and moment.
pub fn check_probe_key(unique: &str) -> String {
    format!("{CHECK_PREFIX}probe-{unique}")
}

/// Where every backup lives.
pub const BACKUPS_PREFIX: &str = "backups/";

/// A backup's name: `base_` + its timeline and start LSN in hex, so names
/// sort by timeline, then by position in the WAL, i.e. by time.
pub fn backup_name(timeline: u32, start_lsn: u64) -> String {
    format!("base_{timeline:08X}{start_lsn:016X}")
}

/// The most backups that may share a start position (see `backup_name_variant`).
pub const MAX_BACKUPS_PER_START: u32 = 99;

/// The `n`th name of a backup starting where another already did: `base_…`
/// for 0, then `base_…_2`, `base_…_3`. Only a standby repeats a start: its
/// backup starts at its last restartpoint, which is the primary's last
/// checkpoint again while the primary writes nothing. The suffix keeps
/// names sorting by time.
pub fn backup_name_variant(timeline: u32, start_lsn: u64, n: u32) -> String {
    let base = backup_name(timeline, start_lsn);
    if n == 0 {
        base
    } else {
        format!("{base}_{}", n + 1)
    }
}

/// Whether `name` is a name `backup_name_variant` makes (refuses paths and junk).
pub fn is_backup_name(name: &str) -> bool {
    let (base, suffix) = match name.get(29..) {
        Some("") | None => (name, None),
        Some(rest) => (
            &name[..29],
            rest.strip_prefix('_').map(Some).unwrap_or(Some("")),
        ),
    };
    let suffix_ok = match suffix {
        None => true,
        Some(n) => {
            !n.is_empty()
                && !n.starts_with('0')
                && n.len() <= 2
                && n.bytes().all(|b| b.is_ascii_digit())
                && n != "1"
        }
    };
    base.len() == 5 + 24
        && base.starts_with("base_")
        && base[5..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        && suffix_ok
}

/// `backups/<name>/`.
pub fn backup_prefix(name: &str) -> String {
    format!("{BACKUPS_PREFIX}{name}/")
}

/// The manifest, written last: its presence marks the backup complete.
pub fn backup_manifest_key(name: &str) -> String {
    format!("{}manifest.json", backup_prefix(name))
}

/// Written when a backup starts: an interrupted backup leaves it (and
/// maybe parts) without a manifest, so it can be listed and pruned.
pub fn backup_started_key(name: &str) -> String {
    format!("{}started.json", backup_prefix(name))
}

/// A part's key from its key relative to the backup (`data/base-0001.tar.zst`).
pub fn backup_object_key(name: &str, relative: &str) -> String {
    format!("{}{relative}", backup_prefix(name))
}

/// A part's key relative to its backup: `data/<group>-<nnnn>.tar<stages>`,
/// where the group is `base` or `tblspc-<oid>`.
pub fn backup_part_relative(tablespace_oid: Option<u32>, index: usize, stages: Stages) -> String {
    let group = match tablespace_oid {
        None => "base".to_string(),
        Some(oid) => format!("tblspc-{oid}"),
    };
    format!("data/{group}-{index:04}.tar{}", stages.suffix())
}

/// The backup name a key under `backups/` belongs to.
pub fn backup_name_of_key(key: &str) -> Option<&str> {
    key.strip_prefix(BACKUPS_PREFIX)?
        .split('/')
        .next()
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_keys() {
        let zst_age = Stages {
            codec: Codec::Zstd,
            encrypted: true,
        };
        assert_eq!(
            wal_key(1, "000000010000000A000000FE", zst_age),
            "wal/00000001/000000010000000A000000FE.zst.age"
        );
        assert_eq!(
            wal_key(
                0x1A,
                "0000001A.history",
                Stages {
                    codec: Codec::None,
                    encrypted: false
                }
            ),
            "wal/0000001A/0000001A.history"
        );
    }

    #[test]
    fn wal_keys_parse_back() {
        let zst_age = Stages {
            codec: Codec::Zstd,
            encrypted: true,
        };
        let key = wal_key(2, "00000002000000000000000A", zst_age);
        let (file, stages) = parse_wal_key(&key).unwrap();
        assert_eq!(file.file_name(), "00000002000000000000000A");
        assert_eq!(stages, zst_age);
        let (file, stages) = parse_wal_key("wal/00000002/00000002.history").unwrap();
        assert_eq!(file.file_name(), "00000002.history");
        assert_eq!(stages, Stages::PLAIN);
        for stray in [
            "wal/00000001/00000002000000000000000A.zst",
            "wal/00000001/junk",
            "wal/00000001",
            "backups/x",
            "wal/00000001/sub/000000010000000000000001",
        ] {
            assert!(parse_wal_key(stray).is_none(), "{stray}");
        }
    }

    #[test]
    fn backup_keys() {
        let name = backup_name(1, 0x2000028);
        assert_eq!(name, "base_000000010000000002000028");
        assert!(is_backup_name(&name));
        assert!(!is_backup_name("base_../../etc"));
        assert_eq!(backup_name_variant(1, 0x2000028, 0), name);
        assert_eq!(backup_name_variant(1, 0x2000028, 1), format!("{name}_2"));
        assert!(is_backup_name(&backup_name_variant(1, 0x2000028, 98)));
        for bad in ["_", "_1", "_0", "_02", "_100", "_x", "x2", "_2/"] {
            assert!(!is_backup_name(&format!("{name}{bad}")), "{bad}");
        }
        assert!(
            backup_name(1, 0xFF) < backup_name(1, 0x100)
                && backup_name(1, u64::MAX) < backup_name(2, 0)
        );
        let zst = Stages {
            codec: Codec::Zstd,
            encrypted: false,
        };
        assert_eq!(backup_part_relative(None, 1, zst), "data/base-0001.tar.zst");
        assert_eq!(
            backup_part_relative(Some(16390), 2, zst),
            "data/tblspc-16390-0002.tar.zst"
        );
        assert_eq!(
            backup_object_key(&name, "data/base-0001.tar.zst"),
            "backups/base_000000010000000002000028/data/base-0001.tar.zst"
        );
        assert_eq!(
            backup_manifest_key(&name),
            "backups/base_000000010000000002000028/manifest.json"
        );
        assert_eq!(backup_name_of_key("backups/x/data/y"), Some("x"));
        assert_eq!(backup_name_of_key("wal/x"), None);
    }

    #[test]
    fn candidates_cover_every_stage_once_preferred_first() {
        let preferred = Stages {
            codec: Codec::Snappy,
            encrypted: false,
        };
        let keys = wal_candidate_keys(1, "X", preferred);
        assert_eq!(keys.len(), 6);
        assert_eq!(keys[0].1, preferred);
        let mut names: Vec<_> = keys.iter().map(|(k, _)| k.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 6);
    }
}
