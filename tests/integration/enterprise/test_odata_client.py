"""The OData adapter (connectors/enterprise/odata) against the real sample ERP (SAP CAP), V4
and V2 alike: server paging, items the same in both versions, keys, CSRF, ETags, actions
and functions, atomic change sets, typed errors, $metadata, OAuth2 client credentials and
the egress policy. The request counts come from the server's own /-/stats."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pytest

from connectors.enterprise.odata import ODataClient
from connectors.outbound.pinned import SystemResolver, tenant_pin
from hub.domain.egress import EgressPolicy, parse_allow_list
from hub.domain.enterprise import (
    Connection,
    ConnectionAuth,
    ConnectionSecrets,
    ErpAuthFailed,
    ErpConflict,
    ErpNotFound,
    ErpUnavailable,
    InvalidRequest,
    PreconditionFailed,
)
from hub.ports.enterprise import ChangeSetItem, EntityQuery
from hub.services.egress.rules import StaticEgress
from tests.conftest import LOOPBACK
from tests.support.erp import PAGE_SIZE, READINGS, SampleErp

T = TypeVar("T")
TENANT = "t-erp"
VERSIONS = pytest.mark.parametrize("version", ["v4", "v2"])
# The sample ERP's OAuth2 client (connectors/enterprise/sample_erp/README.md).
OAUTH_CLIENT = ("hub-client", "hub-client-secret")
# The sample ERP listens on loopback, which the egress policy refuses unless allowed.
LOOPBACK_EGRESS = StaticEgress(EgressPolicy(parse_allow_list(LOOPBACK)), SystemResolver())


@pytest.fixture
def erp(sample_erp: SampleErp) -> Iterator[SampleErp]:
    """The session's sample ERP with no injected failure and its counters at zero."""
    sample_erp.reset()
    yield sample_erp
    sample_erp.reset()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def connection(
    erp: SampleErp,
    version: str = "v4",
    *,
    auth: ConnectionAuth | None = None,
    secrets: ConnectionSecrets | None = None,
    name: str = "erp",
) -> Connection:
    return Connection(
        tenant_id=TENANT,
        name=name,
        url=(erp.v4_url if version == "v4" else erp.v2_url) + "/",
        version="v4" if version == "v4" else "v2",
        auth=auth or ConnectionAuth(type="basic", username=erp.user),
        secrets=secrets or ConnectionSecrets(password=erp.password),
        timeout_s=30,
    )


def oauth_connection(erp: SampleErp, version: str, secret: str = OAUTH_CLIENT[1]) -> Connection:
    return connection(
        erp,
        version,
        auth=ConnectionAuth(
            type="oauth2_client_credentials",
            token_url=f"{erp.base_url}/-/oauth/token",
            client_id=OAUTH_CLIENT[0],
        ),
        secrets=ConnectionSecrets(client_secret=secret),
    )


@asynccontextmanager
async def odata(
    erp: SampleErp,
    version: str = "v4",
    *,
    conn: Connection | None = None,
    egress: StaticEgress = LOOPBACK_EGRESS,
) -> AsyncIterator[ODataClient]:
    client = ODataClient(conn or connection(erp, version), tenant_pin(egress.destination, TENANT))
    try:
        yield client
    finally:
        await client.close()


def unique(prefix: str, size: int = 12) -> str:
    return (prefix + uuid.uuid4().hex)[:size]


async def new_order(client: ODataClient, order_id: str | None = None) -> dict[str, Any]:
    """A production order of the test's own (the data is shared for the session)."""
    body = {"ID": order_id or unique("T"), "Material": "M1", "Plant": "1000", "Quantity": 10}
    return await client.create("ProductionOrders", body)


def equipment_filter(equipment: str) -> str:
    return f"Equipment eq '{equipment}'"


def revoke_tokens(erp: SampleErp) -> None:
    httpx.post(f"{erp.base_url}/-/oauth/revoke", timeout=10).raise_for_status()


# --- reads ---------------------------------------------------------------------------


@VERSIONS
def test_a_query_follows_server_paging_to_the_end(erp: SampleErp, version: str) -> None:
    async def go() -> Any:
        async with odata(erp, version) as client:
            return await client.query(EntityQuery("Readings"))

    page = run(go())
    assert len(page.items) == READINGS
    assert sorted(item["ID"] for item in page.items) == list(range(1, READINGS + 1))
    assert page.count == READINGS
    # Twelve full pages and the empty one CAP links after a full page: one request each
    # (V2 reads $metadata first, for its property types).
    pages = READINGS // PAGE_SIZE + 1
    assert erp.stats()["byMethod"] == {"GET": pages + (1 if version == "v2" else 0)}


@VERSIONS
def test_top_skip_and_count(erp: SampleErp, version: str) -> None:
    async def go() -> tuple[Any, Any, Any]:
        async with odata(erp, version) as client:
            window = await client.query(
                EntityQuery("Readings", orderby=["ID"], top=5, skip=100, count=True)
            )
            across = await client.query(EntityQuery("Readings", orderby=["ID"], top=2500))
            uncounted = await client.query(
                EntityQuery("Readings", filter="ID le 3", select=["ID", "Value"])
            )
            return window, across, uncounted

    window, across, uncounted = run(go())
    assert [item["ID"] for item in window.items] == [101, 102, 103, 104, 105]
    assert window.count == READINGS  # the server's count, not the page's
    # $top beyond the server's page size: still paged by the server, cut at top.
    assert [item["ID"] for item in across.items] == list(range(1, 2501))
    assert [set(item) for item in uncounted.items] == [{"ID", "Value"}] * 3
    assert uncounted.count == 3


def test_v2_and_v4_items_look_the_same(erp: SampleErp) -> None:
    async def read(version: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        async with odata(erp, version) as client:
            order = await client.read("ProductionOrders", "1000001")
            stock = await client.read("MaterialStock", {"Material": "M1", "Plant": "1000"})
            readings = await client.query(EntityQuery("Readings", orderby=["ID"], top=3))
            return order, stock, readings.items

    order4, stock4, readings4 = run(read("v4"))
    order2, stock2, readings2 = run(read("v2"))
    assert order2 == order4
    assert stock2 == stock4
    assert order4["@etag"].startswith('W/"')
    # /Date(1740981600000+0000)/ in V2, as V4 writes it; Decimals are numbers in both.
    assert order4["ScheduledStart"] == "2025-03-03T06:00:00Z"
    assert order4["createdAt"].endswith("Z")
    assert (order4["Quantity"], stock4["Quantity"]) == (100, 1200)
    for item in (order2, stock2, *readings2):
        assert not [k for k in item if k.startswith("__") or k.startswith("@odata")]
    # V2 has no Edm.Date: RecordedOn is a DateTime there (sap:display-format="Date"),
    # so it comes out as that day's midnight UTC. Everything else is the same.
    for v2, v4 in zip(readings2, readings4, strict=True):
        assert v2.pop("RecordedOn") == v4.pop("RecordedOn") + "T00:00:00Z"
        assert isinstance(v2["Value"], float)
    assert readings2 == readings4


@VERSIONS
def test_a_composite_key_names_each_field(erp: SampleErp, version: str) -> None:
    async def go() -> dict[str, Any]:
        async with odata(erp, version) as client:
            with pytest.raises(InvalidRequest, match="missing Plant"):
                await client.read("MaterialStock", {"Material": "M1"})
            with pytest.raises(InvalidRequest, match="composite key"):
                await client.read("MaterialStock", "M1")
            return await client.read("MaterialStock", {"Plant": "1000", "Material": "M1"})

    stock = run(go())
    assert stock == {"Material": "M1", "Plant": "1000", "Quantity": 1200, "Unit": "PC"}
    # Only $metadata and the one read went out: the bad keys were refused here.
    assert erp.stats()["byMethod"] == {"GET": 2}


@VERSIONS
def test_a_key_with_a_quote_and_url_characters_is_escaped(erp: SampleErp, version: str) -> None:
    key = unique("Q'/ #?", 12)  # a quote, a slash, a space, a hash and a question mark

    async def go() -> None:
        async with odata(erp, version) as client:
            created = await new_order(client, key)
            assert created["ID"] == key
            read = await client.read("ProductionOrders", key)
            assert (read["ID"], read["Quantity"]) == (key, 10)
            updated = await client.update(
                "ProductionOrders", key, {"Quantity": 11}, etag=read["@etag"]
            )
            assert updated is not None
            await client.delete("ProductionOrders", key, etag=updated["@etag"])
            with pytest.raises(ErpNotFound):
                await client.read("ProductionOrders", key)
            # Not the same as an entity whose key is the text before the quote.
            with pytest.raises(ErpNotFound):
                await client.read("ProductionOrders", key.split("'")[0])

    run(go())


# --- writes --------------------------------------------------------------------------


@VERSIONS
def test_a_stale_csrf_token_is_fetched_again_once(erp: SampleErp, version: str) -> None:
    async def go() -> None:
        async with odata(erp, version) as client:
            await client.create("MaintenanceRequests", {"Equipment": unique("CSRF-", 20)})
            erp.expire_csrf()
            erp.reset()
            created = await client.create(
                "MaintenanceRequests", {"Equipment": unique("CSRF-", 20), "Priority": 2}
            )
            assert created["Priority"] == 2

    run(go())
    stats = erp.stats()
    # the refused POST, one fetch of a new token, the POST again
    assert (stats["csrfRejected"], stats["csrfFetched"]) == (1, 1)
    assert stats["byMethod"] == {"POST": 2, "GET": 1}


@VERSIONS
def test_updates_and_deletes_carry_the_etag(erp: SampleErp, version: str) -> None:
    async def go() -> None:
        async with odata(erp, version) as client:
            created = await new_order(client)
            order_id, first = created["ID"], created["@etag"]
            updated = await client.update(
                "ProductionOrders", order_id, {"Quantity": 11.5}, etag=first
            )
            assert updated is not None and updated["@etag"] != first
            with pytest.raises(PreconditionFailed) as stale:
                await client.update("ProductionOrders", order_id, {"Quantity": 12}, etag=first)
            assert stale.value.http_status == 412 and not stale.value.retryable
            current = await client.read("ProductionOrders", order_id)
            assert current["Quantity"] == 11.5
            assert current["@etag"] == updated["@etag"]
            with pytest.raises(PreconditionFailed):
                await client.delete("ProductionOrders", order_id, etag=first)
            await client.delete("ProductionOrders", order_id, etag=current["@etag"])
            with pytest.raises(ErpNotFound):
                await client.read("ProductionOrders", order_id)

    run(go())


@VERSIONS
def test_actions_and_functions(erp: SampleErp, version: str) -> None:
    material, plant = unique("MAT-", 20), "9000"

    async def go() -> None:
        async with odata(erp, version) as client:
            order = await new_order(client)
            if version == "v4":
                released = await client.call(
                    "release", {}, bound_to=("ProductionOrders", order["ID"])
                )
            else:  # V2 has no bound actions: CAP's adapter offers a function import
                released = await client.call("ProductionOrders_release", {"ID": order["ID"]})
            assert released["Status"] == "RELEASED"
            assert (await client.read("ProductionOrders", order["ID"]))["Status"] == "RELEASED"

            check = {"Material": material, "Plant": plant}
            assert await client.call("checkAvailability", check) == 0
            moved = await client.call("postGoodsMovement", {**check, "Quantity": 7.5})
            assert moved == {"Material": material, "Plant": plant, "Quantity": 7.5, "Unit": "PC"}
            assert await client.call("checkAvailability", check) == 7.5
            with pytest.raises(InvalidRequest) as refused:
                await client.call("postGoodsMovement", {**check, "Quantity": -100})
            assert refused.value.code == "INSUFFICIENT_STOCK"
            assert await client.call("checkAvailability", check) == 7.5
            with pytest.raises(InvalidRequest, match="no parameter Colour"):
                await client.call("checkAvailability", {**check, "Colour": "red"})
            with pytest.raises(ErpNotFound):
                await client.call("cancel", {})

    run(go())


@VERSIONS
def test_a_change_set_applies_every_change_or_none(erp: SampleErp, version: str) -> None:
    equipment = unique("BATCH-", 20)

    async def requests_for(client: ODataClient) -> list[dict[str, Any]]:
        found = await client.query(
            EntityQuery("MaintenanceRequests", filter=equipment_filter(equipment))
        )
        return found.items

    async def go() -> None:
        async with odata(erp, version) as client:
            order = await new_order(client)
            change_order = ChangeSetItem(
                "PATCH", "ProductionOrders", order["ID"], {"Quantity": 99}, order["@etag"]
            )
            request = ChangeSetItem(
                "POST", "MaintenanceRequests", body={"Equipment": equipment, "Priority": 2}
            )
            out_of_range = ChangeSetItem(
                "POST", "MaintenanceRequests", body={"Equipment": equipment, "Priority": 9}
            )
            with pytest.raises(InvalidRequest) as failed:
                await client.batch([request, change_order, out_of_range])
            assert failed.value.http_status == 400
            # nothing of it happened: no request, the order as it was
            assert await requests_for(client) == []
            unchanged = await client.read("ProductionOrders", order["ID"])
            assert (unchanged["Quantity"], unchanged["@etag"]) == (10, order["@etag"])

            done = await client.batch([request, change_order])
            assert len(done) == 2
            assert done[0] is not None and done[0]["Equipment"] == equipment
            [created] = await requests_for(client)
            assert created["Priority"] == 2
            changed = await client.read("ProductionOrders", order["ID"])
            assert changed["Quantity"] == 99 and changed["@etag"] != order["@etag"]

            # a change with a stale ETag fails the set: the delete beside it is undone
            delete = ChangeSetItem("DELETE", "MaintenanceRequests", key=created["ID"])
            with pytest.raises(PreconditionFailed):
                await client.batch([delete, change_order])
            assert [r["ID"] for r in await requests_for(client)] == [created["ID"]]

    run(go())


# --- errors --------------------------------------------------------------------------


@VERSIONS
def test_error_answers_become_typed_errors(erp: SampleErp, version: str) -> None:
    async def go() -> None:
        async with odata(erp, version) as client:
            with pytest.raises(ErpNotFound) as missing:
                await client.read("ProductionOrders", "NO-SUCH")
            assert (missing.value.code, missing.value.message) == ("404", "Not Found")
            assert missing.value.http_status == 404 and not missing.value.retryable

            confirmation = {"OrderID": "NO-SUCH", "Yield": 1, "ClientReference": unique("r-")}
            with pytest.raises(InvalidRequest) as rule:
                await client.create("ProductionConfirmations", confirmation)
            assert rule.value.code == "ORDER_NOT_FOUND"
            assert rule.value.message and "NO-SUCH" in rule.value.message
            assert rule.value.http_status == 400 and not rule.value.retryable

            # The same client reference twice: the ERP's 409, typed so a step can tell
            # "already posted" from a refused write.
            posted = {"OrderID": "1000005", "Yield": 1, "ClientReference": unique("r-")}
            await client.create("ProductionConfirmations", posted)
            with pytest.raises(ErpConflict) as again:
                await client.create("ProductionConfirmations", posted)
            assert again.value.http_status == 409 and again.value.error_type == "Conflict"

            with pytest.raises(InvalidRequest) as bad:
                await client.create(
                    "MaintenanceRequests", {"Equipment": unique("BAD-", 20), "Priority": 9}
                )
            assert bad.value.http_status == 400  # the server's refusal, not the client's

            erp.fail(503, count=1, retry_after=7)
            with pytest.raises(ErpUnavailable) as down:
                await client.query(EntityQuery("Customers"))
            assert down.value.retryable
            assert down.value.retry_after == 7.0
            assert (down.value.http_status, down.value.code) == (503, "503")

            erp.fail(429, count=1)
            with pytest.raises(ErpUnavailable) as busy:
                await client.read("Customers", "C100")
            assert busy.value.retry_after is None and busy.value.http_status == 429

            assert (await client.read("Customers", "C100"))["ID"] == "C100"

    run(go())


@VERSIONS
def test_a_wrong_password_is_an_auth_failure(erp: SampleErp, version: str) -> None:
    wrong = connection(erp, version, secrets=ConnectionSecrets(password="not-the-password"))

    async def go() -> None:
        async with odata(erp, version, conn=wrong) as client:
            with pytest.raises(ErpAuthFailed) as read:
                await client.query(EntityQuery("Customers"))
            assert read.value.http_status == 401 and not read.value.retryable
            with pytest.raises(ErpAuthFailed):
                await client.create("MaintenanceRequests", {"Equipment": "X"})

    run(go())


# --- $metadata -----------------------------------------------------------------------


@VERSIONS
def test_metadata_lists_entity_sets_keys_types_and_operations(erp: SampleErp, version: str) -> None:
    async def go() -> Any:
        async with odata(erp, version) as client:
            first = await client.metadata()
            assert await client.metadata() is first  # cached
            return first

    meta = run(go())
    assert erp.stats()["byMethod"] == {"GET": 1}
    assert {
        "ProductionOrders",
        "MaterialStock",
        "ProductionConfirmations",
        "Customers",
        "SalesOrders",
        "SalesOrderItems",
        "MaintenanceRequests",
        "Readings",
    } <= set(meta.entity_sets)
    stock = meta.entity("MaterialStock")
    assert stock.keys == ("Material", "Plant")
    assert stock.properties["Quantity"] == "Edm.Decimal"
    orders = meta.entity("ProductionOrders")
    assert orders.keys == ("ID",) and orders.etag
    assert orders.properties["ID"] == "Edm.String"
    assert orders.properties["ScheduledStart"] == "Edm.DateTimeOffset"
    readings = meta.entity("Readings")
    assert readings.properties["Value"] == "Edm.Double"
    assert readings.properties["RecordedOn"] == ("Edm.Date" if version == "v4" else "Edm.DateTime")
    assert not readings.etag
    assert "Items" in meta.entity("SalesOrders").navigation
    with pytest.raises(ErpNotFound):
        meta.entity("Nope")

    ops = meta.operations
    movement = ops["postGoodsMovement"]
    assert movement.kind == "action" and movement.bound_to is None
    assert movement.parameters == {
        "Material": "Edm.String",
        "Plant": "Edm.String",
        "Quantity": "Edm.Decimal",
    }
    availability = ops["checkAvailability"]
    assert availability.kind == "function"
    assert availability.parameters == {"Material": "Edm.String", "Plant": "Edm.String"}
    assert availability.returns == "Edm.Decimal"
    release = ops["release"] if version == "v4" else ops["ProductionOrders_release"]
    assert release.kind == "action" and release.bound_to == "ProductionOrders"
    assert release.parameters == ({} if version == "v4" else {"ID": "Edm.String"})
    view = meta.view()
    assert {"name": "Quantity", "type": "Edm.Decimal"} in next(
        s["properties"] for s in view["entity_sets"] if s["name"] == "MaterialStock"
    )


# --- OAuth2 client credentials -------------------------------------------------------


@VERSIONS
def test_oauth_token_is_fetched_once_reused_and_fetched_again_after_401(
    erp: SampleErp, version: str
) -> None:
    revoke_tokens(erp)  # tokens of earlier tests

    async def go() -> None:
        async with odata(erp, version, conn=oauth_connection(erp, version)) as client:
            assert (await client.read("Customers", "C100"))["ID"] == "C100"
            await client.query(EntityQuery("Customers"))
            await client.create("MaintenanceRequests", {"Equipment": unique("OAUTH-", 20)})
            assert erp.stats()["tokensIssued"] == 1
            assert erp.stats()["bearerRejected"] == 0

            revoke_tokens(erp)
            assert (await client.read("Customers", "C200"))["ID"] == "C200"
            stats = erp.stats()
            assert (stats["tokensIssued"], stats["bearerRejected"]) == (2, 1)

            revoke_tokens(erp)
            await client.create("MaintenanceRequests", {"Equipment": unique("OAUTH-", 20)})
            stats = erp.stats()
            assert (stats["tokensIssued"], stats["bearerRejected"]) == (3, 2)

    run(go())


def test_oauth_token_refetched_when_the_csrf_fetch_meets_a_revoked_token(
    erp: SampleErp,
) -> None:
    async def go() -> None:
        async with odata(erp, conn=oauth_connection(erp, "v4")) as client:
            await client.query(EntityQuery("Customers", top=1))  # a token, no CSRF yet
            revoke_tokens(erp)
            # the first change fetches a CSRF token: with the revoked bearer token first
            await client.create("MaintenanceRequests", {"Equipment": unique("OAUTH-", 20)})

    run(go())
    stats = erp.stats()
    assert (stats["tokensIssued"], stats["bearerRejected"], stats["csrfFetched"]) == (2, 1, 1)


def test_oauth_wrong_client_secret_is_an_auth_failure(erp: SampleErp) -> None:
    async def go() -> None:
        conn = oauth_connection(erp, "v4", secret="wrong")
        async with odata(erp, conn=conn) as client:
            with pytest.raises(ErpAuthFailed, match="client credentials"):
                await client.query(EntityQuery("Customers"))

    run(go())
    assert erp.stats()["requests"] == 0  # no service request without a token


# --- egress --------------------------------------------------------------------------


def test_a_target_the_egress_policy_refuses_is_never_called(erp: SampleErp) -> None:
    public_only = StaticEgress(EgressPolicy(), SystemResolver())  # loopback not allowed

    async def go() -> None:
        async with odata(erp, egress=public_only) as client:
            with pytest.raises(InvalidRequest, match=r"egress refused.*loopback"):
                await client.query(EntityQuery("Customers"))
            with pytest.raises(InvalidRequest, match="egress refused"):
                await client.create("MaintenanceRequests", {"Equipment": "X"})
        # the token endpoint goes through the policy too
        async with odata(erp, conn=oauth_connection(erp, "v4"), egress=public_only) as client:
            with pytest.raises(InvalidRequest, match="egress refused"):
                await client.ping()

    run(go())
    stats = erp.stats()
    assert (stats["requests"], stats["csrfFetched"], stats["tokensIssued"]) == (0, 0, 0)
