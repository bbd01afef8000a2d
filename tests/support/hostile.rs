//! Crafted backups for restore's attack tests: tar parts and manifests written by hand into a local repository, as anyone who can write to a bucket could.

use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};
use walden::repo::identity::RepoIdentity;
use walden::repo::layout;
use walden::repo::manifest::{FileEntry, FileKind, Manifest, Part, TablespaceEntry};

/// The system identifier of the crafted cluster (and of its repository).
pub const SYSID: u64 = 7_300_000_000_000_000_001;

/// What a tar entry carries.
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// That many zero bytes, streamed: a decompression bomb costs the test
    /// no memory.
    Zeros(u64),
}

/// One tar entry as written into a part (the manifest is derived from
/// these, then changed by the test to lie where it wants).
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub path: String,
    pub kind: FileKind,
    /// Written into the tar header, and into the derived manifest.
    pub mode: u32,
    pub body: Body,
    pub link_target: Option<String>,
}

impl TarEntry {
    pub fn dir(path: &str) -> TarEntry {
        TarEntry {
            path: path.into(),
            kind: FileKind::Dir,
            mode: 0o700,
            body: Body::Bytes(Vec::new()),
            link_target: None,
        }
    }

    pub fn file(path: &str, bytes: &[u8]) -> TarEntry {
        TarEntry {
            path: path.into(),
            kind: FileKind::File,
            mode: 0o600,
            body: Body::Bytes(bytes.to_vec()),
            link_target: None,
        }
    }

    pub fn zeros(path: &str, len: u64) -> TarEntry {
        TarEntry {
            body: Body::Zeros(len),
            ..TarEntry::file(path, b"")
        }
    }

    pub fn symlink(path: &str, target: &str) -> TarEntry {
        TarEntry {
            path: path.into(),
            kind: FileKind::Symlink,
            mode: 0o777,
            body: Body::Bytes(Vec::new()),
            link_target: Some(target.into()),
        }
    }

    pub fn with_mode(mut self, mode: u32) -> TarEntry {
        self.mode = mode;
        self
    }

    pub fn size(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::Zeros(n) => *n,
        }
    }

    fn reader(&self) -> Box<dyn Read + '_> {
        match &self.body {
            Body::Bytes(b) => Box::new(&b[..]),
            Body::Zeros(n) => Box::new(io::repeat(0).take(*n)),
        }
    }

    fn sha256(&self) -> String {
        let mut sha = Sha256::new();
        io::copy(&mut self.reader(), &mut HashWriter(&mut sha)).unwrap();
        hex::encode(sha.finalize())
    }
}

/// sha256 of `bytes`, for manifests a test rewrites.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One part: the data directory's (`tablespace_oid: None`) or a tablespace's.
#[derive(Debug, Clone)]
pub struct CraftedPart {
    pub tablespace_oid: Option<u32>,
    pub entries: Vec<TarEntry>,
    /// Zero bytes appended to the plaintext after the tar's end.
    pub trailing_zeros: u64,
    /// A GNU long name entry of this many bytes before the first entry.
    pub long_name: u64,
}

/// A backup written by hand.
#[derive(Debug, Clone)]
pub struct CraftedBackup {
    pub name: String,
    pub system_identifier: u64,
    pub tablespaces: Vec<TablespaceEntry>,
    pub parts: Vec<CraftedPart>,
}

/// The tablespace version directory of the crafted PostgreSQL 15 cluster.
pub const VERSION_DIR: &str = "PG_15_202209061";

impl CraftedBackup {
    /// A small data directory, complete as far as restore can tell.
    pub fn minimal() -> CraftedBackup {
        let control: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
        CraftedBackup {
            name: layout::backup_name(1, 0x0200_0028),
            system_identifier: SYSID,
            tablespaces: Vec::new(),
            parts: vec![CraftedPart {
                tablespace_oid: None,
                entries: vec![
                    TarEntry::file("PG_VERSION", b"15\n"),
                    TarEntry::dir("base"),
                    TarEntry::dir("base/1"),
                    TarEntry::file("base/1/1259", &[7u8; 8192]),
                    TarEntry::dir("global"),
                    TarEntry::file("postgresql.auto.conf", b"# crafted\n"),
                    TarEntry::file("global/pg_control", &control),
                ],
                trailing_zeros: 0,
                long_name: 0,
            }],
        }
    }

    /// Adds tablespace `oid` at `location` holding one relation file, with
    /// its pg_tblspc link in the data directory.
    pub fn with_tablespace(mut self, oid: u32, location: &str) -> CraftedBackup {
        self.tablespaces.push(TablespaceEntry {
            oid,
            name: format!("ts{oid}"),
            location: location.into(),
        });
        let data = &mut self.parts[0].entries;
        if !data.iter().any(|e| e.path == "pg_tblspc") {
            data.insert(0, TarEntry::dir("pg_tblspc"));
        }
        data.insert(1, TarEntry::symlink(&format!("pg_tblspc/{oid}"), location));
        self.parts.push(CraftedPart {
            tablespace_oid: Some(oid),
            entries: vec![
                TarEntry::dir(VERSION_DIR),
                TarEntry::dir(&format!("{VERSION_DIR}/5")),
                TarEntry::file(&format!("{VERSION_DIR}/5/16386"), &[9u8; 8192]),
            ],
            trailing_zeros: 0,
            long_name: 0,
        });
        self
    }

    /// The entry at `path` in part `part`, to change before writing.
    pub fn entry_mut(&mut self, part: usize, path: &str) -> &mut TarEntry {
        self.parts[part]
            .entries
            .iter_mut()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no {path} in part {part}"))
    }

    /// Writes walden.json (with `repo_sysid`), the parts and the manifest into
    /// the local repository at `repo`. The manifest lists exactly what the
    /// parts hold, with their real checksums, until `lie` changes it; the
    /// totals are recomputed afterwards so that only the lie differs.
    pub fn write(&self, repo: &Path, repo_sysid: u64, lie: impl FnOnce(&mut Manifest)) {
        std::fs::create_dir_all(repo).unwrap();
        let identity = RepoIdentity::new(repo_sysid, 15, 16 << 20);
        std::fs::write(
            repo.join(layout::IDENTITY_KEY),
            serde_json::to_vec_pretty(&identity).unwrap(),
        )
        .unwrap();
        let mut parts = Vec::new();
        let mut files = Vec::new();
        for (index, part) in self.parts.iter().enumerate() {
            let key = match part.tablespace_oid {
                None => format!("data/base-{:04}.tar.zst", index + 1),
                Some(oid) => format!("data/tblspc-{oid}-{:04}.tar.zst", index + 1),
            };
            let (stored, plain_bytes, sha256) = encode_part(part);
            let path = repo.join(layout::backup_object_key(&self.name, &key));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &stored).unwrap();
            parts.push(Part {
                key,
                tablespace_oid: part.tablespace_oid,
                stored_bytes: stored.len() as u64,
                plain_bytes: plain_bytes - part.trailing_zeros,
                sha256,
            });
            for e in &part.entries {
                files.push(FileEntry {
                    path: e.path.clone(),
                    part: index,
                    size: if e.kind == FileKind::File {
                        e.size()
                    } else {
                        0
                    },
                    mode: e.mode,
                    mtime: 1_790_000_000,
                    sha256: (e.kind == FileKind::File).then(|| e.sha256()),
                    kind: e.kind,
                    link_target: e.link_target.clone(),
                });
            }
        }
        let now = chrono::Utc::now();
        let mut manifest = Manifest {
            format: walden::repo::manifest::FULL_FORMAT,
            name: self.name.clone(),
            label: "crafted".into(),
            start_lsn: "0/2000028".into(),
            stop_lsn: "0/2000100".into(),
            start_wal_file: "000000010000000000000002".into(),
            stop_wal_file: "000000010000000000000002".into(),
            timeline: 1,
            start_time: now,
            stop_time: now,
            pg_version: 15,
            system_identifier: self.system_identifier.to_string(),
            wal_segment_size: 16 << 20,
            compression: "zstd".into(),
            encrypted: false,
            backup_label: "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n".into(),
            tablespace_map: None,
            tablespaces: self.tablespaces.clone(),
            parts,
            files,
            bytes: 0,
            stored_bytes: 0,
            durations: None,
            parent: None,
        };
        lie(&mut manifest);
        manifest.bytes = manifest.files.iter().map(|f| f.size).sum();
        manifest.stored_bytes = manifest.parts.iter().map(|p| p.stored_bytes).sum();
        std::fs::write(
            repo.join(layout::backup_manifest_key(&self.name)),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
    }
}

/// Tar (with each entry's header as crafted) + zstd, streamed. Returns the
/// stored bytes, the plaintext size and the plaintext sha256.
fn encode_part(part: &CraftedPart) -> (Vec<u8>, u64, String) {
    let encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    let mut plain = Counting {
        inner: encoder,
        sha: Sha256::new(),
        bytes: 0,
    };
    {
        let mut tar = tar::Builder::new(&mut plain);
        if part.long_name > 0 {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::GNULongName);
            header.set_mode(0o644);
            header.set_size(part.long_name);
            let name = io::repeat(b'a').take(part.long_name);
            tar.append_data(&mut header, "././@LongLink", name).unwrap();
        }
        for e in &part.entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(e.mode);
            header.set_mtime(1_790_000_000);
            match e.kind {
                FileKind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    tar.append_data(&mut header, &e.path, io::empty()).unwrap();
                }
                FileKind::Symlink => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    tar.append_link(&mut header, &e.path, e.link_target.as_deref().unwrap())
                        .unwrap();
                }
                FileKind::File => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(e.size());
                    tar.append_data(&mut header, &e.path, e.reader()).unwrap();
                }
            }
        }
        tar.finish().unwrap();
    }
    io::copy(&mut io::repeat(0).take(part.trailing_zeros), &mut plain).unwrap();
    let Counting { inner, sha, bytes } = plain;
    (inner.finish().unwrap(), bytes, hex::encode(sha.finalize()))
}

struct Counting<W> {
    inner: W,
    sha: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
