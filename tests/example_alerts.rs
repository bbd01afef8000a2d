//! The Prometheus rules in examples/ as an operator would load them: `promtool check rules` accepts them and `promtool test rules` runs their unit tests (a fresh install is not paged as a failed drill).

use std::path::Path;
use std::process::Command;

/// promtool, or a loud skip (a failure under CI=true, where
/// scripts/install-deps.sh has installed Debian's prometheus package).
fn promtool_or_skip(test: &str) -> bool {
    match Command::new("promtool").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: promtool is required under CI=true (apt-get install prometheus): {why}");
            }
            eprintln!("\n*** SKIPPED {test}: promtool not installed ({why}) ***\n");
            false
        }
    }
}

fn promtool(args: &[&str]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus");
    let out = Command::new("promtool")
        .current_dir(&dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn example_alert_rules_load_and_pass_their_unit_tests() {
    if !promtool_or_skip("example_alert_rules_load_and_pass_their_unit_tests") {
        return;
    }
    promtool(&["check", "rules", "walden-alerts.yml"]);
    promtool(&["test", "rules", "walden-alerts.test.yml"]);
}
