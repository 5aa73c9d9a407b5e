"""server.setup / server.validate against the shared guest world (CONTRACT §6)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from sim.dokploy.remote import AUTH_FAILED, TIMEOUT
from sim.dokploy.testing import MutableGuestWorld, guest

ADDRESS = "10.20.0.7"


@pytest.fixture
def registered(api: Any, keys: list) -> dict[str, Any]:
    """A server at ADDRESS registered with keys[0] as root, not set up yet."""
    private, public = keys[0]
    api("POST", "sshKey.create", {"name": "k", "publicKey": public, "privateKey": private, "organizationId": ""})
    key_id = api("GET", "sshKey.all").json()[0]["sshKeyId"]
    return api(
        "POST",
        "server.create",
        {
            "name": "t",
            "description": None,
            "ipAddress": ADDRESS,
            "port": 22,
            "username": "root",
            "sshKeyId": key_id,
            "serverType": "deploy",
        },
    ).json()


def _setup(api: Any, server: dict[str, Any]) -> tuple[Any, Any]:
    resp = api("POST", "server.setup", {"serverId": server["serverId"]})
    assert resp.status_code == 200 and resp.content == b""  # whatever happened
    deployment = api("GET", "server.one", {"serverId": server["serverId"]}).json()["deployments"][0]
    return deployment, api("GET", "server.validate", {"serverId": server["serverId"]})


def test_setup_on_matching_guest_makes_it_ready(
    world: MutableGuestWorld, api: Any, keys: list, registered: dict
) -> None:
    world.put(guest(101, ADDRESS, [keys[1][1], keys[0][1].rsplit(" ", 1)[0] + " other-comment"]))
    before = api("GET", "server.validate", {"serverId": registered["serverId"]}).json()
    assert before["docker"] == {"version": "0.0.0", "enabled": False} and before["isSwarmInstalled"] is False
    deployment, validate = _setup(api, registered)
    assert deployment["status"] == "done" and deployment["title"] == "Setup Server"
    body = validate.json()
    assert body["docker"]["enabled"] and body["isSwarmInstalled"] and body["isDokployNetworkInstalled"]
    assert body["privilegeMode"] == "root"


def test_setup_without_guest_reports_200_but_deployment_error(api: Any, registered: dict) -> None:
    deployment, validate = _setup(api, registered)
    assert deployment["status"] == "error"
    assert (validate.status_code, validate.json()["message"]) == (400, TIMEOUT)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"status": "stopped"}, TIMEOUT),
        ({"ciuser": "ubuntu"}, AUTH_FAILED),
        ({"ssh_keys": []}, AUTH_FAILED),
    ],
)
def test_setup_fails_like_ssh_when_the_guest_does_not_match(
    world: MutableGuestWorld, api: Any, keys: list, registered: dict, change: dict, message: str
) -> None:
    world.put({**guest(101, ADDRESS, [keys[0][1]]), **change})
    deployment, validate = _setup(api, registered)
    assert deployment["status"] == "error" and deployment["errorMessage"] == message
    assert validate.json()["message"] == message


def test_wrong_port_is_connection_refused(world: MutableGuestWorld, api: Any, keys: list, registered: dict) -> None:
    world.put(guest(101, ADDRESS, [keys[0][1]]))
    api(
        "POST",
        "server.update",
        {
            **{
                k: registered[k]
                for k in ("serverId", "name", "description", "ipAddress", "username", "sshKeyId", "serverType")
            },
            "port": 2222,
        },
    )
    _, validate = _setup(api, registered)
    assert validate.json()["message"] == f"SSH connection error: connect ECONNREFUSED {ADDRESS}:2222"


def test_script_failure_reports_done_but_validate_is_false(
    world: MutableGuestWorld, http: TestClient, api: Any, keys: list, registered: dict
) -> None:
    world.put(guest(101, ADDRESS, [keys[0][1]]))
    http.post("/_sim/faults", json={"setup_failure": "script"})
    deployment, validate = _setup(api, registered)
    assert deployment["status"] == "done"
    assert validate.status_code == 200 and validate.json()["isSwarmInstalled"] is False


def test_recreated_guest_loses_the_installation(
    world: MutableGuestWorld, http: TestClient, api: Any, keys: list, registered: dict
) -> None:
    world.put(guest(101, ADDRESS, [keys[0][1]]))
    _setup(api, registered)
    http.post("/_sim/forget-installation", json={"node": "pve1", "vmid": 101})
    assert api("GET", "server.validate", {"serverId": registered["serverId"]}).json()["docker"]["enabled"] is False


def test_server_without_key_validates_with_no_ssh_key_found(api: Any) -> None:
    server = api(
        "POST",
        "server.create",
        {
            "name": "t",
            "description": None,
            "ipAddress": ADDRESS,
            "port": 22,
            "username": "root",
            "sshKeyId": None,
            "serverType": "deploy",
        },
    ).json()
    resp = api("GET", "server.validate", {"serverId": server["serverId"]})
    assert (resp.status_code, resp.json()["message"]) == (400, "No SSH Key found")


def test_only_five_setup_deployments_are_kept(api: Any, registered: dict) -> None:
    for _ in range(7):
        api("POST", "server.setup", {"serverId": registered["serverId"]})
    assert len(api("GET", "server.one", {"serverId": registered["serverId"]}).json()["deployments"]) == 5


def test_unreachable_proxmox_world_looks_like_an_unreachable_host(backend, api: Any, registered: dict) -> None:
    from sim.world import HttpGuestWorld

    backend.world = HttpGuestWorld("http://127.0.0.1:9", timeout=0.5)
    deployment, validate = _setup(api, registered)
    assert deployment["status"] == "error" and validate.json()["message"] == TIMEOUT
