"""Load tenants/<slug>.yaml files into TenantSpecs, reporting every problem at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from components.naming import PLATFORM_STACKS
from components.spec.errors import SpecError, SpecErrors
from components.spec.hostnames import DEFAULT_SCHEME, clashes
from components.spec.marked_yaml import MarkedDocument, load_marked
from components.spec.plans import Plan
from components.spec.schema import TENANT_FIELDS_ORDER, TENANT_SCHEMA
from components.spec.sshkeys import ssh_key_problem
from components.spec.validate import schema_errors

TENANT_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class TenantSpec:
    """One tenant as declared in ``tenants/<slug>.yaml``, validated against the plans."""

    slug: str
    display_name: str
    plan: str
    region: str
    dokploy_organization: str
    owner: str
    extra_ssh_keys: tuple[str, ...] = ()
    hostname: str | None = None
    hostname_scheme: str = DEFAULT_SCHEME
    """How servers 2..n are named (:mod:`components.spec.hostnames`)."""
    servers: int = 1
    state: str = "active"
    """``active`` or ``suspended`` (VMs stopped, DNS and Dokploy registration kept)."""
    source: str = field(default="", compare=False)

    @property
    def host_label(self) -> str:
        """The DNS label of the tenant's host: ``hostname`` if set, else the slug."""
        return self.hostname or self.slug

    @property
    def suspended(self) -> bool:
        """Whether the tenant's VMs are to be stopped."""
        return self.state == "suspended"


def parse_tenant(
    text: str,
    source: str,
    plans: Mapping[str, Plan],
    *,
    expected_slug: str | None = None,
    regions: Iterable[str] | None = None,
) -> TenantSpec:
    """Parse one tenant document; raise :class:`SpecErrors` listing every problem."""
    spec, errors, _ = _parse(text, source, plans, expected_slug, regions)
    if errors or spec is None:
        raise SpecErrors(errors)
    return spec


def load_tenant(path: str | FsPath, plans: Mapping[str, Plan], *, regions: Iterable[str] | None = None) -> TenantSpec:
    """Load one tenant file; its slug must equal the file name without suffix."""
    path = FsPath(path)
    return parse_tenant(_read(path), str(path), plans, expected_slug=path.stem, regions=regions)


def load_tenants(
    directory: str | FsPath, plans: Mapping[str, Plan], *, regions: Iterable[str] | None = None
) -> dict[str, TenantSpec]:
    """Load every tenant file in ``directory``; all errors of all files are raised together."""
    if not FsPath(directory).is_dir():
        raise SpecErrors([SpecError(str(directory), None, "(document)", "not a directory of tenant files")])
    errors: list[SpecError] = []
    specs: list[TenantSpec] = []
    docs: dict[str, MarkedDocument] = {}
    for path in sorted(
        p for p in FsPath(directory).iterdir() if p.suffix in TENANT_SUFFIXES and not p.name.startswith(".")
    ):
        try:
            text = _read(path)
        except SpecErrors as exc:
            errors.extend(exc.errors)
            continue
        spec, file_errors, doc = _parse(text, str(path), plans, path.stem, regions)
        errors.extend(file_errors)
        if spec is not None and doc is not None:
            specs.append(spec)
            docs[spec.source] = doc
    errors.extend(_cross_file_errors(specs, docs))
    if errors:
        raise SpecErrors(errors)
    return {spec.slug: spec for spec in specs}


def dump_tenant(spec: TenantSpec) -> str:
    """Render a spec as tenant YAML (fields in canonical order, unset optionals omitted)."""
    data: dict[str, Any] = {}
    for name in TENANT_FIELDS_ORDER:
        value = getattr(spec, name)
        if name == "extra_ssh_keys":
            if value:
                data[name] = list(value)
        elif name == "state":
            if value != "active":
                data[name] = value
        elif name == "hostname_scheme":
            if value != DEFAULT_SCHEME or spec.servers > 1:  # explicit wherever it names a server
                data[name] = value
        elif value is not None:
            data[name] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100000)


def _read(path: FsPath) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SpecErrors([SpecError(str(path), None, "(document)", f"cannot read file: {reason}")]) from None


def _parse(
    text: str, source: str, plans: Mapping[str, Plan], expected_slug: str | None, regions: Iterable[str] | None
) -> tuple[TenantSpec | None, list[SpecError], MarkedDocument | None]:
    doc, errors = load_marked(text, source)
    if doc is None:
        return None, errors, None
    if doc.data is None:
        return None, [*errors, doc.error((), "the file is empty; expected a mapping of tenant fields")], doc
    errors += schema_errors(doc, TENANT_SCHEMA)
    if not isinstance(doc.data, dict):
        return None, errors, doc
    rejected = {e.field for e in errors}
    errors += [e for e in _semantic_errors(doc, plans, expected_slug, regions) if e.field not in rejected]
    if errors:
        return None, errors, doc
    d = doc.data
    return (
        TenantSpec(
            slug=d["slug"],
            display_name=d["display_name"],
            plan=d["plan"],
            region=d["region"],
            dokploy_organization=d["dokploy_organization"],
            owner=d["owner"],
            extra_ssh_keys=tuple(d.get("extra_ssh_keys", ())),
            hostname=d.get("hostname"),
            hostname_scheme=d.get("hostname_scheme", DEFAULT_SCHEME),
            servers=int(d.get("servers", 1)),
            state=d.get("state", "active"),
            source=source,
        ),
        [],
        doc,
    )


def _semantic_errors(
    doc: MarkedDocument, plans: Mapping[str, Plan], expected_slug: str | None, regions: Iterable[str] | None
) -> list[SpecError]:
    """Rules that need more than the schema (type-guarded: the schema reports wrong types)."""
    d: dict[str, Any] = doc.data
    errors: list[SpecError] = []
    slug = d.get("slug")
    if expected_slug is not None and isinstance(slug, str) and slug != expected_slug:
        errors.append(doc.error(("slug",), f"slug {slug!r} must equal the file name {expected_slug!r}"))
    if slug in PLATFORM_STACKS:
        errors.append(doc.error(("slug",), f"slug {slug!r} is reserved for the platform's own stack; choose another"))
    plan_name = d.get("plan")
    plan = plans.get(plan_name) if isinstance(plan_name, str) else None
    if isinstance(plan_name, str) and plan is None:
        allowed = ", ".join(sorted(plans)) or "(no plans configured)"
        errors.append(doc.error(("plan",), f"unknown plan {plan_name!r}; allowed: {allowed}"))
    servers = d.get("servers")
    if plan is not None and type(servers) is int and servers > plan.max_servers:
        message = f"{servers} servers exceed plan {plan.name!r}; allowed: 1 to {plan.max_servers}"
        errors.append(doc.error(("servers",), message))
    allowed_regions = sorted(regions) if regions is not None else None
    region = d.get("region")
    if allowed_regions is not None and isinstance(region, str) and region not in allowed_regions:
        errors.append(doc.error(("region",), f"unknown region {region!r}; allowed: {', '.join(allowed_regions)}"))
    keys = d.get("extra_ssh_keys")
    for index, key in enumerate(keys if isinstance(keys, list) else []):
        problem = ssh_key_problem(key) if isinstance(key, str) else None
        if problem:
            errors.append(doc.error(("extra_ssh_keys", index), f"invalid SSH public key: {problem}"))
    return errors


def _cross_file_errors(specs: list[TenantSpec], docs: Mapping[str, MarkedDocument]) -> list[SpecError]:
    errors: list[SpecError] = []
    seen_slug: dict[str, TenantSpec] = {}
    for index, spec in enumerate(specs):
        first = seen_slug.setdefault(spec.slug, spec)
        if first is not spec:
            message = f"duplicate slug {spec.slug!r}, already used by {first.source}"
            errors.append(docs[spec.source].error(("slug",), message))
        for name, other in clashes(spec, specs[:index])[:1]:  # the first clash implies the names below it
            errors.append(docs[spec.source].error((name_field(spec, name),), name_clash_message(name, other)))
    return errors


def name_field(spec: TenantSpec, name: str) -> str:
    """The field of ``spec`` that produces host name ``name`` (its label, or its server count)."""
    if name != spec.host_label:
        return "servers"
    return "hostname" if spec.hostname else "slug"


def name_clash_message(name: str, other: TenantSpec) -> str:
    """Why a host name is refused: which tenant holds it."""
    where = other.source or f"tenant {other.slug!r}"
    return f"host name {name!r} already used by {where}; allowed: a hostname no other tenant uses"
