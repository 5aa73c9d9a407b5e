"""cloudctl's fleet commands: reconcile the four inventories, fix one class, read the audit trail.

scripts/cloudctl [--env ENV] reconcile [--json]               report every difference (exit 0 in sync,
                                                              1 findings, 2 an inventory could not be read)
scripts/cloudctl [--env ENV] reconcile --fix CLASS            apply CLASS's documented action, then report again
scripts/cloudctl [--env ENV] reconcile --classes              what each class means and what --fix does
scripts/cloudctl [--env ENV] audit [--tenant T] [--action A] [--json]
                                                              the audit trail, newest first
scripts/cloudctl [--env ENV] audit verify                     recompute the hash chain (exit 1: a record was
                                                              modified, removed or reordered)
scripts/cloudctl [--env ENV] audit export [--since-id N]      every record, oldest first, as JSON lines
scripts/cloudctl [--env ENV] audit prune --older-than-days D  apply the retention period (recorded, and anchored)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from provisioning.fleet_db import default_actor, fleet_database
from provisioning.reconcile import CLASSES, Report, reconcile
from provisioning.reconcile.fixes import FixOutcome, FixRefused, apply_fixes, check_class
from provisioning.reconcile.inventory import load_declarations
from provisioning.stacks import TenantStacks
from storage.tenants import service_database_url

COMMANDS = ("reconcile", "audit")


def add_parsers(sub: Any) -> None:
    """Register the fleet subcommands on cloudctl's subparsers."""
    p = sub.add_parser("reconcile", help="compare stacks, Proxmox, Dokploy and DNS; report (or --fix one class)")
    p.add_argument("--json", action="store_true", help="print the report as JSON (for machines)")
    p.add_argument("--fix", metavar="CLASS", help="apply this class's documented action, then report again")
    p.add_argument("--classes", action="store_true", help="list the finding classes and their fixes")
    p = sub.add_parser("audit", help="the audit trail of fleet-changing actions: list, verify, export, prune")
    p.add_argument("verb", nargs="?", choices=("list", "verify", "export", "prune"), default="list")
    p.add_argument("--since-id", type=int, default=0, help="export: records after this id")
    p.add_argument("--older-than-days", type=float, help="prune: the retention period")
    p.add_argument("--tenant")
    p.add_argument("--action", help="action prefix, e.g. reconcile.fix")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="JSON lines")


def run(args: argparse.Namespace, stacks: TenantStacks, tenants_dir: Path, console: Console) -> int:
    """Run one fleet subcommand."""
    if args.command == "audit":
        return _audit(args, stacks, console)
    if args.classes:
        console.print(classes_table())
        return 0
    if args.fix:
        try:
            check_class(args.fix)
        except FixRefused as exc:
            console.print(f"[red]{exc}[/]", highlight=False)
            return 2
    service_db = service_database_url(stacks.env_name)
    database = fleet_database(stacks)
    report = reconcile(stacks, tenants_dir, service_database=service_db)
    database.save_report(report.to_json())
    if not args.fix:
        _show(report, args.json, console)
        return report.exit_status()
    console.print(report_table(report, f"reconcile {stacks.env_name} before --fix {args.fix}"))
    declared = {
        slug: spec for slug, (spec, _src) in load_declarations(stacks.environment, tenants_dir, service_db)[0].items()
    }
    outcomes = apply_fixes(
        stacks,
        report,
        args.fix,
        declared,
        database,
        actor=default_actor(),
        progress=lambda line: console.print(f"[dim]{time.strftime('%H:%M:%S')} {line}[/]", highlight=False),
    )
    console.print(fix_table(outcomes, f"--fix {args.fix}: {len(outcomes)} finding(s)"))
    after = reconcile(stacks, tenants_dir, service_database=service_db)
    database.save_report(after.to_json())
    _show(after, args.json, console, title=f"reconcile {stacks.env_name} after --fix {args.fix}")
    failed = any(o.outcome == "failed" for o in outcomes)
    return 1 if failed else after.exit_status()


def _show(report: Report, as_json: bool, console: Console, title: str | None = None) -> None:
    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
        return
    console.print(tenant_table(report, title or f"reconcile {report.env}"))
    if report.findings:
        console.print(report_table(report, f"{len(report.findings)} finding(s)"))
    for error in report.errors:
        console.print(f"[red]not read:[/] {error}", highlight=False, markup=True)
    if report.in_sync:
        console.print(f"[green]in sync[/]: {_counts(report)} ({report.seconds:.1f} s)", highlight=False)


def _counts(report: Report) -> str:
    return ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in report.counts.items())


def tenant_table(report: Report, title: str) -> Table:
    """One row per tenant (declared or with a stack) and its verdict."""
    table = Table(title=title, title_justify="left")
    table.add_column("tenant")
    table.add_column("verdict")
    for slug, verdict in report.tenants.items():
        style = "green" if verdict == "in sync" else "yellow" if verdict == "update running" else "red"
        table.add_row(slug, f"[{style}]{verdict}[/]")
    return table


def report_table(report: Report, title: str) -> Table:
    """One row per finding: class, tenant, subject, detail, whether --fix would act."""
    table = Table(title=title, title_justify="left")
    for column in ("class", "tenant", "subject", "detail", "--fix acts"):
        table.add_column(column)
    for f in report.findings:
        table.add_row(f.cls, f.tenant or "-", f.subject, f.detail, "yes" if f.fixable else "no")
    return table


def fix_table(outcomes: list[FixOutcome], title: str) -> Table:
    """What each fix did."""
    table = Table(title=title, title_justify="left")
    for column in ("tenant", "subject", "outcome", "detail"):
        table.add_column(column)
    for o in outcomes:
        style = {"fixed": "green", "failed": "red"}.get(o.outcome, "yellow")
        table.add_row(o.finding.tenant or "-", o.finding.subject, f"[{style}]{o.outcome}[/]", o.detail)
    return table


def classes_table() -> Table:
    """Every finding class, what it means and what --fix does."""
    table = Table(title="finding classes", title_justify="left")
    for column in ("class", "meaning", "--fix"):
        table.add_column(column)
    for c in CLASSES.values():
        table.add_row(c.name, c.meaning, c.fix or "report only")
    return table


def _audit(args: argparse.Namespace, stacks: TenantStacks, console: Console) -> int:
    database = fleet_database(stacks)
    if args.verb == "verify":
        result = database.verify_chain()
        if result.ok:
            console.print(
                f"audit trail of {stacks.env_name}: {result.checked} records, chain intact; head {result.head}"
            )
            return 0
        broken = result.broken
        assert broken is not None
        console.print(
            f"[red]audit trail of {stacks.env_name}: record {broken.record_id} {broken.reason}; "
            f"{result.checked} records before it verified[/]",
            highlight=False,
        )
        return 1
    if args.verb == "export":
        for event in database.chain(args.since_id):
            print(json.dumps(event.to_json(), sort_keys=True))
        return 0
    if args.verb == "prune":
        if args.older_than_days is None or args.older_than_days < 1:
            console.print("[red]audit prune needs --older-than-days D (at least 1)[/]", highlight=False)
            return 2
        removed = database.prune(args.older_than_days, default_actor())
        console.print(f"removed {removed} records older than {args.older_than_days:g} days", highlight=False)
        return 0
    events = database.events(tenant=args.tenant, action=args.action, limit=args.limit)
    if args.json:
        for event in events:
            print(json.dumps(event.to_json(), sort_keys=True))
        return 0
    table = Table(title=f"audit trail of {stacks.env_name}", title_justify="left")
    for column in ("when (UTC)", "actor", "action", "tenant", "subject", "outcome", "detail"):
        table.add_column(column)
    for e in events:
        when = dt.datetime.fromtimestamp(e.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, e.actor, e.action, e.tenant or "-", e.subject, e.outcome, e.detail)
    console.print(table)
    return 0
