"""API-key authentication for requests: the key lives only here and is added per request."""

from __future__ import annotations

import requests
from requests.auth import AuthBase


class DokployApiKeyAuth(AuthBase):
    """Adds ``x-api-key``; its repr never shows the key."""

    def __init__(self, api_key: str) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("api_key: must be a non-empty Dokploy API key (DOKPLOY_API_KEY)")
        self._api_key = api_key.strip()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["x-api-key"] = self._api_key
        return request

    def redact(self, text: str) -> str:
        """``text`` with the key masked (defence in depth for error messages)."""
        return text.replace(self._api_key, "***")

    def __repr__(self) -> str:
        return "DokployApiKeyAuth(api_key=***)"
