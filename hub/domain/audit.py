"""Audit entries: who did what, to what, with which outcome, and the request it came with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

PLATFORM_LOG = "platform"  # the log of events that belong to no tenant
ENTRY_FIELDS = (
    "seq",
    "ts",
    "actor",
    "actor_type",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "request_id",
    "ip",
    "details",
)


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"  # issue 12 item 17: a PLC write that timed out may still be applied


class ActorType(StrEnum):
    USER = "user"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"


@dataclass(frozen=True)
class RequestContext:
    """Who is acting and through which request; every recorded entry carries it."""

    actor: str
    actor_type: ActorType = ActorType.USER
    request_id: str = ""
    ip: str = ""


SYSTEM = RequestContext("hub", ActorType.SYSTEM)


@dataclass(frozen=True)
class AuditEvent:
    action: str
    resource_type: str
    resource_id: str
    outcome: Outcome = Outcome.SUCCESS
    details: dict[str, Any] = field(default_factory=dict)


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_object(seq: int, ts: datetime, ctx: RequestContext, event: AuditEvent) -> dict[str, Any]:
    """The entry as served (without leaf_hash); its RFC 8785 form is the Merkle leaf."""
    return {
        "seq": seq,
        "ts": rfc3339(ts),
        "actor": ctx.actor,
        "actor_type": ctx.actor_type.value,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "outcome": event.outcome.value,
        "request_id": ctx.request_id,
        "ip": ctx.ip,
        "details": event.details,
    }


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class SignedHead:
    tree_size: int
    root_hash: str
    timestamp: str
    signature: str
    key_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "signature": self.signature,
            "key_id": self.key_id,
        }
