"""``reconcile --fix CLASS``: the one documented action per finding class, each recorded in the audit trail.

A fix acts only on findings of a fresh report (never a stored one) that are ``fixable`` (the proof is there),
and re-checks right before anything is deleted: the VM's tags and pool, and that its tenant's stack still
does not record it and no update holds it. What it cannot prove it reports and leaves alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.naming import ownership_tags
from components.spec import TenantSpec
from ipam.store import open_store
from provisioning import fleet_clients
from provisioning.allocations import BackendStackStates, SweepRefused, free_orphans
from provisioning.archive import archive_orphan_vm
from provisioning.backups import ServerRef
from provisioning.dokploy_keys import revoke
from provisioning.fleet_db import FleetDatabase
from provisioning.reconcile.inventory import stack_view
from provisioning.reconcile.model import (
    CLASSES,
    DANGLING_DNS,
    DRIFT,
    LEAKED_API_KEY,
    ORPHAN_ALLOCATION,
    ORPHAN_DOKPLOY_SERVER,
    ORPHAN_SSH_KEY,
    ORPHAN_VM,
    TENANT_WITHOUT_STACK,
    Finding,
    Report,
)
from provisioning.recovery import TenantMarks, delete_vm, tags_and_pool
from provisioning.runner import CrashSafeRunner
from provisioning.stacks import TenantStacks

Progress = Callable[[str], None]


class FixRefused(ValueError):
    """A class that has no fix, or a name that is not a class (the message lists the classes)."""


@dataclass(frozen=True)
class FixOutcome:
    """What one fix did: ``fixed``, ``failed`` or ``skipped``, and why."""

    finding: Finding
    outcome: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"finding": self.finding.to_json(), "outcome": self.outcome, "detail": self.detail}


def fixable_classes() -> list[str]:
    """The classes ``--fix`` accepts."""
    return [name for name, c in CLASSES.items() if c.fix is not None]


def check_class(name: str) -> None:
    """Raise :class:`FixRefused` unless ``name`` is a class with a fix."""
    if name not in CLASSES:
        raise FixRefused(f"--fix {name}: not a finding class; one of {', '.join(fixable_classes())}")
    if CLASSES[name].fix is None:
        raise FixRefused(f"--fix {name}: this class is reported only ({CLASSES[name].meaning}); an operator decides")


def apply_fixes(
    stacks: TenantStacks,
    report: Report,
    cls: str,
    declarations: Mapping[str, TenantSpec],
    audit: FleetDatabase,
    *,
    actor: str,
    request_id: str | None = None,
    progress: Progress | None = None,
) -> list[FixOutcome]:
    """Apply ``cls``'s fix to each fixable finding of ``report``; record every attempt in ``audit``."""
    check_class(cls)
    chosen = [f for f in report.findings if f.cls == cls]
    say = progress or (lambda _line: None)
    outcomes: list[FixOutcome] = []
    if cls in (DRIFT, TENANT_WITHOUT_STACK):
        slugs = sorted({f.tenant for f in chosen if f.tenant})
        for slug in slugs:
            say(f"{cls}: {'refresh and up' if cls == DRIFT else 'up'} {slug}")
            outcome, detail = _converge(stacks, declarations.get(slug), slug, refresh=cls == DRIFT)
            for finding in (f for f in chosen if f.tenant == slug):
                outcomes.append(FixOutcome(finding, outcome, detail))
            _audit(audit, actor, cls, slug, f"stack {stacks.stack_name(slug)}", outcome, detail, request_id)
        return outcomes
    if cls == ORPHAN_ALLOCATION:
        return _free_allocations(stacks, chosen, audit, actor, request_id)
    act = _ACTIONS[cls]
    for finding in chosen:
        if not finding.fixable:
            outcomes.append(FixOutcome(finding, "skipped", finding.detail))
            continue
        say(f"{cls}: {finding.subject}")
        # Recorded before acting, so a fix killed half-way still shows in the trail.
        _audit(audit, actor, cls, finding.tenant, finding.subject, "started", CLASSES[cls].fix or "", request_id)
        try:
            detail = act(stacks, finding)
            outcome = "fixed"
        except _Unproven as exc:
            outcome, detail = "skipped", str(exc)
        except Exception as exc:
            outcome, detail = "failed", f"{type(exc).__name__}: {exc}"
        outcomes.append(FixOutcome(finding, outcome, detail))
        _audit(audit, actor, cls, finding.tenant, finding.subject, outcome, detail, request_id)
    return outcomes


def _audit(
    audit: FleetDatabase,
    actor: str,
    cls: str,
    tenant: str | None,
    subject: str,
    outcome: str,
    detail: str,
    request_id: str | None,
) -> None:
    audit.audit(actor, f"reconcile.fix.{cls}", subject, outcome, tenant=tenant, detail=detail, request_id=request_id)


class _Unproven(RuntimeError):
    """The re-check right before the action found the proof gone."""


def _converge(stacks: TenantStacks, spec: TenantSpec | None, slug: str, *, refresh: bool) -> tuple[str, str]:
    if spec is None:
        return "skipped", f"{slug} has no declaration to apply"
    runner = CrashSafeRunner(stacks)
    steps = ["refresh", "up"] if refresh else ["up"]
    done = []
    for step in steps:
        result = runner.run(spec, step)  # type: ignore[arg-type]
        if not result.ok:
            return "failed", f"{step} failed: {result.error}"
        changes = ", ".join(f"{n} {op}" for op, n in sorted(result.changes.items()) if op != "same") or "no changes"
        done.append(f"{step}: {changes}")
    return "fixed", "; ".join(done)


def _orphan_vm(stacks: TenantStacks, finding: Finding) -> str:
    target = finding.target
    region = stacks.environment.regions[target["region"]]
    slug, vmid, node = str(target["slug"]), int(target["vmid"]), str(target["node"])
    api = fleet_clients.proxmox(stacks, region.name)
    gaps = TenantMarks(slug, ownership_tags(slug), region.pool).gaps(*tags_and_pool(api, vmid))
    if gaps:
        raise _Unproven(f"VM {vmid} left alone: {'; '.join(gaps)}")
    name, states = stacks.stack_name(slug), BackendStackStates(stacks.workspace())
    if name in states.names():
        if states.locked(name) is not False:
            raise _Unproven(f"VM {vmid} left alone: an update of {name} is running (or its lock cannot be read)")
        view = stack_view(slug, stacks.workspace().export_stack(name).deployment or {}, False)
        if vmid in {vm.vmid for vm in view.vms} or view.locked:
            raise _Unproven(f"VM {vmid} left alone: {name} records it now (or a run of it died mid-way)")
    archive = archive_orphan_vm(api, stacks.environment, slug, ServerRef(_index(target), vmid, node))
    delete_vm(api, node, vmid, 600.0)
    return f"archived to {archive.volid} (kept until {archive.delete_after}), then deleted"


def _index(target: Mapping[str, Any]) -> int:
    """Server index from the VM name ``<slug>-<n>-<suffix>`` (0 when it has another shape)."""
    parts = str(target.get("name", "")).removeprefix(f"{target.get('slug')}-").split("-")
    return int(parts[0]) - 1 if parts and parts[0].isdigit() and int(parts[0]) > 0 else 0


def _orphan_server(stacks: TenantStacks, finding: Finding) -> str:
    target = finding.target
    with fleet_clients.organization_client(stacks, target["organization"]) as client:
        client.server_remove(target["server_id"])
    return f"removed from organization {target['organization']}"


def _orphan_key(stacks: TenantStacks, finding: Finding) -> str:
    target = finding.target
    with fleet_clients.organization_client(stacks, target["organization"]) as client:
        client.ssh_key_remove(target["ssh_key_id"])
    return f"removed from organization {target['organization']}"


def _dangling_dns(stacks: TenantStacks, finding: Finding) -> str:
    zone = fleet_clients.zone_name(stacks)
    fleet_clients.powerdns(stacks).delete_rrset(zone, finding.target["fqdn"], finding.target["type"])
    return f"deleted from zone {zone}"


def _leaked_key(stacks: TenantStacks, finding: Finding) -> str:
    if not revoke(stacks.dokploy_platform(), stacks.key_ledger(), finding.target["key_id"], finding.target["name"]):
        raise RuntimeError("Dokploy refused the revocation; it is queued for the key sweeper")
    return "revoked"


_ACTIONS: dict[str, Callable[[TenantStacks, Finding], str]] = {
    ORPHAN_VM: _orphan_vm,
    ORPHAN_DOKPLOY_SERVER: _orphan_server,
    ORPHAN_SSH_KEY: _orphan_key,
    DANGLING_DNS: _dangling_dns,
    LEAKED_API_KEY: _leaked_key,
}


def _free_allocations(
    stacks: TenantStacks, chosen: list[Finding], audit: FleetDatabase, actor: str, request_id: str | None
) -> list[FixOutcome]:
    """The allocation sweep (it re-judges every row against a fresh lock and state before freeing it)."""
    if not chosen:
        return []
    store = open_store(stacks.allocations_location())
    try:
        freed = free_orphans(store, stacks.env_name, BackendStackStates(stacks.workspace()), dry_run=False)
    except SweepRefused as exc:
        outcomes = [FixOutcome(f, "skipped", str(exc)) for f in chosen]
    else:
        done = {(j.allocation.pool, j.allocation.owner) for j in freed}
        outcomes = [
            FixOutcome(f, "fixed", "freed")
            if (f.target["pool"], f.target["owner"]) in done
            else FixOutcome(f, "skipped", "no longer an orphan when re-checked")
            for f in chosen
        ]
    for o in outcomes:
        _audit(audit, actor, ORPHAN_ALLOCATION, o.finding.tenant, o.finding.subject, o.outcome, o.detail, request_id)
    return outcomes
