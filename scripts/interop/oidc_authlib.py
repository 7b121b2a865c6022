"""The OpenID Provider driven by Authlib, a widely used OpenID Connect client
(not ours): a confidential client with client_secret_basic finds the
endpoints by discovery, signs a user in through Sign in with Apple (the
emulator), validates the ID token itself (signature from the JWKS, iss, aud,
exp, nonce, at_hash), reads userinfo, refreshes, revokes and logs out.

Usage: python oidc_authlib.py SIWA_BINARY
"""
import secrets
import sys
from pathlib import Path

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from siwa_world import SiwaWorld  # noqa: E402

CLIENT, SECRET = "wiki", "wiki-secret-" + "x" * 32
CALLBACK = "https://wiki.example.test/oauth/callback"
AFTER_LOGOUT = "https://wiki.example.test/"


def main() -> int:
    clients = [{"id": CLIENT, "secret": SECRET, "redirect_uris": [CALLBACK],
                "post_logout_redirect_uris": [AFTER_LOGOUT]}]
    with SiwaWorld(sys.argv[1], clients) as world:
        meta = requests.get(f"{world.issuer}/.well-known/openid-configuration", timeout=10).json()
        assert meta["issuer"] == world.issuer, meta
        rp = OAuth2Session(CLIENT, SECRET, scope="openid profile email", redirect_uri=CALLBACK,
                           token_endpoint_auth_method="client_secret_basic")
        nonce = secrets.token_urlsafe(16)
        url, state = rp.create_authorization_url(meta["authorization_endpoint"], nonce=nonce)
        back = world.browser_sign_in(url, "alice")
        assert back.startswith(CALLBACK), back

        # Authlib checks the state and exchanges the code (HTTP Basic).
        token = rp.fetch_token(meta["token_endpoint"], authorization_response=back, state=state)
        keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
        claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                            claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
                            claims_params={"nonce": nonce, "client_id": CLIENT,
                                           "access_token": token["access_token"]})
        claims.validate()
        assert claims["given_name"] == "Alice" and claims["name"] == "Alice Appleseed", claims
        assert claims["email"] == "alice@example.com" and claims["email_verified"] is True, claims
        assert world.user_id_pattern().match(claims["sub"]), claims["sub"]

        info = rp.get(meta["userinfo_endpoint"], timeout=10)
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == claims["sub"] and info.json()["family_name"] == "Appleseed", info.json()

        refreshed = rp.refresh_token(meta["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"], "rotated"
        again = jwt.decode(refreshed["id_token"], keys, claims_cls=CodeIDToken,
                           claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
                           claims_params={"client_id": CLIENT, "access_token": refreshed["access_token"]})
        again.validate()
        assert again["sub"] == claims["sub"]

        revoked = rp.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"],
                                  token_type_hint="refresh_token")
        assert revoked.status_code == 200, revoked.text
        after = requests.get(meta["userinfo_endpoint"], timeout=10,
                             headers={"Authorization": f"Bearer {refreshed['access_token']}"})
        assert after.status_code == 401, "the grant is revoked"

        logout = requests.get(meta["end_session_endpoint"], allow_redirects=False, timeout=10, params={
            "id_token_hint": token["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "bye"})
        assert logout.status_code == 303 and logout.headers["Location"] == AFTER_LOGOUT + "?state=bye", \
            (logout.status_code, logout.headers)
    print("OpenID Provider with Authlib (confidential, client_secret_basic): sign-in, "
          "ID token, userinfo, refresh, revoke, logout: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
