//! What restore writes for PostgreSQL, proved by starting a real PostgreSQL 15 on it: the backup's own settings kept byte for byte, and a restore_command that survives `%` in its paths.

mod support;

use std::time::Duration;

use support::site::*;
use support::*;

#[test]
fn a_non_utf8_postgresql_auto_conf_is_kept_byte_for_byte() {
    let Some(site) = Site::new("a_non_utf8_postgresql_auto_conf_is_kept") else {
        return;
    };
    // What ALTER SYSTEM writes on a LATIN1 server: not UTF-8.
    let auto_conf = site.primary.data.join("postgresql.auto.conf");
    let mut original = std::fs::read(&auto_conf).unwrap();
    original.extend_from_slice(b"# r\xe9glages de caf\xe9 (LATIN1)\nwork_mem = '7MB'\n");
    std::fs::write(&auto_conf, &original).unwrap();
    site.scratch.run_as.give(&auto_conf).unwrap();
    assert!(std::str::from_utf8(&original).is_err());
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    site.archive_everything();

    let (cluster, out) = site.restore("restored", &["latest"]);
    assert_ok(&out, "restore");
    let restored = std::fs::read(cluster.data.join("postgresql.auto.conf")).unwrap();
    assert!(
        restored.starts_with(&original),
        "the backup's postgresql.auto.conf was not kept: {}",
        String::from_utf8_lossy(&restored)
    );
    assert!(
        String::from_utf8_lossy(&restored[original.len()..]).contains("restore_command = "),
        "walden's settings follow"
    );
    cluster
        .configure(&[("archive_mode", "off".into())])
        .unwrap();
    cluster.start().unwrap();
    cluster
        .wait_until_promoted(Duration::from_secs(120))
        .unwrap();
    assert_eq!(cluster.sql("SHOW work_mem"), "7MB");
    assert_eq!(batches(&cluster), "1");
}

#[test]
fn percent_signs_in_the_repository_and_binary_paths_reach_wal_fetch_intact() {
    let Some(site) = Site::new("percent_signs_in_paths") else {
        return;
    };
    site.batch(1);
    assert_ok(&site.backup(&[]), "backup-push");
    site.batch(2);
    site.archive_everything();

    // The same repository and binary, under names PostgreSQL would expand.
    let repo = site.scratch.path().join("re%p%fpo%%x");
    std::os::unix::fs::symlink(site.repo.local_dir(), &repo).unwrap();
    let bin_dir = site.scratch.pg_dir("bin%f%r");
    let walden = bin_dir.join("walden");
    std::fs::copy(&site.walden, &walden).unwrap();

    let cluster = Cluster::new(&site.bin, &site.scratch, "restored");
    let mut cmd = site.scratch.run_as.command(&walden);
    cmd.current_dir(site.scratch.path())
        .args(["restore", "latest", "--repo"])
        .arg(&repo)
        .arg("--pgdata")
        .arg(&cluster.data);
    for (key, _) in std::env::vars() {
        if key.starts_with("WALDEN_") || key.starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().unwrap();
    assert_ok(&out, "restore");
    cluster
        .configure(&[("archive_mode", "off".into())])
        .unwrap();
    cluster.start().unwrap();
    cluster
        .wait_until_promoted(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.log_tail(40)));
    assert_eq!(batches(&cluster), "1,2", "every archived batch replayed");
}
