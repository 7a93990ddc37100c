"""The enterprise gateway (hub/services/enterprise/gateway.py) over the OData adapter and
the real sample ERP: names checked against $metadata before any request, and a circuit
breaker per connection that opens after repeated unavailability, answers without calling
the ERP, and lets a trial through after its cooldown (a fake clock, no sleeps)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from connectors.enterprise.odata import ODataClient
from connectors.outbound.pinned import tenant_pin
from hub.domain.enterprise import (
    CircuitOpen,
    Connection,
    ErpNotFound,
    ErpUnavailable,
    InvalidRequest,
)
from hub.domain.errors import NotFound, ValidationFailed
from hub.ports.enterprise import ChangeSetItem, EnterprisePort, EntityQuery
from hub.services.enterprise.gateway import EnterpriseGateway
from tests.integration.enterprise.test_odata_client import (
    LOOPBACK_EGRESS,
    TENANT,
    VERSIONS,
    connection,
    run,
    unique,
)
from tests.support.erp import SampleErp

THRESHOLD = 3
COOLDOWN = 30.0


@pytest.fixture
def erp(sample_erp: SampleErp) -> Iterator[SampleErp]:
    sample_erp.reset()
    yield sample_erp
    sample_erp.reset()


class Clock:
    """The gateway's `seconds`: moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def gateway(
    erp: SampleErp,
    version: str,
    clock: Clock | None = None,
    connects: list[Connection] | None = None,
    *,
    profile: str | None = None,
) -> AsyncIterator[EnterpriseGateway]:
    """A gateway over the one connection `erp` of TENANT to the sample ERP (with
    `profile`, if given), clients pinned to the loopback egress policy; `connects`
    collects every connection it builds a client for."""
    conn = dataclasses.replace(connection(erp, version), profile=profile)

    async def load(tenant_id: str, name: str) -> Connection:
        if (tenant_id, name) != (TENANT, conn.name):
            raise NotFound(f"no connection {name!r}")
        return conn

    def connect(c: Connection) -> EnterprisePort:
        if connects is not None:
            connects.append(c)
        return ODataClient(c, tenant_pin(LOOPBACK_EGRESS.destination, c.tenant_id))

    hub = EnterpriseGateway(
        load,
        connect,
        seconds=clock or time.monotonic,
        failure_threshold=THRESHOLD,
        cooldown_s=COOLDOWN,
    )
    try:
        yield hub
    finally:
        await hub.close()


def requests(erp: SampleErp) -> int:
    count: int = erp.stats()["requests"]
    return count


@VERSIONS
def test_the_breaker_opens_holds_calls_back_and_closes_after_cooldown(
    erp: SampleErp, version: str
) -> None:
    clock = Clock()
    customers = EntityQuery("Customers")

    async def go() -> None:
        async with gateway(erp, version, clock) as hub:
            await hub.metadata(TENANT, "erp")  # cached, so each call below is one request
            erp.reset()
            erp.fail(503, count=THRESHOLD)
            for _ in range(THRESHOLD):
                with pytest.raises(ErpUnavailable) as down:
                    await hub.query(TENANT, "erp", customers)
                assert type(down.value) is ErpUnavailable
            assert requests(erp) == THRESHOLD

            with pytest.raises(CircuitOpen) as held:
                await hub.query(TENANT, "erp", customers)
            assert held.value.retryable and held.value.retry_after == COOLDOWN
            with pytest.raises(CircuitOpen):  # any call on the connection
                await hub.read(TENANT, "erp", "Customers", "C100")
            assert requests(erp) == THRESHOLD  # the ERP was not called
            assert (await hub.health(TENANT, "erp")).circuit == "open"

            clock.now += COOLDOWN - 1
            with pytest.raises(CircuitOpen) as still:
                await hub.query(TENANT, "erp", customers)
            assert still.value.retry_after == 1.0

            clock.now += 1  # half-open: one trial call, and it succeeds
            assert len((await hub.query(TENANT, "erp", customers)).items) == 3
            assert (await hub.read(TENANT, "erp", "Customers", "C100"))["ID"] == "C100"
            assert requests(erp) == THRESHOLD + 1 + 2  # the health check's ping, two calls
            assert (await hub.health(TENANT, "erp")).circuit == "closed"

    run(go())


def test_a_failed_trial_opens_the_breaker_again_for_as_long_as_retry_after(
    erp: SampleErp,
) -> None:
    clock = Clock()
    customers = EntityQuery("Customers")

    async def go() -> None:
        async with gateway(erp, "v4", clock) as hub:
            await hub.metadata(TENANT, "erp")
            erp.fail(503, count=THRESHOLD + 1, retry_after=120)
            for _ in range(THRESHOLD):
                with pytest.raises(ErpUnavailable):
                    await hub.query(TENANT, "erp", customers)
            clock.now += COOLDOWN  # the ERP asked for 120 s, more than the cooldown
            with pytest.raises(CircuitOpen) as held:
                await hub.query(TENANT, "erp", customers)
            assert held.value.retry_after == 120 - COOLDOWN
            clock.now += 120 - COOLDOWN
            erp.reset()
            erp.fail(503, count=1)
            with pytest.raises(ErpUnavailable) as trial:  # the trial goes out and fails
                await hub.query(TENANT, "erp", customers)
            assert not isinstance(trial.value, CircuitOpen)
            with pytest.raises(CircuitOpen):  # open again at once, without a request
                await hub.query(TENANT, "erp", customers)
            assert requests(erp) == 1
            clock.now += COOLDOWN
            assert (await hub.read(TENANT, "erp", "Customers", "C100"))["ID"] == "C100"

    run(go())


def test_answers_that_prove_the_erp_is_up_do_not_open_the_breaker(erp: SampleErp) -> None:
    async def go() -> None:
        async with gateway(erp, "v4", Clock()) as hub:
            for _ in range(THRESHOLD + 1):
                with pytest.raises(ErpNotFound):
                    await hub.read(TENANT, "erp", "Customers", "NOPE")
                with pytest.raises(InvalidRequest):
                    await hub.create(TENANT, "erp", "MaintenanceRequests", {"Priority": 9})
            assert (await hub.read(TENANT, "erp", "Customers", "C100"))["ID"] == "C100"

    run(go())


@VERSIONS
def test_unknown_names_are_refused_before_any_request(erp: SampleErp, version: str) -> None:
    async def go() -> None:
        async with gateway(erp, version, Clock()) as hub:
            await hub.metadata(TENANT, "erp")
            erp.reset()
            with pytest.raises(NotFound, match="no entity set 'Orders'"):
                await hub.query(TENANT, "erp", EntityQuery("Orders"))
            with pytest.raises(NotFound, match="no entity set"):
                await hub.read(TENANT, "erp", "Orders", "1")
            with pytest.raises(ValidationFailed) as select:
                await hub.query(TENANT, "erp", EntityQuery("Customers", select=["ID", "Colour"]))
            assert [p.field for p in select.value.problems] == ["select[1]"]
            with pytest.raises(ValidationFailed) as order:
                await hub.query(TENANT, "erp", EntityQuery("Customers", orderby=["Size desc"]))
            assert [p.field for p in order.value.problems] == ["orderby[0]"]
            with pytest.raises(ValidationFailed) as expand:
                await hub.query(TENANT, "erp", EntityQuery("SalesOrders", expand=["Lines"]))
            assert [p.field for p in expand.value.problems] == ["expand[0]"]
            with pytest.raises(ValidationFailed) as data:
                await hub.create(
                    TENANT, "erp", "MaintenanceRequests", {"Equipment": "P1", "Colour": "red"}
                )
            assert [p.field for p in data.value.problems] == ["data.Colour"]
            with pytest.raises(ValidationFailed) as key:
                await hub.read(TENANT, "erp", "MaterialStock", {"Material": "M1"})
            assert [p.field for p in key.value.problems] == ["key.Plant"]
            with pytest.raises(NotFound, match="no action or function 'cancel'"):
                await hub.call(TENANT, "erp", "cancel", {})
            with pytest.raises(ValidationFailed) as params:
                await hub.call(
                    TENANT, "erp", "checkAvailability", {"Material": "M1", "Colour": "red"}
                )
            assert [p.field for p in params.value.problems] == ["params.Colour"]
            with pytest.raises(ValidationFailed) as batch:
                await hub.batch(
                    TENANT,
                    "erp",
                    [
                        ChangeSetItem("POST", "MaintenanceRequests", body={"Equipment": "P1"}),
                        ChangeSetItem("POST", "MaintenanceRequests", body={"Size": 1}),
                    ],
                )
            assert [p.field for p in batch.value.problems] == ["changes[1].data.Size"]
            with pytest.raises(NotFound):
                await hub.query(TENANT, "other", EntityQuery("Customers"))
            assert requests(erp) == 0

    run(go())


@VERSIONS
def test_calls_through_the_gateway_reach_the_erp_with_one_client(
    erp: SampleErp, version: str
) -> None:
    clock = Clock()
    connects: list[Connection] = []
    equipment = unique("GW-", 20)

    async def go() -> None:
        async with gateway(erp, version, clock, connects) as hub:
            created = await hub.create(
                TENANT, "erp", "MaintenanceRequests", {"Equipment": equipment, "Priority": 1}
            )
            found = await hub.query(
                TENANT,
                "erp",
                EntityQuery(
                    "MaintenanceRequests",
                    filter=f"Equipment eq '{equipment}'",
                    select=["ID", "Priority"],
                ),
            )
            assert found.items == [{"ID": created["ID"], "Priority": 1}]
            stock = {"Material": "M1", "Plant": "1000"}
            assert await hub.call(TENANT, "erp", "checkAvailability", stock) == 1200
            clock.now += 60  # the connection is looked up again: unchanged, same client
            assert (await hub.read(TENANT, "erp", "MaterialStock", stock))["Quantity"] == 1200
            await hub.delete(TENANT, "erp", "MaintenanceRequests", created["ID"], etag=None)

    run(go())
    assert len(connects) == 1
    assert erp.stats()["byMethod"]["GET"] >= 1
