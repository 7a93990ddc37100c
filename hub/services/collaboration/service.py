"""Collaborations between organisations (issue 18).

The initiator's hub decides: it applies starts, results, acknowledgements, terminations
and timeouts to its copy and sends the whole new state (`collaboration.state`, with a
version) to every other participant, whose hubs replace their copy with it. A
participant's hub checks what it can on its own copy, then asks the initiator's hub
(`task_result`, `terminate_request`), which checks again on the authoritative state: the
sender of a message is its signing organisation, never a field of the payload.

Data exchanges go from the source organisation straight to each target, encrypted to
that target's key (JWE ECDH-ES) unless the task says otherwise; the initiator learns only
their digest. An approval assigned to an organisation on this hub becomes a user task in
its tenant (the `collaboration-approval` workflow); an activity can start a workflow there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from hub.domain.audit import ActorType, AuditEvent, RequestContext, rfc3339
from hub.domain.collaboration import (
    ENDED,
    Collaboration,
    CollaborationStatus,
    Partner,
    TaskDefinition,
    TaskStatus,
    TaskType,
    acknowledge,
    activate_next,
    approval_result,
    check_may_submit,
    check_may_terminate,
    complete_task,
    from_document,
    join,
    new_collaboration,
    parse_definition,
    shared_fields,
    terminate,
    time_out,
    to_document,
    visible_to,
    with_names,
)
from hub.domain.errors import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed
from hub.domain.ids import is_id, new_id
from hub.domain.nesting import json_too_deep
from hub.domain.tenancy import Tenant
from hub.ports import Clock, UnitOfWorkFactory
from hub.ports.unit_of_work import UnitOfWork
from hub.security.federation import DecryptionFailed, PublicOrganisationKeys, decrypt, encrypt_for
from hub.services.audit.log import AuditLog
from hub.services.collaboration.messaging import (
    COLLABORATION_STATE,
    DATA_EXCHANGE,
    TASK_RESULT,
    TERMINATE_REQUEST,
    Handled,
    Incoming,
    Messenger,
)
from hub.services.collaboration.organisations import Organisations

log = logging.getLogger("hub.collaboration")

JOIN = "join"  # a task_result without a task: the participant's hub took the collaboration
MAX_RESULT_BYTES = 256 * 1024
MAX_RESULT_DEPTH = 16
TIMEOUT_CHECK_S = 1.0
APPLY_ATTEMPTS = 5  # a change read again after a concurrent one (optimistic versions)

# Called once a task assigned to an organisation on this hub becomes active (after commit):
# (tenant id, collaboration, task) -> opens its work there (an approval's user task, ...).
TaskOpener = Callable[[str, Collaboration, TaskDefinition], Awaitable[None]]
# Called once a collaboration this hub's tenant takes part in has ended (after commit).
Ended = Callable[[str, Collaboration], Awaitable[None]]


def _now_text(clock: Clock) -> str:
    return rfc3339(clock.now())


def _bounded_result(values: Any, where: str = "result") -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ValidationFailed([FieldProblem(where, "must be an object")])
    text = json.dumps(values).encode()
    if json_too_deep(text, MAX_RESULT_DEPTH):
        raise ValidationFailed([FieldProblem(where, f"nested deeper than {MAX_RESULT_DEPTH}")])
    if len(text) > MAX_RESULT_BYTES:
        raise ValidationFailed([FieldProblem(where, f"larger than {MAX_RESULT_BYTES} bytes")])
    return values


def _check_schema(schema: dict[str, Any], payload: dict[str, Any]) -> None:
    try:
        validator = Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))[:20]
    except (SchemaError, RecursionError, TypeError) as exc:
        raise ValidationFailed([FieldProblem("data_schema", f"unusable: {exc}"[:200])]) from None
    if errors:
        raise ValidationFailed(
            [
                FieldProblem(".".join(["data", *(str(p) for p in e.path)]), e.message[:200])
                for e in errors
            ]
        )


def payload_digest(payload: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(payload)).hexdigest()


class CollaborationService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        organisations: Organisations,
        messenger: Messenger,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self._orgs = organisations
        self._messenger = messenger
        self.task_openers: list[TaskOpener] = []
        self.on_ended: list[Ended] = []
        self._task: asyncio.Task[None] | None = None
        messenger.handle(COLLABORATION_STATE, self._on_state)
        messenger.handle(TASK_RESULT, self._on_task_result)
        messenger.handle(TERMINATE_REQUEST, self._on_terminate_request)
        messenger.handle(DATA_EXCHANGE, self._on_data)

    # --- reading -------------------------------------------------------------------------

    async def all(self, tenant: Tenant) -> list[Collaboration]:
        async with self._uow() as uow:
            return await uow.collaboration.collaborations(tenant.id)

    async def get(self, tenant: Tenant, collab_id: str) -> Collaboration:
        if not is_id(collab_id):
            raise NotFound(f"collaboration {collab_id!r} not found")
        async with self._uow() as uow:
            found = await uow.collaboration.collaboration(tenant.id, collab_id)
        if found is None:
            raise NotFound(f"collaboration {collab_id!r} not found")
        return visible_to(found, await self._orgs.org_id(tenant.id))

    async def received_data(self, tenant: Tenant, collab_id: str) -> list[dict[str, Any]]:
        """Data partners exchanged with this organisation in a collaboration, decrypted."""
        await self.get(tenant, collab_id)
        keys = await self._orgs.keys(tenant.id)
        async with self._uow() as uow:
            rows = await uow.collaboration.data(tenant.id, collab_id)
        out: list[dict[str, Any]] = []
        for row in rows:
            payload = row["payload"]
            encrypted = "jwe" in payload
            try:
                data = decrypt(payload["jwe"], keys) if encrypted else payload.get("data")
            except DecryptionFailed:
                data = None
            out.append({**row, "encrypted": encrypted, "data": data, "payload": None})
        return out

    # --- the initiator's requests ----------------------------------------------------------

    async def create(
        self,
        tenant: Tenant,
        body: dict[str, Any],
        ctx: RequestContext,
        *,
        auto_start: bool = False,
        collab_id: str | None = None,
    ) -> Collaboration:
        """A new collaboration, this organisation its initiator; with `auto_start` it starts
        as soon as every participant's hub has joined (a workflow's collaboration_task).
        `collab_id`: the id to use (a workflow step's, from its idempotency key); a second
        create with it answers the first one's collaboration."""
        if collab_id is not None:
            async with self._uow() as uow:
                found = await uow.collaboration.collaboration(tenant.id, collab_id)
            if found is not None:
                return found
        me = await self._orgs.org_id(tenant.id)
        name, participants, tasks = parse_definition(body, me)
        now = _now_text(self._clock)
        async with self._uow(write=True) as uow:
            names = {me: tenant.name}
            for i, p in enumerate(participants):
                if p.org_id == me:
                    continue
                partner = await uow.collaboration.partner_by_org(tenant.id, p.org_id)
                if partner is None or not partner.active:
                    raise ValidationFailed(
                        [FieldProblem(f"participants[{i}].organisation", "not an active partner")]
                    )
                names[p.org_id] = partner.name
            made = new_collaboration(collab_id or new_id(), name, participants, tasks, now)
            collab = with_names(made, names)
            collab = replace(collab, auto_start=auto_start)
            if set(collab.joined) >= set(collab.org_ids()):
                collab = replace(collab, status=CollaborationStatus.READY)
                if auto_start:
                    collab = activate_next(collab, now)
            await uow.collaboration.save_collaboration(
                tenant.id, collab, self._clock.now(), new=True
            )
            await self._broadcast(uow, tenant.id, collab)
            await self._record(uow, tenant.id, ctx, "collaboration.create", collab)
            await uow.commit()
        self._messenger.wake()
        await self._after(tenant.id, None, collab)
        return collab

    async def start(self, tenant: Tenant, collab_id: str, ctx: RequestContext) -> Collaboration:
        collab = await self.get(tenant, collab_id)
        if collab.initiator != await self._orgs.org_id(tenant.id):
            raise Forbidden("only the initiator starts a collaboration")
        if collab.status is not CollaborationStatus.READY:
            why = "waiting for participants to join" if collab.status.value == "created" else ""
            raise Conflict(f"collaboration {collab_id} is {collab.status.value} {why}".strip())

        def started(current: Collaboration) -> Collaboration:
            if current.status is not CollaborationStatus.READY:
                raise Conflict(f"collaboration {collab_id} is {current.status.value}")
            return activate_next(current, _now_text(self._clock))

        return await self._apply(tenant.id, collab_id, started, ctx, "collaboration.start")

    # --- any participant's requests ------------------------------------------------------

    async def submit(
        self,
        tenant: Tenant,
        collab_id: str,
        task_id: str,
        values: Any,
        ctx: RequestContext,
    ) -> Collaboration:
        """A task's result from its assigned organisation (an acknowledgement from a
        notification's target)."""
        collab = await self.get(tenant, collab_id)
        me = await self._orgs.org_id(tenant.id)
        task = check_may_submit(collab, task_id, me)
        result = await self._result(tenant, collab, task, values)
        if collab.initiator == me:
            return await self._apply(
                tenant.id,
                collab_id,
                lambda current: self._completed(current, task_id, me, result, ctx.actor),
                ctx,
                "collaboration.task.submit",
                {"task_id": task_id, "result": _shown(task, result)},
            )
        async with self._uow(write=True) as uow:
            data = {"collaboration_id": collab_id, "task_id": task_id, "result": result,
                    "submitted_by": ctx.actor}  # fmt: skip
            await self._messenger.enqueue(
                uow, tenant.id, [collab.initiator], TASK_RESULT, data, stream=collab_id, ctx=ctx
            )
            await self._record(
                uow, tenant.id, ctx, "collaboration.task.submit", collab,
                {"task_id": task_id, "result": _shown(task, result)},
            )  # fmt: skip
            await uow.commit()
        self._messenger.wake()
        return collab

    async def terminate(
        self, tenant: Tenant, collab_id: str, reason: Any, ctx: RequestContext
    ) -> Collaboration:
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 1000:
            raise ValidationFailed([FieldProblem("reason", "a non-empty string of at most 1000")])
        collab = await self.get(tenant, collab_id)
        me = await self._orgs.org_id(tenant.id)
        check_may_terminate(collab, me)
        if collab.initiator == me:

            def ended(current: Collaboration) -> Collaboration:
                check_may_terminate(current, me)
                return terminate(current, me, reason, _now_text(self._clock))

            return await self._apply(
                tenant.id, collab_id, ended, ctx, "collaboration.terminate", {"reason": reason}
            )
        async with self._uow(write=True) as uow:
            await self._messenger.enqueue(
                uow, tenant.id, [collab.initiator], TERMINATE_REQUEST,
                {"collaboration_id": collab_id, "reason": reason}, stream=collab_id, ctx=ctx,
            )  # fmt: skip
            await self._record(
                uow, tenant.id, ctx, "collaboration.terminate", collab, {"reason": reason}
            )
            await uow.commit()
        self._messenger.wake()
        return collab

    async def _result(
        self, tenant: Tenant, collab: Collaboration, task: TaskDefinition, values: Any
    ) -> dict[str, Any]:
        if task.type is TaskType.APPROVAL:
            return approval_result(_bounded_result(values))
        if task.type is TaskType.NOTIFICATION:
            return {"acknowledged": True}
        if task.type is TaskType.ACTIVITY:
            return _bounded_result(values)
        return await self._exchange(tenant, collab, task, _bounded_result(values, "data"))

    async def _exchange(
        self, tenant: Tenant, collab: Collaboration, task: TaskDefinition, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Validate, keep what the sharing policy lets out, encrypt to each target, send."""
        if task.data_schema is not None:
            await asyncio.to_thread(_check_schema, task.data_schema, payload)
        shared = shared_fields(task, payload)
        me = await self._orgs.org_id(tenant.id)
        async with self._uow(write=True) as uow:
            for target in task.target_orgs:
                if target == me:
                    continue
                partner = await uow.collaboration.partner_by_org(tenant.id, target)
                if partner is None or not partner.active:
                    raise Conflict(f"organisation {target} is not an active partner")
                body = self._sealed_for(task, shared, partner)
                data = {"collaboration_id": collab.id, "task_id": task.id, **body}
                await self._messenger.enqueue(
                    uow, tenant.id, [target], DATA_EXCHANGE, data, stream=collab.id
                )
            await uow.commit()
        self._messenger.wake()
        return {
            "digest": payload_digest(shared),
            "fields": sorted(shared),
            "targets": list(task.target_orgs),
            "encrypted": task.encryption_required,
        }

    def _sealed_for(
        self, task: TaskDefinition, shared: dict[str, Any], partner: Partner
    ) -> dict[str, Any]:
        if not task.encryption_required:
            return {"data": shared}
        return {"jwe": encrypt_for(shared, PublicOrganisationKeys.from_document(partner.keys))}

    # --- applying changes (the initiator) -------------------------------------------------

    def _completed(
        self, current: Collaboration, task_id: str, org: str, result: dict[str, Any], by: str
    ) -> Collaboration:
        task = check_may_submit(current, task_id, org)
        now = _now_text(self._clock)
        if task.type is TaskType.NOTIFICATION:
            return acknowledge(current, task, org, by, now)
        return complete_task(current, task, result, by, now)

    async def _apply(
        self,
        tenant_id: str,
        collab_id: str,
        change: Callable[[Collaboration], Collaboration],
        ctx: RequestContext,
        action: str,
        details: dict[str, Any] | None = None,
    ) -> Collaboration:
        for attempt in range(APPLY_ATTEMPTS):
            try:
                async with self._uow(write=True) as uow:
                    current = await uow.collaboration.collaboration(tenant_id, collab_id)
                    if current is None:
                        raise NotFound(f"collaboration {collab_id!r} not found")
                    changed = change(current)  # its checks again, on the copy read now
                    await self._save(uow, tenant_id, changed, current.version)
                    await self._record(uow, tenant_id, ctx, action, changed, details)
                    await uow.commit()
                break
            except Conflict:  # a partner's message changed it meanwhile: read it again
                if attempt == APPLY_ATTEMPTS - 1:
                    raise
        self._messenger.wake()
        await self._after(tenant_id, current, changed)
        return changed

    async def _save(
        self, uow: UnitOfWork, tenant_id: str, collab: Collaboration, expected_version: int
    ) -> None:
        await uow.collaboration.save_collaboration(
            tenant_id, collab, self._clock.now(), new=False, expected_version=expected_version
        )
        await self._broadcast(uow, tenant_id, collab)

    async def _broadcast(self, uow: UnitOfWork, tenant_id: str, collab: Collaboration) -> None:
        me = await self._orgs.org_id(tenant_id)
        others = [o for o in collab.org_ids() if o != me]
        await self._messenger.enqueue(
            uow, tenant_id, others, COLLABORATION_STATE, to_document(collab), stream=collab.id
        )

    async def _after(
        self, tenant_id: str, before: Collaboration | None, after: Collaboration
    ) -> None:
        """What follows a committed change on this hub: open newly active tasks assigned to
        this organisation, and tell whoever waits that a collaboration ended."""
        me = await self._orgs.org_id(tenant_id)
        for task in after.tasks:
            state = after.task_states[task.id]
            was = before.task_states.get(task.id) if before else None
            newly = state.status is TaskStatus.ACTIVE and (
                was is None or was.status is not TaskStatus.ACTIVE or was.attempt != state.attempt
            )
            if newly and task.assigned_org == me:
                for opener in self.task_openers:
                    await _quietly(opener(tenant_id, after, task))
        if after.status in ENDED and (before is None or before.status not in ENDED):
            for hook in self.on_ended:
                await _quietly(hook(tenant_id, after))

    async def _record(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        ctx: RequestContext,
        action: str,
        collab: Collaboration,
        details: dict[str, Any] | None = None,
    ) -> None:
        shown = {"status": collab.status.value, "version": collab.version, **(details or {})}
        event = AuditEvent(action, "collaboration", collab.id, details=shown)
        await self._audit.record(uow, [tenant_id], ctx, event)

    # --- messages from other organisations -----------------------------------------------

    async def _on_state(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        try:
            incoming = from_document(msg.event.get("data") or {})
        except ValueError as exc:
            raise ValidationFailed([FieldProblem("data", str(exc)[:200])]) from None
        if incoming.initiator != msg.sender:
            raise Forbidden("only the initiator's organisation sends a collaboration's state")
        me = await self._orgs.org_id(msg.tenant_id)
        if incoming.participant(me) is None:
            raise Forbidden("your organisation is not a participant")
        current = await uow.collaboration.collaboration(msg.tenant_id, incoming.id)
        if current is not None and current.initiator != incoming.initiator:
            raise Forbidden("another organisation's collaboration")
        if current is not None and current.version >= incoming.version:
            return Handled({"status": "older"})
        await uow.collaboration.save_collaboration(
            msg.tenant_id,
            incoming,
            self._clock.now(),
            new=current is None,
            expected_version=current.version if current is not None else None,
        )
        handled = Handled({"status": "applied"})
        if current is None:  # tell the initiator we took it (it is ready once all have)
            data = {"collaboration_id": incoming.id, "task_id": JOIN}
            await self._messenger.enqueue(
                uow, msg.tenant_id, [incoming.initiator], TASK_RESULT, data, stream=incoming.id
            )
            handled.after_commit.append(self._wake)
        tenant_id = msg.tenant_id

        async def after() -> None:
            await self._after(tenant_id, current, incoming)

        handled.after_commit.append(after)
        return handled

    async def _wake(self) -> None:
        self._messenger.wake()

    async def _on_task_result(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        data = msg.event.get("data") or {}
        collab_id, task_id = str(data.get("collaboration_id")), data.get("task_id")
        current = await uow.collaboration.collaboration(msg.tenant_id, collab_id)
        me = await self._orgs.org_id(msg.tenant_id)
        if current is None or current.initiator != me or current.participant(msg.sender) is None:
            raise NotFound(f"collaboration {collab_id!r} not found")
        now = _now_text(self._clock)
        if task_id == JOIN:
            changed = join(current, msg.sender, now)
            details: dict[str, Any] = {"joined": msg.sender}
        else:
            task = check_may_submit(current, str(task_id), msg.sender)
            raw = data.get("result")
            result = _bounded_result(raw)
            if task.type is TaskType.APPROVAL:
                result = approval_result(result)
            by = f"{msg.sender}:{str(data.get('submitted_by', ''))[:64]}"
            changed = self._completed(current, task.id, msg.sender, result, by)
            details = {"task_id": task.id, "from": msg.sender, "result": _shown(task, result)}
        return await self._applied(uow, msg, current, changed, "collaboration.task.result", details)

    async def _on_terminate_request(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        data = msg.event.get("data") or {}
        collab_id = str(data.get("collaboration_id"))
        current = await uow.collaboration.collaboration(msg.tenant_id, collab_id)
        me = await self._orgs.org_id(msg.tenant_id)
        if current is None or current.initiator != me:
            raise NotFound(f"collaboration {collab_id!r} not found")
        check_may_terminate(current, msg.sender)
        reason = str(data.get("reason") or "")[:1000] or "terminated"
        changed = terminate(current, msg.sender, reason, _now_text(self._clock))
        details = {"by": msg.sender, "reason": reason}
        return await self._applied(uow, msg, current, changed, "collaboration.terminate", details)

    async def _applied(
        self,
        uow: UnitOfWork,
        msg: Incoming,
        before: Collaboration,
        changed: Collaboration,
        action: str,
        details: dict[str, Any],
    ) -> Handled:
        await self._save(uow, msg.tenant_id, changed, before.version)
        ctx = RequestContext(f"organisation:{msg.sender}", ActorType.SYSTEM)
        await self._record(uow, msg.tenant_id, ctx, action, changed, details)
        tenant_id = msg.tenant_id

        async def after() -> None:
            self._messenger.wake()
            await self._after(tenant_id, before, changed)

        return Handled({"status": changed.status.value}, [after])

    async def _on_data(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        data = msg.event.get("data") or {}
        collab_id, task_id = str(data.get("collaboration_id")), str(data.get("task_id"))
        current = await uow.collaboration.collaboration(msg.tenant_id, collab_id)
        me = await self._orgs.org_id(msg.tenant_id)
        if current is None or current.participant(msg.sender) is None:
            raise NotFound(f"collaboration {collab_id!r} not found")
        task = current.task(task_id)
        if task.type is not TaskType.DATA_EXCHANGE or task.assigned_org != msg.sender:
            raise Forbidden("the sender is not this data exchange's source")
        if me not in task.target_orgs:
            raise Forbidden("your organisation is not a target of this data exchange")
        if "jwe" in data:
            payload: dict[str, Any] = {"jwe": str(data["jwe"])}
        elif task.encryption_required:
            raise ValidationFailed([FieldProblem("data", "this exchange must be encrypted")])
        else:
            payload = {"data": data.get("data")}
        await uow.collaboration.add_data(
            msg.tenant_id, collab_id, task_id, msg.sender, str(msg.event["id"]), payload,
            self._clock.now(),
        )  # fmt: skip
        return Handled({"status": "stored"})

    # --- timeouts (the initiator's hub) ---------------------------------------------------

    async def start_timeouts(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._timeouts())

    async def stop_timeouts(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _timeouts(self) -> None:
        while True:
            try:
                await self.expire_overdue()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("collaboration timeout check failed", exc_info=True)
            await asyncio.sleep(TIMEOUT_CHECK_S)

    async def expire_overdue(self) -> int:
        now = self._clock.now()
        async with self._uow() as uow:
            running = await uow.collaboration.in_progress()
        expired = 0
        for tenant_id, collab in running:
            if collab.initiator != await self._orgs.org_id(tenant_id):
                continue
            task = collab.current
            if task is None or not _overdue(collab, task, now):
                continue
            expired += 1
            with contextlib.suppress(NotFound, Forbidden, Conflict):
                await self._apply(
                    tenant_id,
                    collab.id,
                    functools.partial(_expire, task=task, now=now),
                    RequestContext("hub"),
                    "collaboration.task.timeout",
                    {"task_id": task.id},
                )
        return expired


def _overdue(collab: Collaboration, task: TaskDefinition, now: datetime) -> bool:
    since = collab.task_states[task.id].activated_at
    if since is None:
        return False
    started = datetime.fromisoformat(since.replace("Z", "+00:00"))
    return now - started > timedelta(seconds=task.timeout_s)


def _expire(current: Collaboration, *, task: TaskDefinition, now: datetime) -> Collaboration:
    state = current.task_states.get(task.id)
    if state is None or state.status is not TaskStatus.ACTIVE or not _overdue(current, task, now):
        raise Conflict("no longer overdue")
    return time_out(current, task, rfc3339(now))


def _shown(task: TaskDefinition, result: dict[str, Any]) -> dict[str, Any]:
    """A result as the audit log keeps it: a data exchange's by digest only."""
    if task.type is TaskType.DATA_EXCHANGE:
        return {k: result.get(k) for k in ("digest", "fields", "targets")}
    return result


async def _quietly(call: Awaitable[None]) -> None:
    try:
        await call
    except Exception:  # the change is committed; opening its work is retried on the next
        log.warning("collaboration follow-up failed", exc_info=True)
