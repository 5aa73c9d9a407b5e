"""Hypothesis strategies shared by the test suites (tenant specs, plans, DNS records)."""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import strategies as st

from components.spec.schema import TENANT_FIELDS_ORDER

_LDH = "abcdefghijklmnopqrstuvwxyz0123456789"

dns_labels = st.builds(
    lambda first, middle, last: first + middle + last if middle or last else first,
    st.sampled_from(_LDH),
    st.text(alphabet=_LDH + "-", max_size=20),
    st.one_of(st.just(""), st.sampled_from(_LDH)),
).filter(lambda s: not s.endswith("-") and len(s) <= 63)

plan_names = st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True)
org_ids = st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True)
emails = st.builds(
    lambda user, host, tld: f"{user}@{host}.{tld}",
    st.from_regex(r"[a-z0-9][a-z0-9.+_-]{0,15}", fullmatch=True),
    dns_labels,
    st.sampled_from(["example", "test", "com", "io"]),
)
display_names = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cs", "Cc")), min_size=1, max_size=60
).filter(lambda s: s.strip() == s and s != "")


@functools.cache
def _key_pool() -> tuple[str, ...]:
    keys = [ed25519.Ed25519PrivateKey.generate() for _ in range(3)] + [ec.generate_private_key(ec.SECP256R1())]
    fmt = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return tuple(k.public_key().public_bytes(*fmt).decode() for k in keys)


ssh_keys = st.builds(
    lambda i, comment: _key_pool()[i] + (f" {comment}" if comment else ""),
    st.integers(0, 3),
    st.one_of(st.just(""), st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}", fullmatch=True)),
)


@st.composite
def plans_config(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """A valid ``plans`` mapping as it appears in configuration."""
    names = draw(st.lists(plan_names, min_size=1, max_size=4, unique=True))
    return {name: draw(plan_fields()) for name in names}


@st.composite
def plan_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Valid fields of one plan (optional ones sometimes omitted)."""
    fields: dict[str, Any] = {
        "cores": draw(st.integers(1, 64)),
        "memory_mb": draw(st.integers(512, 262144)),
        "disk_gb": draw(st.integers(8, 4096)),
        "max_servers": draw(st.integers(1, 100)),
    }
    if draw(st.booleans()):
        fields["backups"] = draw(
            st.one_of(
                st.just(False),
                st.fixed_dictionaries(
                    {
                        "schedule": st.sampled_from(["02:00", "daily", "mon..fri 21:30", "*/30"]),
                        "storage": st.sampled_from(["nfs-backup", "pbs"]),
                        "keep": st.dictionaries(
                            st.sampled_from(["last", "hourly", "daily", "weekly", "monthly", "yearly"]),
                            st.integers(1, 10000),
                            min_size=1,
                        ),
                    },
                    optional={"mode": st.sampled_from(["snapshot", "suspend", "stop"])},
                ),
            )
        )
    return fields


@st.composite
def tenant_documents(draw: st.DrawFn, plans: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A valid tenant document (plain dict) whose plan is one of ``plans``."""
    plan = draw(st.sampled_from(sorted(plans)))
    doc: dict[str, Any] = {
        "slug": draw(dns_labels),
        "display_name": draw(display_names),
        "plan": plan,
        "region": draw(dns_labels),
        "dokploy_organization": draw(org_ids),
        "owner": draw(emails),
    }
    keys = draw(st.lists(ssh_keys, max_size=3, unique=True))
    if keys:
        doc["extra_ssh_keys"] = keys
    if draw(st.booleans()):
        doc["hostname"] = draw(dns_labels)
    if draw(st.booleans()):
        doc["servers"] = draw(st.integers(1, plans[plan]["max_servers"]))
    return doc


junk_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 500),
    st.text(max_size=12),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with one random mutation: a field removed, replaced with junk, or an unknown field added."""
    out = dict(doc)
    action = draw(st.sampled_from(["delete", "replace", "add"]))
    if action == "delete":
        del out[draw(st.sampled_from(sorted(out)))]
    elif action == "replace":
        out[draw(st.sampled_from(TENANT_FIELDS_ORDER))] = draw(junk_values)
    else:
        out[draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True))] = draw(junk_values)
    return out


# --- DNS records (providers/dns_record.py) ---------------------------------------------

zones = st.lists(dns_labels, min_size=1, max_size=3).map(lambda labels: ".".join(labels) + ".")


@st.composite
def dns_record_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid DnsRecord inputs in assorted spellings (relative or FQDN names, single or list content)."""
    zone = draw(zones)
    relative = draw(dns_labels)
    name = draw(st.sampled_from([relative, f"{relative}.{zone}", relative.upper()]))
    rtype = draw(st.sampled_from(["A", "AAAA", "CNAME", "a"]))
    if rtype.upper() == "A":
        values = draw(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=3))
    elif rtype == "AAAA":
        values = draw(st.lists(st.ip_addresses(v=6).map(lambda a: a.exploded), min_size=1, max_size=3))
    else:
        values = [draw(zones)]
    content: Any = values[0] if len(values) == 1 and draw(st.booleans()) else values
    inputs: dict[str, Any] = {
        "zone": zone.rstrip(".") if draw(st.booleans()) else zone,
        "name": name,
        "type": rtype,
        "content": content,
    }
    if draw(st.booleans()):
        inputs["ttl"] = draw(st.integers(60, 86400))
    return inputs


@st.composite
def raw_record_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid inputs with any field possibly replaced by junk."""
    inputs = draw(dns_record_inputs())
    for key in draw(st.lists(st.sampled_from(["zone", "name", "type", "content", "ttl"]), max_size=3)):
        inputs[key] = draw(st.one_of(junk_values, st.text(alphabet="abc.-:0123456789", max_size=20)))
    return inputs
