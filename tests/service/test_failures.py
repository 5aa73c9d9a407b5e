"""Which engine errors the service retries: the ones the fault soak met that pass, never the ones that cannot."""

from __future__ import annotations

import pytest

from provisioning.failures import error_summary, is_retryable

PASSING = [
    "sdk.helper_schema: error retrieving VM status: received an HTTP 500 response - Reason: Internal Server Error",
    "archive of acme server 0 (VM 10001) failed, so nothing was destroyed: 500 Internal Server Error: oops",
    "595 Errors during connection establishment, proxy handshake: Connection refused (node 'pve1' is offline)",
    "PowerDNS record acme.cloud.test. A: no response: cannot reach http://127.0.0.1:8081 (ConnectionError)",
    "error: Detected that .../pulumi-resource-random exited prematurely.",
    "error: the stack is locked by another update",
]
LASTING = [
    "received an HTTP 403 response - Reason: Permission check failed (/vms/10000, VM.Audit)",
    "tenant acme: server quota is used up",
    "Defined disk interface not supported. Interface was , but only [ide sata scsi virtio] are supported",
]


@pytest.mark.parametrize("error", PASSING)
def test_errors_that_pass_are_retried(error: str) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize("error", LASTING)
def test_errors_that_last_are_not(error: str) -> None:
    assert not is_retryable(error)


def test_the_summary_keeps_the_informative_lines_of_an_engine_error() -> None:
    error = (
        "pulumi:pulumi:Stack (dokploy-cloud-local.acme):\n"
        "proxmoxve:firewall:RulesLegacy (acme-s0-vm-firewall-rules):\n"
        "  error:   sdk-v2/provider2.go:571: sdk.helper_schema: Existing rules detected. Aborting...\n"
        "  error: 1 error occurred:\n"
        "  * Existing rules detected. Aborting..."
    )
    summary = error_summary(error)
    assert summary.startswith("error:   sdk-v2/provider2.go:571: sdk.helper_schema: Existing rules detected")
    assert "1 error occurred" not in summary and "pulumi:pulumi:Stack" not in summary
    assert len(error_summary("x" * 1000)) == 300
