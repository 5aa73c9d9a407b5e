"""Run the fault soak and print its report (see :mod:`scripts.soak`)."""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from provisioning.toolchain import STATE_DIR
from scripts.soak.faults import Background, FaultPlayer, schedule
from scripts.soak.invariants import check
from scripts.soak.report import SoakReport, failure_lines, job_counts, request_counts
from scripts.soak.rig import GRACE_SECONDS, Rig
from scripts.soak.traffic import Traffic

log = logging.getLogger("soak")
SETTLE_TIMEOUT = 900.0
UNFINISHED = ("queued", "running")


def run(
    minutes: float,
    seed: int,
    max_live: int = 10,
    pace: tuple[float, float] = (2.0, 5.0),
    progress: Callable[[str], None] = print,
) -> SoakReport:
    """Start everything, drive traffic under faults for ``minutes``, converge, check; the report."""
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    logging.basicConfig(filename=root / "soak.log", level=logging.INFO, force=True)
    progress(f"soak: starting the cloud, PostgreSQL, the service and 2 workers in {root}")
    rig = Rig.start(root)
    try:
        rng = random.Random(seed)
        window = minutes * 60.0
        regions = {name: list(region.nodes) for name, region in rig.cloud.environment.regions.items()}
        player = FaultPlayer(rig, Background(), schedule(window, rng, regions, len(rig.workers)), seed)
        traffic = Traffic(rig, random.Random(seed + 1), max_live)
        player.start()
        began = last_note = time.monotonic()
        while time.monotonic() - began < window:
            traffic.step()
            time.sleep(rng.uniform(*pace))
            if time.monotonic() - last_note >= 30:
                last_note = time.monotonic()
                progress(f"  {last_note - began:5.0f} s  {_job_line(rig)}  faults so far: {dict(player.played)}")
        player.stop()
        progress(f"soak: faults lifted after {time.monotonic() - began:.0f} s; waiting for every job to end")
        settle(rig, progress)
        converged = time.monotonic() - player.last_fault_ended
        repaired = repair(rig, traffic)
        repair_started = time.monotonic()
        if repaired:
            progress(f"soak: re-applying {len(repaired)} tenant(s) whose last job failed for good")
            settle(rig, progress)
        repair_seconds = time.monotonic() - repair_started if repaired else 0.0
        progress("soak: checking the invariants")
        invariants = check(rig, traffic.tenants.values(), traffic.job_ids)
        jobs = rig.service.queue.list_jobs(limit=100_000)
        return SoakReport(
            seed,
            minutes,
            dict(player.played),
            player.injected_errors(),
            player.errors,
            request_counts(traffic.sent, traffic.resent, traffic.unsent),
            job_counts(jobs),
            failure_lines(jobs),
            repaired,
            round(converged, 1),
            round(repair_seconds, 1),
            invariants,
        )
    finally:
        rig.stop()


def _job_line(rig: Rig) -> str:
    try:
        jobs = rig.service.queue.list_jobs(limit=100_000)
    except ConnectionError:  # PostgreSQL is being restarted
        return "jobs: the queue database is down"
    by_state: dict[str, int] = {}
    for job in jobs:
        by_state[job.state] = by_state.get(job.state, 0) + 1
    return "jobs " + " ".join(f"{state} {n}" for state, n in sorted(by_state.items()))


def settle(rig: Rig, progress: Callable[[str], None]) -> None:
    """Wait until no job is queued or running, and none appears over a grace period (billing's timers)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        try:
            busy = [j for j in rig.service.queue.list_jobs(limit=100_000) if j.state in UNFINISHED]
        except Exception as exc:  # the database blinked
            log.warning("settle: queue unreadable (%s)", exc)
            busy = [None]  # type: ignore[list-item]
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > GRACE_SECONDS + 3:
            return
        time.sleep(1.0)
    progress(f"soak: jobs still unfinished after {SETTLE_TIMEOUT:.0f} s: {_job_line(rig)}")


def repair(rig: Rig, traffic: Traffic) -> list[str]:
    """What an operator does after an outage: re-apply each tenant whose last job failed for good."""
    repaired = []
    for tenant in traffic.tenants.values():
        jobs = rig.service.queue.list_jobs(slug=tenant.slug, limit=1)
        if not jobs or jobs[0].state != "failed":
            continue
        action = "decommission" if tenant.decommissioned else "reapply"
        answer = rig.service.op("POST", f"/v1/tenants/{tenant.slug}/{action}")
        if answer.status_code == 202:
            traffic.job_ids.append(str(answer.json()["job_id"]))
            repaired.append(tenant.slug)
        else:
            log.warning("repair of %s refused: %s %s", tenant.slug, answer.status_code, answer.text[:200])
    return repaired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=20.0, help="how long traffic runs under faults")
    parser.add_argument("--seed", type=int, default=7, help="seeds the schedule, the traffic and the fault draws")
    parser.add_argument("--max-live", type=int, default=10, help="most tenants alive at once")
    parser.add_argument("--json", type=Path, default=STATE_DIR / "soak-report.json", help="where the report goes")
    args = parser.parse_args(argv)
    report = run(args.minutes, args.seed, args.max_live)
    report.write(args.json)
    print("\n".join(report.lines()))
    print(f"report: {args.json}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
