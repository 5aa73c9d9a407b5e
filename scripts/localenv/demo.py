"""The main job on the embedded default: a local cloud, the sample tenants provisioned through the real engine.

    python -m scripts.localenv.demo [--speed fast|realistic|0.1] [--keep] [--parallel N]

Every run starts from an empty local cloud and an empty local state (``.state/local-demo``), so it is
repeatable. With ``--keep`` the services stay up (Ctrl-C stops them) and ``scripts/cloudctl --env local``
in another shell finds them by itself (``.state/local-demo/cloud.env``, see :mod:`scripts.localenv.handoff`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time

from rich.live import Live
from rich.table import Table

from provisioning.declarations import TenantFiles
from provisioning.fleet import TenantProgress, run_fleet
from provisioning.stacks import TenantStacks
from provisioning.status import TenantStatus, fleet_status
from provisioning.toolchain import PROJECT_DIR
from scripts.cloudctl import console, print_failures, progress_table, status_table
from scripts.localenv.cloud import LocalCloud, PortInUse, check_ports
from scripts.localenv.handoff import (
    DEMO_STATE,
    LOCAL_PASSPHRASE,
    demo_settings,
    remove_handoff,
    shell_commands,
    write_handoff,
)
from storage.private_files import private_dir


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    ap.add_argument("--speed", default="fast", help="Proxmox task durations: fast, realistic or a multiplier")
    ap.add_argument("--setup-seconds", type=float, default=0.0, help="how long Dokploy's server.setup takes")
    ap.add_argument("--parallel", type=int, default=3, help="tenant stacks applied at once")
    ap.add_argument("--keep", action="store_true", help="leave the local cloud running until Ctrl-C")
    return ap.parse_args(argv)


def fresh_state() -> None:
    """Empty backend and allocations for the demo environment."""
    shutil.rmtree(DEMO_STATE, ignore_errors=True)
    private_dir(DEMO_STATE / "backend")
    os.environ["PULUMI_BACKEND_URL"] = f"file://{DEMO_STATE / 'backend'}"
    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE)
    os.environ["ALLOCATIONS_DB"] = str(DEMO_STATE / "allocations.sqlite")


def summary_table(rows: list[TenantProgress], statuses: list[TenantStatus]) -> Table:
    """Signup-to-ready per tenant next to where it landed."""
    table = Table(title="signup to ready", title_justify="left")
    for column in ("tenant", "servers", "result", "signup→ready (s)"):
        table.add_column(column)
    for row, status in zip(rows, statuses, strict=True):
        table.add_row(row.slug, str(len(status.hostnames)), row.state, f"{row.elapsed:.1f}")
    return table


def keep_running() -> None:
    """Until Ctrl-C or SIGTERM: publish how to reach this cloud, print the commands, wait, then withdraw them."""
    settings = demo_settings(os.environ)
    path = write_handoff(settings, os.getpid())
    console.print("local cloud running; Ctrl-C stops it. From another shell in this directory:", highlight=False)
    for line in shell_commands(settings, path):
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)  # copyable: never wrapped
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        remove_handoff(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stacks = TenantStacks("local")
    try:
        check_ports(stacks.environment)  # before fresh_state: a running demo's state is not wiped
    except PortInUse as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        return 2
    fresh_state()
    specs = TenantFiles(PROJECT_DIR / "tenants", stacks.environment).load_all()
    tenants = [spec for _, spec in sorted(specs.items())]
    console.print(f"starting the local cloud: {len(stacks.environment.regions)} Proxmox clusters, Dokploy, PowerDNS")
    with LocalCloud(
        stacks.environment, stacks.secrets(), specs, speed=args.speed, setup_seconds=args.setup_seconds
    ) as cloud:
        started = time.monotonic()
        title = f"up local: {len(specs)} tenants, {args.parallel} at a time"
        with Live(console=console, refresh_per_second=4) as live:
            rows = run_fleet(
                stacks, tenants, "up", args.parallel, on_update=lambda r: live.update(progress_table(r, title))
            )
            live.update(progress_table(rows, title))
        print_failures(rows)
        statuses = fleet_status(stacks, tenants)
        console.print(status_table(statuses, "fleet local"))
        console.print(summary_table(rows, statuses))
        console.print(
            f"{len(specs)} tenants in {time.monotonic() - started:.1f}s; DNS answers on "
            f"127.0.0.1:{cloud.pdns.dns_port if cloud.pdns else '-'}"
        )
        ok = all(r.state == "ok" for r in rows)
        if args.keep:
            keep_running()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
