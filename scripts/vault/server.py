"""A real Vault server for tests and demos: file storage, initialised, unsealed and configured by our script.

:class:`VaultServer` starts ``.tools/bin/vault server`` (built by scripts/toolchain/build_vault.sh) on a free
loopback port with file storage in a directory of its own, initialises it (one unseal key: a test rig),
unseals it, and configures what production configures (docs/security/secrets.md):

* a KV version 2 engine at ``secret/``;
* a file audit device (Vault's own log of every request, secrets HMAC-ed) at ``<dir>/audit.log``;
* the policies in ``scripts/vault/policies/`` for the environment;
* AppRole auth with the role ``provisioning-<env>`` bound to the provisioning policy (short-lived tokens);
* the environment's platform credentials at ``secret/dokploy-cloud/<env>/platform``.

:meth:`VaultServer.service_env` gives what the service is configured with (AppRole id and secret, never the
root token). The root token stays with the rig for set-up; :meth:`auditor_token` makes a read-only token for
checks. Listening without TLS is for loopback tests only; production terminates TLS at Vault.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hvac  # type: ignore[import-untyped]  # hvac ships no type hints
import requests

from provisioning.toolchain import PROJECT_DIR, TOOLS_DIR
from provisioning.vault_store import (
    BACKEND_VAR,
    VAULT_ADDR_VAR,
    VAULT_ROLE_ID_VAR,
    VAULT_SECRET_ID_VAR,
    platform_path,
)

POLICIES_DIR = PROJECT_DIR / "scripts" / "vault" / "policies"
VAULT_BIN = TOOLS_DIR / "bin" / "vault"
CONFIG = """
storage "file" {{
  path = "{data}"
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
}}
disable_mlock = true
api_addr = "http://127.0.0.1:{port}"
ui = false
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def policy_text(name: str, env_name: str) -> str:
    """A policy file of ``scripts/vault/policies`` for ``env_name``."""
    return (POLICIES_DIR / f"{name}.hcl").read_text().replace("<env>", env_name)


class VaultServer:
    """One Vault server process, configured for environment ``env_name``."""

    def __init__(self, directory: Path, env_name: str = "local") -> None:
        self.directory, self.env_name = directory, env_name
        self.port = _free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.root_token = ""
        self.role_id = self.secret_id = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"VaultServer(addr={self.addr!r}, env={self.env_name!r})"

    @property
    def audit_log(self) -> Path:
        """Vault's own audit device: one JSON line per request and response."""
        return self.directory / "audit.log"

    def start(self, platform: Mapping[str, str] | None = None, timeout: float = 30.0) -> VaultServer:
        """Start, initialise, unseal and configure; ``platform``: credentials to store for the environment."""
        if not VAULT_BIN.exists():
            raise RuntimeError(f"{VAULT_BIN} is missing: run scripts/toolchain/build_vault.sh (scripts/setup.sh does)")
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.directory / "vault.hcl"
        config.write_text(CONFIG.format(data=data, port=self.port))
        log = (self.directory / "server.log").open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        self._process = subprocess.Popen(
            [str(VAULT_BIN), "server", f"-config={config}"], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        self._wait_listening(timeout)
        client = hvac.Client(url=self.addr, timeout=10)
        keys = client.sys.initialize(secret_shares=1, secret_threshold=1)
        client.sys.submit_unseal_key(keys["keys"][0])
        self.root_token = keys["root_token"]
        client.token = self.root_token
        self._wait_active(client, timeout)
        self._configure(client, dict(platform or {}))
        return self

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"vault exited at start; see {self.directory / 'server.log'}")
            try:
                requests.get(f"{self.addr}/v1/sys/health", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise TimeoutError(f"vault did not listen on {self.addr} within {timeout:.0f} s")

    @staticmethod
    def _wait_active(client: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not client.sys.read_health_status(method="GET").get("sealed", True):
                return
            time.sleep(0.1)
        raise TimeoutError("vault stayed sealed")

    def _configure(self, client: Any, platform: dict[str, str]) -> None:
        client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        client.sys.enable_audit_device("file", options={"file_path": str(self.audit_log)})
        for name in ("provisioning", "auditor"):
            client.sys.create_or_update_policy(f"{name}-{self.env_name}", policy_text(name, self.env_name))
        client.sys.enable_auth_method("approle")
        role = f"provisioning-{self.env_name}"
        client.auth.approle.create_or_update_approle(
            role, token_policies=[role], token_ttl="20m", token_max_ttl="1h", secret_id_ttl="0"
        )
        self.role_id = client.auth.approle.read_role_id(role)["data"]["role_id"]
        self.secret_id = client.auth.approle.generate_secret_id(role)["data"]["secret_id"]
        if platform:
            self._wait_kv(client)
            client.secrets.kv.v2.create_or_update_secret(
                path=platform_path(self.env_name), secret=platform, mount_point="secret"
            )

    @staticmethod
    def _wait_kv(client: Any, timeout: float = 10.0) -> None:
        """A new KV v2 mount upgrades itself for a moment before it takes writes."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.secrets.kv.v2.read_configuration(mount_point="secret")
                return
            except hvac.exceptions.VaultError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def root_client(self) -> Any:
        """A client with the root token (set-up and test fault injection only)."""
        return hvac.Client(url=self.addr, token=self.root_token, timeout=10)

    def auditor_token(self) -> str:
        """A token of the read-only auditor policy: lists paths and versions, reads no key."""
        created = self.root_client().auth.token.create(policies=[f"auditor-{self.env_name}"], ttl="1h")
        return str(created["auth"]["client_token"])

    def service_env(self) -> dict[str, str]:
        """The service's settings for this Vault: the vault backend, its address and the AppRole credentials."""
        return {
            BACKEND_VAR: "vault",
            VAULT_ADDR_VAR: self.addr,
            VAULT_ROLE_ID_VAR: self.role_id,
            VAULT_SECRET_ID_VAR: self.secret_id,
        }

    def stop(self) -> None:
        """Stop the server (its data directory stays for inspection)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> VaultServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def remove(directory: Path) -> None:
    """Delete a stopped server's directory."""
    shutil.rmtree(directory, ignore_errors=True)
