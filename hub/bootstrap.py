"""Composition root: reads Settings and wires adapters to the services."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.signing import generate_private_key, load_private_key_pem, private_key_pem
from connectors.enterprise.odata import ODataClient
from connectors.enterprise.profiles import builtin_profile
from connectors.federation.http import HttpFederation
from connectors.ledger.deferred import ledger_for
from connectors.messaging.in_process import InProcessBus
from connectors.observability.prometheus import PrometheusEngineMetrics
from connectors.outbound.http_activity import HttpRequest
from connectors.outbound.notify import ChannelNotifier
from connectors.outbound.pinned import SystemResolver, tenant_pin
from connectors.plc.protocols import ProtocolPort
from hub.clock import SystemClock
from hub.domain.audit import PLATFORM_LOG, SYSTEM, AuditEvent
from hub.domain.egress import EgressRuleError, parse_allow_list
from hub.domain.enterprise import Connection
from hub.domain.errors import Conflict
from hub.domain.ids import new_id
from hub.domain.packs import Pack
from hub.domain.tenancy import (
    PLATFORM_ADMIN,
    User,
    UserStatus,
    check,
    password_problems,
    username_problems,
)
from hub.engine.activities import ActivityRegistry, builtin_registry
from hub.engine.forms import secret_digester
from hub.ports import (
    Clock,
    EngineMetrics,
    EventBus,
    LedgerPort,
    Notifier,
    PasswordHasher,
    PlcPort,
    Resolver,
    Sealer,
    UnitOfWorkFactory,
)
from hub.ports.enterprise import EnterprisePort
from hub.security.passwords import Argon2Hasher
from hub.security.private_files import read_or_create
from hub.security.rbac import CasbinAuthorizer
from hub.security.sealing import AeadSealer
from hub.security.tokens import AccessTokens
from hub.services.alarms.service import AlarmService
from hub.services.anchoring.service import AnchorService, AnchorSettings
from hub.services.audit.log import AuditLog
from hub.services.audit.receipts import ReceiptService
from hub.services.collaboration.messaging import Messenger
from hub.services.collaboration.organisations import Organisations
from hub.services.collaboration.partners import PartnerService
from hub.services.collaboration.receipts import CollaborationReceipts
from hub.services.collaboration.service import CollaborationService
from hub.services.collaboration.work import CollaborationWork
from hub.services.egress.rules import EgressService
from hub.services.enterprise import activities as erp_activities
from hub.services.enterprise.connections import ConnectionChanges, ConnectionService
from hub.services.enterprise.gateway import Connect, EnterpriseGateway
from hub.services.events.publishing import EventPublisher
from hub.services.packs.catalog import PackInvalid, load_catalog
from hub.services.packs.incidents import IncidentService
from hub.services.packs.runtime import PackRuntime
from hub.services.packs.service import PackService
from hub.services.plc.devices import DeviceService
from hub.services.plc.supervisor import PlcSupervisor
from hub.services.telemetry.pipeline import TelemetryService, TelemetrySettings
from hub.services.tenancy.auth import AuthService, SignInRules
from hub.services.tenancy.read_cache import VersionedCache
from hub.services.tenancy.tenants import TenantService
from hub.services.workflows.changes import DefinitionChanges
from hub.services.workflows.definitions import DefinitionCache
from hub.services.workflows.retention import RunRetention
from hub.services.workflows.runtime import WorkerSettings, WorkflowRuntime
from hub.services.workflows.service import WorkflowService
from hub.services.workflows.triggers import TriggerService
from hub.settings import Settings, SettingsError
from hub.store import migrate
from hub.store.database import create_engine
from hub.store.unit_of_work import SqlUnitOfWorkFactory

AUDIT_KEY = "audit_ed25519.pem"


@dataclass
class PlcServices:
    """The PLC capability's services, started and stopped together."""

    telemetry: TelemetryService
    alarms: AlarmService
    supervisor: PlcSupervisor
    devices: DeviceService
    started: bool = False

    async def start(self, *, supervise: bool = True) -> None:
        """The flusher and the alarm evaluator, then (unless off) the device sessions."""
        await self.telemetry.start()
        await self.alarms.start()
        if supervise:
            await self.supervisor.start()
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.supervisor.stop()
        await self.telemetry.stop()
        await self.alarms.stop()


@dataclass
class CollaborationServices:
    """Cross-organisation collaboration (issue 18), started and stopped together."""

    organisations: Organisations
    messenger: Messenger
    partners: PartnerService
    collaborations: CollaborationService
    work: CollaborationWork
    receipts: CollaborationReceipts

    async def start(self) -> None:
        await self.messenger.start()
        await self.collaborations.start_timeouts()

    async def stop(self) -> None:
        await self.collaborations.stop_timeouts()
        await self.messenger.stop()


def build_collaboration(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    audit: AuditLog,
    sealer: Sealer,
    egress: EgressService,
    parts: tuple[WorkflowService, TenantService, EventBus, ActivityRegistry],
    audit_parts: tuple[ReceiptService, AnchorService],
) -> CollaborationServices:
    workflows, tenants, bus, activities = parts
    receipts, anchors = audit_parts
    organisations = Organisations(uow, clock, sealer, settings.public_url)
    messenger = Messenger(uow, clock, audit, organisations, HttpFederation(egress.destination))
    partners = PartnerService(uow, clock, audit, organisations, messenger)
    collaborations = CollaborationService(uow, clock, audit, organisations, messenger)
    work = CollaborationWork(collaborations, workflows, tenants, bus)
    work.register(activities)
    evidence = CollaborationReceipts(
        uow, audit, receipts, anchors, organisations, collaborations, messenger, tenants
    )
    return CollaborationServices(organisations, messenger, partners, collaborations, work, evidence)


@dataclass
class Hub:
    """Everything a driving adapter (API, CLI) needs, built once per process."""

    settings: Settings
    engine: AsyncEngine | None  # None when the unit of work was handed in (a fake)
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    tokens: AccessTokens
    authorizer: CasbinAuthorizer
    audit: AuditLog
    auth: AuthService
    tenants: TenantService
    bus: EventBus
    activities: ActivityRegistry
    runtime: WorkflowRuntime
    workflows: WorkflowService
    run_retention: RunRetention  # issue 13, item 5
    triggers: TriggerService
    anchors: AnchorService
    receipts: ReceiptService
    plc: PlcServices
    packs: PackService
    incidents: IncidentService
    notifier: Notifier
    egress: EgressService  # issue 12, item 3
    connections: ConnectionService  # issue 15, item 1: ERP connections
    connection_changes: ConnectionChanges  # listen() to drop clients of a changed one
    erp: EnterpriseGateway  # issue 15: calls to the connections (API and erp.* activities)
    events: EventPublisher  # issue 16: events published through the API
    collaboration: CollaborationServices  # issue 18

    async def start(self, *, migrate_schema: bool = True, run_workers: bool = False) -> None:
        if migrate_schema and self.engine is not None:
            await migrate.upgrade(self.engine)
        await self.authorizer.load()
        await self.packs.seal_legacy()  # clear secrets of older installs (issue 12)
        if run_workers:
            await self.runtime.start(release_all=self.settings.is_sqlite)
            await self.run_retention.start()
            await self.triggers.start()
            await self.anchors.start()
            await self.plc.start(supervise=self.settings.plc_supervisor)
            await self.collaboration.start()

    async def close(self) -> None:
        await self.collaboration.stop()
        await self.plc.stop()
        await self.anchors.stop()
        await self.anchors.ledger.close()
        await self.triggers.stop()
        await self.run_retention.stop()
        await self.runtime.stop()
        await self.erp.close()
        for adapter in (self.notifier, self.uow):
            close = getattr(adapter, "close", None) or getattr(adapter, "dispose", None)
            if close is not None:
                await close()


def build(
    settings: Settings,
    *,
    uow: UnitOfWorkFactory | None = None,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
    bus: EventBus | None = None,
    plc_port: PlcPort | None = None,
    ledger: LedgerPort | None = None,
    notifier: Notifier | None = None,
    resolver: Resolver | None = None,
    sealer: Sealer | None = None,
    metrics: EngineMetrics | None = None,
    connect: Connect | None = None,
) -> Hub:
    """The hub on the adapters `settings` name; any adapter handed in replaces its default
    (tests hand in fakes, a fast password hasher, a PLC port of their own)."""
    engine = None
    if uow is None:
        engine = create_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
        uow = SqlUnitOfWorkFactory(engine, synchronous=settings.sqlite_synchronous)
    clock = clock or SystemClock()
    hasher = hasher or Argon2Hasher()
    bus = bus or InProcessBus()
    metrics = metrics or PrometheusEngineMetrics()
    tokens = AccessTokens(settings)
    authorizer = CasbinAuthorizer(uow, refresh_interval=settings.authz_refresh_interval)
    audit_log = AuditLog(uow, clock, _audit_key(settings))
    activities = builtin_registry()
    egress = build_egress(settings, uow, clock, audit_log, resolver or SystemResolver())
    activities.register("http_request", HttpRequest(egress.destination))
    load_activity_modules(activities, settings.activity_modules)
    definitions = DefinitionCache(uow, activities)
    changes = DefinitionChanges()
    sealer = sealer or AeadSealer(settings.secret_key.encode())  # write-only secrets
    connection_changes = ConnectionChanges()
    connections = ConnectionService(
        uow, clock, audit_log, sealer, egress.destination, connection_changes.changed
    )
    erp = build_erp(connections, connection_changes, egress, connect)
    erp_activities.register(activities, erp, builtin_profile, audit_log)
    runtime = WorkflowRuntime(
        uow,
        clock,
        activities,
        definitions,
        audit_log,
        bus.publish,
        metrics,
        WorkerSettings(lease_seconds=settings.workflow_lease_seconds),
    )
    digest = secret_digester(settings.secret_key.encode())
    workflows = WorkflowService(uow, clock, audit_log, definitions, runtime, digest, changes)
    anchor_settings = AnchorSettings(settings.anchor_interval, settings.anchor_retry_max)
    # Receipts use anchors on the chain the hub anchors on now (issue 12 item 16).
    ledger = ledger or build_ledger(settings)
    anchors = AnchorService(uow, clock, audit_log, ledger, anchor_settings)
    plc = build_plc(settings, uow, clock, audit_log, bus, plc_port or ProtocolPort())
    incidents = IncidentService(uow, clock, audit_log, plc.devices)
    notifier = notifier or ChannelNotifier(egress.destination)
    packs = PackService(
        uow,
        clock,
        audit_log,
        _catalog(settings),
        workflows,
        plc.alarms,
        authorizer.invalidate,
        digest,
        sealer,  # write-only parameters
        changes,
        egress=egress,
    )
    runtime_services = PackRuntime(
        uow,
        clock,
        audit_log,
        plc.devices,
        plc.alarms,
        notifier,
        incidents,
        packs,
        erp=activities.get("erp.operation"),
    )
    register_pack_activities(activities, packs.catalog, runtime_services)
    sign_in = SignInRules(
        max_failures=settings.login_max_failures,
        window=timedelta(seconds=settings.login_window),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl),
    )
    tenants = TenantService(
        uow,
        hasher,
        clock,
        authorizer.invalidate,
        audit_log,
        VersionedCache(authorizer.version if settings.read_cache else _no_version),
    )
    receipts = ReceiptService(uow, audit_log, anchors.configured_chain)
    collaboration = build_collaboration(
        settings,
        uow,
        clock,
        audit_log,
        sealer,
        egress,
        (workflows, tenants, bus, activities),
        (receipts, anchors),
    )
    return Hub(
        settings=settings,
        engine=engine,
        uow=uow,
        clock=clock,
        hasher=hasher,
        tokens=tokens,
        authorizer=authorizer,
        audit=audit_log,
        auth=AuthService(uow, hasher, tokens, clock, sign_in, audit_log),
        tenants=tenants,
        bus=bus,
        activities=activities,
        runtime=runtime,
        workflows=workflows,
        run_retention=RunRetention(uow, clock, settings.run_retention_days),
        triggers=TriggerService(uow, clock, bus, workflows, changes, metrics),
        anchors=anchors,
        receipts=receipts,
        plc=plc,
        packs=packs,
        incidents=incidents,
        notifier=notifier,
        egress=egress,
        connections=connections,
        connection_changes=connection_changes,
        erp=erp,
        events=EventPublisher(bus, audit_log),
        collaboration=collaboration,
    )


def build_erp(
    connections: ConnectionService,
    changes: ConnectionChanges,
    egress: EgressService,
    connect: Connect | None,
) -> EnterpriseGateway:
    """The gateway to the tenants' ERP connections: OData clients pinned to each tenant's
    egress policy (a test may hand in `connect` for an adapter of its own)."""

    def odata(connection: Connection) -> EnterprisePort:
        return ODataClient(connection, tenant_pin(egress.destination, connection.tenant_id))

    gateway = EnterpriseGateway(connections.load, connect or odata)
    changes.listen(gateway.forget)
    return gateway


def build_plc(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    audit: AuditLog,
    bus: EventBus,
    port: PlcPort,
) -> PlcServices:
    telemetry = TelemetryService(
        uow,
        clock,
        bus,
        TelemetrySettings(
            flush_interval=settings.telemetry_flush_ms / 1000,
            retention_days=settings.telemetry_retention_days,
        ),
    )
    alarms = AlarmService(uow, clock, audit, bus, telemetry)
    supervisor = PlcSupervisor(uow, clock, port, telemetry)
    devices = DeviceService(uow, clock, audit, supervisor, telemetry)
    return PlcServices(telemetry, alarms, supervisor, devices)


# --- egress policy (issue 12, item 3) ---


def build_egress(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    audit_log: AuditLog,
    resolver: Resolver,
) -> EgressService:
    """The platform's allow list (HUB_EGRESS_ALLOW) and each tenant's rules."""
    try:
        platform = parse_allow_list(",".join(settings.egress_allow))
    except EgressRuleError as exc:
        raise SettingsError(f"HUB_EGRESS_ALLOW: {exc}") from None
    return EgressService(uow, clock, audit_log, platform, resolver)


def _audit_key(settings: Settings) -> Ed25519PrivateKey:
    """The audit signing key, created 0600 in the data dir on first start."""
    path = settings.data_dir / AUDIT_KEY
    try:
        pem = read_or_create(path, lambda: private_key_pem(generate_private_key()))
        return load_private_key_pem(pem, str(path))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"audit signing key {path}: {exc}") from None


# --- industry packs (issue 7) ---


def _catalog(settings: Settings) -> dict[str, Pack]:
    try:
        return load_catalog(settings.packs_dir)
    except PackInvalid as exc:
        raise SettingsError(f"industry pack: {exc}") from None


def register_pack_activities(
    registry: ActivityRegistry, catalog: dict[str, Pack], services: PackRuntime
) -> None:
    """Each pack's activity module adds its activities: `register(registry, services)`."""
    for module_name in sorted({p.activities for p in catalog.values() if p.activities}):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SettingsError(f"industry pack activities {module_name!r}: {exc}") from None
        module.register(registry, services)


# --- chain anchoring (issue 6) ---


def build_ledger(settings: Settings) -> LedgerPort:
    """The embedded eth-tester chain unless HUB_CHAIN_URL names a JSON-RPC node."""
    return ledger_for(
        settings.chain_url,
        settings.chain_private_key,
        settings.anchor_contract or None,
        settings.anchor_confirmations,
    )


def load_activity_modules(registry: ActivityRegistry, modules: tuple[str, ...]) -> None:
    """Import each module and let it add its activities: `register(registry)`."""
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise SettingsError(f"HUB_ACTIVITY_MODULES: cannot import {name!r}: {exc}") from None
        register = getattr(module, "register", None)
        if not callable(register):
            raise SettingsError(f"HUB_ACTIVITY_MODULES: {name!r} has no register(registry)")
        register(registry)


def _no_version() -> None:
    return None


async def ensure_platform_admin(hub: Hub, username: str, password: str) -> bool:
    """Create the platform admin; True when created, False when it already existed."""
    check(username_problems(username), password_problems(password))
    password_hash = hub.hasher.hash(password)
    async with hub.uow(write=True) as uow:
        found = await uow.users.by_username(username)
        if found is not None:
            if not found[0].is_platform_admin:
                raise Conflict(f"user {username!r} exists and is not a platform admin")
            return False
        user = User(new_id(), username, UserStatus.ACTIVE, True, hub.clock.now())
        await uow.users.add(user, password_hash)
        await uow.authz.bump()
        event = AuditEvent(
            "user.create", "user", user.id, details={"username": username, "role": PLATFORM_ADMIN}
        )
        await hub.audit.record(uow, [PLATFORM_LOG], SYSTEM, event)
        await uow.commit()
    hub.authorizer.invalidate()
    return True
