"""The RFC 9457 problem+json bodies every error answers with (hub/api/problems.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class Problem(msgspec.Struct):
    """An error, as RFC 9457 problem details (`application/problem+json`)."""

    type: Annotated[
        str,
        msgspec.Meta(
            description="a URI naming the kind of problem, from its title "
            "(https://industrial-hub.dev/problems/not-found)",
        ),
    ]
    title: Annotated[
        str, msgspec.Meta(description="the status code's name", examples=["Not found"])
    ]
    status: Annotated[int, msgspec.Meta(description="the HTTP status code", examples=[404])]
    detail: Annotated[str, msgspec.Meta(description="what went wrong, for a person to read")]
    instance: Annotated[str, msgspec.Meta(description="the request's path")]


class FieldError(msgspec.Struct):
    """One field that failed validation."""

    field: Annotated[
        str,
        msgspec.Meta(
            description="the field, parameter or header: `name`, `tags[0].address`, "
            "`body` for the body as a whole",
        ),
    ]
    message: str


class ValidationProblem(Problem):
    """A request that failed validation (422): every problem, named by its field."""

    errors: list[FieldError]
