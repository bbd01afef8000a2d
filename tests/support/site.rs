//! A primary archiving into a repository, and the walden commands an operator runs against it, for tests that back up and restore.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use walden::pg::server::PgBin;

use super::*;

/// A primary archiving into a repository, with walden run as the
/// PostgreSQL account (as an operator's cron job would).
///
/// Fields drop in order: the server is stopped (by the PID in its data
/// directory) before the scratch directory holding that file is removed.
pub struct Site {
    pub primary: Cluster,
    pub repo: TestRepo,
    pub scratch: Scratch,
    pub bin: PgBin,
    pub walden: PathBuf,
}

impl Site {
    /// A site with a local repository.
    pub fn new(test: &str) -> Option<Site> {
        Site::with(RepoKind::Local, test)
    }

    pub fn with(kind: RepoKind, test: &str) -> Option<Site> {
        let bin = pg_bin_or_skip(test)?;
        Site::on(bin, kind, test, &[])
    }

    /// A site whose primary runs `bin`'s PostgreSQL, made with `initdb_args`.
    pub fn on(bin: PgBin, kind: RepoKind, test: &str, initdb_args: &[&str]) -> Option<Site> {
        let scratch = Scratch::new();
        let walden = scratch.walden_copy();
        let repo = TestRepo::new(kind, &scratch, test)?;
        let archive_command = format!("{} %p", repo.shell_command(&walden, "wal-push"));
        let primary = Cluster::primary(&bin, &scratch, archive_command, initdb_args);
        primary.sql("CREATE TABLE t (id int PRIMARY KEY, batch int NOT NULL)");
        Some(Site {
            scratch,
            bin,
            walden,
            repo,
            primary,
        })
    }

    /// walden as the PostgreSQL account, with the repository.
    pub fn walden(&self, args: &[&str]) -> Output {
        self.walden_with(&self.repo, args)
    }

    /// walden as the PostgreSQL account, reaching the repository as `repo` says.
    pub fn walden_with(&self, repo: &TestRepo, args: &[&str]) -> Output {
        self.command(repo).args(args).output().unwrap()
    }

    /// A walden command as the PostgreSQL account, reaching `repo`, with
    /// none of the caller's WALDEN_* or PG* variables; arguments to add.
    pub fn command(&self, repo: &TestRepo) -> std::process::Command {
        let mut cmd = self.scratch.run_as.command(&self.walden);
        cmd.current_dir(self.scratch.path());
        repo.apply(&mut cmd);
        for (key, _) in std::env::vars() {
            if key.starts_with("WALDEN_") || key.starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    /// A new age key in the scratch directory, readable by the PostgreSQL
    /// account: its identity file's path and its recipient.
    pub fn age_key(&self) -> (String, String) {
        use age::secrecy::ExposeSecret;
        let identity = age::x25519::Identity::generate();
        let key = self.scratch.path().join("key.txt");
        std::fs::write(&key, format!("{}\n", identity.to_string().expose_secret())).unwrap();
        self.scratch.run_as.give(&key).unwrap();
        (key.display().to_string(), identity.to_public().to_string())
    }

    /// `--pgdata`, `--pg-host` and `--pg-user` of the primary.
    pub fn primary_args(&self) -> Vec<String> {
        cluster_args(&self.primary)
    }

    pub fn backup(&self, extra: &[&str]) -> Output {
        self.backup_with(&self.repo, extra)
    }

    pub fn backup_with(&self, repo: &TestRepo, extra: &[&str]) -> Output {
        self.backup_cluster(repo, &self.primary, extra)
    }

    /// backup-push of `cluster` (the primary, or a promoted restore) into `repo`.
    pub fn backup_cluster(&self, repo: &TestRepo, cluster: &Cluster, extra: &[&str]) -> Output {
        self.command(repo)
            .arg("backup-push")
            .args(cluster_args(cluster))
            .args(["--checkpoint", "fast"])
            .args(extra)
            .output()
            .unwrap()
    }

    /// Inserts batch `n` (ids n*1000 .. n*1000+999) in one transaction and returns its xid.
    pub fn batch(&self, n: u32) -> String {
        self.primary.sql(&format!(
            "WITH ins AS (INSERT INTO t SELECT g, {n} FROM generate_series({}, {}) g RETURNING 1) SELECT txid_current() FROM ins LIMIT 1",
            n * 1000,
            n * 1000 + 999
        ))
    }

    /// Inserts batch `n` on another cluster (a promoted restore).
    pub fn batch_on(&self, cluster: &Cluster, n: u32) {
        cluster.sql(&format!(
            "INSERT INTO t SELECT g, {n} FROM generate_series({}, {}) g",
            n * 1000,
            n * 1000 + 999
        ));
    }

    /// A throttled backup-push running in the background, to interrupt.
    pub fn spawn_slow_backup(
        &self,
        rate: &str,
        stderr: std::process::Stdio,
    ) -> std::process::Child {
        let mut cmd = self.command(&self.repo);
        cmd.arg("backup-push")
            .args(self.primary_args())
            .args(["--checkpoint", "fast", "--max-rate", rate])
            .stdout(std::process::Stdio::null())
            .stderr(stderr);
        cmd.spawn().unwrap()
    }

    pub fn archive_everything(&self) {
        let segment = self.primary.switch_wal();
        self.primary.wait_archived(&segment);
    }

    /// Restores into a new directory and returns the (not yet started) cluster.
    pub fn restore(&self, name: &str, args: &[&str]) -> (Cluster, Output) {
        let cluster = Cluster::new(&self.bin, &self.scratch, name).with_env(&self.repo.env);
        let data = cluster.data.display().to_string();
        let mut all = vec!["restore"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--pgdata", &data]);
        let out = self.walden(&all);
        (cluster, out)
    }

    /// Restores, starts with archiving off, waits for promotion, returns "count:max(batch)" per batch.
    pub fn restore_and_count(&self, name: &str, args: &[&str]) -> String {
        batches(&self.restore_and_promote(name, args))
    }

    /// Restores into a new directory, starts it with archiving off and
    /// waits until it has recovered and promoted; returns it running.
    pub fn restore_and_promote(&self, name: &str, args: &[&str]) -> Cluster {
        let (cluster, out) = self.restore(name, args);
        assert!(out.status.success(), "restore {args:?}: {}", stderr(&out));
        cluster
            .configure(&[("archive_mode", "off".into())])
            .unwrap();
        cluster.start().unwrap();
        cluster
            .wait_until_promoted(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        cluster
    }
}

/// `--pgdata`, `--pg-host` and `--pg-user` of `cluster`.
pub fn cluster_args(cluster: &Cluster) -> Vec<String> {
    [
        "--pgdata".to_string(),
        cluster.data.display().to_string(),
        "--pg-host".to_string(),
        cluster.socket_dir.display().to_string(),
        "--pg-port".to_string(),
        cluster.port.to_string(),
        "--pg-user".to_string(),
        "postgres".to_string(),
    ]
    .to_vec()
}

/// The batches present, e.g. "1,2": what a PITR test asserts exactly.
pub fn batches(cluster: &Cluster) -> String {
    cluster.sql(
        "SELECT string_agg(batch::text, ',' ORDER BY batch) FROM (SELECT DISTINCT batch FROM t) b",
    )
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        stderr(out),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Adds `n` empty files named like relation files that no relation uses
/// (PostgreSQL leaves such orphans alone) to the directory of `cluster`'s
/// `postgres` database: a cluster of many small files, as one with a
/// hundred thousand partitions has. Returns their paths relative to the
/// data directory.
pub fn add_orphan_relation_files(cluster: &Cluster, n: u32) -> Vec<String> {
    let oid = cluster.sql("SELECT oid FROM pg_database WHERE datname = 'postgres'");
    let dir = cluster.data.join("base").join(&oid);
    (0..n)
        .map(|i| {
            let name = format!("{}", 900_000_000 + i);
            std::fs::write(dir.join(&name), b"").unwrap();
            format!("base/{oid}/{name}")
        })
        .collect()
}

/// The manifest of backup `name` in a local repository.
pub fn local_manifest(repo: &TestRepo, name: &str) -> serde_json::Value {
    assert_eq!(
        repo.kind,
        RepoKind::Local,
        "reads the repository's directory"
    );
    let path = Path::new(&repo.url)
        .join("backups")
        .join(name)
        .join("manifest.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// How many parts a manifest names, and the most files one part holds.
pub fn part_counts(manifest: &serde_json::Value) -> (usize, usize) {
    let parts = manifest["parts"].as_array().unwrap().len();
    let mut per_part = vec![0usize; parts];
    for file in manifest["files"].as_array().unwrap() {
        per_part[file["part"].as_u64().unwrap() as usize] += 1;
    }
    (parts, per_part.into_iter().max().unwrap_or(0))
}

/// Every one of `paths` (relative to the data directory) is a file in
/// `cluster`'s data directory.
pub fn assert_all_restored(cluster: &Cluster, paths: &[String]) {
    let missing: Vec<&String> = paths
        .iter()
        .filter(|path| !cluster.data.join(path).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "{} files not restored, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}
