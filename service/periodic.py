"""One daemon thread per schedule of the service: run a job now, then every interval, until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def start_periodic(name: str, job: Callable[[], Any], interval: float, stop: threading.Event) -> threading.Thread:
    """Call ``job`` now and every ``interval`` seconds until ``stop`` is set; ``job`` logs its own failures."""

    def loop() -> None:
        while True:
            job()
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
