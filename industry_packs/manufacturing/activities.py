"""The manufacturing pack's activities, registered with `register(registry, services)`.

PLC writes go through the hub's device service (`set_tag`: read back, compared, audited;
a tag already holding its value is not written again, so a retry or a re-run writes
nothing twice); reads through `read_tag` (the latest polled value and its quality). Each
batch's course is in the audit log: `manufacturing.batch_started`, `.stage`,
`.quality_check`, `.quality_decision` (who chose release, rework or scrap, and why),
`.alert`, `.batch_packaged` / `.batch_scrapped`, beside the device service's own
`plc.write` entries and the engine's run and task entries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from hub.domain.errors import HubError, NotFound, ValidationFailed
from hub.domain.plc import NotWritable, PlcError, Quality
from hub.engine.activities import (
    ActivityContext,
    ActivityError,
    ActivityRegistry,
    NonRetryableError,
)
from hub.services.packs.runtime import PackRuntime

PACK = "manufacturing"
PREFIX = "manufacturing."
_POLL_S = 0.1


class StageInvalid(NonRetryableError):
    """A stage's device or tag is gone or unwritable, or a value does not fit: no retry
    can fix it (the install checked them; the device changed since)."""


class PlcWriteFailed(ActivityError):
    """The PLC refused a setpoint, was unreachable, or read back another value (retried)."""


class StageTimeout(ActivityError):
    """A robot did not signal done in time (retried: the setpoints are written again)."""


class MaterialsShort(ActivityError):
    """A material is below its minimum, or cannot be read (retried: it may arrive)."""


class Activities:
    def __init__(self, services: PackRuntime) -> None:
        self.s = services

    # --- the batch starts ---

    async def prepare_materials(self, ctx: ActivityContext, data: Any) -> Any:
        batch = _batch(data)
        readings, short = [], []
        for item in data.get("materials") or []:
            value, quality = await self._read(ctx, item["device"], item["tag"])
            where = f"{item['device']}/{item['tag']}"
            readings.append({"material": where, "value": value, "min": item["min"]})
            if quality is not Quality.GOOD or not _number(value):
                short.append(f"{where}: no good reading")
            elif float(value) < float(item["min"]):
                short.append(f"{where}: {value} below {item['min']}")
        if short:
            raise MaterialsShort("; ".join(short))
        await self.s.record(
            ctx,
            "manufacturing.batch_started",
            str(batch.get("batch_id")),
            line=data.get("line"),
            product=batch.get("product"),
            quantity=batch.get("quantity"),
            materials=readings,
        )
        return {"batch_id": batch.get("batch_id"), "materials": readings}

    # --- stages ---

    async def robotic_stage(self, ctx: ActivityContext, data: Any) -> Any:
        """The robot's program and parameters written (read back), then, when the stage
        names one, its done signal awaited (polled, within timeout_s)."""
        config = data["config"]
        result = await self._setpoints(ctx, config["device"], config.get("setpoints") or {})
        waited = None
        if config.get("done_tag"):
            waited = await self._until(
                ctx,
                config["device"],
                config["done_tag"],
                config.get("done_value", True),
                float(config.get("timeout_s") or 60),
            )
        await self._stage_done(ctx, data, "robotic", result, waited_s=waited)
        return {**result, "stage": data["stage"], "kind": "robotic", "waited_s": waited}

    async def machine_stage(self, ctx: ActivityContext, data: Any) -> Any:
        """The machine's setpoints written (read back); the workflow's timer lets it run."""
        config = data["config"]
        result = await self._setpoints(ctx, config["device"], config.get("setpoints") or {})
        await self._stage_done(ctx, data, "machine", result)
        started = self.s.clock.now().isoformat()
        return {**result, "stage": data["stage"], "kind": "machine", "started_at": started}

    async def _setpoints(
        self, ctx: ActivityContext, device: str, setpoints: dict[str, Any]
    ) -> dict[str, list[str]]:
        tenant = await self.s.tenant(ctx.tenant)
        written: list[str] = []
        already: list[str] = []
        for tag, value in setpoints.items():
            try:
                done = await self.s.devices.set_tag(tenant, device, tag, value, self.s.actor(ctx))
            except (NotWritable, NotFound, ValidationFailed) as exc:
                raise StageInvalid(f"{device}/{tag}: {exc.detail}") from None
            except (PlcError, HubError) as exc:
                raise PlcWriteFailed(f"{device}/{tag}: {exc.detail}") from None
            (already if done is None else written).append(tag)
        return {"written": written, "already_set": already}

    async def _until(
        self, ctx: ActivityContext, device: str, tag: str, value: Any, timeout_s: float
    ) -> float:
        started = time.monotonic()
        while True:
            current, quality = await self._read(ctx, device, tag)
            if quality is Quality.GOOD and current == value:
                return round(time.monotonic() - started, 3)
            if time.monotonic() - started >= timeout_s:
                raise StageTimeout(f"{device}/{tag} did not read {value!r} in {timeout_s:g} s")
            await asyncio.sleep(_POLL_S)

    async def _stage_done(
        self, ctx: ActivityContext, data: Any, kind: str, result: Any, **extra: Any
    ) -> None:
        await self.s.record(
            ctx,
            "manufacturing.stage",
            str(data.get("batch")),
            line=data.get("line"),
            stage=data["stage"],
            name=data["config"].get("name"),
            kind=kind,
            **result,
            **extra,
        )

    # --- quality ---

    async def quality_check(self, ctx: ActivityContext, data: Any) -> Any:
        """Every check's samples, `interval_ms` apart: it passes when each one is good and
        within [min, max]. A failure is published and audited; past the alert threshold
        (failed checks in this batch) an alert is raised, and so is a passing value
        within `near_limit_pct` of a limit."""
        alerts = data.get("alerts") or {}
        results = [await self._check(ctx, check, alerts) for check in data.get("checks") or []]
        passed = all(r["passed"] for r in results)
        batch, line, stage = str(data.get("batch")), data.get("line"), data.get("stage")
        failed = await self._failed_checks(ctx.run_id) + (0 if passed else 1)
        await self.s.record(
            ctx,
            "manufacturing.quality_check",
            batch,
            line=line,
            stage=stage,
            passed=passed,
            results=results,
        )
        if not passed:
            await ctx.publish(
                f"manufacturing/{line}/quality",
                {"batch_id": batch, "stage": stage, "passed": False, "results": results},
            )
        alerted = []
        if not passed and failed >= int(alerts.get("failed_checks") or 1):
            alerted.append("failed_checks")
            await self._alert(ctx, line, batch, "failed_checks", stage=stage, failed=failed)
        near = [f"{r['device']}/{r['tag']}" for r in results if r.get("near_limit")]
        if passed and near:
            alerted.append("near_limit")
            await self._alert(ctx, line, batch, "near_limit", stage=stage, sensors=near)
        return {
            "passed": passed,
            "stage": stage,
            "results": results,
            "failed_checks": failed,
            "alerts": alerted,
        }

    async def _check(
        self, ctx: ActivityContext, check: dict[str, Any], alerts: dict[str, Any]
    ) -> dict[str, Any]:
        low, high = float(check["min"]), float(check["max"])
        samples = int(check.get("samples") or 3)
        interval = float(check.get("interval_ms") or 100) / 1000
        values: list[Any] = []
        reason = None
        for index in range(samples):
            if index:
                await asyncio.sleep(interval)
            value, quality = await self._read(ctx, check["device"], check["tag"])
            values.append(value)
            if reason is None and (quality is not Quality.GOOD or not _number(value)):
                reason = f"sample {index + 1}: no good reading"
            elif reason is None and not low <= float(value) <= high:
                reason = f"sample {index + 1}: {value} outside [{low:g}, {high:g}]"
        margin = (high - low) * float(alerts.get("near_limit_pct") or 0) / 100
        near = reason is None and any(
            float(v) < low + margin or float(v) > high - margin for v in values
        )
        return {
            "device": check["device"],
            "tag": check["tag"],
            "min": low,
            "max": high,
            "values": values,
            "passed": reason is None,
            "reason": reason,
            "near_limit": near,
        }

    async def quality_decision(self, ctx: ActivityContext, data: Any) -> Any:
        """The operator's choice on a held batch, with who made it, into the audit log; a
        rework past `max_reworks` for that stage is not taken (route `hold`: asked again)."""
        choice = data.get("choice") or {}
        decision = str(choice.get("decision"))
        hold = str(data["hold_step"])
        history = await self.s.history(ctx.run_id)
        completions = [e for e in history if e.type.value == "UserTaskCompleted" and e.step == hold]
        by = completions[-1].data.get("by") if completions else None
        reworks = sum(
            1 for e in completions if (e.data.get("output") or {}).get("decision") == "rework"
        )
        limit = int(data.get("max_reworks") if data.get("max_reworks") is not None else 3)
        route, refused = decision, None
        if decision == "rework" and reworks > limit:
            route, refused = "hold", f"stage reworked {limit} time(s) already: release or scrap"
        batch, line = str(data.get("batch")), data.get("line")
        check = data.get("check") or {}
        await self.s.record(
            ctx,
            "manufacturing.quality_decision",
            batch,
            line=line,
            stage=data.get("stage"),
            decision=decision,
            route=route,
            by=by,
            note=choice.get("note"),
            reworks=reworks,
            refused=refused,
            failed=[r for r in check.get("results") or [] if not r.get("passed")],
        )
        if refused:
            await self._alert(ctx, line, batch, "rework_limit", stage=data.get("stage"))
        return {
            "decision": decision,
            "route": route,
            "by": by,
            "reworks": reworks,
            "refused": refused,
        }

    # --- the batch ends ---

    async def package_batch(self, ctx: ActivityContext, data: Any) -> Any:
        batch, line = _batch(data), data.get("line")
        written: dict[str, list[str]] = {"written": [], "already_set": []}
        for item in data.get("setpoints") or []:
            done = await self._setpoints(ctx, item["device"], {item["tag"]: item["value"]})
            for key, tags in done.items():
                written[key] += [f"{item['device']}/{t}" for t in tags]
        report = {
            "batch_id": batch.get("batch_id"),
            "product": batch.get("product"),
            "quantity": batch.get("quantity"),
            "packaged_at": self.s.clock.now().isoformat(),
            **await self._course(ctx.run_id),
            "packaging": written,
        }
        batch_id = str(batch.get("batch_id"))
        await self.s.record(ctx, "manufacturing.batch_packaged", batch_id, line=line, **report)
        await ctx.publish(f"manufacturing/{line}/batches", {"event": "packaged", **report})
        return report

    async def scrap_batch(self, ctx: ActivityContext, data: Any) -> Any:
        batch, line = _batch(data), data.get("line")
        report = {
            "batch_id": batch.get("batch_id"),
            "product": batch.get("product"),
            "quantity": batch.get("quantity"),
            "scrapped_at": self.s.clock.now().isoformat(),
            **await self._course(ctx.run_id),
        }
        batch_id = str(batch.get("batch_id"))
        await self.s.record(ctx, "manufacturing.batch_scrapped", batch_id, line=line, **report)
        await ctx.publish(f"manufacturing/{line}/batches", {"event": "scrapped", **report})
        return report

    # --- helpers ---

    async def _read(self, ctx: ActivityContext, device: str, tag: str) -> tuple[Any, Quality]:
        tenant = await self.s.tenant(ctx.tenant)
        try:
            reading = await self.s.devices.read_tag(tenant, device, tag)
        except NotFound as exc:
            raise NonRetryableError(f"{device}/{tag}: {exc.detail}") from None
        return reading.value, reading.quality

    async def _alert(
        self, ctx: ActivityContext, line: Any, batch: str, kind: str, **details: Any
    ) -> None:
        payload = {"kind": kind, "batch_id": batch, "run_id": ctx.run_id, **details}
        await ctx.publish(f"manufacturing/{line}/alerts", payload)
        await self.s.record(ctx, "manufacturing.alert", batch, line=line, **payload)

    async def _failed_checks(self, run_id: str) -> int:
        """Quality checks of this run that failed before this one."""
        return sum(1 for output in _check_outputs(await self.s.history(run_id)) if not output)

    async def _course(self, run_id: str) -> dict[str, Any]:
        """What the batch went through: checks failed, reworks, the operators' decisions."""
        history = await self.s.history(run_id)
        decisions = [
            {"step": e.step, **(e.data.get("output") or {})}
            for e in history
            if e.type.value == "ActivityCompleted"
            and str(e.step).startswith(("quality_decision_", "final_quality_decision"))
        ]
        return {
            "failed_checks": sum(1 for passed in _check_outputs(history) if not passed),
            "reworks": sum(1 for d in decisions if d.get("route") == "rework"),
            "decisions": [
                {k: d.get(k) for k in ("step", "decision", "route", "by")} for d in decisions
            ],
        }


def _check_outputs(history: Iterable[Any]) -> list[bool]:
    """Whether each completed quality check of a run passed, in order."""
    return [
        bool((e.data.get("output") or {}).get("passed"))
        for e in history
        if e.type.value == "ActivityCompleted"
        and str(e.step).startswith(("quality_check_", "final_quality_check"))
    ]


def _batch(data: Any) -> dict[str, Any]:
    batch = data.get("batch") if isinstance(data, dict) else None
    if not isinstance(batch, dict) or not isinstance(batch.get("batch_id"), str):
        raise NonRetryableError("the run's input names no batch_id")
    return batch


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


NAMES = (
    "prepare_materials",
    "robotic_stage",
    "machine_stage",
    "quality_check",
    "quality_decision",
    "package_batch",
    "scrap_batch",
)


def register(registry: ActivityRegistry, services: PackRuntime | None = None) -> None:
    """Add the pack's activities (`manufacturing.<name>`). Without services
    (HUB_ACTIVITY_MODULES), they refuse."""
    if services is None:
        raise RuntimeError("the manufacturing activities need the hub's services")
    activities = Activities(services)
    for name in NAMES:
        registry.register(PREFIX + name, getattr(activities, name))
