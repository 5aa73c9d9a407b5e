"""Tenant lifecycle states and their pure transitions.

``active`` tenants run; ``suspended`` tenants keep their VMs and data but are stopped (VM ``started=False``,
Dokploy server ``inactive``); ``decommissioned`` is terminal (stack destroyed). Repeating a transition
into the state a tenant is already in is a no-op, so replayed commands are harmless.
"""
from __future__ import annotations

from enum import Enum


class TenantState(str, Enum):
    """Where a tenant is in its lifecycle."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECOMMISSIONED = "decommissioned"


class Transition(str, Enum):
    """Commands that move a tenant between states."""

    SUSPEND = "suspend"
    RESUME = "resume"
    DECOMMISSION = "decommission"


class InvalidTransition(ValueError):
    """A command that is not allowed from the tenant's current state."""

    def __init__(self, state: TenantState, command: Transition) -> None:
        super().__init__(f"cannot {command.value} a tenant that is {state.value}")
        self.state, self.command = state, command


_TARGET = {Transition.SUSPEND: TenantState.SUSPENDED, Transition.RESUME: TenantState.ACTIVE,
           Transition.DECOMMISSION: TenantState.DECOMMISSIONED}
_ALLOWED = {
    TenantState.ACTIVE: {Transition.SUSPEND, Transition.RESUME, Transition.DECOMMISSION},
    TenantState.SUSPENDED: {Transition.SUSPEND, Transition.RESUME, Transition.DECOMMISSION},
    TenantState.DECOMMISSIONED: {Transition.DECOMMISSION},
}


def transition(state: TenantState, command: Transition) -> TenantState:
    """The state after ``command``; raises :class:`InvalidTransition` (naming both) when not allowed."""
    if command not in _ALLOWED[state]:
        raise InvalidTransition(state, command)
    return _TARGET[command]


def can(state: TenantState, command: Transition) -> bool:
    """Whether ``command`` is allowed from ``state``."""
    return command in _ALLOWED[state]


def vm_started(state: TenantState) -> bool:
    """The tenant VMs' ``started`` flag in this state (decommissioned VMs are destroyed, not stopped)."""
    return state is TenantState.ACTIVE


def dokploy_server_status(state: TenantState) -> str:
    """The Dokploy ``serverStatus`` matching this state (CONTRACT §5.1: ``active`` | ``inactive``)."""
    return "active" if state is TenantState.ACTIVE else "inactive"
