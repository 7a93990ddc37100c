"""The fakes in tests/fakes.py keep to their ports: every method a port names, with the
same parameters, and the behaviour the port's docstring promises (tenant scoping of the
bus, a chain that loses a transaction, a PLC that goes away)."""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from typing import Any

import pytest

import hub.ports as ports
from hub.domain.anchors import LedgerRejected, LedgerUnavailable, TxState
from hub.domain.packs import NotificationFailed
from hub.domain.plc import Datatype, Device, PlcUnavailable, Register, Tag
from hub.domain.plc import Protocol as PlcProtocol
from hub.ports import (
    AuthzRepository,
    Clock,
    ConnectionRepository,
    EnterprisePort,
    LedgerPort,
    LoginFailureRepository,
    Notification,
    Notifier,
    PlcConnection,
    PlcPort,
    UnitOfWorkFactory,
)
from tests.fakes import (
    ALL_TENANTS,
    EPOCH,
    FakeAuthz,
    FakeClock,
    FakeConnections,
    FakeErp,
    FakeEventBus,
    FakeLedger,
    FakeLoginFailures,
    FakeNotifier,
    FakePlc,
    FakeUnitOfWorkFactory,
    SkewedClock,
    erp_metadata,
)

TAG = Tag("pressure", Datatype.FLOAT32, Register.HOLDING, address=0, writable=True)
DEVICE = Device("d1", "t1", "boiler", PlcProtocol.MODBUS, "127.0.0.1:502", (TAG,), EPOCH)
# (a fake, made as a test makes it; the port it stands for)
PAIRS: list[tuple[Any, Any]] = [
    (FakeClock(), Clock),
    (SkewedClock(), Clock),
    (FakeNotifier(), Notifier),
    (FakeLedger(), LedgerPort),
    (FakePlc(), PlcPort),
    (FakePlc().open(DEVICE), PlcConnection),
    (FakeLoginFailures(), LoginFailureRepository),
    (FakeAuthz(), AuthzRepository),
    (FakeConnections(), ConnectionRepository),
    (FakeErp(erp_metadata(), {}), EnterprisePort),
    (FakeUnitOfWorkFactory(), UnitOfWorkFactory),
    (FakeEventBus(), ports.EventBus),
]


def _members(port: Any) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(port).items()
        if callable(value) and (not name.startswith("_") or name == "__call__")
    }


@pytest.mark.parametrize(("fake", "port"), PAIRS, ids=[p.__name__ for _, p in PAIRS])
def test_a_fake_has_every_member_of_its_port_with_the_same_parameters(fake: Any, port: Any) -> None:
    name_of = type(fake).__name__
    for name, method in _members(port).items():
        assert hasattr(fake, name), f"{name_of} lacks {port.__name__}.{name}"
        wanted = list(inspect.signature(method).parameters)[1:]  # without self
        got = list(inspect.signature(getattr(fake, name)).parameters)  # bound
        assert got == wanted, f"{name_of}.{name}{got} is not {port.__name__}'s {wanted}"
        assert inspect.iscoroutinefunction(getattr(fake, name)) == (
            inspect.iscoroutinefunction(method)
        ), f"{name_of}.{name}: async or not as the port says"
    for attribute in getattr(port, "__annotations__", {}):
        assert hasattr(fake, attribute), f"{name_of} lacks {port.__name__}.{attribute}"


def test_the_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    assert clock.now() == clock.now() == EPOCH
    assert clock.advance(90) == EPOCH + timedelta(seconds=90)
    assert clock.advance(minutes=1) == EPOCH + timedelta(seconds=150)


def test_the_bus_delivers_by_pattern_and_tenant() -> None:
    bus = FakeEventBus()
    got: list[tuple[str, str, Any]] = []

    async def take(tenant: str, topic: str, payload: Any) -> None:
        got.append((tenant, topic, payload))

    async def scenario() -> None:
        bus.subscribe("areas/+/alarm", take, tenant="acme")
        everyone = bus.subscribe("#", take, tenant=ALL_TENANTS)
        await bus.publish("areas/north/alarm", 1, tenant="acme")
        await bus.publish("areas/north/alarm", 2, tenant="globex")  # not acme's
        everyone()
        await bus.publish("areas/south/alarm", 3, tenant="acme")
        await bus.publish("areas/south/other", 4, tenant="acme")

    asyncio.run(scenario())
    assert got == [
        ("acme", "areas/north/alarm", 1),
        ("acme", "areas/north/alarm", 1),
        ("globex", "areas/north/alarm", 2),
        ("acme", "areas/south/alarm", 3),
    ]
    assert [p for _, _, p in bus.published] == [1, 2, 3, 4]


def test_the_bus_hands_a_burst_to_a_batch_handler_in_one_call() -> None:
    bus = FakeEventBus()
    batches: list[Any] = []

    async def one(tenant: str, topic: str, payload: Any) -> None:
        raise AssertionError("a batch subscriber takes bursts whole")

    async def batch(tenant: str, events: Any, render: Any, topics: Any) -> None:
        batches.append((tenant, [(t, render(r)) for t, r in events], sorted(topics)))

    bus.subscribe("tags/#", one, tenant="acme", batch=batch)
    asyncio.run(bus.publish_many("acme", [("tags/a", 1), ("tags/b", 2)], render=lambda r: r * 10))
    assert batches == [("acme", [("tags/a", 10), ("tags/b", 20)], ["tags/a", "tags/b"])]


def test_the_notifier_records_sends_and_fails_when_told() -> None:
    notifier = FakeNotifier()
    message = Notification("Alarm", {"tag": "pressure"}, "run-1:notify:3")
    notifier.fail_next()
    with pytest.raises(NotificationFailed):
        asyncio.run(notifier.send({"type": "webhook"}, message, tenant="acme"))
    asyncio.run(notifier.send({"type": "email"}, message, ["ops@example.com"], tenant="acme"))
    assert notifier.attempts == 2
    [sent] = notifier.sent
    assert (sent.channel["type"], sent.recipients, sent.message) == (
        "email",
        ("ops@example.com",),
        message,
    )


def test_the_ledger_confirms_loses_and_goes_down() -> None:
    ledger = FakeLedger()

    async def scenario() -> None:
        tx = await ledger.anchor("acme", "ab" * 32, 3)
        found = await ledger.lookup(tx.tx_hash, "acme", "ab" * 32, 3)
        assert (found.state, found.confirmations) == (TxState.MINED, 1)
        ledger.mine(5)
        assert (await ledger.lookup(tx.tx_hash, "acme", "ab" * 32, 3)).confirmations == 6
        assert (await ledger.lookup(tx.tx_hash, "acme", "cd" * 32, 3)).state is TxState.REVERTED
        ledger.forget(tx.tx_hash)
        assert (await ledger.lookup(tx.tx_hash, "acme", "ab" * 32, 3)).state is TxState.MISSING
        ledger.reject = "out of gas"
        with pytest.raises(LedgerRejected):
            await ledger.anchor("acme", "ab" * 32, 4)
        ledger.down = True
        assert not (await ledger.health()).ok
        with pytest.raises(LedgerUnavailable):
            await ledger.anchor("acme", "ab" * 32, 4)

    asyncio.run(scenario())


def test_the_plc_reads_writes_pushes_and_goes_away() -> None:
    clock = FakeClock()
    plc = FakePlc(clock, pushes=True)
    tag, device = TAG, DEVICE
    pushed: list[Any] = []

    async def scenario() -> None:
        conn = plc.open(device)
        await conn.connect()
        assert (await conn.read([tag])).values == [None]
        assert await conn.write(tag, 6.5) == 6.5
        clock.advance(1)
        batch = await conn.read([tag])
        assert (batch.values, batch.ts) == ([6.5], EPOCH + timedelta(seconds=1))
        assert await conn.subscribe([tag], pushed.append)
        plc.values["pressure"] = 7.0
        plc.push([tag])
        plc.down = True
        with pytest.raises(PlcUnavailable):
            await conn.read([tag])

    asyncio.run(scenario())
    assert plc.writes == [("pressure", 6.5)] and [b.values for b in pushed] == [[7.0]]


def test_the_login_failures_are_kept_by_time() -> None:
    failures = FakeLoginFailures()
    clock = FakeClock()

    async def scenario() -> list[Any]:
        await failures.add("ann", clock.now())
        await failures.add("ann", clock.advance(minutes=10))
        recent = await failures.since("ann", clock.now() - timedelta(minutes=5))
        await failures.clear("ann")
        return [recent, await failures.since("ann", EPOCH)]

    assert asyncio.run(scenario()) == [[EPOCH + timedelta(minutes=10)], []]


def test_the_unit_of_work_factory_shares_its_repositories() -> None:
    authz = FakeAuthz(users={"ann"})
    factory = FakeUnitOfWorkFactory(authz=authz)

    async def scenario() -> int:
        async with factory(write=True) as uow:
            await uow.authz.bump()  # type: ignore[attr-defined]
            await uow.commit()
        async with factory() as uow:
            return await uow.authz.version()  # type: ignore[attr-defined,no-any-return]

    assert asyncio.run(scenario()) == 2
    assert factory.opened == [True, False] and factory.uow.commits == 1
