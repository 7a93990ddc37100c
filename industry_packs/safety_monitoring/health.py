"""The pack's health check: a safety sensor that is bad or stale raises an alarm event on
its area's alarm topic, once per fault (not again while a safety run handles it)."""

from __future__ import annotations

from typing import Any

from hub.domain.errors import NotFound
from hub.domain.plc import Quality
from hub.engine.activities import ActivityContext
from hub.services.packs.runtime import PackRuntime


class SensorHealth:
    def __init__(self, services: PackRuntime) -> None:
        self.s = services

    async def check_safety_sensors(self, ctx: ActivityContext, data: Any) -> Any:
        """A safety sensor that is bad or stale raises an alarm event on its topic."""
        tenant = await self.s.tenant(ctx.tenant)
        now, stale_after = self.s.clock.now(), float(data.get("stale_after_s") or 60)
        handled = await self._faults_in_hand(ctx.tenant)
        faults = []
        for sensor in data["sensors"]:
            try:
                device = await self.s.devices.get(tenant, sensor["device"])
                reading = await self.s.devices.read_tag(tenant, device.id, sensor["tag"])
            except NotFound:
                faults.append({**sensor, "condition": "bad", "reason": "device or tag removed"})
                continue
            age = (now - reading.ts).total_seconds() if reading.ts else None
            condition = (
                "bad"
                if reading.quality is Quality.BAD
                else "stale"
                if age is None or age > stale_after
                else None
            )
            if condition is None:
                continue
            raised = (device.id, sensor["tag"]) not in handled  # a fault is raised once
            faults.append({**sensor, "condition": condition, "age_s": age, "raised": raised})
            if not raised:
                continue
            await ctx.publish(
                f"areas/{data['area_id']}/sensors/{sensor['tag']}/alarm",
                {
                    "alarm_id": ctx.run_id,
                    "tenant": tenant.slug,
                    "tenant_id": tenant.id,
                    "device": device.name,
                    "device_id": device.id,
                    "tag": sensor["tag"],
                    "area": data["area_id"],
                    "action": "fault",
                    "state": "active-unacknowledged",
                    "condition": condition,
                    "severity": condition,
                    "priority": "high",
                    "value": reading.value,
                    "limit": None,
                    "ts": now.isoformat(),
                    "actor": "hub",
                    "message": f"safety sensor {sensor['device']}/{sensor['tag']} is {condition}",
                },
            )
            await self.s.record(
                ctx, "safety.sensor_fault", f"{device.id}/{sensor['tag']}", condition=condition
            )
        return {"checked": len(data["sensors"]), "faults": faults}

    async def _faults_in_hand(self, tenant_id: str) -> set[tuple[str | None, str | None]]:
        """(device id, tag) of the sensor faults an unfinished safety run is handling."""
        runs = await self.s.open_runs(tenant_id, "safety-monitoring")
        inputs = [r.get("input") or {} for r in runs]
        return {(i.get("device_id"), i.get("tag")) for i in inputs if i.get("action") == "fault"}
