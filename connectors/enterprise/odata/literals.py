"""OData literals: key predicates, function parameters and values in request bodies.

V2 and V4 write the same value differently (a GUID is `guid'...'` in V2 and bare in V4; a
V2 Decimal is `1.5M` in a URL and a string in JSON), so the EDM type from $metadata decides
when it is known; without it a str is a quoted string and an int a number. Strings double
their single quotes, and the whole predicate is percent-encoded, so a key like
"A/B'C" cannot step out of its segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from hub.domain.enterprise import EntityType, InvalidRequest, ODataVersion

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,127}")
# Kept readable in a path segment; everything else (/, ?, #, %, space...) is encoded.
SAFE_IN_SEGMENT = "'(),=:@!$*+;"


def check_name(name: str, what: str) -> str:
    """An entity set, property or operation name: an identifier, nothing that could
    change the URL's shape."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidRequest(f"{what} {name!r} is not an OData identifier")
    return name


def literal(value: Any, edm_type: str | None, version: ODataVersion) -> str:
    """One value as an OData URL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    kind = (edm_type or "").removeprefix("Edm.")
    if kind == "Guid":
        return f"guid'{value}'" if version == "v2" else str(value)
    if kind in ("DateTime", "DateTimeOffset", "Date", "TimeOfDay", "Time"):
        return _temporal(value, kind, version)
    if kind in ("Decimal", "Int64", "Double", "Single") and version == "v2":
        suffix = {"Decimal": "M", "Int64": "L", "Double": "d", "Single": "f"}[kind]
        return f"{_number(value)}{suffix}"
    if kind in ("Int16", "Int32", "Int64", "Byte", "SByte", "Decimal", "Double", "Single"):
        return _number(value)
    if isinstance(value, int | float | Decimal) and not edm_type:
        return _number(value)
    return "'" + str(value).replace("'", "''") + "'"


def _number(value: Any) -> str:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise InvalidRequest(f"{value!r} is not a finite number")
    return format(number, "f")


def _temporal(value: Any, kind: str, version: ODataVersion) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if version == "v2":
        prefix = {"DateTime": "datetime", "DateTimeOffset": "datetimeoffset", "Time": "time"}
        stamp = text.removesuffix("Z").split("+")[0] if kind == "DateTime" else text
        return f"{prefix.get(kind, 'datetime')}'{stamp}'"
    return text


def key_predicate(key: Any, entity: EntityType | None, version: ODataVersion) -> str:
    """`('1000')`, `(42)` or `(Material='M1',Plant='1000')`, percent-encoded."""
    types = entity.properties if entity else {}
    if isinstance(key, Mapping):
        if not key:
            raise InvalidRequest("the key has no fields")
        if entity is not None:
            missing = [k for k in entity.keys if k not in key]
            extra = [k for k in key if k not in entity.keys]
            if missing or extra:
                raise InvalidRequest(
                    f"the key of {entity.name} is {', '.join(entity.keys)}"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; not key fields: {', '.join(map(str, extra))}" if extra else "")
                )
        parts = [
            f"{check_name(str(name), 'key field')}={literal(v, types.get(str(name)), version)}"
            for name, v in key.items()
        ]
        inner = ",".join(parts)
    else:
        if entity is not None and len(entity.keys) > 1:
            raise InvalidRequest(
                f"{entity.name} has a composite key ({', '.join(entity.keys)}): give an object"
            )
        edm = types.get(entity.keys[0]) if entity and entity.keys else None
        inner = literal(key, edm, version)
    return "(" + quote(inner, safe=SAFE_IN_SEGMENT) + ")"


def body_value(value: Any, edm_type: str | None, version: ODataVersion) -> Any:
    """A JSON body value as the service expects it: V2 wants Decimal and Int64 as strings
    and DateTime as /Date(ms)/; V4 takes JSON numbers and ISO 8601."""
    if version != "v2" or value is None or edm_type is None:
        return value
    kind = edm_type.removeprefix("Edm.")
    if kind in ("Decimal", "Int64") and isinstance(value, int | float | Decimal | str):
        return _number(value)
    if kind in ("DateTime", "DateTimeOffset") and isinstance(value, str | datetime):
        return _v2_date(value)
    return value


def _v2_date(value: str | datetime) -> str:
    if isinstance(value, str):
        if value.startswith("/Date("):
            return value
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRequest(f"{value!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"/Date({round(value.timestamp() * 1000)})/"
