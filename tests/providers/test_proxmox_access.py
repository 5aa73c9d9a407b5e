"""The documented least-privilege layout: code, docs and the environment's pool setting agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.environment import load_environment
from components.spec.errors import SpecErrors
from provisioning.proxmox_access import ROLES, grants, main, pveum_commands

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "proxmox-privileges.md").read_text()


def test_every_privilege_of_every_role_is_explained_in_the_doc() -> None:
    rows = [line for line in DOC.splitlines() if line.startswith("| ")]
    for role, privileges in ROLES.items():
        assert f"`{role}`" in DOC, role
        for privilege in privileges:
            assert any(f"| `{privilege}` |" in row for row in rows), f"{privilege} has no row in the doc"
    env = load_environment(REPO, "prod")
    commands = pveum_commands(env.regions["pve-eu1"], environment=env)
    for line in commands:
        if line.startswith("pveum role add"):
            assert line in DOC, f"the doc's set-up commands differ from the code: {line}"


def test_grants_cover_the_pool_templates_storage_bridge_and_nodes() -> None:
    env = load_environment(REPO, "prod")
    region = env.regions["pve-eu1"]
    assert [(g.path, g.role, g.propagate) for g in grants(region, env)] == [
        ("/pool/dokploy-prod", "DokployCloudVM", True),
        ("/vms/9000", "DokployCloudTemplate", True),
        ("/vms/9001", "DokployCloudTemplate", True),
        ("/vms/9002", "DokployCloudTemplate", True),
        ("/storage/local-lvm", "DokployCloudStorage", True),
        ("/storage/pbs-backup", "DokployCloudArchive", True),
        ("/sdn/zones/localnetwork/vmbr1", "DokployCloudNetwork", True),
        ("/nodes", "DokployCloudNodes", True),
        ("/", "DokployCloudBackupJobs", False),
    ]
    assert "pveum acl modify / --roles DokployCloudBackupJobs --users dokploy-cloud@pve --propagate 0" in (
        pveum_commands(region, environment=env)
    )
    assert "pveum acl modify /pool/dokploy-prod --roles DokployCloudVM --tokens 'x@pve!t'" in pveum_commands(
        region, "x@pve!t"
    )


def test_cli_prints_the_commands_for_each_region(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prod"]) == 0
    out = capsys.readouterr().out
    assert out.count("pveum pool add dokploy-prod") == 2 and "# region pve-us1" in out
    assert main([]) == 2


def test_a_bad_pool_name_is_refused_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO / "Pulumi.local.yaml").read_text().replace("pool: dokploy-local", "pool: 'bad pool/'", 1)
    (tmp_path / "Pulumi.local.yaml").write_text(text)
    monkeypatch.setenv("DOKPLOY_CLOUD_ENV_FILE", str(tmp_path / "Pulumi.local.yaml"))
    with pytest.raises(SpecErrors, match=r"regions\.pve-eu1\.pool.: invalid value .bad pool/."):
        load_environment(REPO, "local")
