"""The OData adapter's pure parts: literals and key predicates, V2/V4 answers turned into
the same plain JSON, error bodies, $batch multipart, and $metadata."""

from __future__ import annotations

import pytest

from connectors.enterprise.odata import batch, errors, literals, metadata, payloads
from hub.domain.enterprise import (
    EnterpriseError,
    EntityType,
    ErpNotFound,
    ErpUnavailable,
    InvalidRequest,
    PreconditionFailed,
)

STOCK = EntityType(
    name="MaterialStock",
    keys=("Material", "Plant"),
    properties={"Material": "Edm.String", "Plant": "Edm.String", "Quantity": "Edm.Decimal"},
)
ORDER = EntityType(name="Order", keys=("ID",), properties={"ID": "Edm.Guid"})


def test_string_keys_are_quoted_escaped_and_percent_encoded() -> None:
    assert literals.key_predicate("1000", None, "v4") == "('1000')"
    assert literals.key_predicate("O'Brien", None, "v4") == "('O''Brien')"
    assert literals.key_predicate("A/B #?", None, "v4") == "('A%2FB%20%23%3F')"
    assert literals.key_predicate(42, None, "v2") == "(42)"


def test_composite_keys_name_each_field() -> None:
    key = {"Material": "M1", "Plant": "1000"}
    assert literals.key_predicate(key, STOCK, "v4") == "(Material='M1',Plant='1000')"


def test_a_composite_key_must_be_whole() -> None:
    with pytest.raises(InvalidRequest, match="missing Plant"):
        literals.key_predicate({"Material": "M1"}, STOCK, "v4")
    with pytest.raises(InvalidRequest, match="composite key"):
        literals.key_predicate("M1", STOCK, "v4")


def test_typed_literals_differ_between_versions() -> None:
    guid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert literals.key_predicate(guid, ORDER, "v4") == f"({guid})"
    assert literals.key_predicate(guid, ORDER, "v2") == f"(guid'{guid}')"
    assert literals.literal(1.5, "Edm.Decimal", "v2") == "1.5M"
    assert literals.literal(1.5, "Edm.Decimal", "v4") == "1.5"
    assert literals.literal("2024-05-01T10:00:00Z", "Edm.DateTime", "v2") == (
        "datetime'2024-05-01T10:00:00'"
    )


def test_names_that_would_change_the_url_are_refused() -> None:
    for bad in ("../admin", "Orders?$top=1", "Orders(1)", "", "a b"):
        with pytest.raises(InvalidRequest):
            literals.check_name(bad, "entity set")


def test_v2_bodies_carry_decimals_as_strings_and_dates_as_date_literals() -> None:
    assert literals.body_value(12.5, "Edm.Decimal", "v2") == "12.5"
    assert literals.body_value("2024-01-01T00:00:00Z", "Edm.DateTime", "v2") == (
        "/Date(1704067200000)/"
    )
    assert literals.body_value(12.5, "Edm.Decimal", "v4") == 12.5


def test_v2_and_v4_collections_come_out_the_same() -> None:
    v4 = {
        "@odata.context": "$metadata#Orders",
        "@odata.count": 2,
        "@odata.nextLink": "Orders?$skiptoken=2",
        "value": [{"@odata.etag": 'W/"1"', "ID": "1", "Start": "2024-01-01T00:00:00Z"}],
    }
    v2 = {
        "d": {
            "__count": "2",
            "__next": "https://erp/Orders?$skiptoken=2",
            "results": [
                {
                    "__metadata": {"uri": "https://erp/Orders('1')", "etag": 'W/"1"'},
                    "ID": "1",
                    "Start": "/Date(1704067200000)/",
                    "Items": {"__deferred": {"uri": "..."}},
                }
            ],
        }
    }
    items4, next4, count4 = payloads.collection(v4, "v4")
    items2, next2, count2 = payloads.collection(v2, "v2")
    assert items4 == items2 == [{"@etag": 'W/"1"', "ID": "1", "Start": "2024-01-01T00:00:00Z"}]
    assert (next4, count4) == ("Orders?$skiptoken=2", 2)
    assert (next2, count2) == ("https://erp/Orders?$skiptoken=2", 2)


def test_v2_dates_keep_their_offset_and_expanded_results_are_unwrapped() -> None:
    raw = {
        "d": {
            "At": "/Date(1704067200000+0060)/",
            "Items": {"results": [{"__metadata": {}, "Qty": "1.000"}]},
        }
    }
    assert payloads.item(raw, "v2") == {
        "At": "2024-01-01T01:00:00+01:00",
        "Items": [{"Qty": "1.000"}],
    }


def test_an_answer_nested_too_deep_is_refused() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(EnterpriseError, match="nests deeper"):
        payloads.item(deep, "v4")


def test_v4_and_v2_error_bodies_keep_code_and_message() -> None:
    v4 = b'{"error": {"code": "ORDER_COMPLETED", "message": "Order is completed"}}'
    v2 = (
        b'{"error": {"code": "ZPP/001", "message": {"lang": "en", "value": "Locked"},'
        b' "innererror": {"errordetails": [{"code": "ZPP/001", "message": "Locked",'
        b' "severity": "error"}]}}}'
    )
    xml = b'<error xmlns="m"><code>SY/530</code><message xml:lang="en">No auth</message></error>'
    assert errors.parse_body(v4)[:2] == ("ORDER_COMPLETED", "Order is completed")
    code, message, details = errors.parse_body(v2)
    assert (code, message, details[0]["severity"]) == ("ZPP/001", "Locked", "error")
    assert errors.parse_body(xml)[:2] == ("SY/530", "No auth")


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (404, ErpNotFound, False),
        (412, PreconditionFailed, False),
        (400, InvalidRequest, False),
        (422, InvalidRequest, False),
        (429, ErpUnavailable, True),
        (503, ErpUnavailable, True),
        (504, ErpUnavailable, True),
    ],
)
def test_statuses_map_to_typed_errors(status: int, kind: type, retryable: bool) -> None:
    error = errors.from_response(status, b"", {"retry-after": "3"}, "the ERP")
    assert type(error) is kind and error.retryable is retryable
    if retryable:
        assert isinstance(error, ErpUnavailable) and error.retry_after == 3.0


def test_retry_after_takes_seconds_or_a_date_and_is_bounded() -> None:
    assert errors.retry_after("120") == 120.0
    assert errors.retry_after("999999") == errors.MAX_RETRY_AFTER
    assert errors.retry_after("Wed, 02 Dec 2026 10:00:30 GMT", now=1796205600.0) == 30.0
    assert errors.retry_after("soon") is None


def test_a_batch_request_is_one_change_set() -> None:
    parts = [
        batch.PartRequest("POST", "Orders", {"Accept": "application/json"}, {"ID": "1"}),
        batch.PartRequest("DELETE", "Orders('2')", {"If-Match": 'W/"3"'}),
    ]
    content_type, body = batch.encode(parts)
    text = body.decode()
    assert content_type.startswith("multipart/mixed; boundary=batch_")
    assert text.count("Content-Type: application/http") == 2
    assert "POST Orders HTTP/1.1" in text and 'If-Match: W/"3"' in text
    assert text.count("--changeset_") == 3  # two parts and the close


def test_a_batch_answer_is_read_with_its_change_set() -> None:
    answer = (
        b"--b1\r\nContent-Type: multipart/mixed; boundary=c1\r\n\r\n"
        b"--c1\r\nContent-Type: application/http\r\n\r\n"
        b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{"ID": "1"}\r\n'
        b"--c1\r\nContent-Type: application/http\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n\r\n"
        b"--c1--\r\n--b1--\r\n"
    )
    (change_set,) = batch.decode("multipart/mixed; boundary=b1", answer)
    assert isinstance(change_set, list)
    assert [p.status for p in change_set] == [201, 204]
    assert change_set[0].body == b'{"ID": "1"}'


def test_a_failed_change_set_answers_one_response() -> None:
    answer = (
        b"--b1\r\nContent-Type: application/http\r\n\r\n"
        b'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{"error": {}}\r\n'
        b"--b1--\r\n"
    )
    (failed,) = batch.decode('multipart/mixed; boundary="b1"', answer)
    assert isinstance(failed, batch.PartResponse) and failed.status == 400


V4_EDMX = b"""<?xml version="1.0"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
 <edmx:DataServices>
  <Schema Namespace="ProductionService" xmlns="http://docs.oasis-open.org/odata/ns/edm">
   <EntityContainer Name="EntityContainer">
    <EntitySet Name="MaterialStock" EntityType="ProductionService.MaterialStock"/>
    <EntitySet Name="ProductionOrders" EntityType="ProductionService.ProductionOrders"/>
    <FunctionImport Name="checkAvailability" Function="ProductionService.checkAvailability"/>
   </EntityContainer>
   <EntityType Name="MaterialStock">
    <Key><PropertyRef Name="Material"/><PropertyRef Name="Plant"/></Key>
    <Property Name="Material" Type="Edm.String" Nullable="false"/>
    <Property Name="Plant" Type="Edm.String" Nullable="false"/>
    <Property Name="Quantity" Type="Edm.Decimal"/>
   </EntityType>
   <EntityType Name="ProductionOrders">
    <Key><PropertyRef Name="ID"/></Key>
    <Property Name="ID" Type="Edm.String"/>
    <NavigationProperty Name="confirmations" Type="Collection(ProductionService.C)"/>
   </EntityType>
   <Action Name="release" IsBound="true">
    <Parameter Name="in" Type="ProductionService.ProductionOrders"/>
    <Parameter Name="note" Type="Edm.String"/>
   </Action>
   <Function Name="checkAvailability" IsBound="false">
    <Parameter Name="Material" Type="Edm.String"/>
    <ReturnType Type="Edm.Decimal"/>
   </Function>
   <Annotations Target="ProductionService.EntityContainer/ProductionOrders">
    <Annotation Term="Core.OptimisticConcurrency"><Collection/></Annotation>
   </Annotations>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>"""

V2_EDMX = b"""<?xml version="1.0"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"
 xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
 <edmx:DataServices m:DataServiceVersion="2.0">
  <Schema Namespace="S" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">
   <EntityType Name="A_ProductionOrder_2Type">
    <Key><PropertyRef Name="ManufacturingOrder"/></Key>
    <Property Name="ManufacturingOrder" Type="Edm.String" ConcurrencyMode="Fixed"/>
   </EntityType>
   <EntityContainer Name="C" m:IsDefaultEntityContainer="true">
    <EntitySet Name="A_ProductionOrder_2" EntityType="S.A_ProductionOrder_2Type"/>
    <FunctionImport Name="ReleaseOrder" ReturnType="S.A_ProductionOrder_2Type" m:HttpMethod="POST">
     <Parameter Name="ManufacturingOrder" Type="Edm.String" Mode="In"/>
    </FunctionImport>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>"""


def test_v4_metadata_gives_keys_types_etags_and_operations() -> None:
    meta = metadata.parse(V4_EDMX, "v4")
    stock = meta.entity("MaterialStock")
    assert stock.keys == ("Material", "Plant") and stock.properties["Quantity"] == "Edm.Decimal"
    orders = meta.entity("ProductionOrders")
    assert orders.etag and orders.navigation == ("confirmations",)
    release = meta.operations["release"]
    assert (release.kind, release.bound_to, dict(release.parameters)) == (
        "action",
        "ProductionOrders",
        {"note": "Edm.String"},
    )
    assert release.qualified == "ProductionService.release"
    assert meta.operations["checkAvailability"].returns == "Edm.Decimal"
    with pytest.raises(ErpNotFound):
        meta.entity("Nope")


def test_v2_metadata_reads_function_imports_and_concurrency_mode() -> None:
    meta = metadata.parse(V2_EDMX, "v2")
    assert meta.entity("A_ProductionOrder_2").etag
    op = meta.operations["ReleaseOrder"]
    assert (op.kind, op.http_method) == ("action", "POST")


def test_metadata_with_entity_declarations_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(EnterpriseError, match="not valid EDMX"):
        metadata.parse(bomb, "v4")
