"""The OpenAPI document of `siwa serve`, checked by others' tools.

1. `siwa serve --print-openapi` is a valid OpenAPI 3.1 document
   (openapi-spec-validator), naming every route of the service, the OpenID
   Provider's too, with both error shapes and the security schemes.
2. A running `siwa serve` (with `[oidc]`, beside `siwa emulator`) serves the
   same document at /openapi.json and its page at /docs.
3. schemathesis generates requests for every operation from the document
   and finds no 5xx answer and no answer the document does not describe
   (status, content type, body schema). Bounded: a few examples per
   operation (SIWA_SCHEMATHESIS_EXAMPLES, 20 by default) and 5 minutes at most.

    python scripts/interop/openapi_schemathesis.py target/debug/siwa
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import requests
from openapi_spec_validator import validate

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from siwa_world import SiwaWorld  # noqa: E402

ROUTES = {
    "/", "/auth/apple/login", "/auth/apple/callback", "/auth/apple/native", "/auth/apple/nonce",
    "/auth/apple/notifications", "/session/refresh", "/session/logout", "/me",
    "/.well-known/jwks.json", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
    "/.well-known/openid-configuration", "/oauth2/authorize", "/oauth2/authorize/resume",
    "/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke", "/oauth2/logout",
    "/auth/apple/web/begin", "/auth/apple/web/complete", "/siwa.js",
}
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# The service's limits would answer most generated requests 429 (documented,
# but it tests nothing else): off for this run.
NO_RATE_LIMITS = """
rate_limit_per_ip_per_minute = 0
rate_limit_global_per_second = 0
rate_limit_refresh_per_ip_per_minute = 0
rate_limit_refresh_global_per_second = 0
"""


def main(siwa: str) -> None:
    printed = subprocess.run([siwa, "serve", "--print-openapi"], check=True,
                             capture_output=True, text=True).stdout
    document = json.loads(printed)
    validate(document)
    assert document["openapi"].startswith("3.1"), document["openapi"]
    assert set(document["paths"]) == ROUTES, set(document["paths"]) ^ ROUTES
    schemas = document["components"]["schemas"]
    assert set(schemas["Error"]["required"]) == {"error", "message"}, schemas["Error"]
    assert "request_id" in schemas["Error"]["properties"]
    assert set(schemas["OAuthError"]["required"]) == {"error", "error_description"}
    assert {"bearer", "session_cookie"} <= set(document["components"]["securitySchemes"])
    operations = sum(1 for item in document["paths"].values() for m in item if m in ("get", "post", "delete"))
    print(f"openapi: --print-openapi is valid OpenAPI {document['openapi']}: "
          f"{len(document['paths'])} paths, {operations} operations")

    clients = [{"id": "wiki", "secret": "wiki-secret-0123456789abcdefghijklmnopqrstuvwxyz",
                "redirect_uris": ["http://127.0.0.1:9/cb"],
                "post_logout_redirect_uris": ["http://127.0.0.1:9/"]}]
    with SiwaWorld(siwa, clients, settings=NO_RATE_LIMITS) as world:
        served = requests.get(f"{world.issuer}/openapi.json", timeout=10)
        assert served.status_code == 200 and served.json() == document, "served document differs"
        page = requests.get(f"{world.issuer}/docs", timeout=10)
        assert page.status_code == 200 and "openapi.json" in page.text
        assert "http" not in page.headers["Content-Security-Policy"], "the page loads nothing from elsewhere"
        examples = os.environ.get("SIWA_SCHEMATHESIS_EXAMPLES", "20")
        report = world.dir / "schemathesis.json"
        command = [
            str(Path(sys.executable).parent / "schemathesis"), "run", f"{world.issuer}/openapi.json",
            "--url", world.issuer, "--checks", CHECKS, "--phases", "examples,coverage,fuzzing",
            "--max-examples", examples, "--seed", "17", "--workers", "2", "--request-timeout", "10",
            "--max-redirects", "0", "--suppress-health-check", "all", "--no-shrink",
            "--report", "json", "--report-json-path", str(report),
        ]
        # schemathesis keeps a cache in its working directory: the world's, not the checkout.
        run = subprocess.run(command, capture_output=True, text=True, timeout=300,
                             cwd=world.dir, env={**os.environ, "NO_COLOR": "1"})
        tail = "\n".join(run.stdout.splitlines()[-40:])
        if run.returncode != 0:
            print(run.stdout[-20000:])
            print(run.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"schemathesis found failures (exit {run.returncode})")
        print(tail)
    print("openapi_schemathesis: passed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/siwa")
