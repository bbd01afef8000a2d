//! The file list of a backup being written, kept in a temporary file while the parts are stored and streamed into the manifest at the end, so that `backup-push`'s memory does not grow with the number of files.
//!
//! A cluster with a million relation files has a million entries of about
//! 150 bytes of JSON each: held in memory as entries and then as the
//! manifest's JSON they cost hundreds of megabytes, the complaint operators
//! file most against backup tools. Here each entry is appended to an
//! unnamed temporary file (removed by the kernel however the process ends)
//! as it is known, and read back one at a time while the manifest is
//! written. The manifest's format is unchanged: the same JSON document,
//! with `files` as its last field.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};

use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

use super::manifest::{FileEntry, Manifest};

/// Entries appended in manifest order; see the module documentation.
pub struct FileList {
    spill: BufWriter<File>,
    len: u64,
    bytes: u64,
}

impl FileList {
    /// An empty list, in a temporary file of `std::env::temp_dir()`
    /// (`TMPDIR`).
    pub fn new() -> io::Result<FileList> {
        let file = tempfile::tempfile().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "creating a temporary file in {} for the backup's file list: {e}",
                    std::env::temp_dir().display()
                ),
            )
        })?;
        Ok(FileList {
            spill: BufWriter::with_capacity(256 * 1024, file),
            len: 0,
            bytes: 0,
        })
    }

    /// Appends one entry (one JSON document a line).
    pub fn push(&mut self, entry: &FileEntry) -> io::Result<()> {
        serde_json::to_writer(&mut self.spill, entry)?;
        self.spill.write_all(b"\n")?;
        self.len += 1;
        self.bytes += entry.size;
        Ok(())
    }

    /// How many entries were appended.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sum of the entries' sizes: the manifest's `bytes`.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes the manifest `head` (whose own `files` must be empty) with
    /// this list as its `files`, as pretty JSON ending in a newline: the
    /// document [`Manifest::to_json`] writes for the whole manifest, with
    /// `files` moved last.
    pub fn write_manifest(self, head: &Manifest, out: impl Write) -> io::Result<()> {
        assert!(
            head.files.is_empty(),
            "the file list is written from the spill, not from the head"
        );
        let mut file = self.spill.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        let document = Streamed {
            head,
            files: Spilled {
                reader: RefCell::new(Some(BufReader::with_capacity(256 * 1024, file))),
                len: self.len,
            },
        };
        let mut out = BufWriter::with_capacity(256 * 1024, out);
        serde_json::to_writer_pretty(&mut out, &document).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// The manifest as stored: the head's fields, then `files`.
#[derive(Serialize)]
struct Streamed<'a> {
    #[serde(flatten)]
    head: &'a Manifest,
    files: Spilled,
}

/// The spilled entries, serialized as a JSON array while read back.
struct Spilled {
    reader: RefCell<Option<BufReader<File>>>,
    len: u64,
}

impl Serialize for Spilled {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let reader = self
            .reader
            .borrow_mut()
            .take()
            .ok_or_else(|| S::Error::custom("the file list is written once"))?;
        let mut seq = serializer.serialize_seq(usize::try_from(self.len).ok())?;
        let mut read = 0u64;
        for entry in serde_json::Deserializer::from_reader(reader).into_iter::<FileEntry>() {
            let entry = entry.map_err(|e| {
                S::Error::custom(format!("reading back the backup's file list: {e}"))
            })?;
            seq.serialize_element(&entry)?;
            read += 1;
        }
        if read != self.len {
            return Err(S::Error::custom(format!(
                "the backup's file list lost entries in its temporary file: {read} of {}",
                self.len
            )));
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::manifest::good_fixture;

    #[test]
    fn streamed_manifest_reads_back_as_the_whole_one() {
        let whole = good_fixture();
        assert!(whole.files.len() > 2, "the sample has files to move");
        let mut list = FileList::new().unwrap();
        for entry in &whole.files {
            list.push(entry).unwrap();
        }
        assert_eq!(list.len(), whole.files.len() as u64);
        assert_eq!(list.bytes(), whole.bytes);
        let head = Manifest {
            files: Vec::new(),
            ..whole.clone()
        };
        let mut json = Vec::new();
        list.write_manifest(&head, &mut json).unwrap();
        assert_eq!(json.last(), Some(&b'\n'));
        assert_eq!(Manifest::from_json(&json).unwrap(), whole);
        // Same document, `files` moved last: what scripts read is unchanged.
        let as_value = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();
        assert_eq!(as_value(&json), as_value(&whole.to_json()));
    }

    #[test]
    fn an_empty_list_is_an_empty_array() {
        let list = FileList::new().unwrap();
        assert!(list.is_empty());
        let head = Manifest {
            files: Vec::new(),
            ..good_fixture()
        };
        let mut json = Vec::new();
        list.write_manifest(&head, &mut json).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["files"], serde_json::json!([]));
    }
}
