//! PostgreSQL's `BASE_BACKUP` replication command: its text for each major, and its answer read as a sequence of events (start, tablespaces, tar archives, the server's backup manifest, stop).
//!
//! The answer differs by version. From 15 on, every archive and the
//! manifest come in one COPY stream whose CopyData messages start with a
//! type byte ('n' new archive, 'd' data, 'p' progress, 'm' manifest). Up to
//! 14, each tablespace is its own COPY stream in the order of the
//! tablespace result set, and the manifest is one more.

use bytes::{Buf, Bytes};

use crate::pg::replication::{ReplicationConnection, ReplicationError, ServerMessage};
use crate::pg::{Lsn, TimelineId};

/// MAX_RATE's bounds, in kB/s (basebackup.c: MAX_RATE_LOWER, MAX_RATE_UPPER).
const MAX_RATE_KB_LOWER: u64 = 32;
const MAX_RATE_KB_UPPER: u64 = 1_048_576;

/// What to ask the server for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseBackupOptions {
    pub label: String,
    pub fast_checkpoint: bool,
    /// The server-side rate limit in bytes/s; `None` for none.
    pub max_rate: Option<u64>,
    /// Only what changed since the backup whose manifest was uploaded on
    /// this connection (`ReplicationConnection::upload_manifest`;
    /// PostgreSQL 17+, with `summarize_wal = on`).
    pub incremental: bool,
}

/// The `BASE_BACKUP` command for a server of `major`. It asks for progress
/// sizes, the server's manifest and a `tablespace_map`, and never waits for
/// WAL archiving: walden waits for the WAL in the repository itself.
pub fn command(major: u32, options: &BaseBackupOptions) -> String {
    let label = options.label.replace('\'', "''");
    // The server limits the rate at which it reads the data directory;
    // below its lower bound it would refuse the command, so a tiny
    // --max-rate is left to walden's own throttle alone.
    let max_rate_kb = options
        .max_rate
        .map(|rate| rate / 1024)
        .filter(|kb| *kb >= MAX_RATE_KB_LOWER)
        .map(|kb| kb.min(MAX_RATE_KB_UPPER));
    if major >= 15 {
        let mut parts = vec![
            format!("LABEL '{label}'"),
            "PROGRESS".to_owned(),
            format!(
                "CHECKPOINT '{}'",
                if options.fast_checkpoint {
                    "fast"
                } else {
                    "spread"
                }
            ),
            "WAIT false".to_owned(),
            "MANIFEST 'yes'".to_owned(),
            "TABLESPACE_MAP".to_owned(),
        ];
        if let Some(kb) = max_rate_kb {
            parts.push(format!("MAX_RATE {kb}"));
        }
        if options.incremental {
            parts.push("INCREMENTAL".to_owned());
        }
        format!("BASE_BACKUP ( {} )", parts.join(", "))
    } else {
        let mut command = format!("BASE_BACKUP LABEL '{label}' PROGRESS");
        if options.fast_checkpoint {
            command.push_str(" FAST");
        }
        command.push_str(" NOWAIT MANIFEST 'yes' TABLESPACE_MAP");
        if let Some(kb) = max_rate_kb {
            command.push_str(&format!(" MAX_RATE {kb}"));
        }
        command
    }
}

/// A tablespace as the server lists it before sending data. The main data
/// directory has neither oid nor location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablespaceHeader {
    pub oid: Option<u32>,
    pub location: Option<String>,
    /// Estimated size in bytes (the server sends kB).
    pub size: Option<u64>,
}

/// One step of a base backup's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum BackupEvent {
    /// The checkpoint is done: replay starts at `lsn`.
    Started {
        lsn: Lsn,
        timeline: TimelineId,
    },
    Tablespaces(Vec<TablespaceHeader>),
    /// A tar archive begins: the main data directory (`None`) or a tablespace.
    ArchiveStart {
        oid: Option<u32>,
    },
    ArchiveData(Bytes),
    ArchiveEnd,
    /// A piece of the server's `backup_manifest`.
    ManifestData(Bytes),
    /// The backup is consistent once replay reaches `lsn`.
    Stopped {
        lsn: Lsn,
        timeline: TimelineId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading result sets (start, tablespaces, stop).
    Results,
    /// In a COPY stream.
    Copy,
    Done,
}

/// Decodes the answer to `BASE_BACKUP` from server messages. Pure: fed one
/// message at a time, it returns the events that message means.
#[derive(Debug)]
pub struct Decoder {
    new_protocol: bool,
    phase: Phase,
    result_sets: usize,
    tablespaces: Vec<TablespaceHeader>,
    rows: Vec<Vec<Option<String>>>,
    /// Up to 14: how many COPY streams have begun.
    copies: usize,
    archive_open: bool,
    in_manifest: bool,
}

impl Decoder {
    pub fn new(major: u32) -> Decoder {
        Decoder {
            new_protocol: major >= 15,
            phase: Phase::Results,
            result_sets: 0,
            tablespaces: Vec::new(),
            rows: Vec::new(),
            copies: 0,
            archive_open: false,
            in_manifest: false,
        }
    }

    /// Whether the server has said the command is over.
    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The events `message` means, in order.
    pub fn feed(&mut self, message: ServerMessage) -> Result<Vec<BackupEvent>, String> {
        let mut events = Vec::new();
        match (self.phase, message) {
            (Phase::Results, ServerMessage::RowDescription(_)) => self.rows.clear(),
            (Phase::Results, ServerMessage::DataRow(row)) => self.rows.push(row),
            (Phase::Results, ServerMessage::CommandComplete(_)) => {
                let rows = std::mem::take(&mut self.rows);
                if let Some(event) = self.result_set(rows)? {
                    events.push(event);
                }
            }
            (Phase::Results, ServerMessage::CopyOutResponse) => {
                self.phase = Phase::Copy;
                if !self.new_protocol {
                    // Up to 14: one stream per tablespace, in header order,
                    // then one for the manifest.
                    if self.copies < self.tablespaces.len() {
                        let oid = self.tablespaces[self.copies].oid;
                        self.archive_open = true;
                        events.push(BackupEvent::ArchiveStart { oid });
                    } else {
                        self.in_manifest = true;
                    }
                    self.copies += 1;
                }
            }
            (Phase::Copy, ServerMessage::CopyData(data)) => {
                if self.new_protocol {
                    self.copy_message(data, &mut events)?;
                } else if self.in_manifest {
                    events.push(BackupEvent::ManifestData(data));
                } else {
                    events.push(BackupEvent::ArchiveData(data));
                }
            }
            (Phase::Copy, ServerMessage::CopyDone) => {
                if self.archive_open {
                    self.archive_open = false;
                    events.push(BackupEvent::ArchiveEnd);
                }
                self.in_manifest = false;
                self.phase = Phase::Results;
            }
            (_, ServerMessage::ReadyForQuery) => self.phase = Phase::Done,
            (phase, message) => {
                return Err(format!("unexpected {message:?} while {phase:?}"));
            }
        }
        Ok(events)
    }

    /// A complete result set: the start position, the tablespaces, or the stop position.
    fn result_set(
        &mut self,
        rows: Vec<Vec<Option<String>>>,
    ) -> Result<Option<BackupEvent>, String> {
        self.result_sets += 1;
        match self.result_sets {
            1 => {
                let (lsn, timeline) = position(&rows, "start")?;
                Ok(Some(BackupEvent::Started { lsn, timeline }))
            }
            2 => {
                let mut tablespaces = Vec::with_capacity(rows.len());
                for row in rows {
                    tablespaces.push(tablespace(&row)?);
                }
                self.tablespaces = tablespaces.clone();
                Ok(Some(BackupEvent::Tablespaces(tablespaces)))
            }
            3 => {
                let (lsn, timeline) = position(&rows, "stop")?;
                Ok(Some(BackupEvent::Stopped { lsn, timeline }))
            }
            // CommandComplete of the command itself ("BASE_BACKUP").
            _ => Ok(None),
        }
    }

    /// One CopyData message of the single stream of 15 and later.
    fn copy_message(
        &mut self,
        mut data: Bytes,
        events: &mut Vec<BackupEvent>,
    ) -> Result<(), String> {
        if data.is_empty() {
            return Err("an empty CopyData message".into());
        }
        let kind = data.get_u8();
        match kind {
            b'n' => {
                let name = cstring(&mut data)?;
                let _location = cstring(&mut data)?;
                if self.archive_open {
                    events.push(BackupEvent::ArchiveEnd);
                }
                let oid = archive_oid(&name)?;
                self.archive_open = true;
                events.push(BackupEvent::ArchiveStart { oid });
            }
            b'd' if self.in_manifest => events.push(BackupEvent::ManifestData(data)),
            b'd' if self.archive_open => events.push(BackupEvent::ArchiveData(data)),
            b'd' => return Err("archive data before any archive began".into()),
            b'p' => {
                if data.len() != 8 {
                    return Err(format!("a progress message of {} bytes", data.len()));
                }
            }
            b'm' => {
                if self.archive_open {
                    self.archive_open = false;
                    events.push(BackupEvent::ArchiveEnd);
                }
                self.in_manifest = true;
            }
            other => {
                return Err(format!(
                    "an unknown CopyData message type {:?}",
                    other as char
                ))
            }
        }
        Ok(())
    }
}

fn position(rows: &[Vec<Option<String>>], what: &str) -> Result<(Lsn, TimelineId), String> {
    let row = match rows {
        [row] => row,
        _ => {
            return Err(format!(
                "{} rows for the {what} position, not 1",
                rows.len()
            ))
        }
    };
    let field = |i: usize| row.get(i).cloned().flatten();
    let lsn: Lsn = field(0)
        .ok_or_else(|| format!("no {what} position"))?
        .parse()
        .map_err(|e| format!("the {what} position: {e}"))?;
    let timeline = field(1)
        .and_then(|text| text.parse::<u32>().ok())
        .filter(|tli| *tli > 0)
        .ok_or_else(|| format!("no valid {what} timeline"))?;
    Ok((lsn, TimelineId(timeline)))
}

fn tablespace(row: &[Option<String>]) -> Result<TablespaceHeader, String> {
    let field = |i: usize| row.get(i).cloned().flatten();
    let oid = match field(0) {
        Some(text) => Some(
            text.parse::<u32>()
                .map_err(|_| format!("a tablespace oid {text:?}"))?,
        ),
        None => None,
    };
    let size = field(2)
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024);
    Ok(TablespaceHeader {
        oid,
        location: field(1),
        size,
    })
}

/// "base.tar" is the main data directory, "16390.tar" tablespace 16390.
fn archive_oid(name: &str) -> Result<Option<u32>, String> {
    let stem = name
        .strip_suffix(".tar")
        .ok_or_else(|| format!("an archive named {name:?}, not *.tar"))?;
    if stem == "base" {
        return Ok(None);
    }
    stem.parse::<u32>()
        .map(Some)
        .map_err(|_| format!("an archive named {name:?}"))
}

fn cstring(data: &mut Bytes) -> Result<String, String> {
    let end = data
        .iter()
        .position(|b| *b == 0)
        .ok_or("a string without its terminator")?;
    let text = String::from_utf8_lossy(&data[..end]).into_owned();
    data.advance(end + 1);
    Ok(text)
}

/// A running `BASE_BACKUP`: the command is sent, events are read with `next`.
pub struct BaseBackup<'c> {
    connection: &'c mut ReplicationConnection,
    decoder: Decoder,
    pending: std::collections::VecDeque<BackupEvent>,
}

impl<'c> BaseBackup<'c> {
    pub async fn start(
        connection: &'c mut ReplicationConnection,
        major: u32,
        options: &BaseBackupOptions,
    ) -> Result<BaseBackup<'c>, ReplicationError> {
        connection.send_command(&command(major, options)).await?;
        Ok(BaseBackup {
            connection,
            decoder: Decoder::new(major),
            pending: Default::default(),
        })
    }

    /// Limits how long one read may wait for the server (see
    /// `ReplicationConnection::set_read_timeout`).
    pub fn set_read_timeout(&mut self, limit: Option<std::time::Duration>) {
        self.connection.set_read_timeout(limit);
    }

    /// The next event, or `None` once the server has finished the command.
    pub async fn next(&mut self) -> Result<Option<BackupEvent>, ReplicationError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.decoder.done() {
                return Ok(None);
            }
            let message = self.connection.next("BASE_BACKUP").await?;
            let events =
                self.decoder
                    .feed(message)
                    .map_err(|detail| ReplicationError::Protocol {
                        target: self.connection.target().to_owned(),
                        what: "BASE_BACKUP".into(),
                        detail,
                    })?;
            self.pending.extend(events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(fast: bool, max_rate: Option<u64>) -> BaseBackupOptions {
        BaseBackupOptions {
            label: "walden backup 2026-12-07T06:00:00Z".into(),
            fast_checkpoint: fast,
            max_rate,
            incremental: false,
        }
    }

    #[test]
    fn an_incremental_backup_is_asked_for_by_option() {
        let incremental = BaseBackupOptions {
            incremental: true,
            ..options(true, None)
        };
        assert_eq!(
            command(17, &incremental),
            "BASE_BACKUP ( LABEL 'walden backup 2026-12-07T06:00:00Z', PROGRESS, CHECKPOINT 'fast', \
             WAIT false, MANIFEST 'yes', TABLESPACE_MAP, INCREMENTAL )"
        );
    }

    #[test]
    fn command_uses_each_majors_syntax() {
        assert_eq!(
            command(17, &options(true, Some(20 << 20))),
            "BASE_BACKUP ( LABEL 'walden backup 2026-12-07T06:00:00Z', PROGRESS, CHECKPOINT 'fast', \
             WAIT false, MANIFEST 'yes', TABLESPACE_MAP, MAX_RATE 20480 )"
        );
        assert_eq!(
            command(15, &options(false, None)),
            "BASE_BACKUP ( LABEL 'walden backup 2026-12-07T06:00:00Z', PROGRESS, CHECKPOINT 'spread', \
             WAIT false, MANIFEST 'yes', TABLESPACE_MAP )"
        );
        assert_eq!(
            command(14, &options(true, Some(1 << 20))),
            "BASE_BACKUP LABEL 'walden backup 2026-12-07T06:00:00Z' PROGRESS FAST NOWAIT MANIFEST 'yes' TABLESPACE_MAP MAX_RATE 1024"
        );
        assert_eq!(
            command(13, &options(false, None)),
            "BASE_BACKUP LABEL 'walden backup 2026-12-07T06:00:00Z' PROGRESS NOWAIT MANIFEST 'yes' TABLESPACE_MAP"
        );
    }

    #[test]
    fn rates_outside_the_servers_bounds_are_clamped_or_left_to_walden() {
        // 10 kB/s is below the server's 32 kB/s floor: no MAX_RATE at all.
        assert!(!command(16, &options(true, Some(10_000))).contains("MAX_RATE"));
        assert!(command(16, &options(true, Some(u64::MAX))).contains("MAX_RATE 1048576"));
    }

    #[test]
    fn labels_are_quoted() {
        let mut o = options(true, None);
        o.label = "it's".into();
        assert!(command(16, &o).contains("LABEL 'it''s'"));
    }

    fn row(values: &[Option<&str>]) -> ServerMessage {
        ServerMessage::DataRow(values.iter().map(|v| v.map(str::to_owned)).collect())
    }

    fn result_set(rows: Vec<ServerMessage>) -> Vec<ServerMessage> {
        let mut messages = vec![ServerMessage::RowDescription(vec![])];
        messages.extend(rows);
        messages.push(ServerMessage::CommandComplete("SELECT".into()));
        messages
    }

    fn copy(kind: u8, body: &[u8]) -> ServerMessage {
        let mut data = vec![kind];
        data.extend_from_slice(body);
        ServerMessage::CopyData(Bytes::from(data))
    }

    fn decode(major: u32, messages: Vec<ServerMessage>) -> Result<Vec<BackupEvent>, String> {
        let mut decoder = Decoder::new(major);
        let mut events = Vec::new();
        for message in messages {
            events.extend(decoder.feed(message)?);
        }
        assert!(decoder.done());
        Ok(events)
    }

    fn expected_events() -> Vec<BackupEvent> {
        vec![
            BackupEvent::Started {
                lsn: "0/2000028".parse().unwrap(),
                timeline: TimelineId(1),
            },
            BackupEvent::Tablespaces(vec![
                TablespaceHeader {
                    oid: Some(16390),
                    location: Some("/srv/ts".into()),
                    size: Some(8 * 1024),
                },
                TablespaceHeader {
                    oid: None,
                    location: None,
                    size: Some(30_000 * 1024),
                },
            ]),
            BackupEvent::ArchiveStart { oid: Some(16390) },
            BackupEvent::ArchiveData(Bytes::from_static(b"ts-tar")),
            BackupEvent::ArchiveEnd,
            BackupEvent::ArchiveStart { oid: None },
            BackupEvent::ArchiveData(Bytes::from_static(b"base-tar-1")),
            BackupEvent::ArchiveData(Bytes::from_static(b"base-tar-2")),
            BackupEvent::ArchiveEnd,
            BackupEvent::ManifestData(Bytes::from_static(b"{manifest}")),
            BackupEvent::Stopped {
                lsn: "0/2000100".parse().unwrap(),
                timeline: TimelineId(1),
            },
        ]
    }

    fn header_messages() -> Vec<ServerMessage> {
        let mut messages = result_set(vec![row(&[Some("0/2000028"), Some("1")])]);
        messages.extend(result_set(vec![
            row(&[Some("16390"), Some("/srv/ts"), Some("8")]),
            row(&[None, None, Some("30000")]),
        ]));
        messages
    }

    fn trailer_messages() -> Vec<ServerMessage> {
        let mut messages = result_set(vec![row(&[Some("0/2000100"), Some("1")])]);
        messages.push(ServerMessage::CommandComplete("BASE_BACKUP".into()));
        messages.push(ServerMessage::ReadyForQuery);
        messages
    }

    #[test]
    fn decodes_the_single_stream_of_15_and_later() {
        let mut messages = header_messages();
        messages.push(ServerMessage::CopyOutResponse);
        messages.push(copy(b'n', b"16390.tar\0/srv/ts\0"));
        messages.push(copy(b'd', b"ts-tar"));
        messages.push(copy(b'p', &8192u64.to_be_bytes()));
        messages.push(copy(b'n', b"base.tar\0\0"));
        messages.push(copy(b'd', b"base-tar-1"));
        messages.push(copy(b'd', b"base-tar-2"));
        messages.push(copy(b'm', b""));
        messages.push(copy(b'd', b"{manifest}"));
        messages.push(ServerMessage::CopyDone);
        messages.extend(trailer_messages());
        assert_eq!(decode(17, messages).unwrap(), expected_events());
    }

    #[test]
    fn decodes_the_stream_per_tablespace_of_13_and_14() {
        let mut messages = header_messages();
        for chunks in [
            &[&b"ts-tar"[..]][..],
            &[b"base-tar-1", b"base-tar-2"],
            &[b"{manifest}"],
        ] {
            messages.push(ServerMessage::CopyOutResponse);
            for chunk in chunks {
                messages.push(ServerMessage::CopyData(Bytes::copy_from_slice(chunk)));
            }
            messages.push(ServerMessage::CopyDone);
        }
        messages.extend(trailer_messages());
        assert_eq!(decode(14, messages).unwrap(), expected_events());
    }

    #[test]
    fn nonsense_is_refused() {
        let mut messages = header_messages();
        messages.push(ServerMessage::CopyOutResponse);
        messages.push(copy(b'd', b"data before any archive"));
        assert!(decode_partial(17, messages).is_err());
        let mut messages = header_messages();
        messages.push(ServerMessage::CopyOutResponse);
        messages.push(copy(b'n', b"../../etc.tar\0\0"));
        assert!(decode_partial(17, messages).is_err());
        let mut messages = result_set(vec![row(&[Some("not an lsn"), Some("1")])]);
        messages.push(ServerMessage::ReadyForQuery);
        assert!(decode_partial(16, messages).is_err());
        let messages = result_set(vec![row(&[Some("0/1"), Some("0")])]);
        assert!(decode_partial(16, messages).is_err());
    }

    fn decode_partial(major: u32, messages: Vec<ServerMessage>) -> Result<(), String> {
        let mut decoder = Decoder::new(major);
        for message in messages {
            decoder.feed(message)?;
        }
        Ok(())
    }
}
