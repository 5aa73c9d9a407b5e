"""The manual tenant walkthrough: give a tenant a server by hand, step by step, timing each step.

What an operator would do without the product, with the same least-privilege credentials it uses: allocate an id
and address, clone the VM from its node's template, write its cloud-init user, key and address, close its firewall,
start it and wait for the guest agent to report the address, publish the DNS record, then register the server in
the tenant's Dokploy organisation (its own SSH key, the server, Dokploy's setup over SSH, validation). Then it takes
everything back in reverse and checks nothing is left. The measured steps are the time-to-live of a hand-made
server (docs/walkthrough.md); the signup path does the same through the engine.

    scripts/demo.sh --keep          # in one shell; then, in another:
    source .state/local-demo/cloud.env && .venv/bin/python -m scripts.walkthrough --org org_acme
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from rich.console import Console
from rich.table import Table

from clients.dokploy import DokployClient
from clients.powerdns import PowerDNSClient
from clients.proxmox import client_from_env, cluster_vms
from clients.proxmox_tasks import wait_task
from components.naming import allocation_pool
from components.tenant_vm import INBOUND_ALLOWED
from ipam.store import PoolSpec, open_store
from provisioning.dokploy_keys import organization_key
from provisioning.stacks import TenantStacks

TASK_TIMEOUT = 600.0
AGENT_TIMEOUT = 300.0
SLUG = "walkthrough"


@dataclass
class Step:
    """One timed step of the walkthrough."""

    name: str
    seconds: float
    detail: str = ""


@dataclass
class Walkthrough:
    """What the walkthrough made (so it can be taken back) and how long each step took."""

    steps: list[Step] = field(default_factory=list)
    cleanup: list[Step] = field(default_factory=list)
    made: dict[str, Any] = field(default_factory=dict)

    @property
    def time_to_live(self) -> float:
        return sum(step.seconds for step in self.steps)

    def timed(self, name: str, action: Callable[[], str | None], into: list[Step] | None = None) -> None:
        started = time.monotonic()
        detail = action() or ""
        (self.steps if into is None else into).append(Step(name, time.monotonic() - started, detail))


def _key_pair() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{public.decode()} {SLUG}", private


def run(stacks: TenantStacks, region_name: str, organization: str, on_step: Callable[[Step], None]) -> Walkthrough:
    """Give ``organization`` a hand-made server in ``region_name`` and take it back; the timed steps."""
    env, walk = stacks.environment, Walkthrough()
    region = env.regions[region_name]
    api = client_from_env(env={**os.environ, **stacks.region_variables(region_name), **stacks.secrets()})
    dns = PowerDNSClient(env.dns_api_url, stacks.secrets()["PDNS_API_KEY"])
    store, pool = open_store(stacks.allocations_location()), allocation_pool(env.name, region_name)
    owner = f"{SLUG}/{secrets.token_hex(3)}"
    public_key, private_key = _key_pair()
    fqdn = f"{owner.replace('/', '-')}.{env.zone}"

    def step(name: str, action: Callable[[], str | None]) -> None:
        walk.timed(name, action)
        on_step(walk.steps[-1])

    def allocate() -> str:
        taken = [int(vm["vmid"]) for vm in cluster_vms(api)]
        spec = PoolSpec(region.vmid_start, region.vmid_end, region.network, region.gateway, region.reserved)
        made = store.allocate(pool, owner, spec, region.nodes[0], foreign_vmids=taken)
        walk.made["allocation"] = made
        return f"VM {made.vmid} on {made.node}, {made.address}"

    def vm() -> Any:
        made = walk.made["allocation"]
        return api.nodes(made.node).qemu(made.vmid)

    def clone() -> str:
        made = walk.made["allocation"]
        template = region.templates[made.node]
        upid = (
            api.nodes(made.node)
            .qemu(template)
            .clone.post(newid=made.vmid, name=owner.replace("/", "-"), pool=region.pool, full=int(region.full_clone))
        )
        wait_task(api, upid, timeout=TASK_TIMEOUT, what=f"clone of template {template}")
        walk.made["vm"] = made.vmid
        return f"from template {template}"

    def configure() -> str:
        made = walk.made["allocation"]
        vm().config.put(
            ciuser=env.vm_user,
            sshkeys=urllib.parse.quote(public_key, safe=""),
            ipconfig0=f"ip={made.address},gw={region.gateway}",
            tags=f"{SLUG}",
        )
        return f"user {env.vm_user}, one key, static address"

    def firewall() -> str:
        made = walk.made["allocation"]
        fw = vm().firewall
        for port, label in INBOUND_ALLOWED:
            fw.rules.post(type="in", action="ACCEPT", proto="tcp", dport=port, comment=f"allow {label}", enable=1)
        fw.ipset.post(name="ipfilter-net0")
        fw.ipset("ipfilter-net0").post(cidr=made.address.split("/")[0])
        fw.options.put(enable=1, policy_in="DROP", policy_out="ACCEPT", ipfilter=1, macfilter=1, dhcp=0)
        return "inbound 22, 80, 443 only; IP filter"

    def start() -> str:
        wait_task(api, vm().status.start.post(), timeout=TASK_TIMEOUT, what="VM start")
        return ""

    def agent() -> str:
        address = walk.made["allocation"].address.split("/")[0]
        deadline = time.monotonic() + AGENT_TIMEOUT
        while time.monotonic() < deadline:
            try:
                interfaces = vm().agent("network-get-interfaces").get()["result"]
            except Exception:  # the agent answers 500 until the guest has booted
                time.sleep(0.5)
                continue
            seen = [a["ip-address"] for i in interfaces for a in i.get("ip-addresses", [])]
            if address in seen:
                return f"reports {address}"
            time.sleep(0.5)
        raise TimeoutError(f"the guest agent did not report {address} within {AGENT_TIMEOUT:.0f} s")

    def record() -> str:
        address = walk.made["allocation"].address.split("/")[0]
        dns.replace_rrset(env.zone, f"{fqdn}.", "A", env.dns_ttl, [address])
        walk.made["dns"] = fqdn
        return f"{fqdn} A {address}"

    def register(client: DokployClient) -> Callable[[], str]:
        def action() -> str:
            row = client.register_ssh_key(SLUG, public_key, private_key, f"{SLUG} {owner}")
            walk.made["ssh_key"] = str(row["sshKeyId"])
            server = client.server_create(
                name=owner.replace("/", "-"),
                description=f"hand-made server {fqdn}",
                ip_address=walk.made["allocation"].address.split("/")[0],
                port=22,
                username=env.vm_user,
                ssh_key_id=walk.made["ssh_key"],
            )
            walk.made["server"] = str(server["serverId"])
            return f"server {walk.made['server']}"

        return action

    def setup(client: DokployClient) -> Callable[[], str]:
        def action() -> str:
            client.server_setup(walk.made["server"])
            client.wait_ready(walk.made["server"], timeout=TASK_TIMEOUT)
            return "set up over SSH and validated"

        return action

    with _organization_client(stacks, organization) as client:
        try:
            step("allocate id and address", allocate)
            step("clone VM from the node's template", clone)
            step("write cloud-init user, key, address", configure)
            step("firewall and IP filter", firewall)
            step("start VM", start)
            step("guest agent reports the address", agent)
            step("DNS record", record)
            step("Dokploy: SSH key and server", register(client))
            step("Dokploy: setup and validate", setup(client))
        finally:
            _take_back(walk, api, dns, store, pool, owner, client, env.zone)
    return walk


@contextmanager
def _organization_client(stacks: TenantStacks, organization: str) -> Iterator[DokployClient]:
    """A Dokploy client on a fresh key of ``organization``, revoked on exit (as the product's runs do)."""
    ledger = stacks.key_ledger()
    with organization_key(
        stacks.dokploy_platform(), organization, env=stacks.env_name, stack=f"{stacks.env_name}.{SLUG}", ledger=ledger
    ) as key:
        yield DokployClient(stacks.environment.dokploy_url, key)


def _take_back(
    walk: Walkthrough,
    api: Any,
    dns: PowerDNSClient,
    store: Any,
    pool: str,
    owner: str,
    client: DokployClient,
    zone: str,
) -> None:
    """Undo what was made, newest first; each step is timed into ``walk.cleanup``."""
    made = walk.made

    def remove_server() -> None:
        client.server_remove(made["server"])

    def remove_key() -> None:
        client.ssh_key_remove(made["ssh_key"])

    def delete_record() -> None:
        dns.delete_rrset(zone, f"{made['dns']}.", "A")

    if "server" in made:
        walk.timed("remove Dokploy server", remove_server, walk.cleanup)
    if "ssh_key" in made:
        walk.timed("remove Dokploy SSH key", remove_key, walk.cleanup)
    if "dns" in made:
        walk.timed("delete DNS record", delete_record, walk.cleanup)
    if "vm" in made:
        allocation = made["allocation"]
        node = api.nodes(allocation.node).qemu(allocation.vmid)

        def destroy() -> str:
            if node.status.current.get()["status"] == "running":
                wait_task(api, node.status.stop.post(), timeout=TASK_TIMEOUT, what="VM stop")
            wait_task(
                api, node.delete(purge=1, **{"destroy-unreferenced-disks": 1}), timeout=TASK_TIMEOUT, what="VM delete"
            )
            return ""

        walk.timed("stop and delete VM", destroy, walk.cleanup)
    if "allocation" in made:

        def release() -> None:
            store.release(pool, owner)

        walk.timed("release id and address", release, walk.cleanup)


def leftovers(
    stacks: TenantStacks, region_name: str, walk: Walkthrough, organization_servers: list[dict[str, Any]]
) -> list[str]:
    """What the walkthrough made that is still there (empty: everything was taken back)."""
    env = stacks.environment
    api = client_from_env(env={**os.environ, **stacks.region_variables(region_name), **stacks.secrets()})
    dns = PowerDNSClient(env.dns_api_url, stacks.secrets()["PDNS_API_KEY"])
    found = []
    allocation = walk.made.get("allocation")
    if allocation is not None:
        if any(int(vm["vmid"]) == allocation.vmid for vm in cluster_vms(api)):
            found.append(f"VM {allocation.vmid}")
        if open_store(stacks.allocations_location()).get(allocation.pool, allocation.owner) is not None:
            found.append(f"allocation {allocation.owner}")
    if "dns" in walk.made and dns.get_rrset(env.zone, f"{walk.made['dns']}.", "A") is not None:
        found.append(f"DNS record {walk.made['dns']}")
    found += [
        f"Dokploy server {s['serverId']}" for s in organization_servers if s.get("serverId") == walk.made.get("server")
    ]
    return found


def table(walk: Walkthrough, title: str) -> Table:
    """Steps with seconds, the time-to-live, then the clean-up."""
    out = Table(title=title, title_justify="left")
    for column in ("step", "seconds", "detail"):
        out.add_column(column, justify="right" if column == "seconds" else "left")
    for s in walk.steps:
        out.add_row(s.name, f"{s.seconds:.2f}", s.detail)
    out.add_row("[b]time to live[/b]", f"[b]{walk.time_to_live:.2f}[/b]", "")
    for s in walk.cleanup:
        out.add_row(f"clean-up: {s.name}", f"{s.seconds:.2f}", s.detail)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="walkthrough", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--region", default=None, help="default: the environment's first region")
    parser.add_argument("--org", required=True, help="the tenant's Dokploy organisation id (e.g. org_acme)")
    args = parser.parse_args(argv)
    stacks = TenantStacks(args.env)
    region = args.region or next(iter(stacks.environment.regions))
    console = Console()
    walk = run(stacks, region, args.org, lambda s: console.print(f"  {s.name}: {s.seconds:.2f} s {s.detail}"))
    console.print(table(walk, f"manual walkthrough, {args.env}/{region}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
