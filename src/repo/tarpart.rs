//! Backup parts: data-directory entries written as one tar stream through the pipeline, and unpacked back with every path and checksum checked.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::pipeline::throttle::{ThrottledReader, TokenBucket};
use crate::pipeline::{Decoder, Digest, EncodeOptions, Encoder, Identities, Stages};
use crate::repo::manifest::{safe_join, FileEntry, FileKind};

/// What one tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartEntryKind {
    File,
    Dir,
    Symlink(PathBuf),
}

/// One entry to write: where it goes in the tar and where to read it.
#[derive(Debug, Clone)]
pub struct PartEntry {
    /// '/'-separated path inside the part (relative to the data directory or tablespace).
    pub rel_path: String,
    /// The file on disk.
    pub source: PathBuf,
    pub kind: PartEntryKind,
    /// Size when the directory was walked: exactly this many bytes go into the tar.
    pub size: u64,
    pub mode: u32,
    pub mtime: i64,
}

/// What was written for one entry, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenEntry {
    pub rel_path: String,
    pub kind: PartEntryKind,
    pub size: u64,
    pub mode: u32,
    pub mtime: i64,
    /// sha256 of the bytes stored in the tar (files only).
    pub sha256: Option<String>,
}

/// Most entries one part holds, whatever their sizes: a directory of a
/// million empty relation files becomes 500 parts, so that the list
/// of entries a part keeps while it is written does not grow with the
/// cluster.
pub const MAX_PART_ENTRIES: usize = 2_000;

/// Whether a part holding `entries` entries with `bytes` file bytes is full
/// before the next entry, of `next_size` bytes: it is when the entry would
/// take it past `part_size` (a file larger than that gets a part alone,
/// directories before it stay with it), or at [`MAX_PART_ENTRIES`]. Both
/// ways of taking a backup cut parts by this rule alone.
pub fn part_is_full(entries: usize, bytes: u64, next_size: u64, part_size: u64) -> bool {
    entries >= MAX_PART_ENTRIES || (bytes > 0 && bytes.saturating_add(next_size) > part_size)
}

/// Called with the number of plaintext bytes each time a file is done.
pub type OnBytes = Arc<dyn Fn(u64) + Send + Sync>;

/// Writes `entries` as a tar stream through the encoder into `sink`.
/// Returns the sink, the digest of the tar plaintext and what was written.
///
/// A file that changes size during the copy is cut or zero-padded to the
/// size it had when walked, as pg_basebackup does: WAL replay from the
/// backup's start repairs it. A file that vanished is left out (PostgreSQL
/// removed it, and replay knows).
pub fn write_part<W: Write>(
    sink: W,
    entries: &[PartEntry],
    encode: &EncodeOptions,
    bucket: Option<Arc<TokenBucket>>,
    on_bytes: &OnBytes,
) -> Result<(W, Digest, Vec<WrittenEntry>)> {
    let mut part = PartWriter::new(sink, encode, entries.len())?;
    for entry in entries {
        let fail =
            |e: io::Error| Error::failed(format!("backing up {}: {e}", entry.source.display()));
        match &entry.kind {
            PartEntryKind::Dir => part
                .append_dir(&entry.rel_path, entry.mode, entry.mtime)
                .map_err(fail)?,
            PartEntryKind::Symlink(target) => part
                .append_symlink(&entry.rel_path, target, entry.mode, entry.mtime)
                .map_err(fail)?,
            PartEntryKind::File => {
                let file = match File::open(&entry.source) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        tracing::debug!(file = %entry.source.display(), "removed during the backup; left out");
                        continue;
                    }
                    Err(e) => return Err(fail(e)),
                };
                let body = ThrottledReader::new(file, bucket.clone());
                part.append_file(&entry.rel_path, entry.mode, entry.mtime, entry.size, body)
                    .map_err(fail)?;
                on_bytes(entry.size);
            }
        }
    }
    part.finish()
}

/// One part being written: tar entries through the encoder into a sink,
/// each file hashed as it goes. Used for a data directory read from disk
/// and for a tar stream received from the server alike.
pub struct PartWriter<W: Write> {
    tar: tar::Builder<Encoder<W>>,
    written: Vec<WrittenEntry>,
    plain_bytes: u64,
}

impl<W: Write> PartWriter<W> {
    pub fn new(sink: W, encode: &EncodeOptions, expected_entries: usize) -> Result<Self> {
        let encoder = Encoder::on_all_cores(sink, encode)?;
        let mut tar = tar::Builder::new(encoder);
        tar.follow_symlinks(false);
        Ok(PartWriter {
            tar,
            written: Vec::with_capacity(expected_entries),
            plain_bytes: 0,
        })
    }

    /// File bytes written so far (tar headers not counted).
    pub fn file_bytes(&self) -> u64 {
        self.plain_bytes
    }

    /// Entries written so far.
    pub fn entries(&self) -> usize {
        self.written.len()
    }

    pub fn append_dir(&mut self, rel_path: &str, mode: u32, mtime: i64) -> io::Result<()> {
        let mut header = header(mode, mtime);
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        self.tar.append_data(&mut header, rel_path, io::empty())?;
        self.record(rel_path, PartEntryKind::Dir, 0, mode, mtime, None);
        Ok(())
    }

    pub fn append_symlink(
        &mut self,
        rel_path: &str,
        target: &Path,
        mode: u32,
        mtime: i64,
    ) -> io::Result<()> {
        let mut header = header(mode, mtime);
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        self.tar.append_link(&mut header, rel_path, target)?;
        let kind = PartEntryKind::Symlink(target.to_path_buf());
        self.record(rel_path, kind, 0, mode, mtime, None);
        Ok(())
    }

    /// Writes a file of exactly `size` bytes from `body`: cut if it
    /// yields more, zero-padded if it yields less.
    pub fn append_file(
        &mut self,
        rel_path: &str,
        mode: u32,
        mtime: i64,
        size: u64,
        body: impl Read,
    ) -> io::Result<()> {
        let mut header = header(mode, mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        let mut body = ExactSize::new(body, size);
        self.tar.append_data(&mut header, rel_path, &mut body)?;
        let sha256 = body.sha256_hex();
        self.plain_bytes += size;
        self.record(
            rel_path,
            PartEntryKind::File,
            size,
            mode,
            mtime,
            Some(sha256),
        );
        Ok(())
    }

    fn record(
        &mut self,
        rel_path: &str,
        kind: PartEntryKind,
        size: u64,
        mode: u32,
        mtime: i64,
        sha256: Option<String>,
    ) {
        self.written.push(WrittenEntry {
            rel_path: rel_path.to_owned(),
            kind,
            size,
            mode: mode & 0o7777,
            mtime,
            sha256,
        });
    }

    /// Ends the tar and the encoding: the sink, the digest of the tar
    /// plaintext and what was written.
    pub fn finish(self) -> Result<(W, Digest, Vec<WrittenEntry>)> {
        let encoder = self
            .tar
            .into_inner()
            .map_err(|e| Error::failed(format!("finishing a backup part: {e}")))?;
        let (sink, digest) = encoder.finish()?;
        Ok((sink, digest, self.written))
    }
}

fn header(mode: u32, mtime: i64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(mode & 0o7777);
    header.set_mtime(mtime.max(0) as u64);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Reads exactly `len` bytes from `inner`: cut if it grew, zero-padded if it
/// shrank; hashes what it yields.
struct ExactSize<R> {
    inner: R,
    remaining: u64,
    inner_done: bool,
    sha: Sha256,
}

impl<R: Read> ExactSize<R> {
    fn new(inner: R, len: u64) -> Self {
        ExactSize {
            inner,
            remaining: len,
            inner_done: false,
            sha: Sha256::new(),
        }
    }

    fn sha256_hex(self) -> String {
        hex::encode(self.sha.finalize())
    }
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = if self.inner_done {
            0
        } else {
            self.inner.read(&mut buf[..want])?
        };
        let n = if n == 0 {
            self.inner_done = true;
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.sha.update(&buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The permissions restore gives what it creates: PostgreSQL's, never the
/// manifest's or the tar header's, so a crafted backup cannot plant a
/// setuid, setgid, sticky or world-writable entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    pub dir: u32,
    pub file: u32,
}

impl Modes {
    /// PostgreSQL's pg_dir_create_mode / pg_file_create_mode: 0700/0600, or
    /// 0750/0640 for a cluster initialised with group access.
    pub fn for_cluster(group_access: bool) -> Modes {
        if group_access {
            Modes {
                dir: 0o750,
                file: 0o640,
            }
        } else {
            Modes {
                dir: 0o700,
                file: 0o600,
            }
        }
    }
}

/// Where one part is unpacked and what it must hold.
pub struct PartTarget<'a> {
    /// The data directory or the tablespace location.
    pub root: &'a Path,
    /// Every entry the manifest lists in this part, by path.
    pub expected: &'a HashMap<&'a str, &'a FileEntry>,
    /// The part's plaintext size from the manifest: decoding stops there.
    pub plain_bytes: u64,
}

/// What unpacking does with each entry once it is proven against the
/// manifest: listed, of its listed kind and size, at a path inside the root.
///
/// Contract: `file` may read as much of `body` as it wants; the rest is
/// read after it returns, and the whole is checked against the manifest's
/// size and checksum then, so an implementation must not take what it
/// wrote for good before the part is done (a failed check fails the part,
/// and the restore with it). Nothing is called for symbolic links.
pub trait EntrySink {
    /// A directory entry, `placed` = root joined with its path.
    fn dir(&mut self, placed: &Path) -> Result<()>;
    /// A file entry: `body` yields its `listed.size` bytes.
    fn file(&mut self, placed: &Path, listed: &FileEntry, body: &mut dyn Read) -> Result<()>;
}

/// The plain restore: every directory and file written where it belongs,
/// with PostgreSQL's permissions; a file that already exists is an error.
pub struct WriteEntries {
    pub modes: Modes,
}

impl EntrySink for WriteEntries {
    fn dir(&mut self, placed: &Path) -> Result<()> {
        make_dir(placed, self.modes.dir)
    }

    fn file(&mut self, placed: &Path, _listed: &FileEntry, body: &mut dyn Read) -> Result<()> {
        write_file(body, placed, self.modes)
    }
}

/// Unpacks one part into `target.root`, placing every entry with
/// `safe_join` and proving it against the manifest: every listed entry
/// exactly once, of its listed kind, each file of its listed size and
/// checksum. An entry the manifest does not list, a duplicate, a kind or
/// size that differs, a missing entry, or a part that decodes to more than
/// its listed size is an error, raised before anything is written past what
/// the manifest allows. Symlinks are never created (tablespace links come
/// from tablespace_map at startup). Returns the part's plaintext digest and
/// the number of files written.
pub fn unpack_part<R: Read + Send>(
    src: R,
    stages: Stages,
    identities: &Identities,
    target: &PartTarget<'_>,
    sink: &mut dyn EntrySink,
    on_bytes: &OnBytes,
) -> Result<(Digest, usize)> {
    let root = target.root;
    let mut decoder = Decoder::new(src, stages, identities)?;
    let mut files = 0;
    {
        let mut capped = Capped {
            inner: &mut decoder,
            remaining: target.plain_bytes,
        };
        let mut seen: HashSet<&str> = HashSet::with_capacity(target.expected.len());
        let mut archive = tar::Archive::new(&mut capped);
        // Raw: the tar crate would read a GNU long name or a pax header of
        // any size into memory; here each is read with a bound.
        let entries = archive.entries().map_err(|e| corrupt(root, e))?.raw(true);
        let mut long_name: Option<Vec<u8>> = None;
        for entry in entries {
            let mut entry = entry.map_err(|e| corrupt(root, e))?;
            let entry_type = entry.header().entry_type();
            if entry_type.is_gnu_longname() || entry_type.is_gnu_longlink() {
                let value = read_long_name(&mut entry)?;
                // Link targets are never used: tablespace links come from
                // tablespace_map.
                if entry_type.is_gnu_longname() && long_name.replace(value).is_some() {
                    return Err(Error::failed(
                        "backup part has two long names for one entry: the backup is damaged or crafted",
                    ));
                }
                continue;
            }
            let path_bytes = match long_name.take() {
                Some(mut name) => {
                    while name.last() == Some(&0) {
                        name.pop();
                    }
                    name
                }
                None => entry.path_bytes().into_owned(),
            };
            let path = String::from_utf8_lossy(&path_bytes)
                .trim_end_matches('/')
                .to_string();
            let Some((&listed_path, &listed)) = target.expected.get_key_value(path.as_str()) else {
                return Err(Error::failed(format!(
                    "backup part holds {path:?}, which its manifest does not list: refusing to restore it"
                )));
            };
            if !seen.insert(listed_path) {
                return Err(Error::failed(format!(
                    "backup part holds {path:?} twice: the backup is damaged or crafted; refusing to restore it"
                )));
            }
            let kind = match entry.header().entry_type() {
                tar::EntryType::Regular => FileKind::File,
                tar::EntryType::Directory => FileKind::Dir,
                tar::EntryType::Symlink => FileKind::Symlink,
                other => {
                    return Err(Error::failed(format!(
                        "backup part holds {path:?} of type {other:?}: refusing to restore it"
                    )))
                }
            };
            if kind != listed.kind {
                return Err(Error::failed(format!(
                    "backup part holds {path:?} as a {}, but its manifest lists a {}: the backup is damaged or crafted",
                    kind_name(kind),
                    kind_name(listed.kind)
                )));
            }
            // The size a tar entry claims is known before any of it is
            // read: a longer (or shorter) one is refused before a byte of it
            // reaches the disk.
            let size = entry.size();
            if size != listed.size {
                return Err(Error::failed(format!(
                    "backup part holds {path:?} with {size} bytes, but its manifest lists {}: the backup is damaged or crafted; nothing past the listed size was written",
                    listed.size
                )));
            }
            let placed = safe_join(root, &path).map_err(|e| Error::failed(e.to_string()))?;
            match kind {
                FileKind::Dir => sink.dir(&placed)?,
                FileKind::File => {
                    checked_file(&mut entry, &placed, listed, sink)?;
                    on_bytes(listed.size);
                    files += 1;
                }
                FileKind::Symlink => {}
            }
        }
        if seen.len() != target.expected.len() {
            let mut missing: Vec<&str> = target
                .expected
                .keys()
                .filter(|p| !seen.contains(*p))
                .copied()
                .collect();
            missing.sort_unstable();
            let shown = missing.len().min(5);
            return Err(Error::failed(format!(
                "backup part lacks {} entr{} its manifest lists ({}{}): the backup is incomplete; refusing to restore it",
                missing.len(),
                if missing.len() == 1 { "y" } else { "ies" },
                missing[..shown]
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() > shown { ", ..." } else { "" }
            )));
        }
        // What follows the tar's end still counts towards the part's size:
        // read it here, through the cap, rather than in `finish`.
        io::copy(&mut capped, &mut io::sink()).map_err(|e| corrupt(root, e))?;
    }
    let digest = decoder.finish()?;
    Ok((digest, files))
}

/// Longer than any path a backup holds (PATH_MAX).
const MAX_LONG_NAME: u64 = 4096;

/// A GNU long name or long link entry's contents, refused past
/// [`MAX_LONG_NAME`] before more than that is read.
fn read_long_name(entry: &mut impl Read) -> Result<Vec<u8>> {
    let mut value = Vec::new();
    entry
        .take(MAX_LONG_NAME + 1)
        .read_to_end(&mut value)
        .map_err(|e| Error::failed(format!("reading a long name in a backup part: {e}")))?;
    if value.len() as u64 > MAX_LONG_NAME {
        return Err(Error::failed(format!(
            "backup part holds a long name of more than {MAX_LONG_NAME} bytes: the backup is damaged or crafted; refusing to read it"
        )));
    }
    Ok(value)
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::File => "file",
        FileKind::Dir => "directory",
        FileKind::Symlink => "symbolic link",
    }
}

/// Yields at most `remaining` bytes of `inner`, and fails (rather than
/// ending) if `inner` has more: a part that decodes to more than its
/// manifest says is refused in bounded time and memory.
struct Capped<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "backup part decodes to more bytes than its manifest lists: refusing to read further",
                )),
            };
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn corrupt(root: &Path, e: io::Error) -> Error {
    // Pipeline failures (corrupt, wrong key) keep their classification.
    Error::from(crate::pipeline::PipelineError::from(e))
        .context(format!("unpacking a backup part into {}", root.display()))
}

/// Creates `path` and any missing ancestors with `mode` (ancestors a crafted
/// part leaves unlisted too), and sets it on `path` whatever the umask.
fn make_dir(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
        .map_err(|e| Error::failed(format!("creating {}: {e}", path.display())))
}

/// Hands the entry's bytes to `sink`, reads what it left, and checks the
/// whole against the manifest (the caller checked the tar entry's size;
/// `take` keeps that true whatever the reader does).
fn checked_file(
    src: &mut impl Read,
    target: &Path,
    listed: &FileEntry,
    sink: &mut dyn EntrySink,
) -> Result<()> {
    let mut body = HashingReader {
        inner: src.take(listed.size),
        sha: Sha256::new(),
        bytes: 0,
    };
    sink.file(target, listed, &mut body)?;
    io::copy(&mut body, &mut io::sink()).map_err(|e| corrupt(target, e))?;
    let bytes = body.bytes;
    let sha = hex::encode(body.sha.finalize());
    if bytes != listed.size || listed.sha256.as_deref() != Some(sha.as_str()) {
        return Err(Error::failed(format!(
            "{} does not match its manifest entry ({} bytes, sha256 {sha}; expected {} bytes, sha256 {}): the backup is corrupt",
            target.display(),
            bytes,
            listed.size,
            listed.sha256.as_deref().unwrap_or("-")
        )));
    }
    Ok(())
}

/// Creates `target` (and missing parent directories) and copies `src`
/// into it; a file already there is an error, never overwritten.
fn write_file(src: &mut dyn Read, target: &Path, modes: Modes) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: io::Error| Error::failed(format!("writing {}: {e}", target.display()));
    make_parent(target, modes)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(modes.file)
        .open(target)
        .map_err(fail)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    io::copy(src, &mut out).map_err(|e| corrupt(target, e))?;
    out.flush().map_err(fail)?;
    Ok(())
}

/// Creates the directories above `target` that are missing, with PostgreSQL's mode.
pub fn make_parent(target: &Path, modes: Modes) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = target.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(modes.dir)
            .create(parent)
            .map_err(|e| Error::failed(format!("creating {}: {e}", parent.display())))?;
    }
    Ok(())
}

struct HashingReader<R: Read> {
    inner: R,
    sha: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_by_bytes_or_by_entries() {
        const MIB: u64 = 1 << 20;
        assert!(
            !part_is_full(0, 0, 5 * MIB, MIB),
            "an empty part takes any file"
        );
        assert!(
            !part_is_full(3, 0, 5 * MIB, MIB),
            "directories before a large file stay with it"
        );
        assert!(part_is_full(3, MIB / 2, MIB, MIB), "past the size");
        assert!(!part_is_full(3, MIB / 2, MIB / 2, MIB), "exactly the size");
        assert!(!part_is_full(MAX_PART_ENTRIES - 1, 0, 0, MIB));
        assert!(
            part_is_full(MAX_PART_ENTRIES, 0, 0, MIB),
            "empty files fill a part by their number"
        );
        assert!(part_is_full(1, u64::MAX, u64::MAX, MIB), "no overflow");
    }

    #[test]
    fn exact_size_cuts_and_pads() {
        let mut out = Vec::new();
        ExactSize::new(&b"abcdef"[..], 3)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"abc");
        out.clear();
        ExactSize::new(&b"ab"[..], 5).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab\0\0\0");
        out.clear();
        let reader = ExactSize::new(&b""[..], 0);
        assert_eq!(reader.sha256_hex(), crate::pipeline::sha256_hex(b""));
    }

    #[test]
    fn capped_fails_past_its_limit_and_not_at_it() {
        let mut out = Vec::new();
        let mut exact = Capped {
            inner: &b"abcdef"[..],
            remaining: 6,
        };
        exact.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcdef");

        out.clear();
        let mut longer = Capped {
            inner: &b"abcdefg"[..],
            remaining: 6,
        };
        let err = longer.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(out, b"abcdef", "nothing past the limit is handed on");

        // An endless source still ends, in one small buffer.
        let mut endless = Capped {
            inner: io::repeat(0),
            remaining: 1 << 20,
        };
        assert!(io::copy(&mut endless, &mut io::sink()).is_err());
    }

    #[test]
    fn modes_are_postgresqls() {
        assert_eq!(
            Modes::for_cluster(false),
            Modes {
                dir: 0o700,
                file: 0o600
            }
        );
        assert_eq!(
            Modes::for_cluster(true),
            Modes {
                dir: 0o750,
                file: 0o640
            }
        );
    }
}
