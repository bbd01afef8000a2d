//! `demo`: a self-contained tour on a throwaway cluster: archive WAL, take a base backup, write more, restore to a point in time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::cli::DemoArgs;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg::server::{PgBin, RunAs, Server};
use crate::storage::{LocalStore, ObjectStore};

/// Rows inserted per batch; one WAL switch follows each batch.
const ROWS_PER_BATCH: u32 = 20_000;
const BATCHES: u32 = 4;

pub async fn run(args: &DemoArgs, _settings: &Settings) -> Result<()> {
    let bin = PgBin::find(args.pg_bin.as_deref()).map_err(|e| Error::usage(e.to_string()))?;
    let run_as = RunAs::detect().map_err(|e| Error::usage(e.to_string()))?;
    let workdir = Workdir::new(args.dir.as_deref(), args.keep)?;
    let dir = workdir.path.clone();
    let fail = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::failed(format!("demo: {what}: {e}"))
    };
    run_as
        .give(&dir)
        .map_err(fail("preparing the demo directory"))?;

    println!("walden demo in {}", dir.display());
    println!("  PostgreSQL programs: {}", bin.dir.display());

    // PostgreSQL runs as an unprivileged user: give it its own copy of this
    // binary and an age key it can read.
    let walden = dir.join("walden");
    let me = std::env::current_exe().map_err(fail("locating the walden binary"))?;
    std::fs::copy(&me, &walden).map_err(fail("copying the walden binary"))?;
    let repo = dir.join("repo");
    run_as
        .make_dir(&repo)
        .map_err(fail("creating the repository"))?;
    let (key_file, recipient) = write_age_key(&dir.join("age-key.txt"), &run_as)?;
    println!(
        "  repository:          {} (zstd + age encryption to {recipient})",
        repo.display()
    );

    let primary = Server::new(
        bin.clone(),
        run_as,
        dir.join("primary"),
        dir.join("sock-primary"),
        dir.join("primary.log"),
    );
    step("initdb a throwaway primary cluster", || primary.initdb(&[])).map_err(fail("initdb"))?;
    let archive_command = format!(
        "{} wal-push --repo {} --encrypt-recipient {recipient} --log-format logfmt %p",
        walden.display(),
        repo.display()
    );
    primary
        .configure(&[
            ("wal_level", "replica".into()),
            ("archive_mode", "on".into()),
            ("archive_command", archive_command.clone()),
        ])
        .map_err(fail("configuring the primary"))?;
    println!("  archive_command = '{archive_command}'");
    step("start the primary", || primary.start()).map_err(fail("starting the primary"))?;

    let sql = |s: &str| primary.psql(s).map_err(fail("running SQL on the primary"));
    sql("CREATE TABLE demo (id int PRIMARY KEY, batch int, note text)")?;
    let started = Instant::now();
    let mut last_segment = String::new();
    let mut target_time = String::new();
    for batch in 1..=BATCHES {
        let from = (batch - 1) * ROWS_PER_BATCH + 1;
        let to = batch * ROWS_PER_BATCH;
        sql(&format!(
            "INSERT INTO demo SELECT g, {batch}, md5(g::text) FROM generate_series({from}, {to}) g"
        ))?;
        last_segment = sql("SELECT pg_walfile_name(pg_current_wal_lsn())")?;
        sql("SELECT pg_switch_wal()")?;
        println!(
            "  batch {batch}: inserted rows {from}..={to}, switched WAL away from {last_segment}"
        );
        if batch == 1 {
            let out = step(
                "walden backup-push: a base backup of the running primary",
                || {
                    walden_as(
                        &run_as,
                        &walden,
                        &dir,
                        &[
                            "backup-push",
                            "--repo",
                            &repo.display().to_string(),
                            "--encrypt-recipient",
                            &recipient,
                            "--pgdata",
                            &primary.data.display().to_string(),
                            "--pg-host",
                            &primary.socket_dir.display().to_string(),
                            "--pg-user",
                            "postgres",
                            "--checkpoint",
                            "fast",
                        ],
                    )
                },
            )
            .map_err(fail("walden backup-push"))?;
            println!("  {}", out.trim());
        }
        if batch == BATCHES - 1 {
            target_time = sql("SELECT clock_timestamp()")?;
            println!(
                "  recovery target: {target_time} (after batch {batch}, before batch {BATCHES})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let expected = sql(&format!(
        "SELECT count(*) FROM demo WHERE batch < {BATCHES}"
    ))?;
    let total = sql("SELECT count(*) FROM demo")?;
    step(
        &format!("wait until PostgreSQL has archived {last_segment}"),
        || primary.wait_archived(&last_segment, Duration::from_secs(120)),
    )
    .map_err(fail("waiting for the archiver"))?;
    println!("  archived in {:.1} s", started.elapsed().as_secs_f64());
    primary.stop().map_err(fail("stopping the primary"))?;

    let store = LocalStore::new(repo.clone());
    let (lines, bytes) = wal_listing(&store).await?;
    println!(
        "  repository now holds {} WAL objects, {} KiB compressed and encrypted:",
        lines.len(),
        bytes / 1024
    );
    for line in lines.iter().take(12) {
        println!("    {line}");
    }

    let recovered = Server::new(
        bin,
        run_as,
        dir.join("recovered"),
        dir.join("sock-recovered"),
        dir.join("recovered.log"),
    );
    let out = step(
        "walden restore latest --target-time ... : unpack the backup, set up recovery",
        || {
            walden_as(
                &run_as,
                &walden,
                &dir,
                &[
                    "restore",
                    "latest",
                    "--repo",
                    &repo.display().to_string(),
                    "--decrypt-identity",
                    &key_file.display().to_string(),
                    "--pgdata",
                    &recovered.data.display().to_string(),
                    "--target-time",
                    &target_time,
                    "--target-action",
                    "promote",
                ],
            )
        },
    )
    .map_err(fail("walden restore"))?;
    for line in out.lines() {
        println!("  {line}");
    }
    recovered
        .configure(&[("archive_mode", "off".into())])
        .map_err(fail("configuring recovery"))?;
    let recovery_started = Instant::now();
    step(
        "start the restored copy: it replays WAL through walden wal-fetch up to the target",
        || {
            recovered.start()?;
            recovered.wait_until_promoted(Duration::from_secs(300))
        },
    )
    .map_err(fail("recovering the copy"))?;
    let got = recovered
        .psql("SELECT count(*) FROM demo")
        .map_err(fail("querying the recovered copy"))?;
    let fetched = count_log_lines(&recovered.log, "restored log file");
    println!(
        "  recovered in {:.1} s: {fetched} WAL files restored by walden wal-fetch; the copy has {got} rows; \
         the primary had {expected} rows before the target and {total} in all",
        recovery_started.elapsed().as_secs_f64()
    );
    recovered
        .stop()
        .map_err(fail("stopping the recovered copy"))?;
    if got != expected {
        return Err(Error::failed(format!(
            "demo failed: the restored copy has {got} rows but the primary had {expected} before the target; see {}",
            recovered.log.display()
        )));
    }
    println!(
        "demo OK: point-in-time restore brought back exactly the rows committed before the target."
    );
    if args.keep {
        println!("kept {} (logs: primary.log, recovered.log)", dir.display());
    }
    Ok(())
}

/// Runs this walden's copy as the PostgreSQL account and returns its stdout.
fn walden_as(run_as: &RunAs, walden: &Path, cwd: &Path, args: &[&str]) -> std::io::Result<String> {
    let out = run_as
        .command(walden)
        .current_dir(cwd)
        .args(args)
        .args(["--log-format", "logfmt", "-q"])
        .stdin(std::process::Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// The demo's directory: removed at the end unless kept or given by the user.
struct Workdir {
    path: PathBuf,
    remove: bool,
}

impl Workdir {
    fn new(given: Option<&Path>, keep: bool) -> Result<Workdir> {
        match given {
            Some(path) => {
                let empty = std::fs::read_dir(path)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(true);
                if !empty {
                    return Err(Error::usage(format!(
                        "demo: {} is not empty; give a new or empty directory",
                        path.display()
                    )));
                }
                std::fs::create_dir_all(path).map_err(|e| {
                    Error::usage(format!("demo: cannot create {}: {e}", path.display()))
                })?;
                let path = path
                    .canonicalize()
                    .map_err(|e| Error::usage(format!("demo: {}: {e}", path.display())))?;
                Ok(Workdir {
                    path,
                    remove: false,
                })
            }
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("walden-demo-")
                    .tempdir()
                    .map_err(|e| {
                        Error::failed(format!("demo: cannot create a temporary directory: {e}"))
                    })?;
                Ok(Workdir {
                    path: dir.keep(),
                    remove: !keep,
                })
            }
        }
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn step<T>(what: &str, f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    let started = Instant::now();
    let result = f();
    let mark = if result.is_ok() { "ok" } else { "FAILED" };
    println!(
        "- {what} ... {mark} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    result
}

fn write_age_key(path: &Path, run_as: &RunAs) -> Result<(PathBuf, String)> {
    use age::secrecy::ExposeSecret;
    use std::os::unix::fs::OpenOptionsExt;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let text = format!(
        "# walden demo key\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(text.as_bytes())?;
        run_as.give(path)
    };
    write().map_err(|e| Error::failed(format!("demo: cannot write {}: {e}", path.display())))?;
    Ok((path.to_path_buf(), recipient))
}

/// One line per WAL object, and their total size.
async fn wal_listing(store: &dyn ObjectStore) -> Result<(Vec<String>, u64)> {
    let mut list = store.list("wal/");
    let (mut lines, mut bytes) = (Vec::new(), 0);
    while let Some(meta) = list.next().await {
        let meta = meta?;
        bytes += meta.size;
        lines.push(format!("{:<64} {:>9} bytes", meta.key, meta.size));
    }
    lines.sort();
    Ok((lines, bytes))
}

fn count_log_lines(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log)
        .map(|text| text.lines().filter(|l| l.contains(needle)).count())
        .unwrap_or(0)
}
