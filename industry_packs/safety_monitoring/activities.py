"""The safety-monitoring pack's activities, registered with `register(registry, services)`.

Every PLC write goes through the hub's device service (`write_tag`: read back, compared,
audited); nothing here talks to a PLC itself. Interlock writes are idempotent: a tag that
already holds its target value (good quality) is not written again, so a retried or
re-run activity never writes twice; a refused write (a Modbus exception, a read-back
mismatch) is an error, never a success.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime
from typing import Any

from hub.domain.egress import EgressRefused
from hub.domain.errors import HubError, NotFound
from hub.domain.packs import NotificationFailed, SealBroken
from hub.domain.plc import NotWritable, PlcError, Quality
from hub.engine.activities import (
    ActivityContext,
    ActivityError,
    ActivityRegistry,
    NonRetryableError,
)
from hub.ports import Notification
from hub.services.packs.runtime import PackRuntime
from industry_packs.safety_monitoring import rules
from industry_packs.safety_monitoring.health import SensorHealth

PACK = "safety-monitoring"


class ValidationFailed(NonRetryableError):
    """The event is not an alarm event this pack can act on."""


class InterlockRefused(ActivityError):
    """A PLC refused an interlock write, or read back another value (retried)."""


class InterlockNotWritable(NonRetryableError):
    @property
    def error_type(self) -> str:
        return "NotWritable"


class NotificationRefused(NonRetryableError):
    """The egress policy refuses a channel's destination: no retry can reach it."""

    @property
    def error_type(self) -> str:
        return "EgressRefused"


class OverrideRefused(NonRetryableError):
    """The override key does not match the installed one."""


class Activities:
    def __init__(self, services: PackRuntime) -> None:
        self.s = services

    # --- validate, assess, respond ---

    async def validate_safety_event(self, ctx: ActivityContext, data: Any) -> Any:
        event = data.get("event") if isinstance(data, dict) else None
        if not isinstance(event, dict) or not isinstance(event.get("alarm_id"), str):
            raise ValidationFailed("the run's input is not an alarm event")
        action = event.get("action")
        if action not in rules.RAISING:
            return {"valid": False, "reason": f"alarm action {action!r} needs no response"}
        if event.get("area") != data.get("area_id"):
            return {"valid": False, "reason": f"alarm of area {event.get('area')!r}"}
        needed = int(data.get("required_confirmations") or 1)
        confirmed = await self._confirm(ctx, event, needed) if action != "fault" else needed
        if confirmed < needed:
            reason = f"{confirmed} of {needed} readings confirmed the alarm"
            return {"valid": False, "reason": reason, "confirmations": confirmed}
        return {
            "valid": True,
            "reason": "confirmed",
            "confirmations": confirmed,
            "assessment": _assessment(event, data.get("safety_level", "medium")),
        }

    async def _confirm(self, ctx: ActivityContext, event: dict[str, Any], needed: int) -> int:
        """The event is the first reading past the limit; each further one is a good
        reading of the tag, taken 100 ms apart, that still shows the condition."""
        confirmed = 1
        if needed <= 1:
            return confirmed
        tenant = await self.s.tenant(ctx.tenant)
        for _ in range(needed - 1):
            await asyncio.sleep(0.1)
            value = await self.s.devices.read_tag(tenant, event["device_id"], event["tag"])
            if value.quality is Quality.GOOD and rules.past_limit(
                value.value, event.get("condition"), event.get("limit")
            ):
                confirmed += 1
        return confirmed

    async def assess_severity(self, ctx: ActivityContext, data: Any) -> Any:
        """The assessment as a step of its own (runs of definitions published before
        validate_event made it)."""
        return _assessment(data["event"], data.get("safety_level", "medium"))

    async def emergency_response(self, ctx: ActivityContext, data: Any) -> Any:
        event = data["event"]
        await ctx.publish(
            f"areas/{event.get('area')}/safety/emergency",
            {"tenant_id": ctx.tenant, "run_id": ctx.run_id, "event": event},
        )
        await self.s.record(
            ctx,
            "safety.emergency",
            event.get("alarm_id", ""),
            area=event.get("area"),
            severity=data.get("severity"),
        )
        return {"declared_at": self.s.clock.now().isoformat()}

    async def activate_safety_systems(self, ctx: ActivityContext, data: Any) -> Any:
        return await self._set_all(ctx, data["interlocks"], release=False)

    async def _set_all(self, ctx: ActivityContext, interlocks: list[Any], release: bool) -> Any:
        """Write every interlock (one failing does not stop the others), then report."""
        tenant = await self.s.tenant(ctx.tenant)
        written: list[str] = []
        already: list[str] = []
        failures: list[tuple[str, str, bool]] = []  # where, why, worth retrying
        for item in interlocks:
            target = rules.release_value(item) if release else item["value"]
            where = f"{item['device']}/{item['tag']}"
            try:
                done = await self.s.devices.set_tag(
                    tenant, item["device"], item["tag"], target, self.s.actor(ctx)
                )
                (already if done is None else written).append(where)
            except (NotWritable, NotFound) as exc:
                failures.append((where, exc.detail, False))
            except (PlcError, HubError) as exc:
                failures.append((where, exc.detail, True))
        if failures:
            text = "; ".join(f"{w}: {d}" for w, d, _ in failures)
            if all(retry for _, _, retry in failures):
                raise InterlockRefused(text)
            raise InterlockNotWritable(text)
        return {"written": written, "already_set": already}

    async def escalate_interlock_failure(self, ctx: ActivityContext, data: Any) -> Any:
        """The interlocks could not be confirmed: say so loudly, record why."""
        history = await self.s.history(ctx.run_id)
        errors = [
            e.data.get("message")
            for e in history
            if e.type.value == "ActivityFailed" and e.step == "activate_safety_systems"
        ]
        event = data["event"]
        last = errors[-1] if errors else "unknown error"
        await ctx.publish(
            f"areas/{event.get('area')}/safety/escalation",
            {"tenant_id": ctx.tenant, "run_id": ctx.run_id, "error": last},
        )
        await self.s.record(
            ctx,
            "safety.interlock_failed",
            event.get("alarm_id", ""),
            attempts=len(errors),
            error=str(last)[:500],
        )
        await self._send(ctx, "operators", "interlock_failed", event, "high", error=last)
        return {"escalated": True, "attempts": len(errors), "error": last}

    # --- notifications ---

    async def notify(self, ctx: ActivityContext, data: Any) -> Any:
        sent = await self._send(
            ctx, data["audience"], data["kind"], data["event"], data.get("severity")
        )
        return {"audience": data["audience"], "sent": sent}

    async def _send(
        self,
        ctx: ActivityContext,
        audience: str,
        kind: str,
        event: Any,
        severity: Any,
        **extra: Any,
    ) -> int:
        params = await self.s.parameters(ctx.tenant, PACK)
        channels = [
            c
            for c in await self._channels(ctx)
            if audience in c.get("audience", ["operators", "authorities"])
        ]
        recipients = params.get("authority_contacts", []) if audience == "authorities" else []
        subject = f"[{severity or 'safety'}] {kind.replace('_', ' ')} in area {event.get('area')}"
        body = {
            "kind": kind,
            "audience": audience,
            "severity": severity,
            "tenant": event.get("tenant"),
            "run_id": ctx.run_id,
            "event": event,
            **extra,
        }
        sent, failed, refused = 0, [], []
        for index, channel in enumerate(channels):
            key = f"{ctx.idempotency_key}:{index}"
            message = Notification(subject, body, key)
            try:
                await self.s.notifier.send(channel, message, recipients, tenant=ctx.tenant)
                sent += 1
            except NotificationFailed as exc:
                failed.append(str(exc))
            except EgressRefused as exc:  # no retry reaches a refused destination
                refused.append(f"channel {index}: {exc}")
        if failed:
            raise ActivityError("; ".join(failed + refused))
        if refused:
            raise NotificationRefused("; ".join(refused))
        return sent

    async def _channels(self, ctx: ActivityContext) -> list[dict[str, Any]]:
        """The notification channels, decrypted here and only here (they hold webhook
        secrets and SMTP passwords)."""
        try:
            channels = await self.s.secret(ctx.tenant, PACK, "notification_channels")
        except SealBroken as exc:
            # another HUB_SECRET_KEY: no retry can fix it; the channels must be given again
            raise NonRetryableError(f"notification_channels: {exc}") from None
        return list(channels or [])

    # --- the acknowledgement ---

    async def check_acknowledged(self, ctx: ActivityContext, data: Any) -> Any:
        tenant = await self.s.tenant(ctx.tenant)
        try:
            alarm = await self.s.alarms.get(tenant, str(data.get("alarm_id")))
        except NotFound:  # a health-check fault has no stored alarm
            return {"acknowledged": False}
        state = alarm.state.value
        return {"acknowledged": state in ("active-acknowledged", "normal"), "state": state}

    # --- after the acknowledgement ---

    async def monitor_situation(self, ctx: ActivityContext, data: Any) -> Any:
        event = data["event"]
        sensor = next(
            (
                s
                for s in data["sensors"]
                if s["device"] == event.get("device") and s["tag"] == event.get("tag")
            ),
            {"hi": event.get("limit")},
        )
        tenant = await self.s.tenant(ctx.tenant)
        window = float(data.get("window_s") or 2)
        values: list[float] = []
        for index in range(5):
            if index:
                await asyncio.sleep(window / 4)
            reading = await self.s.devices.read_tag(tenant, event["device_id"], event["tag"])
            if reading.quality is Quality.GOOD and isinstance(reading.value, int | float):
                values.append(float(reading.value))
        return {"trend": rules.trend(values, sensor, event.get("condition")), "values": values}

    async def restore_normal(self, ctx: ActivityContext, data: Any) -> Any:
        steps = data.get("steps") or {}
        if "activate_safety_systems" not in steps:
            return {"released": [], "held": False, "reason": "no interlock was activated"}
        params = await self.s.parameters(ctx.tenant, PACK)
        level = str(params.get("safety_level", "medium"))
        if level in ("high", "critical"):
            given, stored = str(data.get("override_key") or ""), str(params.get("override_key", ""))
            if stored.startswith("sha256:"):  # installed before digests were keyed
                raise OverrideRefused(
                    "the installed override key is kept in an older form: "
                    "install the pack again with the key"
                )
            if not (given and stored and hmac.compare_digest(given, stored)):
                raise OverrideRefused("the override key does not match")
        event = data.get("event") or {}
        holding = await self._holding_alarms(ctx, event, level)
        if holding:
            if holding != _held_before(steps):  # one entry per change, not one per retry
                await self.s.record(ctx, "safety.restore_held", "interlocks", held_by=holding)
            return {"released": [], "held": True, "held_by": holding}
        result = await self._set_all(ctx, data["interlocks"], release=True)
        await self.s.record(ctx, "safety.restore", "interlocks", released=result["written"])
        return {
            "released": result["written"],
            "already_released": result["already_set"],
            "held": False,
        }

    async def _holding_alarms(self, ctx: ActivityContext, event: Any, level: str) -> list[str]:
        """Other alarms of the area, still present, that call for the interlocks: while one
        is, releasing them would undo another excursion's safety response."""
        tenant = await self.s.tenant(ctx.tenant)
        active = await self.s.alarms.active_in_area(tenant, str(event.get("area")))
        return [
            a.id
            for a in active
            if a.id != event.get("alarm_id") and rules.severity(a.condition, level) == "high"
        ]

    async def log_safety_event(self, ctx: ActivityContext, data: Any) -> Any:
        event, steps = data["event"], data.get("steps") or {}
        severity = _severity_of({k: (v or {}).get("output") for k, v in steps.items()})
        await self.s.record(
            ctx,
            "safety.event",
            event.get("alarm_id", ""),
            area=event.get("area"),
            severity=severity,
            tag=event.get("tag"),
        )
        return {"logged": True, "severity": severity}

    async def record_incident(self, ctx: ActivityContext, data: Any) -> Any:
        event, steps = data["event"], data.get("steps") or {}
        outputs = {k: v.get("output") for k, v in steps.items()}
        severity = _severity_of(outputs)
        interlocks = outputs.get("activate_safety_systems")
        failed = outputs.get("interlock_failed")
        summary = (
            f"{event.get('condition')} alarm on {event.get('device')}/{event.get('tag')} "
            f"(value {event.get('value')}, limit {event.get('limit')}); "
            + (
                "interlocks NOT confirmed, escalated"
                if failed
                else "interlocks activated"
                if interlocks
                else "no interlock needed"
            )
        )
        opened = _time(event.get("ts")) or self.s.clock.now()
        fields = {
            "area": event.get("area", ""),
            "severity": severity,
            "summary": summary,
            "opened_at": opened,
            "details": {"event": event, "steps": outputs},
        }
        item = await self.s.incidents.record(
            ctx.tenant, ctx.run_id, PACK, fields, self.s.actor(ctx)
        )
        return {"incident_id": item.id, "severity": item.severity}


def _assessment(event: dict[str, Any], level: str) -> dict[str, Any]:
    """The event's severity at the area's safety level, with what it was judged on."""
    return {
        "severity": rules.severity(event.get("condition"), level),
        "condition": event.get("condition"),
        "level": level,
        "value": event.get("value"),
        "limit": event.get("limit"),
    }


def _severity_of(outputs: dict[str, Any]) -> str:
    """The run's assessed severity (validate_event's, or an older run's assess_severity
    step's); low when the run was not assessed."""
    validated = (outputs.get("validate_event") or {}).get("assessment")
    assessed = validated or outputs.get("assess_severity") or {}
    return str(assessed.get("severity", "low"))


def _held_before(steps: dict[str, Any]) -> list[str] | None:
    """What held the interlocks at this run's previous restore attempt, if one did."""
    for step in ("restore_with_override", "restore_normal"):
        output = (steps.get(step) or {}).get("output") or {}
        if output.get("held"):
            return list(output.get("held_by") or [])
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


NAMES = (
    "validate_safety_event",
    "assess_severity",
    "emergency_response",
    "activate_safety_systems",
    "escalate_interlock_failure",
    "notify",
    "check_acknowledged",
    "monitor_situation",
    "restore_normal",
    "log_safety_event",
    "record_incident",
)


def register(registry: ActivityRegistry, services: PackRuntime | None = None) -> None:
    """Add the pack's activities. Without services (HUB_ACTIVITY_MODULES), they refuse."""
    if services is None:
        raise RuntimeError("the safety-monitoring activities need the hub's services")
    activities = Activities(services)
    for name in NAMES:
        registry.register(name, getattr(activities, name))
    registry.register("check_safety_sensors", SensorHealth(services).check_safety_sensors)
