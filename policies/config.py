"""Policy config for the pack, derived from an environment stack file (``Pulumi.<env>.yaml``).

``python -m policies.config Pulumi.local.yaml > policy-config.json`` writes the JSON the CLI takes
with ``--policy-pack-config``: plans, allowed templates and zone, each under the policies that use them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from components.environment import Environment, load_environment
from components.spec.errors import SpecErrors
from policies import quotas as q


def policy_config(env: Environment, min_disk_gb: int = 8) -> dict[str, Any]:
    """The ``--policy-pack-config`` document for ``env``."""
    plans = {name: plan.to_config() for name, plan in env.plans.items()}
    return {
        q.VM_WITHIN_PLAN: {"plans": plans},
        q.TENANT_SERVER_QUOTA: {"plans": plans},
        q.TENANT_BACKUPS: {"plans": plans},
        q.VM_BELOW_PLAN: {"plans": plans},
        q.VM_TEMPLATE_ALLOWED: {
            "allowed_templates": sorted(set(env.allowed_templates))
            or sorted({t for r in env.regions.values() for t in r.templates.values()})
        },
        q.VM_TENANT_POOL: {"pools": sorted({r.pool for r in env.regions.values()})},
        q.DNS_IN_ZONE: {"zone": env.zone},
        q.VM_DISK_MIN: {"min_disk_gb": min_disk_gb},
    }


def main(argv: list[str]) -> int:
    """CLI entry: one argument, the stack file; JSON on stdout, located errors on stderr."""
    if len(argv) != 1 or not Path(argv[0]).name.startswith("Pulumi."):
        print("usage: python -m policies.config Pulumi.<env>.yaml", file=sys.stderr)
        return 2
    path = Path(argv[0])
    env_name = path.name[len("Pulumi.") :].rsplit(".", 1)[0]
    try:
        env = load_environment(path.resolve().parent, env_name)
    except SpecErrors as exc:
        print(str(exc), file=sys.stderr)
        return 1
    json.dump(policy_config(env), sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
