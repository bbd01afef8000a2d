//! wal-push read-ahead markers: `push/<WAL file name>` records that this
//! very file (device, inode, size, modification time) is durably in the
//! repository. PostgreSQL's later call for it checks the marker against the
//! file and returns at once. A marker is written only after the store
//! confirmed the object; losing one means the segment is pushed again,
//! which the duplicate rule makes harmless.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What identifies one file on disk well enough to know it has not been
/// replaced or rewritten since it was archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

impl FileStamp {
    pub fn of(meta: &Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }

    fn to_line(self) -> String {
        format!(
            "{} {} {} {}\n",
            self.dev, self.ino, self.size, self.mtime_ns
        )
    }

    fn parse(line: &str) -> Option<FileStamp> {
        let mut fields = line.split_whitespace();
        let stamp = FileStamp {
            dev: fields.next()?.parse().ok()?,
            ino: fields.next()?.parse().ok()?,
            size: fields.next()?.parse().ok()?,
            mtime_ns: fields.next()?.parse().ok()?,
        };
        fields.next().is_none().then_some(stamp)
    }
}

/// The `push/` directory of a spool.
#[derive(Debug, Clone)]
pub struct Markers {
    dir: PathBuf,
}

impl Markers {
    pub fn new(spool: &Path) -> Markers {
        Markers {
            dir: spool.join("push"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records that `name`, as `file` is now, is durably archived. Call only
    /// after the store confirmed the object. Not fsynced: a marker lost in a
    /// crash only costs a second (harmless) push.
    pub fn record(&self, name: &str, stamp: FileStamp) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let temp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        fs::write(&temp, stamp.to_line())?;
        fs::rename(&temp, self.dir.join(name)).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }

    /// Whether `name`, the file at `path`, was archived by an earlier
    /// read-ahead: its marker exists and describes this very file. The
    /// marker is consumed either way; one that does not match is stale.
    pub fn take(&self, name: &str, path: &Path) -> bool {
        let marker = self.dir.join(name);
        let Ok(text) = fs::read_to_string(&marker) else {
            return false;
        };
        let _ = fs::remove_file(&marker);
        let recorded = FileStamp::parse(&text);
        let now = fs::metadata(path).ok().map(|m| FileStamp::of(&m));
        recorded.is_some() && recorded == now
    }

    /// Names that have a marker.
    pub fn names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    pub fn remove(&self, name: &str) {
        let _ = fs::remove_file(self.dir.join(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(path: &Path) -> FileStamp {
        FileStamp::of(&fs::metadata(path).unwrap())
    }

    #[test]
    fn a_marker_matches_only_the_file_it_was_written_for() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("000000010000000000000001");
        fs::write(&wal, b"segment").unwrap();
        let markers = Markers::new(&dir.path().join("spool"));
        assert!(
            !markers.take("000000010000000000000001", &wal),
            "no marker yet"
        );

        markers
            .record("000000010000000000000001", stamp(&wal))
            .unwrap();
        assert_eq!(markers.names(), vec!["000000010000000000000001"]);
        assert!(markers.take("000000010000000000000001", &wal));
        assert!(markers.names().is_empty(), "taking consumes the marker");

        // A file replaced after it was archived (new inode) is not covered.
        markers
            .record("000000010000000000000001", stamp(&wal))
            .unwrap();
        let replacement = dir.path().join("new");
        fs::write(&replacement, b"segment").unwrap();
        fs::rename(&replacement, &wal).unwrap();
        assert!(!markers.take("000000010000000000000001", &wal));
        assert!(markers.names().is_empty(), "a stale marker is removed");
    }

    #[test]
    fn a_damaged_marker_is_never_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("000000010000000000000002");
        fs::write(&wal, b"segment").unwrap();
        let markers = Markers::new(dir.path());
        fs::create_dir_all(markers.dir()).unwrap();
        fs::write(markers.dir().join("000000010000000000000002"), b"").unwrap();
        assert!(!markers.take("000000010000000000000002", &wal));
        let line = FileStamp::of(&fs::metadata(&wal).unwrap()).to_line();
        fs::write(
            markers.dir().join("000000010000000000000002"),
            &line[..line.len() / 2],
        )
        .unwrap();
        assert!(!markers.take("000000010000000000000002", &wal));
    }
}
