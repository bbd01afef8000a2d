#!/usr/bin/env bash
# Installs what walden's demo and tests need on Debian when it is missing:
# PostgreSQL 15 (server run as the unprivileged postgres user), zstd and age
# (for the break-glass interoperability tests), promtool from Debian's
# prometheus package (tests the example alerting rules), openssl (the TLS
# tests make their own CA and certificates). Idempotent.
set -euo pipefail
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v zstd >/dev/null || missing+=(zstd)
command -v age >/dev/null || missing+=(age)
command -v promtool >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "walden: please install: ${missing[*]} (e.g. sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "walden: a Rust toolchain (cargo) is required" >&2; exit 1; }
