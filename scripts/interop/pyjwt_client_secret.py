"""Independent check of `siwa secret`: PyJWT + cryptography verify the secret
against the public key that `openssl ec -pubout` derives from the same .p8.

Usage: python pyjwt_client_secret.py SIWA_BINARY
Exits non-zero (with the reason) on any mismatch.
"""
import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import jwt  # PyJWT

FIXTURES = Path(__file__).resolve().parents[2] / "crates" / "siwa-kit" / "tests" / "fixtures"

TEAM = "DEF123GHIJ"
CLIENT = "com.example.web"


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def main() -> int:
    siwa = sys.argv[1]
    key_file = str(FIXTURES / "AuthKey_ABC123DEFG.p8")
    public_pem = subprocess.run(
        ["openssl", "ec", "-in", key_file, "-pubout"],
        check=True, capture_output=True, text=True,
    ).stdout
    out = subprocess.run(
        [siwa, "secret", "--team-id", TEAM, "--client-id", CLIENT, "--key", key_file,
         "--ttl", "15777000", "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    made = json.loads(out)
    token = made["client_secret"]

    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": "ABC123DEFG"}, header
    assert len(b64decode(token.split(".")[2])) == 64, "signature is not 64 bytes"

    claims = jwt.decode(
        token, public_pem, algorithms=["ES256"],
        audience="https://appleid.apple.com", issuer=TEAM,
        options={"require": ["iss", "iat", "exp", "aud", "sub"]},
    )
    assert set(claims) == {"iss", "iat", "exp", "aud", "sub"}, claims
    assert claims["sub"] == CLIENT, claims
    assert claims["exp"] - claims["iat"] == 15777000, claims
    assert claims["exp"] == made["expires_at"], (claims, made)
    assert claims["iat"] <= time.time(), claims

    # A secret from another key must not verify against this public key.
    other = str(FIXTURES / "AuthKey_ZZZ999YYYX.p8")
    other_out = subprocess.run(
        [siwa, "secret", "--team-id", TEAM, "--key-id", "ABC123DEFG", "--client-id", CLIENT,
         "--key", other],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    try:
        jwt.decode(other_out, public_pem, algorithms=["ES256"], audience="https://appleid.apple.com")
    except jwt.InvalidSignatureError:
        pass
    else:
        raise AssertionError("a secret signed by another key verified")
    print("pyjwt: client_secret verified with PyJWT %s against the openssl public key" % jwt.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
