"""Tenant lifecycle: pure transitions."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.states import InvalidTransition, TenantState, Transition, can, dokploy_server_status, transition, vm_started

A, S, D = TenantState.ACTIVE, TenantState.SUSPENDED, TenantState.DECOMMISSIONED


@pytest.mark.parametrize("state,command,target", [
    (A, Transition.SUSPEND, S), (S, Transition.RESUME, A), (A, Transition.DECOMMISSION, D),
    (S, Transition.DECOMMISSION, D), (S, Transition.SUSPEND, S), (A, Transition.RESUME, A), (D, Transition.DECOMMISSION, D),
])
def test_allowed_transitions(state: TenantState, command: Transition, target: TenantState) -> None:
    assert transition(state, command) is target


@pytest.mark.parametrize("command", [Transition.SUSPEND, Transition.RESUME])
def test_decommissioned_is_terminal(command: Transition) -> None:
    with pytest.raises(InvalidTransition, match=f"cannot {command.value} a tenant that is decommissioned"):
        transition(D, command)
    assert not can(D, command)


def test_wiring_helpers() -> None:
    assert [vm_started(s) for s in (A, S, D)] == [True, False, False]
    assert [dokploy_server_status(s) for s in (A, S, D)] == ["active", "inactive", "inactive"]


@given(st.lists(st.sampled_from(list(Transition)), max_size=20))
def test_any_allowed_sequence_is_idempotent_per_step_and_never_leaves_decommissioned(commands: list[Transition]) -> None:
    state = A
    for command in commands:
        if not can(state, command):
            assert state is D
            continue
        after = transition(state, command)
        assert transition(after, command) is after  # repeating a command changes nothing
        assert state is not D or after is D
        state = after
