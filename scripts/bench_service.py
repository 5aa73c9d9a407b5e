"""Benchmark the provisioning service on the real engine: signup-to-ready and worker throughput.

    .venv/bin/python -m scripts.bench_service [--quick] [--json .state/bench-service.json]

Per batch, starts a fresh local cloud on free ports (simulators + PowerDNS, own state backend), the API and
one ``python -m service --workers-only`` process, then measures:

1. signup-to-ready for 1 and for 20 concurrent signups with zero task durations (pure orchestration
   cost: engine, providers, queue) and with "realistic" durations scaled down by ``--scale`` (default
   0.25 of the Proxmox simulator's realistic table, Dokploy setup ``--setup`` seconds), per-phase p50/p95;
2. throughput of one worker process at SERVICE_CONCURRENCY 1/2/4/8 (tenants per minute, zero durations).

The machine is shared: numbers are indicative, and CPU-bound (each ``pulumi up`` costs seconds of CPU).
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

from provisioning.phases import PHASE_ORDER
from provisioning.toolchain import STATE_DIR
from tests.service_e2e.harness import EngineService, new_signup, start_cloud

PHASES = ("queued", *PHASE_ORDER, "other", "total")
"""``other``: engine and program start-up, recovery checks, org key, state writes (total - queued - phases)."""


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def run_batch(label: str, count: int, concurrency: int, scale: float = 0.0, setup: float = 0.0) -> dict[str, Any]:
    """Post ``count`` signups at once to a fresh cloud and service with one worker process; wait until all end.

    A fresh cloud per batch: earlier batches' VMs would otherwise fill the simulated nodes' memory.
    """
    work = Path(tempfile.mkdtemp(prefix="bench-service-"))
    cloud = start_cloud(work)
    cloud.set_speed(scale, setup_seconds=setup)
    service = EngineService.start(cloud, work, f"sqlite://{work / 'queue.sqlite'}", SERVICE_LEASE_SECONDS="30")
    try:
        bodies = [new_signup("bench") for _ in range(count)]
        for body in bodies:
            cloud.add_organization(body)
        service.start_worker_process("bench-worker", concurrency=concurrency).wait_started()
        started = time.monotonic()
        with ThreadPoolExecutor(min(count, 32)) as pool:
            ids = [r.json()["job_id"] for r in pool.map(service.signup, bodies)]
        jobs = [service.wait_job(job_id, timeout=600 + 60 * count) for job_id in ids]
        wall = time.monotonic() - started
    finally:
        service.stop()
        cloud.stop()
    return summarize(label, jobs, wall, concurrency)


def summarize(label: str, jobs: list[dict[str, Any]], wall: float, concurrency: int) -> dict[str, Any]:
    """Per-phase p50/p95 over the batch's jobs."""
    per_phase: dict[str, list[float]] = {p: [] for p in PHASES}
    for job in jobs:
        per_phase["queued"].append((job["started_at"] or job["created_at"]) - job["created_at"])
        total = (job["finished_at"] or time.time()) - job["created_at"]
        per_phase["total"].append(total)
        accounted = per_phase["queued"][-1]
        for phase, timing in job["phases"].items():
            if phase in per_phase:
                per_phase[phase].append(float(timing.get("seconds") or 0.0))
                accounted += per_phase[phase][-1]
        per_phase["other"].append(max(0.0, total - accounted))
    ok = sum(1 for j in jobs if j["state"] == "succeeded")
    return {
        "label": label,
        "signups": len(jobs),
        "succeeded": ok,
        "concurrency": concurrency,
        "wall_seconds": round(wall, 1),
        "tenants_per_minute": round(60 * ok / wall, 2) if wall else 0.0,
        "phases": {
            p: {"p50": round(percentile(v, 0.5), 2), "p95": round(percentile(v, 0.95), 2)}
            for p, v in per_phase.items()
            if v
        },
    }


def print_latency(results: list[dict[str, Any]]) -> None:
    print(f"\n{'scenario':<34} {'ok':>6} " + " ".join(f"{p:>13}" for p in PHASES))
    print(f"{'':<34} {'':>6} " + " ".join(f"{'p50/p95 s':>13}" for _ in PHASES))
    for r in results:
        cells = [
            f"{r['phases'][p]['p50']:.1f}/{r['phases'][p]['p95']:.1f}" if p in r["phases"] else "-" for p in PHASES
        ]
        print(f"{r['label']:<34} {r['succeeded']:>3}/{r['signups']:<2} " + " ".join(f"{c:>13}" for c in cells))


def print_throughput(results: list[dict[str, Any]]) -> None:
    print(f"\n{'SERVICE_CONCURRENCY':>19} {'signups':>8} {'wall s':>8} {'tenants/min':>12} {'p50 total s':>12}")
    for r in results:
        print(
            f"{r['concurrency']:>19} {r['signups']:>8} {r['wall_seconds']:>8.1f} {r['tenants_per_minute']:>12.2f} "
            f"{r['phases']['total']['p50']:>12.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_service", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--many", type=int, default=20, help="concurrent signups of the batch runs")
    parser.add_argument("--workers", type=int, default=8, help="SERVICE_CONCURRENCY of the batch runs")
    parser.add_argument("--scale", type=float, default=0.25, help="multiplier of the realistic Proxmox durations")
    parser.add_argument("--setup", type=float, default=15.0, help="Dokploy setup seconds in the realistic runs")
    parser.add_argument("--throughput-signups", type=int, default=8, help="signups per concurrency level")
    parser.add_argument("--levels", default="1,2,4,8", help="SERVICE_CONCURRENCY levels to compare")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: zero,realistic,throughput")
    parser.add_argument("--json", type=Path, default=STATE_DIR / "bench-service.json")
    args = parser.parse_args(argv)
    skip: set[str] = {part for part in args.skip.split(",") if part}
    latency: list[dict[str, Any]] = []
    throughput: list[dict[str, Any]] = []
    if "zero" not in skip:
        latency.append(run_batch("zero durations, 1 signup", 1, args.workers))
        latency.append(run_batch(f"zero durations, {args.many} signups", args.many, args.workers))
    if "realistic" not in skip:
        tag = f"realistic x{args.scale}, setup {args.setup:.0f}s"
        latency.append(run_batch(f"{tag}, 1", 1, args.workers, args.scale, args.setup))
        latency.append(run_batch(f"{tag}, {args.many}", args.many, args.workers, args.scale, args.setup))
    if "throughput" not in skip:
        for level in (int(x) for x in args.levels.split(",")):
            throughput.append(run_batch(f"throughput c={level}", args.throughput_signups, level))
    if latency:
        print_latency(latency)
    if throughput:
        print_throughput(throughput)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"latency": latency, "throughput": throughput}, indent=2))
    print(f"\nresults: {args.json} (shared, noisy machine: indicative numbers)")
    failed = [r["label"] for r in latency + throughput if r["succeeded"] != r["signups"]]
    if failed:
        print(f"not every signup succeeded in: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
