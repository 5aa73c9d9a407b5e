#!/usr/bin/env python3
"""Check that a bridged plugin's schema covers what the installed Python SDK uses.

The Python SDKs (pulumi_proxmoxve, pulumi_random) hard-code the type tokens, the
provider config keys and the property names they send to the resource plugin. Our
plugins compute their own token mapping, so this script compares the SDK sources
with the schema embedded in the plugin binary:

  * every resource token (pulumi.CustomResource subclasses) and function token
    (pulumi.runtime.invoke) in the SDK must exist in the schema;
  * every provider config key the SDK reads must be a schema config variable;
  * every property getter of a resource / function result class must be a property
    of that resource / function in the schema (and vice versa, reported separately).

Usage:
  check_sdk_tokens.py --sdk pulumi_proxmoxve --binary .tools/plugins/proxmoxve-8.3.0/pulumi-resource-proxmoxve
  check_sdk_tokens.py --sdk pulumi_random --schema path/to/schema.json

Exit status 0 when nothing the SDK needs is missing; 1 otherwise. Schema items the
SDK does not know about are listed as "extra" and do not fail the check.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import re
import subprocess
import sys

RESOURCE_RE = re.compile(r"__init__\(\s*'([^']+)',\s*resource_name")
INVOKE_RE = re.compile(r"runtime\.invoke(?:_output)?\(\s*'([^']+)'")
CALL_RE = re.compile(r"runtime\.call\(\s*'([^']+)'")
CONFIG_RE = re.compile(r"__config__\.get(?:_bool|_int|_float|_object)?\('([^']+)'\)")
GETTER_RE = re.compile(r"@pulumi\.getter(?:\(name=\"([^\"]+)\"\))?\s*\n")
DEF_RE = re.compile(r"^\s*def (\w+)\(", re.M)
CLASS_RE = re.compile(r"^class (\w+)\s*[(:]", re.M)


def sdk_dir(package: str) -> pathlib.Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"check_sdk_tokens: Python package {package!r} is not installed in this interpreter")
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


def class_getters(source: str) -> dict[str, set[str]]:
    """Map each top-level class in a module to the Pulumi property names of its getters."""
    out: dict[str, set[str]] = {}
    starts = [(m.start(), m.group(1)) for m in CLASS_RE.finditer(source)]
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(source)
        body = source[start:end]
        names = set()
        for m in GETTER_RE.finditer(body):
            # Other decorators (e.g. deprecation notices) may sit between getter and def.
            d = DEF_RE.search(body, m.end())
            if d:
                names.add(m.group(1) or d.group(1))
        out[name] = names
    return out


def schema_props(obj: dict) -> set[str]:
    return set((obj or {}).get("properties", {}) or {})


def load_schema(args) -> dict:
    if args.schema:
        return json.loads(pathlib.Path(args.schema).read_text())
    out = subprocess.run([args.binary, "--dump-schema"], check=True, capture_output=True)
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sdk", required=True, help="Python package name, e.g. pulumi_proxmoxve")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--binary", help="plugin binary (its --dump-schema output is used)")
    src.add_argument("--schema", help="schema.json file")
    ap.add_argument("--show-extra", action="store_true", help="list schema items unknown to the SDK")
    args = ap.parse_args()

    schema = load_schema(args)
    root = sdk_dir(args.sdk)
    pkg = schema.get("name")
    if not isinstance(pkg, str):
        sys.exit("the schema names no package ('name')")
    resources = schema.get("resources", {})
    functions = schema.get("functions", {})
    config_vars = set(schema.get("config", {}).get("variables", {}) or {})

    missing: list[str] = []
    prop_missing: list[str] = []
    prop_extra: list[str] = []
    known: list[str] = []
    sdk_resources: set[str] = set()
    sdk_functions: set[str] = set()

    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        text = path.read_text()
        getters = class_getters(text)
        for tok in RESOURCE_RE.findall(text):
            if tok == pkg:  # the provider resource itself
                continue
            sdk_resources.add(tok)
            spec = resources.get(tok)
            if spec is None:
                missing.append(f"resource {tok} ({rel})")
                continue
            cls = tok.rsplit(":", 1)[1]
            sdk_props = getters.get(cls, set()) | getters.get(cls + "Args", set())
            ours = schema_props({"properties": spec.get("properties")}) | set(spec.get("inputProperties", {}) or {})
            for p in sorted(sdk_props - ours):
                prop_missing.append(f"{tok}: property {p!r} used by the SDK is not in our schema")
            for p in sorted(ours - sdk_props):
                prop_extra.append(f"{tok}: property {p!r} is in our schema but not in the SDK")
        for tok in set(INVOKE_RE.findall(text)):
            sdk_functions.add(tok)
            spec = functions.get(tok)
            if spec is None:
                missing.append(f"function {tok} ({rel})")
                continue
            name = tok.rsplit(":", 1)[1]
            result_cls = name[0].upper() + name[1:] + "Result"
            sdk_props = getters.get(result_cls, set())
            ours = schema_props(spec.get("outputs"))
            if "id" in sdk_props - ours:
                # Bridges before v3.135 advertised a synthetic "id" result for every data source,
                # but plugin-framework data sources never return one (it was always None in the
                # SDK); newer bridges leave it out of the schema.
                known.append(f"{tok}: result property 'id' (never returned by a plugin-framework data source)")
                sdk_props = sdk_props - {"id"}
            for p in sorted(sdk_props - ours):
                prop_missing.append(f"{tok}: result property {p!r} used by the SDK is not in our schema")
            for p in sorted(ours - sdk_props):
                prop_extra.append(f"{tok}: result property {p!r} is in our schema but not in the SDK")
        for tok in set(CALL_RE.findall(text)):
            if tok == "pulumi:providers:" + pkg + "/terraformConfig":
                continue  # served by the bridge itself, not part of the schema's functions
            if tok not in functions and not tok.startswith("pulumi:providers:"):
                missing.append(f"method {tok} ({rel})")
        if rel.parts[:1] == ("config",):
            for key in CONFIG_RE.findall(text):
                if key not in config_vars:
                    missing.append(f"config key {pkg}:{key} ({rel})")

    # Nested object types carry no tokens in the Python SDK; compare their property names in bulk.
    nested_sdk: set[str] = set()
    for path in list(root.rglob("_inputs.py")) + list(root.rglob("outputs.py")):
        for names in class_getters(path.read_text()).values():
            nested_sdk |= names
    nested_ours: set[str] = set()
    for spec in schema.get("types", {}).values():
        nested_ours |= schema_props(spec)
    for p in sorted(nested_sdk - nested_ours):
        prop_missing.append(f"nested types: property {p!r} used by the SDK appears in none of our schema types")

    extra_tokens = sorted(set(resources) - sdk_resources) + sorted(set(functions) - sdk_functions)

    print(
        f"{args.sdk}: {len(sdk_resources)} resources and {len(sdk_functions)} functions in the SDK; "
        f"{len(resources)} resources and {len(functions)} functions in our schema"
    )
    for line in missing:
        print("MISSING", line)
    for line in prop_missing:
        print("MISMATCH", line)
    if args.show_extra:
        for line in known:
            print("KNOWN", line)
        for tok in extra_tokens:
            print("EXTRA token", tok)
        for line in prop_extra:
            print("EXTRA", line)
    else:
        print(
            f"({len(extra_tokens)} extra tokens, {len(prop_extra)} extra properties and {len(known)} known "
            "harmless differences; --show-extra lists them)"
        )
    failed = bool(missing or prop_missing)
    print(
        "token check:",
        "FAILED" if failed else "OK",
        f"({len(missing)} missing tokens/config keys, {len(prop_missing)} property mismatches)",
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
