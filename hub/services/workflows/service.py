"""Workflow use cases: publish definitions, start and control runs, signals, user tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.domain.audit import AuditEvent, RequestContext
from hub.domain.errors import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed
from hub.domain.ids import is_id, new_id
from hub.domain.tenancy import Tenant
from hub.engine.concurrency import run_key
from hub.engine.definition import (
    DefinitionInvalid,
    parse_definition,
    parse_version,
    validate_input,
    version_greater,
)
from hub.engine.expressions import ExpressionError
from hub.engine.forms import SecretDigest, value_problem
from hub.engine.history import RunState, RunStatus
from hub.engine.interpreter import Interpreter, Transition
from hub.ports import Clock, UnitOfWorkFactory
from hub.services.audit.log import AuditLog
from hub.services.workflows.changes import DefinitionChanges
from hub.services.workflows.definitions import DefinitionCache
from hub.services.workflows.runtime import WorkflowRuntime, folding, started


@dataclass(frozen=True)
class StartRun:
    workflow: str
    input: Any
    version: str | None = None
    priority: int = 0
    idempotency_key: str | None = None


def _invalid(exc: DefinitionInvalid) -> ValidationFailed:
    return ValidationFailed(
        [
            FieldProblem(f"steps.{p.step}.{p.field}" if p.step else p.field, p.message)
            for p in exc.problems
        ]
    )


class WorkflowService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        definitions: DefinitionCache,
        runtime: WorkflowRuntime,
        secret_digest: SecretDigest,
        changes: DefinitionChanges,
    ) -> None:
        self._uow = uow_factory
        self._digest = secret_digest
        self._changes = changes
        self._clock = clock
        self._audit = audit
        self.definitions = definitions
        self.runtime = runtime

    # --- definitions ---

    async def check_definition(self, uow: Any, tenant: Tenant, body: dict[str, Any]) -> Any:
        """The parsed definition, or ValidationFailed naming every problem: unknown
        activities, and subworkflows naming a workflow (or a version range) the tenant has
        not published, so a run never waits for a child that cannot start."""
        known = await uow.workflows.published_versions(tenant.id)
        name, version = body.get("name"), body.get("version")
        if isinstance(name, str) and isinstance(version, str):
            known.setdefault(name, []).append(version)  # it may start itself
        try:  # off the loop: compiling CEL costs ~0.5 ms an expression, seconds for many
            return await asyncio.to_thread(
                parse_definition,
                body,
                known_activities=self.runtime.registry.names(),
                input_validators=self.runtime.registry.input_validators(),
                known_workflows=known,
            )
        except DefinitionInvalid as exc:
            raise _invalid(exc) from None

    async def publish_in(
        self, uow: Any, tenant: Tenant, body: dict[str, Any], ctx: RequestContext
    ) -> Any:
        """Publish inside the caller's transaction (an industry pack's install): no commit,
        and the caller calls `DefinitionChanges.changed` once it has committed."""
        definition = await self.check_definition(uow, tenant, body)
        name, version = definition.name, definition.version
        versions = await uow.workflows.definition_versions(tenant.id, name)
        if versions and not version_greater(version, versions[-1]):
            raise Conflict(f"{name} {version} is not newer than the published {versions[-1]}")
        parsed = parse_version(version)
        await uow.workflows.add_definition(
            tenant.id,
            name,
            version,
            (parsed.major, parsed.minor, parsed.patch),
            body,
            self._clock.now(),
            ctx.actor,
        )
        await self._audit.record(
            uow,
            [tenant.id],
            ctx,
            AuditEvent("workflow.publish", "workflow", name, details={"version": version}),
        )
        return definition

    async def publish(
        self, tenant: Tenant, body: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        async with self._uow() as uow:
            await self.check_definition(uow, tenant, body)  # 422 before taking the write lock
        async with self._uow(write=True) as uow:
            definition = await self.publish_in(uow, tenant, body, ctx)
            await uow.commit()
        await self._changes.changed()  # the newest version's triggers apply from now on
        return {"name": definition.name, "version": definition.version,
                "steps": len(definition.steps)}  # fmt: skip

    async def list_definitions(self, tenant: Tenant) -> list[dict[str, Any]]:
        async with self._uow() as uow:
            latest = await uow.workflows.latest_definitions(tenant.id)
        return [
            {
                "name": d["name"],
                "latest_version": d["version"],
                "description": d["body"].get("description", ""),
                "published_at": d["created_at"],
            }
            for d in latest
        ]

    async def versions(self, tenant: Tenant, name: str) -> list[str]:
        async with self._uow() as uow:
            versions = await uow.workflows.definition_versions(tenant.id, name)
        if not versions:
            raise NotFound(f"workflow {name!r} not found")
        return versions

    async def definition(self, tenant: Tenant, name: str, version: str) -> dict[str, Any]:
        async with self._uow() as uow:
            body = await uow.workflows.definition(tenant.id, name, version)
        if body is None:
            raise NotFound(f"workflow {name!r} version {version!r} not found")
        return body

    # --- runs ---

    async def start(
        self, tenant: Tenant, start: StartRun, ctx: RequestContext
    ) -> tuple[dict[str, Any], bool]:
        """The run, and whether it was created now (False: an Idempotency-Key replay)."""
        run_id, created = await self.start_run(tenant, start, ctx)
        return await self.run(tenant, run_id), created

    async def start_run(
        self, tenant: Tenant, start: StartRun, ctx: RequestContext
    ) -> tuple[str, bool]:
        """As `start`, for a caller that needs only the run's id (a trigger): the run's
        first task is under way when this returns, and no read of the run follows."""
        if start.idempotency_key:
            async with self._uow() as uow:
                found = await uow.workflows.run_by_key(tenant.id, start.idempotency_key)
            if found is not None:
                return found["id"], False
        reference = start.workflow + (f"@{start.version}" if start.version else "")
        name, version = await self.definitions.resolve(tenant.id, reference)
        definition = await self.definitions.get(tenant.id, name, version)
        problems = validate_input(definition, start.input)
        if problems:
            raise ValidationFailed([FieldProblem("input", p) for p in problems])
        key = await self._concurrency_key(definition, start.input)
        now = self._clock.now()
        run = {
            "id": new_id(),
            "tenant_id": tenant.id,
            "workflow": name,
            "version": version,
            "status": RunStatus.RUNNING.value,
            "priority": start.priority,
            "input": start.input,
            "next_seq": 1,
            "idempotency_key": start.idempotency_key,
            "parent_run_id": None,
            "parent_step": None,
            "created_at": now,
            "updated_at": now,
            "concurrency_key": key,  # the commit decides under its lock: start or queue
            # its place in the key's queue; a run of a definition with `concurrency.from`
            # takes one only when it reaches that step
            "concurrency_since": now if key is not None and not _holds_from(definition) else None,
        }
        refold = folding(run, [])
        state, transition = await self.runtime.interpret(
            definition, refold(), lambda i: i.start(start.input), refold
        )
        try:
            local = await self.runtime.commit(run, state, 1, transition, None, ctx, new_run=run)
            kept = started(run, definition, state, transition) if local else None
            for index, task in enumerate(local or []):
                # the first needs no read of the run just written (others read it)
                self.runtime.submit(task, kept if index == 0 else None)
        except Exception:
            if start.idempotency_key:  # a concurrent replay with the same key won the race
                async with self._uow() as uow:
                    found = await uow.workflows.run_by_key(tenant.id, start.idempotency_key)
                if found is not None:
                    return found["id"], False
            raise
        return run["id"], True

    async def _concurrency_key(self, definition: Any, run_input: Any) -> str | None:
        """The run's concurrency key (None: the workflow has none, or it rendered empty);
        a key that cannot be evaluated refuses the run (422) rather than start it unkeyed."""
        concurrency = getattr(definition, "concurrency", None)
        if concurrency is None:
            return None
        try:
            return await self.runtime.evaluate(run_key, concurrency, run_input, definition.vars)
        except ExpressionError as exc:
            raise ValidationFailed(
                [FieldProblem("concurrency.key", f"cannot be evaluated for this run: {exc}")]
            ) from None

    async def runs(
        self,
        tenant: Tenant,
        status: str | None,
        workflow: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        if status is not None and status not in RunStatus.__members__.values():
            raise ValidationFailed([FieldProblem("status", "not a run status")])
        async with self._uow() as uow:
            rows = await uow.workflows.runs(tenant.id, status, workflow, cursor, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [_run_view(r) for r in rows], (rows[-1]["id"] if more and rows else None)

    async def run(self, tenant: Tenant, run_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            found = await uow.workflows.run(tenant.id, run_id) if is_id(run_id) else None
        if found is None:
            raise NotFound(f"run {run_id!r} not found")
        return _run_view(found)

    async def history(self, tenant: Tenant, run_id: str) -> list[dict[str, Any]]:
        await self.run(tenant, run_id)
        async with self._uow() as uow:
            return [e.as_dict() for e in await uow.workflows.events(run_id)]

    async def signal(
        self, tenant: Tenant, run_id: str, name: str, payload: Any, ctx: RequestContext
    ) -> dict[str, Any]:
        event = AuditEvent("workflow.run.signal", "workflow_run", run_id, details={"signal": name})
        return await self._control(tenant, run_id, ctx, lambda i: i.signal(name, payload), event)

    async def cancel(self, tenant: Tenant, run_id: str, ctx: RequestContext) -> dict[str, Any]:
        """Cancel a run; a queued one never starts (and its place in the queue is free)."""
        return await self._control(
            tenant, run_id, ctx, lambda i: i.cancel(f"by {ctx.actor}"), queued_ok=True
        )

    async def suspend(self, tenant: Tenant, run_id: str, ctx: RequestContext) -> dict[str, Any]:
        def suspend(interp: Interpreter) -> Transition:
            if interp.state.status is RunStatus.SUSPENDED:
                raise Conflict("run is already suspended")
            return interp.suspend()

        return await self._control(tenant, run_id, ctx, suspend)

    async def resume(self, tenant: Tenant, run_id: str, ctx: RequestContext) -> dict[str, Any]:
        def resume(interp: Interpreter) -> Transition:
            if interp.state.status is not RunStatus.SUSPENDED:
                raise Conflict("run is not suspended")
            return interp.resume()

        resumed = await self._control(tenant, run_id, ctx, resume)
        self.runtime.wake()  # the tasks it held are due again
        return resumed

    async def _control(
        self,
        tenant: Tenant,
        run_id: str,
        ctx: RequestContext,
        act: Any,
        audit_event: AuditEvent | None = None,
        *,
        queued_ok: bool = False,
    ) -> dict[str, Any]:
        for _ in range(10):
            run, refold, definition = await self._loaded(tenant, run_id)
            state = refold()
            if state.status.finished:
                raise Conflict(f"run {run_id} is {state.status.value}")
            if state.status is RunStatus.QUEUED and not queued_ok:
                raise Conflict(
                    f"run {run_id} is queued behind other runs of its concurrency key; "
                    "it takes signals, suspend and resume once it has started (cancel it "
                    "to drop it)"
                )
            before = state.next_seq
            state, transition = await self.runtime.interpret(definition, state, act, refold)
            local = await self.runtime.commit(run, state, before, transition, None, ctx)
            if local is not None:
                if audit_event is not None:
                    await self._audit.record_now([tenant.id], ctx, audit_event)
                for task in local:  # leased to this process: hand them to the worker
                    self.runtime.submit(task)
                return await self.run(tenant, run_id)
        raise Conflict(f"run {run_id} is changing too fast; try again")

    async def _loaded(
        self, tenant: Tenant, run_id: str
    ) -> tuple[dict[str, Any], Callable[[], RunState], Any]:
        async with self._uow() as uow:
            run = await uow.workflows.run(tenant.id, run_id) if is_id(run_id) else None
            if run is None:
                raise NotFound(f"run {run_id!r} not found")
            events = await uow.workflows.events(run_id)
        definition = await self.definitions.get(tenant.id, run["workflow"], run["version"])
        return run, folding(run, events), definition

    # --- user tasks ---

    async def user_tasks(
        self, tenant: Tenant, user: str | None, groups: list[str], status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        async with self._uow() as uow:
            rows = await uow.workflows.user_tasks(
                tenant.id, status=status, user=user, groups=groups, limit=limit
            )
        return [_task_view(r) for r in rows]

    async def claim(
        self, tenant: Tenant, task_id: str, user: str, groups: list[str]
    ) -> dict[str, Any]:
        task = await self.user_task(tenant, task_id)
        check_may_act(task, user, groups)
        async with self._uow(write=True) as uow:
            if not await uow.workflows.update_user_task(
                task_id, ["open"], status="claimed", claimed_by=user
            ):
                raise Conflict(f"task {task_id} is {task['status']}")
            await uow.commit()
        return _task_view(await self.user_task(tenant, task_id))

    async def complete(
        self,
        tenant: Tenant,
        task_id: str,
        values: dict[str, Any],
        user: str,
        groups: list[str],
        ctx: RequestContext,
    ) -> dict[str, Any]:
        task = await self.user_task(tenant, task_id)
        if task["status"] in ("completed", "cancelled"):
            raise Conflict(f"task {task_id} is already {task['status']}")
        check_may_act(task, user, groups)
        values = _validate_form(task["form"], values, self._digest)
        async with self._uow(write=True) as uow:
            if not await uow.workflows.update_user_task(
                task_id,
                ["open", "claimed"],
                status="completed",
                values=values,
                completed_by=user,
                completed_at=self._clock.now(),
            ):
                raise Conflict(f"task {task_id} was completed meanwhile")
            await uow.commit()
        step = task["step"]
        await self._control(
            tenant, task["run_id"], ctx, lambda i: i.user_task_completed(step, values, user)
        )
        return _task_view(await self.user_task(tenant, task_id))

    async def user_task(self, tenant: Tenant, task_id: str) -> dict[str, Any]:
        """One user task of the tenant as stored (NotFound otherwise)."""
        async with self._uow() as uow:
            task = await uow.workflows.user_task(tenant.id, task_id) if is_id(task_id) else None
        if task is None:
            raise NotFound(f"task {task_id!r} not found")
        return task


def check_may_act(task: dict[str, Any], user: str, groups: list[str]) -> None:
    """Forbidden unless `user` (with its candidate `groups`) may claim or complete `task`."""
    in_group = bool(set(groups) & set(task["candidate_groups"]))
    if task["claimed_by"]:
        allowed = task["claimed_by"] == user
    elif task["assignee"] or task["candidate_groups"]:
        allowed = task["assignee"] == user or in_group
    else:
        allowed = True  # nobody named: anyone the route lets in
    if not allowed:
        raise Forbidden("only the assignee or a member of a candidate group may act on this task")


def _validate_form(
    form: list[dict[str, Any]], values: dict[str, Any], digest: SecretDigest
) -> dict[str, Any]:
    problems: list[FieldProblem] = []
    result: dict[str, Any] = {}
    known = {f["id"] for f in form}
    problems += [FieldProblem(k, "not a field of this form") for k in values if k not in known]
    for field in form:
        fid, kind = field["id"], field.get("type", "string")
        if fid not in values:
            if field.get("default") is not None:
                result[fid] = field["default"]
            elif field.get("required"):
                problems.append(FieldProblem(fid, "required"))
            continue
        value = values[fid]
        # the same rules that checked the field's default when the workflow was published
        if problem := value_problem(kind, field.get("options") or (), value):
            problems.append(FieldProblem(fid, problem))
        elif kind == "secret":
            result[fid] = digest(value)  # the clear value goes no further
        else:
            result[fid] = value
    if problems:
        raise ValidationFailed(problems)
    return result


def _holds_from(definition: Any) -> bool:
    concurrency = getattr(definition, "concurrency", None)
    return concurrency is not None and concurrency.from_step is not None


def _run_view(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": run["id"],
        "workflow": run["workflow"],
        "version": run["version"],
        "status": run["status"],
        "priority": run["priority"],
        "input": run["input"],
        "current_steps": run["current_steps"],
        "output": run["output"],
        "error": run["error"],
        "parent_run_id": run["parent_run_id"],
        "concurrency_key": run.get("concurrency_key"),
        "created_at": run["created_at"],
        "updated_at": run["updated_at"],
    }


def _task_view(task: dict[str, Any]) -> dict[str, Any]:
    return {
        k: task[k]
        for k in (
            "id",
            "run_id",
            "step",
            "title",
            "form",
            "assignee",
            "candidate_groups",
            "status",
            "claimed_by",
            "due_at",
            "created_at",
            "completed_at",
            "completed_by",
            "values",
        )
    }
