//! `check` and `info` against a real PostgreSQL 15 archiving through walden: every check passing on a good setup, failing on broken archiving, a foreign repository and a wrong key; the recoverable window after backups and archived WAL.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::site::*;
use support::*;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line of `check`'s text output for `name`.
fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no {name} line in:\n{text}"))
}

fn age_key(dir: &Path, name: &str) -> (String, PathBuf) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    (identity.to_public().to_string(), path)
}

#[test]
fn check_passes_on_a_good_setup_and_fails_on_broken_archiving_or_a_foreign_repository() {
    let Some(site) = Site::new("check_passes_on_a_good_setup") else {
        return;
    };
    let sock = site.primary.socket_dir.display().to_string();
    let server = ["--pg-host", sock.as_str(), "--pg-user", "postgres"];

    // Without connection options: the repository checks run, the server's are skipped.
    let out = site.walden(&["check"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    assert!(line(&text, "config").starts_with("PASS"), "{text}");
    assert!(line(&text, "repository").starts_with("PASS"), "{text}");
    assert!(line(&text, "repository").contains("empty"), "{text}");
    assert!(line(&text, "keys").starts_with("SKIP"), "{text}");
    for name in ["server", "identity", "archive"] {
        assert!(line(&text, name).starts_with("SKIP"), "{text}");
        assert!(line(&text, name).contains("--pg-host"), "{text}");
    }
    // The probe was deleted.
    assert_eq!(site.repo.keys("check"), Vec::<String>::new());

    // With the server, --init records the identity and a segment goes through archive_command.
    let mut args = vec!["check", "--init"];
    args.extend(server);
    let out = site.walden(&args);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    for name in ["config", "repository", "server", "identity", "archive"] {
        assert!(line(&text, name).starts_with("PASS"), "{name}: {text}");
    }
    assert!(line(&text, "identity").contains("recorded"), "{text}");
    let identity: Value =
        serde_json::from_slice(&std::fs::read(site.repo.local_dir().join("walden.json")).unwrap())
            .unwrap();
    let sysid = site
        .primary
        .sql("SELECT system_identifier FROM pg_control_system()");
    assert_eq!(identity["system_identifier"], sysid.as_str());

    // JSON: the same checks; the switched segment is really in the repository.
    let mut args = vec!["check", "--json"];
    args.extend(server);
    let out = site.walden(&args);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let lines: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = lines.as_array().unwrap();
    let names: Vec<&str> = lines.iter().map(|l| l["check"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "config",
            "repository",
            "keys",
            "server",
            "identity",
            "archive"
        ]
    );
    let archive = lines.iter().find(|l| l["check"] == "archive").unwrap();
    assert_eq!(archive["result"], "PASS", "{archive}");
    assert_eq!(archive["fix"], Value::Null);
    let detail = archive["detail"].as_str().unwrap();
    let segment = detail
        .split_whitespace()
        .find(|w| w.len() == 24 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no segment named in {detail}"));
    assert!(
        site.repo
            .keys("wal/00000001")
            .iter()
            .any(|k| k.starts_with(segment)),
        "{segment} not in {:?}",
        site.repo.keys("wal/00000001")
    );

    // A repository that belongs to another cluster.
    let foreign_dir = site.scratch.pg_dir("foreign");
    std::fs::write(
        foreign_dir.join("walden.json"),
        r#"{"format":1,"system_identifier":"1234567890","pg_version":15,"wal_segment_size":16777216,"created":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let foreign = site
        .repo
        .clone()
        .with_url(&foreign_dir.display().to_string());
    let mut args = vec!["check", "--timeout", "3s"];
    args.extend(server);
    let out = site.walden_with(&foreign, &args);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    let identity = line(&text, "identity");
    assert!(identity.starts_with("FAIL"), "{text}");
    assert!(
        identity.contains("1234567890") && identity.contains(&sysid),
        "{text}"
    );
    assert!(text.contains("fix: point --repo"), "{text}");

    // archive_command archiving into another repository: the segment never arrives.
    let elsewhere = site.scratch.pg_dir("elsewhere");
    let other_command = format!(
        "{} wal-push --repo {} %p",
        site.walden.display(),
        elsewhere.display()
    );
    site.primary.sql(&format!(
        "ALTER SYSTEM SET archive_command = '{other_command}'"
    ));
    site.primary.sql("SELECT pg_reload_conf()");
    let out = site.walden(&args);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    let archive = line(&text, "archive");
    assert!(archive.starts_with("FAIL"), "{text}");
    assert!(archive.contains("did not reach"), "{text}");
    assert!(archive.contains(&elsewhere.display().to_string()), "{text}");
    assert!(line(&text, "identity").starts_with("PASS"), "{text}");

    // archive_command = false: the archiver's last failure is reported.
    site.primary
        .sql("ALTER SYSTEM SET archive_command = 'false'");
    site.primary.sql("SELECT pg_reload_conf()");
    let out = site.walden(&args);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    let archive = line(&text, "archive");
    assert!(archive.starts_with("FAIL"), "{text}");
    assert!(archive.contains("pg_stat_archiver"), "{text}");
    assert!(!archive.contains(" 0 failures"), "{text}");
    assert!(text.contains("fix: set archive_mode = on"), "{text}");
}

#[test]
fn check_fails_a_wrong_age_identity_and_refuses_a_bad_configuration() {
    let scratch = Scratch::new();
    let repo = scratch.path().join("repo");
    let repo = repo.display().to_string();
    let (recipient, identity) = age_key(scratch.path(), "right.txt");
    let (_, wrong) = age_key(scratch.path(), "wrong.txt");
    let check = |extra: &[&str]| {
        let mut cmd = walden();
        cmd.args(["check", "--repo", &repo, "--encrypt-recipient", &recipient])
            .args(extra);
        run(&mut cmd)
    };

    let out = check(&["--decrypt-identity", identity.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    assert!(line(&text, "keys").starts_with("PASS"), "{text}");

    let out = check(&["--decrypt-identity", wrong.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    let keys = line(&text, "keys");
    assert!(keys.starts_with("FAIL"), "{text}");
    assert!(keys.contains("cannot decrypt"), "{text}");
    assert!(text.contains("age-keygen -y"), "{text}");

    // A key file that is not a key: a configuration error, exit 2.
    let garbage = scratch.path().join("garbage.txt");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let out = check(&["--decrypt-identity", garbage.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(code(&out), 2, "{text}{}", stderr(&out));
    assert!(line(&text, "config").starts_with("FAIL"), "{text}");
    assert!(line(&text, "repository").starts_with("SKIP"), "{text}");

    // No repository at all.
    let out = run(walden().args(["check"]));
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("no repository given"),
        "{}",
        stdout(&out)
    );
}

/// `backup-list --json` entry of the only backup named `name`.
fn listed(site: &Site, name: &str) -> Value {
    let out = site.walden(&["backup-list", "--json"]);
    assert_ok(&out, "backup-list");
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .cloned()
        .unwrap()
}

fn backup_name(out: &std::process::Output) -> String {
    let text = stdout(out);
    text.split_whitespace()
        .find(|w| w.starts_with("base_"))
        .unwrap_or_else(|| panic!("no backup named in {text}"))
        .to_string()
}

fn newest_segment(site: &Site) -> String {
    site.repo
        .keys("wal/00000001")
        .into_iter()
        .filter(|k| k.len() >= 24 && !k.contains(".backup") && !k.contains(".partial"))
        .map(|k| k[..24].to_string())
        .max()
        .unwrap()
}

fn info_json(site: &Site) -> Value {
    let out = site.walden(&["info", "--json"]);
    assert_ok(&out, "info --json");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn info_shows_the_window_from_the_oldest_restorable_backup_to_the_newest_segment() {
    let Some(site) = Site::new("info_shows_the_window") else {
        return;
    };
    let out = site.backup(&[]);
    assert_ok(&out, "first backup");
    let first = backup_name(&out);
    site.batch(1);
    site.archive_everything();
    site.batch(2);
    site.archive_everything();

    let info = info_json(&site);
    let timelines = info["timelines"].as_array().unwrap();
    assert_eq!(timelines.len(), 1, "{info:#}");
    let t1 = &timelines[0];
    assert_eq!(t1["timeline"], 1);
    assert_eq!(t1["start"]["backup"], first.as_str(), "{info:#}");
    let manifest = listed(&site, &first);
    assert_eq!(t1["start"]["lsn"], manifest["stop_lsn"], "{info:#}");
    let newest = newest_segment(&site);
    assert_eq!(t1["end"]["segment"], newest.as_str(), "{info:#}");
    assert_eq!(t1["newest_segment"], newest.as_str(), "{info:#}");
    assert!(t1["end_archived_at"].is_string(), "{info:#}");
    assert_eq!(t1["gaps"], serde_json::json!([]));
    let backups = info["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0]["name"], first.as_str());
    assert_eq!(backups[0]["type"], "full");
    assert_eq!(backups[0]["timeline"], 1);
    assert!(backups[0]["age_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(backups[0]["stored_bytes"], manifest["stored_bytes"]);

    // A missing segment after the first backup cuts it off: the window
    // starts at the second backup, and the gap is named.
    let out = site.backup(&[]);
    assert_ok(&out, "second backup");
    let second = backup_name(&out);
    site.batch(3);
    site.archive_everything();
    let lost = listed(&site, &first)["stop_lsn"].clone();
    let lost_segment = site.primary.sql(&format!(
        "SELECT pg_walfile_name('{}'::pg_lsn + 16 * 1024 * 1024)",
        lost.as_str().unwrap()
    ));
    let key = site
        .repo
        .keys("wal/00000001")
        .into_iter()
        .find(|k| k.starts_with(&lost_segment) && !k.contains(".backup"))
        .unwrap();
    site.repo.delete(&format!("wal/00000001/{key}"));
    let info = info_json(&site);
    let t1 = &info["timelines"][0];
    assert_eq!(t1["start"]["backup"], second.as_str(), "{info:#}");
    assert_eq!(t1["end"]["segment"], newest_segment(&site).as_str());
    assert_eq!(t1["gaps"][0]["first"], lost_segment.as_str(), "{info:#}");

    let out = site.walden(&["info"]);
    assert_ok(&out, "info");
    let text = stdout(&out);
    assert!(text.contains("timeline 1: recoverable from"), "{text}");
    assert!(text.contains(&format!("gap: {lost_segment}")), "{text}");
    assert!(text.contains(&second) && text.contains("full"), "{text}");
}

#[test]
fn info_on_an_empty_or_missing_repository_is_an_error() {
    let scratch = Scratch::new();
    let empty = scratch.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for repo in [empty, scratch.path().join("missing")] {
        let out = run(walden().args(["info", "--repo", repo.to_str().unwrap()]));
        assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
        assert!(
            stderr(&out).contains("no walden repository at"),
            "{}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "");
    }
}
