//! Names of the files PostgreSQL hands to archive_command and restore_command, and segment-number arithmetic.

use std::fmt;
use std::str::FromStr;

use super::lsn::{Lsn, WalSegmentSize};

/// A timeline: a branch of WAL history, incremented at every promotion or
/// point-in-time recovery. Displayed as 8 hexadecimal digits, as it appears in
/// file names; PostgreSQL's settings and history files write it in decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimelineId(pub u32);

impl fmt::Display for TimelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// A string that is not a timeline as written in file names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a timeline: expected 8 uppercase hexadecimal digits other than 00000000, like 00000002")]
pub struct TimelineParseError {
    pub input: String,
}

impl FromStr for TimelineId {
    type Err = TimelineParseError;

    /// The inverse of `Display`: exactly 8 uppercase hex digits, not zero.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match hex8(s) {
            Some(0) | None => Err(TimelineParseError {
                input: s.to_owned(),
            }),
            Some(tli) => Ok(TimelineId(tli)),
        }
    }
}

/// One WAL segment file: `TTTTTTTTLLLLLLLLSSSSSSSS`, timeline, "log" and
/// segment-within-log in hex. Which byte range it holds depends on the
/// cluster's segment size, so arithmetic takes a `WalSegmentSize`.
///
/// Ordered by timeline, then position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentName {
    pub timeline: TimelineId,
    pub log: u32,
    pub seg: u32,
}

impl SegmentName {
    /// The segment number (`XLogSegNo`): how many segments precede this one.
    pub fn segno(&self, size: WalSegmentSize) -> u64 {
        u64::from(self.log) * u64::from(size.segments_per_xlogid()) + u64::from(self.seg)
    }

    /// The inverse of `segno` (`XLogFileName`). Any segment number that comes
    /// from an LSN fits; larger ones wrap the log part.
    pub fn from_segno(timeline: TimelineId, segno: u64, size: WalSegmentSize) -> Self {
        let per = u64::from(size.segments_per_xlogid());
        SegmentName {
            timeline,
            log: (segno / per) as u32,
            seg: (segno % per) as u32,
        }
    }

    /// The segment holding the byte at `lsn`. A segment-aligned LSN is the
    /// first byte of its segment, so it names that segment, not the one
    /// before (PostgreSQL's `XLByteToSeg`, not `XLByteToPrevSeg`).
    pub fn from_lsn(timeline: TimelineId, lsn: Lsn, size: WalSegmentSize) -> Self {
        Self::from_segno(timeline, lsn.segno(size), size)
    }

    /// The position of this segment's first byte. Exact for every name that
    /// `is_valid_for(size)`; for others (wrapping instead of panicking) it is
    /// meaningless.
    pub fn start_lsn(&self, size: WalSegmentSize) -> Lsn {
        Lsn(self.segno(size).wrapping_mul(u64::from(size.bytes())))
    }

    /// The following segment on the same timeline; after the last segment of
    /// a log (`…000000FF` for 16 MiB) comes the next log's segment 0.
    pub fn next(&self, size: WalSegmentSize) -> Self {
        Self::from_segno(self.timeline, self.segno(size) + 1, size)
    }

    /// Whether PostgreSQL could have written this name with this segment
    /// size: the segment part must stay below `segments_per_xlogid`
    /// (`…00000100` does not exist with 16 MiB segments, but does with 1 MiB).
    pub fn is_valid_for(&self, size: WalSegmentSize) -> bool {
        self.seg < size.segments_per_xlogid()
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:08X}{:08X}", self.timeline, self.log, self.seg)
    }
}

impl FromStr for SegmentName {
    type Err = WalNameError;

    /// A plain segment name only; `.partial` and the other forms are refused.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.parse()? {
            WalFileName::Segment(segment) => Ok(segment),
            _ => Err(WalNameError::new(
                name,
                Some("a segment name is exactly 24 hex digits".to_owned()),
            )),
        }
    }
}

/// A file PostgreSQL archives or asks to restore, named exactly as it names
/// them (`%f`). Parsing is strict: uppercase hex only, no paths, no other
/// names, so nothing but real WAL files ever becomes an archive key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WalFileName {
    /// A completed segment: `000000010000000000000001`.
    Segment(SegmentName),
    /// The last, incomplete segment of a timeline, archived at promotion:
    /// `000000010000000000000001.partial`. Full size, with a valid header.
    Partial(SegmentName),
    /// The backup history file written by `pg_backup_stop`:
    /// `000000010000000000000002.00000028.backup`, the segment and offset of
    /// the backup's start LSN.
    Backup { segment: SegmentName, offset: u32 },
    /// A timeline history file: `00000002.history`.
    History(TimelineId),
}

impl WalFileName {
    pub fn timeline(&self) -> TimelineId {
        match self {
            WalFileName::Segment(s) | WalFileName::Partial(s) => s.timeline,
            WalFileName::Backup { segment, .. } => segment.timeline,
            WalFileName::History(tli) => *tli,
        }
    }

    pub fn file_name(&self) -> String {
        match self {
            WalFileName::Segment(s) => s.to_string(),
            WalFileName::Partial(s) => format!("{s}.partial"),
            WalFileName::Backup { segment, offset } => format!("{segment}.{offset:08X}.backup"),
            WalFileName::History(tli) => format!("{tli}.history"),
        }
    }

    /// Only a completed segment; a `.partial` is not one.
    pub fn is_segment(&self) -> bool {
        matches!(self, WalFileName::Segment(_))
    }

    /// The segment whose WAL this file contains (`Segment` and `Partial`):
    /// these are the files that start with a long page header. A `.backup`
    /// file only refers to a segment and yields `None`.
    pub fn segment(&self) -> Option<SegmentName> {
        match self {
            WalFileName::Segment(s) | WalFileName::Partial(s) => Some(*s),
            WalFileName::Backup { .. } | WalFileName::History(_) => None,
        }
    }
}

impl fmt::Display for WalFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_name())
    }
}

/// A name that is not one PostgreSQL gives its WAL files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalNameError {
    pub name: String,
    reason: Option<String>,
}

impl WalNameError {
    fn new(name: &str, reason: Option<String>) -> Self {
        WalNameError {
            name: name.to_owned(),
            reason,
        }
    }
}

impl fmt::Display for WalNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug formatting quotes the name and escapes control characters,
        // so whatever was passed prints safely in a log line.
        write!(f, "{:?} is not a PostgreSQL WAL file name", self.name)?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        f.write_str(
            "; expected a segment like 000000010000000000000001, a partial segment like \
             000000010000000000000001.partial, a backup history file like \
             000000010000000000000002.00000028.backup or a timeline history file like 00000002.history",
        )
    }
}

impl std::error::Error for WalNameError {}

impl FromStr for WalFileName {
    type Err = WalNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if let Some(parsed) = parse_exact(name) {
            return parsed.map_err(|reason| WalNameError::new(name, Some(reason)));
        }
        let reason = if name.is_empty() {
            Some("the name is empty".to_owned())
        } else if name.contains('/') {
            Some("it is a path; pass the bare file name (%f)".to_owned())
        } else {
            let upper = uppercase_hex_parts(name);
            (upper != name && matches!(parse_exact(&upper), Some(Ok(_)))).then(|| {
                format!("hex digits must be uppercase, as PostgreSQL writes them; did you mean {upper}?")
            })
        };
        Err(WalNameError::new(name, reason))
    }
}

/// `None` when the name has none of the four shapes; `Some(Err(reason))` when
/// it has one but its numbers cannot be real.
fn parse_exact(name: &str) -> Option<Result<WalFileName, String>> {
    if let Some(tli) = name.strip_suffix(".history") {
        let tli = hex8(tli)?;
        return Some(timeline(tli).map(WalFileName::History));
    }
    if let Some(segment) = name.strip_suffix(".partial") {
        return Some(segment_name(segment)?.map(WalFileName::Partial));
    }
    if let Some(rest) = name.strip_suffix(".backup") {
        let (segment, offset) = rest.split_once('.')?;
        let offset = hex8(offset)?;
        return Some(segment_name(segment)?.map(|segment| WalFileName::Backup { segment, offset }));
    }
    Some(segment_name(name)?.map(WalFileName::Segment))
}

fn segment_name(s: &str) -> Option<Result<SegmentName, String>> {
    if s.len() != 24 || !s.bytes().all(is_upper_hex) {
        return None;
    }
    // All ASCII, so these byte ranges are character boundaries.
    let (tli, log, seg) = (hex8(&s[..8])?, hex8(&s[8..16])?, hex8(&s[16..])?);
    // 4096 segments per log is the most any segment size (1 MiB) allows.
    let max_seg = WalSegmentSize::MIN.segments_per_xlogid() - 1;
    Some(if seg > max_seg {
        Err(format!(
            "its last 8 digits, {seg:08X}, exceed {max_seg:08X}, the highest segment of any WAL segment size"
        ))
    } else {
        timeline(tli).map(|timeline| SegmentName { timeline, log, seg })
    })
}

fn timeline(tli: u32) -> Result<TimelineId, String> {
    if tli == 0 {
        Err("timeline 00000000 does not exist; timelines start at 00000001".to_owned())
    } else {
        Ok(TimelineId(tli))
    }
}

/// Exactly 8 uppercase hex digits, as PostgreSQL's `%08X` writes them.
fn hex8(s: &str) -> Option<u32> {
    if s.len() == 8 && s.bytes().all(is_upper_hex) {
        u32::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

fn is_upper_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

/// The name with its hex parts uppercased and its suffix left alone, to
/// suggest the name that was probably meant.
fn uppercase_hex_parts(name: &str) -> String {
    name.split('.')
        .map(|part| {
            if part.bytes().all(|b| b.is_ascii_hexdigit()) {
                part.to_ascii_uppercase()
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u32 = 1024 * 1024;

    fn sizes() -> [WalSegmentSize; 3] {
        [
            WalSegmentSize::MIN,
            WalSegmentSize::DEFAULT,
            WalSegmentSize::MAX,
        ]
    }

    fn seg(timeline: u32, log: u32, seg: u32) -> SegmentName {
        SegmentName {
            timeline: TimelineId(timeline),
            log,
            seg,
        }
    }

    #[test]
    fn parses_each_kind() {
        assert_eq!(
            "000000010000000000000001".parse(),
            Ok(WalFileName::Segment(seg(1, 0, 1)))
        );
        assert_eq!(
            "0000000A000000FF000000FE".parse(),
            Ok(WalFileName::Segment(seg(10, 0xFF, 0xFE)))
        );
        assert_eq!(
            "000000010000000000000001.partial".parse(),
            Ok(WalFileName::Partial(seg(1, 0, 1)))
        );
        assert_eq!(
            "000000010000000000000002.00000028.backup".parse(),
            Ok(WalFileName::Backup {
                segment: seg(1, 0, 2),
                offset: 0x28
            })
        );
        assert_eq!(
            "00000002.history".parse(),
            Ok(WalFileName::History(TimelineId(2)))
        );
        // PostgreSQL asks restore_command for 00000001.history although
        // timeline 1 never has one: the name must parse (and be "absent").
        assert_eq!(
            "00000001.history".parse(),
            Ok(WalFileName::History(TimelineId(1)))
        );
        assert_eq!(
            "FFFFFFFFFFFFFFFF00000FFF".parse(),
            Ok(WalFileName::Segment(seg(u32::MAX, u32::MAX, 0xFFF)))
        );
    }

    #[test]
    fn display_round_trips() {
        for name in [
            "000000010000000000000001",
            "0000000A000000FF000000FE",
            "000000010000000000000001.partial",
            "000000010000000000000002.00000028.backup",
            "0000000300000001000000A0.00FFFFF8.backup",
            "00000002.history",
            "FFFFFFFF.history",
        ] {
            let parsed: WalFileName = name.parse().unwrap();
            assert_eq!(parsed.to_string(), name);
            assert_eq!(parsed.file_name(), name);
        }
        assert_eq!(seg(1, 0xA, 0xFE).to_string(), "000000010000000A000000FE");
        assert_eq!(TimelineId(0x1F).to_string(), "0000001F");
    }

    #[test]
    fn accessors() {
        let segment: WalFileName = "000000030000000000000009".parse().unwrap();
        assert!(segment.is_segment());
        assert_eq!(segment.timeline(), TimelineId(3));
        assert_eq!(segment.segment(), Some(seg(3, 0, 9)));

        let partial: WalFileName = "000000030000000000000009.partial".parse().unwrap();
        assert!(!partial.is_segment());
        assert_eq!(partial.segment(), Some(seg(3, 0, 9)));

        let backup: WalFileName = "000000020000000000000007.00000028.backup".parse().unwrap();
        assert!(!backup.is_segment());
        assert_eq!(backup.timeline(), TimelineId(2));
        assert_eq!(backup.segment(), None);

        let history: WalFileName = "00000003.history".parse().unwrap();
        assert!(!history.is_segment());
        assert_eq!(history.timeline(), TimelineId(3));
        assert_eq!(history.segment(), None);
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "",
            "0000000100000000000000010",
            "00000001000000000000001",
            "000000010000000000000001 ",
            " 000000010000000000000001",
            "000000010000000000000001\n",
            "00000001000000000000000G",
            "+00000010000000000000001",
            "000000010000000000000001.",
            "000000010000000000000001.PARTIAL",
            "000000010000000000000001.partial.partial",
            "000000010000000000000001.part",
            "000000010000000000000001.zst",
            "000000010000000000000001.ready",
            "000000010000000000000001.backup",
            "000000010000000000000001.0000028.backup",
            "000000010000000000000001.000000028.backup",
            "000000010000000000000001..backup",
            "0000000100000000000000001.00000028.backup",
            "00000002.History",
            "0000002.history",
            "000000002.history",
            ".history",
            "history",
            "00000002",
            "archive_status",
            "pg_wal",
            "0000000100000000000000é1",
            "00000001000000000000000\u{0}",
        ] {
            let err = bad.parse::<WalFileName>().unwrap_err();
            assert_eq!(err.name, bad);
            let message = err.to_string();
            assert!(message.contains(&format!("{bad:?}")), "{message}");
            assert!(message.contains("000000010000000000000001"), "{message}");
        }
    }

    #[test]
    fn rejects_paths() {
        for bad in [
            "pg_wal/000000010000000000000001",
            "/var/lib/postgresql/15/main/pg_wal/000000010000000000000001",
            "./00000002.history",
            "../000000010000000000000001",
            "000000010000000000000001/",
        ] {
            let err = bad.parse::<WalFileName>().unwrap_err();
            assert!(err.to_string().contains("bare file name"), "{err}");
        }
    }

    #[test]
    fn rejects_lowercase_and_suggests_the_real_name() {
        for (bad, meant) in [
            ("00000001000000000000000a", "00000001000000000000000A"),
            (
                "0000000100000000000000ab.partial",
                "0000000100000000000000AB.partial",
            ),
            (
                "000000010000000000000002.0000002a.backup",
                "000000010000000000000002.0000002A.backup",
            ),
            ("0000000a.history", "0000000A.history"),
        ] {
            let err = bad.parse::<WalFileName>().unwrap_err();
            let message = err.to_string();
            assert!(message.contains("uppercase"), "{message}");
            assert!(message.contains(meant), "{message}");
        }
    }

    #[test]
    fn rejects_timeline_zero() {
        for bad in [
            "000000000000000000000001",
            "000000000000000000000001.partial",
            "000000000000000000000002.00000028.backup",
            "00000000.history",
        ] {
            let err = bad.parse::<WalFileName>().unwrap_err();
            assert!(err.to_string().contains("timeline 00000000"), "{err}");
        }
    }

    #[test]
    fn rejects_segment_parts_no_segment_size_allows() {
        let err = "000000010000000000001000"
            .parse::<WalFileName>()
            .unwrap_err();
        assert!(err.to_string().contains("00001000"), "{err}");
        assert!("0000000100000000FFFFFFFF.partial"
            .parse::<WalFileName>()
            .is_err());
    }

    #[test]
    fn segment_name_from_str_takes_plain_segments_only() {
        assert_eq!(
            "000000010000000A000000FE".parse::<SegmentName>(),
            Ok(seg(1, 0xA, 0xFE))
        );
        for bad in ["000000010000000000000001.partial", "00000002.history", "x"] {
            assert!(bad.parse::<SegmentName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timeline_from_str() {
        assert_eq!("00000001".parse(), Ok(TimelineId(1)));
        assert_eq!("0000001F".parse(), Ok(TimelineId(0x1F)));
        assert_eq!("FFFFFFFF".parse(), Ok(TimelineId(u32::MAX)));
        for bad in ["00000000", "1", "0000001f", "000000001", "", "0000000G"] {
            let err = bad.parse::<TimelineId>().unwrap_err();
            assert_eq!(err.input, bad);
        }
        for tli in [1, 2, 0xA, u32::MAX] {
            assert_eq!(TimelineId(tli).to_string().parse(), Ok(TimelineId(tli)));
        }
    }

    #[test]
    fn segno_arithmetic_16mib() {
        let size = WalSegmentSize::DEFAULT;
        let tli = TimelineId(1);
        assert_eq!(seg(1, 0, 1).segno(size), 1);
        assert_eq!(seg(1, 1, 0).segno(size), 0x100);
        assert_eq!(seg(1, 0xA, 0xFE).segno(size), 0xAFE);
        assert_eq!(SegmentName::from_segno(tli, 0xAFE, size), seg(1, 0xA, 0xFE));
        assert_eq!(seg(1, 0, 0xFE).next(size), seg(1, 0, 0xFF));
        assert_eq!(seg(1, 0, 0xFF).next(size), seg(1, 1, 0));
        assert_eq!(seg(7, 0xA, 0xFF).next(size), seg(7, 0xB, 0));
        assert_eq!(seg(1, 0, 3).start_lsn(size), Lsn(0x300_0000));
        assert_eq!(seg(1, 1, 0).start_lsn(size), Lsn(0x1_0000_0000));
        assert_eq!(
            seg(1, 0x16, 0xB3).start_lsn(size).to_string(),
            "16/B3000000"
        );
        assert!(seg(1, 0, 0xFF).is_valid_for(size));
        assert!(!seg(1, 0, 0x100).is_valid_for(size));
    }

    #[test]
    fn segno_arithmetic_1mib() {
        let size = WalSegmentSize::new(MIB).unwrap();
        assert_eq!(seg(1, 0, 8).start_lsn(size), Lsn(0x80_0000));
        assert_eq!(seg(1, 0, 0xFFF).start_lsn(size), Lsn(0xFFF0_0000));
        assert_eq!(seg(1, 0, 0xFF).next(size), seg(1, 0, 0x100));
        assert_eq!(seg(1, 0, 0xFFE).next(size), seg(1, 0, 0xFFF));
        assert_eq!(seg(1, 0, 0xFFF).next(size), seg(1, 1, 0));
        assert_eq!(seg(1, 2, 0).segno(size), 0x2000);
        assert!(seg(1, 0, 0xFFF).is_valid_for(size));
        assert_eq!(
            SegmentName::from_lsn(TimelineId(1), "0/800028".parse().unwrap(), size),
            seg(1, 0, 8)
        );
        assert_eq!(
            SegmentName::from_lsn(TimelineId(1), "5/12345678".parse().unwrap(), size),
            seg(1, 5, 0x123)
        );
    }

    #[test]
    fn segno_arithmetic_1gib() {
        let size = WalSegmentSize::MAX;
        assert_eq!(seg(1, 0, 3).next(size), seg(1, 1, 0));
        assert_eq!(seg(1, 0, 2).next(size), seg(1, 0, 3));
        assert_eq!(seg(1, 1, 1).segno(size), 5);
        assert_eq!(seg(1, 1, 1).start_lsn(size).to_string(), "1/40000000");
        assert!(seg(1, 0, 3).is_valid_for(size));
        assert!(!seg(1, 0, 4).is_valid_for(size));
        assert_eq!(
            SegmentName::from_lsn(TimelineId(2), "1/7FFFFFFF".parse().unwrap(), size),
            seg(2, 1, 1)
        );
    }

    #[test]
    fn from_lsn_and_start_lsn_agree() {
        let tli = TimelineId(5);
        for size in sizes() {
            let bytes = u64::from(size.bytes());
            for lsn in [
                0,
                1,
                bytes - 1,
                bytes,
                bytes + 1,
                0xFFFF_FFFF,
                0x1_0000_0000,
                0x16_B374_D848,
                u64::MAX - bytes,
                u64::MAX,
            ] {
                let lsn = Lsn(lsn);
                let name = SegmentName::from_lsn(tli, lsn, size);
                assert!(name.is_valid_for(size));
                let start = name.start_lsn(size);
                assert!(start <= lsn, "{name} starts at {start}, after {lsn}");
                assert_eq!(lsn.0 - start.0, u64::from(lsn.segment_offset(size)));
                assert_eq!(start, lsn.segment_start(size));
                assert_eq!(SegmentName::from_lsn(tli, start, size), name);
                assert_eq!(SegmentName::from_segno(tli, name.segno(size), size), name);
                if lsn.0 < u64::MAX - bytes {
                    let next = name.next(size);
                    assert_eq!(next.start_lsn(size).0, start.0 + bytes);
                    assert!(next > name);
                }
            }
        }
    }

    #[test]
    fn next_walks_every_segment_of_a_log_in_order() {
        for size in sizes() {
            let mut name = seg(1, 0, 0);
            let mut count = 0;
            while name.log == 0 {
                assert_eq!(name.segno(size), count);
                count += 1;
                name = name.next(size);
            }
            assert_eq!(count, u64::from(size.segments_per_xlogid()));
            assert_eq!(name, seg(1, 1, 0));
        }
    }

    #[test]
    fn segment_names_order_by_timeline_then_position() {
        let mut names = vec![seg(2, 0, 1), seg(1, 1, 0), seg(1, 0, 0xFF), seg(1, 0, 2)];
        names.sort();
        assert_eq!(
            names,
            vec![seg(1, 0, 2), seg(1, 0, 0xFF), seg(1, 1, 0), seg(2, 0, 1)]
        );
    }

    #[test]
    fn real_backup_file_name_points_at_the_backup_start() {
        // From the fixture cluster: START WAL LOCATION: 0/3000028.
        let name: WalFileName = "000000010000000000000003.00000028.backup".parse().unwrap();
        let WalFileName::Backup { segment, offset } = name else {
            panic!("not a backup file: {name}");
        };
        let size = WalSegmentSize::DEFAULT;
        let start = Lsn(segment.start_lsn(size).0 + u64::from(offset));
        assert_eq!(start.to_string(), "0/3000028");
        assert_eq!(SegmentName::from_lsn(TimelineId(1), start, size), segment);
    }
}
