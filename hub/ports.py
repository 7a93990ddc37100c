"""Ports: what the core needs from the outside world, as typing.Protocol.

Adapters live in hub/store (persistence) and connectors/ (external systems); the
composition root, hub/bootstrap.py, picks them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from hub.domain.anchors import LedgerHealth, SubmittedTx, TxLookup
from hub.domain.plc import BrowseEntry, Device, Quality, Tag
from hub.domain.tenancy import (
    Membership,
    Tenant,
    TenantMember,
    TenantRole,
    TenantStatus,
    User,
    UserStatus,
)


class Clock(Protocol):
    def now(self) -> datetime: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password: str, password_hash: str) -> bool: ...


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class StoredRefreshToken:
    id: str
    family_id: str
    user_id: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class TenantRepository(Protocol):
    async def add(self, tenant: Tenant) -> None: ...

    async def get(self, slug: str) -> Tenant | None: ...

    async def by_id(self, tenant_id: str) -> Tenant | None: ...

    async def update(self, slug: str, *, name: str | None, status: TenantStatus | None) -> None: ...

    async def list(
        self, *, slugs: Sequence[str] | None, after: str | None, limit: int
    ) -> list[Tenant]: ...


class UserRepository(Protocol):
    async def add(self, user: User, password_hash: str) -> None: ...

    async def get(self, user_id: str) -> User | None: ...

    async def by_username(self, username: str) -> tuple[User, str] | None:
        """The user and its password hash."""
        ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...


class MembershipRepository(Protocol):
    async def add(self, tenant: Tenant, user_id: str, role: TenantRole, at: datetime) -> None: ...

    async def get(self, tenant: Tenant, user_id: str) -> TenantMember | None: ...

    async def update(
        self, tenant: Tenant, user_id: str, *, role: TenantRole | None, status: UserStatus | None
    ) -> None: ...

    async def list(
        self, tenant: Tenant, *, after: str | None, limit: int
    ) -> list[TenantMember]: ...

    async def for_user(self, user_id: str) -> list[Membership]: ...

    async def count_active(self, tenant: Tenant, role: TenantRole) -> int: ...

    async def tenant_ids_for_user(self, user_id: str) -> list[str]:
        """Every tenant the user belongs or belonged to: where its sign-ins are recorded."""
        ...


class RefreshTokenRepository(Protocol):
    async def add(
        self,
        token_id: str,
        token_hash: str,
        family_id: str,
        user_id: str,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None: ...

    async def by_hash(self, token_hash: str) -> StoredRefreshToken | None: ...

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        """Mark a live token used; False when another request used it first."""
        ...

    async def revoke_family(self, family_id: str, at: datetime) -> None: ...


class LoginFailureRepository(Protocol):
    async def add(self, username: str, at: datetime) -> None: ...

    async def since(self, username: str, since: datetime) -> list[datetime]: ...

    async def clear(self, username: str) -> None: ...


@dataclass(frozen=True)
class AuthzSnapshot:
    """Everything authorization needs, read in one go from the store."""

    version: int
    active_users: frozenset[str]
    usernames: dict[str, str]
    platform_admins: frozenset[str]
    memberships: tuple[Membership, ...]
    # Policy lines industry packs added: (role, tenant slug, resource, action).
    policies: tuple[tuple[str, str, str, str], ...] = ()


class AuthzRepository(Protocol):
    async def bump(self) -> None:
        """Record that role assignments or statuses changed."""
        ...

    async def version(self) -> int: ...

    async def snapshot(self) -> AuthzSnapshot: ...


class UnitOfWork(Protocol):
    tenants: TenantRepository
    users: UserRepository
    memberships: MembershipRepository
    refresh_tokens: RefreshTokenRepository
    login_failures: LoginFailureRepository
    authz: AuthzRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> UnitOfWork: ...


class Authorizer(Protocol):
    def allowed(self, user_id: str, domain: str, resource: str, action: str) -> bool: ...

    def is_member(self, user_id: str, domain: str) -> bool: ...

    def is_active(self, user_id: str) -> bool: ...

    async def refresh_if_stale(self) -> None: ...

    def invalidate(self) -> None: ...


# --- ledger: anchoring audit tree heads on a chain (connectors/ledger/ethereum.py) ---


class LedgerPort(Protocol):
    """A chain that records (tenant, root, tree size) anchors. Raises LedgerUnavailable
    when it cannot be used now and LedgerRejected when it refuses (hub/domain/anchors.py)."""

    kind: str
    confirmations: int

    async def anchor(self, tenant: str, root_hash: str, tree_size: int) -> SubmittedTx: ...

    async def lookup(
        self, tx_hash: str, tenant: str, root_hash: str, tree_size: int
    ) -> TxLookup: ...

    async def health(self) -> LedgerHealth: ...

    async def rpc(self, method: str, params: list[Any]) -> Any: ...

    async def close(self) -> None: ...


# --- PLC connectivity (issue 5) ---


@dataclass(frozen=True)
class TagBatch:
    """Raw values of `tags` in order; `qualities`/`stamps` None means all good / all at `ts`.
    `errors` names why a tag is bad when the PLC said so (an OPC-UA status such as
    BadNodeIdUnknown, a Modbus exception), None where it did not."""

    tags: Sequence[Tag]
    values: Sequence[Any]
    ts: datetime
    qualities: Sequence[Quality] | None = None
    stamps: Sequence[datetime] | None = None
    errors: Sequence[str | None] | None = None


class PlcConnection(Protocol):
    """One device's connection. Every call is bounded by the device's timeout and raises
    a PlcError (PlcUnavailable, PlcTimeout, PlcRefused, ReadBackMismatch) when it fails."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def read(self, tags: Sequence[Tag]) -> TagBatch: ...

    def plan(self, tags: Sequence[Tag]) -> list[list[Tag]]:
        """How the adapter splits a polling group into requests (Modbus: one per block)."""
        ...

    async def write(self, tag: Tag, raw: Any) -> Any:
        """Write a raw value, read it back and return what the PLC then holds."""
        ...

    async def subscribe(self, tags: Sequence[Tag], deliver: Callable[[TagBatch], None]) -> bool:
        """Push changes to `deliver`; False when the protocol cannot (the caller polls)."""
        ...

    async def browse(self, node: str | None) -> list[BrowseEntry]: ...

    async def check(self) -> None:
        """Raise a PlcError unless the connection is alive (keep-alive while subscribed)."""
        ...

    def status(self) -> dict[str, Any]: ...


class PlcPort(Protocol):
    def open(self, device: Device) -> PlcConnection: ...


# --- notifications (issue 7, connectors/outbound/notify.py) ---


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


# --- egress (issue 12, item 3; connectors/outbound/pinned.py) ---


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to, in the order to try; OSError when none."""


# --- write-only pack parameters at rest (issue 12, item 12; hub/security/sealing.py) ---


class Sealer(Protocol):
    """Encrypts a JSON value bound to where it is kept (`context`), and back."""

    def seal(self, value: Any, context: str) -> dict[str, str]: ...

    def unseal(self, sealed: Any, context: str) -> Any:
        """The value; hub.domain.packs.SealBroken when it cannot be decrypted here."""
        ...
