"""The PLC capability's services, built and started together (see hub/bootstrap.py)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.ports import Clock, PlcPort, UnitOfWorkFactory
from hub.services.alarms.service import AlarmService
from hub.services.audit.log import AuditLog
from hub.services.events.bus import InProcessBus
from hub.services.plc.devices import DeviceService
from hub.services.plc.supervisor import PlcSupervisor
from hub.services.telemetry.pipeline import TelemetryService, TelemetrySettings
from hub.settings import Settings


@dataclass
class PlcServices:
    telemetry: TelemetryService
    alarms: AlarmService
    supervisor: PlcSupervisor
    devices: DeviceService
    started: bool = False

    async def start(self, *, supervise: bool = True) -> None:
        """The flusher and the alarm evaluator, then (unless off) the device sessions."""
        await self.telemetry.start()
        await self.alarms.start()
        if supervise:
            await self.supervisor.start()
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.supervisor.stop()
        await self.telemetry.stop()
        await self.alarms.stop()


def build_plc(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    audit: AuditLog,
    bus: InProcessBus,
    port: PlcPort,
) -> PlcServices:
    telemetry = TelemetryService(
        uow,
        clock,
        bus,
        TelemetrySettings(
            flush_interval=settings.telemetry_flush_ms / 1000,
            retention_days=settings.telemetry_retention_days,
        ),
    )
    alarms = AlarmService(uow, clock, audit, bus, telemetry)
    supervisor = PlcSupervisor(uow, clock, port, telemetry)
    devices = DeviceService(uow, clock, audit, supervisor, telemetry)
    return PlcServices(telemetry, alarms, supervisor, devices)
