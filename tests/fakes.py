"""In-memory fakes of the ports in hub/ports, for unit tests: no database, no network, no
clock of their own. Each keeps what it was given in plain attributes the tests read, and
tests/unit/test_fakes.py checks that every fake still has its port's methods (a port that
grows a method fails there, not in a confusing unit test).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.domain.anchors import (
    LedgerHealth,
    LedgerRejected,
    LedgerUnavailable,
    SubmittedTx,
    TxLookup,
    TxState,
)
from hub.domain.enterprise import (
    EntityType,
    ErpNotFound,
    ErpUnavailable,
    PreconditionFailed,
    ServiceMetadata,
)
from hub.domain.enterprise_config import StoredConnection
from hub.domain.errors import DuplicateKey
from hub.domain.packs import NotificationFailed
from hub.domain.plc import BrowseEntry, Device, PlcUnavailable, Tag
from hub.domain.tenancy import Membership
from hub.engine.topics import match_topic
from hub.ports import ALL_TENANTS, AuthzSnapshot, BatchHandler, Handler, Notification, TagBatch
from hub.ports.enterprise import ChangeSetItem, EntityPage, EntityQuery, Key

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """The Clock port, standing still until a test moves it."""

    def __init__(self, at: datetime = EPOCH) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by `seconds` (and/or timedelta keywords); returns the new now."""
        self.at += timedelta(seconds=seconds, **delta)
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


class SkewedClock:
    """The system clock plus an offset a test moves forward: time passes as usual for a
    running hub, and a test skips a back-off by advancing it instead of sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> datetime:
        self.offset += timedelta(seconds=seconds)
        return self.now()


# --- the event bus ---


@dataclass
class _Subscription:
    pattern: str
    handler: Handler
    tenant: str | None
    batch: BatchHandler | None


class FakeEventBus:
    """The EventBus port, delivering synchronously (awaited in publish) in subscription
    order, scoped by tenant as the port says; `published` keeps every (tenant, topic,
    payload) in order."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, Any]] = []
        self._subscriptions: list[_Subscription] = []

    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        tenant: str | None,
        batch: BatchHandler | None = None,
    ) -> Callable[[], None]:
        subscription = _Subscription(pattern, handler, tenant, batch)
        self._subscriptions.append(subscription)

        def unsubscribe() -> None:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        return unsubscribe

    def _takers(self, tenant: str, topic: str) -> list[_Subscription]:
        return [
            s
            for s in list(self._subscriptions)
            if (s.tenant is ALL_TENANTS or s.tenant == tenant)
            and match_topic(s.pattern, topic) is not None
        ]

    async def publish(self, topic: str, payload: Any, *, tenant: str) -> None:
        self.published.append((tenant, topic, payload))
        for subscription in self._takers(tenant, topic):
            await subscription.handler(tenant, topic, payload)

    async def publish_many(
        self,
        tenant: str,
        events: Iterable[tuple[str, Any]],
        render: Callable[[Any], Any] = lambda raw: raw,
        topics: Iterable[str] | None = None,
    ) -> None:
        burst = list(events)
        distinct: Collection[str] = set(topics) if topics is not None else {t for t, _ in burst}
        batched: dict[int, list[tuple[str, Any]]] = {}
        for topic, raw in burst:
            self.published.append((tenant, topic, render(raw)))
            for subscription in self._takers(tenant, topic):
                if subscription.batch is not None:
                    batched.setdefault(id(subscription), []).append((topic, raw))
                else:
                    await subscription.handler(tenant, topic, render(raw))
        for subscription in list(self._subscriptions):
            taken = batched.get(id(subscription))
            if taken and subscription.batch is not None:
                await subscription.batch(tenant, taken, render, distinct)


# --- outbound notifications ---


@dataclass(frozen=True)
class Sent:
    channel: Mapping[str, Any]
    message: Notification
    recipients: tuple[str, ...]
    tenant: str | None


class FakeNotifier:
    """The Notifier port: records what it sends; `fail_next(n)` makes the next n sends
    raise NotificationFailed, as an unreachable receiver would."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0
        self._failures = 0

    def fail_next(self, times: int = 1) -> None:
        self._failures = times

    async def send(
        self,
        channel: Mapping[str, Any],
        message: Notification,
        recipients: Sequence[str] = (),
        *,
        tenant: str | None = None,
    ) -> None:
        self.attempts += 1
        if self._failures:
            self._failures -= 1
            raise NotificationFailed(f"{channel.get('type', '?')} receiver unreachable")
        self.sent.append(Sent(dict(channel), message, tuple(recipients), tenant))


# --- the ledger ---


class FakeLedger:
    """The LedgerPort: a chain in memory. `anchor` records (tenant, root, size) in a
    transaction that is mined at once; `down` makes every call raise LedgerUnavailable,
    `reject` makes anchor raise LedgerRejected; `forget(tx)` loses a transaction (a reorg)."""

    kind = "fake"

    def __init__(self, chain_id: int = 31337, contract: str = "0x" + "ab" * 20) -> None:
        self.chain_id = chain_id
        self.contract = contract
        self.confirmations = 1
        self.block = 0
        self.down = False
        self.reject: str | None = None
        self.anchors: dict[str, tuple[str, str, int, int]] = {}  # tx -> (tenant, root, size, block)
        self.closed = False

    def _up(self) -> None:
        if self.down:
            raise LedgerUnavailable("the fake chain is down")

    async def anchor(self, tenant: str, root_hash: str, tree_size: int) -> SubmittedTx:
        self._up()
        if self.reject:
            raise LedgerRejected(self.reject)
        nonce = len(self.anchors)
        tx = "0x" + hashlib.sha256(f"{tenant}/{root_hash}/{tree_size}/{nonce}".encode()).hexdigest()
        self.block += 1
        self.anchors[tx] = (tenant, root_hash, tree_size, self.block)
        return SubmittedTx(tx, self.chain_id, self.contract, nonce)

    def mine(self, blocks: int = 1) -> None:
        self.block += blocks

    def forget(self, tx_hash: str) -> None:
        self.anchors.pop(tx_hash, None)

    async def lookup(self, tx_hash: str, tenant: str, root_hash: str, tree_size: int) -> TxLookup:
        self._up()
        found = self.anchors.get(tx_hash)
        if found is None:
            return TxLookup(TxState.MISSING, self.chain_id)
        if found[:3] != (tenant, root_hash, tree_size):
            return TxLookup(TxState.REVERTED, self.chain_id, detail="another anchor")
        block = found[3]
        return TxLookup(
            TxState.MINED,
            self.chain_id,
            block_number=block,
            block_hash=f"0x{block:064x}",
            log_index=0,
            confirmations=self.block - block + 1,
        )

    async def health(self) -> LedgerHealth:
        if self.down:
            return LedgerHealth(False, self.kind, None, None, None, None, "down")
        return LedgerHealth(True, self.kind, self.chain_id, self.contract, self.block, "0xsigner")

    async def rpc(self, method: str, params: list[Any]) -> Any:
        self._up()
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(self.block)
        raise LedgerRejected(f"the fake chain does not answer {method}")

    async def close(self) -> None:
        self.closed = True


# --- PLCs ---


class FakePlcConnection:
    """The PlcConnection port over a dict of raw values by tag name, shared with its
    FakePlc; `plc.down = True` makes every call raise PlcUnavailable."""

    def __init__(self, plc: FakePlc, device: Device) -> None:
        self.plc = plc
        self.device = device
        self.connected = False
        self.subscribers: list[Callable[[TagBatch], None]] = []

    def _up(self) -> None:
        if self.plc.down:
            raise PlcUnavailable(f"{self.device.name} is unreachable")

    async def connect(self) -> None:
        self._up()
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def read(self, tags: Sequence[Tag]) -> TagBatch:
        self._up()
        self.plc.reads += 1
        return TagBatch(tags, [self.plc.values.get(t.name) for t in tags], self.plc.clock.now())

    def plan(self, tags: Sequence[Tag]) -> list[list[Tag]]:
        return [list(tags)] if tags else []

    async def write(self, tag: Tag, raw: Any) -> Any:
        self._up()
        self.plc.writes.append((tag.name, raw))
        self.plc.values[tag.name] = raw
        return raw

    async def subscribe(self, tags: Sequence[Tag], deliver: Callable[[TagBatch], None]) -> bool:
        self._up()
        if not self.plc.pushes:
            return False
        self.subscribers.append(deliver)
        return True

    async def browse(self, node: str | None) -> list[BrowseEntry]:
        self._up()
        return [BrowseEntry(f"ns=2;s={name}", name, "Variable") for name in sorted(self.plc.values)]

    async def check(self) -> None:
        self._up()

    def status(self) -> dict[str, Any]:
        return {"connected": self.connected, "fake": True}


class FakePlc:
    """The PlcPort: every device it opens reads and writes the same `values`."""

    def __init__(self, clock: FakeClock | None = None, *, pushes: bool = False) -> None:
        self.clock = clock or FakeClock()
        self.values: dict[str, Any] = {}
        self.writes: list[tuple[str, Any]] = []
        self.reads = 0
        self.down = False
        self.pushes = pushes
        self.opened: list[FakePlcConnection] = []

    def open(self, device: Device) -> FakePlcConnection:
        connection = FakePlcConnection(self, device)
        self.opened.append(connection)
        return connection

    def push(self, tags: Sequence[Tag]) -> None:
        """Deliver the current values of `tags` to every subscriber, as a PLC pushing does."""
        batch = TagBatch(tags, [self.values.get(t.name) for t in tags], self.clock.now())
        for connection in self.opened:
            for deliver in connection.subscribers:
                deliver(batch)


# --- repositories ---


class FakeLoginFailures:
    """The LoginFailureRepository."""

    def __init__(self) -> None:
        self.failures: dict[str, list[datetime]] = {}

    async def add(self, username: str, at: datetime) -> None:
        self.failures.setdefault(username, []).append(at)

    async def since(self, username: str, since: datetime) -> list[datetime]:
        return [at for at in self.failures.get(username, []) if at >= since]

    async def clear(self, username: str) -> None:
        self.failures.pop(username, None)


@dataclass
class FakeAuthz:
    """The AuthzRepository: members (user -> Membership), bumped by tests as the store is
    when roles change."""

    members: dict[str, list[Membership]] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    platform_admins: set[str] = field(default_factory=set)
    policies: tuple[tuple[str, str, str, str], ...] = ()
    version_no: int = 1
    snapshots: int = 0

    async def bump(self) -> None:
        self.version_no += 1

    async def version(self) -> int:
        return self.version_no

    async def snapshot(self) -> AuthzSnapshot:
        self.snapshots += 1
        users = frozenset(self.users | set(self.members) | self.platform_admins)
        memberships = tuple(m for found in self.members.values() for m in found)
        return AuthzSnapshot(
            self.version_no,
            users,
            {u: u for u in users},
            frozenset(self.platform_admins),
            memberships,
            self.policies,
        )


class FakeConnections:
    """The ConnectionRepository: rows by (tenant, name), as the store keeps them."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredConnection] = {}

    async def add(self, stored: StoredConnection) -> None:
        key = (stored.connection.tenant_id, stored.connection.name)
        if key in self.rows:
            raise DuplicateKey(f"a connection named {key[1]!r} exists")
        self.rows[key] = stored

    async def get(self, tenant_id: str, name: str) -> StoredConnection | None:
        return self.rows.get((tenant_id, name))

    async def page(self, tenant_id: str, after: str | None, limit: int) -> list[StoredConnection]:
        names = sorted(n for t, n in self.rows if t == tenant_id and (after is None or n > after))
        return [self.rows[(tenant_id, n)] for n in names[:limit]]

    async def update(self, stored: StoredConnection) -> None:
        self.rows[(stored.connection.tenant_id, stored.connection.name)] = stored

    async def delete(self, tenant_id: str, name: str) -> bool:
        return self.rows.pop((tenant_id, name), None) is not None


class FakeErp:
    """An EnterprisePort over entity sets held in memory, each entity with a version ETag.
    `down` makes every call raise ErpUnavailable (Retry-After `retry_after`); `calls`
    records each call's method name."""

    def __init__(self, metadata: ServiceMetadata, data: Mapping[str, list[dict[str, Any]]]):
        self._metadata = metadata
        self.data = {name: [dict(row) for row in rows] for name, rows in data.items()}
        self.calls: list[str] = []
        self.down = False
        self.retry_after: float | None = None
        self.closed = False

    def _called(self, method: str) -> None:
        self.calls.append(method)
        if self.down:
            raise ErpUnavailable("the fake ERP is down", retry_after=self.retry_after)

    def _find(self, entity_set: str, key: Key) -> dict[str, Any]:
        keys = self._metadata.entity(entity_set).keys
        wanted = dict(key) if isinstance(key, Mapping) else {keys[0]: key}
        for row in self.data.get(entity_set, []):
            if all(str(row.get(k)) == str(v) for k, v in wanted.items()):
                return row
        raise ErpNotFound(f"{entity_set} {key!r} not found", code="404", http_status=404)

    @staticmethod
    def _view(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "@etag": f'W/"{row.get("_v", 1)}"'}

    async def query(self, query: EntityQuery) -> EntityPage:
        self._called("query")
        rows = [self._view(r) for r in self.data.get(query.entity_set, [])]
        if query.filter:  # "Name eq 'value' and ..." only
            for clause in query.filter.split(" and "):
                name, _, value = clause.partition(" eq ")
                rows = [r for r in rows if str(r.get(name.strip())) == value.strip().strip("'")]
        rows = rows[query.skip or 0 :]
        rows = rows if query.top is None else rows[: query.top]
        return EntityPage(rows, len(rows))

    async def read(self, entity_set: str, key: Key) -> dict[str, Any]:
        self._called("read")
        return self._view(self._find(entity_set, key))

    async def create(
        self, entity_set: str, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        self._called("create")
        row = {**body, "_v": 1}
        self.data.setdefault(entity_set, []).append(row)
        return self._view(row)

    async def update(
        self,
        entity_set: str,
        key: Key,
        body: Mapping[str, Any],
        *,
        etag: str | None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any] | None:
        self._called("update")
        row = self._find(entity_set, key)
        if etag is not None and etag != self._view(row)["@etag"]:
            raise PreconditionFailed("stale ETag", http_status=412)
        row.update(body)
        row["_v"] = row.get("_v", 1) + 1
        return self._view(row)

    async def delete(
        self, entity_set: str, key: Key, *, etag: str | None, idempotency_key: str | None = None
    ) -> None:
        self._called("delete")
        self.data[entity_set].remove(self._find(entity_set, key))

    async def call(
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        bound_to: tuple[str, Key] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        self._called("call")
        return {"operation": name, "params": dict(params)}

    async def batch(
        self, change_set: Sequence[ChangeSetItem], *, idempotency_key: str | None = None
    ) -> list[dict[str, Any] | None]:
        self._called("batch")
        return [None for _ in change_set]

    async def metadata(self) -> ServiceMetadata:
        self._called("metadata")
        return self._metadata

    async def ping(self) -> None:
        self._called("ping")

    async def close(self) -> None:
        self.closed = True


def erp_metadata(**entity_sets: EntityType) -> ServiceMetadata:
    return ServiceMetadata(version="v4", entity_sets=entity_sets)


class FakeUnitOfWork:
    """A UnitOfWork over the fake repositories it is given (only those a test needs);
    counts commits and rollbacks instead of running a transaction."""

    def __init__(self, **repositories: Any) -> None:
        for name, repository in repositories.items():
            setattr(self, name, repository)
        self.commits = 0
        self.rollbacks = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def commit(self) -> None:
        self.commits += 1

    async def rollback(self) -> None:
        self.rollbacks += 1


class FakeUnitOfWorkFactory:
    """The UnitOfWorkFactory: every call gives the same FakeUnitOfWork, so repositories
    keep their contents across transactions as a database would."""

    def __init__(self, **repositories: Any) -> None:
        self.uow = FakeUnitOfWork(**repositories)
        self.opened: list[bool] = []  # write flag of each transaction opened

    def __call__(self, *, write: bool = False) -> FakeUnitOfWork:
        self.opened.append(write)
        return self.uow
