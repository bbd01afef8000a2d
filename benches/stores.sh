#!/usr/bin/env bash
# Benchmark: walden against each storage backend on loopback: a local
# directory, S3 (SeaweedFS `weed mini`) and GCS (Google's storage-testbench),
# the servers the integration tests use (scripts/install-test-servers.sh).
# For each store:
#
#   1. wal-push of N real 16 MiB WAL segments, sequentially, one process per
#      segment as archive_command runs it: ms/segment, segments/s, and the
#      peak RSS of one wal-push.
#   2. wal-fetch of all of them back (checked byte for byte): ms/segment.
#   3. backup-push (zstd-3, --jobs 2, --checkpoint fast) of a pgbench
#      database, with the archiver pushing into the same store, then restore
#      of it (--jobs 2): wall seconds and MB/s of the bytes the backup read;
#      the restored cluster is then started (fetching its WAL from the store
#      through walden's restore_command) and checked, which is timed apart.
#   4. Retry cost under faults: wal-push of FAULT_SEGMENTS segments through a
#      small TCP fault proxy (python3 asyncio, written below) between walden
#      and the server, for S3 and GCS (both the JSON API and the gRPC port
#      are proxied), with:
#        none      forward faithfully (the proxy's own cost)
#        latency   every chunk (<= 64 KiB) is delivered LATENCY_MS later, in
#                  each direction (pipelined: a delay, not a bandwidth cap)
#        reset     the first connection of each wal-push to carry RESET_BYTES
#                  (both directions) is reset (RST) instead of forwarding
#                  more; later ones are left alone, so the first attempt
#                  fails and a retry can succeed
#        refuse    just before each wal-push the proxy stops listening for
#                  REFUSE_SECONDS (connections are refused), then heals
#      reported as ms/segment, failed wal-push processes and the retries
#      walden logged, next to the same segments pushed directly.
#
#   bash benches/stores.sh [SEGMENTS] [SCALE]     (defaults 50 and 20)
#
# Environment: FAULT_SEGMENTS (default 10), LATENCY_MS (20), RESET_BYTES
# (default: 4 MiB, or half the smallest stored size of the fault segments if
# that is smaller, so the reset lands inside the upload), REFUSE_SECONDS (2),
# WALDEN_BIN (a prebuilt walden instead of `cargo build --release`, which
# honours CARGO_TARGET_DIR), WALDEN_TEST_SERVERS (as for the tests),
# STORES (default "local s3 gcs"), BENCH_KEEP=1 (keep the work directory).
#
# Progress goes to stderr, the report (markdown) to stdout. Everything lives in
# a mktemp directory removed at exit; every server is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N=${1:-${SEGMENTS:-50}}
SCALE=${2:-${SCALE:-20}}
FAULT_SEGMENTS=${FAULT_SEGMENTS:-10}
LATENCY_MS=${LATENCY_MS:-20}
REFUSE_SECONDS=${REFUSE_SECONDS:-2}
STORES=${STORES:-local s3 gcs}
[ "$FAULT_SEGMENTS" -le "$N" ] || FAULT_SEGMENTS=$N
BENCH_T0=$(date +%s)

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "stores.sh: $*" >&2; exit 1; }

bash scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
command -v python3 >/dev/null || die "needs python3"
command -v curl >/dev/null || die "needs curl"

# ------------------------------------------------------------ the servers
SERVERS_DIR=${WALDEN_TEST_SERVERS:-$ROOT/target/test-servers}
VENV=$SERVERS_DIR/venv
servers_installed() {
  local need_s3=0 need_gcs=0
  case " $STORES " in *" s3 "*) need_s3=1 ;; esac
  case " $STORES " in *" gcs "*) need_gcs=1 ;; esac
  { [ $need_s3 = 0 ] || [ -x "$VENV/bin/weed" ]; } &&
    { [ $need_gcs = 0 ] || { [ -x "$VENV/bin/gunicorn" ] && "$VENV/bin/python" -c 'import testbench' 2>/dev/null; }; }
}
if ! servers_installed; then
  log "object-storage servers missing under $VENV: running scripts/install-test-servers.sh"
  WALDEN_TEST_SERVERS=$SERVERS_DIR bash scripts/install-test-servers.sh >&2 || true
  servers_installed || die "SeaweedFS (S3) and/or storage-testbench (GCS) are not installed in $VENV.
Install them with: bash scripts/install-test-servers.sh   (or run with STORES=local)"
fi

if [ -z "${WALDEN_BIN:-}" ]; then
  cargo build --release --quiet
  WALDEN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/walden
fi
[ -x "$WALDEN_BIN" ] || die "no walden binary at $WALDEN_BIN"
# The tree the binary was built from (others may commit while this runs).
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
PGBIN=/usr/lib/postgresql/15/bin
unset PGHOST PGPORT PGUSER PGDATABASE PGDATA PGOPTIONS
# walden's own settings must not leak in; the bench's inputs stay.
for v in $(compgen -e | grep '^WALDEN_' | grep -vx 'WALDEN_BIN\|WALDEN_TEST_SERVERS' || true); do unset "$v"; done

WORK=$(mktemp -d /tmp/walden-bench-stores-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
PGDATA_DIR=$WORK/pg
SOCK=$WORK/sock
RSOCK=$WORK/rsock
T=$WORK/t
SERVER_PIDS=()     # process-group leaders (setsid), killed as groups
PROXY_PID=""
LITTER=()          # files servers leave outside $WORK

stop_server() { # datadir
  local dir=$1 pid i
  [ -f "$dir/postmaster.pid" ] || return 0
  pid=$(head -1 "$dir/postmaster.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "server $pid ($dir) did not stop in 30 s" >&2
}
kill_group() { # pid: TERM the group, KILL it after 5 s
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid f
  set +e
  [ -n "$PROXY_PID" ] && { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; }
  for d in "$WORK"/r-*; do [ -d "$d" ] && stop_server "$d"; done
  stop_server "$PGDATA_DIR"
  for pid in "${SERVER_PIDS[@]}"; do kill_group "$pid"; done
  for f in "${LITTER[@]}"; do rm -f "$f"; done
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$SOCK" "$RSOCK" "$T" "$WORK/bin" "$WORK/src" "$WORK/py"
cp "$WALDEN_BIN" "$WORK/bin/walden"
WALDEN=$WORK/bin/walden
: > "$WORK/walden.toml"
export WALDEN_CONFIG=$WORK/walden.toml

now() { date +%s.%N; }
pg() { "${AS_PG[@]}" "$@"; }
psql_main() { pg $PGBIN/psql -X -q -At -h "$SOCK" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
calc() { python3 -c "print($*)"; }
timed() { # NAME CMD...: as postgres under /usr/bin/time: $T/NAME.time = "elapsed RSS-KiB"
  local name=$1; shift
  if ! pg /usr/bin/time -f '%e %M' -o "$T/$name.time" "$@" >"$T/$name.out" 2>"$T/$name.err"; then
    echo "FAILED: $*" >&2; tail -n 30 "$T/$name.err" >&2; exit 1
  fi
}
free_ports() { # COUNT: distinct free loopback ports
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# ------------------------------------------------ helper programs (python)
# A SigV4-signed S3 request (the server checks signatures), as the tests do,
# and the fault proxy: proxy.py MODE ARG STATEFILE UPSTREAM_PORT... (see
# benches/lib/proxy.py). It listens on a free port per upstream port
# (127.0.0.1), written with the counters to STATEFILE as JSON: {"ports":
# [...], "gen": n, "accepted": .., "reset": .., "refused": ..}. SIGUSR1 arms
# the fault for the next wal-push (reset: one reset; refuse: stop listening
# for ARG seconds) and bumps "gen" once done, so the caller knows the fault
# is in place.
cp "$ROOT/benches/lib/s3req.py" "$ROOT/benches/lib/proxy.py" "$WORK/py/"
source "$ROOT/benches/lib/seaweedfs.sh"

# ------------------------------------------------ 0. real WAL + pgbench db
[ "$(id -u)" -eq 0 ] && chown -R postgres "$WORK"
# archive_command goes through this script: "cp" (into src/, while the
# bench WAL is generated) or walden flags for the store under test.
cat > "$WORK/bin/archive.sh" <<SH
#!/bin/sh
set -e
target=\$(cat "$WORK/archive.target")
if [ "\$target" = cp ]; then cp "\$1" "$WORK/src/\$2"; exit 0; fi
export AWS_ACCESS_KEY_ID=waldenbenchaccesskey AWS_SECRET_ACCESS_KEY=waldenbenchsecretkey0123456789
exec "$WALDEN" wal-push -q \$target "\$1"
SH
chmod 755 "$WORK/bin/archive.sh"
echo cp > "$WORK/archive.target"
chmod 644 "$WORK/archive.target"

log "work directory $WORK; $N segments, pgbench scale $SCALE, stores: $STORES"
pg $PGBIN/initdb -D "$PGDATA_DIR" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$PGDATA_DIR/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$SOCK'
fsync = off
wal_level = replica
max_wal_size = 4GB
archive_mode = on
archive_command = '$WORK/bin/archive.sh %p %f'
CONF
pg $PGBIN/pg_ctl -D "$PGDATA_DIR" -l "$T/pg.log" -w start >/dev/null

wait_archived() {
  local i
  for i in $(seq 1 1200); do
    compgen -G "$PGDATA_DIR/pg_wal/archive_status/*.ready" >/dev/null || return 0
    sleep 0.1
  done
  die "the archiver did not catch up in 120 s; see $T/pg.log"
}
nsegs() { ls "$WORK/src" | grep -c '^[0-9A-F]\{24\}$' || true; }

log "pgbench -i -s $SCALE, then generating $N segments of real WAL (wal.sh's mix) ..."
pg $PGBIN/pgbench -h "$SOCK" -U postgres -i -q -s "$SCALE" postgres >"$T/init.log" 2>&1
psql_main -c "CREATE TABLE filler (id bigint, note text, n numeric)"
while [ "$(nsegs)" -lt "$N" ]; do
  psql_main >/dev/null <<SQL
INSERT INTO filler SELECT g, md5(g::text) || repeat(chr(65 + g % 26), g % 200), random() * 1e6 FROM generate_series(1, 300000) g;
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 7 = 0;
TRUNCATE filler;
SQL
  sleep 0.5
done
psql_main -c "DROP TABLE filler" -c "VACUUM" -c "CHECKPOINT"
wait_archived
SEGS=$(ls "$WORK/src" | grep '^[0-9A-F]\{24\}$' | sort | head -n "$N")
FIRST=$(echo "$SEGS" | head -1)
FAULT_SEGS=$(echo "$SEGS" | head -n "$FAULT_SEGMENTS")
sync

# ------------------------------------------------ servers
export AWS_ACCESS_KEY_ID=waldenbenchaccesskey
export AWS_SECRET_ACCESS_KEY=waldenbenchsecretkey0123456789
BUCKET=walden-bench
S3_PORT=""; GCS_PORT=""; GCS_GRPC=""

start_s3() {
  local t0; t0=$(now)
  seaweedfs_start "$VENV" "$WORK/s3" "$T/s3.log" "$BUCKET" || { SERVER_PIDS+=("$SEAWEED_PID"); die "SeaweedFS did not start"; }
  SERVER_PIDS+=("$SEAWEED_PID")
  LITTER+=("${SEAWEED_LITTER[@]}")
  log "S3 (SeaweedFS $SEAWEED_VERSION, pid $SEAWEED_PID) at 127.0.0.1:$S3_PORT, up in $(calc "round($(now) - $t0, 1)") s"
}

start_gcs() {
  local i t0 pid
  read -r GCS_PORT GCS_GRPC <<< "$(free_ports 2)"
  mkdir -p "$WORK/gcs"
  ( cd "$WORK/gcs" && PATH="$VENV/bin:$PATH" WALDEN_TESTBENCH_PORT=$GCS_PORT exec setsid "$VENV/bin/gunicorn" \
      --bind="127.0.0.1:$GCS_PORT" --worker-class=sync --workers=1 --threads=4 --access-logfile=- \
      --chdir="$ROOT/tests/support" 'testbench_shim:run()' </dev/null >"$T/gcs.log" 2>&1 ) &
  pid=$!; SERVER_PIDS+=("$pid"); t0=$(now)
  for i in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || { tail -30 "$T/gcs.log" >&2; die "storage-testbench exited during start-up"; }
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GCS_PORT/start_grpc?port=$GCS_GRPC" || true)" = 200 ] &&
       python3 -c "import socket; socket.create_connection(('127.0.0.1', $GCS_GRPC), 1)" 2>/dev/null; then break; fi
    [ "$i" = 600 ] && { tail -30 "$T/gcs.log" >&2; die "storage-testbench not ready in 60 s"; }
    sleep 0.1
  done
  local status
  status=$(curl -s -o "$T/gcs-bucket.out" -w '%{http_code}' -X POST -H 'content-type: application/json' \
    -d "{\"name\": \"$BUCKET\"}" "http://127.0.0.1:$GCS_PORT/storage/v1/b?project=test")
  [ "$status" = 200 ] || { cat "$T/gcs-bucket.out" >&2; die "cannot create GCS bucket (HTTP $status)"; }
  log "GCS (storage-testbench, pid $pid) at 127.0.0.1:$GCS_PORT, gRPC $GCS_GRPC, up in $(calc "round($(now) - $t0, 1)") s"
}

case " $STORES " in *" s3 "*) start_s3 ;; esac
case " $STORES " in *" gcs "*) start_gcs ;; esac

# store_args STORE PREFIX [HTTP_PORT GRPC_PORT]: the walden flags for a
# repository of that store (ports default to the servers', a proxy's otherwise)
store_args() {
  local store=$1 prefix=$2
  case $store in
    local) mkdir -p "$WORK/local"; [ "$(id -u)" -eq 0 ] && chown postgres "$WORK/local"
           echo "--repo $WORK/local/$prefix" ;;
    s3) echo "--repo s3://$BUCKET/$prefix --s3-endpoint http://127.0.0.1:${3:-$S3_PORT} --s3-path-style" ;;
    gcs) echo "--repo gs://$BUCKET/$prefix --gcs-endpoint http://127.0.0.1:${3:-$GCS_PORT} --gcs-grpc-endpoint http://127.0.0.1:${4:-$GCS_GRPC}" ;;
  esac
}

# ------------------------------------------------ the measurements
declare -A R   # results, keyed "store.metric"
push_all() { # OUTFILE ARGS: wal-push every segment of $SEGS; echoes elapsed seconds
  local out=$1 args=$2 s e f
  cd "$WORK/src"
  s=$(now)
  for f in $SEGS; do "$WALDEN" wal-push $args -q "$f" 2>>"$out" || { cat "$out" >&2; die "wal-push $f ($args) failed"; }; done
  e=$(now)
  cd "$ROOT"
  calc "$e - $s"
}

bench_wal() { # store
  local st=$1 args secs f rss restore=$WORK/fetched
  args=$(store_args "$st" wal)
  log "$st: wal-push of $N segments"
  secs=$(push_all "$T/$st.push.err" "$args")
  R[$st.push_s]=$secs
  R[$st.push_retries]=$(grep -c 'retrying' "$T/$st.push.err" || true)
  log "$st: wal-fetch of $N segments"
  mkdir -p "$restore"
  local s e
  s=$(now)
  for f in $SEGS; do "$WALDEN" wal-fetch $args -q "$f" "$restore/$f" 2>>"$T/$st.fetch.err" || { cat "$T/$st.fetch.err" >&2; die "wal-fetch $f from $st failed"; }; done
  e=$(now)
  R[$st.fetch_s]=$(calc "$e - $s")
  for f in $SEGS; do cmp -s "$WORK/src/$f" "$restore/$f" || die "$st: fetched $f differs from the original"; done
  rm -rf "$restore"
  # peak RSS of one wal-push (of a segment new to that repository)
  cd "$WORK/src"
  rss=$(/usr/bin/time -f %M "$WALDEN" wal-push $(store_args "$st" rss) -q "$FIRST" 2>&1 >/dev/null | tail -1)
  cd "$ROOT"
  R[$st.rss]=$rss
}

bench_backup() { # store
  local st=$1 args name bytes r0 r1 r2 n
  args=$(store_args "$st" backup)
  echo "$args" > "$WORK/archive.target"
  psql_main -c "SELECT pg_switch_wal()" -c CHECKPOINT >/dev/null
  wait_archived; sync
  log "$st: backup-push (scale $SCALE)"
  timed "$st.backup" "$WALDEN" backup-push $args --pgdata "$PGDATA_DIR" --pg-host "$SOCK" \
    --pg-user postgres --pg-database postgres --jobs 2 --checkpoint fast
  pg "$WALDEN" backup-list $args --json > "$T/$st.list.json"
  read -r name bytes stored <<< "$(python3 -c "
import json, sys
b = max((b for b in json.load(open('$T/$st.list.json')) if b['complete']), key=lambda b: b['name'])
print(b['name'], b['bytes'], b['stored_bytes'])")"
  R[$st.backup_s]=$(cut -d' ' -f1 "$T/$st.backup.time")
  R[$st.backup_rss]=$(cut -d' ' -f2 "$T/$st.backup.time")
  R[$st.bytes]=$bytes; R[$st.stored]=$stored
  echo cp > "$WORK/archive.target"
  log "$st: restore latest"
  r0=$(now)
  timed "$st.restore" "$WALDEN" restore latest $args --pgdata "$WORK/r-$st" --jobs 2
  r1=$(now)
  R[$st.restore_s]=$(calc "$r1 - $r0")
  R[$st.restore_rss]=$(cut -d' ' -f2 "$T/$st.restore.time")
  # start it: recovery fetches WAL from the store through restore_command
  pg $PGBIN/pg_ctl -D "$WORK/r-$st" -l "$T/r-$st.log" -w -t 600 \
    -o "-c listen_addresses='' -c unix_socket_directories='$RSOCK' -c archive_mode=off" start >/dev/null ||
    { tail -20 "$T/r-$st.log" >&2; die "$st: the restored cluster did not start"; }
  for i in $(seq 1 6000); do
    [ "$(pg $PGBIN/psql -X -At -h "$RSOCK" -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && break
    [ "$i" = 6000 ] && { tail -20 "$T/r-$st.log" >&2; die "$st: restored cluster not promoted in 10 min"; }
    sleep 0.1
  done
  r2=$(now)
  R[$st.start_s]=$(calc "$r2 - $r1")
  n=$(pg $PGBIN/psql -X -At -h "$RSOCK" -U postgres -d postgres -c 'SELECT count(*) FROM pgbench_accounts')
  [ "$n" = "$(( SCALE * 100000 ))" ] || die "$st: restored pgbench_accounts has $n rows, expected $(( SCALE * 100000 ))"
  R[$st.restore_check]=ok
  stop_server "$WORK/r-$st"
  rm -rf "$WORK/r-$st"
}

start_proxy() { # mode arg upstream-ports...: sets PROXY_PID, PROXY_PORTS
  local mode=$1 arg=$2; shift 2
  rm -f "$WORK/proxy.state"
  python3 "$WORK/py/proxy.py" "$mode" "$arg" "$WORK/proxy.state" "$@" 2>"$T/proxy.$mode.err" &
  PROXY_PID=$!
  for i in $(seq 1 100); do [ -s "$WORK/proxy.state" ] && break; sleep 0.05; done
  [ -s "$WORK/proxy.state" ] || { cat "$T/proxy.$mode.err" >&2; die "the fault proxy did not start"; }
  PROXY_PORTS=$(python3 -c "import json; print(' '.join(map(str, json.load(open('$WORK/proxy.state'))['ports'])))")
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; PROXY_PID=""; }
proxy_stat() { python3 -c "import json; print(json.load(open('$WORK/proxy.state'))['$1'])"; }
arm_proxy() { # signal the proxy, wait until it says the fault is in place
  local gen i
  gen=$(proxy_stat gen)
  kill -USR1 "$PROXY_PID"
  for i in $(seq 1 200); do [ "$(proxy_stat gen)" -gt "$gen" ] && return 0; sleep 0.01; done
  die "the fault proxy did not arm"
}

bench_fault() { # store mode arg label
  local st=$1 mode=$2 arg=$3 label=$4 args prefix=fault-$2 f s e total=0 failed=0 rc
  if [ "$mode" = direct ]; then
    args=$(store_args "$st" "$prefix")
  else
    if [ "$st" = s3 ]; then start_proxy "$mode" "$arg" "$S3_PORT"; else start_proxy "$mode" "$arg" "$GCS_PORT" "$GCS_GRPC"; fi
    args=$(store_args "$st" "$prefix" $PROXY_PORTS)
  fi
  log "$st: wal-push of $FAULT_SEGMENTS segments, fault: $label"
  : > "$T/$st.$mode.err"
  cd "$WORK/src"
  for f in $FAULT_SEGS; do
    case $mode in reset|refuse) arm_proxy ;; esac
    s=$(now)
    rc=0; "$WALDEN" wal-push $args -q "$f" 2>>"$T/$st.$mode.err" || rc=$?
    e=$(now)
    total=$(calc "$total + $e - $s")
    [ "$rc" = 0 ] || { failed=$((failed + 1)); echo "  wal-push $f exit $rc" >>"$T/$st.$mode.err"; }
  done
  cd "$ROOT"
  R[$st.$mode.ms]=$(calc "1000 * $total / $FAULT_SEGMENTS")
  R[$st.$mode.failed]=$failed
  R[$st.$mode.retries]=$(grep -c 'retrying' "$T/$st.$mode.err" || true)
  R[$st.$mode.events]="-"
  if [ "$mode" != direct ]; then
    case $mode in
      reset) R[$st.$mode.events]="$(proxy_stat reset) resets" ;;
      refuse) R[$st.$mode.events]="$(proxy_stat refused) outages" ;;
      *) R[$st.$mode.events]="$(proxy_stat accepted) connections" ;;
    esac
    stop_proxy
  fi
  # every successful push must be fetchable and intact
  for f in $FAULT_SEGS; do
    "$WALDEN" wal-fetch $(store_args "$st" "$prefix") -q "$f" "$WORK/check" 2>/dev/null && cmp -s "$WORK/check" "$WORK/src/$f" ||
      { [ "$failed" -gt 0 ] || die "$st/$mode: $f is not in the archive intact after a successful push"; }
    rm -f "$WORK/check"
  done
  [ "$failed" = 0 ] || log "  $failed of $FAULT_SEGMENTS wal-push processes failed; see below"
}

for st in $STORES; do
  bench_wal "$st"
  bench_backup "$st"
done

# reset threshold: inside the upload of every fault segment
MIN_STORED=$(python3 - "$WORK/local/wal" $FAULT_SEGS <<'PY'
import os, sys
root, names = sys.argv[1], sys.argv[2:]
sizes = {}
for d, _, files in os.walk(root):
    for f in files:
        if f[:24] in names:
            sizes[f[:24]] = os.path.getsize(os.path.join(d, f))
print(min(sizes.values()) if len(sizes) == len(names) else 0)
PY
) || MIN_STORED=0
if [ -z "${RESET_BYTES:-}" ]; then
  RESET_BYTES=$((4 << 20))
  [ "$MIN_STORED" -gt 0 ] && [ $((MIN_STORED / 2)) -lt "$RESET_BYTES" ] && RESET_BYTES=$((MIN_STORED / 2))
fi
FAULT_STORES=""
for st in $STORES; do [ "$st" = local ] || FAULT_STORES="$FAULT_STORES $st"; done
for st in $FAULT_STORES; do
  bench_fault "$st" direct 0 "none (direct)"
  bench_fault "$st" none 0 "none (through the proxy)"
  bench_fault "$st" latency "$LATENCY_MS" "latency ${LATENCY_MS} ms per chunk each way"
  bench_fault "$st" reset "$RESET_BYTES" "reset after $RESET_BYTES bytes"
  bench_fault "$st" refuse "$REFUSE_SECONDS" "refused for ${REFUSE_SECONDS} s"
done

# ------------------------------------------------ report
WALDEN_VERSION=$("$WALDEN" --version 2>/dev/null || echo "walden ?")
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' || true)
fmt() { python3 -c "print('%.${2:-1}f' % ($1))"; }
mib() { python3 -c "print('%.0f' % ($1 / 1048576))"; }

echo
echo "## walden storage backends on loopback"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores (${CPU:-unknown CPU}), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM;" \
  "$WALDEN_VERSION, commit $COMMIT; PostgreSQL $($PGBIN/postgres --version | awk '{print $3}')." \
  "S3: SeaweedFS \`weed mini\`; GCS: storage-testbench (gunicorn, 1 worker, 4 threads); zstd-3, no encryption."
echo
echo "### WAL: $N real 16 MiB segments, sequential, one process each"
echo
echo "| store | wal-push ms/seg | wal-push seg/s | peak RSS of one wal-push | wal-fetch ms/seg | wal-fetch seg/s | retries logged |"
echo "|---|---|---|---|---|---|---|"
for st in $STORES; do
  echo "| $st | $(fmt "1000 * ${R[$st.push_s]} / $N") | $(fmt "$N / ${R[$st.push_s]}") | $(fmt "${R[$st.rss]} / 1024") MiB |" \
    "$(fmt "1000 * ${R[$st.fetch_s]} / $N") | $(fmt "$N / ${R[$st.fetch_s]}") | ${R[$st.push_retries]} |"
done
echo
echo "### Base backup (zstd-3, --jobs 2, --checkpoint fast) and restore (--jobs 2) of pgbench scale $SCALE"
echo
echo "MB/s: bytes the backup read (its manifest) / wall seconds. \"start\": the restored cluster started until promoted," \
  "fetching WAL through walden's restore_command; pgbench_accounts checked ($(( SCALE * 100000 )) rows)."
echo
echo "| store | read | stored | backup-push s | MB/s | peak RSS | restore s | MB/s | peak RSS | start s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for st in $STORES; do
  b=${R[$st.bytes]}
  echo "| $st | $(mib "$b") MiB | $(mib "${R[$st.stored]}") MiB | $(fmt "${R[$st.backup_s]}" 2) | $(fmt "$b / 1e6 / ${R[$st.backup_s]}" 0) |" \
    "$(fmt "${R[$st.backup_rss]} / 1024" 0) MiB | $(fmt "${R[$st.restore_s]}" 2) | $(fmt "$b / 1e6 / ${R[$st.restore_s]}" 0) |" \
    "$(fmt "${R[$st.restore_rss]} / 1024" 0) MiB | $(fmt "${R[$st.start_s]}" 2) |"
done
if [ -n "$FAULT_STORES" ]; then
  echo
  echo "### Retry cost under faults: wal-push of $FAULT_SEGMENTS segments through a TCP fault proxy"
  echo
  echo "Smallest stored (compressed) segment among them: $(fmt "$MIN_STORED / 1048576" 2) MiB. GCS: the JSON API and the gRPC port both go through the proxy." \
    "\"vs direct\": ms/segment over the same segments pushed without the proxy."
  echo
  echo "| store | fault | ms/seg | vs direct | failed wal-push | retries logged | proxy |"
  echo "|---|---|---|---|---|---|---|"
  for st in $FAULT_STORES; do
    for m in direct none latency reset refuse; do
      case $m in
        direct) label="none (direct)" ;;
        none) label="none (through the proxy)" ;;
        latency) label="latency ${LATENCY_MS} ms/chunk each way" ;;
        reset) label="reset after $(fmt "$RESET_BYTES / 1048576" 2) MiB, once per push" ;;
        refuse) label="refused ${REFUSE_SECONDS} s, then heal" ;;
      esac
      echo "| $st | $label | $(fmt "${R[$st.$m.ms]}" 0) | +$(fmt "${R[$st.$m.ms]} - ${R[$st.direct.ms]}" 0) ms |" \
        "${R[$st.$m.failed]}/$FAULT_SEGMENTS | ${R[$st.$m.retries]} | ${R[$st.$m.events]} |"
    done
  done
  for st in $FAULT_STORES; do
    for m in reset refuse; do
      if [ "${R[$st.$m.failed]}" != 0 ]; then
        echo
        echo "$st/$m, last error of a failed wal-push:"
        echo '```'
        grep -v '^  wal-push' "$T/$st.$m.err" | grep -iv 'retrying' | tail -n 3 | cut -c1-400
        echo '```'
      fi
    done
  done
fi
echo
echo "Total bench time: $(( $(date +%s) - BENCH_T0 )) s."
log "done"
