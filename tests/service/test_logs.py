"""Structured logs: JSON lines with the work's ids, and no secret in any record."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from service.logs import SecretMask, configure_logging, log_context

PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----"


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", "dokploy-cloud@pve!ci=0f3c9a1e-secret")
    monkeypatch.setenv("SERVICE_PORT", "8080")
    stream = io.StringIO()
    configure_logging("service", stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_record_is_one_json_object_with_the_context_of_its_thread(records: io.StringIO) -> None:
    log = logging.getLogger("service.worker")

    def other() -> None:
        with log_context(tenant="beta", job="job-2"):
            log.info("other thread")

    with log_context(tenant="acme", job="job-1"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        with log_context(request_id="r-9"):
            log.warning("applied %d resources", 3)
    log.info("outside")
    by_message = {r["message"]: r for r in _lines(records)}
    assert by_message["applied 3 resources"] | {"time": None} == {
        "time": None,
        "level": "WARNING",
        "logger": "service.worker",
        "message": "applied 3 resources",
        "process": "service",
        "tenant": "acme",
        "job": "job-1",
        "request_id": "r-9",
    }
    assert by_message["other thread"]["tenant"] == "beta" and by_message["other thread"]["job"] == "job-2"
    assert "tenant" not in by_message["outside"]


def test_secrets_from_the_environment_and_private_keys_never_reach_a_record(records: io.StringIO) -> None:
    log = logging.getLogger("clients")
    log.info("token %s", "dokploy-cloud@pve!ci=0f3c9a1e-secret")
    log.info("key material: %s", PEM)
    try:
        raise RuntimeError("request with dokploy-cloud@pve!ci=0f3c9a1e-secret failed")
    except RuntimeError:
        log.exception("call failed")
    log.info("listening on %s", "8080")  # not a secret's name: left as it is
    text = records.getvalue()
    assert "0f3c9a1e-secret" not in text and "b3BlbnNzaC1rZXkt" not in text
    assert text.count("***") >= 3 and "listening on 8080" in text  # the traceback repeats the source line


def test_short_values_are_not_masked() -> None:
    mask = SecretMask({"FEATURE_KEY": "on", "STRIPE_API_KEY": "sk_test_123456789"})
    assert mask.mask("on sk_test_123456789") == "on ***"
    mask.add("decrypted-at-runtime")
    assert mask.mask("x decrypted-at-runtime") == "x ***"
