#!/usr/bin/env bash
# Builds walden and runs its demo on a throwaway PostgreSQL cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release
exec ./target/release/walden demo "$@"
