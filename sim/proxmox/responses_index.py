"""Directory indexes (``GET`` on a path whose children are the API): their entries come from the schema,
keyed as PVE keys them for that directory (``subdir`` or ``name``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .responses import Ctx
from .schema import apidoc_path


@lru_cache(maxsize=1)
def _children() -> dict[str, list[str]]:
    with open(apidoc_path(), encoding="utf-8") as fh:
        stack = list(json.load(fh))
    out: dict[str, list[str]] = {}
    while stack:
        node = stack.pop()
        kids = node.get("children", [])
        stack.extend(kids)
        out[node["path"]] = [k["path"].rsplit("/", 1)[1] for k in kids if not k["path"].endswith("}")]
    return out


def index(path: str, key: str) -> Callable[[Ctx], Any]:
    """A handler listing the fixed children of ``path`` as ``[{key: child}]``."""

    def handler(ctx: Ctx) -> Any:
        return [{key: child} for child in sorted(_children().get(path, []))]

    handler.__doc__ = f"GET {path}: its sub-directories"
    return handler
