"""cloudctl's key commands: rotate tenants' SSH keys with no downtime, and show key ages.

scripts/cloudctl [--env ENV] rotate-keys SLUG...                  rotate these git tenants' key pairs
scripts/cloudctl [--env ENV] rotate-keys --due [--max-age-days D] rotate every git tenant whose key is older
                                                                  than D days (default: the service's policy, 90)
scripts/cloudctl [--env ENV] rotate-keys SLUG --id ID             finish an interrupted rotation (same id: no
                                                                  second key)
scripts/cloudctl [--env ENV] keys                                 every applied tenant's key: fingerprint,
                                                                  generation, age, where the private key is kept

A rotation is an ``up`` that makes a new key pair, authorises it on every running server beside the old one,
switches Dokploy to it (proven by Dokploy's own login), then removes the old key from Dokploy and the servers.
The service's tenants are rotated by the service (``POST /v1/tenants/{slug}/rotate-keys`` and its policy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from components.spec import TenantSpec
from provisioning.fleet_db import default_actor, fleet_database
from provisioning.phases import PhaseTracker
from provisioning.runner import CrashSafeRunner
from provisioning.stacks import TenantStacks
from provisioning.tenant_keys import KeyFacts, NoTenantKey, key_facts

COMMANDS = ("rotate-keys", "keys")
DEFAULT_MAX_AGE_DAYS = 90.0


def add_parsers(sub: Any) -> None:
    """Register the key subcommands on cloudctl's subparsers."""
    p = sub.add_parser("rotate-keys", help="rotate tenants' SSH key pairs with no downtime")
    p.add_argument("slugs", nargs="*", help="tenants to rotate")
    p.add_argument("--due", action="store_true", help="every tenant whose key is older than --max-age-days")
    p.add_argument("--max-age-days", type=float, default=DEFAULT_MAX_AGE_DAYS)
    p.add_argument("--id", dest="rotation_id", help="the rotation's id (to finish an interrupted one)")
    sub.add_parser("keys", help="tenants' SSH keys: fingerprint, generation, age, where kept")


def run(args: argparse.Namespace, stacks: TenantStacks, tenants: Sequence[TenantSpec], console: Console) -> int:
    """Run one key subcommand on the picked tenants."""
    if args.command == "keys":
        console.print(keys_table(stacks, tenants))
        return 0
    chosen = list(tenants)
    if args.due:
        chosen = [t for t in tenants if _age_days(_facts(stacks, t.slug)) > args.max_age_days]
    elif not args.slugs:
        console.print("[red]name the tenants to rotate, or --due[/]", highlight=False)
        return 2
    refused = [t.slug for t in chosen if t.suspended]
    if refused:
        console.print(f"[red]suspended, servers off: {', '.join(refused)}; rotate after the resume[/]", highlight=False)
        return 2
    rotation = args.rotation_id or f"cloudctl-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    runner, trail, actor = CrashSafeRunner(stacks), fleet_database(stacks), default_actor()
    table = Table(title=f"key rotation {rotation} of {stacks.env_name}", title_justify="left")
    for column in ("tenant", "before", "after", "generation", "seconds", "outcome"):
        table.add_column(column)
    failed = 0
    for tenant in chosen:
        before = _facts(stacks, tenant.slug)
        with console.status(f"rotating {tenant.slug}'s key ...") as status:

            def show(phase: str, slug: str = tenant.slug, shown: Any = status) -> None:
                shown.update(f"rotating {slug}'s key: {phase}")

            tracker = PhaseTracker(on_phase=show)
            started = time.monotonic()
            result = runner.run(tenant, "up", on_event=tracker, rotation=rotation)
        after = _facts(stacks, tenant.slug)
        outcome = "rotated" if result.ok else "failed"
        failed += not result.ok
        detail = f"{_fingerprint(before)} -> {_fingerprint(after)} (rotation {rotation})"
        trail.audit(actor, "cloudctl.rotate-keys", f"tenant {tenant.slug}", outcome, tenant=tenant.slug, detail=detail)
        table.add_row(
            tenant.slug,
            _fingerprint(before),
            _fingerprint(after),
            str(after.generation if after else "-"),
            f"{time.monotonic() - started:.1f}",
            f"[green]{outcome}[/]" if result.ok else f"[red]{outcome}[/]: {result.error}",
        )
    console.print(table)
    if failed:
        console.print(
            f"a failed rotation leaves Dokploy on a key the servers accept; finish it with "
            f"`cloudctl rotate-keys SLUG --id {rotation}`",
            highlight=False,
        )
    return 1 if failed else 0


def _facts(stacks: TenantStacks, slug: str) -> KeyFacts | None:
    try:
        return key_facts(stacks, slug)
    except NoTenantKey:
        return None


def _fingerprint(facts: KeyFacts | None) -> str:
    return facts.fingerprint if facts else "-"


def _age_days(facts: KeyFacts | None) -> float:
    if facts is None:
        return 0.0  # not applied: nothing to rotate
    if facts.created_at is None:
        return float("inf")
    return (time.time() - facts.created_at) / 86400


def keys_table(stacks: TenantStacks, tenants: Sequence[TenantSpec]) -> Table:
    """Each tenant's key: fingerprint, generation, age and backend."""
    table = Table(title=f"SSH keys of {stacks.env_name}", title_justify="left")
    for column in ("tenant", "fingerprint", "generation", "age (days)", "kept in"):
        table.add_column(column)
    for tenant in tenants:
        facts = _facts(stacks, tenant.slug)
        if facts is None:
            table.add_row(tenant.slug, "-", "-", "-", "not applied")
            continue
        age = _age_days(facts)
        table.add_row(
            tenant.slug,
            facts.fingerprint,
            str(facts.generation),
            "?" if age == float("inf") else f"{age:.1f}",
            facts.backend,
        )
    return table
