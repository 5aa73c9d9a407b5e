"""The service's settings on pydantic-settings: variable names, defaults, errors that name the variable."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from billing.config import StripeSettings
from service.settings import SettingsError, load_settings

BASE = {"SERVICE_HMAC_SECRET": "h" * 16, "SERVICE_OPERATOR_TOKEN": "o" * 16}


def test_a_given_mapping_is_the_only_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_CONCURRENCY", "7")
    monkeypatch.setenv("SERVICE_HMAC_SECRET", "p" * 20)
    monkeypatch.setenv("SERVICE_OPERATOR_TOKEN", "q" * 20)
    assert load_settings(BASE).concurrency == 2
    assert load_settings().concurrency == 7 and load_settings().hmac_secret.get_secret_value() == "p" * 20


def test_values_are_typed_and_empty_variables_mean_the_default() -> None:
    settings = load_settings(
        {
            **BASE,
            "SERVICE_PORT": "0",
            "SERVICE_LEASE_SECONDS": "2.5",
            "SERVICE_ENV": "prod",
            "SERVICE_REQUIRE_PAYMENT": " Yes ",
            "SERVICE_DEFAULT_REGION": "",
            "STRIPE_METER_EVENT": "",
        }
    )
    assert (settings.port, settings.lease_seconds, settings.env_name) == (0, 2.5, "prod")
    assert settings.require_payment is True and settings.default_region is None and settings.meter_event == "vm_hours"
    assert isinstance(settings.hmac_secret, SecretStr) and settings.stripe_api_key is None


def test_every_bad_variable_is_named_and_no_value_is_shown() -> None:
    env = {
        **BASE,
        "SERVICE_HMAC_SECRET": "tooshort-secret",
        "SERVICE_MAX_BODY_BYTES": "12",
        "SERVICE_POLL_SECONDS": "-1",
        "STRIPE_API_KEY": "sk_x",
    }
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    text = str(err.value)
    for expected in (
        "SERVICE_HMAC_SECRET must be set to at least 16 characters",
        "SERVICE_MAX_BODY_BYTES must be at least 256",
        "SERVICE_POLL_SECONDS must be positive",
        "STRIPE_API_KEY is set but too short to be a Stripe secret",
    ):
        assert expected in text
    assert "tooshort-secret" not in text and "sk_x" not in text


def test_missing_secrets_are_named() -> None:
    with pytest.raises(
        SettingsError,
        match=r"SERVICE_HMAC_SECRET must be set to at least 16 characters.*"
        "SERVICE_OPERATOR_TOKEN must be set",
    ):
        load_settings({})


def test_str_and_repr_hide_secrets_and_the_database_password() -> None:
    settings = load_settings(
        {
            **BASE,
            "SERVICE_DATABASE_URL": "postgresql://svc:dbpassword@127.0.0.1/q",
            "STRIPE_API_KEY": "sk_test_secretvalue",
        }
    )
    for text in (str(settings), repr(settings), str(settings.stripe_api_key), repr(settings.hmac_secret)):
        assert "dbpassword" not in text and "secretvalue" not in text and "h" * 16 not in text


def test_stripe_settings_use_the_same_reader() -> None:
    stripe = StripeSettings.from_env(
        {
            "STRIPE_API_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_y",
            "STRIPE_TIMEOUT": "3",
            "STRIPE_MAX_RETRIES": "0",
        }
    )
    assert (stripe.timeout_seconds, stripe.max_retries) == (3.0, 0)
    with pytest.raises(ValueError, match="STRIPE_TIMEOUT") as err:
        StripeSettings.from_env(
            {"STRIPE_API_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_y", "STRIPE_TIMEOUT": "soon"}
        )
    assert "sk_live_x" not in str(err.value)
