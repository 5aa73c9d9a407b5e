"""A throwaway PostgreSQL cluster from Debian's packages: initdb + pg_ctl in a temp dir, on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
RUN_AS = "postgres"  # postgres refuses to run as root


def pg_bin() -> Path | None:
    """The newest installed server's bin directory, or None."""
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "initdb").exists():
            return candidate
    return None


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One cluster owned by the ``postgres`` user (when run as root) in its own temp dir."""

    def __init__(self) -> None:
        binary = pg_bin()
        if binary is None:
            raise RuntimeError("PostgreSQL server not installed: run scripts/install_queue_backend.sh")
        self.bin = binary
        self.dir = Path(tempfile.mkdtemp(prefix="svc-pg-"))
        self.port = free_port()
        self._prefix = ["runuser", "-u", RUN_AS, "--"] if os.geteuid() == 0 else []
        if self._prefix:
            shutil.chown(self.dir, RUN_AS)
        self.data = self.dir / "data"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._prefix, *args], check=True, timeout=60, capture_output=True, cwd=self.dir)

    def start(self) -> None:
        """initdb (trust auth on loopback) and start the server."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._run(*self._start_command())

    def _start_command(self) -> list[str]:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        return [
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.dir / "log"),
            "-w",
            "-t",
            "30",
            "start",
        ]

    def halt(self) -> None:
        """Stop the server as a crash would (``-m immediate``), keeping its data: :meth:`resume` brings it back."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        """Start a halted server on the same port and data (crash recovery runs first)."""
        self._run(*self._start_command())

    def url(self, database: str = "postgres") -> str:
        """A libpq URL to ``database``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (if it runs) and delete the cluster."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
