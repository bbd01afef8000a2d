//! Restore from a crafted repository: whoever can write to the bucket gets a failed restore at most, never a wrong one, a file outside the announced directories, a dangerous mode or a full disk.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::hostile::*;
use support::site::assert_ok;
use support::*;
use walden::repo::manifest::FileKind;

/// A crafted repository and a place to restore it, as root (the test runs
/// as root, as an operator's restore may).
struct Bench {
    scratch: Scratch,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            scratch: Scratch::new(),
        }
    }

    fn repo(&self) -> PathBuf {
        self.scratch.path().join("repo")
    }

    fn pgdata(&self) -> PathBuf {
        self.scratch.path().join("restored")
    }

    /// `walden restore <backup> --pgdata <restored>` plus `extra`.
    fn restore(&self, backup: &CraftedBackup, extra: &[&str]) -> Output {
        let mut cmd = walden();
        cmd.arg("restore")
            .arg(&backup.name)
            .arg("--repo")
            .arg(self.repo())
            .arg("--pgdata")
            .arg(self.pgdata())
            .args(extra);
        run(&mut cmd)
    }
}

fn assert_refused(out: &Output, code: i32, expected: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
    assert!(
        stderr(out).contains(expected),
        "expected {expected:?} in: {}",
        stderr(out)
    );
}

/// A refused restore never looks startable.
fn assert_not_startable(pgdata: &Path) {
    assert!(
        !pgdata.join("backup_label").exists(),
        "backup_label written"
    );
    assert!(
        !pgdata.join("recovery.signal").exists(),
        "recovery.signal written"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn the_crafted_baseline_restores() {
    // Every attack below differs from this in one lie only.
    let bench = Bench::new();
    let backup = CraftedBackup::minimal();
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &[]);
    assert_ok(&out, "restore of the crafted baseline");
    let pgdata = bench.pgdata();
    assert_eq!(std::fs::read(pgdata.join("PG_VERSION")).unwrap(), b"15\n");
    assert_eq!(
        std::fs::metadata(pgdata.join("global/pg_control"))
            .unwrap()
            .len(),
        8192
    );
    assert!(pgdata.join("recovery.signal").exists());
}

#[test]
fn an_entry_missing_from_the_parts_is_refused() {
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    backup.parts[0].entries.retain(|e| e.path != "base/1/1259");
    backup.write(&bench.repo(), SYSID, |m| {
        // The manifest still lists it.
        let mut listed = m
            .files
            .iter()
            .find(|f| f.path == "PG_VERSION")
            .unwrap()
            .clone();
        listed.path = "base/1/1259".into();
        m.files.push(listed);
    });
    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, "\"base/1/1259\"");
    assert!(stderr(&out).contains("incomplete"), "{}", stderr(&out));
    assert_not_startable(&bench.pgdata());
}

#[test]
fn an_entry_twice_in_a_part_is_refused() {
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    let again = backup.entry_mut(0, "base/1").clone();
    backup.parts[0].entries.push(again);
    // The derived manifest would list it twice too: list it once.
    backup.write(&bench.repo(), SYSID, |m| {
        let last = m.files.iter().rposition(|f| f.path == "base/1").unwrap();
        m.files.remove(last);
    });
    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, "\"base/1\" twice");
    assert_not_startable(&bench.pgdata());
}

#[test]
fn a_tar_entry_of_another_kind_than_listed_is_refused() {
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    *backup.entry_mut(0, "base/1/1259") = TarEntry::dir("base/1/1259");
    backup.write(&bench.repo(), SYSID, |m| {
        let f = m
            .files
            .iter_mut()
            .find(|f| f.path == "base/1/1259")
            .unwrap();
        f.kind = FileKind::File;
        f.sha256 = Some(sha256_hex(b""));
    });
    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, "as a directory, but its manifest lists a file");
    assert_not_startable(&bench.pgdata());
}

#[test]
fn a_backup_without_its_control_file_is_refused() {
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    backup.parts[0]
        .entries
        .retain(|e| e.path != "global/pg_control");
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, "global/pg_control");
    assert!(
        stderr(&out).contains("not in the backup"),
        "{}",
        stderr(&out)
    );
    assert!(!bench.pgdata().exists(), "refused before writing anything");
}

#[test]
fn a_control_file_that_is_a_directory_is_refused() {
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    *backup.entry_mut(0, "global/pg_control") = TarEntry::dir("global/pg_control");
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, "global/pg_control");
    assert!(stderr(&out).contains("not a file"), "{}", stderr(&out));
    assert!(!bench.pgdata().exists(), "refused before writing anything");
}

#[test]
fn a_backup_of_another_cluster_is_refused() {
    let bench = Bench::new();
    let backup = CraftedBackup::minimal();
    let repository_cluster = SYSID + 1;
    backup.write(&bench.repo(), repository_cluster, |_| {});
    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, &repository_cluster.to_string());
    assert!(
        stderr(&out).contains(&SYSID.to_string()),
        "{}",
        stderr(&out)
    );
    assert!(!bench.pgdata().exists(), "refused before writing anything");

    // And without walden.json nothing shows whose backup it is.
    std::fs::remove_file(bench.repo().join("walden.json")).unwrap();
    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, "walden.json");
    assert!(!bench.pgdata().exists());
}

#[test]
fn as_root_a_tablespace_outside_pgdata_needs_a_map_or_the_opt_in() {
    let bench = Bench::new();
    let location = bench.scratch.path().join("elsewhere/ts");
    let backup = CraftedBackup::minimal().with_tablespace(16390, location.to_str().unwrap());
    backup.write(&bench.repo(), SYSID, |_| {});

    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 2, "--tablespace-map 16390=DIR");
    assert!(
        stderr(&out).contains("--tablespaces-in-place"),
        "{}",
        stderr(&out)
    );
    assert!(
        !location.exists(),
        "nothing written at the manifest's location"
    );
    assert!(!bench.scratch.path().join("elsewhere").exists());
    assert!(!bench.pgdata().exists(), "refused before writing anything");

    // Mapped: written where the operator said, and announced first.
    let mapped = bench.scratch.path().join("mapped");
    let map = format!("16390={}", mapped.display());
    let out = bench.restore(&backup, &["--tablespace-map", &map]);
    assert_ok(&out, "restore with --tablespace-map");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let announced = stdout
        .lines()
        .position(|l| l.contains("tablespace 16390") && l.contains(&mapped.display().to_string()))
        .unwrap_or_else(|| panic!("not announced: {stdout}"));
    let done = stdout
        .lines()
        .position(|l| l.starts_with("restored backup"))
        .unwrap();
    assert!(announced < done, "{stdout}");
    assert!(mapped.join(format!("{VERSION_DIR}/5/16386")).is_file());
    assert!(!location.exists());
    assert_eq!(
        std::fs::read_to_string(bench.pgdata().join("tablespace_map")).unwrap(),
        format!("16390 {}\n", mapped.display())
    );

    // With the explicit opt-in: at the manifest's location.
    std::fs::remove_dir_all(bench.pgdata()).unwrap();
    let out = bench.restore(&backup, &["--tablespaces-in-place"]);
    assert_ok(&out, "restore with --tablespaces-in-place");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&location.display().to_string()));
    assert!(location.join(format!("{VERSION_DIR}/5/16386")).is_file());
}

#[test]
fn a_tablespace_writes_only_inside_its_version_directory() {
    let bench = Bench::new();
    let location = bench.scratch.path().join("ts");
    let mut backup = CraftedBackup::minimal().with_tablespace(16390, location.to_str().unwrap());
    backup.parts[1].entries.push(TarEntry::dir(".ssh"));
    backup.parts[1].entries.push(TarEntry::file(
        ".ssh/authorized_keys",
        b"ssh-ed25519 AAAA attacker\n",
    ));
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &["--tablespaces-in-place"]);
    assert_refused(&out, 1, "PG_15_<catalog version>");
    assert!(!location.join(".ssh").exists());
}

#[test]
fn tablespace_locations_with_control_characters_are_refused() {
    let bench = Bench::new();
    // A newline would add a line of the attacker's to tablespace_map.
    let location = format!("{}/ts\n16391 /etc", bench.scratch.path().display());
    let backup = CraftedBackup::minimal().with_tablespace(16390, &location);
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &["--tablespaces-in-place"]);
    assert_refused(&out, 1, "control character");
    assert!(!Path::new(&location).exists());
    assert!(!bench.pgdata().exists());

    // Nor through --tablespace-map.
    let backup = CraftedBackup::minimal().with_tablespace(16390, "/srv/ts");
    backup.write(&bench.repo(), SYSID, |_| {});
    let map = format!("16390={}/ts\n16391 /etc", bench.scratch.path().display());
    let out = bench.restore(&backup, &["--tablespace-map", &map]);
    assert_refused(&out, 2, "control character");
    assert!(!bench.pgdata().exists());
}

#[test]
fn backslashes_in_tablespace_locations_are_escaped_in_tablespace_map() {
    let bench = Bench::new();
    let location = bench.scratch.path().join("back\\slash");
    let backup = CraftedBackup::minimal().with_tablespace(16390, location.to_str().unwrap());
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &["--tablespaces-in-place"]);
    assert_ok(&out, "restore");
    assert_eq!(
        std::fs::read_to_string(bench.pgdata().join("tablespace_map")).unwrap(),
        format!("16390 {}/back\\\\slash\n", bench.scratch.path().display())
    );
}

#[test]
fn modes_are_postgresqls_whatever_the_manifest_says() {
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    for (path, evil) in [
        ("PG_VERSION", 0o4755),
        ("base/1/1259", 0o2777),
        ("base", 0o1777),
        ("base/1", 0o6777),
    ] {
        let e = backup.entry_mut(0, path);
        e.mode = evil;
    }
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &[]);
    assert_ok(&out, "restore");
    let pgdata = bench.pgdata();
    for (path, expected) in [
        ("", 0o700),
        ("PG_VERSION", 0o600),
        ("base/1/1259", 0o600),
        ("base", 0o700),
        ("base/1", 0o700),
        ("global", 0o700),
        ("global/pg_control", 0o600),
        ("pg_wal", 0o700),
        ("backup_label", 0o600),
        ("postgresql.auto.conf", 0o600),
    ] {
        assert_eq!(mode(&pgdata.join(path)), expected, "{path}");
    }

    // A cluster with group access (initdb -g): 0750/0640, and nothing more.
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    backup.entry_mut(0, "global").mode = 0o750;
    backup.entry_mut(0, "PG_VERSION").mode = 0o4777;
    backup.entry_mut(0, "base").mode = 0o1777;
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &[]);
    assert_ok(&out, "restore");
    let pgdata = bench.pgdata();
    for (path, expected) in [
        ("", 0o750),
        ("global", 0o750),
        ("base", 0o750),
        ("PG_VERSION", 0o640),
        ("global/pg_control", 0o640),
    ] {
        assert_eq!(mode(&pgdata.join(path)), expected, "{path}");
    }
}

#[test]
fn an_entry_longer_than_listed_is_stopped_before_it_is_written() {
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    // 256 MiB of zeros: a part of some kilobytes.
    const BOMB: u64 = 256 << 20;
    *backup.entry_mut(0, "base/1/1259") = TarEntry::zeros("base/1/1259", BOMB);
    backup.write(&bench.repo(), SYSID, |m| {
        let f = m
            .files
            .iter_mut()
            .find(|f| f.path == "base/1/1259")
            .unwrap();
        f.size = 8192;
        f.sha256 = Some(sha256_hex(&[0u8; 8192]));
    });
    let stored = std::fs::read_dir(bench.repo().join(format!("backups/{}/data", backup.name)))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum::<u64>();
    assert!(stored < 1 << 20, "the part is small: {stored} bytes");

    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, "base/1/1259");
    let written = std::fs::metadata(bench.pgdata().join("base/1/1259")).map_or(0, |m| m.len());
    assert!(
        written <= 8192,
        "wrote {written} bytes of an entry listed at 8192"
    );
    assert_not_startable(&bench.pgdata());
}

#[test]
fn a_part_that_decodes_past_its_listed_size_is_stopped() {
    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    // Past the tar's end, where nothing is written but everything is read.
    backup.parts[0].trailing_zeros = 256 << 20;
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &[]);
    assert_refused(&out, 1, "more bytes than its manifest lists");
    assert_not_startable(&bench.pgdata());
}

/// Address space for walden in the memory tests: enough for any restore
/// (checked on the baseline), far less than the bombs.
const ADDRESS_SPACE_KIB: u64 = 768 << 10;

impl Bench {
    /// `restore` with its address space limited (ulimit -v).
    fn restore_in_bounded_memory(&self, backup: &CraftedBackup) -> Output {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
            ))
            .arg(walden_bin())
            .arg("restore")
            .arg(&backup.name)
            .arg("--repo")
            .arg(self.repo())
            .arg("--pgdata")
            .arg(self.pgdata())
            // Few malloc arenas: address space then follows what is used.
            .env("MALLOC_ARENA_MAX", "2");
        for (key, _) in std::env::vars() {
            if key.starts_with("WALDEN_") {
                cmd.env_remove(key);
            }
        }
        run(&mut cmd)
    }
}

#[test]
fn a_huge_long_name_is_refused_in_bounded_memory() {
    let bench = Bench::new();
    let backup = CraftedBackup::minimal();
    backup.write(&bench.repo(), SYSID, |_| {});
    assert_ok(
        &bench.restore_in_bounded_memory(&backup),
        "the baseline within the memory limit",
    );

    let bench = Bench::new();
    let mut backup = CraftedBackup::minimal();
    // A GNU long name entry of 1 GiB: a part of some kilobytes that a tar
    // reader would hold in memory whole.
    backup.parts[0].long_name = 1 << 30;
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore_in_bounded_memory(&backup);
    assert_refused(&out, 1, "long name of more than 4096 bytes");
    assert_not_startable(&bench.pgdata());
}

#[test]
fn long_paths_and_long_tablespace_links_still_restore() {
    // Paths past tar's 100 bytes travel as GNU long names and long links,
    // which restore reads itself (with a bound).
    let bench = Bench::new();
    let deep = format!("{}/{}", bench.scratch.path().display(), "t".repeat(150));
    let mut backup = CraftedBackup::minimal().with_tablespace(16390, &deep);
    let long = format!("base/1/{}", "r".repeat(180));
    backup.parts[0].entries.push(TarEntry::file(&long, b"long"));
    backup.write(&bench.repo(), SYSID, |_| {});
    let out = bench.restore(&backup, &["--tablespaces-in-place"]);
    assert_ok(&out, "restore");
    assert_eq!(std::fs::read(bench.pgdata().join(&long)).unwrap(), b"long");
    assert!(Path::new(&deep)
        .join(format!("{VERSION_DIR}/5/16386"))
        .is_file());
}

#[test]
fn a_damaged_manifest_blocks_latest_but_not_another_named_backup() {
    let bench = Bench::new();
    let good = CraftedBackup::minimal();
    good.write(&bench.repo(), SYSID, |_| {});
    let damaged = layout_name_after(&good.name);
    let dir = bench.repo().join("backups").join(&damaged);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), b"{ not json").unwrap();

    let mut cmd = walden();
    cmd.args(["restore", "latest", "--repo"])
        .arg(bench.repo())
        .arg("--pgdata")
        .arg(bench.pgdata());
    let out = run(&mut cmd);
    assert_refused(&out, 1, "name the backup to restore");
    assert!(!bench.pgdata().exists(), "refused before writing anything");

    let out = bench.restore(&good, &[]);
    assert_ok(&out, "a named backup restores beside a damaged one");
}

/// A backup name that sorts after `name` (a later start LSN).
fn layout_name_after(name: &str) -> String {
    walden::repo::layout::backup_name(1, 0x0900_0028).max(name.to_string())
}
