"""The shared guest world: backend.world_guests, GET /_sim/world/guests, sim.world implementations."""

from __future__ import annotations

import urllib.parse

from sim.world import GUEST_KEYS, GuestWorld, HttpGuestWorld, StaticGuestWorld

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx7 tenant@example"


def make_running_guest(backend, vmid: int = 101, ip: str | None = None) -> None:
    backend.clone("pve1", 9000, vmid, "root@pam", name=f"g{vmid}")
    params = {"ciuser": "dokploy", "sshkeys": urllib.parse.quote(KEY, safe=""), "tags": "tenant-a;prod"}
    if ip:
        params["ipconfig0"] = f"ip={ip}/24,gw=10.9.0.1"
    backend.update_config("pve1", vmid, params)
    backend.start("pve1", vmid, "root@pam")


def test_world_guests_shape_and_values(backend) -> None:
    make_running_guest(backend, 101, ip="10.9.0.5")
    make_running_guest(backend, 102)
    guests = backend.world_guests()
    assert [g["vmid"] for g in guests] == [101, 102]  # the template is not a guest
    first = guests[0]
    assert set(first) == set(GUEST_KEYS)
    assert first["addresses"] == ["10.9.0.5"] and first["ssh_keys"] == [KEY]
    assert (first["ciuser"], first["tags"], first["status"], first["agent_ready"]) == (
        "dokploy",
        ["prod", "tenant-a"],  # as PVE stores them: sorted
        "running",
        True,
    )
    assert guests[1]["addresses"][0].startswith("10.77.")


def test_cloudinit_changes_visible_only_after_reboot(backend) -> None:
    make_running_guest(backend, 101)
    backend.update_config("pve1", 101, {"ciuser": "other"})
    assert backend.world_guests()[0]["ciuser"] == "dokploy"
    backend.reboot("pve1", 101, "root@pam")
    assert backend.world_guests()[0]["ciuser"] == "other"


def test_http_world_matches_backend(live, live_backend) -> None:
    server, _ = live
    make_running_guest(live_backend, 101, ip="10.9.0.5")
    world: GuestWorld = HttpGuestWorld(server.url, verify=False, timeout=5)
    assert world.guests() == live_backend.world_guests()
    assert world.find_by_address("10.9.0.5")["vmid"] == 101
    assert world.find_by_address("10.9.0.6") is None


def test_static_world() -> None:
    world = StaticGuestWorld([{"vmid": 1, "addresses": ["10.0.0.1"]}])
    assert isinstance(world, GuestWorld)
    assert world.find_by_address("10.0.0.1") == {"vmid": 1, "addresses": ["10.0.0.1"]}
    world.guests()[0]["vmid"] = 2
    assert world.guests()[0]["vmid"] == 1
