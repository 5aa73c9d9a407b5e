"""``python -m components.control_plane render [ENV...]``: write the rendered files kept in the repo."""

from __future__ import annotations

import sys
from pathlib import Path

from components.control_plane.declaration import load_control_plane
from components.control_plane.render import render
from components.spec.errors import SpecErrors

PROJECT_DIR = Path(__file__).resolve().parents[2]
RENDERED_DIR = Path(__file__).resolve().parent / "rendered"
ENVIRONMENTS = ("local", "prod")


def write_rendered(env_name: str, out_dir: Path = RENDERED_DIR) -> list[Path]:
    """Render ``env_name``'s control plane into ``out_dir/<env>/``; return the files written."""
    target = out_dir / env_name
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render(load_control_plane(PROJECT_DIR, env_name)).items():
        (target / name).write_text(text, encoding="utf-8")
        written.append(target / name)
    return written


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "render":
        print("usage: python -m components.control_plane render [ENV...]", file=sys.stderr)
        return 2
    try:
        for env_name in argv[1:] or ENVIRONMENTS:
            for path in write_rendered(env_name):
                print(path.relative_to(PROJECT_DIR))
    except SpecErrors as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
