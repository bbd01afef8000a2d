//! `check`: is this host set up to archive and restore? Configuration, repository, keys, the cluster's identity and a segment through archive_command, one PASS/FAIL/SKIP line each.
//!
//! pgBackRest's `check` and `stanza-create` in one command. walden needs no
//! stanza: the first `wal-push` records the cluster's identity, so a new
//! repository passes the identity check with a note, and `--init` records it
//! at once for an operator who wants the repository claimed before archiving
//! starts.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;

use crate::cli::{CheckArgs, PgConnectArgs};
use crate::config::Settings;
use crate::error::{Error, Kind, Result};
use crate::pg::control::check_supported;
use crate::pg::replication::ReplicationConnection;
use crate::pg::{ControlError, ControlSession};
use crate::pipeline::{self, EncodeOptions, Identities};
use crate::repo::identity::{self, RepoIdentity};
use crate::repo::layout;
use crate::repo::wal::{self, WalFile};
use crate::storage::{Metadata, ObjectStore, PutMode};

/// PASS, FAIL or SKIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One line of the report. Field names are stable (`check --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub check: &'static str,
    pub result: Outcome,
    /// What was found (PASS), what is wrong (FAIL) or why it did not run (SKIP).
    pub detail: String,
    /// What to do about a FAIL.
    pub fix: Option<String>,
}

impl Line {
    fn pass(check: &'static str, detail: impl Into<String>) -> Line {
        Line {
            check,
            result: Outcome::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Line {
        Line {
            check,
            result: Outcome::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skip(check: &'static str, why: impl Into<String>) -> Line {
        Line {
            check,
            result: Outcome::Skip,
            detail: why.into(),
            fix: None,
        }
    }
}

/// The name `check` gives its restore points, so they can be recognised in
/// the server log and are never mistaken for an operator's.
const RESTORE_POINT: &str = "walden check";

pub async fn run(args: &CheckArgs, settings: &Settings) -> Result<()> {
    let mut lines = Vec::new();
    let config = check_config(settings);
    let (store, encode, identities) = match config {
        Ok((line, store, encode, identities)) => {
            lines.push(line);
            (store, encode, identities)
        }
        Err((line, kind)) => {
            lines.push(line);
            for name in ["repository", "keys", "server", "identity", "archive"] {
                lines.push(Line::skip(name, "the configuration is invalid"));
            }
            report(&lines, args.json);
            return Err(Error::new(
                kind,
                anyhow::anyhow!("check: the configuration is invalid (see the config line)"),
            ));
        }
    };
    let store = store.as_ref();

    let (line, recorded) = check_repository(store, args.read_only).await;
    let reachable = line.result == Outcome::Pass;
    lines.push(line);
    lines.push(check_keys(store, reachable, &encode, &identities, settings).await);

    let pg = settings.connect(&args.connect);
    if args.replication {
        let (line, cluster) = check_replication(&pg).await;
        lines.push(line);
        lines.push(match (cluster, reachable) {
            (Some(cluster), true) => check_identity(store, &cluster, recorded, args.init).await,
            (None, _) => Line::skip("identity", "the server could not be queried"),
            (_, false) => Line::skip("identity", "the repository cannot be reached"),
        });
        lines.push(Line::skip(
            "archive",
            "not over a replication connection (it needs an SQL session): run check without --replication where archive_command runs",
        ));
    } else if !wants_server(&pg) {
        let why = "no server connection: pass --pg-host (and --pg-port, --pg-user, --pg-database, or their keys in the configuration file) to check the cluster's identity and archive_command";
        for name in ["server", "identity", "archive"] {
            lines.push(Line::skip(name, why));
        }
    } else {
        match connect(&pg).await {
            Err(line) => {
                lines.push(line);
                for name in ["identity", "archive"] {
                    lines.push(Line::skip(name, "no connection to the server"));
                }
            }
            Ok(session) => {
                let (line, cluster) = check_server(&session).await;
                lines.push(line);
                match (cluster, reachable) {
                    (Some(cluster), true) => {
                        lines.push(check_identity(store, &cluster, recorded, args.init).await);
                        lines.push(check_archive(store, &session, &encode, args.timeout.0).await);
                    }
                    (None, _) => {
                        for name in ["identity", "archive"] {
                            lines.push(Line::skip(name, "the server could not be queried"));
                        }
                    }
                    (_, false) => {
                        for name in ["identity", "archive"] {
                            lines.push(Line::skip(name, "the repository cannot be reached"));
                        }
                    }
                }
            }
        }
    }

    report(&lines, args.json);
    let failed: Vec<&str> = lines
        .iter()
        .filter(|l| l.result == Outcome::Fail)
        .map(|l| l.check)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "check failed: {} (see the FAIL lines for what to do)",
            failed.join(", ")
        )))
    }
}

type Config = (
    Line,
    std::sync::Arc<dyn ObjectStore>,
    EncodeOptions,
    Identities,
);

/// The settings that every other check needs; a failure here is a
/// configuration error (exit 2), reported as a line like the others.
fn check_config(settings: &Settings) -> std::result::Result<Config, (Line, Kind)> {
    let bad = |e: Error| {
        let kind = e.kind;
        (
            Line::fail(
                "config",
                e.to_string(),
                "fix the flag, WALDEN_* variable or configuration file it names",
            ),
            kind,
        )
    };
    let store = settings.store().map_err(bad)?;
    let encode = settings
        .encode_options(crate::config::Content::Wal)
        .map_err(bad)?;
    let identities = settings.identities().map_err(bad)?;
    let keys = match (encode.recipients.len(), identities.is_empty()) {
        (0, true) => "no encryption".to_string(),
        (n, true) => format!("encrypting to {n} age recipient(s)"),
        (0, false) => "an age identity to decrypt".to_string(),
        (n, false) => format!("encrypting to {n} age recipient(s), an age identity to decrypt"),
    };
    let line = Line::pass(
        "config",
        format!(
            "repository {}, compression {}, {keys}",
            store.url(),
            format!("{:?}", encode.compression.codec()).to_lowercase()
        ),
    );
    Ok((line, store, encode, identities))
}

/// Lists the repository, reads its identity record and, unless read-only,
/// writes, reads back and deletes a probe object.
async fn check_repository(
    store: &dyn ObjectStore,
    read_only: bool,
) -> (Line, Option<RepoIdentity>) {
    const NAME: &str = "repository";
    let url = store.url();
    let reach_fix = "check the repository URL, the credentials of this account and the network; then run check again";
    let empty = match store.list("").next().await {
        None => true,
        Some(Ok(_)) => false,
        Some(Err(e)) => {
            return (
                Line::fail(NAME, format!("cannot list {url}: {e}"), reach_fix),
                None,
            )
        }
    };
    let recorded = match identity::load(store).await {
        Ok(recorded) => recorded,
        Err(e) => {
            return (
                Line::fail(
                    NAME,
                    e.to_string(),
                    "walden.json must be the identity record walden wrote: restore it from a copy, or use another repository",
                ),
                None,
            )
        }
    };
    let state = if empty {
        "empty (a new repository)"
    } else {
        "not empty"
    };
    if read_only {
        return (
            Line::pass(
                NAME,
                format!("{url} is {state}; listed and read (--read-only: writing not tried)"),
            ),
            recorded,
        );
    }
    let key = layout::check_probe_key(&format!(
        "{}-{}-{:016x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        std::process::id(),
        rand::random::<u64>()
    ));
    let body = Bytes::from(format!(
        "walden check probe {:032x}\n",
        rand::random::<u128>()
    ));
    let write_fix = "this account must be able to create, read and delete objects in the repository (archive_command and backup-push write there)";
    if let Err(e) = store
        .put(&key, body.clone(), PutMode::CreateOnly, &Metadata::new())
        .await
    {
        return (
            Line::fail(NAME, format!("cannot write to {url}: {e}"), write_fix),
            recorded,
        );
    }
    let read = match store.get(&key, None).await {
        Ok(object) => object.bytes().await,
        Err(e) => Err(e),
    };
    let deleted = store.delete(&key).await;
    let line = match (read, deleted) {
        (Err(e), _) => Line::fail(
            NAME,
            format!("wrote {key} to {url} but cannot read it back: {e}"),
            write_fix,
        ),
        (Ok(read), _) if read != body => Line::fail(
            NAME,
            format!("{key} in {url} read back different from what was written"),
            "the store corrupts or replaces objects: do not use it as a repository",
        ),
        (Ok(_), Err(e)) => Line::fail(
            NAME,
            format!("cannot delete the probe {key} from {url}: {e}"),
            "prune needs to delete: grant this account delete rights, and remove the probe by hand",
        ),
        (Ok(_), Ok(())) => Line::pass(
            NAME,
            format!(
                "{url} is {state}; listed, and a probe object was written, read back and deleted"
            ),
        ),
    };
    (line, recorded)
}

/// Encrypts a probe to the recipients and decrypts it with the identity;
/// with an identity, also decrypts one archived encrypted WAL file, which
/// proves the identity opens what is really stored.
async fn check_keys(
    store: &dyn ObjectStore,
    reachable: bool,
    encode: &EncodeOptions,
    identities: &Identities,
    settings: &Settings,
) -> Line {
    const NAME: &str = "keys";
    let identity_file = settings
        .raw()
        .decrypt_identity
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let wrong_identity_fix = format!(
        "use the identity that belongs to the recipients (age-keygen -y {identity_file} prints its public key, which must be among --encrypt-recipient): restores need it"
    );
    if encode.recipients.is_empty() && identities.is_empty() {
        return Line::skip(
            NAME,
            "encryption is off (no --encrypt-recipient): objects are stored unencrypted",
        );
    }
    let mut found = Vec::new();
    if !encode.recipients.is_empty() {
        let plain = format!("walden check {:032x}", rand::random::<u128>()).into_bytes();
        let stored = match pipeline::encode_bytes(&plain, encode) {
            Ok((stored, _)) => stored,
            Err(e) => {
                return Line::fail(
                    NAME,
                    format!("cannot encrypt to the recipients: {e}"),
                    "check --encrypt-recipient and --encrypt-recipients-file",
                )
            }
        };
        if identities.is_empty() {
            found.push(format!(
                "a probe encrypts to {} recipient(s); decryption not checked (no --decrypt-identity here: keep the identity safe elsewhere, restores need it)",
                encode.recipients.len()
            ));
        } else {
            match pipeline::decode_bytes(&stored, encode.stages(), identities) {
                Ok((back, _)) if back == plain => found.push(format!(
                    "a probe encrypted to {} recipient(s) decrypts with {identity_file}",
                    encode.recipients.len()
                )),
                Ok(_) => {
                    return Line::fail(
                        NAME,
                        "a probe decrypted to something else than was encrypted",
                        "report this as a bug",
                    )
                }
                Err(e) => {
                    return Line::fail(
                        NAME,
                        format!("the identity {identity_file} cannot decrypt what walden encrypts to the configured recipients ({e})"),
                        wrong_identity_fix,
                    )
                }
            }
        }
    }
    if !identities.is_empty() && reachable {
        match decrypt_archived(store, identities).await {
            Ok(Some(key)) => found.push(format!("{key} decrypts with {identity_file}")),
            Ok(None) => found.push("no encrypted WAL archived yet to try the identity on".into()),
            Err(e) => {
                return Line::fail(
                    NAME,
                    format!("the identity {identity_file} cannot read the archive: {e}"),
                    wrong_identity_fix,
                )
            }
        }
    }
    Line::pass(NAME, found.join("; "))
}

/// Reads and verifies the first encrypted WAL file in the listing; `None`
/// when there is none.
async fn decrypt_archived(
    store: &dyn ObjectStore,
    identities: &Identities,
) -> Result<Option<String>> {
    let mut listing = store.list(layout::WAL_PREFIX);
    let mut chosen = None;
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| Error::from(e).context(format!("listing {}", store.url())))?;
        if let Some((_, stages)) = layout::parse_wal_key(&meta.key) {
            if stages.encrypted {
                chosen = Some((meta.key, stages));
                break;
            }
        }
    }
    drop(listing);
    let Some((key, stages)) = chosen else {
        return Ok(None);
    };
    wal::read_verified(store, &key, stages, identities).await?;
    Ok(Some(key))
}

/// Server options given as flags, in the configuration file or in the
/// environment libpq reads.
fn wants_server(connect: &PgConnectArgs) -> bool {
    connect.any() || std::env::var_os("PGHOST").is_some_and(|v| !v.is_empty())
}

async fn connect(connect: &PgConnectArgs) -> std::result::Result<ControlSession, Line> {
    let options = connect.options().map_err(|e| {
        Line::fail(
            "server",
            e.to_string(),
            "set PGSSLMODE or --pg-sslmode to a mode libpq knows",
        )
    })?;
    ControlSession::connect(&options).await.map_err(|e| {
        let fix = match e {
            ControlError::Unsupported { .. } => "walden supports PostgreSQL 13 to 18",
            _ => {
                "check --pg-host, --pg-port, --pg-user, --pg-database and --pg-sslmode, the password (PGPASSWORD or ~/.pgpass), and that the server runs"
            }
        };
        Line::fail("server", e.to_string(), fix)
    })
}

/// The server as backup-push without --pgdata reaches it: a replication
/// connection, and what IDENTIFY_SYSTEM and SHOW say there.
async fn check_replication(connect: &PgConnectArgs) -> (Line, Option<Cluster>) {
    const NAME: &str = "server";
    let options = match connect.options() {
        Ok(options) => options,
        Err(e) => {
            let fix = "fix the setting or variable it names";
            return (Line::fail(NAME, e.to_string(), fix), None);
        }
    };
    let mut connection = match ReplicationConnection::connect(&options).await {
        Ok(connection) => connection,
        Err(e) => {
            let fix = "check --pg-host, --pg-port, --pg-user and --pg-sslmode, the password (PGPASSWORD, or ~/.pgpass with \"replication\" as its database), that the role has the REPLICATION attribute, and a `host replication` line for this host in pg_hba.conf";
            return (Line::fail(NAME, e.to_string(), fix), None);
        }
    };
    let identified = connection.identify().await;
    let target = connection.target().to_owned();
    connection.close().await;
    let identity = match identified {
        Ok(identity) => identity,
        Err(e) => {
            let fix =
                "report this with the server's version: IDENTIFY_SYSTEM and SHOW are all it asks";
            return (Line::fail(NAME, e.to_string(), fix), None);
        }
    };
    let major = match check_supported(identity.version_num) {
        Ok(major) => major,
        Err(e) => {
            return (
                Line::fail(NAME, e.to_string(), "walden supports PostgreSQL 13 to 18"),
                None,
            )
        }
    };
    let line = Line::pass(
        NAME,
        format!(
            "replication connection to {target}: PostgreSQL {major} (server_version_num {}), system identifier {}, timeline {}",
            identity.version_num, identity.system_identifier, identity.timeline
        ),
    );
    let cluster = Cluster {
        system_identifier: identity.system_identifier,
        major,
        wal_segment_size: identity.wal_segment_size,
    };
    (line, Some(cluster))
}

/// What the server says about itself.
struct Cluster {
    system_identifier: u64,
    major: u32,
    wal_segment_size: u32,
}

async fn check_server(session: &ControlSession) -> (Line, Option<Cluster>) {
    const NAME: &str = "server";
    let fix = "connect as a superuser (or a role with pg_read_all_settings and EXECUTE on pg_control_system)";
    let system_identifier = match session.system_identifier().await {
        Ok(id) => id,
        Err(e) => return (Line::fail(NAME, e.to_string(), fix), None),
    };
    let wal_segment_size = match session.wal_segment_size().await {
        Ok(size) => size,
        Err(e) => return (Line::fail(NAME, e.to_string(), fix), None),
    };
    let line = Line::pass(
        NAME,
        format!(
            "PostgreSQL {} (server_version_num {}), system identifier {system_identifier}",
            session.major(),
            session.server_version_num()
        ),
    );
    let cluster = Cluster {
        system_identifier,
        major: session.major(),
        wal_segment_size,
    };
    (line, Some(cluster))
}

/// The cluster must be the one the repository belongs to.
async fn check_identity(
    store: &dyn ObjectStore,
    cluster: &Cluster,
    recorded: Option<RepoIdentity>,
    init: bool,
) -> Line {
    const NAME: &str = "identity";
    let Some(recorded) = recorded else {
        if !init {
            return Line::pass(
                NAME,
                "the repository records no cluster yet: the first archived segment records this one (the archive check does), or run check --init",
            );
        }
        let candidate = RepoIdentity::new(
            cluster.system_identifier,
            cluster.major,
            cluster.wal_segment_size,
        );
        return match identity::ensure(store, candidate).await {
            Ok(_) => Line::pass(
                NAME,
                format!(
                    "recorded system identifier {}, PostgreSQL {} in {} (--init)",
                    cluster.system_identifier,
                    cluster.major,
                    layout::IDENTITY_KEY
                ),
            ),
            Err(e) => Line::fail(
                NAME,
                e.to_string(),
                "use a separate repository for each cluster",
            ),
        };
    };
    let mut problems = Vec::new();
    if recorded.system_identifier != cluster.system_identifier.to_string() {
        problems.push(format!(
            "the repository belongs to the cluster with system identifier {}, this server's is {}: wal-push refuses its segments",
            recorded.system_identifier, cluster.system_identifier
        ));
    }
    if recorded.pg_version != cluster.major {
        problems.push(format!(
            "the repository holds PostgreSQL {} WAL, this server runs {}",
            recorded.pg_version, cluster.major
        ));
    }
    if recorded.wal_segment_size != cluster.wal_segment_size {
        problems.push(format!(
            "the repository holds {}-byte WAL segments, this server writes {}-byte ones",
            recorded.wal_segment_size, cluster.wal_segment_size
        ));
    }
    if problems.is_empty() {
        Line::pass(
            NAME,
            format!(
                "system identifier {}, PostgreSQL {}, as recorded on {}",
                recorded.system_identifier,
                recorded.pg_version,
                recorded.created.format("%Y-%m-%d")
            ),
        )
    } else {
        Line::fail(
            NAME,
            problems.join("; "),
            "point --repo (and archive_command) at this cluster's own repository; after a major upgrade or a new initdb, start a new repository",
        )
    }
}

/// A segment through archive_command into this repository.
async fn check_archive(
    store: &dyn ObjectStore,
    session: &ControlSession,
    encode: &EncodeOptions,
    timeout: Duration,
) -> Line {
    const NAME: &str = "archive";
    match session.is_in_recovery().await {
        Ok(true) => {
            return Line::skip(
                NAME,
                "the server is a standby, which cannot switch WAL: run check against the primary",
            )
        }
        Ok(false) => {}
        Err(e) => return Line::fail(NAME, e.to_string(), "check the connection's rights"),
    }
    let archive_mode = session.setting("archive_mode").await.unwrap_or_default();
    let archive_command = session
        .setting("archive_command")
        .await
        .unwrap_or_else(|e| format!("(unreadable: {e})"));
    let configure = format!(
        "set archive_mode = on and archive_command = 'walden wal-push --repo {} %p' (with this repository's settings), then restart PostgreSQL",
        store.url()
    );
    if archive_mode == "off" {
        return Line::fail(NAME, "archive_mode is off: no WAL is archived", configure);
    }
    let segment = match session.switch_wal_with_restore_point(RESTORE_POINT).await {
        Ok(segment) => segment,
        Err(e) => {
            return Line::fail(
                NAME,
                e.to_string(),
                "connect as a superuser, or GRANT EXECUTE ON FUNCTION pg_create_restore_point(text), pg_switch_wal() to the role",
            )
        }
    };
    let name = segment.to_string();
    let wal = WalFile {
        timeline: segment.timeline.0,
        file_name: &name,
    };
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match wal::find(store, wal, encode.stages()).await {
            Ok(Some(found)) => {
                return Line::pass(
                    NAME,
                    format!(
                        "switched to a new segment; {name} reached the repository as {} in {:.1} s",
                        found.key,
                        started.elapsed().as_secs_f64()
                    ),
                )
            }
            Ok(None) => {}
            Err(e) => return Line::fail(NAME, e.to_string(), "check the repository"),
        }
        let waited = started.elapsed();
        if waited >= timeout {
            let archiver = session
                .archiver_status()
                .await
                .unwrap_or_else(|e| e.to_string());
            return Line::fail(
                NAME,
                format!(
                    "{name} did not reach {} within {} (--timeout); archive_command is {archive_command:?}; pg_stat_archiver: {archiver}",
                    store.url(),
                    crate::ages::Age(timeout)
                ),
                format!("{configure}; PostgreSQL's log shows why archive_command fails"),
            );
        }
        tokio::time::sleep(pause.min(timeout.saturating_sub(waited))).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

fn report(lines: &[Line], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(lines).expect("check lines serialize")
        );
        return;
    }
    for line in lines {
        let word = match line.result {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        println!("{word}  {:<10}  {}", line.check, line.detail);
        if let Some(fix) = &line.fix {
            println!("      {:<10}  fix: {fix}", "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_stable_names() {
        let line = Line::fail("archive", "x", "y");
        let value = serde_json::to_value([line]).unwrap();
        assert_eq!(
            value,
            serde_json::json!([{"check": "archive", "result": "FAIL", "detail": "x", "fix": "y"}])
        );
    }
}
