"""``python -m service [--api-only | --workers-only]``: the API and ``SERVICE_CONCURRENCY`` workers.

Settings come from the environment (see service/settings.py). With PostgreSQL, run the API on one
machine and ``--workers-only`` on others, with allocations and Pulumi state in PostgreSQL too
(docs/scale-out.md); with SQLite keep every process on one machine.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

import uvicorn

from components.environment import load_environment
from components.naming import ALLOCATIONS_DB_VAR
from components.spec import SpecErrors
from provisioning.runner import CrashSafeRunner
from provisioning.stacks import TenantStacks
from provisioning.tenant_backups import TenantBackups
from provisioning.toolchain import PROJECT_DIR, backend_url
from service.api.app import create_app
from service.api.context import ServiceContext
from service.archive_purger import start_archive_purger
from service.audit_pruner import start_audit_pruner
from service.key_rotation import start_key_rotation
from service.key_sweeper import start_key_sweeper
from service.logs import configure_logging
from service.metrics import Metrics, count_recovery
from service.namespace import pin_existing_hostnames
from service.queue import open_queue
from service.reconciler import start_reconciler
from service.settings import Settings, SettingsError, load_settings
from service.warm_keeper import start_warm_keeper
from service.worker import Worker, WorkerOptions

log = logging.getLogger("service")


def start_workers(settings: Settings, metrics: Metrics, stop: threading.Event) -> list[threading.Thread]:
    """Start ``settings.concurrency`` worker threads applying stacks with the real engine, and the key sweeper."""
    allocations = {ALLOCATIONS_DB_VAR: settings.allocations_db} if settings.allocations_db else {}
    runner = CrashSafeRunner(
        TenantStacks(settings.env_name, extra_env=allocations), on_recovery=lambda r: count_recovery(metrics, r)
    )
    options = WorkerOptions(settings.lease_seconds, settings.retry_base_seconds, settings.poll_seconds)
    queue = open_queue(settings.database_url)
    threads = []
    backups = TenantBackups(runner.stacks)
    for _ in range(settings.concurrency):
        worker = Worker(queue, runner, options, metrics, backups=backups)
        thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)
    threads.append(start_key_sweeper(runner.stacks, settings.key_sweep_seconds, stop))
    threads.append(start_archive_purger(backups, settings.archive_purge_seconds, stop))
    threads.append(start_audit_pruner(runner.stacks, settings.audit_retention_days, stop))
    threads.append(
        start_key_rotation(
            queue,
            runner.stacks,
            settings.key_max_age_days,
            settings.max_attempts,
            settings.key_rotation_check_seconds,
            stop,
        )
    )
    keeper = start_warm_keeper(runner.stacks, settings.warm_pool_seconds, stop)
    if keeper is not None:
        threads.append(keeper)
    threads.append(
        start_reconciler(
            runner.stacks, settings.git_tenants_dir, settings.database_url, settings.reconcile_seconds, stop
        )
    )
    return threads


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted; 2 on bad settings."""
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--api-only", action="store_true", help="serve the API, run no workers")
    mode.add_argument("--workers-only", action="store_true", help="run workers, serve no API")
    args = parser.parse_args(argv)
    configure_logging("service")
    try:
        settings = load_settings()
        environment = load_environment(PROJECT_DIR, settings.env_name)
        queue = open_queue(settings.database_url)
        for slug in pin_existing_hostnames(queue, environment):  # before any run or billing change re-declares them
            log.info("tenant %s keeps its numbered host names (hostname_scheme: numbered)", slug)
        metrics = Metrics(queue)
        # Built before any worker starts, so a bad billing or payment-gate setting stops start-up cleanly.
        allocations = {ALLOCATIONS_DB_VAR: settings.allocations_db} if settings.allocations_db else {}
        backups = TenantBackups(TenantStacks(settings.env_name, extra_env=allocations))
        context = ServiceContext(settings, queue, environment, metrics, backups=backups)
        app = None if args.workers_only else create_app(context)
    except (SettingsError, SpecErrors) as exc:
        print(f"python -m service: {exc}", file=sys.stderr)
        return 2
    if settings.database_url.startswith(("postgresql://", "postgres://")) and backend_url().startswith("file://"):
        log.warning(
            "the queue is PostgreSQL but the Pulumi state is a file:// backend: workers on other hosts "
            "cannot see this host's stacks; use a shared backend (docs/scale-out.md)"
        )
    stop = threading.Event()
    threads = [] if args.api_only else start_workers(settings, metrics, stop)
    log.info("service starting: %r", settings)
    try:
        if app is None:
            stop.wait()
        else:
            config = uvicorn.Config(
                app, host=settings.host, port=settings.port, log_level="info", log_config=None, access_log=False
            )
            uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for thread in threads:  # a run still going is abandoned; its lease lapses and another worker resumes it
            thread.join(timeout=settings.lease_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
