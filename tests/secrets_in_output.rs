//! What walden prints must not give secrets away: no WALDEN_* values in --help, and a warning when an age identity file is open to others.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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

/// An encrypted segment in a fresh local repository, and a fetch of it.
struct Encrypted {
    scratch: Scratch,
    key: std::path::PathBuf,
    name: String,
}

impl Encrypted {
    fn new() -> Encrypted {
        use age::secrecy::ExposeSecret;
        let scratch = Scratch::new();
        let identity = age::x25519::Identity::generate();
        let key = scratch.path().join("key.txt");
        std::fs::write(&key, format!("{}\n", identity.to_string().expose_secret())).unwrap();
        let (name, data) = fixture_segment(None);
        let wal = scratch.path().join(&name);
        std::fs::write(&wal, data).unwrap();
        let out = run(walden()
            .arg("wal-push")
            .arg("--repo")
            .arg(scratch.path().join("repo"))
            .args(["--encrypt-recipient", &identity.to_public().to_string()])
            .arg(&wal));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        Encrypted { scratch, key, name }
    }

    fn fetch_with_key_mode(&self, mode: u32) -> Output {
        std::fs::set_permissions(&self.key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = run(walden()
            .arg("wal-fetch")
            .arg("--repo")
            .arg(self.scratch.path().join("repo"))
            .arg("--decrypt-identity")
            .arg(&self.key)
            .arg(&self.name)
            .arg(self.scratch.path().join("fetched")));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        out
    }
}

fn key_warnings(out: &Output, key: &Path) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("identity"))
        .inspect(|l| {
            assert!(l.contains(&key.display().to_string()), "{l}");
            assert!(l.contains(&format!("chmod 600 {}", key.display())), "{l}");
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn an_identity_file_others_can_read_is_used_with_a_warning() {
    let e = Encrypted::new();
    for mode in [0o644, 0o640, 0o604] {
        let out = e.fetch_with_key_mode(mode);
        let warnings = key_warnings(&out, &e.key);
        assert_eq!(warnings.len(), 1, "mode {mode:o}: {}", stderr(&out));
        assert!(warnings[0].contains(&format!("{mode:04o}")), "{warnings:?}");
    }
    for mode in [0o600, 0o400] {
        let out = e.fetch_with_key_mode(mode);
        assert!(
            key_warnings(&out, &e.key).is_empty(),
            "mode {mode:o}: {}",
            stderr(&out)
        );
    }
}
