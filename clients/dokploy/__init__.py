"""Typed client for the Dokploy HTTP API (shaped like proxmoxer's core)."""

from .auth import DokployApiKeyAuth
from .client import DokployClient, RetryPolicy
from .errors import DokployError

__all__ = ["DokployApiKeyAuth", "DokployClient", "DokployError", "RetryPolicy"]
