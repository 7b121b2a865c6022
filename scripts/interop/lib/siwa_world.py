"""A `siwa emulator` and a `siwa serve` wired to each other on free loopback
ports, for the interop checks: the OpenID Provider's (with `[oidc]` clients;
the relying parties are the checks' own) and the web front end's (more
settings, and more return URLs registered at the emulator).

    with SiwaWorld(siwa, oidc_clients, settings='popup_redirect_uris = [...]',
                   apple_redirects=[...]) as world:
        world.issuer   # http://127.0.0.1:PORT (the service; the provider's issuer)
        world.apple    # the emulator
        world.browser_sign_in(authorize_url, "alice")  # -> where the provider sends the browser
"""
import re
import shutil
import socket
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import requests

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HiddenInputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}
        self.action = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action")
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SiwaWorld:
    """`clients`: the `[oidc]` clients (dicts with id, secret (optional),
    redirect_uris, post_logout_redirect_uris (optional)); none: no `[oidc]`.
    `settings`: more top-level TOML of the service; `apple_redirects`: more
    return URLs registered for its Services ID at the emulator."""

    def __init__(self, siwa: str, clients: list = (), settings: str = "", apple_redirects: list = (),
                 notify: bool = False):
        self.siwa = siwa
        self.notify = notify
        self.clients = list(clients)
        self.settings = settings
        self.apple_redirects = list(apple_redirects)
        self.dir = Path(tempfile.mkdtemp(prefix="siwa-oidc-"))
        self.procs = []
        self.port = free_port()
        self.apple_port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.apple = f"http://127.0.0.1:{self.apple_port}"

    def __enter__(self):
        callback = f"{self.issuer}/auth/apple/callback"
        notification_url = f"notification_url = {toml_string(self.issuer + '/auth/apple/notifications')}"
        (self.dir / "emulator.toml").write_text(f"""
{notification_url if self.notify else ""}
[[team]]
id = "DEMOTEAM01"
  [[team.key]]
  id = "DEMOKEY001"
  public_key = {toml_string(str(EXAMPLES / "AuthKey_DEMOKEY001.pub.pem"))}
  [[team.client]]
  id = "com.example.web"
  redirect_uris = [{", ".join(map(toml_string, [callback] + self.apple_redirects))}]
[[user]]
id = "alice"
email = "alice@example.com"
first_name = "Alice"
last_name = "Appleseed"
real_user_status = 2
[[user]]
id = "bob"
email = "bob@example.com"
first_name = "Bob"
last_name = "Builder"
""")
        clients = ""
        for c in self.clients:
            clients += "[[oidc.client]]\n"
            clients += f"id = {toml_string(c['id'])}\n"
            if c.get("secret"):
                clients += f"secret = {toml_string(c['secret'])}\n"
            clients += "redirect_uris = [" + ", ".join(map(toml_string, c["redirect_uris"])) + "]\n"
            if c.get("post_logout_redirect_uris"):
                clients += "post_logout_redirect_uris = [" + ", ".join(
                    map(toml_string, c["post_logout_redirect_uris"])) + "]\n"
            if c.get("id_token_signed_response_alg"):
                clients += f"id_token_signed_response_alg = {toml_string(c['id_token_signed_response_alg'])}\n"
        (self.dir / "siwa.toml").write_text(f"""
team_id = "DEMOTEAM01"
key_id = "DEMOKEY001"
private_key = {toml_string(str(EXAMPLES / "AuthKey_DEMOKEY001.p8"))}
client_id = "com.example.web"
redirect_uri = {toml_string(callback)}
listen = "127.0.0.1:{self.port}"
public_url = {toml_string(self.issuer)}
database_url = {toml_string("sqlite://" + str(self.dir / "siwa.db"))}
apple_base_url = {toml_string(self.apple)}
{self.settings}
{"[oidc]" if self.clients else ""}
{clients}""")
        self.procs.append(subprocess.Popen(
            [self.siwa, "emulator", "--config", str(self.dir / "emulator.toml"), "--port", str(self.apple_port)],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "emulator.log", "w")))
        self.procs.append(subprocess.Popen(
            [self.siwa, "serve", "--config", str(self.dir / "siwa.toml")],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "serve.log", "w")))
        for url in (f"{self.apple}/auth/keys", f"{self.issuer}/healthz"):
            self._wait(url)
        return self

    def _wait(self, url: str):
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{url} did not come up; logs in {self.dir}:\n"
                           + (self.dir / "serve.log").read_text()[-2000:])

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"(logs kept in {self.dir})")

    def browser_sign_in(self, authorize_url: str, user: str, session: requests.Session = None) -> str:
        """A browser's way through: the provider, Apple's consent (the
        emulator's, scripted), Apple's form_post to the service, back to the
        provider; the URL the provider finally sends the browser to."""
        browser = session or requests.Session()
        response = browser.get(authorize_url, allow_redirects=False, timeout=10)
        location = response.headers.get("Location", "")
        if location.startswith(self.apple):
            page = browser.get(location + f"&emulator_user={user}&emulator_consent=share", timeout=10)
            form = HiddenInputs()
            form.feed(page.text)
            response = browser.post(form.action, data=form.fields, allow_redirects=False, timeout=10)
            if response.status_code == 200 and "_siwa_repost" in response.text:
                form = HiddenInputs()
                form.feed(response.text)
                response = browser.post(urljoin(self.issuer, form.action), data=form.fields,
                                        allow_redirects=False, timeout=10)
            assert response.status_code == 303, (response.status_code, response.text[:500])
            response = browser.get(response.headers["Location"], allow_redirects=False, timeout=10)
            location = response.headers.get("Location", "")
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])
        return location

    def user_id_pattern(self):
        return re.compile(r"^[0-9a-f]{32}$")
