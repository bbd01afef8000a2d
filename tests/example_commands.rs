//! The walden command lines in examples/ (cron, systemd, Kubernetes) parse with this walden's command line, and say what running them unattended needs: -q under cron, --pg-user through kubectl exec, a network backup with no --pgdata, exec or volume and its password from a Secret, no placeholder Secret, no emptyDir that would get a drill evicted.

use std::path::Path;

use clap::Parser;
use walden::cli::{Cli, Command};

fn example(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The walden invocations in a shell command line: each `walden …` up to
/// `&&`, a quote or a redirection. The examples use no quoting inside them.
fn shell_invocations(line: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("walden ") {
        let start = &rest[at..];
        let end = start
            .find(['&', '\'', '>', '|', ';'])
            .unwrap_or(start.len());
        found.push(
            start[..end]
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        );
        rest = &start[end..];
    }
    found
}

fn parse(words: &[String], source: &str) -> Cli {
    Cli::try_parse_from(words)
        .unwrap_or_else(|e| panic!("{source}: {words:?} does not parse:\n{e}"))
}

fn quiet(cli: &Cli) -> bool {
    cli.global.quiet > 0
}

#[test]
fn cron_runs_the_nightly_commands_quietly_and_they_parse() {
    let text = example("cron/walden");
    let mut nightly = 0;
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for words in shell_invocations(line) {
            let cli = parse(&words, "cron/walden");
            match cli.command {
                Command::BackupPush(_) | Command::Prune(_) | Command::Drill(_) => {
                    nightly += 1;
                    assert!(
                        quiet(&cli),
                        "cron mails what a job prints: {words:?} needs -q"
                    );
                }
                _ => {}
            }
        }
    }
    assert_eq!(nightly, 3, "backup-push, prune and drill in {text}");
}

#[test]
fn systemd_units_run_commands_that_parse() {
    let mut commands = 0;
    for unit in [
        "systemd/walden-nightly.service",
        "systemd/walden-status.service",
    ] {
        for line in example(unit).lines() {
            if let Some(command) = line.strip_prefix("ExecStart=") {
                let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
                parse(&words, unit);
                commands += 1;
            }
        }
    }
    assert_eq!(commands, 4);
}

/// The YAML list item `- word` on `line`, if it is one.
fn list_item(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix("- ").map(str::trim)
}

#[test]
fn kubernetes_backup_names_its_role_and_the_file_holds_no_secret_or_emptydir() {
    let text = example("kubernetes/cronjob.yaml");
    // The exec'd backup: the list items after `- walden`.
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| list_item(l) == Some("walden"))
        .expect("a `- walden` command item");
    let words: Vec<String> = lines[start..]
        .iter()
        .map_while(|l| list_item(l))
        .map(str::to_string)
        .collect();
    let cli = parse(&words, "kubernetes/cronjob.yaml");
    let Command::BackupPush(backup) = &cli.command else {
        panic!("expected backup-push: {words:?}");
    };
    assert_eq!(
        backup.connect.pg_user.as_deref(),
        Some("postgres"),
        "kubectl exec runs as root: without --pg-user walden connects as role root"
    );

    // The drill job's shell command.
    let drill: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(shell_invocations)
        .collect();
    assert_eq!(drill.len(), 2, "prune and drill: {drill:?}");
    for words in &drill {
        parse(words, "kubernetes/cronjob.yaml");
    }

    let manifests: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !manifests.iter().any(|l| l.trim() == "kind: Secret"),
        "kubectl apply would overwrite the real Secret with placeholders"
    );
    assert!(
        !manifests
            .iter()
            .any(|l| l.trim_start().starts_with("emptyDir")),
        "a drill that outgrows an emptyDir limit is evicted instead of recorded as failed"
    );
}

#[test]
fn kubernetes_network_backup_needs_only_a_connection_and_a_referenced_password() {
    let source = "kubernetes/cronjob-network.yaml";
    let text = example(source);
    let manifests: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let start = manifests
        .iter()
        .position(|l| list_item(l) == Some("walden"))
        .expect("a `- walden` command item");
    let words: Vec<String> = manifests[start..]
        .iter()
        .map_while(|l| list_item(l))
        .map(str::to_string)
        .collect();
    let cli = parse(&words, source);
    let Command::BackupPush(backup) = &cli.command else {
        panic!("expected backup-push: {words:?}");
    };
    // The absence of --pgdata (and of PGDATA) is what selects the network mode.
    assert!(
        !words.iter().any(|w| w.starts_with("--pgdata")),
        "the network backup must not name a data directory: {words:?}"
    );
    assert!(
        !manifests.iter().any(|l| l.contains("name: PGDATA")),
        "PGDATA in the pod's environment would switch backup-push to data-directory mode"
    );
    let host = backup
        .connect
        .pg_host
        .as_deref()
        .expect("--pg-host names the server");
    assert!(
        !host.starts_with('/'),
        "a socket directory is not reachable from another pod: {host}"
    );
    assert!(backup.connect.pg_user.is_some(), "the replication user");
    assert!(
        backup.backup.checkpoint.is_some(),
        "the checkpoint choice is spelled out (and commented)"
    );

    // The password comes from a Secret the file refers to but does not hold.
    let password = manifests
        .iter()
        .position(|l| list_item(l) == Some("name: PGPASSWORD"))
        .expect("PGPASSWORD in the container's env");
    assert!(
        manifests[password + 1..password + 3]
            .iter()
            .any(|l| l.contains("secretKeyRef")),
        "PGPASSWORD must come from a secretKeyRef"
    );
    assert!(
        !manifests.iter().any(|l| l.trim() == "kind: Secret"),
        "kubectl apply would overwrite the real Secret with placeholders"
    );

    // No exec, no volume; one backup at a time, a bounded number of retries,
    // and a memory limit.
    for forbidden in [
        "kubectl",
        "exec",
        "volumes:",
        "volumeMounts:",
        "persistentVolumeClaim",
    ] {
        assert!(
            !manifests.iter().any(|l| l.contains(forbidden)),
            "{source} must not need {forbidden}"
        );
    }
    for required in [
        "concurrencyPolicy: Forbid",
        "backoffLimit:",
        "limits: { memory:",
    ] {
        assert!(
            manifests.iter().any(|l| l.contains(required)),
            "{source} needs {required}"
        );
    }
}
