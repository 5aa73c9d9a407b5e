"""The single choke point for Dokploy HTTP calls: timeout, None-stripping, retries, logging, error mapping."""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from tenacity import RetryCallState

from clients.retry import RetryPolicy as SharedRetryPolicy

from .auth import DokployApiKeyAuth
from .errors import DokployError

log = logging.getLogger("dokploy.client")


class RetryPolicy(SharedRetryPolicy):
    """The shared :class:`clients.retry.RetryPolicy` with Dokploy's defaults: jittered waits, the jitter never
    larger than the first wait."""

    def __init__(self, attempts: int = 4, initial: float = 0.5, maximum: float = 8.0, jitter: float = 0.25) -> None:
        super().__init__(attempts, initial, maximum, min(jitter, initial))


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, DokployError) and exc.retryable


def _log_retry(state: RetryCallState) -> None:
    err = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    code = err.code if isinstance(err, DokployError) else type(err).__name__
    procedure = err.procedure if isinstance(err, DokployError) else "?"
    log.warning("dokploy %s: %s; retry %d in %.1fs", procedure, code, state.attempt_number, wait)


class Transport:
    """Sends ``/api/<procedure>`` requests; every call goes through :meth:`_request`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        retry: SharedRetryPolicy | None = None,
        session: requests.Session | None = None,
        verify: bool | str = True,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url: must be an http(s) URL of the Dokploy instance (DOKPLOY_URL)")
        if not timeout > 0:
            raise ValueError("timeout: must be a positive number of seconds per Dokploy call (DOKPLOY_TIMEOUT)")
        self.base_url = base_url.rstrip("/")
        self.base_url = self.base_url.removesuffix("/api")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._auth = DokployApiKeyAuth(api_key)
        self._session = session or requests.Session()
        self._verify = verify

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _request(
        self,
        method: str,
        procedure: str,
        data: dict[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
        timeout: float | None = None,
        keep_null: tuple[str, ...] = (),
    ) -> Any:
        """Call one procedure; return the parsed JSON (None for Dokploy's empty 200 bodies).

        Queries are always retried on transient failures; mutations only when ``idempotent``.
        ``None`` means "omit", except for the fields in ``keep_null``.
        """
        # Dokploy's required-but-nullable fields (server description/sshKeyId) reject an absent
        # key ("expected nonoptional"), so those must go out as an explicit null.
        payload = {k: v for k, v in (data or {}).items() if v is not None or k in keep_null}

        def once() -> Any:
            return self._once(method, procedure, payload, timeout or self.timeout)

        if not (method == "GET" if idempotent is None else idempotent):
            return once()
        return self.retry.retrying(_transient).copy(before_sleep=_log_retry)(once)

    def _once(self, method: str, procedure: str, payload: dict[str, Any], timeout: float) -> Any:
        url = f"{self.base_url}/api/{procedure}"
        started = time.monotonic()
        try:
            if method == "GET":
                resp = self._session.get(url, params=payload, auth=self._auth, timeout=timeout, verify=self._verify)
            else:
                resp = self._session.post(url, json=payload, auth=self._auth, timeout=timeout, verify=self._verify)
        except requests.Timeout:
            raise DokployError(
                procedure,
                None,
                "TIMEOUT",
                f"no response within {timeout:g}s; Dokploy is slow or overloaded: retry later or raise DOKPLOY_TIMEOUT",
            ) from None
        except requests.ConnectionError as exc:
            raise DokployError(
                procedure,
                None,
                "CONNECTION_ERROR",
                self._auth.redact(
                    f"cannot reach {self.base_url}: {type(exc).__name__}; check DOKPLOY_URL and that Dokploy is running"
                ),
            ) from None
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
