//! backup-push says what it waits for before a spread checkpoint, and its summary's phases and stored size are the figures backup-list shows. Real PostgreSQL.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use walden::commands::progress::{human_bytes, human_seconds};

use support::site::*;

/// The value of `key` in a logfmt line (`key=value` or `key="…"`).
fn logfmt_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()
    } else {
        rest.split(' ').next()
    }
}

fn number(line: &str, key: &str) -> u64 {
    logfmt_field(line, key)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap_or_else(|e| panic!("{key} in {line}: {e}"))
}

fn millis(json: &serde_json::Value, key: &str) -> u64 {
    let seconds = json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    (seconds * 1000.0).round() as u64
}

#[test]
fn spread_checkpoint_is_announced_and_push_and_list_agree() {
    let Some(site) = Site::new("spread_checkpoint_is_announced") else {
        return;
    };
    // The shortest checkpoint_timeout PostgreSQL takes: a spread checkpoint
    // may last up to 27 s, but ends sooner with little to write (at most
    // 100 ms of pause per dirty buffer).
    site.primary
        .sql("ALTER SYSTEM SET checkpoint_timeout = '30s'");
    site.primary
        .sql("ALTER SYSTEM SET checkpoint_completion_target = 0.9");
    site.primary.sql("SELECT pg_reload_conf()");
    // A clean slate (and a fresh checkpoint_timeout), then some dirty
    // buffers so that the backup's checkpoint has seconds of work.
    site.primary.sql("CHECKPOINT");
    site.primary
        .sql("INSERT INTO t SELECT g, 0 FROM generate_series(1000000, 1003999) g");

    let mut cmd = site.command(&site.repo);
    // The default checkpoint: spread.
    cmd.args(["--log-format", "logfmt", "backup-push"])
        .args(site.primary_args())
        .args(["--max-rate", "50MB/s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Each stderr line with when it arrived: the notice must come before
    // the wait, not with the summary at the end.
    let stderr_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr_pipe)
            .lines()
            .map(|line| (Instant::now(), line.unwrap()))
            .collect::<Vec<_>>()
    });
    let out = child.wait_with_output().unwrap();
    let ended = Instant::now();
    let lines = reader.join().unwrap();
    let all_stderr: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "backup-push: {all_stderr}\n{stdout}");

    let (noticed, notice) = lines
        .iter()
        .find(|(_, l)| l.contains("waiting for PostgreSQL's spread checkpoint"))
        .unwrap_or_else(|| panic!("no notice of the spread checkpoint:\n{all_stderr}"));
    assert!(
        notice.contains("--checkpoint fast"),
        "names the way out: {notice}"
    );
    // 30 s × 0.9, read from the server.
    assert!(notice.contains("up to about 27 s"), "{notice}");
    // A structured line a machine can parse.
    assert_eq!(
        logfmt_field(notice, "phase"),
        Some("checkpoint"),
        "{notice}"
    );
    assert_eq!(logfmt_field(notice, "estimate_s"), Some("27"), "{notice}");
    let started = lines
        .iter()
        .position(|(_, l)| l.contains("backup started"))
        .expect("backup started is logged");
    let notice_at = lines
        .iter()
        .position(|(_, l)| l.contains("spread checkpoint"))
        .unwrap();
    assert!(
        notice_at < started,
        "the notice precedes the checkpoint:\n{all_stderr}"
    );

    let (_, complete) = lines
        .iter()
        .find(|(_, l)| l.contains("msg=\"backup complete\""))
        .unwrap_or_else(|| panic!("no backup complete line:\n{all_stderr}"));
    let checkpoint_ms = number(complete, "checkpoint_ms");
    let copy_ms = number(complete, "copy_ms");
    let wal_wait_ms = number(complete, "wal_wait_ms");
    let total_ms = number(complete, "total_ms");
    let stored_bytes = number(complete, "stored_bytes");
    let bytes = number(complete, "bytes");
    assert_eq!(
        checkpoint_ms + copy_ms + wal_wait_ms,
        total_ms,
        "{complete}"
    );
    // The checkpoint really was spread (seconds, not the milliseconds of a
    // fast one), and the notice came before it started, not after.
    assert!(
        checkpoint_ms >= 1000,
        "a spread checkpoint with dirty buffers takes seconds: {complete}"
    );
    assert!(
        ended.duration_since(*noticed) >= Duration::from_millis(checkpoint_ms),
        "notice printed {:?} before the end, the checkpoint took {checkpoint_ms} ms",
        ended.duration_since(*noticed)
    );

    // backup-list shows the same durations and stored size.
    let list = site.walden(&["backup-list", "--json"]);
    assert_ok(&list, "backup-list --json");
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let backup = &listed[0];
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        millis(backup, "checkpoint_seconds"),
        checkpoint_ms,
        "{backup}"
    );
    assert_eq!(millis(backup, "copy_seconds"), copy_ms, "{backup}");
    assert_eq!(millis(backup, "wal_wait_seconds"), wal_wait_ms, "{backup}");
    assert_eq!(millis(backup, "total_seconds"), total_ms, "{backup}");
    assert_eq!(
        backup["duration_seconds"].as_u64(),
        Some((total_ms + 500) / 1000),
        "{backup}"
    );
    assert_eq!(
        backup["stored_bytes"].as_u64(),
        Some(stored_bytes),
        "{backup}"
    );
    assert_eq!(backup["bytes"].as_u64(), Some(bytes), "{backup}");

    // The summary line prints those figures, and its rate is the copy's.
    let summary = stdout
        .lines()
        .find(|l| l.contains("complete:"))
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    eprintln!("{notice}\n{summary}");
    let expected = format!(
        "{} (checkpoint {}, copy {}, WAL wait {})",
        human_seconds(total_ms),
        human_seconds(checkpoint_ms),
        human_seconds(copy_ms),
        human_seconds(wal_wait_ms)
    );
    assert!(summary.contains(&expected), "{expected:?} in {summary}");
    assert!(
        summary.contains(&format!("{} stored", human_bytes(stored_bytes))),
        "{summary}"
    );
    let rate = bytes as f64 * 1000.0 / copy_ms as f64;
    assert!(
        summary.contains(&format!("copy rate {}/s", human_bytes(rate as u64))),
        "{summary}"
    );

    // And so does the table.
    let table = site.walden(&["backup-list"]);
    assert_ok(&table, "backup-list");
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    for figure in [
        human_seconds(total_ms),
        human_seconds(checkpoint_ms),
        human_seconds(copy_ms),
        human_bytes(stored_bytes),
    ] {
        assert!(table.contains(&figure), "{figure} in\n{table}");
    }
}
