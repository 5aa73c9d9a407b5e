"""A worker process on the fake engine, for kill tests: ``python -m tests.service.worker_proc ID ENGINE_DIR STEP``.

Settings come from the environment exactly as for ``python -m service``.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from service.queue import open_queue
from service.settings import load_settings
from service.worker import Worker, WorkerOptions
from tests.service.fakes import FakeEngine


def main(argv: list[str]) -> None:
    """Run one worker until killed."""
    worker_id, engine_dir, step = argv[0], Path(argv[1]), float(argv[2])
    settings = load_settings()
    options = WorkerOptions(settings.lease_seconds, settings.retry_base_seconds, settings.poll_seconds)
    engine = FakeEngine(engine_dir, step_seconds=step, env_name=settings.env_name)
    Worker(open_queue(settings.database_url), engine, options, worker_id=worker_id).run_forever(threading.Event())


if __name__ == "__main__":
    main(sys.argv[1:])
