"""An independent webhook receiver: the service's account events, checked by
Python's own HMAC code against the Standard Webhooks specification.

A scripted life of a user (sign-in with the name Apple sends once, email
forwarding turned off, consent revoked, the account deleted) must reach the
receiver exactly in order, each delivery signed and fresh; the receiver is
down at first, and once it is back everything arrives, nothing twice beyond
the same webhook-id (at least once).

    python scripts/interop/webhooks_receiver.py target/debug/siwa
"""

import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from siwa_world import HiddenInputs, SiwaWorld  # noqa: E402

SECRET = "whsec_" + base64.b64encode(b"an independent receiver's key!!").decode()
TOLERANCE_SECS = 300
LIFE = ["user.created", "user.signed_in", "user.email_forwarding_changed",
        "user.consent_revoked", "user.deleted"]


class Receiver(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.down = True
        self.refused = 0
        self.deliveries = []  # (webhook-id, body) in arrival order
        self.problems = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        server: Receiver = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if server.down:
            with server.lock:
                server.refused += 1
            self.send_response(503)
            self.end_headers()
            return
        problem = verify(self.headers, body)
        with server.lock:
            if problem:
                server.problems.append(problem)
            else:
                server.deliveries.append((self.headers["webhook-id"], json.loads(body)))
        self.send_response(401 if problem else 200)
        self.end_headers()


def verify(headers, body: bytes):
    """The specification's check, written here: the signature over
    `id.timestamp.body` with the secret's base64 bytes, and a fresh timestamp."""
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not timestamp:
        return "missing webhook-id or webhook-timestamp"
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECS:
        return f"stale timestamp {timestamp}"
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in signatures.split(" ") if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, s) for s in offered):
        return f"bad signature on {msg_id}"
    if headers.get("Content-Type") != "application/json":
        return "not application/json"
    return None


def web_sign_in(world: SiwaWorld, user: str):
    browser = requests.Session()
    response = browser.get(f"{world.issuer}/auth/apple/login?return_to=/", allow_redirects=False, timeout=10)
    page = browser.get(response.headers["Location"] + f"&emulator_user={user}&emulator_consent=share", timeout=10)
    form = HiddenInputs()
    form.feed(page.text)
    response = browser.post(form.action, data=form.fields, allow_redirects=False, timeout=10)
    if response.status_code == 200 and "_siwa_repost" in response.text:
        form = HiddenInputs()
        form.feed(response.text)
        response = browser.post(urljoin(world.issuer, form.action), data=form.fields,
                                allow_redirects=False, timeout=10)
    assert response.status_code == 303, (response.status_code, response.text[:300])
    me = browser.get(f"{world.issuer}/me", timeout=10)
    assert me.status_code == 200, me.text
    return me.json()


def notify(world: SiwaWorld, kind: str):
    answer = requests.post(f"{world.apple}/emulator/notify", timeout=10,
                           json={"client_id": "com.example.web", "user": "alice", "type": kind})
    assert answer.status_code == 200 and answer.json()["status"] == 200, answer.text


def wait_for(receiver: Receiver, count: int, seconds: float = 30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with receiver.lock:
            if len({d[0] for d in receiver.deliveries}) >= count:
                return
        time.sleep(0.1)
    raise SystemExit(f"waited for {count} events; got {[b['type'] for _, b in receiver.deliveries]}"
                     f" (problems: {receiver.problems})")


def main(siwa: str) -> None:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
    settings = f'webhook_retry_secs = 1\n\n[[webhook]]\nurl = "{url}"\nsecret = "{SECRET}"\n'
    with SiwaWorld(siwa, settings=settings, notify=True) as world:
        user = web_sign_in(world, "alice")
        # The app is down: the service keeps trying.
        deadline = time.time() + 10
        while receiver.refused < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert receiver.refused >= 2, "the service did not try the receiver"
        receiver.down = False
        wait_for(receiver, 2)
        for kind in ("email-disabled", "consent-revoked", "account-delete"):
            notify(world, kind)
        wait_for(receiver, len(LIFE))
        time.sleep(1.5)  # anything sent twice would show now
    receiver.shutdown()

    assert not receiver.problems, receiver.problems
    first_seen, bodies = [], {}
    for msg_id, body in receiver.deliveries:
        if msg_id in bodies:
            assert bodies[msg_id] == body, f"{msg_id} came again with another body"
            continue
        bodies[msg_id] = body
        first_seen.append(msg_id)
    types = [bodies[i]["type"] for i in first_seen]
    assert types == LIFE, types
    assert all(bodies[i]["data"]["id"] == user["id"] for i in first_seen)
    created = bodies[first_seen[0]]["data"]["user"]
    assert (created["first_name"], created["last_name"]) == ("Alice", "Appleseed"), created
    assert bodies[first_seen[2]]["data"]["email_forwarding"] is False
    assert bodies[first_seen[3]]["data"]["source"] == "apple_notification"
    assert "user" not in bodies[first_seen[4]]["data"]
    repeats = len(receiver.deliveries) - len(first_seen)
    print(f"webhooks_receiver: passed ({len(LIFE)} events in order, signatures verified by Python's hmac; "
          f"{receiver.refused} attempts refused while down, {repeats} repeated ids)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/siwa")
