"""Industry packs: installations, policy lines, incidents; notifications; sealed parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hub.domain.packs import Incident, Installation, PolicyLine


class PackRepository(Protocol):
    async def installation(self, tenant_id: str, pack: str) -> Installation | None: ...

    async def installations(self, tenant_id: str | None = None) -> list[Installation]: ...

    async def save_installation(self, item: Installation, *, new: bool) -> None: ...

    async def inactive_workflows(self) -> set[tuple[str, str]]: ...

    async def add_policies(
        self, tenant_id: str, pack: str, lines: Sequence[PolicyLine]
    ) -> None: ...

    async def delete_policies(self, tenant_id: str, pack: str) -> None: ...

    async def all_policies(self) -> list[tuple[str, str, str, str]]: ...

    async def add_incident(self, item: Incident) -> bool: ...

    async def incident(self, tenant_id: str, incident_id: str) -> Incident | None: ...

    async def incident_of_run(self, tenant_id: str, run_id: str) -> Incident | None: ...

    async def incidents(
        self, tenant_id: str, status: str | None, after: str | None, limit: int
    ) -> list[Incident]: ...

    async def review_incident(
        self, tenant_id: str, incident_id: str, review: dict[str, Any], at: datetime
    ) -> bool: ...


@dataclass(frozen=True)
class Notification:
    subject: str
    body: dict[str, Any]
    idempotency_key: str  # the same on every retry: receivers may drop repeats


class Notifier(Protocol):
    """Sends one notification on one channel (`{"type": "webhook" | "email", ...}`, as the
    pack parameters give it); raises hub.domain.packs.NotificationFailed when it cannot,
    and hub.domain.egress.EgressRefused when `tenant`'s egress policy refuses the channel's
    destination (issue 12, item 3)."""

    async def send(
        self,
        channel: Mapping[str, Any],
        message: Notification,
        recipients: Sequence[str] = (),
        *,
        tenant: str | None = None,
    ) -> None: ...


class Sealer(Protocol):
    """Encrypts a JSON value bound to where it is kept (`context`), and back."""

    def seal(self, value: Any, context: str) -> dict[str, str]: ...

    def unseal(self, sealed: Any, context: str) -> Any:
        """The value; hub.domain.packs.SealBroken when it cannot be decrypted here."""
        ...
