//! What walden prints must not give secrets away: no WALDEN_* values in --help.

mod support;

use std::process::Output;

use support::*;

const COMMANDS: &[&str] = &[
    "wal-push",
    "wal-fetch",
    "backup-push",
    "backup-list",
    "restore",
    "prune",
    "verify",
    "status",
    "drill",
    "demo",
];

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every WALDEN_* name that `walden <command> --help` mentions.
fn env_names(help: &str) -> Vec<String> {
    let mut names: Vec<String> = help
        .match_indices("WALDEN_")
        .map(|(at, _)| {
            help[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn help_names_walden_variables_but_never_shows_their_values() {
    let mut all = Vec::new();
    for command in COMMANDS {
        let out = run(walden().args([command, "--help"]));
        assert_eq!(out.status.code(), Some(0), "{command}: {}", stderr(&out));
        all.extend(env_names(&stdout(&out)));
    }
    all.sort();
    all.dedup();
    for name in ["WALDEN_DECRYPT_IDENTITY", "WALDEN_REPO", "WALDEN_CONFIG"] {
        assert!(all.contains(&name.to_string()), "{name} not in {all:?}");
    }

    let secret = |name: &str| format!("secret-{}", name.to_lowercase());
    let with_env = |args: &[&str]| {
        let mut cmd = walden();
        cmd.args(args);
        for name in &all {
            cmd.env(name, secret(name));
        }
        cmd.env("WALDEN_DECRYPT_IDENTITY", "/secret/path")
            .env("WALDEN_REPO", "s3://secret-bucket");
        run(&mut cmd)
    };
    let mut helps: Vec<Vec<&str>> = vec![vec!["--help"], vec!["-h"]];
    for command in COMMANDS {
        helps.push(vec![command, "--help"]);
        helps.push(vec![command, "-h"]);
    }
    helps.push(vec!["help", "restore"]);
    for args in helps {
        let out = with_env(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(!text.contains("secret"), "{args:?} shows a value:\n{text}");
        assert!(text.contains("env: WALDEN_"), "{args:?}:\n{text}");
        if args.contains(&"restore") {
            assert!(text.contains("WALDEN_DECRYPT_IDENTITY"), "{text}");
            assert!(text.contains("WALDEN_REPO"), "{text}");
        }
    }
}
