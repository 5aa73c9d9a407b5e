"""Minimal PowerDNS Authoritative HTTP API client: read, replace and delete RRsets in a zone."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from requests.auth import AuthBase

from clients.retry import RetryPolicy
from components.naming import PDNS_API_KEY_VAR, PDNS_API_URL_VAR

log = logging.getLogger(__name__)

RETRYABLE_STATUS = (500, 502, 503, 504)
DEFAULT_RETRY = RetryPolicy(attempts=4, initial=0.25, maximum=4.0)
"""Every call here is idempotent (GET, and PATCH with REPLACE/DELETE), so all are retried on transient failures."""


class PowerDNSApiKeyAuth(AuthBase):
    """Adds ``X-API-Key`` per request; its repr never shows the key."""

    def __init__(self, api_key: str) -> None:
        if not api_key or not api_key.strip():
            raise PowerDNSApiError("configuration", None, "PDNS_API_KEY is empty; set it to the PowerDNS API key")
        self._api_key = api_key.strip()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-API-Key"] = self._api_key
        return request

    def __repr__(self) -> str:
        return "PowerDNSApiKeyAuth(api_key=***)"


class PowerDNSApiError(Exception):
    """A failed PowerDNS API call or client configuration.

    Carries what it was about, the HTTP status (None: no response) and a readable message.
    """

    def __init__(self, subject: str, status: int | None, message: str) -> None:
        super().__init__(message)
        self.subject = subject
        self.status = status
        self.message = message

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"PowerDNS {self.subject}: {status}: {self.message}"


@dataclass(frozen=True)
class RRSet:
    """One record set as PowerDNS stores it (name is an FQDN with trailing dot)."""

    name: str
    type: str
    ttl: int
    contents: tuple[str, ...]


class PowerDNSClient:
    """Talks to ``/api/v1/servers/localhost`` with a timeout and bounded retries with backoff."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        server_id: str = "localhost",
    ) -> None:
        if not timeout > 0:
            raise PowerDNSApiError("configuration", None, "timeout must be a positive number of seconds")
        self.base = f"{url.rstrip('/')}/api/v1/servers/{server_id}"
        self.timeout = timeout
        self.retry = retry
        self._auth = PowerDNSApiKeyAuth(api_key)

    @classmethod
    def from_env(cls) -> PowerDNSClient:
        """Build a client from ``PDNS_API_URL`` and ``PDNS_API_KEY`` (read now, never stored elsewhere)."""
        url = os.environ.get(PDNS_API_URL_VAR, "").strip()
        if not url:
            raise PowerDNSApiError(
                "configuration", None, "PDNS_API_URL is not set; set it to e.g. http://127.0.0.1:8081"
            )
        return cls(url, os.environ.get(PDNS_API_KEY_VAR, ""))

    def __repr__(self) -> str:
        return f"PowerDNSClient({self.base!r}, auth=***)"

    def get_rrset(self, zone: str, name: str, rtype: str) -> RRSet | None:
        """The RRset ``name``/``rtype`` in ``zone``, or ``None`` when it does not exist."""
        subject = f"record {name} {rtype} in zone {zone}"
        data = self._request("GET", f"/zones/{quote(zone)}", subject, params={"rrset_name": name, "rrset_type": rtype})
        for rrset in data.get("rrsets", []):
            if rrset.get("name", "").lower() == name.lower() and rrset.get("type") == rtype:
                records = [r["content"] for r in rrset.get("records", []) if not r.get("disabled")]
                if records:
                    return RRSet(rrset["name"], rtype, int(rrset.get("ttl", 0)), tuple(sorted(records)))
        return None

    def zone_rrsets(self, zone: str, rtypes: tuple[str, ...] = ("A", "AAAA", "CNAME")) -> list[RRSet]:
        """Every RRset of ``zone`` of the given types (one GET of the zone; disabled records left out)."""
        data = self._request("GET", f"/zones/{quote(zone)}", f"zone {zone}")
        found = []
        for rrset in data.get("rrsets", []):
            records = [r["content"] for r in rrset.get("records", []) if not r.get("disabled")]
            if rrset.get("type") in rtypes and records:
                found.append(RRSet(rrset["name"], rrset["type"], int(rrset.get("ttl", 0)), tuple(sorted(records))))
        return sorted(found, key=lambda r: (r.name, r.type))

    def replace_rrset(self, zone: str, name: str, rtype: str, ttl: int, contents: list[str]) -> None:
        """Create or overwrite the RRset (PATCH changetype REPLACE; idempotent, so retried)."""
        rrset = {
            "name": name,
            "type": rtype,
            "ttl": ttl,
            "changetype": "REPLACE",
            "records": [{"content": c, "disabled": False} for c in contents],
        }
        self._request(
            "PATCH", f"/zones/{quote(zone)}", f"record {name} {rtype} in zone {zone}", json={"rrsets": [rrset]}
        )

    def delete_rrset(self, zone: str, name: str, rtype: str) -> None:
        """Delete the RRset; deleting one that does not exist succeeds."""
        rrset = {"name": name, "type": rtype, "changetype": "DELETE"}
        self._request(
            "PATCH", f"/zones/{quote(zone)}", f"record {name} {rtype} in zone {zone}", json={"rrsets": [rrset]}
        )

    def _request(self, method: str, path: str, subject: str, **kwargs: Any) -> Any:
        """The one choke point: timeout, retries on connection errors and 5xx, error mapping."""
        return self.retry.call(lambda: self._once(method, path, subject, **kwargs), _transient)

    def _once(self, method: str, path: str, subject: str, **kwargs: Any) -> Any:
        try:
            resp = requests.request(method, self.base + path, auth=self._auth, timeout=self.timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PowerDNSApiError(
                subject,
                None,
                f"cannot reach {self.base} ({type(exc).__name__}); check PDNS_API_URL and that PowerDNS is running",
            ) from None
        log.debug("PowerDNS %s %s -> %s", method, path, resp.status_code)
        if resp.status_code >= 400:
            raise PowerDNSApiError(subject, resp.status_code, _explain(resp, subject))
        return resp.json() if resp.content else {}


def _transient(exc: BaseException) -> bool:
    """No response at all, or a server-side failure (the calls here are idempotent, so safe to repeat)."""
    return isinstance(exc, PowerDNSApiError) and (exc.status is None or exc.status in RETRYABLE_STATUS)


def _explain(resp: requests.Response, subject: str) -> str:
    """PowerDNS's own error text for ``resp`` and what to do about it."""
    try:
        body = resp.json()
        detail = str(body.get("error", "")) if isinstance(body, dict) else ""
    except ValueError:
        detail = resp.text[:200]
    if resp.status_code == 401:
        return "the API key was rejected; check PDNS_API_KEY"
    if resp.status_code == 404:
        return f"not found ({detail}); create the zone on PowerDNS or fix the zone input"
    if resp.status_code == 422:
        return f"rejected: {detail}; fix the record inputs"
    if resp.status_code >= 500:
        return f"{detail or 'server error'}; PowerDNS failed after retries: check its log and try again"
    return detail or "unexpected response"
