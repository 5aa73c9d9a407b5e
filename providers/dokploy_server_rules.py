"""Pure rules of the Dokploy server provider: input checks, diff, state outputs and what to do next.

No I/O here (no client, no environment), so the laws in tests/dokploy/test_dokploy_server_rules.py
can be checked with Hypothesis. :mod:`providers.dokploy_server` does the calls these rules decide on.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from components.naming import contains_unknown
from providers.wire import whole_numbers
from provisioning.vault_store import parse_ref

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN (preview placeholder)
DEFAULTS: dict[str, Any] = {
    "port": 22,
    "username": "root",
    "server_type": "deploy",
    "description": None,
    "enable_docker_cleanup": True,
    "on_services": "fail",
    "setup": True,
    "ready_timeout": 600.0,
}
REPLACE_KEYS = ("organization_id", "server_type", "marker")
REKEY_KEYS = ("public_key", "private_key_sha256")
"""A new key pair is swapped in place (register, point the server at it, validate, remove the old one)."""
UPDATE_KEYS = (
    *REKEY_KEYS,
    "name",
    "description",
    "ip_address",
    "port",
    "username",
    "enable_docker_cleanup",
    "on_services",
    "setup",
    "ready_timeout",
)
RESETUP_KEYS = ("ip_address", "port", "username")
"""Changing how Dokploy reaches the VM re-runs setup."""
SETUP_CONFIRM_SECONDS = 10.0
"""After setup returned, validate should agree almost at once."""

_PUBLIC_KEY = re.compile(r"^(ssh-rsa|ssh-ed25519) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$")
_PRIVATE_KEY = re.compile(
    r"^-----BEGIN (OPENSSH|RSA) PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END \1 PRIVATE KEY-----\n$"
)
_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


# -- check -----------------------------------------------------------------------------------
def _is_host(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(value)) and not value.replace(".", "").isdigit()


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != "" and len(value) <= 200


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 7200


def _matches(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and bool(pattern.match(value))


FIELD_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_short_text, "must be a non-empty string of at most 200 characters"),
    "organization_id": (_short_text, "must be a non-empty string of at most 200 characters"),
    "ip_address": (_is_host, "must be an IPv4/IPv6 address or a hostname"),
    "port": (lambda v: _whole(v, 1, 65535), "must be an integer from 1 to 65535"),
    "username": (_matches(_USERNAME), "must be a POSIX user name, e.g. root"),
    "public_key": (
        _matches(_PUBLIC_KEY),
        "must be an OpenSSH 'ssh-ed25519 ...' or 'ssh-rsa ...' line (Dokploy accepts no other type)",
    ),
    "private_key": (
        lambda v: _matches(_PRIVATE_KEY)(v) or (isinstance(v, str) and parse_ref(v) is not None),
        "must be an unencrypted OpenSSH or RSA PEM private key with LF line endings, or a Vault reference "
        "vault:<mount>/<path>#<version>",
    ),
    "server_type": (lambda v: v in ("deploy", "build"), "must be 'deploy' or 'build'"),
    "description": (lambda v: v is None or isinstance(v, str), "must be a string or null"),
    "enable_docker_cleanup": (lambda v: isinstance(v, bool), "must be true or false"),
    "on_services": (
        lambda v: v in ("fail", "detach"),
        "must be 'fail' (refuse to delete) or 'detach' (leave it in Dokploy)",
    ),
    "setup": (lambda v: isinstance(v, bool), "must be true or false"),
    "ready_timeout": (_seconds, "must be a number of seconds between 0 and 7200"),
    "marker": (_short_text, "must be a non-empty string of at most 200 characters"),
}
"""Each input's test and the reason given when it fails, in the order failures are reported."""


def field_failure(key: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable for ``key`` (None when it is, or when nothing is required of it)."""
    rule = FIELD_RULES.get(key)
    return None if rule is None or rule[0](value) else rule[1]


def _normalised_keys(inputs: dict[str, Any]) -> dict[str, Any]:
    """Private key with LF line endings and one final newline; public key without surrounding blanks."""
    private, public = inputs.get("private_key"), inputs.get("public_key")
    if isinstance(private, str) and not contains_unknown(private) and parse_ref(private) is None:
        text = private.replace("\r\n", "\n").strip("\n")
        inputs["private_key"] = text + "\n" if text else ""
    if isinstance(public, str) and not contains_unknown(public):
        inputs["public_key"] = public.strip()
    return inputs


def check_inputs(news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Apply defaults, normalise, and list (property, reason) failures. Unknown values are not judged."""
    inputs = whole_numbers({k: v for k, v in news.items() if not k.startswith("__")}, ("port",))
    for key, value in DEFAULTS.items():
        if inputs.get(key) is None and key != "description":
            inputs[key] = value
    inputs.setdefault("description", None)
    inputs = _normalised_keys(inputs)
    failures = []
    for key in FIELD_RULES:
        if key not in inputs and key not in DEFAULTS:
            failures.append((key, "is required"))
        elif not contains_unknown(inputs.get(key)):
            reason = field_failure(key, inputs.get(key))
            if reason:
                failures.append((key, reason))
    return inputs, failures


# -- diff ------------------------------------------------------------------------------------
def key_fingerprint(private_key: str) -> str:
    """What the state keeps instead of the private key, so a changed key is still detected."""
    return "sha256:" + hashlib.sha256(private_key.encode()).hexdigest()


def _comparable(props: dict[str, Any]) -> dict[str, Any]:
    out = {k: props.get(k, DEFAULTS.get(k)) for k in REPLACE_KEYS + UPDATE_KEYS if k != "private_key_sha256"}
    if "private_key" in props:
        known = not contains_unknown(props["private_key"])
        out["private_key_sha256"] = key_fingerprint(props["private_key"]) if known else UNKNOWN
    else:
        out["private_key_sha256"] = props.get("private_key_sha256")
    return out


def diff_props(olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    """Classify changed input keys: ``changed``, ``replaces`` (a subset), ``delete_before_replace``.

    ``setup`` matters only until the server has been set up once: turning it off on a ready server (a tenant
    suspended, its VM stopped) changes nothing; turning it on for a server registered without setup (a tenant
    suspended before its first setup, now resumed) runs the setup."""
    old, new = _comparable(olds), _comparable(news)
    if olds.get("ready"):
        new["setup"] = old.get("setup")
    changed = sorted(k for k in new if old.get(k) != new[k] or contains_unknown(new[k]))
    replaces = [k for k in changed if k in REPLACE_KEYS]
    return {"changed": changed, "replaces": replaces, "delete_before_replace": bool(replaces)}


# -- markers and outputs ---------------------------------------------------------------------
def tag(marker: str) -> str:
    """The token put in descriptions to find our objects again."""
    return f"[pulumi:{marker}]"


def tagged_description(description: str | None, marker: str) -> str:
    """The description sent to Dokploy: the user's text followed by our tag."""
    return f"{description} {tag(marker)}" if description else tag(marker)


def untagged_description(description: str | None, marker: str) -> str | None:
    """The user's description back from what Dokploy stores (None when only our tag was there)."""
    text = (description or "").replace(tag(marker), "").strip()
    return text or None


def outputs(inputs: dict[str, Any], row: dict[str, Any], ssh_key_id: str | None, ready: bool) -> dict[str, Any]:
    """State outputs: inputs minus the private key, plus what Dokploy assigned."""
    outs = {k: v for k, v in inputs.items() if k != "private_key" and not k.startswith("__")}
    outs.update(
        {
            "private_key_sha256": key_fingerprint(inputs["private_key"])
            if "private_key" in inputs
            else inputs.get("private_key_sha256"),
            "server_id": row["serverId"],
            "ssh_key_id": ssh_key_id,
            "app_name": row.get("appName"),
            "server_status": row.get("serverStatus"),
            "ready": ready,
        }
    )
    return outs


def read_outputs(props: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The state after a refresh: ``props`` updated from Dokploy's row.

    A key that is gone or swapped clears ``public_key``, so the next up registers the declared key again.
    """
    outs = dict(props)
    outs.update(
        {
            "name": row["name"],
            "description": untagged_description(row.get("description"), props.get("marker", "")),
            "ip_address": row["ipAddress"],
            "port": row["port"],
            "username": row["username"],
            "server_type": row["serverType"],
            "enable_docker_cleanup": row["enableDockerCleanup"],
            "ssh_key_id": row.get("sshKeyId"),
            "server_status": row.get("serverStatus"),
            "app_name": row.get("appName"),
        }
    )
    if row.get("sshKeyId") != props.get("ssh_key_id") or not row.get("sshKeyId"):
        outs["public_key"] = None
    return outs


# -- what create and update do -----------------------------------------------------------------
def server_fields(props: Mapping[str, Any], ssh_key_id: str | None) -> dict[str, Any]:
    """The keyword arguments of ``server.create``/``server.update`` for these inputs."""
    return {
        "name": props["name"],
        "description": tagged_description(props.get("description"), props["marker"]),
        "ip_address": props["ip_address"],
        "port": props["port"],
        "username": props["username"],
        "ssh_key_id": ssh_key_id,
        "server_type": props["server_type"],
        "enable_docker_cleanup": props["enable_docker_cleanup"],
    }


_ROW_FIELDS = (
    ("ipAddress", "ip_address"),
    ("port", "port"),
    ("username", "username"),
    ("sshKeyId", "ssh_key_id"),
    ("name", "name"),
    ("description", "description"),
)


def adopted_row_differs(row: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """Whether a server found by our marker (left by an interrupted create) must be updated to ``fields``."""
    return any(row.get(column) != fields[key] for column, key in _ROW_FIELDS)


def wants_setup(props: Mapping[str, Any]) -> bool:
    """Whether the resource asks for setup to run and be verified."""
    return bool(props.get("setup", True))


def rekey_needed(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """The key pair changed (a rotation, or a key Dokploy lost): swap it in place."""
    old, new = _comparable(dict(olds)), _comparable(dict(news))
    return any(old.get(k) != new.get(k) for k in REKEY_KEYS) or not olds.get("ssh_key_id")


def setup_needed_on_update(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """Setup runs again when it never succeeded or when how Dokploy reaches the VM changed."""
    if not wants_setup(news):
        return False
    return not olds.get("ready") or any(olds.get(k) != news.get(k) for k in RESETUP_KEYS)


def ready_timeout(props: Mapping[str, Any]) -> float:
    """Seconds allowed for setup to become verifiable."""
    return float(props.get("ready_timeout", DEFAULTS["ready_timeout"]))


def validate_wait(timeout: float, setup_answered: bool) -> float:
    """How long to poll ``server.validate`` after ``server.setup``.

    Setup that answered should be confirmed almost at once; a dropped connection leaves setup going
    on server-side, so the whole timeout is given to polling.
    """
    return min(SETUP_CONFIRM_SECONDS, timeout) if setup_answered else timeout


def poll_interval(wait: float) -> float:
    """Seconds between ``server.validate`` polls within ``wait``."""
    return min(2.0, wait / 5)


def setup_failure_message(server_id: str, row: Mapping[str, Any], error: str) -> str:
    """What an operator reads when setup did not become verifiable, with the last setup deployment."""
    deployments = row.get("deployments") or []  # newest first
    last = deployments[0] if deployments else {}
    detail = f"; last setup deployment: {last.get('status')}" if last else ""
    if last.get("errorMessage"):
        detail += f" ({last['errorMessage']})"
    target = f"{row.get('username')}@{row.get('ipAddress')}:{row.get('port')}"
    return (
        f"Dokploy setup of server {server_id} ({target}) did not complete: {error}{detail}. "
        "Check that the VM is running, answers SSH on that address and has this key authorized for that user."
    )


def organization_mismatch(active: Mapping[str, Any] | None, organization_id: str) -> str | None:
    """Why the API key cannot act for ``organization_id`` (None when it is bound to it)."""
    if active and active.get("id") == organization_id:
        return None
    bound = active.get("id") if active else "no organization"
    return (
        f"organization_id: DOKPLOY_API_KEY is bound to {bound}, not {organization_id}; "
        "use a key created for the tenant organization"
    )


# -- what delete does ---------------------------------------------------------------------------
class RemoveOutcome(Enum):
    """What a failed ``server.remove`` means for the resource's delete."""

    GONE = "gone"
    """Already removed: carry on with the SSH key."""
    DETACH = "detach"
    """Still has services and on_services='detach': drop it from the stack, leave it in Dokploy."""
    REFUSE = "refuse"
    """Still has services and on_services='fail': fail saying what to do."""
    RAISE = "raise"
    """Anything else: the client's error stands."""


def remove_outcome(status: int | None, message: str, on_services: Any) -> RemoveOutcome:
    """Classify a ``server.remove`` error by HTTP status, Dokploy's message and the on_services input."""
    if status == 400 and "active services" in message:
        return RemoveOutcome.DETACH if on_services == "detach" else RemoveOutcome.REFUSE
    if status == 404:
        return RemoveOutcome.GONE
    return RemoveOutcome.RAISE


def services_left_message(server_id: str) -> str:
    """Why delete refuses a server that still has services, and the two ways out."""
    return (
        f"Dokploy refuses to remove server {server_id}: it still has applications, compose "
        "stacks or databases. Delete them in Dokploy, or set on_services='detach' "
        "to drop it from the stack and leave it registered"
    )


def inactive_server_message(server_id: str) -> str:
    """Why an update of a server Dokploy Cloud deactivated fails."""
    return (
        f"Dokploy server {server_id} is inactive (Cloud billing: more servers than the "
        "subscription pays for); it cannot be updated until reactivated"
    )


QUOTA_MESSAGE = (
    "Dokploy refused: the organization owner's server quota is used up "
    "(stripe.canCreateMoreServers is false); raise the plan's server count"
)
"""Why create fails before ``server.create`` when the Cloud quota is used up."""


def hidden_create_failure(error: str) -> str:
    """``server.create`` failed and nothing was inserted: Dokploy hides the cause, so name the usual ones."""
    return f"{error} (Dokploy hides the cause of server.create failures: check quota, SSH key and input)"
