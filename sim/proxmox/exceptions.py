"""Wire errors of the PVE API: one class per kind, each carrying status and exact text."""

from __future__ import annotations


class PveError(Exception):
    """An error answered as ``{"data": null, "message": ...}`` with the first line as reason."""

    status = 500

    def __init__(self, message: str, errors: dict[str, str] | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        if status is not None:
            self.status = status

    @property
    def reason(self) -> str:
        first = self.message.split("\n", 1)[0]
        return first.replace("\r", " ")[:500] or "Error"


class HandlerError(PveError):
    """500: a handler failure such as ``VM is locked (clone)``."""


class ParamError(PveError):
    """400: parameter verification; ``errors`` maps parameter name to text."""

    status = 400

    def __init__(self, errors: dict[str, str], message: str = "Parameter verification failed.") -> None:
        super().__init__(message, errors=errors)


class AuthError(PveError):
    """401 with an empty body (authentication layer)."""

    status = 401
    empty_body = True


class LoginFailed(PveError):
    """401 ``authentication failure`` from POST /access/ticket (JSON body)."""

    status = 401

    def __init__(self) -> None:
        super().__init__("authentication failure")


class PermissionDenied(PveError):
    """403 ``Permission check failed ...``."""

    status = 403

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(f"Permission check failed ({detail})" if detail else "Permission check failed")


class NotImplementedPath(PveError):
    """501 for unknown paths or methods."""

    status = 501


def param_error(name: str, text: str) -> ParamError:
    """Shortcut for a single-parameter 400."""
    return ParamError({name: text})


def no_config(node: str, vmid: int) -> HandlerError:
    """The text every per-VM call answers for a missing VM."""
    return HandlerError(f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")


def locked(lock: str) -> HandlerError:
    """``VM is locked (<lock>)``."""
    return HandlerError(f"VM is locked ({lock})")


def lock_timeout(vmid: int) -> HandlerError:
    """Per-VM file lock contention."""
    return HandlerError(f"can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout")
