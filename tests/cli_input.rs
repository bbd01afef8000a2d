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
