"""Profile signups through the service on the real engine: every CLI call, every process, every API call.

    .venv/bin/python -m scripts.profile_signup [--signups 3] [--warm] [--realistic SETUP_SECONDS]
                                              [--json .state/profile-signup.json]

Starts a fresh local cloud (simulators + PowerDNS), the API and one ``python -m service --workers-only``
process with zero task durations, then posts ``--signups`` signups one after another. For each it prints:

- the job's timeline (queued, phases, total) as the service records it;
- every ``pulumi`` CLI invocation the worker made (``DOKPLOY_CLOUD_CLI_LOG``), with its duration;
- the processes the worker started (sampled every 20 ms: the CLI, language host, program, plugins, policy pack);
- the Proxmox and Dokploy API calls the simulators served, by method and route.

The first signup pays the worker process's one-time start-up costs; the later ones show the steady state.
``--warm`` gives region pve-eu1 a warm pool of starter VMs (refilled before each signup, not counted) and signs
up starter tenants there; ``--realistic N`` uses the simulators' realistic task durations and an N-second Dokploy
setup (a tenth of it on a prepared host).
The machine is shared: figures are indicative.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from provisioning.stacks import TenantStacks
from provisioning.toolchain import CLI_LOG_VAR, STATE_DIR
from provisioning.warm_pool import WarmPool
from tests.service_e2e.harness import EngineService, new_signup, start_cloud

SAMPLE_SECONDS = 0.02


class ProcessSampler:
    """Samples a process's descendants and records each one it sees once (name, first words of its command)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[tuple[int, float], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                children = psutil.Process(self.root).children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for child in children:
                try:
                    key = (child.pid, child.create_time())
                    if key not in self.seen:
                        self.seen[key] = describe(child.cmdline())
                except psutil.Error:
                    continue

    def kinds(self) -> Counter[str]:
        return Counter(self.seen.values())


def describe(cmdline: list[str]) -> str:
    """A short, secret-free name for a process: the executable and, for Python and pulumi, what it runs."""
    if not cmdline:
        return "?"
    exe = Path(cmdline[0]).name
    if exe.startswith("python"):
        module = next((cmdline[i + 1] for i, a in enumerate(cmdline[:-1]) if a == "-m"), None)
        script = next((Path(a).name for a in cmdline[1:] if a.endswith(".py")), None)
        return f"python {module or script or ''}".strip()
    if exe == "pulumi":
        return "pulumi " + " ".join(a for a in cmdline[1:] if not a.startswith("-"))[:40].split(" --")[0]
    return exe


def served(cloud: Any) -> Counter[str]:
    """API calls the simulators served so far, by ``<api> <method> <route>``."""
    calls: Counter[str] = Counter()
    for sim, _ in cloud.cloud.proxmox.values():
        for (method, route), n in sim.served.items():
            calls[f"proxmox {method} {route}"] += n
    for (procedure, _org), n in cloud.dokploy.served.items():
        calls[f"dokploy {procedure}"] += n
    return calls


def _with_pool(env: dict[str, Any]) -> None:
    env["regions"]["pve-eu1"]["warm_pool"] = {"size": 1, "plan": "starter"}
    env["warm_pool_organization"] = "org_warm_pool"


def profile(count: int, warm: bool = False, realistic: float | None = None) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="profile-signup-"))
    cli_log = work / "cli.jsonl"
    os.environ[CLI_LOG_VAR] = str(cli_log)
    cloud = start_cloud(work, tweak=_with_pool if warm else None)
    if realistic is None:
        cloud.set_speed(0.0)
    else:
        cloud.set_speed(1.0, setup_seconds=realistic)
    service = EngineService.start(cloud, work, f"sqlite://{work / 'queue.sqlite'}", SERVICE_LEASE_SECONDS="30")
    results = []
    try:
        worker = service.start_worker_process("profile-worker", concurrency=1)
        worker.wait_started()
        for n in range(count):
            body = new_signup("prof")
            if warm:  # the worker's warm keeper fills the pool; wait for a ready VM
                body["plan"], body["region"] = "starter", "pve-eu1"
                pool, deadline = WarmPool(TenantStacks("local")), time.monotonic() + 900
                while not any(vm.state == "ready" for vm in pool.vms("pve-eu1")) and time.monotonic() < deadline:
                    time.sleep(0.5)
            cloud.add_organization(body)
            before = served(cloud)
            cli_log.write_text("")
            with ProcessSampler(worker.proc.pid) as sampler:
                job = service.wait_job(service.signup(body).json()["job_id"], timeout=300)
            calls = served(cloud) - before
            cli = [json.loads(line) for line in cli_log.read_text().splitlines() if line.strip()]
            results.append(
                {
                    "signup": n + 1,
                    "state": job["state"],
                    "total": round((job["finished_at"] or time.time()) - job["created_at"], 2),
                    "queued": round((job["started_at"] or job["created_at"]) - job["created_at"], 2),
                    "phases": {p: round(float(t.get("seconds") or 0.0), 2) for p, t in job["phases"].items()},
                    "cli": cli,
                    "processes": dict(sampler.kinds()),
                    "calls": dict(sorted(calls.items())),
                }
            )
    finally:
        service.stop()
        cloud.stop()
    return results


def print_profile(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(f"\n== signup {r['signup']}: {r['state']} in {r['total']:.2f} s (queued {r['queued']:.2f} s)")
        print("phases: " + ", ".join(f"{p} {s:.2f}" for p, s in r["phases"].items()))
        cli_total = sum(c["seconds"] for c in r["cli"])
        print(f"\n{'CLI invocation':<28} {'seconds':>8}")
        for c in r["cli"]:
            print(f"{c['command']:<28} {c['seconds']:>8.2f}")
        print(f"{len(r['cli'])} invocations, {cli_total:.2f} s")
        print(f"\n{'process started':<52} {'count':>5}")
        for name, n in sorted(r["processes"].items(), key=lambda kv: -kv[1]):
            print(f"{name[:52]:<52} {n:>5}")
        print(f"\n{'API call':<72} {'count':>5}")
        for name, n in r["calls"].items():
            print(f"{name[:72]:<72} {n:>5}")
        print(f"{sum(r['calls'].values())} API calls")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="profile_signup", description=__doc__)
    parser.add_argument("--signups", type=int, default=3)
    parser.add_argument("--warm", action="store_true", help="starter signups claiming from a warm pool")
    parser.add_argument("--realistic", type=float, metavar="SETUP", help="realistic durations, SETUP s Dokploy setup")
    parser.add_argument("--json", type=Path, default=STATE_DIR / "profile-signup.json")
    args = parser.parse_args(argv)
    results = profile(args.signups, args.warm, args.realistic)
    print_profile(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {args.json} (shared, noisy machine: indicative numbers)")
    return 0 if all(r["state"] == "succeeded" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
