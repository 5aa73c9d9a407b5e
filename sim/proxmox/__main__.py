"""``python -m sim.proxmox --port 8006 --nodes 3 [--plain-http] [--persist state.json] [--speed fast]``"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading

from .app import Simulator
from .backend import Backend
from .faults import Faults
from .seed import credentials
from .server import ThreadedServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m sim.proxmox", description="Proxmox VE API simulator")
    ap.add_argument("--port", type=int, default=8006)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--plain-http", action="store_true", help="serve HTTP instead of HTTPS")
    ap.add_argument("--persist", help="JSON state file: loaded at start if present, saved after writes")
    ap.add_argument("--speed", default="realistic", help="fast | realistic | a multiplier")
    ap.add_argument("--agent-boot", type=float, help="seconds from start until the guest agent answers")
    ap.add_argument("--lease-cidr", default="10.77.0.0/16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--auth-fail-delay", type=float, default=0.0, help="PVE holds 401s ~3 s")
    ap.add_argument("--faults", help="JSON file with fault rules (same body as POST /_sim/faults)")
    ap.add_argument("--fail-task", action="append", default=[], metavar="TYPE=MESSAGE")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(argv)


def build(args: argparse.Namespace) -> Simulator:
    backend = Backend(seed=args.seed, speed=args.speed, lease_cidr=args.lease_cidr)
    if args.persist and os.path.exists(args.persist):
        backend.load(args.persist)
    else:
        backend.reset(args.seed, args.nodes)
    if args.agent_boot is not None:
        backend.settings.durations.table["agent_boot"] = args.agent_boot
    backend.settings.auth_fail_delay = args.auth_fail_delay
    for item in args.fail_task:
        ttype, _, message = item.partition("=")
        backend.faults_failing_tasks[ttype] = message or "simulated task failure"
    on_write = (lambda: backend.save(args.persist)) if args.persist else None
    sim = Simulator(backend, faults=Faults(args.seed), on_write=on_write)
    if args.faults:
        from .admin import admin

        with open(args.faults, "rb") as fh:
            status, data = admin(sim, "POST", "/_sim/faults", fh.read())
        if status != 200:
            raise SystemExit(f"--faults: {data['error']}")
    return sim


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    sim = build(args)
    server = ThreadedServer(sim, args.port, tls=not args.plain_http).start()
    creds = credentials(sim.backend)
    print(
        json.dumps(
            {
                "url": server.url,
                "api": server.url + "/api2/json",
                "tokens": {
                    k: f"PVEAPIToken={v['user']}!{v['token_name']}={v['token_value']}" for k, v in creds.items()
                },
            },
            indent=2,
        ),
        flush=True,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    if args.persist:
        sim.backend.save(args.persist)


if __name__ == "__main__":
    main()
