"""Audit entries: who did what, to what, with which outcome, and the request it came with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


# The columns stored beside an entry's body for indexes and filters, each a copy of the
# body's field of the same name (issue 12 item 8: they must never disagree with it).
INDEXED_FIELDS = ("seq", "ts", "actor", "action", "resource_type", "resource_id", "outcome")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One audit_entries row: its filter columns and its body (the RFC 8785 entry)."""

    seq: int
    ts: datetime
    actor: str
    action: str
    resource_type: str
    resource_id: str
    outcome: str
    body: str

    def mismatches(self, entry: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
        """(column, stored value, signed value) for each filter column that differs from
        the body. A few compares on a row already read: cheap enough for every request."""
        found = []
        for name in INDEXED_FIELDS:
            stored: Any = getattr(self, name)
            if name == "ts":
                stored = rfc3339(stored.astimezone(UTC))
            signed = entry.get(name)
            if stored != signed or type(stored) is not type(signed):
                found.append((name, stored, signed))
        return found


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
