"""Enterprise (ERP) connections and the errors an ERP call ends in (issue 15).

A connection is a tenant's named link to one OData service: where it is, which OData
version it speaks and how it signs in. Secrets (a password, a client secret) are
write-only: they live in `ConnectionSecrets`, sealed at rest, never shown or audited.
The errors say what a caller (a workflow step, an API client) can do about a failure:
`retryable` ones may succeed later, the others never will.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hub.domain.errors import HubError

ConnectionKind = Literal["odata"]
ODataVersion = Literal["v2", "v4"]
AuthType = Literal["none", "basic", "oauth2_client_credentials"]

DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ConnectionAuth:
    """How the hub signs in; the secret part is in ConnectionSecrets."""

    type: AuthType = "none"
    username: str | None = None  # basic
    token_url: str | None = None  # oauth2_client_credentials
    client_id: str | None = None
    scope: str | None = None


@dataclass(frozen=True)
class ConnectionSecrets:
    password: str | None = None  # basic
    client_secret: str | None = None  # oauth2_client_credentials


@dataclass(frozen=True)
class Connection:
    """What the hub needs to call one ERP service (secrets included, so never shown)."""

    tenant_id: str
    name: str
    url: str  # the service root, ending in "/"
    kind: ConnectionKind = "odata"
    version: ODataVersion = "v4"
    auth: ConnectionAuth = ConnectionAuth()
    secrets: ConnectionSecrets = ConnectionSecrets()
    timeout_s: float = DEFAULT_TIMEOUT_S
    headers: Mapping[str, str] = field(default_factory=dict)
    # A named profile of operations (e.g. "s4hana") mapped onto this service's entity sets.
    profile: str | None = None
    revision: int = 1  # bumped by every change, so cached clients of an old one are dropped


# --- errors -------------------------------------------------------------------------


class EnterpriseError(HubError):
    """An ERP call failed. `code` and `message` are the server's (OData error body) when
    it sent them; `retryable` says whether trying again later may help."""

    status = 502
    title = "ERP error"
    error_type = "ErpError"  # as a workflow step's failure names it
    retryable = False

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        message: str | None = None,
        http_status: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.details = details or []


class ErpNotFound(EnterpriseError):
    """The entity (or entity set) is not there: 404 from the ERP."""

    status = 404
    title = "Not found in the ERP"
    error_type = "NotFound"


class PreconditionFailed(EnterpriseError):
    """The entity changed since its ETag was read (412): read it again, decide again."""

    status = 412
    title = "Precondition failed"
    error_type = "PreconditionFailed"


class InvalidRequest(EnterpriseError):
    """The ERP refused the request as malformed or against its rules (400, 422, 405...)."""

    status = 422
    title = "The ERP refused the request"
    error_type = "InvalidRequest"


class ErpConflict(InvalidRequest):
    """The ERP refused the change as conflicting with what it holds (409): a duplicate
    client reference (the write was already made), a state that forbids it. A kind of
    InvalidRequest (never retried); its own type so a step can tell "already done"."""

    status = 409
    title = "The ERP reports a conflict"
    error_type = "Conflict"


class ErpAuthFailed(EnterpriseError):
    """The ERP refused the hub's credentials (401/403): fix the connection."""

    status = 502
    title = "The ERP refused the credentials"
    error_type = "AuthFailed"


class ErpUnavailable(EnterpriseError):
    """Down, overloaded or unreachable (429, 502-504, connection errors): worth retrying,
    not before `retry_after` seconds when the server said so."""

    status = 503
    title = "ERP unavailable"
    error_type = "Unavailable"
    retryable = True

    def __init__(self, detail: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.retry_after = retry_after


class CircuitOpen(ErpUnavailable):
    """The connection failed repeatedly: calls are refused without reaching the ERP until
    the breaker lets a trial call through."""

    title = "ERP circuit open"
    error_type = "CircuitOpen"


# --- service metadata ($metadata, read by the adapter, used to check names) -------------


@dataclass(frozen=True)
class EntityType:
    name: str
    keys: tuple[str, ...]
    properties: Mapping[str, str]  # name -> EDM type ("Edm.String", "Edm.Decimal", ...)
    navigation: tuple[str, ...] = ()
    etag: bool = False  # an optimistic-concurrency property is declared


@dataclass(frozen=True)
class Operation:
    """An action or function (V4), or a function import (V2)."""

    name: str
    kind: Literal["action", "function"]
    parameters: Mapping[str, str]  # name -> EDM type (without the binding parameter)
    bound_to: str | None = None  # the entity type name when bound
    http_method: str | None = None  # V2 function imports say GET or POST
    returns: str | None = None
    namespace: str = ""  # V4 calls a bound operation by its qualified name

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class ServiceMetadata:
    version: ODataVersion
    entity_sets: Mapping[str, EntityType]  # entity set name -> its type
    operations: Mapping[str, Operation] = field(default_factory=dict)

    def entity(self, entity_set: str) -> EntityType:
        found = self.entity_sets.get(entity_set)
        if found is None:
            raise ErpNotFound(f"the service has no entity set {entity_set!r}")
        return found

    def view(self) -> dict[str, Any]:
        """JSON for the API: entity sets with keys and typed properties, operations."""
        return {
            "version": self.version,
            "entity_sets": [
                {
                    "name": name,
                    "entity_type": et.name,
                    "keys": list(et.keys),
                    "properties": [{"name": p, "type": t} for p, t in et.properties.items()],
                    "navigation": list(et.navigation),
                    "etag": et.etag,
                }
                for name, et in sorted(self.entity_sets.items())
            ],
            "operations": [
                {
                    "name": op.name,
                    "kind": op.kind,
                    "parameters": [{"name": p, "type": t} for p, t in op.parameters.items()],
                    "bound_to": op.bound_to,
                    "returns": op.returns,
                }
                for op in sorted(self.operations.values(), key=lambda o: o.name)
            ],
        }
