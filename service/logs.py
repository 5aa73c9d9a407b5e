"""Structured logs: one JSON object per line, with the tenant, job and request ids of the work at hand.

Every record of the service, its workers and the fleet exporter carries ``time``, ``level``, ``logger``,
``message``, ``process`` (``service``, ``fleet-exporter``) and, when set, ``tenant``, ``job`` and
``request_id`` (:func:`log_context`; the API sets ``request_id`` per request from ``X-Request-Id`` or a new
one, workers set ``tenant`` and ``job`` for each job). Ship them with any JSON-lines shipper (Promtail or
Grafana Alloy to Loki, Vector, Fluent Bit): each line is one record, ``tenant`` and ``level`` make good labels.

No secret reaches a record: credentials are never passed to a logger, and :class:`SecretMask` replaces any
value of a secret environment variable (``*_TOKEN``, ``*_KEY``, ``*_SECRET``, ``*PASSPHRASE*``,
``*PASSWORD*``) and any PEM private key block with ``***`` before a record is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_CONTEXT: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar("log_context", default=())
SECRET_NAME = re.compile(r"(_TOKEN|_KEY|_SECRET|PASSPHRASE|PASSWORD)", re.IGNORECASE)
PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)
MIN_SECRET_LENGTH = 8
"""Shorter values (``true``, a port) are not masked: they would garble every record and protect nothing."""


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` (tenant, job, request_id...) to every record logged inside the block, in this thread."""
    merged = {**dict(_CONTEXT.get()), **{k: v for k, v in fields.items() if v}}
    token = _CONTEXT.set(tuple(merged.items()))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def context_field(name: str) -> str | None:
    """The value :func:`log_context` set for ``name`` in this thread (the request id, say), or None."""
    return dict(_CONTEXT.get()).get(name)


class ContextFields(logging.Filter):
    """Copies the :func:`log_context` fields and the process name onto each record."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self.process
        for key, value in _CONTEXT.get():
            setattr(record, key, value)
        return True


class SecretMask(logging.Filter):
    """Replaces secret values and PEM private keys in the message (and its arguments) with ``***``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        env = os.environ if environ is None else environ
        values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
        self.values = sorted(values, key=len, reverse=True)

    def add(self, value: str) -> None:
        """Mask ``value`` too (a credential decrypted at run time)."""
        if len(value) >= MIN_SECRET_LENGTH and value not in self.values:
            self.values = sorted([*self.values, value], key=len, reverse=True)

    def mask(self, text: str) -> str:
        text = PEM_KEY.sub("***", text)
        for value in self.values:
            text = text.replace(value, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.mask(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True


def configure_logging(process: str, stream: Any = None, level: int = logging.INFO) -> SecretMask:
    """JSON lines on ``stream`` (stderr) for the whole process; returns the mask to add run-time secrets to."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process_name": "process"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    mask = SecretMask()
    handler.addFilter(ContextFields(process))
    handler.addFilter(mask)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return mask
