"""The service's authorisation matrix, attacked: every route x every kind of caller.

Callers: nobody, a wrong bearer token, the operator, the signup signer (``X-Signature``) and Stripe
(``Stripe-Signature``), plus a signer or Stripe signature made with a wrong secret. Each route names who may
call it; everyone else must be turned away (401, or 400 for Stripe's webhook as Stripe expects; 303 to the
sign-in page for the operator's pages). The matrix must name every route the app serves and every path its
OpenAPI document lists, so a new route cannot ship unclassified.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from pydantic import SecretStr
from starlette.routing import Route
from starlette.testclient import TestClient

from billing.adapter.runtime import billing_runtime
from components.environment import load_environment
from provisioning.toolchain import PROJECT_DIR
from service.api.app import ROUTES, create_app
from service.api.context import ServiceContext
from service.metrics import Metrics
from service.queue import open_queue
from service.settings import load_settings
from service.signing import HEADER
from service.signing import sign as sign_signup
from tests.billing.conftest import WEBHOOK_SECRET, FakeStripe
from tests.billing.conftest import sign as sign_stripe
from tests.service.conftest import HMAC_SECRET, OPERATOR_TOKEN, service_env
from tests.service_billing.conftest import PRICES

CALLERS = ("nobody", "wrong-bearer", "operator", "break-glass", "signer", "wrong-signer", "stripe", "wrong-stripe")
BREAKGLASS_TOKEN = "test-break-glass-token-9876543210"
OPERATOR_ONLY = frozenset({"operator"})
PUBLIC = frozenset(CALLERS)
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/v1/signups"): frozenset({"signer"}),
    ("POST", "/v1/stripe/webhook"): frozenset({"stripe"}),
    ("POST", "/v1/tenants/{slug}/checkout-session"): frozenset({"operator", "signer"}),
    ("GET", "/v1/tenants"): OPERATOR_ONLY,
    ("GET", "/v1/tenants/{slug}"): OPERATOR_ONLY,
    ("POST", "/v1/tenants/{slug}/decommission"): OPERATOR_ONLY,
    ("POST", "/v1/tenants/{slug}/reapply"): OPERATOR_ONLY,
    ("POST", "/v1/tenants/{slug}/rotate-keys"): OPERATOR_ONLY,
    ("GET", "/v1/tenants/{slug}/ssh-key"): frozenset({"break-glass"}),
    ("GET", "/v1/tenants/{slug}/backups"): OPERATOR_ONLY,
    ("POST", "/v1/tenants/{slug}/backups"): OPERATOR_ONLY,
    ("POST", "/v1/tenants/{slug}/backups/protect"): OPERATOR_ONLY,
    ("POST", "/v1/tenants/{slug}/restore"): OPERATOR_ONLY,
    ("POST", "/v1/tenants/{slug}/undelete"): OPERATOR_ONLY,
    ("GET", "/v1/archives"): OPERATOR_ONLY,
    ("GET", "/v1/reconcile"): OPERATOR_ONLY,
    ("GET", "/v1/audit"): OPERATOR_ONLY,
    ("GET", "/v1/audit/export"): OPERATOR_ONLY,
    ("GET", "/v1/audit/verify"): OPERATOR_ONLY,
    ("GET", "/v1/jobs"): OPERATOR_ONLY,
    ("GET", "/v1/jobs/{job_id}"): OPERATOR_ONLY,
    ("POST", "/v1/jobs/{job_id}/cancel"): OPERATOR_ONLY,
    ("GET", "/ui"): OPERATOR_ONLY,
    ("GET", "/ui/reconcile"): OPERATOR_ONLY,
    ("GET", "/ui/tenants/{slug}"): OPERATOR_ONLY,
    ("GET", "/ui/login"): PUBLIC,
    ("POST", "/ui/login"): PUBLIC,
    ("GET", "/ui/logout"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
}
"""Who may call each route. The operator's pages take the bearer token or the sign-in cookie."""


def _not_ours(*_args: object) -> None:
    raise RuntimeError("not one of the tenant's backups")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    tmp_path = tmp_path_factory.mktemp("matrix")
    (tmp_path / "billing.yaml").write_text(yaml.safe_dump({"prices": PRICES, "grace_seconds": 60}))
    env = {
        **service_env(tmp_path, f"sqlite://{tmp_path / 'queue.sqlite'}"),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SERVICE_BILLING_CONFIG": str(tmp_path / "billing.yaml"),
        "SERVICE_BILLING_DB": str(tmp_path / "billing.sqlite"),
        "SERVICE_SIGNUP_RATE": "1000/minute",
        "SERVICE_BREAKGLASS_TOKEN": BREAKGLASS_TOKEN,
    }
    settings = load_settings(env)
    queue = open_queue(settings.database_url)
    environment = load_environment(PROJECT_DIR, settings.env_name)
    billing = billing_runtime(settings, queue, environment, FakeStripe())
    allocations = str(tmp_path / "allocations.sqlite")
    stacks = SimpleNamespace(allocations_location=lambda: allocations, env_name="local")
    backups = SimpleNamespace(stacks=stacks, backups=lambda _t: [], archives=lambda _s: [], protect=_not_ours)
    ctx = ServiceContext(settings, queue, environment, Metrics(queue), billing=billing, backups=backups)  # type: ignore[arg-type]
    return TestClient(create_app(ctx), follow_redirects=False)


def served_routes() -> set[tuple[str, str]]:
    found = set()
    for route in ROUTES:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_the_matrix_names_every_route_served_and_every_path_in_the_openapi_document(client: TestClient) -> None:
    assert set(MATRIX) == served_routes()
    document = client.get("/openapi.json").json()
    listed = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert listed and listed <= set(MATRIX), sorted(listed - set(MATRIX))


def _request(caller: str, method: str, path: str) -> dict[str, object]:
    body = json.dumps({"event_id": "evt-matrix", "volid": "local:backup/x", "server": 0}).encode()
    headers = {"Content-Type": "application/json"}
    if caller == "wrong-bearer":
        headers["Authorization"] = "Bearer not-the-operator-token-at-all"
    elif caller == "operator":
        headers["Authorization"] = f"Bearer {OPERATOR_TOKEN}"
    elif caller == "break-glass":
        headers["Authorization"] = f"Bearer {BREAKGLASS_TOKEN}"
    elif caller in ("signer", "wrong-signer"):
        secret = HMAC_SECRET if caller == "signer" else "a-guessed-hmac-secret-0123456789"
        headers[HEADER] = sign_signup(SecretStr(secret), body)
    elif caller in ("stripe", "wrong-stripe"):
        event = {"id": "evt_matrix", "object": "event", "type": "customer.created", "created": int(time.time())}
        event["data"] = {"object": {"id": "cus_x", "object": "customer"}}
        body, header = sign_stripe(event, WEBHOOK_SECRET if caller == "stripe" else "whsec_guessed")
        headers["Stripe-Signature"] = header
    url = re.sub(r"\{slug\}", "acme", re.sub(r"\{job_id\}", "job-matrix", path))
    return {"method": method, "url": url, "content": body if method == "POST" else None, "headers": headers}


def _turned_away(status: int, method: str, path: str) -> bool:
    if path == "/v1/stripe/webhook":
        return status == 400
    if path.startswith("/ui"):
        return status in (303, 401)
    return status in (401, 403)


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_turns_away_every_caller_it_does_not_name(client: TestClient, caller: str) -> None:
    wrong: list[str] = []
    for (method, path), allowed in sorted(MATRIX.items()):
        if allowed == PUBLIC:
            continue
        response = client.request(**_request(caller, method, path))  # type: ignore[arg-type]
        refused = _turned_away(response.status_code, method, path)
        if caller in allowed and refused:
            wrong.append(f"{method} {path}: {caller} was refused ({response.status_code})")
        if caller not in allowed and not refused:
            wrong.append(f"{method} {path}: {caller} got through ({response.status_code} {response.text[:80]})")
        assert OPERATOR_TOKEN not in response.text and HMAC_SECRET not in response.text
        assert BREAKGLASS_TOKEN not in response.text
    assert not wrong, "\n".join(wrong)


def test_the_operator_pages_open_with_the_sign_in_cookie_only_after_a_good_token(client: TestClient) -> None:
    pages = [path for method, path in MATRIX if path.startswith("/ui") and MATRIX[(method, path)] == OPERATOR_ONLY]
    for path in pages:
        assert client.get(path.replace("{slug}", "acme"), cookies={"dc_ui": "forged-session-value"}).status_code == 303
    assert client.post("/ui/login", data={"token": "guess"}).status_code == 401
    signed_in = client.post("/ui/login", data={"token": OPERATOR_TOKEN})
    assert signed_in.status_code == 303
    try:
        for path in pages:
            assert client.get(path.replace("{slug}", "acme")).status_code in (200, 404)
    finally:
        client.cookies.clear()


def test_public_routes_reveal_no_credential(client: TestClient) -> None:
    for (method, path), allowed in MATRIX.items():
        if allowed == PUBLIC and method == "GET":
            text = client.get(path).text
            assert OPERATOR_TOKEN not in text and HMAC_SECRET not in text and WEBHOOK_SECRET not in text


def test_signups_over_the_rate_are_answered_429_with_retry_after(tmp_path: Path) -> None:
    env = {**service_env(tmp_path, f"sqlite://{tmp_path / 'queue.sqlite'}"), "SERVICE_SIGNUP_RATE": "3/minute"}
    settings = load_settings(env)
    queue = open_queue(settings.database_url)
    ctx = ServiceContext(settings, queue, load_environment(PROJECT_DIR, "local"), Metrics(queue))
    client = TestClient(create_app(ctx))
    statuses = [client.post("/v1/signups", content=b"{}").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]  # counted even when unsigned: a flood of garbage is limited too
    refused = client.post("/v1/signups", content=b"{}")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "at most 3 per 1 minute" in refused.json()["detail"]
    assert queue.list_jobs() == []
    assert client.get("/healthz").status_code == 200  # other routes are not limited by it


def test_a_bad_rate_setting_is_refused_naming_the_variable(tmp_path: Path) -> None:
    from service.settings import SettingsError

    env = {**service_env(tmp_path, f"sqlite://{tmp_path / 'q.sqlite'}"), "SERVICE_SIGNUP_RATE": "lots"}
    with pytest.raises(SettingsError, match="SERVICE_SIGNUP_RATE must be a rate"):
        load_settings(env)
