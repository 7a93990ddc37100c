"""The api bench's peer for the mixed workload: the same routes written plainly in the
same framework (Litestar under the same uvicorn), reading a copy of the hub's seeded
SQLite database with the hub's durability (WAL, synchronous=NORMAL).

Per request, what a hand-written service would do, with no caches:
- verify the bearer JWT with PyJWT (same key, issuer and audience as the hub);
- one SELECT for the caller's active role in the tenant (404 when none, 403 when the
  role may not use the route: the hub's policy for these routes, as a table);
- one SELECT for the page (devices: two, their tags too), the same filters, order and
  keyset cursors as the hub, JSON columns parsed, rows returned as JSON;
- writes: one transaction that updates the row and appends an audit row (gapless seq
  per tenant log, like the hub's; no hash chain or Merkle nodes).
Queries run on one stdlib sqlite3 connection on the event loop: no thread hop per query.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from _method import sqlite_settings
from litestar import Litestar, Request, get, patch
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)

ALL = frozenset({"tenant_admin", "engineer", "operator", "auditor", "viewer"})
# The hub's policy (policies/base_policy.csv) for the routes the workload uses.
MAY = {
    "users.get": ALL - {"viewer"},
    "users.patch": frozenset({"tenant_admin"}),
    "runs.get": ALL,
    "devices.get": ALL,
    "devices.patch": frozenset({"tenant_admin", "engineer"}),
    "audit.get": frozenset({"tenant_admin", "auditor"}),
}
DEVICE_FIELDS = frozenset({"poll_interval_ms", "timeout_ms", "max_backoff_ms", "enabled"})
RUN_COLUMNS = (
    "id, workflow, version, status, priority, input, current_steps, output, error, "
    "parent_run_id, created_at, updated_at"
)
T = "/api/v1/tenants/{tenant:str}"


class Store:
    def __init__(self, path: Path) -> None:
        # isolation_level=None: transactions are begun explicitly, as the hub does.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=30000")

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self.db.execute(sql, tuple(params)).fetchall()

    def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(sql, tuple(params)).fetchone()
        return row


class Caller:
    def __init__(self, tenant_id: str, user_id: str, username: str) -> None:
        self.tenant_id, self.user_id, self.username = tenant_id, user_id, username


def _decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(status_code=400, detail="bad cursor") from None


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _now() -> str:
    # SQLAlchemy's SQLite form of the hub's UTC timestamps.
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _device(row: sqlite3.Row, tags: list[Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        **json.loads(row["config"]),
        "tags": tags,
        "created_at": row["created_at"],
    }


def db_peer_app(path: Path, settings: dict[str, str]) -> Litestar:
    store = Store(path)
    secret = settings["jwt_secret"]
    issuer, audience = settings["jwt_issuer"], settings["jwt_audience"]

    def caller(request: Request[Any, Any, Any], tenant: str, route: str) -> Caller:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("missing bearer token")
        try:
            claims = jwt.decode(
                token, secret, algorithms=["HS256"], audience=audience, issuer=issuer
            )
        except jwt.InvalidTokenError as exc:
            raise NotAuthorizedException(str(exc)) from None
        row = store.one(
            "SELECT t.id, m.role, u.username FROM tenants t"
            " JOIN memberships m ON m.tenant_id = t.id JOIN users u ON u.id = m.user_id"
            " WHERE t.slug = ? AND m.user_id = ? AND t.status = 'active'"
            " AND m.status = 'active' AND u.status = 'active'",
            (tenant, claims["sub"]),
        )
        if row is None:
            raise NotFoundException(f"tenant {tenant!r} not found")
        if row["role"] not in MAY[route]:
            raise PermissionDeniedException(f"{row['role']} may not {route}")
        return Caller(row["id"], claims["sub"], row["username"])

    def audit(who: Caller, action: str, kind: str, resource: str, details: Any) -> None:
        """Append one audit row inside the caller's transaction."""
        seq = store.one(
            "UPDATE audit_logs SET size = size + 1 WHERE log_id = ? RETURNING size",
            (who.tenant_id,),
        )
        if seq is None:
            raise HTTPException(status_code=500, detail="no audit log")
        ts = _now()
        entry = {
            "seq": seq[0],
            "ts": ts,
            "actor": who.username,
            "action": action,
            "resource_type": kind,
            "resource_id": resource,
            "outcome": "success",
            "details": details,
        }
        store.db.execute(
            "INSERT INTO audit_entries (log_id, seq, ts, actor, action, resource_type,"
            " resource_id, outcome, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                who.tenant_id,
                seq[0],
                ts,
                who.username,
                action,
                kind,
                resource,
                "success",
                json.dumps(entry),
            ),
        )

    @get(f"{T}/users", sync_to_thread=False)
    def users(
        request: Request[Any, Any, Any], tenant: str, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        who = caller(request, tenant, "users.get")
        rows = store.all(
            "SELECT u.id, u.username, m.role, u.status, m.created_at FROM memberships m"
            " JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ? AND m.user_id > ?"
            " ORDER BY m.user_id LIMIT ?",
            (who.tenant_id, _decode_cursor(cursor) or "", limit + 1),
        )
        more = len(rows) > limit
        items = [dict(r) for r in rows[:limit]]
        return {"items": items, "next_cursor": _encode_cursor(items[-1]["id"]) if more else None}

    @patch(f"{T}/users/{{user_id:str}}", sync_to_thread=False)
    def change_role(
        request: Request[Any, Any, Any], tenant: str, user_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        who = caller(request, tenant, "users.patch")
        role = data.get("role")
        if role not in ALL:
            raise HTTPException(status_code=422, detail="role: not a tenant role")
        store.db.execute("BEGIN IMMEDIATE")
        try:
            changed = store.db.execute(
                "UPDATE memberships SET role = ? WHERE tenant_id = ? AND user_id = ?",
                (role, who.tenant_id, user_id),
            ).rowcount
            if not changed:
                raise NotFoundException(f"user {user_id!r} not found")
            audit(who, "member.update", "user", user_id, {"role": role})
            store.db.execute("COMMIT")
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
        row = store.one(
            "SELECT u.id, u.username, m.role, u.status, m.created_at FROM memberships m"
            " JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ? AND m.user_id = ?",
            (who.tenant_id, user_id),
        )
        return dict(row) if row else {}

    @get(f"{T}/runs", sync_to_thread=False)
    def runs(
        request: Request[Any, Any, Any],
        tenant: str,
        limit: int = 50,
        cursor: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        who = caller(request, tenant, "runs.get")
        where, params = ["tenant_id = ?"], [who.tenant_id]
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if cursor is not None:
            where.append("id < ?")
            params.append(cursor)
        rows = store.all(
            f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE {' AND '.join(where)}"
            " ORDER BY id DESC LIMIT ?",
            [*params, limit + 1],
        )
        items = []
        for row in rows[:limit]:
            item = dict(row)
            for key in ("input", "current_steps", "output"):
                item[key] = json.loads(item[key]) if item[key] else None
            items.append(item)
        more = len(rows) > limit
        return {"items": items, "next_cursor": items[-1]["id"] if more else None}

    def devices_where(where: str, params: list[Any], limit: int) -> list[dict[str, Any]]:
        rows = store.all(
            f"SELECT id, config, created_at FROM plc_devices WHERE {where} ORDER BY id LIMIT ?",
            [*params, limit],
        )
        tags: dict[str, list[Any]] = {r["id"]: [] for r in rows}
        if rows:
            marks = ", ".join("?" * len(rows))
            for tag in store.all(
                f"SELECT device_id, spec FROM plc_tags WHERE device_id IN ({marks}) ORDER BY id",
                list(tags),
            ):
                tags[tag["device_id"]].append(json.loads(tag["spec"]))
        return [_device(r, tags[r["id"]]) for r in rows]

    @get(f"{T}/devices", sync_to_thread=False)
    def devices(
        request: Request[Any, Any, Any], tenant: str, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        who = caller(request, tenant, "devices.get")
        after = _decode_cursor(cursor) or ""
        found = devices_where("tenant_id = ? AND id > ?", [who.tenant_id, after], limit + 1)
        more = len(found) > limit
        items = found[:limit]
        return {"items": items, "next_cursor": _encode_cursor(items[-1]["id"]) if more else None}

    @get(f"{T}/devices/{{device_id:str}}", sync_to_thread=False)
    def device(request: Request[Any, Any, Any], tenant: str, device_id: str) -> dict[str, Any]:
        who = caller(request, tenant, "devices.get")
        found = devices_where("tenant_id = ? AND id = ?", [who.tenant_id, device_id], 1)
        if not found:
            raise NotFoundException(f"device {device_id!r} not found")
        return found[0]

    @patch(f"{T}/devices/{{device_id:str}}", sync_to_thread=False)
    def change_device(
        request: Request[Any, Any, Any], tenant: str, device_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        who = caller(request, tenant, "devices.patch")
        unknown = set(data) - DEVICE_FIELDS
        if unknown:
            raise HTTPException(status_code=422, detail=f"cannot change {sorted(unknown)}")
        store.db.execute("BEGIN IMMEDIATE")
        try:
            row = store.one(
                "SELECT config FROM plc_devices WHERE tenant_id = ? AND id = ?",
                (who.tenant_id, device_id),
            )
            if row is None:
                raise NotFoundException(f"device {device_id!r} not found")
            config = {**json.loads(row["config"]), **data}
            store.db.execute(
                "UPDATE plc_devices SET config = ?, updated_at = ? WHERE id = ?",
                (json.dumps(config), _now(), device_id),
            )
            audit(who, "device.update", "device", device_id, {"changed": sorted(data)})
            store.db.execute("COMMIT")
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
        return {"id": device_id, **config}

    @get(f"{T}/audit", sync_to_thread=False)
    def audit_entries(
        request: Request[Any, Any, Any], tenant: str, limit: int = 50, cursor: int | None = None
    ) -> dict[str, Any]:
        who = caller(request, tenant, "audit.get")
        rows = store.all(
            "SELECT seq, body FROM audit_entries WHERE log_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (who.tenant_id, cursor or 0, limit + 1),
        )
        more = len(rows) > limit
        items = [json.loads(r["body"]) for r in rows[:limit]]
        return {"items": items, "next_cursor": str(rows[limit - 1]["seq"]) if more else None}

    @get("/_settings", sync_to_thread=False)
    def durability() -> dict[str, str]:
        return sqlite_settings(store.db)

    return Litestar(
        route_handlers=[
            users,
            change_role,
            runs,
            devices,
            device,
            change_device,
            audit_entries,
            durability,
        ]
    )
