#!/usr/bin/env bash
# The soak: a bounded mixed load on `siwa serve` and the emulator on loopback
# (bench/harness/src/bin/soak.rs says what it measures). Writes bench/REPORT.md
# unless --report names another file.
#
#   bench/soak.sh [--seconds N] [--concurrency N] [--report FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

echo "== building siwa and the soak (release)" >&2
cargo build --quiet --release --bin siwa
# The harness is its own workspace; the workspace's lock pins its crates.
cp Cargo.lock bench/harness/Cargo.lock
cargo build --quiet --release --manifest-path bench/harness/Cargo.toml --features soak --bin soak

exec "$CARGO_TARGET_DIR/release/soak" "$@" --siwa "$CARGO_TARGET_DIR/release/siwa"
