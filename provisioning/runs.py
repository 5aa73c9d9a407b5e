"""What one engine run on one tenant's stack is: its operation, its result, and the one runner protocol.

Everything that runs tenant stacks (the fleet runner behind cloudctl and the demo, the service's workers,
recovery's refresh) talks to a :class:`Runner`. Two classes satisfy it: the plain Automation API runner
(:class:`provisioning.stacks.TenantStacks`) and the crash-safe runner wrapping it
(:class:`provisioning.runner.CrashSafeRunner`); tests inject fakes with the same shape.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pulumi import automation as auto

from components.environment import Environment
from components.spec import TenantSpec

Operation = Literal["up", "preview", "refresh", "destroy"]
EventHandler = Callable[[auto.EngineEvent], None]


@dataclass
class RunResult:
    """What one engine operation did."""

    slug: str
    operation: Operation
    ok: bool
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    """``"transient"`` when the failure is known to pass on its own (worth retrying), ``"cancelled"`` when
    the run was interrupted through its ``cancel`` event, else None."""


class Runner(Protocol):
    """Runs one engine operation on one tenant's stack of :attr:`environment`."""

    @property
    def environment(self) -> Environment:
        """The environment whose plans and regions declarations are validated against."""

    def run(
        self,
        tenant: TenantSpec,
        operation: Operation,
        on_event: EventHandler | None = None,
        cancel: threading.Event | None = None,
        *,
        refresh: bool = False,
        rotation: str | None = None,
    ) -> RunResult:
        """Apply/destroy/... ``tenant``'s stack; failures come back as ``RunResult(ok=False, error=...)``.

        ``tenant`` is the declaration, parsed once by the caller; the run hands it to the program as is.
        Setting ``cancel`` interrupts the run soon (``error_kind="cancelled"``). ``refresh``: an ``up`` reads
        every resource back first (after a failed run, whose state may hold what was asked, not what is).
        ``rotation``: an ``up`` that gives the tenant a new SSH key pair (a rotation request's id; the same id
        again makes no second key).
        """
