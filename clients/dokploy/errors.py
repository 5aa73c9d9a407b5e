"""The one exception type of the Dokploy client."""

from __future__ import annotations

from typing import Any

AUTH_HINT = "API key invalid, expired, not bound to an organization, or rate-limited"


class DokployError(Exception):
    """A failed Dokploy call: HTTP status (None: no response), tRPC code, message and details.

    ``details`` holds zod ``issues`` for validation errors. Nothing here ever carries the API key.
    """

    def __init__(
        self, procedure: str, status: int | None, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.procedure = procedure
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """Validation messages by top-level field."""
        out: dict[str, list[str]] = {}
        for issue in self.details:
            path = issue.get("path") or [""]
            out.setdefault(str(path[0]), []).append(str(issue.get("message", "")))
        return out

    @property
    def retryable(self) -> bool:
        """Transient: no response at all, or a 5xx other than a procedure's own 500."""
        return self.status is None or self.status in (502, 503, 504)

    def __str__(self) -> str:
        where = f"{self.status} {self.code}" if self.status is not None else self.code
        text = f"Dokploy {self.procedure}: {where}: {self.message}"
        if self.field_errors:
            text += " (" + "; ".join(f"{k or '<input>'}: {', '.join(v)}" for k, v in self.field_errors.items()) + ")"
        if self.status == 401 and self.message == "Unauthorized":
            text += f" [{AUTH_HINT}]"
        return text

    def __repr__(self) -> str:
        return f"DokployError({self.procedure!r}, {self.status!r}, {self.code!r}, {self.message!r})"
