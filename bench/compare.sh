#!/usr/bin/env bash
# Side by side: siwa-kit, the bare aws-lc-rs floor, openssl speed, Node jose,
# apple-signin-auth and PyJWT, on the same fixtures, interleaved, each
# measurement a separate process pinned to one CPU. Writes bench/RESULTS.md
# and bench/results.json.
#
#   bench/compare.sh [--quick] [compare.py options, e.g. --only verify_id_token]
#
# Needs: cargo, node + npm, python3 (venv), openssl, taskset. Installs the
# peers from npm and PyPI into git-ignored folders on first use. With valgrind
# installed it also counts instructions per operation (siwa-kit vs the floor).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/bench/.work
mkdir -p "$work"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

for tool in cargo node npm python3 openssl taskset; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is needed" >&2; exit 2; }
done

echo "== building bench/harness (release)" >&2
# The harness is its own workspace; the workspace's lock pins its crates.
cp Cargo.lock bench/harness/Cargo.lock
cargo build --quiet --release --manifest-path bench/harness/Cargo.toml --bin siwa-bench
siwa_bench=$CARGO_TARGET_DIR/release/siwa-bench

node_dir=$root/bench/peers/node
if [ ! -d "$node_dir/node_modules/jose" ] || [ ! -d "$node_dir/node_modules/apple-signin-auth" ] \
   || [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; then
  echo "== npm: jose, apple-signin-auth" >&2
  if [ -f "$node_dir/package-lock.json" ]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi

venv=$work/venv
req=$root/bench/peers/python/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
  echo "== venv: PyJWT, cryptography" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/requirements.txt"
fi

fixtures=$work/fixtures
"$siwa_bench" fixtures "$fixtures" >&2

cpu=${SIWA_BENCH_CPU:-$(( $(nproc) - 1 ))}
echo "== measuring on CPU $cpu" >&2
exec python3 bench/compare.py "$@" --cpu "$cpu" \
  --fixtures "$fixtures" --siwa-bench "$siwa_bench" \
  --node-dir "$node_dir" --python "$venv/bin/python" --out "$root/bench"
