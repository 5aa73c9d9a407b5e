"""The soak's faults: a seeded schedule of episodes, played against the simulators and the real processes.

Background faults last the whole traffic window: a share of Proxmox and Dokploy calls answer 5xx, and every call
gets added latency (the simulators' fault rules, with their own seeded RNG). Episodes come on top, each kind once
per round (a round is at most four minutes, so a 20-minute soak has five of each), at seeded moments:

* ``clone-lock``: a template's file lock is held by another task, so clones from it time out ("got timeout");
* ``node-offline``: a Proxmox node stops answering (595 through the cluster's proxy);
* ``setup-failure``: Dokploy's server setup fails (its deployment ends in an SSH error);
* ``dns-down``: PowerDNS is SIGKILLed, then started again on its data;
* ``db-restart``: PostgreSQL (the service's queue) stops as a crash would, then starts again;
* ``worker-kill``: a worker process and everything it started are SIGKILLed, then a new one is started.

The same seed gives the same schedule and the same fault-rule draws for the same requests.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from scripts.soak.rig import Rig

log = logging.getLogger(__name__)
ROUND_SECONDS = 240.0
EPISODE_SECONDS = {
    "clone-lock": 20.0,
    "node-offline": 30.0,
    "setup-failure": 20.0,
    "dns-down": 30.0,
    "db-restart": 10.0,
    "worker-kill": 5.0,
}


@dataclass(frozen=True)
class Background:
    """Faults on every call for the whole window."""

    proxmox_error_rate: float = 0.10
    dokploy_error_rate: float = 0.10
    latency_seconds: float = 0.02


@dataclass(frozen=True)
class Episode:
    """One fault of ``kind`` on ``target`` from ``start`` (seconds into the window) for ``seconds``."""

    kind: str
    start: float
    seconds: float
    target: str


def schedule(window: float, rng: random.Random, regions: dict[str, list[str]], workers: int) -> list[Episode]:
    """Every kind once per round of the window, at seeded moments, each over before its round ends."""
    rounds = max(1, round(window / ROUND_SECONDS))
    length = window / rounds
    episodes = []
    for n in range(rounds):
        for kind, seconds in EPISODE_SECONDS.items():
            seconds = min(seconds, length / 3)
            start = n * length + rng.uniform(0.0, max(0.0, length - seconds - 1.0))
            region = rng.choice(sorted(regions))
            if kind == "node-offline":
                target = f"{region}/{rng.choice(regions[region])}"
            elif kind == "clone-lock":
                target = region
            elif kind == "worker-kill":
                target = str(rng.randrange(workers))
            else:
                target = "-"
            episodes.append(Episode(kind, round(start, 1), seconds, target))
    return sorted(episodes, key=lambda e: e.start)


@dataclass
class FaultPlayer:
    """Plays a schedule against a rig from a thread; counts what it injected."""

    rig: Rig
    background: Background
    episodes: list[Episode]
    seed: int
    played: Counter[str] = field(default_factory=Counter)
    last_fault_ended: float = 0.0
    """``time.monotonic()`` when the last fault (episode or background) was lifted."""
    errors: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._set_background(self.background)
        self._thread = threading.Thread(target=self._play, name="soak-faults", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Lift every fault now (episodes still running end early)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        self._set_background(Background(0.0, 0.0, 0.0))
        self.last_fault_ended = time.monotonic()

    def injected_errors(self) -> dict[str, int]:
        """Errors the simulators answered because of the background rules, and failed setups."""
        proxmox = sum(rule.errors for sim, _ in self.rig.cloud.cloud.proxmox.values() for rule in sim.faults.rules)
        dokploy = self.rig.cloud.dokploy.faults
        return {
            "proxmox 5xx": proxmox + self._counted.get("proxmox", 0),
            "dokploy 5xx": sum(p.errors for p in dokploy.paths) + self._counted.get("dokploy", 0),
            "dokploy setups failed": dokploy.setup_failures,
        }

    _counted: dict[str, int] = field(default_factory=dict)

    def _set_background(self, bg: Background) -> None:
        """Replace the simulators' background rules (keeping the count of what the old ones injected)."""
        before = self.injected_errors() if self._thread is not None else {}
        self._counted = {"proxmox": before.get("proxmox 5xx", 0), "dokploy": before.get("dokploy 5xx", 0)}
        for n, (sim, _) in enumerate(self.rig.cloud.cloud.proxmox.values()):
            rules = []
            if bg.proxmox_error_rate or bg.latency_seconds:
                rules = [
                    {
                        "path": ".*",
                        "error_rate": bg.proxmox_error_rate,
                        "status": 500,
                        "message": "soak: injected failure",
                        "latency": bg.latency_seconds,
                    }
                ]
            sim.faults.set_rules(rules, seed=self.seed + n)
        paths = []
        if bg.dokploy_error_rate or bg.latency_seconds:
            paths = [{"pattern": ".*", "error_rate": bg.dokploy_error_rate, "latency": bg.latency_seconds}]
        self.rig.cloud.dokploy.faults.configure({"paths": paths, "seed": self.seed})

    def _play(self) -> None:
        began = time.monotonic()
        actions: list[tuple[float, str, Episode, Callable[[Episode], None]]] = []
        for e in self.episodes:
            actions.append((e.start, "on", e, self._on))
            actions.append((e.start + e.seconds, "off", e, self._off))
        actions.sort(key=lambda a: (a[0], a[1] == "on"))
        for at, what, episode, act in actions:
            if self._stop.wait(max(0.0, began + at - time.monotonic())):
                if what == "off":
                    self._safely(act, episode)
                continue
            self._safely(act, episode)
            if what == "on":
                self.played[episode.kind] += 1
                log.info("fault %s on %s for %.0f s", episode.kind, episode.target, episode.seconds)
            self.last_fault_ended = time.monotonic()

    def _safely(self, act: Callable[[Episode], None], episode: Episode) -> None:
        try:
            act(episode)
        except Exception as exc:  # a fault that cannot be played is reported, the soak goes on
            self.errors.append(f"{episode.kind} on {episode.target}: {type(exc).__name__}: {exc}")

    def _on(self, e: Episode) -> None:
        rig = self.rig
        if e.kind == "clone-lock":
            backend = rig.cloud.proxmox(e.target)
            templates = rig.cloud.environment.regions[e.target].templates
            with backend.lock:
                for template in set(templates.values()):
                    backend.file_locks[template] = backend.clock() + e.seconds
        elif e.kind == "node-offline":
            region, node = e.target.split("/")
            with rig.cloud.proxmox(region).lock:
                rig.cloud.proxmox(region).nodes[node].online = False
        elif e.kind == "setup-failure":
            rig.cloud.dokploy.faults.setup_failure = "ssh"
        elif e.kind == "dns-down":
            rig.stop_dns()
        elif e.kind == "db-restart":
            rig.stop_database()
        elif e.kind == "worker-kill":
            rig.kill_worker(int(e.target))

    def _off(self, e: Episode) -> None:
        rig = self.rig
        if e.kind == "node-offline":
            region, node = e.target.split("/")
            with rig.cloud.proxmox(region).lock:
                rig.cloud.proxmox(region).nodes[node].online = True
        elif e.kind == "setup-failure":
            rig.cloud.dokploy.faults.setup_failure = None
        elif e.kind == "dns-down":
            rig.start_dns()
        elif e.kind == "db-restart":
            rig.start_database()
        elif e.kind == "worker-kill":
            rig.restart_worker(int(e.target))
