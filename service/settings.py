"""The service's settings, read from the environment once (pydantic-settings, see :mod:`provisioning.secrets`).

Every value has a type and a default except the two secrets, which are ``SecretStr`` so a ``repr``,
a log line or an error message never shows them. A bad value raises :class:`SettingsError` naming the
variable and what it must be, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import limits
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticUseDefault

from components.naming import ALLOCATIONS_DB_VAR
from provisioning.secrets import EnvironmentSettings, settings_problems
from provisioning.toolchain import PROJECT_DIR
from provisioning.vault_store import VaultError, VaultStore, platform_path, uses_vault

_POSTGRES = ("postgresql://", "postgres://")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable, never its value."""


def _whole_number(minimum: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError("must be a whole number") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return parse


def _seconds(raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError("must be a number of seconds") from None
    if not value > 0:
        raise ValueError("must be positive")
    return value


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if not text:
        raise PydanticUseDefault()
    if text not in _TRUE + _FALSE:
        raise ValueError(f"must be one of {', '.join(_TRUE + _FALSE)}")
    return text in _TRUE


def _service_secret(raw: Any) -> Any:
    text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
    if not isinstance(text, str) or len(text) < 16:
        raise ValueError("must be set to at least 16 characters")
    return raw


def _stripe_secret(raw: Any) -> Any:
    text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
    if not isinstance(text, str) or len(text) < 8:
        raise ValueError("is set but too short to be a Stripe secret")
    return raw


def _queue_url(url: str) -> str:
    if not url.startswith(("sqlite:///", *_POSTGRES)):
        raise ValueError("must start with sqlite:/// or postgresql://")
    return url


Count = Annotated[int, BeforeValidator(_whole_number(1))]
Seconds = Annotated[float, BeforeValidator(_seconds)]


def _rate(value: str) -> str:
    try:
        limits.parse(value)
    except ValueError:
        raise ValueError("must be a rate such as 30/minute or '5 per second'") from None
    return value


Flag = Annotated[bool, BeforeValidator(_flag)]
ServiceSecret = Annotated[SecretStr, BeforeValidator(_service_secret)]
StripeSecret = Annotated[SecretStr, BeforeValidator(_stripe_secret)]


class Settings(EnvironmentSettings):
    """Everything the API and the workers are configured with."""

    hmac_secret: ServiceSecret = Field("", validate_default=True, validation_alias="SERVICE_HMAC_SECRET")
    """SERVICE_HMAC_SECRET: shared secret signing signup webhooks."""
    operator_token: ServiceSecret = Field("", validate_default=True, validation_alias="SERVICE_OPERATOR_TOKEN")
    """SERVICE_OPERATOR_TOKEN: bearer token of the operator endpoints."""
    breakglass_token: ServiceSecret | None = Field(None, validation_alias="SERVICE_BREAKGLASS_TOKEN")
    """SERVICE_BREAKGLASS_TOKEN: bearer token of the break-glass role, the only one that may read a tenant's
    private key (``GET /v1/tenants/{slug}/ssh-key``); unset, no one can. Hold it apart from the operator token."""
    key_max_age_days: Seconds = Field(90.0, validation_alias="SERVICE_KEY_MAX_AGE_DAYS")
    """SERVICE_KEY_MAX_AGE_DAYS: the rotation policy: tenants' SSH keys older than this are rotated by the workers
    (a ``rotate-keys`` job), and the fleet exporter's ``dokploy_cloud_ssh_key_age_seconds`` alerts when one is
    overdue (not rotated within a day of its due date)."""
    key_rotation_check_seconds: Seconds = Field(3600.0, validation_alias="SERVICE_KEY_ROTATION_CHECK_SECONDS")
    """SERVICE_KEY_ROTATION_CHECK_SECONDS: how often the workers look for keys due for rotation."""
    database_url: Annotated[str, AfterValidator(_queue_url)] = Field(
        f"sqlite:///{PROJECT_DIR / '.state' / 'service.sqlite'}", repr=False, validation_alias="SERVICE_DATABASE_URL"
    )
    """SERVICE_DATABASE_URL: ``sqlite:///path`` (embedded) or ``postgresql://...`` (scale-out)."""
    allocations_db_setting: str | None = Field(None, repr=False, validation_alias=ALLOCATIONS_DB_VAR)
    """ALLOCATIONS_DB as given; :attr:`allocations_db` is the store engine runs use."""
    env_name: str = Field("local", validation_alias="SERVICE_ENV")
    """SERVICE_ENV: the environment whose stacks are ``<env>.<slug>``."""
    concurrency: Count = Field(2, validation_alias="SERVICE_CONCURRENCY")
    """SERVICE_CONCURRENCY: workers (threads) running jobs in this process."""
    git_tenants_dir: Path = Field(PROJECT_DIR / "tenants", validation_alias="SERVICE_GIT_TENANTS_DIR")
    """SERVICE_GIT_TENANTS_DIR: the tenants declared in git; signups cannot take their slugs or host names."""
    default_region: str | None = Field(None, validation_alias="SERVICE_DEFAULT_REGION")
    """SERVICE_DEFAULT_REGION: region of signups that name none (else the environment's first)."""
    signature_window: Count = Field(300, validation_alias="SERVICE_SIGNATURE_WINDOW")
    """SERVICE_SIGNATURE_WINDOW: seconds a signed timestamp stays acceptable."""
    max_body_bytes: Annotated[int, BeforeValidator(_whole_number(256))] = Field(
        16384, validation_alias="SERVICE_MAX_BODY_BYTES"
    )
    """SERVICE_MAX_BODY_BYTES: largest signup body accepted."""
    signup_rate: Annotated[str, AfterValidator(_rate)] = Field("30/minute", validation_alias="SERVICE_SIGNUP_RATE")
    """SERVICE_SIGNUP_RATE: signup requests accepted per source address in a moving window (``limits`` syntax,
    e.g. ``30/minute`` or ``5 per second``); more are answered 429 with ``Retry-After``."""
    lease_seconds: Seconds = Field(30.0, validation_alias="SERVICE_LEASE_SECONDS")
    """SERVICE_LEASE_SECONDS: a job's lease; a worker silent for this long is presumed dead."""
    max_attempts: Count = Field(4, validation_alias="SERVICE_MAX_ATTEMPTS")
    """SERVICE_MAX_ATTEMPTS: runs of one job before it fails for good (retryable errors only)."""
    retry_base_seconds: Seconds = Field(5.0, validation_alias="SERVICE_RETRY_BASE_SECONDS")
    """SERVICE_RETRY_BASE_SECONDS: first retry delay, doubled per attempt (capped at 300 s)."""
    poll_seconds: Seconds = Field(1.0, validation_alias="SERVICE_POLL_SECONDS")
    """SERVICE_POLL_SECONDS: how often an idle worker looks for work."""
    key_sweep_seconds: Seconds = Field(300.0, validation_alias="SERVICE_KEY_SWEEP_SECONDS")
    """SERVICE_KEY_SWEEP_SECONDS: how often workers revoke per-run keys left by failed revokes or killed runs."""
    archive_purge_seconds: Seconds = Field(3600.0, validation_alias="SERVICE_ARCHIVE_PURGE_SECONDS")
    """SERVICE_ARCHIVE_PURGE_SECONDS: how often archives past their delete-after date are removed."""
    reconcile_seconds: Seconds = Field(900.0, validation_alias="SERVICE_RECONCILE_SECONDS")
    """SERVICE_RECONCILE_SECONDS: how often workers reconcile the fleet (report only; stored for the operator
    API, the fleet exporter and ``cloudctl reconcile --fix``)."""
    audit_retention_days: Seconds = Field(400.0, validation_alias="SERVICE_AUDIT_RETENTION_DAYS")
    """SERVICE_AUDIT_RETENTION_DAYS: audit records older than this are pruned daily by the workers (the prune is
    itself recorded, with the anchor that keeps the rest of the chain verifiable)."""
    warm_pool_seconds: Seconds = Field(20.0, validation_alias="SERVICE_WARM_POOL_SECONDS")
    """SERVICE_WARM_POOL_SECONDS: how often workers refill the regions' warm pools (``regions.<r>.warm_pool``)."""
    alertmanager_url: str | None = Field(None, validation_alias="SERVICE_ALERTMANAGER_URL")
    """SERVICE_ALERTMANAGER_URL: where the operator page reads the alerts firing (optional)."""
    host: str = Field("127.0.0.1", validation_alias="SERVICE_HOST")
    """SERVICE_HOST: address the API binds."""
    port: Annotated[int, BeforeValidator(_whole_number(0))] = Field(8080, validation_alias="SERVICE_PORT")
    """SERVICE_PORT: port the API binds."""
    stripe_webhook_secret: StripeSecret | None = Field(None, validation_alias="STRIPE_WEBHOOK_SECRET")
    """STRIPE_WEBHOOK_SECRET: verifies ``POST /v1/stripe/webhook``; unset means billing is off (404)."""
    stripe_api_key: StripeSecret | None = Field(None, validation_alias="STRIPE_API_KEY")
    """STRIPE_API_KEY: fetch each event's subscription from Stripe before deciding (optional)."""
    stripe_api_base: str | None = Field(None, validation_alias="STRIPE_API_BASE")
    """STRIPE_API_BASE: another Stripe API address (stripe-mock in tests)."""
    billing_config: Path | None = Field(None, validation_alias="SERVICE_BILLING_CONFIG")
    """SERVICE_BILLING_CONFIG: YAML/JSON ``{prices: {<price id|lookup key>: {plan, servers?}}, grace_seconds?,
    checkout?: {success_url, cancel_url}}`` (checkout sessions need both URLs and STRIPE_API_KEY)."""
    billing_db: Path = Field(PROJECT_DIR / ".state" / "billing.sqlite", validation_alias="SERVICE_BILLING_DB")
    """SERVICE_BILLING_DB: the billing store (processed events, tenant billing state, action outbox, timers)."""
    billing_poll_seconds: Seconds = Field(5.0, validation_alias="SERVICE_BILLING_POLL_SECONDS")
    """SERVICE_BILLING_POLL_SECONDS: how often due suspensions and queued billing actions are executed."""
    usage_poll_seconds: Seconds = Field(300.0, validation_alias="SERVICE_USAGE_POLL_SECONDS")
    """SERVICE_USAGE_POLL_SECONDS: how often closed hours' VM-hours are reported to Stripe (needs STRIPE_API_KEY)."""
    meter_event: str = Field("vm_hours", validation_alias="STRIPE_METER_EVENT")
    """STRIPE_METER_EVENT: the Stripe billing meter's event name for VM-hours."""
    require_payment: Flag = Field(False, validation_alias="SERVICE_REQUIRE_PAYMENT")
    """SERVICE_REQUIRE_PAYMENT: hold signups (``awaiting-payment``) until billing's Provision for the tenant
    arrives (a billed cloud); false applies signups at once (operator-driven environments)."""

    @model_validator(mode="after")
    def _one_shared_allocation_store(self) -> Settings:
        given = self.allocations_db_setting
        if self.database_url.startswith(_POSTGRES) and given is not None and not given.startswith(_POSTGRES):
            raise ValueError(
                "ALLOCATIONS_DB must be a postgresql:// URL (or unset: the queue's database) when "
                "SERVICE_DATABASE_URL is PostgreSQL: workers on other hosts cannot share a SQLite file"
            )
        return self

    @model_validator(mode="after")
    def _separate_breakglass_token(self) -> Settings:
        token = self.breakglass_token
        if token is not None and token.get_secret_value() == self.operator_token.get_secret_value():
            raise ValueError("SERVICE_BREAKGLASS_TOKEN must differ from SERVICE_OPERATOR_TOKEN (a separate role)")
        return self

    @property
    def allocations_db(self) -> str | None:
        """ALLOCATIONS_DB: the VM id / address store handed to engine runs. With a PostgreSQL queue it is
        the queue's database (or another ``postgresql://`` URL): workers on several hosts must share one
        store. With SQLite, unset means ``.state/allocations-<env>.sqlite``."""
        if self.database_url.startswith(_POSTGRES) and self.allocations_db_setting is None:
            return self.database_url
        return self.allocations_db_setting

    def __repr__(self) -> str:
        scheme = self.database_url.split(":", 1)[0]
        return f"Settings(env_name={self.env_name!r}, database={scheme}, concurrency={self.concurrency})"

    __str__ = __repr__


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment); raise SettingsError.

    With the vault secrets backend, a secret the environment does not set (the service's tokens and HMAC
    secret, Stripe's keys) is read from Vault's platform path of the environment (``SERVICE_ENV``)."""
    environ = dict(os.environ if env is None else env)
    try:
        if uses_vault(environ):
            platform = VaultStore(environ).read_latest(platform_path(environ.get("SERVICE_ENV") or "local"))
            environ = {**{k: str(v) for k, v in platform.items() if k in VAULT_SETTINGS}, **environ}
    except VaultError as exc:
        raise SettingsError(str(exc)) from None
    try:
        return Settings.from_environ(environ)
    except ValidationError as exc:
        raise SettingsError(settings_problems(exc, Settings)) from None


VAULT_SETTINGS = frozenset(
    {
        "SERVICE_HMAC_SECRET",
        "SERVICE_OPERATOR_TOKEN",
        "SERVICE_BREAKGLASS_TOKEN",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_KEY",
    }
)
"""The service's secrets it may read from Vault's platform path."""
