#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and black-box tests against
# real PostgreSQL, SeaweedFS (S3) and Google's storage-testbench (GCS).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/install-test-servers.sh
bash scripts/install-test-postgres.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --quiet 2>&1
