//! What a base backup copies from a PostgreSQL data directory and its tablespaces: pg_basebackup's exclusions, in a deterministic tar order.
//!
//! The rules are `sendDir()` of PostgreSQL's basebackup.c
//! (src/backend/replication/ up to 15, src/backend/backup/ from 16):
//! `excludeDirContents`, `excludeFiles`, temporary files and relations,
//! unlogged relations' non-init forks, `pg_wal` kept empty (with its
//! subdirectories), symbolic links kept only in `pg_tblspc`, and
//! `global/pg_control` sent last. Where PostgreSQL matches a bare name it
//! does so at any depth, and so does this module.
//!
//! What differs between the versions walden supports (13 to 18):
//!
//! * 13 and 14 also skip the contents of `stats_temp_directory` when it is
//!   set to a directory inside the data directory other than the default
//!   `pg_stat_tmp`. 15 removed that setting (statistics moved to shared
//!   memory); `pg_stat_tmp` itself is emptied by every version. walden
//!   empties `pg_stat_tmp` only: a custom statistics directory is copied,
//!   which costs bytes, never correctness (PostgreSQL ignores stale files
//!   there).
//! * 13 added `backup_manifest` to `excludeFiles` (the manifest of the
//!   backup this cluster was restored from); it is in every supported
//!   version's list.
//! * 17 sends `pg_wal/summaries` as an empty directory beside
//!   `pg_wal/archive_status` (WAL summaries for incremental backups belong to
//!   the server that wrote them). Older versions have no such directory, so
//!   keeping it whenever it exists matches each version; restore creates it
//!   for 17 and later whatever the backup holds.
//! * The lists are otherwise the same from 13 to 18.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One thing to put in the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the walked root, '/'-separated, without a leading `./`.
    pub rel_path: PathBuf,
    pub kind: EntryKind,
    /// Bytes of a file at the time of the walk (0 for directories and links).
    /// The file may grow or shrink before it is read: WAL replay fixes that.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A tablespace link `pg_tblspc/<oid>` and where it points.
    Symlink(PathBuf),
}

/// What a base backup does with one path of the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    Keep,
    SkipEntirely,
    /// The directory is kept (so it exists with the right permissions after
    /// restore), its contents are not.
    KeepDirEmpty,
}

/// The control file, which the backup holds back until everything else is
/// copied (as pg_basebackup does), so it is the newest file in the backup.
pub const CONTROL_FILE: &str = "global/pg_control";

/// `excludeDirContents`: contents removed, recreated or zeroed at server
/// start (or, for `pg_replslot`, not meaningful on another server).
const EXCLUDE_DIR_CONTENTS: [&str; 7] = [
    "pg_stat_tmp",
    "pg_replslot",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_subtrans",
];

/// `excludeFiles`: (name, match as a prefix). `backup_label` and
/// `tablespace_map` of this backup come from `pg_backup_stop`, never from
/// disk; `pg_internal.init` is rebuilt at start (prefix: its temp files too).
/// PostgreSQL skips `current_logfiles.tmp` but copies `current_logfiles`.
const EXCLUDE_FILES: [(&str, bool); 8] = [
    ("postgresql.auto.conf.tmp", false),
    ("current_logfiles.tmp", false),
    ("pg_internal.init", true),
    ("backup_label", false),
    ("tablespace_map", false),
    ("backup_manifest", false),
    ("postmaster.pid", false),
    ("postmaster.opts", false),
];

/// The directories inside `pg_wal` a backup keeps, empty: `archive_status`
/// (every version) and `summaries` (17 and later; see the module comment).
pub const PG_WAL_SUBDIRS: [&[u8]; 2] = [b"archive_status", b"summaries"];

/// The WAL directories a restored data directory of PostgreSQL `major`
/// must have before it starts, parents first, as pg_basebackup leaves them:
/// 17 and later also keep WAL summaries in `pg_wal/summaries`.
pub fn restored_wal_dirs(major: u32) -> &'static [&'static str] {
    if major >= 17 {
        &["pg_wal", "pg_wal/archive_status", "pg_wal/summaries"]
    } else {
        &["pg_wal", "pg_wal/archive_status"]
    }
}

/// `PG_TEMP_FILE_PREFIX`: temporary files and directories (`pgsql_tmp`).
const TEMP_FILE_PREFIX: &[u8] = b"pgsql_tmp";

/// `OIDCHARS`: the most decimal digits an OID has.
const OID_CHARS: usize = 10;

/// Whether a base backup copies `rel_path` (relative to the data directory
/// or to a tablespace location). Pure: it looks at names only. The one rule
/// that needs to see the directory, unlogged relations, lives in [`walk`].
pub fn is_excluded(rel_path: &Path, is_dir: bool) -> Exclusion {
    let parts: Vec<&[u8]> = components(rel_path);
    let Some((name, ancestors)) = parts.split_last() else {
        return Exclusion::Keep;
    };
    // Something under a directory the walk never enters is never copied.
    for (depth, ancestor) in ancestors.iter().enumerate() {
        let emptied = is_temp_file_name(ancestor)
            || is_excluded_file_name(ancestor)
            || EXCLUDE_DIR_CONTENTS
                .iter()
                .any(|d| d.as_bytes() == *ancestor);
        if emptied {
            return Exclusion::SkipEntirely;
        }
        if depth == 0 && *ancestor == b"pg_wal" {
            let kept_empty = parts.len() == 2 && is_dir && PG_WAL_SUBDIRS.contains(name);
            return if kept_empty {
                Exclusion::KeepDirEmpty
            } else {
                Exclusion::SkipEntirely
            };
        }
    }
    if is_temp_file_name(name) || is_excluded_file_name(name) {
        return Exclusion::SkipEntirely;
    }
    if is_dir && (EXCLUDE_DIR_CONTENTS.iter().any(|d| d.as_bytes() == *name)) {
        return Exclusion::KeepDirEmpty;
    }
    // WAL comes from the archive, never from the backup.
    if is_dir && ancestors.is_empty() && *name == b"pg_wal" {
        return Exclusion::KeepDirEmpty;
    }
    if is_database_dir(ancestors) && looks_like_temp_rel_name(name) {
        return Exclusion::SkipEntirely;
    }
    Exclusion::Keep
}

/// Everything a base backup copies from the data directory `root`, parents
/// before children, siblings in byte order (in a directory of more than
/// 10 000 names, in the file system's order), `global/pg_control` last.
///
/// Symbolic links are not followed. `pg_tblspc/<oid>` links are reported as
/// [`EntryKind::Symlink`] (tablespaces are walked separately with
/// [`walk_tablespace`]); a link at `pg_wal` or at a directory whose contents
/// are excluded becomes an empty directory; any other link, socket or device
/// is skipped with a warning, as pg_basebackup does. Files that vanish during
/// the walk are skipped: the server may drop them at any time, and WAL replay
/// accounts for that.
pub fn walk(root: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    walk_each(root, &mut |entry| {
        entries.push(entry);
        Ok(())
    })?;
    Ok(entries)
}

/// [`walk`], handing each entry to `sink` as it is found instead of
/// collecting them: memory stays flat however many files the cluster has
/// (one directory's names at a time). An error from `sink` stops the walk.
pub fn walk_each(root: &Path, sink: &mut dyn FnMut(Entry) -> io::Result<()>) -> io::Result<()> {
    require_dir(root)?;
    let mut control = None;
    walk_dir(root, Path::new(""), Place::DataDir, &mut |entry| {
        if entry.rel_path == Path::new(CONTROL_FILE) {
            control = Some(entry);
            Ok(())
        } else {
            sink(entry)
        }
    })?;
    match control {
        Some(control) => sink(control),
        None => Ok(()),
    }
}

/// Everything a base backup copies from one tablespace: `version_dir` (e.g.
/// `PG_15_202209061`) under `location` and its contents, with paths relative
/// to `location` (as in pg_basebackup's `<oid>.tar`). Same rules as [`walk`];
/// no symbolic link is kept.
pub fn walk_tablespace(location: &Path, version_dir: &str) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    walk_tablespace_each(location, version_dir, &mut |entry| {
        entries.push(entry);
        Ok(())
    })?;
    Ok(entries)
}

/// [`walk_tablespace`], handing each entry to `sink` as it is found.
pub fn walk_tablespace_each(
    location: &Path,
    version_dir: &str,
    sink: &mut dyn FnMut(Entry) -> io::Result<()>,
) -> io::Result<()> {
    if !is_version_dir_name(version_dir.as_bytes()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{version_dir:?} is not a tablespace version directory name (like PG_15_202209061)"
            ),
        ));
    }
    let top = location.join(version_dir);
    let meta = require_dir(&top)?;
    sink(entry(PathBuf::from(version_dir), EntryKind::Dir, &meta))?;
    walk_dir(&top, Path::new(version_dir), Place::Tablespace, sink)
}

/// `TABLESPACE_VERSION_DIRECTORY` of a PostgreSQL 10 or later server:
/// `PG_<major>_<catalog version>`, e.g. `PG_15_202209061` (the catalog
/// version is `pg_controldata`'s "Catalog version number").
pub fn tablespace_version_dir(major: u32, catalog_version: u32) -> String {
    format!("PG_{major}_{catalog_version}")
}

/// The single `PG_<major>_<catalog version>` directory in a tablespace
/// `location`, for when the catalog version is not at hand.
pub fn find_tablespace_version_dir(location: &Path, major: u32) -> io::Result<String> {
    let prefix = format!("PG_{major}_");
    let found: Vec<String> = read_dir_sorted(location)
        .map_err(|e| with_path(e, location))?
        .into_iter()
        .filter_map(|name| name.into_string().ok())
        .filter(|name| {
            name.strip_prefix(&prefix)
                .is_some_and(|cat| !cat.is_empty() && cat.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} has no {prefix}<catalog version> directory: not a tablespace of a PostgreSQL {major} server",
                location.display()
            ),
        )),
        several => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} has several PostgreSQL {major} version directories ({}): cannot tell which belongs to this server",
                location.display(),
                several.join(", ")
            ),
        )),
    }
}

/// Where a walk is: in the data directory, links in `pg_tblspc` are
/// tablespaces; in a tablespace, no link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    DataDir,
    Tablespace,
}

/// Where a walk hands its entries.
type Sink<'a> = dyn FnMut(Entry) -> io::Result<()> + 'a;

fn walk_dir(dir: &Path, rel_dir: &Path, place: Place, out: &mut Sink<'_>) -> io::Result<()> {
    let names = match DirNames::read(dir) {
        Ok(names) => names,
        // Dropped (a database, a temp directory) since we saw it: its entry
        // stays, as an empty directory, and replay removes it.
        Err(e) if e.kind() == io::ErrorKind::NotFound && !rel_dir.as_os_str().is_empty() => {
            return Ok(())
        }
        Err(e) => return Err(with_path(e, dir)),
    };
    let in_database_dir = is_database_dir(&components(rel_dir));
    // Only the init forks are kept aside, not every name: a database
    // directory can hold a million files.
    let mut init_forks: HashSet<Vec<u8>> = HashSet::new();
    if in_database_dir {
        names.for_each(&mut |name| {
            if let Some((_, Fork::Init)) = parse_relation_file_name(name.as_bytes()) {
                init_forks.insert(name.as_bytes().to_vec());
            }
            Ok(())
        })?;
    }
    let in_tblspc = place == Place::DataDir && rel_dir == Path::new("pg_tblspc");
    names.for_each(&mut |name| {
        if in_database_dir && is_unlogged_non_init_fork(name.as_bytes(), &init_forks) {
            return Ok(());
        }
        walk_name(dir, rel_dir, name, place, in_tblspc, out)
    })
}

/// One name of a directory being walked.
fn walk_name(
    dir: &Path,
    rel_dir: &Path,
    name: &OsStr,
    place: Place,
    in_tblspc: bool,
    out: &mut Sink<'_>,
) -> io::Result<()> {
    let path = dir.join(name);
    let rel = rel_dir.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(with_path(e, &path)),
    };
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return walk_symlink(&path, rel, &meta, in_tblspc, out);
    }
    match is_excluded(&rel, file_type.is_dir()) {
        Exclusion::SkipEntirely => {}
        Exclusion::KeepDirEmpty => push_emptied_dir(&path, rel, &meta, out)?,
        Exclusion::Keep if file_type.is_dir() => {
            out(entry(rel.clone(), EntryKind::Dir, &meta))?;
            walk_dir(&path, &rel, place, out)?;
        }
        Exclusion::Keep if file_type.is_file() => out(entry(rel, EntryKind::File, &meta))?,
        Exclusion::Keep => {
            tracing::warn!(path = %path.display(), "skipping special file (not a regular file, directory or tablespace link)");
        }
    }
    Ok(())
}

fn walk_symlink(
    path: &Path,
    rel: PathBuf,
    meta: &std::fs::Metadata,
    in_tblspc: bool,
    out: &mut Sink<'_>,
) -> io::Result<()> {
    match is_excluded(&rel, true) {
        Exclusion::SkipEntirely => {}
        Exclusion::Keep if in_tblspc => {
            let target = std::fs::read_link(path).map_err(|e| with_path(e, path))?;
            out(entry(rel, EntryKind::Symlink(target), meta))?;
        }
        // pg_wal, or pg_stat_tmp on a RAM disk, say: an empty directory
        // (PostgreSQL's convert_link_to_directory), with the mode and time
        // of what the link points at.
        Exclusion::KeepDirEmpty => {
            let meta = std::fs::metadata(path).unwrap_or_else(|_| meta.clone());
            push_emptied_dir(path, rel, &meta, out)?;
        }
        Exclusion::Keep => {
            tracing::warn!(path = %path.display(), "skipping symbolic link: only tablespace links in pg_tblspc are backed up");
        }
    }
    Ok(())
}

/// A directory whose contents are excluded; for `pg_wal`, also its
/// subdirectories, empty: `archive_status` always (PostgreSQL needs it in
/// order to start), `summaries` where the server has one (17 and later).
fn push_emptied_dir(
    path: &Path,
    rel: PathBuf,
    meta: &std::fs::Metadata,
    out: &mut Sink<'_>,
) -> io::Result<()> {
    let is_pg_wal = rel == Path::new("pg_wal");
    out(entry(rel, EntryKind::Dir, meta))?;
    if is_pg_wal {
        for sub in PG_WAL_SUBDIRS {
            let name = std::ffi::OsStr::from_bytes(sub);
            let found = std::fs::metadata(path.join(name))
                .ok()
                .filter(|m| m.is_dir());
            if found.is_none() && sub != b"archive_status" {
                continue;
            }
            out(entry(
                Path::new("pg_wal").join(name),
                EntryKind::Dir,
                found.as_ref().unwrap_or(meta),
            ))?;
        }
    }
    Ok(())
}

fn entry(rel_path: PathBuf, kind: EntryKind, meta: &std::fs::Metadata) -> Entry {
    let size = if kind == EntryKind::File {
        meta.len()
    } else {
        0
    };
    Entry {
        rel_path,
        kind,
        size,
        mode: meta.mode() & 0o7777,
        mtime: meta.mtime(),
    }
}

fn require_dir(path: &Path) -> io::Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path).map_err(|e| with_path(e, path))?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a directory", path.display()),
        ));
    }
    Ok(meta)
}

/// Most names of one directory walked in byte order; see [`DirNames`].
const SORTED_NAMES_LIMIT: usize = 10_000;

/// The names in one directory, to walk. Up to [`SORTED_NAMES_LIMIT`] of
/// them are read at once and sorted, so that backups of the same files are
/// the same; a larger directory (a database of a hundred thousand
/// partitions) is walked in the order the file system lists it, a batch
/// at a time, so that memory does not grow with it.
enum DirNames {
    Sorted(Vec<OsString>),
    Large(PathBuf),
}

impl DirNames {
    fn read(dir: &Path) -> io::Result<DirNames> {
        let mut names = Vec::new();
        for name in std::fs::read_dir(dir)? {
            if names.len() == SORTED_NAMES_LIMIT {
                return Ok(DirNames::Large(dir.to_path_buf()));
            }
            names.push(name?.file_name());
        }
        names.sort_unstable();
        Ok(DirNames::Sorted(names))
    }

    /// Calls `f` with each name; a large directory is read again, and one
    /// removed since is empty.
    fn for_each(&self, f: &mut dyn FnMut(&OsStr) -> io::Result<()>) -> io::Result<()> {
        match self {
            DirNames::Sorted(names) => names.iter().try_for_each(|name| f(name)),
            DirNames::Large(dir) => {
                let listing = match std::fs::read_dir(dir) {
                    Ok(listing) => listing,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(e),
                };
                for name in listing {
                    f(&name?.file_name())?;
                }
                Ok(())
            }
        }
    }
}

/// Entry names of `dir` in byte order, so that backups are reproducible.
fn read_dir_sorted(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort_unstable();
    Ok(names)
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn components(path: &Path) -> Vec<&[u8]> {
    path.as_os_str()
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

fn is_temp_file_name(name: &[u8]) -> bool {
    name.starts_with(TEMP_FILE_PREFIX)
}

fn is_excluded_file_name(name: &[u8]) -> bool {
    EXCLUDE_FILES.iter().any(|&(excluded, prefix)| {
        if prefix {
            name.starts_with(excluded.as_bytes())
        } else {
            name == excluded.as_bytes()
        }
    })
}

/// Whether the directory at these components holds relation files:
/// `base/<oid>`, or `<oid>` in a tablespace version directory (in a
/// tablespace, or under `pg_tblspc/<oid>/` for an in-place tablespace).
fn is_database_dir(dir: &[&[u8]]) -> bool {
    match dir {
        [.., parent, db] if is_oid(db) => {
            (dir.len() == 2 && *parent == b"base") || is_version_dir_name(parent)
        }
        _ => false,
    }
}

fn is_oid(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= OID_CHARS && name.iter().all(u8::is_ascii_digit)
}

/// `PG_<major>_<catalog version>`; majors before 10 had a dot (`PG_9.6_…`).
fn is_version_dir_name(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b"PG_") else {
        return false;
    };
    let Some(sep) = rest.iter().rposition(|&b| b == b'_') else {
        return false;
    };
    let (major, catalog) = (&rest[..sep], &rest[sep + 1..]);
    !major.is_empty()
        && major.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && !catalog.is_empty()
        && catalog.iter().all(u8::is_ascii_digit)
}

/// A relation fork, as named in files (`_fsm`, `_vm`, `_init`; main has no suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fork {
    Main,
    Fsm,
    VisibilityMap,
    Init,
}

/// PostgreSQL's `forkname_chars`: the fork named at the start of `s` (it
/// never recognises "main", which is never spelled out) and its length.
fn fork_prefix(s: &[u8]) -> Option<(Fork, usize)> {
    [
        (Fork::Fsm, &b"fsm"[..]),
        (Fork::VisibilityMap, b"vm"),
        (Fork::Init, b"init"),
    ]
    .into_iter()
    .find(|(_, name)| s.starts_with(name))
    .map(|(fork, name)| (fork, name.len()))
}

/// Length of a `.<segment>` suffix at the start of `s` (0 if none), or
/// `None` for a '.' without digits.
fn segment_suffix_len(s: &[u8]) -> Option<usize> {
    match s.first() {
        Some(b'.') => {
            let digits = s[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            (digits > 0).then_some(1 + digits)
        }
        _ => Some(0),
    }
}

/// PostgreSQL's `parse_filename_for_nontemp_relation`: `<oid>[_<fork>][.<segment>]`
/// → (digits in the OID, fork).
fn parse_relation_file_name(name: &[u8]) -> Option<(usize, Fork)> {
    let oid_chars = name.iter().take_while(|b| b.is_ascii_digit()).count();
    if oid_chars == 0 || oid_chars > OID_CHARS {
        return None;
    }
    let mut pos = oid_chars;
    let mut fork = Fork::Main;
    if name.get(pos) == Some(&b'_') {
        let (f, len) = fork_prefix(&name[pos + 1..])?;
        fork = f;
        pos += 1 + len;
    }
    pos += segment_suffix_len(&name[pos..])?;
    (pos == name.len()).then_some((oid_chars, fork))
}

/// PostgreSQL's `looks_like_temp_rel_name`: `t<backend>_<oid>[_<fork>][.<segment>]`.
fn looks_like_temp_rel_name(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b"t") else {
        return false;
    };
    let backend = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if backend == 0 || rest.get(backend) != Some(&b'_') {
        return false;
    }
    let rest = &rest[backend + 1..];
    let oid = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if oid == 0 {
        return false;
    }
    let mut pos = oid;
    if rest.get(pos) == Some(&b'_') {
        match fork_prefix(&rest[pos + 1..]) {
            Some((_, len)) => pos += 1 + len,
            None => return false,
        }
    }
    match segment_suffix_len(&rest[pos..]) {
        Some(len) => pos + len == rest.len(),
        None => false,
    }
}

/// An unlogged relation's files other than its init fork: at recovery's end
/// PostgreSQL replaces them with a copy of the init fork, so they are dead
/// weight. A relation is unlogged when `<oid>_init` exists beside it.
/// Whether `name` is a main, FSM or VM fork (or a segment of one) of a
/// relation that has an init fork in `init_forks` (the `<oid>_init` names of
/// its directory): an unlogged relation, whose contents are not backed up.
fn is_unlogged_non_init_fork(name: &[u8], init_forks: &HashSet<Vec<u8>>) -> bool {
    match parse_relation_file_name(name) {
        Some((_, Fork::Init)) | None => false,
        Some((oid_chars, _)) => {
            let init = [&name[..oid_chars], b"_init"].concat();
            init_forks.contains(init.as_slice())
        }
    }
}

/// The system identifier in a `global/pg_control` file: its first field in
/// every PostgreSQL version, in the server's byte order. `None` for a file
/// too short to hold it, or a zero (never a real cluster's).
pub fn control_file_system_identifier(pg_control: &[u8]) -> Option<u64> {
    let first: [u8; 8] = pg_control.get(..8)?.try_into().ok()?;
    Some(u64::from_ne_bytes(first)).filter(|&id| id != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    #[test]
    fn exclusion_table() {
        use Exclusion::*;
        let cases: &[(&str, bool, Exclusion)] = &[
            ("PG_VERSION", false, Keep),
            ("postgresql.conf", false, Keep),
            ("base", true, Keep),
            ("base/5", true, Keep),
            ("base/5/16384", false, Keep),
            ("global/pg_control", false, Keep),
            ("pg_tblspc/16385", true, Keep),
            // Files excluded by name, at any depth.
            ("postmaster.pid", false, SkipEntirely),
            ("postmaster.opts", false, SkipEntirely),
            ("backup_label", false, SkipEntirely),
            ("tablespace_map", false, SkipEntirely),
            ("backup_manifest", false, SkipEntirely),
            ("postgresql.auto.conf.tmp", false, SkipEntirely),
            ("current_logfiles.tmp", false, SkipEntirely),
            ("global/pg_internal.init", false, SkipEntirely),
            ("base/5/pg_internal.init", false, SkipEntirely),
            ("base/5/pg_internal.init.4242", false, SkipEntirely),
            ("backup_label.old", false, Keep),
            ("postmaster.pid.bak", false, Keep),
            ("current_logfiles", false, Keep),
            ("postgresql.auto.conf", false, Keep),
            // Temporary files and directories.
            ("base/pgsql_tmp", true, SkipEntirely),
            ("base/pgsql_tmp/pgsql_tmp123.0", false, SkipEntirely),
            ("pgsql_tmp_anything", false, SkipEntirely),
            ("PG_15_202209061/pgsql_tmp", true, SkipEntirely),
            // Temporary relations, only in database directories.
            ("base/5/t3_16390", false, SkipEntirely),
            ("base/5/t3_16390_fsm", false, SkipEntirely),
            ("base/5/t3_16390.1", false, SkipEntirely),
            ("base/5/t3_16390_init.2", false, SkipEntirely),
            ("PG_15_202209061/5/t12_40000", false, SkipEntirely),
            (
                "pg_tblspc/16385/PG_15_202209061/5/t1_2",
                false,
                SkipEntirely,
            ),
            ("global/t3_16390", false, Keep),
            ("base/5/t3_16390_bogus", false, Keep),
            ("base/5/t3_", false, Keep),
            ("base/5/t_16390", false, Keep),
            ("base/5/t3_16390.", false, Keep),
            // Directories kept empty, at any depth.
            ("pg_wal", true, KeepDirEmpty),
            ("pg_wal/archive_status", true, KeepDirEmpty),
            ("pg_wal/000000010000000000000001", false, SkipEntirely),
            (
                "pg_wal/archive_status/000000010000000000000001.done",
                false,
                SkipEntirely,
            ),
            ("pg_wal/00000002.history", false, SkipEntirely),
            ("pg_wal/summaries", true, KeepDirEmpty),
            (
                "pg_wal/summaries/0000000100000000010000280000000001000100.summary",
                false,
                SkipEntirely,
            ),
            ("pg_wal/summaries/temp.summary", false, SkipEntirely),
            ("pg_wal/xlogtemp.123", false, SkipEntirely),
            ("base/pg_wal", true, Keep),
            ("pg_stat_tmp", true, KeepDirEmpty),
            ("pg_stat_tmp/pgss_query_texts.stat", false, SkipEntirely),
            ("pg_replslot", true, KeepDirEmpty),
            ("pg_replslot/slot1/state", false, SkipEntirely),
            ("pg_dynshmem", true, KeepDirEmpty),
            ("pg_notify", true, KeepDirEmpty),
            ("pg_notify/0000", false, SkipEntirely),
            ("pg_serial", true, KeepDirEmpty),
            ("pg_snapshots", true, KeepDirEmpty),
            ("pg_subtrans", true, KeepDirEmpty),
            ("pg_subtrans/0000", false, SkipEntirely),
            ("pg_stat", true, Keep),
            ("pg_stat/pgstat.stat", false, Keep),
            ("pg_xact", true, Keep),
            ("pg_xact/0000", false, Keep),
            ("pg_multixact/offsets/0000", false, Keep),
            ("pg_logical/snapshots", true, Keep),
            // A file that happens to have a directory's name is just a file.
            ("pg_notify", false, Keep),
        ];
        for &(path, is_dir, expected) in cases {
            assert_eq!(
                is_excluded(p(path), is_dir),
                expected,
                "{path} (dir: {is_dir})"
            );
        }
    }

    #[test]
    fn relation_file_names() {
        assert_eq!(parse_relation_file_name(b"16384"), Some((5, Fork::Main)));
        assert_eq!(parse_relation_file_name(b"16384.12"), Some((5, Fork::Main)));
        assert_eq!(parse_relation_file_name(b"16384_fsm"), Some((5, Fork::Fsm)));
        assert_eq!(
            parse_relation_file_name(b"16384_vm.3"),
            Some((5, Fork::VisibilityMap))
        );
        assert_eq!(
            parse_relation_file_name(b"16384_init"),
            Some((5, Fork::Init))
        );
        assert_eq!(parse_relation_file_name(b"16384_main"), None);
        assert_eq!(parse_relation_file_name(b"16384_fsmx"), None);
        assert_eq!(parse_relation_file_name(b"16384."), None);
        assert_eq!(parse_relation_file_name(b"12345678901"), None);
        assert_eq!(parse_relation_file_name(b"PG_VERSION"), None);
        assert_eq!(parse_relation_file_name(b"pg_filenode.map"), None);
    }

    /// Builds files (ending without '/') and directories (ending in '/').
    fn build(root: &Path, paths: &[&str]) {
        for path in paths {
            let full = root.join(path.trim_end_matches('/'));
            if path.ends_with('/') {
                fs::create_dir_all(&full).unwrap();
            } else {
                fs::create_dir_all(full.parent().unwrap()).unwrap();
                fs::write(&full, path.as_bytes()).unwrap();
            }
        }
    }

    fn rel_paths(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let suffix = match e.kind {
                    EntryKind::Dir => "/",
                    EntryKind::File => "",
                    EntryKind::Symlink(_) => "@",
                };
                format!("{}{suffix}", e.rel_path.display())
            })
            .collect()
    }

    #[test]
    fn walk_applies_every_exclusion_in_tar_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        build(
            root,
            &[
                "PG_VERSION",
                "backup_label",
                "backup_manifest",
                "base/1/1259",
                "base/1/pg_internal.init",
                "base/5/16384",
                "base/5/16384.1",
                "base/5/16384_fsm",
                "base/5/16384_vm",
                "base/5/16384_init",
                "base/5/16385",
                "base/5/16385.1",
                "base/5/16385_fsm",
                "base/5/16385_vm",
                "base/5/t3_16390",
                "base/5/t3_16390_fsm",
                "base/pgsql_tmp/pgsql_tmp4242.0",
                "current_logfiles",
                "current_logfiles.tmp",
                "global/1262",
                "global/pg_control",
                "global/pg_internal.init",
                "global/pg_internal.init.999",
                "pg_dynshmem/mmap.1",
                "pg_logical/replorigin_checkpoint",
                "pg_notify/0000",
                "pg_replslot/slot1/state",
                "pg_serial/0000",
                "pg_snapshots/00000003-00000002-1",
                "pg_stat/pgstat.stat",
                "pg_stat_tmp/pgss_query_texts.stat",
                "pg_subtrans/0000",
                "pg_tblspc/",
                "pg_wal/000000010000000000000001",
                "pg_wal/00000002.history",
                "pg_wal/archive_status/000000010000000000000001.done",
                "pg_xact/0000",
                "postgresql.auto.conf",
                "postgresql.auto.conf.tmp",
                "postgresql.conf",
                "postmaster.opts",
                "postmaster.pid",
                "tablespace_map",
            ],
        );
        symlink("/srv/ts1", root.join("pg_tblspc/16385")).unwrap();
        symlink("/etc/ssl/certs/server.pem", root.join("server.pem")).unwrap();
        symlink("/etc", root.join("base/5/evil")).unwrap();

        let entries = walk(root).unwrap();
        assert_eq!(
            rel_paths(&entries),
            [
                "PG_VERSION",
                "base/",
                "base/1/",
                "base/1/1259",
                "base/5/",
                "base/5/16384_init",
                "base/5/16385",
                "base/5/16385.1",
                "base/5/16385_fsm",
                "base/5/16385_vm",
                "current_logfiles",
                "global/",
                "global/1262",
                "pg_dynshmem/",
                "pg_logical/",
                "pg_logical/replorigin_checkpoint",
                "pg_notify/",
                "pg_replslot/",
                "pg_serial/",
                "pg_snapshots/",
                "pg_stat/",
                "pg_stat/pgstat.stat",
                "pg_stat_tmp/",
                "pg_subtrans/",
                "pg_tblspc/",
                "pg_tblspc/16385@",
                "pg_wal/",
                "pg_wal/archive_status/",
                "pg_xact/",
                "pg_xact/0000",
                "postgresql.auto.conf",
                "postgresql.conf",
                "global/pg_control",
            ]
        );
        let link = entries
            .iter()
            .find(|e| e.rel_path == p("pg_tblspc/16385"))
            .unwrap();
        assert_eq!(link.kind, EntryKind::Symlink(PathBuf::from("/srv/ts1")));
        let conf = entries
            .iter()
            .find(|e| e.rel_path == p("postgresql.conf"))
            .unwrap();
        assert_eq!(conf.size, "postgresql.conf".len() as u64);
        assert_eq!(conf.kind, EntryKind::File);
    }

    #[test]
    fn unlogged_relation_keeps_only_its_init_fork() {
        let dir = tempfile::tempdir().unwrap();
        build(
            dir.path(),
            &[
                "base/5/16384",
                "base/5/16384_init",
                "base/5/16384_init.1",
                "base/5/16384_fsm",
                "base/5/16384.1",
                "base/5/16384_vm",
                // Shared catalogs are never unlogged, and global/ is not a
                // database directory: PostgreSQL copies these.
                "global/2000",
                "global/2000_init",
            ],
        );
        let entries = walk(dir.path()).unwrap();
        assert_eq!(
            rel_paths(&entries),
            [
                "base/",
                "base/5/",
                "base/5/16384_init",
                "base/5/16384_init.1",
                "global/",
                "global/2000",
                "global/2000_init",
            ]
        );
    }

    #[test]
    fn a_directory_too_large_to_sort_is_walked_whole_with_the_same_rules() {
        let dir = tempfile::tempdir().unwrap();
        build(
            dir.path(),
            &[
                "base/5/16384",
                "base/5/16384_init",
                "base/5/16384_fsm",
                "base/5/16385",
                "global/pg_control",
            ],
        );
        let many = SORTED_NAMES_LIMIT + 5;
        for i in 0..many {
            std::fs::write(dir.path().join(format!("base/5/{}", 900_000 + i)), b"").unwrap();
        }
        let entries = walk(dir.path()).unwrap();
        let paths = rel_paths(&entries);
        assert_eq!(
            paths.len(),
            2 + 2 + many + 2,
            "base/, base/5/, two files, the many, global/ and pg_control"
        );
        assert_eq!(&paths[..2], ["base/", "base/5/"]);
        let in_base: HashSet<&str> = paths[2..paths.len() - 2]
            .iter()
            .map(|p| p.as_str())
            .collect();
        assert!(in_base.contains("base/5/16384_init") && in_base.contains("base/5/16385"));
        assert!(
            !in_base.contains("base/5/16384") && !in_base.contains("base/5/16384_fsm"),
            "an unlogged relation keeps only its init fork"
        );
        assert!(in_base.contains(format!("base/5/{}", 900_000 + many - 1).as_str()));
        assert_eq!(&paths[paths.len() - 2..], ["global/", "global/pg_control"]);
    }

    #[test]
    fn regular_relation_keeps_every_fork_and_segment() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "base/5/16385",
            "base/5/16385.1",
            "base/5/16385.2",
            "base/5/16385_fsm",
            "base/5/16385_vm",
            // Another relation's init fork does not matter.
            "base/5/163850_init",
        ];
        build(dir.path(), &files);
        let entries = walk(dir.path()).unwrap();
        let mut expected = vec!["base/".to_string(), "base/5/".to_string()];
        let mut sorted: Vec<String> = files.iter().map(|f| f.to_string()).collect();
        sorted.sort();
        expected.extend(sorted);
        assert_eq!(rel_paths(&entries), expected);
    }

    #[test]
    fn linked_pg_wal_becomes_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (root, elsewhere) = (dir.path().join("data"), dir.path().join("wal"));
        build(
            &elsewhere,
            &[
                "000000010000000000000001",
                "archive_status/",
                "summaries/0000000100000000010000280000000001000100.summary",
            ],
        );
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o750)).unwrap();
        build(&root, &["PG_VERSION"]);
        symlink(&elsewhere, root.join("pg_wal")).unwrap();
        let entries = walk(&root).unwrap();
        assert_eq!(
            rel_paths(&entries),
            [
                "PG_VERSION",
                "pg_wal/",
                "pg_wal/archive_status/",
                "pg_wal/summaries/"
            ]
        );
        assert_eq!(entries[1].mode, 0o750, "mode of the link's target");
    }

    #[test]
    fn restored_wal_directories_follow_the_version() {
        for major in 13..=16 {
            assert_eq!(
                restored_wal_dirs(major),
                ["pg_wal", "pg_wal/archive_status"]
            );
        }
        for major in 17..=18 {
            assert_eq!(
                restored_wal_dirs(major),
                ["pg_wal", "pg_wal/archive_status", "pg_wal/summaries"]
            );
        }
    }

    #[test]
    fn pg_wal_without_archive_status_still_gets_one() {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), &["pg_wal/000000010000000000000001"]);
        let entries = walk(dir.path()).unwrap();
        assert_eq!(rel_paths(&entries), ["pg_wal/", "pg_wal/archive_status/"]);
    }

    #[test]
    fn walk_records_mode_size_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), &["base/1/1259"]);
        let file = dir.path().join("base/1/1259");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let meta = fs::metadata(&file).unwrap();
        let entries = walk(dir.path()).unwrap();
        let e = entries
            .iter()
            .find(|e| e.rel_path == p("base/1/1259"))
            .unwrap();
        assert_eq!((e.size, e.mode, e.mtime), (meta.len(), 0o600, meta.mtime()));
        let d = entries.iter().find(|e| e.rel_path == p("base")).unwrap();
        assert_eq!(d.size, 0);
    }

    #[test]
    fn walk_refuses_a_missing_root_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = walk(&missing).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn tablespace_walk() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path();
        build(
            location,
            &[
                "PG_15_202209061/5/16386",
                "PG_15_202209061/5/16386_fsm",
                "PG_15_202209061/5/16387",
                "PG_15_202209061/5/16387_init",
                "PG_15_202209061/5/t4_16388",
                "PG_15_202209061/pgsql_tmp/pgsql_tmp77.1",
                // Another major version's directory is not ours.
                "PG_16_202307071/5/1",
            ],
        );
        symlink("/etc", location.join("PG_15_202209061/5/evil")).unwrap();
        let entries = walk_tablespace(location, "PG_15_202209061").unwrap();
        assert_eq!(
            rel_paths(&entries),
            [
                "PG_15_202209061/",
                "PG_15_202209061/5/",
                "PG_15_202209061/5/16386",
                "PG_15_202209061/5/16386_fsm",
                "PG_15_202209061/5/16387_init",
            ]
        );
        assert!(walk_tablespace(location, "../etc").is_err());
    }

    #[test]
    fn tablespace_version_directory() {
        assert_eq!(tablespace_version_dir(15, 202209061), "PG_15_202209061");
        let dir = tempfile::tempdir().unwrap();
        build(
            dir.path(),
            &["PG_15_202209061/", "PG_16_202307071/", "PG_15_x/"],
        );
        assert_eq!(
            find_tablespace_version_dir(dir.path(), 15).unwrap(),
            "PG_15_202209061"
        );
        let err = find_tablespace_version_dir(dir.path(), 14).unwrap_err();
        assert!(err.to_string().contains("PG_14_"), "{err}");
        build(dir.path(), &["PG_15_202209062/"]);
        let err = find_tablespace_version_dir(dir.path(), 15).unwrap_err();
        assert!(
            err.to_string().contains("PG_15_202209061, PG_15_202209062"),
            "{err}"
        );
    }

    /// `initdb` (and the server) of PostgreSQL 15, run as `postgres` when we are root.
    struct Pg15 {
        bin: PathBuf,
        as_postgres: bool,
    }

    impl Pg15 {
        fn find_or_skip(test: &str) -> Option<Pg15> {
            let bin = PathBuf::from("/usr/lib/postgresql/15/bin");
            // SAFETY: geteuid has no preconditions.
            let as_postgres = unsafe { libc::geteuid() } == 0;
            let missing = if !bin.join("initdb").exists() {
                Some("PostgreSQL 15 is not installed (apt-get install -y postgresql-15)")
            } else if as_postgres && !user_exists("postgres") {
                Some("running as root and there is no 'postgres' user to run initdb as")
            } else {
                None
            };
            match missing {
                None => Some(Pg15 { bin, as_postgres }),
                Some(why) if std::env::var("CI").as_deref() == Ok("true") => {
                    panic!("{test}: {why} (and CI=true)")
                }
                Some(why) => {
                    use std::io::Write;
                    // Straight to stderr: libtest hides a passing test's output.
                    let _ = writeln!(io::stderr(), "\n*** SKIPPED {test}: {why} ***\n");
                    None
                }
            }
        }

        fn command(&self, program: &str) -> std::process::Command {
            let path = self.bin.join(program);
            if self.as_postgres {
                let mut cmd = std::process::Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(path);
                cmd
            } else {
                std::process::Command::new(path)
            }
        }

        fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
            let out = self.command(program).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        fn chown_to_postgres(&self, path: &Path) {
            if self.as_postgres {
                let status = std::process::Command::new("chown")
                    .arg("postgres:")
                    .arg(path)
                    .status()
                    .unwrap();
                assert!(status.success(), "chown postgres {}", path.display());
            }
        }
    }

    fn user_exists(name: &str) -> bool {
        let name = std::ffi::CString::new(name).unwrap();
        // SAFETY: getpwnam gets a valid C string; only the pointer is checked.
        !unsafe { libc::getpwnam(name.as_ptr()) }.is_null()
    }

    /// Stops the test server by its data directory's postmaster.pid, whatever happens.
    struct StopOnDrop<'a> {
        pg: &'a Pg15,
        data: PathBuf,
    }

    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            let _ = self
                .pg
                .command("pg_ctl")
                .args(["stop", "-m", "immediate", "-D"])
                .arg(&self.data)
                .output();
        }
    }

    #[test]
    fn real_pg15_data_directory() {
        let Some(pg) = Pg15::find_or_skip("real_pg15_data_directory") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        pg.chown_to_postgres(dir.path());
        let data = dir.path().join("data");
        let os = |s: &'static str| std::ffi::OsStr::new(s);
        pg.run(
            "initdb",
            &[
                os("-D"),
                data.as_os_str(),
                os("--auth=trust"),
                os("--no-sync"),
                os("-U"),
                os("postgres"),
                os("--locale=C"),
                os("--encoding=UTF8"),
            ],
        );

        // A running server: postmaster.pid/opts exist, pg_internal.init is
        // written, and an unlogged table has an init fork.
        let port = 20_000 + (std::process::id() % 20_000);
        let options = format!(
            "-c listen_addresses= -c unix_socket_directories={} -p {port} -c fsync=off",
            dir.path().display()
        );
        let log = dir.path().join("log");
        pg.run(
            "pg_ctl",
            &[
                os("start"),
                os("-w"),
                os("-D"),
                data.as_os_str(),
                os("-l"),
                log.as_os_str(),
                os("-o"),
                options.as_ref(),
            ],
        );
        let _stop = StopOnDrop {
            pg: &pg,
            data: data.clone(),
        };
        // Separate -c options: each runs in its own transaction (VACUUM must).
        let sql = [
            "CREATE UNLOGGED TABLE u AS SELECT g FROM generate_series(1, 1000) g",
            "CREATE TABLE r AS SELECT g FROM generate_series(1, 1000) g",
            "VACUUM u, r",
            "CHECKPOINT",
            "SELECT d.oid || '/' || pg_relation_filenode('u') || ' ' || pg_relation_filenode('r') \
             FROM pg_database d WHERE datname = current_database()",
        ];
        let port = port.to_string();
        let mut psql = pg.command("psql");
        psql.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
            "-h",
        ])
        .arg(dir.path())
        .args(["-p", &port, "-d", "postgres"]);
        for statement in sql {
            psql.args(["-c", statement]);
        }
        let out = psql.output().unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = stdout.lines().last().unwrap().trim().to_string();
        let (unlogged, logged) = line.split_once(' ').unwrap();
        let (db, unlogged_node) = unlogged.split_once('/').unwrap();

        assert!(data.join("postmaster.pid").exists());
        assert!(data
            .join(format!("base/{db}/{unlogged_node}_init"))
            .exists());
        assert!(data.join(format!("base/{db}/{unlogged_node}")).exists());

        let entries = walk(&data).unwrap();
        let paths: Vec<String> = entries
            .iter()
            .map(|e| e.rel_path.to_str().unwrap().to_string())
            .collect();
        let has = |p: &str| paths.iter().any(|x| x == p);

        assert_eq!(paths.last().unwrap(), CONTROL_FILE);
        for must in [
            "PG_VERSION",
            "postgresql.conf",
            "pg_hba.conf",
            "postgresql.auto.conf",
            "global/pg_filenode.map",
            "pg_xact/0000",
            "pg_wal",
            "pg_wal/archive_status",
            "pg_tblspc",
            "pg_stat_tmp",
            "pg_subtrans",
            "pg_notify",
            "pg_replslot",
            "pg_dynshmem",
            "pg_serial",
            "pg_snapshots",
        ] {
            assert!(has(must), "{must} missing from {paths:#?}");
        }
        assert!(has(&format!("base/{db}/{unlogged_node}_init")));
        assert!(!has(&format!("base/{db}/{unlogged_node}")));
        assert!(!has(&format!("base/{db}/{unlogged_node}_fsm")));
        assert!(!has(&format!("base/{db}/{unlogged_node}_vm")));
        assert!(has(&format!("base/{db}/{logged}")));
        assert!(has(&format!("base/{db}/{logged}_fsm")));
        for never in ["postmaster.pid", "postmaster.opts"] {
            assert!(!has(never), "{never} must not be copied");
        }
        for path in &paths {
            assert!(
                !path.starts_with("pg_wal/")
                    || path == "pg_wal/archive_status"
                    || path == "pg_wal/summaries",
                "{path}"
            );
            assert!(!path.contains("pg_internal.init"), "{path}");
            assert!(!path.contains("pgsql_tmp"), "{path}");
        }
        // Parents come before children.
        let mut seen_dirs: HashSet<&Path> = HashSet::from([Path::new("")]);
        for e in &entries {
            let parent = e.rel_path.parent().unwrap();
            assert!(
                seen_dirs.contains(parent),
                "{:?} before its parent",
                e.rel_path
            );
            if e.kind == EntryKind::Dir {
                seen_dirs.insert(&e.rel_path);
            }
        }
        let total: u64 = entries.iter().map(|e| e.size).sum();
        assert!(
            total > 10 << 20,
            "an initdb'd cluster holds some MB, got {total}"
        );

        // The same set of paths as pg_basebackup itself sends, apart from the
        // backup_label and tablespace_map the server generates.
        let tar_dir = dir.path().join("basebackup");
        pg.run(
            "pg_basebackup",
            &[
                os("-D"),
                tar_dir.as_os_str(),
                os("-Ft"),
                os("-Xnone"),
                os("--no-manifest"),
                os("--checkpoint=fast"),
                os("-U"),
                os("postgres"),
                os("-h"),
                dir.path().as_os_str(),
                os("-p"),
                port.as_ref(),
            ],
        );
        let listing = std::process::Command::new("tar")
            .arg("-tf")
            .arg(tar_dir.join("base.tar"))
            .output()
            .unwrap();
        assert!(listing.status.success(), "tar -tf base.tar");
        let listing = String::from_utf8(listing.stdout).unwrap();
        let theirs: Vec<&str> = listing
            .lines()
            .map(|l| l.trim_start_matches("./").trim_end_matches('/'))
            .filter(|l| !["backup_label", "tablespace_map"].contains(l))
            .collect();
        let theirs_set: HashSet<&str> = theirs.iter().copied().collect();
        let ours_set: HashSet<&str> = paths.iter().map(String::as_str).collect();
        let only_ours: Vec<_> = ours_set.difference(&theirs_set).collect();
        let only_theirs: Vec<_> = theirs_set.difference(&ours_set).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "only in walk: {only_ours:?}; only in pg_basebackup: {only_theirs:?}"
        );
        assert_eq!(theirs.last(), Some(&CONTROL_FILE));
    }
}
