"""The simulator backend in-process, without HTTP."""

from __future__ import annotations

import pytest

from sim.dokploy.admin import seed
from sim.dokploy.backend import Backend
from sim.dokploy.exceptions import AuthRejected, BadRequest, Unauthorized

SERVER = {
    "name": "s",
    "description": None,
    "ipAddress": "10.0.0.1",
    "port": 22,
    "username": "root",
    "sshKeyId": None,
    "serverType": "deploy",
    "enableDockerCleanup": True,
}


def test_ids_are_reproducible_from_the_seed() -> None:
    a, b = Backend(seed=7), Backend(seed=7)
    assert seed(a, {})["apiKey"] == seed(b, {})["apiKey"]
    assert seed(Backend(seed=8), {})["apiKey"] != seed(Backend(seed=7), {})["apiKey"]


def test_each_request_costs_two_verifications(backend: Backend, owner: dict) -> None:
    key = backend.issue_key(owner["userId"], owner["organizationId"], rate_limit_max=4)
    for _ in range(2):
        backend.authenticate(key.key)
        backend.reauthenticate(key.key)
    with pytest.raises(AuthRejected):
        backend.authenticate(key.key)


def test_remaining_quota_deletes_the_key_when_used_up(backend: Backend, owner: dict) -> None:
    key = backend.issue_key(owner["userId"], owner["organizationId"], rate_limit_enabled=False, remaining=2)
    backend.authenticate(key.key)
    backend.reauthenticate(key.key)
    with pytest.raises(AuthRejected):
        backend.authenticate(key.key)
    assert key.id not in backend.api_keys


def test_expired_and_unbound_keys_are_rejected(backend: Backend, owner: dict) -> None:
    expiring = backend.issue_key(owner["userId"], owner["organizationId"], rate_limit_enabled=False, expires_in=60)
    backend.authenticate(expiring.key)
    backend.advance(61)
    with pytest.raises(AuthRejected):
        backend.authenticate(expiring.key)
    unbound = backend.issue_key(owner["userId"], "", rate_limit_enabled=False)
    with pytest.raises(AuthRejected):
        backend.authenticate(unbound.key)


def test_key_outliving_membership_gets_permission_denied(backend: Backend, owner: dict) -> None:
    caller = backend.authenticate(owner["apiKey"])
    backend.members.clear()
    with pytest.raises(Unauthorized, match="Permission denied"):
        backend.server_all(backend.authenticate(owner["apiKey"]))
    assert caller.role == "owner"


def test_quota_counts_servers_of_every_owned_org(backend: Backend, owner: dict) -> None:
    backend.cloud = True
    caller = backend.authenticate(owner["apiKey"])
    backend.seed_org("second", owner["userId"])
    backend.server_create(caller, SERVER)
    backend.server_create(caller, SERVER)
    with pytest.raises(BadRequest, match="Error creating the server"):
        backend.server_create(caller, SERVER)
    backend.set_billing(owner["userId"], 3)
    assert backend.server_create(caller, SERVER)["serverStatus"] == "active"


def test_state_dump_holds_no_secrets(backend: Backend, owner: dict, keys: list) -> None:
    caller = backend.authenticate(owner["apiKey"])
    backend.ssh_key_create(caller, {"name": "k", "publicKey": keys[0][1], "privateKey": keys[0][0]})
    dump = repr(backend.state())
    assert owner["apiKey"] not in dump and keys[0][0] not in dump
