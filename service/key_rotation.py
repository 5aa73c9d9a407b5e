"""The workers' key rotation policy: tenants whose SSH key pair is older than ``SERVICE_KEY_MAX_AGE_DAYS`` get a
``rotate-keys`` job (the same rotation as ``POST /v1/tenants/{slug}/rotate-keys``), checked every interval.

Only ready, active tenants are rotated (a suspended tenant's servers are off: it is rotated after its resume,
and the ``SshKeyRotationOverdue`` alert fires if that takes too long). A tenant with a rotation already queued
is not queued again. Each queued rotation is in the audit trail as ``policy.rotate-keys``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from components.spec import SpecErrors
from provisioning.fleet_db import fleet_database
from provisioning.stacks import TenantStacks
from provisioning.state_backend import CheckpointUnreadable
from provisioning.tenant_keys import KeyFacts, NoTenantKey, key_facts
from service.declare import stored_spec
from service.periodic import start_periodic
from service.queue import JobQueue, QueueError
from service.queue.base import ROTATION_PARAMS, TenantPhase

log = logging.getLogger(__name__)
ACTOR = "service:key-rotation-policy"


def due_for_rotation(
    queue: JobQueue,
    stacks: TenantStacks,
    max_age_days: float,
    now: float | None = None,
    facts: Callable[[TenantStacks, str], KeyFacts] = key_facts,
) -> list[tuple[str, float]]:
    """(slug, key age in days) of every ready, active tenant whose key is older than ``max_age_days``."""
    current = time.time() if now is None else now
    due = []
    for tenant in queue.list_tenants():
        if tenant.phase != TenantPhase.READY:
            continue
        try:
            if stored_spec(queue, stacks.environment, tenant.slug).suspended:
                continue
            created = facts(stacks, tenant.slug).created_at
        except (NoTenantKey, CheckpointUnreadable, SpecErrors):
            continue
        if created is None:  # a key made before keys recorded their age: due now, so the clock starts
            due.append((tenant.slug, float("inf")))
        elif (age := (current - created) / 86400) > max_age_days:
            due.append((tenant.slug, age))
    return due


def rotate_due(queue: JobQueue, stacks: TenantStacks, max_age_days: float, max_attempts: int) -> list[str]:
    """Queue a rotation for every tenant due; the slugs queued now."""
    queued = []
    for slug, age in due_for_rotation(queue, stacks, max_age_days):
        try:
            submitted = queue.submit(slug, "rotate-keys", max_attempts, ROTATION_PARAMS)
        except QueueError as exc:
            log.warning("key rotation of %s not queued: %s", slug, exc)
            continue
        if submitted.created:
            queued.append(slug)
            detail = f"key {age:.0f} days old (policy: {max_age_days:g}); job {submitted.job.id}"
            fleet_database(stacks).audit(
                ACTOR, "policy.rotate-keys", f"tenant {slug}", "queued", tenant=slug, detail=detail
            )
    return queued


def check_once(queue: JobQueue, stacks: TenantStacks, max_age_days: float, max_attempts: int) -> list[str] | None:
    """One check, logged; None when it could not run."""
    try:
        queued = rotate_due(queue, stacks, max_age_days, max_attempts)
    except Exception as exc:  # the queue or the state backend blinked: the next interval tries again
        log.warning("key rotation policy could not run (%s: %s)", type(exc).__name__, exc)
        return None
    if queued:
        log.info("key rotation policy: queued %s", ", ".join(queued))
    return queued


def start_key_rotation(
    queue: JobQueue,
    stacks: TenantStacks,
    max_age_days: float,
    max_attempts: int,
    interval: float,
    stop: threading.Event,
) -> threading.Thread:
    """Check a minute after start, then every ``interval`` seconds until ``stop`` is set."""
    return start_periodic(
        "key-rotation", lambda: check_once(queue, stacks, max_age_days, max_attempts), interval, stop, first_delay=60.0
    )
