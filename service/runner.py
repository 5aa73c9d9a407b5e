"""What a worker needs from the engine: ``run(slug, operation, on_event) -> RunResult``.

:class:`EngineRunner` is the real one (``provisioning.runner.TenantStacks`` plus recovery from
crashed runs, see :mod:`service.recovery`); tests inject a fake with the same shape.
"""
from __future__ import annotations

import logging
from typing import Protocol

from provisioning.runner import EventHandler, Operation, RunResult, TenantStacks
from service import recovery

log = logging.getLogger(__name__)


class Runner(Protocol):
    """Runs one engine operation on one tenant's stack."""

    def run(self, slug: str, operation: Operation, on_event: EventHandler | None = None) -> RunResult:
        """Apply/destroy/... the tenant's stack; failures come back as ``RunResult(ok=False, error=...)``."""


class EngineRunner:
    """The Automation API runner, made safe to call after a worker died mid-run.

    The worker calling this holds the tenant's lease, so no other service worker can be running this
    stack: a lock left on it is stale unless a live process on this host (an operator's CLI) holds it.
    """

    def __init__(self, stacks: TenantStacks) -> None:
        self.stacks = stacks

    def run(self, slug: str, operation: Operation, on_event: EventHandler | None = None) -> RunResult:
        """Clear stale locks and pending operations, then run; a destroy also removes the stack."""
        stack = self.stacks.stack(slug)
        recovery.clear_stale_lock(stack)
        if recovery.clear_pending_operations(stack):
            stack.refresh(color="never", suppress_progress=True)  # state learns what the dead run left
        return self.stacks.run(slug, operation, on_event=on_event, remove_stack=True)
