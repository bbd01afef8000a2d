//! The backup manifest (`backups/<name>/manifest.json`): what a base backup holds, written last as its commit marker and validated before restore trusts any of it.
//!
//! Restore places files by the paths in this document, so it is treated as
//! hostile input: anyone who can write to the repository can write one.
//! [`Manifest::from_json`] refuses every path that could land outside the
//! target directory, every symbolic link other than a tablespace link, and
//! every inconsistency, naming the offending entry; [`safe_join`] and
//! [`check_no_symlink_ancestors`] guard the moment a file is placed.
//! Field names are stable: scripts read this file.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The newest manifest format this walden understands.
pub const MANIFEST_FORMAT: u32 = 2;

/// The format of a full backup's manifest: still 1, so that an older
/// walden, which knows nothing of chains, can restore every full backup.
pub const FULL_FORMAT: u32 = 1;

/// The first format whose manifests may name a parent (incremental
/// backups). An older walden refuses such a manifest as newer than it
/// rather than restore an incremental backup as if it were full.
pub const INCREMENTAL_FORMAT: u32 = 2;

/// PostgreSQL's control file, without which a data directory cannot start.
pub use crate::pg::datadir::CONTROL_FILE;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The backup's name: its directory under `backups/`.
    pub name: String,
    /// The label given to `pg_backup_start`.
    pub label: String,
    /// WAL positions in PostgreSQL's `pg_lsn` format (`0/4000028`).
    pub start_lsn: String,
    pub stop_lsn: String,
    /// The WAL files holding the start and stop positions: restore needs
    /// every segment from the first to the last.
    pub start_wal_file: String,
    pub stop_wal_file: String,
    pub timeline: u32,
    pub start_time: DateTime<Utc>,
    pub stop_time: DateTime<Utc>,
    /// PostgreSQL major version (15).
    pub pg_version: u32,
    /// Decimal: a u64 does not survive every JSON reader as a number.
    pub system_identifier: String,
    pub wal_segment_size: u32,
    /// The compression the parts were written with ("zstd", "snappy", "none").
    pub compression: String,
    pub encrypted: bool,
    /// Contents of `backup_label` returned by `pg_backup_stop`; restore writes
    /// it into the data directory.
    pub backup_label: String,
    /// Contents of `tablespace_map` from `pg_backup_stop`, if any tablespace.
    pub tablespace_map: Option<String>,
    pub tablespaces: Vec<TablespaceEntry>,
    pub parts: Vec<Part>,
    /// Never empty in a stored manifest (there is always `global/pg_control`);
    /// skipped when empty so that [`crate::repo::file_list::FileList`] can
    /// stream it after the other fields instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileEntry>,
    /// Plaintext bytes of every file (the sum of `files[].size`).
    pub bytes: u64,
    /// Bytes stored in the repository (the sum of `parts[].stored_bytes`).
    pub stored_bytes: u64,
    /// How long each phase of `backup-push` took. Absent from manifests
    /// written before walden recorded it; readers must do without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durations: Option<Durations>,
    /// The backup this one is an increment on; `None` for a full backup.
    /// Only manifests of format 2 and later (PostgreSQL 17 incremental
    /// backups) name one, so that a walden that cannot rebuild an
    /// incremental refuses it instead of restoring it as a full backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// The phases of a base backup, in milliseconds, one after the other: what
/// `backup-push` reports when it ends and `backup-list` shows later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// `pg_backup_start`: PostgreSQL's start checkpoint, spread or fast.
    pub checkpoint_ms: u64,
    /// Reading, encoding and storing the files (what `--max-rate` paces).
    pub copy_ms: u64,
    /// `pg_backup_stop`, then waiting until the backup's last WAL segment
    /// is in the repository.
    pub wal_wait_ms: u64,
}

impl Durations {
    /// The whole backup: the phases add up to it by definition.
    pub fn total_ms(&self) -> u64 {
        self.checkpoint_ms
            .saturating_add(self.copy_ms)
            .saturating_add(self.wal_wait_ms)
    }

    /// Bytes per second over the copy alone, the figure `--max-rate` limits
    /// (waits for PostgreSQL would hide it); `None` for a copy too short to
    /// measure.
    pub fn copy_rate(&self, bytes: u64) -> Option<f64> {
        (self.copy_ms > 0).then(|| bytes as f64 * 1000.0 / self.copy_ms as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TablespaceEntry {
    pub oid: u32,
    pub name: String,
    /// Where the tablespace was on the backed-up server (absolute); restore
    /// may map it elsewhere.
    pub location: String,
}

/// One stored archive (a tar through the backup's stages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Relative to the backup's directory, e.g. `data/base-0001.tar.zst`.
    pub key: String,
    /// `None` for the data directory, else the tablespace this part holds.
    pub tablespace_oid: Option<u32>,
    pub stored_bytes: u64,
    /// Bytes of the plaintext (tar) object.
    pub plain_bytes: u64,
    /// SHA-256 of the plaintext, 64 lowercase hex digits.
    pub sha256: String,
}

/// One file, directory or tablespace link of the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the data directory, or to the tablespace location for a
    /// tablespace's part; '/'-separated, normalized.
    pub path: String,
    /// Index into `parts`.
    pub part: usize,
    /// Bytes of a file; 0 for directories and links.
    pub size: u64,
    /// Permission bits (at most 0o7777).
    pub mode: u32,
    /// Seconds since the Unix epoch.
    pub mtime: i64,
    /// SHA-256 of a file's contents; `None` for directories and links.
    pub sha256: Option<String>,
    pub kind: FileKind,
    /// Only for symlinks: where the tablespace link pointed.
    pub link_target: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
}

/// Why a manifest (or a path from one) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("backup manifest is truncated ({detail}): the upload was cut short or the object is damaged")]
    Truncated { detail: String },
    #[error(
        "backup manifest is not JSON ({detail}): the object is damaged or not a walden manifest"
    )]
    NotJson { detail: String },
    #[error("backup manifest has format {found}, but this walden reads only format {supported}: restore it with a newer walden")]
    NewerFormat { found: u32, supported: u32 },
    #[error("backup manifest is malformed: {detail}")]
    Malformed { detail: String },
    #[error("backup manifest refused: {entry}: {reason}")]
    Invalid { entry: String, reason: String },
    #[error("refusing to place {path:?} under {}: {reason}", root.display())]
    UnsafePath {
        root: PathBuf,
        path: String,
        reason: String,
    },
}

/// A JSON document's top-level `format` value, if it is an object that has
/// one; everything else is checked for syntax and skipped.
struct FormatField(Option<serde_json::Value>);

impl<'de> Deserialize<'de> for FormatField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Probe;
        impl<'de> Visitor<'de> for Probe {
            type Value = FormatField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FormatField, A::Error> {
                let mut format = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "format" {
                        format = Some(map.next_value()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(FormatField(format))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FormatField, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FormatField(None))
            }
        }
        deserializer.deserialize_any(Probe)
    }
}

fn invalid(entry: impl Into<String>, reason: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        entry: entry.into(),
        reason: reason.into(),
    }
}

impl Manifest {
    /// Pretty-printed JSON, ending in a newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("a manifest serializes");
        json.push(b'\n');
        json
    }

    /// Parses and [validates](Manifest::validate) a stored manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        // Syntax first, then the format number, then the structure: a
        // manifest from a newer walden is reported as such, not as a
        // missing or mistyped field. The first pass skips everything but
        // `format` (no generic JSON tree: that would cost about a kilobyte
        // per file of a large cluster).
        let probe: FormatField = serde_json::from_slice(bytes).map_err(|e| {
            let detail = e.to_string();
            if e.is_eof() {
                ManifestError::Truncated { detail }
            } else if e.is_syntax() {
                ManifestError::NotJson { detail }
            } else {
                ManifestError::Malformed { detail }
            }
        })?;
        let format = probe
            .0
            .ok_or_else(|| ManifestError::Malformed {
                detail: "no \"format\" field".into(),
            })?
            .as_u64()
            .ok_or_else(|| ManifestError::Malformed {
                detail: "\"format\" is not a non-negative integer".into(),
            })?;
        if format > u64::from(MANIFEST_FORMAT) {
            return Err(ManifestError::NewerFormat {
                found: u32::try_from(format).unwrap_or(u32::MAX),
                supported: MANIFEST_FORMAT,
            });
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed {
                detail: e.to_string(),
            })?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks everything restore relies on; run by `from_json`, and before
    /// writing a manifest.
    pub fn validate(&self) -> Result<(), ManifestError> {
        self.validate_header()?;
        let tablespaces = self.validate_tablespaces()?;
        self.validate_parts(&tablespaces)?;
        self.validate_files(&tablespaces)
    }

    /// What restore needs beyond [`Manifest::validate`] (which a manifest
    /// being written passes too): a data directory PostgreSQL can start
    /// from has its control file, as a regular file.
    pub fn check_restorable(&self) -> Result<(), ManifestError> {
        let control = self.files.iter().find(|f| {
            f.path == CONTROL_FILE
                && self
                    .parts
                    .get(f.part)
                    .is_some_and(|p| p.tablespace_oid.is_none())
        });
        match control {
            Some(f) if f.kind == FileKind::File => Ok(()),
            Some(f) => Err(invalid(
                CONTROL_FILE,
                format!(
                    "is listed as a {:?}, not a file: PostgreSQL cannot start without its control file",
                    f.kind
                ),
            )),
            None => Err(invalid(
                CONTROL_FILE,
                "is not in the backup: PostgreSQL cannot start without its control file",
            )),
        }
    }

    /// Whether the backed-up cluster allowed group access (initdb
    /// --allow-group-access). PostgreSQL creates every directory with the
    /// data directory's mode, so `global` carries it; PostgreSQL's own test
    /// (GetDataDirectoryCreatePerm) is group read+execute and no group write.
    pub fn group_access(&self) -> bool {
        self.files.iter().any(|f| {
            f.path == "global"
                && f.kind == FileKind::Dir
                && f.mode & 0o070 == 0o050
                && self
                    .parts
                    .get(f.part)
                    .is_some_and(|p| p.tablespace_oid.is_none())
        })
    }

    pub fn duration(&self) -> chrono::Duration {
        self.stop_time - self.start_time
    }

    fn validate_header(&self) -> Result<(), ManifestError> {
        if self.format == 0 {
            return Err(invalid("format 0", "formats start at 1"));
        }
        if self.format > MANIFEST_FORMAT {
            return Err(ManifestError::NewerFormat {
                found: self.format,
                supported: MANIFEST_FORMAT,
            });
        }
        check_name(&self.name).map_err(|r| invalid(format!("name {:?}", self.name), r))?;
        if let Some(parent) = &self.parent {
            if self.format < INCREMENTAL_FORMAT {
                return Err(invalid(
                    format!("parent {parent:?}"),
                    format!("only an incremental backup's manifest (format {INCREMENTAL_FORMAT} or later) names a parent"),
                ));
            }
            check_name(parent).map_err(|r| invalid(format!("parent {parent:?}"), r))?;
            if *parent == self.name {
                return Err(invalid(
                    format!("parent {parent:?}"),
                    "is the backup itself",
                ));
            }
        }
        let (start, stop) = self.lsn_range()?;
        if stop < start {
            return Err(invalid(
                format!("stop_lsn {}", self.stop_lsn),
                format!("is before start_lsn {}", self.start_lsn),
            ));
        }
        for (field, value) in [
            ("start_wal_file", &self.start_wal_file),
            ("stop_wal_file", &self.stop_wal_file),
        ] {
            if !is_wal_file_name(value) {
                return Err(invalid(
                    format!("{field} {value:?}"),
                    "is not a WAL segment name (24 uppercase hexadecimal digits)",
                ));
            }
        }
        if self.timeline == 0 {
            return Err(invalid("timeline 0", "timelines start at 1"));
        }
        let size = self.wal_segment_size;
        if !size.is_power_of_two() || !(1 << 20..=1 << 30).contains(&size) {
            return Err(invalid(
                format!("wal_segment_size {size}"),
                "is not a power of two from 1 MiB to 1 GiB",
            ));
        }
        if self.stop_time < self.start_time {
            return Err(invalid(
                format!("stop_time {}", self.stop_time.to_rfc3339()),
                format!("is before start_time {}", self.start_time.to_rfc3339()),
            ));
        }
        if self.system_identifier.parse::<u64>().is_err()
            || !self.system_identifier.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid(
                format!("system_identifier {:?}", self.system_identifier),
                "is not a decimal 64-bit number",
            ));
        }
        if self.backup_label.is_empty() {
            return Err(invalid(
                "backup_label",
                "is empty: PostgreSQL cannot recover from this backup without it",
            ));
        }
        Ok(())
    }

    /// Tablespaces by OID.
    fn validate_tablespaces(&self) -> Result<HashMap<u32, &TablespaceEntry>, ManifestError> {
        let mut by_oid = HashMap::new();
        for (i, ts) in self.tablespaces.iter().enumerate() {
            let entry = || format!("tablespaces[{i}] (oid {}, {:?})", ts.oid, ts.name);
            if ts.oid == 0 {
                return Err(invalid(entry(), "OID 0 is not a tablespace"));
            }
            check_absolute_path(&ts.location)
                .map_err(|r| invalid(entry(), format!("location {:?} {r}", ts.location)))?;
            // A newline would add a line to tablespace_map (PostgreSQL reads
            // one link per line); no real location holds a control character.
            if ts.location.chars().any(char::is_control) {
                return Err(invalid(
                    entry(),
                    format!("location {:?} contains a control character", ts.location),
                ));
            }
            if by_oid.insert(ts.oid, ts).is_some() {
                return Err(invalid(entry(), "OID listed twice"));
            }
        }
        Ok(by_oid)
    }

    fn validate_parts(
        &self,
        tablespaces: &HashMap<u32, &TablespaceEntry>,
    ) -> Result<(), ManifestError> {
        let mut keys = HashSet::new();
        let mut stored: u64 = 0;
        for (i, part) in self.parts.iter().enumerate() {
            let entry = || format!("parts[{i}] {:?}", part.key);
            check_relative_path(&part.key).map_err(|r| invalid(entry(), r))?;
            if !part
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
            {
                return Err(invalid(
                    entry(),
                    "key may hold only letters, digits, '_', '.', '-' and '/'",
                ));
            }
            if !keys.insert(part.key.as_str()) {
                return Err(invalid(entry(), "key listed twice"));
            }
            check_sha256(&part.sha256).map_err(|r| invalid(entry(), r))?;
            if let Some(oid) = part.tablespace_oid {
                if !tablespaces.contains_key(&oid) {
                    return Err(invalid(
                        entry(),
                        format!("tablespace_oid {oid} is not in tablespaces"),
                    ));
                }
            }
            stored = stored
                .checked_add(part.stored_bytes)
                .ok_or_else(|| invalid(entry(), "stored_bytes overflow"))?;
        }
        if stored != self.stored_bytes {
            return Err(invalid(
                format!("stored_bytes {}", self.stored_bytes),
                format!("the parts' stored_bytes add up to {stored}"),
            ));
        }
        Ok(())
    }

    fn validate_files(
        &self,
        tablespaces: &HashMap<u32, &TablespaceEntry>,
    ) -> Result<(), ManifestError> {
        // Paths are unique per tree: the data directory (None) and each
        // tablespace location (Some(oid)).
        let mut kinds: HashMap<(Option<u32>, &str), FileKind> = HashMap::new();
        let mut per_part = vec![0u64; self.parts.len()];
        let mut total: u64 = 0;
        for (i, file) in self.files.iter().enumerate() {
            let entry = || format!("files[{i}] {:?}", file.path);
            check_relative_path(&file.path).map_err(|r| invalid(entry(), r))?;
            let part = self.parts.get(file.part).ok_or_else(|| {
                invalid(
                    entry(),
                    format!(
                        "part {} does not exist (the manifest lists {} parts)",
                        file.part,
                        self.parts.len()
                    ),
                )
            })?;
            if file.mode > 0o7777 {
                return Err(invalid(
                    entry(),
                    format!("mode {:o} is not permission bits", file.mode),
                ));
            }
            match file.kind {
                FileKind::File => {
                    let sha = file.sha256.as_deref().ok_or_else(|| {
                        invalid(entry(), "a file needs a sha256 to be verified on restore")
                    })?;
                    check_sha256(sha).map_err(|r| invalid(entry(), r))?;
                    if file.link_target.is_some() {
                        return Err(invalid(entry(), "a file has no link_target"));
                    }
                }
                FileKind::Dir | FileKind::Symlink => {
                    if file.sha256.is_some() || file.size != 0 {
                        return Err(invalid(
                            entry(),
                            "only files have a sha256 and a non-zero size",
                        ));
                    }
                }
            }
            match (file.kind, &file.link_target) {
                (FileKind::Symlink, target) => {
                    check_tablespace_link(file, part, target.as_deref(), tablespaces)
                        .map_err(|r| invalid(entry(), r))?;
                }
                (FileKind::Dir, Some(_)) => {
                    return Err(invalid(entry(), "a directory has no link_target"))
                }
                _ => {}
            }
            if part.tablespace_oid.is_some() {
                check_in_version_dir(&file.path, self.pg_version)
                    .map_err(|r| invalid(entry(), r))?;
            }
            if kinds
                .insert((part.tablespace_oid, &file.path), file.kind)
                .is_some()
            {
                return Err(invalid(entry(), "path listed twice"));
            }
            per_part[file.part] = per_part[file.part]
                .checked_add(file.size)
                .ok_or_else(|| invalid(entry(), "sizes overflow"))?;
            total = total
                .checked_add(file.size)
                .ok_or_else(|| invalid(entry(), "sizes overflow"))?;
        }
        // Nothing may be placed through a link or inside a file, whatever
        // order the entries come in.
        for (i, file) in self.files.iter().enumerate() {
            let tree = self.parts[file.part].tablespace_oid;
            for ancestor in ancestors(&file.path) {
                match kinds.get(&(tree, ancestor)) {
                    Some(FileKind::Symlink) => {
                        return Err(invalid(
                            format!("files[{i}] {:?}", file.path),
                            format!("lies under the symbolic link {ancestor:?}: restore would write through it"),
                        ))
                    }
                    Some(FileKind::File) => {
                        return Err(invalid(
                            format!("files[{i}] {:?}", file.path),
                            format!("lies under {ancestor:?}, which is a file"),
                        ))
                    }
                    _ => {}
                }
            }
        }
        for (i, (part, files_bytes)) in self.parts.iter().zip(&per_part).enumerate() {
            if *files_bytes > part.plain_bytes {
                return Err(invalid(
                    format!("parts[{i}] {:?}", part.key),
                    format!(
                        "plain_bytes {} is less than the {files_bytes} bytes of the files in it",
                        part.plain_bytes
                    ),
                ));
            }
        }
        if total != self.bytes {
            return Err(invalid(
                format!("bytes {}", self.bytes),
                format!("the files' sizes add up to {total}"),
            ));
        }
        Ok(())
    }
}

/// The only symbolic links a data directory may hold are tablespace links
/// `pg_tblspc/<oid>`, pointing at a listed tablespace's location (restore
/// recreates them pointing wherever it maps the tablespace).
fn check_tablespace_link(
    file: &FileEntry,
    part: &Part,
    target: Option<&str>,
    tablespaces: &HashMap<u32, &TablespaceEntry>,
) -> Result<(), String> {
    let target = target.ok_or("a symbolic link needs a link_target")?;
    if part.tablespace_oid.is_some() {
        return Err(format!(
            "symbolic link to {target:?} inside a tablespace: only pg_tblspc/<oid> links in the data directory are allowed"
        ));
    }
    let oid = file
        .path
        .strip_prefix("pg_tblspc/")
        .filter(|oid| !oid.is_empty() && oid.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|oid| oid.parse::<u32>().ok())
        .ok_or_else(|| {
            format!(
                "symbolic link to {target:?}: only tablespace links pg_tblspc/<oid> are allowed"
            )
        })?;
    let ts = tablespaces.get(&oid).ok_or_else(|| {
        format!("links to {target:?}, but tablespace {oid} is not in tablespaces")
    })?;
    if target != ts.location {
        return Err(format!(
            "links to {target:?}, but tablespace {oid} is at {:?}",
            ts.location
        ));
    }
    Ok(())
}

/// A tablespace part holds only PostgreSQL's `PG_<major>_<catalog version>`
/// directory and what is in it (pg_basebackup's `<oid>.tar` holds the
/// same): nothing restore writes at a tablespace location can land beside
/// it, whatever the location is.
fn check_in_version_dir(path: &str, pg_version: u32) -> Result<(), String> {
    let top = path.split('/').next().unwrap_or_default();
    let catalog = top.strip_prefix(&format!("PG_{pg_version}_"));
    if catalog.is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit())) {
        Ok(())
    } else {
        Err(format!(
            "a tablespace holds only its PG_{pg_version}_<catalog version> directory; restore would write this beside it"
        ))
    }
}

/// `a`, `a/b` for `a/b/c`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// A path restore may create under a root: relative, '/'-separated,
/// normalized.
fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.contains('\0') {
        return Err("path contains a NUL byte".into());
    }
    if path.starts_with('/') {
        return Err("path is absolute: it must be relative to the restore directory".into());
    }
    for component in path.split('/') {
        match component {
            "" => return Err("path has an empty component (a doubled or trailing '/')".into()),
            "." => return Err("path has a '.' component: it must be normalized".into()),
            ".." => {
                return Err(
                    "path has a '..' component: it could escape the restore directory".into(),
                )
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_absolute_path(path: &str) -> Result<(), String> {
    match path.strip_prefix('/') {
        None => Err("is not an absolute path".into()),
        Some("") => Err("is the root directory".into()),
        Some(rest) => check_relative_path(rest)
            .map_err(|r| format!("is not a normalized absolute path ({r})")),
    }
}

/// Backup names become a directory name in the repository.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err("a backup name may hold only letters, digits, '_', '.' and '-'");
    }
    if name == "." || name == ".." {
        return Err("is not a usable directory name");
    }
    Ok(())
}

fn check_sha256(sha: &str) -> Result<(), String> {
    let ok = sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "sha256 {sha:?} is not 64 lowercase hexadecimal digits"
        ))
    }
}

const LSN_SYNTAX: &str = "is not a WAL location like 0/4000028 (two groups of 1 to 8 hexadecimal digits separated by '/')";

/// PostgreSQL's `pg_lsn` syntax. (The crate's `pg::Lsn` is the full type;
/// this module stays free of other modules.)
impl Manifest {
    /// The backup's start and stop positions, parsed.
    pub fn lsn_range(&self) -> Result<(crate::pg::Lsn, crate::pg::Lsn), ManifestError> {
        let start = parse_lsn(&self.start_lsn)
            .ok_or_else(|| invalid(format!("start_lsn {:?}", self.start_lsn), LSN_SYNTAX))?;
        let stop = parse_lsn(&self.stop_lsn)
            .ok_or_else(|| invalid(format!("stop_lsn {:?}", self.stop_lsn), LSN_SYNTAX))?;
        Ok((crate::pg::Lsn(start), crate::pg::Lsn(stop)))
    }
}

fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    let half = |h: &str| {
        ((1..=8).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(h, 16).ok())
            .flatten()
    };
    Some((u64::from(half(hi)?) << 32) | u64::from(half(lo)?))
}

fn is_wal_file_name(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
}

/// Where restore places `rel` (a path from a validated manifest) under
/// `root`: the one function restore uses for that. Refuses anything that is
/// not a normalized relative path and anything that would land outside
/// `root` lexically.
///
/// This cannot see the file system: a symbolic link already present in the
/// target could still redirect the write. Restore must therefore also call
/// [`check_no_symlink_ancestors`] before placing each entry, create files
/// with `create_new` (O_EXCL, which never follows a final symlink), and
/// refuse a target directory that is not empty.
pub fn safe_join(root: &Path, rel: &str) -> Result<PathBuf, ManifestError> {
    let refuse = |reason: String| ManifestError::UnsafePath {
        root: root.to_path_buf(),
        path: rel.to_owned(),
        reason,
    };
    check_relative_path(rel).map_err(refuse)?;
    let rel_path = Path::new(rel);
    if !rel_path
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(refuse("path is not a plain relative path".into()));
    }
    let joined = root.join(rel_path);
    if !joined.starts_with(root) {
        return Err(refuse("path leads outside the restore directory".into()));
    }
    Ok(joined)
}

/// Refuses to place `path` when any existing component between `root`
/// (exclusive: an operator may well keep the data directory behind a link)
/// and `path` (inclusive) is a symbolic link: an attacker, or leftovers,
/// could redirect the write anywhere. Components that do not exist yet are
/// fine: restore is about to create them.
pub fn check_no_symlink_ancestors(root: &Path, path: &Path) -> io::Result<()> {
    let rel = path.strip_prefix(root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not under {}", path.display(), root.display()),
        )
    })?;
    let mut current = root.to_path_buf();
    for component in rel.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not a normalized path under {}",
                    path.display(),
                    root.display()
                ),
            ));
        };
        current.push(name);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "refusing to restore {}: {} is a symbolic link already in the target directory, and restore never writes through one",
                    path.display(),
                    current.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", current.display()),
                ))
            }
        }
    }
    Ok(())
}

/// `fixtures/manifests/good.json`: a real backup's manifest, for unit tests
/// that change a field or two.
#[cfg(test)]
pub(crate) fn good_fixture() -> Manifest {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/manifests/good.json");
    Manifest::from_json(&std::fs::read(path).unwrap()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/manifests")).join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
    }

    fn good() -> Manifest {
        Manifest::from_json(&fixture("good.json")).expect("good.json is accepted")
    }

    fn refused(name: &str) -> String {
        match Manifest::from_json(&fixture(name)) {
            Ok(_) => panic!("{name} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_refused(m: &Manifest, expected: &str) {
        let err = m.validate().expect_err("manifest accepted").to_string();
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
        // Also through the JSON path restore takes.
        let err = Manifest::from_json(&m.to_json()).unwrap_err().to_string();
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }

    #[test]
    fn good_fixture_is_accepted_and_round_trips() {
        let m = good();
        assert_eq!(m.format, FULL_FORMAT);
        assert_eq!(m.tablespaces.len(), 1);
        assert_eq!(m.tablespaces[0].oid, 16385);
        assert!(m.parts.iter().any(|p| p.tablespace_oid == Some(16385)));
        let link = m
            .files
            .iter()
            .find(|f| f.kind == FileKind::Symlink)
            .unwrap();
        assert_eq!(link.path, "pg_tblspc/16385");
        assert_eq!(m.files.last().unwrap().path, "global/pg_control");
        assert_eq!(m.duration(), chrono::Duration::seconds(83));
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn durations_are_optional_and_round_trip() {
        // A manifest written before durations were recorded still reads.
        let old = good();
        assert_eq!(old.durations, None);
        let json: serde_json::Value = serde_json::from_slice(&old.to_json()).unwrap();
        assert!(json.get("durations").is_none(), "absent, not null");

        let mut new = good();
        new.durations = Some(Durations {
            checkpoint_ms: 270_100,
            copy_ms: 9_000,
            wal_wait_ms: 120,
        });
        let json: serde_json::Value = serde_json::from_slice(&new.to_json()).unwrap();
        assert_eq!(
            json["durations"],
            serde_json::json!({"checkpoint_ms": 270_100, "copy_ms": 9_000, "wal_wait_ms": 120})
        );
        assert_eq!(Manifest::from_json(&new.to_json()).unwrap(), new);
    }

    #[test]
    fn durations_add_up_and_rate_counts_the_copy_only() {
        let d = Durations {
            checkpoint_ms: 270_100,
            copy_ms: 9_000,
            wal_wait_ms: 100,
        };
        assert_eq!(d.total_ms(), 279_200);
        // 180 MB copied in 9 s at --max-rate 20MB/s: 20 MB/s, however long
        // the checkpoint took.
        assert_eq!(d.copy_rate(180_000_000), Some(20_000_000.0));
        let instant = Durations { copy_ms: 0, ..d };
        assert_eq!(instant.copy_rate(1), None);
    }

    #[test]
    fn stable_field_names() {
        let json: serde_json::Value = serde_json::from_slice(&good().to_json()).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&json),
            [
                "backup_label",
                "bytes",
                "compression",
                "encrypted",
                "files",
                "format",
                "label",
                "name",
                "parts",
                "pg_version",
                "start_lsn",
                "start_time",
                "start_wal_file",
                "stop_lsn",
                "stop_time",
                "stop_wal_file",
                "stored_bytes",
                "system_identifier",
                "tablespace_map",
                "tablespaces",
                "timeline",
                "wal_segment_size"
            ]
        );
        assert_eq!(
            keys(&json["files"][0]),
            [
                "kind",
                "link_target",
                "mode",
                "mtime",
                "part",
                "path",
                "sha256",
                "size"
            ]
        );
        assert_eq!(
            keys(&json["parts"][0]),
            [
                "key",
                "plain_bytes",
                "sha256",
                "stored_bytes",
                "tablespace_oid"
            ]
        );
        assert_eq!(keys(&json["tablespaces"][0]), ["location", "name", "oid"]);
        assert_eq!(json["start_time"], "2026-11-24T10:30:00Z");
        let kinds: HashSet<&str> = json["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, HashSet::from(["file", "dir", "symlink"]));
    }

    #[test]
    fn malicious_and_broken_fixtures_are_refused() {
        let cases = [
            (
                "dotdot.json",
                r#"files[3] "../../etc/passwd": path has a '..' component"#,
            ),
            (
                "absolute.json",
                r#"files[3] "/etc/passwd": path is absolute"#,
            ),
            (
                "symlink-escape.json",
                r#"files[4] "base/evil": symbolic link to "/etc": only tablespace links pg_tblspc/<oid> are allowed"#,
            ),
            ("garbage.json", "backup manifest is not JSON"),
            ("truncated.json", "backup manifest is truncated"),
            (
                "future-format.json",
                "backup manifest has format 99, but this walden reads only format 2",
            ),
            (
                "bad-part-index.json",
                r#"files[6] "base/1/1259": part 7 does not exist (the manifest lists 2 parts)"#,
            ),
        ];
        for (name, expected) in cases {
            let err = refused(name);
            assert!(
                err.contains(expected),
                "{name}: expected {expected:?} in: {err}"
            );
        }
    }

    #[test]
    fn refuses_unsafe_paths() {
        for (path, reason) in [
            ("", "empty path"),
            ("/etc/passwd", "absolute"),
            ("../x", "'..'"),
            ("base/../../x", "'..'"),
            ("base/..", "'..'"),
            ("./base", "'.'"),
            ("base/./1", "'.'"),
            ("base//1", "empty component"),
            ("base/", "empty component"),
            ("base/1\0", "NUL"),
        ] {
            let mut m = good();
            m.files[3].path = path.into();
            assert_refused(&m, reason);
        }
    }

    #[test]
    fn refuses_symlinks_other_than_tablespace_links() {
        let m = good();
        let link = m
            .files
            .iter()
            .position(|f| f.kind == FileKind::Symlink)
            .unwrap();

        let mut wrong_place = m.clone();
        wrong_place.files[link].path = "pg_wal".into();
        assert_refused(
            &wrong_place,
            "only tablespace links pg_tblspc/<oid> are allowed",
        );

        let mut unknown_oid = m.clone();
        unknown_oid.files[link].path = "pg_tblspc/99999".into();
        assert_refused(&unknown_oid, "tablespace 99999 is not in tablespaces");

        let mut elsewhere = m.clone();
        elsewhere.files[link].link_target = Some("/etc".into());
        assert_refused(&elsewhere, "links to \"/etc\", but tablespace 16385 is at");

        let mut no_target = m.clone();
        no_target.files[link].link_target = None;
        assert_refused(&no_target, "needs a link_target");

        let mut in_tablespace = m.clone();
        let ts_part = m
            .parts
            .iter()
            .position(|p| p.tablespace_oid.is_some())
            .unwrap();
        in_tablespace.files[link].part = ts_part;
        assert_refused(&in_tablespace, "inside a tablespace");

        // A file placed through the tablespace link.
        let mut through = m.clone();
        let mut file = m
            .files
            .iter()
            .find(|f| f.kind == FileKind::File && f.part == 0 && f.size > 0)
            .unwrap()
            .clone();
        file.path = "pg_tblspc/16385/PG_15_202209061/5/1".into();
        through.bytes += file.size;
        through.files.push(file);
        assert_refused(&through, "lies under the symbolic link \"pg_tblspc/16385\"");
    }

    #[test]
    fn refuses_inconsistencies() {
        let m = good();
        let file = m
            .files
            .iter()
            .position(|f| f.kind == FileKind::File)
            .unwrap();
        let dir = m
            .files
            .iter()
            .position(|f| f.kind == FileKind::Dir)
            .unwrap();
        type Mutation = fn(&mut Manifest, usize, usize);
        let cases: &[(Mutation, &str)] = &[
            (
                |m, f, _| m.files.push(m.files[f].clone()),
                "path listed twice",
            ),
            (|m, _, _| m.bytes += 1, "the files' sizes add up to"),
            (
                |m, _, _| m.stored_bytes -= 1,
                "the parts' stored_bytes add up to",
            ),
            (
                |m, f, _| m.files[f].sha256 = Some("ABC".into()),
                "is not 64 lowercase hexadecimal digits",
            ),
            (
                |m, f, _| m.files[f].sha256 = Some("A".repeat(64)),
                "is not 64 lowercase hexadecimal digits",
            ),
            (|m, f, _| m.files[f].sha256 = None, "needs a sha256"),
            (|m, _, _| m.parts[0].sha256 = "0".repeat(63), "parts[0]"),
            (
                |m, _, d| m.files[d].sha256 = Some("0".repeat(64)),
                "only files have a sha256",
            ),
            (
                |m, f, _| m.files[f].mode = 0o10_0644,
                "is not permission bits",
            ),
            (
                |m, _, _| m.parts[1].key = "../other/data.tar".into(),
                "'..'",
            ),
            (|m, _, _| m.parts[1].key = "/data.tar".into(), "absolute"),
            (
                |m, _, _| m.parts[1].key = "data/base 1.tar".into(),
                "key may hold only",
            ),
            (
                |m, _, _| m.parts[1].key = m.parts[0].key.clone(),
                "key listed twice",
            ),
            (
                |m, _, _| m.parts[1].tablespace_oid = Some(1),
                "tablespace_oid 1 is not in tablespaces",
            ),
            (|m, _, _| m.parts[0].plain_bytes = 1, "is less than the"),
            (|m, _, _| m.name = "../x".into(), "name \"../x\""),
            (
                |m, _, _| m.name = "..".into(),
                "not a usable directory name",
            ),
            (|m, _, _| m.name = "a b".into(), "only letters"),
            (|m, _, _| m.name = String::new(), "only letters"),
            (
                |m, _, _| m.start_lsn = "0/XYZ".into(),
                "start_lsn \"0/XYZ\"",
            ),
            (|m, _, _| m.stop_lsn = "0/1".into(), "is before start_lsn"),
            (
                |m, _, _| m.start_wal_file = "00000001".into(),
                "is not a WAL segment name",
            ),
            (|m, _, _| m.timeline = 0, "timelines start at 1"),
            (|m, _, _| m.wal_segment_size = 1000, "is not a power of two"),
            (
                |m, _, _| m.stop_time = m.start_time - chrono::Duration::seconds(1),
                "is before start_time",
            ),
            (
                |m, _, _| m.system_identifier = "-1".into(),
                "is not a decimal 64-bit number",
            ),
            (|m, _, _| m.backup_label.clear(), "backup_label"),
            (
                |m, _, _| m.tablespaces[0].location = "relative/ts".into(),
                "is not an absolute path",
            ),
            (
                |m, _, _| m.tablespaces[0].location = "/srv/../etc".into(),
                "'..'",
            ),
            (
                |m, _, _| m.tablespaces[0].location = "/".into(),
                "is the root directory",
            ),
            (
                |m, _, _| m.tablespaces.push(m.tablespaces[0].clone()),
                "OID listed twice",
            ),
            (|m, _, _| m.format = 0, "formats start at 1"),
            (|m, _, _| m.format = 3, "has format 3"),
        ];
        for (mutate, expected) in cases {
            let mut bad = m.clone();
            mutate(&mut bad, file, dir);
            assert_refused(&bad, expected);
        }
    }

    #[test]
    fn file_under_a_file_is_refused() {
        let mut m = good();
        let file = m
            .files
            .iter()
            .find(|f| f.path == "PG_VERSION")
            .unwrap()
            .clone();
        let mut nested = file.clone();
        nested.path = "PG_VERSION/x".into();
        m.bytes += nested.size;
        m.files.push(nested);
        assert_refused(&m, "lies under \"PG_VERSION\", which is a file");
    }

    #[test]
    fn same_path_in_different_trees_is_fine() {
        let mut m = good();
        let data_part = m
            .parts
            .iter()
            .position(|p| p.tablespace_oid.is_none())
            .unwrap();
        let mut dir = m
            .files
            .iter()
            .find(|f| f.path == "PG_15_202209061")
            .unwrap()
            .clone();
        dir.part = data_part;
        m.files.push(dir);
        m.validate().unwrap();
    }

    #[test]
    fn a_tablespace_holds_only_its_version_directory() {
        let m = good();
        let ts_part = m
            .parts
            .iter()
            .position(|p| p.tablespace_oid.is_some())
            .unwrap();
        let file = m
            .files
            .iter()
            .find(|f| f.part == ts_part && f.kind == FileKind::File)
            .unwrap()
            .clone();
        for path in [
            ".ssh/authorized_keys",
            "authorized_keys",
            "PG_15_/x",
            "PG_16_202307071/x",
            "PG_15_2022x/x",
            "pg_15_202209061/x",
        ] {
            let mut bad = m.clone();
            let mut evil = file.clone();
            evil.path = path.into();
            bad.bytes += evil.size;
            bad.files.push(evil);
            assert_refused(&bad, "holds only its PG_15_<catalog version> directory");
        }
    }

    #[test]
    fn tablespace_locations_with_control_characters_are_refused() {
        for location in [
            "/srv/ts\n16386 /root/.ssh",
            "/srv/ts\r",
            "/srv/\u{1b}[2Jts",
            "/srv/ts\u{7f}",
        ] {
            let mut bad = good();
            bad.tablespaces[0].location = location.into();
            for f in &mut bad.files {
                if f.kind == FileKind::Symlink {
                    f.link_target = Some(location.into());
                }
            }
            assert_refused(&bad, "contains a control character");
        }
    }

    #[test]
    fn a_restorable_backup_has_its_control_file() {
        let m = good();
        m.check_restorable().unwrap();
        let control = m.files.iter().position(|f| f.path == CONTROL_FILE).unwrap();

        let mut missing = m.clone();
        missing.bytes -= missing.files[control].size;
        missing.files.remove(control);
        missing.validate().unwrap();
        let err = missing.check_restorable().unwrap_err().to_string();
        assert!(
            err.contains("global/pg_control") && err.contains("not in the backup"),
            "{err}"
        );

        let mut a_dir = m.clone();
        a_dir.bytes -= a_dir.files[control].size;
        let entry = &mut a_dir.files[control];
        entry.kind = FileKind::Dir;
        entry.size = 0;
        entry.sha256 = None;
        a_dir.validate().unwrap();
        let err = a_dir.check_restorable().unwrap_err().to_string();
        assert!(err.contains("not a file"), "{err}");

        // In a tablespace's tree it is not the data directory's control file.
        let mut elsewhere = m.clone();
        let ts_part = m
            .parts
            .iter()
            .position(|p| p.tablespace_oid.is_some())
            .unwrap();
        elsewhere.files[control].part = ts_part;
        assert!(elsewhere.check_restorable().is_err());
    }

    #[test]
    fn group_access_follows_the_global_directory() {
        let mut m = good();
        assert!(!m.group_access());
        let global = m.files.iter().position(|f| f.path == "global").unwrap();
        for (mode, group) in [
            (0o750, true),
            (0o755, true),
            (0o770, false),
            (0o700, false),
            (0o740, false),
        ] {
            m.files[global].mode = mode;
            assert_eq!(m.group_access(), group, "{mode:o}");
        }
    }

    #[test]
    fn only_a_newer_format_names_a_parent() {
        // A manifest naming a parent must say format 2: one claiming
        // format 1 would be restored as a full backup by an older walden.
        let mut m = good();
        m.parent = Some("base_000000010000000000000028".into());
        let err = m.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("only an incremental backup's manifest"),
            "{err}"
        );
        m.format = INCREMENTAL_FORMAT;
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
        m.format = INCREMENTAL_FORMAT + 1;
        assert!(matches!(
            Manifest::from_json(&m.to_json()),
            Err(ManifestError::NewerFormat { found: 3, .. })
        ));
        let full = good();
        assert!(!String::from_utf8(full.to_json())
            .unwrap()
            .contains("parent"));
    }

    #[test]
    fn structural_errors_name_the_field() {
        let mut json: serde_json::Value = serde_json::from_slice(&fixture("good.json")).unwrap();
        json.as_object_mut().unwrap().remove("stop_lsn");
        let err = Manifest::from_json(json.to_string().as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("missing field `stop_lsn`"),
            "{err}"
        );

        json["stop_lsn"] = "0/4000100".into();
        json["files"][0]["kind"] = "fifo".into();
        let err = Manifest::from_json(json.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("unknown variant `fifo`"), "{err}");

        let err = Manifest::from_json(b"{\"name\": \"x\"}").unwrap_err();
        assert!(err.to_string().contains("no \"format\" field"), "{err}");
        let err = Manifest::from_json(b"").unwrap_err();
        assert!(matches!(err, ManifestError::Truncated { .. }), "{err}");
        let err = Manifest::from_json(b"[1, 2]").unwrap_err();
        assert!(err.to_string().contains("no \"format\" field"), "{err}");
    }

    #[test]
    fn safe_join_places_only_inside_root() {
        let root = Path::new("/restore/data");
        assert_eq!(
            safe_join(root, "base/1/1259").unwrap(),
            Path::new("/restore/data/base/1/1259")
        );
        assert_eq!(
            safe_join(root, "pg_tblspc/16385").unwrap(),
            Path::new("/restore/data/pg_tblspc/16385")
        );
        for (rel, reason) in [
            ("../../etc/passwd", "'..'"),
            ("base/../../../etc/passwd", "'..'"),
            ("/etc/passwd", "absolute"),
            ("", "empty path"),
            (".", "'.'"),
            ("base//1", "empty component"),
            ("base/1/", "empty component"),
            ("a\0b", "NUL"),
        ] {
            let err = safe_join(root, rel).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, ManifestError::UnsafePath { .. }) && message.contains(reason),
                "{rel:?}: {message}"
            );
            assert!(message.contains("/restore/data"), "{message}");
        }
    }

    #[test]
    fn symlinks_already_in_the_target_are_refused() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("base/1")).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();

        // Nothing in the way, existing or not yet created.
        check_no_symlink_ancestors(&root, &root.join("base/1/1259")).unwrap();
        check_no_symlink_ancestors(&root, &root.join("global/pg_control")).unwrap();

        symlink(&outside, root.join("global")).unwrap();
        let err = check_no_symlink_ancestors(&root, &root.join("global/pg_control")).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert!(err.to_string().contains("global"), "{err}");

        // The final component too: creating it would follow the link.
        symlink("/etc/passwd", root.join("base/1/1259")).unwrap();
        assert!(check_no_symlink_ancestors(&root, &root.join("base/1/1259")).is_err());

        // The root itself may be a link: that is the operator's choice.
        let linked_root = dir.path().join("linked");
        symlink(&root, &linked_root).unwrap();
        check_no_symlink_ancestors(&linked_root, &linked_root.join("base/2")).unwrap();

        let err = check_no_symlink_ancestors(&root, Path::new("/etc/passwd")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
