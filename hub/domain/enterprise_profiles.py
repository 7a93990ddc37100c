"""ERP operation profiles: named business operations over any OData ERP (issue 15, item 8).

A workflow asks for ``check_inventory`` with ``{material_id, plant}``; a profile says what
that is on one kind of system (SAP S/4HANA's ``API_MATERIAL_STOCK_SRV``, the sample ERP's
``MaterialStock``): which call to make, and how the parameters become its key, filter or
body and the answer the operation's result, each a data mapping (``hub.domain.mapping``;
the mappings read the operation's parameters, and ``result`` the ERP's answer)::

    name: sample_erp                   # optional; when given, the name it is loaded as
    description: The CAP sample ERP
    odata_version: v4                  # optional, v2 or v4 (informative)
    operations:
      check_inventory:
        description: Unrestricted stock of a material in a plant
        kind: get                      # query | get | create | update | call
        service: production            # optional: the OData service it lives in
        entity_set: MaterialStock      # query/get/create/update (call: function)
        params:                        # name -> {required: true|false, description}
          material_id: {required: true}
          plant: {}                    # required by default
        key: {fields: [{target: Material, path: $.material_id},
                       {target: Plant, path: $.plant}]}
        result: {fields: [{target: quantity, path: $.Quantity, transform: number}]}

Per kind: ``query`` takes ``filter`` (a mapping whose targets are property names: each
value gives ``Property eq value``, a list of values ``(P eq a or P eq b)``, a missing one no
condition; ``filter_ops: {Property: ge}`` uses another comparison) and ``select``,
``expand``, ``orderby`` (``Property desc``) and ``top``; ``get`` a ``key`` (targets are the
key properties; values must be text or integers); ``create`` a ``body``; ``update`` a
``key``, a ``body`` and optionally ``etag_param`` (the parameter holding the ETag);
``call`` a ``function`` (action or function import) and ``arguments``.

The answer ``result`` maps is what the enterprise port returns: the entity (get, create,
update; ``{}`` when an update returns nothing), the call's value, and for a query
``{"items": [...], "count": n}``. Without ``result`` the answer is the operation's result.

:func:`load_profile` takes plain data: parse YAML text first with the bounded loader
(``hub.engine.loading.load_yaml_text``), as ``builtin_profile`` in
``connectors.enterprise.profiles`` does for the shipped profiles. Every problem is listed
at once, each naming its field (``operations.check_inventory.key.fields[0].path``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from hub.domain.errors import FieldProblem, NotFound, ValidationFailed
from hub.domain.mapping import Mapper, MappingError, compile_mapping

CallKind = Literal["query", "get", "create", "update", "call"]
FilterOp = Literal["eq", "ne", "gt", "ge", "lt", "le"]
KeyValue = str | int

MAX_OPERATIONS = 100
MAX_PARAMS = 50
MAX_LIST_ITEMS = 50  # select, expand, orderby
MAX_TOP = 10_000
MAX_FILTER_VALUES = 100  # values of one property in an `or`

_KINDS: tuple[str, ...] = get_args(CallKind)
_OPS: tuple[str, ...] = get_args(FilterOp)
_OPERATION_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")  # entity sets, functions
_PROPERTY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}(/[A-Za-z_][A-Za-z0-9_]{0,127}){0,7}$")
_SERVICE_RE = re.compile(r"^[A-Za-z0-9_.;=/-]{1,200}$")
_TOP_KEYS = ("name", "description", "odata_version", "operations")
# Which optional parts each kind takes (beyond description, kind, service, params, result).
_PARTS: dict[str, tuple[str, ...]] = {
    "query": ("entity_set", "filter", "filter_ops", "select", "expand", "orderby", "top"),
    "get": ("entity_set", "key", "select", "expand"),
    "create": ("entity_set", "body"),
    "update": ("entity_set", "key", "body", "etag_param"),
    "call": ("function", "arguments"),
}
_COMMON = ("description", "kind", "service", "params", "result")


@dataclass(frozen=True)
class Param:
    name: str
    required: bool = True
    description: str | None = None


@dataclass(frozen=True)
class Operation:
    name: str
    kind: CallKind
    target: str  # the entity set, or for `call` the action/function name
    params: tuple[Param, ...] = ()
    service: str | None = None
    description: str | None = None
    key: Mapper | None = None
    filter: Mapper | None = None
    filter_ops: Mapping[str, FilterOp] | None = None
    body: Mapper | None = None
    arguments: Mapper | None = None
    result: Mapper | None = None
    select: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()
    orderby: tuple[str, ...] = ()
    top: int | None = None
    etag_param: str | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    operations: Mapping[str, Operation]
    description: str | None = None
    odata_version: Literal["v2", "v4"] | None = None

    def operation(self, name: str) -> Operation:
        found = self.operations.get(name)
        if found is None:
            raise NotFound(f"profile {self.name!r} has no operation {name!r}")
        return found


@dataclass(frozen=True)
class ErpCall:
    """The ERP call an operation makes with given parameters (see the module docstring)."""

    operation: str
    kind: CallKind
    service: str | None
    entity_set: str | None = None  # query, get, create, update
    function: str | None = None  # call
    key: Mapping[str, KeyValue] | None = None  # get, update
    filter: str | None = None  # query: OData $filter text
    select: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()
    orderby: tuple[str, ...] = ()
    top: int | None = None
    body: Mapping[str, Any] | None = None  # create, update
    arguments: Mapping[str, Any] | None = None  # call
    etag: str | None = None  # update: If-Match


# --- loading ------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(FieldProblem(where, message))


def load_profile(data: Any, name: str) -> Profile:
    """The profile in ``data`` (plain data, e.g. parsed YAML), or ``ValidationFailed``
    naming every problem."""
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise ValidationFailed([FieldProblem("profile", "must be a mapping")])
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(str(key), "unknown field")
    if data.get("name", name) != name:
        problems.add("name", f"is {data.get('name')!r}, but the profile is loaded as {name!r}")
    version = data.get("odata_version")
    if version not in (None, "v2", "v4"):
        problems.add("odata_version", "must be v2 or v4")
    operations = _operations(data.get("operations"), problems)
    if problems.items:
        raise ValidationFailed(problems.items)
    return Profile(name, operations, _text(data, "description", "", problems), version)


def _operations(raw: Any, problems: _Problems) -> dict[str, Operation]:
    if not isinstance(raw, Mapping) or not raw:
        problems.add("operations", "must be a non-empty mapping of name -> operation")
        return {}
    if len(raw) > MAX_OPERATIONS:
        problems.add("operations", f"at most {MAX_OPERATIONS} operations")
        return {}
    found: dict[str, Operation] = {}
    for op_name, body in raw.items():
        where = f"operations.{op_name}"
        if not isinstance(op_name, str) or not _OPERATION_RE.match(op_name):
            problems.add(where, "names are a-z, 0-9 and '_', starting with a letter (max 64)")
            continue
        operation = _operation(op_name, body, where, problems)
        if operation is not None:
            found[op_name] = operation
    return found


def _operation(name: str, raw: Any, where: str, problems: _Problems) -> Operation | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "must be a mapping")
        return None
    kind = raw.get("kind")
    if kind not in _KINDS:
        problems.add(f"{where}.kind", f"must be one of: {', '.join(_KINDS)}")
        return None
    before = len(problems.items)
    for key in raw:
        if key not in _COMMON and key not in _PARTS[kind]:
            problems.add(f"{where}.{key}", f"unknown field for a {kind} operation")
    params = _params(raw.get("params"), f"{where}.params", problems)
    target_key = "function" if kind == "call" else "entity_set"
    operation = Operation(
        name=name,
        kind=kind,
        target=_name(raw, target_key, where, problems),
        params=params,
        service=_service(raw, where, problems),
        description=_text(raw, "description", where, problems),
        key=_mapping(raw, "key", where, problems, flat=True, needed=kind in ("get", "update")),
        filter=_mapping(raw, "filter", where, problems, flat=True),
        filter_ops=_filter_ops(raw.get("filter_ops"), f"{where}.filter_ops", problems),
        body=_mapping(raw, "body", where, problems, needed=kind in ("create", "update")),
        arguments=_mapping(raw, "arguments", where, problems, flat=True),
        result=_mapping(raw, "result", where, problems),
        select=_paths(raw, "select", where, problems),
        expand=_paths(raw, "expand", where, problems),
        orderby=_paths(raw, "orderby", where, problems, ordering=True),
        top=_top(raw.get("top"), f"{where}.top", problems),
        etag_param=_etag_param(raw.get("etag_param"), params, f"{where}.etag_param", problems),
    )
    return operation if len(problems.items) == before else None


def _text(raw: Mapping[str, Any], key: str, where: str, problems: _Problems) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        problems.add(_at(where, key), "must be text")
        return None
    return value


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _name(raw: Mapping[str, Any], key: str, where: str, problems: _Problems) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not _NAME_RE.match(value):
        problems.add(f"{where}.{key}", "is required: letters, digits, '_' and '.' (max 128)")
        return ""
    return value


def _service(raw: Mapping[str, Any], where: str, problems: _Problems) -> str | None:
    value = raw.get("service")
    if value is not None and (not isinstance(value, str) or not _SERVICE_RE.match(value)):
        problems.add(f"{where}.service", "must be a service name or path (max 200)")
        return None
    return value


def _params(raw: Any, where: str, problems: _Problems) -> tuple[Param, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or len(raw) > MAX_PARAMS:
        problems.add(where, f"must be a mapping of at most {MAX_PARAMS} name -> {{required}}")
        return ()
    params = []
    for name, spec in raw.items():
        at = f"{where}.{name}"
        spec = {} if spec is None else spec
        if not isinstance(name, str) or not _PROPERTY_RE.match(name):
            problems.add(at, "parameter names are letters, digits and '_'")
        elif not isinstance(spec, Mapping) or not set(spec) <= {"required", "description"}:
            problems.add(at, "must be a mapping of required and description")
        elif not isinstance(spec.get("required", True), bool):
            problems.add(f"{at}.required", "must be true or false")
        else:
            params.append(Param(name, spec.get("required", True), spec.get("description")))
    return tuple(params)


def _mapping(
    raw: Mapping[str, Any],
    key: str,
    where: str,
    problems: _Problems,
    *,
    flat: bool = False,
    needed: bool = False,
) -> Mapper | None:
    at = f"{where}.{key}"
    if key not in raw:
        if needed:
            problems.add(at, "is required for this kind of operation")
        return None
    try:
        mapper = compile_mapping(raw[key], where=at)
    except ValidationFailed as failed:
        problems.items.extend(failed.problems)
        return None
    if flat:  # keys, filters and arguments name properties: no nesting
        for index, target in enumerate(mapper.targets):
            if len(target) != 1 or not _PROPERTY_RE.match(str(target[0])):
                problems.add(f"{at}.fields[{index}].target", "must be a property name")
    return mapper


def _filter_ops(raw: Any, where: str, problems: _Problems) -> Mapping[str, FilterOp] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.add(where, "must be a mapping of property -> eq|ne|gt|ge|lt|le")
        return None
    ops: dict[str, FilterOp] = {}
    for prop, op in raw.items():
        if op not in _OPS:
            problems.add(f"{where}.{prop}", f"must be one of: {', '.join(_OPS)}")
        else:
            ops[str(prop)] = op
    return ops


def _paths(
    raw: Mapping[str, Any], key: str, where: str, problems: _Problems, *, ordering: bool = False
) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        problems.add(f"{where}.{key}", f"must be a list of at most {MAX_LIST_ITEMS} names")
        return ()
    for index, item in enumerate(value):
        if not isinstance(item, str) or not _path_ok(item, ordering):
            suffix = " with an optional asc or desc" if ordering else ""
            problems.add(f"{where}.{key}[{index}]", f"must be a property path (a/b){suffix}")
    return tuple(value)


def _path_ok(item: str, ordering: bool) -> bool:
    path, _, direction = item.partition(" ") if ordering else (item, "", "")
    return bool(_PATH_RE.match(path)) and direction in ("", "asc", "desc")


def _top(raw: Any, where: str, problems: _Problems) -> int | None:
    if raw is not None and (type(raw) is not int or not 1 <= raw <= MAX_TOP):
        problems.add(where, f"must be an integer from 1 to {MAX_TOP}")
        return None
    return raw


def _etag_param(raw: Any, params: tuple[Param, ...], where: str, problems: _Problems) -> str | None:
    if raw is not None and raw not in {param.name for param in params}:
        problems.add(where, "must name one of the operation's params")
        return None
    return raw


# --- planning -----------------------------------------------------------------------


def plan(operation: Operation, params: Mapping[str, Any]) -> ErpCall:
    """The call ``operation`` makes with ``params``; ``ValidationFailed`` naming
    ``params.<name>`` for a missing or unknown parameter, or the profile field whose
    mapping failed on them."""
    _check_params(operation, params)
    try:
        return ErpCall(
            operation=operation.name,
            kind=operation.kind,
            service=operation.service,
            entity_set=None if operation.kind == "call" else operation.target,
            function=operation.target if operation.kind == "call" else None,
            key=_key(operation.key.apply(params)) if operation.key else None,
            filter=_filter(operation, params),
            select=operation.select,
            expand=operation.expand,
            orderby=operation.orderby,
            top=operation.top,
            body=operation.body.apply(params) if operation.body else None,
            arguments=_arguments(operation, params),
            etag=_etag(operation, params),
        )
    except MappingError as error:
        raise ValidationFailed([FieldProblem(error.field, error.message)]) from None


def result(operation: Operation, answer: Any) -> Any:
    """The operation's result from the ERP's ``answer`` (see the module docstring)."""
    if operation.result is None:
        return answer
    try:
        return operation.result.apply({} if answer is None else answer)
    except MappingError as error:
        raise ValidationFailed([FieldProblem(error.field, error.message)]) from None


def _check_params(operation: Operation, params: Mapping[str, Any]) -> None:
    if not isinstance(params, Mapping):
        raise ValidationFailed([FieldProblem("params", "must be a mapping")])
    declared = {param.name for param in operation.params}
    problems = [FieldProblem(f"params.{name}", f"unknown parameter of {operation.name}")
                for name in params if name not in declared]  # fmt: skip
    problems += [FieldProblem(f"params.{param.name}", "is required")
                 for param in operation.params
                 if param.required and params.get(param.name) is None]  # fmt: skip
    if problems:
        raise ValidationFailed(problems)


def _key(values: Mapping[str, Any]) -> dict[str, KeyValue]:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise MappingError(f"key.{name}", "a key value must be text or an integer")
    if not values:
        raise MappingError("key", "no key value found")
    return dict(values)


def _arguments(operation: Operation, params: Mapping[str, Any]) -> dict[str, Any] | None:
    if operation.kind != "call":
        return None
    return operation.arguments.apply(params) if operation.arguments else {}


def _etag(operation: Operation, params: Mapping[str, Any]) -> str | None:
    if operation.etag_param is None or params.get(operation.etag_param) is None:
        return None
    return str(params[operation.etag_param])


def _filter(operation: Operation, params: Mapping[str, Any]) -> str | None:
    if operation.filter is None:
        return None
    ops = operation.filter_ops or {}
    conditions = [
        _condition(name, ops.get(name, "eq"), value)
        for name, value in operation.filter.apply(params).items()
    ]
    return " and ".join(conditions) or None


def _condition(name: str, op: str, value: Any) -> str:
    if not isinstance(value, list):
        return f"{name} {op} {odata_literal(value, name)}"
    if not value or len(value) > MAX_FILTER_VALUES:
        raise MappingError(f"filter.{name}", f"a list of 1 to {MAX_FILTER_VALUES} values")
    return "(" + " or ".join(f"{name} {op} {odata_literal(v, name)}" for v in value) + ")"


def odata_literal(value: Any, name: str = "value") -> str:
    """``value`` as an OData URL literal: text quoted (``'`` doubled), numbers, booleans,
    null; anything else fails (dates: format them as text with the mapping)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise MappingError(f"filter.{name}", "a filter value must be text, a number, a boolean or null")
