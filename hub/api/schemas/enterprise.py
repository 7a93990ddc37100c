"""ERP connections (issue 15): the bodies of /api/v1/tenants/{tenant}/connections[...].

The request bodies are read by the handler and checked by hub/domain/enterprise_config.py,
which names every problem; these Structs document them (limits as the domain checks
them). Secrets are write-only: answers say `password_set` / `client_secret_set` instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from hub.domain.enterprise import MAX_TIMEOUT_S
from hub.domain.enterprise_config import (
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    MAX_SCOPE,
    MAX_SECRET,
    MAX_TEXT,
    MAX_URL,
    StoredConnection,
    auth_dict,
)

ConnectionName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
]
ServiceUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_URL,
        description="the OData service root, http(s), without user:password@, query or "
        "fragment; answered ending in '/'. Must pass the tenant's egress policy.",
        examples=["https://erp.acme.example/sap/opu/odata/sap/API_PRODUCTION_ORDER_2_SRV/"],
    ),
]
TokenUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_URL,
        description="http(s), without user:password@; must pass the egress policy",
    ),
]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]
Secret = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_SECRET,
        description="write-only: sealed at rest, never answered; left out of a PATCH "
        "that keeps the auth type, the stored one stays",
    ),
]
Version = Literal["v2", "v4"]
Timeout = Annotated[float, msgspec.Meta(gt=0, le=MAX_TIMEOUT_S)]
Headers = Annotated[
    dict[str, Annotated[str, msgspec.Meta(max_length=MAX_HEADER_VALUE)]],
    msgspec.Meta(
        max_length=MAX_HEADERS,
        description="extra request headers; not Authorization, Cookie, Host, "
        "Content-Length, hop-by-hop headers, x-csrf-token or the OData version headers",
    ),
]
Profile = Annotated[
    str,
    msgspec.Meta(
        pattern="^[a-z0-9_-]{1,64}$", description="a named profile of operations (s4hana...)"
    ),
]


class NoAuthIn(msgspec.Struct, tag_field="type", tag="none", forbid_unknown_fields=True):
    """No sign-in."""


class BasicAuthIn(msgspec.Struct, tag_field="type", tag="basic", forbid_unknown_fields=True):
    """HTTP Basic."""

    username: Text
    password: Secret | None = None


class OAuth2ClientCredentialsIn(
    msgspec.Struct, tag_field="type", tag="oauth2_client_credentials", forbid_unknown_fields=True
):
    """OAuth 2.0 client credentials: a token from `token_url`, sent as a bearer token."""

    token_url: TokenUrl
    client_id: Text
    client_secret: Secret | None = None
    scope: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SCOPE)] | None = None


AuthIn = NoAuthIn | BasicAuthIn | OAuth2ClientCredentialsIn


class ConnectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A connection to create; the secret of its auth type is required."""

    name: ConnectionName
    url: ServiceUrl
    kind: Literal["odata"] = "odata"
    version: Version = "v4"
    auth: AuthIn = msgspec.field(default_factory=NoAuthIn)
    timeout_s: Timeout = 30.0
    headers: Headers = msgspec.field(default_factory=dict)
    profile: Profile | None = None


class ConnectionPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change (not the name or kind); the connection is checked again as a
    whole. `auth` is replaced whole: a new type needs its secret."""

    url: ServiceUrl | None = None
    version: Version | None = None
    auth: AuthIn | None = None
    timeout_s: Timeout | None = None
    headers: Headers | None = None
    profile: Profile | None = None


class ConnectionAuthOut(msgspec.Struct, omit_defaults=True):
    """The auth without its secret: `password_set` / `client_secret_set` say it is kept."""

    type: Literal["none", "basic", "oauth2_client_credentials"]
    username: str | None = None
    password_set: bool | None = None
    token_url: str | None = None
    client_id: str | None = None
    scope: str | None = None
    client_secret_set: bool | None = None


class ConnectionOut(msgspec.Struct):
    name: str
    kind: Literal["odata"]
    url: str
    version: Version
    auth: ConnectionAuthOut
    timeout_s: float
    headers: dict[str, str]
    profile: str | None
    revision: Annotated[int, msgspec.Meta(description="bumped by every change")]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, stored: StoredConnection) -> ConnectionOut:
        connection = stored.connection
        auth = ConnectionAuthOut(**auth_dict(connection.auth))
        if connection.auth.type == "basic":
            auth.password_set = stored.has_secret("password")
        elif connection.auth.type == "oauth2_client_credentials":
            auth.client_secret_set = stored.has_secret("client_secret")
        return cls(
            connection.name,
            connection.kind,
            connection.url,
            connection.version,
            auth,
            connection.timeout_s,
            dict(connection.headers),
            connection.profile,
            connection.revision,
            stored.created_at,
            stored.updated_at,
        )


class ConnectionList(msgspec.Struct):
    items: list[ConnectionOut]
    next_cursor: str | None


class ConnectionDeleted(msgspec.Struct):
    name: str
    deleted: bool


# --- what is done through a connection: health, metadata, query ---------------------


class ConnectionHealth(msgspec.Struct, omit_defaults=True):
    """One real request to the service (not held back by an open circuit)."""

    ok: bool
    latency_ms: float
    circuit: Annotated[
        Literal["closed", "open", "half_open"],
        msgspec.Meta(description="the connection's circuit breaker as calls see it"),
    ]
    error: str | None = None


class PropertyOut(msgspec.Struct):
    name: str
    type: Annotated[str, msgspec.Meta(examples=["Edm.String", "Edm.Decimal"])]


class EntitySetOut(msgspec.Struct):
    name: str
    entity_type: str
    keys: list[str]
    properties: list[PropertyOut]
    navigation: list[str]
    etag: Annotated[bool, msgspec.Meta(description="changes need If-Match with its ETag")]


class OperationOut(msgspec.Struct):
    name: str
    kind: Literal["action", "function"]
    parameters: list[PropertyOut]
    bound_to: Annotated[str | None, msgspec.Meta(description="the entity type it is bound to")]
    returns: str | None


class ServiceMetadataOut(msgspec.Struct):
    """The service's $metadata (EDMX), as the hub read it (cached for 10 minutes)."""

    version: Version
    entity_sets: list[EntitySetOut]
    operations: list[OperationOut]


Names = Annotated[list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=100)]


class QueryIn(msgspec.Struct, forbid_unknown_fields=True):
    entity_set: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    filter: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=4000,
                description="an OData $filter, sent as written",
                examples=["Status eq 'RELEASED'"],
            ),
        ]
        | None
    ) = None
    select: Names | None = None
    expand: Names | None = None
    orderby: Annotated[
        Names | None, msgspec.Meta(description="property names, each optionally ' desc'")
    ] = None
    top: (
        Annotated[
            int,
            msgspec.Meta(
                ge=0,
                le=100_000,
                description="at most this many; without it the server's pages are followed "
                "to the end",
            ),
        ]
        | None
    ) = None
    skip: Annotated[int, msgspec.Meta(ge=0)] | None = None


class QueryOut(msgspec.Struct):
    items: Annotated[
        list[dict[str, object]],
        msgspec.Meta(
            description="plain JSON objects, alike for V2 and V4 (dates in ISO 8601, no "
            "__metadata), each with its ETag in '@etag' when the service sends one"
        ),
    ]
    count: Annotated[
        int | None, msgspec.Meta(description="how many match: the server's count, else len")
    ]
