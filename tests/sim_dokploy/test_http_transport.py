"""HTTP layer of the Dokploy simulator: routing, auth, content type, error shapes (CONTRACT §1, §2)."""

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


def test_missing_and_unknown_keys_get_the_bare_401_before_routing(http: TestClient) -> None:
    for headers in ({}, {"x-api-key": "not-a-key"}):
        for path in ("/api/server.all", "/api/no.such"):
            resp = http.get(path, headers=headers)
            assert resp.status_code == 401
            assert resp.json() == {"message": "Unauthorized"}


def test_wrong_method_is_404_without_path(api: Any) -> None:
    resp = api("POST", "server.all", {})
    assert resp.status_code == 404
    assert resp.json() == {
        "message": "Not found",
        "code": "NOT_FOUND",
        "data": {"code": "NOT_FOUND", "httpStatus": 404, "zodError": None},
    }


def test_procedure_names_match_case_insensitively_but_not_slash_form(http: TestClient, owner: dict) -> None:
    headers = {"x-api-key": owner["apiKey"]}
    assert http.get("/api/SERVER.ALL", headers=headers).json() == []
    assert http.get("/api/server/all", headers=headers).status_code == 404


def test_post_needs_json_content_type(http: TestClient, owner: dict) -> None:
    headers = {"x-api-key": owner["apiKey"]}
    resp = http.post("/api/server.setup", content=b'{"serverId":"x"}', headers=headers)
    assert resp.status_code == 415
    assert resp.json()["message"] == "Missing content-type header"
    resp = http.post("/api/server.setup", content=b"serverId=x", headers={**headers, "content-type": "text/plain"})
    assert resp.status_code == 415
    assert resp.json()["message"] == 'Unsupported content-type "text/plain'
    assert resp.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_validation_error_shape_matches_zod(api: Any) -> None:
    resp = api("POST", "server.create", {})
    body = resp.json()
    assert resp.status_code == 400
    assert body["message"] == "Input validation failed" and body["code"] == "BAD_REQUEST"
    assert body["data"]["path"] == "server.create" and body["data"]["httpStatus"] == 400
    assert body["issues"][0] == {
        "expected": "string",
        "code": "invalid_type",
        "path": ["name"],
        "message": "Invalid input: expected string, received undefined",
    }
    assert {
        "code": "invalid_type",
        "expected": "nonoptional",
        "path": ["description"],
        "message": "Invalid input: expected nonoptional, received undefined",
    } in body["issues"]
    assert body["data"]["zodError"]["fieldErrors"]["port"] == ["Invalid input: expected number, received undefined"]


def test_server_fields_are_not_coerced(api: Any) -> None:
    resp = api("POST", "server.create", {**SERVER, "port": "22"})
    assert resp.status_code == 400
    assert resp.json()["issues"][0]["message"] == "Invalid input: expected number, received string"


def test_enum_and_min_length_messages(api: Any) -> None:
    issues = api("POST", "server.create", {**SERVER, "name": "", "serverType": "x"}).json()["issues"]
    messages = {tuple(i["path"]): i["message"] for i in issues}
    assert messages[("name",)] == "Too small: expected string to have >=1 characters"
    assert messages[("serverType",)] == 'Invalid option: expected one of "deploy"|"build"'


def test_unknown_keys_are_stripped_and_cleanup_defaults_on(api: Any) -> None:
    row = api("POST", "server.create", {**SERVER, "bogus": 1}).json()
    assert "bogus" not in row and row["enableDockerCleanup"] is True


def test_empty_200_body_for_ssh_key_create(api: Any, keys: list) -> None:
    private, public = keys[0]
    resp = api(
        "POST", "sshKey.create", {"name": "k", "publicKey": public, "privateKey": private, "organizationId": "ignored"}
    )
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["content-type"].startswith("application/json")


def test_null_body_for_active_org_of_deleted_org(backend: Backend, api: Any, owner: dict) -> None:
    del backend.orgs[owner["organizationId"]]
    resp = api("GET", "organization.active")
    assert resp.status_code == 200 and resp.content == b"null"


def test_head_on_unknown_path_is_204_after_auth(http: TestClient, owner: dict) -> None:
    assert http.head("/api/whatever", headers={"x-api-key": owner["apiKey"]}).status_code == 204
    assert http.head("/api/whatever").status_code == 401


def test_default_rate_limit_locks_a_key_out_after_five_requests(backend: Backend, api: Any, owner: dict) -> None:
    created = api("POST", "user.createApiKey", {"name": "ci", "metadata": {"organizationId": owner["organizationId"]}})
    assert created.status_code == 200
    row = created.json()
    assert row["metadata"] is None and row["rateLimitEnabled"] is True and row["rateLimitMax"] == 10
    statuses = [api("GET", "server.all", key=row["key"]).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [401]
    assert api("GET", "server.all", key=row["key"]).json() == {"message": "Unauthorized"}
    backend.advance(86_400)
    assert api("GET", "server.all", key=row["key"]).status_code == 200


def test_rate_limit_off_key_keeps_working(api: Any, owner: dict) -> None:
    row = api(
        "POST",
        "user.createApiKey",
        {"name": "ci", "rateLimitEnabled": False, "metadata": {"organizationId": owner["organizationId"]}},
    ).json()
    assert all(api("GET", "server.all", key=row["key"]).status_code == 200 for _ in range(12))


def test_second_authentication_failure_has_the_openapi_shape(api: Any, owner: dict) -> None:
    row = api(
        "POST",
        "user.createApiKey",
        {"name": "odd", "rateLimitMax": 3, "metadata": {"organizationId": owner["organizationId"]}},
    ).json()
    assert api("GET", "server.all", key=row["key"]).status_code == 200
    resp = api("GET", "server.all", key=row["key"])
    assert resp.status_code == 401
    assert resp.json()["message"] == "UNAUTHORIZED" and resp.json()["code"] == "UNAUTHORIZED"


def test_create_api_key_for_foreign_org_is_forbidden(backend: Backend, api: Any) -> None:
    other = seed(backend, {"email": "other@example.test"})
    resp = api("POST", "user.createApiKey", {"name": "x", "metadata": {"organizationId": other["organizationId"]}})
    assert resp.status_code == 403
    assert resp.json()["message"] == "You are not a member of this organization"


def test_create_api_key_name_messages(api: Any, owner: dict) -> None:
    meta = {"organizationId": owner["organizationId"]}
    assert (
        api("POST", "user.createApiKey", {"name": "", "metadata": meta}).json()["issues"][0]["message"]
        == "Name is required"
    )
    assert (
        api("POST", "user.createApiKey", {"name": "x" * 33, "metadata": meta}).json()["issues"][0]["message"]
        == "Name must be at most 32 characters"
    )


def test_injected_fault_and_reset(http: TestClient, api: Any) -> None:
    assert (
        http.post("/_sim/faults", json={"paths": [{"pattern": r"^server\.all$", "error_rate": 1.0}]}).status_code == 200
    )
    assert api("GET", "server.all").status_code == 503
    assert api("GET", "sshKey.all").status_code == 200
    assert http.post("/_sim/faults", json={"paths": [{"pattern": "x", "error_rate": 2}]}).json() == {
        "error": "error_rate: must be between 0 and 1"
    }
    http.post("/_sim/reset", json={})
    assert api("GET", "server.all").json() == {"message": "Unauthorized"}
