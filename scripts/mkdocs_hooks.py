"""MkDocs hooks: add the configuration reference, generated from the schemas, to the site at build time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # mkdocs loads hooks by path; the project's packages must import
    sys.path.insert(0, str(_ROOT))

from mkdocs.structure.files import File, Files  # noqa: E402

from scripts.gen_config_reference import pages  # noqa: E402


def on_files(files: Files, config: Any) -> Files:
    """Add each generated reference page as a file of the site (nothing is written to ``docs/``)."""
    for rel, text in pages().items():
        files.append(File.generated(config, rel, content=text))
    return files
