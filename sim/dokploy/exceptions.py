"""Wire errors of the Dokploy API: one class per tRPC code, carrying status and exact message (CONTRACT §2)."""

from __future__ import annotations

from typing import Any


class TRPCError(Exception):
    """An error rendered as ``{message, code, data:{code, httpStatus, path, zodError}, issues?}``."""

    code = "INTERNAL_SERVER_ERROR"
    status = 500

    def __init__(
        self, message: str, issues: list[dict[str, Any]] | None = None, zod_error: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues
        self.zod_error = zod_error

    def body(self, path: str | None) -> dict[str, Any]:
        """The JSON body Dokploy sends; ``path`` is absent when no procedure matched."""
        data: dict[str, Any] = {"code": self.code, "httpStatus": self.status}
        if path is not None:
            data["path"] = path
        data["zodError"] = self.zod_error
        out: dict[str, Any] = {"message": self.message, "code": self.code, "data": data}
        if self.issues is not None:
            out["issues"] = self.issues
        return out


class BadRequest(TRPCError):
    code, status = "BAD_REQUEST", 400


class Unauthorized(TRPCError):
    code, status = "UNAUTHORIZED", 401


class Forbidden(TRPCError):
    code, status = "FORBIDDEN", 403


class NotFound(TRPCError):
    code, status = "NOT_FOUND", 404


class Conflict(TRPCError):
    code, status = "CONFLICT", 409


class UnsupportedMediaType(TRPCError):
    code, status = "UNSUPPORTED_MEDIA_TYPE", 415


class InternalServerError(TRPCError):
    code, status = "INTERNAL_SERVER_ERROR", 500


class ServiceUnavailable(TRPCError):
    """Only produced by fault injection (a proxy in front of Dokploy failing)."""

    code, status = "INTERNAL_SERVER_ERROR", 503


class AuthRejected(Exception):
    """The catch-all handler's bare ``401 {"message":"Unauthorized"}`` (CONTRACT §1.4)."""


BARE_UNAUTHORIZED = {"message": "Unauthorized"}
