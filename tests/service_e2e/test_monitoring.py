"""The whole monitoring path, as an operator runs it: the service (``python -m service``), the fleet exporter
and prometheus-pve-exporter as processes, Prometheus and Alertmanager from Debian, all on loopback.

A signup reaches ready and shows up in every source; the Proxmox exporter scrapes both clusters with every
default collector and no error; a Dokploy setup failure injected through the simulator's admin API makes
``DokploySetupFailed`` fire in Alertmanager's API; the scheduled reconcile's report is served and in sync;
the service's log is JSON lines with the job's ids and none of the credentials.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from monitoring.dashboards.build import HERE as DASHBOARDS_DIR
from monitoring.processes import LoopbackProcess, free_port
from monitoring.pve_exporter import MONITOR_USER, pve_exporter
from monitoring.stack import MonitoringStack, ScrapeTargets, cluster_targets
from provisioning.toolchain import PROJECT_DIR
from service.signing import sign
from tests.service.conftest import HMAC_SECRET, OPERATOR_TOKEN, service_env
from tests.service.harness import wait_for
from tests.service_e2e.harness import SERVICE_ENV, EngineCloud, new_signup, start_cloud
from tests.support.browser import headless_chromium, screenshot

pytestmark = pytest.mark.engine
HTTP = 15


@dataclass
class Observed:
    """The cloud, the service process and the monitoring around it."""

    cloud: EngineCloud
    service_url: str
    service: LoopbackProcess
    fleet: LoopbackProcess
    pve: LoopbackProcess
    pve_port: int
    stack: MonitoringStack
    monitor_token: str
    root: Path

    def op(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method,
            f"{self.service_url}{path}",
            timeout=HTTP,
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            **kwargs,
        )

    def signup(self, body: dict[str, Any]) -> str:
        self.cloud.add_organization(body)
        raw = json.dumps(body).encode()
        resp = requests.post(
            f"{self.service_url}/v1/signups",
            data=raw,
            timeout=HTTP,
            headers={"Content-Type": "application/json", "X-Signature": sign(SecretStr(HMAC_SECRET), raw)},
        )
        assert resp.status_code == 202, resp.text
        return str(resp.json()["job_id"])

    def wait_job(self, job_id: str, timeout: float = 240) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            job = self.op("GET", f"/v1/jobs/{job_id}").json()
            return job if job["state"] in ("succeeded", "failed", "cancelled") else None

        return dict(wait_for(ended, timeout, f"job {job_id}"))


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    root = tmp_path_factory.mktemp("observed")
    monitor_token = f"{MONITOR_USER}!prometheus={uuid.uuid4()}"
    cloud = start_cloud(root, monitor_token=monitor_token)
    started: list[Any] = [cloud]
    try:
        (root / "git-tenants").mkdir()
        port, fleet_port, pve_port = free_port(), free_port(), free_port()
        clusters = cluster_targets(cloud.environment)
        stack = MonitoringStack(
            root / "monitoring",
            ScrapeTargets(f"127.0.0.1:{port}", f"127.0.0.1:{fleet_port}", f"127.0.0.1:{pve_port}", clusters),
            interval="1s",
        )
        env = {
            **cloud.env,
            **service_env(root, f"sqlite://{root / 'queue.sqlite'}"),
            **SERVICE_ENV,
            "SERVICE_PORT": str(port),
            "SERVICE_CONCURRENCY": "2",
            "SERVICE_MAX_ATTEMPTS": "1",
            "SERVICE_RECONCILE_SECONDS": "3",
            "SERVICE_ALERTMANAGER_URL": stack.alertmanager_url,
            "PYTHONPATH": str(PROJECT_DIR),
            "PYTHONUNBUFFERED": "1",
        }
        service = LoopbackProcess(
            "service", [sys.executable, "-m", "service"], f"http://127.0.0.1:{port}/healthz", root / "service.log", env
        ).start(timeout=60)
        started.append(service)
        fleet = LoopbackProcess(
            "fleet-exporter",
            [
                sys.executable,
                "-m",
                "monitoring.fleet_exporter",
                "--port",
                str(fleet_port),
                "--interval",
                "1",
                "--tenants-dir",
                str(root / "git-tenants"),
            ],
            f"http://127.0.0.1:{fleet_port}/metrics",
            root / "fleet-exporter.log",
            {**env, "PROXMOX_VE_MONITOR_TOKEN": monitor_token},
        ).start(timeout=60)
        started.append(fleet)
        pve = pve_exporter(pve_port, monitor_token, root / "pve-exporter.log").start()
        started.append(pve)
        started.append(stack.start())
        yield Observed(cloud, f"http://127.0.0.1:{port}", service, fleet, pve, pve_port, stack, monitor_token, root)
    finally:
        for thing in reversed(started):
            thing.stop()


def test_a_ready_signup_shows_in_every_source(observed: Observed) -> None:
    body = new_signup("obs")
    job = observed.wait_job(observed.signup(body))
    assert job["state"] == "succeeded", job["error"]
    slug = body["slug"]
    stack = observed.stack

    def seen(expr: str) -> list[dict[str, Any]] | None:
        return stack.query(expr) or None

    [info] = wait_for(lambda: seen(f'dokploy_cloud_tenant_server_info{{tenant="{slug}"}}'), 60, "tenant info")
    vm_id = info["metric"]["id"]
    assert info["metric"]["plan"] == "starter" and vm_id.startswith("qemu/")
    # The Proxmox exporter's series of that very VM, joined on id: the tenant's CPU and memory.
    [joined] = wait_for(
        lambda: seen(
            f'pve_memory_size_bytes * on(id) group_left(tenant, plan) dokploy_cloud_tenant_server_info{{tenant="{slug}"}}'
        ),
        60,
        "the join on id",
    )
    assert float(joined["value"][1]) == 4096 * 2**20 and joined["metric"]["tenant"] == slug
    [active] = wait_for(lambda: seen(f'dokploy_cloud_dokploy_server_active{{tenant="{slug}"}}'), 60, "Dokploy status")
    assert active["value"][1] == "1"
    [ready] = wait_for(lambda: seen('service_signup_to_ready_seconds_count{phase="total"}'), 60, "signup histogram")
    assert ready["value"][1] == "1"

    seen_reports: list[dict[str, Any]] = []

    def reconciled() -> dict[str, Any] | None:
        # A run that read the stack while the signup's update still held it says "update running"; the next
        # scheduled run (every 3 s here) judges it.
        resp = observed.op("GET", "/v1/reconcile")
        report = resp.json() if resp.status_code == 200 else None
        if report:
            seen_reports.append(report)
        return report if report and report["tenants"].get(slug) == "in sync" else None

    try:
        report = wait_for(reconciled, 90, f"a reconcile report with {slug} in sync")
    except AssertionError:
        raise AssertionError(f"no report with {slug} in sync; the last: {seen_reports[-1:]}") from None
    assert report["in_sync"], report
    [findings] = wait_for(lambda: seen("sum(dokploy_cloud_reconcile_findings)"), 60, "findings metric")
    assert findings["value"][1] == "0"


def test_an_on_demand_backup_is_the_tenants_newest_backup_metric(observed: Observed) -> None:
    body = new_signup("bkp")
    body["plan"] = "business"
    job = observed.wait_job(observed.signup(body))
    assert job["state"] == "succeeded", job["error"]
    slug = body["slug"]
    queued = observed.op("POST", f"/v1/tenants/{slug}/backups", json={})
    assert queued.status_code == 202, queued.text
    made = observed.wait_job(queued.json()["job_id"])
    assert made["state"] == "succeeded", made["error"]
    [backup] = made["outputs"]["backups"]
    [newest] = wait_for(
        lambda: observed.stack.query(f'dokploy_cloud_backup_last_timestamp_seconds{{tenant="{slug}"}}') or None,
        60,
        "the backup metric",
    )
    assert float(newest["value"][1]) == backup["ctime"]
    assert observed.stack.query(f'time() - dokploy_cloud_backup_last_timestamp_seconds{{tenant="{slug}"}} < 600')


def test_proxmox_exporter_scrapes_both_clusters_with_every_default_collector(observed: Observed) -> None:
    families = (
        "pve_up",
        "pve_node_info",
        "pve_cluster_info",
        "pve_version_info",
        "pve_guest_info",
        "pve_storage_info",
        "pve_subscription_info",
        "pve_not_backed_up_total",
        "pve_lock_state",
        "pve_ha_state",
        "pve_cpu_usage_ratio",
        "pve_memory_usage_bytes",
    )
    # pve_onboot_status has a series only for guests whose config sets onboot (real PVE omits it otherwise),
    # so it is not required here; the config collector ran if the scrape answered 200.
    for region, address in observed.stack.targets.clusters.items():
        resp = requests.get(f"http://127.0.0.1:{observed.pve_port}/pve", params={"target": address}, timeout=60)
        assert resp.status_code == 200, f"{region}: {resp.status_code}\n{observed.pve.tail()}"
        names = {line.split("{")[0].split(" ")[0] for line in resp.text.splitlines() if not line.startswith("#")}
        assert set(families) <= names, f"{region} lacks {set(families) - names}"
        assert f'pve_cluster_info{{id="cluster/{region}"' in resp.text
    errors = requests.get(f"http://127.0.0.1:{observed.pve_port}/metrics", timeout=HTTP).text
    assert 'pve_request_errors_total{module="default"} 0.0' in errors
    health = observed.stack.targets_health()
    assert health and all(state == "up" for state in health.values()), health


def test_an_injected_setup_failure_fires_its_alert_in_alertmanager(observed: Observed) -> None:
    dokploy = observed.cloud.dokploy
    with dokploy.lock:
        dokploy.faults.setup_failure = "ssh"
    try:
        job = observed.wait_job(observed.signup(new_signup("broken")))
    finally:
        with dokploy.lock:
            dokploy.faults.setup_failure = None
    assert job["state"] == "failed" and "Dokploy setup of server" in job["error"]

    def firing() -> dict[str, Any] | None:
        return next(
            (
                a
                for a in observed.stack.alerts()
                if a["labels"]["alertname"] == "DokploySetupFailed" and a["status"]["state"] == "active"
            ),
            None,
        )

    alert = wait_for(firing, 90, "DokploySetupFailed in Alertmanager")
    assert alert["labels"]["severity"] == "warning" and alert["labels"]["operation"] == "up"
    assert [r["name"] for r in alert["receivers"]] == ["tickets"]
    # Nothing else fires: the failed run's half-made registration (rolled back) was never an "orphan".
    active = {a["labels"]["alertname"] for a in observed.stack.alerts() if a["status"]["state"] == "active"}
    assert active == {"DokploySetupFailed"}, active


def test_the_service_log_is_json_lines_with_ids_and_no_secret(observed: Observed) -> None:
    time.sleep(1)
    lines = observed.service.log.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and len(records) >= len(lines) - 5, "every record is a JSON line"
    assert any(r.get("tenant") and r.get("job") and r.get("worker") for r in records)
    assert any(r.get("request_id") for r in records)
    text = "\n".join(lines) + observed.fleet.log.read_text()
    secrets = [*(observed.cloud.env[k] for k in ("PROXMOX_VE_API_TOKEN", "DOKPLOY_API_KEY", "PDNS_API_KEY"))]
    secrets += [OPERATOR_TOKEN, HMAC_SECRET, observed.monitor_token.split("=", 1)[1]]
    for secret in secrets:
        assert secret not in text
    assert "PRIVATE KEY" not in text


def test_every_dashboard_panel_query_returns_data(observed: Observed) -> None:
    """Each panel's query, with the dashboard's variables filled in as Grafana would, runs without error and
    returns series (rate windows need a few 1 s scrapes, so each query is retried for a short while)."""
    [tenant] = observed.stack.query('dokploy_cloud_dokploy_server_active{tenant=~"obs.*"} == 1')  # the ready one
    values = {
        "$tenant": tenant["metric"]["tenant"],
        "$region": ".*",
        "$__rate_interval": "15s",
        "$__range": "1h",
    }
    empty = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            expr = panel["targets"][0]["expr"]
            for name, value in values.items():
                expr = expr.replace(name, value)
            try:
                wait_for(lambda expr=expr: observed.stack.query(expr) or None, 20, expr)
            except AssertionError:  # wait_for's timeout; a query error (ValueError) fails the test at once
                empty.append(f"{path.name}: {panel['title']}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_operator_pages_in_a_real_browser(observed: Observed) -> None:
    """Sign in, the fleet table, a tenant's page (servers, runs, backups, reconcile, alerts), the reconcile
    report; a screenshot of each is saved (.state/test-artifacts/screenshots)."""
    [ready] = observed.stack.query('dokploy_cloud_dokploy_server_active{tenant=~"obs.*"} == 1')  # starter plan
    slug = ready["metric"]["tenant"]
    [backed_up] = observed.stack.query("dokploy_cloud_backup_last_timestamp_seconds")
    with_backups = backed_up["metric"]["tenant"]
    with headless_chromium() as browser:
        browser.get(f"{observed.service_url}/ui")
        assert browser.current_url.endswith("/ui/login")
        browser.find_element(By.ID, "token").send_keys("not-the-token")
        browser.find_element(By.ID, "sign-in").click()
        wait = WebDriverWait(browser, 15)
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "form"), "That is not the operator token."))
        browser.find_element(By.ID, "token").send_keys(OPERATOR_TOKEN)
        browser.find_element(By.ID, "sign-in").click()
        wait.until(ec.presence_of_element_located((By.ID, "fleet")))
        assert browser.current_url.endswith("/ui")
        fleet = browser.find_element(By.ID, "fleet").text
        assert slug in fleet and "ready" in fleet and "in sync" in fleet
        assert int(browser.find_element(By.ID, "alert-count").text) >= 1  # DokploySetupFailed, from Alertmanager
        assert "DokploySetupFailed" in browser.find_element(By.ID, "alerts").text
        shots = [screenshot(browser, "ui-fleet")]

        browser.find_element(By.LINK_TEXT, slug).click()
        wait.until(ec.presence_of_element_located((By.ID, "tenant-slug")))
        assert browser.find_element(By.ID, "tenant-slug").text.startswith(slug)
        servers = browser.find_element(By.ID, "servers").text
        assert f"{slug}.cloud.test" in servers and "pve" in servers
        runs = browser.find_element(By.ID, "runs").text
        assert "up" in runs and "succeeded" in runs and "dokploy" in runs
        assert "the plan has none" in browser.find_element(By.ID, "backups").text
        assert browser.find_element(By.ID, "tenant-verdict").text == "in sync"
        shots.append(screenshot(browser, "ui-tenant"))

        browser.get(f"{observed.service_url}/ui/tenants/{with_backups}")
        wait.until(ec.presence_of_element_located((By.ID, "backups")))
        backups = browser.find_element(By.ID, "backups").text
        assert "vzdump-qemu-" in backups and "business" in browser.find_element(By.ID, "tenant-slug").text
        shots.append(screenshot(browser, "ui-tenant-backups"))

        browser.get(f"{observed.service_url}/ui/reconcile")
        assert browser.find_element(By.ID, "report-verdict").text == "in sync"
        shots.append(screenshot(browser, "ui-reconcile"))

        browser.get(f"{observed.service_url}/ui/logout")
        browser.get(f"{observed.service_url}/ui/reconcile")
        wait.until(ec.presence_of_element_located((By.ID, "token")))
        assert browser.current_url.endswith("/ui/login")
    for shot in shots:
        assert shot.stat().st_size > 10_000, shot
