"""The OData adapter of the enterprise port: one connection, V2 or V4, over httpx.

What an SAP integrator expects of a client, without the caller knowing:
* CSRF the SAP Gateway way: a token fetched with `x-csrf-token: Fetch` (the session cookie
  kept by the client's cookie jar), sent on every modifying request, fetched again once
  and the request retried when the server answers 403 `x-csrf-token: Required`.
* ETags: read from `@odata.etag`, `__metadata.etag` or the ETag header into "@etag", sent
  back as If-Match.
* Server-driven paging followed to the end (within the service's origin only).
* Basic auth or an OAuth2 client-credentials token (cached until shortly before it
  expires, fetched again once on 401).
* Typed errors with the server's code and message; Retry-After kept for the caller.
Every connection, the token endpoint's included, goes through the egress policy (the
`pin` the client is built with), and every answer is read up to a bound.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from connectors.enterprise.odata import batch as multipart
from connectors.enterprise.odata import errors, literals, metadata, payloads
from connectors.outbound.pinned import Pin, pinned_client, safe_url
from hub.domain.egress import EgressRefused
from hub.domain.enterprise import (
    Connection,
    EnterpriseError,
    EntityType,
    ErpAuthFailed,
    ErpNotFound,
    ErpUnavailable,
    InvalidRequest,
    Operation,
    ServiceMetadata,
)
from hub.ports.enterprise import ChangeSetItem, EntityPage, EntityQuery, Key

MAX_BODY = 64 * 1024 * 1024  # one answer (a page, $metadata, a $batch)
MAX_ITEMS = 500_000  # one query, all its pages
MAX_PAGES = 10_000
TOKEN_EARLY_S = 30.0  # refresh a bearer token this long before it expires
SAFE_IN_QUERY = "'(),:@!$*/;="
MODIFYING = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})


class ODataClient:
    """EnterprisePort over one OData service. Not shared between tenants (its client's
    connection pool and cookies belong to one tenant's connection)."""

    def __init__(self, connection: Connection, pin: Pin) -> None:
        self.connection = connection
        self._root = connection.url if connection.url.endswith("/") else connection.url + "/"
        self._origin = httpx.URL(self._root).copy_with(path="/", query=None, fragment=None)
        self._root_path = httpx.URL(self._root).path
        self._v2 = connection.version == "v2"
        self._http = pinned_client(pin, timeout=connection.timeout_s)
        self._basic = _basic(connection.auth.username, connection.secrets.password)
        self._csrf: str | None = None
        self._csrf_needed: bool | None = None  # None: not known yet
        self._csrf_lock = asyncio.Lock()
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._metadata: ServiceMetadata | None = None
        self._metadata_lock = asyncio.Lock()

    # --- the port ---------------------------------------------------------------------

    async def query(self, query: EntityQuery) -> EntityPage:
        entity_set = literals.check_name(query.entity_set, "entity set")
        url: str | None = self._root + entity_set + self._options(query)
        items: list[dict[str, Any]] = []
        count: int | None = None
        pages = 0
        types = await self._v2_types(entity_set)
        while url is not None:
            raw = await self._json("GET", url, what=f"reading {entity_set}")
            page, next_link, server_count = payloads.collection(raw, self.connection.version)
            items += [payloads.v2_numbers(i, types) for i in page] if types else page
            count = server_count if server_count is not None else count
            pages += 1
            if query.top is not None and len(items) >= query.top:
                del items[query.top :]
                break
            if len(items) > MAX_ITEMS or pages > MAX_PAGES:
                raise InvalidRequest(
                    f"reading {entity_set} gives more than {MAX_ITEMS} items: use top and skip"
                )
            url = self._next(url, next_link)
        return EntityPage(items=items, count=count if count is not None else len(items))

    async def read(self, entity_set: str, key: Key) -> dict[str, Any]:
        path = await self._entity_path(entity_set, key)
        response = await self._send("GET", self._root + path, what=f"reading {path}")
        item = await self._as_v4(
            entity_set, payloads.item(_decode(response), self.connection.version)
        )
        return _with_etag(item, response)

    async def create(
        self, entity_set: str, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        name = literals.check_name(entity_set, "entity set")
        data = await self._body(name, body)
        response = await self._send(
            "POST",
            self._root + name,
            json_body=data,
            headers=self._write_headers(None, idempotency_key),
            what=f"creating in {name}",
        )
        if not response.content:
            return _with_etag({}, response)
        item = payloads.item(_decode(response), self.connection.version)
        return _with_etag(await self._as_v4(name, item), response)

    async def update(
        self,
        entity_set: str,
        key: Key,
        body: Mapping[str, Any],
        *,
        etag: str | None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any] | None:
        path = await self._entity_path(entity_set, key)
        response = await self._send(
            "MERGE" if self._v2 else "PATCH",
            self._root + path,
            json_body=await self._body(entity_set, body),
            headers=self._write_headers(etag, idempotency_key),
            what=f"updating {path}",
        )
        if response.content:
            item = payloads.item(_decode(response), self.connection.version)
            return _with_etag(await self._as_v4(entity_set, item), response)
        new_etag = response.headers.get("etag")
        return {payloads.ETAG: new_etag} if new_etag else None

    async def delete(
        self, entity_set: str, key: Key, *, etag: str | None, idempotency_key: str | None = None
    ) -> None:
        path = await self._entity_path(entity_set, key)
        await self._send(
            "DELETE",
            self._root + path,
            # No Prefer: return=representation here: CAP answers a DELETE carrying it 400
            # ("The 'return' preference is not allowed in DELETE requests").
            headers=self._write_headers(etag, idempotency_key, representation=False),
            what=f"deleting {path}",
        )

    async def call(
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        bound_to: tuple[str, Key] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        literals.check_name(name, "operation")
        operation = (await self.metadata()).operations.get(name)
        if operation is None:
            raise ErpNotFound(f"the service has no action or function {name!r}")
        prefix = ""
        if bound_to is not None:
            prefix = await self._entity_path(*bound_to) + "/"
        if operation.kind == "function":
            url = self._root + prefix + self._function_path(operation, params, bound_to is not None)
            method = "GET" if not self._v2 else operation.http_method or "GET"
            response = await self._send(method, url, what=f"calling {name}")
        else:
            url, body = self._action_target(operation, params, prefix, bound_to is not None)
            headers = self._write_headers(None, idempotency_key)
            if bound_to is not None or operation.bound_to is not None:
                # An action changes the entity it is bound to (V2: sap:action-for), and a
                # service with ETags wants If-Match on every change of such an entity (CAP
                # answers 428 without it). The port gives a call no ETag, so "*": the
                # action's own checks guard its change of state.
                headers["If-Match"] = "*"
            response = await self._send(
                "POST", url, json_body=body, headers=headers, what=f"calling {name}"
            )
        if not response.content:
            return None
        result = payloads.call_result(_decode(response), self.connection.version)
        return await self._call_as_v4(operation, result)

    async def batch(
        self, change_set: Sequence[ChangeSetItem], *, idempotency_key: str | None = None
    ) -> list[dict[str, Any] | None]:
        if not change_set:
            return []
        parts = [await self._part(change) for change in change_set]
        types = [await self._v2_types(change.entity_set) for change in change_set]
        content_type, body = multipart.encode(parts)
        headers = {"Content-Type": content_type, "Accept": "multipart/mixed"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = await self._send(
            "POST", self._root + "$batch", content=body, headers=headers, what="$batch"
        )
        return self._change_set_result(response, types)

    async def metadata(self) -> ServiceMetadata:
        if self._metadata is not None:
            return self._metadata
        async with self._metadata_lock:
            if self._metadata is None:
                response = await self._send(
                    "GET",
                    self._root + "$metadata",
                    headers={"Accept": "application/xml"},
                    what="reading $metadata",
                )
                # A large EDMX takes a while to parse: not on the loop PLCs share.
                self._metadata = await asyncio.to_thread(
                    metadata.parse, response.content, self.connection.version
                )
        return self._metadata

    async def ping(self) -> None:
        await self._send("GET", self._root, what="the service root")

    async def close(self) -> None:
        await self._http.aclose()

    # --- URLs and bodies ----------------------------------------------------------------

    def _options(self, query: EntityQuery) -> str:
        options: list[tuple[str, str]] = []
        if query.filter:
            options.append(("$filter", query.filter))
        for option, names in (
            ("$select", query.select),
            ("$expand", query.expand),
            ("$orderby", query.orderby),
        ):
            if names:
                options.append((option, ",".join(names)))
        if query.top is not None:
            options.append(("$top", str(int(query.top))))
        if query.skip:
            options.append(("$skip", str(int(query.skip))))
        if query.count:
            options.append(("$inlinecount", "allpages") if self._v2 else ("$count", "true"))
        return _query_string(options)

    def _next(self, current: str, link: str | None) -> str | None:
        """The next page's URL, only within the service's origin: a link elsewhere would
        carry the credentials to a host nobody configured."""
        if link is None:
            return None
        target = httpx.URL(urljoin(current, link))
        origin = (self._origin.scheme, self._origin.host, self._origin.port)
        if (target.scheme, target.host, target.port) != origin:
            # V2's __next is absolute, written with the host the server believes it has: an
            # SAP Gateway behind a proxy names its inner host, CAP's V2 adapter "localhost"
            # for 127.0.0.1. A link into this service's own path is followed on the origin
            # the connection names (so credentials still go nowhere else); others refused.
            if not target.path.startswith(self._root_path):
                raise EnterpriseError(
                    f"the ERP's next-page link leaves the service ({safe_url(target)})"
                )
            target = target.copy_with(
                scheme=self._origin.scheme, host=self._origin.host, port=self._origin.port
            )
        return str(target)

    async def _entity(self, entity_set: str) -> EntityType | None:
        literals.check_name(entity_set, "entity set")
        return (await self.metadata()).entity(entity_set)

    async def _entity_path(self, entity_set: str, key: Key) -> str:
        entity = await self._entity(entity_set)
        return entity_set + literals.key_predicate(key, entity, self.connection.version)

    async def _v2_types(self, entity_set: str) -> Mapping[str, str] | None:
        """V2 only: the entity set's property types, to turn its numbers into numbers."""
        if not self._v2:
            return None
        found = (await self.metadata()).entity_sets.get(entity_set)
        return found.properties if found is not None else None

    async def _as_v4(self, entity_set: str, item: dict[str, Any]) -> dict[str, Any]:
        types = await self._v2_types(entity_set)
        return payloads.v2_numbers(item, types) if types else item

    async def _call_as_v4(self, operation: Operation, result: Any) -> Any:
        """V2: an operation's numbers as numbers, by its return type (a primitive or an
        entity type)."""
        if not self._v2 or operation.returns is None:
            return result
        if operation.returns in payloads.V2_NUMBERS:
            if isinstance(result, list):
                return [payloads.v2_number(v, operation.returns) for v in result]
            return payloads.v2_number(result, operation.returns)
        sets = (await self.metadata()).entity_sets.values()
        entity = next((e for e in sets if e.name == operation.returns), None)
        if entity is None:
            return result
        if isinstance(result, dict):
            return payloads.v2_numbers(result, entity.properties)
        if isinstance(result, list):
            return [
                payloads.v2_numbers(r, entity.properties) if isinstance(r, dict) else r
                for r in result
            ]
        return result

    async def _body(self, entity_set: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise InvalidRequest("the entity data must be an object")
        if not self._v2:
            return {k: v for k, v in body.items() if k != payloads.ETAG}
        entity = await self._entity(entity_set)
        types = entity.properties if entity else {}
        return {
            k: literals.body_value(v, types.get(k), "v2")
            for k, v in body.items()
            if k != payloads.ETAG
        }

    def _write_headers(
        self, etag: str | None, idempotency_key: str | None, *, representation: bool = True
    ) -> dict[str, str]:
        headers = {} if self._v2 or not representation else {"Prefer": "return=representation"}
        if etag:
            headers["If-Match"] = etag
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _function_path(self, op: Operation, params: Mapping[str, Any], bound: bool) -> str:
        unknown = sorted(set(params) - set(op.parameters))
        if unknown:
            raise InvalidRequest(f"{op.name} takes no parameter {', '.join(unknown)}")
        version = self.connection.version
        values = [
            (
                literals.check_name(str(k), "parameter"),
                literals.literal(v, op.parameters[k], version),
            )
            for k, v in params.items()
        ]
        if self._v2:  # V2 function imports take their parameters as query options
            return op.name + _query_string(values)
        inner = ",".join(f"{k}={v}" for k, v in values)
        name = op.qualified if bound else op.name
        return f"{name}({quote(inner, safe=literals.SAFE_IN_SEGMENT)})"

    def _action_target(
        self, op: Operation, params: Mapping[str, Any], prefix: str, bound: bool
    ) -> tuple[str, dict[str, Any] | None]:
        unknown = sorted(set(params) - set(op.parameters))
        if unknown:
            raise InvalidRequest(f"{op.name} takes no parameter {', '.join(unknown)}")
        if self._v2:  # a V2 POST function import: parameters in the query
            values = [(k, literals.literal(v, op.parameters[k], "v2")) for k, v in params.items()]
            # An empty JSON body all the same: CAP's V2 adapter drops the query's parameters
            # of a POST without Content-Type: application/json (400 from the action).
            return self._root + prefix + op.name + _query_string(values), {}
        name = op.qualified if bound else op.name
        return self._root + prefix + name, dict(params)

    async def _part(self, change: ChangeSetItem) -> multipart.PartRequest:
        method = change.method.upper()
        if method not in ("POST", "PATCH", "DELETE"):
            raise InvalidRequest(f"a change set takes POST, PATCH or DELETE, not {method}")
        if method == "POST":
            path = literals.check_name(change.entity_set, "entity set")
        elif change.key is None:
            raise InvalidRequest(f"{method} in a change set needs the entity's key")
        else:
            path = await self._entity_path(change.entity_set, change.key)
        headers = {"Accept": "application/json"}
        if change.etag:
            headers["If-Match"] = change.etag
        if method == "PATCH" and self._v2:
            method = "MERGE"
        if method != "POST" and not self._v2 and method == "PATCH":
            headers["Prefer"] = "return=representation"
        body = None if method == "DELETE" else await self._body(change.entity_set, change.body)
        return multipart.PartRequest(method=method, path=path, headers=headers, body=body)

    def _change_set_result(
        self, response: httpx.Response, types: Sequence[Mapping[str, str] | None]
    ) -> list[dict[str, Any] | None]:
        expected = len(types)
        parts = multipart.decode(response.headers.get("content-type", ""), response.content)
        answers = next((p for p in parts if isinstance(p, list)), None)
        lone = [p for p in parts if isinstance(p, multipart.PartResponse)]
        if answers is None:
            failed = next((p for p in lone if p.status >= 400), None)
            if failed is not None:
                raise errors.from_response(
                    failed.status, failed.body, failed.headers, "$batch (the change set)"
                )
            raise EnterpriseError("the ERP's $batch answer has no change set")
        for part in answers:
            if part.status >= 400:
                raise errors.from_response(part.status, part.body, part.headers, "$batch")
        if len(answers) != expected:
            raise EnterpriseError(
                f"the ERP answered {len(answers)} of the change set's {expected} requests"
            )
        return [self._part_item(part, t) for part, t in zip(answers, types, strict=True)]

    def _part_item(
        self, part: multipart.PartResponse, types: Mapping[str, str] | None
    ) -> dict[str, Any] | None:
        if not part.body.strip():
            etag = part.headers.get("etag")
            return {payloads.ETAG: etag} if etag else None
        try:
            raw = json.loads(part.body)
        except (ValueError, RecursionError):
            raise EnterpriseError("a $batch answer part is not JSON") from None
        item = payloads.item(raw, self.connection.version)
        if types:
            item = payloads.v2_numbers(item, types)
        if payloads.ETAG not in item and part.headers.get("etag"):
            item[payloads.ETAG] = part.headers["etag"]
        return item

    # --- HTTP ---------------------------------------------------------------------------

    async def _json(self, method: str, url: str, *, what: str) -> Any:
        return _decode(await self._send(method, url, what=what))

    async def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request with auth and CSRF, retried once for a stale CSRF token or bearer
        token; a non-2xx answer raised as its typed error."""
        modifying = method in MODIFYING
        refreshed_csrf = refreshed_token = False
        while True:
            sent = {**self.connection.headers, "Accept": "application/json", **(headers or {})}
            if modifying:  # first: fetching the CSRF token may have to renew the bearer token
                await self._add_csrf(sent)
            await self._authorize(sent)
            response = await self._exchange(method, url, sent, json_body, content)
            if response.status_code == 403 and modifying and _csrf_required(response):
                if refreshed_csrf:
                    break
                refreshed_csrf = True
                await self._fetch_csrf(stale=sent.get("x-csrf-token"))
                continue
            if response.status_code == 401 and self._bearer() and not refreshed_token:
                refreshed_token = True
                self._token = None
                continue
            break
        if response.status_code >= 400:
            raise errors.from_response(
                response.status_code, response.content, dict(response.headers), f"the ERP ({what})"
            )
        return response

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        json_body: Any,
        content: bytes | None,
    ) -> httpx.Response:
        try:
            request = self._http.build_request(
                method, url, headers=headers, json=json_body, content=content
            )
            response = await self._http.send(request, stream=True)
            try:
                body = await _read_bounded(response)
            finally:
                await response.aclose()
        # The URL for a message only when there is one to write (safe_url parses it again).
        except EgressRefused as exc:
            raise InvalidRequest(f"{method} {safe_url(url)}: {exc}") from None
        except httpx.TimeoutException:
            raise ErpUnavailable(f"{method} {safe_url(url)} timed out") from None
        except httpx.HTTPError as exc:
            raise ErpUnavailable(f"{method} {safe_url(url)} failed: {type(exc).__name__}") from None
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )

    # --- CSRF ---------------------------------------------------------------------------

    async def _add_csrf(self, headers: dict[str, str]) -> None:
        if self._csrf_needed is None:
            await self._fetch_csrf(stale=None)
        if self._csrf:
            headers["x-csrf-token"] = self._csrf

    async def _fetch_csrf(self, stale: str | None) -> None:
        async with self._csrf_lock:
            if self._csrf_needed is not None and self._csrf != stale:
                return  # another request fetched a fresh one meanwhile
            for attempt in (1, 2):
                headers = {**self.connection.headers, "x-csrf-token": "Fetch"}
                await self._authorize(headers)
                response = await self._exchange("GET", self._root, headers, None, None)
                if response.status_code != 401 or not self._bearer() or attempt == 2:
                    break
                # A bearer token revoked or expired early: one new one, as _send does (the
                # fetch is often the first request after a pause).
                self._token = None
            if response.status_code >= 400:
                raise errors.from_response(
                    response.status_code,
                    response.content,
                    dict(response.headers),
                    "the ERP (fetching a CSRF token)",
                )
            token = response.headers.get("x-csrf-token")
            usable = token is not None and token.lower() not in ("required", "unsafe")
            self._csrf = token if usable else None
            self._csrf_needed = usable

    # --- auth ---------------------------------------------------------------------------

    def _bearer(self) -> bool:
        return self.connection.auth.type == "oauth2_client_credentials"

    async def _authorize(self, headers: dict[str, str]) -> None:
        auth = self.connection.auth
        if auth.type == "basic":
            headers["Authorization"] = self._basic
        elif auth.type == "oauth2_client_credentials":
            headers["Authorization"] = f"Bearer {await self._access_token()}"

    async def _access_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token_expires:
            return self._token
        async with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires:
                self._token, lifetime = await self._request_token()
                self._token_expires = time.monotonic() + max(lifetime - TOKEN_EARLY_S, 1.0)
        return self._token

    async def _request_token(self) -> tuple[str, float]:
        auth = self.connection.auth
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        basic = _basic(auth.client_id, self.connection.secrets.client_secret)
        url = auth.token_url or ""
        try:
            response = await self._http.post(
                url, data=form, headers={"Accept": "application/json", "Authorization": basic}
            )
        except EgressRefused as exc:
            raise InvalidRequest(f"the token endpoint: {exc}") from None
        except httpx.HTTPError as exc:
            raise ErpUnavailable(f"the token endpoint failed: {type(exc).__name__}") from None
        if response.status_code in (400, 401, 403):
            raise ErpAuthFailed(
                f"the token endpoint refused the client credentials ({response.status_code})",
                http_status=response.status_code,
            )
        if response.status_code >= 400:
            raise errors.from_response(
                response.status_code, response.content, dict(response.headers), "the token endpoint"
            )
        try:
            data = response.json()
            token, lifetime = data["access_token"], float(data.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise ErpAuthFailed("the token endpoint's answer has no access_token") from None
        if not isinstance(token, str) or not token:
            raise ErpAuthFailed("the token endpoint's answer has no access_token")
        return token, lifetime


def _basic(user: str | None, password: str | None) -> str:
    """An RFC 7617 Basic credential (user and password as UTF-8)."""
    pair = f"{user or ''}:{password or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _query_string(options: Sequence[tuple[str, str]]) -> str:
    if not options:
        return ""
    return "?" + "&".join(f"{k}={quote(v, safe=SAFE_IN_QUERY)}" for k, v in options)


async def _read_bounded(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise InvalidRequest(f"the ERP's answer is larger than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY:
            raise InvalidRequest(f"the ERP's answer is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        raise EnterpriseError(
            f"the ERP answered {response.status_code} with a body that is not JSON"
        ) from None


def _csrf_required(response: httpx.Response) -> bool:
    return response.headers.get("x-csrf-token", "").lower() == "required"


def _with_etag(item: dict[str, Any], response: httpx.Response) -> dict[str, Any]:
    if payloads.ETAG not in item and response.headers.get("etag"):
        item[payloads.ETAG] = response.headers["etag"]
    return item
