"""Spec errors that always name the file, the line and the field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SpecError:
    """One problem in a spec file.

    ``line`` is 1-based, or ``None`` when the source has no lines (e.g. a Pulumi config
    object). ``field`` is a dotted path such as ``extra_ssh_keys[1]``; ``(document)`` means
    the file as a whole.
    """

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: field '{self.field}': {self.message}"


class SpecErrors(ValueError):
    """All problems found while loading one or more spec files, reported together."""

    def __init__(self, errors: Iterable[SpecError]) -> None:
        self.errors: list[SpecError] = sorted(errors, key=_sort_key)
        lines = [str(e) for e in self.errors]
        super().__init__(f"{len(lines)} invalid spec entr{'y' if len(lines) == 1 else 'ies'}:\n  " + "\n  ".join(lines))


def _sort_key(err: SpecError) -> tuple[str, int, str, str]:
    return (err.source, err.line or 0, err.field, err.message)


def field_path(parts: Iterable[str | int]) -> str:
    """Render a path like ``("extra_ssh_keys", 1)`` as ``extra_ssh_keys[1]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"
