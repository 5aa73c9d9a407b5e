"""Provider methods called directly against the running simulator (the engine is tested elsewhere)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from clients.dokploy import DokployClient
from providers.dokploy_server import DokployServerProvider, check_inputs
from sim.dokploy.admin import seed
from sim.dokploy.server import ThreadedServer
from sim.dokploy.testing import MutableGuestWorld, guest

ADDRESS = "10.30.0.4"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sim: ThreadedServer, account: dict[str, Any]) -> None:
    monkeypatch.setenv("DOKPLOY_URL", sim.url)
    monkeypatch.setenv("DOKPLOY_API_KEY", account["apiKey"])


@pytest.fixture
def props(account: dict[str, Any], keys: list) -> dict[str, Any]:
    private, public = keys[0]
    inputs, failures = check_inputs(
        {
            "name": "tenant-a",
            "organization_id": account["organizationId"],
            "ip_address": ADDRESS,
            "public_key": public,
            "private_key": private,
            "marker": "proj/dev/tenant-a",
            "ready_timeout": 1.0,
        }
    )
    assert failures == []
    return inputs


@pytest.fixture
def vm(world: MutableGuestWorld, keys: list) -> MutableGuestWorld:
    world.put(guest(101, ADDRESS, [keys[0][1]]))
    return world


def test_create_registers_sets_up_and_verifies(
    env: None, vm: Any, props: dict, client: DokployClient, keys: list
) -> None:
    result = DokployServerProvider().create(props)
    row = client.server_one(result.id)
    assert result.outs["ready"] is True and result.outs["server_id"] == row["serverId"]
    assert row["sshKeyId"] == result.outs["ssh_key_id"] and row["ipAddress"] == ADDRESS
    assert "[pulumi:proj/dev/tenant-a]" in row["description"]
    assert client.server_validate(result.id)["isSwarmInstalled"] is True
    assert keys[0][0] not in repr(result.outs)


def test_create_with_wrong_org_fails_before_touching_dokploy(env: None, props: dict, client: DokployClient) -> None:
    with pytest.raises(RuntimeError, match="organization_id: DOKPLOY_API_KEY is bound to"):
        DokployServerProvider().create({**props, "organization_id": "someone-else"})
    assert client.server_all() == [] and client.ssh_key_all() == []


def test_failed_setup_leaves_nothing_registered(
    env: None, world: MutableGuestWorld, props: dict, client: DokployClient
) -> None:
    world.put(guest(101, ADDRESS, [], ciuser="ubuntu"))  # key not authorized: SSH auth fails
    with pytest.raises(RuntimeError, match=r"did not complete: Authentication failed.*last setup deployment: error"):
        DokployServerProvider().create(props)
    assert client.server_all() == [] and client.ssh_key_all() == []


def test_setup_reporting_success_while_failing_is_caught(
    env: None, vm: Any, admin: Any, props: dict, client: DokployClient
) -> None:
    admin("faults", {"setup_failure": "script"})
    with pytest.raises(RuntimeError, match=r"not installed.*last setup deployment: done"):
        DokployServerProvider().create(props)
    assert client.server_all() == []


def test_create_after_interrupted_create_adopts_instead_of_duplicating(
    env: None, vm: Any, admin: Any, props: dict, client: DokployClient
) -> None:
    admin("faults", {"create_fail_after_insert": 1})
    first = DokployServerProvider().create(props)  # the row was inserted despite the 400
    assert [s["serverId"] for s in client.server_all()] == [first.id]
    again = DokployServerProvider().create(props)  # e.g. the engine retries after a crash
    assert again.id == first.id and len(client.server_all()) == 1 and len(client.ssh_key_all()) == 1


def test_cloud_quota_is_reported_clearly(env: None, sim: ThreadedServer, vm: Any, props: dict) -> None:
    with sim.backend.lock:
        sim.backend.cloud = True
        sim.backend.users[next(iter(sim.backend.users))].servers_quantity = 0
    with pytest.raises(RuntimeError, match="server quota is used up"):
        DokployServerProvider().create(props)


def test_read_detects_out_of_band_changes_and_deletion(env: None, vm: Any, props: dict, client: DokployClient) -> None:
    provider = DokployServerProvider()
    created = provider.create(props)
    row = client.server_one(created.id)
    client.server_update(
        created.id,
        name="renamed",
        description=row["description"],
        ip_address="10.30.0.99",
        port=22,
        username="root",
        ssh_key_id=row["sshKeyId"],
    )
    refreshed = provider.read(created.id, created.outs)
    assert (refreshed.outs["name"], refreshed.outs["ip_address"]) == ("renamed", "10.30.0.99")
    assert refreshed.outs["description"] is None
    assert provider.diff(created.id, refreshed.outs, props).replaces == []
    client.server_remove(created.id)
    gone = provider.read(created.id, created.outs)
    assert gone.id == "" and gone.outs == {}


def test_a_key_deleted_in_dokploy_is_registered_again_in_place(
    env: None, vm: Any, props: dict, client: DokployClient
) -> None:
    provider = DokployServerProvider()
    created = provider.create(props)
    client.ssh_key_remove(created.outs["ssh_key_id"])
    refreshed = provider.read(created.id, created.outs)
    diff = provider.diff(created.id, refreshed.outs, props)
    assert diff.changes and diff.replaces == []  # never a replacement: it would drop the server's deployments
    updated = provider.update(created.id, refreshed.outs, props)
    row = client.server_one(created.id)
    assert row["sshKeyId"] == updated.outs["ssh_key_id"] is not None
    assert client.server_validate(created.id)["isSwarmInstalled"] is True


def _rekeyed(props: dict, pair: tuple[str, str]) -> dict:
    """``props`` with another key pair (what a rotation declares)."""
    news, failures = check_inputs({**props, "public_key": pair[1], "private_key": pair[0]})
    assert failures == []
    return news


def _key_ids(client: DokployClient) -> list[str]:
    return [k["sshKeyId"] for k in client.ssh_key_all()]


def test_a_rotated_key_is_swapped_in_place_and_the_old_one_removed(
    env: None, world: MutableGuestWorld, vm: Any, keys: list, props: dict, client: DokployClient
) -> None:
    provider = DokployServerProvider()
    created = provider.create(props)
    world.put(guest(101, ADDRESS, [keys[0][1], keys[1][1]]))  # the server accepts both, as the grant stage leaves it
    diff = provider.diff(created.id, created.outs, _rekeyed(props, keys[1]))
    assert diff.changes and diff.replaces == []
    updated = provider.update(created.id, created.outs, _rekeyed(props, keys[1]))
    row = client.server_one(created.id)
    assert row["serverId"] == created.id and row["sshKeyId"] == updated.outs["ssh_key_id"] != created.outs["ssh_key_id"]
    assert _key_ids(client) == [row["sshKeyId"]]  # the old key is gone from Dokploy
    assert client.server_validate(created.id)["isSwarmInstalled"] is True


def test_a_new_key_the_server_refuses_is_rolled_back_and_dokploy_keeps_the_old_one(
    env: None, vm: Any, keys: list, props: dict, client: DokployClient
) -> None:
    provider = DokployServerProvider()
    created = provider.create(props)  # the server accepts keys[0] only
    with pytest.raises(RuntimeError, match=r"could not log in .* with the new SSH key.*keeps the old key"):
        provider.update(created.id, created.outs, _rekeyed(props, keys[1]))
    assert client.server_one(created.id)["sshKeyId"] == created.outs["ssh_key_id"]
    assert _key_ids(client) == [created.outs["ssh_key_id"]]
    assert client.server_validate(created.id)["isSwarmInstalled"] is True


def test_update_moves_the_address_and_re_verifies(
    env: None, world: MutableGuestWorld, vm: Any, keys: list, props: dict, client: DokployClient
) -> None:
    provider = DokployServerProvider()
    created = provider.create(props)
    world.put(guest(102, "10.30.0.5", [keys[0][1]]))
    news = {**props, "ip_address": "10.30.0.5", "description": "moved"}
    updated = provider.update(created.id, created.outs, news)
    row = client.server_one(created.id)
    assert row["ipAddress"] == "10.30.0.5" and updated.outs["ready"] is True
    assert row["description"] == "moved [pulumi:proj/dev/tenant-a]"
    with pytest.raises(RuntimeError, match="did not complete"):
        provider.update(created.id, updated.outs, {**news, "ip_address": "10.30.0.6"})  # no VM there


def test_update_of_inactive_server_explains_billing(
    env: None, sim: ThreadedServer, vm: Any, props: dict, admin: Any, account: dict
) -> None:
    provider = DokployServerProvider()
    created = provider.create(props)
    with sim.backend.lock:
        sim.backend.cloud = True
    admin("billing", {"userId": account["userId"], "serversQuantity": 0})
    with pytest.raises(RuntimeError, match="inactive"):
        provider.update(created.id, created.outs, {**props, "name": "x"})


def test_delete_removes_server_and_key_and_tolerates_gone(
    env: None, vm: Any, props: dict, client: DokployClient
) -> None:
    provider = DokployServerProvider()
    created = provider.create(props)
    provider.delete(created.id, created.outs)
    assert client.server_all() == [] and client.ssh_key_all() == []
    provider.delete(created.id, created.outs)  # already gone: success


def test_delete_with_services_fails_or_detaches_as_chosen(
    env: None, vm: Any, admin: Any, props: dict, client: DokployClient
) -> None:
    provider = DokployServerProvider()
    created = provider.create(props)
    admin("services", {"serverId": created.id, "count": 1})
    with pytest.raises(RuntimeError, match="on_services='detach'"):
        provider.delete(created.id, created.outs)
    provider.delete(created.id, {**created.outs, "on_services": "detach"})
    assert [s["serverId"] for s in client.server_all()] == [created.id]


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch, props: dict) -> None:
    monkeypatch.delenv("DOKPLOY_URL", raising=False)
    monkeypatch.delenv("DOKPLOY_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="DOKPLOY_URL and DOKPLOY_API_KEY"):
        DokployServerProvider().create(props)


def test_provider_pickles_without_credentials(env: None, account: dict) -> None:
    blob = pickle.dumps(DokployServerProvider())
    assert account["apiKey"].encode() not in blob


def test_key_from_another_org_cannot_see_the_server(
    env: None, vm: Any, sim: ThreadedServer, props: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = DokployServerProvider().create(props)
    with sim.backend.lock:
        other = seed(sim.backend, {"email": "x@example.test"})
    monkeypatch.setenv("DOKPLOY_API_KEY", other["apiKey"])
    with pytest.raises(Exception, match="401 UNAUTHORIZED: You are not authorized to access this server"):
        DokployServerProvider().read(created.id, created.outs)
