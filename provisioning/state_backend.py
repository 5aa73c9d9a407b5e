"""What the Pulumi state backend holds, read without the CLI: a stack's lock records and its checkpoint.

The CLI (3.260) writes one lock record per running update and removes it when the update ends; a
killed update leaves it behind. ``pulumi`` has no command that lists them, so recovery and the
allocation sweep read them here, per backend:

- ``file://<dir>``: ``<dir>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json``.
- ``postgres://…[?table=T]`` (the CLI's PostgreSQL DIY backend, for workers on several hosts): rows of
  table ``T`` (default ``pulumi_state``) keyed by ``<database>/`` and that same path, the record base64
  in ``data->>'data'``.

Any other backend (S3, Pulumi Cloud) yields no records (its locks are not visible to us), which callers must treat as
"cannot tell", never as "unlocked", when that matters.

The checkpoint (``.pulumi/stacks/<project>/<stack>.json``, the same key on PostgreSQL) is read directly too, so
that crash recovery finds out whether a run left pending operations without starting the CLI twice
(``stack select``, ``stack export``) before every run. Its ``checkpoint.latest`` is exactly the ``deployment`` that
``pulumi stack export`` prints (secret values stay encrypted); other backends answer through the CLI.
"""

from __future__ import annotations

import base64
import gzip
import json
import urllib.parse
from pathlib import Path
from typing import Any

from provisioning.toolchain import backend_url

LOCKS = ".pulumi/locks/organization"
POSTGRES = "postgres://"
CONNECT_TIMEOUT_SECONDS = 5


def readable_locks(url: str | None = None) -> bool:
    """Whether :func:`lock_records` can see locks on this backend."""
    return (url or backend_url()).startswith(("file://", POSTGRES))


def lock_records(project: str, stack: str, url: str | None = None) -> list[dict[str, Any]]:
    """The lock records (``pid``, ``hostname``, ``timestamp``...) held on ``stack`` of ``project``."""
    url = url or backend_url()
    if url.startswith("file://"):
        return [_read_json(p) for p in _lock_files(Path(url[len("file://") :]), project, stack)]
    if url.startswith(POSTGRES):
        return _postgres_locks(url, f"{LOCKS}/{project}/{stack.split('/')[-1]}/")
    return []


def readable_checkpoints(url: str | None = None) -> bool:
    """Whether :func:`stack_deployment` can read checkpoints on this backend."""
    return readable_locks(url)


class CheckpointUnreadable(RuntimeError):
    """This backend's checkpoints are not readable without the CLI (see :func:`readable_checkpoints`)."""


def stack_deployment(project: str, stack: str, url: str | None = None) -> dict[str, Any] | None:
    """``stack``'s latest deployment (``pulumi stack export``'s ``deployment``); None when it has no checkpoint.

    A stack that was initialised but never updated has a deployment without resources.
    """
    url = url or backend_url()
    name = stack.split("/")[-1]
    if url.startswith("file://"):
        directory = Path(url[len("file://") :]) / ".pulumi" / "stacks" / project
        for path, opener in ((directory / f"{name}.json", open), (directory / f"{name}.json.gz", gzip.open)):
            try:
                with opener(path, "rt", encoding="utf-8") as file:
                    return _latest(json.load(file))
            except FileNotFoundError:
                continue
        return None
    if url.startswith(POSTGRES):
        rows = _postgres_rows(url, f".pulumi/stacks/{project}/{name}.json")
        blob = next((data for key, data in rows if key.endswith(f"/{name}.json") or key == f"{name}.json"), None)
        if blob is None:
            return None
        raw = base64.b64decode(blob or "")
        return _latest(json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw))
    raise CheckpointUnreadable(f"checkpoints on {url.split(':', 1)[0]}:// are read through the CLI")


def _latest(checkpoint: Any) -> dict[str, Any]:
    latest = (checkpoint.get("checkpoint") or {}).get("latest") if isinstance(checkpoint, dict) else None
    return latest if isinstance(latest, dict) else {}


def _postgres_locks(url: str, prefix: str) -> list[dict[str, Any]]:
    return [_decode(data) for _, data in _postgres_rows(url, prefix)]


def _postgres_rows(url: str, prefix: str) -> list[tuple[str, str | None]]:
    """``(key, base64 data)`` of the backend table's rows whose key starts with ``prefix`` (under the database)."""
    import psycopg  # only where this backend is used
    from psycopg import sql

    parts = urllib.parse.urlsplit(url)
    root = parts.path.strip("/")  # the CLI keys every blob under the URL's path (the database name)
    prefix = f"{root}/{prefix}" if root else prefix
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    table = next((v for k, v in query if k == "table"), "pulumi_state")
    dsn = urllib.parse.urlunsplit(
        parts._replace(query=urllib.parse.urlencode([(k, v) for k, v in query if k != "table"]))
    )
    try:
        with psycopg.connect(
            dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True, options="-c statement_timeout=15000"
        ) as conn:
            rows = conn.execute(
                sql.SQL("SELECT key, data->>'data' FROM {} WHERE starts_with(key, %s) ORDER BY key").format(
                    sql.Identifier(table)
                ),
                (prefix,),
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        return []  # the CLI creates the table on first use: no stack, no lock
    except psycopg.OperationalError:
        raise ConnectionError(
            "cannot read the stack state database (PULUMI_BACKEND_URL): "
            "check that PostgreSQL is up and the URL's host, port and user"
        ) from None
    return [(str(key), data) for key, data in rows]


def _decode(data: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(base64.b64decode(data or ""))
    except ValueError:
        return {}  # unreadable, but still a lock
    return parsed if isinstance(parsed, dict) else {}


def _lock_files(root: Path, project: str, stack: str) -> list[Path]:
    directory = root / ".pulumi" / "locks" / "organization" / project / stack.split("/")[-1]
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # written or removed while we read: still a lock
    return data if isinstance(data, dict) else {}


def torn_attributes(project: str, stack: str, url: str | None = None) -> list[Path]:
    """Checkpoint attribute files of ``stack`` on a file backend that are not JSON (empty: torn).

    The file backend (gocloud ``fileblob``) renames a checkpoint into place atomically but writes its
    ``.attrs`` sidecar in place; a process killed in between leaves an empty sidecar and every later
    command fails with "failed to load checkpoint: EOF". The checkpoint itself is whole, and fileblob
    reads a missing sidecar as "no attributes", so removing a torn one is the repair.
    """
    url = url or backend_url()
    if not url.startswith("file://"):
        return []
    directory = Path(url[len("file://") :]) / ".pulumi" / "stacks" / project
    name = stack.split("/")[-1]
    torn = []
    for path in sorted(directory.glob(f"{name}.json*.attrs")) if directory.is_dir() else []:
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            torn.append(path)
        except OSError:
            continue
    return torn


def may_have_checkpoint(project: str, stack: str, url: str | None = None) -> bool:
    """False only when a file backend certainly holds no checkpoint of ``stack`` (a stack never created);
    True otherwise, including every backend whose files we cannot see."""
    url = url or backend_url()
    if not url.startswith("file://"):
        return True
    directory = Path(url[len("file://") :]) / ".pulumi" / "stacks" / project
    name = stack.split("/")[-1]
    return any(directory.glob(f"{name}.json*")) if directory.is_dir() else False
