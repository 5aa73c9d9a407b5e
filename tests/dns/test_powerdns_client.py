"""PowerDNSClient error handling: retries with backoff, clear errors, no key leaks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clients.powerdns import PowerDNSApiError, PowerDNSApiKeyAuth, PowerDNSClient
from clients.retry import RetryPolicy
from scripts.localenv.pdns import free_port

SECRET = "s3cret-key-value"


class FlakyHandler(BaseHTTPRequestHandler):
    """Answers 503 for the first ``failures`` requests, then an empty zone."""

    failures = 0
    seen: list[str] = []

    def do_GET(self) -> None:
        FlakyHandler.seen.append(self.headers.get("X-API-Key", ""))
        if FlakyHandler.failures > 0:
            FlakyHandler.failures -= 1
            self._reply(503, {"error": "busy"})
        else:
            self._reply(200, {"name": "cloud.test.", "rrsets": []})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def flaky() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    FlakyHandler.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_retries_5xx_then_succeeds(flaky):
    FlakyHandler.failures = 2
    client = PowerDNSClient(flaky, SECRET, retry=RetryPolicy(attempts=3, initial=0.01))
    assert client.get_rrset("cloud.test.", "a.cloud.test.", "A") is None
    assert FlakyHandler.seen == [SECRET] * 3


def test_gives_up_after_bounded_attempts(flaky):
    FlakyHandler.failures = 10
    client = PowerDNSClient(flaky, SECRET, retry=RetryPolicy(attempts=3, initial=0.01))
    with pytest.raises(PowerDNSApiError, match=r"record a\.cloud\.test\. A in zone cloud\.test\.: HTTP 503: busy"):
        client.get_rrset("cloud.test.", "a.cloud.test.", "A")
    assert len(FlakyHandler.seen) == 3


def test_unreachable_server_is_named_without_key():
    client = PowerDNSClient(
        f"http://127.0.0.1:{free_port()}", SECRET, retry=RetryPolicy(attempts=2, initial=0.01), timeout=1
    )
    with pytest.raises(PowerDNSApiError, match=r"cannot reach .*check PDNS_API_URL") as exc:
        client.delete_rrset("cloud.test.", "a.cloud.test.", "A")
    assert exc.value.status is None and SECRET not in str(exc.value)


def test_wrong_key_is_rejected_clearly(pdns):
    client = PowerDNSClient(pdns.url, "wrong-key", retry=RetryPolicy(attempts=1))
    with pytest.raises(PowerDNSApiError, match="HTTP 401: the API key was rejected; check PDNS_API_KEY"):
        client.get_rrset(pdns.zone, f"a.{pdns.zone}", "A")


def test_invalid_record_is_a_422_naming_the_record(pdns):
    client = PowerDNSClient(pdns.url, pdns.api_key, retry=RetryPolicy(attempts=1))
    with pytest.raises(PowerDNSApiError, match=r"record a\.elsewhere\. A in zone cloud\.test\.: HTTP 422") as exc:
        client.replace_rrset(pdns.zone, "a.elsewhere.", "A", 60, ["10.0.0.1"])
    assert exc.value.status == 422


def test_auth_and_client_reprs_hide_key():
    assert SECRET not in repr(PowerDNSApiKeyAuth(SECRET))
    assert SECRET not in repr(PowerDNSClient("http://127.0.0.1:1", SECRET))


def test_empty_key_is_refused():
    with pytest.raises(PowerDNSApiError, match="PDNS_API_KEY is empty"):
        PowerDNSClient("http://127.0.0.1:1", " ")
