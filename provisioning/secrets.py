"""Credentials for tenant runs: the process environment first, else the environment stack's secret config."""
from __future__ import annotations

import os
from typing import Mapping

from pulumi import automation as auto

from provisioning.toolchain import PROJECT_DIR, pulumi_command


class MissingSecret(RuntimeError):
    """A credential is neither in the environment nor in the environment stack's config."""


def environment_secrets(env_name: str, engine_env: Mapping[str, str], keys: Mapping[str, str]) -> dict[str, str]:
    """Map each stack config key in ``keys`` to its environment variable, decrypting only what is missing.

    ``keys`` is ``{"dokploy-cloud:dokployApiKey": "DOKPLOY_API_KEY", ...}``.
    """
    found = {var: os.environ[var] for var in keys.values() if os.environ.get(var)}
    missing = {key: var for key, var in keys.items() if var not in found}
    if not missing:
        return found
    opts = auto.LocalWorkspaceOptions(work_dir=str(PROJECT_DIR), env_vars=dict(engine_env),
                                      pulumi_command=pulumi_command())
    stack = auto.create_or_select_stack(stack_name=env_name, work_dir=str(PROJECT_DIR), opts=opts)
    config = stack.get_all_config()
    for key, var in missing.items():
        if key not in config:
            raise MissingSecret(f"{var} is not set and Pulumi.{env_name}.yaml has no '{key}': set it with "
                                f"`pulumi config set --secret -s {env_name} {key}` or export {var}")
        found[var] = config[key].value
    return found
