"""`POST /api/v1/tenants/{t}/events`: an outside system publishes an event in a tenant.

The tenant is the caller's (the route's, checked by the policy), never the payload's: a
payload naming another tenant is refused and audited, as a run's `emit_event` is. A
topic is concrete (no `+`, `#` or `{name}` levels: those belong to filters), at most 16
levels of letters, digits and `_ . : -`. Every publish is an audit entry (who put which
topic on the bus), so a run an event started can be traced to its sender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hub.domain.audit import AuditEvent, Outcome, RequestContext
from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.tenancy import Tenant
from hub.ports import EventBus
from hub.services.audit.log import AuditLog

MAX_LEVELS = 16
MAX_TOPIC = 256
_LEVEL = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def topic_problem(topic: str) -> str | None:
    if not topic or len(topic) > MAX_TOPIC:
        return f"1 to {MAX_TOPIC} characters"
    levels = topic.split("/")
    if len(levels) > MAX_LEVELS:
        return f"at most {MAX_LEVELS} levels"
    bad = next((level for level in levels if not _LEVEL.match(level)), None)
    if bad is not None:
        return (
            f"level {bad!r}: each level is 1-64 letters, digits, '_', '.', ':' or '-' "
            "(no wildcards: an event has one concrete topic)"
        )
    return None


@dataclass(frozen=True)
class Published:
    topic: str
    tenant: str


class EventPublisher:
    def __init__(self, bus: EventBus, audit: AuditLog) -> None:
        self._bus = bus
        self._audit = audit

    async def publish(
        self, tenant: Tenant, topic: str, payload: Any, ctx: RequestContext
    ) -> Published:
        problem = topic_problem(topic)
        if problem is not None:
            raise ValidationFailed([FieldProblem("topic", problem)])
        named = payload.get("tenant_id") if isinstance(payload, dict) else None
        if named is not None and named != tenant.id:
            details = {"topic": topic, "named_tenant": str(named)[:64]}
            await self._audit.record_now(
                [tenant.id],
                ctx,
                AuditEvent("event.publish", "topic", topic, Outcome.DENIED, details),
            )
            raise ValidationFailed(
                [FieldProblem("payload.tenant_id", "an event is published in the caller's tenant")]
            )
        await self._bus.publish(topic, payload, tenant=tenant.id)
        await self._audit.record_now(
            [tenant.id], ctx, AuditEvent("event.publish", "topic", topic, Outcome.SUCCESS)
        )
        return Published(topic, tenant.slug)
