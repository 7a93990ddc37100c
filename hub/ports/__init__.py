"""Ports: what the core needs from the outside world, as typing.Protocol, one module per
capability.

Adapters live in hub/store (persistence) and connectors/ (external systems); the
composition root, hub/bootstrap.py, picks them. Every name is importable from `hub.ports`.
"""

from hub.ports.anchoring import (
    AnchorRepository,
    LedgerPort,
)
from hub.ports.audit import (
    AuditRepository,
    NodeKey,
)
from hub.ports.collaboration import (
    CollaborationRepository,
    Delivery,
    FederationTransport,
    OutboxMessage,
    StoredOrganisation,
)
from hub.ports.common import (
    Clock,
    Page,
)
from hub.ports.egress import (
    EgressRepository,
    Resolver,
)
from hub.ports.enterprise import (
    ChangeSetItem,
    ConnectionRepository,
    EnterprisePort,
    EntityPage,
    EntityQuery,
    Key,
)
from hub.ports.events import (
    ALL_TENANTS,
    BatchHandler,
    EventBus,
    Handler,
)
from hub.ports.messaging import (
    MessageHandler,
    MessagingPort,
)
from hub.ports.metrics import (
    EngineMetrics,
)
from hub.ports.packs import (
    Notification,
    Notifier,
    PackRepository,
    Sealer,
)
from hub.ports.plc import (
    PlcConnection,
    PlcPort,
    PlcRepository,
    TagBatch,
)
from hub.ports.tenancy import (
    AccessTokenIssuer,
    Authorizer,
    AuthzRepository,
    AuthzSnapshot,
    LoginFailureRepository,
    MembershipRepository,
    PasswordHasher,
    RefreshTokenRepository,
    StoredRefreshToken,
    TenantRepository,
    UserRepository,
)
from hub.ports.unit_of_work import (
    UnitOfWork,
    UnitOfWorkFactory,
)
from hub.ports.workflows import (
    WorkflowRepository,
)

__all__ = [
    "ALL_TENANTS",
    "AccessTokenIssuer",
    "AnchorRepository",
    "AuditRepository",
    "Authorizer",
    "AuthzRepository",
    "AuthzSnapshot",
    "BatchHandler",
    "ChangeSetItem",
    "Clock",
    "CollaborationRepository",
    "ConnectionRepository",
    "Delivery",
    "EgressRepository",
    "EngineMetrics",
    "EnterprisePort",
    "EntityPage",
    "EntityQuery",
    "EventBus",
    "FederationTransport",
    "Handler",
    "Key",
    "LedgerPort",
    "LoginFailureRepository",
    "MembershipRepository",
    "MessageHandler",
    "MessagingPort",
    "NodeKey",
    "Notification",
    "Notifier",
    "OutboxMessage",
    "PackRepository",
    "Page",
    "PasswordHasher",
    "PlcConnection",
    "PlcPort",
    "PlcRepository",
    "RefreshTokenRepository",
    "Resolver",
    "Sealer",
    "StoredOrganisation",
    "StoredRefreshToken",
    "TagBatch",
    "TenantRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
    "WorkflowRepository",
]
