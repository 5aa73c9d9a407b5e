"""Run the Dokploy simulator: ``python -m sim.dokploy --port 3000 --proxmox-world URL --cloud``.

Prints the base URL and a ready API key (owner of a seeded organization, rate limit off) on stdout.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from sim.world import HttpGuestWorld

from .admin import seed
from .backend import Backend
from .faults import SETUP_FAILURES
from .server import ThreadedServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sim.dokploy", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--proxmox-world", metavar="URL", help="Proxmox simulator base URL (guests for setup)")
    parser.add_argument("--cloud", action="store_true", help="IS_CLOUD: server quota and inactive servers")
    parser.add_argument("--servers-quantity", type=int, default=3, help="seeded owner's Cloud server quota")
    parser.add_argument("--setup-seconds", type=float, default=0.0, help="how long server.setup blocks")
    parser.add_argument("--seed", type=int, default=0, help="RNG seed for ids")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="REGEX:RATE[:LATENCY]",
        help="error rate (0..1) and latency (s) for procedures matching REGEX",
    )
    parser.add_argument("--setup-failure", choices=[f for f in SETUP_FAILURES if f], help="make setup fail")
    return parser.parse_args(argv)


def _path_faults(specs: list[str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for spec in specs:
        parts = spec.rsplit(":", 2) if spec.count(":") >= 2 else spec.rsplit(":", 1)
        if len(parts) < 2:
            raise SystemExit(f"--fault: expected REGEX:RATE[:LATENCY], got {spec!r}")
        out.append(
            {"pattern": parts[0], "error_rate": float(parts[1]), "latency": float(parts[2]) if len(parts) > 2 else 0.0}
        )
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    world = HttpGuestWorld(args.proxmox_world) if args.proxmox_world else None
    backend = Backend(world=world, cloud=args.cloud, seed=args.seed, setup_seconds=args.setup_seconds)
    backend.faults.configure({"paths": _path_faults(args.fault), "setup_failure": args.setup_failure})
    info = seed(backend, {"serversQuantity": args.servers_quantity})
    server = ThreadedServer(backend, port=args.port).start()
    print(
        json.dumps(
            {
                "url": server.url,
                "apiKey": info["apiKey"],
                "organizationId": info["organizationId"],
                "userId": info["userId"],
            }
        ),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
