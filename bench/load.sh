#!/usr/bin/env bash
# Service load: `siwa serve` + `siwa emulator` on loopback under wrk, beside a
# trivial axum handler; growth of latency with 1k, 100k and 1M users (SQLite,
# and PostgreSQL when postgres://postgres@127.0.0.1:5432/test answers).
# Writes bench/LOAD.md and bench/load.json. Every run is bounded in time and
# every process started here is stopped at the end.
#
#   bench/load.sh [--quick] [--no-pg] [load.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/bench/.work
mkdir -p "$work"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

if ! command -v wrk >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "== installing wrk (Debian)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "load.sh: wrk is needed (apt-get install wrk)" >&2
    exit 2
  fi
fi
for tool in cargo python3 taskset; do
  command -v "$tool" >/dev/null || { echo "load.sh: $tool is needed" >&2; exit 2; }
done

echo "== building siwa and the trivial server (release)" >&2
cargo build --quiet --release -p siwa-cli
cp Cargo.lock bench/harness/Cargo.lock
cargo build --quiet --release --manifest-path bench/harness/Cargo.toml --bin trivial-server

exec python3 bench/load.py "$@" --siwa "$CARGO_TARGET_DIR/release/siwa" \
  --trivial "$CARGO_TARGET_DIR/release/trivial-server" --work "$work" --out "$root/bench"
