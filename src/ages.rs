//! Ages as operators type them (`26h`, `7days`, `90m`) and warning/critical age thresholds (`26h,52h`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A non-negative span of time, parsed with humantime (`26h`, `7d`, `1h 30m`, `0s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Age(pub Duration);

impl FromStr for Age {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "0" {
            return Ok(Age(Duration::ZERO));
        }
        humantime::parse_duration(s)
            .map(Age)
            .map_err(|e| format!("{s:?} is not an age ({e}); write it like 90m, 26h or 7d"))
    }
}

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// An age in one short unit for messages: `45s`, `10m`, `26h`, `9d`. A
/// negative age (a clock in the past) reads `0s`.
pub fn short(age: chrono::Duration) -> String {
    let secs = age.num_seconds().max(0);
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

impl Age {
    pub fn as_chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

/// Older than `warning` is a warning, older than `critical` is critical
/// (Nagios style). Written `WARN` (critical is twice that) or `WARN,CRIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeThreshold {
    pub warning: Age,
    pub critical: Age,
}

/// How an age compares with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Critical,
}

impl AgeThreshold {
    pub fn judge(&self, age: chrono::Duration) -> Severity {
        if age > self.critical.as_chrono() {
            Severity::Critical
        } else if age > self.warning.as_chrono() {
            Severity::Warning
        } else {
            Severity::Ok
        }
    }
}

impl FromStr for AgeThreshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (warning, critical) = match s.split_once(',') {
            Some((w, c)) => (w.parse::<Age>()?, c.parse::<Age>()?),
            None => {
                let w: Age = s.parse()?;
                (w, Age(w.0.saturating_mul(2)))
            }
        };
        if critical < warning {
            return Err(format!(
                "{s:?}: the critical age ({critical}) is below the warning age ({warning}); write WARN,CRIT"
            ));
        }
        Ok(AgeThreshold { warning, critical })
    }
}

impl fmt::Display for AgeThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.warning, self.critical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_as_operators_write_them() {
        assert_eq!(
            "26h".parse::<Age>().unwrap().0,
            Duration::from_secs(26 * 3600)
        );
        assert_eq!(
            "7d".parse::<Age>().unwrap().0,
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(
            "1h 30m".parse::<Age>().unwrap().0,
            Duration::from_secs(5400)
        );
        assert_eq!("0".parse::<Age>().unwrap().0, Duration::ZERO);
        let err = "soon".parse::<Age>().unwrap_err();
        assert!(err.contains("26h"), "{err}");
        assert!("-5m".parse::<Age>().is_err());
    }

    #[test]
    fn thresholds_default_critical_to_twice_the_warning() {
        let t: AgeThreshold = "26h".parse().unwrap();
        assert_eq!(t.critical.0, Duration::from_secs(52 * 3600));
        let t: AgeThreshold = "1h,3h".parse().unwrap();
        assert_eq!(t.judge(chrono::Duration::minutes(59)), Severity::Ok);
        assert_eq!(t.judge(chrono::Duration::minutes(61)), Severity::Warning);
        assert_eq!(t.judge(chrono::Duration::hours(4)), Severity::Critical);
        // A clock in the past makes ages negative: that is fresh, not stale.
        assert_eq!(t.judge(chrono::Duration::hours(-4)), Severity::Ok);
        assert!("3h,1h"
            .parse::<AgeThreshold>()
            .unwrap_err()
            .contains("below"));
    }
}
