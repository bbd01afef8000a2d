//! wal-fetch against objects it cannot trust: one whose checksum was lost (a copy without xattrs), and a decompression bomb; both stop recovery (exit 255), the bomb in bounded memory.

mod support;

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;

use sha2::Digest;
use support::fake_pgdata::FakePgdata;
use support::*;

fn path_c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// What `rsync -a` without `-X` does to an object: its xattrs are gone.
fn strip_xattr(path: &Path) {
    // SAFETY: both strings are NUL-terminated and live across the call.
    let rc = unsafe { libc::removexattr(path_c(path).as_ptr(), c"user.walden".as_ptr()) };
    assert_eq!(rc, 0, "removexattr: {}", std::io::Error::last_os_error());
}

fn set_xattr(path: &Path, value: &str) {
    // SAFETY: the strings are NUL-terminated, the value valid for its length.
    let rc = unsafe {
        libc::setxattr(
            path_c(path).as_ptr(),
            c"user.walden".as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
}

#[test]
fn an_object_without_its_checksum_is_fatal_and_verify_reports_it() {
    let s = FakePgdata::new();
    let (name, data) = fixture_segment(None);
    s.push_ok(&name, &data, &["--compression", "none"]);
    let object = s.repo.join(format!("wal/00000001/{name}"));
    strip_xattr(&object);
    // Corrupt it where a header check cannot see: only a checksum would.
    let mut stored = std::fs::read(&object).unwrap();
    stored[1 << 20] ^= 0x01;
    std::fs::write(&object, &stored).unwrap();

    let out = run(&mut s.fetch_command(&name));
    let msg = stderr(&out);
    assert_eq!(code(&out), 255, "{msg}");
    assert!(
        msg.contains(&format!("wal/00000001/{name}")) && msg.contains("no recorded checksum"),
        "names the object and why: {msg}"
    );
    assert!(msg.contains("rsync -aX"), "says how to fix it: {msg}");
    assert!(!s.pgdata.join("pg_wal/RECOVERYXLOG").exists());

    let out = run(walden().args(["verify", "--wal", "--repo"]).arg(&s.repo));
    let report = String::from_utf8_lossy(&out.stdout);
    assert_ne!(code(&out), 0, "{report}\n{}", stderr(&out));
    assert!(
        report.contains(&format!("wal/00000001/{name}")) && report.contains("no recorded checksum"),
        "{report}"
    );
}

/// Exit status and peak RSS (KiB) of a child, measured for it alone.
// The child is reaped by wait4, which also reports its own rusage.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut std::process::Command) -> (i32, i64, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data; the pid is our unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "killed: status {status}");
    let stderr = std::fs::read_to_string(log.path()).unwrap();
    (libc::WEXITSTATUS(status), usage.ru_maxrss, stderr)
}

/// A valid first page claiming a 16 MiB segment, then 256 MiB of zeros:
/// a few hundred KiB once compressed.
fn bomb_plaintext() -> impl Read {
    let (_, segment) = fixture_segment(None);
    std::io::Cursor::new(segment[..8192].to_vec()).chain(std::io::repeat(0).take(256 << 20))
}

#[test]
fn a_decompression_bomb_is_refused_in_bounded_memory() {
    let s = FakePgdata::new();
    // A real repository; then its segment is replaced behind walden's back.
    let (name, data) = fixture_segment(None);
    s.push_ok(&name, &data, &[]);
    let mut sha = sha2::Sha256::new();
    let mut plain = bomb_plaintext();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = plain.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
    }
    let sha = sha
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let mut stored = Vec::new();
    zstd::stream::copy_encode(bomb_plaintext(), &mut stored, 1).unwrap();
    assert!(stored.len() < 1 << 20, "a bomb: {} bytes", stored.len());

    let object = s.repo.join(format!("wal/00000001/{name}.zst"));
    for metadata in [
        // The true checksum of what it decodes to, no size.
        format!(r#"{{"sha256":"{sha}"}}"#),
        // A plausible size too.
        format!(r#"{{"plain-size":"16777216","sha256":"{sha}"}}"#),
    ] {
        let _ = std::fs::remove_file(&object);
        std::fs::write(&object, &stored).unwrap();
        set_xattr(&object, &metadata);
        let (status, max_rss_kib, msg) = run_measured(&mut s.fetch_command(&name));
        assert_eq!(status, 255, "{metadata}: {msg}");
        assert!(
            msg.contains("more than 16777216 bytes"),
            "{metadata}: {msg}"
        );
        assert!(
            !s.pgdata.join("pg_wal/RECOVERYXLOG").exists(),
            "{metadata}: nothing reaches pg_wal"
        );
        assert!(
            max_rss_kib < 96 * 1024,
            "{metadata}: wal-fetch peaked at {max_rss_kib} KiB for a 16 MiB segment"
        );
    }
}
