//! Servers reachable over TCP on 127.0.0.1 with password authentication and a replication user, for backups taken over the network.
#![allow(dead_code)]

use std::process::Command;

use super::*;

/// The replication user the network tests connect as, and its password.
pub const REPL_USER: &str = "repl";
pub const REPL_PASSWORD: &str = "s3cret-repl-pw";

/// A free TCP port on 127.0.0.1 (bound, read, released: good enough for a
/// test server started right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Makes `cluster` (stopped or running) listen on 127.0.0.1 at a port of
/// its own, with `REPL_USER` allowed to replicate over TCP with a password
/// (`method`: scram-sha-256 or md5) ahead of initdb's trust lines; starts it.
pub fn serve_over_tcp(cluster: &mut Cluster, method: &str) {
    if cluster.is_running() {
        cluster.stop().unwrap();
    }
    let hba_path = cluster.data.join("pg_hba.conf");
    let hba = std::fs::read_to_string(&hba_path).unwrap();
    let ours = format!(
        "host replication {REPL_USER} 127.0.0.1/32 {method}\nhost all {REPL_USER} 127.0.0.1/32 {method}\n"
    );
    if !hba.starts_with(&ours) {
        std::fs::write(&hba_path, format!("{ours}{hba}")).unwrap();
    }
    cluster.0.listen_addresses = "127.0.0.1".into();
    cluster.0.port = free_port();
    cluster.start().unwrap();
}

/// Creates the replication user with its password, stored as `encryption`
/// (scram-sha-256 or md5).
pub fn create_repl_user(cluster: &Cluster, encryption: &str) {
    cluster.sql(&format!(
        "SET password_encryption = '{encryption}'; CREATE ROLE {REPL_USER} WITH LOGIN REPLICATION PASSWORD '{REPL_PASSWORD}'"
    ));
}

/// backup-push over the network from `cluster`, with the password in PGPASSWORD.
pub fn network_backup(
    site: &site::Site,
    repo: &TestRepo,
    cluster: &Cluster,
    extra: &[&str],
) -> Command {
    network_backup_at(site, repo, cluster.port, extra)
}

/// backup-push over the network from whatever listens on 127.0.0.1:`port`
/// (a server, or a proxy in front of one).
pub fn network_backup_at(site: &site::Site, repo: &TestRepo, port: u16, extra: &[&str]) -> Command {
    let mut cmd = site.command(repo);
    cmd.arg("backup-push")
        .args(["--pg-host", "127.0.0.1", "--pg-port", &port.to_string()])
        .args(["--pg-user", REPL_USER, "--checkpoint", "fast"])
        .args(extra)
        .env("PGPASSWORD", REPL_PASSWORD);
    cmd
}
