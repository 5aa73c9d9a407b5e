"""A tenant's current SSH key pair, read from its stack for break-glass access and the rotation policy.

The stack records the key pair resource's outputs: the public key, its fingerprint, generation and age in
plain, the private key as a Pulumi secret (the PEM on the embedded default, a Vault reference with the vault
backend, :mod:`providers.ssh_keypair`). :func:`key_facts` reads the plain part straight from the checkpoint;
:func:`private_key` decrypts the stack (``pulumi stack export --show-secrets``, the CLI's own decryption, its
output kept in memory) and resolves a Vault reference. Neither writes anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from components.environment import PROJECT
from components.naming import SSH_KEY_TYPE
from providers.ssh_keypair import private_pem
from provisioning.state_backend import CheckpointUnreadable, readable_checkpoints, stack_deployment
from provisioning.toolchain import PROJECT_DIR, pulumi_command

if TYPE_CHECKING:
    from provisioning.stacks import TenantStacks


class NoTenantKey(LookupError):
    """The tenant has no stack, or its stack no key pair (never applied, or decommissioned)."""


@dataclass(frozen=True)
class KeyFacts:
    """What is public about a tenant's key pair."""

    slug: str
    public_key: str
    fingerprint: str
    generation: int
    created_at: float | None
    backend: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _key_resource(deployment: dict[str, Any], slug: str) -> dict[str, Any]:
    for resource in deployment.get("resources") or []:
        if resource.get("type") == SSH_KEY_TYPE and not resource.get("delete"):
            return dict(resource.get("outputs") or {})
    raise NoTenantKey(f"tenant {slug!r} has no SSH key pair in its stack (not applied yet, or decommissioned)")


def _plain(value: Any) -> Any:
    """An output that the engine may have stored as a secret (dynamic outputs of a resource with a secret input)."""
    if isinstance(value, dict) and "plaintext" in value:
        return json.loads(value["plaintext"])
    return value


def key_facts(stacks: TenantStacks, slug: str) -> KeyFacts:
    """The tenant's public key, fingerprint, generation and creation time (no decryption, no secret)."""
    name = stacks.stack_name(slug)
    deployment = stack_deployment(PROJECT, name) if readable_checkpoints() else _export(stacks, name, secrets=False)
    if deployment is None:
        raise NoTenantKey(f"tenant {slug!r} has no stack {name}")
    outs = _key_resource(deployment, slug)
    if not isinstance(outs.get("public_key"), str):
        raise CheckpointUnreadable(f"the key pair of {name} keeps its public key encrypted; upgrade its stack")
    created = outs.get("created_at")
    return KeyFacts(
        slug,
        str(outs["public_key"]),
        str(outs.get("fingerprint") or ""),
        int(outs.get("generation") or 1),
        float(created) if isinstance(created, int | float) else None,
        str(outs.get("backend") or "state"),
    )


def private_key(stacks: TenantStacks, slug: str) -> tuple[KeyFacts, str]:
    """The tenant's key facts and its private key (PEM): the stack decrypted, a Vault reference read."""
    facts = key_facts(stacks, slug)
    deployment = _export(stacks, stacks.stack_name(slug), secrets=True)
    kept = _plain(_key_resource(deployment or {}, slug).get("private_key"))
    if not isinstance(kept, str) or not kept:
        raise NoTenantKey(f"the key pair of tenant {slug!r} holds no private key")
    return facts, private_pem(kept)


def _export(stacks: TenantStacks, name: str, *, secrets: bool) -> dict[str, Any] | None:
    args = ["stack", "export", "--stack", name, "--non-interactive", *(["--show-secrets"] if secrets else [])]
    env = stacks.cli_env()
    result = pulumi_command().run(args, str(PROJECT_DIR), env)
    data = json.loads(result.stdout or "{}")
    deployment = data.get("deployment")
    return deployment if isinstance(deployment, dict) else None
