#!/usr/bin/env bash
# A team transfer rehearsed on the emulator, step by step as README's "Moving
# your app to another team" lists them: two users sign in under DEMOTEAM01,
# `siwa migrate export`, the app moves to DEMOTEAM02, the service restarts
# with the receiving team's key, one user signs in before `siwa migrate
# import` and one after; both keep their accounts.
#
# Usage: bash examples/transfer/rehearse.sh [SIWA_BINARY]   (ports 8080, 8081)
set -euo pipefail
siwa=$(realpath "${1:-target/debug/siwa}")
cd "$(dirname "$0")"
rm -f rehearsal.db* siwa-service-keys.json
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -f rehearsal.db* siwa-service-keys.json' EXIT

wait_for() { for _ in $(seq 50); do curl -sf "$1" >/dev/null && return; sleep 0.2; done; echo "$1 did not come up" >&2; exit 1; }
serve() { "$siwa" serve --config "$1" >"$1.log" 2>&1 & pids+=($!); wait_for http://127.0.0.1:8080/healthz; }

# An iOS app's sign-in: Apple's credential (from the emulator), handed to the service.
nonce_hash=$(printf 'raw-nonce' | sha256sum | cut -d' ' -f1)
sign_in() {
  curl -sf http://127.0.0.1:8081/emulator/native -H 'content-type: application/json' \
    -d "{\"client_id\":\"com.example.ios\",\"user\":\"$1\",\"nonce\":\"$nonce_hash\"}" |
    python3 -c 'import json,sys; c=json.load(sys.stdin); print(json.dumps({"identity_token":c["identity_token"],"authorization_code":c["authorization_code"],"user":c.get("user"),"nonce":"raw-nonce"}))' |
    curl -sf http://127.0.0.1:8080/auth/apple/native -H 'content-type: application/json' -d @- |
    python3 -c 'import json,sys; u=json.load(sys.stdin)["user"]; print(u["id"], u["first_name"], u["email"])'
}

"$siwa" emulator --config emulator.toml >emulator.log 2>&1 & pids+=($!)
wait_for http://127.0.0.1:8081/auth/keys

echo "== 1. under DEMOTEAM01"
serve team-a.toml
before_alice=$(sign_in alice); before_bob=$(sign_in bob)
echo "$before_alice"; echo "$before_bob"

echo "== 2. siwa migrate export (the sending team, before the transfer)"
"$siwa" migrate export --config team-a.toml --target-team DEMOTEAM02

echo "== 3. the app moves to DEMOTEAM02"
for client in com.example.ios com.example.web; do
  curl -sf http://127.0.0.1:8081/emulator/transfer -H 'content-type: application/json' \
    -d "{\"client_id\":\"$client\",\"to_team\":\"DEMOTEAM02\"}"; echo
done

echo "== 4. the service restarts with the receiving team's key"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
serve team-b.toml
after_alice=$(sign_in alice)
echo "$after_alice   (signed in before the import: matched by transfer_sub)"

echo "== 5. siwa migrate import (the receiving team)"
"$siwa" migrate import --config team-b.toml
after_bob=$(sign_in bob)
echo "$after_bob"

[ "$before_alice" = "$after_alice" ] && [ "$before_bob" = "$after_bob" ] ||
  { echo "rehearsal FAILED: an account changed" >&2; exit 1; }
echo "rehearsal passed: both users kept their accounts"
