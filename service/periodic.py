"""One daemon thread per schedule of the service: run a job (now, or after a first delay), then every
interval, until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def start_periodic(
    name: str, job: Callable[[], Any], interval: float, stop: threading.Event, first_delay: float = 0.0
) -> threading.Thread:
    """Call ``job`` after ``first_delay`` seconds and then every ``interval`` seconds until ``stop`` is set;
    ``job`` logs its own failures."""

    def loop() -> None:
        if first_delay > 0 and stop.wait(first_delay):
            return
        while True:
            job()
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
