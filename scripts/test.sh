#!/usr/bin/env bash
# The test command: the Rust suite, then the independent interop checks
# (PyJWT, Authlib, prometheus-client... in a venv this script creates under target/;
# every scripts/interop/*.py runs, metrics_prometheus.py among them).
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests read their data from the repository only.
bash scripts/check-self-contained.sh
cargo test --workspace --locked "$@"

cargo build --locked --bin siwa
# The README's team-transfer rehearsal, as a reader runs it (ports 8080, 8081).
bash examples/transfer/rehearse.sh target/debug/siwa >/dev/null
echo "examples/transfer/rehearse.sh: passed"

venv=target/interop-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import authlib, jwt, cryptography, prometheus_client, requests, selenium, openapi_spec_validator, schemathesis" 2>/dev/null; then
  echo "interop: creating $venv (Authlib, PyJWT, cryptography, prometheus-client, requests, selenium, openapi-spec-validator, schemathesis)"
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/interop/requirements.txt; }; then
    if [ -n "${CI:-}" ]; then echo "interop: could not build the venv" >&2; exit 1; fi
    echo "interop: skipping the PyJWT checks (no venv; needs PyPI access once)"
    exit 0
  fi
fi
passed=0
for check in scripts/interop/*.py; do
  "$venv/bin/python" "$check" target/debug/siwa
  passed=$((passed + 1))
done
echo "interop: $passed passed, 0 failed"
