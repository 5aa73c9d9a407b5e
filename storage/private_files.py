"""Directories and SQLite files that hold secrets or customer data: owner-only (0700 / 0600) whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; an existing ``path`` is tightened to 0700.

    Parents that already exist (``/tmp``, the project) are left as they are.
    """
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def private_sqlite(path: str | Path) -> Path:
    """Make sure the SQLite file ``path`` exists with mode 0600 in a 0700 directory, before SQLite opens it.

    SQLite gives new ``-wal``/``-shm``/``-journal`` files the database file's mode; ones left by an
    older version are tightened here too.
    """
    path = Path(path)
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for sibling in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if sibling.exists():
            os.chmod(sibling, FILE_MODE)
    return path
