//! Output for a person: a byte progress bar or a waiting phase on stderr when it is a TTY (logs carry the events otherwise), and sizes and durations in readable units.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

/// A byte counter that draws a bar with rate and ETA on a terminal.
#[derive(Clone)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for `total` bytes labelled `what`; hidden unless stderr is a terminal.
    pub fn bytes(total: u64, what: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Progress(Some(bar))
    }

    /// A spinner for a wait of unknown length (`what` says what for), with
    /// the time spent so far (the message is cut to the terminal's width, so
    /// that redraws do not wrap); hidden unless stderr is a terminal.
    pub fn phase(what: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                .expect("valid template"),
        );
        bar.set_message(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(Some(bar))
    }

    /// A callback that advances the bar, for code that knows nothing of terminals.
    pub fn counter(&self) -> Arc<dyn Fn(u64) + Send + Sync> {
        let bar = self.0.clone();
        Arc::new(move |n| {
            if let Some(bar) = &bar {
                bar.inc(n);
            }
        })
    }

    /// Adds `n` bytes to the bar's total, for work still being discovered.
    pub fn grow(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc_length(n);
        }
    }

    /// Advances the bar by `n` bytes.
    pub fn add(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// A measured duration for people, to a tenth of a second: "270.1 s".
/// Push's summary and backup-list print durations through this alone.
pub fn human_seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// An estimate for people, rounded to what matters: "27 s", "4 min 30 s",
/// "1 h 5 min".
pub fn human_duration(duration: std::time::Duration) -> String {
    let secs = duration.as_secs_f64().round() as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 if secs.is_multiple_of(60) => format!("{} min", secs / 60),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ if secs % 3600 / 60 == 0 => format!("{} h", secs / 3600),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// Bytes for people: 1.5 GiB.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_seconds(279_249), "279.2 s");
        assert_eq!(human_seconds(50), "0.1 s");
        assert_eq!(human_seconds(0), "0.0 s");
        assert_eq!(human_duration(Duration::from_secs_f64(27.4)), "27 s");
        assert_eq!(human_duration(Duration::from_secs(270)), "4 min 30 s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2 min");
        assert_eq!(human_duration(Duration::from_secs(3900)), "1 h 5 min");
        assert_eq!(human_duration(Duration::from_secs(7200)), "2 h");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(2_726_297), "2.6 MiB");
    }
}
