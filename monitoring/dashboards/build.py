"""The Grafana dashboards, as code: ``python -m monitoring.dashboards.build`` writes ``*.json`` beside this file.

Four dashboards (fleet overview, one tenant, the provisioning pipeline, capacity), each panel one PromQL
query over the series of the service (``service_*``), the fleet exporter (``dokploy_cloud_*``) and
prometheus-pve-exporter (``pve_*``). Import the JSON files into Grafana (Dashboards → Import) with a
Prometheus data source; ``tests/monitoring/test_dashboards.py`` checks the files match this builder, and the
monitoring e2e runs every panel's query against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
TENANT_JOIN = 'on(id) group_left(tenant, server) dokploy_cloud_tenant_server_info{tenant="$tenant"}'


def panel(
    title: str, expr: str, *, kind: str = "timeseries", legend: str = "", unit: str = "", w: int = 12
) -> dict[str, Any]:
    """One panel with one query."""
    return {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"w": w, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}],
    }


def variable(name: str, query: str, *, multi: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "refresh": 2,
        "includeAll": multi,
        "multi": multi,
        **({"allValue": ".*"} if multi else {}),
    }


DATASOURCE_VARIABLE = {"name": "datasource", "type": "datasource", "query": "prometheus"}


def dashboard(uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]]) -> dict[str, Any]:
    """A dashboard with panels laid out two per row (a full-width panel takes a row)."""
    x = y = 0
    laid = []
    for number, p in enumerate(panels, start=1):
        w = p["gridPos"]["w"]
        if x + w > 24:
            x, y = 0, y + 8
        laid.append({**p, "id": number, "gridPos": {**p["gridPos"], "x": x, "y": y}})
        x += w
    return {
        "uid": uid,
        "title": title,
        "tags": ["dokploy-cloud"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [DATASOURCE_VARIABLE, *variables]},
        "panels": laid,
    }


def fleet() -> dict[str, Any]:
    return dashboard(
        "dokploy-cloud-fleet",
        "Dokploy Cloud: fleet overview",
        [
            panel(
                "Tenants by plan", "count by (plan) (dokploy_cloud_tenant_info)", kind="stat", legend="{{plan}}", w=8
            ),
            panel(
                "Servers by region",
                "count by (region) (dokploy_cloud_tenant_server_info)",
                kind="stat",
                legend="{{region}}",
                w=8,
            ),
            panel("Dokploy servers active", "sum(dokploy_cloud_dokploy_server_active)", kind="stat", w=8),
            panel("Reconcile findings by class", "dokploy_cloud_reconcile_findings", legend="{{class}}"),
            panel("Jobs by state", "service_jobs", legend="{{state}}"),
            panel("Alerts firing", 'count(ALERTS{alertstate="firing"}) or vector(0)', kind="stat", w=8),
            panel(
                "Tenants with a backup older than 26 h",
                "count(time() - dokploy_cloud_backup_last_timestamp_seconds > 93600) or vector(0)",
                kind="stat",
                w=8,
            ),
            panel("Exporter sources up", "dokploy_cloud_exporter_source_up", kind="stat", legend="{{source}}", w=8),
            panel(
                "Last reconcile (age)",
                "time() - dokploy_cloud_reconcile_last_run_timestamp_seconds",
                kind="stat",
                unit="s",
                w=24,
            ),
        ],
        [],
    )


def tenant() -> dict[str, Any]:
    return dashboard(
        "dokploy-cloud-tenant",
        "Dokploy Cloud: tenant",
        [
            panel("CPU usage", f"pve_cpu_usage_ratio * {TENANT_JOIN}", legend="server {{server}}", unit="percentunit"),
            panel("Memory used", f"pve_memory_usage_bytes * {TENANT_JOIN}", legend="server {{server}}", unit="bytes"),
            panel("Memory size", f"pve_memory_size_bytes * {TENANT_JOIN}", legend="server {{server}}", unit="bytes"),
            panel("Disk size", f"pve_disk_size_bytes * {TENANT_JOIN}", legend="server {{server}}", unit="bytes"),
            panel(
                "Network in",
                f"rate(pve_network_receive_bytes[$__rate_interval]) * {TENANT_JOIN}",
                legend="server {{server}}",
                unit="Bps",
            ),
            panel(
                "Network out",
                f"rate(pve_network_transmit_bytes[$__rate_interval]) * {TENANT_JOIN}",
                legend="server {{server}}",
                unit="Bps",
            ),
            panel("VM up (Proxmox)", f"pve_up * {TENANT_JOIN}", kind="stat", legend="server {{server}}", w=8),
            panel(
                "Dokploy server active",
                'dokploy_cloud_dokploy_server_active{tenant="$tenant"}',
                kind="stat",
                legend="server {{server}}",
                w=8,
            ),
            panel(
                "Plan and region",
                'dokploy_cloud_tenant_info{tenant="$tenant"}',
                kind="table",
                legend="{{plan}} {{region}}",
                w=8,
            ),
        ],
        [variable("tenant", "label_values(dokploy_cloud_tenant_info, tenant)")],
    )


def provisioning() -> dict[str, Any]:
    return dashboard(
        "dokploy-cloud-provisioning",
        "Dokploy Cloud: provisioning pipeline",
        [
            panel(
                "Signup to ready, p95 by phase",
                "histogram_quantile(0.95, sum by (le, phase) "
                "(increase(service_signup_to_ready_seconds_bucket[$__range])))",
                legend="{{phase}}",
                unit="s",
            ),
            panel(
                "Runs by operation and result",
                "sum by (operation, result) (increase(service_job_runs_total[$__range]))",
                legend="{{operation}} {{result}}",
            ),
            panel(
                "Failures by error kind",
                "sum by (error_kind) (increase(service_job_failures_total[$__range]))",
                legend="{{error_kind}}",
            ),
            panel("Queue by state", "service_jobs", legend="{{state}}"),
            panel("Oldest due job's wait", "service_queue_oldest_job_age_seconds", kind="stat", unit="s", w=8),
            panel(
                "Longest running job",
                "max(service_running_job_max_age_seconds) or vector(0)",
                kind="stat",
                unit="s",
                w=8,
            ),
            panel(
                "Retries",
                "sum(increase(service_job_retries_total[$__range])) or vector(0)",
                kind="stat",
                w=8,
            ),
            panel(
                "Recovery actions",
                "sum by (action) (increase(service_recovery_actions_total[$__range])) or vector(0)",
                legend="{{action}}",
            ),
            panel(
                "Stripe webhooks by outcome",
                "sum by (outcome) (increase(service_stripe_webhooks_total[$__range]))",
                legend="{{outcome}}",
            ),
        ],
        [],
    )


def capacity() -> dict[str, Any]:
    return dashboard(
        "dokploy-cloud-capacity",
        "Dokploy Cloud: capacity",
        [
            panel(
                "Servers that still fit, by plan",
                'dokploy_cloud_capacity_servers{region=~"$region"}',
                legend="{{region}} {{plan}}",
            ),
            panel(
                "VM memory committed per node",
                'dokploy_cloud_node_memory_committed_ratio{region=~"$region"}',
                legend="{{region}}/{{node}}",
                unit="percentunit",
            ),
            panel(
                "Node memory used (Proxmox)",
                'pve_memory_usage_bytes{id=~"node/.*",instance=~"$region"} / '
                'pve_memory_size_bytes{id=~"node/.*",instance=~"$region"}',
                legend="{{instance}} {{id}}",
                unit="percentunit",
            ),
            panel(
                "Storage used",
                'pve_disk_usage_bytes{id=~"storage/.*",instance=~"$region"} / '
                'pve_disk_size_bytes{id=~"storage/.*",instance=~"$region"}',
                legend="{{instance}} {{id}}",
                unit="percentunit",
            ),
            panel(
                "Allocation pool headroom",
                'dokploy_cloud_pool_free{region=~"$region"}',
                legend="{{region}} {{kind}}",
            ),
            panel(
                "Proxmox nodes up",
                'pve_up{id=~"node/.*",instance=~"$region"}',
                kind="stat",
                legend="{{instance}} {{id}}",
            ),
        ],
        [variable("region", "label_values(dokploy_cloud_capacity_servers, region)", multi=True)],
    )


DASHBOARDS = {"fleet": fleet, "tenant": tenant, "provisioning": provisioning, "capacity": capacity}


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{name}.json": json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def main() -> None:
    for name, text in rendered().items():
        (HERE / name).write_text(text)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
