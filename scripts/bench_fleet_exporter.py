"""Benchmark: the fleet exporter with many tenants across both clusters.

    .venv/bin/python -m scripts.bench_fleet_exporter [--tenants 500] [--intervals 3] [--scrapes 200]

A fresh local cloud (least-privilege tokens, as production runs: the provisioning token and a read-only
PVEAuditor token) with ``--tenants`` tenants declared in files, split over both regions, each with one
allocated server (two for business tenants) and its Dokploy server registered in its own organisation.
Measured: one collection (all sources), the Dokploy calls it makes per organisation (counted by the Dokploy
simulator, server side), and scrapes of the exporter's HTTP endpoint served from its cache. Figures depend on
the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from rich.console import Console
from rich.table import Table

from components.naming import PROXMOX_MONITOR_TOKEN_VAR, allocation_owner, allocation_pool, server_marker
from ipam.store import PoolSpec, open_store
from monitoring.fleet_exporter import FleetCollector
from monitoring.fleet_sources import FleetSources
from monitoring.processes import free_port
from monitoring.pve_exporter import MONITOR_USER
from providers.dokploy_server_rules import tag
from scripts.bench_env import CREDENTIALS, isolated_stacks
from scripts.localenv.cloud import LocalCloud
from sim.dokploy.entities import Server, iso

console = Console(width=120)


def declare(root: Path, count: int) -> None:
    """``count`` tenant files: every third on the business plan (two servers), alternating regions."""
    (root / "tenants").mkdir()
    for n in range(count):
        slug = f"t{n:04d}"
        plan, servers = ("business", 2) if n % 3 == 0 else ("starter", 1)
        region = "pve-eu1" if n % 2 == 0 else "pve-us1"
        (root / "tenants" / f"{slug}.yaml").write_text(
            f"slug: {slug}\ndisplay_name: Tenant {n}\nplan: {plan}\nregion: {region}\n"
            f"dokploy_organization: org_{slug}\nowner: ops@{slug}.example\nservers: {servers}\n"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tenants", type=int, default=500)
    ap.add_argument("--intervals", type=int, default=3, help="collections measured (the first mints keys)")
    ap.add_argument("--scrapes", type=int, default=200)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-exporter-"))
    declare(root, args.tenants)
    stacks, specs = isolated_stacks(root)
    monitor = f"{MONITOR_USER}!bench={uuid.uuid4()}"
    os.environ[PROXMOX_MONITOR_TOKEN_VAR] = monitor
    env = stacks.environment
    console.print(f"seeding {len(specs)} tenants (allocations and Dokploy servers) ...")
    with LocalCloud(env, CREDENTIALS, specs, node_mem_gib=4096, monitor_token=monitor) as cloud:
        store = open_store(stacks.allocations_location())
        assert cloud.dokploy is not None
        dokploy = cloud.dokploy[0]
        servers = 0
        for spec in specs.values():
            region = env.regions[spec.region]
            pool = PoolSpec(region.vmid_start, region.vmid_end, region.network, region.gateway, region.reserved)
            for index in range(spec.servers):
                node = region.nodes[(index + len(spec.slug)) % len(region.nodes)]
                made = store.allocate(
                    allocation_pool(env.name, region.name), allocation_owner(spec.slug, index), pool, node
                )
                marker = tag(server_marker(env.name, spec.slug, index, "bench"))
                with dokploy.lock:
                    server_id = f"srv{spec.slug}{index}"
                    dokploy.servers[server_id] = Server(
                        server_id,
                        f"{spec.slug}-{index + 1}",
                        f"bench {marker}",
                        made.address.split("/")[0],
                        22,
                        env.vm_user,
                        f"app-{server_id}",
                        spec.dokploy_organization,
                        iso(time.time()),
                        None,
                    )
                servers += 1
        sources = FleetSources(stacks, root / "tenants")
        collector = FleetCollector(sources)
        collections = []
        calls_per_interval = []
        for _ in range(args.intervals):
            before = Counter(dokploy.served)
            started = time.monotonic()
            snap = collector.refresh()
            collections.append(time.monotonic() - started)
            after = Counter(dokploy.served)
            calls = after - before
            calls_per_interval.append(calls)
            down = [s for s, ok in snap.source_up.items() if not ok]
            if down:
                raise SystemExit(f"sources down: {down}")
        registry = CollectorRegistry()
        registry.register(collector)
        port = free_port()
        server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        url = f"http://127.0.0.1:{port}/metrics"
        urllib.request.urlopen(url, timeout=10).read()  # warm
        before = Counter(dokploy.served)
        timings, size = [], 0
        for _ in range(args.scrapes):
            started = time.perf_counter()
            size = len(urllib.request.urlopen(url, timeout=10).read())
            timings.append((time.perf_counter() - started) * 1000)
        scrape_calls = sum((Counter(dokploy.served) - before).values())
        server.shutdown()
        thread.join(timeout=5)
        sources.close()

    orgs = len({s.dokploy_organization for s in specs.values()})
    table = Table(title=f"fleet exporter: {len(specs)} tenants, {servers} servers, 2 clusters, {orgs} organisations")
    for column in ("measure", "value"):
        table.add_column(column)
    table.add_row("collection, first (mints one key per organisation)", f"{collections[0]:.2f} s")
    if len(collections) > 1:
        table.add_row("collection, later (median)", f"{statistics.median(collections[1:]):.2f} s")
    for n, calls in enumerate(calls_per_interval, start=1):
        per_org = Counter(org for (_proc, org), count in calls.items() for _ in range(count) if org.startswith("org_t"))
        listing = sum(c for (proc, _org), c in calls.items() if proc == "server.all")
        table.add_row(
            f"interval {n}: Dokploy calls",
            f"{sum(calls.values())} ({listing} server.all; max per organisation {max(per_org.values(), default=0)})",
        )
    table.add_row(
        "scrape p50 / p95 / max (from cache)",
        f"{statistics.median(timings):.1f} / {statistics.quantiles(timings, n=20)[18]:.1f} / {max(timings):.1f} ms",
    )
    table.add_row("scrape size", f"{size / 1024:.0f} KiB")
    table.add_row("Dokploy calls made by scrapes", str(scrape_calls))
    console.print(table)


if __name__ == "__main__":
    main()
