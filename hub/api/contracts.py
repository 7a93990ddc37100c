"""The API's contract as /schema/openapi.json shows it (issue 14, item 6).

Three helpers the routes use, and one pass over the app:

- `contract(Shape, status, errors=...)`: a route's success body and the problems only it
  answers with (409 on a conflict, 502-504 from a PLC...). Many handlers hand on the dicts
  their service builds; the Struct says what those dicts hold (tests/e2e checks real answers
  against it).
- `documented_body(Shape)`: the request body of a route whose handler reads the raw bytes
  itself (its field checks name every problem, docs/API.md). Litestar documents a route's
  body from a `data` parameter of the handler *or of a dependency in its scope*; this
  dependency is never resolved, because no handler asks for it by name, so the body is
  documented without Litestar decoding it first.
- `document_problems(app)`: every route's usual problems, from what it takes: a token
  (401, 403), path parameters (404), parameters (422), a body (413, 422), and 400 on every
  route, since any body is refused when it nests too deeply (body_depth.py); all as
  `application/problem+json` (hub/api/problems.py), in place of Litestar's own error shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation, RequestBody
from litestar.routes import HTTPRoute

from hub.api.problems import PROBLEM_JSON
from hub.api.schemas.problems import Problem, ValidationProblem
from hub.engine.loading import YAML_TYPES

PROBLEMS: dict[int, str] = {
    400: "Bad request: the body is not JSON (or YAML where taken) or nests deeper than 64",
    401: "Unauthorized: no valid bearer token (the answer carries WWW-Authenticate: Bearer)",
    403: "Forbidden: the caller's role does not permit this",
    404: "Not found: no such tenant (or the caller has no role in it), or no such resource",
    409: "Conflict: the resource's state does not allow this now",
    413: "Request body too large: over HUB_MAX_BODY_BYTES",
    415: "Unsupported media type",
    422: "Validation failed: `errors` names every field, parameter or header at fault",
    429: "Too many requests: wait for Retry-After seconds",
    502: "Bad gateway: the PLC or the ERP refused the request (an ERP problem adds "
    "error_type, retryable and the ERP's erp_code, erp_message, erp_status)",
    503: "Service unavailable: the PLC, the ERP (or the chain) cannot be reached; "
    "Retry-After when the ERP asked for a pause or its circuit is open",
    504: "Gateway timeout: the PLC did not answer in time",
}
# Parameters a handler takes that are not the client's (dependencies and the request).
_NOT_PARAMETERS = frozenset({"self", "request", "hub", "data", "state", "scope", "headers"})
_DOCUMENTED_BODY = "documented_body"


def problems(*codes: int) -> dict[int, ResponseSpec]:
    """`codes` documented as problem+json (422 with its `errors` member)."""
    return {
        code: ResponseSpec(
            ValidationProblem if code == 422 else Problem,
            generate_examples=False,
            description=PROBLEMS[code],
            media_type=PROBLEM_JSON,
        )
        for code in codes
    }


def contract(
    shape: Any, status: int = 200, *, errors: Iterable[int] = ()
) -> dict[int, ResponseSpec]:
    """`shape` as the body of the route's `status` answer, and the problems `errors` that
    this route alone answers with (the usual ones are added by `document_problems`)."""
    ok = ResponseSpec(shape, generate_examples=False, description=_success(status))
    return {status: ok, **problems(*errors)}


def documented_body(shape: Any) -> dict[str, Provide]:
    """A route's `dependencies` that document `shape` as its JSON body (see the module's
    docstring): never resolved, so the handler still reads and checks the raw bytes."""

    def body(data: Any) -> None:  # pragma: no cover - documentation only, never called
        raise AssertionError("a documented body is never decoded by Litestar")

    body.__annotations__ = {"data": shape, "return": None}
    return {_DOCUMENTED_BODY: Provide(body, sync_to_thread=False)}


@dataclass
class OptionalBodyOperation(Operation):
    """The operation of a route whose body may be left out (Litestar marks every body it
    documents as required)."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


@dataclass
class YamlOrJsonBodyOperation(Operation):
    """The operation of a route that takes its documented body as YAML too."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            json_body = self.request_body.content["application/json"]
            for media_type in sorted(YAML_TYPES):
                self.request_body.content[media_type] = json_body


def document_problems(app: Litestar) -> None:
    """Add the problems every route answers with to what its decorator documents."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            usual = problems(*_usual_problems(handler, route))
            handler.responses = {**usual, **(handler.responses or {})}


def _usual_problems(handler: HTTPRouteHandler, route: HTTPRoute) -> list[int]:
    codes = {400}  # every body is scanned for its depth (body_depth.py), on every route
    if not handler.opt.get("public"):
        codes |= {401, 403}
    path_parameters = set(route.path_parameters)
    if path_parameters:
        codes |= {404, 422}
    signature = handler.parsed_fn_signature.parameters
    if set(signature) - _NOT_PARAMETERS - path_parameters:
        codes.add(422)  # query parameters
    if _has_body(handler):
        codes |= {413, 422}
    return sorted(codes)


def _has_body(handler: HTTPRouteHandler) -> bool:
    if "data" in handler.parsed_fn_signature.parameters:
        return True
    return _DOCUMENTED_BODY in handler.resolve_dependencies()


def _success(status: int) -> str:
    return {200: "OK", 201: "Created"}.get(status, "Success")
