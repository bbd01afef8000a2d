//! The long page header that opens every WAL segment: which cluster, which PostgreSQL version, which segment.

use std::fmt;

use super::lsn::{Lsn, WalSegmentSize};
use super::wal_name::{SegmentName, TimelineId};

/// Bytes of `XLogLongPageHeaderData` on the 64-bit little-endian platforms
/// PostgreSQL runs on: `XLogPageHeaderData` is 24 bytes (a u64 field aligns
/// it, leaving 4 bytes of padding after `xlp_rem_len`), then `xlp_sysid`,
/// `xlp_seg_size`, `xlp_xlog_blcksz`. Unchanged from PostgreSQL 10 to 18.
pub const LONG_PAGE_HEADER_LEN: usize = 40;

/// `xlp_info` flag marking the long header (first page of a segment).
pub const XLP_LONG_HEADER: u16 = 0x0002;

/// Every flag bit PostgreSQL defines in `xlp_info` (`XLP_ALL_FLAGS`); any
/// other bit means the page is not a WAL page header.
const XLP_ALL_FLAGS: u16 = 0x000F;

/// `XLOG_PAGE_MAGIC` of each major version, bumped whenever the WAL format
/// changes. 13 to 18 are checked against WAL written by real servers of each
/// major (`fixtures/wal/pg<major>-*`, test `real_segments_of_every_major`);
/// 10 to 12 are from their releases' `access/xlog_internal.h` only. 19 is
/// left out until its format is final.
const PAGE_MAGICS: [(u16, u32); 9] = [
    (0xD097, 10),
    (0xD098, 11),
    (0xD101, 12),
    (0xD106, 13),
    (0xD10D, 14),
    (0xD110, 15),
    (0xD113, 16),
    (0xD116, 17),
    (0xD118, 18),
];

/// The PostgreSQL major version whose WAL carries this page magic.
pub fn pg_major_for_magic(magic: u16) -> Option<u32> {
    PAGE_MAGICS
        .iter()
        .find(|&&(m, _)| m == magic)
        .map(|&(_, major)| major)
}

/// `XLogLongPageHeaderData`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongPageHeader {
    pub magic: u16,
    pub info: u16,
    /// Timeline of the first record on the page. Not necessarily the
    /// timeline in the file name: the first segment of a new timeline is a
    /// copy of the old timeline's segment and keeps its header.
    pub timeline: TimelineId,
    pub page_addr: Lsn,
    pub system_identifier: u64,
    pub segment_size: u32,
    pub block_size: u32,
}

/// Why some bytes are not the start of a WAL segment, or not this one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageHeaderError {
    #[error(
        "only {len} bytes; a WAL segment starts with a {LONG_PAGE_HEADER_LEN}-byte page header"
    )]
    TooShort { len: usize },
    #[error("{}", unknown_magic_message(*.0))]
    UnknownMagic(u16),
    #[error("the first page header has flags {0:#06X} without the long-header flag (0x0002) that opens every segment: this is not the start of a WAL segment")]
    NotLongHeader(u16),
    #[error("the page header gives a WAL segment size of {0} bytes, which is not a power of two from 1 MiB to 1 GiB: the file is corrupt or not WAL")]
    BadSegmentSize(u32),
    #[error("the page header gives a WAL block size of {0} bytes, which is not a power of two from 1 KiB to 64 KiB: the file is corrupt or not WAL")]
    BadBlockSize(u32),
    #[error(
        "the page header of segment {segment} has {field} {found}, expected {expected}: {hint}"
    )]
    Mismatch {
        segment: String,
        field: &'static str,
        expected: String,
        found: String,
        /// What probably happened, for the operator.
        hint: &'static str,
    },
}

fn unknown_magic_message(magic: u16) -> String {
    if magic == 0 {
        // Zero-filled files are common: preallocated segments PostgreSQL
        // has not written yet, or a truncated copy.
        "the first page header is all zeros: the segment was never written, or the file is not WAL"
            .to_owned()
    } else {
        format!(
            "unknown WAL page magic {magic:#06X}: not a WAL segment, or written by a PostgreSQL version walden does not know (it knows 10 to 18)"
        )
    }
}

/// Decodes and sanity-checks the long page header from the first bytes of a
/// segment (at least `LONG_PAGE_HEADER_LEN`; more is ignored).
pub fn parse_long_page_header(first_bytes: &[u8]) -> Result<LongPageHeader, PageHeaderError> {
    let Some(header) = first_bytes.get(..LONG_PAGE_HEADER_LEN) else {
        return Err(PageHeaderError::TooShort {
            len: first_bytes.len(),
        });
    };
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));

    let parsed = LongPageHeader {
        magic: u16_at(0),
        info: u16_at(2),
        timeline: TimelineId(u32_at(4)),
        page_addr: Lsn(u64_at(8)),
        // 16..20 is xlp_rem_len, 20..24 alignment padding.
        system_identifier: u64_at(24),
        segment_size: u32_at(32),
        block_size: u32_at(36),
    };
    // Magic first: for random or encrypted bytes it is the clearest message.
    if pg_major_for_magic(parsed.magic).is_none() {
        return Err(PageHeaderError::UnknownMagic(parsed.magic));
    }
    if parsed.info & XLP_LONG_HEADER == 0 || parsed.info & !XLP_ALL_FLAGS != 0 {
        return Err(PageHeaderError::NotLongHeader(parsed.info));
    }
    if WalSegmentSize::new(parsed.segment_size).is_err() {
        return Err(PageHeaderError::BadSegmentSize(parsed.segment_size));
    }
    // configure --with-wal-blocksize allows 1 to 64 kB.
    if !parsed.block_size.is_power_of_two() || !(1024..=65536).contains(&parsed.block_size) {
        return Err(PageHeaderError::BadBlockSize(parsed.block_size));
    }
    Ok(parsed)
}

impl LongPageHeader {
    pub fn pg_major(&self) -> Option<u32> {
        pg_major_for_magic(self.magic)
    }

    /// The segment size, validated by `parse_long_page_header`.
    pub fn wal_segment_size(&self) -> WalSegmentSize {
        // Only a hand-built header can hold an invalid size; the default
        // keeps this infallible, and the checks below still compare the raw
        // field.
        WalSegmentSize::new(self.segment_size).unwrap_or_default()
    }

    /// Checks that this header opens the segment `name`: its page address
    /// must be that segment's start for the header's own segment size. The
    /// timeline is deliberately not compared (see `timeline`).
    pub fn check_is_segment(&self, name: &SegmentName) -> Result<(), PageHeaderError> {
        let size = WalSegmentSize::new(self.segment_size)
            .map_err(|_| PageHeaderError::BadSegmentSize(self.segment_size))?;
        if !name.is_valid_for(size) {
            return Err(PageHeaderError::Mismatch {
                segment: name.to_string(),
                field: "segment size",
                expected: format!("one with more than {} segments per log file", name.seg),
                found: size.to_string(),
                hint: "no segment of that size has this name",
            });
        }
        let expected = name.start_lsn(size);
        if self.page_addr != expected {
            let found = SegmentName::from_lsn(name.timeline, self.page_addr, size);
            return Err(PageHeaderError::Mismatch {
                segment: name.to_string(),
                field: "page address",
                expected: expected.to_string(),
                found: format!("{} (the start of {found})", self.page_addr),
                hint: "the file was renamed, is corrupt, or belongs to another segment",
            });
        }
        Ok(())
    }

    /// Checks the segment size against the one the cluster is known to use.
    pub fn check_segment_size(&self, expected: WalSegmentSize) -> Result<(), PageHeaderError> {
        if self.segment_size == expected.bytes() {
            return Ok(());
        }
        Err(PageHeaderError::Mismatch {
            segment: SegmentName::from_lsn(self.timeline, self.page_addr, self.wal_segment_size())
                .to_string(),
            field: "segment size",
            expected: expected.to_string(),
            found: size_text(self.segment_size),
            hint: "the file comes from a cluster initialized with another --wal-segsize",
        })
    }
}

/// "16 MiB", or the raw byte count when it is not a valid segment size.
fn size_text(bytes: u32) -> String {
    WalSegmentSize::new(bytes).map_or_else(|_| format!("{bytes} bytes"), |s| s.to_string())
}

impl fmt::Display for LongPageHeader {
    /// One line for logs: what an operator compares between clusters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = size_text(self.segment_size);
        write!(f, "system identifier {}, ", self.system_identifier)?;
        match self.pg_major() {
            Some(major) => write!(f, "PostgreSQL {major}")?,
            None => write!(f, "WAL magic {:#06X}", self.magic)?,
        }
        write!(
            f,
            ", segment at {} on timeline {}, {size} segments",
            self.page_addr, self.timeline
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::{fixture, WalFileName, MAJOR_FIXTURES, SUPPORTED_MAJORS};

    /// The two fixture clusters, as recorded in fixtures/wal/README.md.
    const SYSID_16MIB: u64 = 7711825108033086416;
    const SYSID_1MIB: u64 = 7711825111699182586;
    const MIB: u32 = 1024 * 1024;

    fn header_of(file: &str) -> LongPageHeader {
        parse_long_page_header(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    fn seg_name(name: &str) -> SegmentName {
        name.parse().unwrap()
    }

    #[test]
    fn fixture_readme_records_the_system_identifiers() {
        let readme = String::from_utf8(fixture("README.md")).unwrap();
        assert!(readme.contains(&SYSID_16MIB.to_string()));
        assert!(readme.contains(&SYSID_1MIB.to_string()));
    }

    #[test]
    fn magic_table() {
        assert_eq!(pg_major_for_magic(0xD110), Some(15));
        assert_eq!(pg_major_for_magic(0xD097), Some(10));
        assert_eq!(pg_major_for_magic(0xD116), Some(17));
        assert_eq!(pg_major_for_magic(0xD118), Some(18));
        assert_eq!(pg_major_for_magic(0xD093), None);
        assert_eq!(pg_major_for_magic(0), None);
        let majors: Vec<u32> = PAGE_MAGICS.iter().map(|&(_, m)| m).collect();
        assert_eq!(majors, (10..=18).collect::<Vec<_>>());
        // The magic only grows, release after release.
        assert!(PAGE_MAGICS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn real_segments_of_every_major() {
        let readme = String::from_utf8(fixture("README.md")).unwrap();
        for cluster in &MAJOR_FIXTURES {
            let major = cluster.major;
            // The README records what the tests pin.
            assert!(
                readme.contains(&cluster.system_identifier.to_string()),
                "README lacks {major}'s system identifier"
            );
            assert!(
                readme.contains(&format!("{:#06X}", cluster.magic)),
                "README lacks {major}'s magic"
            );
            assert_eq!(pg_major_for_magic(cluster.magic), Some(major));
            // Timeline 1's segment 1 is the one initdb bootstraps, with only
            // the long-header flag; later pages also carry
            // XLP_BKP_REMOVABLE (0x0004), no backup being in progress.
            for (segment, info) in [
                (cluster.timeline_1_segment, 0x0002),
                (cluster.timeline_2_segment, 0x0006),
            ] {
                let file = cluster.segment_head(segment);
                let bytes = fixture(&file);
                assert_eq!(bytes.len(), 8192, "{file}");
                let header = header_of(&file);
                let name = seg_name(segment);
                assert_eq!(header.magic, cluster.magic, "{file}");
                assert_eq!(header.pg_major(), Some(major), "{file}");
                assert_eq!(header.info, info, "{file}");
                assert_eq!(header.system_identifier, cluster.system_identifier);
                assert_eq!(header.segment_size, 16 * MIB, "{file}");
                assert_eq!(header.wal_segment_size(), WalSegmentSize::DEFAULT);
                assert_eq!(header.block_size, 8192, "{file}");
                // Timeline 2's first segment is a copy of timeline 1's, header
                // included.
                assert_eq!(header.timeline, TimelineId(1), "{file}");
                assert_eq!(header.page_addr, name.start_lsn(WalSegmentSize::DEFAULT));
                assert_eq!(header.check_is_segment(&name), Ok(()), "{file}");
                assert_eq!(header.check_segment_size(WalSegmentSize::DEFAULT), Ok(()));
                let next = SegmentName::from_segno(
                    name.timeline,
                    name.segno(WalSegmentSize::DEFAULT) + 1,
                    WalSegmentSize::DEFAULT,
                );
                assert!(header.check_is_segment(&next).is_err(), "{file}");
                let one_mib = WalSegmentSize::new(MIB).unwrap();
                assert!(header.check_segment_size(one_mib).is_err(), "{file}");
                // What wal-fetch allows such a segment to decode to.
                assert_eq!(
                    crate::repo::wal::plaintext_bound(
                        Some(&WalFileName::Segment(name)),
                        None,
                        &bytes
                    ),
                    Ok(u64::from(16 * MIB)),
                    "{file}"
                );
                let line = header.to_string();
                assert!(line.contains(&format!("PostgreSQL {major},")), "{line}");
                assert!(
                    line.contains(&cluster.system_identifier.to_string()),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn every_supported_major_has_real_wal() {
        for major in SUPPORTED_MAJORS {
            assert!(
                MAJOR_FIXTURES.iter().any(|c| c.major == major),
                "no WAL fixture from PostgreSQL {major}: run scripts/make-wal-fixtures.sh {major}"
            );
        }
    }

    #[test]
    fn real_16mib_segments() {
        for (file, name, info) in [
            (
                "pg15-16MiB-000000010000000000000001.head",
                "000000010000000000000001",
                0x2,
            ),
            (
                "pg15-16MiB-000000010000000000000003.head",
                "000000010000000000000003",
                0x2,
            ),
            (
                "pg15-16MiB-000000030000000000000009.head",
                "000000030000000000000009",
                0x6,
            ),
        ] {
            let header = header_of(file);
            let name = seg_name(name);
            assert_eq!(header.magic, 0xD110, "{file}");
            assert_eq!(header.pg_major(), Some(15));
            assert_eq!(header.info, info, "{file}");
            assert_eq!(header.system_identifier, SYSID_16MIB);
            assert_eq!(header.segment_size, 16 * MIB);
            assert_eq!(header.wal_segment_size(), WalSegmentSize::DEFAULT);
            assert_eq!(header.block_size, 8192);
            assert_eq!(header.timeline, name.timeline);
            assert_eq!(header.page_addr, name.start_lsn(WalSegmentSize::DEFAULT));
            assert_eq!(header.check_is_segment(&name), Ok(()));
            assert_eq!(header.check_segment_size(WalSegmentSize::DEFAULT), Ok(()));
        }
    }

    #[test]
    fn first_segment_of_a_new_timeline_keeps_the_old_timeline_in_its_header() {
        // PostgreSQL starts timeline 2 by copying timeline 1's segment 6, so
        // the header says timeline 1; it must still pass as 2's segment 6.
        let header = header_of("pg15-16MiB-000000020000000000000006.head");
        assert_eq!(header.timeline, TimelineId(1));
        assert_eq!(header.page_addr, Lsn(0x600_0000));
        assert_eq!(
            header.check_is_segment(&seg_name("000000020000000000000006")),
            Ok(())
        );
        assert_eq!(
            header.check_is_segment(&seg_name("000000010000000000000006")),
            Ok(())
        );
    }

    #[test]
    fn real_1mib_segments() {
        let one_mib = WalSegmentSize::new(MIB).unwrap();
        let full = fixture("pg15-1MiB-000000010000000000000007");
        assert_eq!(full.len(), MIB as usize);
        for (bytes, name) in [
            (
                fixture("pg15-1MiB-000000010000000000000006.head"),
                "000000010000000000000006",
            ),
            (full, "000000010000000000000007"),
        ] {
            let header = parse_long_page_header(&bytes).unwrap();
            let name = seg_name(name);
            assert_eq!(header.magic, 0xD110);
            assert_eq!(header.pg_major(), Some(15));
            assert_eq!(header.system_identifier, SYSID_1MIB);
            assert_eq!(header.segment_size, MIB);
            assert_eq!(header.wal_segment_size(), one_mib);
            assert_eq!(header.block_size, 8192);
            assert_eq!(header.check_is_segment(&name), Ok(()));
            assert_eq!(header.check_segment_size(one_mib), Ok(()));
            let err = header
                .check_segment_size(WalSegmentSize::DEFAULT)
                .unwrap_err();
            assert!(
                err.to_string()
                    .contains("segment size 1 MiB, expected 16 MiB"),
                "{err}"
            );
            assert!(err.to_string().contains("--wal-segsize"), "{err}");
        }
        // Segment 6 begins with the tail of a record from segment 5.
        let header = header_of("pg15-1MiB-000000010000000000000006.head");
        assert_eq!(header.info, 0x7);
    }

    #[test]
    fn a_segment_under_another_name_is_refused() {
        let header = header_of("pg15-16MiB-000000010000000000000003.head");
        for other in [
            "000000010000000000000001",
            "000000010000000000000004",
            "000000010000000100000003",
        ] {
            let err = header.check_is_segment(&seg_name(other)).unwrap_err();
            let PageHeaderError::Mismatch { segment, field, .. } = &err else {
                panic!("{other}: {err}");
            };
            assert_eq!(segment, other);
            assert_eq!(*field, "page address");
            let message = err.to_string();
            assert!(message.contains("0/3000000 (the start of"), "{message}");
            assert!(message.contains(other), "{message}");
        }

        // With 1 MiB segments the neighbour is 1 MiB away, not 16.
        let header = header_of("pg15-1MiB-000000010000000000000006.head");
        let err = header
            .check_is_segment(&seg_name("000000010000000000000007"))
            .unwrap_err();
        assert!(err.to_string().contains("expected 0/700000"), "{err}");
    }

    #[test]
    fn segment_number_beyond_the_segment_size_is_refused() {
        // 16 MiB segments stop at …FF: …100 would alias …0000000100000000.
        let mut header = header_of("pg15-16MiB-000000010000000000000001.head");
        header.page_addr = Lsn(0x1_0000_0000);
        assert_eq!(
            header.check_is_segment(&seg_name("000000010000000100000000")),
            Ok(())
        );
        let err = header
            .check_is_segment(&seg_name("000000010000000000000100"))
            .unwrap_err();
        assert!(err.to_string().contains("segment size 16 MiB"), "{err}");
    }

    #[test]
    fn short_input() {
        let bytes = fixture("pg15-16MiB-000000010000000000000001.head");
        for len in [0, 1, 24, 39] {
            assert_eq!(
                parse_long_page_header(&bytes[..len]),
                Err(PageHeaderError::TooShort { len })
            );
        }
        assert!(parse_long_page_header(&bytes[..40]).is_ok());
        let err = parse_long_page_header(&[]).unwrap_err();
        assert!(err.to_string().contains("40-byte"), "{err}");
    }

    #[test]
    fn garbage_input() {
        let zeros = [0u8; 8192];
        let err = parse_long_page_header(&zeros).unwrap_err();
        assert_eq!(err, PageHeaderError::UnknownMagic(0));
        assert!(err.to_string().contains("all zeros"), "{err}");

        let text = b"this is a text file, certainly not a WAL segment at all";
        let err = parse_long_page_header(text).unwrap_err();
        assert!(
            matches!(err, PageHeaderError::UnknownMagic(0x6874)),
            "{err}"
        );
        assert!(err.to_string().contains("0x6874"), "{err}");

        // zstd frame magic: someone pushed a compressed file.
        let mut zstd = vec![0x28, 0xB5, 0x2F, 0xFD];
        zstd.resize(64, 0);
        assert!(matches!(
            parse_long_page_header(&zstd),
            Err(PageHeaderError::UnknownMagic(_))
        ));
    }

    #[test]
    fn each_field_is_checked() {
        let good = fixture("pg15-16MiB-000000010000000000000001.head");
        let patched = |at: usize, bytes: &[u8]| {
            let mut b = good.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            parse_long_page_header(&b)
        };
        // PostgreSQL 9.6's magic.
        assert_eq!(
            patched(0, &0xD093u16.to_le_bytes()),
            Err(PageHeaderError::UnknownMagic(0xD093))
        );
        // A later PostgreSQL version's magic is accepted and reported.
        assert_eq!(
            patched(0, &0xD116u16.to_le_bytes()).unwrap().pg_major(),
            Some(17)
        );
        // A short (non-first) page header.
        assert_eq!(
            patched(2, &0x0001u16.to_le_bytes()),
            Err(PageHeaderError::NotLongHeader(0x0001))
        );
        assert_eq!(
            patched(2, &0x0012u16.to_le_bytes()),
            Err(PageHeaderError::NotLongHeader(0x0012))
        );
        for bad in [0, 8192, 3 * MIB, 2048 * MIB] {
            assert_eq!(
                patched(32, &bad.to_le_bytes()),
                Err(PageHeaderError::BadSegmentSize(bad))
            );
        }
        for bad in [0u32, 512, 8191, 128 * 1024] {
            assert_eq!(
                patched(36, &bad.to_le_bytes()),
                Err(PageHeaderError::BadBlockSize(bad))
            );
        }
        // The bytes the decoder skips really are not fields.
        let header = patched(16, &[0xAA; 8]).unwrap();
        assert_eq!(
            header,
            header_of("pg15-16MiB-000000010000000000000001.head")
        );
    }

    #[test]
    fn big_endian_bytes_are_not_mistaken_for_wal() {
        let mut b = fixture("pg15-16MiB-000000010000000000000001.head");
        b.swap(0, 1);
        assert_eq!(
            parse_long_page_header(&b),
            Err(PageHeaderError::UnknownMagic(0x10D1))
        );
    }

    #[test]
    fn display_for_logs() {
        let header = header_of("pg15-16MiB-000000010000000000000003.head");
        assert_eq!(
            header.to_string(),
            "system identifier 7711825108033086416, PostgreSQL 15, segment at 0/3000000 on timeline 00000001, 16 MiB segments"
        );
    }
}
