"""Benchmark: backup, restore and archive+destroy per server, with realistic Proxmox task durations.

    .venv/bin/python -m scripts.bench_backups [--servers 3] [--speed 1.0]

A fresh local cloud (least-privilege token, as production runs) with one business tenant of ``--servers``
servers; the simulator's task durations are PVE's realistic ones times ``--speed`` (vzdump 10 s per VM,
qmrestore 8 s, stop 0.5 s, start 1.5 s, clone 2 s, the guest agent 20 s after a start, which the undelete's
stack runs wait for). Reported per server: an on-demand backup, an in-place restore (stop, qmrestore, start), and
the decommission (a final backup of each server, then the destroy), plus an undelete of the whole tenant.
Figures depend on the machine, its load and the simulated durations; they measure our orchestration around
Proxmox's tasks, not Proxmox itself.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from provisioning.tenant_backups import TenantBackups
from scripts.bench_env import CREDENTIALS, isolated_stacks
from scripts.localenv.cloud import LocalCloud

console = Console(width=120)
SLUG = "benchdata"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, default=3, help="servers of the tenant (business plan: at most 3)")
    ap.add_argument("--speed", type=float, default=1.0, help="scale of PVE's realistic task durations")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-backups-"))
    (root / "tenants").mkdir()
    (root / "tenants" / f"{SLUG}.yaml").write_text(
        f"slug: {SLUG}\ndisplay_name: Bench Data\nplan: business\nregion: pve-eu1\n"
        f"dokploy_organization: org_{SLUG}\nowner: ops@{SLUG}.example\nservers: {args.servers}\n"
    )
    stacks, specs = isolated_stacks(root)
    tenant = specs[SLUG]
    backups = TenantBackups(stacks)
    rows: list[tuple[str, float, int]] = []
    with LocalCloud(stacks.environment, CREDENTIALS, specs, node_mem_gib=1024) as cloud:
        console.print(f"provisioning {SLUG} ({args.servers} servers, tasks at zero duration) ...")
        created = stacks.run(tenant, "up")
        if not created.ok:
            raise SystemExit(f"up failed: {created.error}")
        for sim, _server in cloud.proxmox.values():
            sim.backend.settings.durations.set_speed(args.speed)

        def timed(what: str, servers: int, action: object) -> None:
            console.print(f"{what} ...")
            started = time.monotonic()
            action()  # type: ignore[operator]
            rows.append((what, time.monotonic() - started, servers))

        made: list[object] = []
        timed("backup (snapshot mode, all servers)", args.servers, lambda: made.extend(backups.backup(tenant)))
        first = backups.backups(tenant)[0]
        timed(
            "restore in place (stop, qmrestore, start)", 1, lambda: backups.restore(tenant, first.volid, 0, stop=True)
        )
        timed("decommission: archive + destroy", args.servers, lambda: _check(stacks.run(tenant, "destroy")))
        timed("undelete (up, restores, up)", args.servers, lambda: backups.undelete(tenant))
        _check(stacks.run(tenant, "destroy"))
    table = Table(title=f"backup benchmark: {args.servers} servers, task durations x{args.speed}", title_justify="left")
    for column in ("operation", "servers", "wall s", "per server s"):
        table.add_column(column, justify="right" if column != "operation" else "left")
    for what, seconds, servers in rows:
        table.add_row(what, str(servers), f"{seconds:.1f}", f"{seconds / servers:.1f}")
    console.print(table)
    console.print("Machine-dependent; simulated Proxmox task durations, real engine and orchestration.")


def _check(result: object) -> None:
    if not getattr(result, "ok", False):
        raise SystemExit(f"run failed: {getattr(result, 'error', '?')}")


if __name__ == "__main__":
    main()
