//! wal-fetch's prefetched segments: `fetch/<segment>.<crc32c>`, each a
//! segment read back from the repository and verified against its archived
//! checksum, written under a temporary name and renamed into place. The
//! CRC-32C in the name is checked again when the entry is used, so an entry
//! truncated or damaged by a crash (the spool is never fsynced) is deleted,
//! never handed to PostgreSQL.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::pg::SegmentName;

/// The `fetch/` directory of a spool.
#[derive(Debug, Clone)]
pub struct Prefetched {
    dir: PathBuf,
}

/// An entry whose content matched its CRC when read.
#[derive(Debug)]
pub struct Verified {
    pub content: Vec<u8>,
    pub path: PathBuf,
}

impl Verified {
    /// Moves the entry to `dest` (a rename when both are on one file
    /// system, else a copy of the verified content), replacing `dest`.
    pub fn move_to(self, dest: &Path) -> io::Result<()> {
        match fs::rename(&self.path, dest) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                write_replacing(dest, &self.content)?;
                let _ = fs::remove_file(&self.path);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&self.path);
                Err(e)
            }
        }
    }
}

/// Writes `body` to `path` through a temporary file beside it and a rename,
/// so that nobody sees half a file. Not fsynced: PostgreSQL makes a
/// restored segment durable itself when it keeps it.
pub fn write_replacing(path: &Path, body: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.walden-tmp-{}", std::process::id()));
    fs::write(&temp, body)?;
    fs::rename(&temp, path).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// One complete-looking entry: the segment it claims to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub segment: SegmentName,
    pub path: PathBuf,
    crc: u32,
}

impl Prefetched {
    pub fn new(spool: &Path) -> Prefetched {
        Prefetched {
            dir: spool.join("fetch"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds a verified segment. Written to a temporary name and renamed, so
    /// that a reader sees a whole entry or none (and checks the CRC anyway).
    pub fn store(&self, segment: &SegmentName, plain: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let temp = self
            .dir
            .join(format!(".{segment}.tmp-{}", std::process::id()));
        fs::write(&temp, plain)?;
        let name = format!("{segment}.{:08x}", crc32c::crc32c(plain));
        fs::rename(&temp, self.dir.join(name)).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }

    /// Every entry, parsed from the directory listing (unverified).
    pub fn entries(&self) -> Vec<Entry> {
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        listing
            .filter_map(|e| {
                let path = e.ok()?.path();
                let (segment, crc) = path.file_name()?.to_str()?.split_once('.')?;
                Some(Entry {
                    segment: segment.parse().ok()?,
                    crc: u32::from_str_radix(crc, 16)
                        .ok()
                        .filter(|_| crc.len() == 8)?,
                    path: path.clone(),
                })
            })
            .collect()
    }

    /// Whether a (complete-looking) entry for `segment` is present.
    pub fn has(&self, segment: &SegmentName) -> bool {
        self.entries().iter().any(|e| &e.segment == segment)
    }

    /// `segment`'s entry, read and checked against its CRC. `None` when
    /// there is none or it does not match (it is deleted then). The caller
    /// moves the entry's file out of the spool (or deletes it).
    pub fn verified(&self, segment: &SegmentName) -> Option<Verified> {
        let entry = self.entries().into_iter().find(|e| &e.segment == segment)?;
        match read_all(&entry.path) {
            Ok(content) if crc32c::crc32c(&content) == entry.crc => Some(Verified {
                content,
                path: entry.path,
            }),
            _ => {
                let _ = fs::remove_file(&entry.path);
                None
            }
        }
    }

    /// Deletes entries `keep` rejects (another timeline, behind the
    /// recovery), and temporary files left by a killed worker.
    pub fn clean(&self, keep: impl Fn(&SegmentName) -> bool) {
        for entry in self.entries() {
            if !keep(&entry.segment) {
                let _ = fs::remove_file(&entry.path);
            }
        }
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return;
        };
        for temp in listing.filter_map(|e| e.ok()) {
            let name = temp.file_name();
            let name = name.to_string_lossy();
            let stale = temp
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 600);
            if name.starts_with('.') && name.contains(".tmp-") && stale {
                let _ = fs::remove_file(temp.path());
            }
        }
    }

    /// The range of segments a running worker is fetching, as it announced
    /// in its lock file; `None` when no worker runs.
    pub fn worker_window(&self) -> Option<(SegmentName, SegmentName)> {
        let path = self.dir.join(".worker.lock");
        let file = File::open(&path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => return None,
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(_)) => return None,
        }
        let text = fs::read_to_string(&path).ok()?;
        let (first, last) = text.trim().split_once(' ')?;
        Some((first.parse().ok()?, last.parse().ok()?))
    }

    /// Announces the window a worker holding `lock` fetches.
    pub fn announce(lock: &mut File, first: &SegmentName, last: &SegmentName) -> io::Result<()> {
        use std::io::{Seek, Write};
        lock.set_len(0)?;
        lock.rewind()?;
        write!(lock, "{first} {last}")
    }

    /// The lock a prefetch worker holds while it runs: `None` when another
    /// worker holds it. Released when the file is dropped (or the process
    /// dies).
    pub fn lock_worker(&self) -> io::Result<Option<File>> {
        fs::create_dir_all(&self.dir)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".worker.lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let mut content = Vec::with_capacity(file.metadata()?.len() as usize);
    file.read_to_end(&mut content)?;
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(name: &str) -> SegmentName {
        name.parse().unwrap()
    }

    #[test]
    fn a_stored_entry_is_verified_and_moved_out() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Prefetched::new(dir.path());
        let s = seg("000000010000000000000003");
        assert!(spool.verified(&s).is_none());
        spool.store(&s, b"the segment").unwrap();
        assert!(spool.has(&s));
        let verified = spool.verified(&s).unwrap();
        assert_eq!(verified.content, b"the segment");
        let dest = dir.path().join("RECOVERYXLOG");
        verified.move_to(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"the segment");
        assert!(!spool.has(&s), "moved entries leave the spool");
    }

    #[test]
    fn a_truncated_entry_is_deleted_and_never_returned() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Prefetched::new(dir.path());
        let s = seg("000000010000000000000004");
        spool.store(&s, &vec![9u8; 100_000]).unwrap();
        let entry = spool.entries().pop().unwrap();
        let file = File::options().write(true).open(&entry.path).unwrap();
        file.set_len(50_000).unwrap();
        assert!(spool.verified(&s).is_none());
        assert!(spool.entries().is_empty());
    }

    #[test]
    fn clean_keeps_only_what_is_asked_for_and_foreign_names_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Prefetched::new(dir.path());
        for name in [
            "000000010000000000000001",
            "000000010000000000000005",
            "000000020000000000000005",
        ] {
            spool.store(&seg(name), name.as_bytes()).unwrap();
        }
        fs::write(spool.dir().join("README"), b"not an entry").unwrap();
        spool.clean(|s| *s == seg("000000010000000000000005"));
        let left: Vec<_> = spool.entries().into_iter().map(|e| e.segment).collect();
        assert_eq!(left, vec![seg("000000010000000000000005")]);
        assert!(spool.dir().join("README").exists());
    }

    #[test]
    fn one_worker_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Prefetched::new(dir.path());
        assert_eq!(spool.worker_window(), None);
        let mut held = spool.lock_worker().unwrap().unwrap();
        assert!(spool.lock_worker().unwrap().is_none());
        let (a, b) = (
            seg("000000010000000000000002"),
            seg("000000010000000000000009"),
        );
        Prefetched::announce(&mut held, &a, &b).unwrap();
        assert_eq!(spool.worker_window(), Some((a, b)));
        drop(held);
        assert_eq!(spool.worker_window(), None);
        assert!(spool.lock_worker().unwrap().is_some());
    }
}
