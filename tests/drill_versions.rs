//! drill with server programs of another PostgreSQL major version than the backup's: refused before anything is restored or recorded.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use support::site::Site;
use support::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bin directory whose `postgres --version` claims `version`: enough for
/// the version check, which must refuse it before anything would start.
fn fake_bin(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, script) in [
        ("initdb", "#!/bin/sh\nexit 1\n".to_string()),
        ("pg_ctl", "#!/bin/sh\nexit 1\n".to_string()),
        (
            "postgres",
            format!("#!/bin/sh\necho 'postgres (PostgreSQL) {version}'\n"),
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// The drill was refused as a usage error naming both versions and
/// --pg-bin, restored nothing and recorded nothing.
fn assert_refused(site: &Site, out: &Output, work: &Path, backup_major: &str, bin_major: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}\n{}", stdout(out));
    for part in [
        format!("PostgreSQL {backup_major}"),
        format!("PostgreSQL {bin_major}"),
        "--pg-bin".to_string(),
    ] {
        assert!(err.contains(&part), "{part}: {err}");
    }
    assert!(!stdout(out).contains("restoring backup"), "{}", stdout(out));
    let left: Vec<_> = std::fs::read_dir(work).unwrap().collect();
    assert!(left.is_empty(), "the drill left {left:?} in its work dir");
    assert!(
        site.repo.keys("drills").is_empty(),
        "a refused drill is not a failed drill: {:?}",
        site.repo.keys("drills")
    );
}

#[test]
fn drill_refuses_server_programs_of_another_major_before_restoring() {
    let Some(site) = Site::new("drill_other_major") else {
        return;
    };
    site.batch(1);
    let out = site.backup(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let work = site.scratch.pg_dir("drills");
    let work_arg = work.display().to_string();

    // --pg-bin naming PostgreSQL 16's programs for a PostgreSQL 15 backup.
    let fake = site.scratch.path().join("pg16/bin");
    fake_bin(&fake, "16.4");
    let out = site.walden(&[
        "drill",
        "latest",
        "--pg-bin",
        &fake.display().to_string(),
        "--work-dir",
        &work_arg,
    ]);
    assert_refused(&site, &out, &work, "15", "16");

    // Without --pg-bin, a backup of a major that is not installed: the
    // search finds PostgreSQL 15, which must not be used for it.
    if Path::new("/usr/lib/postgresql/16/bin/postgres").exists() {
        eprintln!("PostgreSQL 16 is installed: the default-search half does not apply");
        return;
    }
    let backups = site.repo.keys("backups");
    assert_eq!(backups.len(), 1, "{backups:?}");
    let manifest = Path::new(&site.repo.url).join(format!("backups/{}/manifest.json", backups[0]));
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("\"pg_version\": 15,"), "{text}");
    std::fs::write(
        &manifest,
        text.replace("\"pg_version\": 15,", "\"pg_version\": 16,"),
    )
    .unwrap();
    let out = site.walden(&["drill", "latest", "--work-dir", &work_arg]);
    assert_refused(&site, &out, &work, "16", "15");
    assert!(
        stderr(&out).contains("install PostgreSQL 16"),
        "{}",
        stderr(&out)
    );
}
