"""One throwaway PostgreSQL cluster for the whole test session; each test or module makes its own database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.pg import Cluster, pg_bin


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's PostgreSQL cluster (``create_database`` gives each user a fresh database)."""
    if pg_bin() is None:
        pytest.fail("PostgreSQL is not installed: run scripts/install_queue_backend.sh")
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.stop()
