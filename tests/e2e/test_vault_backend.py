"""The vault secrets backend through the real engine: a tenant whose private key lives only in Vault.

A real Vault server (scripts/vault/server.py) is configured as production is; the runs use the provisioning
AppRole (the least-privilege policy), and read the PowerDNS key from Vault's platform path rather than the
environment. The stack holds only a reference to the key; a rotation writes a new version with no moment
Dokploy cannot log in; decommission leaves nothing in Vault.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import hvac  # type: ignore[import-untyped]
import pytest

from components.naming import PDNS_API_KEY_VAR
from provisioning.stacks import TenantStacks
from provisioning.tenant_keys import key_facts, private_key
from provisioning.toolchain import PROJECT_DIR, pulumi_command
from provisioning.vault_store import VaultStore, tenant_key_path
from scripts.vault.server import VaultServer
from sim.dokploy.remote import public_half
from tests.e2e.conftest import CloudUnderTest, running_cloud
from tests.e2e.test_key_rotation import _key_id, breakglass_read, watching_logins

pytestmark = pytest.mark.engine
SLUG = "alpha"


@pytest.fixture(scope="module")
def vault_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CloudUnderTest, VaultServer]]:
    for cloud in running_cloud(tmp_path_factory):
        server = VaultServer(tmp_path_factory.mktemp("vault")).start({PDNS_API_KEY_VAR: os.environ[PDNS_API_KEY_VAR]})
        patch = pytest.MonkeyPatch()
        patch.delenv(PDNS_API_KEY_VAR)  # the runs must find it in Vault
        for name, value in server.service_env().items():
            patch.setenv(name, value)
        cloud.stacks = TenantStacks("local")
        try:
            yield cloud, server
        finally:
            patch.undo()
            server.stop()


def _auditor(server: VaultServer) -> hvac.Client:
    return hvac.Client(url=server.addr, token=server.auditor_token(), timeout=10)


def _versions(server: VaultServer) -> list[int]:
    try:
        meta = _auditor(server).secrets.kv.v2.read_secret_metadata(tenant_key_path("local", SLUG), mount_point="secret")
    except hvac.exceptions.InvalidPath:
        return []
    return sorted(int(v) for v in meta["data"]["versions"])


def _export(stacks: TenantStacks) -> str:
    args = ["stack", "export", "--show-secrets", "--stack", stacks.stack_name(SLUG), "--non-interactive"]
    return pulumi_command().run(args, str(PROJECT_DIR), stacks.cli_env()).stdout


def test_the_key_lives_only_in_vault_and_survives_rotation_and_decommission(
    vault_cloud: tuple[CloudUnderTest, VaultServer], tmp_path: Path
) -> None:
    cloud, server = vault_cloud
    created = cloud.stacks.run(cloud.tenant(SLUG), "up")
    assert created.ok, created.error
    assert _versions(server) == [1]

    exported = _export(cloud.stacks)  # with every secret decrypted
    assert "PRIVATE KEY" not in exported
    assert f"vault:secret/{tenant_key_path('local', SLUG)}#1" in exported

    facts, pem = private_key(cloud.stacks, SLUG)
    assert _key_id(public_half(pem) or "") == _key_id(facts.public_key) and facts.backend == "vault"
    answer, records = breakglass_read(cloud, tmp_path, SLUG)  # what an operator gets, read from Vault
    assert answer.status_code == 200 and answer.json()["private_key"] == pem
    assert [(r.action, r.outcome) for r in records] == [("secret.read", "granted")]
    assert cloud.cloud.dokploy is not None
    [server_row] = [s for s in cloud.cloud.dokploy[0].servers.values() if s.organization_id == "org_alpha"]
    assert cloud.cloud.dokploy[0].ssh_keys[server_row.ssh_key_id].private_key == pem  # Dokploy got the real key

    with watching_logins(cloud) as seen:
        rotated = cloud.stacks.run(cloud.tenant(SLUG), "up", rotation="vault-rotation-1")
    assert rotated.ok, rotated.error
    assert seen["tries"] > 20 and seen["failures"] == []
    assert _versions(server) == [1, 2]
    after = key_facts(cloud.stacks, SLUG)
    assert after.generation == 2 and after.public_key != facts.public_key
    assert "PRIVATE KEY" not in _export(cloud.stacks)

    audit = [json.loads(line) for line in Path(server.audit_log).read_text().splitlines()]
    reads = [e for e in audit if e["type"] == "response" and e["request"]["path"].endswith(f"tenants/{SLUG}/ssh")]
    assert reads and all("PRIVATE KEY" not in json.dumps(e) for e in audit)  # Vault logs HMACs, not keys

    gone = cloud.stacks.run(cloud.tenant(SLUG), "destroy")
    assert gone.ok, gone.error
    assert _versions(server) == []  # decommission gave everything back
    with pytest.raises(Exception, match="has nothing at"):
        VaultStore(server.service_env()).read_latest(tenant_key_path("local", SLUG))
