"""The production-control pack's activities, registered with `register(registry, services)`
under `production.*`.

Nothing here talks to the ERP or a PLC itself. ERP calls go through `services.erp` (the
audited `erp.operation`: the connection's profile maps each operation onto the ERP's
entity sets and fields; its failures keep the ERP's error type). PLC writes go through
the device service's `write_tag` (written, read back, compared, audited); readings are the
telemetry's latest values.

Exactly once: the batch id comes from the order, and START is written only when the line
is not already running that batch (the line itself starts a batch once); the
confirmation's client reference is the run's, so a second post is a Conflict, which means
it is posted. Each ERP write in an activity carries an idempotency key of its own, the
same on every attempt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.domain.egress import EgressRefused
from hub.domain.errors import NotFound, ValidationFailed
from hub.domain.packs import NotificationFailed, SealBroken
from hub.domain.plc import (
    NotWritable,
    PlcError,
    PlcUnavailable,
    Quality,
    ReadBackMismatch,
)
from hub.domain.tenancy import Tenant
from hub.engine.activities import (
    ActivityContext,
    ActivityError,
    ActivityRegistry,
    NonRetryableError,
)
from hub.ports import Notification
from hub.services.packs.runtime import PackRuntime
from hub.services.plc.devices import TagValue
from industry_packs.production_control import rules
from industry_packs.production_control.rules import LineState

PACK = "production-control"
PREFIX = "production."
READ_TIMEOUT_S = 15.0  # for a line device that is connecting to answer a read
RECONNECT_POLL_S = 0.2
VERIFY_TIMEOUT_S = 30.0  # for the line to answer a configuration
SETTLE_S = 3.0  # a reading this long after a configuration counts, whatever its time
START_TIMEOUT_S = 15.0  # for the line to take the batch after START
RESET_TIMEOUT_S = 15.0
# the workflow's user tasks: where the operators' answers come from
USER_TASK_STEPS = ("material_confirmation", "machine_attention", "operator_intervention",
                   "erp_attention")  # fmt: skip
ETAG_ATTEMPTS = 5  # completions with a re-read ETag before the step itself retries
POLL_S = 0.05
STARTED = (LineState.RUNNING, LineState.COMPLETE, LineState.FAULT)


class MachineUnavailable(NonRetryableError):
    """The line cannot take the work: not connected, not enabled, busy with another batch."""


class ConfigurationInvalid(NonRetryableError):
    """The recipe or the line's tags cannot make a configuration (out of limits, unknown or
    read-only tags, values the tags refuse)."""


class PlcWriteFailed(ActivityError):
    """A write the PLC refused or did not confirm (retried)."""


class LineReadFailed(ActivityError):
    """A read of the line failed (a timeout, a refused request): retried."""


class StartNotAcknowledged(ActivityError):
    """START was written but the line has not taken the batch yet (retried: the retry
    reads the line first and writes START only if the batch still has not started)."""


class OrderCompletedElsewhere(NonRetryableError):
    """The order was completed in the ERP by someone else while it was produced."""


class Activities:
    def __init__(self, services: PackRuntime) -> None:
        self.s = services

    # --- the ERP ---

    async def _erp(
        self,
        ctx: ActivityContext,
        erp: Mapping[str, Any],
        operation: str,
        params: Mapping[str, Any],
        part: str | None = None,
    ) -> Any:
        """One profile operation on the pack's connection. `part` gives this call an
        idempotency key of its own within the activity (a second write in one step)."""
        if self.s.erp is None:
            raise NonRetryableError("this hub has no ERP connections (erp.operation)")
        if part is not None:
            execution = f"{ctx.execution}.{part}" if ctx.execution else part
            ctx = dataclasses.replace(ctx, execution=execution)
        spec = {"connection": erp["connection"], "operation": operation, "params": dict(params)}
        return await self.s.erp(ctx, spec)

    async def prepare(self, ctx: ActivityContext, data: Any) -> Any:
        erp, order_id = data["erp"], str(data["order_id"]).strip()
        base: dict[str, Any] = {"order_id": order_id}
        # an order the ERP does not know fails the step (NotFound, not retried), as does
        # a connection that does not exist: both are for a person to look at
        order = await self._erp(ctx, erp, "read_production_order", {"order_id": order_id})
        order = {**order, "order_id": str(order.get("order_id") or order_id)}
        status = str(order.get("status") or "")
        if status != "RELEASED":
            reason = f"the order is {status or 'of no known status'}, not RELEASED"
            return {**base, "action": "skip", "reason": reason, "order": order}
        center = order.get("work_center")
        if center not in (None, "") and str(center) != str(erp["work_center"]):
            reason = f"the order is for work center {center}, not {erp['work_center']}"
            return {**base, "action": "skip", "reason": reason, "order": order}
        target = rules.target_quantity(order)
        if target <= 0:
            reason = "the order's quantity is confirmed already"
            return {**base, "action": "skip", "reason": reason, "order": order}
        found = await self._erp(ctx, erp, "read_order_components", {"order_id": order_id})
        components = [
            {
                "material": str(c.get("material")),
                "plant": str(c.get("plant") or order.get("plant") or erp["plant"]),
                "required_quantity": c.get("required_quantity") or 0,
                "unit": c.get("unit"),
            }
            for c in (found or {}).get("components") or []
        ]
        recipe, source = rules.choose_recipe(
            str(order.get("material")), data.get("recipes"), data.get("default_recipe")
        )
        return {
            **base,
            "action": "produce",
            "order": order,
            "components": components,
            "recipe": recipe,
            "recipe_source": source,
            "recipe_problems": rules.recipe_problems(recipe, data.get("machine_limits") or {}),
            "batch_id": rules.batch_id(order_id),
            "target_qty": target,
        }

    async def check_materials(self, ctx: ActivityContext, data: Any) -> Any:
        erp, components = data["erp"], list(data.get("components") or [])
        available: dict[tuple[str, str], float] = {}
        for component in components:
            key = (str(component["material"]), str(component["plant"]))
            if key in available:
                continue
            params = {"material_id": key[0], "plant": key[1]}
            stock = await self._erp(ctx, erp, "check_inventory", params)
            quantity = (stock or {}).get("available_quantity")
            available[key] = float(quantity) if isinstance(quantity, int | float) else 0.0
        short = rules.shortages(components, available)
        stock = [{"material": m, "plant": p, "available": q} for (m, p), q in available.items()]
        return {"sufficient": not short, "shortages": short, "stock": stock}

    async def request_materials(self, ctx: ActivityContext, data: Any) -> Any:
        """One material request per missing component, each with a client reference of
        this pass (a retry's repeat is a Conflict: already requested)."""
        erp, order_id = data["erp"], str(data["order_id"])
        requests = []
        for index, short in enumerate(data.get("shortages") or []):
            reference = rules.client_reference(
                ctx.run_id, "mr", ctx.execution, short["material"], short["plant"], limit=50
            )
            params = {
                "order_id": order_id,
                "material": short["material"],
                "plant": short["plant"],
                "quantity": short["missing"],
                "reference": reference,
            }
            entry = {k: short[k] for k in ("material", "plant", "missing")}
            try:
                made = await self._erp(ctx, erp, "request_materials", params, part=f"m{index}")
                entry.update(request_id=made.get("request_id"), status=made.get("status"))
            except ActivityError as exc:
                if exc.error_type != "Conflict":
                    raise
                entry.update(already_requested=True)
            requests.append({**entry, "reference": reference})
        await self.s.record(ctx, "production.materials_requested", order_id, requests=requests)
        notified = await self._send_quietly(
            ctx,
            "operators",
            "materials_requested",
            {"line_id": data.get("line_id"), "order_id": order_id, "requests": requests},
        )
        return {"requests": requests, "notified": notified}

    # --- the line ---

    async def _now(
        self, tenant: Tenant, wanted: Mapping[str, tuple[str, str]]
    ) -> dict[str, TagValue]:
        """The roles' tags read from the PLC now (one request per device), not the latest
        poll: after a write, the line's answer is seen as soon as it gives it, with no
        wait for the next poll."""
        by_device: dict[str, list[tuple[str, str]]] = {}
        for role, (device, tag) in wanted.items():
            by_device.setdefault(device, []).append((role, tag))
        found: dict[str, TagValue] = {}
        for device, roles in by_device.items():
            values = await self._read_device(tenant, device, [t for _, t in roles])
            found.update({role: values[tag] for role, tag in roles})
        return found

    async def _read_device(
        self, tenant: Tenant, device: str, tags: list[str]
    ) -> dict[str, TagValue]:
        """One read, waiting up to READ_TIMEOUT_S for a device that is (re)connecting
        (the hub just started, the PLC restarted) before calling the machine unavailable."""
        deadline = time.monotonic() + READ_TIMEOUT_S
        while True:
            try:
                return await self.s.devices.read_now(tenant, device, tags)
            except NotFound as exc:
                raise ConfigurationInvalid(exc.detail) from None
            except PlcUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise MachineUnavailable(f"{device}: {exc.detail}") from None
            except PlcError as exc:
                raise LineReadFailed(f"{device}: {exc.detail}") from None
            await asyncio.sleep(RECONNECT_POLL_S)

    async def _line(
        self, tenant: Tenant, status: Mapping[str, tuple[str, str]]
    ) -> tuple[LineState | None, Any]:
        now = await self._now(
            tenant, {"state": status["state"], "active_batch": status["active_batch"]}
        )
        state, active = now["state"], now["active_batch"]
        good = state.quality is Quality.GOOD
        return (rules.line_state(state.value) if good else None), active.value

    async def _write(
        self,
        ctx: ActivityContext,
        tenant: Tenant,
        where: tuple[str, str],
        value: Any,
        command: bool = False,
    ) -> Any:
        """Write with read-back (audited by the device service). A command coil may read
        back false already (the line acted on it and dropped it): that is not a failure."""
        try:
            [done] = await self._write_all(ctx, tenant, [(where, value)])
        except PlcWriteFailed as exc:
            if command and isinstance(exc.__cause__, ReadBackMismatch):
                return None
            raise
        return done

    async def _write_all(
        self, ctx: ActivityContext, tenant: Tenant, writes: list[tuple[tuple[str, str], Any]]
    ) -> list[Any]:
        """Writes in turn, each read back, audited together (the device service's
        write_tags); the values read back. Failures become the pack's typed errors."""
        try:
            done = await self.s.devices.write_tags(
                tenant, [(device, tag, value) for (device, tag), value in writes], self.s.actor(ctx)
            )
        except ReadBackMismatch as exc:
            raise PlcWriteFailed(exc.detail) from exc
        except PlcUnavailable as exc:
            raise MachineUnavailable(exc.detail) from None
        except PlcError as exc:
            raise PlcWriteFailed(exc.detail) from None
        except NotWritable as exc:
            # a disabled device cannot take work; a read-only tag is a configuration error
            if "not enabled" in exc.detail:
                raise MachineUnavailable(exc.detail) from None
            raise ConfigurationInvalid(exc.detail) from None
        except (NotFound, ValidationFailed) as exc:
            raise ConfigurationInvalid(exc.detail) from None
        return [result.value for result in done]

    async def configure_machines(self, ctx: ActivityContext, data: Any) -> Any:
        """The recipe's setpoints, the target quantity and the batch id, each written and
        read back: a configuration of the line, written whole every time (a line that
        rejected one evaluates the next)."""
        problems = rules.recipe_problems(data.get("recipe"), data.get("machine_limits") or {})
        if problems:
            raise ConfigurationInvalid("; ".join(problems))
        tenant = await self.s.tenant(ctx.tenant)
        tags, status = rules.tag_map(data["recipe_tags"]), rules.tag_map(data["status_tags"])
        batch, recipe = int(data["batch_id"]), data["recipe"]
        state, active = await self._line(tenant, status)
        if active == batch and state in STARTED:  # a re-run after the start: leave it be
            return {"written": [], "already_running": True, "state": _name(state)}
        if state in (LineState.RUNNING, LineState.FAULT):
            raise MachineUnavailable(
                f"the line is {_name(state)} with batch {active}: it cannot take batch {batch}"
            )
        values = {
            "speed_sp": float(recipe["speed_sp"]),
            "temperature_sp": float(recipe["temperature_sp"]),
            "target_qty": int(data["target_qty"]),
            "batch_id": batch,
        }
        roles = rules.RECIPE_ROLES
        read_back = await self._write_all(ctx, tenant, [(tags[r], values[r]) for r in roles])
        written = dict(zip(roles, read_back, strict=True))
        return {"written": written, "written_at": self.s.clock.now().isoformat()}

    async def verify_configuration(self, ctx: ActivityContext, data: Any) -> Any:
        """The line's own verdict on the configuration: READY, or CONFIG_ERROR; with the
        reconfigurations made so far, what comes next (start, reconfigure, give_up)."""
        tenant = await self.s.tenant(ctx.tenant)
        status, batch = rules.tag_map(data["status_tags"]), int(data["batch_id"])
        began = time.monotonic()
        outcome, state = None, None
        while outcome is None:
            waited = time.monotonic() - began
            state, active = await self._line(tenant, status)
            if state in STARTED and active == batch:  # a re-run after the start
                outcome = "ok"
                break
            fresh = state is not None  # read from the PLC now, after the configuration
            outcome = rules.verification(state, fresh, waited, SETTLE_S)
            if outcome is None and waited >= VERIFY_TIMEOUT_S:
                outcome = "timeout"
            if outcome is None:
                await asyncio.sleep(POLL_S)
        ok = outcome == "ok"
        history = await self.s.history(ctx.run_id)
        done = rules.reconfigurations_since_configure([(e.type.value, e.step) for e in history])
        action = rules.configuration_action(ok, done, int(data.get("max_reconfigurations") or 0))
        reason = {
            "ok": "the line is READY",
            "failed": "the line answered CONFIG_ERROR",
            "timeout": f"the line did not answer READY within {VERIFY_TIMEOUT_S:g} s",
        }[outcome]
        return {
            "ok": ok,
            "state": _name(state),
            "reason": reason,
            "reconfigurations": done,
            "action": action,
        }

    async def start(self, ctx: ActivityContext, data: Any) -> Any:
        """START, once per batch: written only while the line is READY and not running this
        batch; then the line must take the batch (active_batch)."""
        tenant = await self.s.tenant(ctx.tenant)
        commands, status = rules.tag_map(data["command_tags"]), rules.tag_map(data["status_tags"])
        batch = int(data["batch_id"])
        state, active = await self._line(tenant, status)
        now = self.s.clock.now().isoformat()
        if active == batch and state in STARTED:
            return {"started": True, "already_started": True, "started_at": now, "batch_id": batch}
        if state is not LineState.READY:
            raise MachineUnavailable(f"the line is {_name(state)}, not READY for batch {batch}")
        await self._write(ctx, tenant, commands["start"], True, command=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            state, active = await self._line(tenant, status)
            if active == batch and state in STARTED:
                break
            if time.monotonic() >= deadline:
                raise StartNotAcknowledged(
                    f"the line shows {_name(state)} with batch {active} after START of {batch}"
                )
            await asyncio.sleep(POLL_S)
        payload = {"batch_id": batch, "order_id": data.get("order_id"), "run_id": ctx.run_id}
        await ctx.publish(f"production/{data['line_id']}/events/production_start", payload)
        return {"started": True, "started_at": now, "batch_id": batch}

    async def monitor(self, ctx: ActivityContext, data: Any) -> Any:
        """One reading of the counters and the state, read from the PLC now (so a line
        event that woke the run is seen in it), judged by rules.assess."""
        tenant = await self.s.tenant(ctx.tenant)
        status, batch = rules.tag_map(data["status_tags"]), int(data["batch_id"])
        roles = ("good_count", "scrap_count", "state", "fault_code", "active_batch")
        now = await self._now(tenant, {role: status[role] for role in roles})
        bad = [role for role in roles if now[role].quality is not Quality.GOOD]
        if bad:
            raise LineReadFailed(f"the line's {', '.join(bad)} read bad")
        good, scrap, state = now["good_count"], now["scrap_count"], now["state"]
        fault, active = now["fault_code"], now["active_batch"]
        sample = {
            "at": good.ts,
            "state": state.value,
            "active_batch": active.value,
            "good": good.value,
            "scrap": scrap.value,
            "fault_code": fault.value,
        }
        interval = float(data.get("interval_s") or 10)
        resumed = data.get("resumed_at")
        return rules.assess(
            data.get("previous"),
            sample,
            batch,
            rules.expected_rate(data.get("expected_rate"), data.get("recipe") or {}),
            float(data.get("rate_tolerance") or 0.2),
            max(1.0, 0.8 * interval),
            rules.parse_time(resumed) if resumed else None,
            data.get("deviation_accepted") is True,
        )

    async def resume(self, ctx: ActivityContext, data: Any) -> Any:
        """After the operator: a reset clears a fault (RESET written, the line leaves
        FAULT); continue accepts a rate deviation for the rest of the batch."""
        resolution = data.get("resolution")
        tenant = await self.s.tenant(ctx.tenant)
        status = rules.tag_map(data["status_tags"])
        reset = False
        if resolution == "reset":
            state, _ = await self._line(tenant, status)
            if state is LineState.FAULT:
                where = rules.tag_map(data["command_tags"])["reset"]
                await self._write(ctx, tenant, where, True, command=True)
                reset = True
                deadline = time.monotonic() + RESET_TIMEOUT_S
                while state is LineState.FAULT:
                    if time.monotonic() >= deadline:
                        raise PlcWriteFailed("the line is still in FAULT after RESET")
                    await asyncio.sleep(POLL_S)
                    state, _ = await self._line(tenant, status)
        accepted = data.get("accepted_before") is True or (
            resolution == "continue" and data.get("kind") == "deviation"
        )
        await self.s.record(
            ctx,
            "production.resumed",
            str(data.get("batch_id")),
            resolution=resolution,
            reset=reset,
            after=data.get("kind"),
        )
        return {
            "resolution": resolution,
            "reset": reset,
            "deviation_accepted": accepted,
            "resumed_at": self.s.clock.now().isoformat(),
        }

    # --- back to the ERP ---

    async def complete(self, ctx: ActivityContext, data: Any) -> Any:
        """The design's `complete_production` on the ERP side, in one step: the
        confirmation (posted once), the order completed with its ETag, the stock of the
        material read. Each part is safe to repeat, so the step retries as a whole; a
        failed stock reading does not fail it (it is reported)."""
        confirmation = await self.confirm(ctx, data)
        completion = await self.complete_order(ctx, data)
        try:
            inventory, inventory_error = await self.update_inventory(ctx, data), None
        except ActivityError as exc:
            inventory, inventory_error = None, {"type": exc.error_type, "message": str(exc)}
        return {
            **confirmation,
            "completion": completion,
            "inventory": inventory,
            "inventory_error": inventory_error,
        }

    async def confirm(self, ctx: ActivityContext, data: Any) -> Any:
        """The confirmation (yield, scrap, times), posted once: its client reference is
        this run's, so a repeat is a Conflict, which means it is posted."""
        erp, order = data["erp"], data["order"]
        order_id = str(order["order_id"])
        reference = rules.client_reference(ctx.run_id, "cf")
        good, scrap = int(data.get("good") or 0), int(data.get("scrap") or 0)
        params: dict[str, Any] = {
            "order_id": order_id,
            "yield_quantity": good,
            "scrap_quantity": scrap,
            "reference": reference,
        }
        for key in ("started_at", "finished_at"):
            if data.get(key):
                params[key] = data[key]
        try:
            made = await self._erp(ctx, erp, "confirm_production_order", params)
            posted = {"confirmation_id": (made or {}).get("confirmation_id"), "already": False}
        except ActivityError as exc:
            if exc.error_type != "Conflict":
                raise
            posted = {"confirmation_id": None, "already": True, "erp_answer": str(exc)[:300]}
        confirmation = {
            "order_id": order_id,
            "batch_id": data.get("batch_id"),
            "reference": reference,
            "yield_quantity": good,
            "scrap_quantity": scrap,
            "started_at": data.get("started_at"),
            "finished_at": data.get("finished_at"),
            "confirmation_id": posted["confirmation_id"],
            "already_posted": posted["already"],
        }
        await self.s.record(ctx, "production.confirmation", order_id, **confirmation)
        return confirmation

    async def complete_order(self, ctx: ActivityContext, data: Any) -> Any:
        """The order COMPLETED with its confirmed totals, If-Match the ETag read when the
        run prepared it. A PreconditionFailed (the order changed: a planner, or this
        ERP's own bookkeeping of the confirmation) reads it again and completes it with
        the new ETag; the confirmation is not posted again."""
        erp, prepared = data["erp"], data["order"]
        order_id = str(prepared["order_id"])
        yield_total, scrap_total = rules.totals(prepared, data.get("good"), data.get("scrap"))
        etag, conflicts = prepared.get("etag"), 0
        changes: dict[str, Any] = {}
        for attempt in range(ETAG_ATTEMPTS):
            params = {
                "order_id": order_id,
                "yield_quantity": yield_total,
                "scrap_quantity": scrap_total,
                "etag": etag,
            }
            try:
                done = await self._erp(
                    ctx, erp, "complete_production_order", params, part=f"c{attempt}"
                )
            except ActivityError as exc:
                if exc.error_type != "PreconditionFailed":
                    raise
            else:
                return {
                    "order_id": order_id,
                    "status": (done or {}).get("status") or "COMPLETED",
                    "confirmed_yield": yield_total,
                    "confirmed_scrap": scrap_total,
                    "etag_conflicts": conflicts,
                    "changed_during_run": changes,
                    "already_completed": False,
                }
            conflicts += 1
            current = await self._erp(ctx, erp, "read_production_order", {"order_id": order_id})
            changes.update(rules.order_changes(prepared, current))
            changes.pop("status", None)
            ours = _number(current.get("confirmed_yield")) >= yield_total
            if current.get("status") == "COMPLETED":
                if not ours:
                    raise OrderCompletedElsewhere(
                        f"order {order_id} was completed in the ERP with yield "
                        f"{current.get('confirmed_yield')} while it was produced"
                    )
                return {  # completed by this run before (a re-run after a crash)
                    "order_id": order_id,
                    "status": "COMPLETED",
                    "confirmed_yield": current.get("confirmed_yield"),
                    "confirmed_scrap": current.get("confirmed_scrap"),
                    "etag_conflicts": conflicts,
                    "changed_during_run": changes,
                    "already_completed": True,
                }
            etag = current.get("etag")
            # the ERP's totals when it counts more (a confirmation someone else posted)
            yield_total = max(yield_total, _number(current.get("confirmed_yield")))
            scrap_total = max(scrap_total, _number(current.get("confirmed_scrap")))
        raise ActivityError(f"order {order_id} changed {conflicts} times while being completed")

    async def update_inventory(self, ctx: ActivityContext, data: Any) -> Any:
        """The stock of the order's material after the confirmation posted its goods
        receipt (or after a receipt of its own, with erp.goods_receipt)."""
        erp, order = data["erp"], data["order"]
        material, plant = str(order.get("material")), str(order.get("plant") or erp["plant"])
        good = int(data.get("good") or 0)
        receipt: dict[str, Any] = {"posted_by": "confirmation"}
        if erp.get("goods_receipt") is True and good > 0:
            params = {"material": material, "plant": plant, "quantity": good}
            made = await self._erp(ctx, erp, "post_goods_receipt", params)
            receipt = {"posted_by": "goods_receipt", "quantity": good, "result": made}
        params = {"material_id": material, "plant": plant}
        stock = await self._erp(ctx, erp, "check_inventory", params)
        return {
            "material": material,
            "plant": plant,
            "available_quantity": (stock or {}).get("available_quantity"),
            **receipt,
        }

    async def report(self, ctx: ActivityContext, data: Any) -> Any:
        """The run's report (its output) and its audit entry."""
        steps = data.get("steps") or {}
        out = {k: (v or {}).get("output") for k, v in steps.items() if isinstance(v, Mapping)}
        prepared = out.get("prepare_production") or {}
        order = prepared.get("order") or {}
        started = out.get("start_production") or {}
        final = out.get("monitor_production") or {}
        confirmation = out.get("complete_production") or {}
        # complete_production holds the completion and the stock; before version 1.1 of
        # the pack they were steps of their own
        completion = confirmation.get("completion") or out.get("complete_order") or {}
        inventory = confirmation.get("inventory", out.get("update_inventory"))
        inventory_error = confirmation.get("inventory_error") or (
            steps.get("update_inventory") or {}
        ).get("error")
        confirmation = {
            k: v
            for k, v in confirmation.items()
            if k not in ("completion", "inventory", "inventory_error")
        }
        report = {
            "line_id": data.get("line_id"),
            "order_id": prepared.get("order_id"),
            "material": order.get("material"),
            "plant": order.get("plant"),
            "quantity": order.get("quantity"),
            "batch_id": prepared.get("batch_id"),
            "recipe": prepared.get("recipe"),
            "target_qty": prepared.get("target_qty"),
            "yield_quantity": confirmation.get("yield_quantity"),
            "scrap_quantity": confirmation.get("scrap_quantity"),
            "started_at": started.get("started_at"),
            "finished_at": final.get("at"),
            "confirmation": confirmation,
            "order_status": completion.get("status"),
            "etag_conflicts": completion.get("etag_conflicts", 0),
            "changed_during_run": completion.get("changed_during_run") or {},
            "inventory": inventory,
            "inventory_error": inventory_error,
            "material_requests": (out.get("request_materials") or {}).get("requests", []),
            "interventions": await self._interventions(ctx, steps),
        }
        await self.s.record(ctx, "production.report", str(report["order_id"]), **report)
        if data.get("audience"):  # the design's "stakeholders notified", in the same step
            report["notified"] = await self._tell(ctx, data, report)
        return report

    async def _tell(self, ctx: ActivityContext, data: Any, report: dict[str, Any]) -> Any:
        """The completion published on production/{line}/orders/completed and sent to
        the audience; a notification that fails is in the report, and does not repeat
        the report (its audit entry is written once)."""
        line = data.get("line_id")
        await ctx.publish(f"production/{line}/orders/completed", {"run_id": ctx.run_id, **report})
        sent = await self._send_quietly(ctx, str(data["audience"]), str(data["kind"]), report)
        return {"audience": data["audience"], "sent": sent}

    async def _interventions(self, ctx: ActivityContext, steps: Mapping[str, Any]) -> Any:
        """The operators' answers, from the run's history: only a run in which one of the
        user tasks ran can have any (most runs: no history to read)."""
        if not any(step in steps for step in USER_TASK_STEPS):
            return []
        return _interventions(await self.s.history(ctx.run_id))

    # --- telling people ---

    async def alert(self, ctx: ActivityContext, data: Any) -> Any:
        """A problem on the line: published on production/{line}/alerts, audited, and sent
        to the operators (a notification that fails does not fail the alert)."""
        kind, line = str(data.get("kind")), str(data.get("line_id"))
        detail = data.get("detail")
        failed = data.get("failed_steps")
        if detail is None and isinstance(failed, list):
            detail = _last_failure(await self.s.history(ctx.run_id), failed)
        body = {
            "kind": kind,
            "line_id": line,
            "order_id": data.get("order_id"),
            "batch_id": data.get("batch_id"),
            "run_id": ctx.run_id,
            "detail": detail,
            "reading": data.get("reading"),
        }
        await ctx.publish(f"production/{line}/alerts", body)
        await self.s.record(
            ctx,
            "production.alert",
            str(data.get("order_id")),
            kind=kind,
            batch_id=data.get("batch_id"),
            detail=str(detail)[:500] if detail is not None else None,
        )
        notified = await self._send_quietly(ctx, "operators", kind, body)
        return {"kind": kind, "detail": detail, "notified": notified}

    async def notify(self, ctx: ActivityContext, data: Any) -> Any:
        report = data.get("report") or {}
        line = data.get("line_id")
        await ctx.publish(f"production/{line}/orders/completed", {"run_id": ctx.run_id, **report})
        sent = await self._send(ctx, str(data["audience"]), str(data["kind"]), report)
        return {"audience": data["audience"], "sent": sent}

    async def _send_quietly(
        self, ctx: ActivityContext, audience: str, kind: str, body: dict[str, Any]
    ) -> Any:
        try:
            return await self._send(ctx, audience, kind, body)
        except ActivityError as exc:
            return {"error": str(exc)[:300]}

    async def _send(
        self, ctx: ActivityContext, audience: str, kind: str, body: dict[str, Any]
    ) -> int:
        params = await self.s.parameters(ctx.tenant, PACK)
        try:
            channels = await self.s.secret(ctx.tenant, PACK, "notification_channels")
        except SealBroken as exc:
            raise NonRetryableError(f"notification_channels: {exc}") from None
        chosen = [
            c
            for c in channels or []
            if audience in c.get("audience", ["operators", "stakeholders"])
        ]
        recipients = params.get("stakeholder_contacts", []) if audience == "stakeholders" else []
        subject = f"[production {body.get('line_id')}] {kind.replace('_', ' ')}"
        if body.get("order_id"):
            subject += f", order {body['order_id']}"
        message_body = {"kind": kind, "audience": audience, "run_id": ctx.run_id, **body}
        sent, failed, refused = 0, [], []
        for index, channel in enumerate(chosen):
            message = Notification(subject, message_body, f"{ctx.idempotency_key}:{index}")
            try:
                await self.s.notifier.send(channel, message, recipients, tenant=ctx.tenant)
                sent += 1
            except NotificationFailed as exc:
                failed.append(str(exc))
            except EgressRefused as exc:
                refused.append(f"channel {index}: {exc}")
        if failed:
            raise ActivityError("; ".join(failed + refused))
        if refused:
            raise NonRetryableError("; ".join(refused))
        return sent

    # --- releases ---

    async def poll_released(self, ctx: ActivityContext, data: Any) -> Any:
        """The work center's released orders changed within the lookback window, each
        published on the line's release topic (keyed: one run per order)."""
        erp, line = data["erp"], str(data["line_id"])
        minutes = float(data.get("lookback_min") or 10)
        since = self.s.clock.now().timestamp() - minutes * 60
        changed_since = datetime.fromtimestamp(since, self.s.clock.now().tzinfo).isoformat()
        params = {
            "plant": erp["plant"],
            "work_center": erp["work_center"],
            "changed_since": changed_since,
        }
        found = await self._erp(ctx, erp, "list_released_production_orders", params)
        orders = list((found or {}).get("orders") or [])
        for order in orders:
            await ctx.publish(f"production/{line}/orders/released", _release(order, "poller"))
        return {"changed_since": changed_since, "published": [o.get("order_id") for o in orders]}

    async def reconcile(self, ctx: ActivityContext, data: Any) -> Any:
        """Released orders of the work center without an unfinished run get one through
        the release topic (an order whose run finished is not started again: the topic's
        key)."""
        erp, line = data["erp"], str(data["line_id"])
        params = {"plant": erp["plant"], "work_center": erp["work_center"]}
        found = await self._erp(ctx, erp, "list_released_production_orders", params)
        orders = list((found or {}).get("orders") or [])
        running = {
            str((run.get("input") or {}).get("order_id"))
            for run in await self.s.open_runs(ctx.tenant, "production-control")
        }
        published = []
        for order in orders:
            if str(order.get("order_id")) in running:
                continue
            await ctx.publish(f"production/{line}/orders/released", _release(order, "reconcile"))
            published.append(order.get("order_id"))
        return {
            "released": [o.get("order_id") for o in orders],
            "running": sorted(running),
            "published": published,
        }


def _release(order: Mapping[str, Any], source: str) -> dict[str, Any]:
    fields = ("order_id", "material", "plant", "quantity", "unit", "work_center", "changed_at")
    return {**{k: order.get(k) for k in fields}, "source": source}


def _name(state: LineState | None) -> str:
    return state.name if state is not None else "UNKNOWN"


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _last_failure(history: list[Any], steps: list[str]) -> str | None:
    for event in reversed(history):
        if event.type.value == "ActivityFailed" and event.step in steps:
            data = event.data or {}
            return f"{event.step}: {data.get('error_type')}: {data.get('message')}"
    return None


def _interventions(history: list[Any]) -> list[dict[str, Any]]:
    """The operators' answers in this run: the task, who, and what they chose."""
    found = []
    for event in history:
        if event.type.value == "UserTaskCompleted":
            data = event.data or {}
            values = data.get("output") or {}
            found.append(
                {
                    "task": event.step,
                    "by": data.get("by"),
                    "resolution": values.get("resolution", values.get("confirmation")),
                    "notes": values.get("notes"),
                }
            )
    return found


NAMES = (
    "prepare",
    "check_materials",
    "request_materials",
    "configure_machines",
    "verify_configuration",
    "start",
    "monitor",
    "resume",
    "complete",
    "confirm",
    "complete_order",
    "update_inventory",
    "report",
    "alert",
    "notify",
    "poll_released",
    "reconcile",
)


def register(registry: ActivityRegistry, services: PackRuntime | None = None) -> None:
    """Add the pack's activities (production.*). Without services they refuse."""
    if services is None:
        raise RuntimeError("the production-control activities need the hub's services")
    activities = Activities(services)
    for name in NAMES:
        registry.register(PREFIX + name, getattr(activities, name))
