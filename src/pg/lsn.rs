//! WAL positions (`Lsn`) and the WAL segment size that cuts the WAL stream into files.

use std::fmt;
use std::str::FromStr;

/// A log sequence number: a byte position in the WAL stream (`XLogRecPtr`).
///
/// Displayed and parsed the way PostgreSQL does (`pg_lsn`): two hexadecimal
/// halves without padding, e.g. `16/B374D848`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// `InvalidXLogRecPtr`: PostgreSQL never writes WAL at position 0.
    pub const INVALID: Lsn = Lsn(0);

    /// Byte offset of this position inside its segment file.
    pub fn segment_offset(self, size: WalSegmentSize) -> u32 {
        // The mask keeps the value below the segment size, which fits in u32.
        (self.0 & (u64::from(size.bytes()) - 1)) as u32
    }

    /// Number of the segment containing this position (`XLByteToSeg`).
    pub fn segno(self, size: WalSegmentSize) -> u64 {
        self.0 / u64::from(size.bytes())
    }

    /// Start of the segment containing this position.
    pub fn segment_start(self, size: WalSegmentSize) -> Lsn {
        Lsn(self.0 - u64::from(self.segment_offset(size)))
    }

    /// Whether this position is the first byte of a segment.
    pub fn is_segment_start(self, size: WalSegmentSize) -> bool {
        self.segment_offset(size) == 0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// A string that is not an LSN in PostgreSQL's `pg_lsn` format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a WAL location: expected two groups of 1 to 8 hexadecimal digits separated by '/', like 0/3000028 or 16/B374D848")]
pub struct LsnParseError {
    pub input: String,
}

impl FromStr for Lsn {
    type Err = LsnParseError;

    /// Accepts exactly what `pg_lsn_in` accepts: 1–8 hex digits of either
    /// case, '/', 1–8 hex digits, nothing around them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || LsnParseError {
            input: s.to_owned(),
        };
        let (hi, lo) = s.split_once('/').ok_or_else(error)?;
        let half = |part: &str| {
            let ok = (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_hexdigit());
            // from_str_radix alone would also take a leading '+'.
            ok.then(|| u32::from_str_radix(part, 16).ok()).flatten()
        };
        match (half(hi), half(lo)) {
            (Some(hi), Some(lo)) => Ok(Lsn((u64::from(hi) << 32) | u64::from(lo))),
            _ => Err(error()),
        }
    }
}

/// The size of one WAL segment file, fixed per cluster at `initdb
/// --wal-segsize`: a power of two from 1 MiB to 1 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalSegmentSize(u32);

/// A WAL segment size PostgreSQL cannot have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{bytes} bytes is not a valid WAL segment size: it must be a power of two from 1 MiB (1048576) to 1 GiB (1073741824)")]
pub struct SegmentSizeError {
    pub bytes: u32,
}

impl WalSegmentSize {
    /// The size every cluster has unless `initdb --wal-segsize` said otherwise.
    pub const DEFAULT: WalSegmentSize = WalSegmentSize(16 * 1024 * 1024);
    pub const MIN: WalSegmentSize = WalSegmentSize(1024 * 1024);
    pub const MAX: WalSegmentSize = WalSegmentSize(1024 * 1024 * 1024);

    /// Validates like PostgreSQL's `IsValidWalSegSize`.
    pub fn new(bytes: u32) -> Result<Self, SegmentSizeError> {
        if bytes.is_power_of_two() && (Self::MIN.0..=Self::MAX.0).contains(&bytes) {
            Ok(WalSegmentSize(bytes))
        } else {
            Err(SegmentSizeError { bytes })
        }
    }

    pub fn bytes(self) -> u32 {
        self.0
    }

    /// How many segments share one "log" number, the middle 8 digits of a
    /// segment name (`XLogSegmentsPerXLogId`): 256 for 16 MiB, 4096 for 1 MiB.
    pub fn segments_per_xlogid(self) -> u32 {
        // 2^32 / (2^20..=2^30) is 4..=4096: always fits.
        (0x1_0000_0000_u64 / u64::from(self.0)) as u32
    }
}

impl Default for WalSegmentSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for WalSegmentSize {
    /// `16 MiB`, `1 GiB`: every valid size is a whole number of MiB.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u32 = 1024 * 1024;
        if self.0 >= 1024 * MIB {
            write!(f, "{} GiB", self.0 / (1024 * MIB))
        } else {
            write!(f, "{} MiB", self.0 / MIB)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u32 = 1024 * 1024;

    #[test]
    fn lsn_displays_like_postgres() {
        assert_eq!(Lsn(0).to_string(), "0/0");
        assert_eq!(Lsn(0x3000028).to_string(), "0/3000028");
        assert_eq!(Lsn(0x16_B374_D848).to_string(), "16/B374D848");
        assert_eq!(Lsn(0x1_0000_0000).to_string(), "1/0");
        assert_eq!(Lsn(u64::MAX).to_string(), "FFFFFFFF/FFFFFFFF");
    }

    #[test]
    fn lsn_parses_what_pg_lsn_accepts() {
        assert_eq!("16/B374D848".parse(), Ok(Lsn(0x16_B374_D848)));
        assert_eq!("16/b374d848".parse(), Ok(Lsn(0x16_B374_D848)));
        assert_eq!("0/0".parse(), Ok(Lsn(0)));
        assert_eq!("FFFFFFFF/FFFFFFFF".parse(), Ok(Lsn(u64::MAX)));
        assert_eq!("00000000/00000001".parse(), Ok(Lsn(1)));
        for lsn in [
            Lsn(0),
            Lsn(1),
            Lsn(0x3000028),
            Lsn(u64::MAX),
            Lsn(0xABCD_0000_0000),
        ] {
            assert_eq!(lsn.to_string().parse(), Ok(lsn));
        }
    }

    #[test]
    fn lsn_rejects_everything_else() {
        for bad in [
            "",
            "/",
            "0/",
            "/0",
            "0",
            "0/0/0",
            "100000000/0",
            "0/100000000",
            " 0/0",
            "0/0 ",
            "+1/0",
            "0/+1",
            "-1/0",
            "0x1/0",
            "G/0",
            "0/3000028\n",
        ] {
            let err = bad.parse::<Lsn>().unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains("0/3000028"), "{err}");
        }
    }

    #[test]
    fn lsn_orders_numerically_not_textually() {
        let a: Lsn = "0/FFFFFFFF".parse().unwrap();
        let b: Lsn = "1/0".parse().unwrap();
        assert!(a < b);
        assert!("0/A000000".parse::<Lsn>().unwrap() > "0/9000000".parse().unwrap());
    }

    #[test]
    fn lsn_segment_helpers() {
        let size = WalSegmentSize::DEFAULT;
        let lsn: Lsn = "0/3000028".parse().unwrap();
        assert_eq!(lsn.segno(size), 3);
        assert_eq!(lsn.segment_offset(size), 0x28);
        assert_eq!(lsn.segment_start(size), Lsn(0x300_0000));
        assert!(!lsn.is_segment_start(size));
        assert!(Lsn(0x300_0000).is_segment_start(size));

        let one_mib = WalSegmentSize::new(MIB).unwrap();
        let lsn: Lsn = "0/800028".parse().unwrap();
        assert_eq!(lsn.segno(one_mib), 8);
        assert_eq!(lsn.segment_offset(one_mib), 0x28);

        let one_gib = WalSegmentSize::MAX;
        let lsn: Lsn = "1/7FFFFFFF".parse().unwrap();
        assert_eq!(lsn.segno(one_gib), 5);
        assert_eq!(lsn.segment_offset(one_gib), 0x3FFF_FFFF);
        assert_eq!(lsn.segment_start(one_gib), Lsn(0x1_4000_0000));

        assert_eq!(Lsn(u64::MAX).segment_offset(size), 16 * MIB - 1);
        assert_eq!(Lsn(u64::MAX).segno(size), (1 << 40) - 1);
    }

    #[test]
    fn segment_size_validation() {
        for ok in [MIB, 2 * MIB, 16 * MIB, 64 * MIB, 512 * MIB, 1024 * MIB] {
            assert_eq!(WalSegmentSize::new(ok).unwrap().bytes(), ok);
        }
        for bad in [
            0,
            1,
            8192,
            MIB / 2,
            MIB - 1,
            MIB + 1,
            3 * MIB,
            2048 * MIB,
            u32::MAX,
        ] {
            let err = WalSegmentSize::new(bad).unwrap_err();
            assert_eq!(err, SegmentSizeError { bytes: bad });
            assert!(err.to_string().contains("power of two"), "{err}");
        }
        assert_eq!(WalSegmentSize::default(), WalSegmentSize::DEFAULT);
        assert_eq!(WalSegmentSize::DEFAULT.bytes(), 16 * MIB);
    }

    #[test]
    fn segments_per_xlogid() {
        assert_eq!(WalSegmentSize::DEFAULT.segments_per_xlogid(), 0x100);
        assert_eq!(WalSegmentSize::MIN.segments_per_xlogid(), 0x1000);
        assert_eq!(WalSegmentSize::MAX.segments_per_xlogid(), 4);
        assert_eq!(
            WalSegmentSize::new(64 * MIB).unwrap().segments_per_xlogid(),
            64
        );
    }

    #[test]
    fn segment_size_display() {
        assert_eq!(WalSegmentSize::MIN.to_string(), "1 MiB");
        assert_eq!(WalSegmentSize::DEFAULT.to_string(), "16 MiB");
        assert_eq!(
            WalSegmentSize::new(512 * MIB).unwrap().to_string(),
            "512 MiB"
        );
        assert_eq!(WalSegmentSize::MAX.to_string(), "1 GiB");
    }
}
