"""Organization-scoped Dokploy API keys for one engine run: minted, recorded, revoked, swept.

A Dokploy API key acts inside exactly one organization, and every tenant has its own. The platform
holds one key (``DOKPLOY_API_KEY``, its user is an admin member of every tenant organization) and, for
each run, mints a short-lived key bound to the tenant's organization, with the rate limit off (the
default locks a key out after five requests). The key lives only in the run's environment.

Dokploy being briefly down must not fail a tenant for good:

- minting is retried with bounded backoff; if Dokploy stays down the run does not start and the
  failure is :attr:`RunKeyError.transient` (the service retries the job later);
- every minted key is recorded in a :class:`~provisioning.key_ledger.KeyLedger` before it is used; a
  revoke that fails after the run is queued there, never raised, so it cannot hide the run's result;
- :func:`sweep` revokes the queued keys, keys of runs that were killed (recorded, or only visible in
  Dokploy's own list under our name ``dcrun:<env>:<minted unix time>``) once they are older than any
  run can be (:data:`RUN_KEY_MAX_AGE`). The service sweeps on a schedule, operators with
  ``scripts/cloudctl revoke-keys``. Every key also expires on its own after :data:`EXPIRES_IN`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryCallState

from clients.dokploy import DokployClient, DokployError, RetryPolicy
from provisioning.key_ledger import KeyLedger

log = logging.getLogger(__name__)

EXPIRES_IN = 86_400  # better-auth's minimum: one day
RUN_KEY_MAX_AGE = 4 * 3600.0
"""A run's key older than this belongs to a dead run: longer than any run (Dokploy setup alone is bounded by 900 s)."""
KEY_TIMEOUT = 15.0
KEY_RETRY = RetryPolicy(attempts=4, initial=0.5, maximum=4.0)
NAME_PREFIX = "dcrun"
NAME_RE = re.compile(rf"^{NAME_PREFIX}:([A-Za-z0-9_.-]+):(\d{{10}})$")
MAX_NAME = 32  # Dokploy refuses longer key names


class RunKeyError(RuntimeError):
    """The run's organisation key could not be minted (message says what to do; never carries a key)."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def env_tag(env: str) -> str:
    """The environment as it appears in key names (hashed when too long to fit Dokploy's 32 characters)."""
    return (
        env
        if len(env) <= 15 and re.fullmatch(r"[A-Za-z0-9_.-]+", env)
        else hashlib.sha256(env.encode()).hexdigest()[:12]
    )


def key_name(env: str, minted_at: float) -> str:
    """``dcrun:<env>:<unix seconds>``: recognisable as ours, and how old it is, from Dokploy's list alone."""
    name = f"{NAME_PREFIX}:{env_tag(env)}:{int(minted_at):010d}"
    assert len(name) <= MAX_NAME, name
    return name


def parse_key_name(name: str) -> tuple[str, float] | None:
    """(env tag, minted unix time) of one of our key names, else None."""
    match = NAME_RE.match(name or "")
    return (match[1], float(match[2])) if match else None


def platform_client(base_url: str, platform_key: str, retry: RetryPolicy | None = None) -> DokployClient:
    """The platform's client for key calls: short timeouts, bounded retries of idempotent calls."""
    return DokployClient(base_url, platform_key, timeout=KEY_TIMEOUT, retry=retry or KEY_RETRY)


def mint(platform: DokployClient, env: str, organization_id: str) -> dict[str, Any]:
    """A fresh key bound to ``organization_id``, retried with backoff while Dokploy is unreachable or failing.

    A retried mint may leave a key Dokploy created but never answered for: it carries our name, so
    :func:`sweep` revokes it.
    """

    def once() -> dict[str, Any]:
        return platform.create_api_key(
            key_name(env, time.time()), organization_id, rate_limit_enabled=False, expires_in=EXPIRES_IN
        )

    try:
        return platform.retry.retrying(_retryable).copy(before_sleep=_log_mint_retry)(once)
    except DokployError as exc:
        if not exc.retryable:
            raise RunKeyError(
                f"cannot mint the run's Dokploy key for organization {organization_id}: {exc}; "
                "check DOKPLOY_API_KEY and that the platform user is an admin of that organization",
                transient=False,
            ) from None
        raise RunKeyError(
            f"Dokploy did not answer while minting the run's key for organization "
            f"{organization_id} ({exc}); nothing was changed, the run is retried later",
            transient=True,
        ) from None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, DokployError) and exc.retryable


def _log_mint_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("minting a run key: %s; retry %d in %.1fs", getattr(exc, "code", exc), state.attempt_number, wait)


def revoke(platform: DokployClient, ledger: KeyLedger, key_id: str, name: str) -> bool:
    """Revoke one key; on failure queue it in ``ledger`` and return False (never raises a Dokploy error)."""
    try:
        platform.delete_api_key(key_id)
    except DokployError as exc:
        ledger.revoke_failed(key_id, str(exc))
        log.warning(
            "run key %s (%s) not revoked: %s; queued for later revocation "
            "(the service sweeps on a schedule; `scripts/cloudctl revoke-keys` does it now)",
            name,
            key_id,
            exc,
        )
        return False
    ledger.revoked(key_id)
    return True


@contextlib.contextmanager
def organization_key(
    platform: DokployClient, organization_id: str, *, env: str, stack: str, ledger: KeyLedger
) -> Iterator[str]:
    """Yield a fresh key bound to ``organization_id``, recorded in ``ledger``; revoke (or queue) it on exit."""
    created = mint(platform, env, organization_id)
    key_id, name = str(created["id"]), str(created["name"])
    try:
        ledger.minted(key_id, name, stack)
    except BaseException:
        revoke(platform, ledger, key_id, name)
        raise
    try:
        yield str(created["key"])
    finally:
        revoke(platform, ledger, key_id, name)


@dataclass
class SweepReport:
    """What one sweep revoked, and what it could not (with the reason)."""

    revoked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def sweep(
    platform: DokployClient, env: str, ledger: KeyLedger, *, now: float | None = None, max_age: float = RUN_KEY_MAX_AGE
) -> SweepReport:
    """Revoke queued keys and keys of dead runs of ``env``; keys of other environments and runs are left alone."""
    now = time.time() if now is None else now
    report = SweepReport()
    handled: set[str] = set()
    for row in ledger.due(max_age, now):
        handled.add(row.key_id)
        (report.revoked if revoke(platform, ledger, row.key_id, row.name) else report.failed).append(row.name)
    try:
        listed = platform.api_keys()
    except DokployError as exc:
        report.failed.append(f"listing the platform's keys: {exc}")
        return report
    tag = env_tag(env)
    for key in listed:
        parsed = parse_key_name(str(key.get("name") or ""))
        key_id = str(key.get("id") or "")
        if parsed is None or parsed[0] != tag or parsed[1] >= now - max_age or key_id in handled:
            continue
        (report.revoked if revoke(platform, ledger, key_id, str(key["name"])) else report.failed).append(
            str(key["name"])
        )
    return report
