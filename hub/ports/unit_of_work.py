"""The unit of work: one transaction with every repository on it (hub/store/unit_of_work.py)."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from hub.ports.anchoring import AnchorRepository
from hub.ports.audit import AuditRepository
from hub.ports.collaboration import CollaborationRepository
from hub.ports.egress import EgressRepository
from hub.ports.enterprise import ConnectionRepository
from hub.ports.packs import PackRepository
from hub.ports.plc import PlcRepository
from hub.ports.tenancy import (
    AuthzRepository,
    LoginFailureRepository,
    MembershipRepository,
    RefreshTokenRepository,
    TenantRepository,
    UserRepository,
)
from hub.ports.workflows import WorkflowRepository


class UnitOfWork(Protocol):
    """Commits only when told to; anything left uncommitted is rolled back on exit. A
    repository raises hub.domain.errors.Conflict when a write breaks a uniqueness rule."""

    tenants: TenantRepository
    users: UserRepository
    memberships: MembershipRepository
    refresh_tokens: RefreshTokenRepository
    login_failures: LoginFailureRepository
    authz: AuthzRepository
    audit: AuditRepository
    workflows: WorkflowRepository
    anchors: AnchorRepository
    plc: PlcRepository
    packs: PackRepository
    egress: EgressRepository
    connections: ConnectionRepository  # issue 15, item 1
    collaboration: CollaborationRepository  # issue 18

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
