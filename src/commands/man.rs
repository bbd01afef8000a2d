//! Hidden `man`: writes the man pages committed under `man/`.

use std::path::Path;

use clap::{Arg, ArgAction, CommandFactory};

use crate::cli::{Cli, ManArgs};
use crate::error::{Error, Result};

pub fn run(args: &ManArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", args.out_dir.display())))?;
    for (name, page) in pages() {
        write(&args.out_dir.join(name), &page)?;
    }
    Ok(())
}

/// Every man page: `walden.1` and `walden-<command>.1` for each visible command.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let root = Cli::command();
    let mut pages = vec![("walden.1".to_string(), render(root.clone(), "walden"))];
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("walden-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).display_name(name.clone());
        pages.push((format!("{name}.1"), render(page, sub.get_name())));
    }
    pages
}

/// Worked examples for each page (`walden` for the top-level one): what the
/// command is for, then the command. Every command here must parse with the
/// current command line (tests/cli_input.rs checks it).
pub fn examples(command: &str) -> &'static [(&'static str, &'static str)] {
    match command {
        "walden" => &[
            (
                "Archive WAL: PostgreSQL's archive_command (postgresql.conf: archive_command = '...')",
                "walden wal-push --repo /var/lib/walden %p",
            ),
            (
                "A nightly base backup, throttled, printing nothing unless it fails (for cron)",
                "walden backup-push -q --repo /var/lib/walden --pgdata /var/lib/postgresql/16/main --max-rate 50MB/s",
            ),
            (
                "Is the archive healthy? (exit 0 OK, 1 warning, 2 critical)",
                "walden status --repo /var/lib/walden",
            ),
        ],
        "wal-push" => &[
            (
                "PostgreSQL's archive_command (postgresql.conf: archive_command = '...')",
                "walden wal-push --repo s3://my-bucket/pg/main %p",
            ),
            (
                "The same, archiving up to 4 ready segments at once when PostgreSQL falls behind",
                "walden wal-push --repo s3://my-bucket/pg/main --jobs 4 %p",
            ),
        ],
        "wal-fetch" => &[
            (
                "PostgreSQL's restore_command (postgresql.conf: restore_command = '...')",
                "walden wal-fetch --repo s3://my-bucket/pg/main %f %p",
            ),
            (
                "The same, fetching the next 8 segments ahead in the background",
                "walden wal-fetch --repo s3://my-bucket/pg/main --prefetch 8 %f %p",
            ),
        ],
        "backup-push" => &[
            (
                "A base backup that stays out of production's way",
                "walden backup-push --pgdata /var/lib/postgresql/16/main --max-rate 50MB/s --io-priority idle",
            ),
            (
                "From cron, as postgres, connecting over the default socket; silent unless it fails",
                "walden backup-push -q --pgdata /var/lib/postgresql/16/main --pg-user postgres --checkpoint fast",
            ),
            (
                "Over the network from a standby, without its data directory (password in PGPASSWORD or ~/.pgpass)",
                "walden backup-push --pg-host standby.db.internal --pg-user replicator --max-rate 50MB/s",
            ),
        ],
        "backup-list" => &[
            ("The complete backups", "walden backup-list"),
            (
                "Every backup, incomplete ones too, as JSON for scripts",
                "walden backup-list --all --json",
            ),
        ],
        "restore" => &[
            (
                "Recover to just before a mistake, and become the new primary",
                "walden restore latest --pgdata /var/lib/postgresql/16/restored --target-time '2026-11-24 02:55:00+00' --target-action promote --archive-mode preserve",
            ),
            (
                "A standby that keeps replaying the archive",
                "walden restore latest --pgdata /var/lib/postgresql/16/standby --standby",
            ),
            (
                "A streaming replica of the primary, through a new replication slot, falling back to the archive",
                "walden restore latest --pgdata /var/lib/postgresql/16/replica --standby --primary-conninfo 'host=primary.example user=replicator' --slot replica1 --create-slot",
            ),
        ],
        "prune" => &[
            (
                "What keeping 7 backups would delete (a dry run: nothing is deleted)",
                "walden prune --retain-full 7",
            ),
            (
                "Delete it, keeping point-in-time recovery for the last 14 days",
                "walden prune --retain-full 7 --wal-retain-days 14 --apply",
            ),
        ],
        "verify" => &[
            ("Read back every backup and check it", "walden verify"),
            (
                "Also read back every archived WAL file, 4 objects at a time",
                "walden verify --wal --jobs 4",
            ),
            (
                "Only what the listing and manifests show; reads no parts",
                "walden verify --quick",
            ),
        ],
        "status" => &[
            (
                "A Nagios or Icinga check",
                "walden status --max-backup-age 26h --max-wal-age 15m",
            ),
            (
                "Metrics for node_exporter's textfile collector",
                "walden status --prometheus /var/lib/prometheus/node-exporter/walden.prom",
            ),
        ],
        "drill" => &[
            (
                "Restore the newest backup and prove it starts",
                "walden drill --pg-bin /usr/lib/postgresql/16/bin",
            ),
            (
                "Also check every table and index, and run a query of your own",
                "walden drill --amcheck --check-sql 'SELECT count(*) FROM orders'",
            ),
        ],
        "check" => &[
            (
                "A new setup, end to end, as the account that runs archive_command",
                "walden check --repo /var/lib/walden --pg-user postgres",
            ),
            (
                "Claim a new repository for this cluster now, before the first wal-push",
                "walden check --repo s3://my-bucket/pg/main --pg-user postgres --init",
            ),
            (
                "Only reads, from a host that restores",
                "walden check --repo s3://my-bucket/pg/main --read-only --json",
            ),
        ],
        "info" => &[
            (
                "How far back can this cluster be recovered, per timeline?",
                "walden info --repo /var/lib/walden",
            ),
            ("The same for scripts", "walden info --repo /var/lib/walden --json"),
        ],
        "man" => &[(
            "Write the man pages where man finds them",
            "walden man --out-dir /usr/local/share/man/man1",
        )],
        "completions" => &[
            (
                "Bash completion for every user",
                "walden completions bash > /etc/bash_completion.d/walden",
            ),
            (
                "Zsh completion in a directory on fpath",
                "walden completions zsh > /usr/local/share/zsh/site-functions/_walden",
            ),
        ],
        "demo" => &[
            ("The tour, in a temporary directory", "walden demo"),
            (
                "Keep its clusters and repository to look around afterwards",
                "walden demo --dir /tmp/walden-demo --keep",
            ),
        ],
        _ => &[],
    }
}

/// clap_mangen's page, with a synopsis that shows each option's value
/// placeholder and an EXAMPLES section.
fn render(command: clap::Command, examples_of: &str) -> Vec<u8> {
    let name = command
        .get_display_name()
        .unwrap_or(command.get_name())
        .to_string();
    let man = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    let mut first = true;
    let mut section = |render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut chunk = Vec::new();
        render(&mut chunk).expect("rendering to memory cannot fail");
        let text = String::from_utf8(chunk).expect("roff is text");
        // Each chunk repeats the preamble that defines \*(Aq; once is enough.
        for line in text.lines() {
            let preamble = line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
            if !preamble || first {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
        first = false;
    };
    section(&|w| man.render_title(w));
    section(&|w| man.render_name_section(w));
    section(&|w| {
        w.extend_from_slice(format!(".SH SYNOPSIS\n{}\n", synopsis(&name, &command)).as_bytes());
        Ok(())
    });
    section(&|w| man.render_description_section(w));
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        section(&|w| man.render_options_section(w));
    }
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        section(&|w| man.render_subcommands_section(w));
    }
    if command.get_after_long_help().is_some() || command.get_after_help().is_some() {
        section(&|w| man.render_extra_section(w));
    }
    let examples = examples(examples_of);
    if !examples.is_empty() {
        section(&|w| {
            w.extend_from_slice(b".SH EXAMPLES\n");
            for (what, command) in examples {
                w.extend_from_slice(
                    format!(
                        ".PP\n{}\n.PP\n.RS 4\n.nf\n\\fB{}\\fR\n.fi\n.RE\n",
                        roff(what),
                        roff(command)
                    )
                    .as_bytes(),
                );
            }
            Ok(())
        });
    }
    if command.get_version().is_some() {
        section(&|w| man.render_version_section(w));
    }
    out
}

/// `walden-restore [--jobs N] … NAME|latest`: each option that `-h` shows,
/// with its value placeholder; `[OPTIONS]` for the rest (see OPTIONS).
fn synopsis(name: &str, command: &clap::Command) -> String {
    let mut words = vec![format!("\\fB{}\\fR", roff(name))];
    let options: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .collect();
    let (required, optional): (Vec<&Arg>, Vec<&Arg>) =
        options.iter().partition(|a| a.is_required_set());
    for arg in required {
        words.push(option(arg));
    }
    let mut left_out = false;
    for arg in optional {
        if arg.is_hide_short_help_set() || arg.get_long() == Some("help") {
            left_out |= arg.get_long() != Some("help");
            continue;
        }
        words.push(format!("[{}]", option(arg)));
    }
    if left_out {
        words.push("[\\fIOPTIONS\\fR]".to_string());
    }
    for arg in command.get_positionals().filter(|a| !a.is_hide_set()) {
        let value = arg
            .get_value_names()
            .map(|v| v.join(" "))
            .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
        let many = matches!(arg.get_action(), ArgAction::Append);
        let value = format!("\\fI{}\\fR{}", roff(&value), if many { "..." } else { "" });
        words.push(if arg.is_required_set() {
            value
        } else {
            format!("[{value}]")
        });
    }
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        words.push("\\fICOMMAND\\fR".to_string());
    }
    words.join(" ")
}

/// `--max-rate RATE`, `-v|--verbose...`, `--s3-path-style[=BOOL]`.
fn option(arg: &Arg) -> String {
    let mut text = match (arg.get_short(), arg.get_long()) {
        (Some(short), Some(long)) => format!("\\fB\\-{short}\\fR|\\fB\\-\\-{}\\fR", roff(long)),
        (Some(short), None) => format!("\\fB\\-{short}\\fR"),
        (None, Some(long)) => format!("\\fB\\-\\-{}\\fR", roff(long)),
        (None, None) => String::new(),
    };
    if matches!(arg.get_action(), ArgAction::Count) {
        text.push_str("...");
    }
    if arg.get_action().takes_values() {
        let value = arg
            .get_value_names()
            .map(|v| v.join(" "))
            .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
        let optional_value = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        text.push_str(&if optional_value {
            format!("[=\\fI{}\\fR]", roff(&value))
        } else {
            format!(" \\fI{}\\fR", roff(&value))
        });
    }
    text
}

/// Text safe in a roff line: backslashes and hyphens escaped, no leading dot.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.strip_prefix(['.', '\'']) {
        Some(_) => format!("\\&{escaped}"),
        None => escaped,
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(name: &str) -> String {
        let (_, page) = pages().into_iter().find(|(n, _)| n == name).unwrap();
        String::from_utf8(page).unwrap()
    }

    fn synopsis_of(page: &str) -> &str {
        page.split(".SH SYNOPSIS\n")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap()
    }

    #[test]
    fn synopses_show_value_placeholders() {
        let restore = page("walden-restore.1");
        let synopsis = synopsis_of(&restore);
        assert!(
            synopsis.contains("[\\fB\\-\\-target\\-time\\fR \\fITIME\\fR]"),
            "{synopsis}"
        );
        assert!(
            synopsis.contains("\\fB\\-\\-pgdata\\fR \\fIDIR\\fR"),
            "{synopsis}"
        );
        assert!(synopsis.ends_with("\\fINAME|latest\\fR"), "{synopsis}");
        let backup = page("walden-backup-push.1");
        assert!(
            synopsis_of(&backup).contains("[\\fB\\-\\-max\\-rate\\fR \\fIRATE\\fR]"),
            "{backup}"
        );
        let root = page("walden.1");
        let synopsis = synopsis_of(&root);
        assert!(
            synopsis.contains("\\fB\\-\\-repo\\fR \\fIURL\\fR"),
            "{synopsis}"
        );
        assert!(
            synopsis.ends_with("[\\fIOPTIONS\\fR] \\fICOMMAND\\fR"),
            "{synopsis}"
        );
    }

    #[test]
    fn every_page_has_examples() {
        for (name, page) in pages() {
            let text = String::from_utf8(page).unwrap();
            assert!(text.contains(".SH EXAMPLES"), "{name} has no examples");
        }
    }

    #[test]
    fn roff_escapes_what_troff_would_read_as_markup() {
        assert_eq!(roff("--max-rate"), "\\-\\-max\\-rate");
        assert_eq!(roff(".5"), "\\&.5");
        assert_eq!(roff("a\\b"), "a\\eb");
    }
}
