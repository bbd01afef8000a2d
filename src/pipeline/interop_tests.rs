//! Interop with the real `zstd`, `age` and `age-keygen` CLIs: the break-glass restore path must work without walden.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::tests::{identity, test_data};
use super::*;

/// True if every tool runs. Otherwise shouts SKIPPED, or panics under CI=true,
/// where a missing tool means the test environment is broken.
fn tools_available(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            let status = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            !matches!(status, Ok(s) if s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!("SKIPPED: {} CLI not installed", missing.join("/"));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message} (and CI=true)");
    }
    // Straight to the process's stderr: libtest hides `eprintln!` output
    // of passing tests, and a skip must not go unnoticed.
    let _ = writeln!(std::io::stderr(), "\n!!!!! {message} !!!!!\n");
    false
}

fn run_shell(script: &str, dir: &Path) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert_success(&out, script);
    out.stdout
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key pair made by `age-keygen`: (identity file path, public key).
fn age_keygen(dir: &Path) -> (std::path::PathBuf, String) {
    let key = dir.join("key.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert_success(&out, "age-keygen");
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    assert_success(&out, "age-keygen -y");
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    (key, public)
}

fn store(dir: &Path, name: &str, plain: &[u8], opts: &EncodeOptions) -> std::path::PathBuf {
    let (stored, _) = encode_bytes(plain, opts).unwrap();
    let path = dir.join(format!("{name}{}", opts.stages().suffix()));
    std::fs::write(&path, stored).unwrap();
    path
}

#[test]
fn zstd_cli_decompresses_our_output() {
    if !tools_available(&["zstd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = test_data(2 << 20, 101);
    for compression in [
        Compression::Zstd { level: 3 },
        Compression::Zstd { level: 19 },
    ] {
        let opts = EncodeOptions {
            compression,
            recipients: Recipients::none(),
        };
        let path = store(dir.path(), "seg", &plain, &opts);
        // `zstd -t` also verifies the frame checksum.
        run_shell(&format!("zstd -q -t {}", path.display()), dir.path());
        let out = run_shell(&format!("zstd -q -d -c {}", path.display()), dir.path());
        assert!(out == plain, "{compression}");
    }
}

#[test]
fn we_decompress_zstd_cli_output() {
    if !tools_available(&["zstd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = test_data(1 << 20, 103);
    std::fs::write(dir.path().join("seg"), &plain).unwrap();
    let stored = run_shell("zstd -q -c seg", dir.path());
    let stages = Stages {
        codec: Codec::Zstd,
        encrypted: false,
    };
    let (back, digest) = decode_bytes(&stored, stages, &Identities::none()).unwrap();
    assert!(back == plain);
    digest.verify(&sha256_hex(&plain)).unwrap();
}

#[test]
fn age_keygen_keys_work_both_ways_with_the_age_cli() {
    if !tools_available(&["age", "age-keygen"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = age_keygen(dir.path());
    let ids = Identities::from_file(&key).unwrap();
    let opts = EncodeOptions {
        compression: Compression::None,
        recipients: Recipients::parse(std::slice::from_ref(&public)).unwrap(),
    };
    let plain = test_data(300_000, 107);

    // Ours → age CLI.
    let path = store(dir.path(), "seg", &plain, &opts);
    let out = run_shell(
        &format!("age -d -i {} {}", key.display(), path.display()),
        dir.path(),
    );
    assert!(out == plain);

    // age CLI → ours.
    std::fs::write(dir.path().join("plain"), &plain).unwrap();
    let stored = run_shell(&format!("age -e -r {public} plain"), dir.path());
    let (back, _) = decode_bytes(&stored, opts.stages(), &ids).unwrap();
    assert!(back == plain);
}

#[test]
fn age_cli_piped_into_zstd_cli_restores_zst_age() {
    if !tools_available(&["age", "age-keygen", "zstd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = age_keygen(dir.path());
    let opts = EncodeOptions {
        compression: Compression::Zstd { level: 3 },
        recipients: Recipients::parse(&[public]).unwrap(),
    };
    let plain = test_data(3 << 20, 109);
    let path = store(
        dir.path(),
        "000000010000000000000002.00000028.backup",
        &plain,
        &opts,
    );
    assert!(path.to_string_lossy().ends_with(".backup.zst.age"));
    let script = format!(
        "age -d -i {} {} | zstd -q -d -c",
        key.display(),
        path.display()
    );
    assert!(run_shell(&script, dir.path()) == plain);
}

#[test]
fn age_cli_decrypts_for_each_of_several_recipients() {
    if !tools_available(&["age", "age-keygen"]) {
        return;
    }
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let keys: Vec<_> = dirs.iter().map(|d| age_keygen(d.path())).collect();
    let mut recipients = Recipients::parse(&[keys[0].1.clone()]).unwrap();
    // A recipients file, as `age -R` reads it, with comments.
    let file = dirs[1].path().join("recipients.txt");
    let mut text = std::fs::File::create(&file).unwrap();
    writeln!(text, "# second operator\n\n{}", keys[1].1).unwrap();
    recipients.extend(Recipients::from_file(&file).unwrap());
    recipients.extend(identity().recipients());
    let opts = EncodeOptions {
        compression: Compression::Snappy,
        recipients,
    };
    let plain = test_data(100_000, 113);
    let path = store(dirs[0].path(), "seg", &plain, &opts);
    for (key, _) in &keys {
        let script = format!("age -d -i {} {}", key.display(), path.display());
        let decrypted = run_shell(&script, dirs[0].path());
        let stages = Stages {
            codec: Codec::Snappy,
            encrypted: false,
        };
        // What the CLI decrypted is our snappy stream, end marker included.
        let (back, _) = decode_bytes(&decrypted, stages, &Identities::none()).unwrap();
        assert!(back == plain);
    }
}
