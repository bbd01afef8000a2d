//! Rate limiting of disk reads for base backups: a token bucket shared by every reader of one backup.
//!
//! An unthrottled base backup once starved every other process on a
//! production host. `--max-rate` bounds the bytes a backup reads per second,
//! whatever the number of parallel readers. Never used for WAL: holding back
//! `wal-push` only makes WAL pile up on the primary.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A transfer rate in bytes per second, never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate {
    bytes_per_sec: u64,
}

impl Rate {
    /// `None` for zero, which is no rate at all (no limit is `Option::None`
    /// where a rate is optional).
    pub fn from_bytes_per_sec(bytes_per_sec: u64) -> Option<Rate> {
        (bytes_per_sec > 0).then_some(Rate { bytes_per_sec })
    }

    pub fn bytes_per_sec(self) -> u64 {
        self.bytes_per_sec
    }
}

/// Why a string is not a rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateParseError {
    #[error("empty rate: expected {FORMS}")]
    Empty,
    #[error("{input:?} is not a rate: expected {FORMS}")]
    Malformed { input: String },
    #[error("{input:?} is not a rate per second: expected {FORMS}. Without /s, 50MB reads like a size, and a bare number like another tool's unit (pg_basebackup --max-rate counts kB/s)")]
    NotPerSecond { input: String },
    #[error("{input:?} has an unknown unit {unit:?}: use B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), followed by /s")]
    UnknownUnit { input: String, unit: String },
    #[error("{input:?} is negative: a rate must be greater than zero")]
    Negative { input: String },
    #[error("{input:?} is zero (or less than one byte per second): a rate must be greater than zero; to read without a limit, leave the rate unset")]
    Zero { input: String },
    #[error("{input:?} is too large: at most {max} bytes per second", max = u64::MAX)]
    TooLarge { input: String },
    #[error("{input:?} has too many digits (at most {MAX_DIGITS})")]
    TooManyDigits { input: String },
}

/// The accepted spellings, for error messages.
const FORMS: &str =
    "bytes per second with a unit and /s, like 50MB/s, 1.5GB/s, 50MiB/s, 800kB/s or 1048576B/s";

/// Unit multipliers, matched case-insensitively. A bare letter is decimal,
/// like its `B` spelling (`100M` is `100MB/s`).
const UNITS: [(&str, u64); 14] = [
    ("", 1),
    ("b", 1),
    ("k", 1_000),
    ("kb", 1_000),
    ("kib", 1 << 10),
    ("m", 1_000_000),
    ("mb", 1_000_000),
    ("mib", 1 << 20),
    ("g", 1_000_000_000),
    ("gb", 1_000_000_000),
    ("gib", 1 << 30),
    ("t", 1_000_000_000_000),
    ("tb", 1_000_000_000_000),
    ("tib", 1 << 40),
];

/// More digits than any sensible rate has; keeps the exact arithmetic in range.
const MAX_DIGITS: usize = 30;

impl FromStr for Rate {
    type Err = RateParseError;

    /// `50MB/s`, `50MiB/s`, `1.5GB/s`, `800kB/s`, `100M/s`, `1048576B/s`:
    /// `/s` is required, so that a size (`50MB`) or another tool's unit (a
    /// bare number: pg_basebackup counts kB/s) is refused, not guessed. The
    /// arithmetic is exact decimal (no floating point), rounded to the
    /// nearest byte.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(RateParseError::Empty);
        }
        // ASCII lowercasing keeps byte offsets, so `s[..body_len]` is the
        // operator's own spelling of what is parsed.
        let lower = s.to_ascii_lowercase();
        let Some(per_second) = lower.strip_suffix("/s") else {
            return Err(RateParseError::NotPerSecond {
                input: input.to_owned(),
            });
        };
        let body_len = per_second.trim_end().len();
        let body = &lower[..body_len];
        if body.starts_with('-') {
            return Err(RateParseError::Negative {
                input: input.to_owned(),
            });
        }
        let number_len = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body_len);
        let (number, unit) = (&body[..number_len], body[number_len..].trim_start());
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(RateParseError::Malformed {
                input: input.to_owned(),
            });
        }
        if whole.len() + fraction.len() > MAX_DIGITS {
            return Err(RateParseError::TooManyDigits {
                input: input.to_owned(),
            });
        }
        let Some(&(_, multiplier)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(RateParseError::UnknownUnit {
                input: input.to_owned(),
                unit: s[body_len - unit.len()..body_len].to_owned(),
            });
        };
        let too_large = || RateParseError::TooLarge {
            input: input.to_owned(),
        };
        let bytes = exact_product(whole, fraction, multiplier).ok_or_else(too_large)?;
        let bytes = u64::try_from(bytes).map_err(|_| too_large())?;
        Rate::from_bytes_per_sec(bytes).ok_or_else(|| RateParseError::Zero {
            input: input.to_owned(),
        })
    }
}

/// `whole.fraction × multiplier`, rounded half up; `None` on overflow.
fn exact_product(whole: &str, fraction: &str, multiplier: u64) -> Option<u128> {
    let digits = |s: &str| -> Option<u128> {
        s.bytes().try_fold(0u128, |acc, d| {
            acc.checked_mul(10)?.checked_add(u128::from(d - b'0'))
        })
    };
    let scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    let scaled = digits(whole)?
        .checked_mul(scale)?
        .checked_add(digits(fraction)?)?;
    let product = scaled.checked_mul(u128::from(multiplier))?;
    Some(product.checked_add(scale / 2)? / scale)
}

impl fmt::Display for Rate {
    /// The largest unit that divides the rate exactly, so it reads back the same.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DISPLAY_UNITS: [(&str, u64); 8] = [
            ("TiB", 1 << 40),
            ("TB", 1_000_000_000_000),
            ("GiB", 1 << 30),
            ("GB", 1_000_000_000),
            ("MiB", 1 << 20),
            ("MB", 1_000_000),
            ("KiB", 1 << 10),
            ("kB", 1_000),
        ];
        let n = self.bytes_per_sec;
        match DISPLAY_UNITS
            .iter()
            .find(|(_, size)| n.is_multiple_of(*size))
        {
            Some((unit, size)) => write!(f, "{}{unit}/s", n / size),
            None => write!(f, "{n}B/s"),
        }
    }
}

/// How much a bucket may hold: a twentieth of a second of the rate (at least
/// 64 KiB, a read's worth). It absorbs sleeps that overshoot, so the long-run
/// rate stays at the limit, while the rate over any window of a second or
/// more exceeds the limit by at most 5 %.
fn burst_capacity(rate: Rate) -> f64 {
    (rate.bytes_per_sec as f64 / 20.0).max(READ_CHUNK as f64)
}

/// A token bucket over bytes, shared by every reader of one backup.
///
/// `take` reserves bytes even when the bucket cannot cover them, leaving it
/// in debt, and sleeps until the debt is paid: readers are served in the
/// order they asked, a large `take` needs no special case, and the lock is
/// never held while sleeping. The bucket starts empty, so a backup does not
/// open with a burst either.
#[derive(Debug)]
pub struct TokenBucket {
    rate: Rate,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    /// Bytes that may pass now; negative while readers wait for their turn.
    tokens: f64,
    last_refill: Instant,
}

impl BucketState {
    /// Reserves `n` bytes at `now` and returns how long the caller must wait
    /// before they may pass.
    fn reserve(&mut self, now: Instant, n: u64, rate: f64, capacity: f64) -> Duration {
        let elapsed = now.saturating_duration_since(self.last_refill);
        self.last_refill = self.last_refill.max(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate).min(capacity);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

impl TokenBucket {
    pub fn new(rate: Rate) -> Arc<Self> {
        Arc::new(TokenBucket {
            rate,
            state: Mutex::new(BucketState {
                tokens: 0.0,
                last_refill: Instant::now(),
            }),
        })
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Blocks (sleeping, not spinning) until `n` more bytes may pass.
    pub fn take(&self, n: u64) {
        if n == 0 {
            return;
        }
        let wait = self
            .state
            .lock()
            // The state is consistent after every statement: a panic
            // elsewhere while holding the lock cannot corrupt it.
            .unwrap_or_else(PoisonError::into_inner)
            .reserve(
                Instant::now(),
                n,
                self.rate.bytes_per_sec as f64,
                burst_capacity(self.rate),
            );
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// The most one throttled `read` reads, so that readers take turns in small
/// steps instead of one waiting out a large buffer's worth.
pub const READ_CHUNK: usize = 64 << 10;

/// A reader that pays a shared [`TokenBucket`] for what it reads.
///
/// Each read reads at most [`READ_CHUNK`] bytes and pays for exactly what it
/// got before returning, so the wait lands before the caller's next read.
/// Paying afterwards rather than asking in advance keeps the accounting
/// exact: a short read at the end of a small file, or the final empty read,
/// costs nothing (asking for a whole chunk up front and refunding the rest
/// would sleep for bytes never read and, over the thousands of small files
/// of a data directory, fall well short of the rate).
#[derive(Debug)]
pub struct ThrottledReader<R> {
    inner: R,
    bucket: Option<Arc<TokenBucket>>,
}

impl<R: Read> ThrottledReader<R> {
    /// `None`: no limit, and reads go straight to `inner`.
    pub fn new(inner: R, bucket: Option<Arc<TokenBucket>>) -> Self {
        ThrottledReader { inner, bucket }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for ThrottledReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(bucket) = &self.bucket else {
            return self.inner.read(buf);
        };
        let len = buf.len().min(READ_CHUNK);
        let n = self.inner.read(&mut buf[..len])?;
        bucket.take(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Result<u64, RateParseError> {
        s.parse::<Rate>().map(Rate::bytes_per_sec)
    }

    #[test]
    fn parses_rates() {
        let cases: &[(&str, u64)] = &[
            ("50MB/s", 50_000_000),
            ("50mb/s", 50_000_000),
            ("50 MB/s", 50_000_000),
            ("50MB/S", 50_000_000),
            ("50MiB/s", 50 << 20),
            ("50mib/s", 50 << 20),
            ("1.5GB/s", 1_500_000_000),
            ("1.5GiB/s", 3 << 29),
            ("800kB/s", 800_000),
            ("800KB/s", 800_000),
            ("800k/s", 800_000),
            ("64KiB/s", 65_536),
            ("100M/s", 100_000_000),
            ("2G/s", 2_000_000_000),
            ("1TB/s", 1_000_000_000_000),
            ("1TiB/s", 1 << 40),
            ("1048576/s", 1_048_576),
            ("1048576B/s", 1_048_576),
            ("  7B/s  ", 7),
            ("0.5kB/s", 500),
            (".5MB/s", 500_000),
            ("2./s", 2),
            ("0.0015kB/s", 2),
            ("0.1MB/s", 100_000),
            ("18446744073709551615B/s", u64::MAX),
        ];
        for &(input, expected) in cases {
            assert_eq!(rate(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn refuses_non_rates_clearly() {
        let cases: &[(&str, &str)] = &[
            ("", "empty rate"),
            ("   ", "empty rate"),
            ("0/s", "is zero"),
            ("0MB/s", "is zero"),
            ("0.0000001kB/s", "is zero"),
            ("-5MB/s", "is negative"),
            ("- 5MB/s", "is negative"),
            ("fast/s", "is not a rate"),
            ("fast", "is not a rate per second"),
            ("50MB", "is not a rate per second: expected bytes per second with a unit and /s, like 50MB/s"),
            ("100M", "is not a rate per second"),
            ("1048576", "pg_basebackup --max-rate counts kB/s"),
            ("50XB/s", "unknown unit \"XB\""),
            ("50 parsecs/s", "unknown unit \"parsecs\""),
            ("MB/s", "is not a rate"),
            ("1.2.3MB/s", "is not a rate"),
            ("./s", "is not a rate"),
            ("5e6/s", "unknown unit \"e6\""),
            ("+5MB/s", "is not a rate"),
            ("5MB/h", "is not a rate per second"),
            ("inf/s", "is not a rate"),
            ("50 MB / s", "is not a rate per second"),
            ("18446744073709551616B/s", "is too large"),
            ("99999999999999999999TiB/s", "is too large"),
            (
                "1.000000000000000000000000000000000000000001/s",
                "too many digits",
            ),
        ];
        for &(input, message) in cases {
            let err = rate(input).expect_err(input).to_string();
            assert!(err.contains(message), "{input:?}: {err}");
        }
    }

    #[test]
    fn displays_in_a_unit_that_reads_back() {
        for (bytes, shown) in [
            (50_000_000, "50MB/s"),
            (50 << 20, "50MiB/s"),
            (1_500_000_000, "1500MB/s"),
            (3_000_000_000, "3GB/s"),
            (1 << 30, "1GiB/s"),
            (800_000, "800kB/s"),
            (65_536, "64KiB/s"),
            (1_048_577, "1048577B/s"),
        ] {
            let r = Rate::from_bytes_per_sec(bytes).unwrap();
            assert_eq!(r.to_string(), shown);
            assert_eq!(shown.parse::<Rate>().unwrap(), r);
        }
        assert_eq!(Rate::from_bytes_per_sec(0), None);
    }

    #[test]
    fn bucket_arithmetic() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let (rate, capacity) = (1_000_000.0, 50_000.0);
        let mut state = BucketState {
            tokens: 0.0,
            last_refill: t0,
        };
        // Empty at first: 100 kB at 1 MB/s waits 100 ms.
        assert_eq!(
            state.reserve(at(0), 100_000, rate, capacity),
            Duration::from_millis(100)
        );
        // A second reader asking at once queues behind the first.
        assert_eq!(
            state.reserve(at(0), 100_000, rate, capacity),
            Duration::from_millis(200)
        );
        // Once both are paid, a long pause fills the bucket only to capacity.
        assert_eq!(
            state.reserve(at(10_200), 50_000, rate, capacity),
            Duration::ZERO
        );
        assert_eq!(
            state.reserve(at(10_200), 1_000, rate, capacity),
            Duration::from_millis(1)
        );
        // A clock that seems to go backwards (another thread's earlier
        // Instant) neither refills nor panics.
        let wait = state.reserve(at(10_100), 1_000, rate, capacity);
        assert_eq!(wait, Duration::from_millis(2));
    }

    #[test]
    fn burst_is_a_twentieth_of_a_second_but_at_least_a_chunk() {
        let r = |b| Rate::from_bytes_per_sec(b).unwrap();
        assert_eq!(burst_capacity(r(100_000_000)), 5_000_000.0);
        assert_eq!(burst_capacity(r(1_000)), READ_CHUNK as f64);
    }

    fn read_all(reader: &mut impl Read) -> u64 {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        loop {
            match reader.read(&mut buf).unwrap() {
                0 => return total,
                n => total += n as u64,
            }
        }
    }

    #[test]
    fn two_readers_share_the_limit() {
        // 10 MB at 20 MB/s through two concurrent readers: 0.5 s. Only
        // running faster than the limit is a bug; a loaded machine may be
        // slower, hence the generous upper bound.
        let bucket = TokenBucket::new("20MB/s".parse().unwrap());
        let start = Instant::now();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let bucket = bucket.clone();
                std::thread::spawn(move || {
                    let data = io::repeat(7).take(5_000_000);
                    read_all(&mut ThrottledReader::new(data, Some(bucket)))
                })
            })
            .collect();
        let total: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        let elapsed = start.elapsed().as_secs_f64();
        assert_eq!(total, 10_000_000);
        assert!(
            (0.45..1.0).contains(&elapsed),
            "10 MB at 20 MB/s took {elapsed:.3} s, expected about 0.5 s"
        );
    }

    #[test]
    fn throttled_reads_are_capped_at_a_chunk_and_pass_data_unchanged() {
        let bucket = TokenBucket::new("1GB/s".parse().unwrap());
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = ThrottledReader::new(&data[..], Some(bucket));
        let mut buf = vec![0u8; 1 << 20];
        assert_eq!(reader.read(&mut buf).unwrap(), READ_CHUNK);
        let mut out = buf[..READ_CHUNK].to_vec();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn unthrottled_is_not_slowed() {
        let start = Instant::now();
        let mut reader = ThrottledReader::new(io::repeat(1).take(10_000_000), None);
        let mut buf = vec![0u8; 1 << 20];
        // Whole buffers at a time: no chunking without a bucket.
        assert_eq!(reader.read(&mut buf).unwrap(), buf.len());
        let total = (buf.len() as u64) + read_all(&mut reader);
        assert_eq!(total, 10_000_000);
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_millis(250),
            "unthrottled 10 MB took {elapsed:?}"
        );
    }
}
