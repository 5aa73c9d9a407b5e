"""A private PowerDNS authoritative server (SQLite backend, HTTP API) on 127.0.0.1.

Used as a pytest fixture and by the local environment. The API key lives only in the
0600 config file and in this object; it is never put on a command line or logged.
Requires scripts/install_pdns.sh to have run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import requests

SCHEMA_PATHS = (
    Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
    Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
)
DEFAULT_ZONE = "cloud.test."
_HTTP_TIMEOUT = 2.0


class PowerDNSError(RuntimeError):
    """PowerDNS could not be installed, started or configured."""


def free_port() -> int:
    """A port that is currently free for both TCP and UDP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return int(port)
    raise PowerDNSError("no free port found on 127.0.0.1")


class PowerDNSInstance:
    """One pdns_server process with its own config dir, SQLite DB and zone.

    ``api_key`` defaults to ``$PDNS_API_KEY`` or a generated token; ports default to free ones.
    """

    def __init__(
        self,
        zone: str = DEFAULT_ZONE,
        *,
        dns_port: int | None = None,
        api_port: int | None = None,
        api_key: str | None = None,
        workdir: str | Path | None = None,
        binary: str = "pdns_server",
    ) -> None:
        self.zone = zone if zone.endswith(".") else zone + "."
        self._auto_ports = dns_port is None and api_port is None
        self.dns_port = dns_port or free_port()
        self.api_port = api_port or free_port()
        self._api_key = api_key or os.environ.get("PDNS_API_KEY") or secrets.token_urlsafe(32)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="pdns-"))
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"PowerDNSInstance(zone={self.zone!r}, url={self.url!r}, dns_port={self.dns_port}, api_key='***')"

    @property
    def url(self) -> str:
        """Base URL of the HTTP API (without ``/api/v1``)."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def api_key(self) -> str:
        """The X-API-Key secret; keep it out of logs."""
        return self._api_key

    @property
    def log_path(self) -> Path:
        return self.workdir / "pdns.log"

    def env(self) -> dict[str, str]:
        """Environment variables through which our providers find this server."""
        return {"PDNS_API_URL": self.url, "PDNS_API_KEY": self._api_key, "PDNS_ZONE": self.zone}

    def start(self, timeout: float = 20.0) -> PowerDNSInstance:
        """Write config, initialise the DB, start the server, create the zone and wait until it answers."""
        if self._process is not None:
            return self
        binary = shutil.which(self._binary)
        if binary is None:
            raise PowerDNSError(f"{self._binary} not found; run scripts/install_pdns.sh first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._init_db()
        # Free ports are picked before pdns binds them; if another process wins the race, retry.
        attempts = 3 if self._auto_ports else 1
        for attempt in range(attempts):
            self._write_config()
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    [binary, f"--config-dir={self.workdir}"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.workdir,
                    start_new_session=True,
                )
            try:
                self._wait_for_api(timeout)
                break
            except PowerDNSError:
                self._terminate()
                if attempt == attempts - 1:
                    self.stop()
                    raise
                self.dns_port, self.api_port = free_port(), free_port()
        try:
            self._ensure_zone()
            self._wait_for_dns(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove a temporary workdir."""
        self._terminate(timeout)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def crash(self) -> None:
        """SIGKILL the server, keeping its workdir and zone data: :meth:`start` brings it back on the same ports."""
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def _terminate(self, timeout: float = 10.0) -> None:
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)

    def __enter__(self) -> PowerDNSInstance:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _write_config(self) -> None:
        settings = {
            "launch": "gsqlite3",
            "gsqlite3-database": str(self.workdir / "pdns.sqlite3"),
            "local-address": "127.0.0.1",
            "local-port": self.dns_port,
            "api": "yes",
            "api-key": self._api_key,
            "webserver": "yes",
            "webserver-address": "127.0.0.1",
            "webserver-port": self.api_port,
            "webserver-allow-from": "127.0.0.1/32",
            "socket-dir": str(self.workdir),
            "guardian": "no",
            "daemon": "no",
            "default-soa-content": "ns1.@ hostmaster.@ 0 10800 3600 604800 60",
            "disable-syslog": "yes",
            "loglevel": "4",
            "security-poll-suffix": "",
            # No caching: a record changed through the API must be visible to the next query.
            "cache-ttl": "0",
            "query-cache-ttl": "0",
            "negquery-cache-ttl": "0",
            "consistent-backends": "yes",
        }
        path = self.workdir / "pdns.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(f"{key}={value}\n" for key, value in settings.items())
        os.chmod(path, 0o600)

    def _init_db(self) -> None:
        db = self.workdir / "pdns.sqlite3"
        if db.exists():
            return
        schema = next((p for p in SCHEMA_PATHS if p.exists()), None)
        if schema is None:
            raise PowerDNSError("SQLite schema not found; run scripts/install_pdns.sh (pdns-backend-sqlite3)")
        with sqlite3.connect(db) as conn:
            conn.executescript(schema.read_text(encoding="utf-8"))

    def _api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/api/v1/servers/localhost{path}",
            headers={"X-API-Key": self._api_key},
            timeout=_HTTP_TIMEOUT,
            **kwargs,
        )

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise PowerDNSError(f"pdns_server exited with code {self._process.returncode}; log tail:\n{tail}")

    def _wait_for_api(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if self._api("GET", "").status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise PowerDNSError(f"PowerDNS API at {self.url} not ready after {timeout}s; see {self.log_path}")

    def _ensure_zone(self) -> None:
        body = {"name": self.zone, "kind": "Native", "nameservers": [f"ns1.{self.zone}"]}
        resp = self._api("POST", "/zones", json=body)
        if resp.status_code not in (201, 409):
            raise PowerDNSError(f"creating zone {self.zone} failed: HTTP {resp.status_code} {resp.text[:200]}")

    def _wait_for_dns(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        query = dns.message.make_query(self.zone, "SOA")
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if dns.query.udp(query, "127.0.0.1", port=self.dns_port, timeout=0.5).answer:
                    return
            except (OSError, dns.exception.DNSException):
                pass
            time.sleep(0.1)
        raise PowerDNSError(f"PowerDNS on 127.0.0.1:{self.dns_port} does not answer for {self.zone}")


def main() -> None:
    """Run an instance in the foreground until interrupted (``python -m scripts.localenv.pdns``)."""
    with PowerDNSInstance(workdir=os.environ.get("PDNS_WORKDIR")) as pdns:
        print(
            f"PowerDNS ready: api={pdns.url} dns=127.0.0.1:{pdns.dns_port} zone={pdns.zone} "
            f"(API key in {pdns.workdir / 'pdns.conf'})",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
