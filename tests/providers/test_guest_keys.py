"""The guest keys provider's decisions: when the grant and revoke stages write, and what a stopped guest defers."""

from __future__ import annotations

from typing import Any

import pytest

from providers import guest_keys
from providers.guest_keys import GuestKeysProvider

BASE = {"node": "pve1", "vm_id": 101, "user": "dokploy", "running": True}


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    done: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(guest_keys, "write_authorized_keys", lambda p: done.append(("guest", list(p["keys"]))))
    monkeypatch.setattr(guest_keys, "write_cloud_init_keys", lambda p: done.append(("cloud-init", list(p["keys"]))))
    monkeypatch.setattr(guest_keys, "_cloud_init_agrees", lambda p: True)  # a VM cloned with the keys
    return done


def test_first_generation_keys_are_left_to_cloud_init(writes: list[Any]) -> None:
    outs = GuestKeysProvider().create({**BASE, "keys": ["a"], "generation": 1}).outs
    assert writes == [] and outs["written"] is True


def test_a_vm_holding_another_key_is_written_on_create(writes: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted run cloned the VM with a key pair the state then lost; the next run adopted the VM."""
    monkeypatch.setattr(guest_keys, "_cloud_init_agrees", lambda p: False)
    GuestKeysProvider().create({**BASE, "keys": ["k2"], "generation": 1, "cloud_init": True, "additive": True})
    assert writes == [("cloud-init", ["k2"]), ("guest", ["k2"])]


def test_a_later_generation_is_written_on_create(writes: list[Any]) -> None:
    GuestKeysProvider().create({**BASE, "keys": ["b", "a"], "generation": 2, "cloud_init": True})
    assert writes == [("cloud-init", ["b", "a"]), ("guest", ["b", "a"])]


def test_the_grant_stage_writes_only_when_a_key_is_added(writes: list[Any]) -> None:
    provider = GuestKeysProvider()
    olds = {**BASE, "keys": ["b", "a"], "additive": True, "written": True}
    assert not provider.diff("x", olds, {**BASE, "keys": ["b"], "additive": True}).changes  # removals: revoke's job
    assert provider.diff("x", olds, {**BASE, "keys": ["c", "b"], "additive": True}).changes
    exact = {**olds, "additive": False}
    assert provider.diff("x", exact, {**BASE, "keys": ["b"]}).changes


def test_a_stopped_guest_is_written_by_the_first_run_that_finds_it_running(writes: list[Any]) -> None:
    provider = GuestKeysProvider()
    olds = {**BASE, "keys": ["a"], "written": True}
    stopped = provider.update("x", olds, {**BASE, "keys": ["b"], "running": False}).outs
    assert writes == [] and stopped["written"] is False
    news = {**BASE, "keys": ["b"]}
    assert provider.diff("x", stopped, news).changes  # overdue
    assert provider.update("x", stopped, news).outs["written"] is True and writes == [("guest", ["b"])]
