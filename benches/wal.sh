#!/usr/bin/env bash
# Benchmark: wal-push / wal-fetch of N real 16 MiB WAL segments, sequentially,
# one process per segment as PostgreSQL runs them, next to cp+fsync measured
# in the same run. Prints a table of seconds, segments/s and ms/segment, and
# the peak RSS of one wal-push.
#
#   bash benches/wal.sh [N]        (default N=100; needs PostgreSQL 15 and pgbench)
#   BENCH_WAL_DIR=/var/tmp/wal bash benches/wal.sh   keeps the generated WAL there for reruns
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
bash scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
cargo build --release --quiet
WALDEN=$(pwd)/target/release/walden
PGBIN=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/walden-bench-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
cleanup() {
  if [ -f "$WORK/pg/postmaster.pid" ]; then kill -INT "$(head -1 "$WORK/pg/postmaster.pid")" 2>/dev/null || true; sleep 2; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. Real WAL: pgbench writes it, a plain cp archives it into src/.
if [ -n "${BENCH_WAL_DIR:-}" ]; then
  mkdir -p "$BENCH_WAL_DIR"
  ln -s "$(cd "$BENCH_WAL_DIR" && pwd)" "$WORK/src"
fi
mkdir -p "$WORK/src" "$WORK/sock"
[ "$(id -u)" -eq 0 ] && chown postgres "$WORK" "$WORK/src/" "$WORK/sock"
have() { ls "$WORK/src/" | grep -c '^[0-9A-F]\{24\}$' || true; }
if [ "$(have)" -lt "$N" ]; then
rm -f "$WORK/src/"*
"${AS_PG[@]}" $PGBIN/initdb -D "$WORK/pg" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK/sock'
archive_mode = on
archive_command = 'cp %p $WORK/src/%f'
fsync = off
max_wal_size = 4GB
CONF
"${AS_PG[@]}" $PGBIN/pg_ctl -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
echo "generating $N segments of real WAL with pgbench ..." >&2
# A mix: pgbench's initial load, then bulk inserts and updates of
# text-heavy rows until there are enough segments.
"${AS_PG[@]}" $PGBIN/pgbench -h "$WORK/sock" -U postgres -i -s 10 postgres >/dev/null 2>&1
"${AS_PG[@]}" $PGBIN/psql -X -q -h "$WORK/sock" -U postgres -c "CREATE TABLE IF NOT EXISTS filler (id bigint, note text, n numeric)" postgres
while [ "$(ls "$WORK/src" | grep -c '^[0-9A-F]\{24\}$')" -lt "$N" ]; do
  "${AS_PG[@]}" $PGBIN/psql -X -q -h "$WORK/sock" -U postgres postgres >/dev/null <<SQL
INSERT INTO filler SELECT g, md5(g::text) || repeat(chr(65 + g % 26), g % 200), random() * 1e6 FROM generate_series(1, 300000) g;
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 7 = 0;
SQL
  sleep 0.5
done
"${AS_PG[@]}" $PGBIN/pg_ctl -D "$WORK/pg" -m fast -w stop >/dev/null
fi
SEGS=$(ls "$WORK/src" | grep '^[0-9A-F]\{24\}$' | head -n "$N")
mkdir -p "$WORK/cp" && sync

KEY="$WORK/key.txt"
age-keygen -o "$KEY" 2>/dev/null
RECIPIENT=$(age-keygen -y "$KEY")

now() { date +%s.%N; }
report() { # name start end
  awk -v n="$N" -v name="$1" -v s="$2" -v e="$3" 'BEGIN { t = e - s; printf "| %-34s | %7.2f | %7.1f | %7.1f |\n", name, t, n / t, 1000 * t / n }'
}
printf '| %-34s | %7s | %7s | %7s |\n' "$N segments x 16 MiB, sequential" "s" "seg/s" "ms/seg"
printf '|%s|%s|%s|%s|\n' "------------------------------------" "---------" "---------" "---------"

s=$(now); for f in $SEGS; do cp "$WORK/src/$f" "$WORK/cp/$f"; sync "$WORK/cp/$f"; done; e=$(now)
report "cp + fsync" "$s" "$e"
s=$(now); for f in $SEGS; do zstd -q -3 -f "$WORK/src/$f" -o "$WORK/cp/$f.zst"; sync "$WORK/cp/$f.zst"; done; e=$(now)
report "zstd -3 + fsync (CLI)" "$s" "$e"

bench_variant() { # label repo push-flags fetch-flags
  local label=$1 repo=$2 push=$3 fetch=$4
  cd "$WORK/src"
  s=$(now); for f in $SEGS; do "$WALDEN" wal-push --repo "$repo" $push -q "$f"; done; e=$(now)
  report "walden wal-push $label" "$s" "$e"
  mkdir -p "$WORK/restore"
  s=$(now); for f in $SEGS; do "$WALDEN" wal-fetch --repo "$repo" $fetch -q "$f" "$WORK/restore/$f"; done; e=$(now)
  report "walden wal-fetch $label" "$s" "$e"
  for f in $SEGS; do cmp -s "$WORK/src/$f" "$WORK/restore/$f" || { echo "MISMATCH $f" >&2; exit 1; }; done
  rm -rf "$WORK/restore"
  cd - >/dev/null
}
bench_variant "zstd-3" "$WORK/repo-zstd" "" ""
bench_variant "zstd-3 + age" "$WORK/repo-age" "--encrypt-recipient $RECIPIENT" "--decrypt-identity $KEY"

ratio=$(du -sb "$WORK/repo-zstd/wal" | cut -f1)
orig=$(( N * 16 * 1024 * 1024 ))
echo
echo "compressed size (zstd-3): $(( ratio / 1024 / 1024 )) MiB of $(( orig / 1024 / 1024 )) MiB"
first=$(echo "$SEGS" | head -1)
cd "$WORK/src"
rss=$(/usr/bin/time -f %M "$WALDEN" wal-push --repo "$WORK/repo-rss" -q "$first" 2>&1 >/dev/null | tail -1)
echo "peak RSS of one wal-push (zstd-3, 16 MiB segment): $(( rss / 1024 )) MiB ($rss KiB)"
