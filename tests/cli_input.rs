//! What an operator types and reads first: a rate without its unit is refused with the accepted forms, `-h` stays short, and the man pages show value placeholders and examples.

mod support;

use support::*;

#[test]
fn a_rate_without_per_second_is_refused_with_the_accepted_forms() {
    let scratch = Scratch::new();
    let pgdata = scratch.path().display().to_string();
    for rate in ["50MB", "100M", "1048576"] {
        let out = run(walden().args([
            "backup-push",
            "--repo",
            "/nonexistent/repo",
            "--pgdata",
            &pgdata,
            "--max-rate",
            rate,
        ]));
        assert_eq!(out.status.code(), Some(2), "{rate}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("is not a rate per second") && err.contains("50MB/s"),
            "{rate}: {err}"
        );
    }
    // The same rule in the configuration file.
    let config = scratch.path().join("walden.toml");
    std::fs::write(&config, "[backup-push]\nmax-rate = \"50MB\"\n").unwrap();
    let out = run(walden()
        .args([
            "backup-push",
            "--repo",
            "/nonexistent/repo",
            "--pgdata",
            &pgdata,
            "--config",
        ])
        .arg(&config));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a rate per second"),
        "{}",
        stderr(&out)
    );
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn short_help_is_short_and_long_help_groups_the_storage_options() {
    let short = stdout(&run(walden().arg("-h")));
    assert!(
        short.lines().count() <= 45,
        "-h is {} lines:\n{short}",
        short.lines().count()
    );
    for hidden in [
        "--s3-endpoint",
        "--gcs-endpoint",
        "--compression",
        "--log-format",
    ] {
        assert!(!short.contains(hidden), "{hidden} in -h:\n{short}");
    }
    assert!(short.contains("--repo <URL>"), "{short}");
    assert!(
        short.contains("walden --help"),
        "-h says where the rest is:\n{short}"
    );

    let long = stdout(&run(walden().arg("--help")));
    for (heading, flag) in [
        ("S3 storage:", "--s3-endpoint"),
        ("GCS storage:", "--gcs-endpoint"),
        ("Compression and encryption:", "--encrypt-recipient"),
        ("Logging:", "--log-format"),
    ] {
        let section = long
            .split(heading)
            .nth(1)
            .unwrap_or_else(|| panic!("no {heading} in --help:\n{long}"));
        // Up to the next heading: the next line that is not indented.
        let section: String = section
            .lines()
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            section.contains(flag),
            "{flag} not under {heading}:\n{long}"
        );
    }
    let backup = stdout(&run(walden().args(["backup-push", "-h"])));
    assert!(backup.lines().count() <= 50, "{backup}");
    assert!(backup.contains("--max-rate <RATE>"), "{backup}");
}

/// Words of a shell command line with single quotes (all the man page examples use).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '\'' => (quoted, any) = (!quoted, true),
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

#[test]
fn man_page_examples_parse_with_this_command_line() {
    use clap::Parser;
    let mut names = vec!["walden".to_string()];
    names.extend(
        walden::commands::man::pages()
            .into_iter()
            .filter_map(|(page, _)| {
                Some(
                    page.strip_prefix("walden-")?
                        .strip_suffix(".1")?
                        .to_string(),
                )
            }),
    );
    assert!(names.len() > 5, "{names:?}");
    for name in names {
        let examples = walden::commands::man::examples(&name);
        assert!(!examples.is_empty(), "walden {name}: no examples");
        for (_, command) in examples {
            // What the shell parses, without an output redirection.
            let command = command.split(" > ").next().unwrap();
            let line = command
                .replace("%p", "pg_wal/000000010000000000000001")
                .replace("%f", "000000010000000000000001");
            let words = shell_words(&line);
            if let Err(e) = walden::cli::Cli::try_parse_from(&words) {
                panic!("man page example {command:?} does not parse: {e}");
            }
        }
    }
}
