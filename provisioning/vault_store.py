"""Tenant SSH keys and platform credentials in HashiCorp Vault (KV version 2), through ``hvac``.

The production secrets backend (``DOKPLOY_CLOUD_SECRETS_BACKEND=vault``). Layout under the KV mount
(``VAULT_KV_MOUNT``, default ``secret``)::

    dokploy-cloud/<env>/tenants/<slug>/ssh     one tenant's key pair; every rotation is a new version
    dokploy-cloud/<env>/platform               the platform credentials (PROXMOX_VE_API_TOKEN, DOKPLOY_API_KEY, ...)

Stacks hold only a reference, ``vault:<mount>/<path>#<version>`` (:func:`key_ref` / :func:`parse_ref`). The
service authenticates with AppRole (``VAULT_ROLE_ID`` and ``VAULT_SECRET_ID``) or a token (``VAULT_TOKEN``);
its policy (``scripts/vault/policies/provisioning.hcl``) allows exactly these paths. Every call has a timeout
and is retried on connection errors and 5xx answers; errors name the path, never a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import hvac  # type: ignore[import-untyped]  # hvac ships no type hints
import requests
from hvac import exceptions as vault_errors

from clients.retry import RetryPolicy

BACKEND_VAR = "DOKPLOY_CLOUD_SECRETS_BACKEND"
"""``state`` (default: private keys are Pulumi secrets in the stack) or ``vault``."""
VAULT_ADDR_VAR = "VAULT_ADDR"
VAULT_TOKEN_VAR = "VAULT_TOKEN"  # secret
VAULT_ROLE_ID_VAR = "VAULT_ROLE_ID"
VAULT_SECRET_ID_VAR = "VAULT_SECRET_ID"  # secret
VAULT_MOUNT_VAR = "VAULT_KV_MOUNT"
VAULT_CACERT_VAR = "VAULT_CACERT"
VAULT_VARIABLES = (
    BACKEND_VAR,
    VAULT_ADDR_VAR,
    VAULT_TOKEN_VAR,
    VAULT_ROLE_ID_VAR,
    VAULT_SECRET_ID_VAR,
    VAULT_MOUNT_VAR,
    VAULT_CACERT_VAR,
)
"""What a run needs to reach Vault: passed through to the engine."""
PREFIX = "dokploy-cloud"
TIMEOUT = 10.0
RETRY = RetryPolicy(attempts=4, initial=0.5, maximum=4.0)
_REF = re.compile(r"^vault:(?P<mount>[A-Za-z0-9_-]+)/(?P<path>[A-Za-z0-9_./-]+)#(?P<version>[1-9][0-9]*)$")


class VaultError(RuntimeError):
    """Vault refused or could not be reached; the message names the path and what to check."""


def uses_vault(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process keeps private keys in Vault (``DOKPLOY_CLOUD_SECRETS_BACKEND=vault``)."""
    backend = environ.get(BACKEND_VAR, "state") or "state"
    if backend not in ("state", "vault"):
        raise VaultError(f"{BACKEND_VAR} must be 'state' or 'vault', not {backend!r}")
    return backend == "vault"


def tenant_key_path(env_name: str, slug: str) -> str:
    """Where a tenant's key pair lives under the mount."""
    return f"{PREFIX}/{env_name}/tenants/{slug}/ssh"


def platform_path(env_name: str) -> str:
    """Where an environment's platform credentials live under the mount."""
    return f"{PREFIX}/{env_name}/platform"


def key_ref(mount: str, path: str, version: int) -> str:
    """The reference a stack stores for one version of a secret."""
    return f"vault:{mount}/{path}#{version}"


@dataclass(frozen=True)
class SecretRef:
    """A parsed :func:`key_ref`."""

    mount: str
    path: str
    version: int


def parse_ref(ref: str) -> SecretRef | None:
    """The reference in ``ref``, or None when ``ref`` is not one (e.g. a PEM key kept in state)."""
    found = _REF.match(ref.strip())
    if found is None:
        return None
    return SecretRef(found["mount"], found["path"], int(found["version"]))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return True
    return isinstance(exc, vault_errors.InternalServerError | vault_errors.VaultDown | vault_errors.BadGateway)


class VaultStore:
    """KV v2 reads and writes with the process's Vault credentials."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        addr = environ.get(VAULT_ADDR_VAR)
        if not addr:
            raise VaultError(f"{BACKEND_VAR}=vault needs {VAULT_ADDR_VAR} (e.g. https://vault.internal:8200)")
        self.mount = environ.get(VAULT_MOUNT_VAR) or "secret"
        verify: bool | str = environ.get(VAULT_CACERT_VAR) or True
        self.client = hvac.Client(url=addr, timeout=TIMEOUT, verify=verify)
        role, secret = environ.get(VAULT_ROLE_ID_VAR), environ.get(VAULT_SECRET_ID_VAR)
        if role and secret:
            self._call("log in with AppRole", "auth/approle", lambda: self.client.auth.approle.login(role, secret))
        elif environ.get(VAULT_TOKEN_VAR):
            self.client.token = environ[VAULT_TOKEN_VAR]
        else:
            raise VaultError(f"set {VAULT_ROLE_ID_VAR} and {VAULT_SECRET_ID_VAR} (AppRole) or {VAULT_TOKEN_VAR}")

    def _call(self, what: str, path: str, fn: Any) -> Any:
        try:
            return RETRY.call(fn, _retryable)
        except (vault_errors.Forbidden, vault_errors.Unauthorized):
            raise VaultError(
                f"Vault refused to {what} at {path}: the policy of this credential does not allow it "
                "(scripts/vault/policies/provisioning.hcl lists what the service needs)"
            ) from None
        except vault_errors.InvalidPath:
            raise VaultError(f"Vault has nothing at {path} ({what})") from None
        except (requests.RequestException, vault_errors.VaultError) as exc:
            raise VaultError(
                f"Vault could not {what} at {path} ({type(exc).__name__}); check {VAULT_ADDR_VAR}"
            ) from None

    def write(self, path: str, data: Mapping[str, str]) -> str:
        """Write a new version of ``path``; its reference."""
        kv = self.client.secrets.kv.v2
        answer = self._call(
            "write", path, lambda: kv.create_or_update_secret(path=path, secret=dict(data), mount_point=self.mount)
        )
        return key_ref(self.mount, path, int(answer["data"]["version"]))

    def read_ref(self, ref: str) -> dict[str, str]:
        """The data of the version ``ref`` names."""
        parsed = parse_ref(ref)
        if parsed is None:
            raise VaultError("not a Vault reference (expected vault:<mount>/<path>#<version>)")
        kv = self.client.secrets.kv.v2
        answer = self._call(
            "read",
            parsed.path,
            lambda: kv.read_secret_version(
                path=parsed.path, version=parsed.version, mount_point=parsed.mount, raise_on_deleted_version=True
            ),
        )
        return dict(answer["data"]["data"])

    def read_latest(self, path: str) -> dict[str, str]:
        """The newest version's data."""
        kv = self.client.secrets.kv.v2
        answer = self._call(
            "read",
            path,
            lambda: kv.read_secret_version(path=path, mount_point=self.mount, raise_on_deleted_version=True),
        )
        return dict(answer["data"]["data"])

    def remove(self, path: str) -> None:
        """Delete ``path`` with every version and its metadata (decommission); nothing there is fine."""
        kv = self.client.secrets.kv.v2
        try:
            self._call("delete", path, lambda: kv.delete_metadata_and_all_versions(path, mount_point=self.mount))
        except VaultError as exc:
            if "has nothing at" not in str(exc):
                raise
