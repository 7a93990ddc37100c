"""The `erp.*` workflow activities (issue 15, item 6), on the EnterpriseGateway.

    erp.query   {connection, entity_set, filter?, select?, expand?, orderby?, top?, skip?,
                 count?}                                   -> {items, count}
    erp.get     {connection, entity_set, key}              -> {item, etag}
    erp.create  {connection, entity_set, data}             -> {item, etag}
    erp.update  {connection, entity_set, key, data, etag?} -> {item, etag}
    erp.delete  {connection, entity_set, key, etag?}       -> {deleted: true}
    erp.call    {connection, operation, params?, bound_to?: {entity_set, key}} -> {result}
    erp.batch   {connection, changes: [{method, entity_set, key?, data?, etag?}]}
                                                           -> {results: [item | null]}
    erp.operation {connection, operation, params?}         -> the profile's result

The tenant is the run's own (from the activity context), never the input's. Writes carry
the step's idempotency key to the ERP (Idempotency-Key). Failures keep the ERP's typed
error as the step's error type, so a retry policy or an on_error branch can name them:
`PreconditionFailed` (a stale ETag), `NotFound` and `InvalidRequest` fail at once;
`Unavailable` and `CircuitOpen` are retried, not before the ERP's Retry-After.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hub.domain.audit import ActorType, AuditEvent, Outcome, RequestContext
from hub.domain.enterprise import EnterpriseError
from hub.domain.errors import HubError, NotFound, ValidationFailed
from hub.engine.activities import ActivityContext, ActivityError, ActivityRegistry
from hub.ports.enterprise import ChangeSetItem, EntityQuery, Key
from hub.services.audit.log import AuditLog
from hub.services.enterprise import input_checks
from hub.services.enterprise.gateway import EnterpriseGateway
from hub.services.enterprise.operations import Profiles, operation_activity

MAX_CHANGES = 1000
ETAG = "@etag"


class ErpStepError(ActivityError):
    """An ERP failure as a step's failure: the ERP error's type, retryability and wait."""

    def __init__(self, message: str, error_type: str, retryable: bool, retry_after: Any) -> None:
        super().__init__(message)
        self._error_type = error_type
        self.retryable = retryable
        self.retry_after = retry_after

    @property
    def error_type(self) -> str:
        return self._error_type


def _bad_input(message: str) -> ErpStepError:
    return ErpStepError(message, "InvalidRequest", False, None)


def _text(spec: Mapping[str, Any], name: str, activity: str) -> str:
    value = spec.get(name)
    if not isinstance(value, str) or not value:
        raise _bad_input(f"{activity}: {name!r} must be a non-empty string")
    return value


def _spec(value: Any, activity: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad_input(f"{activity}: the input must be an object with 'connection'")
    _text(value, "connection", activity)
    return value


def _key(spec: Mapping[str, Any], activity: str, name: str = "key") -> Key:
    key = spec.get(name)
    if isinstance(key, bool) or not isinstance(key, str | int | Mapping) or key in ("", {}):
        raise _bad_input(f"{activity}: {name!r} must be a value or an object of key fields")
    return key


def _data(spec: Mapping[str, Any], activity: str) -> Mapping[str, Any]:
    data = spec.get("data", {})
    if not isinstance(data, Mapping):
        raise _bad_input(f"{activity}: 'data' must be an object")
    return data


def _names(spec: Mapping[str, Any], name: str, activity: str) -> tuple[str, ...]:
    value = spec.get(name) or ()
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _bad_input(f"{activity}: {name!r} must be a list of names")
    return tuple(value)


def _int(spec: Mapping[str, Any], name: str, activity: str) -> int | None:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad_input(f"{activity}: {name!r} must be a whole number >= 0")
    return value


def _item(item: dict[str, Any] | None) -> dict[str, Any]:
    return {"item": item, "etag": (item or {}).get(ETAG)}


def query_of(spec: Mapping[str, Any], activity: str = "erp.query") -> EntityQuery:
    filter_ = spec.get("filter")
    if filter_ is not None and not isinstance(filter_, str):
        raise _bad_input(f"{activity}: 'filter' must be a string ($filter)")
    return EntityQuery(
        entity_set=_text(spec, "entity_set", activity),
        filter=filter_,
        select=_names(spec, "select", activity),
        expand=_names(spec, "expand", activity),
        orderby=_names(spec, "orderby", activity),
        top=_int(spec, "top", activity),
        skip=_int(spec, "skip", activity),
        count=bool(spec.get("count", False)),
    )


def changes_of(spec: Mapping[str, Any], activity: str = "erp.batch") -> list[ChangeSetItem]:
    raw = spec.get("changes")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_CHANGES:
        raise _bad_input(f"{activity}: 'changes' must be a list of 1 to {MAX_CHANGES} changes")
    changes = []
    for index, change in enumerate(raw):
        where = f"{activity}: changes[{index}]"
        if not isinstance(change, Mapping):
            raise _bad_input(f"{where} must be an object")
        method = str(change.get("method", "")).upper()
        if method not in ("POST", "PATCH", "DELETE"):
            raise _bad_input(f"{where}.method must be POST, PATCH or DELETE")
        changes.append(
            ChangeSetItem(
                method=method,
                entity_set=_text(change, "entity_set", where),
                key=None if method == "POST" else _key(change, where),
                body=_data(change, where),
                etag=change.get("etag") if isinstance(change.get("etag"), str) else None,
            )
        )
    return changes


Activity = Callable[[ActivityContext, Any], Awaitable[Any]]


def activities(gateway: EnterpriseGateway) -> dict[str, Activity]:
    """The activities, bound to the gateway (the composition root registers them)."""

    async def query(ctx: ActivityContext, value: Any) -> Any:
        spec = _spec(value, "erp.query")
        page = await gateway.query(ctx.tenant, spec["connection"], query_of(spec))
        return {"items": page.items, "count": page.count}

    async def get(ctx: ActivityContext, value: Any) -> Any:
        spec = _spec(value, "erp.get")
        entity_set = _text(spec, "entity_set", "erp.get")
        return _item(
            await gateway.read(ctx.tenant, spec["connection"], entity_set, _key(spec, "erp.get"))
        )

    async def create(ctx: ActivityContext, value: Any) -> Any:
        spec = _spec(value, "erp.create")
        item = await gateway.create(
            ctx.tenant,
            spec["connection"],
            _text(spec, "entity_set", "erp.create"),
            _data(spec, "erp.create"),
            idempotency_key=ctx.idempotency_key,
        )
        return _item(item)

    async def update(ctx: ActivityContext, value: Any) -> Any:
        spec = _spec(value, "erp.update")
        item = await gateway.update(
            ctx.tenant,
            spec["connection"],
            _text(spec, "entity_set", "erp.update"),
            _key(spec, "erp.update"),
            _data(spec, "erp.update"),
            etag=spec.get("etag") if isinstance(spec.get("etag"), str) else None,
            idempotency_key=ctx.idempotency_key,
        )
        return _item(item)

    async def delete(ctx: ActivityContext, value: Any) -> Any:
        spec = _spec(value, "erp.delete")
        await gateway.delete(
            ctx.tenant,
            spec["connection"],
            _text(spec, "entity_set", "erp.delete"),
            _key(spec, "erp.delete"),
            etag=spec.get("etag") if isinstance(spec.get("etag"), str) else None,
            idempotency_key=ctx.idempotency_key,
        )
        return {"deleted": True}

    async def call(ctx: ActivityContext, value: Any) -> Any:
        spec = _spec(value, "erp.call")
        params = spec.get("params") or {}
        if not isinstance(params, Mapping):
            raise _bad_input("erp.call: 'params' must be an object")
        bound = spec.get("bound_to")
        bound_to = None
        if bound is not None:
            if not isinstance(bound, Mapping):
                raise _bad_input("erp.call: 'bound_to' must be {entity_set, key}")
            bound_to = (_text(bound, "entity_set", "erp.call: bound_to"), _key(bound, "erp.call"))
        result = await gateway.call(
            ctx.tenant,
            spec["connection"],
            _text(spec, "operation", "erp.call"),
            params,
            bound_to=bound_to,
            idempotency_key=ctx.idempotency_key,
        )
        return {"result": result}

    async def batch(ctx: ActivityContext, value: Any) -> Any:
        spec = _spec(value, "erp.batch")
        results = await gateway.batch(
            ctx.tenant, spec["connection"], changes_of(spec), idempotency_key=ctx.idempotency_key
        )
        return {"results": results}

    table: dict[str, Activity] = {
        "erp.query": query,
        "erp.get": get,
        "erp.create": create,
        "erp.update": update,
        "erp.delete": delete,
        "erp.call": call,
        "erp.batch": batch,
    }
    return {name: _typed_failures(name, fn) for name, fn in table.items()}


def _typed_failures(name: str, fn: Activity) -> Activity:
    """ERP and lookup errors become step failures that keep their type."""

    async def activity(ctx: ActivityContext, value: Any) -> Any:
        try:
            return await fn(ctx, value)
        except EnterpriseError as exc:
            raise ErpStepError(
                f"{name}: {exc.detail}",
                exc.error_type,
                exc.retryable,
                getattr(exc, "retry_after", None),
            ) from None
        except NotFound as exc:
            raise ErpStepError(f"{name}: {exc.detail}", "NotFound", False, None) from None
        except ValidationFailed as exc:
            raise ErpStepError(f"{name}: {exc.detail}", "InvalidRequest", False, None) from None
        except HubError as exc:
            raise ErpStepError(f"{name}: {exc.detail}", type(exc).__name__, False, None) from None

    return activity


WRITES = frozenset({"erp.create", "erp.update", "erp.delete", "erp.call", "erp.batch"})
READ_KINDS = frozenset({"query", "get"})


def register(
    registry: ActivityRegistry,
    gateway: EnterpriseGateway,
    profiles: Profiles | None = None,
    audit: AuditLog | None = None,
) -> None:
    """The erp.* activities (and erp.operation when profiles are given), each with its
    publish-time input check; with `audit`, every ERP write a run makes (or tries) is an
    entry in the run's tenant's audit log."""
    table = activities(gateway)
    if profiles is not None:
        table["erp.operation"] = _typed_failures(
            "erp.operation", operation_activity(gateway, profiles)
        )
    for name, fn in table.items():
        if audit is not None and (name in WRITES or name == "erp.operation"):
            fn = _audited(name, fn, audit, _is_write(name, gateway, profiles))
        registry.register(name, fn, validate_input=input_checks.validator(name))


IsWrite = Callable[[ActivityContext, Mapping[str, Any]], Awaitable[bool]]


def _is_write(name: str, gateway: EnterpriseGateway, profiles: Profiles | None) -> IsWrite:
    async def always(ctx: ActivityContext, spec: Mapping[str, Any]) -> bool:
        return True

    async def operation_writes(ctx: ActivityContext, spec: Mapping[str, Any]) -> bool:
        # A profile's query and get operations read; the others (create, update, call) write.
        try:
            connection = await gateway.connection(ctx.tenant, str(spec.get("connection")))
            assert profiles is not None and connection.profile is not None
            kind = profiles(connection.profile).operation(str(spec.get("operation"))).kind
        except (HubError, AssertionError):
            return True  # it failed before any call: recorded as a failed attempt
        return kind not in READ_KINDS

    return operation_writes if name == "erp.operation" else always


def _audited(name: str, fn: Activity, audit: AuditLog, is_write: IsWrite) -> Activity:
    """Records the write after it is made or refused (the ERP's answer decides the
    outcome): connection, target, key, the ETag sent and the idempotency key."""

    async def activity(ctx: ActivityContext, value: Any) -> Any:
        spec = value if isinstance(value, Mapping) else {}
        if not await is_write(ctx, spec):
            return await fn(ctx, value)
        details: dict[str, Any] = {
            field: spec[field]
            for field in ("entity_set", "key", "etag", "operation")
            if isinstance(spec.get(field), str | int | Mapping)
        }
        details.update(run=ctx.run_id, step=ctx.step_id, idempotency_key=ctx.idempotency_key)
        outcome = Outcome.FAILURE
        try:
            result = await fn(ctx, value)
            outcome = Outcome.SUCCESS
            return result
        except ErpStepError as exc:
            details["error_type"] = exc.error_type
            raise
        finally:
            event = AuditEvent(
                name, "erp_connection", str(spec.get("connection", "")), outcome, details
            )
            actor = RequestContext(f"workflow:{ctx.run_id}", ActorType.SYSTEM)
            await audit.record_now([ctx.tenant], actor, event)

    return activity
