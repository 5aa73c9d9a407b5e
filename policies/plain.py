"""Turn CrossGuard's unknown-checking proxies into plain dicts and lists (unknowns stay sentinels).

The pack's wrappers do this before calling the pure rules, so a rule that meets an unknown value
skips that one check instead of the whole policy being aborted by ``UnknownValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from policies.views import StackResource

_PROXY_KEY = "__target"  # pulumi_policy's proxies hand out their wrapped value under this key


def plain(value: Any) -> Any:
    """Deep copy of ``value`` with every proxy (and secret wrapper) replaced by what it wraps."""
    if type(value).__name__ in {"_DictProxy", "_ListProxy", "_DictSecretsProxy", "_ListSecretsProxy"}:
        return plain(value[_PROXY_KEY])
    if type(value).__name__ == "Secret" and hasattr(value, "value"):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(v) for v in value]
    return value


def stack_resources(resources: Iterable[Any]) -> list[StackResource]:
    """``pulumi_policy.PolicyResource`` objects → engine-independent :class:`StackResource` views."""
    out = []
    for r in resources:
        deps = {d.urn for d in r.dependencies or ()}
        for prop_deps in (r.property_dependencies or {}).values():
            deps.update(d.urn for d in prop_deps)
        out.append(
            StackResource(
                type=r.resource_type,
                urn=r.urn,
                name=r.name,
                props=plain(r.props),
                parent=r.parent.urn if r.parent is not None else None,
                dependencies=frozenset(deps),
            )
        )
    return out
