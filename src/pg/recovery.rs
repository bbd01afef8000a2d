//! Recovery settings for a restored data directory: restore_command, the recovery target, and which signal file starts recovery.
//!
//! The lines are appended to `postgresql.auto.conf`, which PostgreSQL reads
//! last, so they win over `postgresql.conf`. They also have to win over
//! recovery settings the backup itself carries (a cluster restored by walden
//! earlier keeps that restore's lines in its `postgresql.auto.conf`): every
//! recovery target setting is written, the unused ones as empty strings.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, Utc};

use super::conninfo::Conninfo;
use super::lsn::Lsn;
use super::wal_name::TimelineId;

/// Where recovery stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryTarget {
    /// As soon as the backup is consistent (`recovery_target = 'immediate'`).
    Immediate,
    /// A commit time, from `parse_target_time`.
    Time(DateTime<FixedOffset>),
    Lsn(Lsn),
    /// A transaction ID, optionally with its epoch in the high 32 bits (as
    /// `pg_current_xact_id()` gives it).
    Xid(u64),
    /// A restore point made with `pg_create_restore_point`.
    Name(String),
}

/// What the server does on reaching the target (`recovery_target_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetAction {
    Pause,
    Promote,
    Shutdown,
}

/// Which timeline recovery follows (`recovery_target_timeline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetTimeline {
    /// The newest timeline in the archive (PostgreSQL's default).
    Latest,
    /// The backup's own timeline.
    Current,
    Id(TimelineId),
}

/// Everything walden writes for a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverySettings {
    pub restore_command: String,
    pub target: Option<RecoveryTarget>,
    /// Stop just after the target (true, PostgreSQL's default) or just
    /// before it. Only meaningful for time, LSN and xid targets.
    pub inclusive: bool,
    pub action: Option<TargetAction>,
    pub timeline: Option<TargetTimeline>,
    /// Start as a standby (`standby.signal`) instead of recovering and
    /// promoting (`recovery.signal`).
    pub standby: bool,
    /// Whether the restored cluster archives WAL once it runs.
    pub archive: ArchiveMode,
    /// A standby streams from the server this reaches (`primary_conninfo`),
    /// and falls back to `restore_command` whenever streaming stops.
    pub primary_conninfo: Option<Conninfo>,
    /// The physical replication slot on the primary that keeps the WAL
    /// this standby has not received yet (`primary_slot_name`).
    pub primary_slot_name: Option<String>,
}

/// Whether a restored cluster keeps the backup's archiving settings.
///
/// A restored copy shares the production cluster's system identifier and
/// its `archive_command`: once promoted it would archive a new timeline
/// (and, with backup-push, backups) into production's repository, where
/// "latest" and retention would then follow the copy. So a one-off
/// recovery gets `archive_mode = off` unless it is meant to replace the
/// primary; a standby keeps archiving on, as it must once promoted.
/// (CloudNativePG likewise refuses to let a recovered cluster archive into
/// the repository it recovered from; barman's and pgBackRest's restores
/// leave that to the operator, which is how clones take repositories over.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveMode {
    /// `archive_mode = off` in the settings walden writes.
    Off,
    /// The backup's own archive settings, untouched.
    Preserve,
}

impl ArchiveMode {
    /// The default for a restore: off for a one-off recovery, preserved
    /// for a standby.
    pub fn default_for(standby: bool) -> Self {
        if standby {
            ArchiveMode::Preserve
        } else {
            ArchiveMode::Off
        }
    }
}

impl FromStr for ArchiveMode {
    type Err = RecoveryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(ArchiveMode::Off),
            "preserve" => Ok(ArchiveMode::Preserve),
            _ => Err(RecoveryError::Invalid {
                setting: "archive mode",
                problem: format!("{s:?} is not one of off, preserve"),
            }),
        }
    }
}

/// A recovery setting PostgreSQL would refuse, misread or silently ignore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    #[error("target time {input:?}: {problem}")]
    Time { input: String, problem: String },
    #[error("target timeline {input:?} is not 'latest', 'current' or a timeline number like 2 (decimal, as in history files) or 0x2 (hexadecimal, as in WAL file names)")]
    Timeline { input: String },
    #[error("target action {input:?} is not one of pause, promote, shutdown")]
    Action { input: String },
    #[error("target xid {input:?} is not a transaction ID: expected a decimal number of at least 3, like 7431")]
    Xid { input: String },
    #[error("{setting}: {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
}

/// Restore point names are shorter than `MAXFNAMELEN` (64) bytes, slot
/// names than `NAMEDATALEN` (64).
const MAX_NAME_BYTES: usize = 63;

/// PostgreSQL accepts zone displacements up to 15:59 hours.
const MAX_OFFSET_HOURS: u32 = 15;

impl RecoverySettings {
    /// Recovery with `restore_command` to the end of the archive, then
    /// promotion: PostgreSQL's defaults for everything else.
    pub fn new(restore_command: impl Into<String>) -> Self {
        RecoverySettings {
            restore_command: restore_command.into(),
            target: None,
            inclusive: true,
            action: None,
            timeline: None,
            standby: false,
            archive: ArchiveMode::Off,
            primary_conninfo: None,
            primary_slot_name: None,
        }
    }

    /// The block to append to `postgresql.auto.conf`, stamped with the
    /// current time. Call `validate` first.
    pub fn conf_lines(&self) -> String {
        self.conf_lines_at(Utc::now())
    }

    /// `conf_lines` stamped with `now`.
    pub fn conf_lines_at(&self, now: DateTime<Utc>) -> String {
        let mut lines = vec![
            format!(
                "# added by walden restore {}",
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            setting("restore_command", &self.restore_command),
        ];
        if self.archive == ArchiveMode::Off {
            lines.push(setting("archive_mode", "off"));
        }
        // PostgreSQL refuses to set a second kind of target, even to an
        // empty string, once one is set: clear the others first.
        let (target_name, target_value) = self.target_setting();
        for name in TARGET_SETTINGS {
            if name != target_name {
                lines.push(setting(name, ""));
            }
        }
        if !target_name.is_empty() {
            lines.push(setting(target_name, &target_value));
        }
        lines.push(setting(
            "recovery_target_inclusive",
            if self.inclusive { "on" } else { "off" },
        ));
        let action = self.action.unwrap_or(TargetAction::Pause);
        lines.push(setting("recovery_target_action", &action.to_string()));
        let timeline = self.timeline.unwrap_or(TargetTimeline::Latest);
        lines.push(setting("recovery_target_timeline", &timeline.to_string()));
        // Without a conninfo the backup's own streaming settings (if any)
        // stay; with one, the slot is written even when empty, so that a
        // slot name the backup carries is not used with another primary.
        if let Some(conninfo) = &self.primary_conninfo {
            lines.push(setting("primary_conninfo", conninfo.as_written()));
            lines.push(setting(
                "primary_slot_name",
                self.primary_slot_name.as_deref().unwrap_or(""),
            ));
        }
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }

    /// The setting that carries the target and its value, or ("", "").
    fn target_setting(&self) -> (&'static str, String) {
        match &self.target {
            None => ("", String::new()),
            Some(RecoveryTarget::Immediate) => ("recovery_target", "immediate".to_owned()),
            Some(RecoveryTarget::Time(time)) => ("recovery_target_time", format_target_time(time)),
            Some(RecoveryTarget::Lsn(lsn)) => ("recovery_target_lsn", lsn.to_string()),
            Some(RecoveryTarget::Xid(xid)) => ("recovery_target_xid", xid.to_string()),
            Some(RecoveryTarget::Name(name)) => ("recovery_target_name", name.clone()),
        }
    }

    /// The empty file whose presence puts the restored cluster into
    /// recovery: as a standby, or to recover and (by default) promote.
    pub fn signal_file(&self) -> &'static str {
        if self.standby {
            "standby.signal"
        } else {
            "recovery.signal"
        }
    }
}

/// The settings that each name one kind of recovery target.
const TARGET_SETTINGS: [&str; 5] = [
    "recovery_target",
    "recovery_target_lsn",
    "recovery_target_name",
    "recovery_target_time",
    "recovery_target_xid",
];

/// `name = 'value'`, quoted the way PostgreSQL's configuration file reader
/// unquotes: a quote is doubled, and a backslash starts an escape (so it is
/// doubled too, and line breaks and tabs are written as escapes).
fn setting(name: &str, value: &str) -> String {
    format!("{name} = '{}'", quote_conf_value(value))
}

fn quote_conf_value(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted
}

/// `2026-11-24 10:00:00+01:00`, with microseconds when there are any: a
/// form PostgreSQL reads as exactly the instant walden chose a backup for.
fn format_target_time(time: &DateTime<FixedOffset>) -> String {
    if time.timestamp_subsec_micros() == 0 {
        time.format("%Y-%m-%d %H:%M:%S%:z").to_string()
    } else {
        time.format("%Y-%m-%d %H:%M:%S%.6f%:z").to_string()
    }
}

/// Checks what PostgreSQL would refuse at start-up or silently ignore.
pub fn validate(settings: &RecoverySettings) -> Result<(), RecoveryError> {
    validate_restore_command(&settings.restore_command)?;
    if let Some(target) = &settings.target {
        validate_target(target)?;
    }
    if settings.action.is_some() && settings.target.is_none() {
        return Err(invalid(
            "recovery_target_action",
            "only applies when recovery stops at a target; without one PostgreSQL replays the whole archive (give a target, or drop the action)",
        ));
    }
    if !settings.inclusive && !target_has_inclusive(settings.target.as_ref()) {
        return Err(invalid(
            "recovery_target_inclusive",
            "stopping just before the target only means something for a time, LSN or xid target",
        ));
    }
    if let Some(TargetTimeline::Id(TimelineId(0))) = settings.timeline {
        return Err(invalid(
            "recovery_target_timeline",
            "timeline 0 does not exist; timelines start at 1",
        ));
    }
    if settings.primary_conninfo.is_some() && !settings.standby {
        return Err(invalid(
            "primary_conninfo",
            "only a standby streams from a primary: add --standby",
        ));
    }
    if let Some(slot) = &settings.primary_slot_name {
        if settings.primary_conninfo.is_none() {
            return Err(invalid(
                "primary_slot_name",
                "a slot is used by streaming from a primary: give --primary-conninfo too",
            ));
        }
        validate_slot_name(slot)?;
    }
    Ok(())
}

/// PostgreSQL's rule for replication slot names (ReplicationSlotValidateName):
/// lower-case letters, digits and underscores, shorter than NAMEDATALEN.
pub fn validate_slot_name(name: &str) -> Result<(), RecoveryError> {
    let setting = "primary_slot_name";
    if name.is_empty() {
        Err(invalid(setting, "the slot name is empty"))
    } else if name.len() > MAX_NAME_BYTES {
        Err(invalid(
            setting,
            format!(
                "{name:?} is {} bytes; slot names are at most {MAX_NAME_BYTES}",
                name.len()
            ),
        ))
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Err(invalid(
            setting,
            format!(
                "{name:?}: slot names may contain only lower-case letters, digits and underscores"
            ),
        ))
    } else {
        Ok(())
    }
}

fn invalid(setting: &'static str, problem: impl Into<String>) -> RecoveryError {
    RecoveryError::Invalid {
        setting,
        problem: problem.into(),
    }
}

fn target_has_inclusive(target: Option<&RecoveryTarget>) -> bool {
    matches!(
        target,
        Some(RecoveryTarget::Time(_) | RecoveryTarget::Lsn(_) | RecoveryTarget::Xid(_))
    )
}

/// Recovery cannot work unless the command copies `%f` to `%p`.
fn validate_restore_command(command: &str) -> Result<(), RecoveryError> {
    let setting = "restore_command";
    if command.trim().is_empty() {
        return Err(invalid(setting, "is empty"));
    }
    if command.contains(['\0', '\n', '\r']) {
        return Err(invalid(setting, "must be one line without NUL characters"));
    }
    let (mut file, mut path) = (false, false);
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('f') => file = true,
                Some('p') => path = true,
                // "%%" is a literal percent sign.
                _ => {}
            }
        }
    }
    if !(file && path) {
        return Err(invalid(
            setting,
            format!(
                "{command:?} must contain %f (the file PostgreSQL wants) and %p (where to put it)"
            ),
        ));
    }
    Ok(())
}

fn validate_target(target: &RecoveryTarget) -> Result<(), RecoveryError> {
    match target {
        RecoveryTarget::Immediate | RecoveryTarget::Time(_) => Ok(()),
        RecoveryTarget::Lsn(lsn) if *lsn == Lsn::INVALID => Err(invalid(
            "recovery_target_lsn",
            "0/0 is not a WAL position any record has",
        )),
        RecoveryTarget::Lsn(_) => Ok(()),
        RecoveryTarget::Xid(xid) if !is_normal_xid(*xid) => Err(invalid(
            "recovery_target_xid",
            format!("{xid} is not a transaction that can commit: PostgreSQL uses its low 32 bits, and xids 0, 1 and 2 are reserved"),
        )),
        RecoveryTarget::Xid(_) => Ok(()),
        RecoveryTarget::Name(name) => validate_name(name),
    }
}

fn validate_name(name: &str) -> Result<(), RecoveryError> {
    let setting = "recovery_target_name";
    if name.is_empty() {
        Err(invalid(setting, "the restore point name is empty"))
    } else if name.len() > MAX_NAME_BYTES {
        Err(invalid(
            setting,
            format!(
                "{name:?} is {} bytes; restore point names are at most {MAX_NAME_BYTES}",
                name.len()
            ),
        ))
    } else if name.contains('\0') {
        Err(invalid(setting, "the restore point name contains NUL"))
    } else {
        Ok(())
    }
}

/// PostgreSQL keeps the low 32 bits (dropping an epoch); 0, 1 and 2 are
/// reserved and never commit.
fn is_normal_xid(xid: u64) -> bool {
    xid & 0xFFFF_FFFF >= 3
}

/// A transaction ID for `recovery_target_xid`, in decimal. (PostgreSQL
/// would also read `0x…` as hex and a leading 0 as octal; walden writes
/// decimal, so it only takes decimal.)
pub fn parse_xid(s: &str) -> Result<u64, RecoveryError> {
    let error = || RecoveryError::Xid {
        input: s.to_owned(),
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error());
    }
    match s.parse::<u64>() {
        Ok(xid) if is_normal_xid(xid) => Ok(xid),
        _ => Err(error()),
    }
}

/// Parses a recovery target time, which must say its offset from UTC.
///
/// Takes RFC 3339 (`2026-11-24T10:00:00Z`, `…+01:00`) and PostgreSQL's
/// usual output (`2026-11-24 10:00:00+00`, `2026-11-24 10:00:00.123456-03:30`,
/// `2026-11-24 10:00:00 UTC`); seconds may be left out. A time without an
/// offset is refused: the server would read it in its own time zone, which
/// need not be the operator's.
pub fn parse_target_time(s: &str) -> Result<DateTime<FixedOffset>, RecoveryError> {
    let error = |problem: &str| RecoveryError::Time {
        input: s.to_owned(),
        problem: problem.to_owned(),
    };
    let text = s.trim();
    let (date, rest) = split_date(text).ok_or_else(|| {
        error("expected a date and time like '2026-11-24 10:00:00+00' or '2026-11-24T10:00:00Z'")
    })?;
    let (time, zone) = split_time(rest).map_err(|problem| error(&problem))?;
    let offset = match zone.trim_start() {
        "" => {
            return Err(error(&format!(
                "no UTC offset: PostgreSQL would read it in the server's time zone; add one, like '{text}+00' for UTC"
            )))
        }
        zone => parse_offset(zone).map_err(|problem| error(&problem))?,
    };
    date.and_time(time)
        .and_local_timezone(offset)
        .single()
        .ok_or_else(|| error("not a valid instant"))
}

/// `YYYY-MM-DD` and the separator after it (space or `T`).
fn split_date(text: &str) -> Option<(NaiveDate, &str)> {
    let (date, rest) = (text.get(..10)?, text.get(10..)?);
    let bytes = date.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && bytes[4] == b'-' && digits(5..7) && bytes[7] == b'-' && digits(8..10)) {
        return None;
    }
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let rest = rest.strip_prefix(['T', 't', ' ']).map(str::trim_start)?;
    Some((date, rest))
}

/// `HH:MM[:SS[.fraction]]` and what follows it.
fn split_time(text: &str) -> Result<(NaiveTime, &str), String> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(text.len());
    let (clock, zone) = text.split_at(end);
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let two_digits = |part: &&str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(two_digits) {
        return Err("expected a time of day like 10:00:00 after the date".to_owned());
    }
    let number = |i: usize| parts.get(i).map_or(0, |p| p.parse::<u32>().unwrap_or(0));
    let (hour, minute, second) = (number(0), number(1), number(2));
    if second == 60 {
        return Err("leap seconds are not accepted: use :59".to_owned());
    }
    let nanos = match fraction {
        None => 0,
        Some(fraction) => parse_fraction(fraction, parts.len())?,
    };
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .ok_or_else(|| format!("{hms} is not a time of day"))?;
    Ok((time, zone))
}

/// Up to 9 digits of fraction, of which PostgreSQL keeps 6: anything finer
/// would be rounded by the server, so it is refused rather than changed.
fn parse_fraction(fraction: &str, time_parts: usize) -> Result<u32, String> {
    if time_parts != 3
        || fraction.is_empty()
        || fraction.len() > 9
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("expected fractional seconds like 10:00:00.123456".to_owned());
    }
    let nanos: u32 = format!("{fraction:0<9}")
        .parse()
        .map_err(|_| "bad fraction".to_owned())?;
    if !nanos.is_multiple_of(1000) {
        return Err(
            "PostgreSQL keeps times to the microsecond: give at most 6 fractional digits"
                .to_owned(),
        );
    }
    Ok(nanos)
}

/// `Z`, `UTC`, `GMT`, `+HH`, `+HHMM`, `+HH:MM` (or `-`).
fn parse_offset(zone: &str) -> Result<FixedOffset, String> {
    if ["z", "utc", "gmt"].contains(&zone.to_ascii_lowercase().as_str()) {
        return Ok(FixedOffset::east_opt(0).expect("zero offset"));
    }
    let bad = || {
        format!("{zone:?} is not a UTC offset like +00, +01:00 or -03:30 (zone names other than UTC are ambiguous)")
    };
    let (sign, digits) = match zone.as_bytes().first() {
        Some(b'+') => (1, &zone[1..]),
        Some(b'-') => (-1, &zone[1..]),
        _ => return Err(bad()),
    };
    let (hours, minutes) = match digits.len() {
        2 => (digits, "00"),
        4 => digits.split_at(2),
        5 if digits.as_bytes()[2] == b':' => (&digits[..2], &digits[3..]),
        _ => return Err(bad()),
    };
    if !(hours
        .bytes()
        .chain(minutes.bytes())
        .all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let (hours, minutes): (u32, u32) = (
        hours.parse().map_err(|_| bad())?,
        minutes.parse().map_err(|_| bad())?,
    );
    if hours > MAX_OFFSET_HOURS || minutes > 59 {
        return Err(format!(
            "{zone:?} is further from UTC than any time zone (at most ±15:59)"
        ));
    }
    let seconds = sign * i32::try_from(hours * 3600 + minutes * 60).map_err(|_| bad())?;
    FixedOffset::east_opt(seconds).ok_or_else(bad)
}

impl fmt::Display for TargetAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetAction::Pause => "pause",
            TargetAction::Promote => "promote",
            TargetAction::Shutdown => "shutdown",
        })
    }
}

impl FromStr for TargetAction {
    type Err = RecoveryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pause" => Ok(TargetAction::Pause),
            "promote" => Ok(TargetAction::Promote),
            "shutdown" => Ok(TargetAction::Shutdown),
            _ => Err(RecoveryError::Action {
                input: s.to_owned(),
            }),
        }
    }
}

/// Written the way `recovery_target_timeline` takes it: a decimal number.
impl fmt::Display for TargetTimeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetTimeline::Latest => f.write_str("latest"),
            TargetTimeline::Current => f.write_str("current"),
            TargetTimeline::Id(TimelineId(tli)) => write!(f, "{tli}"),
        }
    }
}

impl FromStr for TargetTimeline {
    type Err = RecoveryError;

    /// `latest`, `current`, a decimal number, or `0x` and hex digits. A
    /// number with a leading zero is refused: `00000010` could be decimal
    /// 10 or, copied from a WAL file name, hex 0x10.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || RecoveryError::Timeline {
            input: s.to_owned(),
        };
        let number = match s.to_ascii_lowercase().as_str() {
            "latest" => return Ok(TargetTimeline::Latest),
            "current" => return Ok(TargetTimeline::Current),
            lower => match lower.strip_prefix("0x") {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()
                }
                Some(_) => None,
                None if lower.starts_with('0') => None,
                None if lower.bytes().all(|b| b.is_ascii_digit()) => lower.parse().ok(),
                None => None,
            },
        };
        match number {
            Some(tli) if tli > 0 => Ok(TargetTimeline::Id(TimelineId(tli))),
            _ => Err(error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> DateTime<FixedOffset> {
        parse_target_time(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn utc(s: &str) -> String {
        time(s)
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    fn stamp() -> DateTime<Utc> {
        "2026-11-25T03:00:00Z".parse().unwrap()
    }

    const FETCH: &str = "/usr/local/bin/walden wal-fetch %f %p";

    fn settings(target: RecoveryTarget) -> RecoverySettings {
        RecoverySettings {
            target: Some(target),
            ..RecoverySettings::new(FETCH)
        }
    }

    #[test]
    fn parses_rfc3339_and_postgres_times() {
        for (input, expected) in [
            ("2026-11-24 10:00:00+00", "2026-11-24T10:00:00Z"),
            ("2026-11-24T10:00:00Z", "2026-11-24T10:00:00Z"),
            ("2026-11-24t10:00:00z", "2026-11-24T10:00:00Z"),
            ("2026-11-24 10:00:00 UTC", "2026-11-24T10:00:00Z"),
            ("2026-11-24 10:00:00 gmt", "2026-11-24T10:00:00Z"),
            ("2026-11-24 10:00:00-00", "2026-11-24T10:00:00Z"),
            ("2026-11-24 10:00:00 +02", "2026-11-24T08:00:00Z"),
            ("2026-11-24 10:00:00+01:00", "2026-11-24T09:00:00Z"),
            ("2026-11-24 10:00:00+0100", "2026-11-24T09:00:00Z"),
            ("2026-11-24 10:00:00+05:45", "2026-11-24T04:15:00Z"),
            ("2026-11-24 10:00:00-03:30", "2026-11-24T13:30:00Z"),
            ("2026-11-24 20:00:00-08", "2026-11-25T04:00:00Z"),
            ("2026-11-24 10:00:00+15:59", "2026-11-23T18:01:00Z"),
            ("2026-11-24 10:00:00-15:59", "2026-11-25T01:59:00Z"),
            ("2026-11-24 10:00+00", "2026-11-24T10:00:00Z"),
            ("  2026-11-24 10:00:00+00\n", "2026-11-24T10:00:00Z"),
            ("2024-02-29 23:59:59+00", "2024-02-29T23:59:59Z"),
            ("2026-01-01 00:30:00+01", "2025-12-31T23:30:00Z"),
        ] {
            assert_eq!(utc(input), expected, "{input}");
        }
    }

    #[test]
    fn fractional_seconds_to_the_microsecond() {
        assert_eq!(
            utc("2026-11-24 10:00:00.123456+01:00"),
            "2026-11-24T09:00:00.123456Z"
        );
        assert_eq!(
            utc("2026-11-24 10:00:00.5-03:30"),
            "2026-11-24T13:30:00.500Z"
        );
        assert_eq!(
            utc("2026-11-24T10:00:00.000001Z"),
            "2026-11-24T10:00:00.000001Z"
        );
        // Trailing zeros past the microsecond change nothing.
        assert_eq!(
            utc("2026-11-24T10:00:00.123456000Z"),
            "2026-11-24T10:00:00.123456Z"
        );
        for finer in [
            "2026-11-24T10:00:00.1234567Z",
            "2026-11-24T10:00:00.123456789Z",
        ] {
            let err = parse_target_time(finer).unwrap_err().to_string();
            assert!(err.contains("microsecond"), "{err}");
        }
    }

    #[test]
    fn a_time_without_offset_is_refused_with_a_suggestion() {
        for input in [
            "2026-11-24 10:00:00",
            "2026-11-24T10:00:00",
            "2026-11-24 10:00:00.5",
        ] {
            let err = parse_target_time(input).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("no UTC offset"), "{message}");
            assert!(message.contains(&format!("'{input}+00'")), "{message}");
        }
    }

    #[test]
    fn garbage_times_are_refused() {
        for input in [
            "",
            "now",
            "yesterday",
            "1700000000",
            "2026-11-24",
            "2026-11-24+00",
            "2026/11/24 10:00:00+00",
            "26-11-24 10:00:00+00",
            "2026-11-24_10:00:00+00",
            "2026-13-01 10:00:00+00",
            "2026-02-29 10:00:00+00",
            "2026-11-31 10:00:00+00",
            "2026-11-24 24:00:00+00",
            "2026-11-24 10:60:00+00",
            "2026-11-24 10:00:60+00",
            "2026-11-24 10:0:00+00",
            "2026-11-24 10:00:00:00+00",
            "2026-11-24 10+00",
            "2026-11-24 10:00:00.+00",
            "2026-11-24 10:00.5+00",
            "2026-11-24 10:00:00.1234567890Z",
            "2026-11-24 10:00:00 CET",
            "2026-11-24 10:00:00 Europe/Paris",
            "2026-11-24 10:00:00+1",
            "2026-11-24 10:00:00+01:0",
            "2026-11-24 10:00:00+016",
            "2026-11-24 10:00:00+16",
            "2026-11-24 10:00:00+01:60",
            "2026-11-24 10:00:00+0a",
            "2026-11-24 10:00:00+00 extra",
            "2026-11-24 10:00:00ZZ",
            "2026-11-24 ١٠:00:00+00",
            "2026-11-2é 10:00:00+00",
        ] {
            match parse_target_time(input) {
                Err(RecoveryError::Time { input: echoed, .. }) => assert_eq!(echoed, input),
                other => panic!("{input:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn target_times_are_written_as_postgres_reads_them() {
        for (input, written) in [
            ("2026-11-24T10:00:00Z", "2026-11-24 10:00:00+00:00"),
            (
                "2026-11-24 10:00:00.5-03:30",
                "2026-11-24 10:00:00.500000-03:30",
            ),
            (
                "2026-11-24 10:00:00.123456+01",
                "2026-11-24 10:00:00.123456+01:00",
            ),
            ("2026-11-24 10:00 +05:45", "2026-11-24 10:00:00+05:45"),
        ] {
            let parsed = time(input);
            assert_eq!(format_target_time(&parsed), written);
            assert_eq!(time(written), parsed);
        }
    }

    #[test]
    fn conf_lines_for_a_time_target() {
        let mut restore = settings(RecoveryTarget::Time(time("2026-11-24 10:00:00.25+01:00")));
        restore.action = Some(TargetAction::Promote);
        restore.timeline = Some(TargetTimeline::Id(TimelineId(2)));
        assert_eq!(
            restore.conf_lines_at(stamp()),
            "# added by walden restore 2026-11-25T03:00:00Z
restore_command = '/usr/local/bin/walden wal-fetch %f %p'
archive_mode = 'off'
recovery_target = ''
recovery_target_lsn = ''
recovery_target_name = ''
recovery_target_xid = ''
recovery_target_time = '2026-11-24 10:00:00.250000+01:00'
recovery_target_inclusive = 'on'
recovery_target_action = 'promote'
recovery_target_timeline = '2'
"
        );
        assert_eq!(restore.signal_file(), "recovery.signal");
    }

    #[test]
    fn conf_lines_without_a_target_clear_every_target() {
        let restore = RecoverySettings {
            standby: true,
            archive: ArchiveMode::default_for(true),
            ..RecoverySettings::new(FETCH)
        };
        let text = restore.conf_lines_at(stamp());
        assert!(
            !text.contains("archive_mode"),
            "a standby keeps archiving: {text}"
        );
        for name in TARGET_SETTINGS {
            assert!(text.contains(&format!("\n{name} = ''\n")), "{name}: {text}");
        }
        assert!(text.contains("recovery_target_action = 'pause'\n"));
        assert!(text.contains("recovery_target_timeline = 'latest'\n"));
        assert!(text.contains("recovery_target_inclusive = 'on'\n"));
        assert_eq!(restore.signal_file(), "standby.signal");
        assert!(text.starts_with("# added by walden restore "));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn conf_lines_for_every_target_kind_put_the_target_last() {
        for (target, line) in [
            (RecoveryTarget::Immediate, "recovery_target = 'immediate'"),
            (
                RecoveryTarget::Lsn("16/B374D848".parse().unwrap()),
                "recovery_target_lsn = '16/B374D848'",
            ),
            (RecoveryTarget::Xid(7431), "recovery_target_xid = '7431'"),
            (
                RecoveryTarget::Xid((5 << 32) + 7431),
                "recovery_target_xid = '21474843911'",
            ),
            (
                RecoveryTarget::Name("before-upgrade".to_owned()),
                "recovery_target_name = 'before-upgrade'",
            ),
            (
                RecoveryTarget::Name("Bob's \\ point".to_owned()),
                "recovery_target_name = 'Bob''s \\\\ point'",
            ),
            (
                RecoveryTarget::Time(time("2026-11-24 10:00:00+00")),
                "recovery_target_time = '2026-11-24 10:00:00+00:00'",
            ),
        ] {
            let text = settings(target).conf_lines_at(stamp());
            let lines: Vec<&str> = text.lines().collect();
            let targets: Vec<&&str> = lines
                .iter()
                .filter(|l| {
                    TARGET_SETTINGS
                        .iter()
                        .any(|n| l.starts_with(&format!("{n} = ")))
                })
                .collect();
            assert_eq!(targets.len(), 5, "{text}");
            assert_eq!(*targets[4], line, "{text}");
            assert!(targets[..4].iter().all(|l| l.ends_with(" = ''")), "{text}");
        }
    }

    #[test]
    fn values_are_quoted_for_the_config_file_reader() {
        assert_eq!(quote_conf_value("plain %f %p"), "plain %f %p");
        assert_eq!(quote_conf_value("it's"), "it''s");
        assert_eq!(quote_conf_value("''"), "''''");
        assert_eq!(quote_conf_value(r"C:\wal\%f"), r"C:\\wal\\%f");
        assert_eq!(quote_conf_value("a\nb\tc\r"), r"a\nb\tc\r");
        let restore = RecoverySettings::new("sh -c 'cp \"/arch/%f\" \"%p\"'");
        assert!(restore
            .conf_lines_at(stamp())
            .contains("restore_command = 'sh -c ''cp \"/arch/%f\" \"%p\"'''\n"));
    }

    fn streaming(conninfo: &str, slot: Option<&str>) -> RecoverySettings {
        RecoverySettings {
            standby: true,
            archive: ArchiveMode::Preserve,
            primary_conninfo: Some(Conninfo::parse(conninfo).unwrap()),
            primary_slot_name: slot.map(str::to_owned),
            ..RecoverySettings::new(FETCH)
        }
    }

    #[test]
    fn a_streaming_standby_gets_conninfo_and_slot_and_keeps_restore_command() {
        let restore = streaming("host=/run/pg port=5433 user=replicator", Some("s1"));
        validate(&restore).unwrap();
        let text = restore.conf_lines_at(stamp());
        assert!(
            text.contains(&format!("restore_command = '{FETCH}'\n")),
            "{text}"
        );
        assert!(
            text.contains("primary_conninfo = 'host=/run/pg port=5433 user=replicator'\n"),
            "{text}"
        );
        assert!(text.contains("primary_slot_name = 's1'\n"), "{text}");
        assert_eq!(restore.signal_file(), "standby.signal");
    }

    #[test]
    fn conninfo_quotes_are_doubled_for_the_config_file() {
        // libpq quoting inside, configuration-file quoting outside.
        let restore = streaming(r"host=primary password='it\'s a \\ pw'", None);
        let text = restore.conf_lines_at(stamp());
        assert!(
            text.contains(r"primary_conninfo = 'host=primary password=''it\\''s a \\\\ pw'''"),
            "{text}"
        );
    }

    #[test]
    fn a_conninfo_without_slot_clears_the_backups_slot_name() {
        let text = streaming("host=primary", None).conf_lines_at(stamp());
        assert!(text.contains("primary_slot_name = ''\n"), "{text}");
        // Without a conninfo the backup's streaming settings are left alone.
        let archive_only = RecoverySettings {
            standby: true,
            ..RecoverySettings::new(FETCH)
        }
        .conf_lines_at(stamp());
        assert!(!archive_only.contains("primary_"), "{archive_only}");
    }

    #[test]
    fn streaming_settings_need_a_standby_and_valid_slot_names() {
        let not_standby = RecoverySettings {
            standby: false,
            ..streaming("host=primary", None)
        };
        refused(&not_standby, "primary_conninfo", "--standby");
        let slot_alone = RecoverySettings {
            standby: true,
            primary_slot_name: Some("s1".to_owned()),
            ..RecoverySettings::new(FETCH)
        };
        refused(&slot_alone, "primary_slot_name", "--primary-conninfo");
        for (slot, words) in [
            ("", "empty"),
            ("S1", "lower-case"),
            ("s-1", "lower-case"),
            ("s 1", "lower-case"),
            ("sl\u{f6}t", "lower-case"),
        ] {
            refused(
                &streaming("host=primary", Some(slot)),
                "primary_slot_name",
                words,
            );
        }
        refused(
            &streaming("host=primary", Some(&"s".repeat(64))),
            "primary_slot_name",
            "at most 63",
        );
        validate(&streaming("host=primary", Some(&"s_9".repeat(21)))).unwrap();
    }

    #[test]
    fn inclusive_off_is_written() {
        let restore = RecoverySettings {
            inclusive: false,
            ..settings(RecoveryTarget::Xid(1000))
        };
        assert!(restore
            .conf_lines_at(stamp())
            .contains("recovery_target_inclusive = 'off'\n"));
    }

    #[test]
    fn valid_settings_pass() {
        validate(&RecoverySettings::new(FETCH)).unwrap();
        for target in [
            RecoveryTarget::Immediate,
            RecoveryTarget::Time(time("2026-11-24 10:00:00+00")),
            RecoveryTarget::Lsn("0/3000028".parse().unwrap()),
            RecoveryTarget::Xid(3),
            RecoveryTarget::Name("x".repeat(63)),
        ] {
            validate(&settings(target.clone())).unwrap();
            for action in [
                TargetAction::Pause,
                TargetAction::Promote,
                TargetAction::Shutdown,
            ] {
                for standby in [false, true] {
                    let restore = RecoverySettings {
                        action: Some(action),
                        standby,
                        timeline: Some(TargetTimeline::Current),
                        ..settings(target.clone())
                    };
                    validate(&restore).unwrap();
                }
            }
        }
        for target in [
            RecoveryTarget::Time(time("2026-11-24 10:00:00+00")),
            RecoveryTarget::Lsn("0/3000028".parse().unwrap()),
            RecoveryTarget::Xid(1000),
        ] {
            validate(&RecoverySettings {
                inclusive: false,
                ..settings(target)
            })
            .unwrap();
        }
        validate(&RecoverySettings::new("restore %f to %p, 100%% sure")).unwrap();
    }

    fn refused(restore: &RecoverySettings, setting: &str, words: &str) {
        match validate(restore) {
            Err(err @ RecoveryError::Invalid { .. }) => {
                let message = err.to_string();
                assert!(message.starts_with(&format!("{setting}: ")), "{message}");
                assert!(message.contains(words), "{message} (wanted {words:?})");
            }
            other => panic!("{restore:?} gave {other:?}"),
        }
    }

    #[test]
    fn meaningless_or_impossible_settings_are_refused() {
        let action_alone = RecoverySettings {
            action: Some(TargetAction::Promote),
            ..RecoverySettings::new(FETCH)
        };
        refused(&action_alone, "recovery_target_action", "only applies");
        for target in [
            None,
            Some(RecoveryTarget::Immediate),
            Some(RecoveryTarget::Name("rp".to_owned())),
        ] {
            let exclusive = RecoverySettings {
                target,
                inclusive: false,
                ..RecoverySettings::new(FETCH)
            };
            refused(&exclusive, "recovery_target_inclusive", "time, LSN or xid");
        }
        refused(
            &settings(RecoveryTarget::Lsn(Lsn::INVALID)),
            "recovery_target_lsn",
            "0/0",
        );
        for xid in [0, 1, 2, 1 << 32, (7 << 32) + 2] {
            refused(
                &settings(RecoveryTarget::Xid(xid)),
                "recovery_target_xid",
                "reserved",
            );
        }
        refused(
            &settings(RecoveryTarget::Name(String::new())),
            "recovery_target_name",
            "empty",
        );
        refused(
            &settings(RecoveryTarget::Name("x".repeat(64))),
            "recovery_target_name",
            "at most 63",
        );
        refused(
            &settings(RecoveryTarget::Name("a\0b".to_owned())),
            "recovery_target_name",
            "NUL",
        );
        let timeline_zero = RecoverySettings {
            timeline: Some(TargetTimeline::Id(TimelineId(0))),
            ..RecoverySettings::new(FETCH)
        };
        refused(&timeline_zero, "recovery_target_timeline", "timeline 0");
    }

    #[test]
    fn restore_commands_must_fetch_something_somewhere() {
        for (command, words) in [
            ("", "empty"),
            ("   ", "empty"),
            ("walden wal-fetch %f", "%p"),
            ("cp /arch/x %p", "%f"),
            ("cp /arch/%%f %%p", "%f"),
            ("cp %f %p\nrm -rf /", "one line"),
            ("cp %f %p\0", "one line"),
        ] {
            refused(&RecoverySettings::new(command), "restore_command", words);
        }
    }

    #[test]
    fn xids_are_decimal() {
        assert_eq!(parse_xid("7431"), Ok(7431));
        assert_eq!(parse_xid("3"), Ok(3));
        assert_eq!(parse_xid("21474843911"), Ok(21_474_843_911));
        for bad in [
            "",
            "0",
            "1",
            "2",
            "4294967296",
            "-5",
            "+5",
            "0x10",
            "12a",
            " 12",
            "18446744073709551616",
        ] {
            assert_eq!(
                parse_xid(bad),
                Err(RecoveryError::Xid {
                    input: bad.to_owned()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn target_actions_parse_and_print() {
        for (text, action) in [
            ("pause", TargetAction::Pause),
            ("promote", TargetAction::Promote),
            ("shutdown", TargetAction::Shutdown),
            ("PROMOTE", TargetAction::Promote),
        ] {
            assert_eq!(text.parse::<TargetAction>(), Ok(action));
            assert_eq!(action.to_string(), text.to_ascii_lowercase());
        }
        for bad in ["", "stop", "promote ", "resume"] {
            let err = bad.parse::<TargetAction>().unwrap_err();
            assert!(
                err.to_string().contains("pause, promote, shutdown"),
                "{err}"
            );
        }
    }

    #[test]
    fn target_timelines_parse_and_print() {
        for (text, timeline, written) in [
            ("latest", TargetTimeline::Latest, "latest"),
            ("LATEST", TargetTimeline::Latest, "latest"),
            ("current", TargetTimeline::Current, "current"),
            ("1", TargetTimeline::Id(TimelineId(1)), "1"),
            ("16", TargetTimeline::Id(TimelineId(16)), "16"),
            ("0x10", TargetTimeline::Id(TimelineId(16)), "16"),
            ("0XaB", TargetTimeline::Id(TimelineId(0xAB)), "171"),
            (
                "4294967295",
                TargetTimeline::Id(TimelineId(u32::MAX)),
                "4294967295",
            ),
        ] {
            let parsed: TargetTimeline = text.parse().unwrap();
            assert_eq!(parsed, timeline, "{text}");
            assert_eq!(parsed.to_string(), written);
        }
        for bad in [
            "",
            "0",
            "00000010",
            "010",
            "0x",
            "0x0",
            "-1",
            "+2",
            "1.5",
            "two",
            "4294967296",
            "0x100000000",
            " 2",
            "newest",
        ] {
            let err = bad.parse::<TargetTimeline>().unwrap_err();
            assert_eq!(
                err,
                RecoveryError::Timeline {
                    input: bad.to_owned()
                }
            );
        }
    }
}

/// The written lines as PostgreSQL itself reads them (`postgres -C`, which
/// loads the configuration and runs every setting's checks without starting
/// a server).
#[cfg(test)]
mod server_tests {
    use super::*;
    use crate::pg::control::pg_test_support::{pg_bin_or_skip, Scratch};

    /// Writes `auto_conf` as postgresql.auto.conf and asks for `name`.
    fn show(scratch: &Scratch, auto_conf: &str, name: &str) -> Result<String, String> {
        std::fs::write(scratch.server.data.join("postgresql.auto.conf"), auto_conf).unwrap();
        let out = scratch
            .run_as
            .command(scratch.server.bin.program("postgres"))
            .arg("-D")
            .arg(&scratch.server.data)
            .args(["-C", name])
            .output()
            .unwrap();
        if out.status.success() {
            let text = String::from_utf8(out.stdout).unwrap();
            Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    #[test]
    fn postgres_reads_back_what_was_written() {
        let Some(bin) = pg_bin_or_skip("postgres_reads_back_what_was_written") else {
            return;
        };
        let scratch = Scratch::initdb(bin);

        let command = r#"sh -c 'cp "/arch/it'"'"'s/%f" "%p"' # C:\temp\x 100%% \n"#;
        let restore = RecoverySettings::new(command);
        validate(&restore).unwrap();
        let text = restore.conf_lines();
        assert_eq!(show(&scratch, &text, "restore_command").unwrap(), command);

        let name = "Bob's \\ point";
        let targets = [
            (RecoveryTarget::Immediate, "recovery_target", "immediate"),
            (
                RecoveryTarget::Lsn("16/B374D848".parse().unwrap()),
                "recovery_target_lsn",
                "16/B374D848",
            ),
            (
                RecoveryTarget::Xid((5 << 32) + 7431),
                "recovery_target_xid",
                "21474843911",
            ),
            (
                RecoveryTarget::Name(name.to_owned()),
                "recovery_target_name",
                name,
            ),
            (
                RecoveryTarget::Time(parse_target_time("2026-11-24 10:00:00.5-03:30").unwrap()),
                "recovery_target_time",
                "2026-11-24 10:00:00.500000-03:30",
            ),
        ];
        for (target, setting, value) in targets {
            let restore = RecoverySettings {
                target: Some(target),
                action: Some(TargetAction::Promote),
                timeline: Some(TargetTimeline::Id(TimelineId(2))),
                ..RecoverySettings::new(command)
            };
            validate(&restore).unwrap();
            let text = restore.conf_lines();
            assert_eq!(show(&scratch, &text, setting).as_deref(), Ok(value));
            assert_eq!(
                show(&scratch, &text, "recovery_target_action").as_deref(),
                Ok("promote")
            );
            assert_eq!(
                show(&scratch, &text, "recovery_target_timeline").as_deref(),
                Ok("2")
            );
        }
    }

    #[test]
    fn postgres_reads_back_the_streaming_settings() {
        let Some(bin) = pg_bin_or_skip("postgres_reads_back_the_streaming_settings") else {
            return;
        };
        let scratch = Scratch::initdb(bin);
        let conninfo =
            r#"host=/run/pg port=5433 user=rep password='it\'s \\ "x"' application_name=replica_1"#;
        let restore = RecoverySettings {
            standby: true,
            primary_conninfo: Some(crate::pg::conninfo::Conninfo::parse(conninfo).unwrap()),
            primary_slot_name: Some("s1".to_owned()),
            ..RecoverySettings::new("walden wal-fetch %f %p")
        };
        validate(&restore).unwrap();
        let text = restore.conf_lines();
        assert_eq!(
            show(&scratch, &text, "primary_conninfo").as_deref(),
            Ok(conninfo)
        );
        assert_eq!(
            show(&scratch, &text, "primary_slot_name").as_deref(),
            Ok("s1")
        );
    }

    #[test]
    fn a_restore_overrides_the_targets_of_an_earlier_one() {
        let Some(bin) = pg_bin_or_skip("a_restore_overrides_the_targets_of_an_earlier_one") else {
            return;
        };
        let scratch = Scratch::initdb(bin);
        // A backup of a cluster that walden once restored to a restore point.
        let earlier = RecoverySettings {
            target: Some(RecoveryTarget::Name("old-point".to_owned())),
            action: Some(TargetAction::Promote),
            ..RecoverySettings::new("walden wal-fetch %f %p")
        }
        .conf_lines();
        let time = parse_target_time("2026-11-24 10:00:00+00").unwrap();

        // Naively adding the new target: PostgreSQL refuses to start.
        let naive = format!("{earlier}recovery_target_time = '2026-11-24 10:00:00+00'\n");
        let err = show(&scratch, &naive, "recovery_target_time").unwrap_err();
        assert!(err.contains("multiple recovery targets"), "{err}");

        let now = RecoverySettings {
            target: Some(RecoveryTarget::Time(time)),
            ..RecoverySettings::new("walden wal-fetch %f %p")
        };
        let both = format!("{earlier}{}", now.conf_lines());
        assert_eq!(
            show(&scratch, &both, "recovery_target_time").as_deref(),
            Ok("2026-11-24 10:00:00+00:00")
        );
        assert_eq!(
            show(&scratch, &both, "recovery_target_name").as_deref(),
            Ok("")
        );
        assert_eq!(
            show(&scratch, &both, "recovery_target_action").as_deref(),
            Ok("pause")
        );

        // And back again, with no target at all.
        let none = format!(
            "{both}{}",
            RecoverySettings::new("walden wal-fetch %f %p").conf_lines()
        );
        for name in TARGET_SETTINGS {
            assert_eq!(show(&scratch, &none, name).as_deref(), Ok(""), "{name}");
        }
    }
}
