"""Answers of V2 and V4 services turned into the same plain JSON.

V4: `{"value": [...], "@odata.nextLink", "@odata.count"}`, each item with "@odata.etag".
V2: `{"d": {"results": [...], "__next", "__count"}}` (or `{"d": [...]}` from old servers),
each item with `__metadata.etag`, dates as `/Date(ms+offset)/` and unexpanded navigation
properties as `{"__deferred": ...}`. An item comes out with its ETag in "@etag", dates in
ISO 8601 and no protocol annotations; expanded navigation properties the same way.
V2 JSON also writes Edm.Decimal, Int64, Double and Single as strings where V4 writes
numbers: `v2_numbers` turns them into numbers by the entity's $metadata types (the client
does it for the entities it knows the type of; expanded ones keep V2's strings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.domain.enterprise import EnterpriseError, ODataVersion

ETAG = "@etag"
V2_DATE = re.compile(r"/Date\((-?\d{1,15})([+-]\d{4})?\)/")
MAX_NESTING = 16  # expanded navigation inside expanded navigation...


def v2_date(text: str) -> str | None:
    """`/Date(1700000000000)/` -> `2023-11-14T22:13:20Z`; None when not such a date."""
    match = V2_DATE.fullmatch(text)
    if match is None:
        return None
    millis, offset = match.groups()
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(millis))
    # Written as V4 services write them: milliseconds only when there are any (not
    # isoformat's microseconds), and UTC as "Z" whether or not the V2 value said "+0000".
    spec = "milliseconds" if moment.microsecond else "seconds"
    minutes = int(offset[1:3]) * 60 + int(offset[3:5]) if offset else 0
    if minutes:
        shift = timedelta(minutes=minutes if offset[0] == "+" else -minutes)
        return moment.astimezone(timezone(shift)).isoformat(timespec=spec)
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def v4_item(raw: Any, depth: int = 0) -> Any:
    if not isinstance(raw, dict):
        return raw
    _deep(depth)
    item: dict[str, Any] = {}
    for name, value in raw.items():
        if name[0] == "@" or "@odata." in name:
            if name == "@odata.etag":
                item[ETAG] = value
            continue
        if isinstance(value, dict):
            item[name] = v4_item(value, depth + 1)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            item[name] = [v4_item(v, depth + 1) for v in value]
        else:
            item[name] = value
    return item


def v2_item(raw: Any, depth: int = 0) -> Any:
    if not isinstance(raw, dict):
        return raw
    _deep(depth)
    item: dict[str, Any] = {}
    meta = raw.get("__metadata")
    if isinstance(meta, dict) and meta.get("etag") is not None:
        item[ETAG] = meta["etag"]
    for name, value in raw.items():
        if name == "__metadata":
            continue
        if isinstance(value, str):
            item[name] = v2_date(value) or value if value.startswith("/Date(") else value
        elif isinstance(value, dict):
            if "__deferred" in value:
                continue
            if "results" in value and isinstance(value["results"], list):
                item[name] = [v2_item(v, depth + 1) for v in value["results"]]
            else:
                item[name] = v2_item(value, depth + 1)
        else:
            item[name] = value
    return item


V2_NUMBERS = frozenset({"Edm.Decimal", "Edm.Int64", "Edm.Double", "Edm.Single"})


def v2_number(value: Any, edm_type: str | None) -> Any:
    """A V2 JSON string of a numeric EDM type as the number a V4 service would have sent
    (an int when whole, else a float); anything else unchanged."""
    if not isinstance(value, str) or edm_type not in V2_NUMBERS:
        return value
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value  # "INF", "NaN": no JSON number for them
    return int(number) if number == number.to_integral_value() else float(number)


def v2_numbers(item: dict[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """`item` (a V2 entity, already unwrapped) with its numeric properties as numbers."""
    for name, value in item.items():
        if isinstance(value, str):
            item[name] = v2_number(value, types.get(name))
    return item


def _deep(depth: int) -> None:
    if depth > MAX_NESTING:
        raise EnterpriseError(f"the ERP's answer nests deeper than {MAX_NESTING} levels")


def item(raw: Any, version: ODataVersion) -> dict[str, Any]:
    """One entity from a single-entity answer."""
    if version == "v2":
        body = raw.get("d", raw) if isinstance(raw, dict) else raw
        out = v2_item(body)
    else:
        out = v4_item(raw)
    if not isinstance(out, dict):
        raise EnterpriseError("the ERP answered something that is not an entity")
    return out


def collection(
    raw: Any, version: ODataVersion
) -> tuple[list[dict[str, Any]], str | None, int | None]:
    """(items, the next page's link or None, the server's count or None)."""
    if not isinstance(raw, dict):
        raise EnterpriseError("the ERP answered something that is not a collection")
    if version == "v2":
        body = raw.get("d")
        if isinstance(body, list):  # OData V1 style: no envelope for paging
            return [v2_item(r) for r in body], None, None
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise EnterpriseError("the ERP's V2 answer has no d.results")
        count = body.get("__count")
        return (
            [v2_item(r) for r in body["results"]],
            _link(body.get("__next")),
            int(count) if isinstance(count, str | int) and str(count).isdigit() else None,
        )
    values = raw.get("value")
    if not isinstance(values, list):
        raise EnterpriseError("the ERP's V4 answer has no value array")
    count = raw.get("@odata.count", raw.get("@count"))
    return (
        [v4_item(r) for r in values],
        _link(raw.get("@odata.nextLink", raw.get("@nextLink"))),
        count if isinstance(count, int) and not isinstance(count, bool) else None,
    )


def _link(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def call_result(raw: Any, version: ODataVersion) -> Any:
    """An action's or function's answer: an entity, a collection or a primitive value."""
    if raw is None:
        return None
    body = raw.get("d", raw) if version == "v2" and isinstance(raw, dict) else raw
    if isinstance(body, dict):
        if "results" in body and isinstance(body["results"], list) and version == "v2":
            return [v2_item(r) for r in body["results"]]
        if "value" in body and all(k == "value" or k.startswith("@") for k in body):
            value = body["value"]
            if isinstance(value, list):
                return [v4_item(v) if version == "v4" else v2_item(v) for v in value]
            return value
        if version == "v2" and len(body) == 1 and "__metadata" not in body:
            # a V2 function import returning a primitive: {"d": {"FunctionName": 42}}
            (value,) = body.values()
            if not isinstance(value, dict):
                return v2_date(value) or value if isinstance(value, str) else value
        return v2_item(body) if version == "v2" else v4_item(body)
    return body
