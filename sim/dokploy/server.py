"""A uvicorn server on 127.0.0.1 in a background thread (port 0 = pick a free port)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from .backend import Backend
from .urls import create_app


class ThreadedServer:
    """Serve a Backend over HTTP; ``start()`` returns once the port accepts connections."""

    def __init__(self, backend: Backend | None = None, port: int = 0) -> None:
        self.backend = backend or Backend()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(create_app(self.backend), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("Dokploy simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
