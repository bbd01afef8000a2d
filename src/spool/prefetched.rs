//! wal-fetch's prefetched segments: `fetch/<segment>.<crc32c>`, each a
//! segment read back from the repository and verified against its archived
//! checksum, written under a temporary name and renamed into place. The
//! CRC-32C in the name is checked again when the entry is used, so an entry
//! truncated or damaged by a crash (the spool is never fsynced) is deleted,
//! never handed to PostgreSQL.

use std::fs::{self, File};
use std::io::{self, Read, Write};
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
    pub path: PathBuf,
    /// The start of the segment (its first page, with the header).
    pub first_page: Vec<u8>,
    crc: u32,
}

/// How much of an entry [`Verified::first_page`] keeps.
const FIRST_PAGE: usize = 8192;

impl Verified {
    /// Moves the entry to `dest` (a rename when both are on one file
    /// system, else a copy checked against the entry's CRC again),
    /// replacing `dest`.
    pub fn move_to(self, dest: &Path) -> io::Result<()> {
        let moved = match fs::rename(&self.path, dest) {
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let mut copy = Replacing::beside(dest)?;
                io::copy(&mut File::open(&self.path)?, &mut copy)?;
                if copy.crc32c() == self.crc {
                    copy.commit(dest)
                } else {
                    Err(io::Error::other(
                        "the spooled copy changed while it was copied",
                    ))
                }
            }
            other => other,
        };
        let _ = fs::remove_file(&self.path);
        moved
    }
}

/// A file written under a temporary name beside where it goes, renamed into
/// place by [`Replacing::commit`], so that nobody sees half a file; dropped
/// uncommitted, it is removed. Its CRC-32C is kept as it is written. Not
/// fsynced: PostgreSQL makes a restored segment durable itself when it
/// keeps it, and a spool entry is checked against its CRC when used.
#[derive(Debug)]
pub struct Replacing {
    temp: PathBuf,
    file: File,
    crc: u32,
    committed: bool,
}

impl Replacing {
    /// A file that will replace `path`, written beside it.
    pub fn beside(path: &Path) -> io::Result<Replacing> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Replacing::at(path.with_file_name(format!(".{name}.walden-tmp-{}", std::process::id())))
    }

    fn at(temp: PathBuf) -> io::Result<Replacing> {
        let file = File::create(&temp)?;
        Ok(Replacing {
            temp,
            file,
            crc: 0,
            committed: false,
        })
    }

    /// The CRC-32C of everything written so far.
    pub fn crc32c(&self) -> u32 {
        self.crc
    }

    /// Renames the file to `dest`, replacing whatever is there.
    pub fn commit(mut self, dest: &Path) -> io::Result<()> {
        fs::rename(&self.temp, dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Write for Replacing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Replacing {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Removes what [`Replacing::beside`] left beside `path` (for any
/// destination in that directory) in a process that was killed (PostgreSQL stopped during a fetch): 16 MiB each, in pg_wal,
/// which nothing else would ever clean.
pub fn remove_stale_temps_beside(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    remove_stale(dir, |name| {
        name.starts_with('.') && name.contains(".walden-tmp-")
    });
}

/// How long a temporary file stays untouched before it counts as left by a
/// killed process: far beyond any live write, which never pauses longer
/// than the storage retries (30 s).
const STALE_AFTER_SECS: u64 = 600;

/// Deletes the files in `dir` whose name `matches` and that nobody has
/// written for [`STALE_AFTER_SECS`].
fn remove_stale(dir: &Path, matches: impl Fn(&str) -> bool) {
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    for temp in listing.filter_map(|e| e.ok()) {
        let name = temp.file_name();
        if !matches(&name.to_string_lossy()) {
            continue;
        }
        let stale = temp
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > STALE_AFTER_SECS);
        if stale {
            let _ = fs::remove_file(temp.path());
        }
    }
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

    /// Starts an entry for `segment`, under a temporary name until
    /// [`Prefetched::commit`]: a reader sees a whole entry or none (and
    /// checks the CRC anyway).
    pub fn begin(&self, segment: &SegmentName) -> io::Result<Replacing> {
        fs::create_dir_all(&self.dir)?;
        Replacing::at(
            self.dir
                .join(format!(".{segment}.tmp-{}", std::process::id())),
        )
    }

    /// Adds the verified entry `begin` started.
    pub fn commit(&self, segment: &SegmentName, entry: Replacing) -> io::Result<()> {
        let name = format!("{segment}.{:08x}", entry.crc32c());
        entry.commit(&self.dir.join(name))
    }

    /// Adds a verified segment held in memory.
    #[cfg(test)]
    pub fn store(&self, segment: &SegmentName, plain: &[u8]) -> io::Result<()> {
        let mut entry = self.begin(segment)?;
        entry.write_all(plain)?;
        self.commit(segment, entry)
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
        match crc_and_first_page(&entry.path) {
            Ok((crc, first_page)) if crc == entry.crc => Some(Verified {
                path: entry.path,
                first_page,
                crc,
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
        remove_stale(&self.dir, |name| {
            name.starts_with('.') && name.contains(".tmp-")
        });
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

/// The CRC-32C of the file at `path`, read in chunks, and its first page.
fn crc_and_first_page(path: &Path) -> io::Result<(u32, Vec<u8>)> {
    let mut file = File::open(path)?;
    let mut chunk = vec![0u8; 256 << 10];
    let (mut crc, mut first_page) = (0, Vec::with_capacity(FIRST_PAGE));
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok((crc, first_page));
        }
        crc = crc32c::crc32c_append(crc, &chunk[..n]);
        let wanted = (FIRST_PAGE - first_page.len()).min(n);
        first_page.extend_from_slice(&chunk[..wanted]);
    }
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
        assert_eq!(verified.first_page, b"the segment");
        let dest = dir.path().join("RECOVERYXLOG");
        verified.move_to(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"the segment");
        assert!(!spool.has(&s), "moved entries leave the spool");
    }

    #[test]
    fn a_file_not_committed_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("RECOVERYXLOG");
        fs::write(&dest, b"before").unwrap();
        let mut half = Replacing::beside(&dest).unwrap();
        half.write_all(b"half a segm").unwrap();
        drop(half);
        assert_eq!(fs::read(&dest).unwrap(), b"before");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );

        let mut whole = Replacing::beside(&dest).unwrap();
        whole.write_all(b"a whole segment").unwrap();
        assert_eq!(whole.crc32c(), crc32c::crc32c(b"a whole segment"));
        whole.commit(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"a whole segment");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporary_files_of_killed_fetches_are_removed_once_stale() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("RECOVERYXLOG");
        let old = dir.path().join(".RECOVERYXLOG.walden-tmp-4242");
        let live = dir.path().join(".RECOVERYXLOG.walden-tmp-4343");
        let other = dir.path().join(".RECOVERYHISTORY.walden-tmp-4242");
        let foreign = dir.path().join(".not-ours.tmp-1");
        for path in [&old, &live, &other, &foreign] {
            fs::write(path, b"part of a segment").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for path in [&old, &other, &foreign] {
            File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        remove_stale_temps_beside(&dest);
        assert!(
            !old.exists(),
            "a stale temporary file of this destination goes"
        );
        assert!(live.exists(), "one being written stays");
        assert!(!other.exists(), "so does another destination's");
        assert!(foreign.exists(), "what walden did not write stays");
    }

    #[test]
    fn a_verified_entry_keeps_only_its_first_page_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Prefetched::new(dir.path());
        let s = seg("000000010000000000000005");
        let content: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        spool.store(&s, &content).unwrap();
        let verified = spool.verified(&s).unwrap();
        assert_eq!(verified.first_page, content[..FIRST_PAGE]);
        let dest = dir.path().join("RECOVERYXLOG");
        verified.move_to(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), content);
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
