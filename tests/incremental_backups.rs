//! Incremental backups end to end on real PostgreSQL 17 and 18: a full backup over the network, then incrementals with changes between them (updates, a new table, a dropped table, a relation truncated in place and one truncated anew, a new tablespace), each restored from its chain to a point in time with exactly the right rows and clean amcheck; a missing middle link refused; `summarize_wal = off` and a server too old refused clearly; `--incremental-or-full` and `--max-chain` taking full backups; S3 and GCS repositories for one chain.

mod support;

use std::time::Duration;

use support::network::*;
use support::site::*;
use support::*;

/// A site on PostgreSQL `major` with WAL summaries on, serving the
/// replication user over TCP.
fn incremental_site(major: u32, kind: RepoKind, test: &str) -> Option<Site> {
    let bin = pg_bin_of_major(major, test)?;
    let mut site = Site::on(bin, kind, test, &[])?;
    site.primary
        .configure(&[("summarize_wal", "on".into())])
        .unwrap();
    create_repl_user(&site.primary, "scram-sha-256");
    serve_over_tcp(&mut site.primary, "scram-sha-256");
    Some(site)
}

fn push(site: &Site, repo: &TestRepo, extra: &[&str]) -> std::process::Output {
    network_backup(site, repo, &site.primary, extra)
        .output()
        .unwrap()
}

/// The complete backups as backup-list --json shows them, oldest first.
fn listed(site: &Site, repo: &TestRepo) -> Vec<serde_json::Value> {
    let out = site.walden_with(repo, &["backup-list", "--json"]);
    assert_ok(&out, "backup-list --json");
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn newest(site: &Site, repo: &TestRepo) -> String {
    listed(site, repo).last().unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// What the test compares between the primary and a restored cluster:
/// every table's rows, as one digest per table.
const STATE: &str = "SELECT string_agg(format('%s=%s', c.relname, \
     (xpath('/row/d/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) AS d FROM %I AS x', c.relname), false, true, '')))[1]::text), ' ' ORDER BY c.relname) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = 'public' AND c.relkind = 'r'";

/// Restores `name` with `args`, starts it, waits for promotion, checks
/// every index and table with amcheck, and returns the state.
fn restore_state(site: &Site, dir: &str, name: &str, args: &[&str]) -> String {
    let all = [&[name][..], args].concat();
    let cluster = site.restore_and_promote(dir, &all);
    let broken = cluster.sql(
        "CREATE EXTENSION IF NOT EXISTS amcheck; \
         SELECT count(*) FROM pg_class c, LATERAL verify_heapam(c.oid) \
           WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace",
    );
    assert_eq!(
        broken, "0",
        "restore {name} {args:?}: verify_heapam found corruption"
    );
    cluster.sql(
        "SELECT bt_index_check(c.oid, true) FROM pg_class c JOIN pg_am a ON a.oid = c.relam \
           WHERE c.relkind = 'i' AND a.amname = 'btree'",
    );
    let state = cluster.sql(STATE);
    cluster.stop().unwrap();
    state
}

fn chain_scenario(major: u32) {
    let test = format!("incremental_chain_pg{major}");
    let Some(site) = incremental_site(major, RepoKind::Local, &test) else {
        return;
    };
    let step = |what: &str| eprintln!("{test}: {what}");
    let db = &site.primary;
    db.sql(
        "CREATE TABLE updated (id int PRIMARY KEY, v int); \
         INSERT INTO updated SELECT g, 0 FROM generate_series(1, 20000) g; \
         CREATE TABLE dropped (id int); INSERT INTO dropped SELECT generate_series(1, 5000); \
         CREATE TABLE shrunk (id int, pad text); \
         INSERT INTO shrunk SELECT g, repeat('s', 300) FROM generate_series(1, 20000) g; \
         CREATE TABLE emptied (id int); INSERT INTO emptied SELECT generate_series(1, 5000)",
    );
    site.batch(1);

    step("full backup");
    assert_ok(&push(&site, &site.repo, &[]), &format!("{test}: full"));
    let full = newest(&site, &site.repo);

    step("changes, then an incremental backup");
    db.sql("UPDATE updated SET v = 1 WHERE id % 7 = 0");
    db.sql("CREATE TABLE added (id int PRIMARY KEY, pad text); INSERT INTO added SELECT g, 'a' FROM generate_series(1, 3000) g");
    db.sql("DROP TABLE dropped");
    // Truncated in place: VACUUM cuts the empty tail off the same file.
    db.sql("DELETE FROM shrunk WHERE id > 5000");
    db.sql("VACUUM shrunk");
    // Truncated anew: a new file.
    db.sql("TRUNCATE emptied; INSERT INTO emptied VALUES (42)");
    site.batch(2);
    let out = push(&site, &site.repo, &["--incremental"]);
    assert_ok(&out, &format!("{test}: first incremental"));
    let first = newest(&site, &site.repo);
    assert_ne!(first, full);
    let state_first = db.sql(STATE);

    step("a point between the incrementals");
    let between = site.batch(3);
    let state_between = db.sql(STATE);

    step("a new tablespace, more updates, a second incremental");
    let location = site.scratch.pg_dir("ts-incremental");
    db.sql(&format!(
        "CREATE TABLESPACE ts_inc LOCATION '{}'",
        location.display()
    ));
    db.sql("CREATE TABLE in_ts (id int) TABLESPACE ts_inc; INSERT INTO in_ts SELECT generate_series(1, 4000)");
    db.sql("UPDATE updated SET v = 2 WHERE id % 11 = 0");
    db.sql("INSERT INTO shrunk SELECT g, 'back' FROM generate_series(5001, 6000) g");
    site.batch(4);
    let out = push(&site, &site.repo, &["--incremental"]);
    assert_ok(&out, &format!("{test}: second incremental"));
    let second = newest(&site, &site.repo);
    site.batch(5);
    let state_end = db.sql(STATE);
    site.archive_everything();

    // The incrementals are much smaller than the full backup.
    let list = listed(&site, &site.repo);
    let bytes_of = |name: &str| {
        list.iter().find(|b| b["name"] == name).unwrap()["bytes"]
            .as_u64()
            .unwrap()
    };
    assert!(
        bytes_of(&first) * 2 < bytes_of(&full),
        "{test}: the first incremental holds {} bytes, the full backup {}",
        bytes_of(&first),
        bytes_of(&full)
    );

    let kinds: Vec<(String, u64, serde_json::Value)> = list
        .iter()
        .map(|b| {
            (
                b["type"].as_str().unwrap().to_owned(),
                b["chain_length"].as_u64().unwrap(),
                b["parent"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("full".into(), 1, serde_json::Value::Null),
            ("incremental".into(), 2, full.as_str().into()),
            ("incremental".into(), 3, first.as_str().into()),
        ],
        "{test}: backup-list --json"
    );

    step("restore the newest incremental to the end");
    let ts_target = site.scratch.pg_dir("ts-restored");
    let ts_oid = db.sql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts_inc'");
    let map = format!("{ts_oid}={}", ts_target.display());
    assert_eq!(
        restore_state(&site, "r-end", &second, &["--tablespace-map", &map]),
        state_end,
        "{test}: the newest incremental, to the end"
    );

    step("restore the first incremental to a point before the second");
    assert_eq!(
        restore_state(
            &site,
            "r-between",
            &first,
            &["--target-xid", &between, "--target-action", "promote"]
        ),
        state_between,
        "{test}: the first incremental, to the xid between"
    );
    assert_ne!(state_first, state_between);

    step("a missing middle link is refused by restore");
    site.repo.delete(&format!("backups/{first}/manifest.json"));
    let elsewhere = site.scratch.pg_dir("ts-broken");
    let map = format!("{ts_oid}={}", elsewhere.display());
    let (cluster, out) = site.restore("r-broken", &[&second, "--tablespace-map", &map]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{test}: restored a broken chain");
    assert!(
        err.contains(&first) && err.contains("chain is broken"),
        "{test}: {err}"
    );
    assert!(
        !cluster.data.join("recovery.signal").exists(),
        "{test}: a refused restore left a startable directory"
    );
    let out = site.walden(&["verify"]);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(code(&out), 1, "{test}: verify of a broken chain: {said}");
    assert!(
        said.contains(&second) && said.contains("cannot be restored"),
        "{test}: {said}"
    );

    step("summarize_wal off is a clear error, or a full backup when asked");
    db.sql("ALTER SYSTEM SET summarize_wal = off");
    db.sql("SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(300));
    let out = push(&site, &site.repo, &["--incremental"]);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "{test}: an incremental without summaries"
    );
    assert!(err.contains("summarize_wal is off"), "{test}: {err}");
    let before = listed(&site, &site.repo).len();
    let out = push(&site, &site.repo, &["--incremental-or-full"]);
    assert_ok(&out, &format!("{test}: --incremental-or-full"));
    assert!(
        stderr(&out).contains("taking a full backup"),
        "{test}: {}",
        stderr(&out)
    );
    assert_eq!(listed(&site, &site.repo).len(), before + 1);
}

#[test]
fn a_chain_restores_exactly_on_postgresql_17() {
    chain_scenario(17);
}

#[test]
fn a_chain_restores_exactly_on_postgresql_18() {
    chain_scenario(18);
}

#[test]
fn max_chain_makes_the_next_backup_full_and_pgdata_or_old_servers_are_refused() {
    let test = "max_chain_makes_the_next_backup_full";
    let Some(site) = incremental_site(17, RepoKind::Local, test) else {
        return;
    };
    site.batch(1);
    let out = push(&site, &site.repo, &["--incremental"]);
    assert!(
        !out.status.success(),
        "{test}: an incremental with nothing to build on"
    );
    assert!(
        stderr(&out).contains("no complete backup"),
        "{test}: {}",
        stderr(&out)
    );
    assert_ok(&push(&site, &site.repo, &[]), test);
    site.batch(2);
    assert_ok(
        &push(&site, &site.repo, &["--incremental", "--max-chain", "2"]),
        test,
    );
    site.batch(3);
    let out = push(&site, &site.repo, &["--incremental", "--max-chain", "2"]);
    assert_ok(&out, test);
    assert!(
        stderr(&out).contains("this backup is a full one"),
        "{test}: {}",
        stderr(&out)
    );
    let manifest = |name: &str| -> serde_json::Value {
        let path = site
            .repo
            .local_dir()
            .join("backups")
            .join(name)
            .join("manifest.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let names: Vec<String> = listed(&site, &site.repo)
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(manifest(&names[0]).get("parent").is_none());
    assert_eq!(manifest(&names[1])["parent"], names[0].as_str());
    assert_eq!(manifest(&names[1])["format"], 2);
    assert!(
        manifest(&names[2]).get("parent").is_none(),
        "{test}: --max-chain 2"
    );
    assert_eq!(manifest(&names[2])["format"], 1);

    // Retention keeps what a kept incremental builds on: with one backup
    // kept, the newest (an incremental) keeps its full backup.
    site.batch(4);
    assert_ok(&push(&site, &site.repo, &["--incremental"]), test);
    let out = site.walden(&["prune", "--retain-full", "1", "--apply"]);
    assert_ok(&out, &format!("{test}: prune"));
    let kept: Vec<String> = listed(&site, &site.repo)
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kept.len(),
        2,
        "{test}: {kept:?}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        kept[0], names[2],
        "{test}: the base of the kept incremental"
    );
    assert_eq!(manifest(&kept[1])["parent"], names[2].as_str());

    // A data-directory backup cannot be incremental.
    let out = site.backup(&["--incremental"]);
    assert_eq!(code(&out), 2, "{test}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("drop --pgdata"),
        "{test}: {}",
        stderr(&out)
    );
}

#[test]
fn a_server_older_than_17_is_refused_clearly() {
    let test = "a_server_older_than_17_is_refused_clearly";
    let Some(mut site) = Site::with(RepoKind::Local, test) else {
        return;
    };
    create_repl_user(&site.primary, "scram-sha-256");
    serve_over_tcp(&mut site.primary, "scram-sha-256");
    assert_ok(&push(&site, &site.repo, &[]), test);
    let out = push(&site, &site.repo, &["--incremental"]);
    assert!(!out.status.success(), "{test}");
    assert!(
        stderr(&out).contains("need 17 or later"),
        "{test}: {}",
        stderr(&out)
    );
}

/// One body for S3 and GCS: an encrypted chain whose backups are
/// compressed differently, restored exactly and drilled.
fn object_store_chain(kind: RepoKind, test: &str) {
    let Some(site) = incremental_site(17, kind, test) else {
        return;
    };
    let (key, recipient) = site.age_key();
    site.primary.sql(
        "CREATE TABLE updated (id int PRIMARY KEY, v int); \
         INSERT INTO updated SELECT g, 0 FROM generate_series(1, 10000) g",
    );
    site.batch(1);
    let encrypted = ["--encrypt-recipient", recipient.as_str()];
    let full = [&encrypted[..], &["--compression", "snappy"]].concat();
    assert_ok(&push(&site, &site.repo, &full), test);
    site.primary
        .sql("UPDATE updated SET v = 3 WHERE id % 5 = 0");
    site.batch(2);
    // The base's server manifest is encrypted too: without the identity
    // the incremental cannot be taken, and says what is missing.
    let out = push(
        &site,
        &site.repo,
        &[&encrypted[..], &["--incremental"]].concat(),
    );
    assert!(!out.status.success(), "{test}");
    assert!(
        stderr(&out).contains("--decrypt-identity"),
        "{test}: {}",
        stderr(&out)
    );
    let incremental_args = [
        &encrypted[..],
        &[
            "--incremental",
            "--compression",
            "zstd",
            "--decrypt-identity",
            &key,
        ],
    ]
    .concat();
    assert_ok(&push(&site, &site.repo, &incremental_args), test);
    let incremental = newest(&site, &site.repo);
    let parts = site.repo.keys(&format!("backups/{incremental}/data"));
    assert!(
        !parts.is_empty() && parts.iter().all(|p| p.ends_with(".tar.zst.age")),
        "{test}: {parts:?}"
    );
    site.batch(3);
    let state = site.primary.sql(STATE);
    site.archive_everything();
    assert_eq!(
        restore_state(
            &site,
            "restored",
            &incremental,
            &["--decrypt-identity", &key]
        ),
        state,
        "{test}"
    );
    let work = site.scratch.pg_dir("drills").display().to_string();
    let bin = site.bin.dir.display().to_string();
    let out = site.walden(&[
        "drill",
        "latest",
        "--decrypt-identity",
        &key,
        "--work-dir",
        &work,
        "--pg-bin",
        &bin,
        "--timeout",
        "120s",
    ]);
    assert_ok(
        &out,
        &format!("{test}: drill of the newest backup, an incremental"),
    );
}

#[test]
fn a_chain_on_s3_restores_exactly() {
    object_store_chain(RepoKind::S3, "a_chain_on_s3_restores_exactly");
}

#[test]
fn a_chain_on_gcs_restores_exactly() {
    object_store_chain(RepoKind::Gcs, "a_chain_on_gcs_restores_exactly");
}
