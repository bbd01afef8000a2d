//! The README's first command: `walden demo` runs its whole tour on a throwaway cluster and ends in a real check.

mod support;

use support::*;

#[test]
fn the_demo_ends_in_a_checked_point_in_time_restore() {
    if pg_bin_or_skip("demo").is_none() {
        return;
    }
    let scratch = Scratch::new();
    let dir = scratch.path().join("demo");
    let out = run(walden().args(["demo", "--dir", dir.to_str().unwrap()]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", stderr(&out));
    assert!(
        stdout.contains("demo OK: point-in-time restore brought back exactly the rows"),
        "{stdout}"
    );
    // A directory the operator named is theirs: kept, to look around in.
    let left = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(left > 0, "the demo keeps a directory given with --dir");
}
