"""The one retry mechanism: bounded attempts with capped exponential backoff and jitter (tenacity).

Every loop that retries a remote call (HTTP APIs, the database, the engine's stack lock) goes through
:class:`RetryPolicy`, so attempts, backoff and what counts as retryable are stated once per call site.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits grow ``initial * 2**n`` up to ``maximum`` seconds, with jitter."""

    attempts: int = 4
    initial: float = 0.5
    maximum: float = 8.0
    jitter: float = 0.0
    """Seconds of random extra wait (0 keeps waits deterministic)."""

    def retrying(self, retryable: Callable[[BaseException], bool], cancel: threading.Event | None = None) -> Retrying:
        """A tenacity ``Retrying`` that re-raises the last error once attempts run out.

        A set ``cancel`` event cuts the current wait short (the next attempt then runs at once).
        """
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            reraise=True,
            wait=wait_exponential_jitter(multiplier=self.initial, max=self.maximum, jitter=self.jitter),
            retry=retry_if_exception(retryable),
        )
        if cancel is None:
            return retrying
        event = cancel

        def sleep(seconds: float) -> None:
            event.wait(seconds)

        return retrying.copy(sleep=sleep)

    def call(
        self, fn: Callable[[], T], retryable: Callable[[BaseException], bool], cancel: threading.Event | None = None
    ) -> T:
        """``fn()``, retried while it raises what ``retryable`` accepts."""
        return self.retrying(retryable, cancel)(fn)
