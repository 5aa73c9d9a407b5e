"""``python -m sim.dokploy`` prints a URL and a working API key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests


def test_cli_serves_a_ready_key_in_cloud_mode() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.dokploy", "--cloud", "--servers-quantity", "1"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        headers = {"x-api-key": info["apiKey"]}
        active = requests.get(info["url"] + "/api/organization.active", headers=headers, timeout=5).json()
        assert active["id"] == info["organizationId"]
        assert requests.get(info["url"] + "/api/stripe.canCreateMoreServers", headers=headers, timeout=5).json() is True
        assert requests.get(info["url"] + "/_sim/state", timeout=5).json()["cloud"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
