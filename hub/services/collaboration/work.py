"""Where a collaboration meets the workflow engine of an organisation on this hub.

- An approval assigned to the organisation becomes a user task in its tenant: a run of
  the built-in `collaboration-approval` workflow (published in the tenant the first time
  one is needed), whose form is `approval_decision` and `comments`, for the tenant's
  operators and administrators. Completing it submits the decision (activity
  `collaboration.submit_result`) as the organisation's result.
- An activity whose parameters name a `workflow` starts that workflow there, with the
  collaboration and task in its input; it submits its result the same way.
- Activities for any workflow: `collaboration.start` (start a collaboration from a run; a
  pack hands work to a partner) and `collaboration.submit_result`. When a collaboration
  ends, the event `collaborations/{id}/ended` is published in each participant tenant on
  this hub, so a run can `wait` for it.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from hub.domain.audit import ActorType, RequestContext
from hub.domain.collaboration import Collaboration, TaskDefinition, TaskType, to_document
from hub.domain.errors import Conflict, HubError
from hub.domain.tenancy import Tenant
from hub.engine.activities import ActivityContext, ActivityRegistry, NonRetryableError
from hub.ports import EventBus
from hub.services.collaboration.service import CollaborationService
from hub.services.tenancy.tenants import TenantService
from hub.services.workflows.service import StartRun, WorkflowService

APPROVAL_WORKFLOW = "collaboration-approval"
APPROVAL_GROUPS = ["operators", "tenant_admins"]
APPROVAL_DEFINITION: dict[str, Any] = {
    "name": APPROVAL_WORKFLOW,
    "version": "1.0.0",
    "description": "A partner organisation asks yours to approve (issue 18).",
    "start": "decide",
    "steps": {
        "decide": {
            "type": "user_task",
            "title": "${input.title}",
            "form": [
                {"id": "approval_decision", "type": "enum", "options": ["approved", "rejected"],
                 "required": True, "label": "Decision"},
                {"id": "comments", "type": "string", "default": "", "label": "Comments"},
            ],
            "candidate_groups": APPROVAL_GROUPS,
            "next": "submit",
        },
        "submit": {
            "type": "activity",
            "activity": "collaboration.submit_result",
            "input": {
                "collaboration_id": "${input.collaboration_id}",
                "task_id": "${input.task_id}",
                "result": "${steps.decide.output}",
            },
            "next": "done",
        },
        "done": {"type": "end"},
    },
}  # fmt: skip
ENDED_TOPIC = "collaborations/{id}/ended"


class CollaborationWork:
    def __init__(
        self,
        collaborations: CollaborationService,
        workflows: WorkflowService,
        tenants: TenantService,
        bus: EventBus,
    ) -> None:
        self._collaborations = collaborations
        self._workflows = workflows
        self._tenants = tenants
        self._bus = bus
        collaborations.task_openers.append(self.open_task)
        collaborations.on_ended.append(self.ended)

    async def _tenant(self, tenant_id: str) -> Tenant:
        slugs = await self._tenants.slugs([tenant_id])
        if tenant_id not in slugs:
            raise NonRetryableError("the run's tenant is gone")
        return await self._tenants.get(slugs[tenant_id])

    async def open_task(self, tenant_id: str, collab: Collaboration, task: TaskDefinition) -> None:
        tenant = await self._tenant(tenant_id)
        state = collab.task_states[task.id]
        key = f"collaboration:{collab.id}:{task.id}:{state.attempt}"
        ctx = RequestContext(f"collaboration:{collab.id}", ActorType.SYSTEM)
        if task.type is TaskType.APPROVAL:
            await self._ensure_approval_workflow(tenant)
            start = StartRun(
                APPROVAL_WORKFLOW,
                {
                    "collaboration_id": collab.id,
                    "task_id": task.id,
                    "title": f"{collab.name}: {task.title}"[:200],
                    "parameters": task.parameters,
                },
                idempotency_key=key,
            )
            await self._workflows.start_run(tenant, start, ctx)
        elif task.type is TaskType.ACTIVITY and isinstance(task.parameters.get("workflow"), str):
            start = StartRun(
                task.parameters["workflow"],
                {
                    "collaboration_id": collab.id,
                    "task_id": task.id,
                    "parameters": task.parameters.get("input", {}),
                },
                idempotency_key=key,
            )
            await self._workflows.start_run(tenant, start, ctx)

    async def _ensure_approval_workflow(self, tenant: Tenant) -> None:
        try:
            await self._workflows.versions(tenant, APPROVAL_WORKFLOW)
            return
        except HubError:
            pass
        with contextlib.suppress(Conflict):  # published meanwhile
            await self._workflows.publish(
                tenant, APPROVAL_DEFINITION, RequestContext("hub", ActorType.SYSTEM)
            )

    async def ended(self, tenant_id: str, collab: Collaboration) -> None:
        doc = to_document(collab)
        payload = {"collaboration_id": collab.id, "status": doc["status"],
                   "reason": doc["reason"], "tasks": doc["tasks"]}  # fmt: skip
        await self._bus.publish(ENDED_TOPIC.format(id=collab.id), payload, tenant=tenant_id)

    # --- activities ---

    def register(self, registry: ActivityRegistry) -> None:
        registry.register("collaboration.submit_result", self._submit_result)
        registry.register("collaboration.start", self._start)

    async def _submit_result(self, ctx: ActivityContext, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise NonRetryableError("collaboration.submit_result needs {collaboration_id, ...}")
        tenant = await self._tenant(ctx.tenant)
        actor = RequestContext(f"workflow:{ctx.run_id}", ActorType.SYSTEM)
        try:
            collab = await self._collaborations.submit(
                tenant,
                str(spec.get("collaboration_id")),
                str(spec.get("task_id")),
                spec.get("result") or {},
                actor,
            )
        except HubError as exc:
            raise NonRetryableError(f"collaboration.submit_result: {exc.detail}") from None
        return {"collaboration_id": collab.id, "status": collab.status.value}

    async def _start(self, ctx: ActivityContext, spec: Any) -> dict[str, Any]:
        """Create and start a collaboration (its definition as the API takes it)."""
        if not isinstance(spec, dict):
            raise NonRetryableError("collaboration.start needs a collaboration definition")
        tenant = await self._tenant(ctx.tenant)
        actor = RequestContext(f"workflow:{ctx.run_id}", ActorType.SYSTEM)
        body = dict(spec)
        auto_start = body.pop("auto_start", True) is not False
        try:
            # one collaboration per step, also when the step is retried after a crash
            digest = hashlib.sha256(f"{ctx.tenant}:{ctx.idempotency_key}".encode()).hexdigest()
            collab = await self._collaborations.create(
                tenant, body, actor, auto_start=auto_start, collab_id=digest[:32]
            )
        except HubError as exc:
            raise NonRetryableError(f"collaboration.start: {exc.detail}") from None
        return {"collaboration_id": collab.id, "status": collab.status.value}
