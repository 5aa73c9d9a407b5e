"""Benchmark the Proxmox simulator: loopback GET throughput and latency, and backend memory with
1k and 10k VMs. Usage: python scripts/bench_proxmox_sim.py [--requests 2000] [--threads 4] [--tls]"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sim.proxmox.app import Simulator
from sim.proxmox.backend import Backend
from sim.proxmox.seed import credentials
from sim.proxmox.server import ThreadedServer


def http_bench(path: str, total: int, threads: int, tls: bool) -> dict[str, float]:
    backend = Backend(nodes=3, speed="fast")
    server = ThreadedServer(Simulator(backend), tls=tls).start()
    c = credentials(backend)["provisioner"]  # the least-privilege token, as the product uses
    header = {"Authorization": f"PVEAPIToken={c['user']}!{c['token_name']}={c['token_value']}"}
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        s = requests.Session()
        mine = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = s.get(server.url + "/api2/json" + path, headers=header, verify=False, timeout=10)
            r.raise_for_status()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - start
    server.stop()
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
    }


def memory_bench(count: int) -> dict[str, float]:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    backend = Backend(nodes=3, speed="fast")
    for node in backend.nodes.values():
        node.maxmem = 1 << 50
    backend.storages["local-lvm"].total = 1 << 60
    t0 = time.perf_counter()
    for i in range(count):
        backend.clone("pve1", 9000, 10000 + i, "root@pam")  # filling the fake cluster, not the product
    elapsed = time.perf_counter() - t0
    backend.tasks.clear()  # tasks are history, not VM state
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"vms": count, "MiB": used / 2**20, "KiB_per_vm": used / 1024 / count, "clones_per_s": count / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--vms", type=int, nargs="*", default=[1000, 10000])
    args = ap.parse_args()
    urllib3.disable_warnings()
    print(f"{'GET path':40} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for path in ("/version", "/cluster/nextid", "/nodes/pve1/qemu/9000/status/current", "/cluster/resources"):
        r = http_bench(path, args.requests, args.threads, args.tls)
        print(f"{path:40} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f}")
    print(f"\n{'VMs':>8} {'MiB':>8} {'KiB/VM':>8} {'clones/s':>9}")
    for n in args.vms:
        m = memory_bench(n)
        print(f"{m['vms']:8d} {m['MiB']:8.1f} {m['KiB_per_vm']:8.2f} {m['clones_per_s']:9.0f}")


if __name__ == "__main__":
    main()
