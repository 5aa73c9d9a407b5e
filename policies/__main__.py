"""Dokploy Cloud quota policy pack: serves :data:`policies.pack.POLICIES` as one CrossGuard ``PolicyPack``.

Run with ``pulumi preview --policy-pack policies --policy-pack-config <file>``; make the config file from the
environment stack file with ``python -m policies.config Pulumi.<env>.yaml > policy-config.json``.
"""

import sys
from pathlib import Path

# The engine runs this file with the pack directory, not the project root, on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
