"""The fault soak, shortened to three minutes of traffic, in the default run: every invariant must hold.

The same code as ``python -m scripts.soak`` (20 minutes by hand): signups, Stripe-driven plan changes,
suspensions, resumes and cancellations and operator re-applies, under 5xx answers and latency from Proxmox and
Dokploy, a clone lock timeout, a node offline, a failed Dokploy setup, PowerDNS down, PostgreSQL restarted and
a worker SIGKILLed. The report is printed at the end of the run and written to ``.state/soak-report.json``.
"""

from __future__ import annotations

import pytest

from provisioning.toolchain import STATE_DIR
from scripts.soak.__main__ import run
from tests.service_e2e.killpoints import SUMMARY

pytestmark = pytest.mark.engine
CI_MINUTES = 3.0
SEED = 16


def test_a_short_soak_under_every_kind_of_fault_converges() -> None:
    report = run(CI_MINUTES, SEED, max_live=8, progress=lambda _: None)
    report.write(STATE_DIR / "soak-report.json")
    SUMMARY.extend(["", *report.lines()])
    assert set(report.episodes) == {
        "clone-lock",
        "node-offline",
        "setup-failure",
        "dns-down",
        "db-restart",
        "worker-kill",
    }, "every kind of fault was injected"
    assert report.injected["proxmox 5xx"] > 0 and report.injected["dokploy 5xx"] > 0
    assert not report.fault_errors, report.fault_errors
    broken = [f"{i.name}: {i.broken}" for i in report.invariants if not i.holds]
    assert not broken, "\n".join(report.lines())
