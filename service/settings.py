"""The service's settings, read from the environment once (Starlette's ``config.py`` shape).

Every value has a cast and a default except the two secrets, which are wrapped in :class:`Secret`
so a ``repr``, a log line or an error message never shows them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from provisioning.secret import Secret
from provisioning.toolchain import PROJECT_DIR


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable, never its value."""


@dataclass(frozen=True)
class Settings:
    """Everything the API and the workers are configured with."""

    hmac_secret: Secret
    """SERVICE_HMAC_SECRET: shared secret signing signup webhooks."""
    operator_token: Secret
    """SERVICE_OPERATOR_TOKEN: bearer token of the operator endpoints."""
    database_url: str = field(repr=False)
    """SERVICE_DATABASE_URL: ``sqlite:///path`` (embedded) or ``postgresql://...`` (scale-out)."""
    allocations_db: str | None = field(default=None, repr=False)
    """ALLOCATIONS_DB: the VM id / address store handed to engine runs. With a PostgreSQL queue it is
    the queue's database (or another ``postgresql://`` URL): workers on several hosts must share one
    store. With SQLite, unset means ``.state/allocations-<env>.sqlite``."""
    env_name: str = "local"
    """SERVICE_ENV: the environment whose stacks are ``<env>.<slug>``."""
    concurrency: int = 2
    """SERVICE_CONCURRENCY: workers (threads) running jobs in this process."""
    tenants_dir: Path = PROJECT_DIR / ".state" / "service-tenants"
    """SERVICE_TENANTS_DIR: where the service writes tenant declarations."""
    git_tenants_dir: Path = PROJECT_DIR / "tenants"
    """SERVICE_GIT_TENANTS_DIR: the tenants declared in git; signups cannot take their slugs or host names."""
    default_region: str | None = None
    """SERVICE_DEFAULT_REGION: region of signups that name none (else the environment's first)."""
    signature_window: int = 300
    """SERVICE_SIGNATURE_WINDOW: seconds a signed timestamp stays acceptable."""
    max_body_bytes: int = 16384
    """SERVICE_MAX_BODY_BYTES: largest signup body accepted."""
    lease_seconds: float = 30.0
    """SERVICE_LEASE_SECONDS: a job's lease; a worker silent for this long is presumed dead."""
    max_attempts: int = 4
    """SERVICE_MAX_ATTEMPTS: runs of one job before it fails for good (retryable errors only)."""
    retry_base_seconds: float = 5.0
    """SERVICE_RETRY_BASE_SECONDS: first retry delay, doubled per attempt (capped at 300 s)."""
    poll_seconds: float = 1.0
    """SERVICE_POLL_SECONDS: how often an idle worker looks for work."""
    key_sweep_seconds: float = 300.0
    """SERVICE_KEY_SWEEP_SECONDS: how often workers revoke per-run Dokploy keys left by failed revokes or killed runs."""
    host: str = "127.0.0.1"
    """SERVICE_HOST: address the API binds."""
    port: int = 8080
    """SERVICE_PORT: port the API binds."""
    stripe_webhook_secret: Secret | None = None
    """STRIPE_WEBHOOK_SECRET: verifies ``POST /v1/stripe/webhook``; unset means billing is off (404)."""
    stripe_api_key: Secret | None = None
    """STRIPE_API_KEY: fetch each event's subscription from Stripe before deciding (optional)."""
    stripe_api_base: str | None = None
    """STRIPE_API_BASE: another Stripe API address (stripe-mock in tests)."""
    billing_config: Path | None = None
    """SERVICE_BILLING_CONFIG: YAML/JSON ``{prices: {<price id|lookup key>: {plan, servers?}}, grace_seconds?,
    checkout?: {success_url, cancel_url}}`` (checkout sessions need both URLs and STRIPE_API_KEY)."""
    billing_db: Path = PROJECT_DIR / ".state" / "billing.sqlite"
    """SERVICE_BILLING_DB: the billing store (processed events, tenant billing state, action outbox, timers)."""
    billing_poll_seconds: float = 5.0
    """SERVICE_BILLING_POLL_SECONDS: how often due suspensions and queued billing actions are executed."""
    usage_poll_seconds: float = 300.0
    """SERVICE_USAGE_POLL_SECONDS: how often closed hours' VM-hours are reported to Stripe (needs STRIPE_API_KEY)."""
    meter_event: str = "vm_hours"
    """STRIPE_METER_EVENT: the Stripe billing meter's event name for VM-hours."""
    require_payment: bool = False
    """SERVICE_REQUIRE_PAYMENT: hold signups (``awaiting-payment``) until billing's Provision for the tenant
    arrives (a billed cloud); false applies signups at once (operator-driven environments)."""

    def __repr__(self) -> str:
        scheme = self.database_url.split(":", 1)[0]
        return f"Settings(env_name={self.env_name!r}, database={scheme}, concurrency={self.concurrency})"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value


def _secret(env: Mapping[str, str], name: str) -> Secret:
    raw = env.get(name, "")
    if len(raw) < 16:
        raise SettingsError(f"{name} must be set to at least 16 characters")
    return Secret(raw)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment); raise SettingsError."""
    env = os.environ if env is None else env
    url = env.get("SERVICE_DATABASE_URL") or f"sqlite:///{PROJECT_DIR / '.state' / 'service.sqlite'}"
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise SettingsError("SERVICE_DATABASE_URL must start with sqlite:/// or postgresql://")
    return Settings(
        hmac_secret=_secret(env, "SERVICE_HMAC_SECRET"),
        operator_token=_secret(env, "SERVICE_OPERATOR_TOKEN"),
        database_url=url,
        allocations_db=_allocations_db(env, url),
        env_name=env.get("SERVICE_ENV", "local"),
        concurrency=_int(env, "SERVICE_CONCURRENCY", 2),
        tenants_dir=Path(env.get("SERVICE_TENANTS_DIR") or PROJECT_DIR / ".state" / "service-tenants"),
        git_tenants_dir=Path(env.get("SERVICE_GIT_TENANTS_DIR") or PROJECT_DIR / "tenants"),
        default_region=env.get("SERVICE_DEFAULT_REGION") or None,
        signature_window=_int(env, "SERVICE_SIGNATURE_WINDOW", 300),
        max_body_bytes=_int(env, "SERVICE_MAX_BODY_BYTES", 16384, minimum=256),
        lease_seconds=_float(env, "SERVICE_LEASE_SECONDS", 30.0),
        max_attempts=_int(env, "SERVICE_MAX_ATTEMPTS", 4),
        retry_base_seconds=_float(env, "SERVICE_RETRY_BASE_SECONDS", 5.0),
        poll_seconds=_float(env, "SERVICE_POLL_SECONDS", 1.0),
        key_sweep_seconds=_float(env, "SERVICE_KEY_SWEEP_SECONDS", 300.0),
        host=env.get("SERVICE_HOST", "127.0.0.1"),
        port=_int(env, "SERVICE_PORT", 8080, minimum=0),
        stripe_webhook_secret=_optional_secret(env, "STRIPE_WEBHOOK_SECRET"),
        stripe_api_key=_optional_secret(env, "STRIPE_API_KEY"),
        stripe_api_base=env.get("STRIPE_API_BASE") or None,
        billing_config=Path(env["SERVICE_BILLING_CONFIG"]) if env.get("SERVICE_BILLING_CONFIG") else None,
        billing_db=Path(env.get("SERVICE_BILLING_DB") or PROJECT_DIR / ".state" / "billing.sqlite"),
        billing_poll_seconds=_float(env, "SERVICE_BILLING_POLL_SECONDS", 5.0),
        usage_poll_seconds=_float(env, "SERVICE_USAGE_POLL_SECONDS", 300.0),
        meter_event=env.get("STRIPE_METER_EVENT") or "vm_hours",
        require_payment=_bool(env, "SERVICE_REQUIRE_PAYMENT", False),
    )


def _allocations_db(env: Mapping[str, str], queue_url: str) -> str | None:
    """ALLOCATIONS_DB, defaulting to the queue's database when that is PostgreSQL (one shared store)."""
    given = env.get("ALLOCATIONS_DB") or None
    if not queue_url.startswith(("postgresql://", "postgres://")):
        return given
    if given is None:
        return queue_url
    if not given.startswith(("postgresql://", "postgres://")):
        raise SettingsError("ALLOCATIONS_DB must be a postgresql:// URL (or unset: the queue's database) when "
                            "SERVICE_DATABASE_URL is PostgreSQL: workers on other hosts cannot share a SQLite file")
    return given


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE + _FALSE:
        raise SettingsError(f"{name} must be one of {', '.join(_TRUE + _FALSE)}")
    return raw in _TRUE


def _optional_secret(env: Mapping[str, str], name: str) -> Secret | None:
    raw = env.get(name, "")
    if not raw:
        return None
    if len(raw) < 8:
        raise SettingsError(f"{name} is set but too short to be a Stripe secret")
    return Secret(raw)
