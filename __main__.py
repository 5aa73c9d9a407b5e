"""The Pulumi program CI, the operator CLI and the provisioning service all run.

Stack names say what to build: ``<env>.control-plane`` is the environment's Dokploy control plane
(components/control_plane; ``<env>.templates`` is reserved for the template pipeline);
any other ``<env>.<slug>`` is one tenant of environment ``<env>``; ``<env>`` alone is the environment stack,
which validates the environment's settings and the whole fleet declared in ``tenants/`` and creates nothing.
A tenant's declaration arrives from the runner in the engine's environment
(``DOKPLOY_CLOUD_TENANT_DECLARATION``, see provisioning/declarations.py); only a bare ``pulumi`` command
reads ``tenants/<slug>.yaml`` itself. Environment-wide settings are read from ``Pulumi.<env>.yaml``
(see components/environment.py); credentials come from the environment.

This file is also how ``--policy-pack policies`` starts: the 3.260 engine asks the language host's
``RunPlugin`` to run the pack, describing it only in the new ``ProgramInfo`` field; our v3.68 host
reads the old ``Program`` field, which is empty, so it runs ``python '' <engine-address>`` in the
project directory, i.e. this file with ``sys.argv[0] == ""`` (the exec shim that runs the program
always passes the program path). In that case the pack in ``policies/`` is served instead.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

if __name__ == "__main__" and sys.argv[:1] == [""] and len(sys.argv) == 2:
    runpy.run_path(str(Path(__file__).resolve().parent / "policies"), run_name="__main__")
    sys.exit(0)

import pulumi
import pulumi_proxmoxve as proxmoxve
import requests
from proxmoxer.core import ResourceException

from clients.proxmox import ProxmoxSettingsError, client_from_env
from components.environment import Region, load_environment
from components.naming import TENANTS_DIR_VAR, WARM_SERVERS_VAR, parse_warm_servers, platform_stack, split_stack_name
from components.spec import SpecErrors
from components.tenant import TenantEnvironment, TenantEnvironmentArgs
from provisioning.declarations import TenantFiles, program_tenant
from provisioning.proxmox_access import ProxmoxAccessError, require_pool_visible

PROJECT_DIR = Path(__file__).resolve().parent
TENANTS_DIR = Path(os.environ.get(TENANTS_DIR_VAR, PROJECT_DIR / "tenants"))


def main() -> None:
    stack = pulumi.get_stack()
    env_name, slug = split_stack_name(stack)
    platform = platform_stack(stack)
    if platform is not None:
        _platform_program(platform, env_name)
        return
    environment = load_environment(PROJECT_DIR, env_name)
    if slug is None:
        fleet = TenantFiles(TENANTS_DIR, environment).load_all()
        pulumi.export("tenants", sorted(fleet))
        pulumi.export("regions", sorted(environment.regions))
        return
    spec = program_tenant(slug, environment, TENANTS_DIR)
    region = environment.regions[spec.region]
    if not pulumi.runtime.is_dry_run():
        _require_access(region)
    proxmox = proxmoxve.Provider(
        f"proxmox-{region.name}", endpoint=region.endpoint, insecure=region.insecure, min_tls="1.3"
    )
    warm = parse_warm_servers(os.environ.get(WARM_SERVERS_VAR))
    args = TenantEnvironmentArgs(spec=spec, environment=environment, proxmox=proxmox, warm_servers=warm)
    tenant = TenantEnvironment(slug, args)
    first = tenant.servers[0]
    pulumi.export("tenant", spec.slug)
    pulumi.export("plan", spec.plan)
    pulumi.export("state", spec.state)
    pulumi.export("hostnames", tenant.hostnames)
    pulumi.export("vmIds", pulumi.Output.all(*[s.vm_id for s in tenant.servers]))
    pulumi.export("nodes", pulumi.Output.all(*[s.node for s in tenant.servers]))
    pulumi.export("addresses", pulumi.Output.all(*[s.address for s in tenant.servers]))
    pulumi.export("dokployServerIds", pulumi.Output.all(*[s.dokploy_server_id for s in tenant.servers]))
    pulumi.export("hostname", first.hostname)
    pulumi.export("templateIds", pulumi.Output.all(*[s.template_id for s in tenant.servers]))


def _platform_program(name: str, env_name: str) -> None:
    """``<env>.control-plane`` builds the Dokploy control plane; ``templates`` is reserved for the template pipeline,
    which is not built yet: the stack refuses to run rather than create nothing silently."""
    if name != "control-plane":
        raise SystemExit(f"stack '{env_name}.{name}' is reserved for the template pipeline, which is not built yet")
    from components.control_plane.program import main as control_plane_main

    control_plane_main(PROJECT_DIR, env_name)


def _require_access(region: Region) -> None:
    """Refuse an update whose token would fail silently (docs/proxmox-privileges.md); an unreachable
    cluster is left to the run itself, which reports it in its own words."""
    try:
        require_pool_visible(client_from_env(), region)
    except ProxmoxAccessError as exc:
        raise pulumi.RunError(str(exc)) from None
    except (requests.RequestException, ResourceException, ProxmoxSettingsError):
        pass


try:
    main()
except SpecErrors as errors:
    raise pulumi.RunError(str(errors)) from None
