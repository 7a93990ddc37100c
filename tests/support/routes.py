"""Every API route, who may call it, and a valid request for it: the RBAC matrix's table."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TENANT_ROLES = ("tenant_admin", "engineer", "operator", "auditor", "viewer")
ROLES = ("platform_admin", *TENANT_ROLES)
EVERYONE = frozenset(ROLES)
_counter = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {tenant} and {user} placeholders
    allowed: frozenset[str]
    body: Callable[[], dict[str, Any] | None] = lambda: None

    def url(self, tenant: str, user_id: str) -> str:
        return self.path.format(
            tenant=tenant,
            user=user_id,
            seq=1,
            name="matrix",
            version="1.0.1",
            run_id="0" * 32,
            task_id="0" * 32,
            device_id="0" * 32,
            alarm_id="0" * 32,
            incident_id="0" * 32,
            tag="pressure",
            partner_id="0" * 32,
            collab_id="0" * 32,
        )


ROUTES = [
    Route("GET", "/api/v1/me", EVERYONE),
    Route("POST", "/api/v1/auth/logout", EVERYONE, lambda: {"refresh_token": "whatever"}),
    Route("GET", "/api/v1/tenants", EVERYONE),
    Route(
        "POST",
        "/api/v1/tenants",
        frozenset({"platform_admin"}),
        lambda: {"slug": _unique("new-"), "name": "New"},
    ),
    Route("GET", "/api/v1/tenants/{tenant}", EVERYONE),
    Route(
        "PATCH",
        "/api/v1/tenants/{tenant}",
        frozenset({"platform_admin"}),
        lambda: {"name": "Renamed"},
    ),
    Route("GET", "/api/v1/tenants/{tenant}/users", EVERYONE - {"viewer"}),
    Route(
        "POST",
        "/api/v1/tenants/{tenant}/users",
        frozenset({"platform_admin", "tenant_admin"}),
        lambda: {"username": _unique("u"), "password": "a-long-test-password", "role": "viewer"},
    ),
    Route("GET", "/api/v1/tenants/{tenant}/users/{user}", EVERYONE - {"viewer"}),
    Route(
        "PATCH",
        "/api/v1/tenants/{tenant}/users/{user}",
        frozenset({"platform_admin", "tenant_admin"}),
        lambda: {"role": "viewer"},
    ),
    Route(
        "DELETE",
        "/api/v1/tenants/{tenant}/users/{user}",
        frozenset({"platform_admin", "tenant_admin"}),
    ),
]

PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
}

AUDITORS = frozenset({"platform_admin", "tenant_admin", "auditor"})
ROUTES += [
    Route("GET", "/api/v1/tenants/{tenant}/audit", AUDITORS),
    Route("GET", "/api/v1/tenants/{tenant}/audit/head", AUDITORS),
    Route("GET", "/api/v1/tenants/{tenant}/audit/{seq}", AUDITORS),
    Route("GET", "/api/v1/tenants/{tenant}/audit/{seq}/proof", AUDITORS),
    Route("GET", "/api/v1/tenants/{tenant}/audit/consistency?first=1&second=1", AUDITORS),
]
PUBLIC.add(("GET", "/api/v1/audit/public-key"))

READERS = EVERYONE
WORKERS = frozenset({"platform_admin", "tenant_admin", "engineer", "operator"})
PUBLISHERS = frozenset({"platform_admin", "tenant_admin", "engineer"})
WORKFLOW = {
    "name": "matrix",
    "version": "1.0.0",
    "start": "done",
    "steps": {"done": {"type": "end"}},
}
_versions = itertools.count(2)  # 1.0.1 is published before the matrix runs


def _definition() -> dict[str, Any]:
    return {**WORKFLOW, "version": f"1.0.{next(_versions)}"}


ROUTES += [
    Route("POST", "/api/v1/tenants/{tenant}/workflows", PUBLISHERS, _definition),
    Route("GET", "/api/v1/tenants/{tenant}/workflows", READERS),
    Route("GET", "/api/v1/tenants/{tenant}/workflows/{name}", READERS),
    Route("GET", "/api/v1/tenants/{tenant}/workflows/{name}/{version}", READERS),
    Route("GET", "/api/v1/tenants/{tenant}/workflows/{name}/{version}/diagram", READERS),
    Route("POST", "/api/v1/tenants/{tenant}/runs", WORKERS, lambda: {"workflow": "matrix"}),
    Route("GET", "/api/v1/tenants/{tenant}/runs", READERS),
    Route("GET", "/api/v1/tenants/{tenant}/runs/{run_id}", READERS),
    Route("GET", "/api/v1/tenants/{tenant}/runs/{run_id}/history", READERS),
    Route("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/signals/{name}", WORKERS),
    Route("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/cancel", WORKERS),
    Route("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/suspend", WORKERS),
    Route("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/resume", WORKERS),
    Route("GET", "/api/v1/tenants/{tenant}/tasks", WORKERS),
    Route("POST", "/api/v1/tenants/{tenant}/tasks/{task_id}/claim", WORKERS),
    Route("POST", "/api/v1/tenants/{tenant}/tasks/{task_id}/complete", WORKERS),
]

# Anchors and receipts (issue 6). A receipt is 409 until an anchor is confirmed: past the guard.
ROUTES += [
    Route("GET", "/api/v1/tenants/{tenant}/audit/anchors", AUDITORS),
    Route("POST", "/api/v1/tenants/{tenant}/audit/anchors", AUDITORS),
    Route("GET", "/api/v1/tenants/{tenant}/audit/{seq}/receipt", AUDITORS),
    Route("GET", "/api/v1/tenants/{tenant}/runs/{run_id}/receipt", READERS),
]
PUBLIC.add(("POST", "/api/v1/chain/rpc"))
# PLC devices and alarms (issue 5). Made-up device and alarm ids: the handler's 404.
ENGINEERS = PUBLISHERS
_DEVICE = "/api/v1/tenants/{tenant}/devices/{device_id}"
_ALARM = "/api/v1/tenants/{tenant}/alarms/{alarm_id}"


def _device_body() -> dict[str, Any]:
    return {
        "name": _unique("plc-"),
        "protocol": "modbus",
        "endpoint": "modbus-tcp://127.0.0.1:1",
        "enabled": False,
        "tags": [{"name": "p", "register": "holding", "address": 0, "datatype": "uint16"}],
    }


ROUTES += [
    Route("POST", "/api/v1/tenants/{tenant}/devices", ENGINEERS, _device_body),
    Route("GET", "/api/v1/tenants/{tenant}/devices", READERS),
    Route("GET", _DEVICE, READERS),
    Route("PATCH", _DEVICE, ENGINEERS, lambda: {"poll_interval_ms": 500}),
    Route("DELETE", _DEVICE, ENGINEERS),
    Route("GET", _DEVICE + "/status", READERS),
    Route("GET", _DEVICE + "/tags", READERS),
    Route("GET", _DEVICE + "/browse", ENGINEERS),
    Route("GET", _DEVICE + "/tags/{tag}/history", READERS),
    Route("POST", _DEVICE + "/tags/{tag}/write", WORKERS, lambda: {"value": 1}),
    Route("POST", "/api/v1/tenants/{tenant}/alarm-rules", ENGINEERS, lambda: {}),
    Route("GET", "/api/v1/tenants/{tenant}/alarm-rules", READERS),
    Route("GET", "/api/v1/tenants/{tenant}/alarm-rules/{alarm_id}", READERS),
    Route("PATCH", "/api/v1/tenants/{tenant}/alarm-rules/{alarm_id}", ENGINEERS, lambda: {}),
    Route("DELETE", "/api/v1/tenants/{tenant}/alarm-rules/{alarm_id}", ENGINEERS),
    Route("GET", "/api/v1/tenants/{tenant}/alarms", READERS),
    Route("GET", _ALARM, READERS),
    Route("POST", _ALARM + "/ack", WORKERS, lambda: {"comment": "seen"}),
    Route("POST", _ALARM + "/shelve", WORKERS, lambda: {"minutes": 5, "reason": "maintenance"}),
    Route("POST", _ALARM + "/unshelve", WORKERS),
]
# Routes whose made-up ids answer 404 (or whose empty body 422) past the guard.
# A receipt is 409 until an anchor is confirmed.
PAST_GUARD_ONLY = ("{run_id}", "{task_id}", "{device_id}", "{alarm_id}", "alarm-rules", "/receipt")

# Industry packs and incidents (issue 7). The pack "matrix" does not exist (the handler's
# 404), nor does the incident.
PACK_ADMINS = frozenset({"platform_admin", "tenant_admin"})
INCIDENT_READERS = EVERYONE - {"viewer"}  # viewers too where the safety pack is installed
REVIEWERS = PUBLISHERS
_PACK = "/api/v1/tenants/{tenant}/packs/{name}"
_INCIDENT = "/api/v1/tenants/{tenant}/incidents/{incident_id}"
ROUTES += [
    Route("GET", "/api/v1/tenants/{tenant}/packs", READERS),
    Route("GET", _PACK, READERS),
    Route("POST", _PACK + "/install", PACK_ADMINS, lambda: {"parameters": {}}),
    Route("POST", _PACK + "/upgrade", PACK_ADMINS, lambda: {}),
    Route("DELETE", _PACK, PACK_ADMINS),
    Route("GET", "/api/v1/tenants/{tenant}/incidents", INCIDENT_READERS),
    Route("GET", _INCIDENT, INCIDENT_READERS),
    Route("POST", _INCIDENT + "/review", REVIEWERS, lambda: {"outcome": "confirmed"}),
]
PAST_GUARD_ONLY += ("/packs/{name}", "{incident_id}")

# Egress rules (issue 12, item 3): tenant admins and the platform admin.
EGRESS_ADMINS = frozenset({"platform_admin", "tenant_admin"})
ROUTES += [
    Route("GET", "/api/v1/tenants/{tenant}/egress", EGRESS_ADMINS),
    Route(
        "PUT", "/api/v1/tenants/{tenant}/egress", EGRESS_ADMINS, lambda: {"deny": ["10.9.0.0/16"]}
    ),
]

# ERP connections (issue 15, item 1): tenant admins and engineers manage them, every role
# reads them. The connection "matrix" does not exist (the handler's 404).
_CONNECTION = "/api/v1/tenants/{tenant}/connections/{name}"


def _connection_body() -> dict[str, Any]:
    return {"name": _unique("erp-"), "kind": "odata", "url": "http://127.0.0.1:1/odata/"}


ROUTES += [
    Route("POST", "/api/v1/tenants/{tenant}/connections", ENGINEERS, _connection_body),
    Route("GET", "/api/v1/tenants/{tenant}/connections", READERS),
    Route("GET", _CONNECTION, READERS),
    Route("PATCH", _CONNECTION, ENGINEERS, lambda: {"timeout_s": 10}),
    Route("DELETE", _CONNECTION, ENGINEERS),
    # Through a connection: every reader sees its health, all but viewers its metadata,
    # those who run work (operators up) query it.
    Route("GET", _CONNECTION + "/health", READERS),
    Route("GET", _CONNECTION + "/metadata", READERS - {"viewer"}),
    Route(
        "POST",
        _CONNECTION + "/query",
        READERS - {"viewer", "auditor"},
        lambda: {"entity_set": "Readings", "top": 1},
    ),
]
PAST_GUARD_ONLY += ("/connections/{name}",)

# Events from outside systems (issue 16): operators and up publish.
ROUTES += [
    Route(
        "POST",
        "/api/v1/tenants/{tenant}/events",
        EVERYONE - {"viewer", "auditor"},
        lambda: {"topic": "production/matrix/events/status_change", "payload": {"state": 1}},
    ),
]

# Collaboration (issue 18): every role reads its organisation and collaborations; tenant
# admins manage partners (the partner and collaboration "0..." do not exist: the handler's
# 404); admins, engineers and operators act in collaborations; auditors read them.
PARTNER_ADMINS = frozenset({"platform_admin", "tenant_admin"})
PARTNER_READERS = EVERYONE - {"viewer"}
COLLABORATORS = WORKERS
_PARTNER = "/api/v1/tenants/{tenant}/partners/{partner_id}"
_COLLAB = "/api/v1/tenants/{tenant}/collaborations/{collab_id}"


def _collaboration_body() -> dict[str, Any]:
    return {
        "name": "matrix",
        "participants": [{"organisation": "self", "role": "initiator"}],
        "tasks": [{"id": "t", "type": "activity", "assigned_to": "self"}],
    }


ROUTES += [
    Route("GET", "/api/v1/tenants/{tenant}/organisation", READERS),
    Route("GET", "/api/v1/tenants/{tenant}/partners", PARTNER_READERS),
    Route("POST", "/api/v1/tenants/{tenant}/partners", PARTNER_ADMINS, lambda: {"name": "x"}),
    Route("GET", _PARTNER, PARTNER_READERS),
    Route("POST", _PARTNER + "/accept", PARTNER_ADMINS),
    Route("POST", _PARTNER + "/suspend", PARTNER_ADMINS),
    Route("POST", _PARTNER + "/resume", PARTNER_ADMINS),
    Route("POST", _PARTNER + "/messages", PARTNER_ADMINS, lambda: {"messages": [{"a": 1}]}),
    Route("GET", "/api/v1/tenants/{tenant}/collaborations", READERS),
    Route("POST", "/api/v1/tenants/{tenant}/collaborations", COLLABORATORS, _collaboration_body),
    Route("GET", _COLLAB, READERS),
    Route("POST", _COLLAB + "/start", COLLABORATORS),
    Route("POST", _COLLAB + "/tasks/{task_id}/result", COLLABORATORS, lambda: {"result": {}}),
    Route("POST", _COLLAB + "/terminate", COLLABORATORS, lambda: {"reason": "matrix"}),
    Route("GET", _COLLAB + "/data", READERS),
    Route("GET", _COLLAB + "/receipt", READERS),
]
# A made-up partner or collaboration is the handler's 404; a partner body missing its
# fields is the handler's 422.
PAST_GUARD_ONLY += ("/partners", "/collaborations/{collab_id}")
# The federation inbox: its credential is the message's signature, not a token.
PUBLIC.add(("POST", "/federation/v1/organisations/{org_id}"))
