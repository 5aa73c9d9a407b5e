"""The control plane's declaration: each bad field is named with its file and line, and nothing is rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.control_plane.declaration import load_control_plane
from components.spec import SpecErrors

REPO = Path(__file__).resolve().parents[2]


def test_the_local_declaration_loads() -> None:
    plane = load_control_plane(REPO, "local")
    assert (plane.public_url, plane.node, plane.mailpit) == ("https://app.cloud.test", "pve1", True)


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("    node: pve1\n", "    node: pve9\n", "node", "not a node of region pve-eu1"),
        ("    address: 10.77.0.10/16\n", "    address: 10.99.0.10/16\n", "address", "network 10.77.0.0/16"),
        ("    vmid: 9900  # outside the tenants' range\n", "    vmid: 10001\n", "vmid", "tenants' range"),
        ("    smtp: {mailpit: true}\n", "    smtp: {mailpit: true, relay: 'a.b:25'}\n", "smtp", "exactly one"),
        ("      redis: redis:7.2.5\n", "      redis: redis\n", "redis", "pinned tag"),
    ],
)
def test_a_bad_field_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old, new, field, words) -> None:
    text = (REPO / "Pulumi.local.yaml").read_text(encoding="utf-8")
    assert old in text
    env_file = tmp_path / "Pulumi.local.yaml"
    env_file.write_text(text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setenv("DOKPLOY_CLOUD_ENV_FILE", str(env_file))
    with pytest.raises(SpecErrors) as exc:
        load_control_plane(REPO, "local")
    message = str(exc.value)
    assert str(env_file) in message and field in message and words in message, message
