"""Ports of cross-organisation collaboration (issue 18): its repository, and the transport
that carries signed messages to another organisation's hub."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hub.domain.collaboration import Collaboration, Partner


@dataclass(frozen=True)
class StoredOrganisation:
    tenant_id: str
    org_id: str
    public: dict[str, Any]  # PublicOrganisationKeys.as_document()
    sealed: dict[str, Any]  # the private keys, sealed


@dataclass(frozen=True)
class OutboxMessage:
    n: int
    tenant_id: str
    event_id: str
    target_org: str
    stream: str
    type: str
    body: bytes
    attempts: int
    next_attempt_at: datetime


@dataclass(frozen=True)
class Delivery:
    """A partner hub's answer to a message: its HTTP status and a short reason."""

    status: int
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def permanent(self) -> bool:
        """A refusal retrying will not change (a 4xx other than 408 and 429)."""
        return 400 <= self.status < 500 and self.status not in (408, 429)


class FederationTransport(Protocol):
    """POSTs a signed message to a partner's inbox (connectors/federation/http.py)."""

    async def post(
        self, tenant_id: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Delivery:
        """The partner's answer; status 0 when it could not be reached (retry later)."""
        ...

    async def request_json(
        self, tenant_id: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any]:
        """A signed POST whose answer is a JSON document (evidence for a receipt)."""
        ...

    async def close(self) -> None: ...


class CollaborationRepository(Protocol):
    async def organisation(self, tenant_id: str) -> StoredOrganisation | None: ...
    async def add_organisation(self, org: StoredOrganisation, now: datetime) -> None: ...
    async def tenant_of_org(self, org_id: str) -> str | None: ...
    async def partners(self, tenant_id: str) -> list[Partner]: ...
    async def partner(self, tenant_id: str, partner_id: str) -> Partner | None: ...
    async def partner_by_org(self, tenant_id: str, org_id: str) -> Partner | None: ...
    async def count_invitations(self, tenant_id: str) -> int: ...
    async def save_partner(self, partner: Partner, *, new: bool) -> None: ...
    async def collaboration(self, tenant_id: str, collab_id: str) -> Collaboration | None: ...
    async def collaborations(self, tenant_id: str, limit: int = 500) -> list[Collaboration]: ...
    async def in_progress(self) -> list[tuple[str, Collaboration]]: ...
    async def save_collaboration(
        self,
        tenant_id: str,
        collab: Collaboration,
        now: datetime,
        *,
        new: bool,
        expected_version: int | None = None,
    ) -> None: ...
    async def add_data(
        self,
        tenant_id: str,
        collab_id: str,
        task_id: str,
        source_org: str,
        event_id: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> None: ...
    async def data(self, tenant_id: str, collab_id: str) -> list[dict[str, Any]]: ...
    async def enqueue(self, messages: list[dict[str, Any]]) -> None: ...
    async def due(self, now: datetime, limit: int) -> list[OutboxMessage]: ...
    async def next_due_at(self) -> datetime | None: ...
    async def delivered(self, ns: list[int], now: datetime) -> None: ...
    async def retry_later(self, n: int, attempts: int, at: datetime, error: str) -> None: ...
    async def give_up(self, n: int, attempts: int, reason: str) -> None: ...
    async def outbox_counts(self, tenant_id: str) -> dict[str, int]: ...
    async def inbox_nonces(
        self, tenant_id: str, source_org: str, event_id: str
    ) -> list[str] | None: ...
    async def inbox_add(
        self, tenant_id: str, source_org: str, event_id: str, nonces: list[str], now: datetime
    ) -> None: ...
    async def inbox_nonce(
        self, tenant_id: str, source_org: str, event_id: str, nonces: list[str]
    ) -> None: ...
