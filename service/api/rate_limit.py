"""Per-source rate limits of the public endpoints (``limits``' moving window, in this process's memory).

Each API process counts on its own: with N processes behind a balancer a source gets up to N times the rate.
A deployment that needs one count across processes gives ``limits`` a shared storage (Redis, memcached).
"""

from __future__ import annotations

import math
import time

import limits
from fastapi import HTTPException
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request


class SourceRateLimit:
    """One rate per source address for one endpoint."""

    def __init__(self, endpoint: str, rate: str) -> None:
        self.endpoint = endpoint
        self.rate = limits.parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, request: Request) -> None:
        """Count this request; 429 with ``Retry-After`` (seconds) when the source is over its rate."""
        source = request.client.host if request.client else "unknown"
        if self.limiter.hit(self.rate, self.endpoint, source):
            return
        reset = self.limiter.get_window_stats(self.rate, self.endpoint, source).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        raise HTTPException(
            429,
            f"too many {self.endpoint} requests from {source}: at most {self.rate}; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
