"""cloudctl's backup commands: back up, list, protect, restore, archives, purge and undelete.

scripts/cloudctl [--env ENV] backup SLUG [--server N]         back up all servers (or one) now
scripts/cloudctl [--env ENV] backups SLUG                     the tenant's backups and archives, across storages
scripts/cloudctl [--env ENV] protect SLUG VOLID [--off]       keep a backup from pruning and deletion
scripts/cloudctl [--env ENV] restore SLUG VOLID --server N [--stop]
                                                              restore a server from a backup (in place when
                                                              the backup is its own; --stop stops it first)
scripts/cloudctl [--env ENV] archives [SLUG]                  decommissioned tenants' archives and their dates
scripts/cloudctl [--env ENV] purge-archives [--dry-run]       remove archives past their delete-after date
scripts/cloudctl [--env ENV] undelete SLUG                    bring an archived tenant back (same slug, plan,
                                                              hostnames, data) within its window
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from components.spec import TenantSpec, dump_tenant
from provisioning.archive import Archive, undelete_declaration
from provisioning.backups import BackupVolume
from provisioning.declarations import TenantFiles
from provisioning.stacks import TenantStacks
from provisioning.tenant_backups import FAILURES, RestoreReport, TenantBackups

COMMANDS = ("backup", "backups", "protect", "restore", "archives", "purge-archives", "undelete")


def add_parsers(sub: Any) -> None:
    """Register the backup subcommands on cloudctl's subparsers."""
    p = sub.add_parser("backup", help="back up a tenant's servers now")
    p.add_argument("slug")
    p.add_argument("--server", type=int, help="only this server (index from 0)")
    p = sub.add_parser("backups", help="a tenant's backups across its storages")
    p.add_argument("slug")
    p = sub.add_parser("protect", help="protect a backup from pruning and deletion")
    p.add_argument("slug")
    p.add_argument("volid")
    p.add_argument("--off", action="store_true", help="lift the protection")
    p = sub.add_parser("restore", help="restore a tenant server from one of its backups")
    p.add_argument("slug")
    p.add_argument("volid")
    p.add_argument("--server", type=int, required=True, help="the server to restore into (index from 0)")
    p.add_argument("--stop", action="store_true", help="stop the server first if it runs (its newer data is lost)")
    p = sub.add_parser("archives", help="decommissioned tenants' final backups and their delete-after dates")
    p.add_argument("slug", nargs="?")
    p = sub.add_parser("purge-archives", help="remove archives past their delete-after date")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed; change nothing")
    p = sub.add_parser("undelete", help="bring an archived tenant back within its window")
    p.add_argument("slug")


def run(args: argparse.Namespace, stacks: TenantStacks, files: TenantFiles, console: Console) -> int:
    """Run one backup subcommand; failures are printed with what to do, exit status 1."""
    backups = TenantBackups(stacks)

    def progress(line: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')} {line}[/]", highlight=False)

    try:
        if args.command == "backup":
            tenant = files.load(args.slug)
            made = backups.backup(tenant, args.server, on_progress=progress)
            console.print(backup_table(made, f"new backups of {args.slug}", _indexes(backups, tenant)))
        elif args.command == "backups":
            tenant = files.load(args.slug)
            console.print(backup_table(backups.backups(tenant), f"backups of {args.slug}", _indexes(backups, tenant)))
        elif args.command == "protect":
            changed = backups.protect(files.load(args.slug), args.volid, not args.off)
            console.print(backup_table([changed], f"{args.volid} {'unprotected' if args.off else 'protected'}"))
        elif args.command == "restore":
            report = backups.restore(
                files.load(args.slug), args.volid, args.server, stop=args.stop, on_progress=progress
            )
            console.print(restore_table(report, f"restore of {args.slug}"))
        elif args.command == "archives":
            console.print(archive_table(backups.archives(args.slug), f"archives of {stacks.env_name}"))
        elif args.command == "purge-archives":
            removed = backups.purge(dry_run=args.dry_run)
            verb = "would remove" if args.dry_run else "removed"
            console.print(archive_table(removed, f"{verb} {len(removed)} archive(s) past their date"))
        elif args.command == "undelete":
            return _undelete(args.slug, backups, files, console, progress)
    except FAILURES as exc:
        console.print(f"[red]{args.command} failed:[/] {exc}", highlight=False)
        return 1
    return 0


def _undelete(slug: str, backups: TenantBackups, files: TenantFiles, console: Console, progress: Any) -> int:
    """Re-declare the tenant from its archives when its file is gone, then undelete it."""
    path = files.directory / f"{slug}.yaml"
    if path.exists():
        tenant: TenantSpec = files.load(slug)
    else:
        tenant = undelete_declaration(backups.archives(slug), backups.environment)
        path.write_text(dump_tenant(tenant), encoding="utf-8")
        console.print(f"re-declared {slug} from its archive in {path}: commit it", highlight=False)
    report = backups.undelete(tenant, on_progress=progress)
    console.print(restore_table(report, f"undelete of {slug}"))
    return 0


def _indexes(backups: TenantBackups, tenant: TenantSpec) -> dict[int, int]:
    """VM id -> server index of the tenant's current servers."""
    return {s.vmid: s.index for s in backups.servers(tenant)}


def _size(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"


def _when(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")


def backup_table(rows: Sequence[BackupVolume], title: str, servers: dict[int, int] | None = None) -> Table:
    """One backup per row: server, VM, time, size, kind, protection, volume and notes."""
    servers = servers or {}
    table = Table(title=title, title_justify="left")
    for column in ("server", "vm id", "taken (UTC)", "size", "kind", "prot."):
        table.add_column(column, no_wrap=True)
    table.add_column("volume", no_wrap=True)
    table.add_column("notes", overflow="fold")
    for b in rows:
        server = servers.get(b.vmid) if b.vmid is not None else None
        table.add_row(
            "-" if server is None else str(server),
            str(b.vmid or "-"),
            _when(b.ctime),
            _size(b.size),
            b.kind,
            "yes" if b.protected else "",
            b.volid,
            b.notes.splitlines()[0] if b.notes else "",
        )
    return table


def archive_table(rows: Sequence[Archive], title: str) -> Table:
    """One archive per row: tenant, server, hostname, VM id, day taken, size, kept until, volume."""
    table = Table(title=title, title_justify="left")
    for column in ("tenant", "server", "hostname", "vm id", "taken", "size", "delete after", "volume"):
        table.add_column(column, no_wrap=True)
    for a in rows:
        taken = _when(a.ctime)[:10]
        table.add_row(a.slug, str(a.server), a.hostname, str(a.vmid), taken, _size(a.size), a.delete_after, a.volid)
    return table


def restore_table(report: RestoreReport, title: str) -> Table:
    """What a restore or undelete did, server by server, and the stack run after it."""
    table = Table(title=title, title_justify="left")
    for column in ("server", "vm id", "from", "how"):
        table.add_column(column, no_wrap=True)
    for r in report.restored:
        table.add_row(
            str(r["server"]), str(r["vmid"]), r["from"], "in place" if r["in_place"] else "restored, re-applied"
        )
    if not report.restored:
        table.add_row("-", "-", "-", "nothing to restore")
    if report.applied is not None:
        changes = ", ".join(f"{n} {op}" for op, n in sorted(report.applied.changes.items()) if op != "same")
        table.caption = f"stack applied: {changes or 'no changes'}"
    return table


__all__ = ["COMMANDS", "add_parsers", "run"]
