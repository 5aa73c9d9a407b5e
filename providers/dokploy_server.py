"""Pulumi dynamic provider: a tenant VM registered and set up as a Dokploy remote server.

One resource owns both the Dokploy SSH key and the server. The key exists only so Dokploy can
reach this one server; Dokploy keys are immutable and their create returns no id, so a separate
resource would add an ordering edge and a second find-after-create without adding any choice for
the operator. Keeping both in one resource makes ``create`` transactional (a failed server
registration or setup removes the key it registered) and keeps the private key a single secret input.

Decisions:
* Credentials are read from ``DOKPLOY_URL`` / ``DOKPLOY_API_KEY`` inside each method; the provider
  object holds nothing (Pulumi pickles it with dill into the state).
* Every object we create carries ``[pulumi:<marker>]`` in its description (the marker is derived
  from project, stack and resource name). ``create`` first looks for it, so a create interrupted
  after ``server.create`` adopts the row instead of making a duplicate.
* ``server.setup`` answers 200 even when installation failed; success is decided by ``server.validate``.
* A changed organization, key pair, server type or marker replaces (delete first: two registrations
  of one VM would be set up concurrently, and Cloud quota may not fit both); name, description,
  address, port, user and docker cleanup update in place (address/port/user changes re-run setup).
* Dokploy refuses to remove a server that still has services. ``on_services="fail"`` (default)
  makes delete fail saying so; ``"detach"`` drops it from the stack and leaves it in Dokploy.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from typing import Any, Optional, TypedDict

import pulumi
from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import (CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource,
                            ResourceProvider, UpdateResult)

from clients.dokploy import DokployClient, DokployError, RetryPolicy
from providers.wire import is_unknown, whole_numbers

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN (preview placeholder)
DEFAULTS: dict[str, Any] = {"port": 22, "username": "root", "server_type": "deploy", "description": None,
                            "enable_docker_cleanup": True, "on_services": "fail", "setup": True,
                            "ready_timeout": 600.0}
REPLACE_KEYS = ("organization_id", "public_key", "private_key_sha256", "server_type", "marker")
UPDATE_KEYS = ("name", "description", "ip_address", "port", "username", "enable_docker_cleanup",
               "on_services", "setup", "ready_timeout")
RESETUP_KEYS = ("ip_address", "port", "username")
_PUBLIC_KEY = re.compile(r"^(ssh-rsa|ssh-ed25519) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$")
_PRIVATE_KEY = re.compile(r"^-----BEGIN (OPENSSH|RSA) PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END \1 PRIVATE KEY-----\n$")
_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class _Inputs(TypedDict, total=False):
    name: str
    organization_id: str
    ip_address: str
    port: int
    username: str
    public_key: str
    private_key: str
    server_type: str
    description: Optional[str]
    enable_docker_cleanup: bool
    on_services: str
    setup: bool
    ready_timeout: float
    marker: str


# -- pure logic ----------------------------------------------------------------------------
def _known(value: Any) -> bool:
    return not is_unknown(value)


def _field_failure(key: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable for ``key`` (None when it is)."""
    if key in ("name", "organization_id", "marker"):
        ok = isinstance(value, str) and value.strip() != "" and len(value) <= 200
        return None if ok else "must be a non-empty string of at most 200 characters"
    if key == "ip_address":
        return None if isinstance(value, str) and _is_host(value) else "must be an IPv4/IPv6 address or a hostname"
    if key == "port":
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
        return None if ok else "must be an integer from 1 to 65535"
    if key == "username":
        return None if isinstance(value, str) and _USERNAME.match(value) else "must be a POSIX user name, e.g. root"
    if key == "public_key":
        ok = isinstance(value, str) and bool(_PUBLIC_KEY.match(value))
        return None if ok else "must be an OpenSSH 'ssh-ed25519 ...' or 'ssh-rsa ...' line (Dokploy accepts no other type)"
    if key == "private_key":
        ok = isinstance(value, str) and bool(_PRIVATE_KEY.match(value))
        return None if ok else "must be an unencrypted OpenSSH or RSA PEM private key with LF line endings"
    if key == "server_type":
        return None if value in ("deploy", "build") else "must be 'deploy' or 'build'"
    if key == "on_services":
        return None if value in ("fail", "detach") else "must be 'fail' (refuse to delete) or 'detach' (leave it in Dokploy)"
    if key == "description":
        return None if value is None or isinstance(value, str) else "must be a string or null"
    if key in ("enable_docker_cleanup", "setup"):
        return None if isinstance(value, bool) else "must be true or false"
    if key == "ready_timeout":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 7200
        return None if ok else "must be a number of seconds between 0 and 7200"
    return None


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(value)) and not value.replace(".", "").isdigit()


def check_inputs(news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Apply defaults, normalise, and list (property, reason) failures. Unknown values are not judged."""
    inputs = whole_numbers({k: v for k, v in news.items() if not k.startswith("__")}, ("port",))
    for key, value in DEFAULTS.items():
        if inputs.get(key) is None and key != "description":
            inputs[key] = value
    inputs.setdefault("description", None)
    if isinstance(inputs.get("private_key"), str) and _known(inputs["private_key"]):
        key = inputs["private_key"].replace("\r\n", "\n").strip("\n")
        inputs["private_key"] = key + "\n" if key else ""
    if isinstance(inputs.get("public_key"), str) and _known(inputs["public_key"]):
        inputs["public_key"] = inputs["public_key"].strip()
    failures = []
    for key in ("name", "organization_id", "ip_address", "port", "username", "public_key", "private_key",
                "server_type", "description", "enable_docker_cleanup", "on_services", "setup",
                "ready_timeout", "marker"):
        if key not in inputs and key not in DEFAULTS:
            failures.append((key, "is required"))
        elif _known(inputs.get(key)):
            reason = _field_failure(key, inputs.get(key))
            if reason:
                failures.append((key, reason))
    return inputs, failures


def key_fingerprint(private_key: str) -> str:
    """What the state keeps instead of the private key, so a changed key is still detected."""
    return "sha256:" + hashlib.sha256(private_key.encode()).hexdigest()


def _comparable(props: dict[str, Any]) -> dict[str, Any]:
    out = {k: props.get(k, DEFAULTS.get(k)) for k in REPLACE_KEYS + UPDATE_KEYS if k != "private_key_sha256"}
    if "private_key" in props:
        out["private_key_sha256"] = key_fingerprint(props["private_key"]) if _known(props["private_key"]) else UNKNOWN
    else:
        out["private_key_sha256"] = props.get("private_key_sha256")
    return out


def diff_props(olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    """Classify changed input keys: ``changed``, ``replaces`` (a subset), ``delete_before_replace``."""
    old, new = _comparable(olds), _comparable(news)
    changed = sorted(k for k in new if old.get(k) != new[k] or is_unknown(new[k]))
    replaces = [k for k in changed if k in REPLACE_KEYS]
    return {"changed": changed, "replaces": replaces, "delete_before_replace": bool(replaces)}


def tag(marker: str) -> str:
    """The token put in descriptions to find our objects again."""
    return f"[pulumi:{marker}]"


def tagged_description(description: str | None, marker: str) -> str:
    return f"{description} {tag(marker)}" if description else tag(marker)


def untagged_description(description: str | None, marker: str) -> str | None:
    text = (description or "").replace(tag(marker), "").strip()
    return text or None


def outputs(inputs: dict[str, Any], row: dict[str, Any], ssh_key_id: str | None, ready: bool) -> dict[str, Any]:
    """State outputs: inputs minus the private key, plus what Dokploy assigned."""
    outs = {k: v for k, v in inputs.items() if k != "private_key" and not k.startswith("__")}
    outs.update({"private_key_sha256": key_fingerprint(inputs["private_key"]) if "private_key" in inputs
                 else inputs.get("private_key_sha256"),
                 "server_id": row["serverId"], "ssh_key_id": ssh_key_id, "app_name": row.get("appName"),
                 "server_status": row.get("serverStatus"), "ready": ready})
    return outs


# -- provider ------------------------------------------------------------------------------
def _client() -> DokployClient:
    """A client from the environment, built per call (nothing is captured by the pickled provider)."""
    url, key = os.environ.get("DOKPLOY_URL", ""), os.environ.get("DOKPLOY_API_KEY", "")
    if not url or not key:
        raise RuntimeError("DOKPLOY_URL and DOKPLOY_API_KEY must be set in the environment of `pulumi up`")
    timeout = float(os.environ.get("DOKPLOY_TIMEOUT", "30"))
    return DokployClient(url, key, timeout=timeout, retry=RetryPolicy())


def _ready_after_setup(client: DokployClient, server_id: str, timeout: float) -> dict[str, Any]:
    """Run setup, then prove it with validate (setup answers 200 even when it failed)."""
    wait = min(10.0, timeout)  # setup returned: validate should agree almost at once
    try:
        client.server_setup(server_id, timeout=timeout)
    except DokployError as err:
        if err.status is not None:
            raise
        wait = timeout  # connection dropped: setup goes on server-side, so poll for it
    try:
        return client.wait_ready(server_id, timeout=wait, interval=min(2.0, wait / 5))
    except DokployError as err:
        deployments = client.server_one(server_id).get("deployments") or []  # newest first
        last = deployments[0] if deployments else {}
        detail = f"; last setup deployment: {last.get('status')}" if last else ""
        if last.get("errorMessage"):
            detail += f" ({last['errorMessage']})"
        row = client.server_one(server_id)
        target = f"{row.get('username')}@{row.get('ipAddress')}:{row.get('port')}"
        raise RuntimeError(
            f"Dokploy setup of server {server_id} ({target}) did not complete: {err.message}{detail}. "
            "Check that the VM is running, answers SSH on that address and has this key authorized for that user."
        ) from None


def _check_org(client: DokployClient, organization_id: str) -> None:
    active = client.organization_active()
    if not active or active.get("id") != organization_id:
        bound = active.get("id") if active else "no organization"
        raise RuntimeError(f"organization_id: DOKPLOY_API_KEY is bound to {bound}, not {organization_id}; "
                           "use a key created for the tenant organization")


class DokployServerProvider(ResourceProvider):
    """Registers an SSH key and a server in Dokploy, sets the server up and verifies it."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_inputs(news)
        return CheckResult(inputs, [CheckFailure(p, r) for p, r in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = diff_props(olds, news)
        return DiffResult(changes=bool(result["changed"]), replaces=result["replaces"],
                          delete_before_replace=result["delete_before_replace"])

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = _client()
        _check_org(client, props["organization_id"])
        marker = tag(props["marker"])
        key = client.ssh_key_find(props["public_key"], marker)  # ours from an interrupted create?
        if key is None:
            key = client.register_ssh_key(props["name"], props["public_key"], props["private_key"], marker)
        try:
            row = self._find_or_create_server(client, props, key["sshKeyId"])
            ready = False
            if props.get("setup", True):
                _ready_after_setup(client, row["serverId"], float(props.get("ready_timeout", 600)))
                ready = True
        except Exception:
            self._rollback(client, props["marker"], key["sshKeyId"])
            raise
        return CreateResult(row["serverId"], outputs(props, row, key["sshKeyId"], ready))

    @staticmethod
    def _find_or_create_server(client: DokployClient, props: dict[str, Any], ssh_key_id: str) -> dict[str, Any]:
        """Adopt our server left by an interrupted create; else create one (never blindly retried)."""
        fields = dict(name=props["name"], description=tagged_description(props.get("description"), props["marker"]),
                      ip_address=props["ip_address"], port=props["port"], username=props["username"],
                      ssh_key_id=ssh_key_id, server_type=props["server_type"],
                      enable_docker_cleanup=props["enable_docker_cleanup"])
        found = client.server_find(tag(props["marker"]))
        if not found:
            if not client.can_create_more_servers():
                raise RuntimeError("Dokploy refused: the organization owner's server quota is used up "
                                   "(stripe.canCreateMoreServers is false); raise the plan's server count")
            try:
                return client.server_create(**fields)
            except DokployError as err:
                found = client.server_find(tag(props["marker"]))  # inserted despite the error?
                if not found:
                    raise RuntimeError(f"{err} (Dokploy hides the cause of server.create failures: "
                                       "check quota, SSH key and input)") from None
        row = found[0]
        if any(row.get(k) != v for k, v in (("ipAddress", fields["ip_address"]), ("port", fields["port"]),
                                            ("username", fields["username"]), ("sshKeyId", ssh_key_id),
                                            ("name", fields["name"]), ("description", fields["description"]))):
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
        client = _client()
        try:
            row = client.server_one(id_)
        except DokployError as err:
            if err.status == 404:
                return ReadResult("", {})
            raise
        marker = props.get("marker", "")
        outs = dict(props)
        outs.update({"name": row["name"], "description": untagged_description(row.get("description"), marker),
                     "ip_address": row["ipAddress"], "port": row["port"], "username": row["username"],
                     "server_type": row["serverType"], "enable_docker_cleanup": row["enableDockerCleanup"],
                     "ssh_key_id": row.get("sshKeyId"), "server_status": row.get("serverStatus"),
                     "app_name": row.get("appName")})
        if row.get("sshKeyId") != props.get("ssh_key_id") or not row.get("sshKeyId"):
            outs["public_key"] = None  # our key is gone or swapped: the next up replaces the registration
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = _client()
        fields = dict(name=news["name"], description=tagged_description(news.get("description"), news["marker"]),
                      ip_address=news["ip_address"], port=news["port"], username=news["username"],
                      ssh_key_id=olds.get("ssh_key_id"), server_type=news["server_type"],
                      enable_docker_cleanup=news["enable_docker_cleanup"])
        try:
            row = client.server_update(id_, **fields)
        except DokployError as err:
            if err.message == "Server is inactive":
                raise RuntimeError(f"Dokploy server {id_} is inactive (Cloud billing: more servers than the "
                                   "subscription pays for); it cannot be updated until reactivated") from None
            raise
        ready = bool(olds.get("ready"))
        if news.get("setup", True) and (not ready or any(olds.get(k) != news.get(k) for k in RESETUP_KEYS)):
            _ready_after_setup(client, id_, float(news.get("ready_timeout", 600)))
            ready = True
        return UpdateResult(outputs(news, row, olds.get("ssh_key_id"), ready))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client = _client()
        try:
            client.server_remove(id_)
        except DokployError as err:
            if err.status == 400 and "active services" in err.message:
                if props.get("on_services") == "detach":
                    pulumi.log.warn(f"Dokploy server {id_} still has services; detached from the stack, "
                                    "left in Dokploy with its SSH key")
                    return
                raise RuntimeError(f"Dokploy refuses to remove server {id_}: it still has applications, compose "
                                   "stacks or databases. Delete them in Dokploy, or set on_services='detach' "
                                   "to drop it from the stack and leave it registered") from None
            if err.status != 404:
                raise
        if props.get("ssh_key_id"):
            try:
                client.ssh_key_remove(props["ssh_key_id"])
            except DokployError as err:
                if err.status != 404:
                    raise


# -- resource ------------------------------------------------------------------------------
class DokployServerArgs:
    """Inputs of :class:`DokployServer`. Credentials are not inputs: set DOKPLOY_URL / DOKPLOY_API_KEY."""

    def __init__(self, *, name: Input[str], organization_id: Input[str], ip_address: Input[str],
                 public_key: Input[str], private_key: Input[str], port: Input[int] = 22,
                 username: Input[str] = "root", server_type: Input[str] = "deploy",
                 description: Optional[Input[str]] = None, enable_docker_cleanup: Input[bool] = True,
                 on_services: Input[str] = "fail", setup: Input[bool] = True,
                 ready_timeout: Input[float] = 600.0, marker: Optional[Input[str]] = None) -> None:
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


class DokployServer(Resource, module="dokploy", name="Server"):
    """A VM registered as a Dokploy remote server, set up and verified."""

    server_id: Output[str]
    ssh_key_id: Output[str]
    app_name: Output[str]
    server_status: Output[str]
    ready: Output[bool]
    organization_id: Output[str]
    ip_address: Output[str]

    def __init__(self, resource_name: str, args: DokployServerArgs, opts: Optional[ResourceOptions] = None) -> None:
        props = dict(vars(args))
        props["private_key"] = Output.secret(args.private_key)  # inputs live in state too: never in plain
        if props["marker"] is None:
            props["marker"] = f"{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"
        props.update({k: None for k in ("server_id", "ssh_key_id", "app_name", "server_status", "ready",
                                        "private_key_sha256")})
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["private_key"]))
        super().__init__(DokployServerProvider(), resource_name, props, opts)
