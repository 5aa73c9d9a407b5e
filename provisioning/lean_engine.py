"""The Automation API without the CLI calls a run does not need.

Left to itself, every run of a tenant stack starts ``pulumi`` three more times than the update: ``stack
select`` (or ``select`` failing, then ``init``) to open the stack, and after ``up`` ``stack output`` twice
and ``stack history`` to read back what the update just streamed as engine events. Here:

- :class:`LeanWorkspace` opens a stack without ``stack select`` where the backend's checkpoint shows
  whether it exists (:func:`provisioning.state_backend.stack_deployment`); every later command names the
  stack with ``--stack`` anyway. A stack that does not exist is created with ``stack init`` as before.
- :class:`EventReadbackStack` takes the stack's outputs and the change summary of an ``up`` from the
  update's own engine events (the root stack's ``res_outputs_event`` and the ``summary_event``), and falls
  back to the CLI when those events did not all arrive.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult
from pulumi.automation._stack import StackInitMode

from components.environment import PROJECT
from provisioning import state_backend

STACK_TYPE = "pulumi:pulumi:Stack"
SECRET = "[secret]"
"""How the engine's events show a secret value."""
EVENTS_GRACE_SECONDS = 5.0
"""How long after the CLI ended its last events may still be on their way (then the CLI is asked instead)."""


class LeanWorkspace(auto.LocalWorkspace):
    """A local workspace that opens stacks without ``stack select`` where the backend can be read."""

    def select_stack(self, stack_name: str) -> None:
        if not state_backend.readable_checkpoints():
            super().select_stack(stack_name)
            return
        if state_backend.stack_deployment(PROJECT, stack_name) is None:
            raise auto.StackNotFoundError(
                CommandResult(stdout="", stderr=f"error: no stack named '{stack_name}' found", code=255)
            )


class _Readback:
    """What an update's engine events say about its result; forwards every event to ``on_event``."""

    def __init__(self, on_event: auto.OnEvent | None) -> None:
        self.on_event = on_event
        self.outputs: dict[str, Any] | None = None
        self.changes: dict[Any, int] | None = None
        self.ended = threading.Event()

    def __call__(self, event: auto.EngineEvent) -> None:
        if event.summary_event is not None:
            self.changes = dict(event.summary_event.resource_changes or {})
        elif event.res_outputs_event is not None and event.res_outputs_event.metadata.type == STACK_TYPE:
            new = event.res_outputs_event.metadata.new
            self.outputs = dict((new.outputs if new is not None else None) or {})
        if self.on_event is not None:
            self.on_event(event)
        if event.cancel_event is not None:  # the engine's last event
            self.ended.set()

    def complete(self) -> bool:
        return self.ended.wait(EVENTS_GRACE_SECONDS) and self.changes is not None and self.outputs is not None


class EventReadbackStack(auto.Stack):
    """A stack whose ``up`` reads its outputs and summary from its own events instead of three CLI calls."""

    _readback: _Readback | None = None

    @classmethod
    def open(cls, name: str, workspace: auto.Workspace) -> EventReadbackStack:
        """Select stack ``name``, creating it if absent (``Stack.create_or_select`` builds a plain ``Stack``)."""
        return cls(name, workspace, StackInitMode.CREATE_OR_SELECT)

    def up(self, **kwargs: Any) -> auto.UpResult:  # type: ignore[override]  # keywords only, as we call it
        self._readback = _Readback(kwargs.pop("on_event", None))
        try:
            return super().up(on_event=self._readback, **kwargs)
        finally:
            self._readback = None

    def outputs(self) -> auto.OutputMap:
        readback = self._readback
        if readback is None or not readback.complete():
            return super().outputs()
        assert readback.outputs is not None
        return {k: auto.OutputValue(v, v == SECRET) for k, v in readback.outputs.items()}

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        readback = self._readback
        if readback is None or not readback.complete():
            return super().info(show_secrets)
        now = datetime.datetime.now(datetime.UTC)
        return auto.UpdateSummary(
            kind="update",
            start_time=now,
            end_time=now,
            message="",
            environment={},
            config={},
            result="succeeded",
            resource_changes=readback.changes,
        )
