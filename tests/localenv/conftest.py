"""The demo and cloudctl set process-wide variables (backend, allocation store) as they do when run as
commands; here they run inside the test process, so each test gets its environment back afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restored_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
