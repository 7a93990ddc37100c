"""Errors the core raises; the API maps each to one HTTP status."""

from __future__ import annotations

from dataclasses import dataclass


class HubError(Exception):
    status = 400
    title = "Bad request"
    # set by the API's access check on the errors it refuses with (hub/api/guards.py)
    denied = False
    outsider = False  # the caller has no role in the tenant it asked for

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(HubError):
    status = 404
    title = "Not found"


class Conflict(HubError):
    status = 409
    title = "Conflict"


class DuplicateKey(Conflict):
    """A write broke a uniqueness rule of the store (another writer got there first). The
    store raises it in place of its driver's integrity error, so services need not know
    the driver."""


class Unauthorized(HubError):
    status = 401
    title = "Unauthorized"


class Forbidden(HubError):
    status = 403
    title = "Forbidden"


class RateLimited(HubError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class ValidationFailed(HubError):
    """Input broke a rule; lists every problem at once, each naming its field."""

    status = 422
    title = "Validation failed"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems
