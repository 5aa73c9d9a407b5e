"""The Dokploy client against the running simulator (real HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from tenacity import RetryCallState

from clients.dokploy import DokployClient, DokployError, RetryPolicy
from clients.retry import RetryPolicy as SharedRetryPolicy
from sim.dokploy.server import ThreadedServer
from sim.dokploy.testing import MutableGuestWorld, guest

SERVER = {
    "name": "web",
    "description": None,
    "ip_address": "10.1.0.2",
    "port": 22,
    "username": "root",
    "ssh_key_id": None,
}


def test_register_ssh_key_finds_the_id_create_does_not_return(client: DokployClient, keys: list) -> None:
    private, public = keys[0]
    assert client.ssh_key_create("dup", public, private, "other") is None
    row = client.register_ssh_key("dup", public, private, "pulumi:marker-1")
    assert row["description"] == "pulumi:marker-1" and row["publicKey"] == public
    assert client.ssh_key_one(row["sshKeyId"])["sshKeyId"] == row["sshKeyId"]
    assert client.ssh_key_find(public, "pulumi:marker-2") is None


def test_server_create_sends_explicit_nulls_and_lists(client: DokployClient) -> None:
    row = client.server_create(**SERVER)
    assert row["description"] is None and row["sshKeyId"] is None
    assert [s["serverId"] for s in client.server_all()] == [row["serverId"]]
    assert client.server_find("nothing") == []


def test_errors_carry_status_code_message_and_field_errors(client: DokployClient) -> None:
    with pytest.raises(DokployError) as info:
        client.server_create(**{**SERVER, "name": ""})
    err = info.value
    assert (err.status, err.code, err.message) == (400, "BAD_REQUEST", "Input validation failed")
    assert err.field_errors == {"name": ["Too small: expected string to have >=1 characters"]}
    assert "name: Too small" in str(err)
    with pytest.raises(DokployError) as info:
        client.server_one("missing")
    assert (info.value.status, info.value.code, info.value.message) == (404, "NOT_FOUND", "Server not found")


def test_bad_key_error_explains_and_never_shows_the_key(sim: ThreadedServer) -> None:
    secret = "S3cretKeyValueThatMustNeverAppear"
    client = DokployClient(sim.url, secret, retry=RetryPolicy(attempts=1))
    with pytest.raises(DokployError) as info:
        client.server_all()
    assert info.value.status == 401 and "rate-limited" in str(info.value)
    assert secret not in str(info.value) and secret not in repr(info.value) and secret not in repr(client)


def test_reads_are_retried_on_transient_errors(client: DokployClient, admin: Any) -> None:
    admin("faults", {"paths": [{"pattern": r"^server\.all$", "error_rate": 1.0, "count": 2}]})
    assert client.server_all() == []
    assert admin("faults", {})["paths"][0]["count"] == 0


def test_server_create_is_never_retried(client: DokployClient, admin: Any) -> None:
    admin("faults", {"paths": [{"pattern": r"^server\.create$", "error_rate": 1.0, "count": 1}]})
    with pytest.raises(DokployError) as info:
        client.server_create(**SERVER)
    assert info.value.status == 503 and info.value.retryable
    assert client.server_all() == []


def test_timeouts_become_dokploy_errors(sim: ThreadedServer, account: dict, admin: Any) -> None:
    admin("faults", {"paths": [{"pattern": r"^server\.all$", "latency": 1.0}]})
    client = DokployClient(sim.url, account["apiKey"], timeout=0.2, retry=RetryPolicy(attempts=1))
    with pytest.raises(DokployError) as info:
        client.server_all()
    assert (info.value.status, info.value.code) == (None, "TIMEOUT")


def test_connection_refused_is_a_retryable_error() -> None:
    client = DokployClient("http://127.0.0.1:9", "k", timeout=1, retry=RetryPolicy(attempts=2, initial=0.01))
    with pytest.raises(DokployError) as info:
        client.server_all()
    assert info.value.code == "CONNECTION_ERROR" and info.value.retryable


def test_wait_ready_distinguishes_real_setup_from_reported_success(
    client: DokployClient, world: MutableGuestWorld, admin: Any, keys: list
) -> None:
    private, public = keys[0]
    key = client.register_ssh_key("k", public, private, "m")
    server = client.server_create(**{**SERVER, "ssh_key_id": key["sshKeyId"]})
    world.put(guest(7, SERVER["ip_address"], [public]))
    admin("faults", {"setup_failure": "script"})
    assert client.server_setup(server["serverId"]) is None
    with pytest.raises(DokployError) as info:
        client.wait_ready(server["serverId"], timeout=0.3, interval=0.1)
    assert info.value.code == "NOT_READY"
    admin("faults", {"setup_failure": None})
    client.server_setup(server["serverId"])
    assert client.wait_ready(server["serverId"], timeout=1)["isSwarmInstalled"] is True


def test_api_keys_are_created_without_rate_limit_and_bound_to_one_org(
    client: DokployClient, sim: ThreadedServer, account: dict
) -> None:
    row = client.create_api_key("ci", account["organizationId"])
    assert row["rateLimitEnabled"] is False
    scoped = DokployClient(sim.url, row["key"])
    assert all(scoped.organization_active()["id"] == account["organizationId"] for _ in range(8))
    assert scoped.user_session()["session"]["activeOrganizationId"] == account["organizationId"]
    assert scoped.can_create_more_servers() is True


def test_base_url_is_validated() -> None:
    with pytest.raises(ValueError, match="base_url"):
        DokployClient("localhost:3000", "k")
    with pytest.raises(ValueError, match="api_key"):
        DokployClient("http://localhost:3000", " ")
    assert DokployClient("http://h/api/", "k").base_url == "http://h"


def test_dokploy_retry_policy_is_the_shared_policy_with_jittered_capped_waits() -> None:
    policy = RetryPolicy(attempts=4, initial=0.5, maximum=4.0)
    assert isinstance(policy, SharedRetryPolicy)
    retrying = policy.retrying(lambda _exc: True)

    def wait_after(attempt: int) -> float:
        state = RetryCallState(retry_object=retrying, fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        return float(retrying.wait(state))

    assert 0.5 <= wait_after(1) <= 0.75 and 1.0 <= wait_after(2) <= 1.25 and wait_after(11) == 4.0
    assert RetryPolicy(attempts=2, initial=0.01).jitter <= 0.01, "jitter never outgrows the first wait"
