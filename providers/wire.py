"""What the engine does to values on their way into a Python dynamic provider."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def whole_numbers(props: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A copy of ``props`` with the given keys' whole floats turned back into ints.

    Pulumi's wire format has one number type, so a dynamic provider receives ``22`` as ``22.0`` in
    ``check``, ``create``, ``update`` and ``read`` alike.
    """
    out = dict(props)
    for key in keys:
        value = out.get(key)
        if isinstance(value, float) and value.is_integer():
            out[key] = int(value)
    return out
