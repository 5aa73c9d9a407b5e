"""Users, tokens, roles and ACLs, and PVE's privilege evaluation (§2.4, §2.2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

VM_PRIVS = [
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileWrite",
    "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.Unrestricted",
]
DS_PRIVS = ["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit"]
SYS_PRIVS = [
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Incoming",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
]
OTHER_PRIVS = [
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Pool.Allocate",
    "Pool.Audit",
    "User.Modify",
    "Group.Allocate",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "Permissions.Modify",
    "Mapping.Audit",
    "Mapping.Modify",
    "Mapping.Use",
]
ALL_PRIVS = VM_PRIVS + DS_PRIVS + SYS_PRIVS + OTHER_PRIVS

BUILTIN_ROLES: dict[str, list[str]] = {
    "Administrator": ALL_PRIVS,
    "NoAccess": [],
    "PVEVMAdmin": VM_PRIVS,
    "PVEVMUser": [
        "VM.Audit",
        "VM.Backup",
        "VM.Config.CDROM",
        "VM.Config.Cloudinit",
        "VM.Console",
        "VM.PowerMgmt",
        "VM.GuestAgent.Audit",
    ],
    "PVEDatastoreUser": ["Datastore.AllocateSpace", "Datastore.Audit"],
    "PVEDatastoreAdmin": DS_PRIVS,
    "PVESDNUser": ["SDN.Audit", "SDN.Use"],
    "PVEPoolUser": ["Pool.Audit"],
    "PVEPoolAdmin": ["Pool.Allocate", "Pool.Audit"],
    "PVEAuditor": [p for p in ALL_PRIVS if p.endswith(".Audit")],
}
TICKET_LIFETIME = 7200


def normalize_path(path: str) -> str:
    """``//vms/101/`` -> ``/vms/101``."""
    parts = [p for p in path.split("/") if p]
    return "/" + "/".join(parts)


@dataclass
class AclEntry:
    """One ACL: subject kind is user, group or token."""

    path: str
    kind: str
    subject: str
    role: str
    propagate: bool = True


Test = Callable[["Access"], tuple[bool, "str | None"]]
"""A permission test: (passed, PVE's failure detail such as ``/vms/101, VM.Audit``)."""


@dataclass(frozen=True)
class Decision:
    """One permission decision a request needed, kept to be re-evaluated under other ACLs.

    ``kind`` is ``schema`` (the method's check: 403 before the handler), ``handler`` (a check inside
    the handler: 403) or ``filter`` (what a listing shows, or which way a handler branches).
    ``pools`` holds the pool membership the decision saw, as it was at that moment; ``about`` is the
    check itself (the schema's check, or ``<path> <privs>``), since PVE's ``or`` failures name nothing.
    """

    authid: str
    kind: str
    test: Test
    pools: Mapping[str, str | None]
    passed: bool
    detail: str | None
    about: str = ""


@dataclass
class Token:
    """An API token. ``secret`` never leaves the access layer except at creation."""

    userid: str
    tokenid: str
    secret: str
    privsep: bool = True
    expire: int = 0
    comment: str = ""

    def __repr__(self) -> str:
        return f"Token({self.userid}!{self.tokenid}, privsep={self.privsep})"


@dataclass
class User:
    """A PVE user; ``password`` is kept only as a salted hash."""

    userid: str
    pw_hash: str = ""
    enable: bool = True
    groups: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"User({self.userid})"


def hash_password(password: str) -> str:
    salt = secrets.token_hex(8)
    return salt + "$" + hashlib.sha256((salt + password).encode()).hexdigest()


def check_password(pw_hash: str, password: str) -> bool:
    salt, _, digest = pw_hash.partition("$")
    return bool(pw_hash) and hmac.compare_digest(digest, hashlib.sha256((salt + password).encode()).hexdigest())


class Access:
    """The access-control state and the privilege calculus."""

    def __init__(
        self, pool_of: Callable[[str], str | None] = lambda p: None, clock: Callable[[], float] = time.time
    ) -> None:
        self.pool_of = pool_of
        self.clock = clock
        self.key = secrets.token_bytes(32)
        self.users: dict[str, User] = {"root@pam": User("root@pam")}
        self.tokens: dict[str, Token] = {}
        self.roles: dict[str, set[str]] = {k: set(v) for k, v in BUILTIN_ROLES.items()}
        self.acl: list[AclEntry] = []
        self.journal: list[Decision] | None = None
        """When a list, every decision about a caller other than root@pam is appended to it."""
        self._seen = threading.local()

    # --- configuration -------------------------------------------------------------------------
    def add_user(self, userid: str, password: str | None = None, groups: list[str] | None = None) -> User:
        user = self.users.get(userid) or User(userid)
        if password is not None:
            user.pw_hash = hash_password(password)
        user.groups = list(groups or user.groups)
        self.users[userid] = user
        return user

    def add_token(self, userid: str, tokenid: str, secret: str, privsep: bool = True) -> Token:
        if userid not in self.users:
            raise ValueError(f"userid: no such user '{userid}'")
        token = Token(userid, tokenid, secret, privsep)
        self.tokens[f"{userid}!{tokenid}"] = token
        return token

    def add_acl(
        self,
        path: str,
        role: str,
        user: str | None = None,
        group: str | None = None,
        token: str | None = None,
        propagate: bool = True,
    ) -> None:
        if role not in self.roles:
            raise ValueError(f"roles: role '{role}' does not exist")
        kind, subject = ("token", token) if token else ("group", group) if group else ("user", user)
        if not subject:
            raise ValueError("acl: one of user, group or token is required")
        self.acl = [
            a
            for a in self.acl
            if not (a.path == normalize_path(path) and a.kind == kind and a.subject == subject and a.role == role)
        ]
        self.acl.append(AclEntry(normalize_path(path), kind, subject, role, propagate))

    # --- authentication ------------------------------------------------------------------------
    def verify_token(self, full_id: str, secret: str) -> str | None:
        token = self.tokens.get(full_id)
        if token is None or not hmac.compare_digest(token.secret, secret):
            return None
        user = self.users.get(token.userid)
        if user is None or not user.enable or (token.expire and token.expire < self.clock()):
            return None
        return full_id

    def login(self, userid: str, password: str) -> str | None:
        """A password or a still-valid ticket; returns the userid or None."""
        user = self.users.get(userid)
        if user is None or not user.enable:
            return None
        if password.startswith("PVE:") and self.verify_ticket(password) == userid:
            return userid
        return userid if check_password(user.pw_hash, password) else None

    def _sign(self, text: str) -> str:
        return base64.b64encode(hmac.new(self.key, text.encode(), hashlib.sha256).digest()).decode()

    def make_ticket(self, userid: str) -> tuple[str, str]:
        stamp = f"{int(self.clock()):08X}"
        plain = f"PVE:{userid}:{stamp}"
        return f"{plain}::{self._sign(plain)}", f"{stamp}:{self._sign('csrf:' + userid + stamp)}"

    def verify_ticket(self, ticket: str) -> str | None:
        plain, sep, sig = ticket.partition("::")
        parts = plain.split(":")
        if not sep or len(parts) != 3 or not hmac.compare_digest(self._sign(plain), sig):
            return None
        try:
            age = self.clock() - int(parts[2], 16)
        except ValueError:
            return None
        user = self.users.get(parts[1])
        return parts[1] if user and user.enable and -300 < age < TICKET_LIFETIME else None

    def verify_csrf(self, userid: str, token: str) -> bool:
        stamp, _, sig = token.partition(":")
        try:
            age = self.clock() - int(stamp, 16)
        except ValueError:
            return False
        return hmac.compare_digest(self._sign("csrf:" + userid + stamp), sig) and -300 < age < TICKET_LIFETIME

    # --- authorisation -------------------------------------------------------------------------
    def decide(self, authid: str, kind: str, test: Test, about: str = "") -> tuple[bool, str | None]:
        """Run a permission test; journal it (with the pool memberships it saw) when journaling is on."""
        if self.journal is None or authid == "root@pam":
            return test(self)
        self._seen.pools = {}
        try:
            passed, detail = test(self)
        finally:
            pools, self._seen.pools = self._seen.pools, None
        self.journal.append(Decision(authid, kind, test, pools, passed, detail, about))
        return passed, detail

    def _pool(self, path: str) -> str | None:
        pool = self.pool_of(path)
        seen = getattr(self._seen, "pools", None)
        if seen is not None:
            seen[path] = pool
        return pool

    def _roles_for(self, kind: str, subjects: list[str], path: str) -> set[str]:
        """PVE's walk: deeper ACLs replace inherited ones; pool roles slot in above /vms/ID."""
        levels = ["/"] + [
            "/" + "/".join(path.strip("/").split("/")[: i + 1]) for i in range(len([p for p in path.split("/") if p]))
        ]
        pool = self._pool(path)
        roles: set[str] = set()
        for i, level in enumerate(levels):
            exact = i == len(levels) - 1
            if exact and pool:
                pool_roles = self._roles_for(kind, subjects, f"/pool/{pool}")
                if pool_roles:
                    roles = pool_roles
            here = self._level_roles(kind, subjects, level, exact)
            if here:
                roles = here
        return roles

    def _level_roles(self, kind: str, subjects: list[str], level: str, exact: bool) -> set[str]:
        found: set[str] = set()
        for a in self.acl:
            if a.path == level and a.kind == kind and a.subject in subjects and (exact or a.propagate):
                found.add(a.role)
        return found

    def _privs_of(self, roles: set[str]) -> set[str]:
        if "NoAccess" in roles:
            return set()
        out: set[str] = set()
        for r in roles:
            out |= self.roles.get(r, set())
        return out

    def user_privs(self, userid: str, path: str) -> set[str]:
        if userid == "root@pam":
            return set(ALL_PRIVS)
        user = self.users.get(userid)
        if user is None:
            return set()
        roles = self._roles_for("user", [userid], path)
        if not roles and user.groups:
            roles = self._roles_for("group", user.groups, path)
        return self._privs_of(roles)

    def privileges(self, authid: str, path: str) -> set[str]:
        """Effective privileges of a user or token id on ``path``."""
        path = normalize_path(path)
        if "!" not in authid:
            return self.user_privs(authid, path)
        token = self.tokens.get(authid)
        if token is None:
            return set()
        user = self.user_privs(token.userid, path)
        if not token.privsep:
            return user
        return user & self._privs_of(self._roles_for("token", [authid], path))

    def has(self, authid: str, path: str, privs: list[str], any_: bool = False) -> bool:
        have = self.privileges(authid, path)
        return any(p in have for p in privs) if any_ else all(p in have for p in privs)

    def held(self, authid: str, path: str, privs: list[str], any_: bool = False) -> tuple[bool, str | None]:
        """:meth:`has` with PVE's failure detail (``<path>, <first missing priv>`` or ``p1|p2`` for any)."""
        if self.has(authid, path, privs, any_):
            return True, None
        missing = "|".join(privs) if any_ else next(p for p in privs if p not in self.privileges(authid, path))
        return False, f"{normalize_path(path)}, {missing}"

    def to_json(self) -> dict[str, Any]:
        """Persistable state (token secrets included: this is the sim's own state file)."""
        return {
            "users": {
                u.userid: {"pw_hash": u.pw_hash, "enable": u.enable, "groups": u.groups} for u in self.users.values()
            },
            "tokens": [
                {"userid": t.userid, "tokenid": t.tokenid, "secret": t.secret, "privsep": t.privsep}
                for t in self.tokens.values()
            ],
            "roles": {k: sorted(v) for k, v in self.roles.items()},
            "acl": [a.__dict__ for a in self.acl],
            "key": self.key.hex(),
        }

    def load_json(self, data: dict[str, Any]) -> None:
        self.users = {k: User(k, v["pw_hash"], v["enable"], v["groups"]) for k, v in data["users"].items()}
        self.tokens = {
            f"{t['userid']}!{t['tokenid']}": Token(t["userid"], t["tokenid"], t["secret"], t["privsep"])
            for t in data["tokens"]
        }
        self.roles = {k: set(v) for k, v in data["roles"].items()}
        self.acl = [AclEntry(**a) for a in data["acl"]]
        self.key = bytes.fromhex(data["key"])


def first_denial(journal: Iterable[Decision], access: Access) -> tuple[Decision, str] | None:
    """The first journaled decision that passed but fails under ``access``, with its failure detail.

    Each decision is re-evaluated with the pool memberships it saw, so a journal of a whole run (VMs
    created, then destroyed) replays faithfully; requests up to that decision are unaffected by the
    change, so it is the first refusal the same caller would meet. A bare ``or`` failure (PVE's
    plain ``Permission check failed``) has detail ``Permission check failed``.
    """
    saved = access.pool_of
    try:
        for decision in journal:
            if not decision.passed:
                continue
            access.pool_of = decision.pools.get
            passed, detail = decision.test(access)
            if not passed:
                return decision, detail or "Permission check failed"
    finally:
        access.pool_of = saved
    return None


def copy_access(access: Access) -> Access:
    """An independent copy of users, tokens, roles and ACLs (no journal; pools come from the decisions)."""
    out = Access(clock=access.clock)
    out.load_json(access.to_json())
    return out
