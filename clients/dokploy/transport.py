"""The single choke point for Dokploy HTTP calls: timeout, None-stripping, retries, logging, error mapping."""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import requests

from .auth import DokployApiKeyAuth
from .errors import DokployError

log = logging.getLogger("dokploy.client")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, for idempotent calls only."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** attempt))
        return base * (0.5 + random.random() / 2)


class Transport:
    """Sends ``/api/<procedure>`` requests; every call goes through :meth:`_request`."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, session: requests.Session | None = None,
                 verify: bool | str = True) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url: must be an http(s) URL of the Dokploy instance (DOKPLOY_URL)")
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/api"):
            self.base_url = self.base_url[: -len("/api")]
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._auth = DokployApiKeyAuth(api_key)
        self._session = session or requests.Session()
        self._verify = verify

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _request(self, method: str, procedure: str, data: dict[str, Any] | None = None, *,
                 idempotent: bool | None = None, timeout: float | None = None,
                 keep_null: tuple[str, ...] = ()) -> Any:
        """Call one procedure; return the parsed JSON (None for Dokploy's empty 200 bodies).

        Queries are always retried on transient failures; mutations only when ``idempotent``.
        ``None`` means "omit", except for the fields in ``keep_null``.
        """
        # Dokploy's required-but-nullable fields (server description/sshKeyId) reject an absent
        # key ("expected nonoptional"), so those must go out as an explicit null.
        payload = {k: v for k, v in (data or {}).items() if v is not None or k in keep_null}
        retry = method == "GET" if idempotent is None else idempotent
        attempts = self.retry.attempts if retry else 1
        for attempt in range(attempts):
            try:
                return self._once(method, procedure, payload, timeout or self.timeout)
            except DokployError as err:
                if not err.retryable or attempt + 1 >= attempts:
                    raise
                delay = self.retry.delay(attempt)
                log.warning("dokploy %s: %s; retry %d/%d in %.1fs", procedure, err.code,
                            attempt + 1, attempts - 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _once(self, method: str, procedure: str, payload: dict[str, Any], timeout: float) -> Any:
        url = f"{self.base_url}/api/{procedure}"
        started = time.monotonic()
        try:
            if method == "GET":
                resp = self._session.get(url, params=payload, auth=self._auth, timeout=timeout, verify=self._verify)
            else:
                resp = self._session.post(url, json=payload, auth=self._auth, timeout=timeout, verify=self._verify)
        except requests.Timeout:
            raise DokployError(procedure, None, "TIMEOUT", f"no response within {timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise DokployError(procedure, None, "CONNECTION_ERROR",
                               self._auth.redact(f"cannot reach {self.base_url}: {type(exc).__name__}")) from None
        # Bodies are never logged: SSH-key listings contain private keys.
        log.debug("dokploy %s %s -> %d in %.2fs", method, procedure, resp.status_code, time.monotonic() - started)
        if resp.status_code >= 400:
            raise self._error(procedure, resp)
        if not resp.content.strip():
            return None
        try:
            return resp.json()
        except ValueError:
            raise DokployError(procedure, resp.status_code, "INVALID_RESPONSE", "response is not JSON") from None

    def _error(self, procedure: str, resp: requests.Response) -> DokployError:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = resp.text.strip()[:200] or resp.reason or "no body"
            return DokployError(procedure, resp.status_code, f"HTTP_{resp.status_code}", self._auth.redact(text))
        code = str(body.get("code") or ("UNAUTHORIZED" if resp.status_code == 401 else f"HTTP_{resp.status_code}"))
        message = self._auth.redact(str(body.get("message", "")))
        issues = body.get("issues") if isinstance(body.get("issues"), list) else None
        return DokployError(procedure, resp.status_code, code, message, issues)

