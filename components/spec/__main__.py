"""Validate tenant files: ``python -m components.spec [TENANTS_DIR] [--env ENV | --plans FILE]``.

Plans and regions come from the environment's stack file ``Pulumi.<env>.yaml`` (default ``local``);
``--plans`` checks against a standalone plans file instead.

Exit status 0 when every file is valid, 1 with one ``file:line: field 'x': ...`` line per problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from components.spec.errors import SpecErrors
from components.spec.loader import load_tenants
from components.spec.plans import Plan, load_plans


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m components.spec", description=__doc__.splitlines()[0])
    parser.add_argument("tenants", nargs="?", default="tenants", help="directory of <slug>.yaml files")
    parser.add_argument("--env", default="local", help="environment whose Pulumi.<env>.yaml holds plans and regions")
    parser.add_argument("--plans", help="YAML file with a top-level 'plans' key (instead of the environment's)")
    parser.add_argument("--region", action="append", dest="regions", help="allowed region (repeatable)")
    args = parser.parse_args(argv)
    plans: Mapping[str, Plan]
    try:
        if args.plans:
            plans, regions = load_plans(args.plans), args.regions
        else:
            from components.environment import load_environment

            environment = load_environment(Path.cwd(), args.env)
            plans, regions = environment.plans, args.regions or list(environment.regions)
        specs = load_tenants(args.tenants, plans, regions=regions)
    except SpecErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    for spec in specs.values():
        print(f"ok {spec.source}: {spec.slug} plan={spec.plan} region={spec.region} servers={spec.servers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
