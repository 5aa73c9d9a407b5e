"""A taken port stops the local cloud before anything starts, with a message naming the port and the way out."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from components.environment import load_environment
from provisioning.toolchain import PROJECT_DIR
from scripts.localenv import demo
from scripts.localenv.cloud import LocalCloud, PortInUse
from tests.e2e.conftest import write_environment

CREDENTIALS = {
    "PROXMOX_VE_API_TOKEN": f"dokploy-cloud@pve!provisioner={uuid.uuid4()}",
    "DOKPLOY_API_KEY": "k" * 64,
    "PDNS_API_KEY": "pdns-test-key",
}


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "Pulumi.ports.yaml"
    write_environment(path)
    monkeypatch.setenv("DOKPLOY_CLOUD_ENV_FILE", str(path))
    return path


@pytest.fixture
def dokploy_port_taken(env_file: Path) -> Iterator[int]:
    port = urlparse(load_environment(PROJECT_DIR, "local").dokploy_url).port
    assert port is not None
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        yield port


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_taken_port_is_named_and_nothing_starts(dokploy_port_taken: int) -> None:
    environment = load_environment(PROJECT_DIR, "local")
    with pytest.raises(PortInUse) as caught:
        LocalCloud(environment, CREDENTIALS, {}).start()
    message = str(caught.value)
    assert f"127.0.0.1:{dokploy_port_taken} for dokploy_url" in message
    assert "Pulumi.local.yaml" in message and "DOKPLOY_CLOUD_ENV_FILE" in message
    assert all(_free(urlparse(r.endpoint).port or 0) for r in environment.regions.values())


def test_demo_exits_2_with_the_message_not_a_traceback(
    dokploy_port_taken: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.main([]) == 2
    out = capsys.readouterr().out
    assert f"127.0.0.1:{dokploy_port_taken}" in out and "Traceback" not in out
