"""Key rotation through the service: the operator's endpoint queues a ``rotate-keys`` job whose every attempt
carries one rotation id; suspended tenants are refused; the policy picks the keys past their age."""

from __future__ import annotations

import yaml

from service.key_rotation import due_for_rotation
from service.queue import JobQueue
from tests.service.harness import RunningService, signup_body


def _ready(service: RunningService, slug: str) -> str:
    job_id = service.signup(signup_body(slug)).json()["job_id"]
    assert service.wait_job(job_id)["state"] == "succeeded"
    return job_id


def test_rotate_keys_queues_one_rotation_that_reaches_the_run_with_its_id(service: RunningService) -> None:
    service.start_workers(1)
    _ready(service, "acme")
    answer = service.op("POST", "/v1/tenants/acme/rotate-keys")
    assert answer.status_code == 202
    job_id = answer.json()["job_id"]
    job = service.wait_job(job_id)
    assert job["state"] == "succeeded" and job["kind"] == "rotate-keys"
    assert f"rotate acme {job_id}" in service.engine.effects()
    assert service.op("GET", "/v1/tenants/acme").json()["phase"] == "ready"


def test_a_queued_reapply_does_not_swallow_a_rotation(service: RunningService, queue: JobQueue) -> None:
    service.start_workers(1)
    _ready(service, "acme")
    service.stop_workers()  # nothing runs: both jobs stay queued
    reapply = service.op("POST", "/v1/tenants/acme/reapply").json()["job_id"]
    rotation = service.op("POST", "/v1/tenants/acme/rotate-keys").json()
    assert rotation["job_id"] != reapply and rotation["duplicate"] is False
    assert queue.get_job(rotation["job_id"]).kind == "rotate-keys"
    again = service.op("POST", "/v1/tenants/acme/rotate-keys").json()
    assert again == {"job_id": rotation["job_id"], "duplicate": True}


def test_a_suspended_tenant_is_refused_and_an_unknown_one_is_404(service: RunningService, queue: JobQueue) -> None:
    service.start_workers(1)
    _ready(service, "acme")
    declaration = yaml.safe_load(queue.get_tenant("acme").declaration)
    declaration["state"] = "suspended"
    queue.update_declaration("acme", declaration["plan"], yaml.safe_dump(declaration))
    refused = service.op("POST", "/v1/tenants/acme/rotate-keys")
    assert refused.status_code == 409 and "suspended" in refused.json()["detail"]
    assert service.op("POST", "/v1/tenants/nobody/rotate-keys").status_code == 404
    assert not [e for e in service.engine.effects() if e.startswith("rotate")]


def test_an_lxc_tenant_is_refused_naming_the_plan(service: RunningService, queue: JobQueue) -> None:
    service.start_workers(1)
    _ready(service, "acme")
    declaration = yaml.safe_load(queue.get_tenant("acme").declaration)
    declaration["plan"] = "container"
    queue.update_declaration("acme", "container", yaml.safe_dump(declaration))
    refused = service.op("POST", "/v1/tenants/acme/rotate-keys")
    assert refused.status_code == 409 and "lxc plan 'container'" in refused.json()["detail"]
    assert not [e for e in service.engine.effects() if e.startswith("rotate")]


def test_the_private_key_needs_the_break_glass_role(service: RunningService) -> None:
    refused = service.op("GET", "/v1/tenants/acme/ssh-key?reason=incident-4711")
    assert refused.status_code == 403 and "break-glass" in refused.json()["detail"]
    assert service.op("GET", "/v1/tenants/acme/ssh-key", token="x" * 32).status_code == 401


class _Facts:
    def __init__(self, created: dict[str, float | None]) -> None:
        self.created = created

    def __call__(self, _stacks: object, slug: str) -> object:
        from provisioning.tenant_keys import KeyFacts, NoTenantKey

        if slug not in self.created:
            raise NoTenantKey(slug)
        return KeyFacts(slug, "ssh-ed25519 AAAA", "SHA256:x", 1, self.created[slug], "state")


def test_the_policy_picks_ready_active_tenants_whose_key_is_too_old(service: RunningService, queue: JobQueue) -> None:
    service.start_workers(1)
    for slug in ("old", "fresh", "unknownage", "paused"):
        _ready(service, slug)
    paused = yaml.safe_load(queue.get_tenant("paused").declaration)
    paused["state"] = "suspended"
    queue.update_declaration("paused", paused["plan"], yaml.safe_dump(paused))
    now, day = 1_000_000_000.0, 86400.0
    facts = _Facts({"old": now - 91 * day, "fresh": now - 10 * day, "unknownage": None, "paused": now - 200 * day})
    stacks = type("S", (), {"environment": service.engine.environment})()
    due = due_for_rotation(queue, stacks, 90, now=now, facts=facts)  # type: ignore[arg-type]
    assert sorted(slug for slug, _ in due) == ["old", "unknownage"]
