//! A store on a local (or mounted) filesystem: one file per object, published atomically and durably.
//!
//! Objects are created 0600 and directories 0700 whatever the umask: a base
//! backup holds password hashes. An object's metadata (its checksum) lives in
//! the `user.walden` extended attribute, or, on a filesystem without user
//! xattrs, in a sidecar file `.walden-meta/<name>` in the object's directory,
//! written and synced before the object is published. A sidecar and its
//! object change together only under an flock(2) on the directory's
//! `.walden-meta/.walden-tmp.lock`, so racing writers of one name never
//! leave an object beside another write's sidecar (or none).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use super::{
    clamp_range, validate_key, validate_metadata, GetResult, Metadata, ObjectMeta, ObjectStore,
    PutMode, StorageError, StorageResult,
};

/// Names of in-flight writes start with this; they are never objects.
const TEMP_PREFIX: &str = ".walden-tmp";

/// The directory of metadata sidecars, one per directory of objects; never an object.
pub(crate) const META_DIR: &str = ".walden-meta";

/// The lock file in a [`META_DIR`]; the temp prefix keeps it from ever being
/// a sidecar's name (object names cannot start with it) and out of file counts.
const META_LOCK: &str = ".walden-tmp.lock";

/// Mode of every object file: only the repository's owner reads a backup.
const OBJECT_MODE: u32 = 0o600;
/// Mode of every directory the store creates, the root included.
const DIR_MODE: u32 = 0o700;

/// Longest file name most filesystems accept (NAME_MAX).
const NAME_MAX: usize = 255;

const DEFAULT_PAGE_SIZE: usize = 1000;

/// An [`ObjectStore`] whose keys are paths below `root`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    page_size: usize,
    /// Whether to try the `user.walden` xattr before the sidecar; off only
    /// in tests, to act as a filesystem without user xattrs.
    xattrs: bool,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> LocalStore {
        LocalStore {
            root,
            page_size: DEFAULT_PAGE_SIZE,
            xattrs: true,
        }
    }

    /// Behaves as on a filesystem without user extended attributes.
    #[cfg(test)]
    pub(crate) fn without_xattrs(mut self) -> Self {
        self.xattrs = false;
        self
    }

    /// Sets how many objects `list` gathers per step (at least 1).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<()> {
        validate_key(key)?;
        validate_metadata(key, metadata)?;
        let path = self.path_of(key);
        let metadata = metadata.clone();
        let xattrs = self.xattrs;
        blocking(key, move |key| {
            put_file(key, &path, &body, mode, &metadata, xattrs)
        })
        .await
    }

    async fn put_stream(
        &self,
        key: &str,
        body: super::ByteStream,
        mode: PutMode,
        metadata: &Metadata,
    ) -> StorageResult<u64> {
        validate_key(key)?;
        validate_metadata(key, metadata)?;
        let xattrs = self.xattrs;
        put_stream_file(key, self.path_of(key), body, mode, metadata.clone(), xattrs).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> StorageResult<GetResult> {
        validate_key(key)?;
        let path = self.path_of(key);
        let (root, xattrs) = (self.root.clone(), self.xattrs);
        let (meta, file, len) = blocking(key, move |key| {
            let (mut file, meta) = open_object(key, &root, &path, xattrs)?;
            let range = clamp_range(range, meta.size);
            if range.start > 0 {
                file.seek(SeekFrom::Start(range.start))
                    .map_err(|e| io_error(key, "seeking in", &path, e))?;
            }
            Ok((meta, file, range.end - range.start))
        })
        .await?;
        let body = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), len);
        Ok(GetResult {
            meta,
            body: Box::pin(body),
        })
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        validate_key(key)?;
        let path = self.path_of(key);
        let (root, xattrs) = (self.root.clone(), self.xattrs);
        blocking(key, move |key| {
            open_object(key, &root, &path, xattrs).map(|(_, meta)| meta)
        })
        .await
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, StorageResult<ObjectMeta>> {
        let walk = Walk::new(&self.root, prefix);
        let page_size = self.page_size;
        stream::unfold(Some(walk), move |state| async move {
            let mut walk = state?;
            let (walk, page, failure) = blocking(prefix, move |_| {
                let (page, failure) = walk.next_page(page_size);
                Ok((walk, page, failure))
            })
            .await
            .unwrap_or_else(|e| (Walk::finished(), Vec::new(), Some(e)));
            let finished = failure.is_some() || walk.is_done();
            let mut items: Vec<StorageResult<ObjectMeta>> = page.into_iter().map(Ok).collect();
            items.extend(failure.map(Err));
            if items.is_empty() {
                return None;
            }
            Some((items, (!finished).then_some(walk)))
        })
        .flat_map(stream::iter)
        .boxed()
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        validate_key(key)?;
        let path = self.path_of(key);
        blocking(key, move |key| delete_file(key, &path)).await
    }
}

/// Runs filesystem work on `key` off the async threads, keeping a panic a panic.
async fn blocking<T, F>(key: &str, work: F) -> StorageResult<T>
where
    F: FnOnce(&str) -> StorageResult<T> + Send + 'static,
    T: Send + 'static,
{
    let owned = key.to_string();
    match tokio::task::spawn_blocking(move || work(&owned)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StorageError::Transient {
            key: key.to_string(),
            message: format!("filesystem task cancelled (runtime shutting down?): {e}"),
        }),
    }
}

/// Maps an I/O error to a kind, naming the file so an operator can act on it.
fn io_error(key: &str, doing: &str, path: &Path, err: io::Error) -> StorageError {
    let message = format!("{doing} {}: {err}", path.display());
    match StorageError::from_io(key, err) {
        StorageError::Transient { key, .. } => StorageError::Transient { key, message },
        StorageError::Permanent { key, .. } => StorageError::Permanent { key, message },
        other => other,
    }
}

/// True when `err` means "no object here": the path is absent, or one of its
/// parents is a plain file (another object), which S3 would call absent too.
fn means_absent(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ENOTDIR)
}

fn not_found(key: &str) -> StorageError {
    StorageError::NotFound {
        key: key.to_string(),
    }
}

fn put_file(
    key: &str,
    path: &Path,
    body: &[u8],
    mode: PutMode,
    metadata: &Metadata,
    xattrs: bool,
) -> StorageResult<()> {
    let dir = path.parent().expect("a key always has a parent directory");
    ensure_dir(key, dir)?;
    let temp = TempFile::write(key, path, body, metadata, xattrs)?;
    publish(key, temp, path, mode, metadata)?;
    sync_dir(key, dir)
}

/// Writes `body` to the file `path`, replacing it, atomically and durably:
/// temp file beside it, fsync, rename, fsync of the directory. Readers (and
/// a crash) see the old file or the whole new one. Used outside the store,
/// e.g. by wal-fetch to hand a segment to PostgreSQL.
pub fn write_file_atomically(path: &Path, body: &[u8]) -> StorageResult<()> {
    let key = path.display().to_string();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = TempFile::write(&key, path, body, &Metadata::new(), true)?;
    rename_into_place(&key, temp, path)?;
    sync_dir(&key, dir)
}

/// Creates `dir` and any missing ancestors (0700), making each new entry durable.
fn ensure_dir(key: &str, dir: &Path) -> StorageResult<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            let err = io::Error::from_raw_os_error(libc::ENOTDIR);
            return Err(io_error(key, "creating directory", dir, err));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(key, "checking directory", dir, e)),
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        ensure_dir(key, parent)?;
    }
    match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {
            // mkdir's mode is masked by the umask; the mode must not be.
            fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
                .map_err(|e| io_error(key, "setting the mode of", dir, e))?;
            parent.map_or(Ok(()), |p| sync_dir(key, p))
        }
        // Another writer created it between our check and mkdir.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(io_error(key, "creating directory", dir, e)),
    }
}

fn sync_dir(key: &str, dir: &Path) -> StorageResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(key, "syncing directory", dir, e))
}

/// Publishes a sealed temp file as the object at `path`. Where a sidecar
/// holds (or held) this name's metadata, the sidecar and the object change
/// together under the directory's metadata lock: a writer that loses a
/// create-only race finds the object there before touching the sidecar,
/// and a failed publish puts the sidecar back as it was.
fn publish(
    key: &str,
    mut temp: TempFile,
    path: &Path,
    mode: PutMode,
    metadata: &Metadata,
) -> StorageResult<()> {
    let record = temp.sidecar.take();
    let sidecar = sidecar_path(path);
    let lock = match &record {
        Some(_) => MetaLock::take(key, &sidecar, true)?,
        // A sidecar of an object once under this name must not describe
        // this one; there is none to remove where the directory has none.
        None if metadata.is_empty() => MetaLock::take(key, &sidecar, false)?,
        // The xattr holds it, on the very inode being published.
        None => None,
    };
    let Some(_lock) = lock else {
        return place(key, temp, path, mode);
    };
    if let Some(refusal) = refuse(key, path, mode) {
        return Err(refusal);
    }
    let previous = match fs::read(&sidecar) {
        Ok(previous) => Some(previous),
        Err(e) if means_absent(&e) => None,
        Err(e) => return Err(io_error(key, "reading metadata sidecar", &sidecar, e)),
    };
    match &record {
        Some(body) => write_sidecar(key, &sidecar, body)?,
        None if previous.is_some() => remove_sidecar(key, &sidecar)?,
        None => {}
    }
    place(key, temp, path, mode).inspect_err(|_| {
        // Whatever is under this name keeps the metadata it had; failing
        // here too changes nothing the error does not already report.
        let _ = match &previous {
            Some(body) => write_sidecar(key, &sidecar, body),
            None => remove_sidecar(key, &sidecar),
        };
    })
}

fn place(key: &str, temp: TempFile, path: &Path, mode: PutMode) -> StorageResult<()> {
    match mode {
        PutMode::CreateOnly => publish_new(key, temp, path),
        PutMode::Overwrite => rename_into_place(key, temp, path),
    }
}

/// Why `path` cannot take the object, decided under the metadata lock
/// before the sidecar changes: the sidecar of an existing object is the
/// winner's, and a losing writer must not touch it.
fn refuse(key: &str, path: &Path, mode: PutMode) -> Option<StorageError> {
    match fs::symlink_metadata(path) {
        Ok(stat) if stat.is_dir() => Some(directory_in_the_way(key, path)),
        Ok(_) if matches!(mode, PutMode::CreateOnly) => Some(StorageError::AlreadyExists {
            key: key.to_string(),
        }),
        // Absent, or unreadable: publishing will say which.
        _ => None,
    }
}

fn directory_in_the_way(key: &str, path: &Path) -> StorageError {
    StorageError::Permanent {
        key: key.to_string(),
        message: format!(
            "cannot create {}: a directory of that name holds other objects",
            path.display()
        ),
    }
}

/// CreateOnly: link(2) fails if the name exists, so of racing writers
/// exactly one wins. The temp name goes before the directory is synced, so
/// a crash does not bring it back.
fn publish_new(key: &str, temp: TempFile, path: &Path) -> StorageResult<()> {
    match fs::hard_link(&temp.path, path) {
        Ok(()) => {
            drop(temp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {
            Err(directory_in_the_way(key, path))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(StorageError::AlreadyExists {
            key: key.to_string(),
        }),
        Err(e) => Err(io_error(key, "publishing", path, e)),
    }
}

/// rename(2) swaps the name over atomically; readers see old or new.
fn rename_into_place(key: &str, mut temp: TempFile, path: &Path) -> StorageResult<()> {
    fs::rename(&temp.path, path).map_err(|e| io_error(key, "publishing", path, e))?;
    temp.published = true;
    Ok(())
}

/// A fully written, synced temp file beside its final name; removed on drop
/// unless renamed into place, so a failed put leaves nothing behind.
struct TempFile {
    path: PathBuf,
    published: bool,
    /// The sidecar record to publish with the object where the filesystem
    /// has no user xattrs; written only when publishing, under the lock.
    sidecar: Option<Vec<u8>>,
}

impl TempFile {
    fn write(
        key: &str,
        final_path: &Path,
        body: &[u8],
        metadata: &Metadata,
        xattrs: bool,
    ) -> StorageResult<Self> {
        let (mut temp, mut file) = TempFile::create(key, final_path)?;
        file.write_all(body)
            .map_err(|e| io_error(key, "writing", final_path, e))?;
        temp.seal(key, &file, final_path, metadata, xattrs)?;
        Ok(temp)
    }

    /// A new, empty temp file (0600) beside `final_path`, open for writing.
    fn create(key: &str, final_path: &Path) -> StorageResult<(Self, File)> {
        let path = temp_path_for(final_path);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(OBJECT_MODE)
            .open(&path)
            .map_err(|e| io_error(key, "writing", final_path, e))?;
        let temp = TempFile {
            path,
            published: false,
            sidecar: None,
        };
        // open's mode is masked by the umask; the object's mode must not be.
        file.set_permissions(fs::Permissions::from_mode(OBJECT_MODE))
            .map_err(|e| io_error(key, "setting the mode of", final_path, e))?;
        Ok((temp, file))
    }

    /// Stores the metadata (or readies its sidecar) and makes the written content durable.
    fn seal(
        &mut self,
        key: &str,
        file: &File,
        final_path: &Path,
        metadata: &Metadata,
        xattrs: bool,
    ) -> StorageResult<()> {
        self.sidecar = store_metadata(key, file, final_path, metadata, xattrs)?;
        file.sync_all()
            .map_err(|e| io_error(key, "syncing", final_path, e))
    }
}

/// Writes a stream into a new temp file beside `path` and publishes it.
async fn put_stream_file(
    key: &str,
    path: PathBuf,
    mut body: super::ByteStream,
    mode: PutMode,
    metadata: Metadata,
    xattrs: bool,
) -> StorageResult<u64> {
    let dir = path
        .parent()
        .expect("a key always has a parent directory")
        .to_path_buf();
    let (mut temp, file) = {
        let (path, dir) = (path.clone(), dir.clone());
        blocking(key, move |key| {
            ensure_dir(key, &dir)?;
            TempFile::create(key, &path)
        })
        .await?
    };
    // Large writes: one blocking-pool hop per MiB, not per 8 KiB.
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let written = tokio::io::copy(&mut body, &mut out)
        .await
        .map_err(|e| io_error(key, "writing", &path, e))?;
    tokio::io::AsyncWriteExt::flush(&mut out)
        .await
        .map_err(|e| io_error(key, "writing", &path, e))?;
    let file = out.into_inner().into_std().await;
    blocking(key, move |key| {
        temp.seal(key, &file, &path, &metadata, xattrs)?;
        publish(key, temp, &path, mode, &metadata)?;
        sync_dir(key, &dir)
    })
    .await?;
    Ok(written)
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// `.walden-tmp.<random>.<basename>`, cut to fit NAME_MAX: the basename is
/// there only to help someone looking at a leftover after a crash.
fn temp_path_for(final_path: &Path) -> PathBuf {
    let base = final_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let mut name = format!("{TEMP_PREFIX}.{:016x}.", rand::random::<u64>());
    for c in base.chars() {
        if name.len() + c.len_utf8() > NAME_MAX {
            break;
        }
        name.push(c);
    }
    final_path.with_file_name(name)
}

/// An object's metadata where user xattrs are missing, with the name and
/// size of the object it describes (a sidecar left by a crashed write must
/// not describe another object).
#[derive(serde::Serialize, serde::Deserialize)]
struct Sidecar {
    name: String,
    size: u64,
    metadata: Metadata,
}

/// `<dir>/.walden-meta/<name>`: by name, so that it travels with a copy.
fn sidecar_path(object: &Path) -> PathBuf {
    object.with_file_name(META_DIR).join(base_name(object))
}

fn base_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Stores `metadata` of the temp file `file` (to become `path`) in its
/// xattr; where the filesystem has no user xattrs, returns the sidecar
/// record for [`publish`] to write with the object.
fn store_metadata(
    key: &str,
    file: &File,
    path: &Path,
    metadata: &Metadata,
    xattrs: bool,
) -> StorageResult<Option<Vec<u8>>> {
    if metadata.is_empty() {
        return Ok(None);
    }
    if xattrs {
        let json = serde_json::to_vec(metadata).expect("a string map always serializes");
        match xattr::set(file, &json) {
            Ok(()) => return Ok(None),
            Err(e) if xattr::unsupported(&e) => note_sidecars(path),
            Err(e) => return Err(io_error(key, "storing metadata (xattr) of", path, e)),
        }
    }
    let size = file
        .metadata()
        .map_err(|e| io_error(key, "reading attributes of", path, e))?
        .len();
    let record = Sidecar {
        name: base_name(path),
        size,
        metadata: metadata.clone(),
    };
    Ok(Some(
        serde_json::to_vec(&record).expect("a sidecar always serializes"),
    ))
}

/// Replaces the sidecar with `body`, atomically and durably. Only under the lock.
fn write_sidecar(key: &str, sidecar: &Path, body: &[u8]) -> StorageResult<()> {
    let temp = TempFile::write(key, sidecar, body, &Metadata::new(), false)?;
    rename_into_place(key, temp, sidecar)?;
    sync_dir(key, sidecar.parent().expect("a sidecar has a directory"))
}

/// Removes the sidecar, durably. Only under the lock.
fn remove_sidecar(key: &str, sidecar: &Path) -> StorageResult<()> {
    match fs::remove_file(sidecar) {
        Ok(()) => sync_dir(key, sidecar.parent().expect("a sidecar has a directory")),
        Err(e) if means_absent(&e) => Ok(()),
        Err(e) => Err(io_error(key, "removing metadata sidecar", sidecar, e)),
    }
}

/// An exclusive flock(2) on a directory's metadata lock file, held while a
/// sidecar and its object change; released when dropped. The kernel drops
/// it when its holder dies, so a crashed writer blocks no one, and a
/// sidecar found under the lock with no object beside it is only a leftover.
/// (Linux NFS clients map flock to a whole-file lock on the server, which
/// needs the file open for writing; hence read-write.)
struct MetaLock {
    _file: File,
}

impl MetaLock {
    /// Locks the `.walden-meta` directory of `sidecar`, creating it if
    /// `create`; else `None` when there is no such directory (no sidecars).
    fn take(key: &str, sidecar: &Path, create: bool) -> StorageResult<Option<MetaLock>> {
        let dir = sidecar.parent().expect("a sidecar has a directory");
        if create {
            ensure_dir(key, dir)?;
        }
        let path = dir.join(META_LOCK);
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(OBJECT_MODE)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if !create && means_absent(&e) => return Ok(None),
            Err(e) => return Err(io_error(key, "opening metadata lock", &path, e)),
        };
        loop {
            // SAFETY: the fd stays open for the call's duration.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Some(MetaLock { _file: file }));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(io_error(key, "locking metadata lock", &path, err));
            }
        }
    }
}

/// The metadata of the object `file` at `path`: its xattr, else its
/// sidecar, else none (a copy that lost its xattrs: callers that need a
/// checksum refuse such an object).
fn read_metadata(
    key: &str,
    file: &File,
    stat: &fs::Metadata,
    path: &Path,
    xattrs: bool,
) -> StorageResult<Metadata> {
    if xattrs {
        match xattr::get(file) {
            Ok(Some(raw)) => {
                return serde_json::from_slice(&raw).map_err(|e| StorageError::Permanent {
                    key: key.to_string(),
                    message: format!(
                        "corrupt metadata in xattr user.walden of {}: {e}",
                        path.display()
                    ),
                })
            }
            Ok(None) => {}
            Err(e) if xattr::unsupported(&e) => {}
            Err(e) => return Err(io_error(key, "reading metadata (xattr) of", path, e)),
        }
    }
    let sidecar = sidecar_path(path);
    let raw = match fs::read(&sidecar) {
        Ok(raw) => raw,
        Err(e) if means_absent(&e) => return Ok(Metadata::new()),
        Err(e) => return Err(io_error(key, "reading metadata sidecar", &sidecar, e)),
    };
    let record: Sidecar = serde_json::from_slice(&raw).map_err(|e| StorageError::Permanent {
        key: key.to_string(),
        message: format!("corrupt metadata sidecar {}: {e}", sidecar.display()),
    })?;
    if record.name != base_name(path) || record.size != stat.len() {
        // Not this object's (left by a crashed write of another one).
        return Ok(Metadata::new());
    }
    Ok(record.metadata)
}

fn note_sidecars(path: &Path) {
    static NOTED: AtomicBool = AtomicBool::new(false);
    if !NOTED.swap(true, Ordering::Relaxed) {
        tracing::info!(
            path = %path.display(),
            "filesystem does not support user extended attributes: object metadata goes to {META_DIR}/ sidecar files"
        );
    }
}

/// Extended attribute access through libc, on the open file so that what we
/// read belongs to the same inode (object version) as the bytes.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod xattr {
    use std::ffi::CStr;
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    const NAME: &CStr = c"user.walden";

    pub fn unsupported(err: &io::Error) -> bool {
        matches!(err.raw_os_error(), Some(code) if code == libc::ENOTSUP || code == libc::EOPNOTSUPP)
    }

    pub fn set(file: &File, value: &[u8]) -> io::Result<()> {
        // SAFETY: the fd is open for the call's duration; name and value are valid for their lengths.
        let rc = unsafe {
            libc::fsetxattr(
                file.as_raw_fd(),
                NAME.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn get(file: &File) -> io::Result<Option<Vec<u8>>> {
        let fd = file.as_raw_fd();
        loop {
            // SAFETY: a null buffer of size 0 asks only for the value's length.
            let len = unsafe { libc::fgetxattr(fd, NAME.as_ptr(), std::ptr::null_mut(), 0) };
            if len < 0 {
                return absent_or_error(io::Error::last_os_error());
            }
            let mut buf = vec![0u8; len as usize];
            // SAFETY: buf is valid for writes of buf.len() bytes.
            let got =
                unsafe { libc::fgetxattr(fd, NAME.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            if got >= 0 {
                buf.truncate(got as usize);
                return Ok(Some(buf));
            }
            let err = io::Error::last_os_error();
            // The value grew between the two calls; ask again.
            if err.raw_os_error() != Some(libc::ERANGE) {
                return absent_or_error(err);
            }
        }
    }

    fn absent_or_error(err: io::Error) -> io::Result<Option<Vec<u8>>> {
        if err.raw_os_error() == Some(libc::ENODATA) {
            Ok(None)
        } else {
            Err(err)
        }
    }
}

/// Platforms without the Linux xattr calls behave like a filesystem without xattrs.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod xattr {
    use std::fs::File;
    use std::io;

    pub fn unsupported(err: &io::Error) -> bool {
        err.kind() == io::ErrorKind::Unsupported
    }

    pub fn set(_file: &File, _value: &[u8]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn get(_file: &File) -> io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// Opens an object's file and describes it. A directory that holds objects
/// is a key prefix, so absent (as on S3); anything that cannot be an object's
/// absence is an error: an empty directory or a dangling symbolic link
/// where an object should be (an unmounted or vanished volume).
fn open_object(
    key: &str,
    root: &Path,
    path: &Path,
    xattrs: bool,
) -> StorageResult<(File, ObjectMeta)> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if means_absent(&e) => {
            return Err(match dangling_link(root, path) {
                Some(link) => StorageError::Permanent {
                    key: key.to_string(),
                    message: format!(
                        "{} is a symbolic link to something missing ({}): is a volume not mounted?",
                        link.display(),
                        fs::read_link(&link).unwrap_or_default().display()
                    ),
                },
                None => not_found(key),
            })
        }
        Err(e) => return Err(io_error(key, "opening", path, e)),
    };
    let stat = file
        .metadata()
        .map_err(|e| io_error(key, "reading attributes of", path, e))?;
    if stat.is_dir() {
        return match holds_entries(path) {
            Ok(true) => Err(not_found(key)),
            Ok(false) => Err(StorageError::Permanent {
                key: key.to_string(),
                message: format!(
                    "{} is an empty directory where an object should be: the repository is damaged",
                    path.display()
                ),
            }),
            Err(e) => Err(io_error(key, "listing", path, e)),
        };
    }
    if !stat.is_file() {
        return Err(StorageError::Permanent {
            key: key.to_string(),
            message: format!("{} is not a regular file", path.display()),
        });
    }
    let meta = ObjectMeta {
        key: key.to_string(),
        size: stat.len(),
        last_modified: stat.modified().ok(),
        metadata: read_metadata(key, &file, &stat, path, xattrs)?,
    };
    Ok((file, meta))
}

/// The symbolic link (`path` or one of its directories, up to `root`) whose
/// target is missing, if that is why `path` cannot be opened. Looks only
/// as far up as needed: an ordinary absent object costs one or two lstats.
fn dangling_link(root: &Path, path: &Path) -> Option<PathBuf> {
    for at in path.ancestors() {
        match fs::symlink_metadata(at) {
            Ok(m) if m.file_type().is_symlink() => {
                return fs::metadata(at).is_err().then(|| at.to_path_buf())
            }
            // Exists and is not a link: nothing above it explains the absence.
            Ok(_) => return None,
            Err(_) if at == root => return None,
            Err(_) => {}
        }
    }
    None
}

/// Whether a directory holds anything but walden's own bookkeeping.
fn holds_entries(dir: &Path) -> io::Result<bool> {
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(TEMP_PREFIX) && !name.starts_with(META_DIR) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn delete_file(key: &str, path: &Path) -> StorageResult<()> {
    // A put racing this delete must not find its fresh sidecar removed.
    let _lock = MetaLock::take(key, &sidecar_path(path), false)?;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if means_absent(&e) => return Ok(()),
        // A directory of that name holds other objects, not this one.
        Err(_) if path.is_dir() => return Ok(()),
        Err(e) => return Err(io_error(key, "deleting", path, e)),
    }
    // Without its object a sidecar is only litter; failing to remove it is harmless.
    let _ = fs::remove_file(sidecar_path(path));
    sync_dir(
        key,
        path.parent().expect("a key always has a parent directory"),
    )
}

/// A depth-first walk in key order over the directories that can hold keys
/// with a given prefix. Holds one sorted directory listing per level.
struct Walk {
    /// The first directory to read, with the key prefix of its entries and
    /// the start their names must have; taken on the first page.
    start: Option<(PathBuf, String, String)>,
    stack: Vec<DirCursor>,
    list_prefix: String,
}

struct DirCursor {
    dir: PathBuf,
    key_prefix: String,
    entries: Vec<DirEntry>,
    next: usize,
}

struct DirEntry {
    name: String,
    is_dir: bool,
}

impl DirEntry {
    /// Keys below a directory `d` all start `d/`, so it sorts as `d/` among
    /// its siblings: `a-b` < `a/x` < `a0` in key order.
    fn sort_key(&self) -> String {
        if self.is_dir {
            format!("{}/", self.name)
        } else {
            self.name.clone()
        }
    }
}

impl Walk {
    fn new(root: &Path, prefix: &str) -> Walk {
        let (dir_part, partial) = match prefix.rsplit_once('/') {
            Some((dir, partial)) => (Some(dir), partial),
            None => (None, prefix),
        };
        let start = match dir_part {
            None => Some((root.to_path_buf(), String::new(), partial.to_string())),
            // A directory part no valid key can have matches nothing; it
            // must not be walked either (think `../`).
            Some(dir) if validate_key(dir).is_err() => None,
            Some(dir) => Some((root.join(dir), format!("{dir}/"), partial.to_string())),
        };
        Walk {
            start,
            stack: Vec::new(),
            list_prefix: prefix.to_string(),
        }
    }

    fn finished() -> Walk {
        Walk {
            start: None,
            stack: Vec::new(),
            list_prefix: String::new(),
        }
    }

    fn is_done(&self) -> bool {
        self.start.is_none() && self.stack.is_empty()
    }

    /// Up to `n` objects in key order, and the error that cut the page short, if any.
    fn next_page(&mut self, n: usize) -> (Vec<ObjectMeta>, Option<StorageError>) {
        let mut page = Vec::new();
        if let Some((dir, key_prefix, partial)) = self.start.take() {
            if let Err(e) = self.enter(dir, key_prefix, &partial) {
                return (page, Some(e));
            }
        }
        while page.len() < n {
            let Some(top) = self.stack.last_mut() else {
                break;
            };
            let Some(entry) = top.entries.get(top.next) else {
                self.stack.pop();
                continue;
            };
            top.next += 1;
            let path = top.dir.join(&entry.name);
            let key = format!("{}{}", top.key_prefix, entry.name);
            let step = if entry.is_dir {
                self.enter(path, format!("{key}/"), "")
            } else {
                self.describe(key, &path).map(|meta| page.extend(meta))
            };
            if let Err(e) = step {
                return (page, Some(e));
            }
        }
        (page, None)
    }

    fn enter(&mut self, dir: PathBuf, key_prefix: String, partial: &str) -> StorageResult<()> {
        let entries = match read_sorted(&dir, partial) {
            Ok(entries) => entries,
            // Removed while we walked, or never there: nothing to list.
            Err(e) if means_absent(&e) => return Ok(()),
            Err(e) => return Err(io_error(&self.list_prefix, "listing", &dir, e)),
        };
        self.stack.push(DirCursor {
            dir,
            key_prefix,
            entries,
            next: 0,
        });
        Ok(())
    }

    fn describe(&self, key: String, path: &Path) -> StorageResult<Option<ObjectMeta>> {
        if validate_key(&key).is_err() {
            return Ok(None);
        }
        match fs::symlink_metadata(path) {
            Ok(stat) if stat.is_file() => Ok(Some(ObjectMeta {
                key,
                size: stat.len(),
                last_modified: stat.modified().ok(),
                metadata: Metadata::new(),
            })),
            Ok(_) => Ok(None),
            Err(e) if means_absent(&e) => Ok(None),
            Err(e) => Err(io_error(&self.list_prefix, "listing", path, e)),
        }
    }
}

/// The entries of `dir` whose names start with `partial`, in key order,
/// leaving out in-flight temp files and anything that is not a file or directory.
fn read_sorted(dir: &Path, partial: &str) -> io::Result<Vec<DirEntry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with(partial) || name.starts_with(TEMP_PREFIX) || name.starts_with(META_DIR)
        {
            continue;
        }
        let file_type = entry.file_type()?;
        if file_type.is_dir() || file_type.is_file() {
            entries.push(DirEntry {
                name,
                is_dir: file_type.is_dir(),
            });
        }
    }
    entries.sort_by_cached_key(DirEntry::sort_key);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::conformance;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn read_all(path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn store(dir: &tempfile::TempDir) -> LocalStore {
        LocalStore::new(dir.path().to_path_buf()).with_page_size(7)
    }

    /// Every file name under `dir`, recursively, relative to it.
    fn files_under(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    let rel = path.strip_prefix(dir).unwrap();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    async fn listed(store: &LocalStore, prefix: &str) -> Vec<String> {
        store
            .list(prefix)
            .map(|r| r.unwrap().key)
            .collect::<Vec<_>>()
            .await
    }

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        conformance::run(&store(&dir)).await;
    }

    #[tokio::test]
    async fn url_names_the_root() {
        let store = LocalStore::new(PathBuf::from("/var/lib/walden"));
        assert_eq!(store.url(), "file:///var/lib/walden");
    }

    #[tokio::test]
    async fn creates_missing_root_and_parents() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("not/yet/there"));
        assert!(listed(&store, "").await.is_empty());
        store
            .put(
                "a/b/c",
                Bytes::from_static(b"x"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        assert_eq!(
            read_all(&dir.path().join("not/yet/there/a/b/c")).unwrap(),
            b"x"
        );
    }

    #[tokio::test]
    async fn metadata_lives_in_an_xattr() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let meta = Metadata::from([("sha256".to_string(), "abc".to_string())]);
        store
            .put("k", Bytes::from_static(b"x"), PutMode::CreateOnly, &meta)
            .await
            .unwrap();
        let file = File::open(dir.path().join("k")).unwrap();
        match xattr::get(&file) {
            Ok(raw) => assert_eq!(raw.as_deref(), Some(&br#"{"sha256":"abc"}"#[..])),
            Err(e) if xattr::unsupported(&e) => {}
            Err(e) => panic!("reading xattr: {e}"),
        }
    }

    #[tokio::test]
    async fn conformance_without_xattrs() {
        let dir = tempfile::tempdir().unwrap();
        conformance::run(&store(&dir).without_xattrs()).await;
    }

    fn sidecars(dir: &Path) -> Vec<String> {
        files_under(dir)
            .into_iter()
            .filter(|f| f.contains(META_DIR) && !f.ends_with(META_LOCK))
            .collect()
    }

    #[tokio::test]
    async fn without_xattrs_metadata_goes_to_a_hidden_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).without_xattrs();
        let meta = |sha: &str| Metadata::from([("sha256".to_string(), sha.to_string())]);
        store
            .put(
                "w/k",
                Bytes::from_static(b"x"),
                PutMode::CreateOnly,
                &meta("one"),
            )
            .await
            .unwrap();
        assert_eq!(sidecars(dir.path()), [format!("w/{META_DIR}/k")]);
        assert_eq!(store.head("w/k").await.unwrap().metadata, meta("one"));
        assert_eq!(listed(&store, "").await, ["w/k"]);
        assert_eq!(listed(&store, "w/.").await, Vec::<String>::new());

        // A losing create-only writer leaves the winner's metadata alone.
        let err = store
            .put(
                "w/k",
                Bytes::from_static(b"y"),
                PutMode::CreateOnly,
                &meta("two"),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
        assert_eq!(store.head("w/k").await.unwrap().metadata, meta("one"));
        assert_eq!(sidecars(dir.path()).len(), 1);

        // Overwrite replaces the metadata and drops the old sidecar.
        let body = futures::stream::iter([Ok::<_, io::Error>(Bytes::from_static(b"zz"))]);
        let body: super::super::ByteStream = Box::pin(tokio_util::io::StreamReader::new(body));
        store
            .put_stream("w/k", body, PutMode::Overwrite, &meta("three"))
            .await
            .unwrap();
        let got = store.get("w/k", None).await.unwrap();
        assert_eq!(got.meta.metadata, meta("three"));
        assert_eq!(got.bytes().await.unwrap(), &b"zz"[..]);
        assert_eq!(sidecars(dir.path()).len(), 1);

        // A sidecar that does not describe this object is not believed.
        let sidecar = dir.path().join(format!("w/{META_DIR}/k"));
        let other = br#"{"name":"k","size":3,"metadata":{"sha256":"evil"}}"#;
        fs::write(&sidecar, other).unwrap();
        assert!(store.head("w/k").await.unwrap().metadata.is_empty());

        store.delete("w/k").await.unwrap();
        assert!(sidecars(dir.path()).is_empty());
        assert!(store.head(&format!("w/{META_DIR}/k")).await.is_err());

        // A sidecar left by a write that crashed before publishing is replaced.
        fs::write(&sidecar, other).unwrap();
        store
            .put(
                "w/k",
                Bytes::from_static(b"x"),
                PutMode::CreateOnly,
                &meta("four"),
            )
            .await
            .unwrap();
        assert_eq!(store.head("w/k").await.unwrap().metadata, meta("four"));
    }

    /// Two create-only writers of one key without xattrs, each step driven in
    /// turn: both write (and seal) before either publishes, then they publish
    /// in the given order. The first to publish wins; the loser must get
    /// AlreadyExists and leave the winner's object readable with its metadata.
    #[tokio::test]
    async fn a_losing_writer_never_damages_the_winners_sidecar() {
        let meta = |sha: &str| Metadata::from([("sha256".to_string(), sha.to_string())]);
        let same = [
            (&b"segment"[..], meta("one")),
            (&b"segment"[..], meta("one")),
        ];
        // Same size, other checksum: the sidecar's size check cannot tell them apart.
        let other = [
            (&b"segment"[..], meta("one")),
            (&b"SEGMENT"[..], meta("two")),
        ];
        for (case, writers) in [("same content", &same), ("other content", &other)] {
            for winner in [0, 1] {
                let dir = tempfile::tempdir().unwrap();
                let store = store(&dir).without_xattrs();
                let path = dir.path().join("w/k");
                ensure_dir("w/k", path.parent().unwrap()).unwrap();
                let mut temps: Vec<Option<TempFile>> = writers
                    .iter()
                    .map(|(body, m)| Some(TempFile::write("w/k", &path, body, m, false).unwrap()))
                    .collect();
                let loser = 1 - winner;
                let won = temps[winner].take().unwrap();
                publish("w/k", won, &path, PutMode::CreateOnly, &writers[winner].1).unwrap();
                let lost = temps[loser].take().unwrap();
                let err = publish("w/k", lost, &path, PutMode::CreateOnly, &writers[loser].1)
                    .unwrap_err();
                assert!(
                    matches!(err, StorageError::AlreadyExists { .. }),
                    "{case}, writer {winner} first: {err}"
                );
                let got = store.get("w/k", None).await.unwrap();
                assert_eq!(
                    got.meta.metadata, writers[winner].1,
                    "{case}, writer {winner} first: the winner's metadata"
                );
                assert_eq!(got.bytes().await.unwrap(), writers[winner].0);
                assert_eq!(sidecars(dir.path()).len(), 1, "{case}");
            }
        }
    }

    #[tokio::test]
    async fn objects_are_0600_and_directories_0700_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new/root");
        // cron and login shells run with umask 022.
        // SAFETY: umask has no preconditions; other tests here do not depend on it.
        let before = unsafe { libc::umask(0o022) };
        for xattrs in [true, false] {
            let store = if xattrs {
                LocalStore::new(root.clone())
            } else {
                LocalStore::new(root.join("plain")).without_xattrs()
            };
            let meta = Metadata::from([("sha256".to_string(), "abc".to_string())]);
            store
                .put(
                    "a/b/c",
                    Bytes::from_static(b"x"),
                    PutMode::CreateOnly,
                    &meta,
                )
                .await
                .unwrap();
            let body = futures::stream::iter([Ok::<_, io::Error>(Bytes::from_static(b"y"))]);
            let body: super::super::ByteStream = Box::pin(tokio_util::io::StreamReader::new(body));
            store
                .put_stream("d/e", body, PutMode::Overwrite, &meta)
                .await
                .unwrap();
        }
        // SAFETY: as above.
        unsafe { libc::umask(before) };
        let mut todo = vec![dir.path().join("new")];
        let mut seen = 0;
        while let Some(d) = todo.pop() {
            let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, 0o700, "directory {}", d.display());
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
                if path.is_dir() {
                    todo.push(path);
                } else {
                    seen += 1;
                    assert_eq!(mode, 0o600, "object {}", path.display());
                }
            }
        }
        assert!(seen >= 4, "objects and sidecars were checked");
    }

    #[tokio::test]
    async fn an_empty_directory_or_a_dangling_link_is_not_an_absent_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let permanent = |r: StorageResult<ObjectMeta>, what: &str| match r {
            Err(e @ StorageError::Permanent { .. }) => e.to_string(),
            other => panic!("{what}: want Permanent, got {other:?}"),
        };
        fs::create_dir(dir.path().join("empty")).unwrap();
        let shown = permanent(store.head("empty").await, "empty directory");
        assert!(shown.contains("empty directory"), "{shown}");
        assert!(store.get("empty", None).await.is_err());

        std::os::unix::fs::symlink("/nonexistent/walden", dir.path().join("link")).unwrap();
        let shown = permanent(store.head("link").await, "dangling link");
        assert!(shown.contains("symbolic link"), "{shown}");
        std::os::unix::fs::symlink("/nonexistent/mount", dir.path().join("wal")).unwrap();
        let shown = permanent(
            store.head("wal/00000001/x").await,
            "dangling directory link",
        );
        assert!(shown.contains("/nonexistent/mount"), "{shown}");

        // A directory holding objects is only a prefix of their keys, as on S3.
        store
            .put(
                "dir/obj",
                Bytes::from_static(b"o"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        assert!(matches!(
            store.head("dir").await,
            Err(StorageError::NotFound { .. })
        ));
        assert!(matches!(
            store.head("absent").await,
            Err(StorageError::NotFound { .. })
        ));
        assert!(matches!(
            store.head("dir/none").await,
            Err(StorageError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn temp_files_are_invisible() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        store
            .put(
                "wal/a",
                Bytes::from_static(b"a"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        // What a crash mid-put leaves: a temp file, maybe partial, beside the final name.
        fs::write(dir.path().join("wal/.walden-tmp.0123.b"), b"partial").unwrap();
        fs::create_dir(dir.path().join(".walden-tmp.dir")).unwrap();
        fs::write(dir.path().join(".walden-tmp.dir/c"), b"c").unwrap();
        assert_eq!(listed(&store, "").await, ["wal/a"]);
        assert_eq!(listed(&store, "wal/").await, ["wal/a"]);
        assert!(listed(&store, "wal/.walden").await.is_empty());
        let err = store.head("wal/.walden-tmp.0123.b").await.unwrap_err();
        assert!(matches!(err, StorageError::Permanent { .. }), "{err}");
    }

    #[tokio::test]
    async fn list_skips_directories_and_prefixes_do_not_escape_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let store = LocalStore::new(root.clone()).with_page_size(2);
        fs::create_dir_all(root.join("empty/deeper")).unwrap();
        fs::write(dir.path().join("outside"), b"o").unwrap();
        store
            .put(
                "x",
                Bytes::from_static(b"1"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        assert_eq!(listed(&store, "").await, ["x"]);
        assert!(listed(&store, "../").await.is_empty());
        assert!(listed(&store, "../out").await.is_empty());
        assert!(listed(&store, "/").await.is_empty());
        assert!(listed(&store, "x/").await.is_empty());
    }

    #[tokio::test]
    async fn failed_publish_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        store
            .put(
                "d/inner",
                Bytes::from_static(b"i"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        store
            .put(
                "k",
                Bytes::from_static(b"old"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        // rename(2) onto a non-empty directory fails even for root, after the temp is written.
        let err = store
            .put(
                "d",
                Bytes::from_static(b"new"),
                PutMode::Overwrite,
                &Metadata::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Permanent { .. }), "{err}");
        let err = store
            .put(
                "d",
                Bytes::from_static(b"new"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Permanent { .. }), "{err}");
        let err = store
            .put(
                "k",
                Bytes::from_static(b"new"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
        assert_eq!(files_under(dir.path()), ["d/inner", "k"]);
        assert_eq!(read_all(&dir.path().join("k")).unwrap(), b"old");
    }

    #[tokio::test]
    async fn unwritable_location_is_permanent_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        store
            .put(
                "file",
                Bytes::from_static(b"f"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        // Root ignores file modes, so use a failure root cannot bypass: a
        // parent that is a regular file (ENOTDIR).
        let err = store
            .put(
                "file/below",
                Bytes::from_static(b"x"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(matches!(err, StorageError::Permanent { .. }), "{shown}");
        assert!(
            shown.contains(&dir.path().join("file").display().to_string()),
            "{shown}"
        );
        assert_eq!(files_under(dir.path()), ["file"]);
    }

    #[tokio::test]
    async fn permission_denied_is_permanent_and_names_the_path() {
        use std::os::unix::fs::PermissionsExt;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Root bypasses file modes; the ENOTDIR test above covers the error path.
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        fs::create_dir(dir.path().join("ro")).unwrap();
        fs::set_permissions(dir.path().join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
        let err = store
            .put(
                "ro/k",
                Bytes::from_static(b"x"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap_err();
        fs::set_permissions(dir.path().join("ro"), fs::Permissions::from_mode(0o755)).unwrap();
        let shown = err.to_string();
        assert!(matches!(err, StorageError::Permanent { .. }), "{shown}");
        assert!(
            shown.contains(&dir.path().join("ro/k").display().to_string()),
            "{shown}"
        );
        assert!(
            shown.to_lowercase().contains("permission denied"),
            "{shown}"
        );
        assert!(files_under(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn long_names_still_fit_their_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let key = "n".repeat(250);
        store
            .put(
                &key,
                Bytes::from_static(b"x"),
                PutMode::CreateOnly,
                &Metadata::new(),
            )
            .await
            .unwrap();
        assert_eq!(listed(&store, "").await, [key]);
    }

    const CRASH_CHILD_ROOT: &str = "WALDEN_TEST_CRASH_CHILD_ROOT";
    const CRASH_BODY_LEN: usize = 8 << 20;

    fn crash_body() -> Bytes {
        (0..CRASH_BODY_LEN).map(|i| (i % 251) as u8).collect()
    }

    /// The child process of `sigkill_mid_put_never_publishes_a_partial_object`;
    /// returns at once when run as an ordinary test (the variable is unset).
    #[tokio::test]
    async fn crash_child() {
        let Ok(root) = std::env::var(CRASH_CHILD_ROOT) else {
            return;
        };
        let store = LocalStore::new(PathBuf::from(root));
        let body = crash_body();
        for i in 0u64.. {
            let mode = if i % 2 == 0 {
                PutMode::CreateOnly
            } else {
                PutMode::Overwrite
            };
            store
                .put(
                    &format!("crash/{:04}", i / 2),
                    body.clone(),
                    mode,
                    &Metadata::new(),
                )
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn sigkill_mid_put_never_publishes_a_partial_object() {
        let dir = tempfile::tempdir().unwrap();
        let test_path = module_path!().split_once("::").unwrap().1;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &format!("{test_path}::crash_child")])
            .arg("--test-threads=1")
            .env(CRASH_CHILD_ROOT, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill while a write is in flight: once a temp file exists and a few objects are done.
        let deadline = Instant::now() + Duration::from_secs(20);
        let crash_dir = dir.path().join("crash");
        loop {
            let names: Vec<String> = fs::read_dir(&crash_dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default();
            let in_flight = names.iter().any(|n| n.starts_with(TEMP_PREFIX));
            if (in_flight && names.len() > 3) || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let store = LocalStore::new(dir.path().to_path_buf());
        let keys = listed(&store, "").await;
        assert!(!keys.is_empty(), "the child never published an object");
        let body = crash_body();
        for key in keys {
            let got = store.get(&key, None).await.unwrap().bytes().await.unwrap();
            assert!(
                got == body,
                "{key} holds {} bytes, not the whole body",
                got.len()
            );
        }
    }
}
