"""One run at a time per tenant stack among our own processes: cloudctl, service workers and recovery.

The engine's own lock exists only while a CLI command runs, so it cannot cover crash recovery, which
reads the state, waits on Proxmox tasks and deletes VMs between commands. Every run and every
recovery of a stack therefore holds this lock first: an exclusive ``flock`` on a file beside the
state (a file backend's directory, else ``.state/``). The kernel drops it when its holder dies, so a
killed worker never leaves it behind. Service workers on other hosts are kept apart by the queue's
per-tenant lease as well.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provisioning.toolchain import STATE_DIR, backend_url

LOCK_WAIT_SECONDS = 60.0
"""How long a run waits for another of our runs of the same stack before giving up (transiently)."""
_held = threading.local()


class StackBusy(RuntimeError):
    """Another of our processes is running or recovering this stack."""


def lock_path(stack_name: str) -> Path:
    """The lock file of ``stack_name``."""
    url = backend_url()
    root = Path(url[len("file://") :]) if url.startswith("file://") else STATE_DIR
    return root / ".dokploy-cloud-run-locks" / f"{stack_name}.lock"


@contextmanager
def stack_run_lock(
    stack_name: str, wait: float = LOCK_WAIT_SECONDS, cancel: threading.Event | None = None
) -> Iterator[None]:
    """Hold the stack's run lock (re-entrant within a thread); raise :class:`StackBusy` after ``wait``."""
    held: set[str] = getattr(_held, "names", set())
    _held.names = held
    if stack_name in held:
        yield
        return
    path = lock_path(stack_name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
                    raise StackBusy(
                        f"stack {stack_name} is being run or recovered by another process "
                        f"(cloudctl or a service worker; lock {path}); try again when it ends"
                    ) from None
                time.sleep(0.2)
        held.add(stack_name)
        try:
            yield
        finally:
            held.discard(stack_name)
            fcntl.flock(handle, fcntl.LOCK_UN)
