"""`/metrics` read by the Prometheus project's own Python client: a web
sign-in through `siwa serve` and the emulator, then the exposition parsed
with `prometheus_client.parser` (Prometheus text 0.0.4, what a plain scrape
gets) and with its strict OpenMetrics parser (what Prometheus asks for with
`Accept`). Every metric of the README's table must be there with the type the
README gives, and the values must say what happened: one web sign-in, the
callback route timed, the code exchanged with Apple, Apple's key set fetched,
a live client secret.

Usage: python metrics_prometheus.py SIWA_BINARY
"""
import math
import re
import sys
from pathlib import Path
from urllib.parse import urljoin

import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as text_families

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from siwa_world import HiddenInputs, SiwaWorld  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(siwa_[a-z_]+)` \| (counter|gauge|histogram) \|")
PROBE = "/wp-admin/probe-5e1d0b"
OPENMETRICS = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"


def documented() -> dict:
    """Family name (as the parsers name it: a counter without `_total`) -> type."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = ROW.match(line)
        # The world runs on a SQLite file: rows marked "PostgreSQL only" are
        # checked by the Rust metrics test on PostgreSQL.
        if match and "PostgreSQL only" not in line:
            name, kind = match.groups()
            if kind == "counter":
                assert name.endswith("_total"), f"a counter's documented name ends with _total: {name}"
                name = name[: -len("_total")]
            rows[name] = kind
    assert len(rows) >= 20, rows
    return rows


def web_sign_in(world: SiwaWorld, user: str):
    browser = requests.Session()
    start = browser.get(f"{world.issuer}/auth/apple/login?return_to=/", allow_redirects=False, timeout=10)
    location = start.headers.get("Location", "")
    assert location.startswith(world.apple), (start.status_code, location)
    page = browser.get(location + f"&emulator_user={user}&emulator_consent=share", timeout=10)
    form = HiddenInputs()
    form.feed(page.text)
    landing = browser.post(form.action, data=form.fields, allow_redirects=False, timeout=10)
    if landing.status_code == 200 and "_siwa_repost" in landing.text:
        form = HiddenInputs()
        form.feed(landing.text)
        landing = browser.post(urljoin(world.issuer, form.action), data=form.fields,
                               allow_redirects=False, timeout=10)
    assert landing.status_code == 303, (landing.status_code, landing.text[:500])
    me = browser.get(f"{world.issuer}/me", timeout=10)
    assert me.status_code == 200 and me.json()["first_name"] == "Alice", me.text


def scrape(world: SiwaWorld, accept: str = None):
    headers = {"Accept": accept} if accept else {}
    response = requests.get(f"{world.issuer}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.status_code
    return response.headers["Content-Type"], response.text


def sample(families: dict, name: str, **labels) -> float:
    """The value of the one sample `name` whose labels include `labels`."""
    for family in families.values():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError(f"no sample {name}{labels}")


def check(families: dict, expected: dict, fmt: str):
    for name, kind in expected.items():
        assert name in families, f"{fmt}: {name} is documented but not served; served: {sorted(families)}"
        assert families[name].type == kind, f"{fmt}: {name} is a {families[name].type}, documented as {kind}"
    for family in families.values():
        for s in family.samples:
            assert not math.isnan(s.value), f"{fmt}: {s}"
            assert all(PROBE not in v for v in s.labels.values()), f"{fmt}: a raw path as a label: {s}"

    assert sample(families, "siwa_sign_ins_total", flow="web") >= 1
    assert sample(families, "siwa_sign_ins_total", flow="native") == 0
    callback = dict(route="/auth/apple/callback", method="POST", status="303")
    count = sample(families, "siwa_http_request_duration_seconds_count", **callback)
    assert count >= 1, count
    assert sample(families, "siwa_http_request_duration_seconds_bucket", le="+Inf", **callback) == count
    buckets = [s for s in families["siwa_http_request_duration_seconds"].samples
               if s.name.endswith("_bucket") and all(s.labels.get(k) == v for k, v in callback.items())]
    values = [s.value for s in sorted(buckets, key=lambda s: float(s.labels["le"]))]
    assert values == sorted(values) and len(values) > 5, values
    assert sample(families, "siwa_http_request_duration_seconds_count",
                  route="unmatched", method="GET", status="404") == 1
    assert sample(families, "siwa_apple_requests_total", endpoint="token", outcome="ok") == 1
    assert sample(families, "siwa_apple_requests_total", endpoint="keys", outcome="ok") >= 1
    assert sample(families, "siwa_apple_request_duration_seconds_count", endpoint="token") == 1
    assert sample(families, "siwa_apple_jwks_fetches_total", outcome="ok") >= 1
    assert 0 <= sample(families, "siwa_apple_jwks_age_seconds") < 600
    left = sample(families, "siwa_client_secret_expiry_seconds", client_id="com.example.web")
    assert 0 < left <= 3600, left
    assert sample(families, "siwa_store_up") == 1
    assert sample(families, "siwa_store_unavailable_total", cause="disk_full") == 0
    assert sample(families, "siwa_deletions_pending") == 0
    assert sample(families, "siwa_webhook_deliveries_total", outcome="delivered") == 0
    assert sample(families, "siwa_reconcile_checks_total", outcome="revoked") == 0


def main() -> int:
    expected = documented()
    with SiwaWorld(sys.argv[1]) as world:
        web_sign_in(world, "alice")
        assert requests.get(world.issuer + PROBE, timeout=10).status_code == 404

        content_type, text = scrape(world)
        assert content_type.startswith("text/plain; version=0.0.4"), content_type
        families = {f.name: f for f in text_families(text)}
        check(families, expected, "Prometheus text")

        content_type, text = scrape(world, OPENMETRICS)
        assert content_type.startswith("application/openmetrics-text; version=1.0.0"), content_type
        families = {f.name: f for f in openmetrics_families(text)}
        check(families, expected, "OpenMetrics")
    print(f"metrics with prometheus_client: {len(expected)} documented families parsed as Prometheus text "
          "and as OpenMetrics after a web sign-in (callback timed, token call ok, key set fetched, live secret)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
