"""Running one operation over many tenant stacks with bounded parallelism and live phase tracking."""
from __future__ import annotations

import concurrent.futures as futures
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from provisioning.phases import PhaseTracker
from provisioning.runner import EventHandler, Operation, RunResult


class SupportsRun(Protocol):
    """``TenantStacks`` or anything wrapping it (the service's crash-recovering ``EngineRunner``)."""

    def run(self, slug: str, operation: Operation, on_event: EventHandler | None = None) -> RunResult: ...


@dataclass
class TenantProgress:
    """Live state of one tenant's run."""

    slug: str
    state: str = "queued"
    """queued, running, ok or failed."""
    tracker: PhaseTracker = field(default_factory=PhaseTracker)
    started_at: float | None = None
    result: RunResult | None = None

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.started_at + self.result.seconds if self.result else time.monotonic()
        return end - self.started_at


def run_fleet(stacks: SupportsRun, slugs: Iterable[str], operation: Operation, parallel: int = 4,
              on_update: Callable[[list[TenantProgress]], None] | None = None) -> list[TenantProgress]:
    """Run ``operation`` on every slug, ``parallel`` at a time; one tenant's failure never stops the others."""
    progress = [TenantProgress(slug) for slug in slugs]
    notify = (lambda *_: on_update(progress)) if on_update else (lambda *_: None)

    def one(item: TenantProgress) -> None:
        item.state, item.started_at = "running", time.monotonic()
        item.tracker.on_change = notify
        notify()
        try:
            item.result = stacks.run(item.slug, operation, on_event=item.tracker)
        except Exception as exc:  # a bug or an unreachable service must not take the fleet down
            item.result = RunResult(item.slug, operation, False, time.monotonic() - item.started_at,
                                    error=f"{type(exc).__name__}: {exc}")
        item.state = "ok" if item.result.ok else "failed"
        notify()

    with futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(one, progress))
    return progress
