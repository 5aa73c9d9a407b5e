"""The archive purge's schedule: it runs at start and on its interval, and a failing purge never kills it."""

from __future__ import annotations

import threading
import time

from provisioning.archive import Archive
from service.archive_purger import purge_once, start_archive_purger

ARCHIVE = Archive(
    "nfs:backup/vzdump-qemu-100-2026_01_01-00_00_00.vma.zst",
    "nfs",
    "local",
    "acme",
    0,
    100,
    "acme.test",
    "10.0.0.5",
    "pve1",
    "business",
    "2026-01-31",
    0,
    1024,
    None,
)


class FlakyPurges:
    """Fails on its first call (Proxmox unreachable), then removes one archive per call."""

    def __init__(self) -> None:
        self.calls = 0

    def purge(self) -> list[Archive]:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("pve unreachable")
        return [ARCHIVE]


def test_a_failed_purge_is_logged_and_the_next_interval_tries_again() -> None:
    purges = FlakyPurges()
    assert purge_once(purges) is None
    assert purge_once(purges) == [ARCHIVE]
    stop = threading.Event()
    thread = start_archive_purger(purges, 0.02, stop)
    deadline = time.monotonic() + 5
    while purges.calls < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(2)
    assert purges.calls >= 5 and not thread.is_alive()
