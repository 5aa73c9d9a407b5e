"""A worker SIGKILLed mid-job: the lease lapses, another worker re-runs the job, the effect happens once.

This is the queue's side, on the fake engine (which converges by construction). The same kill against
the real engine, at every point of a run and a decommission, is ``tests/service_e2e/test_crash_recovery.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.service.conftest import service_env
from tests.service.harness import RunningService, signup_body, wait_for

PROJECT = Path(__file__).resolve().parents[2]


def test_killed_worker_job_is_taken_over_after_lease_expiry(service: RunningService, tmp_path: Path) -> None:
    job_id = service.signup(signup_body("acme")).json()["job_id"]
    env = {**os.environ, **service_env(tmp_path, service.settings.database_url), "PYTHONPATH": str(PROJECT)}
    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.service.worker_proc", "doomed", str(service.engine.state_dir), "0.4"],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: "create acme sshkey" in service.engine.effects(), 20, "the doomed worker to get going")
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    orphan = service.queue.get_job(job_id)
    assert orphan.state == "running" and orphan.lease_owner == "doomed"

    service.start_workers(1, prefix="survivor")
    job = service.wait_job(job_id, timeout=20)
    assert job["state"] == "succeeded" and job["attempts"] == 2 and job["worker"] == "survivor0"
    creates = [e for e in service.engine.effects() if e.startswith("create")]
    assert sorted(creates) == sorted(set(creates)) and len(creates) == 5
    assert service.op("GET", "/v1/tenants/acme").json()["phase"] == "ready"
