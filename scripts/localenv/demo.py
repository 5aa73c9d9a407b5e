"""The main job on the embedded default: a local cloud, the sample tenants provisioned through the real engine.

    python -m scripts.localenv.demo [--speed fast|realistic|0.1] [--keep] [--observe] [--parallel N]

Every run starts from an empty local cloud and an empty local state (``.state/local-demo``), so it is
repeatable. With ``--keep`` the services stay up (Ctrl-C stops them) and ``scripts/cloudctl --env local``
in another shell finds them by itself (``.state/local-demo/cloud.env``, see :mod:`scripts.localenv.handoff`).
The run ends with a fleet reconcile (stored, as the service's scheduled one is). ``--observe`` also starts the
monitoring (:func:`observe`) and keeps everything running.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from rich.live import Live
from rich.table import Table

from components.naming import PROXMOX_MONITOR_TOKEN_VAR
from monitoring.processes import LoopbackProcess, free_port
from monitoring.pve_exporter import MONITOR_USER, pve_exporter
from monitoring.stack import MonitoringStack, ScrapeTargets, cluster_targets
from provisioning.declarations import TenantFiles
from provisioning.fleet import TenantProgress, run_fleet
from provisioning.fleet_db import fleet_database
from provisioning.reconcile import reconcile
from provisioning.stacks import TenantStacks
from provisioning.status import TenantStatus, fleet_status
from provisioning.toolchain import PROJECT_DIR
from scripts.cloudctl import console, print_failures, progress_table, status_table
from scripts.cloudctl_reconcile import tenant_table
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
    ap.add_argument(
        "--observe",
        action="store_true",
        help="also start the fleet exporter, prometheus-pve-exporter, Prometheus and Alertmanager (implies --keep)",
    )
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
    monitor_token = f"{MONITOR_USER}!demo={uuid.uuid4()}" if args.observe else None
    with LocalCloud(
        stacks.environment,
        stacks.secrets(),
        specs,
        speed=args.speed,
        setup_seconds=args.setup_seconds,
        monitor_token=monitor_token,
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
        report = reconcile(stacks, PROJECT_DIR / "tenants")
        fleet_database(stacks).save_report(report.to_json())
        console.print(tenant_table(report, "reconcile local"))
        verdict = "in sync" if report.in_sync else f"{len(report.findings)} finding(s), {len(report.errors)} error(s)"
        console.print(f"reconcile: {verdict} ({report.seconds:.1f} s); `scripts/cloudctl reconcile` repeats it")
        if args.observe and monitor_token:
            with observe(stacks, monitor_token):
                keep_running()
        elif args.keep:
            keep_running()
    return 0 if ok else 1


@contextlib.contextmanager
def observe(stacks: TenantStacks, monitor_token: str) -> Iterator[None]:
    """The fleet exporter and the Proxmox exporter as processes, Prometheus and Alertmanager from Debian, all on
    loopback (data and logs in ``.state/local-demo/monitoring``); print where to look."""
    root = DEMO_STATE / "monitoring"
    fleet_port, pve_port = free_port(), free_port()
    clusters = cluster_targets(stacks.environment)
    env = {**os.environ, **stacks.secrets(), PROXMOX_MONITOR_TOKEN_VAR: monitor_token, "PYTHONPATH": str(PROJECT_DIR)}
    fleet = LoopbackProcess(
        "fleet-exporter",
        [sys.executable, "-m", "monitoring.fleet_exporter", "--port", str(fleet_port), "--interval", "15"],
        f"http://127.0.0.1:{fleet_port}/metrics",
        root / "fleet-exporter.log",
        env,
    )
    pve = pve_exporter(pve_port, monitor_token, root / "pve-exporter.log")
    stack = MonitoringStack(
        root, ScrapeTargets(None, f"127.0.0.1:{fleet_port}", f"127.0.0.1:{pve_port}", clusters), interval="5s"
    )
    started: list[Any] = []
    try:
        for process in (fleet, pve, stack):
            started.append(process.start())
        console.print("monitoring running:", highlight=False)
        for what, where in (
            ("Prometheus (alerts, graphs)", f"{stack.prometheus_url}/alerts"),
            ("Alertmanager", stack.alertmanager_url),
            ("fleet exporter", f"http://127.0.0.1:{fleet_port}/metrics"),
            ("Proxmox exporter", f"http://127.0.0.1:{pve_port}/pve?target={next(iter(clusters.values()))}"),
            ("Grafana dashboards to import", str(PROJECT_DIR / "monitoring" / "dashboards")),
            ("logs", str(root)),
        ):
            console.print(f"  {what}: {where}", highlight=False, soft_wrap=True)
        yield
    finally:
        for process in reversed(started):
            process.stop()


if __name__ == "__main__":
    sys.exit(main())
