"""Handlers of …/qemu/{vmid}/snapshot (the schema's checks: VM.Snapshot, VM.Snapshot.Rollback, VM.Audit)."""

from __future__ import annotations

from typing import Any

from .responses import Ctx


def snapshot_list(ctx: Ctx) -> Any:
    return ctx.backend.snapshot_list(ctx.node, ctx.vmid)


def snapshot_create(ctx: Ctx) -> Any:
    p = ctx.params
    return ctx.backend.snapshot_create(
        ctx.node, ctx.vmid, str(p["snapname"]), ctx.authid, bool(p.get("vmstate")), str(p.get("description", ""))
    )


def snapshot_index(ctx: Ctx) -> Any:
    """GET …/snapshot/{snapname}: the snapshot's sub-directories (it must exist)."""
    with ctx.backend.lock:
        ctx.backend.snapshot(ctx.backend.vm(ctx.node, ctx.vmid), str(ctx.params["snapname"]))
    return [{"cmd": "rollback"}, {"cmd": "config"}]


def snapshot_delete(ctx: Ctx) -> Any:
    return ctx.backend.snapshot_delete(
        ctx.node, ctx.vmid, str(ctx.params["snapname"]), ctx.authid, bool(ctx.params.get("force"))
    )


def snapshot_rollback(ctx: Ctx) -> Any:
    return ctx.backend.snapshot_rollback(
        ctx.node, ctx.vmid, str(ctx.params["snapname"]), ctx.authid, bool(ctx.params.get("start"))
    )


def snapshot_config_get(ctx: Ctx) -> Any:
    return ctx.backend.snapshot_config(ctx.node, ctx.vmid, str(ctx.params["snapname"]))


def snapshot_config_put(ctx: Ctx) -> Any:
    ctx.backend.snapshot_update(ctx.node, ctx.vmid, str(ctx.params["snapname"]), ctx.params.get("description"))
