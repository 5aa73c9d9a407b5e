"""cloudctl: the operator's entry point for tenant stacks.

    scripts/cloudctl [--env ENV] up [SLUG ...] [--parallel N]     apply tenants (default: all declared)
    scripts/cloudctl [--env ENV] preview|refresh [SLUG ...]
    scripts/cloudctl [--env ENV] destroy SLUG --yes               decommission one tenant
    scripts/cloudctl [--env ENV] recover SLUG [--dry-run]         clear what a killed run left (stale lock,
                                                                  pending operations, unrecorded VMs it can
                                                                  prove are the tenant's); report the rest
    scripts/cloudctl [--env ENV] status [SLUG ...]                fleet table
    scripts/cloudctl [--env ENV] list                             declared tenants
    scripts/cloudctl [--env ENV] revoke-keys                      revoke per-run Dokploy keys left by failed
                                                                  revokes or killed runs
    scripts/cloudctl [--env ENV] allocations list                 VM ids and addresses held, who holds them,
                                                                  free capacity
    scripts/cloudctl [--env ENV] allocations free-orphans [--dry-run]
                                                                  free allocations whose tenant stack no longer
                                                                  records them (--dry-run: only print them)
    scripts/cloudctl [--env ENV] validate [DIR]                   check tenant files against the environment's plans,
                                                                  quotas and regions; change nothing
    scripts/cloudctl [--env ENV] backup|backups|protect|restore|archives|purge-archives|undelete ...
                                                                  backups, restores and archives
                                                                  (:mod:`scripts.cloudctl_backups`)
    scripts/cloudctl [--env ENV] reconcile [--json] [--fix CLASS] | audit ...
                                                                  compare stacks, Proxmox, Dokploy and DNS;
                                                                  fix one class; the audit trail
                                                                  (:mod:`scripts.cloudctl_reconcile`)
    scripts/cloudctl [--env ENV] rotate-keys SLUG... | --due | keys
                                                                  rotate SSH keys with no downtime; key ages
                                                                  (:mod:`scripts.cloudctl_keys`)

Every tenant file this command reads is parsed once; the runs get the parsed declaration
(:mod:`provisioning.declarations`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from components.naming import allocation_pool
from components.spec import SpecErrors, TenantSpec
from ipam.placement import Decision
from ipam.store import Allocation, open_store
from provisioning import fleet_clients
from provisioning.allocations import (
    BackendStackStates,
    Judged,
    PoolCapacity,
    SweepRefused,
    capacity,
    env_allocations,
    free_orphans,
    judge,
)
from provisioning.declarations import TenantFiles
from provisioning.drain import DrainError, Move, drain, undrain
from provisioning.fleet import TenantProgress, run_fleet
from provisioning.fleet_db import default_actor, fleet_database
from provisioning.namespace import git_conflicts, parse_declarations
from provisioning.phases import PHASE_ORDER
from provisioning.runlock import StackBusy
from provisioning.runner import CrashSafeRunner
from provisioning.stacks import TenantStacks
from provisioning.status import TenantStatus, fleet_status
from provisioning.toolchain import PROJECT_DIR
from scripts import cloudctl_backups, cloudctl_keys, cloudctl_reconcile
from scripts.localenv import handoff
from scripts.localenv.handoff import adopt_running_demo
from storage.tenants import declared_tenants, service_database_url

# Tables are the point of this tool: keep them readable when output goes to a file or CI log.
console = Console(width=None if Console().is_terminal else 160)


def progress_table(rows: list[TenantProgress], title: str) -> Table:
    """Live view: one row per tenant with its state, current phase, elapsed time and phase timings."""
    table = Table(title=title, title_justify="left")
    for column in ("tenant", "state", "phase", "elapsed", "phases (s)", "result"):
        table.add_column(column)
    for row in rows:
        timings = row.tracker.durations()
        phases = " ".join(f"{p}={timings[p]:.1f}" for p in PHASE_ORDER if p in timings)
        outcome = ""
        if row.result is not None:
            outcome = _changes(row.result.changes) if row.result.ok else first_error_line(row.result.error)
        style = {"ok": "green", "failed": "red", "running": "yellow"}.get(row.state, "")
        table.add_row(
            row.slug,
            f"[{style}]{row.state}[/]" if style else row.state,
            row.tracker.current,
            f"{row.elapsed:.1f}s",
            phases,
            outcome,
        )
    return table


def status_table(rows: list[TenantStatus], title: str) -> Table:
    """The fleet table: tenant, plan, node, VM id, template version, address, hostname, Dokploy server, last result,
    age."""
    table = Table(title=title, title_justify="left")
    for column in (
        "tenant",
        "plan",
        "region",
        "node",
        "vm id",
        "template",
        "address",
        "hostname",
        "dokploy server",
        "last result",
        "age",
    ):
        table.add_column(column)
    for row in rows:
        servers = max(1, len(row.hostnames))
        for i in range(servers):

            def pick(values: Sequence[object], i: int = i) -> str:
                return str(values[i]) if i < len(values) else "-"

            table.add_row(
                row.slug if i == 0 else "",
                row.plan if i == 0 else "",
                row.region if i == 0 else "",
                pick(row.nodes),
                pick(row.vm_ids),
                pick(row.templates),
                pick(row.addresses),
                pick(row.hostnames),
                pick(row.dokploy_servers),
                row.last_result if i == 0 else "",
                row.age if i == 0 else "",
            )
    return table


def capacity_table(rows: list[PoolCapacity], title: str) -> Table:
    """Per region pool: allocations held and VM ids / addresses still free."""
    table = Table(title=title, title_justify="left")
    for column in ("pool", "allocated", "vm ids free", "addresses free"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.pool, str(row.allocated), str(row.free_vmids), str(row.free_addresses))
    return table


def allocation_table(rows: list[Judged], title: str) -> Table:
    """One allocation per row with the verdict on its owner."""
    table = Table(title=title, title_justify="left")
    for column in ("pool", "owner", "vm id", "address", "node", "owner status", "why"):
        table.add_column(column)
    for row in rows:
        a = row.allocation
        table.add_row(a.pool, a.owner, str(a.vmid), a.address, a.node, row.verdict, row.reason)
    return table


def first_error_line(error: str | None, limit: int = 90) -> str:
    """The most telling line of an engine error, for a table cell (the full text is printed below it)."""
    lines = [ln for ln in (error or "failed").splitlines() if ln and not ln.endswith("):")]
    line = next((ln for ln in lines if "error" in ln.lower() and "occurred" not in ln), lines[0] if lines else "failed")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def print_failures(rows: list[TenantProgress]) -> None:
    """Each failed tenant's full engine diagnostics."""
    for row in rows:
        if row.result is not None and not row.result.ok:
            console.print(f"[red]{row.slug}[/] failed:\n{row.result.error}", highlight=False)


def _changes(changes: dict[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(changes.items()) if op != "same") or "no changes"


@dataclass
class Declared:
    """The git tenants this invocation works on, each file parsed once."""

    files: TenantFiles
    _all: dict[str, TenantSpec] | None = field(default=None, init=False)

    def all(self) -> dict[str, TenantSpec]:
        """Every declared tenant, checked together (read on first use)."""
        if self._all is None:
            self._all = self.files.load_all()
        return self._all

    def pick(self, slugs: Sequence[str]) -> list[TenantSpec]:
        """The tenants named (default: every declared tenant, by slug)."""
        if not slugs:
            return [spec for _, spec in sorted(self.all().items())]
        loaded = self._all or {}
        return [loaded[slug] if slug in loaded else self.files.load(slug) for slug in slugs]


def service_namespace_problems(stacks: TenantStacks, tenants: Declared) -> list[str]:
    """Git tenants that clash with the provisioning service's, when its database is configured for this env."""
    url = service_database_url(stacks.env_name)
    if not url:
        return []
    try:
        declared = [(t.slug, t.declaration) for t in declared_tenants(url)]
    except Exception as exc:  # refuse rather than risk applying over a service tenant's stack
        return [
            f"cannot read the service's tenants from SERVICE_DATABASE_URL ({type(exc).__name__}); "
            "make it reachable, or unset it to skip this check"
        ]
    return git_conflicts(list(tenants.all().values()), parse_declarations(declared, stacks.environment))


def cmd_run(args: argparse.Namespace, stacks: TenantStacks, tenants: Declared) -> int:
    chosen = tenants.pick(args.slugs)
    title = f"{args.command} {stacks.env_name}: {len(chosen)} tenant(s), {args.parallel} at a time"
    with Live(console=console, refresh_per_second=4, transient=not console.is_terminal) as live:
        rows = run_fleet(
            CrashSafeRunner(stacks),
            chosen,
            args.command,
            args.parallel,
            on_update=lambda r: live.update(progress_table(r, title)),
        )
        live.update(progress_table(rows, title))
    if not console.is_terminal:
        console.print(progress_table(rows, title))
    print_failures(rows)
    return 0 if all(r.state == "ok" for r in rows) else 1


def cmd_destroy(args: argparse.Namespace, stacks: TenantStacks, tenants: Declared) -> int:
    if not args.yes:
        console.print(
            f"refusing to destroy {args.slug} without --yes (this archives its servers, then deletes its VMs, "
            "DNS and Dokploy servers)"
        )
        return 2
    rows = run_fleet(CrashSafeRunner(stacks), tenants.pick([args.slug]), "destroy", 1)
    console.print(progress_table(rows, f"destroy {stacks.env_name}.{args.slug}"))
    print_failures(rows)
    result = rows[0].result
    if result is not None and result.ok and result.outputs.get("archivedUntil"):
        console.print(
            f"{args.slug} archived until {result.outputs['archivedUntil']}: "
            f"`cloudctl undelete {args.slug}` brings it back until then",
            highlight=False,
        )
    return 0 if rows[0].state == "ok" else 1


def cmd_recover(args: argparse.Namespace, stacks: TenantStacks, tenants: Declared) -> int:
    """The service's own recovery, on demand (up and destroy also do it before they start).

    Exit status 1 when something needs an operator: a live run holds the stack, or VMs recovery
    could not prove to be the tenant's were left alone.
    """
    try:
        report = CrashSafeRunner(stacks).recover(tenants.pick([args.slug])[0], dry_run=args.dry_run)
    except StackBusy as busy:
        console.print(f"[red]{busy}[/]", highlight=False)
        return 1
    title = f"recovery of {report.stack}" + (" (dry run: nothing changed)" if report.dry_run else "")
    table = Table(title=title, title_justify="left")
    table.add_column("what")
    table.add_column("found / done")
    table.add_row("live run holding the stack", ", ".join(report.live_lock) or "-")
    table.add_row("crash evidence", "; ".join(report.crash_evidence) or "none")
    table.add_row("stale lock cleared", "yes" if report.lock_cleared else "no")
    table.add_row("pending operations dropped", ", ".join(report.pending_dropped) or "-")
    table.add_row(
        "waited for dead run's tasks", ", ".join(f"{k}:{v}" for k, v in report.waited_for_tasks.items()) or "-"
    )
    table.add_row("unrecorded VMs deleted", ", ".join(map(str, report.orphan_vms_deleted)) or "-")
    table.add_row("refreshed", "yes" if report.refreshed else "no")
    console.print(table)
    for vm in report.unproven_vms:
        console.print(f"[yellow]left alone:[/] VM {vm['vmid']} on {vm['node']}: {vm['reason']}", highlight=False)
    return 1 if report.live_lock or report.unproven_vms else 0


def cmd_revoke_keys(_args: argparse.Namespace, stacks: TenantStacks, _tenants: Declared) -> int:
    """Revoke per-run Dokploy keys whose revocation failed or whose run was killed (the service does it too)."""
    report = stacks.sweep_keys()
    table = Table(title=f"per-run Dokploy keys of {stacks.env_name}", title_justify="left")
    table.add_column("revoked")
    table.add_column("not revoked yet")
    table.add_row("\n".join(report.revoked) or "-", "\n".join(report.failed) or "-")
    console.print(table)
    return 1 if report.failed else 0


def cmd_status(args: argparse.Namespace, stacks: TenantStacks, tenants: Declared) -> int:
    rows = fleet_status(stacks, tenants.pick(args.slugs))
    console.print(status_table(rows, f"fleet {stacks.env_name}"))
    outdated = [row.slug for row in rows if row.outdated]
    if outdated:
        console.print(
            f"on an old template (current: {stacks.environment.template_version}): {', '.join(outdated)}; "
            "they keep their servers: re-create a server to move it (docs/platform/templates.md)"
        )
    store = open_store(stacks.allocations_location())
    held = env_allocations(store, stacks.env_name)
    console.print(capacity_table(capacity(stacks.environment, held), f"capacity {stacks.env_name}"))
    slugs = set(args.slugs or [])
    shown = [a for a in held if not slugs or a.owner.rsplit("/", 1)[0] in slugs]
    pools = [allocation_pool(stacks.env_name, region) for region in stacks.environment.regions]
    drained = {pool: marks for pool in pools if (marks := store.unschedulable(pool))}
    console.print(placement_table(shown, drained, f"placement {stacks.env_name}"))
    return 0


def placement_table(held: Sequence[Allocation], drained: dict[str, dict[str, str]], title: str) -> Table:
    """Per tenant server: where it was placed and why; then the nodes that take no new VM."""
    table = Table(title=title, title_justify="left")
    for column in ("pool", "server", "vm id", "node", "why"):
        table.add_column(column)
    for a in held:
        why = Decision.summary_of(a.placement) or "-"
        table.add_row(a.pool, a.owner, str(a.vmid), a.node, why.split(": ", 1)[-1] if why != "-" else why)
    for pool, nodes in sorted(drained.items()):
        for node, reason in sorted(nodes.items()):
            table.add_row(pool, "-", "-", node, f"[yellow]unschedulable: {reason}[/]")
    return table


def cmd_drain(args: argparse.Namespace, stacks: TenantStacks, tenants: Declared) -> int:
    """Drain a node (no new VMs; its tenants migrated away one at a time) or undrain it."""
    store, environment = open_store(stacks.allocations_location()), stacks.environment
    try:
        if args.command == "undrain":
            was = undrain(environment, store, args.node, args.region)
            console.print(f"{args.node}: {'schedulable again' if was else 'was not drained'}", highlight=False)
            return 0
        if not args.yes:
            console.print("drain migrates tenant VMs: add --yes to confirm", highlight=False)
            return 2

        def moved(move: Move) -> None:
            console.print(
                f"{move.slug} server {move.server + 1} (VM {move.vmid}, {move.address}): "
                f"{move.from_node} -> {move.to_node}: {move.result}",
                highlight=False,
            )

        report = drain(
            environment,
            store,
            CrashSafeRunner(stacks),
            lambda slug: tenants.pick([slug])[0],
            lambda region: fleet_clients.proxmox(stacks, region),
            args.node,
            region=args.region,
            reason=args.reason,
            fleet=fleet_database(stacks),
            actor=default_actor(),
            on_move=moved,
        )
    except DrainError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        return 2
    verdict = "drained" if report.ok else "[red]not drained: a move failed (run drain again to carry on)[/]"
    console.print(f"{report.node} ({report.region}): {len(report.moves)} server(s) moved; {verdict}", highlight=False)
    return 0 if report.ok else 1


def cmd_warm_pool(args: argparse.Namespace, stacks: TenantStacks, _tenants: Declared) -> int:
    """Show, fill or empty the regions' warm pools."""
    pool = stacks.warm_pool()
    regions = [args.region] if args.region else [r for r, c in stacks.environment.regions.items() if c.warm_pool]
    if not regions:
        console.print("no region of this environment has a warm pool (regions.<r>.warm_pool)", highlight=False)
        return 0

    def say(line: str) -> None:
        console.print(line, highlight=False)

    for region in regions:
        if args.action == "fill":
            made = pool.fill(region, say)
            say(f"{region}: {len(made)} VM(s) warmed")
        elif args.action == "empty":
            gone = pool.empty(region, say)
            say(f"{region}: {len(gone)} VM(s) deleted")
    table = Table(title=f"warm pool {stacks.env_name}", title_justify="left")
    for column in ("region", "plan", "size", "vm id", "node", "address", "state", "age"):
        table.add_column(column)
    for region in regions:
        policy = stacks.environment.regions[region].warm_pool
        vms = pool.vms(region)
        for i, vm in enumerate(vms or [None]):
            table.add_row(
                region if i == 0 else "",
                policy.plan if policy and i == 0 else "",
                str(policy.size) if policy and i == 0 else "",
                *(
                    (str(vm.vmid), vm.node, vm.address, vm.state, f"{vm.age_seconds / 60:.0f} min")
                    if vm
                    else ("-",) * 5
                ),
            )
    console.print(table)
    return 0


def cmd_allocations(args: argparse.Namespace, stacks: TenantStacks, _tenants: Declared) -> int:
    """List allocations with their owners' status, or free the orphans (see provisioning.allocations)."""
    store, states = open_store(stacks.allocations_location()), BackendStackStates(stacks.workspace())
    if args.action == "list":
        held = env_allocations(store, stacks.env_name)
        console.print(allocation_table(judge(stacks.env_name, held, states), f"allocations {stacks.env_name}"))
        console.print(capacity_table(capacity(stacks.environment, held), f"capacity {stacks.env_name}"))
        return 0
    try:
        orphans = free_orphans(store, stacks.env_name, states, dry_run=args.dry_run)
    except SweepRefused as refused:
        console.print(f"[red]refused:[/] {refused}", highlight=False)
        return 2
    verb = "would free" if args.dry_run else "freed"
    console.print(allocation_table(orphans, f"{verb} {len(orphans)} orphan allocation(s) of {stacks.env_name}"))
    if not args.dry_run:
        held = env_allocations(store, stacks.env_name)
        console.print(capacity_table(capacity(stacks.environment, held), f"capacity {stacks.env_name}"))
    return 0


def cmd_list(_args: argparse.Namespace, _stacks: TenantStacks, tenants: Declared) -> int:
    specs = tenants.all()
    table = Table(title=f"declared tenants ({tenants.files.directory})", title_justify="left")
    for column in ("tenant", "name", "plan", "region", "servers", "organization", "owner"):
        table.add_column(column)
    for spec in specs.values():
        table.add_row(
            spec.slug,
            spec.display_name,
            spec.plan,
            spec.region,
            str(spec.servers),
            spec.dokploy_organization,
            spec.owner,
        )
    console.print(table)
    return 0


def cmd_validate(_args: argparse.Namespace, _stacks: TenantStacks, tenants: Declared) -> int:
    """What ``python -m components.spec`` does: every file checked against the environment; exit 1 on a problem."""
    try:
        specs = tenants.all()
    except SpecErrors as exc:
        for error in exc.errors:
            console.print(str(error), highlight=False, markup=False)
        return 1
    for spec in specs.values():
        console.print(
            f"ok {spec.source}: {spec.slug} plan={spec.plan} region={spec.region} servers={spec.servers}",
            highlight=False,
            markup=False,
        )
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cloudctl", description="Operate tenant stacks of a Dokploy Cloud environment.")
    ap.add_argument(
        "--env", default=os.environ.get("DOKPLOY_CLOUD_ENV", "local"), help="environment (stack file Pulumi.<env>.yaml)"
    )
    ap.add_argument("--tenants-dir", type=Path, help="tenant files (default: tenants/)")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "apply tenants"),
        ("preview", "show what up would change"),
        ("refresh", "read actual state and record drift"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("slugs", nargs="*", help="tenants (default: every declared tenant)")
        p.add_argument("--parallel", type=int, default=4, help="stacks applied at once (default 4)")
    p = sub.add_parser("destroy", help="decommission one tenant and remove its stack")
    p.add_argument("slug")
    p.add_argument("--yes", action="store_true", help="confirm")
    p = sub.add_parser("recover", help="clear what a killed run left behind on one tenant's stack")
    p.add_argument("slug")
    p.add_argument("--dry-run", action="store_true", help="report what recovery would do; change nothing")
    p = sub.add_parser("status", help="fleet table")
    p.add_argument("slugs", nargs="*")
    sub.add_parser("list", help="declared tenants")
    sub.add_parser("revoke-keys", help="revoke per-run Dokploy keys left by failed revokes or killed runs")
    p = sub.add_parser("allocations", help="VM ids and addresses held, and freeing those no tenant stack records")
    p.add_argument("action", choices=("list", "free-orphans"))
    p.add_argument("--dry-run", action="store_true", help="free-orphans: print what would be freed, change nothing")
    p = sub.add_parser(
        "drain", help="mark a node unschedulable and migrate its tenants' VMs away, one tenant at a time"
    )
    p.add_argument("node")
    p.add_argument("--region", help="the node's region, when several have a node of that name")
    p.add_argument("--reason", default="drained by an operator", help="shown by status and in the audit trail")
    p.add_argument("--yes", action="store_true", help="confirm")
    p = sub.add_parser("undrain", help="let new VMs land on a drained node again (moved VMs stay)")
    p.add_argument("node")
    p.add_argument("--region")
    p = sub.add_parser("warm-pool", help="VMs kept booted and set up for instant signups: status, fill, empty")
    p.add_argument("action", nargs="?", choices=("status", "fill", "empty"), default="status")
    p.add_argument("--region", help="one region (default: every region with a warm pool)")
    p = sub.add_parser("validate", help="check tenant files against the environment; change nothing")
    p.add_argument("directory", nargs="?", type=Path, help="tenant files (default: --tenants-dir, else tenants/)")
    cloudctl_backups.add_parsers(sub)
    cloudctl_reconcile.add_parsers(sub)
    cloudctl_keys.add_parsers(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.env == "local":
        adopted = adopt_running_demo(os.environ)
        if adopted:
            console.print(
                f"using the running demo's state: {', '.join(sorted(adopted))} from {handoff.HANDOFF_FILE}",
                highlight=False,
            )
    try:
        stacks = TenantStacks(args.env)
        directory = getattr(args, "directory", None) or args.tenants_dir or PROJECT_DIR / "tenants"
        tenants = Declared(TenantFiles(directory, stacks.environment))
        if args.command in ("up", "preview", "refresh", "destroy", "recover", "restore", "undelete", "rotate-keys"):
            problems = service_namespace_problems(stacks, tenants)
            if problems:
                for line in problems:
                    console.print(f"[red]{line}[/]", highlight=False)
                return 2
        if args.command in cloudctl_reconcile.COMMANDS:
            return cloudctl_reconcile.run(args, stacks, tenants.files.directory, console)
        if args.command in cloudctl_keys.COMMANDS:
            return cloudctl_keys.run(args, stacks, tenants.pick(getattr(args, "slugs", [])), console)
        if args.command in cloudctl_backups.COMMANDS:
            return cloudctl_backups.run(args, stacks, tenants.files, console)
        handler = {
            "up": cmd_run,
            "preview": cmd_run,
            "refresh": cmd_run,
            "destroy": cmd_destroy,
            "recover": cmd_recover,
            "status": cmd_status,
            "list": cmd_list,
            "revoke-keys": cmd_revoke_keys,
            "allocations": cmd_allocations,
            "validate": cmd_validate,
            "drain": cmd_drain,
            "warm-pool": cmd_warm_pool,
            "undrain": cmd_drain,
        }[args.command]
        return handler(args, stacks, tenants)
    except SpecErrors as errors:
        console.print(f"[red]{errors}[/]", highlight=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
