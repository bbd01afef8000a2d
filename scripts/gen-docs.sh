#!/usr/bin/env bash
# Regenerates the committed man pages and shell completions from the CLI definitions.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
rm -rf man && mkdir -p man completions
./target/debug/walden man --out-dir man
./target/debug/walden completions bash > completions/walden.bash
./target/debug/walden completions zsh > completions/_walden
./target/debug/walden completions fish > completions/walden.fish
echo "regenerated man/ and completions/"
