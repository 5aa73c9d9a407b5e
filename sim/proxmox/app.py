"""The HTTP pipeline, framework-neutral (``dispatch``), and a Starlette adapter.

Order as pveproxy (§2.6): method, auth, CSRF, route, duplicate params, allowtoken, permission
check, node proxy, validation, handler. The reason phrase carries the error's first line.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import exceptions as E
from . import multipart
from .admin import admin
from .backend import Backend
from .faults import Faults
from .perms import check_method
from .responses import Ctx
from .schema import Schema, default_schema, validate
from .urls import PAGED, ROUTES

log = logging.getLogger("sim.proxmox")
PREFIX = "/api2/json"
MAX_BODY = 512 * 1024
BASE_HEADERS = {"Server": "pve-api-daemon/3.0", "Cache-Control": "max-age=0", "Pragma": "no-cache"}


@dataclass
class SimResponse:
    """What to send: status, reason phrase, headers and body; ``drop`` closes the socket."""

    status: int
    reason: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


class Simulator:
    """Backend + schema + faults: everything a transport needs."""

    def __init__(
        self,
        backend: Backend,
        schema: Schema | None = None,
        faults: Faults | None = None,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.schema = schema or default_schema()
        self.faults = faults or Faults()
        self.on_write = on_write
        self.served: Counter[tuple[str, str]] = Counter()
        """(method, schema path) of every request that named a method of the schema, implemented or not."""

    def dispatch(self, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes) -> SimResponse:
        """Answer one request; ``headers`` keys are lower-case."""
        path = urllib.parse.unquote(raw_path)
        if path.startswith("/_sim/"):
            status, data = admin(self, method, path, body)
            return _json(status, "OK" if status < 400 else "Error", data)
        started = time.monotonic()
        try:
            resp = self._api(method, raw_path, query, headers, body)
        except E.PveError as exc:
            resp = _error(exc)
            if exc.status == 401 and self.backend.settings.auth_fail_delay:
                time.sleep(max(0.0, self.backend.settings.auth_fail_delay - (time.monotonic() - started)))
        log.info("%s %s -> %s", method, raw_path, resp.status)
        return resp

    def _api(self, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes) -> SimResponse:
        if method not in ("GET", "POST", "PUT", "DELETE"):
            raise E.NotImplementedPath(f"method '{method}' not available")
        if method in ("GET", "DELETE") and body:
            raise E.NotImplementedPath(f"Unexpected content for method '{method}'")
        uploading = headers.get("content-type", "").startswith("multipart/form-data") and raw_path.endswith("/upload")
        if len(body) > (multipart.MAX_UPLOAD if uploading else MAX_BODY):
            raise E.NotImplementedPath("request too large")
        if not (raw_path == PREFIX or raw_path.startswith(PREFIX + "/")):
            raise E.NotImplementedPath(f"Method '{method} {raw_path}' not implemented")
        segments = [urllib.parse.unquote(s) for s in raw_path[len(PREFIX) :].split("/") if s]
        rel = "/" + "/".join(segments)
        decision = self.faults.decide(method, rel)
        if decision.latency:
            time.sleep(decision.latency)
        if decision.drop:
            return SimResponse(0, "", drop=True)
        if decision.error:
            raise E.PveError(decision.error[1], status=decision.error[0])
        hit = self.schema.lookup(segments)
        info = self.schema.method(hit[0], method) if hit else None
        if info is not None and hit is not None:
            self.served[(method, hit[0])] += 1
        world = bool(info and info.get("permissions", {}).get("user") == "world")
        authid, ticket = ("", False) if world else self._authenticate(method, headers)
        if hit is None or info is None:
            raise E.NotImplementedPath(f"Method '{method} {rel}' not implemented")
        if (method, hit[0]) not in ROUTES and hit[0] != "/access/ticket":
            # PVE checks a method's permissions before it runs: a caller the schema's check refuses gets the 403
            # a real cluster gives, even where the simulator does not implement the method itself.
            refused = _merge(hit[1], query, b"" if uploading else body, headers.get("content-type", ""))
            with self.backend.lock:
                check_method(info, authid, refused, self.backend.access)
            raise E.NotImplementedPath(f"Method '{method} {rel}' not implemented")
        template, path_params = hit
        uploads: dict[str, multipart.Upload] = {}
        if uploading:
            fields, uploads = multipart.parse(headers["content-type"], body)
            params = _merge(path_params, query, b"", "")
            _add_pairs(params, fields)
            with self.backend.lock:
                self.backend.uploads.update(uploads)
        else:
            params = _merge(path_params, query, body, headers.get("content-type", ""))
        try:
            return self._call(method, rel, template, path_params, params, info, authid, ticket)
        finally:  # like pveproxy's spooled temp files, an upload lives only as long as its request
            if uploads:
                with self.backend.lock:
                    for tmp in uploads:
                        self.backend.uploads.pop(tmp, None)

    def _call(
        self,
        method: str,
        rel: str,
        template: str,
        path_params: dict[str, str],
        params: dict[str, Any],
        info: dict[str, Any],
        authid: str,
        ticket: bool,
    ) -> SimResponse:
        if template == "/access/ticket" and method == "POST":
            return self._login(params)
        if not info.get("allowtoken", 1) and "!" in authid:
            raise E.PermissionDenied(f"URI '{rel}' not available with API token, need proper ticket.")
        with self.backend.lock:
            check_method(info, authid, params, self.backend.access)
        if "node" in path_params:
            self._proxy_check(path_params["node"])
        typed = validate(info, params)
        result = ROUTES[(method, template)](Ctx(self.backend, authid, typed, ticket))
        if method != "GET" and self.on_write:
            self.on_write()
        if (method, template) in PAGED and isinstance(result, tuple):
            return _json(200, "OK", {"data": result[0], "total": result[1]})
        return _json(200, "OK", {"data": result})

    def _authenticate(self, method: str, headers: dict[str, str]) -> tuple[str, bool]:
        access = self.backend.access
        auth = headers.get("authorization", "")
        if auth.startswith("PVEAPIToken"):
            rest = urllib.parse.unquote(auth[len("PVEAPIToken") :].lstrip("= ").strip())
            full_id, sep, secret = rest.partition("=")
            with self.backend.lock:
                authid = access.verify_token(full_id, secret) if sep and "!" in full_id else None
            if authid is None:
                raise E.AuthError("Authentication failed!")
            return authid, False
        ticket = ""
        if auth.startswith("PVEAuthCookie="):
            ticket = auth[len("PVEAuthCookie=") :]
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "PVEAuthCookie":
                ticket = urllib.parse.unquote(value)
        if not ticket:
            raise E.AuthError("No ticket")
        with self.backend.lock:
            userid = access.verify_ticket(ticket)
            if userid is None:
                raise E.AuthError("Authentication failed!")
            if method != "GET" and not access.verify_csrf(userid, headers.get("csrfpreventiontoken", "")):
                raise E.AuthError("Permission denied - invalid csrf token")
        return userid, True

    def _login(self, params: dict[str, Any]) -> SimResponse:
        username = str(params.get("username", ""))
        if params.get("realm") and "@" not in username:
            username = f"{username}@{params['realm']}"
        with self.backend.lock:
            userid = self.backend.access.login(username, str(params.get("password", "")))
            if userid is None:
                raise E.LoginFailed()
            ticket, csrf = self.backend.access.make_ticket(userid)
            data: dict[str, Any] = {
                "username": userid,
                "ticket": ticket,
                "CSRFPreventionToken": csrf,
                "cap": {"vms": {}, "storage": {}, "nodes": {}, "access": {}, "dc": {}},
            }
            if self.backend.access.has(userid, "/", ["Sys.Audit"]):
                data["clustername"] = self.backend.settings.cluster_name
        return _json(200, "OK", {"data": data})

    def _proxy_check(self, node: str) -> None:
        with self.backend.lock:
            n = self.backend.node(node)
            if not n.online:
                raise E.PveError(f"Connection refused (node '{node}' is offline)", status=595)


def _merge(path_params: dict[str, str], query: str, body: bytes, ctype: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if body:
        if ctype.startswith("application/json"):
            try:
                loaded = json.loads(body)
            except ValueError:
                raise E.ParamError({}, "unable to parse JSON body") from None
            if not isinstance(loaded, dict):
                raise E.ParamError({}, "JSON body must be an object")
            params.update(loaded)
        elif ctype == "" or ctype.startswith("application/x-www-form-urlencoded"):
            _add_pairs(params, urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            raise E.PveError(f"unsupported content type '{ctype}'", status=506)
    _add_pairs(params, urllib.parse.parse_qsl(query, keep_blank_values=True), override=True)
    params.pop("_dc", None)
    for key, value in path_params.items():
        if key in params and str(params[key]) != value:
            raise E.ParamError({key: "duplicate parameter (already defined in URI) with conflicting values!"})
        params[key] = value
    return params


def _add_pairs(params: dict[str, Any], pairs: list[tuple[str, str]], override: bool = False) -> None:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            seen[key] = (seen[key] if isinstance(seen[key], list) else [seen[key]]) + [value]
        else:
            seen[key] = value
    params.update(seen)


def _json(status: int, reason: str, payload: Any) -> SimResponse:
    return SimResponse(
        status, reason, json.dumps(payload).encode(), {**BASE_HEADERS, "Content-Type": "application/json;charset=UTF-8"}
    )


def _error(exc: E.PveError) -> SimResponse:
    if getattr(exc, "empty_body", False):
        return SimResponse(exc.status, exc.reason, b"", dict(BASE_HEADERS))
    payload: dict[str, Any] = {"data": None, "message": exc.message + "\n"}
    if exc.errors is not None:
        payload["errors"] = exc.errors
    return _json(exc.status, exc.reason, payload)


def starlette_app(sim: Simulator) -> Any:
    """The same pipeline as an ASGI app (TestClient, uvicorn). ASGI cannot carry a custom
    reason phrase, so it is also sent as the ``X-Reason`` header."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        resp = sim.dispatch(request.method, raw_path.split("?", 1)[0], request.url.query, headers, body)
        return Response(
            resp.body,
            status_code=resp.status or 599,
            headers={**resp.headers, "X-Reason": resp.reason.encode("ascii", "replace").decode()},
        )

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
