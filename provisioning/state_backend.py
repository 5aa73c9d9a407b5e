"""What the Pulumi state backend holds beyond the CLI's reach: the lock records of a stack's running update.

The CLI (3.260) writes one lock record per running update and removes it when the update ends; a
killed update leaves it behind. ``pulumi`` has no command that lists them, so recovery and the
allocation sweep read them here, per backend:

- ``file://<dir>``: ``<dir>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json``.

Any other backend yields no records (its locks are not visible to us), which callers must treat as
"cannot tell", never as "unlocked", when that matters.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provisioning.toolchain import backend_url


def readable_locks(url: str | None = None) -> bool:
    """Whether :func:`lock_records` can see locks on this backend."""
    return (url or backend_url()).startswith("file://")


def lock_records(project: str, stack: str, url: str | None = None) -> list[dict[str, Any]]:
    """The lock records (``pid``, ``hostname``, ``timestamp``...) held on ``stack`` of ``project``."""
    url = url or backend_url()
    if url.startswith("file://"):
        return [_read_json(p) for p in _lock_files(Path(url[len("file://"):]), project, stack)]
    return []


def _lock_files(root: Path, project: str, stack: str) -> list[Path]:
    directory = root / ".pulumi" / "locks" / "organization" / project / stack.split("/")[-1]
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # written or removed while we read: still a lock
    return data if isinstance(data, dict) else {}
