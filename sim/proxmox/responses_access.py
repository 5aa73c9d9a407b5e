"""Handlers of /access: users, API tokens and ACLs (enough to provision a least-privilege token)."""

from __future__ import annotations

import uuid
from typing import Any

from . import exceptions as E
from .responses import Ctx, _list


def user_create(ctx: Ctx) -> Any:
    p, acc = ctx.params, ctx.backend.access
    with ctx.backend.lock:
        if p["userid"] in acc.users:
            raise E.HandlerError(f"create user failed: user '{p['userid']}' already exists")
        acc.add_user(p["userid"], p.get("password"), _list(p.get("groups")))


def token_create(ctx: Ctx) -> Any:
    p, acc = ctx.params, ctx.backend.access
    userid, tokenid = p["userid"], p["tokenid"]
    with ctx.backend.lock:
        if userid not in acc.users:
            raise E.HandlerError(f"no such user ('{userid}')")
        if f"{userid}!{tokenid}" in acc.tokens:
            raise E.HandlerError("Token already exists.")
        secret = str(uuid.uuid4())
        tok = acc.add_token(userid, tokenid, secret, bool(p.get("privsep", 1)))
        tok.expire, tok.comment = int(p.get("expire", 0)), p.get("comment", "")
    info: dict[str, Any] = {"privsep": int(tok.privsep), "expire": tok.expire}
    if tok.comment:
        info["comment"] = tok.comment
    return {"full-tokenid": f"{userid}!{tokenid}", "value": secret, "info": info}


def token_list(ctx: Ctx) -> Any:
    acc = ctx.backend.access
    return [
        {"tokenid": t.tokenid, "privsep": int(t.privsep), "expire": t.expire, "comment": t.comment}
        for t in acc.tokens.values()
        if t.userid == ctx.params["userid"]
    ]


def acl_get(ctx: Ctx) -> Any:
    return [
        {"path": a.path, "type": a.kind, "ugid": a.subject, "roleid": a.role, "propagate": int(a.propagate)}
        for a in ctx.backend.access.acl
    ]


def acl_put(ctx: Ctx) -> Any:
    p, acc = ctx.params, ctx.backend.access
    with ctx.backend.lock:
        for role in _list(p.get("roles")):
            if role not in acc.roles:
                raise E.param_error("roles", f"role '{role}' does not exist")
        subjects = (
            [("user", u) for u in _list(p.get("users"))]
            + [("group", g) for g in _list(p.get("groups"))]
            + [("token", t) for t in _list(p.get("tokens"))]
        )
        for kind, subject in subjects:
            for role in _list(p.get("roles")):
                if p.get("delete"):
                    acc.acl = [
                        a
                        for a in acc.acl
                        if not (a.path == p["path"] and a.kind == kind and a.subject == subject and a.role == role)
                    ]
                else:
                    acc.add_acl(p["path"], role, propagate=bool(p.get("propagate", 1)), **{kind: subject})
