"""The pack's config file is written by every preview and up; a worker's threads write it at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from components.environment import load_environment
from policies.config import policy_config
from policies.runtime import write_policy_config
from provisioning.toolchain import PROJECT_DIR


def test_concurrent_writers_of_a_fresh_directory_all_get_the_config(tmp_path: Path) -> None:
    env = load_environment(PROJECT_DIR, "local")
    writers, start = 16, threading.Barrier(16)
    paths: list[Path] = []
    errors: list[BaseException] = []

    def write(directory: Path) -> None:
        start.wait()
        try:
            paths.append(write_policy_config(env, directory))
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    for round_ in range(20):  # the race needs writers to meet between the existence check and the rename
        directory = tmp_path / f"round-{round_}"
        threads = [threading.Thread(target=write, args=(directory,)) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], errors
        assert [p.name for p in directory.iterdir()] == [paths[-1].name], "a temporary file was left behind"
    assert len(set(paths)) == 20
    assert json.loads(paths[-1].read_text()) == policy_config(env)
