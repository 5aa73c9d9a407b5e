"""Tenant declarations on disk: ``<tenants_dir>/<slug>.yaml``, written atomically, removed on decommission."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from storage.private_files import private_dir


def declaration_path(tenants_dir: Path, slug: str) -> Path:
    """Where ``slug``'s declaration lives."""
    return tenants_dir / f"{slug}.yaml"


def write_declaration(tenants_dir: Path, slug: str, text: str) -> Path:
    """Write ``text`` as the declaration of ``slug`` (temp file, fsync, rename): readers never see half a file."""
    private_dir(tenants_dir)  # declarations hold customer contact data
    target = declaration_path(tenants_dir, slug)
    fd, tmp = tempfile.mkstemp(prefix=f".{slug}.", suffix=".tmp", dir=tenants_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def remove_declaration(tenants_dir: Path, slug: str) -> None:
    """Remove ``slug``'s declaration; already gone is fine."""
    declaration_path(tenants_dir, slug).unlink(missing_ok=True)
