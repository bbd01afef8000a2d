#!/usr/bin/env bash
# Benchmark: what keeping a repository healthy costs, on a local repository.
#
#   1. verify (every part read back), verify --wal (every WAL file read back),
#      status and a prune plan on the repository of a pgbench database
#      (scale SCALE) with WAL from a pgbench run after its backup.
#   2. drill of that backup: restore + replay of the archive + check, with
#      the RTO and RPO it reports and its wall time and peak RSS.
#   3. prune and status on a synthetic repository with WAL_FILES archived WAL
#      files and two backups: the plan, and applying it (deleting all but the
#      newest backup's WAL), wall time and peak RSS.
#
#   bash benches/maintenance.sh [SCALE]   (default 20 ≈ 300 MB; SCALE=5 for a quick check)
#
# Environment: PGBENCH_SECONDS (default 20), WAL_FILES (default 20000),
# WALDEN_BIN (a prebuilt walden instead of `cargo build --release`),
# BENCH_KEEP=1 (keep the work directory).
#
# Progress goes to stderr, the result table to stdout. Everything lives in a
# mktemp directory that is removed at exit; servers are stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-${SCALE:-20}}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-20}
WAL_FILES=${WAL_FILES:-20000}
bash scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
if [ -z "${WALDEN_BIN:-}" ]; then
  cargo build --release --quiet
  WALDEN_BIN=$(pwd)/target/release/walden
fi
BIN=$WALDEN_BIN   # kept: the WALDEN_* variables are cleared below
PGBIN=/usr/lib/postgresql/15/bin
unset PGHOST PGPORT PGUSER PGDATABASE PGDATA PGOPTIONS
for v in $(compgen -e | grep '^WALDEN_' || true); do unset "$v"; done

WORK=$(mktemp -d /tmp/walden-bench-maint-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
PGDATA_DIR=$WORK/pg
SOCK=$WORK/sock
REPO=$WORK/repo
SYNTH=$WORK/synthetic
T=$WORK/t

stop_server() {
  local dir=$1 pid i
  [ -f "$dir/postmaster.pid" ] || return 0
  pid=$(head -1 "$dir/postmaster.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}
cleanup() {
  stop_server "$PGDATA_DIR"
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

mkdir -p "$SOCK" "$REPO" "$T" "$WORK/bin" "$WORK/drills"
cp "$BIN" "$WORK/bin/walden"
WALDEN=$WORK/bin/walden
: > "$WORK/walden.toml"
export WALDEN_CONFIG=$WORK/walden.toml
[ "$(id -u)" -eq 0 ] && chown -R postgres "$WORK"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
pg() { "${AS_PG[@]}" "$@"; }
psql_main() { pg $PGBIN/psql -X -q -At -h "$SOCK" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
# timed NAME CMD...: as postgres under /usr/bin/time; $T/NAME.time gets
# "elapsed-s peak-RSS-KiB user-s system-s"; a non-zero exit is a failure.
timed() {
  local name=$1; shift
  if ! pg /usr/bin/time -f '%e %M %U %S' -o "$T/$name.time" "$@" >"$T/$name.out" 2>"$T/$name.err"; then
    echo "FAILED: $*" >&2; tail -n 30 "$T/$name.err" >&2; tail -n 30 "$T/$name.out" >&2; exit 1
  fi
}
row() { # label name: a table row from $T/name.time
  read -r secs rss user sys < "$T/$2.time"
  printf '| %s | %s | %s | %d |\n' "$1" "$secs" "$(python3 -c "print(round($user + $sys, 2))")" "$(( rss / 1024 ))"
}
wait_archived() {
  local i
  for i in $(seq 1 1200); do
    compgen -G "$PGDATA_DIR/pg_wal/archive_status/*.ready" >/dev/null || return 0
    sleep 0.1
  done
  echo "the archiver did not catch up in 120 s" >&2; exit 1
}

log "cluster: initdb, pgbench -i -s $SCALE, archiving with walden"
pg $PGBIN/initdb -D "$PGDATA_DIR" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$PGDATA_DIR/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$SOCK'
wal_level = replica
archive_mode = on
archive_command = '$WALDEN wal-push --repo $REPO %p'
max_wal_size = 4GB
EOF
pg $PGBIN/pg_ctl -D "$PGDATA_DIR" -l "$T/pg.log" -w start >/dev/null
pg $PGBIN/pgbench -h "$SOCK" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
psql_main -c CHECKPOINT
wait_archived
log "backup-push"
timed backup "$WALDEN" backup-push --repo "$REPO" --pgdata "$PGDATA_DIR" --pg-host "$SOCK" \
  --pg-user postgres --checkpoint fast
log "pgbench ${PGBENCH_SECONDS}s after the backup: WAL the drill must replay"
pg $PGBIN/pgbench -h "$SOCK" -U postgres -c 4 -j 2 -T "$PGBENCH_SECONDS" -n postgres >/dev/null 2>&1
psql_main -c "SELECT pg_switch_wal()" >/dev/null
wait_archived
SEGMENTS=$(find "$REPO/wal" -name '0000000*' ! -name '*.history*' ! -name '*.backup*' | wc -l)
REPO_MB=$(du -sm "$REPO" | cut -f1)

log "verify, verify --wal, status, prune plan"
timed verify "$WALDEN" verify --repo "$REPO"
timed verify_wal "$WALDEN" verify --repo "$REPO" --wal
timed status "$WALDEN" status --repo "$REPO"
timed prune_plan "$WALDEN" prune --repo "$REPO" --retain-full 1
log "drill"
timed drill "$WALDEN" drill --repo "$REPO" --json --work-dir "$WORK/drills" --pg-bin "$PGBIN" \
  --check-sql 'SELECT count(*) FROM pgbench_accounts'
read -r RTO RPO RESTORED < <(python3 - "$T/drill.out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(round(r["rto_seconds"], 2), round(r["rpo_seconds"] or 0, 2), r["bytes_restored"])
PY
)

log "synthetic repository: $WAL_FILES WAL files, two backups"
mkdir -p "$SYNTH/wal/00000001"
cp "$REPO/walden.json" "$SYNTH/"
python3 - "$SYNTH" "$WAL_FILES" "$REPO" <<'PY'
import json, os, sys
root, n, real = sys.argv[1], int(sys.argv[2]), sys.argv[3]
waldir = os.path.join(root, "wal", "00000001")
for segno in range(1, n + 1):
    name = "00000001%08X%08X.zst" % (segno // 256, segno % 256)
    with open(os.path.join(waldir, name), "wb") as f:
        f.write(b"x" * 100)
backup = sorted(d for d in os.listdir(os.path.join(real, "backups")))[0]
manifest = json.load(open(os.path.join(real, "backups", backup, "manifest.json")))
for segno in (n // 2, n - 10):
    lsn = segno * 16 * 1024 * 1024 + 0x28
    name = "base_00000001%016X" % lsn
    m = dict(manifest, name=name, start_lsn="%X/%X" % (lsn >> 32, lsn & 0xFFFFFFFF),
             stop_lsn="%X/%X" % (lsn >> 32, (lsn & 0xFFFFFFFF) + 0x100))
    os.makedirs(os.path.join(root, "backups", name), exist_ok=True)
    json.dump(m, open(os.path.join(root, "backups", name, "manifest.json"), "w"))
PY
[ "$(id -u)" -eq 0 ] && chown -R postgres "$SYNTH"
timed synth_status "$WALDEN" status --repo "$SYNTH" --max-backup-age 1000d
timed synth_plan "$WALDEN" prune --repo "$SYNTH" --retain-full 1 --json
DELETED=$(python3 -c "import json,sys; print(len(json.load(open('$T/synth_plan.out'))['delete_wal']))")
timed synth_apply "$WALDEN" prune --repo "$SYNTH" --retain-full 1 --apply
LEFT=$(find "$SYNTH/wal/00000001" -type f | wc -l)

echo
echo "walden maintenance on a local repository, $(date -u +%Y-%m-%d), $(nproc) cores"
echo "pgbench scale $SCALE: repository $REPO_MB MB, $SEGMENTS WAL segments; synthetic: $WAL_FILES WAL files"
echo
echo "| operation | wall s | CPU s | peak RSS MiB |"
echo "|---|---|---|---|"
row "verify (backup read back)" verify
row "verify --wal (and $SEGMENTS segments)" verify_wal
row "status" status
row "prune plan" prune_plan
row "drill (restore $(( RESTORED / 1048576 )) MiB + replay + check): RTO ${RTO} s, RPO ${RPO} s" drill
row "status, $WAL_FILES WAL files" synth_status
row "prune plan, $WAL_FILES WAL files ($DELETED to delete)" synth_plan
row "prune --apply ($DELETED WAL files deleted, $LEFT left)" synth_apply
