"""The one naming contract: names and ids the program, the providers and the tools must agree on.

Pure functions and constants only, no I/O.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

__all__ = ["allocation_id", "parse_allocation_id"]


def allocation_id(pool: str, owner: str) -> str:
    """The resource id of ``owner``'s allocation in ``pool``: both parts percent-encoded, joined by ``/``."""
    return f"{urllib.parse.quote(pool, safe='')}/{urllib.parse.quote(owner, safe='')}"


def parse_allocation_id(id_: str, props: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(pool, owner) of an id made by :func:`allocation_id`.

    Ids written before the encoding were ``<pool>/<owner>`` unencoded; for those the state's own
    ``pool`` and ``owner`` outputs decide, else the only shape the program made: ``<env>/<region>/<slug>/<i>``.
    """
    parts = id_.split("/")
    if len(parts) == 2 and all(parts):
        return urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[1])
    props = props or {}
    pool, owner = props.get("pool"), props.get("owner")
    if isinstance(pool, str) and isinstance(owner, str) and id_ == f"{pool}/{owner}":
        return pool, owner
    if len(parts) == 4 and all(parts):
        return "/".join(parts[:2]), "/".join(parts[2:])
    raise ValueError(f"allocation id {id_!r} is not <pool>/<owner> with percent-encoded parts")
