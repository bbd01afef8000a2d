#!/usr/bin/env bash
# Benchmark: incremental backups on PostgreSQL 17, in one run on this machine.
#
#   pgbench scale N (default 100, ~1.5 GB) on a PostgreSQL 17 server (the
#   project's own build, from scripts/install-test-postgres.sh) with
#   summarize_wal = on, listening on 127.0.0.1 with a replication user;
#   1. walden full backup over the network (--compression zstd);
#   2. about 5 % of the data changed: an UPDATE of a contiguous 5 % of
#      pgbench_accounts' rows (random single-row updates, as pgbench's own
#      transactions make, would touch nearly every page: 60 rows a page);
#   3. walden --incremental on top of it;
#   4. a second full backup of the same data, for the restore comparison;
#   5. restore of the chain (full + incremental) and of the second full
#      backup, each into a fresh directory (restore only: unpack and rebuild,
#      checksums checked; recovery is the same WAL for both).
#   Figures: bytes read (the files' bytes the backup holds, from the
#   manifest), bytes stored, wall time and peak RSS of each step, and the
#   ratios the targets are about: incremental stored / full stored (< 15 %)
#   and chain restore / full restore (<= 1.2).
#
#   The peer, pg_basebackup --incremental + pg_combinebackup, needs
#   PostgreSQL 17's client programs; when they are not installed (Debian 12
#   ships 15's, and the PostgreSQL 17 build used here has only the server),
#   its rows say so instead of a figure. BENCH_PG17_CLIENT=DIR points at a
#   directory holding pg_basebackup and pg_combinebackup of 17 or later.
#
#   bash benches/incremental.sh   (as root: PostgreSQL runs as postgres)
#
# Environment: BENCH_SCALE (default 100), WALDEN_BIN (a prebuilt walden
# instead of `cargo build --release`), BENCH_KEEP=1 (keep the work
# directory). Progress goes to stderr, the table to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${BENCH_SCALE:-100}
PG17=${BENCH_PG17:-$PWD/target/test-servers/pg/17/native/bin}
CLIENT=/usr/lib/postgresql/15/bin   # psql and pgbench: any client talks to 17
PEER=${BENCH_PG17_CLIENT:-}
[ -x "$PG17/postgres" ] || bash scripts/install-test-postgres.sh >&2
if [ -z "${WALDEN_BIN:-}" ]; then
  cargo build --release --quiet
  WALDEN_BIN=$PWD/target/release/walden
fi
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
pg() { "${AS_PG[@]}" "$@"; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

T=$(mktemp -d /var/tmp/walden-incr-bench.XXXXXX)
chmod 755 "$T"
[ "$(id -u)" -ne 0 ] || chown postgres "$T"
PGD=$T/data SOCK=$T/sock REPO=$T/repo
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVERS=()
cleanup() {
  for d in "${SERVERS[@]}"; do
    [ -f "$d/postmaster.pid" ] && kill -INT "$(head -1 "$d/postmaster.pid")" 2>/dev/null || true
  done
  sleep 1
  [ "${BENCH_KEEP:-}" = 1 ] && { echo "kept $T" >&2; return; }
  rm -rf "$T"
}
trap cleanup EXIT
pg mkdir -p "$SOCK" "$REPO"
psql() { pg "$CLIENT/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -XAtq "$@"; }
walden() { pg env PGPASSWORD=bench "$WALDEN_BIN" --repo "$REPO" "$@"; }
# timed NAME CMD...: wall seconds and peak RSS (KiB) into $T/NAME.time
timed() {
  local name=$1; shift
  if ! pg /usr/bin/time -f '%e %M' -o "$T/$name.time" "$@" >"$T/$name.out" 2>"$T/$name.err"; then
    echo "FAILED: $*" >&2; tail -n 30 "$T/$name.err" >&2; exit 1
  fi
}
push() { # NAME [flags]: a backup over the network
  local name=$1; shift
  timed "$name" env PGPASSWORD=bench "$WALDEN_BIN" --repo "$REPO" backup-push \
    --pg-host 127.0.0.1 --pg-port "$PORT" --pg-user repl --checkpoint fast --compression zstd "$@"
}

log "initdb (PostgreSQL 17), pgbench -i -s $SCALE"
pg "$PG17/initdb" -D "$PGD" -U postgres --auth-local=trust >/dev/null
{ echo "host replication repl 127.0.0.1/32 scram-sha-256"; cat "$PGD/pg_hba.conf"; } > "$T/hba"
pg cp "$T/hba" "$PGD/pg_hba.conf"
cat >> "$T/conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
wal_level = replica
summarize_wal = on
max_wal_size = 4GB
archive_mode = on
archive_command = '$WALDEN_BIN wal-push --repo $REPO %p'
CONF
pg sh -c "cat '$T/conf' >> '$PGD/postgresql.conf'"
SERVERS+=("$PGD")
pg "$PG17/pg_ctl" -D "$PGD" -l "$T/server.log" -w -t 600 start >/dev/null
psql -c "CREATE ROLE repl WITH LOGIN REPLICATION PASSWORD 'bench'"
pg "$CLIENT/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
psql -c "CHECKPOINT" >/dev/null

log "full backup"
push full
FULL=$(walden backup-list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["name"])')

ROWS=$((SCALE * 100000))
log "changing 5 % of pgbench_accounts (aid <= $((ROWS / 20)))"
psql -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $((ROWS / 20))" >/dev/null

log "incremental backup"
push incremental --incremental
INCR=$(walden backup-list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["name"])')

log "second full backup of the same data"
push full2
FULL2=$(walden backup-list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["name"])')

log "restores"
timed restore_chain "$WALDEN_BIN" --repo "$REPO" restore "$INCR" --pgdata "$T/r-chain"
rm -rf "$T/r-chain"
timed restore_full "$WALDEN_BIN" --repo "$REPO" restore "$FULL2" --pgdata "$T/r-full"
rm -rf "$T/r-full"

PEER_NOTE=""
if [ -n "$PEER" ] && [ -x "$PEER/pg_combinebackup" ]; then
  log "peer: pg_basebackup --incremental + pg_combinebackup"
  export PGPASSWORD=bench
  pb() { pg env PGPASSWORD=bench "$PEER/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U repl -c fast -X none "$@"; }
  timed peer_full pb -D "$T/p-full" -Fp
  psql -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $((ROWS / 20))" >/dev/null
  timed peer_incremental pb -D "$T/p-incr" -Fp --incremental "$T/p-full/backup_manifest"
  timed peer_combine "$PEER/pg_combinebackup" -o "$T/p-out" "$T/p-full" "$T/p-incr"
else
  PEER_NOTE="pg_basebackup --incremental and pg_combinebackup (PostgreSQL 17+ client programs) are not installed here: Debian 12 ships 15's, and the PostgreSQL 17 build the tests use has only the server; set BENCH_PG17_CLIENT to compare"
fi

python3 - "$T" "$REPO" "$FULL" "$INCR" "$FULL2" "$PEER_NOTE" <<'PY'
import json, os, sys
t, repo, full, incr, full2, note = sys.argv[1:]
def timing(name):
    p = os.path.join(t, name + ".time")
    if not os.path.exists(p):
        return None
    wall, rss = open(p).read().split()[-2:]
    return float(wall), int(rss) / 1024
def manifest(name):
    return json.load(open(os.path.join(repo, "backups", name, "manifest.json")))
def stored(name):
    total = 0
    for root, _, files in os.walk(os.path.join(repo, "backups", name)):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total
def du(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if not os.path.islink(os.path.join(root, f)))
    return total
mib = lambda b: f"{b / 2**20:.1f} MiB"
print("| step | bytes read | bytes stored | wall s | peak RSS |")
print("|---|---|---|---|---|")
for label, step, name in [("walden full", "full", full), ("walden incremental", "incremental", incr), ("walden full (same data)", "full2", full2)]:
    wall, rss = timing(step)
    m = manifest(name)
    print(f"| {label} | {mib(m['bytes'])} | {mib(stored(name))} | {wall:.2f} | {rss:.1f} MiB |")
for label, step in [("walden restore of the chain (full + incremental)", "restore_chain"), ("walden restore of the full backup (same data)", "restore_full")]:
    wall, rss = timing(step)
    print(f"| {label} | | | {wall:.2f} | {rss:.1f} MiB |")
if timing("peer_full"):
    for label, step, d in [("pg_basebackup full", "peer_full", "p-full"), ("pg_basebackup --incremental", "peer_incremental", "p-incr"), ("pg_combinebackup", "peer_combine", "p-out")]:
        wall, rss = timing(step)
        print(f"| {label} | | {mib(du(os.path.join(t, d)))} | {wall:.2f} | {rss:.1f} MiB |")
else:
    print(f"| pg_basebackup --incremental + pg_combinebackup | n/a | n/a | n/a | n/a |")
ratio_stored = stored(incr) / stored(full)
ratio_restore = timing("restore_chain")[0] / timing("restore_full")[0]
print()
print(f"incremental stored / full stored: {ratio_stored:.1%} (target < 15 %)")
print(f"chain restore / full restore: {ratio_restore:.2f}x (target <= 1.2x)")
if note:
    print(f"\npeer: {note}")
PY
