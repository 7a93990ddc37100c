"""ERP connections as given through the API (issue 15): checked, every problem named by
its field, like hub/domain/plc_config.py.

Secrets (a basic password, an OAuth client secret) are write-only. A parsed Connection
carries the ones the body gave; one left out of a PATCH stands for the stored one, which
the caller keeps (sealed) as long as the auth type stays. No message here repeats a
value, so a refused body never puts a secret (or a URL's userinfo) into the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast
from urllib.parse import SplitResult, urlsplit, urlunsplit

from hub.domain.enterprise import (
    DEFAULT_TIMEOUT_S,
    MAX_TIMEOUT_S,
    AuthType,
    Connection,
    ConnectionAuth,
    ConnectionSecrets,
    ODataVersion,
)
from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.plc import check_name

KINDS = ("odata",)
VERSIONS = ("v2", "v4")
AUTH_TYPES = ("none", "basic", "oauth2_client_credentials")
SECRET_FIELDS = ("password", "client_secret")  # the ConnectionSecrets fields
MAX_URL = 2000
MAX_TEXT = 256  # usernames, client ids
MAX_SECRET = 1024
MAX_SCOPE = 1024
MAX_HEADERS = 20
MAX_HEADER_NAME = 64
MAX_HEADER_VALUE = 1024
PROFILE_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an RFC 9110 token
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Headers a connection may not set: hop-by-hop ones, credentials (they belong in `auth`,
# sealed, not in clear headers), and those the adapter sets per call (OData versions,
# ETags, the CSRF token of SAP gateways).
FORBIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "x-csrf-token",
        "if-match",
        "if-none-match",
        "odata-version",
        "odata-maxversion",
        "dataserviceversion",
        "maxdataserviceversion",
    }
)
CREATE_FIELDS = frozenset(
    {"name", "kind", "url", "version", "auth", "timeout_s", "headers", "profile"}
)
PATCHABLE = frozenset({"url", "version", "auth", "timeout_s", "headers", "profile"})
AUTH_FIELDS: dict[str, frozenset[str]] = {
    "none": frozenset({"type"}),
    "basic": frozenset({"type", "username", "password"}),
    "oauth2_client_credentials": frozenset(
        {"type", "token_url", "client_id", "client_secret", "scope"}
    ),
}


@dataclass(frozen=True)
class StoredConnection:
    """A connection as kept: its secrets sealed (by secret field), never in clear."""

    connection: Connection  # secrets empty
    sealed: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def has_secret(self, name: str) -> bool:
        return name in self.sealed


def sealing_context(tenant_id: str, name: str, secret: str) -> str:
    """What a sealed secret is bound to: copied to another tenant, connection or field it
    does not open. The prefix keeps it apart from pack parameters' contexts."""
    return f"enterprise-connection/{tenant_id}/{name}/{secret}"


# --- pieces ---


def _text(
    raw: Any, where: str, problems: list[FieldProblem], *, limit: int = MAX_TEXT
) -> str | None:
    if not isinstance(raw, str) or not 1 <= len(raw) <= limit or CONTROL_RE.search(raw):
        problems.append(FieldProblem(where, f"must be a string of 1-{limit} printable characters"))
        return None
    return raw


def _http_url(raw: Any, where: str, problems: list[FieldProblem]) -> SplitResult | None:
    """An http(s) URL with a host and no userinfo; None (and a problem) otherwise. The
    messages never repeat the URL: it may hold a password."""
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_URL or CONTROL_RE.search(raw):
        problems.append(FieldProblem(where, f"must be a URL of 1-{MAX_URL} characters"))
        return None
    if any(c.isspace() for c in raw):
        problems.append(FieldProblem(where, "must not contain spaces"))
        return None
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https"):
        problems.append(FieldProblem(where, "must be an http:// or https:// URL"))
        return None
    if "@" in parts.netloc:
        problems.append(
            FieldProblem(where, "must not carry credentials (user:password@); use `auth`")
        )
        return None
    try:
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError:
        problems.append(FieldProblem(where, "has an invalid port"))
        return None
    if not parts.hostname:
        problems.append(FieldProblem(where, "must name a host"))
        return None
    return parts


def service_root(raw: Any, problems: list[FieldProblem], where: str = "url") -> str | None:
    """The service root, normalised to end with "/" (relative entity-set paths resolve
    below it); no query or fragment, since every request adds its own."""
    parts = _http_url(raw, where, problems)
    if parts is None:
        return None
    if "?" in raw or "#" in raw:
        problems.append(FieldProblem(where, "must not have a query or fragment"))
        return None
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def token_endpoint(raw: Any, problems: list[FieldProblem], where: str) -> str | None:
    parts = _http_url(raw, where, problems)
    if parts is None:
        return None
    if "#" in raw:
        problems.append(FieldProblem(where, "must not have a fragment"))
        return None
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, parts.query, ""))


def target(url: str) -> tuple[str, int]:
    """(host, port) an http(s) URL that passed the checks above connects to."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return cast(str, parts.hostname), parts.port or default


def _headers(raw: Any, problems: list[FieldProblem]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_HEADERS:
        problems.append(FieldProblem("headers", f"must be an object of at most {MAX_HEADERS}"))
        return {}
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in raw.items():
        where = f"headers.{name}" if len(name) <= MAX_HEADER_NAME else "headers"
        if len(name) > MAX_HEADER_NAME or not HEADER_NAME_RE.match(name):
            problems.append(
                FieldProblem(where, f"not a header name (a token of 1-{MAX_HEADER_NAME})")
            )
        elif name.lower() in FORBIDDEN_HEADERS:
            problems.append(
                FieldProblem(where, "may not be set (hop-by-hop, credential or set by the hub)")
            )
        elif name.lower() in seen:
            problems.append(FieldProblem(where, "given twice (names are case-insensitive)"))
        elif (
            not isinstance(value, str) or len(value) > MAX_HEADER_VALUE or CONTROL_RE.search(value)
        ):
            problems.append(
                FieldProblem(
                    where, f"must be a string of at most {MAX_HEADER_VALUE} printable characters"
                )
            )
        else:
            out[name] = value
        seen.add(name.lower())
    return out


def _timeout(raw: Any, problems: list[FieldProblem]) -> float:
    if raw is None:
        return DEFAULT_TIMEOUT_S
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_TIMEOUT_S:
        problems.append(FieldProblem("timeout_s", f"must be a number in (0, {MAX_TIMEOUT_S:g}]"))
        return DEFAULT_TIMEOUT_S
    return float(raw)


def _secret(
    raw: Mapping[str, Any], key: str, stored: Set[str], problems: list[FieldProblem]
) -> str | None:
    """The secret the body gives, or None when it leaves out one that is stored (kept)."""
    value = raw.get(key)
    if value is None and key in stored:
        return None
    return _text(value, f"auth.{key}", problems, limit=MAX_SECRET)


def _auth(
    raw: Any, stored: Set[str], problems: list[FieldProblem]
) -> tuple[ConnectionAuth, ConnectionSecrets]:
    if raw is None:
        return ConnectionAuth(), ConnectionSecrets()
    if not isinstance(raw, dict):
        problems.append(FieldProblem("auth", "must be an object with a `type`"))
        return ConnectionAuth(), ConnectionSecrets()
    kind = raw.get("type")
    if kind not in AUTH_TYPES:
        problems.append(FieldProblem("auth.type", f"must be one of {', '.join(AUTH_TYPES)}"))
        return ConnectionAuth(), ConnectionSecrets()
    problems += [
        FieldProblem(f"auth.{k}", f"unknown field for {kind} auth")
        for k in sorted(set(raw) - AUTH_FIELDS[kind])
    ]
    auth_type = cast(AuthType, kind)
    if kind == "basic":
        username = _text(raw.get("username"), "auth.username", problems)
        if username is not None and ":" in username:
            problems.append(FieldProblem("auth.username", "must not contain ':' (RFC 7617)"))
        password = _secret(raw, "password", stored, problems)
        return ConnectionAuth(auth_type, username=username), ConnectionSecrets(password=password)
    if kind == "oauth2_client_credentials":
        token_url = token_endpoint(raw.get("token_url"), problems, "auth.token_url")
        client_id = _text(raw.get("client_id"), "auth.client_id", problems)
        scope = raw.get("scope")
        if scope is not None:
            scope = _text(scope, "auth.scope", problems, limit=MAX_SCOPE)
        secret = _secret(raw, "client_secret", stored, problems)
        auth = ConnectionAuth(auth_type, token_url=token_url, client_id=client_id, scope=scope)
        return auth, ConnectionSecrets(client_secret=secret)
    return ConnectionAuth(), ConnectionSecrets()


def _choice(raw: Any, allowed: tuple[str, ...], where: str, problems: list[FieldProblem]) -> Any:
    if raw not in allowed:
        problems.append(FieldProblem(where, f"must be one of {', '.join(allowed)}"))
    return raw


def _profile(raw: Any, problems: list[FieldProblem]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not PROFILE_RE.match(raw):
        problems.append(FieldProblem("profile", "1-64 lowercase letters, digits, '_' or '-'"))
        return None
    return raw


# --- the whole ---


def parse_connection(
    raw: Mapping[str, Any],
    *,
    tenant_id: str,
    stored_secrets: Set[str] = frozenset(),
    revision: int = 1,
) -> Connection:
    """A Connection from its API form; ValidationFailed lists every problem.

    `stored_secrets` names the secrets kept for this connection: one of them left out of
    `auth` is kept (its field in the result's secrets is None) instead of missing."""
    problems = [FieldProblem(k, "unknown field") for k in sorted(set(raw) - CREATE_FIELDS)]
    problems += check_name(raw.get("name"), "name")
    kind = _choice(raw.get("kind", "odata"), KINDS, "kind", problems)
    url = service_root(raw.get("url"), problems)
    version = _choice(raw.get("version", "v4"), VERSIONS, "version", problems)
    auth, secrets = _auth(raw.get("auth"), stored_secrets, problems)
    timeout = _timeout(raw.get("timeout_s"), problems)
    headers = _headers(raw.get("headers"), problems)
    profile = _profile(raw.get("profile"), problems)
    if problems:
        raise ValidationFailed(problems)
    return Connection(
        tenant_id=tenant_id,
        name=raw["name"],
        url=cast(str, url),
        kind=kind,
        version=cast(ODataVersion, version),
        auth=auth,
        secrets=secrets,
        timeout_s=timeout,
        headers=headers,
        profile=profile,
        revision=revision,
    )


def patch_connection(
    current: Connection, stored_secrets: Set[str], patch: Mapping[str, Any]
) -> Connection:
    """`current` with `patch` applied, checked as a whole. The name and kind cannot change
    (the name keys the connection and its sealed secrets). `auth` is replaced whole; a
    secret it leaves out is kept while the type stays, and required when it changes."""
    fixed = sorted(set(patch) & {"name", "kind"})
    unknown = sorted(set(patch) - PATCHABLE - {"name", "kind"})
    problems = [FieldProblem(k, "cannot be changed") for k in fixed]
    problems += [FieldProblem(k, "unknown field") for k in unknown]
    if problems:
        raise ValidationFailed(problems)
    merged = {**connection_dict(current), **patch}
    new_auth = patch.get("auth")
    same_type = not isinstance(new_auth, dict) or new_auth.get("type") == current.auth.type
    keep = stored_secrets if same_type else frozenset()
    return parse_connection(
        merged,
        tenant_id=current.tenant_id,
        stored_secrets=keep,
        revision=current.revision + 1,
    )


def auth_dict(auth: ConnectionAuth) -> dict[str, Any]:
    """The auth as given, without secrets (fields of other auth types left out)."""
    out: dict[str, Any] = {"type": auth.type}
    if auth.type == "basic":
        out["username"] = auth.username
    elif auth.type == "oauth2_client_credentials":
        out.update(token_url=auth.token_url, client_id=auth.client_id)
        if auth.scope is not None:
            out["scope"] = auth.scope
    return out


def connection_dict(connection: Connection) -> dict[str, Any]:
    """The connection in its API form, never with its secrets."""
    return {
        "name": connection.name,
        "kind": connection.kind,
        "url": connection.url,
        "version": connection.version,
        "auth": auth_dict(connection.auth),
        "timeout_s": connection.timeout_s,
        "headers": dict(connection.headers),
        "profile": connection.profile,
    }


def without_secrets(connection: Connection) -> Connection:
    return replace(connection, secrets=ConnectionSecrets())


def given_secrets(connection: Connection) -> dict[str, str]:
    """The secrets a parsed body gave (those it left out are not here)."""
    found = {k: getattr(connection.secrets, k) for k in SECRET_FIELDS}
    return {k: v for k, v in found.items() if v is not None}


def wanted_secrets(auth: ConnectionAuth) -> tuple[str, ...]:
    """The secrets an auth type signs in with."""
    return {"basic": ("password",), "oauth2_client_credentials": ("client_secret",)}.get(
        auth.type, ()
    )
