"""The provisioning service's Vault policy is minimal and holds: every capability it grants is needed by one of
the service's operations (taking any one away breaks that operation), and everything else is refused.

Runs against a real Vault server configured by scripts/vault/server.py, as the provisioning AppRole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioning.vault_store import VaultError, VaultStore, platform_path, tenant_key_path
from scripts.vault.server import VaultServer, policy_text

ENV = "local"
STANZA = re.compile(r'path "(?P<path>[^"]+)" \{\s*capabilities = \[(?P<caps>[^\]]*)\]\s*\}')


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultServer]:
    platform = {
        "DOKPLOY_API_KEY": "platform-key-0123456789",
        "SERVICE_OPERATOR_TOKEN": "operator-token-from-vault-0123",
        "SERVICE_HMAC_SECRET": "hmac-secret-from-vault-0123456",
    }
    with VaultServer(tmp_path_factory.mktemp("vault"), ENV).start(platform) as v:
        yield v


def grants(text: str) -> list[tuple[str, str]]:
    """(path, capability) pairs of a policy."""
    return [
        (m["path"], cap.strip().strip('"'))
        for m in STANZA.finditer(text)
        for cap in m["caps"].split(",")
        if cap.strip()
    ]


def render(pairs: list[tuple[str, str]]) -> str:
    paths: dict[str, list[str]] = {}
    for path, cap in pairs:
        paths.setdefault(path, []).append(cap)
    return "\n".join(f'path "{p}" {{ capabilities = {caps!r} }}'.replace("'", '"') for p, caps in paths.items())


def service_operations(store: VaultStore, slug: str) -> list[tuple[str, Callable[[], object]]]:
    """Every Vault call the service makes, in lifecycle order: (what, call)."""
    path = tenant_key_path(ENV, slug)
    refs: list[str] = []
    return [
        ("provision: first key version", lambda: refs.append(store.write(path, {"private_key": "k1"}))),
        ("register in Dokploy / break-glass read", lambda: store.read_ref(refs[0])),
        ("rotation: next key version", lambda: refs.append(store.write(path, {"private_key": "k2"}))),
        ("run credentials", lambda: store.read_latest(platform_path(ENV))),
        ("decommission", lambda: store.remove(path)),
    ]


def _store_with_policy(vault: VaultServer, text: str) -> VaultStore:
    root = vault.root_client()
    root.sys.create_or_update_policy(f"provisioning-{ENV}", text)
    return VaultStore(vault.service_env())


def test_the_service_can_do_everything_it_needs(vault: VaultServer) -> None:
    store = _store_with_policy(vault, policy_text("provisioning", ENV))
    for _what, call in service_operations(store, "complete"):
        call()
    auditor = VaultStore({"VAULT_ADDR": vault.addr, "VAULT_TOKEN": vault.auditor_token()})
    with pytest.raises(VaultError, match="has nothing at"):  # decommission left no version and no metadata
        auditor._call(
            "read",
            "x",
            lambda: auditor.client.secrets.kv.v2.read_secret_metadata(
                tenant_key_path(ENV, "complete"), mount_point="secret"
            ),
        )


def test_every_capability_of_the_policy_is_needed(vault: VaultServer) -> None:
    full = grants(policy_text("provisioning", ENV))
    assert len(full) == 5, full
    for index, removed in enumerate(full):
        store = _store_with_policy(vault, render([g for g in full if g != removed]))
        refused = None
        for what, call in service_operations(store, f"minus{index}"):
            try:
                call()
            except VaultError as exc:
                assert "refused" in str(exc) or "nothing at" in str(exc), exc
                refused = what
                break
        assert refused is not None, f"nothing failed without {removed}: the policy grants more than the service needs"
    _store_with_policy(vault, policy_text("provisioning", ENV))


@pytest.mark.parametrize(
    ("attack", "call"),
    [
        ("read another environment's tenant key", lambda s: s.read_latest(tenant_key_path("prod", "acme"))),
        ("write another environment's tenant key", lambda s: s.write(tenant_key_path("prod", "acme"), {"k": "v"})),
        ("overwrite the platform credentials", lambda s: s.write(platform_path(ENV), {"DOKPLOY_API_KEY": "mine"})),
        ("read a secret outside the layout", lambda s: s.read_latest("other-team/db")),
        ("list the tenants", lambda s: s.client.secrets.kv.v2.list_secrets(f"dokploy-cloud/{ENV}/tenants", "secret")),
        (
            "read key metadata",
            lambda s: s.client.secrets.kv.v2.read_secret_metadata(tenant_key_path(ENV, "x"), "secret"),
        ),
        (
            "write a policy",
            lambda s: s.client.sys.create_or_update_policy("mine", 'path "*" { capabilities = ["sudo"] }'),
        ),
        ("enable an auth method", lambda s: s.client.sys.enable_auth_method("userpass")),
        ("mint a token for another policy", lambda s: s.client.auth.token.create(policies=["root"])),
        ("read the audit devices", lambda s: s.client.sys.list_enabled_audit_devices()),
    ],
)
def test_everything_else_is_refused(vault: VaultServer, attack: str, call: Callable[[VaultStore], object]) -> None:
    import hvac  # type: ignore[import-untyped]

    store = VaultStore(vault.service_env())
    with pytest.raises((VaultError, hvac.exceptions.Forbidden, hvac.exceptions.InvalidPath)) as caught:
        call(store)
    if isinstance(caught.value, VaultError):
        assert "refused" in str(caught.value), f"{attack}: {caught.value}"


def test_the_service_never_holds_the_root_token(vault: VaultServer) -> None:
    env = vault.service_env()
    assert vault.root_token not in env.values() and "VAULT_TOKEN" not in env
    store = VaultStore(env)
    policies = store.client.auth.token.lookup_self()["data"]["policies"]
    assert sorted(policies) == ["default", f"provisioning-{ENV}"]
    assert Path(vault.audit_log).stat().st_size > 0


def test_the_services_own_secrets_are_read_from_vault_when_the_environment_lacks_them(
    vault: VaultServer, tmp_path: Path
) -> None:
    from service.settings import load_settings

    env = {**vault.service_env(), "SERVICE_ENV": ENV, "SERVICE_DATABASE_URL": f"sqlite:///{tmp_path / 'q.sqlite'}"}
    settings = load_settings(env)
    assert settings.operator_token.get_secret_value() == "operator-token-from-vault-0123"
    assert settings.hmac_secret.get_secret_value() == "hmac-secret-from-vault-0123456"
    given = load_settings({**env, "SERVICE_OPERATOR_TOKEN": "operator-token-from-env-012345"})
    assert given.operator_token.get_secret_value() == "operator-token-from-env-012345"  # the environment wins
