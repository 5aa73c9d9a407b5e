"""A proxmoxer client built from the same environment variables the proxmoxve provider reads.

``PROXMOX_VE_ENDPOINT`` (``https://host:8006/``), ``PROXMOX_VE_API_TOKEN`` (``user@realm!id=secret``)
and ``PROXMOX_VE_INSECURE``. Built inside each provider call, never captured by a pickled provider.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from requests.adapters import HTTPAdapter

from clients.retry import RetryPolicy
from components.naming import PROXMOX_ENDPOINT_VAR, PROXMOX_INSECURE_VAR, PROXMOX_TOKEN_VAR

DEFAULT_TIMEOUT = 15
READ_RETRY = RetryPolicy(attempts=5, initial=0.5, maximum=4.0)
RETRYABLE_STATUS = frozenset({500, 502, 503, 504, 595})
"""Overload answers; PVE's own 595 means a node did not answer the node we asked."""


class ProxmoxSettingsError(RuntimeError):
    """The Proxmox environment variables are missing or malformed."""


class _RetryableAnswer(Exception):
    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (_RetryableAnswer, requests.ConnectionError, requests.Timeout))


class RetryingReads(HTTPAdapter):
    """Sends reads (GET) through the shared :class:`RetryPolicy`: connection failures, timeouts and overload
    answers are retried with backoff. Writes go out once: a repeated clone or start is not harmless."""

    def __init__(self, policy: RetryPolicy = READ_RETRY) -> None:
        super().__init__()
        self.policy = policy

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.method != "GET":
            return super().send(request, **kwargs)

        def once() -> requests.Response:
            response = HTTPAdapter.send(self, request, **kwargs)
            if response.status_code in RETRYABLE_STATUS:
                _ = response.content  # read the body so the connection goes back to the pool
                raise _RetryableAnswer(response)
            return response

        try:
            return self.policy.call(once, _transient)
        except _RetryableAnswer as last:
            return last.response  # proxmoxer turns it into its ResourceException, as without retries


def client_from_env(timeout: int = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None) -> ProxmoxAPI:
    """A ProxmoxAPI for the endpoint and token in ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    endpoint = env.get(PROXMOX_ENDPOINT_VAR, "")
    token = env.get(PROXMOX_TOKEN_VAR, "")
    url = urlparse(endpoint)
    if url.scheme != "https" or not url.hostname:
        raise ProxmoxSettingsError("PROXMOX_VE_ENDPOINT must be set to the HTTPS API URL, e.g. https://pve1:8006/")
    user, sep, rest = token.partition("!")
    token_name, sep2, secret = rest.partition("=")
    if not (sep and sep2 and user and token_name and secret):
        raise ProxmoxSettingsError("PROXMOX_VE_API_TOKEN must be set as user@realm!tokenid=secret")
    insecure = env.get(PROXMOX_INSECURE_VAR, "false").lower() in ("1", "true", "yes")
    api = ProxmoxAPI(
        url.hostname,
        port=url.port or 8006,
        service="PVE",
        backend="https",
        user=user,
        token_name=token_name,
        token_value=secret,
        verify_ssl=not insecure,
        timeout=timeout,
    )
    # proxmoxer keeps its requests session in _store (its documented extension point has none for retries).
    api._store["session"].mount("https://", RetryingReads())
    return api


def cluster_vms(api: ProxmoxAPI) -> list[dict[str, Any]]:
    """Every VM and template in the cluster (``/cluster/resources?type=vm``)."""
    return [r for r in api.cluster.resources.get(type="vm") if r.get("type") == "qemu"]


def cluster_guests(api: ProxmoxAPI) -> list[dict[str, Any]]:
    """Every VM and container (``type`` ``qemu`` or ``lxc``) in the cluster: what holds a VM id, memory and disk."""
    return [r for r in api.cluster.resources.get(type="vm") if r.get("type") in ("qemu", "lxc")]


def cluster_nodes(api: ProxmoxAPI) -> list[dict[str, Any]]:
    """Every node with its status and capacity (``/cluster/resources?type=node``)."""
    return [r for r in api.cluster.resources.get(type="node") if r.get("type") == "node"]


def cluster_storages(api: ProxmoxAPI) -> list[dict[str, Any]]:
    """Every storage of every node the token may see, with its space (``/cluster/resources?type=storage``)."""
    return [r for r in api.cluster.resources.get(type="storage") if r.get("type") == "storage"]


def vmid_taken(api: ProxmoxAPI, vmid: int) -> bool:
    """Whether ``vmid`` is used anywhere in the cluster, including by VMs this token may not see.

    ``/cluster/nextid?vmid=N`` needs no privilege and answers 400 ``VM N already exists`` for a used id;
    ``/cluster/resources`` lists only the VMs the token has ``VM.Audit`` on.
    """
    try:
        api.cluster.nextid.get(vmid=vmid)
    except ResourceException as exc:
        if exc.status_code == 400 and "already exists" in f"{exc.content} {exc.errors}":
            return True
        raise
    return False
