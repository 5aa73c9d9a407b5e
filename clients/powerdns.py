"""Minimal PowerDNS Authoritative HTTP API client: read, replace and delete RRsets in a zone."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from requests.auth import AuthBase

log = logging.getLogger(__name__)

RETRYABLE_STATUS = (500, 502, 503, 504)


class PowerDNSApiKeyAuth(AuthBase):
    """Adds ``X-API-Key`` per request; its repr never shows the key."""

    def __init__(self, api_key: str) -> None:
        if not api_key or not api_key.strip():
            raise PowerDNSError("configuration", None, "PDNS_API_KEY is empty; set it to the PowerDNS API key")
        self._api_key = api_key.strip()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-API-Key"] = self._api_key
        return request

    def __repr__(self) -> str:
        return "PowerDNSApiKeyAuth(api_key=***)"


class PowerDNSError(Exception):
    """A failed PowerDNS call: what it was about, HTTP status (None: no response) and a readable message."""

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

    def __init__(self, url: str, api_key: str, *, timeout: float = 10.0, attempts: int = 4,
                 backoff: float = 0.25, server_id: str = "localhost") -> None:
        self.base = f"{url.rstrip('/')}/api/v1/servers/{server_id}"
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._auth = PowerDNSApiKeyAuth(api_key)

    @classmethod
    def from_env(cls) -> PowerDNSClient:
        """Build a client from ``PDNS_API_URL`` and ``PDNS_API_KEY`` (read now, never stored elsewhere)."""
        url = os.environ.get("PDNS_API_URL", "").strip()
        if not url:
            raise PowerDNSError("configuration", None, "PDNS_API_URL is not set; set it to e.g. http://127.0.0.1:8081")
        return cls(url, os.environ.get("PDNS_API_KEY", ""))

    def __repr__(self) -> str:
        return f"PowerDNSClient({self.base!r}, auth=***)"

    def get_rrset(self, zone: str, name: str, rtype: str) -> RRSet | None:
        """The RRset ``name``/``rtype`` in ``zone``, or ``None`` when it does not exist."""
        subject = f"record {name} {rtype} in zone {zone}"
        data = self._request("GET", f"/zones/{quote(zone)}", subject,
                             params={"rrset_name": name, "rrset_type": rtype})
        for rrset in data.get("rrsets", []):
            if rrset.get("name", "").lower() == name.lower() and rrset.get("type") == rtype:
                records = [r["content"] for r in rrset.get("records", []) if not r.get("disabled")]
                if records:
                    return RRSet(rrset["name"], rtype, int(rrset.get("ttl", 0)), tuple(sorted(records)))
        return None

    def replace_rrset(self, zone: str, name: str, rtype: str, ttl: int, contents: list[str]) -> None:
        """Create or overwrite the RRset (PATCH changetype REPLACE; idempotent, so retried)."""
        rrset = {"name": name, "type": rtype, "ttl": ttl, "changetype": "REPLACE",
                 "records": [{"content": c, "disabled": False} for c in contents]}
        self._request("PATCH", f"/zones/{quote(zone)}", f"record {name} {rtype} in zone {zone}",
                      json={"rrsets": [rrset]})

    def delete_rrset(self, zone: str, name: str, rtype: str) -> None:
        """Delete the RRset; deleting one that does not exist succeeds."""
        rrset = {"name": name, "type": rtype, "changetype": "DELETE"}
        self._request("PATCH", f"/zones/{quote(zone)}", f"record {name} {rtype} in zone {zone}",
                      json={"rrsets": [rrset]})

    def _request(self, method: str, path: str, subject: str, **kwargs: Any) -> Any:
        """The one choke point: timeout, retries on connection errors and 5xx, error mapping."""
        url = self.base + path
        for attempt in range(1, self.attempts + 1):
            try:
                resp = requests.request(method, url, auth=self._auth, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                error = PowerDNSError(subject, None, f"cannot reach {self.base} ({type(exc).__name__}); "
                                      "check PDNS_API_URL and that PowerDNS is running")
            else:
                log.debug("PowerDNS %s %s -> %s (attempt %d)", method, path, resp.status_code, attempt)
                if resp.status_code < 400:
                    return resp.json() if resp.content else {}
                error = PowerDNSError(subject, resp.status_code, _explain(resp, subject))
                if resp.status_code not in RETRYABLE_STATUS:
                    raise error
            if attempt == self.attempts:
                raise error
            time.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")


def _explain(resp: requests.Response, subject: str) -> str:
    try:
        detail = str(resp.json().get("error", ""))
    except ValueError:
        detail = resp.text[:200]
    if resp.status_code == 401:
        return "the API key was rejected; check PDNS_API_KEY"
    if resp.status_code == 404:
        return f"not found ({detail}); create the zone on PowerDNS or fix the zone input"
    if resp.status_code == 422:
        return f"rejected: {detail}; fix the record inputs"
    return detail or "unexpected response"
