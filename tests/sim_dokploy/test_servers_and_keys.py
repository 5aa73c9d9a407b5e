"""sshKey and server procedures of the simulator over HTTP (CONTRACT §3-§5, §8)."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from sim.dokploy.admin import seed
from sim.dokploy.backend import Backend

SERVER = {
    "name": "web",
    "description": None,
    "ipAddress": "10.0.0.5",
    "port": 22,
    "username": "root",
    "sshKeyId": None,
    "serverType": "deploy",
}


def _add_key(api: Any, pair: tuple[str, str], name: str = "k", key: str | None = None) -> dict[str, Any]:
    private, public = pair
    assert (
        api(
            "POST",
            "sshKey.create",
            {"name": name, "publicKey": public, "privateKey": private, "organizationId": ""},
            key=key,
        ).status_code
        == 200
    )
    return next(r for r in api("GET", "sshKey.all", key=key).json() if r["publicKey"] == public)


def test_ssh_key_rows_return_private_keys_newest_first(api: Any, keys: list, owner: dict) -> None:
    first, second = _add_key(api, keys[0], "a"), _add_key(api, keys[1], "a")
    rows = api("GET", "sshKey.all").json()
    assert [r["sshKeyId"] for r in rows] == [second["sshKeyId"], first["sshKeyId"]]
    assert rows[1]["privateKey"] == keys[0][0]
    assert set(rows[0]) == {
        "sshKeyId",
        "privateKey",
        "publicKey",
        "name",
        "description",
        "createdAt",
        "lastUsedAt",
        "organizationId",
    }
    assert rows[0]["organizationId"] == owner["organizationId"] and len(rows[0]["sshKeyId"]) == 21


def test_ssh_key_other_org_is_401_and_missing_is_404(backend: Backend, api: Any, keys: list) -> None:
    mine = _add_key(api, keys[0])
    other = seed(backend, {"email": "o@example.test"})["apiKey"]
    resp = api("GET", "sshKey.one", {"sshKeyId": mine["sshKeyId"]}, key=other)
    assert (resp.status_code, resp.json()["message"]) == (401, "You are not allowed to access this SSH key")
    resp = api("POST", "sshKey.remove", {"sshKeyId": mine["sshKeyId"]}, key=other)
    assert (resp.status_code, resp.json()["message"]) == (401, "You are not allowed to delete this SSH key")
    resp = api("GET", "sshKey.one", {"sshKeyId": "nope"})
    assert (resp.status_code, resp.json()["message"]) == (404, "SSH Key not found")
    resp = api("POST", "sshKey.update", {"sshKeyId": "nope", "name": "x"})
    assert (resp.status_code, resp.json()["message"]) == (400, "Error updating this SSH key")


def test_bad_key_formats_are_custom_issues(api: Any, keys: list) -> None:
    private, _ = keys[0]
    body = {
        "name": "k",
        "publicKey": "ecdsa-sha2-nistp256 AAAA",
        "privateKey": private.replace("\n", "\r\n"),
        "organizationId": "",
    }
    issues = api("POST", "sshKey.create", body).json()["issues"]
    assert {"code": "custom", "path": ["publicKey"], "message": "Invalid public key format"} in issues
    assert {"code": "custom", "path": ["privateKey"], "message": "Invalid private key format"} in issues


def test_server_row_has_every_column(api: Any) -> None:
    row = api("POST", "server.create", SERVER).json()
    assert set(row) == {
        "serverId",
        "name",
        "description",
        "ipAddress",
        "port",
        "username",
        "appName",
        "enableDockerCleanup",
        "buildsConcurrency",
        "createdAt",
        "organizationId",
        "serverStatus",
        "serverType",
        "command",
        "sshKeyId",
        "metricsConfig",
    }
    assert row["appName"].startswith("server-") and row["serverStatus"] == "active"
    assert row["metricsConfig"]["server"]["port"] == 4500 and row["createdAt"].endswith("Z")
    listed = api("GET", "server.all").json()
    assert listed[0]["totalSum"] == 0 and listed[0]["serverId"] == row["serverId"]


def test_server_one_has_deployments_and_redacted_key(api: Any, keys: list) -> None:
    key = _add_key(api, keys[0])
    server = api("POST", "server.create", {**SERVER, "sshKeyId": key["sshKeyId"]}).json()
    one = api("GET", "server.one", {"serverId": server["serverId"]}).json()
    assert one["deployments"] == [] and one["sshKey"]["privateKey"] == ""
    assert one["sshKey"]["publicKey"] == keys[0][1]


def test_server_create_with_unknown_key_is_the_opaque_400(api: Any) -> None:
    resp = api("POST", "server.create", {**SERVER, "sshKeyId": "missing"})
    assert (resp.status_code, resp.json()["message"]) == (400, "Error creating the server")


def test_server_cross_org_is_401(backend: Backend, api: Any) -> None:
    server = api("POST", "server.create", SERVER).json()
    other = seed(backend, {"email": "o@example.test"})["apiKey"]
    for method, proc, verb in (
        ("GET", "server.one", "access"),
        ("POST", "server.remove", "delete"),
        ("POST", "server.setup", "setup"),
    ):
        resp = api(method, proc, {"serverId": server["serverId"]}, key=other)
        assert (resp.status_code, resp.json()["message"]) == (401, f"You are not authorized to {verb} this server")
    resp = api("GET", "server.validate", {"serverId": server["serverId"]}, key=other)
    assert (resp.status_code, resp.json()["message"]) == (400, "You are not authorized to validate this server")
    assert api("GET", "server.all", key=other).json() == []


def test_member_role_cannot_touch_servers(backend: Backend, api: Any, owner: dict) -> None:
    user = seed(backend, {"email": "m@example.test"})["userId"]
    member = seed(backend, {"userId": user, "organizationId": owner["organizationId"], "role": "member"})
    resp = api("GET", "server.all", key=member["apiKey"])
    assert (resp.status_code, resp.json()["message"]) == (401, 'unauthorized to access resource "server"')


def test_update_is_full_replacement(api: Any) -> None:
    server = api("POST", "server.create", {**SERVER, "enableDockerCleanup": False}).json()
    body = {**SERVER, "serverId": server["serverId"], "ipAddress": "10.0.0.9", "port": 2222}
    row = api("POST", "server.update", body).json()
    assert (row["ipAddress"], row["port"], row["enableDockerCleanup"]) == ("10.0.0.9", 2222, True)
    missing = api("POST", "server.update", {"serverId": server["serverId"], "name": "x"}).json()
    assert missing["message"] == "Input validation failed"


def test_remove_refuses_servers_with_services_and_returns_the_row(http: TestClient, api: Any) -> None:
    server = api("POST", "server.create", SERVER).json()
    http.post("/_sim/services", json={"serverId": server["serverId"], "count": 2})
    resp = api("POST", "server.remove", {"serverId": server["serverId"]})
    assert (resp.status_code, resp.json()["message"]) == (400, "Server has active services, please delete them first")
    http.post("/_sim/services", json={"serverId": server["serverId"], "count": 0})
    removed = api("POST", "server.remove", {"serverId": server["serverId"]}).json()
    assert removed["serverId"] == server["serverId"] and removed["deployments"] == []
    resp = api("POST", "server.remove", {"serverId": server["serverId"]})
    assert (resp.status_code, resp.json()["message"]) == (404, "Server not found")


def test_removing_a_key_nulls_it_on_servers(api: Any, keys: list) -> None:
    key = _add_key(api, keys[0])
    server = api("POST", "server.create", {**SERVER, "sshKeyId": key["sshKeyId"]}).json()
    assert api("POST", "sshKey.remove", {"sshKeyId": key["sshKeyId"]}).json()["privateKey"] == keys[0][0]
    assert api("GET", "server.one", {"serverId": server["serverId"]}).json()["sshKeyId"] is None


def test_create_failing_after_insert_leaves_the_row(http: TestClient, api: Any) -> None:
    http.post("/_sim/faults", json={"create_fail_after_insert": 1})
    resp = api("POST", "server.create", {**SERVER, "description": "marker-1"})
    assert (resp.status_code, resp.json()["message"]) == (400, "Error creating the server")
    assert [s["description"] for s in api("GET", "server.all").json()] == ["marker-1"]


def test_cloud_quota_is_per_owner_and_masked(backend: Backend, http: TestClient, api: Any, owner: dict) -> None:
    backend.cloud = True  # owner fixture has serversQuantity 2
    second_org = api("POST", "organization.create", {"name": "tenant-b"}).json()
    key_b = api(
        "POST",
        "user.createApiKey",
        {"name": "b", "rateLimitEnabled": False, "metadata": {"organizationId": second_org["id"]}},
    ).json()["key"]
    assert api("POST", "server.create", SERVER).status_code == 200
    assert api("POST", "server.create", SERVER, key=key_b).status_code == 200
    assert api("GET", "stripe.canCreateMoreServers").json() is False
    resp = api("POST", "server.create", SERVER, key=key_b)
    assert (resp.status_code, resp.json()["message"]) == (400, "Error creating the server")
    assert api("GET", "server.count").json() == 2


def test_cloud_inactive_servers_refuse_update_and_reactivate_on_remove(
    http: TestClient, backend: Backend, api: Any, owner: dict
) -> None:
    backend.cloud = True
    old = api("POST", "server.create", SERVER).json()
    new = api("POST", "server.create", {**SERVER, "name": "new"}).json()
    http.post("/_sim/billing", json={"userId": owner["userId"], "serversQuantity": 1})
    status = {s["serverId"]: s["serverStatus"] for s in api("GET", "server.all").json()}
    assert status == {old["serverId"]: "active", new["serverId"]: "inactive"}
    resp = api("POST", "server.update", {**SERVER, "serverId": new["serverId"]})
    assert (resp.status_code, resp.json()["message"]) == (404, "Server is inactive")
    api("POST", "server.remove", {"serverId": old["serverId"]})
    assert api("GET", "server.one", {"serverId": new["serverId"]}).json()["serverStatus"] == "active"
