"""Stripe's official mock server on a free loopback port, for the whole test session."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRIPE_MOCK = ROOT / ".tools" / "bin" / "stripe-mock"


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[str]:
    """Base URL of a stripe-mock started for this session (built first if needed)."""
    subprocess.run(
        ["bash", str(ROOT / "scripts/toolchain/build_stripe_mock.sh")], check=True, capture_output=True, timeout=600
    )
    # Its request log goes to a file: a pipe nobody reads would fill up and stall the server.
    with tempfile.NamedTemporaryFile("w+", prefix="stripe-mock-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen([str(STRIPE_MOCK), "-http-addr", "127.0.0.1:"], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield _wait_for_address(Path(log.name), proc, deadline=time.monotonic() + 20)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        Path(log.name).unlink(missing_ok=True)


def _wait_for_address(log: Path, proc: subprocess.Popen[bytes], deadline: float) -> str:
    while time.monotonic() < deadline:
        match = re.search(r"Listening for HTTP at address: (\S+)", log.read_text(errors="replace"))
        if match:
            return f"http://{match.group(1)}"
        if proc.poll() is not None:
            raise RuntimeError(f"stripe-mock exited with {proc.returncode}: {log.read_text(errors='replace')[-500:]}")
        time.sleep(0.05)
    raise RuntimeError("stripe-mock did not report its HTTP address in time")
