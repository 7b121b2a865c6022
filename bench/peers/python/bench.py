"""One measurement per process, for bench/compare.py (see siwa-bench's docs).

    python bench.py OP pyjwt SECONDS FIXTURES_DIR

prints {"op","impl","ops","cpu_s"}. PyJWT is used as its docs show, with the
checks siwa-kit makes (signature, alg, iss, aud, exp, iat, sub, and the nonce
as SHA-256 of the raw one), keys parsed once.
"""

import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def make_op(op, fx, jwks):
    if op in ("verify_id_token", "verify_notification"):
        keys = jwt.PyJWKSet.from_dict(jwks)  # each key parsed once
        token = fx["id_token"] if op == "verify_id_token" else fx["notification"]
        required = ["exp", "iat", "sub"] if op == "verify_id_token" else ["exp", "iat"]

        def verify():
            kid = jwt.get_unverified_header(token)["kid"]
            claims = jwt.decode(
                token,
                keys[kid].key,
                algorithms=["RS256"],
                audience=fx["audience"],
                issuer=fx["issuer"],
                options={"require": required},
            )
            if op == "verify_id_token":
                expected = hashlib.sha256(fx["nonce_raw"].encode()).hexdigest()
                if not hmac.compare_digest(claims["nonce"], expected):
                    raise SystemExit("nonce")
            else:
                events = json.loads(claims["events"])
                if "type" not in events or "sub" not in events:
                    raise SystemExit("events")
            return claims

        return verify
    if op == "sign_client_secret":
        with open(fx["p8_path"], "rb") as f:
            key = load_pem_private_key(f.read(), password=None)

        def sign():
            now = int(time.time()) - 60
            claims = {
                "iss": fx["team_id"],
                "iat": now,
                "exp": now + fx["secret_ttl"],
                "aud": "https://appleid.apple.com",
                "sub": fx["client_id"],
            }
            return jwt.encode(claims, key, algorithm="ES256", headers={"kid": fx["key_id"]})

        return sign
    raise SystemExit(f"bench.py: no pyjwt for {op}")


def main():
    op, impl, secs, fixtures = sys.argv[1:5]
    if impl != "pyjwt":
        raise SystemExit(f"bench.py: no {impl}")
    secs = float(secs)
    with open(os.path.join(fixtures, "fixtures.json")) as f:
        fx = json.load(f)
    with open(os.path.join(fixtures, "jwks.json")) as f:
        jwks = json.load(f)
    run = make_op(op, fx, jwks)
    run()
    batch = 32
    warm_end = time.process_time() + min(secs / 10, 0.5)
    while time.process_time() < warm_end:
        for _ in range(batch):
            run()
    start = time.process_time()
    ops = 0
    while True:
        for _ in range(batch):
            run()
        ops += batch
        spent = time.process_time() - start
        if spent >= secs:
            print(json.dumps({"op": op, "impl": impl, "ops": ops, "cpu_s": spent}))
            return


if __name__ == "__main__":
    main()
