"""The HTTP layer through Starlette's TestClient: envelope, status codes and exact bodies (CONTRACT §1-§3)."""

from __future__ import annotations

from typing import Any

API = "/api2/json"


def h(tokens: dict[str, str], who: str = "provisioner") -> dict[str, str]:
    return {"Authorization": tokens[who]}


def test_envelope_and_headers(client: Any, tokens: dict[str, str]) -> None:
    r = client.get(API + "/version", headers=h(tokens))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json;charset=UTF-8"
    assert r.json()["data"]["release"] == "9.0"


def test_nextid_is_a_string(client: Any, tokens: dict[str, str]) -> None:
    assert client.get(API + "/cluster/nextid", headers=h(tokens)).json() == {"data": "100"}


def test_no_ticket_is_401_with_empty_body(client: Any) -> None:
    r = client.get(API + "/version")
    assert (r.status_code, r.content, r.headers["x-reason"]) == (401, b"", "No ticket")


def test_bad_token_secret_is_401(client: Any) -> None:
    r = client.get(API + "/version", headers={"Authorization": "PVEAPIToken=svc@pve!prov=00000000-0000"})
    assert (r.status_code, r.content, r.headers["x-reason"]) == (401, b"", "Authentication failed!")


def test_unknown_path_is_501(client: Any, tokens: dict[str, str]) -> None:
    r = client.get(API + "/nodes/pve1/bogus", headers=h(tokens))
    assert r.status_code == 501
    assert r.json() == {"data": None, "message": "Method 'GET /nodes/pve1/bogus' not implemented\n"}


def test_body_on_get_is_501(client: Any, tokens: dict[str, str]) -> None:
    r = client.request("DELETE", API + "/pools", headers=h(tokens, "admin"), content=b"poolid=x")
    assert r.status_code == 501 and r.headers["x-reason"] == "Unexpected content for method 'DELETE'"


def test_permission_denied_body(client: Any, tokens: dict[str, str]) -> None:
    r = client.get(API + "/nodes/pve1/qemu/9000/status/current", headers=h(tokens))
    assert r.status_code == 200  # VM.Audit on the template via TemplateCloner
    r = client.post(API + "/nodes/pve1/qemu/9000/status/start", headers=h(tokens))
    assert r.status_code == 403
    assert r.json() == {"data": None, "message": "Permission check failed (/vms/9000, VM.PowerMgmt)\n"}


def test_permission_checked_before_validation(client: Any, tokens: dict[str, str]) -> None:
    r = client.put(API + "/nodes/pve1/qemu/9000/config", headers=h(tokens), data={"cores": "abc"})
    assert r.status_code == 403


def test_validation_errors_per_parameter(client: Any, tokens: dict[str, str]) -> None:
    r = client.post(
        API + "/nodes/pve1/qemu/9000/clone",
        headers=h(tokens, "admin"),
        data={"newid": "99", "name": "bad_name!", "full": "true", "bogus": "1"},
    )
    assert r.status_code == 400 and r.headers["x-reason"] == "Parameter verification failed."
    assert r.json() == {
        "data": None,
        "message": "Parameter verification failed.\n",
        "errors": {
            "newid": "invalid format - value does not look like a valid VM ID\n",
            "name": "invalid format - value does not look like a valid DNS name\n",
            "full": "type check ('boolean') failed - got 'true'",
            "bogus": "property is not defined in schema and the schema does not allow additional properties",
        },
    }


def test_json_body_booleans_accepted(client: Any, tokens: dict[str, str]) -> None:
    r = client.post(API + "/nodes/pve1/qemu/9000/clone", headers=h(tokens, "admin"), json={"newid": 101, "full": True})
    assert r.status_code == 200 and r.json()["data"].startswith("UPID:pve1:")


def test_missing_required_and_range(client: Any, tokens: dict[str, str]) -> None:
    r = client.put(API + "/nodes/pve1/qemu/9000/resize", headers=h(tokens, "admin"), data={"disk": "scsi0"})
    assert r.json()["errors"] == {"size": "property is missing and it is not optional"}
    r = client.put(API + "/nodes/pve1/qemu/9000/config", headers=h(tokens, "admin"), data={"cores": "0"})
    assert r.json()["errors"] == {"cores": "value must have a minimum value of 1"}


def test_duplicate_path_param_conflict(client: Any, tokens: dict[str, str]) -> None:
    r = client.put(API + "/nodes/pve1/qemu/9000/config", headers=h(tokens, "admin"), data={"vmid": "101"})
    assert r.status_code == 400
    assert r.json()["errors"] == {"vmid": "duplicate parameter (already defined in URI) with conflicting values!"}


def test_unknown_vm_500_reason_phrase(client: Any, tokens: dict[str, str]) -> None:
    r = client.get(API + "/nodes/pve1/qemu/555/config", headers=h(tokens, "admin"))
    assert r.status_code == 500
    assert r.headers["x-reason"] == "Configuration file 'nodes/pve1/qemu-server/555.conf' does not exist"


def test_unknown_node_hostname_lookup(client: Any, tokens: dict[str, str]) -> None:
    r = client.get(API + "/nodes/nope/qemu/9000/config", headers=h(tokens, "admin"))
    assert r.status_code == 500 and r.json()["message"].startswith("hostname lookup 'nope' failed")


def test_doubled_slashes_and_encoded_upid(client: Any, tokens: dict[str, str]) -> None:
    upid = client.post(API + "/nodes/pve1/qemu/9000/clone", headers=h(tokens, "admin"), data={"newid": "101"}).json()[
        "data"
    ]
    encoded = upid.replace("!", "%21").replace(":", "%3A")
    r = client.get(API + f"//nodes/pve1/tasks/{encoded}/status/", headers=h(tokens, "admin"))
    assert r.json()["data"]["exitstatus"] == "OK"
    log = client.get(API + f"/nodes/pve1/tasks/{upid}/log", headers=h(tokens, "admin")).json()
    assert log["total"] == len(log["data"]) and log["data"][-1] == {"n": log["total"], "t": "TASK OK"}


def test_unknown_task_is_400(client: Any, tokens: dict[str, str]) -> None:
    r = client.get(
        API + "/nodes/pve1/tasks/UPID:pve1:00000001:00000001:00000001:qmstart:1:root@pam:/status",
        headers=h(tokens, "admin"),
    )
    assert r.status_code == 400 and r.json()["errors"] == {"upid": "no such task"}


def test_ticket_login_and_csrf(client: Any) -> None:
    r = client.post(API + "/access/ticket", data={"username": "root@pam", "password": "simpass"})
    data = r.json()["data"]
    assert data["ticket"].startswith("PVE:root@pam:") and data["clustername"]
    cookies = {"PVEAuthCookie": data["ticket"]}
    assert client.get(API + "/nodes", cookies=cookies).status_code == 200
    r = client.post(API + "/pools", cookies=cookies, data={"poolid": "p2"})
    assert (r.status_code, r.headers["x-reason"]) == (401, "Permission denied - invalid csrf token")
    r = client.post(
        API + "/pools",
        cookies=cookies,
        data={"poolid": "p2"},
        headers={"CSRFPreventionToken": data["CSRFPreventionToken"]},
    )
    assert r.status_code == 200 and r.json() == {"data": None}


def test_wrong_password_has_json_body(client: Any) -> None:
    r = client.post(API + "/access/ticket", data={"username": "root@pam", "password": "nope"})
    assert r.status_code == 401 and r.json() == {"data": None, "message": "authentication failure\n"}


def test_token_cannot_get_ticket(client: Any, tokens: dict[str, str]) -> None:
    r = client.post(API + "/access/ticket", headers=h(tokens), data={"username": "root@pam", "password": "x"})
    assert r.status_code == 401  # world endpoint: the token header is ignored, password is wrong


def test_resources_filtered_by_vm_audit(client: Any, tokens: dict[str, str], backend) -> None:
    backend.clone("pve1", 9000, 150, "root@pam")  # not in the tenant pool
    ids = [
        r["vmid"]
        for r in client.get(API + "/cluster/resources", params={"type": "vm"}, headers=h(tokens)).json()["data"]
    ]
    assert ids == [8000, 9000]  # the seeded templates (VM and CT) the token may clone
    admin_ids = [
        r["vmid"]
        for r in client.get(API + "/cluster/resources", params={"type": "vm"}, headers=h(tokens, "admin")).json()[
            "data"
        ]
    ]
    assert admin_ids == [150, 8000, 9000]


def test_admin_prefix_outside_api(client: Any) -> None:
    assert client.get("/_sim/world/guests").json() == {"guests": []}
    assert client.get(API + "/_sim/world/guests").status_code == 401


def test_create_token_and_grant_acl(client: Any, tokens: dict[str, str]) -> None:
    admin = h(tokens, "admin")
    assert client.post(API + "/access/users", headers=admin, data={"userid": "ci@pve"}).status_code == 200
    r = client.post(API + "/access/users/ci@pve/token/deploy", headers=admin, data={"privsep": "1"})
    created = r.json()["data"]
    assert created["full-tokenid"] == "ci@pve!deploy" and len(created["value"]) == 36
    token = {"Authorization": f"PVEAPIToken=ci@pve!deploy={created['value']}"}
    assert client.get(API + "/nodes/pve1/qemu/9000/config", headers=token).status_code == 403
    for kind in ("users", "tokens"):
        r = client.put(
            API + "/access/acl",
            headers=admin,
            data={"path": "/vms/9000", "roles": "PVEAuditor", kind: "ci@pve" + ("!deploy" if kind == "tokens" else "")},
        )
        assert r.status_code == 200
    assert client.get(API + "/nodes/pve1/qemu/9000/config", headers=token).status_code == 200
    r = client.post(API + "/access/users/ci@pve/token/other", headers=h(tokens))
    assert r.status_code == 403 and r.json()["message"] == "Permission check failed\n"


def test_stuck_file_lock_times_out_config_put(client: Any, tokens: dict[str, str]) -> None:
    assert client.post("/_sim/faults", json={"stuck_locks": [{"vmid": 9000}]}).status_code == 200
    r = client.put(API + "/nodes/pve1/qemu/9000/config", headers=h(tokens, "admin"), data={"description": "x"})
    assert r.status_code == 500
    assert r.json()["message"] == "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout\n"
    assert client.post("/_sim/faults", json={"rules": [{"path": "(", "error_rate": 1}]}).json() == {
        "error": "path: invalid regex '(': missing ), unterminated subpattern at position 0"
    }


def test_cloudinit_drive_regeneration_shows_pending_values(client, tokens) -> None:  # type: ignore[no-untyped-def]
    """PUT …/cloudinit rebuilds the drive; GET …/cloudinit lists what changed since (bpg calls both)."""
    auth = {"Authorization": tokens["admin"]}
    base = "/api2/json/nodes/pve1/qemu/9000"
    assert client.put(f"{base}/cloudinit", headers=auth).status_code == 200
    assert client.put(f"{base}/config", data={"ciuser": "dokploy"}, headers=auth).status_code == 200
    items = {i["key"]: i for i in client.get(f"{base}/cloudinit", headers=auth).json()["data"]}
    assert items["ciuser"] == {"key": "ciuser", "value": "ubuntu", "pending": "dokploy"}
    assert client.put(f"{base}/cloudinit", headers=auth).status_code == 200
    items = {i["key"]: i for i in client.get(f"{base}/cloudinit", headers=auth).json()["data"]}
    assert items["ciuser"] == {"key": "ciuser", "value": "dokploy"}
