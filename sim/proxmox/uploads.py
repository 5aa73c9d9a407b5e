"""``POST /nodes/{node}/storage/{storage}/upload`` (mixed into the Backend), as pve-manager's upload: the
file pveproxy spooled (``tmpfilename``) is copied onto the storage by an ``imgcopy`` task, after its
checksum (when given) is verified; the volume then appears in the storage's content."""

from __future__ import annotations

import hashlib
import re

from . import exceptions as E
from .core import BackendCore

EXTENSIONS = {
    "iso": re.compile(r"[^/]+\.(?:iso|img)$", re.I),
    "vztmpl": re.compile(r"[^/]+\.tar\.(?:gz|xz|zst|bz2)$", re.I),
    "import": re.compile(r"[^/]+\.(?:ova|ovf|qcow2|raw|vmdk)$", re.I),
}
FORMATS = {"iso": "iso", "vztmpl": "tgz"}


class UploadMixin(BackendCore):
    """Uploads of ISO images, container templates and import sources."""

    def upload(
        self,
        node: str,
        sid: str,
        content: str,
        filename: str,
        tmpfilename: str,
        user: str,
        checksum: str | None = None,
        algorithm: str | None = None,
    ) -> str:
        """Start the ``imgcopy`` task; parameter errors fail the call, a checksum mismatch fails the task."""
        with self.lock:
            self.tick()
            self.node(node)
            upload = self.uploads.pop(tmpfilename, None)
            if upload is None:
                raise E.param_error("tmpfilename", "no such uploaded file (upload it in this request)")
            name = re.sub(r"[^a-zA-Z0-9_.\-]", "_", filename.rsplit("/", 1)[-1])
            pattern = EXTENSIONS.get(content)
            if pattern is None:
                raise E.param_error("content", f"upload content type '{content}' not allowed")
            if not pattern.fullmatch(name):
                raise E.param_error("filename", "wrong file extension")
            storage = self.storage(sid, node)
            if content not in storage.content:
                raise E.HandlerError(f"storage '{sid}' does not support '{content}' content")
            if bool(checksum) != bool(algorithm):
                raise E.param_error("checksum", "'checksum' and 'checksum-algorithm' go together")
            volid = f"{sid}:{content}/{name}"
            data = upload.data

            def finish() -> None:
                if checksum and algorithm:
                    got = hashlib.new(algorithm, data).hexdigest()
                    if got != checksum.lower():
                        raise E.HandlerError(f"checksum mismatch: got '{got}' != expect '{checksum}'")
                self.free_volume(volid, node)
                self.alloc_volume(sid, node, volid, len(data), None, content, FORMATS.get(content, "raw"))

            log = [
                f"starting file import from: {tmpfilename}",
                f"target file: {storage.path or '/var/lib/vz'}/{content}/{name}",
                f"file size is: {len(data)}",
            ]
            duration = self.settings.durations.get("imgcopy")
            return self.start_task(node, "imgcopy", "", user, duration, finish, log)
