"""Bodies a handler reads itself, answered as Litestar answers typed bodies (docs/API.md):
a body that is not JSON at all is 400; well-formed JSON of the wrong shape is 422."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.domain.errors import FieldProblem, HubError, ValidationFailed
from hub.engine.loading import MalformedDefinition, UnsupportedContentType
from hub.engine.model import DefinitionSyntaxError


class MalformedBody(HubError):
    status = 400
    title = "Bad request"


def json_value(raw: bytes) -> Any:
    """The decoded body, None when it is empty; 400 when it is not JSON, 422 when it is
    JSON that no Python value holds (a number beyond a float, 10**400)."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.ValidationError as exc:  # well-formed, but e.g. a number beyond a float
        raise ValidationFailed([FieldProblem("body", str(exc).split(" - at ")[0])]) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object body; the domain checks its fields and names each problem."""
    data = json_value(raw)
    if not isinstance(data, dict):
        raise ValidationFailed([FieldProblem("body", "must be a JSON object")])
    return data


class UnsupportedMediaType(HubError):
    status = 415
    title = "Unsupported media type"


def definition_problem(exc: DefinitionSyntaxError) -> HubError:
    """A workflow definition's text: an unknown media type is 415, text that is not YAML
    or JSON at all 400, and text that parses to something other than a mapping 422."""
    if isinstance(exc, UnsupportedContentType):
        return UnsupportedMediaType(str(exc))
    if isinstance(exc, MalformedDefinition):
        return MalformedBody(f"body: {exc}")
    return ValidationFailed([FieldProblem("body", str(exc))])
