"""The permission journal: every decision about a caller, re-evaluated later under other ACLs."""

from __future__ import annotations

from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks

from sim.proxmox.access import copy_access, first_denial
from sim.proxmox.backend import Backend


def _run(prox: ProxmoxAPI) -> int:
    """Clone into the tenant pool, configure, read, destroy: what a provisioner does."""
    vmid = int(prox.cluster.nextid.get())
    node = prox.nodes("pve1")
    Tasks.blocking_status(prox, node.qemu(9000).clone.post(newid=vmid, pool="tenants", full=1), timeout=10)
    node.qemu(vmid).config.put(cores=2, memory=4096)
    node.qemu(vmid).status.current.get()
    Tasks.blocking_status(prox, node.qemu(vmid).delete(purge=1), timeout=10)
    return vmid


def test_replay_under_the_same_acls_refuses_nothing(prox: ProxmoxAPI, live_backend: Backend) -> None:
    live_backend.access.journal = []
    _run(prox)
    journal = live_backend.access.journal
    assert journal and all(d.authid == "svc@pve!prov" for d in journal)
    assert {"schema", "handler"} <= {d.kind for d in journal}
    assert first_denial(journal, copy_access(live_backend.access)) is None


def test_replay_names_the_first_privilege_a_run_would_miss(prox: ProxmoxAPI, live_backend: Backend) -> None:
    live_backend.access.journal = []
    vmid = _run(prox)
    journal = live_backend.access.journal
    assert vmid not in live_backend.vms, "the VM is gone: replay must use the pool it was in then"
    for privilege, kind in (("VM.Config.Memory", "handler"), ("VM.Audit", "schema")):
        reduced = copy_access(live_backend.access)
        reduced.roles["TenantProvisioner"].discard(privilege)
        denied = first_denial(journal, reduced)
        assert denied is not None
        decision, detail = denied
        assert (decision.kind, detail) == (kind, f"/vms/{vmid}, {privilege}")
