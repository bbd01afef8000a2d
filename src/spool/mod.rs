//! Local spool directories, outside the data directory: wal-push's
//! read-ahead markers (`push/`) and wal-fetch's prefetched segments
//! (`fetch/`). Nothing in a spool is ever the only copy of anything: losing
//! it (a crash, a wiped disk) costs time, never data.

pub mod markers;
pub mod prefetched;

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The spool root's name beside the data directory when none is configured.
pub const DEFAULT_SPOOL_NAME: &str = ".walden-spool";

/// The spool of one cluster for one repository:
/// `<root>/<data directory name>-<8 hex digits of the repository URL's sha256>`,
/// where root is `configured` or `.walden-spool` beside the data directory.
/// Keyed by both, so that two clusters sharing a parent directory, or a
/// cluster whose repository changed, never read each other's markers.
pub fn spool_dir(configured: Option<&Path>, pgdata: &Path, repo_url: &str) -> PathBuf {
    let root = match configured {
        Some(dir) => dir.to_path_buf(),
        None => pgdata
            .parent()
            .unwrap_or(Path::new("/"))
            .join(DEFAULT_SPOOL_NAME),
    };
    let cluster = pgdata
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_string());
    let repo = Sha256::digest(repo_url.as_bytes());
    let tag: String = repo[..4].iter().map(|b| format!("{b:02x}")).collect();
    root.join(format!("{cluster}-{tag}"))
}

/// The data directory of a path PostgreSQL passes to archive_command or
/// restore_command (`pg_wal/<file>`, relative to the data directory, which
/// is the working directory). Lexical, so that a symlinked pg_wal still
/// names the data directory.
pub fn pgdata_of(wal_path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(wal_path).ok()?;
    absolute.parent()?.parent().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_is_beside_the_data_directory_and_keyed_by_cluster_and_repo() {
        let a = spool_dir(None, Path::new("/var/lib/postgresql/15/main"), "s3://b/p");
        assert_eq!(
            a.parent(),
            Some(Path::new("/var/lib/postgresql/15/.walden-spool"))
        );
        let leaf = a.file_name().unwrap().to_str().unwrap();
        assert!(
            leaf.starts_with("main-") && leaf.len() == "main-".len() + 8,
            "{a:?}"
        );
        let other_repo = spool_dir(None, Path::new("/var/lib/postgresql/15/main"), "s3://b/q");
        let other_cluster = spool_dir(None, Path::new("/var/lib/postgresql/15/two"), "s3://b/p");
        assert_ne!(a, other_repo);
        assert_ne!(a, other_cluster);
        let configured = spool_dir(Some(Path::new("/spool")), Path::new("/d/main"), "s3://b/p");
        assert_eq!(configured.parent(), Some(Path::new("/spool")));
    }

    #[test]
    fn data_directory_of_a_wal_path() {
        assert_eq!(
            pgdata_of(Path::new("/d/main/pg_wal/000000010000000000000001")),
            Some(PathBuf::from("/d/main"))
        );
        let relative = pgdata_of(Path::new("pg_wal/RECOVERYXLOG")).unwrap();
        assert_eq!(relative, std::env::current_dir().unwrap());
    }
}
