"""A minimal dynamic provider that manages one file on disk (test fixture for the engine)."""

from __future__ import annotations

import os
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult


class MarkerProvider(ResourceProvider):
    """Writes `content` to `path`; replacing the path replaces the resource."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        with open(props["path"], "w", encoding="utf-8") as handle:
            handle.write(props["content"])
        return CreateResult(id_=props["path"], outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in ("path", "content") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k == "path"])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with open(news["path"], "w", encoding="utf-8") as handle:
            handle.write(news["content"])
        return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not os.path.exists(id_):
            return ReadResult(id_="", outs={})
        with open(id_, encoding="utf-8") as handle:
            return ReadResult(id_=id_, outs={**props, "content": handle.read()})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        if os.path.exists(id_):
            os.remove(id_)


class MarkerFile(Resource, module="smoke", name="MarkerFile"):
    """A file whose content is managed by the engine."""

    path: pulumi.Output[str]
    content: pulumi.Output[str]

    def __init__(
        self, name: str, path: pulumi.Input[str], content: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(MarkerProvider(), name, {"path": path, "content": content}, opts)
