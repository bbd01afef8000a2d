#!/usr/bin/env bash
# Benchmark: which zstd level for WAL and which for base backups.
#
# Real data from PostgreSQL 15: WAL of a pgbench run (small updates and
# full-page images), WAL of bulk loads (pgbench -i and INSERTs of text rows),
# and the data directory those leave (what a base backup reads). For each
# zstd level (the "fast" negative ones included) and snappy it prints the
# bytes stored as a share of the plaintext and the CPU spent, measured two
# ways in the same run:
#   - walden wal-push itself, one process per segment as PostgreSQL runs it
#     (CPU ms per segment: user + system, process start-up included);
#   - libzstd alone on the data directory as one tar (zstd -b, one thread),
#     the work a backup's compression workers share.
#
#   bash benches/levels.sh [SEGMENTS_PER_KIND]     (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-30}
LEVELS=${BENCH_LEVELS:-"-5 -3 -1 1 2 3 4 6 9"}
bash scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
command -v zstd >/dev/null || apt-get install -y -qq zstd >/dev/null
[ -n "${WALDEN_BIN:-}" ] || cargo build --release --quiet
WALDEN=${WALDEN_BIN:-$(pwd)/target/release/walden}
PGBIN=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/walden-levels-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
cleanup() {
  if [ -f "$WORK/pg/postmaster.pid" ]; then kill -INT "$(head -1 "$WORK/pg/postmaster.pid")" 2>/dev/null || true; sleep 2; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
pg() { "${AS_PG[@]}" "$@"; }
sql() { pg $PGBIN/psql -X -q -At -h "$WORK/sock" -U postgres postgres "$@"; }
segments_in() { find "$1" -maxdepth 1 -type f -printf '%f\n' | grep -E '^[0-9A-F]{24}$' | sort || true; }

# 1. Real WAL, archived by cp into the directory named in $WORK/phase.
mkdir -p "$WORK/sock" "$WORK/wal/pgbench" "$WORK/wal/bulk"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$WORK"
pg $PGBIN/initdb -D "$WORK/pg" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK/sock'
archive_mode = on
archive_command = 'cp %p "\$(cat $WORK/phase)"/%f'
fsync = off
max_wal_size = 4GB
CONF
pg $PGBIN/pg_ctl -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
switch_and_wait() { # let the archiver finish the current phase
  local last
  last=$(sql -c "SELECT pg_walfile_name(pg_switch_wal())")
  until [ "$(sql -c "SELECT last_archived_wal FROM pg_stat_archiver")" \> "$last" ] ||
        [ "$(sql -c "SELECT last_archived_wal FROM pg_stat_archiver")" = "$last" ]; do sleep 0.2; done
}
echo "$WORK/wal/bulk" > "$WORK/phase"
log "bulk-load WAL: pgbench -i, then INSERTs of text rows, until $N segments"
pg $PGBIN/pgbench -h "$WORK/sock" -U postgres -i -s 20 postgres >/dev/null 2>&1
sql -c "CREATE TABLE filler (id bigint, note text, n numeric)"
while [ "$(segments_in "$WORK/wal/bulk" | wc -l)" -lt "$N" ]; do
  sql -c "INSERT INTO filler SELECT g, md5(g::text) || repeat(chr(65 + g % 26), g % 200), random() * 1e6 FROM generate_series(1, 200000) g"
done
switch_and_wait
echo "$WORK/wal/pgbench" > "$WORK/phase"
sql -c "CHECKPOINT"
log "pgbench WAL: the TPC-B-like run, until $N segments"
while [ "$(segments_in "$WORK/wal/pgbench" | wc -l)" -lt "$N" ]; do
  pg $PGBIN/pgbench -h "$WORK/sock" -U postgres -c 4 -T 10 postgres >/dev/null 2>&1
done
switch_and_wait
pg $PGBIN/pg_ctl -D "$WORK/pg" -m fast -w stop >/dev/null
tar -C "$WORK/pg" -cf "$WORK/datadir.tar" base global
data_mib=$(( $(stat -c %s "$WORK/datadir.tar") >> 20 ))

# 2. walden wal-push at every level: CPU per segment and bytes stored.
push_all() { # kind repo flags...: prints "cpu_ms_per_segment stored_percent"
  local kind=$1 repo=$2; shift 2
  local segs; segs=$(segments_in "$WORK/wal/$kind" | head -n "$N")
  cd "$WORK/wal/$kind"
  local cpu
  # shellcheck disable=SC2086
  cpu=$(/usr/bin/time -f '%U %S' bash -c 'for f in $0; do "$1" wal-push --repo "$2" -q "${@:3}" "$f" || exit 1; done' \
        "$segs" "$WALDEN" "$repo" "$@" 2>&1 >/dev/null | tail -1)
  cd - >/dev/null
  local stored; stored=$(find "$repo/wal" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
  local n; n=$(echo "$segs" | wc -l)
  awk -v cpu="$cpu" -v n="$n" -v stored="$stored" 'BEGIN { split(cpu, c, " "); printf "%.1f %.1f\n", 1000 * (c[1] + c[2]) / n, 100 * stored / (n * 16777216) }'
}

row() { # label flags...
  local label=$1; shift
  local line="| $label"
  for kind in pgbench bulk; do
    read -r ms pct < <(push_all "$kind" "$WORK/repo-$kind-$RANDOM" "$@")
    line+=" | $pct % | $ms"
  done
  echo "$line |"
}

echo
echo "walden wal-push, one process per segment ($N segments of each kind, 16 MiB each):"
echo
echo "| setting | pgbench WAL stored | CPU ms/segment | bulk-load WAL stored | CPU ms/segment |"
echo "|---|---|---|---|---|"
row "none" --compression none
row "snappy" --compression snappy
for level in $LEVELS; do
  row "zstd $level" --compression zstd --compression-level "$level"
done

# 3. libzstd alone on the data directory, one thread.
echo
echo "zstd -b on the data directory as one tar ($data_mib MiB), one thread:"
echo
echo "| level | stored | compress MB/s | decompress MB/s |"
echo "|---|---|---|---|"
for level in $LEVELS; do
  if [ "$level" -lt 0 ]; then flag="--fast=${level#-}"; else flag="-$level"; fi
  zstd -q -b "$flag" -T1 "$WORK/datadir.tar" 2>&1 | tr '\r' '\n' | grep -E '\([ 0-9.]+\)' | tail -1 |
    awk -v level="$level" '{
      match($0, /\(x? *[0-9.]+\)/); r = substr($0, RSTART, RLENGTH); gsub(/[^0-9.]/, "", r)
      n = 0; for (i = 1; i <= NF; i++) if ($i ~ /MB\/s/) { n++; s[n] = $(i - 1) }
      printf "| zstd %s | %.1f %% | %s | %s |\n", level, 100 / r, s[1], s[2] }'
done
