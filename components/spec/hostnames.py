"""Host names of a tenant's servers, in one namespace shared by every tenant of an environment.

Two schemes:

- ``subdomain`` (the default): server 1 is ``<label>.<zone>``, server n is ``<n>.<label>.<zone>``.
  Every name a tenant gets lies at or under its own label, and labels are unique, so two tenants'
  names can never collide, whatever their slugs.
- ``numbered`` (the names of tenants that existed before): server n is ``<label>-<n>.<zone>``. Such a
  tenant keeps its names; a label equal to one of them is refused for every other tenant.

``<label>`` is the tenant's ``hostname`` if set, else its slug.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

SCHEMES = ("subdomain", "numbered")
DEFAULT_SCHEME = "subdomain"


class Named(Protocol):
    """What a tenant needs for its host names (``TenantSpec`` has it)."""

    @property
    def slug(self) -> str: ...
    @property
    def host_label(self) -> str: ...
    @property
    def servers(self) -> int: ...
    @property
    def hostname_scheme(self) -> str: ...


N = TypeVar("N", bound=Named)


def server_labels(label: str, servers: int, scheme: str = DEFAULT_SCHEME) -> list[str]:
    """The names (without the zone) of servers 1..``servers`` of a tenant whose label is ``label``."""
    if scheme not in SCHEMES:
        raise ValueError(f"hostname_scheme: {scheme!r} is not one of {', '.join(SCHEMES)}")
    rest = [f"{n}.{label}" if scheme == "subdomain" else f"{label}-{n}" for n in range(2, max(servers, 1) + 1)]
    return [label, *rest]


def claimed(tenant: Named) -> list[str]:
    """Every name ``tenant`` holds in the environment's namespace."""
    return server_labels(tenant.host_label, tenant.servers, tenant.hostname_scheme)


def clashes(tenant: Named, others: Iterable[N]) -> list[tuple[str, N]]:
    """(name, other tenant) for each name ``tenant`` would hold that another tenant already holds."""
    taken: dict[str, N] = {}
    for other in others:
        if other.slug != tenant.slug:
            for name in claimed(other):
                taken.setdefault(name, other)
    return [(name, taken[name]) for name in claimed(tenant) if name in taken]
