"""The api bench's mixed workload: its seed data and the requests the load client cycles.

Three tenants, each with 17 users who send requests (2 tenant admins, 3 engineers,
6 operators, 3 auditors, 3 viewers: 51 users, each with their own JWT) and 4 staff users
whose role the tenant admins change. Per tenant: 20 Modbus devices of 8 tags (disabled,
so nothing polls), 1,000 finished workflow runs and about 1,000 audit entries.

The requests: 90% reads over six pages (users, runs first page, runs at a cursor or
filtered by status, devices, one device, audit entries at a cursor), each by a user whose
role may read it; 10% writes: device changes (audited) and member role changes, which
move the authorization version and so expire the read cache, the token-to-decision cache
and the casbin enforcer (hub/services/tenancy/read_cache.py, hub/security/rbac.py).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from _load import Request

from hub.bootstrap import Hub
from hub.domain.audit import SYSTEM, AuditEvent, RequestContext
from hub.domain.ids import new_id
from hub.domain.tenancy import Principal
from hub.services.tenancy.tenants import NewMember

TENANTS = ("plant-a", "plant-b", "plant-c")
# Who sends requests, per tenant: role and count.
LOAD_ROLES = (("tenant_admin", 2), ("engineer", 3), ("operator", 6), ("auditor", 3), ("viewer", 3))
STAFF = 4  # per tenant: users whose role the writes change, never senders themselves
DEVICES = 20
TAGS = 8
RUNS = 1000
AUDIT_ENTRIES = 1000
REQUESTS = 2000  # the cycle each connection walks through
SEED = 13

# Request kinds: share of all requests (percent) and the roles that may send them.
READ = ("tenant_admin", "engineer", "operator", "auditor", "viewer")
MIX: dict[str, tuple[int, tuple[str, ...]]] = {
    "users": (10, ("tenant_admin", "engineer", "operator", "auditor")),
    "users_cursor": (5, ("tenant_admin", "engineer", "operator", "auditor")),
    "runs": (10, READ),
    "runs_cursor": (15, READ),
    "runs_status": (5, READ),
    "devices": (10, READ),
    "device": (15, READ),
    "audit": (5, ("tenant_admin", "auditor")),
    "audit_cursor": (15, ("tenant_admin", "auditor")),
    "device_patch": (7, ("tenant_admin", "engineer")),
    "member_patch": (3, ("tenant_admin",)),
}
WRITES = ("device_patch", "member_patch")


@dataclass
class TenantData:
    slug: str
    id: str = ""
    users: dict[str, str] = field(default_factory=dict)  # username -> role (senders)
    member_ids: list[str] = field(default_factory=list)  # every member, by id
    staff_ids: list[str] = field(default_factory=list)
    device_ids: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)  # newest first
    audit_size: int = 0


@dataclass
class MixedData:
    tenants: list[TenantData]
    tokens: dict[str, str] = field(default_factory=dict)  # username -> access token


def _device(index: int) -> dict[str, Any]:
    tags = [
        {
            "name": f"t{t}",
            "register": "holding",
            "address": 100 + t,
            "datatype": "uint16",
            "unit": "bar",
            "scale": 0.1,
        }
        for t in range(TAGS)
    ]
    return {
        "name": f"press-{index:02d}",
        "protocol": "modbus",
        "endpoint": f"modbus-tcp://10.0.{index}.10:502",
        "enabled": False,  # nothing polls: the bench measures the API
        "tags": tags,
    }


def _run_row(tenant_id: str, index: int, at: datetime) -> dict[str, Any]:
    status = ("completed", "completed", "completed", "failed", "cancelled")[index % 5]
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "workflow": ("batch-release", "line-changeover", "maintenance")[index % 3],
        "version": "1.0.0",
        "status": status,
        "priority": index % 3,
        "input": {"batch": f"B{index:05d}", "line": index % 4, "operator": "op-1"},
        "output": json.dumps({"released": status == "completed"}),
        "error": "timed out" if status == "failed" else None,
        "next_seq": 6,
        "idempotency_key": None,
        "parent_run_id": None,
        "parent_step": None,
        "created_at": at,
        "updated_at": at,
    }


async def _seed_tenant(hub: Hub, tenant: TenantData, password: str) -> None:
    seeder = Principal("seed", True, frozenset())
    created = await hub.tenants.create(tenant.slug, tenant.slug.title(), SYSTEM)
    tenant.id = created.id
    for role, count in LOAD_ROLES:
        for i in range(count):
            name = f"{tenant.slug}-{role}-{i}"
            await hub.tenants.add_member(
                tenant.slug, NewMember(name, role, password), seeder, SYSTEM
            )
            tenant.users[name] = role
    for i in range(STAFF):
        staff = NewMember(f"{tenant.slug}-staff-{i}", "operator", password)
        member = await hub.tenants.add_member(tenant.slug, staff, seeder, SYSTEM)
        tenant.staff_ids.append(member.user.id)
    for i in range(DEVICES):
        device = await hub.plc.devices.create(created, _device(i), SYSTEM)
        tenant.device_ids.append(device.id)
    start = datetime.now(UTC) - timedelta(days=30)
    async with hub.uow(write=True) as uow:
        for i in range(RUNS):
            await uow.workflows.add_run(_run_row(tenant.id, i, start + timedelta(minutes=40 * i)))
        await uow.commit()
    ctx = RequestContext(f"{tenant.slug}-operator-0")
    for first in range(0, AUDIT_ENTRIES, 100):
        async with hub.uow(write=True) as uow:
            items = [
                (
                    ctx,
                    AuditEvent(
                        "tag.write",
                        "device",
                        tenant.device_ids[i % DEVICES],
                        details={"tag": "t1", "value": i},
                    ),
                )
                for i in range(first, first + 100)
            ]
            await hub.audit.append_many(uow, tenant.id, items)
            await uow.commit()


async def _read_back(hub: Hub, tenant: TenantData) -> None:
    """The ids the requests page by, as the store orders them."""
    the_tenant = await hub.tenants.get(tenant.slug)
    async with hub.uow() as uow:
        members = await uow.memberships.page(the_tenant, after=None, limit=1000)
        runs = await uow.workflows.runs(tenant.id, None, None, None, RUNS + 1)
        devices = await uow.plc.list_devices(tenant.id, None, DEVICES + 1)
        tenant.audit_size = await uow.audit.size(tenant.id)
    tenant.member_ids = [m.user.id for m in members]
    tenant.run_ids = [r["id"] for r in runs]
    tenant.device_ids = [d.id for d in devices]


async def seed(hub: Hub, password: str) -> MixedData:
    data = MixedData([TenantData(slug) for slug in TENANTS])
    for tenant in data.tenants:
        await _seed_tenant(hub, tenant, password)
        await _read_back(hub, tenant)
    return data


def senders(data: MixedData) -> list[str]:
    return [name for t in data.tenants for name in t.users]


def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _target(kind: str, tenant: TenantData, rng: random.Random) -> tuple[str, str, str]:
    """(method, target, body) of one request of `kind` in `tenant`."""
    base = f"/api/v1/tenants/{tenant.slug}"
    if kind == "users":
        return "GET", f"{base}/users?limit=50", ""
    if kind == "users_cursor":
        after = tenant.member_ids[rng.randrange(1, len(tenant.member_ids) - 5)]
        return "GET", f"{base}/users?limit=10&cursor={_cursor(after)}", ""
    if kind == "runs":
        return "GET", f"{base}/runs?limit=50", ""
    if kind == "runs_cursor":
        after = tenant.run_ids[rng.choice((49, 199, 499, 899))]
        return "GET", f"{base}/runs?limit=50&cursor={after}", ""
    if kind == "runs_status":
        return "GET", f"{base}/runs?limit=50&status=failed", ""
    if kind == "devices":
        return "GET", f"{base}/devices?limit=50", ""
    if kind == "device":
        return "GET", f"{base}/devices/{rng.choice(tenant.device_ids)}", ""
    if kind == "audit":
        return "GET", f"{base}/audit?limit=50", ""
    if kind == "audit_cursor":
        after = rng.randrange(50, max(51, tenant.audit_size - 50))
        return "GET", f"{base}/audit?limit=50&cursor={after}", ""
    if kind == "device_patch":
        body = {"poll_interval_ms": rng.choice((500, 1000, 2000))}
        return "PATCH", f"{base}/devices/{rng.choice(tenant.device_ids)}", json.dumps(body)
    if kind == "member_patch":
        body = {"role": rng.choice(("operator", "viewer"))}
        return "PATCH", f"{base}/users/{rng.choice(tenant.staff_ids)}", json.dumps(body)
    raise ValueError(f"unknown request kind {kind!r}")


def requests(data: MixedData, count: int = REQUESTS, seed: int = SEED) -> list[Request]:
    """`count` requests drawn by MIX's shares, each from a user whose role allows it."""
    rng = random.Random(seed)
    total = sum(share for share, _ in MIX.values())
    # Exact shares, shuffled: a random draw would make the write share vary by seed.
    kinds = [k for k, (share, _) in MIX.items() for _ in range(count * share // total)]
    rng.shuffle(kinds)
    out = []
    for kind in kinds:
        tenant = rng.choice(data.tenants)
        allowed = [name for name, role in tenant.users.items() if role in MIX[kind][1]]
        user = rng.choice(allowed)
        method, target, body = _target(kind, tenant, rng)
        headers = {"Authorization": f"Bearer {data.tokens[user]}"}
        if body:
            headers["Content-Type"] = "application/json"
        out.append(Request(target, headers, method, body))
    return out


def write_share(reqs: Sequence[Request]) -> float:
    return sum(r.method != "GET" for r in reqs) / len(reqs)


def sample(data: MixedData) -> list[Request]:
    """One read of each kind per tenant, for checking that hub and peer read the same rows."""
    rng = random.Random(SEED)
    out = []
    for tenant in data.tenants:
        for kind, (_, roles) in MIX.items():
            if kind in WRITES:
                continue
            user = next(name for name, role in tenant.users.items() if role in roles)
            _, target, _ = _target(kind, tenant, rng)
            out.append(Request(target, {"Authorization": f"Bearer {data.tokens[user]}"}))
    return out


def page_keys(body: Any) -> tuple[list[Any], Any]:
    """What must match between hub and peer: the items' keys in order, and the cursor."""
    if "items" not in body:
        return [body.get("id")], None
    return [item.get("id", item.get("seq")) for item in body["items"]], body.get("next_cursor")
