//! Prometheus text exposition for node_exporter's textfile collector: rendering, and writing the file atomically.
//!
//! The format is Prometheus' text exposition format 0.0.4: `# HELP` and
//! `# TYPE` lines, then one line per sample, no timestamps (the collector
//! stamps samples with the scrape time, and staleness is judged from the
//! file's mtime through `node_textfile_mtime_seconds`).

use std::fmt::Write as _;
use std::fs::{File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// How Prometheus should treat a metric's samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A value that can go up and down: timestamps, counts of things now.
    Gauge,
    /// A value that only goes up, except on a reset.
    Counter,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        }
    }
}

/// One metric family: its name, help text, type and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    pub samples: Vec<Sample>,
}

/// One sample of a metric: its labels, in the order they are written, and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Metric {
    /// A gauge with one unlabelled sample.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Metric {
        Metric {
            name,
            help,
            kind: MetricKind::Gauge,
            samples: vec![Sample {
                labels: Vec::new(),
                value,
            }],
        }
    }
}

/// Renders metrics in the text exposition format, ending with a newline.
///
/// A metric with an empty help text gets no `# HELP` line. Metric and label
/// names are the program's own constants: they are checked in debug builds only.
pub fn render(metrics: &[Metric]) -> String {
    let mut out = String::new();
    for metric in metrics {
        debug_assert!(
            is_metric_name(metric.name),
            "bad metric name {:?}",
            metric.name
        );
        if !metric.help.is_empty() {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {} {}", metric.name, escape_help(metric.help));
        }
        let _ = writeln!(out, "# TYPE {} {}", metric.name, metric.kind.as_str());
        for sample in &metric.samples {
            out.push_str(metric.name);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (name, value)) in sample.labels.iter().enumerate() {
                    debug_assert!(is_label_name(name), "bad label name {name:?}");
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{name}=\"{}\"", escape_label_value(value));
                }
                out.push('}');
            }
            out.push(' ');
            out.push_str(&format_value(sample.value));
            out.push('\n');
        }
    }
    out
}

/// Writes `text` to `path` so that node_exporter never reads a half-written file:
/// a temporary file in the same directory (hidden and not ending in `.prom`, so
/// the collector skips it), fsynced, made world-readable (node_exporter usually
/// runs as another user), renamed over `path`, then the directory fsynced so
/// the rename survives a crash. The temporary file is removed on failure.
pub fn write_textfile(path: &Path, text: &str) -> io::Result<()> {
    let context = |what: &str, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("cannot write metrics file {}: {what}: {e}", path.display()),
        )
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| context("no file name", io::Error::from(io::ErrorKind::InvalidInput)))?
        .to_string_lossy();

    // Dropping `tmp` on any early return below deletes the temporary file.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| context("creating a temporary file", e))?;
    tmp.write_all(text.as_bytes())
        .map_err(|e| context("writing the temporary file", e))?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(0o644))
        .map_err(|e| context("setting the temporary file's mode", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| context("syncing the temporary file", e))?;
    // On failure the PersistError holds the temporary file, deleted as it drops.
    tmp.persist(path)
        .map_err(|e| context("renaming the temporary file into place", e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context("syncing the directory", e))?;
    Ok(())
}

/// Help text escapes: backslash and newline.
fn escape_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Label value escapes: backslash, double quote and newline.
fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A value as Go's `strconv.ParseFloat` (and so Prometheus) reads it: `NaN`,
/// `+Inf`, `-Inf`; whole numbers without a fraction (timestamps, byte counts);
/// others in Rust's shortest round-trip form, which uses an exponent for very
/// large or small magnitudes (`1e-7`, `1.5e300`).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Exact: every whole number below 2^53 is an i64 and an f64.
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;

    fn labelled(labels: Vec<(&'static str, String)>, value: f64) -> Sample {
        Sample { labels, value }
    }

    #[test]
    fn renders_a_small_case_exactly() {
        let metrics = [
            Metric::gauge(
                "walden_last_backup_timestamp_seconds",
                "Unix time the newest base backup finished.",
                1_700_000_000.0,
            ),
            Metric {
                name: "walden_uploads_total",
                help: "Objects uploaded.",
                kind: MetricKind::Counter,
                samples: vec![
                    labelled(vec![("kind", "wal".into())], 12.0),
                    labelled(vec![("kind", "backup".into()), ("repo", "s3".into())], 0.5),
                ],
            },
        ];
        assert_eq!(
            render(&metrics),
            "# HELP walden_last_backup_timestamp_seconds Unix time the newest base backup finished.\n\
             # TYPE walden_last_backup_timestamp_seconds gauge\n\
             walden_last_backup_timestamp_seconds 1700000000\n\
             # HELP walden_uploads_total Objects uploaded.\n\
             # TYPE walden_uploads_total counter\n\
             walden_uploads_total{kind=\"wal\"} 12\n\
             walden_uploads_total{kind=\"backup\",repo=\"s3\"} 0.5\n"
        );
    }

    #[test]
    fn empty_input_renders_nothing_and_empty_help_has_no_help_line() {
        assert_eq!(render(&[]), "");
        assert_eq!(
            render(&[Metric::gauge("walden_status", "", 2.0)]),
            "# TYPE walden_status gauge\nwalden_status 2\n"
        );
    }

    #[test]
    fn escapes_help_and_label_values() {
        let metric = Metric {
            name: "m",
            help: "back\\slash \"quotes\" stay\nnew line",
            kind: MetricKind::Gauge,
            samples: vec![labelled(vec![("path", "C:\\dir \"x\"\nend".into())], 1.0)],
        };
        assert_eq!(
            render(&[metric]),
            "# HELP m back\\\\slash \"quotes\" stay\\nnew line\n\
             # TYPE m gauge\n\
             m{path=\"C:\\\\dir \\\"x\\\"\\nend\"} 1\n"
        );
    }

    #[test]
    fn formats_special_and_extreme_floats() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(-0.0), "0");
        assert_eq!(format_value(-3.0), "-3");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(1e-7), "1e-7");
        assert_eq!(format_value(1.5e300), "1.5e300");
        assert_eq!(format_value(f64::MAX), "1.7976931348623157e308");
        // Every rendering parses back to the same value.
        for v in [0.1, -2.5e-12, 123456.789, 1e15, 9.007199254740993e15, 1e21] {
            assert_eq!(format_value(v).parse::<f64>().unwrap(), v, "{v}");
        }
    }

    fn parse(text: &str) -> prometheus_parse::Scrape {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        prometheus_parse::Scrape::parse(lines).unwrap()
    }

    #[test]
    fn prometheus_parser_reads_back_values_labels_and_types() {
        use prometheus_parse::Value;
        let metrics = [
            Metric::gauge(
                "walden_backup_count",
                "Base backups in the repository.",
                7.0,
            ),
            Metric::gauge(
                "walden_last_drill_rto_seconds",
                "Drill restore time.",
                93.25,
            ),
            Metric::gauge("walden_repo_bytes", "Bytes stored.", 1.5e12),
            Metric::gauge("walden_nan", "Not a number.", f64::NAN),
            Metric {
                name: "walden_limits",
                help: "Infinities.",
                kind: MetricKind::Gauge,
                samples: vec![
                    labelled(vec![("side", "up".into())], f64::INFINITY),
                    labelled(vec![("side", "down".into())], f64::NEG_INFINITY),
                ],
            },
            Metric {
                name: "walden_pushes_total",
                help: "Pushes.",
                kind: MetricKind::Counter,
                samples: vec![labelled(
                    vec![
                        ("kind", "wal".into()),
                        ("repo", "s3://bucket/prefix".into()),
                    ],
                    42.0,
                )],
            },
        ];
        let scrape = parse(&render(&metrics));
        assert_eq!(scrape.samples.len(), 7);
        assert_eq!(
            scrape.docs.get("walden_backup_count").map(String::as_str),
            Some("Base backups in the repository.")
        );
        let find = |name: &str, label: Option<(&str, &str)>| {
            scrape
                .samples
                .iter()
                .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
                .unwrap_or_else(|| panic!("no sample {name} {label:?}"))
        };
        assert_eq!(find("walden_backup_count", None).value, Value::Gauge(7.0));
        assert_eq!(
            find("walden_last_drill_rto_seconds", None).value,
            Value::Gauge(93.25)
        );
        assert_eq!(find("walden_repo_bytes", None).value, Value::Gauge(1.5e12));
        assert!(matches!(find("walden_nan", None).value, Value::Gauge(v) if v.is_nan()));
        assert_eq!(
            find("walden_limits", Some(("side", "up"))).value,
            Value::Gauge(f64::INFINITY)
        );
        assert_eq!(
            find("walden_limits", Some(("side", "down"))).value,
            Value::Gauge(f64::NEG_INFINITY)
        );
        let pushes = find("walden_pushes_total", None);
        assert_eq!(pushes.value, Value::Counter(42.0));
        assert_eq!(pushes.labels.get("kind"), Some("wal"));
        assert_eq!(pushes.labels.get("repo"), Some("s3://bucket/prefix"));
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_textfile_creates_a_world_readable_file_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("walden.prom");
        let text = render(&[Metric::gauge("walden_status", "Overall status.", 0.0)]);
        write_textfile(&path, &text).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(dir_entries(dir.path()), ["walden.prom"]);
    }

    #[test]
    fn write_textfile_replaces_by_rename_not_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("walden.prom");
        fs::write(&path, "old\n").unwrap();
        // A reader that opened the old file (node_exporter mid-scrape) keeps
        // seeing the old, whole content: the file was replaced, not rewritten.
        let mut reader = File::open(&path).unwrap();
        write_textfile(&path, "new\n").unwrap();
        let mut old = String::new();
        reader.read_to_string(&mut old).unwrap();
        assert_eq!(old, "old\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(dir_entries(dir.path()), ["walden.prom"]);
        // The replaced file is 0644 even if the old one was not.
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn write_textfile_error_names_the_path_when_the_directory_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("walden.prom");
        let err = write_textfile(&path, "x 1\n").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn write_textfile_removes_the_temporary_file_when_the_rename_fails() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory where the file should be: the rename fails.
        let path = dir.path().join("walden.prom");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "").unwrap();
        let err = write_textfile(&path, "x 1\n").unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(dir_entries(dir.path()), ["walden.prom"]);
    }
}
