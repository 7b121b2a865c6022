"""A person signs in to a relying party through siwa's OpenID Provider, in a
real browser: headless Chromium (Selenium) opens a small relying-party site
(this script's own, a confidential client written with Authlib), clicks
"Sign in", consents on the emulator's Apple page, and lands back on the
relying party signed in, with the name shown. Screenshots go to target/browser/.

Usage: python oidc_browser.py SIWA_BINARY
Skips (exit 0) when chromium is not installed, unless CI is set.
"""
import html
import secrets
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import chromium  # noqa: E402
from siwa_world import SiwaWorld, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "browser"
CLIENT, SECRET = "rp-site", "rp-site-secret-" + "y" * 32


def relying_party(port: int, meta: dict):
    """A one-visitor relying party: / (a sign-in link), /callback (the code flow's end)."""
    callback = f"http://127.0.0.1:{port}/callback"
    pending = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def page(self, body: str, status: int = 200):
            data = f"<!DOCTYPE html><html><head><title>Wiki</title></head><body>{body}</body></html>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/":
                rp = OAuth2Session(CLIENT, SECRET, scope="openid profile email", redirect_uri=callback)
                nonce = secrets.token_urlsafe(16)
                url, state = rp.create_authorization_url(meta["authorization_endpoint"], nonce=nonce)
                pending.update(state=state, nonce=nonce)
                self.page(f'<h1>The team wiki</h1><a id="sign-in" href="{html.escape(url)}">Sign in</a>')
            elif urlparse(self.path).path == "/callback":
                rp = OAuth2Session(CLIENT, SECRET, scope="openid profile email", redirect_uri=callback,
                                   state=pending["state"])
                token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback[: -len("/callback")] + self.path)
                keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
                claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                                    claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
                                    claims_params={"nonce": pending["nonce"], "client_id": CLIENT})
                claims.validate()
                self.page(f'<h1 id="signed-in">Welcome</h1><p id="name">{html.escape(claims["name"])}</p>'
                          f'<p id="email">{html.escape(claims.get("email", ""))}</p>')
            else:
                self.page("not found", 404)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, callback


def main() -> int:
    if not chromium.available("oidc browser"):
        return 0
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    rp_port = free_port()
    clients = [{"id": CLIENT, "secret": SECRET, "redirect_uris": [f"http://127.0.0.1:{rp_port}/callback"]}]
    data = tempfile.mkdtemp(prefix="siwa-oidc-browser-")
    browser = None
    with SiwaWorld(sys.argv[1], clients) as world:
        meta = requests.get(f"{world.issuer}/.well-known/openid-configuration", timeout=10).json()
        server, _ = relying_party(rp_port, meta)
        try:
            browser = chromium.start(data)
            wait = WebDriverWait(browser, 20)
            SHOTS.mkdir(parents=True, exist_ok=True)
            browser.get(f"http://127.0.0.1:{rp_port}/")
            browser.save_screenshot(str(SHOTS / "oidc-1-relying-party.png"))
            wait.until(ec.element_to_be_clickable((By.ID, "sign-in"))).click()
            # The emulator's Apple page: pick Alice, share the email, continue.
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=user][value=alice]"))).click()
            browser.save_screenshot(str(SHOTS / "oidc-2-apple-consent.png"))
            browser.find_element(By.ID, "continue").click()
            wait.until(ec.visibility_of_element_located((By.ID, "signed-in")))
            name = browser.find_element(By.ID, "name").text
            email = browser.find_element(By.ID, "email").text
            browser.save_screenshot(str(SHOTS / "oidc-3-signed-in.png"))
            assert name == "Alice Appleseed", name
            assert email == "alice@example.com", email
            assert browser.current_url.startswith(f"http://127.0.0.1:{rp_port}/callback"), browser.current_url
        finally:
            if browser is not None:
                browser.quit()
            server.shutdown()
            shutil.rmtree(data, ignore_errors=True)
    print("OpenID Provider in headless Chromium: the relying party shows Alice Appleseed signed in; "
          "screenshots target/browser/oidc-*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
