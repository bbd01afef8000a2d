# SeaweedFS (`weed mini`) as a loopback S3 server, for benches/stores.sh and
# benches/compare.sh (sourced). The server is the one the integration tests
# use (scripts/install-test-servers.sh puts `weed` into $VENV/bin).
#
#   seaweedfs_start VENV DIR LOGFILE BUCKET
#
# starts it in its own process group (setsid) with data and logs in DIR,
# waits until it answers, creates BUCKET, and sets SEAWEED_PID (the group
# leader: stop it with kill -- -$SEAWEED_PID), SEAWEED_LITTER (the gRPC
# sockets it leaves in /tmp, to remove after it stopped), S3_PORT and
# SEAWEED_VERSION; it returns 1 (after printing why) when it cannot. Requests
# are signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, which must be
# exported before: the server takes its credentials from them.
SEAWEED_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

seaweedfs_free_ports() { # COUNT: distinct free loopback ports
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

seaweedfs_start() {
  local venv=$1 dir=$2 logf=$3 bucket=$4 i status k s3g m mg v vg f fg a ag
  mkdir -p "$dir"
  read -r S3_PORT s3g m mg v vg f fg a ag <<< "$(seaweedfs_free_ports 10)"
  SEAWEED_LITTER=()
  for k in "master $mg" "volume $vg" "filer $fg" "s3 $s3g" "admin $ag"; do
    set -- $k; SEAWEED_LITTER+=("/tmp/seaweedfs-$1-grpc-$2.sock")
  done
  setsid "$venv/bin/weed" -logdir="$dir" mini -dir="$dir" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -webdav=false -admin.ui=false \
    -s3.port.iceberg=0 -s3.port.lance=0 -s3.autoCreateBucket=false \
    -s3.port="$S3_PORT" -s3.port.grpc="$s3g" -master.port="$m" -master.port.grpc="$mg" \
    -volume.port="$v" -volume.port.grpc="$vg" -filer.port="$f" -filer.port.grpc="$fg" \
    -admin.port="$a" -admin.port.grpc="$ag" \
    -filer.localSocket="$dir/filer.sock" -s3.localSocket="$dir/s3.sock" \
    </dev/null >"$logf" 2>&1 &
  SEAWEED_PID=$!
  for i in $(seq 1 600); do
    kill -0 "$SEAWEED_PID" 2>/dev/null || { tail -30 "$logf" >&2; echo "SeaweedFS exited during start-up" >&2; return 1; }
    [ "$(python3 "$SEAWEED_LIB/s3req.py" GET "$S3_PORT" / 2>/dev/null)" = 200 ] && break
    [ "$i" = 600 ] && { tail -30 "$logf" >&2; echo "SeaweedFS not ready in 60 s" >&2; return 1; }
    sleep 0.1
  done
  for i in $(seq 1 100); do
    status=$(python3 "$SEAWEED_LIB/s3req.py" PUT "$S3_PORT" "/$bucket" 2>>"$logf.bucket")
    [ "$status" = 200 ] && break
    [ "$i" = 100 ] && { cat "$logf.bucket" >&2; echo "cannot create S3 bucket (HTTP $status)" >&2; return 1; }
    sleep 0.2
  done
  SEAWEED_VERSION=$("$venv/bin/weed" version 2>/dev/null | head -1 | awk '{print $3}')
  return 0
}
