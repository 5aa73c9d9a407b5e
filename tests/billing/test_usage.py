"""Usage reporting: one (tenant, plan, hour) is billed once however often it is sent."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from billing.config import StripeSettings
from billing.usage import (
    HOUR,
    UsageReport,
    UsageReporter,
    idempotency_key,
    meter_event_params,
    vm_hours_by_plan,
)
from tests.billing.conftest import API_KEY, RecordingHttpClient

SLUG = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@given(SLUG, SLUG, st.integers(0, 10**7), SLUG, SLUG, st.integers(0, 10**7))
def test_keys_are_deterministic_and_distinct_per_tenant_plan_hour(t1, p1, h1, t2, p2, h2) -> None:
    k1, k2 = idempotency_key(t1, p1, h1 * HOUR), idempotency_key(t2, p2, h2 * HOUR)
    assert k1 == idempotency_key(t1, p1, h1 * HOUR)
    assert (k1 == k2) == ((t1, p1, h1) == (t2, p2, h2))
    assert len(k1) <= 255  # Stripe's Idempotency-Key limit


@pytest.mark.parametrize(
    "kwargs,field",
    [({"window_start": 5}, "window_start"), ({"vm_hours": -1}, "vm_hours"), ({"customer": ""}, "customer")],
)
def test_report_validation_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    base = {"tenant": "acme", "plan": "starter", "customer": "cus_1", "window_start": 7200, "vm_hours": 1}
    with pytest.raises(ValueError, match=field):
        UsageReport(**{**base, **kwargs})


def test_resending_a_report_to_stripe_mock_sends_the_identical_idempotent_request(
    stripe_settings: StripeSettings,
) -> None:
    http = RecordingHttpClient()
    client = stripe.StripeClient(
        API_KEY, base_addresses={"api": stripe_settings.api_base}, http_client=http, max_network_retries=1
    )
    report = UsageReport("acme", "business", "cus_1", 500 * HOUR, 3)
    first = UsageReporter(client).report(report)
    second = UsageReporter(client).report(report)
    (m1, u1, h1, d1), (m2, u2, h2, d2) = http.sent
    key = idempotency_key("acme", "business", 500 * HOUR)
    assert (m1, u1, d1) == (m2, u2, d2) and u1.endswith("/v1/billing/meter_events")
    assert h1["Idempotency-Key"] == h2["Idempotency-Key"] == key
    assert f"identifier={key}" in d1 and "payload[value]=3" in d1
    # stripe-mock is stateless: it validates the request against Stripe's OpenAPI spec and echoes the key back.
    assert first.last_response.headers["Idempotency-Key"] == second.last_response.headers["Idempotency-Key"] == key
    assert first.identifier == key


def test_params_are_a_pure_function_of_the_report() -> None:
    report = UsageReport("acme", "business", "cus_1", 500 * HOUR, 3)
    assert meter_event_params(report) == meter_event_params(UsageReport("acme", "business", "cus_1", 500 * HOUR, 3))
    assert meter_event_params(report)["timestamp"] == 501 * HOUR - 1


def test_settings_mask_secrets() -> None:
    s = StripeSettings.from_env({"STRIPE_API_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_y"})
    assert "sk_live_x" not in repr(s) and "whsec_y" not in repr(s) and s.api_key.get_secret_value() == "sk_live_x"
    with pytest.raises(ValueError, match="STRIPE_WEBHOOK_SECRET"):
        StripeSettings.from_env({"STRIPE_API_KEY": "k"})
    assert str(SecretStr("abc")) == "**********" and repr(SecretStr("abc")) == "SecretStr('**********')"


H = 100 * HOUR


@pytest.mark.parametrize(
    "changes, window, expected",
    [
        ([(H - 50, "starter", 1)], H, {"starter": 1}),  # running all hour
        ([(H + 600, "starter", 1)], H - HOUR, {}),  # not yet running
        ([(H - 50, "starter", 1), (H + 1200, "starter", 0)], H, {"starter": 1}),  # suspended mid-hour
        ([(H - 50, "starter", 1), (H + 1200, "starter", 0)], H + HOUR, {}),  # suspended all hour
        ([(H - 50, "starter", 0), (H + 1800, "starter", 1)], H, {"starter": 1}),  # resumed mid-hour
        ([(H - 50, "starter", 1), (H + 900, "business", 3)], H, {"starter": 1, "business": 3}),  # plan change
        ([(H - 50, "starter", 1), (H + 900, "business", 3)], H + HOUR, {"business": 3}),
        ([(H - 50, "business", 3), (H + 60, "business", 2)], H, {"business": 3}),  # scaled down
        ([(H - 50, "business", 3), (H, "business", 2)], H, {"business": 2}),  # change on the boundary
        ([(H - 50, "business", 2), (H + HOUR, "business", 3)], H, {"business": 2}),  # next hour's change
        ([(H - 10, "starter", 1), (H + 5, "starter", 0)], H, {"starter": 1}),  # ran 5 s of the hour
        ([(H - 500, "starter", 1), (H, "starter", 0)], H, {}),  # stopped on the boundary
    ],
)
def test_vm_hours_by_plan_from_recorded_changes(
    changes: list[tuple[float, str, int]], window: int, expected: dict[str, int]
) -> None:
    assert vm_hours_by_plan(changes, window) == expected
