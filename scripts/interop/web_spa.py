"""A single-page app on another origin signs in with `siwa.js` (CORS), in
headless Chromium: its page, served from a second port, loads the service's
siwa.js, clicks Apple's button, passes the emulator's popup and is signed in
with the tokens in hand. The same page served from a third port (an origin not
in allowed_web_origins) is refused, by the browser's CORS and by the service.

Usage: python web_spa.py SIWA_BINARY
Skips (exit 0) when chromium is not installed, unless CI is set.
"""
import json
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import chromium  # noqa: E402
from siwa_world import SiwaWorld, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "browser"

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Notes</title></head>
<body><h1>Notes (a single-page app)</h1>
<div id="apple" data-siwa-button data-type="sign-in"></div>
<p id="status">signed out</p>
<script src="{service}/siwa.js"></script>
<script>
document.addEventListener('siwa:signed-in', function (e) {{
  document.getElementById('status').textContent = 'signed in as ' + e.detail.user.first_name;
  window.tokens = {{ access: e.detail.access_token, refresh: e.detail.refresh_token }};
}});
document.addEventListener('siwa:error', function (e) {{
  document.getElementById('status').textContent = 'error: ' + (e.detail && e.detail.error);
}});
</script></body></html>"""


def serve_page(port: int, service: str):
    html = PAGE.format(service=service).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cross-Origin-Opener-Policy", "same-origin-allow-popups")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    if not chromium.available("web spa"):
        return 0
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    spa_port, stranger_port = free_port(), free_port()
    spa, stranger = f"http://127.0.0.1:{spa_port}", f"http://127.0.0.1:{stranger_port}"
    settings = (f'popup_redirect_uris = ["{spa}/", "{stranger}/"]\n'
                f'allowed_web_origins = ["{spa}"]\n')
    data = tempfile.mkdtemp(prefix="siwa-web-spa-")
    browser = None
    SHOTS.mkdir(parents=True, exist_ok=True)
    with SiwaWorld(sys.argv[1], settings=settings, apple_redirects=[f"{spa}/", f"{stranger}/"]) as world:
        servers = [serve_page(spa_port, world.issuer), serve_page(stranger_port, world.issuer)]
        try:
            browser = chromium.start(data)
            wait = WebDriverWait(browser, 20)
            # The listed origin signs in through the popup.
            browser.get(f"{spa}/")
            main_window = browser.current_window_handle
            wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#apple button"))).click()
            wait.until(lambda b: len(b.window_handles) == 2)
            browser.switch_to.window([h for h in browser.window_handles if h != main_window][0])
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=user][value=bob]"))).click()
            browser.find_element(By.ID, "continue").click()
            browser.switch_to.window(main_window)
            wait.until(lambda b: b.find_element(By.ID, "status").text.startswith("signed in"))
            browser.save_screenshot(str(SHOTS / "spa-1-signed-in.png"))
            assert browser.find_element(By.ID, "status").text == "signed in as Bob"
            tokens = browser.execute_script("return window.tokens")
            me = requests.get(f"{world.issuer}/me", timeout=10,
                              headers={"Authorization": f"Bearer {tokens['access']}"})
            assert me.status_code == 200 and me.json()["first_name"] == "Bob", me.text

            # The unlisted origin: the browser gets no CORS answer, the page an error.
            browser.get(f"{stranger}/")
            wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#apple button"))).click()
            wait.until(lambda b: b.find_element(By.ID, "status").text.startswith("error"))
            browser.save_screenshot(str(SHOTS / "spa-2-refused.png"))
            assert len(browser.window_handles) == 1, "no popup for a refused origin"
            # … and the service itself refuses it.
            refused = requests.post(f"{world.issuer}/auth/apple/web/begin", json={}, timeout=10,
                                    headers={"Origin": stranger})
            assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers, \
                (refused.status_code, dict(refused.headers))
            assert json.loads(refused.text)["error"] == "origin_not_allowed"
        finally:
            if browser is not None:
                browser.quit()
            for server in servers:
                server.shutdown()
            shutil.rmtree(data, ignore_errors=True)
    print("web spa in headless Chromium: a listed origin signs in with siwa.js over CORS (tokens work); "
          "an unlisted one is refused by CORS and by the service")
    return 0


if __name__ == "__main__":
    sys.exit(main())
