"""The FederationTransport port over HTTPS (httpx), under the sending tenant's egress
policy: a partner's inbox is an outbound destination like any other, checked and pinned
on every connection. One client per tenant, kept open, so messages to a partner reuse
their connections (a client is never shared between tenants: see pinned_client)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from connectors.outbound.pinned import Destination, pinned_client, tenant_pin
from hub.domain.egress import EgressRefused
from hub.ports.collaboration import Delivery

TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # evidence bundles; a message's answer is small


class HttpFederation:
    def __init__(self, destination: Destination) -> None:
        self._destination = destination
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, tenant_id: str) -> httpx.AsyncClient:
        client = self._clients.get(tenant_id)
        if client is None:
            client = pinned_client(tenant_pin(self._destination, tenant_id), timeout=TIMEOUT_S)
            self._clients[tenant_id] = client
        return client

    async def post(
        self, tenant_id: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Delivery:
        try:
            response = await self._client(tenant_id).post(url, headers=dict(headers), content=body)
        except EgressRefused as exc:
            return Delivery(403, f"egress policy: {exc}")
        except httpx.HTTPError as exc:
            return Delivery(0, type(exc).__name__)
        reason = ""
        if response.status_code >= 300:
            reason = _detail(response.content)
        return Delivery(response.status_code, reason)

    async def request_json(
        self, tenant_id: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any]:
        try:
            response = await self._client(tenant_id).post(url, headers=dict(headers), content=body)
        except EgressRefused as exc:
            return 403, {"detail": f"egress policy: {exc}"}
        except httpx.HTTPError as exc:
            return 0, {"detail": type(exc).__name__}
        if len(response.content) > MAX_ANSWER_BYTES:
            return 502, {"detail": "the partner's answer is too large"}
        try:
            return response.status_code, json.loads(response.content)
        except ValueError:
            return 502, {"detail": "the partner's answer is not JSON"}

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()


def _detail(content: bytes) -> str:
    try:
        found = json.loads(content[:4096])
    except ValueError:
        return ""
    return str(found.get("detail", ""))[:200] if isinstance(found, dict) else ""
