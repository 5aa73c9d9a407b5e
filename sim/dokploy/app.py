"""HTTP layer of the Dokploy simulator: the order of checks Dokploy's Next.js handler applies (CONTRACT §1, §2).

auth (bare 401) → route by method and case-insensitive name (404) → injected faults → second auth
→ content type (415) → input validation from the OpenAPI schema (400) → procedure → raw JSON or empty body.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .backend import Backend
from .exceptions import (
    BARE_UNAUTHORIZED,
    AuthRejected,
    BadRequest,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
    TRPCError,
    UnsupportedMediaType,
)
from .openapi_validation import load_procedures, validate_input, zod_error
from .responses import call

PROCEDURES = load_procedures()
_BY_LOWER = {name.lower(): name for name in PROCEDURES}


def _error(err: TRPCError, path: str | None) -> JSONResponse:
    return JSONResponse(err.body(path), status_code=err.status)


async def _read_input(request: Request, method: str) -> Any:
    if method == "GET":
        query: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key not in query:
                query[key] = value
            elif isinstance(query[key], list):
                query[key].append(value)
            else:
                query[key] = [query[key], value]  # repeated parameter -> array
        return query
    ctype = request.headers.get("content-type")
    if not ctype:
        raise UnsupportedMediaType("Missing content-type header")
    if not ctype.startswith("application/json"):
        raise UnsupportedMediaType(f'Unsupported content-type "{ctype}')  # sic: no closing quote
    raw = await request.body()
    return json.loads(raw) if raw.strip() else None


async def api_endpoint(request: Request) -> Response:
    """``/api/{router}.{procedure}``: one handler for every procedure, like the OpenAPI adapter."""
    backend: Backend = request.app.state.backend
    api_key = request.headers.get("x-api-key")
    try:
        with backend.lock:
            backend.authenticate(api_key)
    except AuthRejected:
        return JSONResponse(BARE_UNAUTHORIZED, status_code=401)
    if request.method == "HEAD":
        return Response(status_code=204)
    name = _BY_LOWER.get(request.path_params["name"].lower())
    if name is None or PROCEDURES[name]["method"] != request.method:
        return _error(NotFound("Not found"), None)
    try:
        return await _run(request, backend, name, api_key)
    except TRPCError as err:
        return _error(err, name)
    except json.JSONDecodeError:
        return Response("Invalid JSON", status_code=400, media_type="text/plain")  # Next.js, not Dokploy


async def _run(request: Request, backend: Backend, name: str, api_key: str | None) -> Response:
    latency, fault_status = backend.faults.for_procedure(name)
    if latency:
        await asyncio.sleep(latency)
    if fault_status is not None:
        err = ServiceUnavailable("Injected fault")
        err.status = fault_status
        raise err
    with backend.lock:
        caller = backend.reauthenticate(api_key)
        backend.served[(name, caller.org_id)] += 1
    raw = await _read_input(request, PROCEDURES[name]["method"])
    parsed, issues = validate_input(name, PROCEDURES[name], raw)
    if issues:
        raise BadRequest("Input validation failed", issues=issues, zod_error=zod_error(issues))
    try:
        result = await run_in_threadpool(call, backend, name, caller, parsed)
    except TRPCError:
        raise
    except Exception as exc:  # Dokploy answers any non-tRPC exception with its raw message
        raise InternalServerError(str(exc)) from exc
    if result is None and name in ("sshKey.create", "server.setup"):
        return Response(b"", status_code=200, media_type="application/json")
    return Response(
        json.dumps(result, ensure_ascii=False, separators=(",", ":")), status_code=200, media_type="application/json"
    )
