//! The connection options are TOML keys too: a backup-push whose pg-host and pg-user come only from the configuration file reaches the server (real PostgreSQL 15).

mod support;

use support::site::*;

#[test]
fn backup_push_takes_its_connection_from_the_configuration_file() {
    let Some(site) = Site::new("backup_push_takes_its_connection_from_the_configuration_file")
    else {
        return;
    };
    site.batch(1);
    let config = site.scratch.path().join("walden.toml");
    std::fs::write(
        &config,
        format!(
            "pg-host = \"{}\"\npg-user = \"postgres\"\npg-database = \"postgres\"\n",
            site.primary.socket_dir.display()
        ),
    )
    .unwrap();
    let data = site.primary.data.display().to_string();
    let config = config.display().to_string();
    let out = site.walden(&[
        "backup-push",
        "--config",
        &config,
        "--pgdata",
        &data,
        "--checkpoint",
        "fast",
    ]);
    assert_ok(&out, "backup-push with pg-host and pg-user from the file");
}
