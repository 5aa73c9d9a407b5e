"""Credentials and settings from the environment.

:class:`EnvironmentSettings` is the one settings reader (pydantic-settings): the service's settings
(:mod:`service.settings`) and billing's Stripe settings (:mod:`billing.config`) are its subclasses,
read from the process environment or from a given mapping. Secrets are ``pydantic.SecretStr``: masked
in ``str``, ``repr`` and errors; ``get_secret_value()`` is called only where the value is sent.

:func:`environment_secrets` gives tenant runs their credentials: the process environment first, then
Vault's ``dokploy-cloud/<env>/platform`` with the vault backend, else the environment stack's secret config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Self

from pulumi import automation as auto
from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from provisioning.toolchain import PROJECT_DIR, pulumi_command
from provisioning.vault_store import VaultStore, platform_path, uses_vault

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("settings_environ", default=None)
"""The mapping :meth:`EnvironmentSettings.from_environ` reads (None: the process environment)."""


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class EnvironmentSettings(BaseSettings):
    """Settings read from environment variables, each field naming its variable as ``validation_alias``.

    Empty variables count as unset; names are case-sensitive; instances are frozen.
    """

    model_config = SettingsConfigDict(
        case_sensitive=True,
        env_ignore_empty=True,
        frozen=True,
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        return init_settings, _MappingEnvSource(settings_cls, os.environ if environ is None else environ)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read from ``environ`` (default: the process environment); raises pydantic's ValidationError."""
        token = _ENVIRON.set(environ)
        try:
            return cls()
        finally:
            _ENVIRON.reset(token)


def settings_problems(error: ValidationError, settings_cls: type[BaseSettings]) -> str:
    """What is wrong: every bad variable, named with what it must be (never its value), joined by "; "."""
    variables = {
        name: field.validation_alias
        for name, field in settings_cls.model_fields.items()
        if isinstance(field.validation_alias, str)
    }
    lines = []
    for item in error.errors(include_url=False, include_input=False, include_context=True):
        # A default that fails validation is reported under its field name: name the variable instead.
        name = ".".join(str(variables.get(str(part), part)) for part in item["loc"])
        cause: Any = (item.get("ctx") or {}).get("error")
        if item["type"] == "missing":
            reason = "must be set"
        elif isinstance(cause, ValueError):
            reason = str(cause)
        else:
            reason = f"is invalid: {item['msg']}"
        lines.append(f"{name} {reason}" if name else reason)
    return "; ".join(lines)


class MissingSecret(RuntimeError):
    """A credential is neither in the environment nor in the environment stack's config."""


def environment_secrets(env_name: str, engine_env: Mapping[str, str], keys: Mapping[str, str]) -> dict[str, str]:
    """Map each stack config key in ``keys`` to its environment variable, decrypting only what is missing.

    ``keys`` is ``{"dokploy-cloud:dokployApiKey": "DOKPLOY_API_KEY", ...}``.
    """
    found = {var: os.environ[var] for var in keys.values() if os.environ.get(var)}
    missing = {key: var for key, var in keys.items() if var not in found}
    if missing and uses_vault():  # the platform credentials kept in Vault (provisioning/vault_store.py)
        platform = VaultStore().read_latest(platform_path(env_name))
        found.update({var: str(platform[var]) for var in missing.values() if platform.get(var)})
        missing = {key: var for key, var in missing.items() if var not in found}
    if not missing:
        return found
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(PROJECT_DIR), env_vars=dict(engine_env), pulumi_command=pulumi_command()
    )
    stack = auto.create_or_select_stack(stack_name=env_name, work_dir=str(PROJECT_DIR), opts=opts)
    config = stack.get_all_config()
    for key, var in missing.items():
        if key not in config:
            raise MissingSecret(
                f"{var} is not set and Pulumi.{env_name}.yaml has no '{key}': set it with "
                f"`pulumi config set --secret -s {env_name} {key}` or export {var}"
            )
        found[var] = config[key].value
    return found
