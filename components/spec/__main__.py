"""Validate tenant files against the plans: ``python -m components.spec [TENANTS_DIR] [--plans FILE]``.

Exit status 0 when every file is valid, 1 with one ``file:line: field 'x': ...`` line per problem.
"""

from __future__ import annotations

import argparse
import sys

from components.spec.errors import SpecErrors
from components.spec.loader import load_tenants
from components.spec.plans import load_plans


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m components.spec", description=__doc__.splitlines()[0])
    parser.add_argument("tenants", nargs="?", default="tenants", help="directory of <slug>.yaml files")
    parser.add_argument("--plans", default="config/plans.yaml", help="YAML file with a top-level 'plans' key")
    parser.add_argument("--region", action="append", dest="regions", help="allowed region (repeatable)")
    args = parser.parse_args(argv)
    try:
        specs = load_tenants(args.tenants, load_plans(args.plans), regions=args.regions)
    except SpecErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    for spec in specs.values():
        print(f"ok {spec.source}: {spec.slug} plan={spec.plan} region={spec.region} servers={spec.servers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
