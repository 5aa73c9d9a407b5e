"""Benchmark: provisioning N tenants through the real engine on the simulators, task durations zero.

    .venv/bin/python -m scripts.bench_tenants [--sizes 1 10 50] [--parallel 4]

For each N: a fresh local cloud and state; N synthetic starter tenants applied ``--parallel`` at a time;
then one more tenant added while N are live (the marginal cost of a signup). Per tenant it reports the
wall time of ``up`` and the engine's own overhead (wall time not spent inside a resource operation),
and the fleet's throughput in tenants per minute. Figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from provisioning.fleet import run_fleet
from scripts.bench_env import CREDENTIALS, isolated_stacks
from scripts.localenv.cloud import LocalCloud

console = Console(width=140)
EXTRA = 3  # tenants added one at a time once N are live: the marginal cost of a signup


def write_tenants(directory: Path, count: int, start: int = 0) -> None:
    """``count`` starter tenants spread over both regions."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        slug = f"bench{i:04d}"
        (directory / f"{slug}.yaml").write_text(
            f"slug: {slug}\ndisplay_name: Bench {i}\nplan: starter\nregion: {'pve-eu1' if i % 2 else 'pve-us1'}\n"
            f"dokploy_organization: org_{slug}\nowner: ops@{slug}.example\n"
        )


def run_size(n: int, parallel: int) -> dict[str, float]:
    """Provision n tenants, then one more; return the figures for this size."""
    root = Path(tempfile.mkdtemp(prefix=f"bench{n}-"))
    write_tenants(root / "tenants", n + EXTRA)
    stacks, specs = isolated_stacks(root)
    with LocalCloud(stacks.environment, CREDENTIALS, specs, node_mem_gib=1024):
        tenants = [spec for _, spec in sorted(specs.items())]
        started = time.monotonic()
        rows = run_fleet(stacks, tenants[:n], "up", parallel)
        fleet_seconds = time.monotonic() - started
        extra = [run_fleet(stacks, [tenant], "up", 1)[0] for tenant in tenants[n:]]
    failed = [r for r in rows + extra if r.state != "ok"]
    if failed:
        raise SystemExit(
            f"N={n}: {len(failed)} tenants failed, first: {failed[0].slug}: "
            f"{failed[0].result.error if failed[0].result else '?'}"
        )
    walls = [r.result.seconds for r in rows if r.result]
    overheads = [r.result.seconds - r.tracker.busy_seconds for r in rows if r.result]
    return {
        "n": n,
        "wall_p50": statistics.median(walls),
        "wall_p95": _p95(walls),
        "overhead_p50": statistics.median(overheads),
        "fleet_s": fleet_seconds,
        "per_minute": 60 * n / fleet_seconds,
        "next_wall": statistics.median(r.result.seconds for r in extra if r.result),
        "next_overhead": statistics.median(r.result.seconds - r.tracker.busy_seconds for r in extra if r.result),
        "load": os.getloadavg()[0],
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--parallel", type=int, default=4)
    args = ap.parse_args()
    table = Table(
        title=f"tenant provisioning on the simulators (task durations 0, {args.parallel} stacks at a time, "
        f"{os.cpu_count()} cores)",
        title_justify="left",
    )
    for column in (
        "N",
        "up wall p50 (s)",
        "up wall p95 (s)",
        "engine overhead p50 (s)",
        "fleet (s)",
        "tenants/min",
        f"next tenant wall (s, median of {EXTRA})",
        "next tenant overhead (s)",
        "load avg",
    ):
        table.add_column(column, justify="right")
    for n in args.sizes:
        console.print(f"N={n} ...")
        r = run_size(n, args.parallel)
        table.add_row(
            str(n),
            f"{r['wall_p50']:.1f}",
            f"{r['wall_p95']:.1f}",
            f"{r['overhead_p50']:.1f}",
            f"{r['fleet_s']:.0f}",
            f"{r['per_minute']:.1f}",
            f"{r['next_wall']:.1f}",
            f"{r['next_overhead']:.1f}",
            f"{r['load']:.1f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
