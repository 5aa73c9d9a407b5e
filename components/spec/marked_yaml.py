"""YAML loading that remembers the line of every key and value.

PyYAML's composed node tree carries marks; we construct the plain data with the safe
constructor and, alongside, record ``path -> line`` so later checks can point at lines.
Duplicate mapping keys are reported, because PyYAML silently keeps the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from components.spec.errors import SpecError, field_path

Path = tuple[str | int, ...]


@dataclass
class MarkedDocument:
    """Parsed YAML data plus the 1-based line of each path (keys and sequence items)."""

    source: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """Line of ``path`` or of its nearest recorded ancestor; ``None`` for line-less data."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path, message: str) -> SpecError:
        """A :class:`SpecError` located at ``path``."""
        return SpecError(self.source, self.line_of(path), field_path(path), message)


def load_marked(text: str, source: str) -> tuple[MarkedDocument | None, list[SpecError]]:
    """Parse one YAML document; malformed YAML becomes a SpecError with its line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return MarkedDocument(source, None, {(): 1}), []
        doc = MarkedDocument(source, loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [SpecError(source, line, "(document)", f"malformed YAML: {problem}")]
    except yaml.YAMLError as exc:
        return None, [SpecError(source, 1, "(document)", f"malformed YAML: {exc}")]
    finally:
        loader.dispose()
    errors: list[SpecError] = []
    _record(node, (), doc, errors)
    return doc, errors


def _record(node: yaml.Node, path: Path, doc: MarkedDocument, errors: list[SpecError]) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                errors.append(
                    SpecError(
                        doc.source,
                        key_node.start_mark.line + 1,
                        field_path(child),
                        "duplicate key; each field may appear only once",
                    )
                )
                continue
            seen.add(key)
            doc.lines[child] = key_node.start_mark.line + 1
            _record(value_node, child, doc, errors)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), doc, errors)
