//! A fake data directory, PostgreSQL's working directory for archive_command and restore_command, with a local repository beside it: wal-push and wal-fetch driven as PostgreSQL drives them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{fixture_segment, run, stderr, walden, Scratch};

/// `pgdata/pg_wal` and a repository path (not created) in a scratch directory.
pub struct FakePgdata {
    pub scratch: Scratch,
    pub repo: PathBuf,
    pub pgdata: PathBuf,
}

impl FakePgdata {
    pub fn new() -> FakePgdata {
        let scratch = Scratch::new();
        let repo = scratch.path().join("repo");
        let pgdata = scratch.path().join("pgdata");
        std::fs::create_dir_all(pgdata.join("pg_wal")).unwrap();
        FakePgdata {
            scratch,
            repo,
            pgdata,
        }
    }

    /// With one real segment archived, so that the repository (and its
    /// walden.json) exists.
    pub fn with_one_segment() -> FakePgdata {
        let fake = FakePgdata::new();
        let (name, data) = fixture_segment(None);
        fake.push_ok(&name, &data, &[]);
        fake
    }

    /// Writes `data` as pg_wal/`name`; its path relative to the data directory.
    pub fn wal_file(&self, name: &str, data: &[u8]) -> String {
        std::fs::write(self.pgdata.join("pg_wal").join(name), data).unwrap();
        format!("pg_wal/{name}")
    }

    /// `walden wal-push <rel>` from the data directory, like archive_command.
    pub fn push(&self, rel: &str, extra: &[&str]) -> Output {
        run(walden()
            .current_dir(&self.pgdata)
            .arg("wal-push")
            .arg("--repo")
            .arg(&self.repo)
            .args(extra)
            .arg(rel))
    }

    /// Writes and archives pg_wal/`name`, which must succeed.
    pub fn push_ok(&self, name: &str, data: &[u8], extra: &[&str]) {
        let out = self.push(&self.wal_file(name, data), extra);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }

    /// `walden wal-fetch <name> pg_wal/RECOVERYXLOG --repo <repo>` from the
    /// data directory, like restore_command, not yet run.
    pub fn fetch_command_from(&self, repo: &Path, name: &str) -> Command {
        let mut cmd = walden();
        cmd.current_dir(&self.pgdata)
            .arg("wal-fetch")
            .arg("--repo")
            .arg(repo)
            .args([name, "pg_wal/RECOVERYXLOG"]);
        cmd
    }

    /// `fetch_command_from` this repository.
    pub fn fetch_command(&self, name: &str) -> Command {
        self.fetch_command_from(&self.repo, name)
    }

    /// `walden wal-fetch <name> pg_wal/RECOVERYXLOG` with `extra` options, run.
    pub fn fetch(&self, name: &str, extra: &[&str]) -> Output {
        run(self.fetch_command(name).args(extra))
    }

    /// What the last fetch handed to PostgreSQL.
    pub fn fetched(&self) -> Vec<u8> {
        std::fs::read(self.pgdata.join("pg_wal/RECOVERYXLOG")).unwrap()
    }

    /// Every file in the repository with its content, to prove it unchanged.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        walk(&self.repo, &mut files);
        files.sort();
        files
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
}
