"""Benchmark instant provisioning through the service on the real engine: orchestration cost, throughput,
cost per tenant as the fleet grows, and signup-to-ready from the warm pool against a cold clone.

    .venv/bin/python -m scripts.bench_provisioning [--quick] [--json .state/bench-provisioning.json]

Each scenario starts a fresh local cloud (simulators + PowerDNS, own state backend), the API and one
``python -m service --workers-only`` process, and measures signup-to-ready from the service's job records:

1. zero task durations (pure orchestration: engine, providers, queue): one signup at a time (p50 of
   ``--sequential``), and ``--many`` signups at once (p50, p95, wall time, tenants per minute);
2. the same one-at-a-time signups with 0, 50 and 500 tenants already live. The live tenants are seeded
   straight into the simulators and the allocation store (a VM, an allocation and a Dokploy server each,
   the way a run leaves them) rather than applied one by one; their stacks do not exist, which costs a
   new signup nothing anyway (one stack per tenant);
3. realistic Proxmox durations (clone, boot, guest agent ~25 s) and a realistic Dokploy setup
   (``--setup`` seconds cold; a tenth of it on a host a setup already prepared): a cold signup, then a
   signup that claims a VM from the region's warm pool (filled beforehand, not counted).

Figures are wall-clock on a shared 2-core machine: indicative, and CPU-bound (each ``pulumi up`` costs seconds
of CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from components.naming import allocation_owner, allocation_pool, tenant_tags
from ipam.store import PoolSpec, open_store
from provisioning.stacks import TenantStacks
from provisioning.toolchain import STATE_DIR
from provisioning.warm_pool import WarmPool
from scripts.bench_service import percentile
from sim.dokploy.entities import Server, iso
from tests.service_e2e.harness import EngineCloud, EngineService, new_signup, start_cloud

REGION = "pve-eu1"


def _with_pool(env: dict[str, Any]) -> None:
    env["regions"][REGION]["warm_pool"] = {"size": 1, "plan": "starter"}
    env["warm_pool_organization"] = "org_warm_pool"


def _signup_seconds(job: dict[str, Any]) -> float:
    return float((job["finished_at"] or time.time()) - job["created_at"])


def seed_live_tenants(cloud: EngineCloud, count: int) -> None:
    """``count`` tenants as a run leaves them: an allocation, a running VM and a Dokploy server each."""
    if not count:
        return
    env = cloud.environment
    region = env.regions[REGION]
    store = open_store(cloud.env["ALLOCATIONS_DB"])
    spec = PoolSpec(region.vmid_start, region.vmid_end, region.network, region.gateway, region.reserved)
    backend = cloud.proxmox(REGION)
    nodes = list(region.nodes)
    dokploy = cloud.dokploy
    for n in range(count):
        slug = f"live{n:04d}"
        node = nodes[n % len(nodes)]
        made = store.allocate(allocation_pool(env.name, REGION), allocation_owner(slug, 0), spec, node, memory_mb=64)
        # A small running VM at the allocated id, cloned from the node's template and tagged as the program
        # tags them (root@pam: the seeding is not part of what is measured).
        backend.clone(node, region.templates[node], made.vmid, "root@pam", name=f"{slug}-1-seed00", pool=region.pool)
        backend.update_config(node, made.vmid, {"memory": 64, "tags": ";".join(tenant_tags(slug, "starter"))})
        backend.start(node, made.vmid, "root@pam")
        with dokploy.lock:
            server_id = f"srv{slug}"
            dokploy.servers[server_id] = Server(
                server_id,
                f"{slug}-1",
                "seeded",
                made.address,
                22,
                env.vm_user,
                f"app-{server_id}",
                f"org_{slug}",
                iso(time.time()),
                None,
            )


def run_signups(
    label: str,
    *,
    sequential: int = 0,
    many: int = 0,
    live: int = 0,
    scale: float = 0.0,
    setup: float = 0.0,
    warm: bool = False,
    concurrency: int = 4,
) -> dict[str, Any]:
    """One fresh cloud and service; ``sequential`` signups one after another, then ``many`` at once."""
    work = Path(tempfile.mkdtemp(prefix="bench-provisioning-"))
    cloud = start_cloud(work, tweak=_with_pool if warm else None)
    service = EngineService.start(cloud, work, f"sqlite://{work / 'queue.sqlite'}", SERVICE_LEASE_SECONDS="60")
    try:
        seed_live_tenants(cloud, live)
        cloud.set_speed(scale, setup_seconds=setup)
        if warm:
            cloud.dokploy.prepared_setup_seconds = setup / 10
            filled = time.monotonic()
            WarmPool(TenantStacks("local")).fill(REGION)
            print(f"  [{label}] warm pool filled in {time.monotonic() - filled:.1f} s (not counted)", flush=True)
        service.start_worker_process("bench-worker", concurrency=concurrency).wait_started()
        singles: list[float] = []
        for _ in range(sequential):
            body = new_signup("bench")
            body["plan"], body["region"] = "starter", REGION
            cloud.add_organization(body)
            job = service.wait_job(service.signup(body).json()["job_id"], timeout=900)
            assert job["state"] == "succeeded", job
            singles.append(_signup_seconds(job))
        batch: list[float] = []
        wall = 0.0
        if many:
            bodies = [new_signup("bench") for _ in range(many)]
            for body in bodies:
                body["plan"], body["region"] = "starter", REGION
                cloud.add_organization(body)
            started = time.monotonic()
            with ThreadPoolExecutor(min(many, 32)) as pool:
                ids = [r.json()["job_id"] for r in pool.map(service.signup, bodies)]
            jobs = [service.wait_job(job_id, timeout=900 + 60 * many) for job_id in ids]
            wall = time.monotonic() - started
            assert all(j["state"] == "succeeded" for j in jobs), [j["error"] for j in jobs if j["error"]]
            batch = [_signup_seconds(j) for j in jobs]
    finally:
        service.stop()
        cloud.stop()
    result = {"label": label, "live": live, "single": singles, "batch": batch, "wall": wall}
    print(f"  [{label}] done: single {singles}, batch of {len(batch)} in {wall:.1f} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_provisioning", description=__doc__)
    parser.add_argument("--sequential", type=int, default=5, help="one-at-a-time signups per scenario")
    parser.add_argument("--many", type=int, default=20, help="signups posted at once")
    parser.add_argument("--setup", type=float, default=45.0, help="cold Dokploy setup seconds (realistic runs)")
    parser.add_argument("--live", default="0,50,500", help="tenants already live, per fleet-size scenario")
    parser.add_argument("--quick", action="store_true", help="fewer signups, smaller fleets, shorter setup")
    parser.add_argument("--json", type=Path, default=STATE_DIR / "bench-provisioning.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.sequential, args.many, args.setup, args.live = 2, 4, 10.0, "0,50"
    results: dict[str, Any] = {}
    results["zero"] = run_signups("zero durations", sequential=args.sequential, many=args.many)
    results["fleet"] = [
        run_signups(f"{n} live", sequential=args.sequential, live=n) for n in (int(x) for x in args.live.split(","))
    ]
    results["cold"] = run_signups("realistic, cold", sequential=1, scale=1.0, setup=args.setup)
    results["warm"] = run_signups("realistic, warm pool", sequential=1, scale=1.0, setup=args.setup, warm=True)
    print_tables(results, args.setup)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {args.json} (shared 2-core machine: indicative figures)")
    return 0


def print_tables(results: dict[str, Any], setup: float) -> None:
    """The three tables: orchestration cost, cost per tenant as the fleet grows, realistic signup-to-ready."""
    zero = results["zero"]
    single = zero["single"]
    print(f"\n{'orchestration, zero task durations':<40} {'p50 s':>7} {'p95 s':>7} {'wall s':>7} {'tenants/min':>12}")
    print(f"{'1 signup at a time':<40} {percentile(single, 0.5):>7.2f} {percentile(single, 0.95):>7.2f}")
    batch = zero["batch"]
    if batch:
        label = f"{len(batch)} signups at once"
        rate = 60 * len(batch) / zero["wall"]
        print(
            f"{label:<40} {percentile(batch, 0.5):>7.2f} {percentile(batch, 0.95):>7.2f} "
            f"{zero['wall']:>7.1f} {rate:>12.1f}"
        )
    base = percentile(results["fleet"][0]["single"], 0.5)
    print(f"\n{'tenants already live':<40} {'p50 s':>7} {'x vs first':>10}")
    for row in results["fleet"]:
        p50 = percentile(row["single"], 0.5)
        print(f"{row['live']:<40} {p50:>7.2f} {p50 / base:>10.2f}")
    print(f"\n{'signup-to-ready, realistic durations':<40} {'s':>7}   (Dokploy setup {setup:.0f} s cold)")
    print(f"{'cold: clone, boot, agent, setup':<40} {results['cold']['single'][0]:>7.1f}")
    print(f"{'warm pool claim':<40} {results['warm']['single'][0]:>7.1f}")


if __name__ == "__main__":
    sys.exit(main())
