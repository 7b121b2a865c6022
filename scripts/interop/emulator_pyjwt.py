"""An independent client against `siwa emulator`: Python `requests` drives the
web flow and the code exchange with a client_secret that PyJWT signs, and PyJWT
verifies the id_token against the emulator's /auth/keys. It proves the
emulator speaks Apple's protocol, not only siwa-kit's.

Usage: python emulator_pyjwt.py SIWA_BINARY
"""
import base64
import hashlib
import json
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import jwt  # PyJWT
import requests

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "emulator.toml"
KEY = ROOT / "examples" / "AuthKey_DEMOKEY001.p8"
TEAM, KID, CLIENT = "DEMOTEAM01", "DEMOKEY001", "com.example.web"
REDIRECT = "http://127.0.0.1:8080/auth/apple/callback"


class HiddenInputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")


def client_secret() -> str:
    now = int(time.time())
    return jwt.encode(
        {"iss": TEAM, "iat": now - 30, "exp": now + 600, "aud": "https://appleid.apple.com", "sub": CLIENT},
        KEY.read_text(), algorithm="ES256", headers={"kid": KID},
    )


def half_hash(token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def main() -> int:
    siwa = sys.argv[1]
    emulator = subprocess.Popen(
        [siwa, "emulator", "--config", str(CONFIG), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        base = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
        assert base.startswith("http://127.0.0.1:"), base
        page = requests.get(f"{base}/auth/authorize", params={
            "client_id": CLIENT, "redirect_uri": REDIRECT, "response_type": "code id_token",
            "response_mode": "form_post", "scope": "name email", "state": "py-state",
            "nonce": "py-nonce", "emulator_user": "alice",
        }, timeout=10)
        page.raise_for_status()
        parser = HiddenInputs()
        parser.feed(page.text)
        fields = parser.fields
        assert fields["state"] == "py-state", fields
        assert json.loads(fields["user"])["name"]["firstName"] == "Alice", fields

        tokens = requests.post(f"{base}/auth/token", data={
            "client_id": CLIENT, "client_secret": client_secret(), "grant_type": "authorization_code",
            "code": fields["code"], "redirect_uri": REDIRECT,
        }, timeout=10)
        assert tokens.status_code == 200, (tokens.status_code, tokens.headers.get("X-Emulator-Reason"))
        body = tokens.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600, body

        jwks = jwt.PyJWKClient(f"{base}/auth/keys")
        for id_token in (fields["id_token"], body["id_token"]):
            signing_key = jwks.get_signing_key_from_jwt(id_token)
            claims = jwt.decode(
                id_token, signing_key.key, algorithms=["RS256"], audience=CLIENT,
                issuer="https://appleid.apple.com",
            )
            assert claims["nonce"] == "py-nonce", claims
            assert claims["email"] == "alice@example.com", claims
        assert claims["at_hash"] == half_hash(body["access_token"]), claims

        refreshed = requests.post(f"{base}/auth/token", data={
            "client_id": CLIENT, "client_secret": client_secret(), "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
        }, timeout=10)
        assert refreshed.status_code == 200 and "refresh_token" not in refreshed.json(), refreshed.text

        bad = requests.post(f"{base}/auth/token", data={
            "client_id": CLIENT, "client_secret": client_secret()[:-4] + "AAAA", "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
        }, timeout=10)
        assert bad.status_code == 400 and bad.json() == {"error": "invalid_client"}, bad.text

        revoked = requests.post(f"{base}/auth/revoke", data={
            "client_id": CLIENT, "client_secret": client_secret(), "token": body["refresh_token"],
            "token_type_hint": "refresh_token",
        }, timeout=10)
        assert revoked.status_code == 200 and revoked.text == "", revoked.text
        print("emulator: code exchange, refresh and revoke by requests; id_tokens verified by PyJWT %s" % jwt.__version__)
        return 0
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
