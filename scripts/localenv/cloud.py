"""The local environment: a simulated Proxmox cluster per region, a simulated Dokploy, a real PowerDNS.

Ports and credentials come from the environment's settings (``Pulumi.local.yaml`` or a test's own
file) and its decrypted secrets, so the services accept exactly what tenant runs will send.
Each Proxmox cluster gets the product's least-privilege layout (``scripts/localenv/proxmox_admin.py``),
so the token in the secrets must not be root's. Dokploy is seeded the way Dokploy Cloud looks after
signups: each tenant organization (ids from ``tenants/*.yaml``) is owned by the tenant's user, and the
platform user is an admin member of all of them, holding the platform key.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from components.environment import Environment, Region
from components.spec import TenantSpec
from scripts.localenv.pdns import PowerDNSInstance
from scripts.localenv.proxmox_admin import grant_monitor, grant_provisioner
from sim.dokploy.backend import Backend as DokployBackend
from sim.dokploy.server import ThreadedServer as DokployServer
from sim.proxmox.app import Simulator
from sim.proxmox.backend import Backend as ProxmoxBackend
from sim.proxmox.faults import Faults
from sim.proxmox.seed import seed_cluster
from sim.proxmox.server import ThreadedServer as ProxmoxServer
from sim.world import CompositeGuestWorld, LiveGuestWorld

PLATFORM_ORG = "org_platform"


def _port(url: str) -> int:
    parsed = urlparse(url)
    if parsed.port is None or parsed.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"{url}: the local environment serves only on 127.0.0.1 with an explicit port")
    return parsed.port


class PortInUse(RuntimeError):
    """A port the local environment's settings name is taken (the message says which and how to choose others)."""


def _taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is not "taken"
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def check_ports(environment: Environment) -> None:
    """Raise :class:`PortInUse` naming every configured port that another process holds, before anything starts."""
    wanted = {f"regions.{r.name}.endpoint (Proxmox simulator)": r.endpoint for r in environment.regions.values()}
    wanted["dokploy_url (Dokploy simulator)"] = environment.dokploy_url
    wanted["dns_api_url (PowerDNS API)"] = environment.dns_api_url
    taken = [f"  127.0.0.1:{_port(url)} for {setting}" for setting, url in wanted.items() if _taken(_port(url))]
    if taken:
        raise PortInUse(
            "cannot start the local cloud: port(s) already in use\n" + "\n".join(taken) + "\n"
            "Another demo may still be running (stop it with Ctrl-C; `ss -ltnp` shows who holds a port). "
            "To use other ports, set them in the environment file (Pulumi.local.yaml, under "
            "dokploy-cloud:environment) or point DOKPLOY_CLOUD_ENV_FILE at a copy with free ports."
        )


@dataclass
class LocalCloud:
    """Start and stop every service of a local environment."""

    environment: Environment
    secrets: Mapping[str, str]
    """PROXMOX_VE_API_TOKEN, DOKPLOY_API_KEY and PDNS_API_KEY, as tenant runs will use them."""
    tenants: Mapping[str, TenantSpec]
    speed: str = "fast"
    """Proxmox task durations: ``fast`` (0 s), ``realistic`` or a multiplier."""
    setup_seconds: float = 0.0
    dns_port: int | None = None
    node_mem_gib: int = 64
    """Memory of each simulated node (benchmarks with many tenants raise it)."""
    monitor_token: str | None = None
    """A read-only (PVEAuditor) token for the Proxmox exporter, created on every cluster when given."""
    proxmox: dict[str, tuple[Simulator, ProxmoxServer]] = field(default_factory=dict)
    dokploy: tuple[DokployBackend, DokployServer] | None = None
    pdns: PowerDNSInstance | None = None

    def start(self) -> LocalCloud:
        """Start everything; on failure stop what was started and re-raise (:class:`PortInUse` first)."""
        check_ports(self.environment)
        try:
            for region in self.environment.regions.values():
                self.proxmox[region.name] = self._start_proxmox(region)
            self.dokploy = self._start_dokploy()
            self.pdns = PowerDNSInstance(
                self.environment.zone,
                api_port=_port(self.environment.dns_api_url),
                dns_port=self.dns_port,
                api_key=self.secrets["PDNS_API_KEY"],
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything that runs; safe to call twice."""
        if self.pdns is not None:
            self.pdns.stop()
            self.pdns = None
        if self.dokploy is not None:
            self.dokploy[1].stop()
            self.dokploy = None
        for _, server in self.proxmox.values():
            server.stop()
        self.proxmox.clear()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _start_proxmox(self, region: Region) -> tuple[Simulator, ProxmoxServer]:
        backend = ProxmoxBackend(speed=self.speed, lease_cidr=region.network)
        backend.settings.cluster_name = region.name  # as each real cluster has its own name
        seed_cluster(backend, len(region.nodes), node_mem_gib=self.node_mem_gib, template_per_node=True)
        seeded = sorted(backend.nodes)
        if seeded != sorted(region.nodes):
            raise ValueError(
                f"region {region.name}: the simulator names its nodes {seeded}; "
                f"use those names under regions.{region.name}.nodes"
            )
        grant_provisioner(backend, region, self.secrets["PROXMOX_VE_API_TOKEN"], environment=self.environment)
        if self.monitor_token:
            grant_monitor(backend, self.monitor_token)
        sim = Simulator(backend, faults=Faults(0))
        server = ProxmoxServer(sim, _port(region.endpoint), tls=region.endpoint.startswith("https")).start()
        return sim, server

    def _start_dokploy(self) -> tuple[DokployBackend, DokployServer]:
        world = CompositeGuestWorld([LiveGuestWorld(sim.backend.world_guests) for sim, _ in self.proxmox.values()])
        backend = DokployBackend(world=world, cloud=True, setup_seconds=self.setup_seconds)
        platform = backend.seed_user("platform@dokploy-cloud.test", "platform")
        backend.seed_org("Dokploy Cloud platform", platform.id, org_id=PLATFORM_ORG)
        backend.issue_key(
            platform.id, PLATFORM_ORG, "platform", secret=self.secrets["DOKPLOY_API_KEY"], rate_limit_enabled=False
        )
        if self.environment.warm_pool_organization:  # the platform's own organization for warm-pool setups
            owner = backend.seed_user("warm-pool@dokploy-cloud.test", "warm-pool", servers_quantity=1000)
            backend.seed_org("Dokploy Cloud warm pool", owner.id, org_id=self.environment.warm_pool_organization)
            backend.add_member(self.environment.warm_pool_organization, platform.id, "admin")
        for spec in self.tenants.values():
            self.add_tenant(backend, spec)
        return backend, DokployServer(backend, port=_port(self.environment.dokploy_url)).start()

    def add_tenant(self, backend: DokployBackend, spec: TenantSpec) -> None:
        """What Dokploy Cloud's signup leaves behind: the tenant's user and organization, the platform as admin."""
        if spec.dokploy_organization in backend.orgs:
            return
        plan = self.environment.plans[spec.plan]
        owner = backend.seed_user(spec.owner, spec.slug, servers_quantity=plan.max_servers)
        backend.seed_org(spec.display_name, owner.id, org_id=spec.dokploy_organization)
        platform = next(u for u in backend.users.values() if u.email == "platform@dokploy-cloud.test")
        backend.add_member(spec.dokploy_organization, platform.id, "admin")
