"""`erp.operation`: a workflow names a business operation (``check_inventory``) and its
parameters; the connection's profile (issue 15, item 8) says which OData call that is on
this ERP and how the answer becomes the operation's result.

    - id: stock
      activity: erp.operation
      input: {connection: s4, operation: check_inventory,
              params: {material_id: "${input.material}", plant: "1000"}}

Profiles come from the `profiles` lookup the composition root hands in (the shipped ones
in connectors/enterprise/profiles).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hub.domain.enterprise_profiles import ErpCall, Profile, plan, result
from hub.domain.errors import FieldProblem, ValidationFailed
from hub.engine.activities import ActivityContext
from hub.ports.enterprise import EntityQuery
from hub.services.enterprise.gateway import EnterpriseGateway

Profiles = Callable[[str], Profile]  # NotFound for an unknown name


async def run_operation(
    gateway: EnterpriseGateway,
    profiles: Profiles,
    tenant: str,
    spec: Mapping[str, Any],
    *,
    idempotency_key: str | None,
) -> Any:
    name = _text(spec, "connection")
    connection = await gateway.connection(tenant, name)
    if connection.profile is None:
        raise ValidationFailed(
            [FieldProblem("connection", f"connection {name!r} names no profile of operations")]
        )
    operation = profiles(connection.profile).operation(_text(spec, "operation"))
    params = spec.get("params") or {}
    call = plan(operation, params)
    answer = await _perform(gateway, tenant, name, call, idempotency_key)
    return result(operation, answer)


async def _perform(
    gateway: EnterpriseGateway, tenant: str, name: str, call: ErpCall, idempotency_key: str | None
) -> Any:
    service = call.service
    if call.kind == "call":
        assert call.function is not None
        return await gateway.call(
            tenant,
            name,
            call.function,
            call.arguments or {},
            idempotency_key=idempotency_key,
            service=service,
        )
    assert call.entity_set is not None
    if call.kind == "query":
        query = EntityQuery(
            call.entity_set,
            filter=call.filter,
            select=call.select,
            expand=call.expand,
            orderby=call.orderby,
            top=call.top,
        )
        page = await gateway.query(tenant, name, query, service=service)
        return {"items": page.items, "count": page.count}
    if call.kind == "get":
        return await gateway.read(tenant, name, call.entity_set, _key(call), service=service)
    if call.kind == "create":
        return await gateway.create(
            tenant,
            name,
            call.entity_set,
            call.body or {},
            idempotency_key=idempotency_key,
            service=service,
        )
    updated = await gateway.update(
        tenant,
        name,
        call.entity_set,
        _key(call),
        call.body or {},
        etag=call.etag,
        idempotency_key=idempotency_key,
        service=service,
    )
    return updated or {}


def _key(call: ErpCall) -> Mapping[str, str | int]:
    assert call.key is not None  # plan() gives get and update a key
    return call.key


def _text(spec: Mapping[str, Any], field: str) -> str:
    value = spec.get(field)
    if not isinstance(value, str) or not value:
        raise ValidationFailed([FieldProblem(field, "must be a non-empty string")])
    return value


def operation_activity(
    gateway: EnterpriseGateway, profiles: Profiles
) -> Callable[[ActivityContext, Any], Awaitable[Any]]:
    async def operation(ctx: ActivityContext, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationFailed(
                [FieldProblem("input", "must be {connection, operation, params}")]
            )
        return await run_operation(
            gateway, profiles, ctx.tenant, value, idempotency_key=ctx.idempotency_key
        )

    return operation
