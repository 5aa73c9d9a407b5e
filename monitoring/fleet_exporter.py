"""The fleet exporter: ``python -m monitoring.fleet_exporter [--env ENV] [--port N] [--interval S]``.

Adds to the Proxmox exporter (``pve_*``) only what it cannot know, all under ``dokploy_cloud_``:

=====================================================  =====================================================
``tenant_info{tenant,plan,region,source,suspended}``   1 per declared tenant
``tenant_server_info{id,tenant,plan,region,server,     1 per allocated server; ``id`` is ``qemu/<vmid>``, the
node}``                                                Proxmox exporter's label, so ``pve_*`` joins on it
``dokploy_server_active{tenant,server}``               1 active, 0 inactive (Dokploy's ``serverStatus``)
``capacity_servers{region,plan}``                      more servers of that plan that fit (committed memory,
                                                       free VM ids and addresses)
``node_memory_committed_ratio{region,node}``           VM memory committed / node memory
``pool_free{region,kind}``                             VM ids / addresses left in the region's pool
``backup_last_timestamp_seconds{tenant}``              newest backup of a tenant whose plan has backups
``reconcile_findings{class}``                          findings of the newest reconcile report
``reconcile_last_run_timestamp_seconds``               when that report was made
``reconcile_inventory_errors``                         inventories it could not read
``exporter_source_up{source}``                         whether the last collection read that source
``exporter_collected_timestamp_seconds``               when the cache was filled
``exporter_dokploy_calls{procedure}``                  Dokploy calls made (counter)
=====================================================  =====================================================

Collection runs in the background every interval (:mod:`monitoring.fleet_sources`); a scrape only renders
the cached families, so it is fast and costs no call to anything.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitoring.fleet_sources import FleetSources, Snapshot
from provisioning.stacks import TenantStacks
from provisioning.toolchain import PROJECT_DIR

PREFIX = "dokploy_cloud_"
log = logging.getLogger("fleet-exporter")


def families(snap: Snapshot, calls: Counter[str]) -> list[Metric]:
    """The metric families of one snapshot (rendered once per collection, served to every scrape)."""
    out: list[Metric] = []
    plans = {t.slug: t.plan for t in snap.tenants}

    def gauge(name: str, text: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
        family = GaugeMetricFamily(PREFIX + name, text, labels=list(labels))
        out.append(family)
        return family

    info = gauge("tenant_info", "A declared tenant", ["tenant", "plan", "region", "source", "suspended"])
    for t in sorted(snap.tenants, key=lambda t: t.slug):
        info.add_metric([t.slug, t.plan, t.region, t.source, str(t.suspended).lower()], 1)
    servers = gauge(
        "tenant_server_info",
        "A tenant server's VM (id joins the Proxmox exporter's pve_* series)",
        ["id", "tenant", "plan", "region", "server", "node"],
    )
    for s in sorted(snap.servers, key=lambda s: (s.slug, s.index)):
        servers.add_metric([f"qemu/{s.vmid}", s.slug, plans.get(s.slug, ""), s.region, str(s.index), s.node], 1)
    active = gauge("dokploy_server_active", "1 when Dokploy marks the tenant's server active", ["tenant", "server"])
    for slug, index, status in sorted(snap.dokploy):
        active.add_metric([slug, str(index)], 1 if status == "active" else 0)
    fit = gauge("capacity_servers", "More servers of the plan that fit in the region", ["region", "plan"])
    for region, plan, count in snap.capacity:
        fit.add_metric([region, plan], count)
    ratio = gauge("node_memory_committed_ratio", "VM memory committed on the node / its memory", ["region", "node"])
    for region, node, committed, total in snap.node_memory:
        ratio.add_metric([region, node], committed / total if total else 0.0)
    pools = gauge("pool_free", "VM ids or addresses left in the region's allocation pool", ["region", "kind"])
    for region, kind, free in snap.pools:
        pools.add_metric([region, kind], free)
    backups = gauge("backup_last_timestamp_seconds", "Unix time of the tenant's newest backup", ["tenant"])
    for t in sorted(snap.tenants, key=lambda t: t.slug):
        if t.backups and t.slug in snap.last_backup:
            backups.add_metric([t.slug], snap.last_backup[t.slug])
    keys = gauge(
        "ssh_key_created_timestamp_seconds", "Unix time the tenant's current SSH key pair was made", ["tenant"]
    )
    for slug, created in sorted(snap.key_created.items()):
        keys.add_metric([slug], created)
    findings = gauge("reconcile_findings", "Findings of the newest reconcile report by class", ["class"])
    if snap.report is not None:
        for cls, count in sorted(snap.report.get("by_class", {}).items()):
            findings.add_metric([cls], count)
        gauge("reconcile_last_run_timestamp_seconds", "When the newest reconcile report was made").add_metric(
            [], float(snap.report["generated_at"])
        )
        gauge("reconcile_inventory_errors", "Inventories the newest reconcile could not read").add_metric(
            [], len(snap.report.get("errors", []))
        )
    up = gauge("exporter_source_up", "1 when the last collection read the source", ["source"])
    for source, ok in sorted(snap.source_up.items()):
        up.add_metric([source], 1 if ok else 0)
    gauge("exporter_collected_timestamp_seconds", "When the exporter last collected").add_metric([], snap.collected_at)
    gauge("exporter_collect_duration_seconds", "How long the last collection took").add_metric([], snap.seconds)
    counted = CounterMetricFamily(PREFIX + "exporter_dokploy_calls", "Dokploy API calls made", labels=["procedure"])
    for procedure, n in sorted(calls.items()):
        counted.add_metric([procedure], n)
    out.append(counted)
    return out


class FleetCollector(Collector):
    """Serves the families of the newest snapshot; :meth:`refresh` replaces them."""

    def __init__(self, sources: FleetSources) -> None:
        self.sources = sources
        self._families: list[Metric] = []
        self._lock = threading.Lock()
        self.snapshot: Snapshot | None = None

    def refresh(self) -> Snapshot:
        snap = self.sources.collect()
        rendered = families(snap, self.sources.keys.calls)
        with self._lock:
            self.snapshot, self._families = snap, rendered
        return snap

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            return list(self._families)


def run_forever(collector: FleetCollector, interval: float, stop: threading.Event) -> None:
    """Refresh now and every ``interval`` seconds until ``stop`` (a failed refresh keeps the old cache)."""
    while not stop.is_set():
        try:
            snap = collector.refresh()
            down = [s for s, ok in snap.source_up.items() if not ok]
            log.info("collected in %.2f s%s", snap.seconds, f"; down: {', '.join(down)}" if down else "")
        except Exception:
            log.exception("collection failed; serving the previous one")
        stop.wait(interval)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m monitoring.fleet_exporter", description=__doc__.split("\n")[0])
    ap.add_argument("--env", default=os.environ.get("DOKPLOY_CLOUD_ENV", "local"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("FLEET_EXPORTER_PORT", "9464")))
    ap.add_argument("--interval", type=float, default=float(os.environ.get("FLEET_EXPORTER_INTERVAL", "60")))
    ap.add_argument("--tenants-dir", type=Path, default=PROJECT_DIR / "tenants")
    args = ap.parse_args(argv)
    from service.logs import configure_logging

    configure_logging("fleet-exporter")
    stacks = TenantStacks(args.env)
    sources = FleetSources(stacks, args.tenants_dir, os.environ.get("SERVICE_DATABASE_URL"))
    collector = FleetCollector(sources)
    registry = CollectorRegistry()
    registry.register(collector)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server, thread = start_http_server(args.port, addr="127.0.0.1", registry=registry)
    log.info("serving http://127.0.0.1:%d/metrics, collecting every %.0f s", args.port, args.interval)
    try:
        run_forever(collector, args.interval, stop)
    except KeyboardInterrupt:
        pass
    finally:
        sources.close()
        server.shutdown()
        thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
