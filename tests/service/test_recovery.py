"""Stale-lock decisions and the settings/secret hygiene the service depends on."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from components.tenant_vm import TIMEOUTS
from providers.dokploy_server import DEFAULTS as DOKPLOY_SERVER_DEFAULTS
from provisioning.recovery import FOREIGN_LOCK_GRACE_SECONDS, lock_is_stale
from service.settings import SettingsError, load_settings
from service.signing import SignatureError, sign, verify_signature


def test_lock_of_a_dead_local_process_is_stale() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert lock_is_stale({"pid": dead.pid, "hostname": socket.gethostname()})


def test_lock_of_a_live_local_process_is_not_stale() -> None:
    assert not lock_is_stale({"pid": os.getpid(), "hostname": socket.gethostname()})


def test_foreign_lock_is_stale_only_after_the_grace_period() -> None:
    info = {"pid": 1, "hostname": "elsewhere", "timestamp": "2026-01-01T00:00:00.123456789Z"}
    written = 1767225600.123456
    assert not lock_is_stale(info, now=written + 60)
    assert lock_is_stale(info, now=written + FOREIGN_LOCK_GRACE_SECONDS + 1)
    assert not lock_is_stale({"hostname": "elsewhere"})


def test_secrets_never_show_in_reprs_or_errors() -> None:
    env = {
        "SERVICE_HMAC_SECRET": "s3cr3t-hmac-value-xyz",
        "SERVICE_OPERATOR_TOKEN": "t0ken-operator-value-xyz",
        "SERVICE_DATABASE_URL": "postgresql://svc:dbpassword@127.0.0.1/q",
    }
    settings = load_settings(env)
    text = repr(settings) + str(settings.hmac_secret) + repr(settings.operator_token)
    assert not any(secret in text for secret in (*env.values(), "dbpassword"))
    with pytest.raises(SettingsError, match="SERVICE_CONCURRENCY must be a whole number") as err:
        load_settings({**env, "SERVICE_CONCURRENCY": "many"})
    assert "s3cr3t" not in str(err.value)
    with pytest.raises(SignatureError) as bad:
        verify_signature(settings.hmac_secret, "t=1,v1=00", b"{}", 300)
    assert "s3cr3t" not in str(bad.value)


def test_signature_round_trip() -> None:
    settings = load_settings({"SERVICE_HMAC_SECRET": "x" * 16, "SERVICE_OPERATOR_TOKEN": "y" * 16})
    header = sign(settings.hmac_secret, b'{"a": 1}', 1_000_000)
    assert verify_signature(settings.hmac_secret, header, b'{"a": 1}', 300, now=1_000_100) == 1_000_000


def test_a_foreign_lock_outlives_the_longest_legitimate_run() -> None:
    longest = sum(TIMEOUTS.values()) + DOKPLOY_SERVER_DEFAULTS["ready_timeout"]  # clone, create, start, reboot, setup
    info = {"pid": 1, "hostname": "elsewhere", "timestamp": "2026-01-01T00:00:00Z"}
    written = 1767225600.0
    assert not lock_is_stale(info, now=written + longest), "a run still within its timeouts would lose its lock"
    assert longest < FOREIGN_LOCK_GRACE_SECONDS
