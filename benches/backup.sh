#!/usr/bin/env bash
# Benchmark: base backup and restore of a pgbench database with walden, next
# to pg_basebackup measured in the same run, plus the memory, throttling and
# "does production survive it" checks of DESIGN.md §5:
#
#   1. walden backup-push (zstd-3, --jobs 2, --checkpoint fast) vs
#      pg_basebackup -Ft --compress=server-zstd --checkpoint=fast -X fetch:
#      wall time, bytes read, stored size, peak RSS.
#   2. walden restore + PostgreSQL start until promoted and answering, vs
#      zstd -d | tar x of pg_basebackup's base.tar.zst + start; each restored
#      cluster is checked (count of pgbench_accounts) and stopped.
#   3. Peak RSS of backup-push at the main scale and at scale/3 (flat memory).
#   4. --max-rate accuracy: bytes read (manifest) / wall time vs the limit.
#   5. pgbench TPS (default TPC-B, -c 4 -j 2, fsync on) alone, during an
#      unthrottled backup-push and during a throttled one (--max-rate,
#      --io-priority idle), in interleaved rounds, with a control row (a
#      process that only sleeps 1 ms in a loop: on a VM that alone changes
#      fsync-bound TPS, so compare the throttled run with it too).
#
#   bash benches/backup.sh [SCALE]   (default 100 ≈ 1.5 GB; SCALE=10 or 5 for a quick check)
#
# Environment: REPS (backup/restore comparisons, default 3; the report shows
# medians and ranges), PGBENCH_ROUNDS (default 3), PGBENCH_SECONDS (default
# 30), MAX_RATE (default 50MB/s, lowered at small scales so a throttled backup
# takes ≥ 20 s), WALDEN_BIN (a prebuilt walden instead of `cargo build
# --release`), BENCH_KEEP=1 (keep the work directory, with every command's
# output under t/, after stopping the servers).
#
# Progress goes to stderr, the result tables to stdout. Everything lives in a
# mktemp directory that is removed at exit; servers are stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-${SCALE:-100}}
SMALL=$(( SCALE / 3 > 0 ? SCALE / 3 : 1 ))
PGBENCH_SECONDS=${PGBENCH_SECONDS:-30}
PGBENCH_ROUNDS=${PGBENCH_ROUNDS:-3}
REPS=${REPS:-3}
bash scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
command -v python3 >/dev/null || { echo "backup.sh needs python3" >&2; exit 1; }
if [ -z "${WALDEN_BIN:-}" ]; then
  cargo build --release --quiet
  WALDEN_BIN=$(pwd)/target/release/walden
fi
PGBIN=/usr/lib/postgresql/15/bin
# Only the flags below configure walden and the connections.
unset PGHOST PGPORT PGUSER PGDATABASE PGDATA PGOPTIONS
for v in $(compgen -e | grep '^WALDEN_' || true); do unset "$v"; done

WORK=$(mktemp -d /tmp/walden-bench-backup-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
PGDATA_DIR=$WORK/pg                  # the bench cluster
SOCK=$WORK/sock                      # its socket directory
RSOCK=$WORK/rsock                    # socket directory of the restored clusters
REPO=$WORK/repo
T=$WORK/t                            # timings, logs (written by postgres)
BG_PIDS=()

stop_server() { # datadir: fast shutdown by PID, wait until it is gone
  local dir=$1 pid i
  [ -f "$dir/postmaster.pid" ] || return 0
  pid=$(head -1 "$dir/postmaster.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "server $pid ($dir) did not stop in 30 s" >&2
}
cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_server "$WORK/r-walden"
  stop_server "$WORK/r-pgbb"
  stop_server "$PGDATA_DIR"
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

mkdir -p "$SOCK" "$RSOCK" "$REPO" "$T" "$WORK/bin"
# A private copy: others may rebuild target/ while this runs, and restore
# writes restore_command with the path of the binary that ran it.
cp "$WALDEN_BIN" "$WORK/bin/walden"
WALDEN=$WORK/bin/walden
# An empty configuration file: nothing from /etc/walden leaks in.
: > "$WORK/walden.toml"
export WALDEN_CONFIG=$WORK/walden.toml
[ "$(id -u)" -eq 0 ] && chown -R postgres "$WORK"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }
pg() { "${AS_PG[@]}" "$@"; }
psql_main() { pg $PGBIN/psql -X -q -At -h "$SOCK" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
# timed NAME CMD...: runs CMD as postgres under /usr/bin/time; $T/NAME.time
# gets "elapsed-seconds peak-RSS-KiB user-CPU-s system-CPU-s", $T/NAME.out
# and $T/NAME.err its output.
timed() {
  local name=$1; shift
  if ! pg /usr/bin/time -f '%e %M %U %S' -o "$T/$name.time" "$@" >"$T/$name.out" 2>"$T/$name.err"; then
    echo "FAILED: $*" >&2; tail -n 30 "$T/$name.err" >&2; exit 1
  fi
}
secs() { cut -d' ' -f1 "$T/$1.time"; }
rss_kib() { cut -d' ' -f2 "$T/$1.time"; }
calc() { python3 -c "print($*)"; }

# Waits until the archiver has pushed every completed segment, so no backup
# pays for a backlog left by the previous step.
wait_archived() {
  local i
  for i in $(seq 1 1200); do
    compgen -G "$PGDATA_DIR/pg_wal/archive_status/*.ready" >/dev/null || return 0
    if [ $(( i % 100 )) -eq 0 ]; then
      log "  waiting for the archiver ($(compgen -G "$PGDATA_DIR/pg_wal/archive_status/*.ready" | wc -l) segments left)"
    fi
    sleep 0.1
  done
  echo "the archiver did not catch up in 120 s; see $T/pg.log" >&2; exit 1
}
quiesce() { psql_main -c CHECKPOINT; wait_archived; sync; }

# newest complete backup in the repository: "name bytes stored_bytes wal_bytes"
# (wal_bytes: archived WAL from its start to its stop segment, which a
# restore needs and pg_basebackup -X fetch puts inside its tar).
newest_backup() {
  pg "$WALDEN" backup-list --repo "$REPO" --json > "$T/list.json"
  python3 - "$T/list.json" "$REPO" <<'PY'
import json, os, sys
backups = [b for b in json.load(open(sys.argv[1])) if b["complete"]]
b = max(backups, key=lambda b: b["name"])
repo = sys.argv[2]
m = json.load(open(os.path.join(repo, "backups", b["name"], "manifest.json")))
tl = "%08X" % m["timeline"]
wal = 0
waldir = os.path.join(repo, "wal", tl)
for f in os.listdir(waldir):
    seg = f[:24]
    if len(seg) == 24 and f[24:25] in ("", ".") and m["start_wal_file"] <= seg <= m["stop_wal_file"]:
        wal += os.path.getsize(os.path.join(waldir, f))
print(b["name"], b["bytes"], b["stored_bytes"], wal)
PY
}

backup_push() { # name extra-args...: one walden backup-push, timed
  local name=$1; shift
  timed "$name" "$WALDEN" backup-push --repo "$REPO" --pgdata "$PGDATA_DIR" \
    --pg-host "$SOCK" --pg-user postgres --pg-database postgres \
    --compression zstd --compression-level 3 --jobs 2 --checkpoint fast --log-format json "$@"
}

# start_restored DIR: starts a restored cluster on the restore socket
# directory (archiving off: it must not push into the bench repository),
# waits until it is promoted and answers a query.
start_restored() {
  local dir=$1 i
  pg $PGBIN/pg_ctl -D "$dir" -l "$T/$(basename "$dir").log" -w -t 3600 \
    -o "-c listen_addresses='' -c unix_socket_directories='$RSOCK' -c archive_mode=off" start >/dev/null
  for i in $(seq 1 36000); do
    if [ "$(pg $PGBIN/psql -X -At -h "$RSOCK" -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; then
      return 0
    fi
    sleep 0.05
  done
  echo "$dir was not promoted in 30 min; see $T/$(basename "$dir").log" >&2; exit 1
}
check_and_stop_restored() { # dir label
  local dir=$1 label=$2 n
  n=$(pg $PGBIN/psql -X -At -h "$RSOCK" -U postgres -d postgres -c 'SELECT count(*) FROM pgbench_accounts')
  if [ "$n" != "$(( SCALE * 100000 ))" ]; then
    echo "$label: pgbench_accounts has $n rows, expected $(( SCALE * 100000 ))" >&2; exit 1
  fi
  log "  $label: $n rows in pgbench_accounts, as expected"
  pg $PGBIN/pg_ctl -D "$dir" -m fast -w stop >/dev/null
  rm -rf "$dir"
}

# pgbench_run LABEL none|sleeper|backup [backup args...]: pgbench for
# PGBENCH_SECONDS; with "backup", a backup-push starts right after pgbench;
# with "sleeper", a process that only wakes up every millisecond runs beside
# it (a control: on this VM, any such process raises fsync-bound TPS by
# keeping the vCPUs out of idle, and a throttled backup is one). Writes
# $T/tps.LABEL: "tps-whole-run tps-while-backup-ran backup-seconds finished-early"
pgbench_run() {
  local label=$1 mode=$2; shift 2
  quiesce
  log "pgbench ${PGBENCH_SECONDS}s, backup: ${label}"
  local t0 pid b0 b1
  cut -d' ' -f1 /proc/loadavg > "$T/load.$label"   # the machine is shared: context for noise
  t0=$(now)
  pg $PGBIN/pgbench -h "$SOCK" -U postgres -c 4 -j 2 -T "$PGBENCH_SECONDS" -n -P 1 postgres \
    >"$T/pgbench.$label.out" 2>"$T/pgbench.$label.progress" &
  pid=$!; BG_PIDS+=("$pid")
  b0=""; b1=""
  if [ "$mode" = sleeper ]; then
    python3 -c 'import time
while True: time.sleep(0.001)' &
    BG_PIDS+=("$!")
  fi
  if [ "$mode" = backup ]; then
    sleep 1
    b0=$(now)
    backup_push "pgbench-$label" "$@"
    b1=$(now)
  fi
  wait "$pid" || { echo "pgbench failed:" >&2; tail "$T/pgbench.$label.progress" >&2; exit 1; }
  if [ "$mode" = sleeper ]; then kill "${BG_PIDS[1]}"; wait "${BG_PIDS[1]}" 2>/dev/null || true; fi
  BG_PIDS=()
  python3 - "$T/pgbench.$label.out" "$T/pgbench.$label.progress" "$t0" "$b0" "$b1" "$PGBENCH_SECONDS" > "$T/tps.$label" <<'PY'
import re, sys
out, prog, t0, b0, b1, dur = sys.argv[1:]
whole = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", open(out).read()).group(1))
if not b0:
    print(whole, "-", "-", "-"); sys.exit()
lo, hi = float(b0) - float(t0), float(b1) - float(t0)
# -P 1 lines: "progress: 5.0 s, 1234.5 tps, ..." (the second ending at 5.0)
during = [float(m.group(2)) for m in re.finditer(r"progress: ([0-9.]+) s, ([0-9.]+) tps", open(prog).read())
          if lo <= float(m.group(1)) - 1 and float(m.group(1)) <= hi]
print(whole, "%.1f" % (sum(during) / len(during)) if during else "-", "%.1f" % (hi - lo),
      "yes" if hi < float(dur) else "no")
PY
}

# ---------------------------------------------------------------- cluster
log "work directory $WORK; scale $SCALE (memory check at scale $SMALL)"
pg $PGBIN/initdb -D "$PGDATA_DIR" -U postgres --auth=trust >/dev/null
cat >> "$PGDATA_DIR/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$SOCK'
fsync = on
wal_level = replica
max_wal_size = 4GB
archive_mode = on
archive_command = '$WALDEN wal-push --repo $REPO -q %p'
CONF
pg $PGBIN/pg_ctl -D "$PGDATA_DIR" -l "$T/pg.log" -w start >/dev/null

# ------------------------------------------------ 3a. memory at scale/3
log "pgbench -i -s $SMALL ..."
pg $PGBIN/pgbench -h "$SOCK" -U postgres -i -q -s "$SMALL" postgres >"$T/init-small.log" 2>&1
quiesce
log "walden backup-push at scale $SMALL"
backup_push small
out=$(newest_backup); read -r _ SMALL_BYTES _ _ <<< "$out"

# ------------------------------------------------ 1 + 2. backup and restore
log "pgbench -i -s $SCALE ..."
pg $PGBIN/pgbench -h "$SOCK" -U postgres -i -q -s "$SCALE" postgres >"$T/init.log" 2>&1
DB_SIZE=$(psql_main -c "SELECT pg_database_size('postgres')")
# REPS rounds of: walden backup-push, pg_basebackup, restore of each + start.
# The machine is shared: the report gives the median and the range.
for rep in $(seq 1 "$REPS"); do
  quiesce
  log "[$rep/$REPS] walden backup-push at scale $SCALE"
  backup_push "main.$rep"
  out=$(newest_backup); read -r MAIN_NAME MAIN_BYTES MAIN_STORED MAIN_WAL <<< "$out"
  echo "$MAIN_BYTES $MAIN_STORED $MAIN_WAL" > "$T/main.$rep.sizes"
  log "  $(cat "$T/main.$rep.out")"
  quiesce
  log "[$rep/$REPS] pg_basebackup"
  rm -rf "$WORK/pgbb"
  timed "pgbb.$rep" $PGBIN/pg_basebackup -h "$SOCK" -U postgres -D "$WORK/pgbb" -Ft \
    --compress=server-zstd --checkpoint=fast -X fetch
  stat -c %s "$WORK/pgbb/base.tar.zst" > "$T/pgbb.$rep.size"

  sync
  log "[$rep/$REPS] walden restore $MAIN_NAME + start until promoted"
  r0=$(now)
  timed "restore.$rep" "$WALDEN" restore "$MAIN_NAME" --repo "$REPO" --pgdata "$WORK/r-walden" --jobs 2
  r1=$(now)
  start_restored "$WORK/r-walden"
  r2=$(now)
  echo "$(calc "$r1 - $r0") $(calc "$r2 - $r1") $(calc "$r2 - $r0")" > "$T/wrestore.$rep"
  check_and_stop_restored "$WORK/r-walden" "walden restore"

  sync
  log "[$rep/$REPS] pg_basebackup tar: zstd -d | tar x + start until promoted"
  r0=$(now)
  timed "untar.$rep" bash -c "set -o pipefail; mkdir -m 700 '$WORK/r-pgbb' && zstd -q -d -c '$WORK/pgbb/base.tar.zst' | tar -x -C '$WORK/r-pgbb'"
  r1=$(now)
  start_restored "$WORK/r-pgbb"
  r2=$(now)
  echo "$(calc "$r1 - $r0") $(calc "$r2 - $r1") $(calc "$r2 - $r0")" > "$T/brestore.$rep"
  check_and_stop_restored "$WORK/r-pgbb" "pg_basebackup restore"
  sync
done
rm -rf "$WORK/pgbb"

# ------------------------------------------------ 4. throttle accuracy
if [ -n "${MAX_RATE:-}" ]; then
  RATE=$MAX_RATE
else
  # 50 MB/s, or less so that the backup takes at least ~25 s at small scales.
  RATE="$(python3 -c "print(max(1, min(50, int($MAIN_BYTES / 1e6 / 25))))")MB/s"
fi
RATE_BPS=$(python3 -c "
import re; m = re.fullmatch(r'([0-9.]+)\s*([kKmMgG]?)(i?)[bB]?(/s)?', '$RATE'.strip())
mult = {'': 1, 'k': 1000, 'm': 1000**2, 'g': 1000**3}[m.group(2).lower()]
if m.group(3): mult = {'': 1, 'k': 1024, 'm': 1024**2, 'g': 1024**3}[m.group(2).lower()]
print(int(float(m.group(1)) * mult))")
quiesce
log "walden backup-push --max-rate $RATE (expect ~$(calc "round($MAIN_BYTES / $RATE_BPS)") s)"
backup_push throttled --max-rate "$RATE"
out=$(newest_backup); read -r _ THR_BYTES _ _ <<< "$out"

# ------------------------------------------------ 5. pgbench beside backups
log "pgbench warm-up, 10 s (not reported)"
pg $PGBIN/pgbench -h "$SOCK" -U postgres -c 4 -j 2 -T 10 -n postgres >"$T/pgbench.warmup.out" 2>&1
# Interleaved rounds, so drift in what else runs on the machine hits every kind alike.
for round in $(seq 1 "$PGBENCH_ROUNDS"); do
  pgbench_run "none.$round" none
  pgbench_run "sleeper.$round" sleeper
  pgbench_run "unthrottled.$round" backup
  pgbench_run "throttled.$round" backup --max-rate "$RATE" --io-priority idle
done

# ------------------------------------------------ report
export SCALE SMALL DB_SIZE SMALL_BYTES RATE RATE_BPS THR_BYTES PGBENCH_SECONDS PGBENCH_ROUNDS REPS T
python3 - <<'PY'
import datetime, json, os, re, statistics
e = os.environ
T = e["T"]
reps, rounds = int(e["REPS"]), int(e["PGBENCH_ROUNDS"])
scale, small = int(e["SCALE"]), int(e["SMALL"])
MiB = 1 << 20

def nums(path):
    return [float(x) for x in open(path).read().split()]
def timing(name):  # (seconds, peak RSS KiB)
    s, rss, user, sys = nums(f"{T}/{name}.time")
    return s, rss
def cpu(name):  # user + system CPU seconds
    s, rss, user, sys = nums(f"{T}/{name}.time")
    return user + sys
def med(xs):
    return statistics.median(xs)
def rng(xs):
    return f"{min(xs):.2f}–{max(xs):.2f}" if len(xs) > 1 else "-"
def mib(b):
    b = float(b) / MiB
    return ("%.0f MiB" if b >= 10 else "%.1f MiB") % b
def phases(name):
    """(start, copy, stop) seconds of a backup-push from its JSON log: start
    = connect + pg_backup_start (checkpoint), copy = reading and storing the
    parts, stop = pg_backup_stop (waits for the WAL to be archived) + manifest."""
    def ts(ev):
        t = re.sub(r"(\.\d{6})\d*", r"\1", ev["timestamp"]).replace("Z", "+00:00")
        return datetime.datetime.fromisoformat(t).timestamp()
    try:
        events = [json.loads(l) for l in open(f"{T}/{name}.err") if l.startswith("{")]
        started = [ts(ev) for ev in events if ev.get("message") == "backup started"][0]
        stored = max(ts(ev) for ev in events if ev.get("message") == "part stored")
        done = [ts(ev) for ev in events if ev.get("message") == "backup complete"][0]
        return timing(name)[0] - (done - started), stored - started, done - stored
    except (IndexError, ValueError, KeyError, OSError):
        return None

R = range(1, reps + 1)
w_s = [timing(f"main.{i}")[0] for i in R]
w_rss = max(timing(f"main.{i}")[1] for i in R)
b_s = [timing(f"pgbb.{i}")[0] for i in R]
b_rss = max(timing(f"pgbb.{i}")[1] for i in R)
sizes = [nums(f"{T}/main.{i}.sizes") for i in R]
main_bytes = med([x[0] for x in sizes])
w_stored, w_wal = med([x[1] for x in sizes]), med([x[2] for x in sizes])
b_size = med([nums(f"{T}/pgbb.{i}.size")[0] for i in R])

print(f"### Base backup: pgbench scale {scale}, database {mib(e['DB_SIZE'])}, {mib(main_bytes)} read; "
      f"median of {reps} runs (range)\n")
print("| | s | range | MB/s | CPU s | stored | peak RSS |")
print("|---|---|---|---|---|---|---|")
print(f"| walden backup-push, zstd-3, --jobs 2 | {med(w_s):.2f} | {rng(w_s)} | {main_bytes / 1e6 / med(w_s):.0f} | "
      f"{med([cpu(f'main.{i}') for i in R]):.2f} | {mib(w_stored)} (+ {mib(w_wal)} WAL in the archive) | {w_rss / 1024:.0f} MiB |")
print(f"| pg_basebackup -Ft, server-zstd, -X fetch | {med(b_s):.2f} | {rng(b_s)} | {main_bytes / 1e6 / med(b_s):.0f} | "
      f"client {med([cpu(f'pgbb.{i}') for i in R]):.2f} (compression runs in the server) | {mib(b_size)} (base.tar.zst, WAL inside) | {b_rss / 1024:.0f} MiB (client) |")
print(f"\nwalden / pg_basebackup wall time: {med(w_s) / med(b_s):.2f}x")
ph = [p for p in (phases(f"main.{i}") for i in R) if p]
if ph:
    st, cp, sp = (med([p[k] for p in ph]) for k in range(3))
    print(f"walden phases (median): connect + pg_backup_start (fast checkpoint) {st:.2f} s, copy {cp:.2f} s "
          f"({main_bytes / 1e6 / cp:.0f} MB/s), pg_backup_stop (waits for the WAL archive) + manifest {sp:.2f} s")

wr = [nums(f"{T}/wrestore.{i}") for i in R]
br = [nums(f"{T}/brestore.{i}") for i in R]
r_rss = max(timing(f"restore.{i}")[1] for i in R)
u_rss = max(timing(f"untar.{i}")[1] for i in R)
print(f"\n### Restore, then start PostgreSQL until promoted and answering; median of {reps} runs\n")
print("| | restore s | restore CPU s | start + recovery s | total s | total range | peak RSS of the restore |")
print("|---|---|---|---|---|---|---|")
print(f"| walden restore --jobs 2 (+ WAL via wal-fetch) | {med([x[0] for x in wr]):.2f} | {med([cpu(f'restore.{i}') for i in R]):.2f} | "
      f"{med([x[1] for x in wr]):.2f} | {med([x[2] for x in wr]):.2f} | {rng([x[2] for x in wr])} | {r_rss / 1024:.0f} MiB |")
print(f"| pg_basebackup tar: zstd -d \\| tar x (WAL inside) | {med([x[0] for x in br]):.2f} | {med([cpu(f'untar.{i}') for i in R]):.2f} | "
      f"{med([x[1] for x in br]):.2f} | {med([x[2] for x in br]):.2f} | {rng([x[2] for x in br])} | {u_rss / 1024:.0f} MiB (largest of zstd, tar) |")
print(f"\nwalden / pg_basebackup total: {med([x[2] for x in wr]) / med([x[2] for x in br]):.2f}x; "
      f"every restored cluster had {scale * 100000} rows in pgbench_accounts")

small_s, small_rss = timing("small")
print(f"\n### Memory as the database grows (backup-push, zstd-3, --jobs 2)\n")
print("| scale | read | s | peak RSS |")
print("|---|---|---|---|")
print(f"| {small} | {mib(e['SMALL_BYTES'])} | {small_s:.2f} | {small_rss / 1024:.1f} MiB |")
print(f"| {scale} | {mib(main_bytes)} | {med(w_s):.2f} | {w_rss / 1024:.1f} MiB (max of {reps}) |")

thr_s, thr_rss = timing("throttled")
thr_bytes, rate = int(e["THR_BYTES"]), int(e["RATE_BPS"])
achieved = thr_bytes / thr_s
p = phases("throttled")
copy = f"{thr_bytes / p[1] / 1e6:.2f} MB/s, {100 * thr_bytes / p[1] / rate:.1f} %" if p else "-"
print(f"\n### Throttle: backup-push --max-rate {e['RATE']}\n")
print("| limit | read | wall s | achieved (read / wall) | of the limit | copy phase only | peak RSS |")
print("|---|---|---|---|---|---|---|")
print(f"| {rate / 1e6:.1f} MB/s | {mib(thr_bytes)} | {thr_s:.2f} | {achieved / 1e6:.2f} MB/s | {100 * achieved / rate:.1f} % | {copy} | {thr_rss / 1024:.0f} MiB |")

def tps(label):  # whole-run TPS, TPS while the backup ran, backup seconds, backup ended early
    w, d, b, early = open(f"{T}/tps.{label}").read().split()
    return float(w), (None if d == "-" else float(d)), (None if b == "-" else float(b)), early
secs = e["PGBENCH_SECONDS"]
kinds = [("none", "none"), ("none, control: a process waking every 1 ms", "sleeper"), ("unthrottled (zstd-3, --jobs 2)", "unthrottled"),
         (f"throttled (--max-rate {e['RATE']} --io-priority idle)", "throttled")]
runs = {k: [tps(f"{k}.{r}") for r in range(1, rounds + 1)] for _, k in kinds}
load = {k: [open(f"{T}/load.{k}.{r}").read().strip() for r in range(1, rounds + 1)] for _, k in kinds}
base = statistics.mean(x[0] for x in runs["none"])
print(f"\n### pgbench TPC-B (default script), -c 4 -j 2 -T {secs}, fsync on, beside a backup-push; "
      f"{rounds} interleaved rounds\n")
print(f"| backup running | TPS (mean of {secs} s runs) | per round | TPS while the backup ran | vs none | backup s | backup ended before pgbench | load avg before |")
print("|---|---|---|---|---|---|---|---|")
for title, k in kinds:
    rs = runs[k]
    whole = statistics.mean(x[0] for x in rs)
    during = [x[1] for x in rs if x[1] is not None]
    d = statistics.mean(during) if during else None
    vs = f"{100 * whole / base:.1f} %" + (f" (while running: {100 * d / base:.1f} %)" if d else "")
    bs = " / ".join(f"{x[2]:.1f}" for x in rs if x[2] is not None) or "-"
    early = " / ".join(x[3] for x in rs)
    print(f"| {title} | {whole:.0f} | {' / '.join(f'{x[0]:.0f}' for x in rs)} | {f'{d:.0f}' if d else '-'} | {vs} | {bs} | {early} | {' / '.join(load[k])} |")
thr = statistics.mean(x[0] for x in runs["throttled"])
unt = statistics.mean(x[0] for x in runs["unthrottled"])
slp = statistics.mean(x[0] for x in runs["sleeper"])
print(f"\nthrottled / none TPS: {thr / base:.3f}; unthrottled / none: {unt / base:.3f}; "
      f"throttled / control: {thr / slp:.3f}")
PY
log "done"
