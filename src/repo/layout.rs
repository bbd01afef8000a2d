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

/// The directory of one timeline's WAL: `wal/<timeline as 8 hex digits>/`.
pub fn wal_dir(timeline: u32) -> String {
    format!("wal/{timeline:08X}/")
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
