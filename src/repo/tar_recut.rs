//! Re-cuts a tar stream (an archive a server sends for `BASE_BACKUP`) into walden's backup parts of about a given size, hashing every file, in bounded memory.
//!
//! The stream is read once, front to back: each entry goes through a
//! [`PartWriter`] into the current part's sink, and a part is closed when
//! the next file would take it over the size. Nothing is held in memory
//! beyond the reader's and the pipeline's buffers, except the few small
//! files set aside (`backup_label`, `tablespace_map`), which go into the
//! manifest instead of a part.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::pipeline::{Digest, EncodeOptions};
use crate::repo::tarpart::{part_is_full, OnBytes, PartWriter, WrittenEntry};

/// The largest file set aside in memory; `backup_label` and
/// `tablespace_map` are a few hundred bytes to a few KiB.
const SET_ASIDE_LIMIT: u64 = 1 << 20;

/// Where parts go. `open` is called for each part in turn (indexes from 1);
/// `close` gets the part back once it is complete and returns when it is
/// stored.
pub trait PartSinks {
    type Sink: Write;
    fn open(&mut self, index_in_group: usize) -> Result<Self::Sink>;
    fn close(
        &mut self,
        index_in_group: usize,
        sink: Self::Sink,
        digest: Digest,
        entries: Vec<WrittenEntry>,
    ) -> Result<()>;
}

/// A file kept out of the parts, with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    pub path: String,
    pub content: Vec<u8>,
}

/// Reads the tar `stream` to its end and writes its entries into parts of
/// about `part_size` file bytes (see [`part_is_full`]). Files
/// whose path is in `set_aside` are returned instead of written. Every
/// path must be relative and stay below the archive's root.
pub fn recut<R: Read, S: PartSinks>(
    stream: R,
    part_size: u64,
    encode: &EncodeOptions,
    set_aside: &[&str],
    sinks: &mut S,
    on_bytes: &OnBytes,
) -> Result<Vec<SetAside>> {
    let mut archive = tar::Archive::new(stream);
    let mut kept = Vec::new();
    let mut index = 1;
    let mut part = PartWriter::new(sinks.open(index)?, encode, 1024)?;
    let bad = |e: io::Error| Error::failed(format!("reading the server's tar stream: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let header = entry.header();
        let path = relative_path(&entry.path_bytes())
            .map_err(|e| Error::failed(format!("the server's tar stream: {e}")))?;
        let mode = header.mode().map_err(bad)?;
        let mtime = header.mtime().map_err(bad)? as i64;
        let kind = header.entry_type();
        let size = entry.size();
        if kind.is_file() && set_aside.contains(&path.as_str()) {
            if size > SET_ASIDE_LIMIT {
                return Err(Error::failed(format!(
                    "the server's {path} is {size} bytes, more than a backup label can be"
                )));
            }
            let mut content = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut content).map_err(bad)?;
            kept.push(SetAside { path, content });
            continue;
        }
        if kind.is_file() && part_is_full(part.entries(), part.file_bytes(), size, part_size) {
            let (sink, digest, written) = part.finish()?;
            sinks.close(index, sink, digest, written)?;
            index += 1;
            part = PartWriter::new(sinks.open(index)?, encode, 1024)?;
        }
        let write_failed = |e: io::Error| Error::failed(format!("backing up {path}: {e}"));
        if kind.is_dir() {
            part.append_dir(&path, mode, mtime).map_err(write_failed)?;
        } else if kind.is_symlink() {
            let target: PathBuf = entry
                .link_name()
                .map_err(bad)?
                .ok_or_else(|| {
                    Error::failed(format!(
                        "the server's tar stream: symlink {path} has no target"
                    ))
                })?
                .into_owned();
            part.append_symlink(&path, &target, mode, mtime)
                .map_err(write_failed)?;
        } else if kind.is_file() {
            part.append_file(&path, mode, mtime, size, &mut entry)
                .map_err(write_failed)?;
            on_bytes(size);
        } else {
            return Err(Error::failed(format!(
                "the server's tar stream: {path} is a {kind:?}, which a data directory never holds"
            )));
        }
    }
    // The end-of-archive blocks (and any padding) must be all zeros: data
    // after them would be a stream walden misread.
    let mut rest = archive.into_inner();
    let mut buffer = [0u8; 8192];
    loop {
        let n = rest.read(&mut buffer).map_err(bad)?;
        if n == 0 {
            break;
        }
        if buffer[..n].iter().any(|b| *b != 0) {
            return Err(Error::failed(
                "the server's tar stream has data after its end-of-archive marker".to_string(),
            ));
        }
    }
    let (sink, digest, written) = part.finish()?;
    sinks.close(index, sink, digest, written)?;
    Ok(kept)
}

/// A tar entry's path as a '/'-separated relative path: PostgreSQL writes
/// directories (and symlinks) with a trailing slash. Absolute paths, `..`
/// and empty names are refused.
fn relative_path(raw: &[u8]) -> std::result::Result<String, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| format!("a path that is not UTF-8: {}", String::from_utf8_lossy(raw)))?;
    let trimmed = text.trim_end_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    let path = Path::new(trimmed);
    if trimmed.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("the path {text:?} is not inside the archive"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Decoder;
    use std::sync::Arc;

    /// Parts kept in memory, decoded back for checking.
    #[derive(Default)]
    struct MemorySinks {
        parts: Vec<(usize, Vec<u8>, Vec<WrittenEntry>)>,
    }

    impl PartSinks for MemorySinks {
        type Sink = Vec<u8>;
        fn open(&mut self, _index: usize) -> Result<Vec<u8>> {
            Ok(Vec::new())
        }
        fn close(
            &mut self,
            index: usize,
            sink: Vec<u8>,
            _digest: Digest,
            entries: Vec<WrittenEntry>,
        ) -> Result<()> {
            self.parts.push((index, sink, entries));
            Ok(())
        }
    }

    fn tar_of(entries: &[(&str, Option<&[u8]>)], trailer: bool) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, body) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o600);
            header.set_mtime(1_700_000_000);
            match body {
                Some(body) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(body.len() as u64);
                    builder.append_data(&mut header, path, *body).unwrap();
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, format!("{path}/"), io::empty())
                        .unwrap();
                }
            }
        }
        let mut bytes = builder.into_inner().unwrap();
        if !trailer {
            // PostgreSQL up to 14 ends an archive without the two zero blocks.
            bytes.truncate(bytes.len() - 1024);
        }
        bytes
    }

    fn options() -> EncodeOptions {
        EncodeOptions {
            compression: crate::pipeline::Compression::Zstd { level: 3 },
            recipients: crate::pipeline::Recipients::none(),
        }
    }

    fn no_bytes() -> OnBytes {
        Arc::new(|_| {})
    }

    fn decoded(part: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let stages = options().stages();
        Decoder::new(part, stages, &crate::pipeline::Identities::none())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn cuts_at_the_size_hashes_files_and_sets_labels_aside() {
        for trailer in [true, false] {
            let big = vec![7u8; 3000];
            let stream = tar_of(
                &[
                    ("global", None),
                    ("global/pg_control", Some(&[1u8; 512][..])),
                    ("backup_label", Some(b"START WAL LOCATION: 0/2000028\n")),
                    ("base/1/1259", Some(&big[..])),
                    ("base/1/1260", Some(b"small")),
                ],
                trailer,
            );
            let mut sinks = MemorySinks::default();
            let kept = recut(
                &stream[..],
                2048,
                &options(),
                &["backup_label", "tablespace_map"],
                &mut sinks,
                &no_bytes(),
            )
            .unwrap();
            assert_eq!(
                kept,
                vec![SetAside {
                    path: "backup_label".into(),
                    content: b"START WAL LOCATION: 0/2000028\n".to_vec()
                }]
            );
            let names: Vec<Vec<&str>> = sinks
                .parts
                .iter()
                .map(|(_, _, entries)| entries.iter().map(|e| e.rel_path.as_str()).collect())
                .collect();
            // The 3000-byte file would take the first part over 2048: it
            // starts the second; the small file then fits nowhere but a third.
            assert_eq!(
                names,
                vec![
                    vec!["global", "global/pg_control"],
                    vec!["base/1/1259"],
                    vec!["base/1/1260"]
                ]
            );
            let indexes: Vec<usize> = sinks.parts.iter().map(|(i, _, _)| *i).collect();
            assert_eq!(indexes, vec![1, 2, 3]);
            let big_entry = &sinks.parts[1].2[0];
            assert_eq!(big_entry.size, 3000);
            assert_eq!(
                big_entry.sha256.as_deref(),
                Some(crate::pipeline::Digest::of(&big).sha256_hex().as_str())
            );
            // Each part is a tar of its own that holds the file's bytes.
            let plain = decoded(&sinks.parts[1].1);
            let mut part = tar::Archive::new(&plain[..]);
            let mut entry = part.entries().unwrap().next().unwrap().unwrap();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            assert_eq!(body, big);
        }
    }

    #[test]
    fn an_empty_archive_still_makes_one_part() {
        let mut sinks = MemorySinks::default();
        recut(
            &tar_of(&[], true)[..],
            1 << 20,
            &options(),
            &[],
            &mut sinks,
            &no_bytes(),
        )
        .unwrap();
        assert_eq!(sinks.parts.len(), 1);
        assert!(sinks.parts[0].2.is_empty());
    }

    #[test]
    fn paths_outside_the_archive_and_trailing_garbage_are_refused() {
        for path in ["/etc/passwd", "../escape", "base/../../x"] {
            let mut stream = Vec::new();
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(1);
            header.set_mode(0o600);
            // Write the name raw: the tar crate refuses to build such paths.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            stream.extend_from_slice(header.as_bytes());
            stream.extend_from_slice(&[b'x'; 512]);
            let mut sinks = MemorySinks::default();
            let error = recut(
                &stream[..],
                1 << 20,
                &options(),
                &[],
                &mut sinks,
                &no_bytes(),
            )
            .unwrap_err();
            assert!(
                error.to_string().contains("not inside the archive"),
                "{path}: {error}"
            );
        }
        let mut stream = tar_of(&[("a", Some(b"x"))], true);
        stream.extend_from_slice(b"garbage");
        let mut sinks = MemorySinks::default();
        let error = recut(
            &stream[..],
            1 << 20,
            &options(),
            &[],
            &mut sinks,
            &no_bytes(),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("after its end-of-archive"),
            "{error}"
        );
    }

    #[test]
    fn an_oversized_label_is_refused() {
        let huge = vec![b'x'; (SET_ASIDE_LIMIT + 1) as usize];
        let stream = tar_of(&[("backup_label", Some(&huge[..]))], true);
        let mut sinks = MemorySinks::default();
        assert!(recut(
            &stream[..],
            1 << 20,
            &options(),
            &["backup_label"],
            &mut sinks,
            &no_bytes()
        )
        .is_err());
    }
}
