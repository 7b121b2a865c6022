"""The OpenID Provider driven by Node's openid-client (not ours) as a public
client: PKCE, no secret, a loopback redirect on a port of its choosing
(RFC 8252 §7.3). This script is the browser (it signs the user in through
the emulator) and checks what openid-client reports: the ID token it
validated, userinfo, a rotated refresh, revocation, and the logout URL.

Usage: python oidc_openid_client.py SIWA_BINARY
Skips (exit 0) without node, unless CI is set.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from siwa_world import SiwaWorld  # noqa: E402

NODE_DIR = Path(__file__).resolve().parent / "node"
CLIENT = "mobile"
REDIRECT = "http://127.0.0.1:53682/oauth2/callback"


def main() -> int:
    if not shutil.which("node") or not shutil.which("npm"):
        if os.environ.get("CI"):
            print("openid-client: node and npm are required in CI", file=sys.stderr)
            return 1
        print("openid-client: skipping (install node and npm to run it)")
        return 0
    if not (NODE_DIR / "node_modules" / "openid-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True)
    clients = [{"id": CLIENT, "redirect_uris": ["http://127.0.0.1/oauth2/callback"]}]
    with SiwaWorld(sys.argv[1], clients) as world:
        node = subprocess.Popen(
            ["node", str(NODE_DIR / "oidc_public_client.mjs"), world.issuer, CLIENT, REDIRECT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            authorize = node.stdout.readline().strip()
            assert authorize.startswith(world.issuer + "/oauth2/authorize?"), authorize
            back = world.browser_sign_in(authorize, "bob")
            assert back.startswith(REDIRECT + "?"), back
            out, _ = node.communicate(back + "\n", timeout=60)
        finally:
            if node.poll() is None:
                node.kill()
        assert node.returncode == 0, f"openid-client failed (exit {node.returncode}): {out}"
        seen = json.loads(out.strip().splitlines()[-1])
        claims = seen["claims"]
        assert claims["iss"] == world.issuer and claims["aud"] == CLIENT, claims
        assert claims["given_name"] == "Bob" and claims["email"] == "bob@example.com", claims
        assert seen["userinfo"]["sub"] == claims["sub"] and seen["userinfo"]["name"] == "Bob Builder", seen
        assert seen["refreshed_sub"] == claims["sub"] and seen["rotated"], seen
        assert seen["after_revoke"] == 401, seen
        assert seen["logout"].startswith(world.issuer + "/oauth2/logout?"), seen
        # The logout URL openid-client built works: the provider redirects or signs out.
        done = requests.get(seen["logout"], allow_redirects=False, timeout=10)
        assert done.status_code == 200 and "signed out" in done.text, (done.status_code, done.text[:300])
    print("OpenID Provider with openid-client (public, PKCE, loopback port): sign-in, ID token, "
          "userinfo, refresh, revoke, logout: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
