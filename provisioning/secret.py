"""A secret string that never shows itself: ``str`` and ``repr`` are masked, :meth:`Secret.reveal` reads it."""
from __future__ import annotations


class Secret:
    """A credential held in memory; pass ``reveal()`` to the one call that needs it, never to a log."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)
