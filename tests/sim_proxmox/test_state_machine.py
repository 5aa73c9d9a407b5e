"""Rule-based state machine: the backend against a plain dict model of VMs."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sim.proxmox import exceptions as E
from sim.proxmox.backend import Backend

IDS = st.integers(min_value=100, max_value=106)
USER = "root@pam"


class VmMachine(RuleBasedStateMachine):
    """Model: vmid -> {"status": str, "cores": int, "pending"?: int}."""

    def __init__(self) -> None:
        super().__init__()
        self.b = Backend(nodes=2, speed="fast")
        self.model: dict[int, dict] = {}

    def _exit(self, upid: str) -> str:
        return self.b.tasks[upid].exitstatus or ""

    @rule(vmid=IDS)
    def clone(self, vmid: int) -> None:
        try:
            upid = self.b.clone("pve1", 9000, vmid, USER)
        except E.HandlerError as exc:
            assert vmid in self.model and "already exists" in exc.message
            return
        assert vmid not in self.model and self._exit(upid) == "OK"
        self.model[vmid] = {"status": "stopped", "cores": 2}

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        vmid = data.draw(st.sampled_from(sorted(self.model)))
        status = self._exit(self.b.start("pve1", vmid, USER))
        if self.model[vmid]["status"] == "running":
            assert status == f"VM {vmid} already running"
        else:
            assert status == "OK"
            self.model[vmid]["status"] = "running"
            if "pending" in self.model[vmid]:
                self.model[vmid]["cores"] = self.model[vmid].pop("pending")

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        vmid = data.draw(st.sampled_from(sorted(self.model)))
        assert self._exit(self.b.stop("pve1", vmid, USER)) == "OK"
        self.model[vmid]["status"] = "stopped"

    @precondition(lambda self: self.model)
    @rule(data=st.data(), cores=st.integers(min_value=1, max_value=8))
    def set_cores(self, data: st.DataObject, cores: int) -> None:
        vmid = data.draw(st.sampled_from(sorted(self.model)))
        self.b.update_config("pve1", vmid, {"cores": cores})
        if self.model[vmid]["status"] == "running":
            self.model[vmid]["pending"] = cores  # cold key: waits for the next start
        else:
            self.model[vmid]["cores"] = cores
            self.model[vmid].pop("pending", None)

    @rule(vmid=IDS)
    def destroy(self, vmid: int) -> None:
        try:
            upid = self.b.destroy("pve1", vmid, USER)
        except E.HandlerError as exc:
            if vmid not in self.model:
                assert "does not exist" in exc.message
            else:
                assert self.model[vmid]["status"] == "running" and "destroy failed" in exc.message
            return
        assert self._exit(upid) == "OK"
        del self.model[vmid]

    @invariant()
    def matches_model(self) -> None:
        assert sorted(v for v in self.b.vms if v not in (8000, 9000)) == sorted(self.model)  # seeded templates
        for vmid, m in self.model.items():
            assert self.b.status_current("pve1", vmid)["status"] == m["status"]
            assert self.b.get_config("pve1", vmid, current=True)["cores"] == m["cores"]
            assert self.b.get_config("pve1", vmid)["cores"] == m.get("pending", m["cores"])


VmMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
TestVmMachine = VmMachine.TestCase
