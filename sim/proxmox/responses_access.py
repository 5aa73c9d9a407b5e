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


# --- reads -------------------------------------------------------------------------------------
REALMS = (
    {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
    {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server"},
)


def _sees_user(ctx: Ctx, userid: str) -> bool:
    """Who ``GET /access/users`` shows: yourself, or users of groups you may audit or modify."""
    acc = ctx.backend.access
    if userid == ctx.authid.split("!")[0]:
        return True
    paths = ["/access/groups"] + [f"/access/groups/{g}" for g in acc.users[userid].groups]
    return any(ctx.can(path, ["User.Modify", "Sys.Audit"], True) for path in paths)


def _tokens_of(ctx: Ctx, userid: str) -> list[Any]:
    return sorted((t for t in ctx.backend.access.tokens.values() if t.userid == userid), key=lambda t: t.tokenid)


def _user_entry(ctx: Ctx, userid: str, full: bool) -> dict[str, Any]:
    user = ctx.backend.access.users[userid]
    out: dict[str, Any] = {
        "userid": userid,
        "enable": int(user.enable),
        "expire": 0,
        "realm-type": userid.rsplit("@", 1)[1],
    }
    if user.groups:
        out["groups"] = ",".join(user.groups)
    if full:
        out["tokens"] = [
            {"tokenid": t.tokenid, "privsep": int(t.privsep), "expire": t.expire, "comment": t.comment}
            for t in _tokens_of(ctx, userid)
        ]
    return out


def users_list(ctx: Ctx) -> Any:
    """GET /access/users (``enabled`` filters, ``full`` adds tokens)."""
    acc, p = ctx.backend.access, ctx.params
    return [
        _user_entry(ctx, userid, bool(p.get("full")))
        for userid in sorted(acc.users)
        if _sees_user(ctx, userid) and (not p.get("enabled") or acc.users[userid].enable)
    ]


def user_get(ctx: Ctx) -> Any:
    """GET /access/users/{userid}: the user with its groups and tokens."""
    userid = str(ctx.params["userid"])
    if userid not in ctx.backend.access.users:
        raise E.HandlerError(f"no such user ('{userid}')")
    out = _user_entry(ctx, userid, False)
    out.pop("userid")
    out.pop("realm-type")
    out["groups"] = list(ctx.backend.access.users[userid].groups)
    out["tokens"] = {
        t.tokenid: {"privsep": int(t.privsep), "expire": t.expire, "comment": t.comment}
        for t in _tokens_of(ctx, userid)
    }
    return out


def token_get(ctx: Ctx) -> Any:
    """GET /access/users/{userid}/token/{tokenid}: the token's settings (never its secret)."""
    full = f"{ctx.params['userid']}!{ctx.params['tokenid']}"
    token = ctx.backend.access.tokens.get(full)
    if token is None:
        raise E.HandlerError(f"no such token '{ctx.params['tokenid']}' for user '{ctx.params['userid']}'")
    out: dict[str, Any] = {"privsep": int(token.privsep), "expire": token.expire}
    if token.comment:
        out["comment"] = token.comment
    return out


def roles_list(ctx: Ctx) -> Any:
    """GET /access/roles: every role with its privileges; built-in ones are ``special``."""
    from .access import BUILTIN_ROLES

    return [
        {"roleid": role, "privs": ",".join(sorted(privs)), "special": int(role in BUILTIN_ROLES)}
        for role, privs in sorted(ctx.backend.access.roles.items())
    ]


def role_get(ctx: Ctx) -> Any:
    """GET /access/roles/{roleid}: ``{privilege: 1}``."""
    role = str(ctx.params["roleid"])
    privs = ctx.backend.access.roles.get(role)
    if privs is None:
        raise E.HandlerError(f"role '{role}' does not exist")
    return dict.fromkeys(sorted(privs), 1)


def _groups(ctx: Ctx) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for userid, user in sorted(ctx.backend.access.users.items()):
        for group in user.groups:
            members.setdefault(group, []).append(userid)
    return members


def groups_list(ctx: Ctx) -> Any:
    """GET /access/groups: the groups users belong to, where the caller may see them."""
    return [
        {"groupid": group, "users": ",".join(users)}
        for group, users in sorted(_groups(ctx).items())
        if ctx.can(f"/access/groups/{group}", ["User.Modify", "Sys.Audit", "Group.Allocate"], True)
    ]


def group_get(ctx: Ctx) -> Any:
    """GET /access/groups/{groupid}: its members."""
    group = str(ctx.params["groupid"])
    members = _groups(ctx).get(group)
    if members is None:
        raise E.HandlerError(f"group '{group}' does not exist")
    return {"members": members}


def domains_list(ctx: Ctx) -> Any:
    """GET /access/domains: the built-in realms (world-readable: the login box needs them)."""
    return [dict(r) for r in REALMS]


def domain_get(ctx: Ctx) -> Any:
    """GET /access/domains/{realm}: the realm's configuration."""
    realm = next((r for r in REALMS if r["realm"] == ctx.params["realm"]), None)
    if realm is None:
        raise E.HandlerError(f"domain '{ctx.params['realm']}' does not exist")
    return {k: v for k, v in realm.items() if k != "realm"}
