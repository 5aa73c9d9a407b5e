"""What the engine does to values on their way into a Python dynamic provider."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN


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


def is_unknown(value: Any) -> bool:
    """True for a value a preview does not know yet, anywhere inside ``value``.

    Depending on the path, the Python provider host hands such values over as the engine's sentinel
    string or as ``pulumi.output.Unknown`` objects.
    """
    if isinstance(value, Unknown) or value == UNKNOWN:
        return True
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(is_unknown(v) for v in value.values())
    return False
