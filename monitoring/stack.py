"""Prometheus and Alertmanager from Debian's packages, on loopback, configured for one environment.

Prometheus scrapes the provisioning service (``service_*``), the fleet exporter (``dokploy_cloud_*``) and
the Proxmox exporter once per cluster (``/pve?target=<cluster>``, ``instance`` set to the region), loads
``monitoring/rules/*.rules.yml`` and sends alerts to Alertmanager, which routes them with
``monitoring/alertmanager.yml``. Both keep their data under ``root``; nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
import yaml

from components.environment import Environment
from monitoring.processes import LoopbackProcess, free_port

MONITORING_DIR = Path(__file__).resolve().parent
RULES_DIR = MONITORING_DIR / "rules"
ALERTMANAGER_CONFIG = MONITORING_DIR / "alertmanager.yml"
QUERY_TIMEOUT = 10


class ToolMissing(RuntimeError):
    """prometheus or prometheus-alertmanager is not installed (scripts/install_monitoring.sh installs them)."""


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} is not installed: run scripts/setup.sh (scripts/install_monitoring.sh)")
    return path


@dataclass
class ScrapeTargets:
    """Where Prometheus finds each source (``host:port``)."""

    service: str | None
    fleet_exporter: str | None
    pve_exporter: str | None
    clusters: dict[str, str] = field(default_factory=dict)
    """region -> the cluster's API ``host:port`` (the Proxmox exporter's ``target``)."""


def cluster_targets(environment: Environment) -> dict[str, str]:
    """region -> its cluster API's ``host:port``, what the Proxmox exporter takes as ``target``."""
    return {name: urlparse(r.endpoint).netloc for name, r in environment.regions.items()}


def prometheus_config(targets: ScrapeTargets, alertmanager: str, interval: str) -> dict[str, Any]:
    """The Prometheus configuration for ``targets`` (rules from this repository, alerts to ``alertmanager``)."""
    scrape: list[dict[str, Any]] = []
    if targets.service:
        scrape.append({"job_name": "dokploy-cloud-service", "static_configs": [{"targets": [targets.service]}]})
    if targets.fleet_exporter:
        scrape.append({"job_name": "dokploy-cloud-fleet", "static_configs": [{"targets": [targets.fleet_exporter]}]})
    if targets.pve_exporter and targets.clusters:
        scrape.append(
            {
                "job_name": "pve",
                "metrics_path": "/pve",
                "params": {"module": ["default"], "cluster": ["1"], "node": ["1"]},
                "static_configs": [
                    {"targets": [address], "labels": {"region": region}}
                    for region, address in sorted(targets.clusters.items())
                ],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["region"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": targets.pve_exporter},
                ],
            }
        )
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(p) for p in sorted(RULES_DIR.glob("*.rules.yml"))],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": scrape,
    }


class MonitoringStack:
    """Alertmanager, then Prometheus, each on a free loopback port (or the ones given)."""

    def __init__(
        self,
        root: Path,
        targets: ScrapeTargets,
        *,
        interval: str = "5s",
        prometheus_port: int | None = None,
        alertmanager_port: int | None = None,
    ) -> None:
        self.root, self.targets, self.interval = root, targets, interval
        self.prometheus_port = prometheus_port or free_port()
        self.alertmanager_port = alertmanager_port or free_port()
        self.processes: list[LoopbackProcess] = []

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def start(self) -> MonitoringStack:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self.processes.append(
                LoopbackProcess(
                    "alertmanager",
                    [
                        _binary("prometheus-alertmanager"),
                        f"--config.file={ALERTMANAGER_CONFIG}",
                        f"--storage.path={self.root / 'alertmanager'}",
                        f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                        "--cluster.listen-address=",
                    ],
                    f"{self.alertmanager_url}/-/ready",
                    self.root / "alertmanager.log",
                ).start()
            )
            config = self.root / "prometheus.yml"
            config.write_text(
                yaml.safe_dump(
                    prometheus_config(self.targets, f"127.0.0.1:{self.alertmanager_port}", self.interval),
                    sort_keys=False,
                )
            )
            self.processes.append(
                LoopbackProcess(
                    "prometheus",
                    [
                        _binary("prometheus"),
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.root / 'prometheus'}",
                        f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                    ],
                    f"{self.prometheus_url}/-/ready",
                    self.root / "prometheus.log",
                ).start()
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; raises on a query error (bad expression, unknown function)."""
        resp = requests.get(f"{self.prometheus_url}/api/v1/query", params={"query": expr}, timeout=QUERY_TIMEOUT)
        body = resp.json()
        if body.get("status") != "success":
            raise ValueError(f"query {expr!r} failed: {body.get('errorType')}: {body.get('error')}")
        return list(body["data"]["result"])

    def targets_health(self) -> dict[str, str]:
        """``job/instance`` -> ``up``/``down`` with the last scrape error, for every active target."""
        resp = requests.get(f"{self.prometheus_url}/api/v1/targets", timeout=QUERY_TIMEOUT)
        out = {}
        for t in resp.json()["data"]["activeTargets"]:
            key = f"{t['labels'].get('job')}/{t['labels'].get('instance')}"
            out[key] = t["health"] + (f" ({t['lastError']})" if t.get("lastError") else "")
        return out

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (its API v2), active or not."""
        resp = requests.get(f"{self.alertmanager_url}/api/v2/alerts", timeout=QUERY_TIMEOUT)
        resp.raise_for_status()
        return list(resp.json())
