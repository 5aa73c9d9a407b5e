"""The quota pack as arguments for an engine run: ``stack.preview(**policy_args("local"))``.

:func:`policy_args` writes the ``--policy-pack-config`` document for environment ``<env>`` (derived from
``Pulumi.<env>.yaml``, or ``DOKPLOY_CLOUD_ENV_FILE``, by :func:`policies.config.policy_config`) and returns
the Automation API keywords that attach the pack, so CI, the operator CLI and the service all run
the same mandatory policies on every preview and up.

How the 3.260 engine starts the pack: with ``pulumi-language-python`` (our v3.68 host) on PATH it
asks the host's ``RunPlugin`` to run ``python policies <engine-address>`` with the virtualenv named
in ``policies/PulumiPolicy.yaml``; ``policies/__main__.py`` puts the project root on ``sys.path``.
Only without a language host does it fall back to the boot script ``pulumi-analyzer-policy-python``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from components.environment import Environment, load_environment
from policies.config import policy_config
from provisioning.toolchain import PROJECT_DIR, STATE_DIR

PACK_DIR = PROJECT_DIR / "policies"


def write_policy_config(env: Environment, directory: Path | None = None) -> Path:
    """Write ``env``'s policy config as JSON (content-addressed, so concurrent writers agree); its path."""
    text = json.dumps(policy_config(env), indent=2, sort_keys=True) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    target_dir = directory or STATE_DIR / "policy-config"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{env.name}-{digest}.json"
    if not target.exists():  # each writer its own temporary file: threads of one worker race here
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    return target


def policy_args(env_name: str, environment: Environment | None = None, directory: Path | None = None) -> dict[str, Any]:
    """``dict(policy_packs=[...], policy_pack_configs=[...])`` for ``Stack.preview``/``Stack.up``."""
    env = environment or load_environment(PROJECT_DIR, env_name)
    return {"policy_packs": [str(PACK_DIR)], "policy_pack_configs": [str(write_policy_config(env, directory))]}


def cli_args(env_name: str, environment: Environment | None = None, directory: Path | None = None) -> list[str]:
    """The same as command-line flags: ``--policy-pack <dir> --policy-pack-config <file>``."""
    args = policy_args(env_name, environment, directory)
    return ["--policy-pack", args["policy_packs"][0], "--policy-pack-config", args["policy_pack_configs"][0]]
