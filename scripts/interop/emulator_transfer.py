"""Team transfer against `siwa emulator`, driven by an independent client:
Python `requests` calls the client-credentials grant and
`/auth/usermigrationinfo` in both directions with client secrets PyJWT signs
for each team, and PyJWT verifies the identity tokens against /auth/keys. It
proves the emulator's transfer speaks Apple's shapes, not only siwa-kit's.

Usage: python emulator_transfer.py SIWA_BINARY
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt  # PyJWT
import requests

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates" / "siwa-kit" / "tests" / "fixtures"
TEAMS = {
    "DEF123GHIJ": ("ABC123DEFG", FIXTURES / "AuthKey_ABC123DEFG.p8"),
    "OTHER12345": ("ZZZ999YYYX", FIXTURES / "AuthKey_ZZZ999YYYX.p8"),
}
SENDER, RECEIVER = "DEF123GHIJ", "OTHER12345"
APP = "com.example.ios"


def config() -> str:
    teams = ""
    for team, (kid, key) in TEAMS.items():
        teams += f'[[team]]\nid = "{team}"\n  [[team.key]]\n  id = "{kid}"\n  public_key = "{key}"\n'
        if team == SENDER:
            teams += f'  [[team.client]]\n  id = "{APP}"\n'
    users = ""
    for user in ("alice", "bob"):
        users += f'[[user]]\nid = "{user}"\nemail = "{user}@example.com"\nfirst_name = "{user.title()}"\n'
    return teams + users


def client_secret(team: str) -> str:
    kid, key = TEAMS[team]
    now = int(time.time())
    return jwt.encode(
        {"iss": team, "iat": now - 30, "exp": now + 600, "aud": "https://appleid.apple.com", "sub": APP},
        key.read_text(), algorithm="ES256", headers={"kid": kid},
    )


def main() -> int:
    siwa = sys.argv[1]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "emulator.toml"
        path.write_text(config())
        emulator = subprocess.Popen(
            [siwa, "emulator", "--config", str(path), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            return rehearse(emulator.stdout.readline().strip().rsplit(" ", 1)[-1])
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)


def rehearse(base: str) -> int:
    assert base.startswith("http://127.0.0.1:"), base
    keys = jwt.PyJWKClient(f"{base}/auth/keys")

    def identity(user: str, consent: str) -> dict:
        credential = requests.post(f"{base}/emulator/native", json={
            "client_id": APP, "user": user, "consent": consent}, timeout=10).json()
        token = credential["identity_token"]
        return jwt.decode(token, keys.get_signing_key_from_jwt(token).key, algorithms=["RS256"],
                          audience=APP, issuer="https://appleid.apple.com")

    def token(team: str) -> requests.Response:
        return requests.post(f"{base}/auth/token", data={
            "grant_type": "client_credentials", "scope": "user.migration",
            "client_id": APP, "client_secret": client_secret(team)}, timeout=10)

    def info(team: str, access: str, **fields) -> requests.Response:
        return requests.post(f"{base}/auth/usermigrationinfo",
                             headers={"Authorization": f"Bearer {access}"},
                             data={"client_id": APP, "client_secret": client_secret(team), **fields}, timeout=10)

    alice, bob = identity("alice", "share"), identity("bob", "hide")

    # The sending team, before the transfer.
    answer = token(SENDER)
    assert answer.status_code == 200, (answer.status_code, answer.text)
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600, body
    access = body["access_token"]
    transfer_subs = {}
    for name, claims in (("alice", alice), ("bob", bob)):
        answer = info(SENDER, access, sub=claims["sub"], target=RECEIVER)
        assert answer.status_code == 200, (answer.status_code, answer.headers.get("X-Emulator-Reason"))
        transfer_subs[name] = answer.json()["transfer_sub"]
    refused = info(SENDER, access, sub=alice["sub"], target=SENDER)
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_request"}, refused.text

    # The app moves.
    moved = requests.post(f"{base}/emulator/transfer", json={"client_id": APP, "to_team": RECEIVER}, timeout=10)
    assert moved.status_code == 200, moved.text
    assert token(SENDER).json() == {"error": "invalid_client"}, "the sending team's secret is refused now"

    # The receiving team, after it.
    access = token(RECEIVER).json()["access_token"]
    answer = info(RECEIVER, access, transfer_sub=transfer_subs["alice"])
    assert answer.status_code == 200, (answer.status_code, answer.headers.get("X-Emulator-Reason"))
    new_alice = answer.json()
    assert "email" not in new_alice, new_alice
    after = identity("alice", "share")
    assert after["sub"] == new_alice["sub"] != alice["sub"], (after, new_alice, alice)
    assert after["transfer_sub"] == transfer_subs["alice"], after
    new_bob = info(RECEIVER, access, transfer_sub=transfer_subs["bob"]).json()
    assert new_bob["is_private_email"] is True and new_bob["email"].endswith("@privaterelay.appleid.com"), new_bob
    foreign = info(RECEIVER, access, transfer_sub=alice["sub"])
    assert foreign.status_code == 400 and foreign.json() == {"error": "invalid_grant"}, foreign.text
    print("emulator team transfer (PyJWT + requests): usermigrationinfo both ways, refusals as Apple's: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
