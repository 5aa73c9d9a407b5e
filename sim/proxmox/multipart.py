"""``multipart/form-data`` bodies, as pveproxy accepts them on upload URLs only: plain fields become
parameters; the file part is spooled, its client-side name becomes the parameter and its location
``tmpfilename`` (pveproxy needs each part's ``Content-Type``: Proxmox bug 4344)."""

from __future__ import annotations

import email.parser
import email.policy
import secrets
from dataclasses import dataclass

from . import exceptions as E

MAX_UPLOAD = 64 * 1024 * 1024
"""Largest upload the simulator accepts (pveproxy streams to disk; the simulator keeps it in memory)."""


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the client gave it and its bytes."""

    filename: str
    data: bytes


def parse(content_type: str, body: bytes) -> tuple[list[tuple[str, str]], dict[str, Upload]]:
    """(form fields, {tmpfilename: upload}) of a multipart body."""
    if "boundary=" not in content_type:
        raise E.PveError("multipart body without boundary", status=400)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise E.PveError("unable to parse multipart body", status=400)
    fields: list[tuple[str, str]] = []
    uploads: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise E.PveError("multipart part without a name", status=400)
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields.append((name, data.decode("utf-8", "replace")))
            continue
        if part.get("content-type") is None:
            raise E.PveError("file upload part needs a Content-Type", status=400)
        tmp = f"/var/tmp/pveupload-{secrets.token_hex(16)}"
        uploads[tmp] = Upload(filename, data)
        fields += [(name, filename), ("tmpfilename", tmp)]
    return fields, uploads
