#!/usr/bin/env bash
# Installs walden: the release binary, its man pages and its shell
# completions (bash, zsh, fish) under a prefix. Idempotent: run it again
# after `git pull` to upgrade.
#
#   bash scripts/install.sh                      # into /usr/local (as root)
#   bash scripts/install.sh --prefix ~/.local    # for one user
#   DESTDIR=/tmp/pkg bash scripts/install.sh --prefix /usr   # staging for a package
#
# Options:
#   --prefix DIR    where to install (default /usr/local)
#   --binary FILE   install this walden binary instead of building one
#
# Layout under PREFIX: bin/walden, share/man/man1/walden*.1,
# share/bash-completion/completions/walden, share/zsh/site-functions/_walden,
# share/fish/vendor_completions.d/walden.fish.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
    --binary=*) binary="${1#--binary=}"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
root="${DESTDIR:-}$prefix"

if [ -z "$binary" ]; then
  command -v cargo >/dev/null || { echo "install.sh: a Rust toolchain (cargo) is required: https://rustup.rs" >&2; exit 1; }
  echo "install.sh: building walden (release; a clean build takes a few minutes)" >&2
  cargo build --release --locked
  binary=target/release/walden
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }
version="$("$binary" --version)"

install -d "$root/bin" "$root/share/man/man1" \
  "$root/share/bash-completion/completions" "$root/share/zsh/site-functions" \
  "$root/share/fish/vendor_completions.d"
# Copy then rename, so a running walden (PostgreSQL's archive_command) never
# sees a half-written binary.
install -m 755 "$binary" "$root/bin/.walden.new"
mv -f "$root/bin/.walden.new" "$root/bin/walden"
install -m 644 man/*.1 "$root/share/man/man1/"
install -m 644 completions/walden.bash "$root/share/bash-completion/completions/walden"
install -m 644 completions/_walden "$root/share/zsh/site-functions/_walden"
install -m 644 completions/walden.fish "$root/share/fish/vendor_completions.d/walden.fish"

echo "install.sh: installed $version into $root (bin/walden, $(ls man/*.1 | wc -l) man pages, bash/zsh/fish completions)"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "install.sh: note: $prefix/bin is not on PATH" >&2 ;;
esac
