"""Pulumi dynamic provider: a tenant VM registered and set up as a Dokploy remote server.

One resource owns both the Dokploy SSH key and the server. The key exists only so Dokploy can
reach this one server; Dokploy keys are immutable and their create returns no id, so a separate
resource would add an ordering edge and a second find-after-create without adding any choice for
the operator. Keeping both in one resource makes ``create`` transactional (a failed server
registration or setup removes the key it registered) and keeps the private key a single secret input.

This module does the Dokploy calls; what to check, compare and do is decided by the pure
:mod:`providers.dokploy_server_rules`.

Decisions:
* Credentials are read from ``DOKPLOY_URL`` / ``DOKPLOY_API_KEY`` inside each method; the provider
  object holds nothing (Pulumi pickles it with dill into the state).
* Every object we create carries ``[pulumi:<marker>]`` in its description (the marker is derived
  from project, stack and resource name). ``create`` first looks for it, so a create interrupted
  after ``server.create`` adopts the row instead of making a duplicate.
* ``server.setup`` answers 200 even when installation failed; success is decided by ``server.validate``.
* A changed organization, server type or marker replaces (delete first: two registrations
  of one VM would be set up concurrently, and Cloud quota may not fit both); name, description,
  address, port, user and docker cleanup update in place (address/port/user changes re-run setup).
* A changed key pair (a rotation) is swapped in place, never by replacement (which would drop the server's
  deployments): the new key is registered, the server pointed at it and validated, and only then is the
  old key removed. If the server refuses the new key, the server is pointed back at the old one and the
  new one removed, so Dokploy can always reach the server with a key it holds.
* ``private_key`` is the PEM, or a Vault reference (``vault:<mount>/<path>#<version>``) read only when a key
  is registered (:mod:`provisioning.vault_store`).
* Dokploy refuses to remove a server that still has services. ``on_services="fail"`` (default)
  makes delete fail saying so; ``"detach"`` drops it from the stack and leaves it in Dokploy.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi
from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from clients.dokploy import DokployClient, DokployError
from components.naming import (
    DOKPLOY_API_KEY_VAR,
    DOKPLOY_SERVER_MODULE,
    DOKPLOY_SERVER_NAME,
    DOKPLOY_TIMEOUT_VAR,
    DOKPLOY_URL_VAR,
)
from providers.dokploy_server_rules import (
    DEFAULTS,
    QUOTA_MESSAGE,
    RemoveOutcome,
    adopted_row_differs,
    check_inputs,
    diff_props,
    hidden_create_failure,
    inactive_server_message,
    organization_mismatch,
    outputs,
    poll_interval,
    read_outputs,
    ready_timeout,
    rekey_needed,
    remove_outcome,
    server_fields,
    services_left_message,
    setup_failure_message,
    setup_needed_on_update,
    tag,
    validate_wait,
    wants_setup,
)
from providers.ssh_keypair import private_pem

__all__ = ["DEFAULTS", "DokployServer", "DokployServerArgs", "DokployServerProvider"]

KEY_PROOF_SECONDS = 60.0
"""How long a swapped-in key has to prove it logs in (``server.validate``) before the old key is restored."""
DEFAULT_TIMEOUT = 30.0
"""Seconds per Dokploy call unless ``DOKPLOY_TIMEOUT`` says otherwise."""


def _client() -> DokployClient:
    """A client from the environment, built per call (nothing is captured by the pickled provider)."""
    url, key = os.environ.get(DOKPLOY_URL_VAR, ""), os.environ.get(DOKPLOY_API_KEY_VAR, "")
    if not url or not key:
        raise RuntimeError("DOKPLOY_URL and DOKPLOY_API_KEY must be set in the environment of `pulumi up`")
    raw = os.environ.get(DOKPLOY_TIMEOUT_VAR) or str(DEFAULT_TIMEOUT)
    try:
        timeout = float(raw)
    except ValueError:
        raise RuntimeError("DOKPLOY_TIMEOUT must be a number of seconds per Dokploy call, e.g. 30") from None
    return DokployClient(url, key, timeout=timeout)


def _ready_after_setup(client: DokployClient, server_id: str, timeout: float) -> dict[str, Any]:
    """Run setup, then prove it with validate (setup answers 200 even when it failed)."""
    answered = True
    try:
        client.server_setup(server_id, timeout=timeout)
    except DokployError as err:
        if err.status is not None:
            raise
        answered = False
    wait = validate_wait(timeout, answered)
    try:
        return client.wait_ready(server_id, timeout=wait, interval=poll_interval(wait))
    except DokployError as err:
        raise RuntimeError(setup_failure_message(server_id, client.server_one(server_id), err.message)) from None


class DokployServerProvider(ResourceProvider):
    """Registers an SSH key and a server in Dokploy, sets the server up and verifies it."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_inputs(news)
        return CheckResult(inputs, [CheckFailure(p, r) for p, r in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = diff_props(olds, news)
        return DiffResult(
            changes=bool(result["changed"]),
            replaces=result["replaces"],
            delete_before_replace=result["delete_before_replace"],
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = _client()
        mismatch = organization_mismatch(client.organization_active(), props["organization_id"])
        if mismatch:
            raise RuntimeError(mismatch)
        key = _registered_key(client, props)
        try:
            row = self._find_or_create_server(client, props, key["sshKeyId"])
            ready = False
            if wants_setup(props):
                _ready_after_setup(client, row["serverId"], ready_timeout(props))
                ready = True
        except Exception:
            self._rollback(client, props["marker"], key["sshKeyId"])
            raise
        return CreateResult(row["serverId"], outputs(props, row, key["sshKeyId"], ready))

    @staticmethod
    def _find_or_create_server(client: DokployClient, props: dict[str, Any], ssh_key_id: str) -> dict[str, Any]:
        """Adopt our server left by an interrupted create; else create one (never blindly retried)."""
        fields = server_fields(props, ssh_key_id)
        found = client.server_find(tag(props["marker"]))
        if not found:
            if not client.can_create_more_servers():
                raise RuntimeError(QUOTA_MESSAGE)
            try:
                return client.server_create(**fields)
            except DokployError as err:
                found = client.server_find(tag(props["marker"]))  # inserted despite the error?
                if not found:
                    raise RuntimeError(hidden_create_failure(str(err))) from None
        row = found[0]
        if adopted_row_differs(row, fields):
            row = client.server_update(row["serverId"], **fields)
        return row

    @staticmethod
    def _rollback(client: DokployClient, marker: str, ssh_key_id: str | None) -> None:
        """Remove what this create left registered; keep the original error if cleanup fails too."""
        for row in client.server_find(tag(marker)):
            try:
                client.server_remove(row["serverId"])
            except DokployError as err:
                pulumi.log.warn(f"could not remove half-registered Dokploy server {row['serverId']}: {err}")
        if ssh_key_id:
            try:
                client.ssh_key_remove(ssh_key_id)
            except DokployError as err:
                pulumi.log.warn(f"could not remove SSH key {ssh_key_id}: {err}")

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            row = _client().server_one(id_)
        except DokployError as err:
            if err.status == 404:
                return ReadResult("", {})
            raise
        return ReadResult(id_, read_outputs(props, row))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = _client()
        key_id = olds.get("ssh_key_id")
        if rekey_needed(olds, news):
            key_id = _swap_key(client, id_, olds, news)
        try:
            row = client.server_update(id_, **server_fields(news, key_id))
        except DokployError as err:
            if err.message == "Server is inactive":
                raise RuntimeError(inactive_server_message(id_)) from None
            raise
        ready = bool(olds.get("ready"))
        if setup_needed_on_update(olds, news):
            _ready_after_setup(client, id_, ready_timeout(news))
            ready = True
        return UpdateResult(outputs(news, row, key_id, ready))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client = _client()
        try:
            client.server_remove(id_)
        except DokployError as err:
            outcome = remove_outcome(err.status, err.message, props.get("on_services"))
            if outcome is RemoveOutcome.DETACH:
                pulumi.log.warn(
                    f"Dokploy server {id_} still has services; detached from the stack, "
                    "left in Dokploy with its SSH key"
                )
                return
            if outcome is RemoveOutcome.REFUSE:
                raise RuntimeError(services_left_message(id_)) from None
            if outcome is RemoveOutcome.RAISE:
                raise
        if props.get("ssh_key_id"):
            try:
                client.ssh_key_remove(props["ssh_key_id"])
            except DokployError as err:
                if err.status != 404:
                    raise


def _registered_key(client: DokployClient, props: dict[str, Any]) -> dict[str, Any]:
    """Our key for ``props``' public key: found (from an interrupted create or swap) or registered now."""
    marker = tag(props["marker"])
    key = client.ssh_key_find(props["public_key"], marker)
    if key is None:
        pem = private_pem(str(props["private_key"]))
        key = client.register_ssh_key(props["name"], props["public_key"], pem, marker)
    return key


def _swap_key(client: DokployClient, server_id: str, olds: dict[str, Any], news: dict[str, Any]) -> str:
    """Point the server at the new key with no moment where Dokploy holds no working key; the new key's id."""
    old_key = olds.get("ssh_key_id")
    new_key = _registered_key(client, news)["sshKeyId"]
    if new_key == old_key:
        return str(new_key)
    try:
        client.server_update(server_id, **server_fields(news, new_key))
    except DokployError as err:
        if err.message == "Server is inactive":
            raise RuntimeError(inactive_server_message(server_id)) from None
        raise
    if olds.get("ready") and wants_setup(news):  # a server Dokploy used: prove the new key logs in
        try:
            client.wait_ready(server_id, timeout=KEY_PROOF_SECONDS, interval=poll_interval(KEY_PROOF_SECONDS))
        except DokployError as err:
            if old_key:
                client.server_update(server_id, **server_fields(olds, old_key))
            client.ssh_key_remove(new_key)
            raise RuntimeError(
                f"Dokploy could not log in to server {server_id} with the new SSH key ({err.message}); "
                "it keeps the old key. Check that the server accepts the new key (its authorized_keys), then run again"
            ) from None
    if old_key:
        try:
            client.ssh_key_remove(old_key)
        except DokployError as err:
            if err.status != 404:
                raise
    return str(new_key)


# -- resource ------------------------------------------------------------------------------
class DokployServerArgs:
    """Inputs of :class:`DokployServer`. Credentials are not inputs: set DOKPLOY_URL / DOKPLOY_API_KEY."""

    def __init__(
        self,
        *,
        name: Input[str],
        organization_id: Input[str],
        ip_address: Input[str],
        public_key: Input[str],
        private_key: Input[str],
        port: Input[int] = 22,
        username: Input[str] = "root",
        server_type: Input[str] = "deploy",
        description: Input[str] | None = None,
        enable_docker_cleanup: Input[bool] = True,
        on_services: Input[str] = "fail",
        setup: Input[bool] = True,
        ready_timeout: Input[float] = 600.0,
        marker: Input[str] | None = None,
    ) -> None:
        self.name = name  #: server name shown in Dokploy (not unique there)
        self.organization_id = organization_id  #: the tenant org the API key must be bound to; change replaces
        self.ip_address = ip_address  #: address Dokploy SSHes to; change updates and re-runs setup
        self.public_key = public_key  #: OpenSSH public key authorized on the VM; change replaces
        self.private_key = private_key  #: its private half (secret); change replaces
        self.port = port  #: SSH port
        self.username = username  #: SSH user: root or passwordless sudo (the VM's cloud-init user)
        self.server_type = server_type  #: "deploy" or "build"; change replaces
        self.description = description  #: free text; our marker is appended in Dokploy
        self.enable_docker_cleanup = enable_docker_cleanup  #: Dokploy's nightly docker cleanup
        self.on_services = on_services  #: delete with services left: "fail" or "detach"
        self.setup = setup  #: run server.setup and require server.validate to pass
        self.ready_timeout = ready_timeout  #: seconds allowed for setup to become verifiable
        self.marker = marker  #: unique tag for find-and-adopt; default project/stack/resource name


class DokployServer(Resource, module=DOKPLOY_SERVER_MODULE, name=DOKPLOY_SERVER_NAME):
    """A VM registered as a Dokploy remote server, set up and verified."""

    server_id: Output[str]
    ssh_key_id: Output[str]
    app_name: Output[str]
    server_status: Output[str]
    ready: Output[bool]
    organization_id: Output[str]
    ip_address: Output[str]

    def __init__(self, resource_name: str, args: DokployServerArgs, opts: ResourceOptions | None = None) -> None:
        props = dict(vars(args))
        props["private_key"] = Output.secret(args.private_key)  # inputs live in state too: never in plain
        if props["marker"] is None:
            props["marker"] = f"{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"
        props.update(
            dict.fromkeys(("server_id", "ssh_key_id", "app_name", "server_status", "ready", "private_key_sha256"))
        )
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["private_key"]))
        super().__init__(DokployServerProvider(), resource_name, props, opts)
