"""The emulator's appleid.auth.js against Apple's documented API surface of
Sign in with Apple JS, in headless Chromium: `AppleID.auth.init` (and the
meta-tag configuration), `AppleID.auth.signIn` returning a promise, its
popup answer `{authorization: {code, id_token, state}, user?: {email,
name: {firstName, lastName}}}`, its refusals `{error}` (user_cancelled_authorize,
popup_closed_by_user), the `AppleIDSignInOnSuccess` / `AppleIDSignInOnFailure`
events on document with `event.detail`, the redirect mode, and the
`#appleid-signin` button from its data-* attributes. An unregistered
redirectURI gets nothing posted back.

Usage: python emulator_js.py SIWA_BINARY
Skips (exit 0) when chromium is not installed, unless CI is set.
"""
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import chromium  # noqa: E402
from siwa_world import SiwaWorld, free_port  # noqa: E402

SCRIPT = "/appleauth/static/jsapi/appleid/1/en_US/appleid.auth.js"


def serve(port: int, apple: str):
    pages = {
        "/": f"""<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<div id="appleid-signin" data-color="white" data-border="true" data-type="continue"></div>
<script src="{apple}{SCRIPT}"></script></body></html>""",
        "/meta": f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="appleid-signin-client-id" content="com.example.web">
<meta name="appleid-signin-scope" content="name email">
<meta name="appleid-signin-redirect-uri" content="http://127.0.0.1:{port}/">
<meta name="appleid-signin-state" content="meta-state">
<meta name="appleid-signin-use-popup" content="true">
</head><body><div id="appleid-signin" data-mode="logo-only"></div>
<script src="{apple}{SCRIPT}"></script></body></html>""",
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = pages.get(self.path.split("?")[0], "ok").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# Starts a popup sign-in; its outcome and the events land in window.outcome.
START = """
window.outcome = {events: []};
if (!window.listening) {
  window.listening = true;
  ['AppleIDSignInOnSuccess', 'AppleIDSignInOnFailure'].forEach(function (name) {
    document.addEventListener(name, function (e) { window.outcome.events.push({name: name, detail: e.detail}); });
  });
}
var config = arguments[0];
if (config) { AppleID.auth.init(config); }
var promise = AppleID.auth.signIn();
window.outcome.isPromise = promise instanceof Promise;
promise.then(function (r) { window.outcome.resolved = r; }, function (e) { window.outcome.rejected = e; });
"""


def main() -> int:
    if not chromium.available("emulator js"):
        return 0
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    page = f"http://127.0.0.1:{port}/"
    data = tempfile.mkdtemp(prefix="siwa-emulator-js-")
    browser = None
    with SiwaWorld(sys.argv[1], apple_redirects=[page]) as world:
        server = serve(port, world.apple)
        try:
            browser = chromium.start(data)
            wait = WebDriverWait(browser, 20)
            browser.get(page)
            main_window = browser.current_window_handle
            api = browser.execute_script("""return {
                init: typeof AppleID.auth.init, signIn: typeof AppleID.auth.signIn,
                noClient: (function () { try { AppleID.auth.init({redirectURI: 'x'}); return 'accepted'; }
                                        catch (e) { return e.message; } })()}""")
            assert api["init"] == "function" and api["signIn"] == "function", api
            assert "clientId" in api["noClient"], api

            config = {"clientId": "com.example.web", "scope": "name email", "redirectURI": page,
                      "state": "js-state", "nonce": "js-nonce", "usePopup": True}

            def popup():
                wait.until(lambda b: len(b.window_handles) == 2)
                browser.switch_to.window([h for h in browser.window_handles if h != main_window][0])

            def outcome():
                browser.switch_to.window(main_window)
                wait.until(lambda b: b.execute_script(
                    "return window.outcome && (window.outcome.resolved || window.outcome.rejected) ? true : false"))
                return browser.execute_script("return window.outcome")

            # The button, rendered from data-* once init ran: white, outlined, "Continue with Apple".
            browser.execute_script(START, config)
            button = browser.find_element(By.CSS_SELECTOR, "#appleid-signin [role=button]")
            assert button.get_attribute("aria-label") == "Continue with Apple"
            assert "255, 255, 255" in button.value_of_css_property("background-color"), button.value_of_css_property("background-color")

            # Success: the documented answer, and the success event.
            popup()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=user][value=alice]"))).click()
            browser.find_element(By.ID, "continue").click()
            seen = outcome()
            assert seen["isPromise"] is True
            answer = seen["resolved"]
            assert sorted(answer) == ["authorization", "user"], answer
            assert sorted(answer["authorization"]) == ["code", "id_token", "state"], answer
            assert answer["authorization"]["state"] == "js-state"
            assert answer["user"]["name"] == {"firstName": "Alice", "lastName": "Appleseed"}, answer
            assert answer["user"]["email"] == "alice@example.com", answer
            assert [e["name"] for e in seen["events"]] == ["AppleIDSignInOnSuccess"], seen["events"]
            assert seen["events"][0]["detail"] == answer
            wait.until(lambda b: len(b.window_handles) == 1)

            # Cancel on Apple's page: user_cancelled_authorize, and the failure event.
            browser.execute_script(START, None)
            popup()
            wait.until(ec.element_to_be_clickable((By.ID, "cancel"))).click()
            seen = outcome()
            assert seen["rejected"] == {"error": "user_cancelled_authorize"}, seen
            assert seen["events"] == [{"name": "AppleIDSignInOnFailure", "detail": {"error": "user_cancelled_authorize"}}]

            # The popup closed by the user: popup_closed_by_user.
            browser.execute_script(START, None)
            popup()
            browser.close()
            seen = outcome()
            assert seen["rejected"] == {"error": "popup_closed_by_user"}, seen

            # An unregistered redirectURI: Apple's error page in the popup, nothing posted back.
            browser.execute_script(START, dict(config, redirectURI="https://evil.example/"))
            popup()
            assert "invalid_request" in browser.page_source, browser.page_source[:300]
            browser.close()
            seen = outcome()
            assert seen["rejected"] == {"error": "popup_closed_by_user"}, seen

            # The meta tags configure it too; logo-only renders no title.
            browser.get(page + "meta")
            button = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#appleid-signin [role=button]")))
            assert button.text == "", button.text
            browser.execute_script(START, None)
            popup()
            assert "state=meta-state" in browser.current_url and "response_mode=web_message" in browser.current_url
            browser.close()
            outcome()

            # Redirect mode: the page itself goes to Apple, form_post when a scope is asked.
            browser.get(page)
            browser.execute_script("AppleID.auth.init(arguments[0]); AppleID.auth.signIn();",
                                   dict(config, usePopup=False))
            wait.until(lambda b: b.current_url.startswith(world.apple + "/auth/authorize?"))
            assert "response_mode=form_post" in browser.current_url, browser.current_url
        finally:
            if browser is not None:
                browser.quit()
            server.shutdown()
            shutil.rmtree(data, ignore_errors=True)
    print("emulator appleid.auth.js in headless Chromium: init, signIn (a promise), the answer and "
          "refusal shapes, both events, meta tags, redirect mode and the button match Apple's API")
    return 0


if __name__ == "__main__":
    sys.exit(main())
